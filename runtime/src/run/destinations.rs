//! Porter's `path:` destinations for one step: the values of the granted
//! credentials and parameters that name a file, and — for the host driver,
//! whose commands see the bundle directory — placing them there for the
//! step and removing them after it (the [`Placed`] guard), so the next step
//! does not see what it was not granted.

use crate::driver::FileValue;
use crate::grant::destinations::{in_bundle, Source};
use crate::grant::files::contained;
use crate::grant::Grant;
use crate::manifest::Manifest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The files `grant` places, with their contents: credentials from
/// `secrets`, parameters from `params` (a `type: file` parameter's value is
/// base64, decoded here).
pub fn values(
    manifest: &Manifest,
    grant: &Grant,
    secrets: &BTreeMap<String, String>,
    params: &BTreeMap<String, String>,
) -> Result<Vec<FileValue>, String> {
    let mut out = Vec::new();
    for (target, source) in &grant.destinations {
        let contents = match source {
            Source::Credential(name) => match secrets.get(name) {
                Some(v) => Zeroizing::new(v.as_bytes().to_vec()),
                // An optional credential not given: nothing to place.
                None => continue,
            },
            Source::Parameter(name) => {
                let Some(v) = params.get(name) else { continue };
                let file = manifest
                    .parameters
                    .iter()
                    .any(|p| &p.name == name && p.kind.as_deref() == Some("file"));
                if file {
                    use base64::Engine as _;
                    Zeroizing::new(
                        base64::engine::general_purpose::STANDARD
                            .decode(v.trim())
                            .map_err(|_| format!("parameter {name}: not base64 file contents"))?,
                    )
                } else {
                    Zeroizing::new(v.as_bytes().to_vec())
                }
            }
        };
        out.push(FileValue {
            target: target.clone(),
            source: source.describe(),
            contents,
        });
    }
    Ok(out)
}

/// Files placed in the bundle directory for one step; removed on drop.
#[derive(Debug, Default)]
pub struct Placed {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl Placed {
    /// Write `files` into `bundle_dir` at their paths under /cnab/app
    /// (owner-read-only). Never overwrites: a path already taken is an
    /// error naming it, so nothing of the operator's is replaced.
    pub fn place(bundle_dir: &Path, files: &[FileValue]) -> Result<Placed, String> {
        let mut placed = Placed::default();
        let bundle = bundle_dir
            .canonicalize()
            .unwrap_or_else(|_| bundle_dir.to_path_buf());
        for f in files {
            let rel = in_bundle(&f.target).ok_or_else(|| {
                format!(
                    "{} goes to {}, outside the bundle directory",
                    f.source, f.target
                )
            })?;
            let path = contained(&bundle, &rel.to_string_lossy()).ok_or_else(|| {
                format!("{} at {}: leaves the bundle directory", f.source, f.target)
            })?;
            if std::fs::symlink_metadata(&path).is_ok() {
                return Err(format!(
                    "{} goes to {}, but {} already exists; wasmix does not overwrite it",
                    f.source,
                    f.target,
                    path.display()
                ));
            }
            // Directories made here go again afterwards, deepest first.
            let mut missing = Vec::new();
            let mut dir = path.parent();
            while let Some(d) = dir {
                if d.exists() || d == bundle {
                    break;
                }
                missing.push(d.to_path_buf());
                dir = d.parent();
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("{} at {}: {e}", f.source, f.target))?;
            }
            placed.dirs.extend(missing);
            placed.files.push(path.clone());
            write_private(&path, &f.contents)
                .map_err(|e| format!("{} at {}: {e}", f.source, f.target))?;
        }
        Ok(placed)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o400);
    }
    options.open(path)?.write_all(bytes)
}

impl Drop for Placed {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        for d in &self.dirs {
            // Only if empty: a step may have put its own files there.
            let _ = std::fs::remove_dir(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(target: &str, text: &str) -> FileValue {
        FileValue {
            target: target.into(),
            source: "credential kube".into(),
            contents: Zeroizing::new(text.as_bytes().to_vec()),
        }
    }

    #[test]
    fn placed_files_go_again_and_nothing_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        {
            let _p = Placed::place(dir.path(), &[file("/cnab/app/kube/config", "k")]).unwrap();
            assert_eq!(
                std::fs::read_to_string(dir.path().join("kube/config")).unwrap(),
                "k"
            );
        }
        assert!(
            !dir.path().join("kube").exists(),
            "file and its new directory removed"
        );
        std::fs::write(dir.path().join("mine"), "operator's").unwrap();
        let err = Placed::place(dir.path(), &[file("/cnab/app/mine", "k")]).unwrap_err();
        assert!(err.contains("does not overwrite"), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("mine")).unwrap(),
            "operator's"
        );
        let err = Placed::place(dir.path(), &[file("/root/.kube/config", "k")]).unwrap_err();
        assert!(err.contains("outside the bundle directory"), "{err}");
    }
}
