//! What one step may reach. A [`Grant`] is built from the manifest only:
//! nothing is granted by default, and every capability records where it came
//! from so `wasmix explain` can show it.
//!
//! Each capability is one self-contained module that parses and validates
//! its part of a `grants:` (or `limits:`) block once, when the plan is built,
//! and answers the sandbox's questions about it at run time:
//!
//! | module | grants | asked at run time |
//! | --- | --- | --- |
//! | [`credentials`] | credentials by handle or readable | may this handle be read? |
//! | [`env`] | host environment variables, parameters as env | — (copied into WASI) |
//! | [`files`] | directories of the host, preopened | mount sources, working directories |
//! | [`commands`] | programs the host driver may start | may this program start? |
//! | [`network`] | outbound TCP destinations | — (socket address check) |
//! | [`images`] | container images | may this image start? |
//! | [`limits`] | memory, deadline, output and request budgets | — (applied to the store) |
//!
//! A new capability is one new module here, one field on [`Grant`], one
//! [`CapabilityKind`], and a line in [`Grant::for_step`].

pub mod commands;
pub mod credentials;
pub mod destinations;
pub mod env;
pub mod files;
pub mod images;
pub mod limits;
pub mod network;
pub mod state;

pub use credentials::CredentialAccess;
pub use env::param_env_name;
pub use files::{contained, FileGrant, APP_DIR};
pub use limits::{parse_duration, parse_size, LimitOverrides, Limits};
pub use network::HostPattern;

use crate::manifest::{GrantSpec, LimitSpec, Manifest, Step};
use crate::template;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Where a capability was granted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// On the mixin's declaration under `mixins:` (every step of that mixin).
    Mixin(String),
    /// On the step itself.
    Step(String),
    /// A template in the step refers to it.
    Template(String),
    /// A `state:` variable names the step's mixin (`mixin:`).
    State(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Mixin(p) => write!(f, "mixin declaration {p}"),
            Origin::Step(p) => write!(f, "step grants {p}"),
            Origin::Template(v) => write!(f, "template ${{ {v} }}"),
            Origin::State(p) => write!(f, "state declaration {p}"),
        }
    }
}

/// The kinds of capability a step can hold. The lower-case name is what
/// `explain` prints and what `wasmix.lock` records, so it never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CapabilityKind {
    /// A credential, by handle or readable.
    Credential,
    /// A host environment variable the mixin may read.
    Env,
    /// A host directory preopened for the mixin.
    File,
    /// A program the host driver may start.
    Command,
    /// An outbound TCP destination.
    Host,
    /// A container image the driver may start.
    Image,
    /// A parameter passed to the mixin as an environment variable.
    Parameter,
    /// A budget that differs from the runtime's default.
    Limit,
    /// A `state:` file the step may read and write.
    State,
}

impl CapabilityKind {
    /// The name `explain` and the lock file use.
    pub fn as_str(self) -> &'static str {
        match self {
            CapabilityKind::Credential => "credential",
            CapabilityKind::Env => "env",
            CapabilityKind::File => "file",
            CapabilityKind::Command => "command",
            CapabilityKind::Host => "host",
            CapabilityKind::Image => "image",
            CapabilityKind::Parameter => "parameter",
            CapabilityKind::Limit => "limit",
            CapabilityKind::State => "state",
        }
    }
}

impl fmt::Display for CapabilityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` so `{:<10}` column layouts work.
        f.pad(self.as_str())
    }
}

/// One capability and its origin, for `explain` and the lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    /// What kind of authority it is.
    pub kind: CapabilityKind,
    /// What exactly (`kubeconfig (use)`, `./charts -> /cnab/app/charts (ro)`).
    pub what: String,
    /// Where it was granted.
    pub origin: Origin,
}

impl Capability {
    /// `kind what`: how the lock file records a capability.
    pub fn describe(&self) -> String {
        format!("{} {}", self.kind, self.what)
    }
}

/// Everything one step may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    /// Credentials by name.
    pub credentials: BTreeMap<String, CredentialAccess>,
    /// Credentials whose value is an earlier step's output: name → (step
    /// id, output name).
    pub derived: BTreeMap<String, (String, String)>,
    /// Granted credentials the manifest gives an `env:` destination:
    /// variable → credential. Commands and containers the step starts see
    /// them (the mixin itself reads a credential only with `read: true`).
    pub credential_env: BTreeMap<String, String>,
    /// Credentials bound to programs (`{name, to: [helm]}`): credential →
    /// the only programs it may reach.
    pub bound: BTreeMap<String, BTreeSet<String>>,
    /// Granted credentials and parameters the manifest gives a `path:`:
    /// absolute target path → what is placed there, read-only, for the
    /// commands and containers the step starts.
    pub destinations: BTreeMap<String, destinations::Source>,
    /// Host environment variables visible to the mixin.
    pub env: BTreeSet<String>,
    /// Preopened directories.
    pub files: Vec<FileGrant>,
    /// Programs the `host` driver may start.
    pub commands: BTreeSet<String>,
    /// Outbound TCP destinations.
    pub hosts: Vec<HostPattern>,
    /// Container images a driver may start.
    pub images: BTreeSet<String>,
    /// `state:` variables the step may read and write (their directories are
    /// among `files`, writable).
    pub state: BTreeSet<String>,
    /// Parameters passed as environment variables: env name → parameter name.
    pub parameters: BTreeMap<String, String>,
    /// Limits that differ from the runtime's defaults.
    pub limits: LimitOverrides,
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

/// The state of one [`Grant::for_step`]: the grant so far, and the block
/// (origin and document path) being read, so each capability module reports
/// errors at the right line and records where its capabilities came from.
pub(crate) struct GrantBuilder<'a> {
    manifest: &'a Manifest,
    action: &'a str,
    step: &'a Step,
    grant: Grant,
    origin: Origin,
    path: String,
}

impl<'a> GrantBuilder<'a> {
    /// Read the block at document path `path`, granted from `origin`.
    fn at(&mut self, origin: Origin, path: String) {
        self.origin = origin;
        self.path = path;
    }

    /// An error located at `sub` (`.files[0]`) inside the current block.
    fn error(&self, sub: &str, message: String) -> GrantError {
        GrantError {
            location: self.manifest.source.locate(&format!("{}{sub}", self.path)),
            message,
        }
    }

    /// Record a capability granted by the current block.
    fn note(&mut self, kind: CapabilityKind, what: String) {
        self.grant.capabilities.push(Capability {
            kind,
            what,
            origin: self.origin.clone(),
        });
    }

    /// One `grants:` block, capability by capability.
    fn grants(&mut self, spec: &GrantSpec, referenced: &[String]) -> Result<(), GrantError> {
        credentials::add(self, spec.credentials.as_ref(), referenced)?;
        env::add(self, &spec.env)?;
        files::add(self, &spec.files)?;
        commands::add(self, &spec.commands)?;
        network::add(self, &spec.hosts)?;
        images::add(self, &spec.images)?;
        state::add(self, &spec.state)?;
        env::add_parameters(self, spec.parameters.as_ref())
    }

    /// One `limits:` block.
    fn limits(&mut self, spec: &LimitSpec) -> Result<(), GrantError> {
        limits::add(self, spec)
    }
}

impl Grant {
    /// The grant of `step` in `action`: its mixin declaration's grants, its
    /// own grants, and the credentials its templates refer to.
    pub fn for_step(manifest: &Manifest, action: &str, step: &Step) -> Result<Grant, GrantError> {
        let refs = template::references(&step.body, template::Delimiters::of(manifest));
        let referenced: Vec<String> = refs
            .iter()
            .filter_map(|r| r.strip_prefix("bundle.credentials."))
            .map(str::to_string)
            .collect();
        let decl = manifest.mixin(&step.mixin);
        let mut b = GrantBuilder {
            manifest,
            action,
            step,
            grant: Grant::default(),
            origin: Origin::Step(step.path.clone()),
            path: String::new(),
        };
        if let Some(decl) = decl {
            let origin = Origin::Mixin(format!("mixins[{}]", decl.name));
            b.at(origin, format!("{}.grants", decl.path));
            b.grants(&decl.grants, &referenced)?;
        }
        b.at(
            Origin::Step(step.path.clone()),
            format!("{}.grants", step.path),
        );
        b.grants(&step.grants, &referenced)?;
        if let Some(decl) = decl {
            let origin = Origin::Mixin(format!("mixins[{}]", decl.name));
            b.at(origin, format!("{}.limits", decl.path));
            b.limits(&decl.limits)?;
        }
        b.at(
            Origin::Step(step.path.clone()),
            format!("{}.limits", step.path),
        );
        b.limits(&step.limits)?;
        // Porter's `state: [{…, mixin: NAME}]`: the steps of that mixin use it.
        for (i, var) in manifest.state.iter().enumerate() {
            if var.mixin.as_deref() == Some(step.mixin.as_str()) {
                b.at(Origin::State(format!("state[{i}]")), format!("state[{i}]"));
                state::add_named(&mut b, &var.name, "")?;
            }
        }
        credentials::add_referenced(&mut b, &referenced, &step.path)?;
        credentials::check_bindings(&mut b)?;
        Ok(b.grant)
    }

    /// True when the step was granted nothing at all.
    pub fn is_empty(&self) -> bool {
        self.capabilities.is_empty()
    }
}
