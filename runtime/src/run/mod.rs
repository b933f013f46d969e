//! Running an action. Data flows through the submodules in order:
//!
//! - [`prepare`]: load and verify the plan's mixins, check every step against
//!   its mixin's schema and lint rules, check and write the lock file;
//! - [`inputs`]: parameter and credential values for this run, checked
//!   against their declarations;
//! - [`variables`]: what `${ … }` templates in a step may refer to;
//! - [`steps`]: the step loop, one sandbox per step;
//! - [`state`]: the bundle's `state:` files restored before the steps and
//!   collected after them;
//! - [`record`]: bundle outputs and the run as the state store keeps it.

pub mod destinations;
pub mod guard;
pub mod inputs;
pub mod prepare;
pub mod record;
pub mod state;
pub mod steps;
pub mod variables;

pub use crate::exit::ExitClass;
pub use crate::grant::Limits;
pub use crate::oci::OciSource;
pub use inputs::Inputs;
pub use prepare::{LockCheck, PinnedComponent, Prepared};
pub use record::{BundleOutput, Outcome};
pub use steps::Event;

use crate::driver::Driver;
use crate::oci::OciError;
use crate::plan::{BundlePlan, PlanError};
use crate::resolve::{MixinPath, NotFound};
use crate::sandbox::{MixinEngine, PoolSize, SandboxError};
use crate::store::StoreError;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Why an action could not run. Nothing is recorded for these: they are
/// found before the first step starts.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Planning failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A mixin was not found.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// A mixin could not be loaded.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Steps do not satisfy their mixins' schemas or lint rules.
    #[error("{} is invalid:\n{}", .file, .problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    InvalidSteps {
        /// Manifest file.
        file: String,
        /// Each problem, located.
        problems: Vec<String>,
    },
    /// A parameter or credential is missing, unknown or of the wrong type.
    #[error(transparent)]
    Input(#[from] inputs::InputError),
    /// A mixin's version does not satisfy the manifest's constraint.
    #[error("mixin {name}@{required}: {reason}")]
    MixinVersion {
        /// Mixin.
        name: String,
        /// The constraint written in the manifest.
        required: String,
        /// Why it does not match.
        reason: String,
    },
    /// A mixin names a registry reference but the runtime has no OCI source.
    #[error("mixin {name} names registry reference {reference} but no OCI cache is configured")]
    NoOciSource {
        /// Mixin.
        name: String,
        /// Its reference.
        reference: String,
    },
    /// A bundle that pins its mixins uses one it does not pin.
    #[error("mixin {name} is not pinned by the bundle artifact; republish the bundle with `wasmix publish`")]
    Unpinned {
        /// Mixin.
        name: String,
    },
    /// The installation is not in a state for this action.
    #[error("installation {installation:?} {reason}")]
    Installation {
        /// Installation name.
        installation: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The manifest grants more than its lock file records.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// A registry, an artifact or the cache failed.
    #[error(transparent)]
    Oci(#[from] OciError),
    /// A `state:` file could not be restored.
    #[error(transparent)]
    State(#[from] state::StateError),
    /// The operator pressed Ctrl-C before a step started; nothing ran or
    /// was recorded.
    #[error("interrupted (Ctrl-C) before {action} ran; nothing was recorded")]
    Interrupted {
        /// The action that did not run.
        action: String,
    },
    /// Another action is running on this installation.
    #[error("installation {installation:?} is busy: {holder}; wait for it to finish")]
    Busy {
        /// Installation.
        installation: String,
        /// Who holds it.
        holder: String,
    },
}

impl RunError {
    /// The exit class a command ending with this error reports.
    pub fn exit_class(&self) -> ExitClass {
        match self {
            RunError::Plan(_)
            | RunError::InvalidSteps { .. }
            | RunError::Input(_)
            | RunError::MixinVersion { .. }
            | RunError::Installation { .. }
            | RunError::NoOciSource { .. }
            | RunError::Unpinned { .. } => ExitClass::BadInput,
            RunError::Lock(e) => e.exit_class(),
            RunError::Oci(e) => e.exit_class(),
            RunError::NotFound(_)
            | RunError::Sandbox(_)
            | RunError::Store(_)
            | RunError::Busy { .. }
            | RunError::State(_) => ExitClass::Environment,
            RunError::Interrupted { .. } => ExitClass::Interrupted,
        }
    }
}

/// Everything needed to run actions.
pub struct Runtime {
    /// The engine.
    pub engine: MixinEngine,
    /// Where mixins are found.
    pub mixin_path: MixinPath,
    /// Who runs commands.
    pub driver: Arc<dyn Driver>,
    /// Per-step limits.
    pub limits: Limits,
    /// Registry mixins: cache, client, default namespace.
    pub oci: Option<OciSource>,
    /// For a bundle that pins its mixins (one from a registry): where each
    /// comes from. `None` looks on the mixin path and in registries.
    pub pinned: Option<BTreeMap<String, PinnedComponent>>,
}

/// An instance pool sized for a bundle's plan: steps run one at a time, so a
/// few slots per mixin cover a run, and every slot must hold the largest
/// memory any step may grow to.
pub fn pool_for(plans: &BundlePlan, defaults: Limits) -> PoolSize {
    PoolSize {
        instances: (plans.declared_mixins as u32 * 2 + 2).clamp(4, 64),
        memory_bytes: plans.peak_memory(defaults),
    }
}
