//! One action per installation at a time, and the clean-up after one that
//! was killed.
//!
//! An action holds an exclusive `flock` on `running/<installation>.run`
//! beside the state store for as long as it runs, and writes into it what
//! it is doing and which files it may leave in the bundle directory (state
//! files, file destinations). A second action on the same installation is
//! refused at once, naming the first. A clean end empties the file; the
//! kernel drops the lock however the process ends. So a later action that
//! gets the lock and finds the file not empty knows its holder was killed:
//! it records that run as failed, and removes the files it listed, which
//! wasmix had written (it never writes over an existing file), so the
//! installation is usable again.

use super::RunError;
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// What a running action wrote about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// Its process.
    pub pid: u32,
    /// Its action.
    pub action: String,
    /// When it started (seconds since the epoch).
    pub started: i64,
    /// Bundle name, version and where it came from, for the run record.
    pub bundle: String,
    /// Bundle version.
    pub version: String,
    /// Manifest path or `registry/repo@digest`.
    pub manifest: String,
    /// Files it may leave in the bundle directory.
    pub files: Vec<PathBuf>,
}

/// The held lock; emptied and released on drop.
#[derive(Debug)]
pub struct Guard {
    file: crate::fsutil::HeldLock,
}

impl Guard {
    /// Take the lock for `installation` in `dir`, or refuse when another
    /// action holds it. Returns what a killed holder left, if anything.
    pub fn acquire(dir: &Path, installation: &str) -> Result<(Guard, Option<Marker>), RunError> {
        let io = |e: std::io::Error| RunError::Busy {
            installation: installation.to_string(),
            holder: format!("cannot lock {}: {e}", dir.display()),
        };
        crate::fsutil::private_dir(dir).map_err(io)?;
        let path = dir.join(crate::fsutil::file_name_for(installation, "run"));
        let file = crate::fsutil::lock_file(&path).map_err(io)?;
        let mut file = match crate::fsutil::try_lock(file).map_err(io)? {
            Ok(held) => held,
            Err(mut file) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = match serde_json::from_str::<Marker>(&text) {
                    Ok(m) => format!(
                        "{} is running it (process {}, since {})",
                        m.action,
                        m.pid,
                        crate::store::rfc3339(m.started)
                    ),
                    Err(_) => "another wasmix is running an action on it".into(),
                };
                return Err(RunError::Busy {
                    installation: installation.to_string(),
                    holder,
                });
            }
        };
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(io)?;
        let left = serde_json::from_str::<Marker>(&text).ok();
        Ok((Guard { file }, left))
    }

    /// Say what this action is doing (replacing what a killed one wrote).
    ///
    /// Not fsynced: the marker is for a process that is killed, and what a
    /// killed process wrote is in the page cache for the next one. After a
    /// power loss it may be gone: the interrupted run is then not recorded
    /// as failed and the files it listed are not removed (what its commands
    /// did elsewhere happened either way), and the installation stays as
    /// its last recorded run left it. A run's one fsync is its record's
    /// commit.
    pub fn mark(&mut self, marker: &Marker) -> std::io::Result<()> {
        let json = serde_json::to_vec(marker).expect("JSON of plain values");
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.file.write_all(&json)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Empty: a clean end. The lock is let go with `file` (explicitly,
        // see `HeldLock`).
        let _ = self.file.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker() -> Marker {
        Marker {
            pid: 1,
            action: "install".into(),
            started: 0,
            bundle: "b".into(),
            version: "0.1.0".into(),
            manifest: "/m".into(),
            files: vec![PathBuf::from("/tmp/x")],
        }
    }

    #[test]
    fn a_second_holder_is_refused_and_a_clean_end_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut g, left) = Guard::acquire(dir.path(), "app").unwrap();
        assert!(left.is_none());
        g.mark(&marker()).unwrap();
        let err = Guard::acquire(dir.path(), "app").unwrap_err().to_string();
        assert!(err.contains("install is running it (process 1"), "{err}");
        // Another installation is independent.
        Guard::acquire(dir.path(), "other").unwrap();
        drop(g);
        let (_g, left) = Guard::acquire(dir.path(), "app").unwrap();
        assert!(left.is_none(), "a clean end leaves no marker");
    }

    #[test]
    fn a_holder_that_never_says_what_it_does_is_still_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = crate::fsutil::lock_file(&dir.path().join("app.run")).unwrap();
        let held = crate::fsutil::try_lock(file).unwrap().unwrap();
        let err = Guard::acquire(dir.path(), "app").unwrap_err().to_string();
        assert!(
            err.contains("another wasmix is running an action on it"),
            "{err}"
        );
        drop(held);
        Guard::acquire(dir.path(), "app").unwrap();
    }

    #[test]
    fn a_clean_end_lets_go_even_while_a_copy_of_the_descriptor_lives() {
        let dir = tempfile::tempdir().unwrap();
        let (g, _) = Guard::acquire(dir.path(), "app").unwrap();
        // What a child forked on another thread holds until its exec.
        let copy = g.file.try_clone().unwrap();
        drop(g);
        Guard::acquire(dir.path(), "app").unwrap();
        drop(copy);
    }

    #[test]
    fn what_a_killed_holder_wrote_is_handed_to_the_next() {
        let dir = tempfile::tempdir().unwrap();
        // As if a process had written its marker and died: the lock is
        // gone with it, the text stays.
        std::fs::write(
            dir.path().join("app.run"),
            serde_json::to_vec(&marker()).unwrap(),
        )
        .unwrap();
        let (_g, left) = Guard::acquire(dir.path(), "app").unwrap();
        assert_eq!(left, Some(marker()));
    }
}
