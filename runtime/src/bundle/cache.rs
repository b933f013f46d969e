//! Fetched bundles in the OCI cache. Their blobs share `blobs/sha256` with
//! mixins; beside them, `bundles/entries/<hex>.json` records each bundle
//! (its references and the trust verdict it got) and
//! `bundles/unpacked/<hex>/` holds its directory, unpacked once and never
//! changed: a tree is built in the cache's `tmp/` and renamed into place
//! whole, so a killed unpack leaves no half tree where a run would find it.

use super::{unpack, BundleError, BundleManifest};
use crate::oci::trust::Verification;
use crate::oci::{digest_hex, Cache, OciError};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// One cached bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleEntry {
    /// Manifest digest.
    pub digest: String,
    /// References it was pulled or published as.
    pub references: Vec<String>,
    /// Bundle name.
    pub name: String,
    /// Bundle version.
    pub version: String,
    /// The last signature check, and the policy it was made under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

fn hex_of(digest: &str) -> Result<&str, BundleError> {
    digest_hex(digest).ok_or_else(|| {
        BundleError::Oci(OciError::Reference {
            reference: digest.into(),
            reason: "not a sha256 digest".into(),
        })
    })
}

/// The entry for bundle `digest`.
pub fn entry(cache: &Cache, digest: &str) -> Option<BundleEntry> {
    let path = cache
        .subdir("bundles/entries")
        .ok()?
        .join(format!("{}.json", digest_hex(digest)?));
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Every cached bundle, sorted by reference.
pub fn entries(cache: &Cache) -> Vec<BundleEntry> {
    let Ok(dir) = cache.subdir("bundles/entries") else {
        return Vec::new();
    };
    let mut out: Vec<BundleEntry> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.ok()?.path()).ok()?).ok())
        .collect();
    out.sort_by(|a, b| a.references.cmp(&b.references));
    out
}

/// The cached bundle last recorded as `reference` (for `--offline`, where
/// a tag cannot be resolved).
pub fn find(cache: &Cache, reference: &str) -> Option<BundleEntry> {
    entries(cache)
        .into_iter()
        .find(|e| e.digest == reference || e.references.iter().any(|r| r == reference))
}

/// Record that bundle `digest` was fetched as `reference`, with the
/// verdict that let it in when one was made.
pub fn record(
    cache: &Cache,
    reference: &str,
    digest: &str,
    name: &str,
    version: &str,
    verification: Option<Verification>,
) -> Result<(), BundleError> {
    let before = entry(cache, digest);
    let mut e = before.clone().unwrap_or(BundleEntry {
        digest: digest.to_string(),
        references: Vec::new(),
        name: name.to_string(),
        version: version.to_string(),
        verification: None,
    });
    if !e.references.iter().any(|r| r == reference) {
        e.references.push(reference.to_string());
    }
    if verification.is_some() {
        e.verification = verification;
    }
    if before.as_ref() == Some(&e) {
        return Ok(());
    }
    let path = cache
        .subdir("bundles/entries")?
        .join(format!("{}.json", hex_of(digest)?));
    let json = serde_json::to_vec_pretty(&e).expect("JSON of plain values");
    crate::fsutil::write_atomic(&path, &json).map_err(|err| BundleError::io(&path, err))
}

/// Bundle `digest`'s directory, unpacked from its content layer (a blob in
/// the cache, already checked against its digest) the first time.
pub fn unpacked(
    cache: &Cache,
    digest: &str,
    manifest: &BundleManifest,
) -> Result<PathBuf, BundleError> {
    let dir = cache.subdir("bundles/unpacked")?.join(hex_of(digest)?);
    if dir.is_dir() {
        return Ok(dir);
    }
    let content = cache.read_blob(&manifest.content.digest)?;
    let tmp = tempfile::Builder::new()
        .prefix("bundle-")
        .tempdir_in(cache.tmp_dir())
        .map_err(|e| BundleError::io(&cache.tmp_dir(), e))?;
    unpack::unpack(digest, &content, tmp.path())?;
    let built = tmp.keep();
    match std::fs::rename(&built, &dir) {
        Ok(()) => Ok(dir),
        // Another process unpacked the same digest first: same content.
        Err(_) if dir.is_dir() => {
            let _ = std::fs::remove_dir_all(&built);
            Ok(dir)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&built);
            Err(BundleError::io(&dir, e))
        }
    }
}

/// Copy unpacked bundle tree `from` into the empty directory `to`: the
/// directory a run works in. Steps may write into their bundle directory
/// (granted files, Porter's `state:`), and the cached tree must stay what
/// its digest says, so every run of a registry bundle gets its own copy.
pub fn working_copy(from: &Path, to: &Path) -> Result<(), BundleError> {
    for entry in std::fs::read_dir(from).map_err(|e| BundleError::io(from, e))? {
        let entry = entry.map_err(|e| BundleError::io(from, e))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(|e| BundleError::io(&source, e))?;
        if kind.is_dir() {
            std::fs::create_dir(&target).map_err(|e| BundleError::io(&target, e))?;
            working_copy(&source, &target)?;
        } else if kind.is_file() {
            std::fs::copy(&source, &target).map_err(|e| BundleError::io(&target, e))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&source)
                    .map(|m| m.permissions().mode())
                    .unwrap_or(0o444);
                let writable = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(writable))
                    .map_err(|e| BundleError::io(&target, e))?;
            }
        }
        // Unpacking admits nothing else.
    }
    Ok(())
}

/// Blobs the cached bundles still need (manifests, configs, contents,
/// components, signatures), for `cache prune`; unpacked trees of bundles
/// no longer recorded are removed on the way.
pub fn blobs_in_use(cache: &Cache) -> HashSet<String> {
    let mut keep = HashSet::new();
    let mut trees = HashSet::new();
    for e in entries(cache) {
        if let Some(hex) = digest_hex(&e.digest) {
            trees.insert(hex.to_string());
        }
        keep.insert(e.digest.clone());
        if let Ok(bytes) = cache.read_blob(&e.digest) {
            if let Ok(m) =
                BundleManifest::parse(&e.digest, &bytes, super::artifact::Caps::default())
            {
                keep.extend(m.blobs());
            }
        }
        if let Some(sigs) = e.verification.and_then(|v| v.signatures) {
            if let Ok(bytes) = cache.read_blob(&sigs) {
                keep.extend(crate::oci::trust::blobs_of(&bytes));
            }
            keep.insert(sigs);
        }
    }
    if let Ok(dir) = cache.subdir("bundles/unpacked") {
        for d in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if !trees.contains(&*d.file_name().to_string_lossy()) {
                let _ = std::fs::remove_dir_all(d.path());
            }
        }
    }
    keep
}

/// Forget the bundles matching `what` (a reference or a digest); returns
/// how many. Blobs and trees go at the next prune.
pub fn remove(cache: &Cache, what: &str) -> usize {
    let Ok(dir) = cache.subdir("bundles/entries") else {
        return 0;
    };
    entries(cache)
        .into_iter()
        .filter(|e| e.digest == what || e.references.iter().any(|r| r == what))
        .filter_map(|e| digest_hex(&e.digest).map(|h| dir.join(format!("{h}.json"))))
        .filter(|p| std::fs::remove_file(p).is_ok())
        .count()
}
