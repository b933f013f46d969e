//! A bundle's `state:` files around one run, as Porter keeps them: before
//! the action, each file the installation's last successful run saved is
//! written back at its path in the bundle directory (refused if something
//! is already there: wasmix never overwrites a file it did not write); after
//! a successful action, each is read (a regular file only, bounded) and
//! saved (sealed) with the run; then the files are removed again, so no
//! state lingers in the operator's checkout. A failed action saves nothing:
//! the previous state stays the installation's.

use crate::grant::files::contained;
use crate::grant::state::relative_path;
use crate::manifest::Manifest;
use std::collections::BTreeMap;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// Largest state file kept, in bytes.
pub const MAX_STATE_BYTES: u64 = 16 << 20;

/// Why state could not be restored or saved. Never holds file contents.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A state path leaves the bundle directory.
    #[error("state {name:?}: path {path:?} must stay inside the bundle directory")]
    Path {
        /// State variable.
        name: String,
        /// Its path as written.
        path: String,
    },
    /// A state file is over [`MAX_STATE_BYTES`].
    #[error("state {name:?}: {path} is {size} bytes, over the limit of {MAX_STATE_BYTES}; it was not saved")]
    TooLarge {
        /// State variable.
        name: String,
        /// The file.
        path: String,
        /// Its size.
        size: u64,
    },
    /// Something other than wasmix's own state file sits at the path.
    #[error("state {name:?}: {path} already exists; wasmix keeps state files itself and never overwrites one it did not write: move it away (if an earlier run was killed, it is that run's state)")]
    Occupied {
        /// State variable.
        name: String,
        /// The file.
        path: String,
    },
    /// Two state variables name one file.
    #[error("state {name:?}: {path} is also the file of state {other:?}")]
    Shared {
        /// State variable.
        name: String,
        /// The other one.
        other: String,
        /// The file.
        path: String,
    },
    /// The state path is not a regular file (a symlink, a device, a pipe).
    #[error("state {name:?}: {path} is not a regular file; it was not saved")]
    NotAFile {
        /// State variable.
        name: String,
        /// The file.
        path: String,
    },
    /// Reading or writing a state file failed.
    #[error("state {name:?}: {path}: {source}")]
    Io {
        /// State variable.
        name: String,
        /// The file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

struct Entry {
    name: String,
    path: PathBuf,
}

/// The state files of one run, put back as they were when dropped.
pub struct StateFiles {
    entries: Vec<Entry>,
}

/// The state file at `path`, if any: a regular file (a symlink is never
/// followed: a step could point one at the operator's files), read through
/// a bounded reader so a growing file cannot pass the cap.
fn read_capped(name: &str, path: &PathBuf) -> Result<Option<Zeroizing<Vec<u8>>>, StateError> {
    use std::io::Read;
    let io = |source| StateError::Io {
        name: name.to_string(),
        path: path.display().to_string(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
        Ok(m) if !m.file_type().is_file() => {
            return Err(StateError::NotAFile {
                name: name.to_string(),
                path: path.display().to_string(),
            })
        }
        Ok(_) => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Swapped for a symlink since the check: refuse rather than follow.
        options.custom_flags(libc::O_NOFOLLOW);
    }
    let file = options.open(path).map_err(io)?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_STATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_STATE_BYTES {
        return Err(StateError::TooLarge {
            name: name.to_string(),
            path: path.display().to_string(),
            size: bytes.len() as u64,
        });
    }
    Ok(Some(bytes))
}

/// Largest bundle output read from a file (`outputs[].path`).
pub const MAX_OUTPUT_FILE: usize = 1 << 20;

/// Bundle output `name`'s file (`outputs[].path`, under /cnab/app) as the
/// action left it in the bundle directory: `None` when there is none. A
/// regular file only, at most [`MAX_OUTPUT_FILE`] bytes of UTF-8 text.
pub fn read_output_file(
    manifest: &Manifest,
    name: &str,
    path: &str,
) -> Result<Option<String>, StateError> {
    let bad = || StateError::Path {
        name: name.to_string(),
        path: path.to_string(),
    };
    let bundle = manifest
        .dir
        .canonicalize()
        .unwrap_or_else(|_| manifest.dir.clone());
    let rel = relative_path(path).ok_or_else(bad)?;
    let file = contained(&bundle, &rel.to_string_lossy()).ok_or_else(bad)?;
    let Some(bytes) = read_capped(name, &file)? else {
        return Ok(None);
    };
    if bytes.len() > MAX_OUTPUT_FILE {
        return Err(StateError::TooLarge {
            name: name.to_string(),
            path: file.display().to_string(),
            size: bytes.len() as u64,
        });
    }
    String::from_utf8(bytes.to_vec())
        .map(Some)
        .map_err(|_| StateError::Io {
            name: name.to_string(),
            path: file.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "an output file must be UTF-8 text",
            ),
        })
}

impl StateFiles {
    /// Write `saved` (the installation's last state) into the bundle
    /// directory at each variable's path, creating its directory.
    pub fn restore(
        manifest: &Manifest,
        saved: &BTreeMap<String, Zeroizing<Vec<u8>>>,
    ) -> Result<StateFiles, StateError> {
        let bundle = manifest
            .dir
            .canonicalize()
            .unwrap_or_else(|_| manifest.dir.clone());
        let mut files = StateFiles {
            entries: Vec::new(),
        };
        for var in &manifest.state {
            let bad = || StateError::Path {
                name: var.name.clone(),
                path: var.path.clone(),
            };
            let rel = relative_path(&var.path).ok_or_else(bad)?;
            let path = contained(&bundle, &rel.to_string_lossy()).ok_or_else(bad)?;
            let io = |source| StateError::Io {
                name: var.name.clone(),
                path: path.display().to_string(),
                source,
            };
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            if let Some(other) = files.entries.iter().find(|e| e.path == path) {
                return Err(StateError::Shared {
                    name: var.name.clone(),
                    other: other.name.clone(),
                    path: path.display().to_string(),
                });
            }
            // Never overwrite a file wasmix did not write: if a run is
            // killed before it puts the directory back, nothing of the
            // operator's is lost, and the next run says what is there.
            if std::fs::symlink_metadata(&path).is_ok() {
                return Err(StateError::Occupied {
                    name: var.name.clone(),
                    path: path.display().to_string(),
                });
            }
            // Registered before writing, so Drop removes it even if the
            // write below fails half-way.
            files.entries.push(Entry {
                name: var.name.clone(),
                path: path.clone(),
            });
            if let Some(bytes) = saved.get(&var.name) {
                crate::fsutil::write_atomic(&path, bytes).map_err(io)?;
            }
        }
        Ok(files)
    }

    /// Each state file as the action left it (absent ones are left out).
    pub fn collect(&self) -> Result<Vec<(String, Vec<u8>)>, StateError> {
        let mut out = Vec::new();
        for e in &self.entries {
            if let Some(bytes) = read_capped(&e.name, &e.path)? {
                out.push((e.name.clone(), bytes.to_vec()));
            }
        }
        Ok(out)
    }
}

impl Drop for StateFiles {
    fn drop(&mut self) {
        for e in &self.entries {
            // Nothing was there before the run (restore refuses otherwise).
            // Best effort: a file left behind is named by the next run.
            let _ = std::fs::remove_file(&e.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(dir: &std::path::Path) -> Manifest {
        let text = "schemaVersion: 1.0.0\nname: s\nversion: 0.1.0\nmixins: [exec]\nstate:\n  - name: tf\n    path: tf/state\ninstall:\n  - exec:\n      command: echo\nuninstall:\n  - exec:\n      command: echo\n";
        std::fs::write(dir.join("porter.yaml"), text).unwrap();
        crate::manifest::load(dir).unwrap()
    }

    #[test]
    fn restore_writes_the_saved_state_and_drop_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest(dir.path());
        let saved = BTreeMap::from([("tf".to_string(), Zeroizing::new(b"v1".to_vec()))]);
        let files = StateFiles::restore(&m, &saved).unwrap();
        let path = dir.path().join("tf/state");
        assert_eq!(std::fs::read(&path).unwrap(), b"v1");
        std::fs::write(&path, b"v2").unwrap();
        assert_eq!(
            files.collect().unwrap(),
            [("tf".to_string(), b"v2".to_vec())]
        );
        drop(files);
        assert!(!path.exists());
    }

    #[test]
    fn a_file_wasmix_did_not_write_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest(dir.path());
        std::fs::create_dir_all(dir.path().join("tf")).unwrap();
        std::fs::write(dir.path().join("tf/state"), b"mine").unwrap();
        let err = StateFiles::restore(&m, &BTreeMap::new()).err().unwrap();
        assert!(matches!(err, StateError::Occupied { .. }), "{err}");
        assert_eq!(std::fs::read(dir.path().join("tf/state")).unwrap(), b"mine");
    }

    #[cfg(unix)]
    #[test]
    fn a_state_file_swapped_for_a_symlink_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest(dir.path());
        let files = StateFiles::restore(&m, &BTreeMap::new()).unwrap();
        let outside = dir.path().join("secret");
        std::fs::write(&outside, b"operator's file").unwrap();
        std::os::unix::fs::symlink(&outside, dir.path().join("tf/state")).unwrap();
        let err = files.collect().unwrap_err();
        assert!(matches!(err, StateError::NotAFile { .. }), "{err}");
    }
}
