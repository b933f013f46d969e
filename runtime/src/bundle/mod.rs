//! Bundles as signed OCI artifacts: published from a directory with every
//! mixin pinned ([`publish`]), fetched by reference in the same order as
//! mixins — tag resolved once, trust policy applied, then content fetched by
//! digest and unpacked safely into the cache ([`fetch`]) — and found by
//! semver range among a repository's tags ([`version`]).
//!
//! | module | what |
//! | --- | --- |
//! | [`artifact`] | the format: media types, config, manifest checks |
//! | [`pack`] / [`unpack`] | the bundle directory as a deterministic tar.gz, and back |
//! | [`cache`] | fetched bundles in the OCI cache: entries and unpacked trees |
//! | [`publish`] | `wasmix publish` |
//! | [`fetch`] | `wasmix install REF` and `bundle pull` |
//! | [`version`] | `--version '^1.2'` against a repository's tags |
//! | [`archive`] | `bundle archive` / `install --from-archive`: an OCI layout tarball |

pub mod archive;
pub mod artifact;
pub mod cache;
pub mod fetch;
pub mod pack;
pub mod publish;
pub mod unpack;
pub mod version;

pub use artifact::{BundleConfig, BundleManifest, MixinPin};
pub use fetch::{fetch, FetchedBundle};
pub use publish::{default_reference, publish, Published};

use std::path::{Path, PathBuf};

/// What went wrong publishing or fetching a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The artifact is not a wasmix bundle, or lies about itself.
    #[error("{reference}: not a usable bundle artifact: {reason}")]
    Format {
        /// The artifact.
        reference: String,
        /// Why.
        reason: String,
    },
    /// Something is larger than allowed.
    #[error("{what}: {size} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// What.
        what: String,
        /// Bytes seen (at least).
        size: u64,
        /// Limit.
        limit: u64,
    },
    /// A file of the bundle directory cannot be published.
    #[error("{}: cannot be published: {reason}", .path.display())]
    Refused {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The bundle itself is not valid (manifest, plan, lock).
    #[error("{0}")]
    Invalid(String),
    /// No tag of the repository satisfies the version range.
    #[error("{repository}: no tag satisfies {range} (semver tags: {})",
        if .tags.is_empty() { "none".to_string() } else { .tags.join(", ") })]
    NoVersion {
        /// `registry/repository`.
        repository: String,
        /// The range asked for.
        range: String,
        /// The semver tags there are.
        tags: Vec<String>,
    },
    /// Preparing the bundle to publish it failed (a mixin, a step, the lock).
    #[error(transparent)]
    Run(Box<crate::run::RunError>),
    /// A registry, the cache or the trust policy failed.
    #[error(transparent)]
    Oci(#[from] crate::oci::OciError),
    /// File I/O.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

impl BundleError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> BundleError {
        BundleError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Refusals by the trust policy are their own class; a bundle that
    /// cannot be published or is malformed is bad input; the rest are the
    /// environment's.
    pub fn exit_class(&self) -> crate::exit::ExitClass {
        use crate::exit::ExitClass;
        match self {
            BundleError::Oci(e) => e.exit_class(),
            BundleError::Run(e) => e.exit_class(),
            BundleError::Refused { .. }
            | BundleError::Invalid(_)
            | BundleError::NoVersion { .. }
            | BundleError::Format { .. }
            | BundleError::TooLarge { .. } => ExitClass::BadInput,
            BundleError::Io { .. } => ExitClass::Environment,
        }
    }
}
