//! The compile cache: what loading a mixin computes once per component and
//! keeps on disk, so a command that runs a known mixin pays for none of it.
//!
//! Under the cache directory (private to the user):
//!
//! - `<digest>-<engine>.cwasm`: the component compiled by this wasmtime
//!   with this engine's settings, loaded by mapping the file;
//! - `<digest>-<engine>.meta.json`: the artifact's sha256 and stamp, and
//!   what the component said about itself (`describe`), once its step
//!   schema compiled;
//! - `digests/<hash of the path>.json`: the sha256 of a component file;
//! - `checked/<key>.json`: what linting an unchanged plan's steps found.
//!
//! **Trust.** Deserializing an artifact runs native code from it, and a
//! digest decides which artifact runs. So a recorded fact about a file is
//! used only while the file is unchanged since it was hashed: each record
//! carries the file's *stamp* (device, inode, size, modification and change
//! times). Any write through the file system moves the change time, which
//! no user can set back, and a replaced file has another inode. When the
//! stamp differs the bytes are hashed again, and a mismatch recompiles.
//! A component file is remembered only when it did not change while it
//! was read and its last change is older than a clock tick (a rewrite
//! within one tick could keep the stamp). So what runs is what was compiled
//! from the file as it is, without reading a megabyte per command; every
//! cache file is written whole and renamed into place, so none is seen
//! half-written.

use super::bindings::wasmix::mixin::types::{Diagnostic, Info, Severity};
use super::engine::SandboxError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::Engine;

/// The compile cache in one directory, for one engine.
pub(crate) struct CompileCache {
    dir: PathBuf,
    /// Engine settings, wasmtime build and wasmix version, as a short key:
    /// an artifact is only ever loaded by the engine that wrote it.
    compat: String,
}

/// What a mixin says about itself, as the cache keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct InfoDoc {
    name: String,
    version: String,
    summary: String,
    step_schema: String,
    config_schema: String,
}

impl From<&Info> for InfoDoc {
    fn from(i: &Info) -> Self {
        InfoDoc {
            name: i.name.clone(),
            version: i.version.clone(),
            summary: i.summary.clone(),
            step_schema: i.step_schema.clone(),
            config_schema: i.config_schema.clone(),
        }
    }
}

impl From<InfoDoc> for Info {
    fn from(d: InfoDoc) -> Self {
        Info {
            name: d.name,
            version: d.version,
            summary: d.summary,
            step_schema: d.step_schema,
            config_schema: d.config_schema,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct ArtifactMeta {
    sha256: String,
    stamp: String,
    /// Present once the component described itself and its step schema
    /// compiled: a load that finds it needs neither again.
    info: Option<InfoDoc>,
}

#[derive(Debug, Serialize, Deserialize)]
struct DigestMemo {
    path: PathBuf,
    stamp: String,
    sha256: String,
}

/// One lint finding, as the cache keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DiagnosticDoc {
    warning: bool,
    code: String,
    message: String,
    path: String,
}

/// A compiled component, and what it said about itself when the cache
/// already knew.
pub(crate) struct Cached {
    pub component: Component,
    pub info: Option<Info>,
}

/// What identifies a file's content without reading it: device, inode,
/// size, and modification and change times to the nanosecond. `None` off
/// Unix, where every check hashes.
fn stamp(path: &Path) -> Option<String> {
    stamp_of(&std::fs::metadata(path).ok()?)
}

fn stamp_of(m: &std::fs::Metadata) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(format!(
            "{}:{}:{}:{}.{:09}:{}.{:09}",
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        None
    }
}

/// How recent a change must not be for a stamp to be trusted: file times
/// come from a clock that ticks (to 2 s on some file systems), so a file
/// rewritten within one tick of being hashed could keep its stamp. Git's
/// "racy clean" rule.
const RACY: std::time::Duration = std::time::Duration::from_secs(2);

fn settled(m: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        let changed = ns(m.mtime(), m.mtime_nsec()).max(ns(m.ctime(), m.ctime_nsec()));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(i128::MAX);
        now.saturating_sub(changed) > RACY.as_nanos() as i128
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        false
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Written whole and renamed into place; a cache that cannot be written is
/// only slower next time, so failures are not errors.
fn write_json<T: Serialize>(path: &Path, value: &T) {
    let Ok(bytes) = serde_json::to_vec(value) else {
        return;
    };
    if let Some(dir) = path.parent() {
        if crate::fsutil::private_dir(dir).is_err() {
            return;
        }
    }
    let _ = crate::fsutil::write_atomic(path, &bytes);
}

struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl CompileCache {
    /// The cache in `dir` for `engine`.
    pub fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut h = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut h);
        env!("CARGO_PKG_VERSION").hash(&mut h);
        CompileCache {
            dir,
            compat: hex::encode(&h.0.finalize()[..8]),
        }
    }

    fn key(&self, digest: &str) -> String {
        format!("{digest}-{}", self.compat)
    }

    fn artifact_path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{}.cwasm", self.key(digest)))
    }

    fn meta_path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{}.meta.json", self.key(digest)))
    }

    fn memo_path(&self, path: &Path) -> PathBuf {
        let h = sha256_hex(path.as_os_str().as_encoded_bytes());
        self.dir.join("digests").join(format!("{}.json", &h[..32]))
    }

    /// The sha256 (hex) of the component file at `path`, when it was hashed
    /// before and has not changed since.
    pub fn known_digest(&self, path: &Path) -> Option<String> {
        let memo: DigestMemo = read_json(&self.memo_path(path))?;
        (memo.path == path && Some(memo.stamp) == stamp(path)).then_some(memo.sha256)
    }

    /// Remember that the file at `path` hashes to `digest`: `before` and
    /// `after` are its metadata, taken from the open file before and after
    /// the bytes were read. Only a file that did not change meanwhile, and
    /// whose last change is older than a clock tick, is remembered; any
    /// other is hashed again next time.
    pub fn remember_digest(
        &self,
        path: &Path,
        digest: &str,
        before: &std::fs::Metadata,
        after: &std::fs::Metadata,
    ) {
        let (Some(stamp), Some(again)) = (stamp_of(before), stamp_of(after)) else {
            return;
        };
        if stamp != again || !settled(after) {
            return;
        }
        let memo = DigestMemo {
            path: path.to_path_buf(),
            stamp,
            sha256: digest.to_string(),
        };
        write_json(&self.memo_path(path), &memo);
    }

    /// The compiled component for `digest`, if the cache holds a good one.
    pub fn lookup(&self, engine: &Engine, digest: &str) -> Option<Cached> {
        let artifact = self.artifact_path(digest);
        let meta: ArtifactMeta = read_json(&self.meta_path(digest))?;
        let info = meta.info.clone().map(Info::from);
        if stamp(&artifact).is_some_and(|s| s == meta.stamp) {
            // SAFETY: the artifact was written by this runtime into a
            // directory only the user can write, it is unchanged since it
            // was hashed (same stamp), and every write to it replaces the
            // file rather than changing the mapped one.
            let component = unsafe { Component::deserialize_file(engine, &artifact) }.ok()?;
            return Some(Cached { component, info });
        }
        // Moved, copied or touched: the bytes decide.
        let bytes = std::fs::read(&artifact).ok()?;
        if sha256_hex(&bytes) != meta.sha256 {
            return None;
        }
        // SAFETY: as above; these bytes hash to what was recorded when
        // this runtime compiled them.
        let component = unsafe { Component::deserialize(engine, &bytes) }.ok()?;
        self.write_meta(digest, &meta.sha256, meta.info);
        Some(Cached { component, info })
    }

    fn write_meta(&self, digest: &str, sha256: &str, info: Option<InfoDoc>) {
        if let Some(stamp) = stamp(&self.artifact_path(digest)) {
            let meta = ArtifactMeta {
                sha256: sha256.to_string(),
                stamp,
                info,
            };
            write_json(&self.meta_path(digest), &meta);
        }
    }

    /// Compile `bytes` (the component `digest`, read from `path`), or load
    /// what another thread or process compiled meanwhile.
    pub fn compile(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
        path: &Path,
    ) -> Result<Cached, SandboxError> {
        let cache_err = |source| SandboxError::Cache {
            path: self.dir.clone(),
            source,
        };
        // One compile per component at a time, across threads and processes
        // (a workflow's parallel tasks, two commands at once): the others
        // wait for it and load what it wrote, instead of each spending the
        // same CPU on the same compile.
        crate::fsutil::private_dir(&self.dir).map_err(cache_err)?;
        let _compiling =
            crate::fsutil::lock_exclusive(&self.dir.join(format!("{}.lock", self.key(digest))))
                .map_err(cache_err)?;
        if let Some(c) = self.lookup(engine, digest) {
            return Ok(c);
        }
        let component = Component::new(engine, bytes).map_err(|e| SandboxError::NotAMixin {
            path: path.to_path_buf(),
            reason: format!("{e:#}"),
        })?;
        let compiled = component
            .serialize()
            .map_err(|e| SandboxError::Wasmtime(format!("{e:#}")))?;
        crate::fsutil::write_atomic(&self.artifact_path(digest), &compiled).map_err(cache_err)?;
        self.write_meta(digest, &sha256_hex(&compiled), None);
        Ok(Cached {
            component,
            info: None,
        })
    }

    /// Record what the component `digest` said about itself, once its step
    /// schema compiled.
    pub fn record_info(&self, digest: &str, info: &Info) {
        let Some(meta) = read_json::<ArtifactMeta>(&self.meta_path(digest)) else {
            return;
        };
        let meta = ArtifactMeta {
            info: Some(InfoDoc::from(info)),
            ..meta
        };
        write_json(&self.meta_path(digest), &meta);
    }

    /// Where the findings of a plan's checked steps are kept, under `key`.
    fn checked_path(&self, key: &str) -> PathBuf {
        self.dir.join("checked").join(format!("{key}.json"))
    }

    /// What linting found in the steps `key` names, when they were checked
    /// before and passed (warnings only), one list per step.
    pub fn checked(&self, key: &str) -> Option<Vec<Vec<Diagnostic>>> {
        let docs: Vec<Vec<DiagnosticDoc>> = read_json(&self.checked_path(key))?;
        Some(
            docs.into_iter()
                .map(|step| {
                    step.into_iter()
                        .map(|d| Diagnostic {
                            severity: if d.warning {
                                Severity::Warning
                            } else {
                                Severity::Info
                            },
                            code: d.code,
                            message: d.message,
                            path: d.path,
                        })
                        .collect()
                })
                .collect(),
        )
    }

    /// Remember that the steps `key` names passed their checks with these
    /// findings (no errors: a failing check is never cached).
    pub fn record_checked(&self, key: &str, findings: &[Vec<Diagnostic>]) {
        let docs: Vec<Vec<DiagnosticDoc>> = findings
            .iter()
            .map(|step| {
                step.iter()
                    .map(|d| DiagnosticDoc {
                        warning: matches!(d.severity, Severity::Warning),
                        code: d.code.clone(),
                        message: d.message.clone(),
                        path: d.path.clone(),
                    })
                    .collect()
            })
            .collect();
        write_json(&self.checked_path(key), &docs);
    }
}
