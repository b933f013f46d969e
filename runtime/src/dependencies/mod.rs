//! Dependencies: from a bundle's `dependencies.requires` to a solved graph
//! of installations, checked before anything runs.
//!
//! - [`wiring`]: what a dependency's parameter or credential template
//!   refers to (the parent's parameters and credentials, another
//!   dependency's outputs);
//! - [`graph`]: the solve — resolve every bundle, name every installation,
//!   reuse shared ones, check interfaces and wiring, order the nodes in
//!   levels, refuse cycles with the path through the graph.
//!
//! The graph is data: [`crate::workflow`] turns it into a persisted
//! workflow and runs it.

pub mod graph;
pub mod lint;
pub mod wiring;

pub use graph::{solve, BundleSource, Graph, Node, Promoted, Reason, ResolvedBundle, Root, Wire};
pub use lint::lint;

/// Why a dependency graph could not be solved. Every variant names where
/// in which manifest, and the path through the graph.
#[derive(Debug, thiserror::Error)]
pub enum DependencyError {
    /// A bundle could not be resolved or fetched.
    #[error("{at}: dependency {path}: {message}")]
    Resolve {
        /// `file:line:col` of the `requires` entry.
        at: String,
        /// Path through the graph (`top → app → db`).
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The graph is not a valid one: a cycle, a wiring mistake, an interface
    /// mismatch, ambiguous sharing.
    #[error("{at}: {message}")]
    Invalid {
        /// `file:line:col`.
        at: String,
        /// What is wrong, with the path through the graph.
        message: String,
    },
    /// The state store could not be read.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl DependencyError {
    /// Resolution failures are the environment's (a registry); the rest are
    /// the manifests'.
    pub fn exit_class(&self) -> crate::exit::ExitClass {
        match self {
            DependencyError::Invalid { .. } => crate::exit::ExitClass::BadInput,
            DependencyError::Resolve { .. } | DependencyError::Store(_) => {
                crate::exit::ExitClass::Environment
            }
        }
    }
}
