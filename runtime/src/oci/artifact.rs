//! The CNCF Wasm OCI artifact layout: a config of media type
//! `application/vnd.wasm.config.v0+json` and exactly one `application/wasm`
//! layer, plus `org.opencontainers.image.*` and wasmix annotations.

use super::{
    sha256_digest, OciError, ANNOTATION_CONTRACT, ANNOTATION_MIXIN, CONFIG_MEDIA_TYPE, CONTRACT,
    LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// What describes a component being published.
#[derive(Debug, Clone, Default)]
pub struct ArtifactMeta {
    /// Mixin name.
    pub name: String,
    /// Mixin version.
    pub version: String,
    /// Source URL, if known.
    pub source: Option<String>,
    /// Created, RFC 3339.
    pub created: String,
    /// The component's import names.
    pub imports: Vec<String>,
    /// The component's export names.
    pub exports: Vec<String>,
}

/// A built artifact, ready to push or store.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// Manifest bytes.
    pub manifest: Vec<u8>,
    /// Manifest digest.
    pub manifest_digest: String,
    /// Config bytes.
    pub config: Vec<u8>,
    /// Config digest.
    pub config_digest: String,
    /// Layer digest (of the component bytes).
    pub layer_digest: String,
}

/// Build the artifact for component `wasm`.
pub fn build(wasm: &[u8], meta: &ArtifactMeta) -> Artifact {
    let layer_digest = sha256_digest(wasm);
    let config = json!({
        "created": meta.created,
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer_digest],
        "component": {"imports": meta.imports, "exports": meta.exports, "target": CONTRACT},
    });
    let config = serde_json::to_vec(&config).expect("JSON of plain values");
    let config_digest = sha256_digest(&config);
    let mut annotations = BTreeMap::new();
    annotations.insert("org.opencontainers.image.title", meta.name.clone());
    annotations.insert("org.opencontainers.image.version", meta.version.clone());
    annotations.insert("org.opencontainers.image.created", meta.created.clone());
    if let Some(s) = &meta.source {
        annotations.insert("org.opencontainers.image.source", s.clone());
    }
    annotations.insert(ANNOTATION_MIXIN, meta.name.clone());
    annotations.insert(ANNOTATION_CONTRACT, CONTRACT.to_string());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": CONFIG_MEDIA_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config.len()},
        "layers": [{
            "mediaType": LAYER_MEDIA_TYPE,
            "digest": layer_digest,
            "size": wasm.len(),
            "annotations": {"org.opencontainers.image.title": format!("{}.wasm", meta.name)},
        }],
        "annotations": annotations,
    });
    let manifest = serde_json::to_vec(&manifest).expect("JSON of plain values");
    Artifact {
        manifest_digest: sha256_digest(&manifest),
        manifest,
        config,
        config_digest,
        layer_digest,
    }
}

/// A descriptor in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// Media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Digest.
    pub digest: String,
    /// Size in bytes.
    pub size: i64,
    /// Foreign URLs (refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An OCI image manifest's envelope, checked the same way whatever the
/// artifact (mixin, bundle): valid JSON, schemaVersion 2, the OCI manifest
/// media type when one is given, and descriptors with `sha256` digests,
/// sizes that are not negative and no foreign URLs (never fetched). Each
/// artifact kind then checks its own media types and sizes.
#[derive(Debug, Deserialize)]
pub struct ImageManifest {
    #[serde(rename = "schemaVersion")]
    schema_version: i64,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    /// `artifactType`, when given.
    #[serde(rename = "artifactType", default)]
    pub artifact_type: Option<String>,
    /// The config descriptor.
    pub config: Descriptor,
    /// The layer descriptors, in order.
    pub layers: Vec<Descriptor>,
    /// Manifest annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl ImageManifest {
    /// Parse and check the envelope; the error is the reason, one line.
    pub fn parse(bytes: &[u8]) -> Result<ImageManifest, String> {
        let raw: ImageManifest = serde_json::from_slice(bytes)
            .map_err(|e| format!("manifest is not valid JSON: {e}"))?;
        if raw.schema_version != 2 {
            return Err(format!("schemaVersion {} (want 2)", raw.schema_version));
        }
        if let Some(mt) = raw
            .media_type
            .as_deref()
            .filter(|m| *m != MANIFEST_MEDIA_TYPE)
        {
            return Err(format!(
                "manifest media type {mt} (want {MANIFEST_MEDIA_TYPE})"
            ));
        }
        for d in std::iter::once(&raw.config).chain(&raw.layers) {
            if d.urls.as_ref().is_some_and(|u| !u.is_empty()) {
                return Err(format!(
                    "descriptor {} has foreign urls, which are never fetched",
                    d.digest
                ));
            }
            if super::digest_hex(&d.digest).is_none() {
                return Err(format!(
                    "descriptor digest {:?} is not sha256:<64 hex>",
                    d.digest
                ));
            }
            if d.size < 0 {
                return Err(format!("descriptor {} has a negative size", d.digest));
            }
        }
        Ok(raw)
    }
}

/// A validated Wasm artifact manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmManifest {
    /// The config descriptor.
    pub config: Descriptor,
    /// The component layer.
    pub layer: Descriptor,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
}

impl WasmManifest {
    /// Parse and check a manifest: OCI image manifest, Wasm config media type,
    /// exactly one `application/wasm` layer, no foreign URLs, sizes within
    /// `max_layer`.
    pub fn parse(reference: &str, bytes: &[u8], max_layer: u64) -> Result<Self, OciError> {
        let bad = |reason: String| OciError::Format {
            reference: reference.to_string(),
            reason,
        };
        let raw = ImageManifest::parse(bytes).map_err(bad)?;
        if raw.config.media_type != CONFIG_MEDIA_TYPE {
            return Err(bad(format!(
                "config media type {} (want {CONFIG_MEDIA_TYPE})",
                raw.config.media_type
            )));
        }
        let [layer] = raw.layers.as_slice() else {
            return Err(bad(format!(
                "{} layers (want exactly one)",
                raw.layers.len()
            )));
        };
        if layer.media_type != LAYER_MEDIA_TYPE {
            return Err(bad(format!(
                "layer media type {} (want {LAYER_MEDIA_TYPE})",
                layer.media_type
            )));
        }
        if layer.size as u64 > max_layer {
            return Err(OciError::TooLarge {
                what: format!("{reference}: layer {}", layer.digest),
                size: layer.size as u64,
                limit: max_layer,
            });
        }
        if raw.config.size > 1 << 20 {
            return Err(OciError::TooLarge {
                what: format!("{reference}: config"),
                size: raw.config.size as u64,
                limit: 1 << 20,
            });
        }
        Ok(WasmManifest {
            config: raw.config,
            layer: layer.clone(),
            annotations: raw.annotations,
        })
    }

    /// The mixin name, from the annotations.
    pub fn mixin_name(&self) -> Option<&str> {
        self.annotations
            .get(ANNOTATION_MIXIN)
            .or_else(|| self.annotations.get("org.opencontainers.image.title"))
            .map(String::as_str)
    }

    /// The version, from the annotations.
    pub fn version(&self) -> Option<&str> {
        self.annotations
            .get("org.opencontainers.image.version")
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_artifacts_validate_and_bad_ones_do_not() {
        let meta = ArtifactMeta {
            name: "exec".into(),
            version: "0.1.0".into(),
            created: "2026-01-01T00:00:00Z".into(),
            ..Default::default()
        };
        let a = build(b"\0asm", &meta);
        let m = WasmManifest::parse("r", &a.manifest, 1 << 20).unwrap();
        assert_eq!(m.layer.digest, a.layer_digest);
        assert_eq!(m.mixin_name(), Some("exec"));
        assert!(WasmManifest::parse("r", &a.manifest, 2)
            .unwrap_err()
            .to_string()
            .contains("over the limit"));
        let wrong = String::from_utf8(a.manifest.clone())
            .unwrap()
            .replace(LAYER_MEDIA_TYPE, "application/vnd.oci.image.layer.v1.tar");
        assert!(WasmManifest::parse("r", wrong.as_bytes(), 1 << 20)
            .unwrap_err()
            .to_string()
            .contains("layer media type"));
        let urls = String::from_utf8(a.manifest)
            .unwrap()
            .replace("\"size\":4", "\"size\":4,\"urls\":[\"http://evil\"]");
        assert!(WasmManifest::parse("r", urls.as_bytes(), 1 << 20)
            .unwrap_err()
            .to_string()
            .contains("foreign urls"));
    }
}
