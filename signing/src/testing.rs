//! A local Sigstore for tests: a certificate authority that issues
//! Fulcio-style code-signing certificates and a transparency log key that
//! signs entry timestamps, with the `trusted_root.json` naming both.
//!
//! These are real keys and real X.509 certificates; only the OIDC login
//! and the log's server are left out. The building blocks are public so
//! adversarial tests can assemble forgeries.

use crate::cosign::{SignatureLayer, BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION};
use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SigningKey, PKCS_ECDSA_P256_SHA256,
};
use serde_json::json;
use sha2::Digest;
use std::sync::atomic::{AtomicI64, Ordering};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A certificate authority plus a transparency log key.
pub struct TestSigstore {
    ca_params: CertificateParams,
    ca_key: KeyPair,
    ca_der: Vec<u8>,
    log_key: KeyPair,
    index: AtomicI64,
}

/// A short-lived signing certificate and its key.
pub struct Leaf {
    /// The key the certificate certifies.
    pub key: KeyPair,
    /// DER certificate.
    pub der: Vec<u8>,
}

impl Leaf {
    /// PEM of the certificate.
    pub fn pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.der.clone()))
    }

    /// ECDSA signature over `msg`.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.key.sign(msg).expect("P-256 signing")
    }
}

/// When test log entries claim to be integrated (2026-01-01).
pub const INTEGRATED_TIME: i64 = 1_767_225_600;

impl Default for TestSigstore {
    fn default() -> Self {
        Self::new()
    }
}

impl TestSigstore {
    /// A new authority and log, with fresh keys.
    pub fn new() -> TestSigstore {
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "wasmix test fulcio");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_der = ca_params.self_signed(&ca_key).expect("CA").der().to_vec();
        TestSigstore {
            ca_params,
            ca_key,
            ca_der,
            log_key: KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key"),
            index: AtomicI64::new(1),
        }
    }

    /// The log's id: the digest of its public key.
    pub fn log_id(&self) -> Vec<u8> {
        sha2::Sha256::digest(self.log_key.subject_public_key_info()).to_vec()
    }

    /// `trusted_root.json` naming this authority and log.
    pub fn trusted_root_json(&self) -> String {
        json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": "https://rekor.invalid",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": B64.encode(self.log_key.subject_public_key_info()),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": "2020-01-01T00:00:00Z"},
                },
                "logId": {"keyId": B64.encode(self.log_id())},
            }],
            "certificateAuthorities": [{
                "subject": {"organization": "wasmix", "commonName": "wasmix test fulcio"},
                "uri": "https://fulcio.invalid",
                "certChain": {"certificates": [{"rawBytes": B64.encode(&self.ca_der)}]},
                "validFor": {"start": "2020-01-01T00:00:00Z"},
            }],
            "ctlogs": [],
            "timestampAuthorities": [],
        })
        .to_string()
    }

    /// A code-signing certificate for `subject` (an email or URI) issued
    /// by OIDC `issuer`.
    pub fn leaf(&self, issuer: &str, subject: &str) -> Leaf {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        let san = if subject.contains("://") {
            SanType::URI(subject.try_into().expect("ascii URI"))
        } else {
            SanType::Rfc822Name(subject.try_into().expect("ascii email"))
        };
        params.subject_alt_names = vec![san];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.custom_extensions = vec![CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 4, 1, 57264, 1, 1],
            issuer.as_bytes().to_vec(),
        )];
        let issuer_ca = Issuer::from_params(&self.ca_params, &self.ca_key);
        let der = params
            .signed_by(&key, &issuer_ca)
            .expect("leaf")
            .der()
            .to_vec();
        Leaf { key, der }
    }

    /// Log `body`: returns (base64 body, integrated time, index, hex log
    /// id, signed entry timestamp).
    pub fn log(&self, body: &serde_json::Value) -> (String, i64, i64, String, Vec<u8>) {
        let body = B64.encode(serde_json_canonicalizer::to_vec(body).expect("JSON"));
        let index = self.index.fetch_add(1, Ordering::Relaxed);
        let log_id = hex::encode(self.log_id());
        let signed = serde_json_canonicalizer::to_vec(&json!({
            "body": body,
            "integratedTime": INTEGRATED_TIME,
            "logID": log_id,
            "logIndex": index,
        }))
        .expect("JSON");
        let set = self.log_key.sign(&signed).expect("sign");
        (body, INTEGRATED_TIME, index, log_id, set)
    }

    /// The hashedrekord body for `signature` over `payload` by `leaf`.
    pub fn hashedrekord(payload: &[u8], signature: &[u8], leaf: &Leaf) -> serde_json::Value {
        json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hex::encode(sha2::Sha256::digest(payload))}},
                "signature": {
                    "content": B64.encode(signature),
                    "publicKey": {"content": B64.encode(leaf.pem())},
                },
            },
        })
    }

    /// A cosign keyless layer: `signature` over `payload`, `leaf`'s
    /// certificate, and a receipt for `logged` (normally the matching
    /// hashedrekord body).
    pub fn layer(
        &self,
        payload: Vec<u8>,
        signature: &[u8],
        leaf: &Leaf,
        logged: &serde_json::Value,
    ) -> SignatureLayer {
        let (body, time, index, log_id, set) = self.log(logged);
        let mut layer = SignatureLayer::simple(payload, signature);
        layer
            .annotations
            .insert(CERTIFICATE_ANNOTATION.into(), leaf.pem());
        layer.annotations.insert(
            BUNDLE_ANNOTATION.into(),
            json!({
                "SignedEntryTimestamp": B64.encode(set),
                "Payload": {"body": body, "integratedTime": time, "logIndex": index, "logID": log_id},
            })
            .to_string(),
        );
        layer
    }

    /// An honest keyless signature of `payload` by `subject` at `issuer`.
    pub fn sign_layer(&self, issuer: &str, subject: &str, payload: Vec<u8>) -> SignatureLayer {
        let leaf = self.leaf(issuer, subject);
        let signature = leaf.sign(&payload);
        let body = Self::hashedrekord(&payload, &signature, &leaf);
        self.layer(payload, &signature, &leaf, &body)
    }

    /// An honest Sigstore bundle v0.3 (DSSE, in-toto statement about
    /// `digest`) by `subject` at `issuer`.
    pub fn bundle(&self, issuer: &str, subject: &str, digest: &str) -> Vec<u8> {
        let leaf = self.leaf(issuer, subject);
        let statement = json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "mixin", "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
            "predicateType": "https://sigstore.dev/cosign/sign/v1",
            "predicate": {},
        })
        .to_string()
        .into_bytes();
        let payload_type = "application/vnd.in-toto+json";
        let signature = leaf.sign(&crate::keyless::pae(payload_type, &statement));
        let body = json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "payloadHash": {"algorithm": "sha256", "value": hex::encode(sha2::Sha256::digest(&statement))},
                "signatures": [{"signature": B64.encode(&signature), "verifier": B64.encode(leaf.pem())}],
            },
        });
        let (body, time, index, _, set) = self.log(&body);
        json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": {"rawBytes": B64.encode(&leaf.der)},
                "tlogEntries": [{
                    "logIndex": index.to_string(),
                    "logId": {"keyId": B64.encode(self.log_id())},
                    "kindVersion": {"kind": "dsse", "version": "0.0.1"},
                    "integratedTime": time.to_string(),
                    "inclusionPromise": {"signedEntryTimestamp": B64.encode(set)},
                    "canonicalizedBody": body,
                }],
            },
            "dsseEnvelope": {
                "payload": B64.encode(&statement),
                "payloadType": payload_type,
                "signatures": [{"sig": B64.encode(&signature), "keyid": ""}],
            },
        })
        .to_string()
        .into_bytes()
    }
}
