//! `wasmix.lock`, beside `porter.yaml`: the capabilities every step of every
//! action was granted when the operator last accepted them. A later run whose
//! manifest grants more stops and names what is new, unless the operator
//! accepts it; narrower grants are recorded silently.

use crate::grant::Capability;
use crate::manifest::Manifest;
use crate::plan::BundlePlan;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The lock file's name.
pub const LOCK_FILE: &str = "wasmix.lock";

/// A mixin pulled from a registry, pinned to the manifest digest it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedMixin {
    /// The reference as written in `porter.yaml` (or derived from the
    /// default namespace).
    pub reference: String,
    /// The manifest digest it resolved to when locked.
    pub digest: String,
}

/// The lock file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// Format version.
    pub version: u32,
    /// Bundle name.
    pub bundle: String,
    /// Registry mixins by name, pinned by digest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mixins: BTreeMap<String, LockedMixin>,
    /// Per action, per step path (`install[0].exec`), the capabilities granted.
    pub grants: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// Dependency bundles as last resolved: `REFERENCE` or `REFERENCE RANGE`
    /// (as the manifests write them) → `registry/repo@sha256:…`. The next
    /// solve uses these digests, so it needs no tag lookup and works
    /// offline from the cache.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<String, String>,
}

/// The key a dependency's resolution is locked under.
pub fn dependency_key(reference: &str, version: Option<&str>) -> String {
    match version {
        Some(range) => format!("{reference} {range}"),
        None => reference.to_string(),
    }
}

/// Why the lock check failed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The manifest grants capabilities the lock does not record.
    #[error("{} grants capabilities that {} does not record:\n{}\nreview them (`wasmix explain`), then run again with --accept-capabilities",
        .manifest.display(), .lock.display(),
        .added.iter().map(|(step, cap)| format!("  + {step}: {cap}")).collect::<Vec<_>>().join("\n"))]
    Widened {
        /// Manifest.
        manifest: PathBuf,
        /// Lock file.
        lock: PathBuf,
        /// (step, capability) pairs that are new.
        added: Vec<(String, String)>,
    },
    /// The lock file could not be read or written, or is not valid.
    #[error("lock file {path}: {message}")]
    File {
        /// Lock file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl LockError {
    /// Widened grants are the manifest's doing; a lock file that cannot be
    /// read or written is the environment's.
    pub fn exit_class(&self) -> crate::exit::ExitClass {
        match self {
            LockError::Widened { .. } => crate::exit::ExitClass::BadInput,
            LockError::File { .. } => crate::exit::ExitClass::Environment,
        }
    }
}

impl Lock {
    /// The grants a bundle's plan declares for every action.
    pub fn of(manifest: &Manifest, plans: &BundlePlan) -> Lock {
        let grants = plans
            .actions
            .iter()
            .map(|(action, plan)| {
                let steps = plan
                    .steps
                    .iter()
                    .map(|s| {
                        (
                            s.step.path.clone(),
                            s.grant
                                .capabilities
                                .iter()
                                .map(Capability::describe)
                                .collect(),
                        )
                    })
                    .collect();
                (action.clone(), steps)
            })
            .collect();
        Lock {
            version: 1,
            bundle: manifest.name.clone(),
            mixins: BTreeMap::new(),
            grants,
            dependencies: BTreeMap::new(),
        }
    }

    /// What `self` grants that `old` did not.
    pub fn added_since(&self, old: &Lock) -> Vec<(String, String)> {
        let mut added = Vec::new();
        for steps in self.grants.values() {
            for (step, caps) in steps {
                let before = old.grants.values().find_map(|s| s.get(step));
                for c in caps {
                    if !before.is_some_and(|b| b.contains(c)) {
                        added.push((step.clone(), c.clone()));
                    }
                }
            }
        }
        added
    }
}

/// Read the lock file beside `manifest`, if there is one.
pub fn read(manifest: &Manifest) -> Result<Option<Lock>, LockError> {
    read_at(&manifest.dir.join(LOCK_FILE))
}

/// Read the lock file at `path`, if there is one.
pub fn read_at(path: &std::path::Path) -> Result<Option<Lock>, LockError> {
    let path = path.to_path_buf();
    let file_err = |message: String| LockError::File {
        path: path.clone(),
        message,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(serde_yaml::from_str::<Lock>(&text).map_err(|e| {
            file_err(format!(
                "not a valid lock file: {e}; delete it to start afresh"
            ))
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(file_err(e.to_string())),
    }
}

/// Check `manifest`'s plans against `previous` (the lock file as read
/// before this run) and write the file when it is missing or out of date,
/// with the mixin `pins` this run used. Widened grants are refused unless
/// `accept`.
pub fn check(
    manifest: &Manifest,
    plans: &BundlePlan,
    previous: Option<&Lock>,
    accept: bool,
    pins: &BTreeMap<String, LockedMixin>,
) -> Result<(), LockError> {
    check_at(
        &manifest.dir.join(LOCK_FILE),
        manifest,
        plans,
        previous,
        accept,
        pins,
    )
}

/// [`check`], with the lock file at `path` instead of beside the manifest
/// (a bundle from a registry keeps the operator's lock per installation).
pub fn check_at(
    path: &std::path::Path,
    manifest: &Manifest,
    plans: &BundlePlan,
    previous: Option<&Lock>,
    accept: bool,
    pins: &BTreeMap<String, LockedMixin>,
) -> Result<(), LockError> {
    let path = path.to_path_buf();
    let mut current = Lock::of(manifest, plans);
    current.mixins = pins.clone();
    // Dependency pins are the workflow's to write; a grants check keeps them.
    current.dependencies = previous
        .map(|old| old.dependencies.clone())
        .unwrap_or_default();
    if let Some(old) = previous {
        if old == &current {
            return Ok(());
        }
        let added = current.added_since(old);
        if !added.is_empty() && !accept {
            return Err(LockError::Widened {
                manifest: manifest.file.clone(),
                lock: path,
                added,
            });
        }
    }
    write_at(&path, &current)
}

/// Record the dependency pins a successful workflow resolved, in the lock
/// file at `path` (which its root's run has written).
pub fn record_dependencies(
    path: &std::path::Path,
    pins: &BTreeMap<String, String>,
) -> Result<(), LockError> {
    let Some(mut lock) = read_at(path)? else {
        return Ok(());
    };
    if &lock.dependencies == pins {
        return Ok(());
    }
    lock.dependencies = pins.clone();
    write_at(path, &lock)
}

fn write_at(path: &std::path::Path, current: &Lock) -> Result<(), LockError> {
    let path = path.to_path_buf();
    let file_err = |message: String| LockError::File {
        path: path.clone(),
        message,
    };
    let text = serde_yaml::to_string(current).map_err(|e| file_err(e.to_string()))?;
    let header = "# Written by wasmix: the capabilities each step was granted when last accepted.\n# Commit it; wasmix stops when porter.yaml grants more than this records.\n";
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| file_err(e.to_string()))?;
    }
    crate::fsutil::write_atomic(&path, format!("{header}{text}").as_bytes())
        .map_err(|e| file_err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(dir: &std::path::Path, commands: &str) -> (Manifest, BundlePlan) {
        let text = format!(
            "schemaVersion: 1.0.0\nname: locked\nversion: 0.1.0\nmixins: [exec]\ninstall:\n  - exec:\n      command: true\n      grants: {{commands: [{commands}]}}\nuninstall:\n  - exec:\n      command: true\n"
        );
        std::fs::write(dir.join("porter.yaml"), text).unwrap();
        let m = crate::manifest::load(dir).unwrap();
        let plans = BundlePlan::new(&m).unwrap();
        (m, plans)
    }

    #[test]
    fn the_first_run_writes_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let (m, plans) = bundle(dir.path(), "a");
        check(&m, &plans, None, false, &BTreeMap::new()).unwrap();
        let lock = read(&m).unwrap().expect("written");
        assert_eq!(lock.bundle, "locked");
        assert_eq!(
            lock.grants["install"]["install[0].exec"],
            BTreeSet::from(["command a".to_string()])
        );
    }

    #[test]
    fn wider_grants_are_refused_until_accepted_narrower_ones_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let (m, plans) = bundle(dir.path(), "a");
        check(&m, &plans, None, false, &BTreeMap::new()).unwrap();
        let old = read(&m).unwrap();

        let (m, plans) = bundle(dir.path(), "a, b");
        let err = check(&m, &plans, old.as_ref(), false, &BTreeMap::new()).unwrap_err();
        match &err {
            LockError::Widened { added, .. } => assert_eq!(
                added,
                &[("install[0].exec".to_string(), "command b".to_string())]
            ),
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains("--accept-capabilities"));
        // Refused: the lock still records the old grants.
        assert_eq!(read(&m).unwrap(), old);

        check(&m, &plans, old.as_ref(), true, &BTreeMap::new()).unwrap();
        let accepted = read(&m).unwrap();
        assert!(
            accepted.as_ref().unwrap().grants["install"]["install[0].exec"].contains("command b")
        );

        // Narrower: recorded without asking.
        let (m, plans) = bundle(dir.path(), "b");
        check(&m, &plans, accepted.as_ref(), false, &BTreeMap::new()).unwrap();
        let narrowed = read(&m).unwrap().unwrap();
        assert_eq!(
            narrowed.grants["install"]["install[0].exec"],
            BTreeSet::from(["command b".to_string()])
        );
    }

    #[test]
    fn a_mangled_lock_is_a_located_error() {
        let dir = tempfile::tempdir().unwrap();
        let (m, _) = bundle(dir.path(), "a");
        std::fs::write(dir.path().join(LOCK_FILE), "version: [").unwrap();
        let err = read(&m).unwrap_err().to_string();
        assert!(
            err.contains(LOCK_FILE) && err.contains("delete it"),
            "{err}"
        );
    }
}
