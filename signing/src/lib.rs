//! Signatures and trust for wasmix mixins.
//!
//! The data flows through a few types:
//!
//! - [`keys`]: ECDSA P-256 key pairs in cosign's file formats;
//! - [`payload`]: the simple-signing payload a signature covers;
//! - [`cosign`]: the tag-based layout cosign stores signatures in
//!   (`sha256-<hex>.sig`), built and parsed with hard limits;
//! - [`keyless`]: Fulcio certificates, Rekor receipts and Sigstore bundles
//!   (v0.3, DSSE), checked offline against a `trusted_root.json`;
//! - [`policy`]: the trust policy file, mapping registry scopes to
//!   authorities and a mode;
//! - [`verify`]: a policy applied to the evidence found for one artifact,
//!   giving a [`verify::Verdict`] or a [`verify::Refusal`] that says why.
//!
//! Nothing here touches the network: the runtime fetches the evidence
//! (bounded) and hands it over.

pub mod cosign;
pub mod keyless;
pub mod keys;
pub mod payload;
pub mod policy;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod verify;

pub use keys::{KeyPair, PublicKey};
pub use policy::{Mode, TrustPolicy};
pub use verify::{Evidence, Refusal, Subject, Verdict};

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// What went wrong reading keys, payloads, signature manifests or a policy.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// A key could not be read or made.
    #[error("{what}: {reason}")]
    Key {
        /// The key (a path or a description).
        what: String,
        /// Why.
        reason: String,
    },
    /// A document (payload, manifest, bundle, root) is malformed.
    #[error("{what}: {reason}")]
    Format {
        /// The document.
        what: String,
        /// Why.
        reason: String,
    },
    /// The trust policy is invalid.
    #[error("{file}: {reason}")]
    Policy {
        /// Policy file.
        file: String,
        /// Why, with the scope it concerns.
        reason: String,
    },
}
