//! What one step may reach. A [`Grant`] is built from the manifest only:
//! nothing is granted by default, and every capability records where it came
//! from so `wasmix explain` can show it.

use crate::manifest::{
    applies, CredentialGrantItem, CredentialGrantSpec, CredentialKeyword, GrantSpec, LimitSpec,
    Manifest, ParameterGrantSpec, Step,
};
use crate::sandbox::Limits;
use crate::template;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

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
    /// Outbound TCP destinations.
    pub hosts: Vec<HostPattern>,
    /// Container images a driver may start.
    pub images: BTreeSet<String>,
    /// Parameters passed as environment variables: env name → parameter name.
    pub parameters: BTreeMap<String, String>,
    /// Limits that differ from the runtime's defaults.
    pub limits: LimitOverrides,
    /// Every capability with its origin, in the order granted.
    pub capabilities: Vec<Capability>,
}

/// An allowed outbound destination: a host (IP or name) and a port or any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    /// IP literal or DNS name, as written.
    pub host: String,
    /// Port, or `None` for any.
    pub port: Option<u16>,
}

impl HostPattern {
    /// Parse `host:port`, `host:*` or `[v6]:port`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("{text:?} must be host:port (port may be *)"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(['/', ' ', '*']) {
            return Err(format!("{text:?}: invalid host {host:?}"));
        }
        let port = match port {
            "*" => None,
            p => Some(
                p.parse::<u16>()
                    .map_err(|_| format!("{text:?}: invalid port {p:?}"))?,
            ),
        };
        Ok(HostPattern {
            host: host.to_string(),
            port,
        })
    }
}

/// Limits written in the manifest; unset fields keep the runtime's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitOverrides {
    /// Linear memory in bytes.
    pub memory_bytes: Option<usize>,
    /// Deadline.
    pub deadline: Option<Duration>,
    /// Captured stdout/stderr cap.
    pub output_cap: Option<usize>,
    /// Total outputs cap.
    pub max_output_bytes: Option<usize>,
    /// Driver requests.
    pub max_driver_calls: Option<u32>,
}

impl LimitOverrides {
    /// `base` with these overrides applied.
    pub fn apply(&self, base: Limits) -> Limits {
        Limits {
            memory_bytes: self.memory_bytes.unwrap_or(base.memory_bytes),
            deadline: self.deadline.unwrap_or(base.deadline),
            output_cap: self.output_cap.unwrap_or(base.output_cap),
            max_output_bytes: self.max_output_bytes.unwrap_or(base.max_output_bytes),
            max_driver_calls: self.max_driver_calls.unwrap_or(base.max_driver_calls),
            max_log_lines: base.max_log_lines,
        }
    }
}

/// Parse a size: bytes, or with `Ki`, `Mi`, `Gi` (also `K`, `M`, `G` as powers of 1024).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let (num, mult) = [
        ("Gi", 1usize << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
        ("G", 1 << 30),
        ("M", 1 << 20),
        ("K", 1 << 10),
    ]
    .iter()
    .find_map(|(suffix, m)| t.strip_suffix(suffix).map(|n| (n, *m)))
    .unwrap_or((t, 1));
    num.trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("invalid size {text:?}: write bytes or a number with Ki, Mi or Gi"))
}

/// Parse a duration: `500ms`, `30s`, `5m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || format!("invalid duration {text:?}: write for example 500ms, 30s, 5m or 1h");
    let (num, unit) = t
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| t.split_at(i))
        .ok_or_else(bad)?;
    let n: u64 = num.parse().map_err(|_| bad())?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(bad()),
    }
}

/// The environment variable Porter uses for a parameter: upper case, with
/// `-` and `.` as `_`.
pub fn param_env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '-' || c == '.' {
                '_'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
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
        if let Some(decl) = manifest.mixin(&step.mixin) {
            let origin = Origin::Mixin(format!("mixins[{}]", decl.name));
            grant.limit(
                manifest,
                &decl.limits,
                &origin,
                &format!("{}.limits", decl.path),
            )?;
        }
        let origin = Origin::Step(step.path.clone());
        grant.limit(
            manifest,
            &step.limits,
            &origin,
            &format!("{}.limits", step.path),
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
            if !host.is_dir() {
                return Err(err(
                    &sub,
                    format!(
                        "granted path {:?} is not a directory; grant the directory that holds it",
                        f.path
                    ),
                ));
            }
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
        for (i, h) in spec.hosts.iter().enumerate() {
            let pattern = HostPattern::parse(h).map_err(|e| err(&format!(".hosts[{i}]"), e))?;
            if !self.hosts.contains(&pattern) {
                self.capabilities.push(Capability {
                    kind: "host",
                    what: h.clone(),
                    origin: origin.clone(),
                });
                self.hosts.push(pattern);
            }
        }
        for (i, image) in spec.images.iter().enumerate() {
            if image.is_empty() || image.contains(char::is_whitespace) {
                return Err(err(
                    &format!(".images[{i}]"),
                    format!("invalid image reference {image:?}"),
                ));
            }
            if self.images.insert(image.clone()) {
                self.capabilities.push(Capability {
                    kind: "image",
                    what: image.clone(),
                    origin: origin.clone(),
                });
            }
        }
        let params: Vec<&crate::manifest::Parameter> = match &spec.parameters {
            None => Vec::new(),
            Some(ParameterGrantSpec::Keyword(_)) => manifest
                .parameters
                .iter()
                .filter(|p| applies(&p.apply_to, action))
                .collect(),
            Some(ParameterGrantSpec::List(names)) => names
                .iter()
                .map(|n| {
                    let p = manifest
                        .parameters
                        .iter()
                        .find(|p| &p.name == n)
                        .ok_or_else(|| {
                            err(
                                ".parameters",
                                format!("parameter {n:?} is not declared under `parameters:`"),
                            )
                        })?;
                    if !applies(&p.apply_to, action) {
                        return Err(err(
                            ".parameters",
                            format!("parameter {n:?} does not apply to action {action:?}"),
                        ));
                    }
                    Ok(p)
                })
                .collect::<Result<_, _>>()?,
        };
        for p in params {
            let env = p.env.clone().unwrap_or_else(|| param_env_name(&p.name));
            if self
                .parameters
                .insert(env.clone(), p.name.clone())
                .is_none()
            {
                self.capabilities.push(Capability {
                    kind: "parameter",
                    what: format!("{} as ${env}", p.name),
                    origin: origin.clone(),
                });
            }
        }
        Ok(())
    }

    fn limit(
        &mut self,
        manifest: &Manifest,
        spec: &LimitSpec,
        origin: &Origin,
        path: &str,
    ) -> Result<(), GrantError> {
        let err = |sub: &str, message: String| GrantError {
            location: manifest.source.locate(&format!("{path}.{sub}")),
            message,
        };
        let mut note = |what: String| {
            self.capabilities.push(Capability {
                kind: "limit",
                what,
                origin: origin.clone(),
            })
        };
        let mut o = self.limits;
        if let Some(m) = &spec.memory {
            o.memory_bytes = Some(parse_size(m).map_err(|e| err("memory", e))?);
            note(format!("memory {m}"));
        }
        if let Some(d) = &spec.deadline {
            o.deadline = Some(parse_duration(d).map_err(|e| err("deadline", e))?);
            note(format!("deadline {d}"));
        }
        if let Some(c) = &spec.output {
            o.output_cap = Some(parse_size(c).map_err(|e| err("output", e))?);
            note(format!("output {c}"));
        }
        if let Some(c) = &spec.outputs {
            o.max_output_bytes = Some(parse_size(c).map_err(|e| err("outputs", e))?);
            note(format!("outputs {c}"));
        }
        if let Some(r) = spec.requests {
            o.max_driver_calls = Some(r);
            note(format!("requests {r}"));
        }
        self.limits = o;
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
