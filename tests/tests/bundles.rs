//! Bundles as signed OCI artifacts, against a real registry (Debian's
//! `docker-registry`), real keys and signatures, and skopeo as an
//! independent client: publish, install by reference, verify before fetch,
//! version ranges, copy, and what a tampered artifact gets.

use serde_json::Value;
use wasmix_e2e::{RegistryServer, Run, Sandbox};

const UNTRUSTED: i32 = wasmix::exit::ExitClass::Untrusted.code() as i32;

fn w(sb: &Sandbox, reg: &RegistryServer, args: &[&str]) -> Run {
    let policy = reg.trust().policy;
    sb.wasmix_at(&reg.addr, Some(&policy), args, &[])
}

/// Like `w`, with no mixin path: a registry bundle must need none.
fn w_no_mixins(sb: &Sandbox, reg: &RegistryServer, args: &[&str]) -> Run {
    let policy = reg.trust().policy;
    sb.wasmix_at(
        &reg.addr,
        Some(&policy),
        args,
        &[("WASMIX_MIXIN_PATH", "/nonexistent")],
    )
}

/// A bundle whose step runs a script from the bundle directory that reads a
/// data file from it: both must travel in the artifact.
fn greeter(sb: &Sandbox, version: &str, extra_command: Option<&str>) -> std::path::PathBuf {
    let commands = match extra_command {
        Some(c) => format!("[./say.sh, {c}]"),
        None => "[./say.sh]".into(),
    };
    let m = format!(
        "schemaVersion: 1.0.0\nname: greeter\nversion: {version}\nmixins: [exec]\ninstall:\n  - exec:\n      description: Greet\n      command: ./say.sh\n      grants: {{commands: {commands}}}\nupgrade:\n  - exec:\n      description: Greet again\n      command: ./say.sh\n      grants: {{commands: {commands}}}\nuninstall:\n  - exec:\n      command: ./say.sh\n      grants: {{commands: [./say.sh]}}\n"
    );
    let dir = sb.bundle(
        &format!("greeter-{version}"),
        &m,
        &[
            ("say.sh", "#!/bin/sh\ncat data/greeting.txt\n"),
            ("data/greeting.txt", "hello from inside the artifact\n"),
        ],
    );
    wasmix_e2e::make_executable(dir.join("say.sh"));
    dir
}

/// A bundle whose exec mixin comes from registry reference `mixin`, and
/// whose install step echoes `said`.
fn echo_with_registry_mixin(
    sb: &Sandbox,
    name: &str,
    mixin: &str,
    said: &str,
) -> std::path::PathBuf {
    let m = format!(
        "schemaVersion: 1.0.0\nname: {name}\nversion: 1.0.0\nmixins:\n  - exec:\n      reference: {mixin}\ninstall:\n  - exec:\n      command: echo\n      arguments: [{said}]\n      grants: {{commands: [echo]}}\nuninstall:\n  - exec:\n      command: echo\n      grants: {{commands: [echo]}}\n"
    );
    sb.bundle(name, &m, &[])
}

fn publish(
    sb: &Sandbox,
    reg: &RegistryServer,
    dir: &std::path::Path,
    reference: &str,
    sign: bool,
) -> String {
    let key = reg.trust().key;
    let mut args = vec![
        "publish",
        dir.to_str().unwrap(),
        reference,
        "--output",
        "json",
    ];
    if sign {
        args.extend(["--sign", "--key", key.to_str().unwrap()]);
    }
    let run = w(sb, reg, &args);
    run.expect_code(0);
    let doc: Value = serde_json::from_str(&run.stdout()).expect("JSON");
    doc["digest"].as_str().expect("digest").to_string()
}

fn unpacked_trees(sb: &Sandbox) -> usize {
    std::fs::read_dir(sb.home().join("cache/oci/bundles/unpacked"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn a_published_bundle_installs_by_reference_and_the_second_time_costs_nothing() {
    let reg = RegistryServer::start(None);
    let author = Sandbox::new();
    let dir = greeter(&author, "0.1.0", None);
    let reference = format!("{}/bundles/greeter:v0.1.0", reg.addr);
    let digest = publish(&author, &reg, &dir, &reference, true);
    // Deterministic: the same directory publishes to the same digest.
    let again = publish(
        &author,
        &reg,
        &dir,
        &format!("{}/bundles/greeter:again", reg.addr),
        false,
    );
    assert_eq!(digest, again);

    // skopeo reads it as an OCI artifact of wasmix's bundle type.
    let raw = reg.manifest_raw("bundles/greeter", ":v0.1.0");
    assert_eq!(wasmix::oci::sha256_digest(&raw), digest);
    let m: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(m["artifactType"], "application/vnd.wasmix.bundle.v1");
    assert_eq!(
        m["layers"][0]["mediaType"],
        "application/vnd.wasmix.bundle.content.v1.tar+gzip"
    );
    assert_eq!(
        m["layers"][1]["annotations"]["dev.wasmix.mixin.name"],
        "exec"
    );

    // An operator with an empty home and no mixins of their own.
    let op = Sandbox::new();
    let before = reg.wasmix_requests().len();
    let run = w_no_mixins(&op, &reg, &["install", &reference]);
    run.expect_code(0);
    run.expect_stdout("hello from inside the artifact");
    assert!(reg.wasmix_requests().len() > before);
    let show = w(&op, &reg, &["installation", "show", "greeter"]);
    show.expect_stdout(&format!("bundles/greeter@{digest}"));
    // The operator's lock for it lives in their home, not in the cache.
    assert!(op.home().join("locks/greeter.lock").is_file());

    // Again: offline by tag, online by digest, and from the installation
    // alone — no request reaches the registry.
    let before = reg.wasmix_requests();
    w_no_mixins(&op, &reg, &["upgrade", &reference, "--offline"]).expect_code(0);
    let by_digest = format!("{}/bundles/greeter@{digest}", reg.addr);
    w_no_mixins(&op, &reg, &["upgrade", &by_digest]).expect_code(0);
    w_no_mixins(&op, &reg, &["upgrade", "-i", "greeter"])
        .expect_code(0)
        .expect_stdout("hello from inside the artifact");
    assert_eq!(reg.wasmix_requests(), before, "a cached bundle is free");

    // explain and lint take the reference too.
    w(&op, &reg, &["explain", "--reference", &reference])
        .expect_code(0)
        .expect_stdout("./say.sh");
    w(&op, &reg, &["lint", &reference]).expect_code(0);
    // schema too, from the carried mixin (the operator has none).
    let schema = w_no_mixins(&op, &reg, &["schema", &reference]);
    schema.expect_code(0).expect_stdout("\"exec\"");
    let inspect = w(&op, &reg, &["bundle", "inspect", &reference, "-o", "json"]);
    let doc: Value = serde_json::from_str(&inspect.stdout()).unwrap();
    assert_eq!(doc["mixins"]["exec"]["source"], "bundled");
    assert!(doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "data/greeting.txt"));
    assert_eq!(doc["verification"]["status"], "verified");
}

#[test]
fn unsigned_and_tampered_bundles_are_refused_before_anything_is_unpacked() {
    let reg = RegistryServer::start(None);
    let author = Sandbox::new();
    let dir = greeter(&author, "0.1.0", None);

    // Unsigned, under a policy that wants this registry signed.
    let unsigned = format!("{}/bundles/unsigned:v1", reg.addr);
    publish(&author, &reg, &dir, &unsigned, false);
    let op = Sandbox::new();
    let run = w(&op, &reg, &["install", &unsigned]);
    run.expect_code(UNTRUSTED);
    assert!(
        run.stderr().contains("bundles/unsigned"),
        "{}",
        run.stderr()
    );
    assert_eq!(unpacked_trees(&op), 0, "nothing unpacked");

    // Signed, then its content blob replaced in the registry's storage.
    let signed = format!("{}/bundles/tampered:v1", reg.addr);
    publish(&author, &reg, &dir, &signed, true);
    let m: Value = serde_json::from_slice(&reg.manifest_raw("bundles/tampered", ":v1")).unwrap();
    let content = m["layers"][0]["digest"].as_str().unwrap();
    let size = m["layers"][0]["size"].as_u64().unwrap() as usize;
    std::fs::write(reg.blob_file(content), vec![0u8; size]).unwrap();
    let run = w(&op, &reg, &["install", &signed]);
    assert_ne!(run.code(), 0);
    assert!(run.stderr().contains("digest mismatch"), "{}", run.stderr());
    assert_eq!(unpacked_trees(&op), 0, "nothing unpacked");

    // A signed artifact whose tar climbs out of the bundle directory.
    let evil = {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(1);
        h.set_mode(0o644);
        h.as_old_mut().name[..7].copy_from_slice(b"../evil");
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        b.into_inner().unwrap().finish().unwrap()
    };
    let config = serde_json::to_vec(&serde_json::json!({
        "name": "evil", "version": "1.0.0", "contract": wasmix::oci::CONTRACT, "mixins": {}
    }))
    .unwrap();
    let built = wasmix::bundle::artifact::build(
        &serde_json::from_slice(&config).unwrap(),
        evil,
        Default::default(),
    );
    reg.push_raw("bundles/evil", "v1", &built.manifest, &built.blobs);
    let evil_ref = format!("{}/bundles/evil:v1", reg.addr);
    let key = reg.trust().key;
    w(
        &author,
        &reg,
        &["bundle", "sign", &evil_ref, "--key", key.to_str().unwrap()],
    )
    .expect_code(0);
    // A mixin command refuses to sign a bundle (and the other way round).
    let run = w(
        &author,
        &reg,
        &["mixin", "sign", &evil_ref, "--key", key.to_str().unwrap()],
    );
    assert!(
        run.stderr().contains("not a Wasm component artifact"),
        "{}",
        run.stderr()
    );
    let run = w(&op, &reg, &["install", &evil_ref]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("leaves the bundle directory"),
        "{}",
        run.stderr()
    );
    assert_eq!(unpacked_trees(&op), 0, "nothing unpacked");
    assert!(!op.home().join("cache/oci/bundles/evil").exists());

    // A manifest that says its content is smaller than it is: the download
    // stops at the stated size and nothing is kept.
    let content = {
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("porter.yaml"), "name: x\n").unwrap();
        std::fs::write(src.path().join("big"), vec![7u8; 64 << 10]).unwrap();
        wasmix::bundle::pack::pack(src.path(), &Default::default())
            .unwrap()
            .bytes
    };
    let size = content.len();
    let built = wasmix::bundle::artifact::build(
        &serde_json::from_slice(&config).unwrap(),
        content,
        Default::default(),
    );
    let lying = String::from_utf8(built.manifest.clone()).unwrap().replace(
        &format!("\"size\":{size}"),
        &format!("\"size\":{}", size - 10),
    );
    reg.push_raw("bundles/lying", "v1", lying.as_bytes(), &built.blobs);
    let lying_ref = format!("{}/bundles/lying:v1", reg.addr);
    w(
        &author,
        &reg,
        &["bundle", "sign", &lying_ref, "--key", key.to_str().unwrap()],
    )
    .expect_code(0);
    let run = w(&op, &reg, &["install", &lying_ref]);
    assert_ne!(run.code(), 0);
    assert!(run.stderr().contains("over the limit"), "{}", run.stderr());
    assert_eq!(unpacked_trees(&op), 0, "nothing unpacked");

    // A truncated blob in the registry's storage.
    let truncated = format!("{}/bundles/truncated:v1", reg.addr);
    publish(
        &author,
        &reg,
        &greeter(&author, "9.0.0", None),
        &truncated,
        true,
    );
    let m: Value = serde_json::from_slice(&reg.manifest_raw("bundles/truncated", ":v1")).unwrap();
    let content = m["layers"][0]["digest"].as_str().unwrap();
    let blob = std::fs::read(reg.blob_file(content)).unwrap();
    std::fs::write(reg.blob_file(content), &blob[..blob.len() / 2]).unwrap();
    let run = w(&op, &reg, &["install", &truncated]);
    assert_ne!(run.code(), 0);
    assert!(
        run.stderr().lines().count() == 1,
        "one clear line: {}",
        run.stderr()
    );
    assert_eq!(unpacked_trees(&op), 0, "nothing unpacked");
}

#[test]
fn version_ranges_pick_the_newest_tag_and_copies_keep_their_signatures() {
    let reg = RegistryServer::start(None);
    let author = Sandbox::new();
    let repo = format!("{}/bundles/greeter", reg.addr);
    for v in ["0.1.0", "0.2.0", "1.0.0"] {
        let dir = greeter(&author, v, None);
        publish(&author, &reg, &dir, &format!("{repo}:v{v}"), true);
    }
    let tags = w(&author, &reg, &["bundle", "list-tags", &repo]);
    tags.expect_code(0);
    let lines: Vec<&str> = tags
        .0
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    assert_eq!(lines, ["v1.0.0", "v0.2.0", "v0.1.0"]);

    let op = Sandbox::new();
    w(
        &op,
        &reg,
        &["install", "--reference", &repo, "--version", "<1"],
    )
    .expect_code(0);
    let list = w(&op, &reg, &["installation", "list", "-o", "json"]);
    let doc: Value = serde_json::from_str(&list.stdout()).unwrap();
    assert_eq!(doc[0]["version"], "0.2.0");
    let none = w(&op, &reg, &["bundle", "pull", &repo, "--version", ">=2"]);
    none.expect_code(2);
    assert!(
        none.stderr().contains("no tag satisfies >=2"),
        "{}",
        none.stderr()
    );

    // A copy carries its signatures: it verifies at the destination.
    let copy = format!("{}/mirror/greeter:v1.0.0", reg.addr);
    w(
        &author,
        &reg,
        &["bundle", "copy", &format!("{repo}:v1.0.0"), &copy],
    )
    .expect_code(0);
    let fresh = Sandbox::new();
    w(&fresh, &reg, &["bundle", "verify", &copy]).expect_code(0);
    w_no_mixins(&fresh, &reg, &["install", &copy])
        .expect_code(0)
        .expect_stdout("hello from inside the artifact");
}

#[test]
fn an_upgrade_to_a_bundle_granting_more_needs_acceptance() {
    let reg = RegistryServer::start(None);
    let author = Sandbox::new();
    let v1 = format!("{}/bundles/greeter:v1", reg.addr);
    let v2 = format!("{}/bundles/greeter:v2", reg.addr);
    publish(&author, &reg, &greeter(&author, "1.0.0", None), &v1, true);
    publish(
        &author,
        &reg,
        &greeter(&author, "2.0.0", Some("cat")),
        &v2,
        true,
    );
    let op = Sandbox::new();
    w_no_mixins(&op, &reg, &["install", &v1]).expect_code(0);
    let run = w_no_mixins(&op, &reg, &["upgrade", &v2]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("command cat") && run.stderr().contains("--accept-capabilities"),
        "{}",
        run.stderr()
    );
    w_no_mixins(&op, &reg, &["upgrade", &v2, "--accept-capabilities"]).expect_code(0);
}

#[test]
fn a_registry_mixin_is_pinned_and_a_different_one_under_its_tag_is_not_used() {
    let reg = RegistryServer::start(None);
    let author = Sandbox::new();
    let mixin = format!("{}/mixins/exec:v1", reg.addr);
    let exec = wasmix_e2e::mixin_dir().join("wasmix_exec.wasm");
    let pinned = reg.push_mixin(&author, &exec, &mixin, true);
    let dir = echo_with_registry_mixin(&author, "pinned", &mixin, "pinned mixin ran");
    let reference = format!("{}/bundles/pinned:v1", reg.addr);
    publish(&author, &reg, &dir, &reference, true);
    let inspect = w(
        &author,
        &reg,
        &["bundle", "inspect", &reference, "-o", "json"],
    );
    let doc: Value = serde_json::from_str(&inspect.stdout()).unwrap();
    assert_eq!(doc["mixins"]["exec"]["source"], "registry");
    assert_eq!(doc["mixins"]["exec"]["digest"], pinned.as_str());

    let op = Sandbox::new();
    w_no_mixins(&op, &reg, &["install", &reference])
        .expect_code(0)
        .expect_stdout("pinned mixin ran");

    // The tag now names another component, and the pinned one is gone.
    let probe = wasmix_e2e::mixin_dir().join("wasmix_probe.wasm");
    let other = reg.push_mixin(&author, &probe, &mixin, true);
    assert_ne!(other, pinned);
    reg.delete_digest("mixins/exec", &pinned);
    let fresh = Sandbox::new();
    let run = w_no_mixins(&fresh, &reg, &["install", &reference]);
    assert_ne!(run.code(), 0);
    assert!(run.stderr().contains(&pinned), "{}", run.stderr());
    assert!(!run.all().contains("pinned mixin ran"));
}

#[test]
fn an_archive_installs_with_no_registry_and_is_verified_on_the_far_side() {
    let mut reg = RegistryServer::start(None);
    let author = Sandbox::new();
    let mixin = format!("{}/mixins/exec:v1", reg.addr);
    let exec = wasmix_e2e::mixin_dir().join("wasmix_exec.wasm");
    reg.push_mixin(&author, &exec, &mixin, true);
    let dir = echo_with_registry_mixin(&author, "airgap", &mixin, "installed from the archive");
    let reference = format!("{}/bundles/airgap:v1", reg.addr);
    publish(&author, &reg, &dir, &reference, true);
    let file = author.home().join("airgap.tgz");
    let run = w(
        &author,
        &reg,
        &["bundle", "archive", &reference, file.to_str().unwrap()],
    );
    run.expect_code(0).expect_stdout("1 registry mixin(s)");
    let policy = reg.trust().policy;
    reg.stop();

    // The far side: no registry, no mixins, the same trust policy.
    let far = Sandbox::new();
    let run = far.wasmix_env(
        &["install", "--from-archive", file.to_str().unwrap()],
        &[
            ("WASMIX_TRUST_POLICY", policy.to_str().unwrap()),
            ("WASMIX_MIXIN_PATH", "/nonexistent"),
        ],
    );
    run.expect_code(0)
        .expect_stdout("installed from the archive");

    // A policy that trusts another key refuses it, on the far side too.
    let other = Sandbox::new();
    let key = wasmix_signing::KeyPair::generate().unwrap();
    let pubkey = other.home().join("other.pub");
    std::fs::create_dir_all(other.home()).unwrap();
    std::fs::write(&pubkey, key.public().to_pem()).unwrap();
    let strict = other.home().join("trust.yaml");
    std::fs::write(
        &strict,
        format!(
            "scopes:\n  - scope: \"*\"\n    authorities:\n      - key: {}\n",
            pubkey.display()
        ),
    )
    .unwrap();
    let run = other.wasmix_env(
        &["install", "--from-archive", file.to_str().unwrap()],
        &[("WASMIX_TRUST_POLICY", strict.to_str().unwrap())],
    );
    run.expect_code(UNTRUSTED);

    // A damaged archive is refused whole.
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    let damaged = far.home().join("damaged.tgz");
    std::fs::write(&damaged, bytes).unwrap();
    let fresh = Sandbox::new();
    let run = fresh.wasmix(&["install", "--from-archive", damaged.to_str().unwrap()]);
    assert_ne!(run.code(), 0);
    assert!(!run.all().contains("installed from the archive"));
    assert_eq!(unpacked_trees(&fresh), 0);
}

#[test]
fn publish_without_a_reference_goes_where_porter_would_put_it() {
    let reg = RegistryServer::start(None);
    let author = Sandbox::new();
    let dir = greeter(&author, "0.3.0", None);
    // No reference and no `registry:`: refused, saying what to add.
    let run = w(&author, &reg, &["publish", dir.to_str().unwrap()]);
    run.expect_code(2);
    assert!(run.stderr().contains("`registry:`"), "{}", run.stderr());
    // Porter's rule: `registry:` + name + `:v` + version.
    let manifest = std::fs::read_to_string(dir.join("porter.yaml")).unwrap();
    std::fs::write(
        dir.join("porter.yaml"),
        format!("registry: {}/team\n{manifest}", reg.addr),
    )
    .unwrap();
    w(&author, &reg, &["publish", dir.to_str().unwrap()]).expect_code(0);
    w(
        &author,
        &reg,
        &["bundle", "list-tags", &format!("{}/team/greeter", reg.addr)],
    )
    .expect_code(0)
    .expect_stdout("v0.3.0");
    // `reference:` wins over `registry:`.
    std::fs::write(
        dir.join("porter.yaml"),
        format!("reference: {}/exact/place:mine\n{manifest}", reg.addr),
    )
    .unwrap();
    w(&author, &reg, &["publish", dir.to_str().unwrap()]).expect_code(0);
    w(
        &author,
        &reg,
        &["bundle", "list-tags", &format!("{}/exact/place", reg.addr)],
    )
    .expect_code(0)
    .expect_stdout("mine");
}

#[test]
fn skopeo_and_oras_copy_and_read_a_published_bundle() {
    let reg = RegistryServer::start(None);
    let author = Sandbox::new();
    let dir = greeter(&author, "0.1.0", None);
    let reference = format!("{}/bundles/greeter:v1", reg.addr);
    let digest = publish(&author, &reg, &dir, &reference, true);

    // skopeo copies the artifact and its cosign signature tag; the copy
    // keeps its digest and verifies where it landed.
    let sig_tag = format!("sha256-{}.sig", digest.trim_start_matches("sha256:"));
    for tag in ["v1", sig_tag.as_str()] {
        let out = std::process::Command::new("skopeo")
            .args([
                "copy",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                &format!("docker://{}/bundles/greeter:{tag}", reg.addr),
                &format!("docker://{}/skopeo/greeter:{tag}", reg.addr),
            ])
            .output()
            .expect("skopeo");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let copied = reg.manifest_raw("skopeo/greeter", ":v1");
    assert_eq!(wasmix::oci::sha256_digest(&copied), digest);
    let op = Sandbox::new();
    w_no_mixins(
        &op,
        &reg,
        &["install", &format!("{}/skopeo/greeter:v1", reg.addr)],
    )
    .expect_code(0)
    .expect_stdout("hello from inside the artifact");

    // The PyPI ORAS client pulls every layer, titled, and they are what
    // wasmix packed: the bundle directory and the carried component.
    let out_dir = author.home().join("oras-out");
    let script = format!(
        "import oras.client\nc = oras.client.OrasClient(hostname='{addr}', insecure=True)\nm = c.get_manifest('{addr}/bundles/greeter:v1')\nprint(m['artifactType'])\nfor f in c.pull(target='{addr}/bundles/greeter:v1', outdir='{out}'):\n    print(f)\n",
        addr = reg.addr,
        out = out_dir.display()
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "oras: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("application/vnd.wasmix.bundle.v1"),
        "{stdout}"
    );
    let wasm = std::fs::read(out_dir.join("exec.wasm")).expect("oras wrote exec.wasm");
    assert_eq!(
        wasm,
        std::fs::read(wasmix_e2e::mixin_dir().join("wasmix_exec.wasm")).unwrap()
    );
    let tgz = std::fs::read(out_dir.join("bundle.tar.gz")).expect("oras wrote bundle.tar.gz");
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&tgz[..]));
    for e in archive.entries().unwrap() {
        names.push(e.unwrap().path().unwrap().display().to_string());
    }
    assert!(
        names.contains(&"data/greeting.txt".to_string()),
        "{names:?}"
    );
}

/// Docker's config.json for `sb` with `user:password` for `addr`.
fn docker_login(sb: &Sandbox, addr: &str, user: &str, password: &str) {
    use base64::Engine as _;
    let dir = sb.dir.path().join("docker");
    std::fs::create_dir_all(&dir).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    std::fs::write(
        dir.join("config.json"),
        format!("{{\"auths\": {{\"{addr}\": {{\"auth\": \"{auth}\"}}}}}}"),
    )
    .unwrap();
}

#[test]
fn bundles_go_through_a_registry_that_wants_credentials() {
    let reg = RegistryServer::start(Some(("bundler", "s3cret-pass")));
    let author = Sandbox::new();
    let dir = greeter(&author, "0.1.0", None);
    let reference = format!("{}/bundles/greeter:v1", reg.addr);
    let run = w(
        &author,
        &reg,
        &["publish", dir.to_str().unwrap(), &reference],
    );
    run.expect_code(3);
    run.expect_stderr("wasmix registry login");
    docker_login(&author, &reg.addr, "bundler", "s3cret-pass");
    publish(&author, &reg, &dir, &reference, true);

    let op = Sandbox::new();
    let run = w_no_mixins(&op, &reg, &["install", &reference]);
    run.expect_code(3);
    assert!(
        run.stderr().contains("authentication failed"),
        "{}",
        run.all()
    );
    assert_eq!(unpacked_trees(&op), 0);
    docker_login(&op, &reg.addr, "bundler", "s3cret-pass");
    w_no_mixins(&op, &reg, &["install", &reference])
        .expect_code(0)
        .expect_stdout("hello from inside the artifact");
}

#[test]
fn a_signature_made_for_another_bundle_does_not_vouch_for_this_one() {
    let reg = RegistryServer::start(None);
    let author = Sandbox::new();
    let signed = format!("{}/bundles/greeter:signed", reg.addr);
    let unsigned = format!("{}/bundles/greeter:unsigned", reg.addr);
    let a = publish(
        &author,
        &reg,
        &greeter(&author, "1.0.0", None),
        &signed,
        true,
    );
    let b = publish(
        &author,
        &reg,
        &greeter(&author, "2.0.0", None),
        &unsigned,
        false,
    );
    // A's signature manifest, copied under B's signature tag.
    let tag = |d: &str| format!("sha256-{}.sig", d.trim_start_matches("sha256:"));
    let out = std::process::Command::new("skopeo")
        .args([
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://{}/bundles/greeter:{}", reg.addr, tag(&a)),
            &format!("docker://{}/bundles/greeter:{}", reg.addr, tag(&b)),
        ])
        .output()
        .expect("skopeo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let op = Sandbox::new();
    let run = w_no_mixins(&op, &reg, &["install", &unsigned]);
    run.expect_code(UNTRUSTED);
    assert!(run.stderr().contains(&b), "{}", run.stderr());
    assert_eq!(unpacked_trees(&op), 0);
}

#[test]
fn a_run_writes_in_its_own_copy_and_the_cached_bundle_never_changes() {
    let reg = RegistryServer::start(None);
    let author = Sandbox::new();
    let m = "schemaVersion: 1.0.0\nname: writer\nversion: 1.0.0\nmixins: [exec]\ninstall:\n  - exec:\n      command: ./write.sh\n      grants: {commands: [./write.sh]}\nuninstall:\n  - exec:\n      command: ./write.sh\n      grants: {commands: [./write.sh]}\n";
    let dir = author.bundle(
        "writer",
        m,
        &[(
            "write.sh",
            "#!/bin/sh\ncat out.txt 2>/dev/null && echo found-previous-output\necho written > out.txt\necho changed >> porter.yaml\n",
        )],
    );
    wasmix_e2e::make_executable(dir.join("write.sh"));
    let reference = format!("{}/bundles/writer:v1", reg.addr);
    let digest = publish(&author, &reg, &dir, &reference, true);
    let op = Sandbox::new();
    for name in ["one", "two"] {
        let run = w_no_mixins(&op, &reg, &["install", &reference, "-i", name]);
        run.expect_code(0);
        assert!(
            !run.stdout().contains("found-previous-output"),
            "{}",
            run.stdout()
        );
    }
    let tree = op
        .home()
        .join("cache/oci/bundles/unpacked")
        .join(digest.trim_start_matches("sha256:"));
    assert!(
        !tree.join("out.txt").exists(),
        "nothing written into the cache"
    );
    let manifest = std::fs::read_to_string(tree.join("porter.yaml")).unwrap();
    assert!(!manifest.contains("changed"));
    // And no working copy is left behind.
    let left = std::fs::read_dir(op.home().join("tmp")).unwrap().count();
    assert_eq!(left, 0);
}

#[test]
fn installation_apply_installs_upgrades_and_leaves_alone_as_porter_does() {
    let reg = RegistryServer::start(None);
    let author = Sandbox::new();
    let m = "schemaVersion: 1.0.0\nname: greeter\nversion: VERSION\nmixins: [exec]\nparameters:\n  - name: who\n    type: string\n    default: nobody\ninstall:\n  - exec:\n      command: echo\n      arguments: [\"installed VERSION for ${ bundle.parameters.who }\"]\n      grants: {commands: [echo]}\nupgrade:\n  - exec:\n      command: echo\n      arguments: [\"upgraded to VERSION for ${ bundle.parameters.who }\"]\n      grants: {commands: [echo]}\nuninstall:\n  - exec:\n      command: echo\n      grants: {commands: [echo]}\n";
    let repo = format!("{}/bundles/greeter", reg.addr);
    for v in ["1.0.0", "1.1.0"] {
        let dir = author.bundle(&format!("g{v}"), &m.replace("VERSION", v), &[]);
        publish(&author, &reg, &dir, &format!("{repo}:v{v}"), true);
    }
    let op = Sandbox::new();
    let doc = |version: &str, who: &str| {
        let path = op.home().join(format!("inst-{version}-{who}.yaml"));
        std::fs::create_dir_all(op.home()).unwrap();
        std::fs::write(
            &path,
            format!("schemaType: Installation\nschemaVersion: 1.0.2\nname: hello\nbundle:\n  repository: {repo}\n  version: {version}\nparameters:\n  who: {who}\n"),
        )
        .unwrap();
        path
    };
    let apply = |path: &std::path::Path| {
        w_no_mixins(
            &op,
            &reg,
            &["installation", "apply", path.to_str().unwrap()],
        )
    };
    apply(&doc("1.0.0", "ann"))
        .expect_code(0)
        .expect_stdout("installed 1.0.0 for ann");
    apply(&doc("1.0.0", "ann"))
        .expect_code(0)
        .expect_stdout("up to date");
    apply(&doc("1.0.0", "bob"))
        .expect_code(0)
        .expect_stdout("upgraded to 1.0.0 for bob");
    apply(&doc("1.1.0", "bob"))
        .expect_code(0)
        .expect_stdout("upgraded to 1.1.0 for bob");
    let show = w(&op, &reg, &["installation", "list", "-o", "json"]);
    let list: Value = serde_json::from_str(&show.stdout()).unwrap();
    assert_eq!(list[0]["version"], "1.1.0");
    // What wasmix cannot honour is refused, not dropped.
    let bad = op.home().join("bad.yaml");
    std::fs::write(&bad, format!("schemaVersion: 1.0.2\nname: hello\nnamespace: dev\nbundle:\n  repository: {repo}\n  tag: v1.0.0\n")).unwrap();
    let run = apply(&bad);
    run.expect_code(2);
    assert!(run.stderr().contains("namespace"), "{}", run.stderr());
}

#[test]
fn problems_in_a_registry_bundle_are_located_by_its_reference() {
    let reg = RegistryServer::start(None);
    let author = Sandbox::new();
    let m = "schemaVersion: 1.0.0\nname: kube\nversion: 1.0.0\nmixins: [exec]\ncredentials:\n  - name: kubeconfig\n    path: /root/.kube/config\ninstall:\n  - exec:\n      command: echo\n      grants: {commands: [echo], credentials: [kubeconfig]}\nuninstall:\n  - exec:\n      command: echo\n      grants: {commands: [echo]}\n";
    let dir = author.bundle("kube", m, &[]);
    let reference = format!("{}/bundles/kube:v1", reg.addr);
    let digest = publish(&author, &reg, &dir, &reference, true);
    let op = Sandbox::new();
    // The host driver cannot place /root/.kube/config: refused, located.
    let run = w_no_mixins(
        &op,
        &reg,
        &["install", &reference, "--cred", "kubeconfig=value:x"],
    );
    run.expect_code(2);
    let err = run.stderr();
    assert!(
        err.contains(&format!("{reference}@{digest}/porter.yaml:9")),
        "{err}"
    );
    assert!(!err.contains("/tmp/") && !err.contains("bundle-"), "{err}");
}
