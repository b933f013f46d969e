//! What one step may reach. A [`Grant`] is built from the manifest only:
//! nothing is granted by default, and every capability records where it came
//! from so `wasmix explain` can show it.

use crate::manifest::{
    applies, CredentialGrantItem, CredentialGrantSpec, CredentialKeyword, GrantSpec, Manifest, Step,
};
use crate::template;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};

/// Where a capability was granted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// On the mixin's declaration under `mixins:` (every step of that mixin).
    Mixin(String),
    /// On the step itself.
    Step(String),
    /// A template in the step refers to it.
    Template(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Mixin(p) => write!(f, "mixin declaration {p}"),
            Origin::Step(p) => write!(f, "step grants {p}"),
            Origin::Template(v) => write!(f, "template ${{ {v} }}"),
        }
    }
}

/// How a step may use a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CredentialAccess {
    /// Obtain a handle and pass it to the driver; never see the bytes.
    Use,
    /// Read the bytes too (`reveal`, or a template that renders it).
    Read,
}

/// A directory or file of the host made visible to the mixin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileGrant {
    /// Absolute host path.
    pub host: PathBuf,
    /// Absolute path the mixin sees.
    pub guest: String,
    /// Writable; otherwise read-only.
    pub write: bool,
}

/// One capability and its origin, for `explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    /// Kind: `credential`, `env`, `file`, `command`.
    pub kind: &'static str,
    /// What exactly (`kubeconfig (use)`, `./charts -> /charts (ro)`).
    pub what: String,
    /// Where it was granted.
    pub origin: Origin,
}

/// Everything one step may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    /// Credentials by name.
    pub credentials: BTreeMap<String, CredentialAccess>,
    /// Host environment variables visible to the mixin.
    pub env: BTreeSet<String>,
    /// Preopened directories and files.
    pub files: Vec<FileGrant>,
    /// Programs the `host` driver may start.
    pub commands: BTreeSet<String>,
    /// Every capability with its origin, in the order granted.
    pub capabilities: Vec<Capability>,
}

/// Why a grant could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct GrantError {
    /// `file:line:col` of the offending grant.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

/// The guest directory where bundle files appear by default.
pub const APP_DIR: &str = "/cnab/app";

impl Grant {
    /// The grant of `step` in `action`: its mixin declaration's grants, its
    /// own grants, and the credentials its templates refer to.
    pub fn for_step(manifest: &Manifest, action: &str, step: &Step) -> Result<Grant, GrantError> {
        let mut grant = Grant::default();
        let delims = delimiters(manifest);
        let refs = template::references(&step.body, delims);
        let referenced: Vec<String> = refs
            .iter()
            .filter_map(|r| r.strip_prefix("bundle.credentials."))
            .map(str::to_string)
            .collect();
        if let Some(decl) = manifest.mixin(&step.mixin) {
            let origin = Origin::Mixin(format!("mixins[{}]", decl.name));
            grant.add(
                manifest,
                action,
                &decl.grants,
                &referenced,
                &origin,
                &format!("{}.grants", decl.path),
            )?;
        }
        let origin = Origin::Step(step.path.clone());
        grant.add(
            manifest,
            action,
            &step.grants,
            &referenced,
            &origin,
            &format!("{}.grants", step.path),
        )?;
        for name in &referenced {
            // A template renders the bytes into the step: that is reading.
            grant.credential(
                manifest,
                action,
                name,
                CredentialAccess::Read,
                Origin::Template(format!("bundle.credentials.{name}")),
                &step.path,
            )?;
        }
        Ok(grant)
    }

    fn add(
        &mut self,
        manifest: &Manifest,
        action: &str,
        spec: &GrantSpec,
        referenced: &[String],
        origin: &Origin,
        path: &str,
    ) -> Result<(), GrantError> {
        let err = |sub: &str, message: String| GrantError {
            location: manifest.source.locate(&format!("{path}{sub}")),
            message,
        };
        match &spec.credentials {
            None => {}
            Some(CredentialGrantSpec::Keyword(CredentialKeyword::All)) => {
                for c in manifest
                    .credentials
                    .iter()
                    .filter(|c| applies(&c.apply_to, action))
                {
                    self.credential(
                        manifest,
                        action,
                        &c.name,
                        CredentialAccess::Use,
                        origin.clone(),
                        path,
                    )?;
                }
            }
            Some(CredentialGrantSpec::Keyword(CredentialKeyword::Matching)) => {
                for name in referenced {
                    self.credential(
                        manifest,
                        action,
                        name,
                        CredentialAccess::Use,
                        origin.clone(),
                        path,
                    )?;
                }
            }
            Some(CredentialGrantSpec::List(items)) => {
                for item in items {
                    let (name, access) = match item {
                        CredentialGrantItem::Name(n) => (n, CredentialAccess::Use),
                        CredentialGrantItem::Detailed { name, read } => (
                            name,
                            if *read {
                                CredentialAccess::Read
                            } else {
                                CredentialAccess::Use
                            },
                        ),
                    };
                    self.credential(
                        manifest,
                        action,
                        name,
                        access,
                        origin.clone(),
                        &format!("{path}.credentials"),
                    )?;
                }
            }
        }
        for name in &spec.env {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(err(
                    ".env",
                    format!("invalid environment variable name {name:?}"),
                ));
            }
            if self.env.insert(name.clone()) {
                self.capabilities.push(Capability {
                    kind: "env",
                    what: name.clone(),
                    origin: origin.clone(),
                });
            }
        }
        for (i, f) in spec.files.iter().enumerate() {
            let sub = format!(".files[{i}]");
            let host = if Path::new(&f.path).is_absolute() {
                PathBuf::from(&f.path)
            } else {
                manifest.dir.join(&f.path)
            };
            let host = host.canonicalize().map_err(|e| {
                err(
                    &sub,
                    format!("granted path {:?} cannot be opened: {e}", f.path),
                )
            })?;
            let guest = match &f.guest {
                Some(g) => g.clone(),
                None => {
                    let rel = normalize(Path::new(&f.path)).ok_or_else(|| {
                        err(
                            &sub,
                            format!(
                                "{:?} leaves the bundle directory; give `to:` explicitly",
                                f.path
                            ),
                        )
                    })?;
                    format!("{APP_DIR}/{}", rel.display())
                        .trim_end_matches('/')
                        .to_string()
                }
            };
            if !guest.starts_with('/') || guest.split('/').any(|c| c == "..") {
                return Err(err(
                    &sub,
                    format!("guest path {guest:?} must be absolute and must not contain `..`"),
                ));
            }
            let mode = if f.write { "rw" } else { "ro" };
            self.capabilities.push(Capability {
                kind: "file",
                what: format!("{} -> {guest} ({mode})", f.path),
                origin: origin.clone(),
            });
            self.files.push(FileGrant {
                host,
                guest,
                write: f.write,
            });
        }
        for c in &spec.commands {
            if c.is_empty() {
                return Err(err(".commands", "empty command name".into()));
            }
            if self.commands.insert(c.clone()) {
                self.capabilities.push(Capability {
                    kind: "command",
                    what: c.clone(),
                    origin: origin.clone(),
                });
            }
        }
        Ok(())
    }

    fn credential(
        &mut self,
        manifest: &Manifest,
        action: &str,
        name: &str,
        access: CredentialAccess,
        origin: Origin,
        path: &str,
    ) -> Result<(), GrantError> {
        let Some(def) = manifest.credentials.iter().find(|c| c.name == name) else {
            return Err(GrantError {
                location: manifest.source.locate(path),
                message: format!("credential {name:?} is not declared under `credentials:`"),
            });
        };
        if !applies(&def.apply_to, action) {
            return Err(GrantError {
                location: manifest.source.locate(path),
                message: format!(
                    "credential {name:?} does not apply to action {action:?} (applyTo: {})",
                    def.apply_to.join(", ")
                ),
            });
        }
        let entry = self.credentials.entry(name.to_string()).or_insert(access);
        if access > *entry {
            *entry = access;
        }
        let label = match access {
            CredentialAccess::Use => "use",
            CredentialAccess::Read => "read",
        };
        self.capabilities.push(Capability {
            kind: "credential",
            what: format!("{name} ({label})"),
            origin,
        });
        Ok(())
    }

    /// True when the step was granted nothing at all.
    pub fn is_empty(&self) -> bool {
        self.capabilities.is_empty()
    }
}

/// The template delimiters for `manifest`.
pub fn delimiters(manifest: &Manifest) -> template::Delimiters {
    if manifest.uses_mustache_delimiters() {
        template::Delimiters::Mustache
    } else {
        template::Delimiters::Dollar
    }
}

/// A relative path with `.` removed, or `None` if it climbs out with `..`.
fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(out)
}
