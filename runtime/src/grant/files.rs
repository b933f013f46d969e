//! Files: host directories preopened for the mixin, read-only unless granted
//! `write: true`, and the one containment rule every path a step names on
//! the host goes through ([`contained`]): grant defaults, mount sources and
//! working directories.

use super::{CapabilityKind, Grant, GrantBuilder, GrantError};
use crate::manifest::FileGrantSpec;
use std::path::{Component, Path, PathBuf};

/// The guest directory where bundle files appear by default.
pub const APP_DIR: &str = "/cnab/app";

/// A directory of the host made visible to the mixin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileGrant {
    /// Absolute, canonical host path.
    pub host: PathBuf,
    /// Absolute path the mixin sees.
    pub guest: String,
    /// Writable; otherwise read-only.
    pub write: bool,
}

/// `rel` beneath `base`, or `None` when it would leave `base`.
///
/// Written by hand rather than normalising with a crate because the rule is
/// deliberately stricter than normalisation: `..` is refused outright (the
/// kernel resolves `link/..` against the link's target, so no lexical `..`
/// is safe), a leading `/` means "from `base`", and Windows prefixes are
/// refused. Then, when the path exists, it is opened through `cap-std`, which
/// resolves every symlink inside `base` and fails on one that leads out: a
/// symlink in the bundle cannot smuggle `/etc` into a mount.
pub fn contained(base: &Path, rel: &str) -> Option<PathBuf> {
    let mut out = base.to_path_buf();
    let mut inner = PathBuf::new();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(n) => inner.push(n),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    if inner.as_os_str().is_empty() {
        return Some(out);
    }
    match cap_std::fs::Dir::open_ambient_dir(base, cap_std::ambient_authority()) {
        Ok(dir) => match dir.metadata(&inner) {
            Ok(_) => {}
            // Nothing there yet: nothing to follow out of `base`.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // An escaping symlink, or a path that cannot be checked: refused.
            Err(_) => return None,
        },
        // No base, so nothing under it to follow out of.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) => return None,
    }
    out.push(inner);
    Some(out)
}

/// The `files:` entry of a `grants:` block.
pub(super) fn add(b: &mut GrantBuilder<'_>, files: &[FileGrantSpec]) -> Result<(), GrantError> {
    for (i, f) in files.iter().enumerate() {
        let sub = format!(".files[{i}]");
        let host = if Path::new(&f.path).is_absolute() {
            PathBuf::from(&f.path)
        } else {
            b.manifest.dir.join(&f.path)
        };
        let host = host.canonicalize().map_err(|e| {
            b.error(
                &sub,
                format!("granted path {:?} cannot be opened: {e}", f.path),
            )
        })?;
        if !host.is_dir() {
            return Err(b.error(
                &sub,
                format!(
                    "granted path {:?} is not a directory; grant the directory that holds it",
                    f.path
                ),
            ));
        }
        let guest = match &f.guest {
            Some(g) => g.clone(),
            None => default_guest(&b.manifest.dir, &f.path, &host).ok_or_else(|| {
                b.error(
                    &sub,
                    format!(
                        "{:?} leaves the bundle directory; give `to:` explicitly",
                        f.path
                    ),
                )
            })?,
        };
        if !guest.starts_with('/') || guest.split('/').any(|c| c == "..") {
            return Err(b.error(
                &sub,
                format!("guest path {guest:?} must be absolute and must not contain `..`"),
            ));
        }
        let mode = if f.write { "rw" } else { "ro" };
        b.note(
            CapabilityKind::File,
            format!("{} -> {guest} ({mode})", f.path),
        );
        b.grant.add_file(FileGrant {
            host,
            guest,
            write: f.write,
        });
    }
    Ok(())
}

impl Grant {
    /// Add a directory grant; one already granted at the same guest path
    /// becomes writable when either is (two preopens of one path would let
    /// the order of preopens decide).
    pub(super) fn add_file(&mut self, file: FileGrant) {
        match self.files.iter_mut().find(|f| f.guest == file.guest) {
            Some(f) => f.write |= file.write,
            None => self.files.push(file),
        }
    }
}

/// Where a directory of the bundle appears by default: under [`APP_DIR`] at
/// the place its path names in the bundle (`./charts` → `/cnab/app/charts`).
/// Only when its canonical path lies inside the bundle: a symlink that leads
/// out of the bundle needs an explicit `to:`.
fn default_guest(bundle_dir: &Path, written: &str, host: &Path) -> Option<String> {
    let bundle = bundle_dir.canonicalize().ok()?;
    host.strip_prefix(&bundle).ok()?;
    let mut rel = PathBuf::new();
    for c in Path::new(written).components() {
        match c {
            Component::Normal(n) => rel.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !rel.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    let rel = rel.to_str()?;
    Some(format!("{APP_DIR}/{rel}").trim_end_matches('/').to_string())
}

impl Grant {
    /// The granted directory holding guest path `source`, and its host path:
    /// what a container mount may bind.
    pub fn mount_source(&self, source: &str) -> Result<(&FileGrant, PathBuf), String> {
        let file = self
            .files
            .iter()
            .find(|f| under(source, &f.guest).is_some())
            .ok_or_else(|| format!("mount source {source:?} is not a granted directory"))?;
        let rel = under(source, &file.guest).unwrap_or_default();
        let host = contained(&file.host, rel).ok_or_else(|| {
            format!("mount source {source:?}: paths must be absolute and stay inside the grant")
        })?;
        Ok((file, host))
    }

    /// A guest working directory on the host: relative paths (and paths
    /// under [`APP_DIR`]) stay inside the bundle directory; other absolute
    /// paths must lie in a granted directory.
    pub fn workdir(&self, bundle_dir: &Path, dir: &str) -> Result<PathBuf, String> {
        let rel_to_app = if dir.starts_with('/') {
            under(dir, APP_DIR)
        } else {
            Some(dir)
        };
        if let Some(p) = rel_to_app.and_then(|rel| contained(bundle_dir, rel)) {
            return Ok(p);
        }
        for f in &self.files {
            if let Some(p) = under(dir, &f.guest).and_then(|rel| contained(&f.host, rel)) {
                return Ok(p);
            }
        }
        Err(format!(
            "working directory {dir:?} is outside the bundle and every granted directory"
        ))
    }
}

/// `path` relative to guest directory `dir` when it is `dir` or below it
/// (component-wise: `/data2` is not below `/data`).
fn under<'p>(path: &'p str, dir: &str) -> Option<&'p str> {
    let rest = path.strip_prefix(dir.trim_end_matches('/'))?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn grant_of(host: &Path, guest: &str, write: bool) -> Grant {
        Grant {
            files: vec![FileGrant {
                host: host.to_path_buf(),
                guest: guest.into(),
                write,
            }],
            ..Grant::default()
        }
    }

    #[test]
    fn contained_joins_below_base() {
        let base = Path::new("/nonexistent-base");
        assert_eq!(contained(base, ""), Some(base.to_path_buf()));
        assert_eq!(contained(base, "a/./b"), Some(base.join("a/b")));
        assert_eq!(contained(base, "/a"), Some(base.join("a")));
        assert_eq!(contained(base, "a/../b"), None);
        assert_eq!(contained(base, ".."), None);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_base_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("bundle");
        std::fs::create_dir_all(base.join("inside")).unwrap();
        std::os::unix::fs::symlink("/etc", base.join("out")).unwrap();
        std::os::unix::fs::symlink("inside", base.join("in")).unwrap();
        assert_eq!(contained(&base, "out"), None);
        assert_eq!(contained(&base, "out/passwd"), None);
        assert_eq!(contained(&base, "in"), Some(base.join("in")));
        assert_eq!(contained(&base, "inside"), Some(base.join("inside")));
    }

    #[test]
    fn mount_sources_must_be_granted() {
        let g = grant_of(Path::new("/host/data"), "/data", false);
        let (f, host) = g.mount_source("/data/sub").unwrap();
        assert_eq!(host, Path::new("/host/data/sub"));
        assert!(!f.write);
        assert_eq!(g.mount_source("/data").unwrap().1, Path::new("/host/data"));
        assert!(g.mount_source("/data2").is_err());
        assert!(g.mount_source("/data/../etc").is_err());
        assert!(g.mount_source("/etc").is_err());
    }

    #[test]
    fn workdirs_stay_in_the_bundle_or_a_grant() {
        let bundle = Path::new("/bundle");
        let g = grant_of(Path::new("/host/out"), "/out", true);
        assert_eq!(g.workdir(bundle, "sub").unwrap(), bundle.join("sub"));
        assert_eq!(g.workdir(bundle, APP_DIR).unwrap(), bundle);
        assert_eq!(
            g.workdir(bundle, "/cnab/app/charts").unwrap(),
            bundle.join("charts")
        );
        assert_eq!(
            g.workdir(bundle, "/out/x").unwrap(),
            Path::new("/host/out/x")
        );
        assert!(g.workdir(bundle, "/cnab/application").is_err());
        assert!(g.workdir(bundle, "../x").is_err());
        assert!(g.workdir(bundle, "/etc").is_err());
        assert!(g.workdir(bundle, "/out/../etc").is_err());
    }

    /// A path component, weighted towards the ones that try to escape.
    fn component() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("..".to_string()),
            Just(".".to_string()),
            Just("".to_string()),
            Just("cnab".to_string()),
            Just("app".to_string()),
            "[a-z.]{1,4}",
        ]
    }

    fn guest_path() -> impl Strategy<Value = String> {
        (any::<bool>(), prop::collection::vec(component(), 0..8))
            .prop_map(|(abs, parts)| format!("{}{}", if abs { "/" } else { "" }, parts.join("/")))
    }

    proptest! {
        #[test]
        fn no_generated_path_escapes(rel in guest_path()) {
            let base = Path::new("/nonexistent-base/b");
            if let Some(p) = contained(base, &rel) {
                prop_assert!(p.starts_with(base), "{rel:?} -> {p:?}");
                prop_assert!(!p.components().any(|c| c == Component::ParentDir), "{rel:?} -> {p:?}");
            }
        }

        #[test]
        fn no_workdir_or_mount_escapes(dir in guest_path()) {
            let bundle = Path::new("/nonexistent-bundle");
            let granted = Path::new("/nonexistent-grant");
            let g = grant_of(granted, "/data", false);
            if let Ok(p) = g.workdir(bundle, &dir) {
                prop_assert!(p.starts_with(bundle) || p.starts_with(granted), "{dir:?} -> {p:?}");
                prop_assert!(!p.components().any(|c| c == Component::ParentDir));
            }
            if let Ok((_, p)) = g.mount_source(&dir) {
                prop_assert!(p.starts_with(granted), "{dir:?} -> {p:?}");
                prop_assert!(!p.components().any(|c| c == Component::ParentDir));
            }
        }
    }
}
