//! Verify before use: the trust policy applied to a registry artifact,
//! between resolving its digest and fetching its component.
//!
//! Signatures are found under cosign's `sha256-<hex>.sig` tag, read with the
//! limits of [`wasmix_signing::cosign`], and kept in the cache beside the
//! artifact, so a verdict can be re-made offline when the policy changes.

use super::artifact::Descriptor;
use super::{Cache, OciError, Registry};
use oci_client::Reference;
use serde::{Deserialize, Serialize};
use wasmix_signing::cosign::{self, LayerDescriptor, SignatureLayer};
use wasmix_signing::{Evidence, Subject, TrustPolicy, Verdict};

/// A signature check recorded in a cache entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Hash of the policy that decided ([`TrustPolicy::hash`]).
    pub policy: String,
    /// The verdict, one line.
    pub verdict: String,
    /// How the artifact got through.
    pub status: Status,
    /// Digest of the signature manifest the verdict was made from; it and
    /// its layers are cached blobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signatures: Option<String>,
}

/// How an artifact got through the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A trusted signature satisfied its scope.
    Verified,
    /// Not verified; a `warn` scope let it run, and every run says so.
    Unverified,
    /// Its scope is `skip`: signatures were not looked at.
    Skipped,
    /// Not checked yet (signatures loaded from a layout, say).
    Pending,
}

/// `registry/repository` of `reference`, as scopes name it.
pub fn repository_of(reference: &Reference) -> String {
    format!("{}/{}", reference.registry(), reference.repository())
}

/// Digests of the blobs a signature manifest names (for the cache's prune).
pub fn blobs_of(manifest: &[u8]) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_slice(manifest).unwrap_or_default();
    std::iter::once(&doc["config"])
        .chain(doc["layers"].as_array().into_iter().flatten())
        .filter_map(|d| d["digest"].as_str().map(str::to_string))
        .collect()
}

/// The evidence in signature manifest `bytes`, each layer's content read by
/// `read` (which must check it against the descriptor).
pub fn evidence_from(
    looked_in: &str,
    bytes: &[u8],
    mut read: impl FnMut(&LayerDescriptor) -> Result<Vec<u8>, OciError>,
) -> Result<Evidence, OciError> {
    let layers = cosign::parse_manifest(looked_in, bytes)?;
    let mut evidence = Evidence {
        looked_in: looked_in.to_string(),
        ..Default::default()
    };
    for d in &layers {
        let content = read(d)?;
        if d.media_type == cosign::BUNDLE_MEDIA_TYPE {
            evidence.bundles.push(content);
        } else {
            evidence.signatures.push(SignatureLayer {
                media_type: d.media_type.clone(),
                payload: content,
                annotations: d.annotations.clone(),
            });
        }
    }
    Ok(evidence)
}

/// The blob descriptor of a signature layer, for fetching it.
pub fn descriptor(d: &LayerDescriptor) -> Descriptor {
    Descriptor {
        media_type: d.media_type.clone(),
        digest: d.digest.clone(),
        size: d.size,
        urls: None,
        annotations: None,
    }
}

/// Where the last check of mixin `digest` found its signatures.
pub fn mixin_signatures(cache: &Cache, digest: &str) -> Option<String> {
    cache.entry(digest)?.verification?.signatures
}

/// The verdict already cached for `digest`, when it was made under
/// `policy` (a policy change makes wasmix verify again).
pub fn cached(policy: &TrustPolicy, cache: &Cache, digest: &str) -> Option<Verification> {
    cache
        .entry(digest)?
        .verification
        .filter(|v| v.policy == policy.hash())
}

/// Decide whether artifact `digest` of `reference`'s repository may be
/// used. Signatures come from `registry` when there is one (and are
/// cached), else from the cache. Nothing of the artifact's component is
/// fetched or read here.
/// `cached_signatures` is where the last check found them, used offline.
#[allow(clippy::too_many_arguments)]
pub fn check(
    policy: &TrustPolicy,
    registry: Option<&Registry>,
    cache: &Cache,
    reference: &Reference,
    digest: &str,
    version: Option<&str>,
    cached_signatures: Option<String>,
) -> Result<Verification, OciError> {
    let repository = repository_of(reference);
    let subject = Subject {
        repository: &repository,
        digest,
        version,
    };
    // A skip scope needs no evidence; do not fetch any.
    if policy
        .scope_for(&repository)
        .is_some_and(|s| s.mode == wasmix_signing::Mode::Skip)
    {
        let verdict = policy
            .verify(&subject, &Evidence::default())
            .map_err(OciError::Untrusted)?;
        return Ok(record(policy, &verdict, None));
    }
    let (evidence, signatures) = match registry {
        Some(r) => r.signatures(reference, digest, cache)?,
        None => match cached_signatures {
            Some(sigs) => {
                let bytes = cache.read_blob(&sigs)?;
                let evidence =
                    evidence_from("cached signatures", &bytes, |d| cache.read_blob(&d.digest))?;
                (evidence, Some(sigs))
            }
            None => (
                Evidence {
                    looked_in: "none cached, and --offline forbids looking in the registry".into(),
                    ..Default::default()
                },
                None,
            ),
        },
    };
    let verdict = policy
        .verify(&subject, &evidence)
        .map_err(OciError::Untrusted)?;
    Ok(record(policy, &verdict, signatures))
}

fn record(policy: &TrustPolicy, verdict: &Verdict, signatures: Option<String>) -> Verification {
    Verification {
        policy: policy.hash().to_string(),
        verdict: verdict.summary(),
        status: match verdict {
            Verdict::Verified { .. } => Status::Verified,
            Verdict::Unverified { .. } => Status::Unverified,
            Verdict::Skipped { .. } => Status::Skipped,
        },
        signatures,
    }
}
