//! State: the files a bundle lists under `state:` (terraform's
//! `terraform.tfstate`), restored before each action and saved after a
//! successful one. A step that declares a state variable
//! (`grants: {state: [tfstate]}`) gets the directory holding its file,
//! writable, at its place under [`APP_DIR`].

use super::files::{contained, FileGrant, APP_DIR};
use super::{CapabilityKind, GrantBuilder, GrantError};
use std::path::{Component, Path, PathBuf};

/// A state file's path inside the bundle directory, from the manifest's
/// `path:` (relative, or under `/cnab/app`); `None` when it would leave it.
pub fn relative_path(path: &str) -> Option<PathBuf> {
    let rel = match path.strip_prefix(APP_DIR) {
        Some(rest) if rest.starts_with('/') => &rest[1..],
        Some(_) => return None,
        None if path.starts_with('/') => return None,
        None => path,
    };
    let mut out = PathBuf::new();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// The `state:` entry of a `grants:` block.
pub(super) fn add(b: &mut GrantBuilder<'_>, names: &[String]) -> Result<(), GrantError> {
    for (i, name) in names.iter().enumerate() {
        add_named(b, name, &format!(".state[{i}]"))?;
    }
    Ok(())
}

/// Grant state variable `name`; errors are located at `sub` in the block.
pub(super) fn add_named(b: &mut GrantBuilder<'_>, name: &str, sub: &str) -> Result<(), GrantError> {
    let sub = sub.to_string();
    let Some(var) = b.manifest.state.iter().find(|s| s.name == name) else {
        return Err(b.error(
            &sub,
            format!("state {name:?} is not declared under `state:`"),
        ));
    };
    let rel = relative_path(&var.path).ok_or_else(|| {
            b.error(
                &sub,
                format!(
                    "state {name:?}: path {:?} must stay inside the bundle directory (relative, or under {APP_DIR})",
                    var.path
                ),
            )
        })?;
    let parent = rel.parent().unwrap_or(Path::new(""));
    let bundle = b
        .manifest
        .dir
        .canonicalize()
        .unwrap_or_else(|_| b.manifest.dir.clone());
    let host = contained(&bundle, &parent.to_string_lossy()).ok_or_else(|| {
        b.error(
            &sub,
            format!("state {name:?}: its directory leads out of the bundle"),
        )
    })?;
    let guest = format!("{APP_DIR}/{}", parent.display())
        .trim_end_matches('/')
        .to_string();
    if b.grant.state.insert(name.to_string()) {
        b.note(
            CapabilityKind::State,
            format!("{name} at {APP_DIR}/{} (dir {guest} rw)", rel.display()),
        );
        b.grant.add_file(FileGrant {
            host,
            guest,
            write: true,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_paths_stay_in_the_bundle() {
        assert_eq!(
            relative_path("terraform/terraform.tfstate"),
            Some(PathBuf::from("terraform/terraform.tfstate"))
        );
        assert_eq!(
            relative_path("/cnab/app/tf/state.json"),
            Some(PathBuf::from("tf/state.json"))
        );
        assert_eq!(relative_path("./s"), Some(PathBuf::from("s")));
        for bad in [
            "/etc/passwd",
            "../x",
            "a/../../x",
            "/cnab/application/x",
            "/cnab/app",
            "",
        ] {
            assert_eq!(relative_path(bad), None, "{bad}");
        }
    }
}
