//! OCI image-layout directories (`oci-layout`, `index.json`, `blobs/`), for
//! moving mixins to machines with no registry.

use super::{digest_hex, sha256_digest, Cache, OciError, WasmManifest, MANIFEST_MEDIA_TYPE};
use serde_json::json;
use std::path::Path;

/// The annotation naming an index entry's reference.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Marks an index entry as the cosign signatures of another manifest.
pub const SIGNATURES_OF: &str = "dev.wasmix.signatures-of";
/// Marks an index entry that is not a mixin (`bundle`): [`load`] leaves it
/// to its own reader.
pub const KIND: &str = "dev.wasmix.kind";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OciError + '_ {
    move |source| OciError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Write the cached artifacts `digests` (with the reference each is named
/// by) into the layout at `dir`.
pub fn save(
    cache: &Cache,
    items: &[(String, String)],
    dir: &Path,
    max_layer: u64,
) -> Result<(), OciError> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(io(&blobs))?;
    let mut manifests = Vec::new();
    for (reference, digest) in items {
        let bytes = cache.read_blob(digest)?;
        let manifest = WasmManifest::parse(reference, &bytes, max_layer)?;
        for d in [
            digest.as_str(),
            manifest.config.digest.as_str(),
            manifest.layer.digest.as_str(),
        ] {
            let blob = cache.read_blob(d)?;
            let hex = digest_hex(d).expect("checked digest");
            let path = blobs.join(hex);
            crate::fsutil::write_atomic(&path, &blob).map_err(io(&path))?;
        }
        manifests.push(json!({
            "mediaType": MANIFEST_MEDIA_TYPE,
            "digest": digest,
            "size": bytes.len(),
            "annotations": {REF_NAME: reference},
        }));
        // Its signatures travel with it, so the other side verifies offline.
        let signatures = cache
            .entry(digest)
            .and_then(|e| e.verification)
            .and_then(|v| v.signatures);
        if let Some(sig) = signatures {
            let sig_bytes = cache.read_blob(&sig)?;
            for d in std::iter::once(sig.clone()).chain(super::trust::blobs_of(&sig_bytes)) {
                let blob = cache.read_blob(&d)?;
                let path = blobs.join(digest_hex(&d).expect("checked digest"));
                crate::fsutil::write_atomic(&path, &blob).map_err(io(&path))?;
            }
            manifests.push(json!({
                "mediaType": MANIFEST_MEDIA_TYPE,
                "digest": sig,
                "size": sig_bytes.len(),
                "annotations": {SIGNATURES_OF: digest},
            }));
        }
    }
    let layout = dir.join("oci-layout");
    crate::fsutil::write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)
        .map_err(io(&layout))?;
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
    let path = dir.join("index.json");
    crate::fsutil::write_atomic(
        &path,
        serde_json::to_string_pretty(&index)
            .expect("JSON")
            .as_bytes(),
    )
    .map_err(io(&path))
}

/// Blob `digest` of the layout at `dir`: at most `limit` bytes (checked
/// before reading), hashing to its digest.
pub fn read_blob(dir: &Path, digest: &str, limit: u64) -> Result<Vec<u8>, OciError> {
    let hex = digest_hex(digest).ok_or_else(|| OciError::Format {
        reference: dir.display().to_string(),
        reason: format!("bad digest {digest:?}"),
    })?;
    let path = dir.join("blobs/sha256").join(hex);
    let len = std::fs::metadata(&path).map_err(io(&path))?.len();
    if len > limit {
        return Err(OciError::TooLarge {
            what: path.display().to_string(),
            size: len,
            limit,
        });
    }
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let actual = sha256_digest(&bytes);
    if actual != digest {
        return Err(OciError::Digest {
            what: path.display().to_string(),
            expected: digest.into(),
            actual,
        });
    }
    Ok(bytes)
}

/// Import every artifact of the layout at `dir` into `cache`, checking every
/// digest. Returns the references imported.
pub fn load(cache: &Cache, dir: &Path, max_layer: u64) -> Result<Vec<String>, OciError> {
    let index_path = dir.join("index.json");
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&index_path).map_err(io(&index_path))?,
    )
    .map_err(|e| OciError::Format {
        reference: index_path.display().to_string(),
        reason: e.to_string(),
    })?;
    let read = |digest: &str, limit: u64| read_blob(dir, digest, limit);
    let mut loaded = Vec::new();
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    for m in entries
        .iter()
        .filter(|m| m["annotations"][SIGNATURES_OF].is_null() && m["annotations"][KIND].is_null())
    {
        let digest = m["digest"].as_str().unwrap_or_default();
        let name = m["annotations"][REF_NAME]
            .as_str()
            .unwrap_or(digest)
            .to_string();
        let bytes = read(digest, 4 << 20)?;
        let manifest = WasmManifest::parse(&name, &bytes, max_layer)?;
        for d in [&manifest.config, &manifest.layer] {
            let blob = read(&d.digest, d.size as u64)?;
            cache.write_blob(&d.digest, &blob)?;
        }
        cache.write_blob(digest, &bytes)?;
        cache.record(&name, digest, &manifest)?;
        loaded.push(name);
    }
    for m in entries.iter() {
        let Some(of) = m["annotations"][SIGNATURES_OF].as_str() else {
            continue;
        };
        let sig = m["digest"].as_str().unwrap_or_default();
        let bytes = read(sig, wasmix_signing::cosign::MAX_MANIFEST as u64)?;
        let layers = wasmix_signing::cosign::parse_manifest(sig, &bytes)?;
        for d in super::trust::blobs_of(&bytes) {
            let limit = layers
                .iter()
                .find(|l| l.digest == d)
                .map(|l| l.size as u64)
                .unwrap_or(wasmix_signing::cosign::MAX_LAYER);
            cache.write_blob(&d, &read(&d, limit)?)?;
        }
        cache.write_blob(sig, &bytes)?;
        if cache.entry(of).is_some() {
            // Signatures only: the next use verifies them under the policy
            // then in force.
            cache.record_verification(
                of,
                super::trust::Verification {
                    policy: String::new(),
                    verdict: "loaded from a layout, not yet verified".into(),
                    status: super::trust::Status::Pending,
                    signatures: Some(sig.to_string()),
                },
            )?;
        }
    }
    Ok(loaded)
}
