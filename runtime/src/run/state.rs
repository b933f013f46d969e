//! A bundle's `state:` files around one run, as Porter keeps them: before
//! the action, each file the installation's last successful run saved is
//! written back at its path in the bundle directory; after a successful
//! action, each is read and saved (sealed) with the run; whatever happens,
//! the bundle directory is then put back as it was, so no state lingers in
//! the operator's checkout. A failed action saves nothing: the previous
//! state stays the installation's.

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
    /// What the bundle directory held there before the run.
    original: Option<Zeroizing<Vec<u8>>>,
}

/// The state files of one run, put back as they were when dropped.
pub struct StateFiles {
    entries: Vec<Entry>,
}

fn read_capped(name: &str, path: &PathBuf) -> Result<Option<Zeroizing<Vec<u8>>>, StateError> {
    let io = |source| StateError::Io {
        name: name.to_string(),
        path: path.display().to_string(),
        source,
    };
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(e)),
        Ok(m) if m.len() > MAX_STATE_BYTES => Err(StateError::TooLarge {
            name: name.to_string(),
            path: path.display().to_string(),
            size: m.len(),
        }),
        Ok(_) => Ok(Some(Zeroizing::new(std::fs::read(path).map_err(io)?))),
    }
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
            let original = read_capped(&var.name, &path)?;
            // Registered before writing, so Drop puts it back even if the
            // write below fails half-way.
            files.entries.push(Entry {
                name: var.name.clone(),
                path: path.clone(),
                original,
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
            // Best effort: a failure here leaves a state file in the bundle
            // directory, which the next run overwrites anyway.
            let _ = match &e.original {
                Some(bytes) => crate::fsutil::write_atomic(&e.path, bytes),
                None => std::fs::remove_file(&e.path),
            };
        }
    }
}
