//! Porter's `path:` destinations: a granted credential or parameter that
//! names a file path is placed there, read-only, for the commands and
//! containers its step starts — and only that step's.
//!
//! Where "there" is depends on the driver, and is decided here once:
//! a container sees the file at exactly its path (a read-only bind mount);
//! a host process sees it in the bundle directory, so with the host driver
//! the path must be under `/cnab/app` (or relative): wasmix does not write
//! into the operator's home or system directories.

use super::state::relative_path;
use super::{CapabilityKind, GrantBuilder};
use std::path::{Component, Path};

/// What is placed at a destination.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// A credential's value.
    Credential(String),
    /// A parameter's value (decoded from base64 for `type: file`).
    Parameter(String),
}

impl Source {
    /// `credential NAME` / `parameter NAME`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Source::Credential(n) => format!("credential {n}"),
            Source::Parameter(n) => format!("parameter {n}"),
        }
    }
}

/// The absolute path a destination names: relative paths are under
/// `/cnab/app`, as in Porter's invocation image. `None` when it climbs
/// (`..`) or is empty.
pub fn target(path: &str) -> Option<String> {
    if path.trim().is_empty() {
        return None;
    }
    let absolute = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", super::files::APP_DIR)
    };
    let mut parts = Vec::new();
    for c in Path::new(&absolute).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => parts.push(n.to_str()?.to_string()),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| format!("/{}", parts.join("/")))
}

/// Where a host process finds destination `target`: inside the bundle
/// directory, or `None` (the host driver cannot place it).
pub fn in_bundle(target: &str) -> Option<std::path::PathBuf> {
    relative_path(target)
}

/// Record that `source` goes to `path` for this step's commands.
pub(super) fn add(b: &mut GrantBuilder<'_>, path: &str, source: Source) {
    let shown = target(path).unwrap_or_else(|| path.to_string());
    if b.grant
        .destinations
        .insert(shown.clone(), source.clone())
        .is_none()
    {
        let kind = match source {
            Source::Credential(_) => CapabilityKind::Credential,
            Source::Parameter(_) => CapabilityKind::Parameter,
        };
        let name = match &source {
            Source::Credential(n) | Source::Parameter(n) => n.clone(),
        };
        b.note(
            kind,
            format!("{name} as file {shown} for the step's commands"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_absolute_and_never_climb() {
        assert_eq!(
            target("kube/config").as_deref(),
            Some("/cnab/app/kube/config")
        );
        assert_eq!(
            target("/root/.kube/config").as_deref(),
            Some("/root/.kube/config")
        );
        assert_eq!(target("/cnab/app/../etc/passwd"), None);
        assert_eq!(target(""), None);
        assert_eq!(
            in_bundle("/cnab/app/kube/config").unwrap(),
            std::path::PathBuf::from("kube/config")
        );
        assert_eq!(in_bundle("/root/.kube/config"), None);
    }
}
