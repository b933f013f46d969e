//! Mixins as OCI artifacts: the CNCF Wasm layout, a registry client with
//! bounded sizes, a content-addressed cache, and OCI image-layout directories
//! for air-gapped installs.

pub mod artifact;
pub mod cache;
pub mod client;
pub mod credentials;
pub mod layout;
pub mod reference;
pub mod source;
mod transport;
pub mod trust;

pub use artifact::{Artifact, ArtifactMeta, WasmManifest};
pub use cache::{Cache, CacheEntry};
pub use client::{Registry, RegistryConfig};
pub use source::{Fetched, OciSource, PinError};

/// Config media type of a Wasm artifact.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// Media type of the one layer: the component.
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";
/// OCI image manifest media type.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Annotation naming the mixin.
pub const ANNOTATION_MIXIN: &str = "dev.wasmix.mixin.name";
/// Annotation naming the contract the component implements.
pub const ANNOTATION_CONTRACT: &str = "dev.wasmix.mixin.contract";
/// The contract this runtime implements.
pub const CONTRACT: &str = "wasmix:mixin/mixin@0.1.0";

/// What went wrong with an artifact, a registry or the cache.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// A reference could not be parsed.
    #[error("invalid reference {reference:?}: {reason}")]
    Reference {
        /// The text.
        reference: String,
        /// Why.
        reason: String,
    },
    /// The manifest is not a wasmix Wasm artifact.
    #[error("{reference}: not a Wasm component artifact: {reason}")]
    Format {
        /// The artifact.
        reference: String,
        /// Why.
        reason: String,
    },
    /// Content does not hash to its digest.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    Digest {
        /// What was checked.
        what: String,
        /// Expected digest.
        expected: String,
        /// Actual digest.
        actual: String,
    },
    /// Content is larger than allowed.
    #[error("{what}: {size} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// What.
        what: String,
        /// Bytes seen (at least).
        size: u64,
        /// Limit.
        limit: u64,
    },
    /// The registry refused our credentials.
    #[error("registry {registry}: authentication failed ({reason}); log in with `wasmix registry login {registry}`")]
    Auth {
        /// Registry host.
        registry: String,
        /// Why.
        reason: String,
    },
    /// The registry could not be reached or answered with an error.
    #[error("registry {registry}: {reason}")]
    Registry {
        /// Registry host.
        registry: String,
        /// Why.
        reason: String,
    },
    /// `--offline` and the content is not cached.
    #[error("{reference} is not in the cache and --offline forbids the network")]
    Offline {
        /// What was needed.
        reference: String,
    },
    /// The trust policy refuses the artifact.
    #[error(transparent)]
    Untrusted(Box<wasmix_signing::Refusal>),
    /// A signature could not be made or stored.
    #[error(transparent)]
    Signing(#[from] wasmix_signing::SigningError),
    /// Cache or layout file I/O.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

impl OciError {
    /// Refusals by the trust policy are their own class; the rest are the
    /// environment's.
    pub fn exit_class(&self) -> crate::exit::ExitClass {
        match self {
            OciError::Untrusted(_) => crate::exit::ExitClass::Untrusted,
            _ => crate::exit::ExitClass::Environment,
        }
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The hex part of a `sha256:` digest, checked.
pub fn digest_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
    .then_some(hex)
}
