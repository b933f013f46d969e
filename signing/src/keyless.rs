//! Keyless (Fulcio + Rekor) signatures, checked offline against a
//! `trusted_root.json`.
//!
//! A keyless signature is trusted only when every link holds:
//!
//! 1. the certificate chains to a certificate authority of the trusted root,
//!    for code signing, at the time the transparency log recorded it;
//! 2. the signature over the payload verifies with the certificate's key
//!    (sigstore-rs 0.14 skips this for the tag-based format);
//! 3. the log entry's signed timestamp verifies with a log key of the root;
//! 4. the log entry is about *this* signature: its body names the same
//!    signature, the same certificate and the payload's hash (also skipped
//!    by sigstore-rs 0.14);
//! 5. the certificate's issuer and subject satisfy the policy's identity.
//!
//! A certificate copied next to a forged signature fails 2; a real receipt
//! copied from another signature fails 4.

use crate::cosign::{SignatureLayer, BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION};
use crate::SigningError;
use base64::Engine as _;
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use serde::Deserialize;
use sha2::Digest;
use x509_cert::der::Decode;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), DER content octets.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
const ALGS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
    webpki::aws_lc_rs::ECDSA_P256_SHA384,
    webpki::aws_lc_rs::ECDSA_P384_SHA256,
    webpki::aws_lc_rs::ECDSA_P384_SHA384,
];
/// Fulcio's OIDC issuer extension, v2 (DER UTF8String) and v1 (raw).
const OID_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
const OID_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
const OID_SAN: &str = "2.5.29.17";
/// Largest trusted root or bundle read.
pub const MAX_DOCUMENT: usize = 1 << 20;

/// Why a keyless signature was rejected (one line, for a refusal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejected(pub String);

fn reject(reason: impl Into<String>) -> Rejected {
    Rejected(reason.into())
}

/// The certificate authorities and transparency logs keyless signatures are
/// checked against.
#[derive(Debug, Clone)]
pub struct TrustedRoot {
    anchors: Vec<TrustAnchor<'static>>,
    intermediates: Vec<CertificateDer<'static>>,
    /// (hex log id, key)
    logs: Vec<(String, crate::PublicKey)>,
}

#[derive(Deserialize)]
struct RawRoot {
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(rename = "certificateAuthorities", default)]
    certificate_authorities: Vec<RawCa>,
}

#[derive(Deserialize)]
struct RawLog {
    #[serde(rename = "publicKey")]
    public_key: RawBytes,
    #[serde(rename = "logId")]
    log_id: KeyId,
}

#[derive(Deserialize)]
struct KeyId {
    #[serde(rename = "keyId")]
    key_id: String,
}

#[derive(Deserialize)]
struct RawCa {
    #[serde(rename = "certChain")]
    cert_chain: RawChain,
}

#[derive(Deserialize)]
struct RawChain {
    certificates: Vec<RawBytes>,
}

#[derive(Deserialize)]
struct RawBytes {
    #[serde(rename = "rawBytes")]
    raw_bytes: String,
}

impl TrustedRoot {
    /// Parse a Sigstore `trusted_root.json`. `what` names it in errors.
    pub fn from_json(what: &str, bytes: &[u8]) -> Result<TrustedRoot, SigningError> {
        let bad = |reason: String| SigningError::Format {
            what: what.to_string(),
            reason,
        };
        if bytes.len() > MAX_DOCUMENT {
            return Err(bad("over 1 MiB".into()));
        }
        let raw: RawRoot =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not a trusted root: {e}")))?;
        let mut anchors = Vec::new();
        let mut intermediates = Vec::new();
        for (i, ca) in raw.certificate_authorities.iter().enumerate() {
            let n = ca.cert_chain.certificates.len();
            for (j, c) in ca.cert_chain.certificates.iter().enumerate() {
                let der = B64.decode(&c.raw_bytes).map_err(|e| {
                    bad(format!("certificateAuthorities[{i}] certificate {j}: {e}"))
                })?;
                let der = CertificateDer::from(der);
                // The chain runs leaf-most first; its last certificate is the root.
                if j + 1 == n {
                    let anchor = webpki::anchor_from_trusted_cert(&der).map_err(|e| {
                        bad(format!("certificateAuthorities[{i}] root certificate: {e}"))
                    })?;
                    anchors.push(anchor.to_owned());
                } else {
                    intermediates.push(der);
                }
            }
        }
        let mut logs = Vec::new();
        for (i, log) in raw.tlogs.iter().enumerate() {
            let der = B64
                .decode(&log.public_key.raw_bytes)
                .map_err(|e| bad(format!("tlogs[{i}] public key: {e}")))?;
            // Newer logs sign with keys wasmix does not verify (Ed25519 for
            // Rekor v2); their entries are refused, the rest of the root is used.
            let Ok(key) = crate::PublicKey::from_der(&format!("{what} tlogs[{i}]"), &der) else {
                continue;
            };
            let id = B64
                .decode(&log.log_id.key_id)
                .map_err(|e| bad(format!("tlogs[{i}] logId: {e}")))?;
            logs.push((hex::encode(id), key));
        }
        if anchors.is_empty() || logs.is_empty() {
            return Err(bad(
                "needs at least one certificate authority and one transparency log with an ECDSA P-256 key".into(),
            ));
        }
        Ok(TrustedRoot {
            anchors,
            intermediates,
            logs,
        })
    }

    /// Check `leaf` chains to one of our authorities for code signing at
    /// `time` (seconds since the epoch), and read its identity.
    fn verify_certificate(
        &self,
        leaf: &[u8],
        chain: &[Vec<u8>],
        time: i64,
    ) -> Result<CertIdentity, Rejected> {
        let leaf_der = CertificateDer::from(leaf);
        let ee = webpki::EndEntityCert::try_from(&leaf_der)
            .map_err(|e| reject(format!("certificate does not parse: {e}")))?;
        let mut intermediates: Vec<CertificateDer<'_>> = self.intermediates.clone();
        intermediates.extend(chain.iter().map(|c| CertificateDer::from(c.as_slice())));
        let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(time.max(0) as u64));
        ee.verify_for_usage(
            ALGS,
            &self.anchors,
            &intermediates,
            at,
            webpki::KeyUsage::required(CODE_SIGNING),
            None,
            None,
        )
        .map_err(|e| {
            reject(format!(
                "certificate does not chain to the trusted root for code signing at the logged time: {e}"
            ))
        })?;
        CertIdentity::read(leaf)
    }

    /// Check a log receipt's signed timestamp with one of our log keys.
    fn verify_entry(&self, entry: &TlogEntry) -> Result<(), Rejected> {
        let (_, key) = self
            .logs
            .iter()
            .find(|(id, _)| *id == entry.log_id)
            .ok_or_else(|| reject(format!("log {} is not in the trusted root", entry.log_id)))?;
        let signed = serde_json_canonicalizer::to_vec(&serde_json::json!({
            "body": entry.body,
            "integratedTime": entry.integrated_time,
            "logID": entry.log_id,
            "logIndex": entry.log_index,
        }))
        .map_err(|e| reject(format!("log receipt: {e}")))?;
        if key.verifies(&entry.set, &signed) {
            Ok(())
        } else {
            Err(reject(
                "the transparency log's signed timestamp does not verify with the log key",
            ))
        }
    }
}

/// Who a Fulcio certificate was issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertIdentity {
    /// OIDC issuer.
    pub issuer: String,
    /// Subject: email or URI from the subject alternative name.
    pub subject: String,
}

impl CertIdentity {
    fn read(der: &[u8]) -> Result<CertIdentity, Rejected> {
        use x509_cert::ext::pkix::name::GeneralName;
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| reject(format!("certificate does not parse: {e}")))?;
        let (mut issuer, mut subject) = (None, None);
        for ext in cert.tbs_certificate.extensions.iter().flatten() {
            let value = ext.extn_value.as_bytes();
            match ext.extn_id.to_string().as_str() {
                OID_SAN => {
                    let san = x509_cert::ext::pkix::SubjectAltName::from_der(value)
                        .map_err(|e| reject(format!("certificate SAN: {e}")))?;
                    for name in san.0 {
                        match name {
                            GeneralName::Rfc822Name(s) => subject = Some(s.as_str().to_string()),
                            GeneralName::UniformResourceIdentifier(s) => {
                                subject = Some(s.as_str().to_string())
                            }
                            _ => {}
                        }
                    }
                }
                OID_ISSUER_V2 => {
                    let s = x509_cert::der::asn1::Utf8StringRef::from_der(value)
                        .map_err(|e| reject(format!("certificate issuer extension: {e}")))?;
                    issuer = Some(s.as_str().to_string());
                }
                OID_ISSUER_V1 if issuer.is_none() => {
                    issuer = Some(String::from_utf8_lossy(value).into_owned());
                }
                _ => {}
            }
        }
        Ok(CertIdentity {
            issuer: issuer.ok_or_else(|| reject("certificate names no OIDC issuer"))?,
            subject: subject.ok_or_else(|| reject("certificate names no email or URI subject"))?,
        })
    }
}

/// A transparency log receipt with a signed entry timestamp.
#[derive(Debug, Clone)]
struct TlogEntry {
    /// Base64 canonicalized body, as logged.
    body: String,
    integrated_time: i64,
    log_index: i64,
    /// Hex log id.
    log_id: String,
    set: Vec<u8>,
}

impl TlogEntry {
    fn body(&self) -> Result<serde_json::Value, Rejected> {
        let bytes = B64
            .decode(&self.body)
            .map_err(|e| reject(format!("log entry body: {e}")))?;
        serde_json::from_slice(&bytes).map_err(|e| reject(format!("log entry body: {e}")))
    }
}

/// The parts of a keyless signature that [`TrustedRoot`] checks.
struct Evidence<'a> {
    certificate: Vec<u8>,
    chain: Vec<Vec<u8>>,
    signature: Vec<u8>,
    /// The bytes the signature is over.
    signed: &'a [u8],
    entry: TlogEntry,
}

impl TrustedRoot {
    fn verify_evidence(&self, e: &Evidence<'_>) -> Result<CertIdentity, Rejected> {
        self.verify_entry(&e.entry)?;
        let identity =
            self.verify_certificate(&e.certificate, &e.chain, e.entry.integrated_time)?;
        let leaf_der = CertificateDer::from(e.certificate.as_slice());
        let ee = webpki::EndEntityCert::try_from(&leaf_der)
            .map_err(|err| reject(format!("certificate: {err}")))?;
        let ok = ALGS
            .iter()
            .any(|alg| ee.verify_signature(*alg, e.signed, &e.signature).is_ok());
        if !ok {
            return Err(reject(
                "the signature does not verify with the certificate's key (a certificate copied next to another signature?)",
            ));
        }
        Ok(identity)
    }
}

fn pem_certificates(text: &str) -> Result<Vec<Vec<u8>>, Rejected> {
    pem::parse_many(text)
        .map_err(|e| reject(format!("certificate PEM: {e}")))
        .map(|blocks| blocks.into_iter().map(|b| b.into_contents()).collect())
}

fn same_certificate(logged_b64_pem: Option<&str>, der: &[u8]) -> bool {
    logged_b64_pem
        .and_then(|b| B64.decode(b).ok())
        .and_then(|pem_bytes| pem::parse(pem_bytes).ok())
        .is_some_and(|p| p.contents() == der)
}

#[derive(Deserialize)]
struct RekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    set: String,
    #[serde(rename = "Payload")]
    payload: RekorPayload,
}

#[derive(Deserialize)]
struct RekorPayload {
    body: String,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logIndex")]
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

/// Verify a keyless cosign signature layer (certificate, chain and Rekor
/// receipt in annotations) whose decoded signature is `signature`. Returns
/// the certificate's identity; the payload is the caller's to check.
pub fn verify_layer(
    root: &TrustedRoot,
    layer: &SignatureLayer,
    signature: &[u8],
) -> Result<CertIdentity, Rejected> {
    let cert_pem = layer
        .annotations
        .get(CERTIFICATE_ANNOTATION)
        .ok_or_else(|| reject("no certificate: a key signature, not a keyless one"))?;
    let certificate = pem_certificates(cert_pem)?
        .into_iter()
        .next()
        .ok_or_else(|| reject("empty certificate annotation"))?;
    let chain = match layer.annotations.get(CHAIN_ANNOTATION) {
        Some(text) => pem_certificates(text)?,
        None => Vec::new(),
    };
    let receipt: RekorBundle = serde_json::from_str(
        layer
            .annotations
            .get(BUNDLE_ANNOTATION)
            .ok_or_else(|| reject("no transparency log receipt"))?,
    )
    .map_err(|e| reject(format!("transparency log receipt: {e}")))?;
    let entry = TlogEntry {
        body: receipt.payload.body,
        integrated_time: receipt.payload.integrated_time,
        log_index: receipt.payload.log_index,
        log_id: receipt.payload.log_id,
        set: B64
            .decode(&receipt.set)
            .map_err(|e| reject(format!("signed entry timestamp: {e}")))?,
    };
    // The receipt must be about this signature, this certificate and this
    // payload, or a real receipt could vouch for a forged layer.
    let body = entry.body()?;
    let spec = &body["spec"];
    let hash = hex::encode(sha2::Sha256::digest(&layer.payload));
    let logged_sig = spec["signature"]["content"]
        .as_str()
        .and_then(|s| B64.decode(s).ok());
    if body["kind"] != "hashedrekord"
        || spec["data"]["hash"]["algorithm"] != "sha256"
        || spec["data"]["hash"]["value"].as_str() != Some(hash.as_str())
        || logged_sig.as_deref() != Some(signature)
        || !same_certificate(
            spec["signature"]["publicKey"]["content"].as_str(),
            &certificate,
        )
    {
        return Err(reject(
            "the transparency log entry is not about this signature (its hash, signature or certificate differ)",
        ));
    }
    root.verify_evidence(&Evidence {
        certificate,
        chain,
        signature: signature.to_vec(),
        signed: &layer.payload,
        entry,
    })
}

/// DSSE's pre-authentication encoding: what a DSSE signature is over.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

#[derive(Deserialize)]
struct Bundle {
    #[serde(rename = "mediaType")]
    media_type: String,
    #[serde(rename = "verificationMaterial")]
    material: Material,
    #[serde(rename = "dsseEnvelope")]
    dsse: Option<Envelope>,
}

#[derive(Deserialize)]
struct Material {
    certificate: Option<RawBytes>,
    #[serde(rename = "x509CertificateChain")]
    chain: Option<RawChain>,
    #[serde(rename = "tlogEntries", default)]
    tlog_entries: Vec<BundleEntry>,
}

#[derive(Deserialize)]
struct BundleEntry {
    #[serde(rename = "logIndex")]
    log_index: String,
    #[serde(rename = "logId")]
    log_id: KeyId,
    #[serde(rename = "integratedTime")]
    integrated_time: String,
    #[serde(rename = "inclusionPromise")]
    inclusion_promise: Option<Promise>,
    #[serde(rename = "canonicalizedBody")]
    canonicalized_body: String,
}

#[derive(Deserialize)]
struct Promise {
    #[serde(rename = "signedEntryTimestamp")]
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
struct Envelope {
    payload: String,
    #[serde(rename = "payloadType")]
    payload_type: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    sig: String,
}

/// A verified Sigstore bundle: who signed, and the in-toto statement they
/// signed (for the caller to match against the artifact).
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    /// Certificate identity.
    pub identity: CertIdentity,
    /// Digests (`sha256:<hex>`) the statement's subjects name.
    pub subjects: Vec<String>,
}

/// Verify a Sigstore bundle v0.3 carrying a DSSE envelope, offline.
pub fn verify_bundle(root: &TrustedRoot, bytes: &[u8]) -> Result<VerifiedBundle, Rejected> {
    if bytes.len() > MAX_DOCUMENT {
        return Err(reject("bundle is over 1 MiB"));
    }
    let bundle: Bundle =
        serde_json::from_slice(bytes).map_err(|e| reject(format!("not a Sigstore bundle: {e}")))?;
    if !bundle
        .media_type
        .starts_with("application/vnd.dev.sigstore.bundle")
        || !bundle.media_type.contains("0.3")
    {
        return Err(reject(format!(
            "bundle media type {} (want a v0.3 bundle)",
            bundle.media_type
        )));
    }
    let certificate = match (&bundle.material.certificate, &bundle.material.chain) {
        (Some(c), _) => B64.decode(&c.raw_bytes).ok(),
        (None, Some(chain)) => chain
            .certificates
            .first()
            .and_then(|c| B64.decode(&c.raw_bytes).ok()),
        (None, None) => None,
    }
    .ok_or_else(|| reject("bundle has no signing certificate (a key-signed bundle?)"))?;
    let envelope = bundle
        .dsse
        .ok_or_else(|| reject("bundle has no DSSE envelope"))?;
    let [signature] = envelope.signatures.as_slice() else {
        return Err(reject("DSSE envelope must carry exactly one signature"));
    };
    let signature = B64
        .decode(&signature.sig)
        .map_err(|e| reject(format!("DSSE signature: {e}")))?;
    let payload = B64
        .decode(&envelope.payload)
        .map_err(|e| reject(format!("DSSE payload: {e}")))?;
    let [raw_entry] = bundle.material.tlog_entries.as_slice() else {
        return Err(reject(
            "bundle must carry exactly one transparency log entry",
        ));
    };
    let promise = raw_entry.inclusion_promise.as_ref().ok_or_else(|| {
        reject(
            "log entry has no inclusion promise (signed entry timestamp); wasmix needs one offline",
        )
    })?;
    let parse_int = |s: &str, what: &str| {
        s.parse::<i64>()
            .map_err(|_| reject(format!("log entry {what} {s:?} is not a number")))
    };
    let entry = TlogEntry {
        body: raw_entry.canonicalized_body.clone(),
        integrated_time: parse_int(&raw_entry.integrated_time, "integratedTime")?,
        log_index: parse_int(&raw_entry.log_index, "logIndex")?,
        log_id: hex::encode(
            B64.decode(&raw_entry.log_id.key_id)
                .map_err(|e| reject(format!("log id: {e}")))?,
        ),
        set: B64
            .decode(&promise.signed_entry_timestamp)
            .map_err(|e| reject(format!("signed entry timestamp: {e}")))?,
    };
    let body = entry.body()?;
    let spec = &body["spec"];
    let payload_hash = hex::encode(sha2::Sha256::digest(&payload));
    let logged = spec["signatures"].as_array().is_some_and(|sigs| {
        sigs.iter().any(|s| {
            s["signature"]
                .as_str()
                .and_then(|b| B64.decode(b).ok())
                .as_deref()
                == Some(signature.as_slice())
                && same_certificate(s["verifier"].as_str(), &certificate)
        })
    });
    if body["kind"] != "dsse"
        || spec["payloadHash"]["algorithm"] != "sha256"
        || spec["payloadHash"]["value"].as_str() != Some(payload_hash.as_str())
        || !logged
    {
        return Err(reject(
            "the transparency log entry is not about this envelope (its payload hash, signature or certificate differ)",
        ));
    }
    let signed = pae(&envelope.payload_type, &payload);
    let identity = root.verify_evidence(&Evidence {
        certificate,
        chain: Vec::new(),
        signature,
        signed: &signed,
        entry,
    })?;
    if envelope.payload_type != "application/vnd.in-toto+json" {
        return Err(reject(format!(
            "DSSE payload type {} (want application/vnd.in-toto+json)",
            envelope.payload_type
        )));
    }
    let statement: serde_json::Value =
        serde_json::from_slice(&payload).map_err(|e| reject(format!("in-toto statement: {e}")))?;
    let subjects = statement["subject"]
        .as_array()
        .map(|subjects| {
            subjects
                .iter()
                .filter_map(|s| s["digest"]["sha256"].as_str())
                .map(|h| format!("sha256:{h}"))
                .collect()
        })
        .unwrap_or_default();
    Ok(VerifiedBundle { identity, subjects })
}
