//! OCI image-layout directories (`oci-layout`, `index.json`, `blobs/`), for
//! moving mixins to machines with no registry.

use super::{digest_hex, sha256_digest, Cache, OciError, WasmManifest, MANIFEST_MEDIA_TYPE};
use serde_json::json;
use std::path::Path;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

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
    let read = |digest: &str, limit: u64| -> Result<Vec<u8>, OciError> {
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
    };
    let mut loaded = Vec::new();
    for m in index["manifests"].as_array().into_iter().flatten() {
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
    Ok(loaded)
}
