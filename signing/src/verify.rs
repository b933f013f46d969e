//! A trust policy applied to the signatures found for one artifact.

use crate::cosign::{
    SignatureLayer, DSSE_MEDIA_TYPE, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE,
};
use crate::keyless::{self, CertIdentity};
use crate::payload::SimpleSigning;
use crate::policy::{Authority, Mode, Scope, TrustPolicy};
use base64::Engine as _;

/// The artifact being checked.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// `registry/repository`.
    pub repository: &'a str,
    /// Manifest digest, computed from the bytes by the caller.
    pub digest: &'a str,
    /// Version from the (digest-covered) manifest annotations.
    pub version: Option<&'a str>,
}

impl Subject<'_> {
    fn shown(&self) -> String {
        format!("{}@{}", self.repository, self.digest)
    }
}

/// What was found to check: cosign signature layers and Sigstore bundles.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// Where it was looked for (for messages), e.g. the signature tag.
    pub looked_in: String,
    /// Signature layers, with their payloads.
    pub signatures: Vec<SignatureLayer>,
    /// Sigstore bundles (JSON).
    pub bundles: Vec<Vec<u8>>,
}

/// An artifact the policy lets run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A signature by a trusted authority satisfied the scope.
    Verified {
        /// Scope pattern.
        scope: String,
        /// The authority that signed.
        authority: String,
    },
    /// Not verified, but the scope is in `warn` mode.
    Unverified {
        /// Scope pattern.
        scope: String,
        /// Why it would have been refused.
        reason: String,
    },
    /// The scope is in `skip` mode.
    Skipped {
        /// Scope pattern.
        scope: String,
    },
}

impl Verdict {
    /// One line for logs and the cache.
    pub fn summary(&self) -> String {
        match self {
            Verdict::Verified { scope, authority } => {
                format!("verified: signed by {authority} (scope {scope})")
            }
            Verdict::Unverified { scope, reason } => {
                format!("NOT VERIFIED, allowed by warn-mode scope {scope}: {reason}")
            }
            Verdict::Skipped { scope } => format!("not checked: scope {scope} is skip"),
        }
    }
}

/// Why an artifact may not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// No scope matches.
    NoScope,
    /// No signature was found.
    NoSignature {
        /// Where we looked.
        looked_in: String,
    },
    /// The scope names nobody who may sign.
    NoAuthorities,
    /// Signatures exist but none verifies for an authority.
    WrongKey {
        /// The authorities tried.
        tried: String,
    },
    /// A valid signature is for another artifact.
    DigestMismatch {
        /// The digest it vouches for.
        claimed: String,
    },
    /// A keyless signature is valid but by someone else.
    IdentityMismatch {
        /// Who signed.
        found: String,
        /// Who may.
        wanted: String,
    },
    /// A signature is valid but lacks a required claim.
    MissingClaim {
        /// The claim.
        key: String,
        /// Its required value.
        value: String,
    },
    /// Older than the scope's minimum version.
    TooOld {
        /// The artifact's version (or "none").
        version: String,
        /// The minimum.
        minimum: String,
    },
    /// Anything else, already phrased.
    Other(String),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::NoScope => write!(f, "no scope of the policy matches it; add one (or a `*` scope)"),
            Reason::NoSignature { looked_in } => write!(
                f,
                "no signature ({looked_in}); sign it with `wasmix mixin sign REF --key cosign.key` (a bundle: `wasmix bundle sign`)"
            ),
            Reason::NoAuthorities => write!(
                f,
                "the scope trusts no key or identity; add `authorities:` (e.g. `- key: cosign.pub`)"
            ),
            Reason::WrongKey { tried } => write!(
                f,
                "wrong key: no signature verifies with {tried} (signed by another key, or changed after signing)"
            ),
            Reason::DigestMismatch { claimed } => write!(
                f,
                "digest claim mismatch: the signature is for {claimed}, not this artifact (copied from another artifact?)"
            ),
            Reason::IdentityMismatch { found, wanted } => {
                write!(f, "identity mismatch: signed by {found}, the policy wants {wanted}")
            }
            Reason::MissingClaim { key, value } => write!(
                f,
                "the signature lacks the required claim {key}={value} (sign with `-a {key}={value}`)"
            ),
            Reason::TooOld { version, minimum } => write!(
                f,
                "version {version} is older than the scope's minVersion {minimum} (a rollback?)"
            ),
            Reason::Other(s) => f.write_str(s),
        }
    }
}

/// An artifact refused by the policy: everything a user needs to act, in
/// one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refusing {artifact}: {reason} [policy {policy}, scope `{scope}`]")]
pub struct Refusal {
    /// `registry/repository@digest`.
    pub artifact: String,
    /// Scope pattern ("none" when no scope matched).
    pub scope: String,
    /// Policy file and line of the scope.
    pub policy: String,
    /// Why.
    pub reason: Reason,
}

/// Rank of a reason: the most telling failure is reported.
fn rank(r: &Reason) -> u8 {
    match r {
        Reason::DigestMismatch { .. } => 6,
        Reason::IdentityMismatch { .. } => 5,
        Reason::MissingClaim { .. } => 4,
        Reason::Other(_) => 3,
        Reason::WrongKey { .. } => 2,
        _ => 1,
    }
}

impl TrustPolicy {
    /// Decide whether `subject` may run, given `evidence`.
    pub fn verify(
        &self,
        subject: &Subject<'_>,
        evidence: &Evidence,
    ) -> Result<Verdict, Box<Refusal>> {
        let Some(scope) = self.scope_for(subject.repository) else {
            return Err(Box::new(Refusal {
                artifact: subject.shown(),
                scope: "none".into(),
                policy: self.source.clone(),
                reason: Reason::NoScope,
            }));
        };
        if scope.mode == Mode::Skip {
            return Ok(Verdict::Skipped {
                scope: scope.pattern.clone(),
            });
        }
        match check_scope(scope, subject, evidence) {
            Ok(authority) => Ok(Verdict::Verified {
                scope: scope.pattern.clone(),
                authority,
            }),
            Err(reason) if scope.mode == Mode::Warn => Ok(Verdict::Unverified {
                scope: scope.pattern.clone(),
                reason: reason.to_string(),
            }),
            Err(reason) => Err(Box::new(Refusal {
                artifact: subject.shown(),
                scope: scope.pattern.clone(),
                policy: if scope.line == 0 {
                    self.source.clone()
                } else {
                    format!("{}:{}", self.source, scope.line)
                },
                reason,
            })),
        }
    }
}

fn check_scope(
    scope: &Scope,
    subject: &Subject<'_>,
    evidence: &Evidence,
) -> Result<String, Reason> {
    if scope.authorities.is_empty() {
        return Err(Reason::NoAuthorities);
    }
    if evidence.signatures.is_empty() && evidence.bundles.is_empty() {
        return Err(Reason::NoSignature {
            looked_in: evidence.looked_in.clone(),
        });
    }
    let mut best: Option<Reason> = None;
    let mut note = |r: Reason| {
        if best.as_ref().is_none_or(|b| rank(&r) > rank(b)) {
            best = Some(r);
        }
    };
    for (i, layer) in evidence.signatures.iter().enumerate() {
        match check_layer(scope, subject, layer) {
            Ok(who) => return check_version(scope, subject).map(|()| who),
            Err(r) => note(match r {
                Reason::Other(text) => Reason::Other(format!("signature layer {i}: {text}")),
                r => r,
            }),
        }
    }
    for (i, bundle) in evidence.bundles.iter().enumerate() {
        match check_bundle(scope, subject, bundle) {
            Ok(who) => return check_version(scope, subject).map(|()| who),
            Err(r) => note(match r {
                Reason::Other(text) => Reason::Other(format!("bundle {i}: {text}")),
                r => r,
            }),
        }
    }
    Err(best.unwrap_or(Reason::NoSignature {
        looked_in: evidence.looked_in.clone(),
    }))
}

fn tried(scope: &Scope) -> String {
    scope
        .authorities
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Which authority (if any) signed `layer`, and whether its payload is for
/// this artifact with the required claims.
fn check_layer(
    scope: &Scope,
    subject: &Subject<'_>,
    layer: &SignatureLayer,
) -> Result<String, Reason> {
    if layer.media_type == DSSE_MEDIA_TYPE {
        return Err(Reason::Other(format!(
            "is an attestation ({DSSE_MEDIA_TYPE}), not a signature"
        )));
    }
    if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
        return Err(Reason::Other(format!(
            "media type {} is not a cosign signature",
            layer.media_type
        )));
    }
    let signature = layer
        .annotations
        .get(SIGNATURE_ANNOTATION)
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .ok_or_else(|| Reason::Other(format!("no valid {SIGNATURE_ANNOTATION} annotation")))?;
    let mut best: Option<Reason> = None;
    for authority in &scope.authorities {
        let signed_by = match authority {
            Authority::Key { key, .. } => {
                if key.verifies(&signature, &layer.payload) {
                    Ok(authority.to_string())
                } else {
                    Err(Reason::WrongKey {
                        tried: tried(scope),
                    })
                }
            }
            Authority::Keyless {
                issuer,
                subject: wanted,
                root,
                ..
            } => keyless::verify_layer(root, layer, &signature)
                .map_err(|e| Reason::Other(e.0))
                .and_then(|id| identity(&id, issuer, wanted).map(|()| describe(&id))),
        };
        match signed_by {
            Ok(who) => return check_payload(scope, subject, &layer.payload).map(|()| who),
            Err(r) => {
                if best.as_ref().is_none_or(|b| rank(&r) > rank(b)) {
                    best = Some(r);
                }
            }
        }
    }
    Err(best.unwrap_or(Reason::WrongKey {
        tried: tried(scope),
    }))
}

fn describe(id: &CertIdentity) -> String {
    format!("keyless {} (issuer {})", id.subject, id.issuer)
}

fn identity(
    id: &CertIdentity,
    issuer: &str,
    wanted: &crate::policy::SubjectMatch,
) -> Result<(), Reason> {
    if id.issuer != issuer || !wanted.matches(&id.subject) {
        return Err(Reason::IdentityMismatch {
            found: format!("{} (issuer {})", id.subject, id.issuer),
            wanted: format!("{wanted} (issuer {issuer})"),
        });
    }
    Ok(())
}

/// A verified payload must name this digest and carry the claims.
fn check_payload(scope: &Scope, subject: &Subject<'_>, payload: &[u8]) -> Result<(), Reason> {
    let p = SimpleSigning::parse(payload).map_err(|e| Reason::Other(e.to_string()))?;
    if p.critical.image.docker_manifest_digest != subject.digest {
        return Err(Reason::DigestMismatch {
            claimed: p.critical.image.docker_manifest_digest,
        });
    }
    for (key, value) in &scope.annotations {
        if p.claim(key).as_deref() != Some(value.as_str()) {
            return Err(Reason::MissingClaim {
                key: key.clone(),
                value: value.clone(),
            });
        }
    }
    Ok(())
}

fn check_bundle(scope: &Scope, subject: &Subject<'_>, bundle: &[u8]) -> Result<String, Reason> {
    let mut best: Option<Reason> = None;
    for authority in &scope.authorities {
        let Authority::Keyless {
            issuer,
            subject: wanted,
            root,
            ..
        } = authority
        else {
            continue;
        };
        let result = keyless::verify_bundle(root, bundle)
            .map_err(|e| Reason::Other(e.0))
            .and_then(|v| {
                identity(&v.identity, issuer, wanted)?;
                if !v.subjects.iter().any(|d| d == subject.digest) {
                    return Err(Reason::DigestMismatch {
                        claimed: v.subjects.join(", "),
                    });
                }
                if let Some((key, value)) = scope.annotations.iter().next() {
                    return Err(Reason::MissingClaim {
                        key: key.clone(),
                        value: value.clone(),
                    });
                }
                Ok(describe(&v.identity))
            });
        match result {
            Ok(who) => return Ok(who),
            Err(r) => {
                if best.as_ref().is_none_or(|b| rank(&r) > rank(b)) {
                    best = Some(r);
                }
            }
        }
    }
    Err(best.unwrap_or(Reason::Other(
        "a Sigstore bundle, but the scope trusts no keyless identity".into(),
    )))
}

fn check_version(scope: &Scope, subject: &Subject<'_>) -> Result<(), Reason> {
    let Some(min) = &scope.min_version else {
        return Ok(());
    };
    let version = subject
        .version
        .and_then(|v| semver::Version::parse(v.trim_start_matches('v')).ok());
    match version {
        Some(v) if v >= *min => Ok(()),
        _ => Err(Reason::TooOld {
            version: subject.version.unwrap_or("none").to_string(),
            minimum: min.to_string(),
        }),
    }
}
