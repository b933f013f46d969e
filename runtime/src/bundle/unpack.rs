//! Unpacking a bundle's content layer into a fresh directory, refusing
//! anything a packed bundle never holds: absolute paths, `..`, links,
//! devices, duplicate entries, more than [`MAX_ENTRIES`] entries or more
//! than [`MAX_BYTES`] of files (counted as the bytes are decompressed, so
//! a small gzip cannot expand without bound).

use super::pack::{MAX_BYTES, MAX_ENTRIES};
use super::BundleError;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Unpack gzipped tar `bytes` into `dir`, which must be empty. On error the
/// caller removes `dir`; nothing is written outside it.
pub fn unpack(what: &str, bytes: &[u8], dir: &Path) -> Result<Vec<String>, BundleError> {
    let refuse = |reason: String| BundleError::Format {
        reference: what.to_string(),
        reason,
    };
    // Headers and padding count too; a margin over the file bytes covers them.
    let budget = MAX_BYTES + (MAX_ENTRIES as u64 + 2) * 1024;
    let decoder = flate2::read::GzDecoder::new(bytes).take(budget + 1);
    let mut archive = tar::Archive::new(decoder);
    let entries = archive
        .entries()
        .map_err(|e| refuse(format!("not a tar: {e}")))?;
    let mut files = Vec::new();
    let mut count = 0usize;
    let mut total = 0u64;
    for entry in entries {
        let mut entry = entry.map_err(|e| refuse(format!("bad tar entry: {e}")))?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(refuse(format!("more than {MAX_ENTRIES} entries")));
        }
        let raw = entry
            .path()
            .map_err(|e| refuse(format!("bad entry name: {e}")))?
            .into_owned();
        let rel = safe_path(&raw).ok_or_else(|| {
            refuse(format!(
                "entry {:?} is absolute or leaves the bundle directory",
                raw.display()
            ))
        })?;
        let target = dir.join(&rel);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&target).map_err(|e| BundleError::io(&target, e))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.header().size().unwrap_or(u64::MAX);
                total = total.saturating_add(size);
                if total > MAX_BYTES {
                    return Err(BundleError::TooLarge {
                        what: format!("{what}: unpacked files"),
                        size: total,
                        limit: MAX_BYTES,
                    });
                }
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| BundleError::io(parent, e))?;
                }
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&target)
                    .map_err(|e| match e.kind() {
                        std::io::ErrorKind::AlreadyExists => {
                            refuse(format!("entry {} appears twice", rel.display()))
                        }
                        _ => BundleError::io(&target, e),
                    })?;
                let copied = std::io::copy(&mut (&mut entry).take(size), &mut out)
                    .map_err(|e| refuse(format!("entry {}: {e}", rel.display())))?;
                if copied != size {
                    return Err(refuse(format!(
                        "entry {} is cut short ({copied} of {size} bytes)",
                        rel.display()
                    )));
                }
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let executable = entry.header().mode().unwrap_or(0) & 0o111 != 0;
                    // Read-only: a cached tree is never written to (runs
                    // work in a copy, see `cache::working_copy`).
                    let mode = if executable { 0o555 } else { 0o444 };
                    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
                        .map_err(|e| BundleError::io(&target, e))?;
                }
                files.push(rel.to_string_lossy().into_owned());
            }
            other => {
                return Err(refuse(format!(
                    "entry {} is a {other:?}; a bundle holds only files and directories",
                    rel.display()
                )))
            }
        }
    }
    Ok(files)
}

/// `raw` as a relative path of plain names, or `None`.
fn safe_path(raw: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A tar.gz with hand-made headers, as a hostile packer would write it.
    fn evil(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // set_path refuses `..`; write the name bytes directly.
            let bytes = name.as_bytes();
            h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            if *kind == tar::EntryType::Symlink {
                h.set_link_name("/etc/passwd").unwrap();
            }
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn what_pack_writes_unpacks_to_the_same_files() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("a/b")).unwrap();
        std::fs::write(src.path().join("a/b/c.txt"), "c").unwrap();
        std::fs::write(src.path().join("porter.yaml"), "p").unwrap();
        let packed = super::super::pack::pack(src.path(), &BTreeMap::new()).unwrap();
        let out = tempfile::tempdir().unwrap();
        let files = unpack("t", &packed.bytes, out.path()).unwrap();
        assert_eq!(files, ["a/b/c.txt", "porter.yaml"]);
        assert_eq!(std::fs::read(out.path().join("a/b/c.txt")).unwrap(), b"c");
    }

    #[test]
    fn escapes_links_devices_and_duplicates_are_refused() {
        for (entries, expect) in [
            (
                vec![("../x", tar::EntryType::Regular, &b"x"[..])],
                "leaves the bundle",
            ),
            (
                vec![("/etc/x", tar::EntryType::Regular, &b"x"[..])],
                "absolute",
            ),
            (vec![("l", tar::EntryType::Symlink, &b""[..])], "Symlink"),
            (vec![("d", tar::EntryType::Char, &b""[..])], "Char"),
            (
                vec![
                    ("f", tar::EntryType::Regular, &b"1"[..]),
                    ("f", tar::EntryType::Regular, &b"2"[..]),
                ],
                "appears twice",
            ),
        ] {
            let out = tempfile::tempdir().unwrap();
            let err = unpack("t", &evil(&entries), out.path())
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "{err} (want {expect})");
        }
        let out = tempfile::tempdir().unwrap();
        let err = unpack("t", b"not gzip at all", out.path()).unwrap_err();
        assert!(err.to_string().contains("t:"), "{err}");
    }

    #[test]
    fn too_many_entries_are_refused() {
        let names: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("f{i}")).collect();
        let entries: Vec<_> = names
            .iter()
            .map(|n| (n.as_str(), tar::EntryType::Regular, &b""[..]))
            .collect();
        let out = tempfile::tempdir().unwrap();
        let err = unpack("t", &evil(&entries), out.path()).unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn valid() -> Vec<u8> {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("a/b")).unwrap();
        std::fs::write(src.path().join("a/b/c.txt"), "c".repeat(300)).unwrap();
        std::fs::write(src.path().join("porter.yaml"), "name: x\n").unwrap();
        super::super::pack::pack(src.path(), &Default::default())
            .unwrap()
            .bytes
    }

    proptest! {

        /// Arbitrary bytes never panic and never write outside the target.
        #[test]
        fn arbitrary_bytes_are_refused_or_unpacked_inside(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let out = tempfile::tempdir().unwrap();
            let _ = unpack("fuzz", &bytes, out.path());
        }

        /// A real bundle with bytes flipped: refused or unpacked, no panic,
        /// everything written lands under the target directory.
        #[test]
        fn flipped_bundles_stay_inside(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
            let mut bytes = valid();
            for (at, value) in flips {
                let i = at % bytes.len();
                bytes[i] ^= value | 1;
            }
            let parent = tempfile::tempdir().unwrap();
            let out = parent.path().join("out");
            std::fs::create_dir(&out).unwrap();
            let _ = unpack("fuzz", &bytes, &out);
            let outside: Vec<_> = std::fs::read_dir(parent.path())
                .unwrap()
                .flatten()
                .filter(|e| e.file_name() != "out")
                .collect();
            prop_assert!(outside.is_empty());
        }
    }
}
