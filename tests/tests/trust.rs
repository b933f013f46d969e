//! Signing and trust end to end: the real CLI, a real registry
//! (`docker-registry`), real keys and certificates, and a registry that
//! lies. Every refusal is checked to happen before any mixin code is even
//! compiled.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wasmix_e2e::lying_registry::{Blob, LyingRegistry, Manifest};
use wasmix_e2e::{mixin_dir, repo_root, RegistryServer, Run, Sandbox, KEY_PASSWORD};
use wasmix_signing::cosign::{self, SignatureLayer};
use wasmix_signing::payload::SimpleSigning;
use wasmix_signing::testing::TestSigstore;

const UNTRUSTED: i32 = 4;

fn w(sb: &Sandbox, addr: &str, policy: Option<&Path>, args: &[&str]) -> Run {
    sb.wasmix_at(addr, policy, args, &[])
}

/// A bundle whose one mixin is `reference`.
fn bundle(sb: &Sandbox, name: &str, reference: &str) -> PathBuf {
    let m = format!(
        "schemaVersion: 1.0.0\nname: {name}\nversion: 0.1.0\nmixins:\n  - exec:\n      reference: {reference}\ninstall:\n  - exec:\n      command: echo\n      arguments: [hello from the registry]\n      grants: {{commands: [echo]}}\nuninstall:\n  - exec:\n      command: echo\n      grants: {{commands: [echo]}}\n"
    );
    sb.bundle(name, &m, &[])
}

fn install(sb: &Sandbox, addr: &str, policy: Option<&Path>, bundle: &Path) -> Run {
    w(
        sb,
        addr,
        policy,
        &[
            "install",
            bundle.to_str().unwrap(),
            "--mixin-path",
            "/nonexistent",
        ],
    )
}

/// Assert the run was refused by the trust policy for `why`, before any
/// component was compiled (so none of its code can have run).
#[track_caller]
fn refused(sb: &Sandbox, run: &Run, why: &str) {
    run.expect_code(UNTRUSTED);
    run.expect_stderr(why);
    assert!(
        !run.stdout().contains("hello from"),
        "a step ran: {}",
        run.all()
    );
    let compiled = sb.home().join("cache/compiled");
    let n = std::fs::read_dir(&compiled).map(|d| d.count()).unwrap_or(0);
    assert_eq!(n, 0, "a component was compiled: {}", run.all());
}

fn exec_wasm() -> PathBuf {
    mixin_dir().join("wasmix_exec.wasm")
}

fn probe_wasm() -> PathBuf {
    mixin_dir().join("wasmix_probe.wasm")
}

/// The signature manifest of `digest` in `repository`, parsed.
fn signature_layers(reg: &RegistryServer, repository: &str, digest: &str) -> Vec<SignatureLayer> {
    let tag = cosign::signature_tag(digest).unwrap();
    let manifest = reg.manifest_raw(repository, &format!(":{tag}"));
    let doc: Value = serde_json::from_slice(&manifest).unwrap();
    doc["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let d = l["digest"].as_str().unwrap();
            SignatureLayer {
                media_type: l["mediaType"].as_str().unwrap().to_string(),
                payload: std::fs::read(reg.blob_file(d)).unwrap(),
                annotations: serde_json::from_value(l["annotations"].clone()).unwrap(),
            }
        })
        .collect()
}

/// Replace the signatures of `digest` in `repository` with `layers`.
fn put_signatures(reg: &RegistryServer, repository: &str, digest: &str, layers: &[SignatureLayer]) {
    let built = cosign::build_manifest(layers);
    reg.push_raw(
        repository,
        &cosign::signature_tag(digest).unwrap(),
        &built.manifest,
        &built.blobs,
    );
}

/// Attach each layer to `digest` as an OCI 1.1 referrer — a manifest of
/// its own with `artifactType` and a `subject` — and list them where a
/// registry without the referrers API keeps them: an image index under the
/// tag `sha256-<hex>` (the registry here has no referrers API).
fn put_referrers(
    reg: &RegistryServer,
    repository: &str,
    digest: &str,
    subject_size: usize,
    layers: &[(&str, SignatureLayer)],
) {
    let mut listed = Vec::new();
    for (i, (artifact_type, layer)) in layers.iter().enumerate() {
        let built = cosign::build_manifest(std::slice::from_ref(layer));
        let mut doc: Value = serde_json::from_slice(&built.manifest).unwrap();
        doc["artifactType"] = Value::from(*artifact_type);
        doc["subject"] = serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": subject_size,
        });
        let manifest = serde_json::to_vec(&doc).unwrap();
        let manifest_digest = wasmix::oci::sha256_digest(&manifest);
        reg.push_raw(
            repository,
            &format!("referrer-{i}"),
            &manifest,
            &built.blobs,
        );
        listed.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "artifactType": artifact_type,
        }));
    }
    // Something that is not a signature is listed too, and passed over.
    let sbom = cosign::build_manifest(&[SignatureLayer {
        media_type: "application/spdx+json".into(),
        payload: b"{\"spdxVersion\": \"SPDX-2.3\"}".to_vec(),
        annotations: BTreeMap::new(),
    }]);
    reg.push_raw(repository, "sbom", &sbom.manifest, &sbom.blobs);
    listed.push(serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": wasmix::oci::sha256_digest(&sbom.manifest),
        "size": sbom.manifest.len(),
        "artifactType": "application/spdx+json",
    }));
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": listed,
    }))
    .unwrap();
    reg.push_raw_as(
        repository,
        &digest.replacen(':', "-", 1),
        &index,
        &[],
        "application/vnd.oci.image.index.v1+json",
    );
}

fn payload(repository: &str, digest: &str) -> Vec<u8> {
    SimpleSigning::new(repository, digest, &BTreeMap::new()).to_bytes()
}

#[test]
fn the_registry_example_runs_only_when_signed() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let example = sb.dir.path().join("registry-example");
    std::fs::create_dir_all(&example).unwrap();
    std::fs::copy(
        repo_root().join("examples/registry/porter.yaml"),
        example.join("porter.yaml"),
    )
    .unwrap();
    let reference = format!("{}/wasmix/exec:latest", reg.addr);
    let digest = reg.push_mixin(&sb, exec_wasm(), &reference, false);
    let ns = format!("{}/wasmix", reg.addr);
    let run_example = |sb: &Sandbox, policy: Option<&Path>| {
        w(
            sb,
            &reg.addr,
            policy,
            &[
                "install",
                example.to_str().unwrap(),
                "--mixin-namespace",
                &ns,
                "--mixin-path",
                "/nonexistent",
            ],
        )
    };

    // The built-in default policy trusts no one.
    let fresh = Sandbox::new();
    let run = run_example(&fresh, None);
    refused(&fresh, &run, "the scope trusts no key or identity");
    run.expect_stderr("built-in default policy");
    run.expect_stderr(&format!("refusing {}/wasmix/exec@{digest}", reg.addr));

    // A policy trusting a key: unsigned is refused, and says where it looked.
    let policy = reg.trust().policy;
    let fresh = Sandbox::new();
    let run = run_example(&fresh, Some(&policy));
    refused(&fresh, &run, "no signature (looked for tag sha256-");
    run.expect_stderr(&format!("scope `{}/*`", reg.addr));

    // Signed: it runs.
    reg.sign(&sb, &reference);
    let fresh = Sandbox::new();
    let run = run_example(&fresh, Some(&policy));
    run.expect_code(0);
    run.expect_stdout("hello from a signed mixin");

    // The signature tampered with (the payload edited, the signature kept):
    // refused again.
    let mut layers = signature_layers(&reg, "wasmix/exec", &digest);
    assert_eq!(layers.len(), 1);
    layers[0].payload = String::from_utf8(layers[0].payload.clone())
        .unwrap()
        .replace("wasmix/exec", "wasmix/exec2")
        .into_bytes();
    put_signatures(&reg, "wasmix/exec", &digest, &layers);
    let fresh = Sandbox::new();
    std::fs::remove_file(example.join("wasmix.lock")).ok();
    let run = run_example(&fresh, Some(&policy));
    refused(
        &fresh,
        &run,
        "wrong key: no signature verifies with key sha256:",
    );
}

#[test]
fn a_signature_copied_onto_another_digest_is_refused() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let signed = format!("{}/wasmix/exec:1", reg.addr);
    let a = reg.push_mixin(&sb, exec_wasm(), &signed, false);
    reg.sign(&sb, &signed);
    let other = format!("{}/wasmix/exec:2", reg.addr);
    let b = reg.push_mixin(&sb, probe_wasm(), &other, false);
    // Copy A's signature manifest, byte for byte, to B's signature tag.
    let layers = signature_layers(&reg, "wasmix/exec", &a);
    put_signatures(&reg, "wasmix/exec", &b, &layers);
    let copied = bundle(&sb, "copied", &other);
    let run = install(&sb, &reg.addr, Some(&reg.trust().policy), &copied);
    refused(
        &sb,
        &run,
        &format!("digest claim mismatch: the signature is for {a}"),
    );
    run.expect_stderr(&format!("refusing {}/wasmix/exec@{b}", reg.addr));
    // `wasmix lock` does not pin it either.
    let run = w(
        &sb,
        &reg.addr,
        Some(&reg.trust().policy),
        &["lock", copied.to_str().unwrap()],
    );
    run.expect_code(UNTRUSTED);
    run.expect_stderr("digest claim mismatch");
    assert!(!copied.join("wasmix.lock").exists());
}

#[test]
fn a_deleted_signature_is_refused_under_enforce_and_runs_loudly_under_warn() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let reference = format!("{}/wasmix/exec:1", reg.addr);
    let digest = reg.push_mixin(&sb, exec_wasm(), &reference, false);
    reg.sign(&sb, &reference);
    reg.delete("wasmix/exec", &cosign::signature_tag(&digest).unwrap());
    let b = bundle(&sb, "deleted", &reference);
    let run = install(&sb, &reg.addr, Some(&reg.trust().policy), &b);
    refused(&sb, &run, "no signature");

    let warn = sb.dir.path().join("warn.yaml");
    std::fs::write(
        &warn,
        format!(
            "scopes:\n  - scope: {}/wasmix/*\n    mode: warn\n    authorities:\n      - key: {}\n  - scope: \"*\"\n",
            reg.addr,
            reg.trust().public.display()
        ),
    )
    .unwrap();
    let run = install(&sb, &reg.addr, Some(&warn), &b);
    run.expect_code(0);
    run.expect_stdout("hello from the registry");
    run.expect_stderr("NOT VERIFIED");
    run.expect_stderr("no signature");
}

#[test]
fn an_attestation_is_not_accepted_as_a_signature() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let reference = format!("{}/wasmix/exec:1", reg.addr);
    let digest = reg.push_mixin(&sb, exec_wasm(), &reference, false);
    // Correctly signed by the trusted key, but filed as a DSSE attestation.
    let body = payload(&format!("{}/wasmix/exec", reg.addr), &digest);
    let key = wasmix_signing::KeyPair::from_encrypted_pem(
        "test key",
        &std::fs::read(reg.trust().key).unwrap(),
        KEY_PASSWORD.as_bytes(),
    )
    .unwrap();
    let mut layer = SignatureLayer::simple(body.clone(), &key.sign(&body).unwrap());
    layer.media_type = cosign::DSSE_MEDIA_TYPE.into();
    put_signatures(&reg, "wasmix/exec", &digest, &[layer]);
    let run = install(
        &sb,
        &reg.addr,
        Some(&reg.trust().policy),
        &bundle(&sb, "att", &reference),
    );
    refused(
        &sb,
        &run,
        "is an attestation (application/vnd.dsse.envelope.v1+json), not a signature",
    );
}

#[test]
fn an_older_signed_version_is_refused_under_a_minimum_version() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let reference = format!("{}/wasmix/exec:stable", reg.addr);
    let registry = wasmix::oci::Registry::new(wasmix::oci::RegistryConfig {
        insecure: vec![reg.addr.clone()],
        docker_config: None,
        ..Default::default()
    })
    .unwrap();
    let parsed = wasmix::oci::client::parse_reference(&reference).unwrap();
    let wasm = std::fs::read(exec_wasm()).unwrap();
    let publish = |version: &str| {
        let meta = wasmix::oci::ArtifactMeta {
            name: "exec".into(),
            version: version.into(),
            created: "2026-01-01T00:00:00Z".into(),
            ..Default::default()
        };
        registry
            .push(&wasm, &wasmix::oci::artifact::build(&wasm, &meta), &parsed)
            .unwrap();
        reg.sign(&sb, &reference);
    };
    let policy = sb.dir.path().join("min.yaml");
    std::fs::write(
        &policy,
        format!(
            "scopes:\n  - scope: {}/wasmix/*\n    minVersion: 1.2.0\n    authorities:\n      - key: {}\n  - scope: \"*\"\n",
            reg.addr,
            reg.trust().public.display()
        ),
    )
    .unwrap();
    publish("1.2.0");
    let fresh = Sandbox::new();
    install(
        &fresh,
        &reg.addr,
        Some(&policy),
        &bundle(&fresh, "v", &reference),
    )
    .expect_code(0);
    // The same tag re-pointed at an older release, properly signed.
    publish("1.1.0");
    let fresh = Sandbox::new();
    let run = install(
        &fresh,
        &reg.addr,
        Some(&policy),
        &bundle(&fresh, "v", &reference),
    );
    refused(
        &fresh,
        &run,
        "version 1.1.0 is older than the scope's minVersion 1.2.0",
    );
}

#[test]
fn keyless_signatures_need_a_real_signature_and_the_right_identity() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let reference = format!("{}/wasmix/exec:1", reg.addr);
    let digest = reg.push_mixin(&sb, exec_wasm(), &reference, false);
    let sigstore = TestSigstore::new();
    std::fs::write(
        sb.dir.path().join("root.json"),
        sigstore.trusted_root_json(),
    )
    .unwrap();
    let policy = |subject_line: &str| {
        let p = sb.dir.path().join("keyless.yaml");
        std::fs::write(
            &p,
            format!(
                "scopes:\n  - scope: {}/wasmix/*\n    authorities:\n      - keyless:\n          issuer: https://issuer.example\n          {subject_line}\n          trustedRoot: root.json\n  - scope: \"*\"\n",
                reg.addr
            ),
        )
        .unwrap();
        p
    };
    let body = payload(&format!("{}/wasmix/exec", reg.addr), &digest);
    let try_with = |layer: SignatureLayer, policy: &Path| {
        put_signatures(&reg, "wasmix/exec", &digest, &[layer]);
        let fresh = Sandbox::new();
        let run = install(
            &fresh,
            &reg.addr,
            Some(policy),
            &bundle(&fresh, "k", &reference),
        );
        (fresh, run)
    };
    let exact = policy("subject: release@example.com");

    let honest = sigstore.sign_layer(
        "https://issuer.example",
        "release@example.com",
        body.clone(),
    );
    let (_, run) = try_with(honest, &exact);
    run.expect_code(0);
    run.expect_stdout("hello from the registry");

    // The certificate copied next to a garbage signature (even one the log
    // recorded).
    let leaf = sigstore.leaf("https://issuer.example", "release@example.com");
    let garbage = leaf.sign(b"not the payload");
    let logged = TestSigstore::hashedrekord(&body, &garbage, &leaf);
    let (fresh, run) = try_with(
        sigstore.layer(body.clone(), &garbage, &leaf, &logged),
        &exact,
    );
    refused(&fresh, &run, "does not verify with the certificate's key");

    // A wrong issuer.
    let wrong = sigstore.sign_layer("https://evil.example", "release@example.com", body.clone());
    let (fresh, run) = try_with(wrong, &exact);
    refused(
        &fresh,
        &run,
        "identity mismatch: signed by release@example.com (issuer https://evil.example)",
    );

    // An unanchored identity regex is refused when the policy is read.
    let loose = policy(r"subjectRegex: release@example\.com");
    let honest = sigstore.sign_layer(
        "https://issuer.example",
        "release@example.com",
        body.clone(),
    );
    let (_, run) = try_with(honest, &loose);
    run.expect_code(2);
    run.expect_stderr("must be anchored with ^ and $");
    let anchored = policy(r"subjectRegex: ^release@example\.com$");
    let honest = sigstore.sign_layer("https://issuer.example", "release@example.com", body);
    let (_, run) = try_with(honest, &anchored);
    run.expect_code(0);

    // A Sigstore bundle (v0.3, DSSE) stored beside the signatures counts too,
    // but only for this digest.
    let bundle_layer = |digest: &str| SignatureLayer {
        media_type: cosign::BUNDLE_MEDIA_TYPE.into(),
        payload: sigstore.bundle("https://issuer.example", "release@example.com", digest),
        annotations: BTreeMap::new(),
    };
    let (_, run) = try_with(bundle_layer(&digest), &exact);
    run.expect_code(0);
    let other = format!("sha256:{}", "0".repeat(64));
    let (fresh, run) = try_with(bundle_layer(&other), &exact);
    refused(&fresh, &run, "digest claim mismatch");

    // `mixin verify --bundle` with the identity on the command line.
    put_signatures(&reg, "wasmix/exec", &digest, &[]);
    let file = sb.dir.path().join("mixin.sigstore.json");
    std::fs::write(
        &file,
        sigstore.bundle("https://issuer.example", "release@example.com", &digest),
    )
    .unwrap();
    let root = sb.dir.path().join("root.json");
    let verify = |subject: &str| {
        w(
            &sb,
            &reg.addr,
            None,
            &[
                "mixin",
                "verify",
                &reference,
                "--bundle",
                file.to_str().unwrap(),
                "--certificate-identity",
                subject,
                "--certificate-oidc-issuer",
                "https://issuer.example",
                "--trusted-root",
                root.to_str().unwrap(),
            ],
        )
    };
    let run = verify("release@example.com");
    run.expect_code(0);
    run.expect_stdout(
        "verified: signed by keyless release@example.com (issuer https://issuer.example)",
    );
    let run = verify("someone@example.com");
    run.expect_code(UNTRUSTED);
    run.expect_stderr("identity mismatch");
}

#[test]
fn mixin_verify_names_who_signed_and_trust_show_prints_the_policy() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let reference = format!("{}/wasmix/exec:1", reg.addr);
    let digest = reg.push_mixin(&sb, exec_wasm(), &reference, false);
    let public = reg.trust().public;
    let verify = |extra: &[&str]| {
        let mut args = vec!["mixin", "verify", reference.as_str()];
        args.extend_from_slice(extra);
        w(&sb, &reg.addr, None, &args)
    };
    let run = verify(&["--key", public.to_str().unwrap()]);
    run.expect_code(UNTRUSTED);
    run.expect_stderr("no signature");
    let key = reg.trust().key;
    w(
        &sb,
        &reg.addr,
        None,
        &[
            "mixin",
            "sign",
            &reference,
            "--key",
            key.to_str().unwrap(),
            "-a",
            "env=prod",
        ],
    )
    .expect_code(0);
    let run = verify(&["--key", public.to_str().unwrap(), "-a", "env=prod"]);
    run.expect_code(0);
    run.expect_stdout(&format!(
        "wasmix/exec@{digest}: verified: signed by key sha256:"
    ));
    let run = verify(&["--key", public.to_str().unwrap(), "-a", "env=staging"]);
    run.expect_code(UNTRUSTED);
    run.expect_stderr("lacks the required claim env=staging");
    // Signing twice keeps both signatures (cosign appends).
    w(
        &sb,
        &reg.addr,
        None,
        &["mixin", "sign", &reference, "--key", key.to_str().unwrap()],
    )
    .expect_code(0);
    assert_eq!(signature_layers(&reg, "wasmix/exec", &digest).len(), 2);

    let policy = reg.trust().policy;
    let run = w(&sb, &reg.addr, Some(&policy), &["trust", "show"]);
    run.expect_code(0);
    run.expect_stdout(&format!("scope {}/*  mode enforce", reg.addr));
    run.expect_stdout("signed by key sha256:");
    let run = w(&sb, &reg.addr, None, &["trust", "show"]);
    run.expect_stdout("built-in default policy");
    run.expect_stdout("no authorities");
}

#[test]
fn key_generate_writes_cosign_keys_that_sign_and_verify() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let prefix = sb.dir.path().join("mine");
    let run = w(
        &sb,
        &reg.addr,
        None,
        &[
            "key",
            "generate",
            "--output-key-prefix",
            prefix.to_str().unwrap(),
        ],
    );
    run.expect_code(0);
    let private = std::fs::read_to_string(prefix.with_extension("key")).unwrap();
    assert!(
        private.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"),
        "{private}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(prefix.with_extension("key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "the private key is private");
    // No overwriting.
    w(
        &sb,
        &reg.addr,
        None,
        &[
            "key",
            "generate",
            "--output-key-prefix",
            prefix.to_str().unwrap(),
        ],
    )
    .expect_code(2);
    let reference = format!("{}/mine/exec:1", reg.addr);
    let key = prefix.with_extension("key");
    w(
        &sb,
        &reg.addr,
        None,
        &[
            "mixin",
            "push",
            exec_wasm().to_str().unwrap(),
            &reference,
            "--sign",
            "--key",
            key.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    let public = prefix.with_extension("pub");
    w(
        &sb,
        &reg.addr,
        None,
        &[
            "mixin",
            "verify",
            &reference,
            "--key",
            public.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    // Another key does not verify it.
    let run = w(
        &sb,
        &reg.addr,
        None,
        &[
            "mixin",
            "verify",
            &reference,
            "--key",
            reg.trust().public.to_str().unwrap(),
        ],
    );
    run.expect_code(UNTRUSTED);
    run.expect_stderr("wrong key");
    // A wrong password is named, and the password never echoed.
    let run = sb.wasmix_env(
        &["mixin", "sign", &reference, "--key", key.to_str().unwrap()],
        &[
            ("WASMIX_INSECURE_REGISTRIES", reg.addr.as_str()),
            ("COSIGN_PASSWORD", "not-it"),
        ],
    );
    run.expect_code(2);
    run.expect_stderr("wrong password");
    assert!(!run.all().contains("not-it"));
}

/// A signed artifact served by a lying registry: (manifest, digest, blobs).
struct Served {
    manifest: Vec<u8>,
    digest: String,
    config: (String, Vec<u8>),
    layer: (String, Vec<u8>),
}

fn artifact(file: &Path, version: &str) -> Served {
    let wasm = std::fs::read(file).unwrap();
    let meta = wasmix::oci::ArtifactMeta {
        name: "exec".into(),
        version: version.into(),
        created: "2026-01-01T00:00:00Z".into(),
        ..Default::default()
    };
    let a = wasmix::oci::artifact::build(&wasm, &meta);
    Served {
        digest: a.manifest_digest.clone(),
        manifest: a.manifest,
        config: (a.config_digest, a.config),
        layer: (a.layer_digest, wasm),
    }
}

/// A lying registry serving `served` honestly by digest, a trust policy
/// for it, and the signature of `served` by that policy's key.
struct Liar {
    reg: LyingRegistry,
    policy: PathBuf,
    _dir: tempfile::TempDir,
}

impl Liar {
    fn new() -> Liar {
        let reg = LyingRegistry::start();
        let dir = tempfile::tempdir().unwrap();
        let pair = wasmix_signing::KeyPair::generate().unwrap();
        std::fs::write(dir.path().join("k.pub"), pair.public().to_pem()).unwrap();
        std::fs::write(
            dir.path().join("k.key"),
            pair.to_encrypted_pem(b"x").unwrap().as_bytes(),
        )
        .unwrap();
        let policy = dir.path().join("trust.yaml");
        std::fs::write(
            &policy,
            format!("scopes:\n  - scope: {}/*\n    authorities:\n      - key: k.pub\n  - scope: \"*\"\n", reg.addr),
        )
        .unwrap();
        Liar {
            reg,
            policy,
            _dir: dir,
        }
    }

    fn key(&self) -> wasmix_signing::KeyPair {
        let pem = std::fs::read(self.policy.with_file_name("k.key")).unwrap();
        wasmix_signing::KeyPair::from_encrypted_pem("k", &pem, b"x").unwrap()
    }

    /// Serve `a`'s blobs honestly and by digest.
    fn serve(&self, a: &Served) {
        self.reg.manifest(
            "lie/exec",
            &a.digest,
            Manifest {
                bodies: vec![a.manifest.clone()],
                claimed_digest: None,
            },
        );
        self.reg.blob(&a.config.0, Blob::Bytes(a.config.1.clone()));
        self.reg.blob(&a.layer.0, Blob::Bytes(a.layer.1.clone()));
    }

    /// Serve a valid signature of `a` by the trusted key.
    fn sign(&self, a: &Served) {
        let body = payload(&format!("{}/lie/exec", self.reg.addr), &a.digest);
        let layer = SignatureLayer::simple(body.clone(), &self.key().sign(&body).unwrap());
        self.signatures(&a.digest, &cosign::build_manifest(&[layer]));
    }

    fn signatures(&self, digest: &str, built: &cosign::BuiltManifest) {
        for (d, b) in &built.blobs {
            self.reg.blob(d, Blob::Bytes(b.clone()));
        }
        self.reg.manifest(
            "lie/exec",
            &cosign::signature_tag(digest).unwrap(),
            Manifest {
                bodies: vec![built.manifest.clone()],
                claimed_digest: None,
            },
        );
    }

    /// Serve `bodies` in turn at tag `1`, with a `Docker-Content-Digest`
    /// header of `claimed` if given.
    fn tag(&self, bodies: Vec<Vec<u8>>, claimed: Option<String>) {
        self.reg.manifest(
            "lie/exec",
            "1",
            Manifest {
                bodies,
                claimed_digest: claimed,
            },
        );
    }

    /// A signed exec artifact and an unsigned probe, both served by digest.
    fn good_and_evil(&self) -> (Served, Served) {
        let good = artifact(&exec_wasm(), "1.0.0");
        let evil = artifact(&probe_wasm(), "1.0.0");
        self.serve(&good);
        self.serve(&evil);
        self.sign(&good);
        (good, evil)
    }

    /// True when blob `digest` was asked for.
    fn fetched(&self, digest: &str) -> bool {
        self.reg.requests().iter().any(|r| r.contains(digest))
    }

    fn install(&self, sb: &Sandbox) -> Run {
        let reference = format!("{}/lie/exec:1", self.reg.addr);
        install(
            sb,
            &self.reg.addr,
            Some(&self.policy),
            &bundle(sb, "lie", &reference),
        )
    }
}

#[test]
fn a_tag_moved_after_verification_is_never_fetched_again() {
    let liar = Liar::new();
    let (good, evil) = liar.good_and_evil();
    // The first request for the tag gets the signed artifact, every later
    // one the unsigned one.
    liar.tag(vec![good.manifest.clone(), evil.manifest.clone()], None);
    let sb = Sandbox::new();
    let run = liar.install(&sb);
    run.expect_code(0);
    run.expect_stdout("hello from the registry");
    let tag_gets = liar
        .reg
        .requests()
        .iter()
        .filter(|r| r.ends_with("/lie/exec/manifests/1"))
        .count();
    assert_eq!(tag_gets, 1, "{:?}", liar.reg.requests());
    assert!(
        !liar.fetched(&evil.layer.0),
        "the moved tag's layer was fetched"
    );
}

#[test]
fn a_lying_content_digest_header_is_not_believed() {
    let liar = Liar::new();
    let (good, evil) = liar.good_and_evil();
    // The unsigned manifest, labelled with the signed one's digest.
    liar.tag(vec![evil.manifest.clone()], Some(good.digest.clone()));
    let sb = Sandbox::new();
    let run = liar.install(&sb);
    refused(
        &sb,
        &run,
        &format!("refusing {}/lie/exec@{}", liar.reg.addr, evil.digest),
    );
    run.expect_stderr("no signature");
    assert!(
        !liar.fetched(&evil.layer.0),
        "the unsigned layer was fetched: {:?}",
        liar.reg.requests()
    );
}

#[test]
fn blobs_that_lie_are_refused_with_bounded_memory() {
    let good = artifact(&exec_wasm(), "1.0.0");
    let cases: Vec<(&str, Blob, &str)> = vec![
        (
            "wrong bytes",
            Blob::Bytes({
                let mut b = good.layer.1.clone();
                b[100] ^= 0xff;
                b
            }),
            "digest mismatch",
        ),
        (
            "truncated",
            Blob::Truncated(good.layer.1.clone()),
            "the transfer broke off after",
        ),
        ("endless", Blob::Endless, "over the limit"),
    ];
    for (what, blob, why) in cases {
        let liar = Liar::new();
        liar.serve(&good);
        liar.sign(&good);
        liar.tag(vec![good.manifest.clone()], None);
        liar.reg.blob(&good.layer.0, blob);
        let sb = Sandbox::new();
        let run = liar.install(&sb);
        assert_ne!(run.code(), 0, "{what}: {}", run.all());
        assert!(run.stderr().contains(why), "{what}: {}", run.all());
        assert!(
            !run.stdout().contains("hello from"),
            "{what}: {}",
            run.all()
        );
        let layer = sb
            .home()
            .join("cache/oci/blobs/sha256")
            .join(&good.layer.0[7..]);
        assert!(!layer.exists(), "{what}: the bad layer was cached");
        let compiled = sb.home().join("cache/compiled");
        assert_eq!(
            std::fs::read_dir(&compiled).map(|d| d.count()).unwrap_or(0),
            0,
            "{what}"
        );
    }
}

#[test]
fn a_signature_manifest_with_a_thousand_layers_is_refused_unread() {
    let liar = Liar::new();
    let good = artifact(&exec_wasm(), "1.0.0");
    liar.serve(&good);
    liar.tag(vec![good.manifest.clone()], None);
    // A thousand small layers (no annotations, so the manifest stays under
    // the size cap and only the layer count can stop it).
    let layers: Vec<Value> = (0..1000)
        .map(|i| {
            serde_json::json!({
                "mediaType": cosign::SIMPLE_SIGNING_MEDIA_TYPE,
                "size": 2,
                "digest": format!("sha256:{:064x}", i),
            })
        })
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2, "digest": format!("sha256:{:064x}", 5000)},
        "layers": layers,
    }))
    .unwrap();
    assert!(manifest.len() < cosign::MAX_MANIFEST);
    liar.reg.manifest(
        "lie/exec",
        &cosign::signature_tag(&good.digest).unwrap(),
        Manifest {
            bodies: vec![manifest],
            claimed_digest: None,
        },
    );
    let sb = Sandbox::new();
    let run = liar.install(&sb);
    run.expect_code(3);
    run.expect_stderr("signature manifest has 1000 layers, more than the 64 wasmix reads");
    let blob_gets = liar
        .reg
        .requests()
        .iter()
        .filter(|r| r.contains("/blobs/"))
        .count();
    assert_eq!(blob_gets, 0, "{:?}", liar.reg.requests());
}

#[test]
fn a_policy_change_verifies_cached_mixins_again_even_offline() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let reference = format!("{}/wasmix/exec:1", reg.addr);
    reg.push_mixin(&sb, exec_wasm(), &reference, false);
    reg.sign(&sb, &reference);
    let b = bundle(&sb, "cached", &reference);
    let policy = reg.trust().policy;
    install(&sb, &reg.addr, Some(&policy), &b).expect_code(0);
    let offline = |policy: &Path| {
        w(
            &sb,
            &reg.addr,
            Some(policy),
            &[
                "install",
                b.to_str().unwrap(),
                "--mixin-path",
                "/nonexistent",
                "--offline",
                "-i",
                "again",
            ],
        )
    };
    offline(&policy).expect_code(0);

    // Trust another key instead: the cached verdict no longer counts, and
    // the cached signatures are checked again without the registry.
    let other = wasmix_signing::KeyPair::generate().unwrap();
    let dir = sb.dir.path().join("other");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("other.pub"), other.public().to_pem()).unwrap();
    let changed = dir.join("trust.yaml");
    std::fs::write(
        &changed,
        format!("scopes:\n  - scope: {}/*\n    authorities:\n      - key: other.pub\n  - scope: \"*\"\n", reg.addr),
    )
    .unwrap();
    let run = offline(&changed);
    run.expect_code(UNTRUSTED);
    run.expect_stderr("wrong key");
    offline(&policy).expect_code(0);
}

#[test]
fn endless_manifests_are_cut_off() {
    // The artifact's manifest never ends.
    let liar = Liar::new();
    liar.reg.endless_manifest("lie/exec", "1");
    let sb = Sandbox::new();
    let run = liar.install(&sb);
    run.expect_code(3);
    run.expect_stderr("lie/exec/manifests/1: ");
    run.expect_stderr("bytes is over the limit of 4194304 bytes");

    // The artifact is fine; its signature manifest never ends.
    let liar = Liar::new();
    let good = artifact(&exec_wasm(), "1.0.0");
    liar.serve(&good);
    liar.tag(vec![good.manifest.clone()], None);
    liar.reg
        .endless_manifest("lie/exec", &cosign::signature_tag(&good.digest).unwrap());
    let sb = Sandbox::new();
    let run = liar.install(&sb);
    run.expect_code(3);
    run.expect_stderr(&format!(
        "is over the limit of {} bytes",
        cosign::MAX_MANIFEST
    ));
    assert!(!liar
        .reg
        .requests()
        .iter()
        .any(|r| r.contains(&good.layer.0)));
}

/// cosign v3 keeps signatures as OCI 1.1 referrers by default: a Sigstore
/// bundle (or a classic signature) in a manifest whose `subject` is the
/// artifact. wasmix finds them through the referrers tag schema when the
/// registry has no referrers API, and verifies them like any other.
#[test]
fn signatures_attached_as_oci_referrers_are_found_and_verified() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let reference = format!("{}/wasmix/exec:1", reg.addr);
    let digest = reg.push_mixin(&sb, exec_wasm(), &reference, false);
    let manifest_size = reg.manifest_raw("wasmix/exec", &format!("@{digest}")).len();
    let sigstore = TestSigstore::new();
    std::fs::write(
        sb.dir.path().join("root.json"),
        sigstore.trusted_root_json(),
    )
    .unwrap();
    let policy = sb.dir.path().join("keyless.yaml");
    std::fs::write(
        &policy,
        format!(
            "scopes:\n  - scope: {}/wasmix/*\n    authorities:\n      - keyless:\n          issuer: https://issuer.example\n          subject: release@example.com\n          trustedRoot: root.json\n  - scope: \"*\"\n",
            reg.addr
        ),
    )
    .unwrap();
    let bundle_for = |d: &str| SignatureLayer {
        media_type: cosign::BUNDLE_MEDIA_TYPE.into(),
        payload: sigstore.bundle("https://issuer.example", "release@example.com", d),
        annotations: BTreeMap::new(),
    };
    let try_install = || {
        let fresh = Sandbox::new();
        let run = install(
            &fresh,
            &reg.addr,
            Some(&policy),
            &bundle(&fresh, "r", &reference),
        );
        (fresh, run)
    };

    // No `.sig` tag, nothing listed: refused, saying where it looked.
    let (fresh, run) = try_install();
    refused(
        &fresh,
        &run,
        "OCI referrers: no referrers API, no tag sha256-",
    );

    // A Sigstore bundle as a referrer, as cosign v3 attaches it.
    put_referrers(
        &reg,
        "wasmix/exec",
        &digest,
        manifest_size,
        &[(cosign::BUNDLE_MEDIA_TYPE, bundle_for(&digest))],
    );
    let (_, run) = try_install();
    run.expect_code(0).expect_stdout("hello from the registry");

    // A bundle for another digest, listed for this one, proves nothing.
    let other = format!("sha256:{}", "0".repeat(64));
    put_referrers(
        &reg,
        "wasmix/exec",
        &digest,
        manifest_size,
        &[(cosign::BUNDLE_MEDIA_TYPE, bundle_for(&other))],
    );
    let (fresh, run) = try_install();
    refused(&fresh, &run, "digest claim mismatch");

    // A classic cosign signature stored as a referrer counts too.
    let body = payload(&format!("{}/wasmix/exec", reg.addr), &digest);
    let classic = sigstore.sign_layer("https://issuer.example", "release@example.com", body);
    put_referrers(
        &reg,
        "wasmix/exec",
        &digest,
        manifest_size,
        &[(cosign::SIGNATURE_ARTIFACT_TYPE, classic)],
    );
    let (_, run) = try_install();
    run.expect_code(0).expect_stdout("hello from the registry");
}

/// A registry's bearer tokens expire; a pull that outlives one asks the
/// token service for a fresh token and carries on, instead of failing.
#[test]
fn an_expired_token_is_renewed_during_a_pull() {
    let good = artifact(&exec_wasm(), "1.0.0");
    let liar = Liar::new();
    liar.serve(&good);
    liar.sign(&good);
    liar.tag(vec![good.manifest.clone()], None);
    // Each token is good for two requests; the pull makes several more.
    liar.reg.require_tokens(2);
    let sb = Sandbox::new();
    let run = liar.install(&sb);
    run.expect_code(0).expect_stdout("hello from the registry");
    let issued = liar
        .reg
        .requests()
        .iter()
        .filter(|r| r.ends_with(" /token"))
        .count();
    assert!(
        issued >= 2,
        "tokens issued: {issued}: {:?}",
        liar.reg.requests()
    );
}
