//! The simple-signing payload: what a cosign signature actually covers.
//!
//! ```json
//! {"critical": {"identity": {"docker-reference": "host/repo"},
//!               "image": {"docker-manifest-digest": "sha256:…"},
//!               "type": "cosign container image signature"},
//!  "optional": {"key": "value"}}
//! ```

use crate::SigningError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `critical.type` of a cosign image signature.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";
/// Largest payload read.
pub const MAX_PAYLOAD: usize = 64 << 10;

/// A parsed simple-signing payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimpleSigning {
    /// What is signed.
    pub critical: Critical,
    /// Claims (`-a key=value`). Values that are not strings are kept as
    /// their JSON text, so a claim cannot hide behind a type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<BTreeMap<String, serde_json::Value>>,
}

/// The signed facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Critical {
    /// Where it was signed for.
    pub identity: Identity,
    /// The manifest digest.
    pub image: Image,
    /// Always [`SIGNATURE_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
}

/// `critical.identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `registry/repository` the signer named.
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

/// `critical.image`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The signed manifest digest.
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

impl SimpleSigning {
    /// The payload for `repository` (`registry/repo`) at `digest`, with
    /// `claims`.
    pub fn new(repository: &str, digest: &str, claims: &BTreeMap<String, String>) -> Self {
        SimpleSigning {
            critical: Critical {
                identity: Identity {
                    docker_reference: repository.to_string(),
                },
                image: Image {
                    docker_manifest_digest: digest.to_string(),
                },
                kind: SIGNATURE_TYPE.to_string(),
            },
            optional: (!claims.is_empty()).then(|| {
                claims
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect()
            }),
        }
    }

    /// The bytes to sign.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("JSON of plain values")
    }

    /// Parse payload bytes, refusing anything that is not an image signature.
    pub fn parse(bytes: &[u8]) -> Result<SimpleSigning, SigningError> {
        let bad = |reason: String| SigningError::Format {
            what: "signature payload".into(),
            reason,
        };
        if bytes.len() > MAX_PAYLOAD {
            return Err(bad(format!(
                "{} bytes is over the limit of {MAX_PAYLOAD}",
                bytes.len()
            )));
        }
        let p: SimpleSigning = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("not a simple-signing document: {e}")))?;
        if p.critical.kind != SIGNATURE_TYPE {
            return Err(bad(format!(
                "type is {:?}, not {SIGNATURE_TYPE:?}",
                p.critical.kind
            )));
        }
        Ok(p)
    }

    /// The claim `key` as text.
    pub fn claim(&self, key: &str) -> Option<String> {
        match self.optional.as_ref()?.get(key)? {
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_refuses_other_types() {
        let mut claims = BTreeMap::new();
        claims.insert("env".to_string(), "prod".to_string());
        let p = SimpleSigning::new("localhost:5000/wasmix/exec", "sha256:ab", &claims);
        let back = SimpleSigning::parse(&p.to_bytes()).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.claim("env").as_deref(), Some("prod"));
        let text = String::from_utf8(p.to_bytes()).unwrap();
        assert!(text.contains(r#""docker-manifest-digest":"sha256:ab""#));
        let other = text.replace(SIGNATURE_TYPE, "https://in-toto.io/Statement/v1");
        assert!(SimpleSigning::parse(other.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("not \"cosign container image signature\""));
    }
}
