//! Packing a bundle directory into the artifact's content layer: a gzipped
//! tar that is the same bytes for the same files, whoever packs it and when.
//!
//! Entries are sorted by path; mode is 0644 (0755 when any execute bit is
//! set); owner, group and mtime are zero; gzip's header carries no time or
//! name. Only regular files and directories go in: a symlink that stays in
//! the directory is stored as the file it names, one that leaves it is
//! refused, and so is anything else (devices, sockets, pipes).

use super::BundleError;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Directories never packed: version control and Porter's build output.
pub const SKIPPED: &[&str] = &[".git", ".cnab", ".wasmix"];

/// Most entries a bundle directory may hold (packing and unpacking).
pub const MAX_ENTRIES: usize = 10_000;
/// Most bytes the files of a bundle directory may add up to.
pub const MAX_BYTES: u64 = 256 << 20;

/// A packed bundle directory.
#[derive(Debug, Clone)]
pub struct Packed {
    /// The gzipped tar.
    pub bytes: Vec<u8>,
    /// The files in it, relative, sorted.
    pub files: Vec<String>,
}

enum Entry {
    Dir,
    File { data: Vec<u8>, executable: bool },
}

/// Pack `dir`, with `replace` (relative path → content) written in place of
/// (or beside) the files on disk.
pub fn pack(dir: &Path, replace: &BTreeMap<String, Vec<u8>>) -> Result<Packed, BundleError> {
    let root = dir.canonicalize().map_err(|e| BundleError::io(dir, e))?;
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    let mut total = 0u64;
    walk(&root, &root, &mut entries, &mut total)?;
    for (path, data) in replace {
        entries.insert(
            path.clone(),
            Entry::File {
                data: data.clone(),
                executable: false,
            },
        );
    }
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut files = Vec::new();
    for (path, entry) in &entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        let io = |e| BundleError::io(Path::new(path), e);
        match entry {
            Entry::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                tar.append_data(&mut header, format!("{path}/"), std::io::empty())
                    .map_err(io)?;
            }
            Entry::File { data, executable } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(if *executable { 0o755 } else { 0o644 });
                header.set_size(data.len() as u64);
                tar.append_data(&mut header, path, data.as_slice())
                    .map_err(io)?;
                files.push(path.clone());
            }
        }
    }
    let gz = tar.into_inner().map_err(|e| BundleError::io(dir, e))?;
    let mut bytes = gz.finish().map_err(|e| BundleError::io(dir, e))?;
    bytes.flush().map_err(|e| BundleError::io(dir, e))?;
    Ok(Packed { bytes, files })
}

fn walk(
    root: &Path,
    dir: &Path,
    entries: &mut BTreeMap<String, Entry>,
    total: &mut u64,
) -> Result<(), BundleError> {
    let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| BundleError::io(dir, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| BundleError::io(dir, e))?;
    children.sort();
    for path in children {
        let rel = relative(root, &path)?;
        if SKIPPED.contains(&rel.as_str()) {
            continue;
        }
        if entries.len() >= MAX_ENTRIES {
            return Err(BundleError::Refused {
                path: root.to_path_buf(),
                reason: format!(
                    "more than {MAX_ENTRIES} entries; a bundle carries its manifest and the files its steps use"
                ),
            });
        }
        let meta = std::fs::symlink_metadata(&path).map_err(|e| BundleError::io(&path, e))?;
        let kind = meta.file_type();
        if kind.is_dir() {
            entries.insert(rel, Entry::Dir);
            walk(root, &path, entries, total)?;
            continue;
        }
        let file = if kind.is_symlink() {
            let target = path.canonicalize().map_err(|e| BundleError::Refused {
                path: path.clone(),
                reason: format!("a symlink that does not resolve: {e}"),
            })?;
            if !target.starts_with(root) {
                return Err(BundleError::Refused {
                    path,
                    reason: format!(
                        "a symlink leaving the bundle directory (to {}); copy the file in instead",
                        target.display()
                    ),
                });
            }
            if !target.is_file() {
                return Err(BundleError::Refused {
                    path,
                    reason: "a symlink to something other than a regular file".into(),
                });
            }
            target
        } else if kind.is_file() {
            path.clone()
        } else {
            return Err(BundleError::Refused {
                path,
                reason: "not a regular file or directory (a device, socket or pipe)".into(),
            });
        };
        let data = std::fs::read(&file).map_err(|e| BundleError::io(&file, e))?;
        *total += data.len() as u64;
        if *total > MAX_BYTES {
            return Err(BundleError::TooLarge {
                what: format!("bundle directory {}", root.display()),
                size: *total,
                limit: MAX_BYTES,
            });
        }
        #[cfg(unix)]
        let executable = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(&file)
                .map(|m| m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        };
        #[cfg(not(unix))]
        let executable = false;
        entries.insert(rel, Entry::File { data, executable });
    }
    Ok(())
}

/// `path` relative to `root`, `/`-separated, refusing names a tar cannot
/// carry faithfully.
fn relative(root: &Path, path: &Path) -> Result<String, BundleError> {
    let rel = path.strip_prefix(root).map_err(|_| BundleError::Refused {
        path: path.to_path_buf(),
        reason: "outside the bundle directory".into(),
    })?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    match parts {
        Some(p) if !p.is_empty() => Ok(p.join("/")),
        _ => Err(BundleError::Refused {
            path: path.to_path_buf(),
            reason: "a file name that is not UTF-8".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_is_deterministic_and_refuses_escapes() {
        let a = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("porter.yaml"), "name: x").unwrap();
        std::fs::create_dir_all(a.path().join("files/sub")).unwrap();
        std::fs::write(a.path().join("files/sub/a.txt"), "a").unwrap();
        std::fs::create_dir_all(a.path().join(".git")).unwrap();
        std::fs::write(a.path().join(".git/HEAD"), "ref").unwrap();
        let first = pack(a.path(), &BTreeMap::new()).unwrap();
        assert_eq!(first.files, ["files/sub/a.txt", "porter.yaml"]);
        // Same files, other mtimes and creation order: same bytes.
        let b = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(b.path().join("files/sub")).unwrap();
        std::fs::write(b.path().join("files/sub/a.txt"), "a").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(b.path().join("porter.yaml"), "name: x").unwrap();
        assert_eq!(pack(b.path(), &BTreeMap::new()).unwrap().bytes, first.bytes);

        #[cfg(unix)]
        {
            let outside = tempfile::tempdir().unwrap();
            std::fs::write(outside.path().join("secret"), "s").unwrap();
            std::os::unix::fs::symlink(outside.path().join("secret"), a.path().join("link"))
                .unwrap();
            let err = pack(a.path(), &BTreeMap::new()).unwrap_err().to_string();
            assert!(err.contains("leaving the bundle directory"), "{err}");
            std::fs::remove_file(a.path().join("link")).unwrap();
            // A link inside is stored as the file it names.
            std::os::unix::fs::symlink("porter.yaml", a.path().join("alias.yaml")).unwrap();
            let packed = pack(a.path(), &BTreeMap::new()).unwrap();
            assert!(packed.files.contains(&"alias.yaml".to_string()));
            // A named pipe is not a file a bundle can carry.
            let fifo = a.path().join("pipe");
            let made = std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap();
            assert!(made.success());
            let err = pack(a.path(), &BTreeMap::new()).unwrap_err().to_string();
            assert!(
                err.contains("pipe") && err.contains("not a regular file"),
                "{err}"
            );
        }
    }
}
