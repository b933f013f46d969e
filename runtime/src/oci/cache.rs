//! The content-addressed cache of mixin artifacts, shared by every bundle:
//! `blobs/sha256/<hex>` holds manifests, configs and components;
//! `entries/<hex>.json` records each cached artifact (by manifest digest)
//! and the references it was pulled as.
//!
//! Every file is written to a temporary name, checked against its digest,
//! then renamed into place, so a killed pull leaves no partial entry and two
//! processes pulling the same digest race harmlessly to the same content.

use super::{digest_hex, sha256_digest, OciError, WasmManifest};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One cached artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// Manifest digest.
    pub digest: String,
    /// References it was pulled or pushed as.
    pub references: Vec<String>,
    /// Mixin name (annotation).
    pub mixin: Option<String>,
    /// Mixin version (annotation).
    pub version: Option<String>,
    /// Layer digest.
    pub layer: String,
    /// Layer size in bytes.
    pub size: u64,
    /// The last signature check, and the policy it was made under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<super::trust::Verification>,
}

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OciError + '_ {
    move |source| OciError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Cache {
    /// Open (creating, private to the user) the cache at `root`.
    pub fn open(root: &Path) -> Result<Cache, OciError> {
        for dir in [
            root.to_path_buf(),
            root.join("blobs/sha256"),
            root.join("entries"),
            root.join("tmp"),
        ] {
            crate::fsutil::private_dir(&dir).map_err(io(&dir))?;
        }
        Ok(Cache {
            root: root.to_path_buf(),
        })
    }

    /// `name` under the cache's root: where other kinds of cached things
    /// (bundles) keep their own entries beside the shared blobs.
    pub fn subdir(&self, name: &str) -> Result<PathBuf, OciError> {
        let dir = self.root.join(name);
        crate::fsutil::private_dir(&dir).map_err(io(&dir))?;
        Ok(dir)
    }

    /// The directory for temporary files, on the cache's file system so a
    /// finished file or tree is renamed into place.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Where blob `digest` lives.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, OciError> {
        let hex = digest_hex(digest).ok_or_else(|| OciError::Reference {
            reference: digest.into(),
            reason: "not a sha256 digest".into(),
        })?;
        Ok(self.root.join("blobs/sha256").join(hex))
    }

    /// True when blob `digest` is present.
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_ok_and(|p| p.is_file())
    }

    /// Read blob `digest`, checking its content. A blob that does not match
    /// is removed and reported.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, OciError> {
        let path = self.blob_path(digest)?;
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let actual = sha256_digest(&bytes);
        if actual != digest {
            let _ = std::fs::remove_file(&path);
            return Err(OciError::Digest {
                what: format!("cached blob {}", path.display()),
                expected: digest.into(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Store `bytes` as blob `digest` (checked first).
    pub fn write_blob(&self, digest: &str, bytes: &[u8]) -> Result<(), OciError> {
        let mut w = self.writer(digest, bytes.len() as u64)?;
        w.write(bytes)?;
        w.commit()
    }

    /// A streaming writer for blob `digest` of at most `limit` bytes.
    pub fn writer(&self, digest: &str, limit: u64) -> Result<BlobWriter, OciError> {
        let target = self.blob_path(digest)?;
        let tmp_dir = self.root.join("tmp");
        let file = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(io(&tmp_dir))?;
        Ok(BlobWriter {
            file,
            hasher: sha2::Sha256::new(),
            written: 0,
            limit,
            digest: digest.to_string(),
            target,
        })
    }

    /// Record that artifact `digest` (whose blobs are present) was pulled as
    /// `reference`.
    pub fn record(
        &self,
        reference: &str,
        digest: &str,
        manifest: &WasmManifest,
    ) -> Result<(), OciError> {
        self.record_checked(reference, digest, manifest, None)
    }

    /// [`Cache::record`], and when given, the `verification` that let it in
    /// (one write of the entry, not two).
    pub fn record_checked(
        &self,
        reference: &str,
        digest: &str,
        manifest: &WasmManifest,
        verification: Option<super::trust::Verification>,
    ) -> Result<(), OciError> {
        let mut entry = self.entry(digest).unwrap_or(CacheEntry {
            digest: digest.to_string(),
            references: Vec::new(),
            mixin: manifest.mixin_name().map(str::to_string),
            version: manifest.version().map(str::to_string),
            layer: manifest.layer.digest.clone(),
            size: manifest.layer.size as u64,
            verification: None,
        });
        if !entry.references.iter().any(|r| r == reference) {
            entry.references.push(reference.to_string());
        }
        if verification.is_some() {
            entry.verification = verification;
        }
        self.write_entry(&entry)
    }

    /// Record `verification` on the entry for artifact `digest`.
    pub fn record_verification(
        &self,
        digest: &str,
        verification: super::trust::Verification,
    ) -> Result<(), OciError> {
        let mut entry = self.entry(digest).ok_or_else(|| OciError::Io {
            path: format!("cache entry {digest}"),
            source: std::io::ErrorKind::NotFound.into(),
        })?;
        entry.verification = Some(verification);
        self.write_entry(&entry)
    }

    fn write_entry(&self, entry: &CacheEntry) -> Result<(), OciError> {
        let hex = digest_hex(&entry.digest).ok_or_else(|| OciError::Reference {
            reference: entry.digest.clone(),
            reason: "not a sha256 digest".into(),
        })?;
        let path = self.root.join("entries").join(format!("{hex}.json"));
        let json = serde_json::to_vec_pretty(entry).expect("JSON of plain values");
        crate::fsutil::write_atomic(&path, &json).map_err(io(&path))
    }

    /// The entry for artifact `digest`.
    pub fn entry(&self, digest: &str) -> Option<CacheEntry> {
        let path = self
            .root
            .join("entries")
            .join(format!("{}.json", digest_hex(digest)?));
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// Every cached artifact.
    pub fn entries(&self) -> Vec<CacheEntry> {
        let mut out: Vec<CacheEntry> = std::fs::read_dir(self.root.join("entries"))
            .into_iter()
            .flatten()
            .filter_map(|e| serde_json::from_slice(&std::fs::read(e.ok()?.path()).ok()?).ok())
            .collect();
        out.sort_by(|a, b| a.references.cmp(&b.references));
        out
    }

    /// The cached artifact `digest`: its checked manifest and the path of
    /// its component (whose bytes the loader hashes again).
    pub fn artifact(
        &self,
        digest: &str,
        max_layer: u64,
    ) -> Result<(WasmManifest, PathBuf), OciError> {
        let manifest = WasmManifest::parse(digest, &self.read_blob(digest)?, max_layer)?;
        let layer = self.blob_path(&manifest.layer.digest)?;
        if !layer.is_file() {
            return Err(OciError::Io {
                path: layer.display().to_string(),
                source: std::io::ErrorKind::NotFound.into(),
            });
        }
        Ok((manifest, layer))
    }

    /// Forget the artifacts matching `what` (a reference or a digest).
    /// Returns how many entries were removed; blobs go at the next prune.
    pub fn remove(&self, what: &str) -> usize {
        let mut removed = 0;
        for e in self.entries() {
            if e.digest == what || e.references.iter().any(|r| r == what) {
                if let Some(hex) = digest_hex(&e.digest) {
                    if std::fs::remove_file(self.root.join("entries").join(format!("{hex}.json")))
                        .is_ok()
                    {
                        removed += 1;
                    }
                }
            }
        }
        removed
    }

    /// Delete blobs no entry refers to (nor `also_keep`), and leftover
    /// temporary files. Returns (files removed, bytes freed).
    pub fn prune(
        &self,
        also_keep: std::collections::HashSet<String>,
    ) -> Result<(usize, u64), OciError> {
        let mut keep = also_keep;
        for e in self.entries() {
            keep.insert(e.digest.clone());
            keep.insert(e.layer.clone());
            if let Some(sigs) = e.verification.as_ref().and_then(|v| v.signatures.clone()) {
                if let Ok(bytes) = self.read_blob(&sigs) {
                    for d in super::trust::blobs_of(&bytes) {
                        keep.insert(d);
                    }
                }
                keep.insert(sigs);
            }
            if let Ok(bytes) = self.read_blob(&e.digest) {
                if let Ok(m) = WasmManifest::parse(&e.digest, &bytes, u64::MAX) {
                    keep.insert(m.config.digest);
                }
            }
        }
        let (mut files, mut bytes) = (0, 0);
        for dir in ["blobs/sha256", "tmp"] {
            let dir = self.root.join(dir);
            for entry in std::fs::read_dir(&dir).map_err(io(&dir))?.flatten() {
                let name = format!("sha256:{}", entry.file_name().to_string_lossy());
                if !keep.contains(&name) {
                    bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
                    let removed = if entry.path().is_dir() {
                        // A bundle tree left by a killed unpack.
                        std::fs::remove_dir_all(entry.path())
                    } else {
                        std::fs::remove_file(entry.path())
                    };
                    if removed.is_ok() {
                        files += 1;
                    }
                }
            }
        }
        Ok((files, bytes))
    }
}

/// Writes one blob: hashed and size-checked as it goes, renamed into place
/// only when complete and matching.
pub struct BlobWriter {
    file: tempfile::NamedTempFile,
    hasher: sha2::Sha256,
    written: u64,
    limit: u64,
    digest: String,
    target: PathBuf,
}

impl BlobWriter {
    /// Append bytes; fails as soon as the limit is passed.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), OciError> {
        self.written += bytes.len() as u64;
        if self.written > self.limit {
            return Err(OciError::TooLarge {
                what: format!("blob {}", self.digest),
                size: self.written,
                limit: self.limit,
            });
        }
        self.hasher.update(bytes);
        let path = self.file.path().to_path_buf();
        self.file.write_all(bytes).map_err(io(&path))
    }

    /// Check the digest and move the blob into the cache.
    pub fn commit(self) -> Result<(), OciError> {
        let actual = format!("sha256:{}", hex::encode(self.hasher.finalize()));
        if actual != self.digest {
            return Err(OciError::Digest {
                what: format!("blob {}", self.digest),
                expected: self.digest,
                actual,
            });
        }
        self.file.as_file().sync_all().map_err(io(&self.target))?;
        self.file.persist(&self.target).map_err(|e| OciError::Io {
            path: self.target.display().to_string(),
            source: e.error,
        })?;
        Ok(())
    }
}
