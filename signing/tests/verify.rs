//! The trust policy against honest and forged evidence: real keys, real
//! certificates from a local authority, real log signatures.

use base64::Engine as _;
use std::collections::BTreeMap;
use wasmix_signing::cosign::{SignatureLayer, DSSE_MEDIA_TYPE};
use wasmix_signing::payload::SimpleSigning;
use wasmix_signing::testing::TestSigstore;
use wasmix_signing::verify::Reason;
use wasmix_signing::{Evidence, KeyPair, Refusal, Subject, TrustPolicy, Verdict};

const REPO: &str = "localhost:5000/wasmix/exec";
const ISSUER: &str = "https://issuer.example";
const WHO: &str = "release@example.com";

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

struct World {
    _dir: tempfile::TempDir,
    key: KeyPair,
    sigstore: TestSigstore,
    dir: std::path::PathBuf,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let sigstore = TestSigstore::new();
        std::fs::write(dir.path().join("cosign.pub"), key.public().to_pem()).unwrap();
        std::fs::write(dir.path().join("root.json"), sigstore.trusted_root_json()).unwrap();
        World {
            dir: dir.path().to_path_buf(),
            _dir: dir,
            key,
            sigstore,
        }
    }

    fn policy(&self, scope_body: &str) -> TrustPolicy {
        let text = format!("scopes:\n  - scope: localhost:5000/wasmix/*\n{scope_body}");
        TrustPolicy::parse("trust.yaml", &text, &self.dir).unwrap()
    }

    fn key_policy(&self) -> TrustPolicy {
        self.policy("    authorities:\n      - key: cosign.pub\n")
    }

    fn keyless_policy(&self, subject: &str) -> TrustPolicy {
        self.policy(&format!(
            "    authorities:\n      - keyless:\n          issuer: {ISSUER}\n          {subject}\n          trustedRoot: root.json\n"
        ))
    }

    fn signed(&self, d: &str, claims: &[(&str, &str)]) -> SignatureLayer {
        let claims: BTreeMap<String, String> = claims
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let payload = SimpleSigning::new(REPO, d, &claims).to_bytes();
        let sig = self.key.sign(&payload).unwrap();
        SignatureLayer::simple(payload, &sig)
    }
}

fn subject(d: &str) -> Subject<'_> {
    Subject {
        repository: REPO,
        digest: d,
        version: Some("1.2.0"),
    }
}

fn evidence(layers: Vec<SignatureLayer>) -> Evidence {
    Evidence {
        looked_in: "tag sha256-….sig".into(),
        signatures: layers,
        bundles: Vec::new(),
    }
}

fn refused(policy: &TrustPolicy, d: &str, e: &Evidence) -> Refusal {
    *policy.verify(&subject(d), e).unwrap_err()
}

#[test]
fn a_key_signature_verifies_for_its_digest_only() {
    let w = World::new();
    let (a, b) = (digest('a'), digest('b'));
    let e = evidence(vec![w.signed(&a, &[])]);
    let v = w.key_policy().verify(&subject(&a), &e).unwrap();
    assert!(matches!(v, Verdict::Verified { .. }), "{v:?}");
    let r = refused(&w.key_policy(), &b, &e);
    assert_eq!(r.reason, Reason::DigestMismatch { claimed: a.clone() });
    let line = r.to_string();
    assert!(line.contains(&format!("refusing {REPO}@{b}")), "{line}");
    assert!(
        line.contains("trust.yaml:2, scope `localhost:5000/wasmix/*`"),
        "{line}"
    );
}

#[test]
fn an_edited_payload_or_another_key_is_the_wrong_key() {
    let w = World::new();
    let a = digest('a');
    let mut layer = w.signed(&a, &[]);
    layer.payload = String::from_utf8(layer.payload)
        .unwrap()
        .replace("wasmix/exec", "wasmix/evil")
        .into_bytes();
    let r = refused(&w.key_policy(), &a, &evidence(vec![layer]));
    assert!(matches!(r.reason, Reason::WrongKey { .. }), "{r}");

    let other = KeyPair::generate().unwrap();
    let payload = SimpleSigning::new(REPO, &a, &BTreeMap::new()).to_bytes();
    let layer = SignatureLayer::simple(payload.clone(), &other.sign(&payload).unwrap());
    let r = refused(&w.key_policy(), &a, &evidence(vec![layer]));
    assert!(r.to_string().contains("wrong key"), "{r}");
}

#[test]
fn no_signature_is_refused_under_enforce_and_warned_under_warn() {
    let w = World::new();
    let a = digest('a');
    let r = refused(&w.key_policy(), &a, &evidence(vec![]));
    assert!(matches!(r.reason, Reason::NoSignature { .. }), "{r}");
    let warn = w.policy("    mode: warn\n    authorities:\n      - key: cosign.pub\n");
    match warn.verify(&subject(&a), &evidence(vec![])).unwrap() {
        Verdict::Unverified { reason, .. } => assert!(reason.contains("no signature"), "{reason}"),
        v => panic!("{v:?}"),
    }
    let skip = w.policy("    mode: skip\n");
    assert_eq!(
        skip.verify(&subject(&a), &evidence(vec![])).unwrap(),
        Verdict::Skipped {
            scope: "localhost:5000/wasmix/*".into()
        }
    );
    let builtin = TrustPolicy::builtin();
    let r = builtin
        .verify(&subject(&a), &evidence(vec![w.signed(&a, &[])]))
        .unwrap_err();
    assert_eq!(r.reason, Reason::NoAuthorities);
    let none = TrustPolicy::parse("t", "scopes:\n  - scope: other.io/*\n", &w.dir).unwrap();
    assert_eq!(
        none.verify(&subject(&a), &evidence(vec![]))
            .unwrap_err()
            .reason,
        Reason::NoScope
    );
}

#[test]
fn an_attestation_is_not_a_signature() {
    let w = World::new();
    let a = digest('a');
    let mut layer = w.signed(&a, &[]);
    layer.media_type = DSSE_MEDIA_TYPE.into();
    let r = refused(&w.key_policy(), &a, &evidence(vec![layer]));
    assert!(r.to_string().contains("is an attestation"), "{r}");
    // The same with the media type disguised: the payload type gives it away.
    let statement = br#"{"critical":{"identity":{"docker-reference":"x"},"image":{"docker-manifest-digest":"sha256:aa"},"type":"https://in-toto.io/Statement/v1"}}"#.to_vec();
    let layer = SignatureLayer::simple(statement.clone(), &w.key.sign(&statement).unwrap());
    let r = refused(&w.key_policy(), &a, &evidence(vec![layer]));
    assert!(
        r.to_string()
            .contains("not \"cosign container image signature\""),
        "{r}"
    );
}

#[test]
fn required_claims_and_minimum_versions_hold() {
    let w = World::new();
    let a = digest('a');
    let p = w.policy("    authorities:\n      - key: cosign.pub\n    annotations: {env: prod}\n    minVersion: 1.2.0\n");
    let r = refused(&p, &a, &evidence(vec![w.signed(&a, &[("env", "dev")])]));
    assert_eq!(
        r.reason,
        Reason::MissingClaim {
            key: "env".into(),
            value: "prod".into()
        }
    );
    let good = evidence(vec![w.signed(&a, &[("env", "prod")])]);
    assert!(p.verify(&subject(&a), &good).is_ok());
    let old = Subject {
        version: Some("1.1.9"),
        ..subject(&a)
    };
    let r = p.verify(&old, &good).unwrap_err();
    assert!(matches!(r.reason, Reason::TooOld { .. }), "{r}");
    let unversioned = Subject {
        version: None,
        ..subject(&a)
    };
    assert!(p.verify(&unversioned, &good).is_err());
}

#[test]
fn keyless_signatures_verify_for_the_right_identity_only() {
    let w = World::new();
    let a = digest('a');
    let payload = SimpleSigning::new(REPO, &a, &BTreeMap::new()).to_bytes();
    let e = evidence(vec![w.sigstore.sign_layer(ISSUER, WHO, payload.clone())]);
    let exact = w.keyless_policy(&format!("subject: {WHO}"));
    let v = exact.verify(&subject(&a), &e).unwrap();
    assert!(
        matches!(&v, Verdict::Verified { authority, .. } if authority.contains(WHO)),
        "{v:?}"
    );
    let anchored = w.keyless_policy(r"subjectRegex: ^release@example\.com$");
    assert!(anchored.verify(&subject(&a), &e).is_ok());

    let other = w.keyless_policy("subject: someone@example.com");
    let r = refused(&other, &a, &e);
    assert!(matches!(r.reason, Reason::IdentityMismatch { .. }), "{r}");
    let wrong_issuer = evidence(vec![w.sigstore.sign_layer(
        "https://evil.example",
        WHO,
        payload,
    )]);
    let r = refused(&exact, &a, &wrong_issuer);
    assert!(r.to_string().contains("issuer https://evil.example"), "{r}");
}

#[test]
fn a_copied_certificate_with_a_garbage_signature_is_refused() {
    let w = World::new();
    let a = digest('a');
    let policy = w.keyless_policy(&format!("subject: {WHO}"));
    let payload = SimpleSigning::new(REPO, &a, &BTreeMap::new()).to_bytes();
    let leaf = w.sigstore.leaf(ISSUER, WHO);
    // A garbage signature whose log entry is genuine (the log signed what it
    // was given): only checking the signature against the certificate key
    // catches it.
    let garbage = leaf.sign(b"something else entirely");
    let body = TestSigstore::hashedrekord(&payload, &garbage, &leaf);
    let layer = w.sigstore.layer(payload.clone(), &garbage, &leaf, &body);
    let r = refused(&policy, &a, &evidence(vec![layer]));
    assert!(
        r.to_string()
            .contains("does not verify with the certificate's key"),
        "{r}"
    );

    // A real receipt for another signature of the same payload (ECDSA
    // signatures differ each time): the receipt must name this signature.
    let real = leaf.sign(&payload);
    let logged = leaf.sign(&payload);
    let other_body = TestSigstore::hashedrekord(&payload, &logged, &leaf);
    let layer = w.sigstore.layer(payload.clone(), &real, &leaf, &other_body);
    let r = refused(&policy, &a, &evidence(vec![layer]));
    assert!(
        r.to_string()
            .contains("log entry is not about this signature"),
        "{r}"
    );
    // ... and this payload.
    let other_payload = SimpleSigning::new(REPO, &digest('b'), &BTreeMap::new()).to_bytes();
    let other_body = TestSigstore::hashedrekord(&other_payload, &real, &leaf);
    let layer = w.sigstore.layer(payload.clone(), &real, &leaf, &other_body);
    let r = refused(&policy, &a, &evidence(vec![layer]));
    assert!(
        r.to_string()
            .contains("log entry is not about this signature"),
        "{r}"
    );
    // ... and this certificate.
    let twin = w.sigstore.leaf(ISSUER, WHO);
    let twin_body = TestSigstore::hashedrekord(&payload, &real, &twin);
    let layer = w.sigstore.layer(payload.clone(), &real, &leaf, &twin_body);
    let r = refused(&policy, &a, &evidence(vec![layer]));
    assert!(
        r.to_string()
            .contains("log entry is not about this signature"),
        "{r}"
    );

    // A certificate from an authority the root does not name.
    let stranger = TestSigstore::new();
    let layer = stranger.sign_layer(ISSUER, WHO, payload.clone());
    let r = refused(&policy, &a, &evidence(vec![layer]));
    assert!(
        r.to_string().contains("not in the trusted root")
            || r.to_string().contains("does not chain"),
        "{r}"
    );

    // A tampered signed entry timestamp.
    let mut layer = w.sigstore.sign_layer(ISSUER, WHO, payload);
    let receipt = layer
        .annotations
        .get_mut(wasmix_signing::cosign::BUNDLE_ANNOTATION)
        .unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(receipt).unwrap();
    doc["Payload"]["integratedTime"] = serde_json::json!(1);
    *receipt = doc.to_string();
    let r = refused(&policy, &a, &evidence(vec![layer]));
    assert!(
        r.to_string().contains("signed timestamp does not verify"),
        "{r}"
    );
}

#[test]
fn sigstore_bundles_verify_offline() {
    let w = World::new();
    let (a, b) = (digest('a'), digest('b'));
    let policy = w.keyless_policy(&format!("subject: {WHO}"));
    let bundle = w.sigstore.bundle(ISSUER, WHO, &a);
    let e = Evidence {
        bundles: vec![bundle.clone()],
        ..evidence(vec![])
    };
    assert!(policy.verify(&subject(&a), &e).is_ok());
    let r = refused(&policy, &b, &e);
    assert!(matches!(r.reason, Reason::DigestMismatch { .. }), "{r}");

    // Swap the statement for one about `b`, keeping the signature.
    let mut doc: serde_json::Value = serde_json::from_slice(&bundle).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let statement = String::from_utf8(
        b64.decode(doc["dsseEnvelope"]["payload"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap()
    .replace(&"a".repeat(64), &"b".repeat(64));
    doc["dsseEnvelope"]["payload"] = b64.encode(statement).into();
    let e = Evidence {
        bundles: vec![doc.to_string().into_bytes()],
        ..evidence(vec![])
    };
    let r = refused(&policy, &b, &e);
    assert!(r.to_string().contains("not about this envelope"), "{r}");
}
