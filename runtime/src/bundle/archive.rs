//! Air-gapped installs: `wasmix bundle archive REF FILE` writes an OCI
//! image layout holding the bundle, every registry mixin it pins and every
//! signature of both, as one gzipped tar; `install --from-archive FILE`
//! loads it into the cache (every digest checked) and installs with no
//! network. Signatures travel, and are verified on the far side under the
//! policy in force there.
//!
//! The tar is written and read by [`super::pack`] and [`super::unpack`], so
//! it has their determinism and their caps.

use super::artifact::{BundleManifest, Caps, MixinPin};
use super::{cache, pack, unpack, BundleError, FetchedBundle};
use crate::lock::LockedMixin;
use crate::oci::layout::{self, KIND, REF_NAME, SIGNATURES_OF};
use crate::oci::trust::{Status, Verification};
use crate::oci::{digest_hex, OciSource, MANIFEST_MEDIA_TYPE};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

/// What an archive holds.
#[derive(Debug, Clone)]
pub struct Archived {
    /// The bundle's reference in the archive.
    pub reference: String,
    /// The bundle's digest.
    pub digest: String,
    /// Registry mixins carried, `reference@digest`.
    pub mixins: Vec<String>,
    /// Size of the archive file.
    pub bytes: u64,
}

fn copy_blob(oci: &OciSource, dir: &Path, digest: &str) -> Result<(), BundleError> {
    let bytes = oci.cache.read_blob(digest)?;
    let hex = digest_hex(digest).expect("read_blob checked it");
    let path = dir.join("blobs/sha256").join(hex);
    crate::fsutil::write_atomic(&path, &bytes).map_err(|e| BundleError::io(&path, e))
}

/// Write `fetched` (a bundle in `oci`'s cache), its pinned registry mixins
/// and all their signatures to `file`.
pub fn write(
    oci: &OciSource,
    fetched: &FetchedBundle,
    file: &Path,
) -> Result<Archived, BundleError> {
    let tmp = tempfile::Builder::new()
        .prefix("archive-")
        .tempdir_in(oci.cache.tmp_dir())
        .map_err(|e| BundleError::io(&oci.cache.tmp_dir(), e))?;
    let dir = tmp.path();
    // The mixins first: fetched (and verified) by their pinned digests, then
    // written by the mixin layout writer, which carries their signatures.
    let mut items = Vec::new();
    for (name, pin) in &fetched.config.mixins {
        if let MixinPin::Registry { reference, digest } = pin {
            let pins = BTreeMap::from([(
                name.clone(),
                LockedMixin {
                    reference: reference.clone(),
                    digest: digest.clone(),
                },
            )]);
            let f = oci.fetch(name, reference, &pins)?;
            items.push((reference.clone(), f.pin.digest));
        }
    }
    let max_layer = oci
        .registry
        .as_ref()
        .map(|r| r.config().max_layer)
        .unwrap_or(256 << 20);
    layout::save(&oci.cache, &items, dir, max_layer)?;
    // Then the bundle and its signatures, added to the same index.
    let manifest_bytes = oci.cache.read_blob(&fetched.digest)?;
    let m = BundleManifest::parse(&fetched.reference, &manifest_bytes, Caps::default())?;
    for d in std::iter::once(fetched.digest.clone()).chain(m.blobs()) {
        copy_blob(oci, dir, &d)?;
    }
    let index_path = dir.join("index.json");
    let mut index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&index_path).map_err(|e| BundleError::io(&index_path, e))?,
    )
    .map_err(|e| BundleError::Invalid(format!("{}: {e}", index_path.display())))?;
    let entries = index["manifests"]
        .as_array_mut()
        .ok_or_else(|| BundleError::Invalid("layout index has no manifests".into()))?;
    entries.push(json!({
        "mediaType": MANIFEST_MEDIA_TYPE,
        "digest": fetched.digest,
        "size": manifest_bytes.len(),
        "artifactType": super::artifact::ARTIFACT_TYPE,
        "annotations": {REF_NAME: fetched.reference, KIND: "bundle"},
    }));
    let signatures = match &oci.registry {
        Some(r) => {
            let parsed = crate::oci::client::parse_reference(&fetched.reference)?;
            r.signatures(&parsed, &fetched.digest, &oci.cache)?.1
        }
        None => fetched.verification.signatures.clone(),
    };
    if let Some(sig) = signatures {
        let sig_bytes = oci.cache.read_blob(&sig)?;
        for d in std::iter::once(sig.clone()).chain(crate::oci::trust::blobs_of(&sig_bytes)) {
            copy_blob(oci, dir, &d)?;
        }
        entries.push(json!({
            "mediaType": MANIFEST_MEDIA_TYPE,
            "digest": sig,
            "size": sig_bytes.len(),
            "annotations": {SIGNATURES_OF: fetched.digest},
        }));
    }
    let text = serde_json::to_string_pretty(&index).expect("JSON");
    crate::fsutil::write_atomic(&index_path, text.as_bytes())
        .map_err(|e| BundleError::io(&index_path, e))?;
    let packed = pack::pack(dir, &BTreeMap::new())?;
    crate::fsutil::write_atomic(file, &packed.bytes).map_err(|e| BundleError::io(file, e))?;
    Ok(Archived {
        reference: fetched.reference.clone(),
        digest: fetched.digest.clone(),
        mixins: items.iter().map(|(r, d)| format!("{r}@{d}")).collect(),
        bytes: packed.bytes.len() as u64,
    })
}

/// Load archive `file` into `oci`'s cache: mixins, the bundle and every
/// signature, each blob checked against its digest and size. Returns the
/// bundle's reference, which an offline fetch then finds in the cache.
/// Nothing is trusted yet: the first use verifies under the policy.
pub fn load(oci: &OciSource, file: &Path) -> Result<String, BundleError> {
    let meta = std::fs::metadata(file).map_err(|e| BundleError::io(file, e))?;
    let limit = pack::MAX_BYTES;
    if meta.len() > limit {
        return Err(BundleError::TooLarge {
            what: file.display().to_string(),
            size: meta.len(),
            limit,
        });
    }
    let bytes = std::fs::read(file).map_err(|e| BundleError::io(file, e))?;
    let tmp = tempfile::Builder::new()
        .prefix("archive-")
        .tempdir_in(oci.cache.tmp_dir())
        .map_err(|e| BundleError::io(&oci.cache.tmp_dir(), e))?;
    let dir = tmp.path();
    unpack::unpack(&file.display().to_string(), &bytes, dir)?;
    let max_layer = 256 << 20;
    layout::load(&oci.cache, dir, max_layer)?;
    let index_path = dir.join("index.json");
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&index_path).map_err(|e| BundleError::io(&index_path, e))?,
    )
    .map_err(|e| BundleError::Invalid(format!("{}: {e}", file.display())))?;
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    let bad = |reason: String| BundleError::Format {
        reference: file.display().to_string(),
        reason,
    };
    let read = |digest: &str, limit: u64| layout::read_blob(dir, digest, limit);
    let mut bundles = entries
        .iter()
        .filter(|m| m["annotations"][KIND].as_str() == Some("bundle"));
    let (Some(entry), None) = (bundles.next(), bundles.next()) else {
        return Err(bad("want exactly one bundle in the archive".into()));
    };
    let digest = entry["digest"].as_str().unwrap_or_default().to_string();
    let reference = entry["annotations"][REF_NAME]
        .as_str()
        .ok_or_else(|| bad("the bundle entry names no reference".into()))?
        .to_string();
    let manifest_bytes = read(&digest, 4 << 20)?;
    let m = BundleManifest::parse(&reference, &manifest_bytes, Caps::default())?;
    for d in std::iter::once(&m.config)
        .chain(std::iter::once(&m.content))
        .chain(m.mixins.values())
    {
        oci.cache
            .write_blob(&d.digest, &read(&d.digest, d.size as u64)?)?;
    }
    let config = m.config(&reference, &oci.cache.read_blob(&m.config.digest)?)?;
    oci.cache.write_blob(&digest, &manifest_bytes)?;
    // Its signatures (the layout loader wrote their blobs, checked).
    let signatures = entries
        .iter()
        .find(|e| e["annotations"][SIGNATURES_OF].as_str() == Some(digest.as_str()))
        .and_then(|e| e["digest"].as_str())
        .filter(|d| oci.cache.has_blob(d))
        .map(str::to_string);
    cache::record(
        &oci.cache,
        &reference,
        &digest,
        &config.name,
        &config.version,
        Some(Verification {
            policy: String::new(),
            verdict: "loaded from an archive, not yet verified".into(),
            status: Status::Pending,
            signatures,
        }),
    )?;
    Ok(reference)
}
