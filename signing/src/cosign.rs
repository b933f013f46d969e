//! cosign's tag-based signature layout.
//!
//! The signatures of manifest `sha256:<hex>` live in the same repository
//! under tag `sha256-<hex>.sig`: an OCI image manifest whose layers are
//! simple-signing payloads, each carrying its signature (and, for keyless
//! signatures, the certificate, chain and Rekor receipt) in annotations.
//! This module builds such manifests and parses them with hard limits; it
//! never fetches anything.

use crate::SigningError;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

/// Media type of a simple-signing payload layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Media type of a DSSE envelope: an attestation, never a signature.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The artifact type cosign gives a signature stored as an OCI 1.1 referrer.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
/// Media type of a Sigstore bundle v0.3.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Annotation holding the signing certificate (PEM), for keyless signatures.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Annotation holding the certificate chain (PEM).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Annotation holding the Rekor receipt (JSON).
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// Most layers read from one signature manifest: each is a signature, and
/// nobody signs one artifact with more keys than this.
pub const MAX_LAYERS: usize = 64;
/// Largest signature manifest read.
pub const MAX_MANIFEST: usize = 256 << 10;
/// Largest layer (payload or bundle) read.
pub const MAX_LAYER: u64 = 64 << 10;

const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";

/// The tag holding the signatures of manifest `digest`.
pub fn signature_tag(digest: &str) -> Option<String> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("sha256-{hex}.sig"))
}

/// One signature: the signed payload and the annotations that carry the
/// signature and its material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLayer {
    /// Layer media type.
    pub media_type: String,
    /// The payload (layer content).
    pub payload: Vec<u8>,
    /// Layer annotations.
    pub annotations: BTreeMap<String, String>,
}

impl SignatureLayer {
    /// A key signature: `payload` signed, the signature in base64.
    pub fn simple(payload: Vec<u8>, signature: &[u8]) -> SignatureLayer {
        use base64::Engine as _;
        let mut annotations = BTreeMap::new();
        annotations.insert(
            SIGNATURE_ANNOTATION.to_string(),
            base64::engine::general_purpose::STANDARD.encode(signature),
        );
        SignatureLayer {
            media_type: SIMPLE_SIGNING_MEDIA_TYPE.to_string(),
            payload,
            annotations,
        }
    }
}

/// A layer as a signature manifest lists it, before its content is fetched.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LayerDescriptor {
    /// Media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Digest of the content.
    pub digest: String,
    /// Size of the content.
    pub size: i64,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Foreign URLs, refused.
    #[serde(default)]
    pub urls: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawManifest {
    #[serde(rename = "schemaVersion")]
    schema_version: i64,
    layers: Vec<serde_json::Value>,
}

/// Parse a signature manifest into its layer descriptors. Refuses more than
/// [`MAX_LAYERS`] layers before reading any of them, layers larger than
/// [`MAX_LAYER`], foreign URLs and malformed digests.
pub fn parse_manifest(what: &str, bytes: &[u8]) -> Result<Vec<LayerDescriptor>, SigningError> {
    let bad = |reason: String| SigningError::Format {
        what: what.to_string(),
        reason,
    };
    if bytes.len() > MAX_MANIFEST {
        return Err(bad(format!(
            "signature manifest of {} bytes is over the limit of {MAX_MANIFEST}",
            bytes.len()
        )));
    }
    // Layers stay raw JSON values until counted, so a thousand of them are
    // refused without building a thousand descriptors.
    let raw: RawManifest = serde_json::from_slice(bytes)
        .map_err(|e| bad(format!("signature manifest is not an OCI manifest: {e}")))?;
    if raw.schema_version != 2 {
        return Err(bad(format!("schemaVersion {}", raw.schema_version)));
    }
    if raw.layers.len() > MAX_LAYERS {
        return Err(bad(format!(
            "signature manifest has {} layers, more than the {MAX_LAYERS} wasmix reads",
            raw.layers.len()
        )));
    }
    let mut out = Vec::with_capacity(raw.layers.len());
    for (i, layer) in raw.layers.into_iter().enumerate() {
        let d: LayerDescriptor =
            serde_json::from_value(layer).map_err(|e| bad(format!("layer {i}: {e}")))?;
        if d.urls.as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(bad(format!("layer {i} has foreign urls")));
        }
        if signature_tag(&d.digest).is_none() {
            return Err(bad(format!(
                "layer {i} digest {:?} is not sha256",
                d.digest
            )));
        }
        if d.size < 0 || d.size as u64 > MAX_LAYER {
            return Err(bad(format!(
                "layer {i} is {} bytes; signature layers are at most {MAX_LAYER}",
                d.size
            )));
        }
        out.push(d);
    }
    Ok(out)
}

/// A signature manifest ready to push: its blobs first, then the manifest.
#[derive(Debug, Clone)]
pub struct BuiltManifest {
    /// Manifest bytes.
    pub manifest: Vec<u8>,
    /// Blobs (config and layers) by digest.
    pub blobs: Vec<(String, Vec<u8>)>,
}

/// Build the signature manifest holding `layers`.
pub fn build_manifest(layers: &[SignatureLayer]) -> BuiltManifest {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| crate::sha256_digest(&l.payload))
        .collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    }))
    .expect("JSON of plain values");
    let config_digest = crate::sha256_digest(&config);
    let descriptors: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| {
            json!({
                "mediaType": l.media_type,
                "size": l.payload.len(),
                "digest": crate::sha256_digest(&l.payload),
                "annotations": l.annotations,
            })
        })
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "size": config.len(), "digest": config_digest},
        "layers": descriptors,
    }))
    .expect("JSON of plain values");
    let mut blobs = vec![(config_digest, config)];
    for l in layers {
        let d = crate::sha256_digest(&l.payload);
        if !blobs.iter().any(|(have, _)| *have == d) {
            blobs.push((d, l.payload.clone()));
        }
    }
    BuiltManifest { manifest, blobs }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_round_trip_and_limits_hold() {
        let layer = SignatureLayer::simple(b"{}".to_vec(), b"sig");
        let built = build_manifest(std::slice::from_ref(&layer));
        let parsed = parse_manifest("m", &built.manifest).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].media_type, SIMPLE_SIGNING_MEDIA_TYPE);
        assert_eq!(parsed[0].annotations, layer.annotations);
        assert_eq!(built.blobs.len(), 2);

        let many = build_manifest(&vec![layer; MAX_LAYERS + 1]);
        let err = parse_manifest("m", &many.manifest).unwrap_err();
        assert!(err.to_string().contains("65 layers"), "{err}");

        let big = String::from_utf8(built.manifest)
            .unwrap()
            .replace("\"size\":2", "\"size\":99999999");
        assert!(parse_manifest("m", big.as_bytes()).is_err());
    }

    #[test]
    fn signature_tags_follow_cosign() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            signature_tag(&d).unwrap(),
            format!("sha256-{}.sig", "a".repeat(64))
        );
        assert!(signature_tag("sha256:short").is_none());
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    proptest! {

        /// Arbitrary bytes as a signature manifest: parsed within its caps
        /// or refused, never a panic.
        #[test]
        fn arbitrary_signature_manifests_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            if let Ok(layers) = super::parse_manifest("fuzz", &bytes) {
                prop_assert!(layers.len() <= super::MAX_LAYERS);
            }
        }

        /// Arbitrary simple-signing payloads: parsed or refused.
        #[test]
        fn arbitrary_payloads_never_panic(text in "\\PC{0,300}") {
            let _ = crate::payload::SimpleSigning::parse(text.as_bytes());
        }

        /// Arbitrary trust policies: loaded or refused with a message.
        #[test]
        fn arbitrary_policies_never_panic(text in "\\PC{0,300}") {
            if let Err(e) = crate::TrustPolicy::parse("fuzz.yaml", &text, std::path::Path::new("/nonexistent")) {
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}
