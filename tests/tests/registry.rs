//! Mixins as OCI artifacts against a real registry (Debian's
//! `docker-registry`), with `skopeo` and `oras` as independent clients.

use serde_json::Value;
use wasmix_e2e::{mixin_dir, RegistryServer, Run, Sandbox};

/// Run the CLI against `reg`: plain HTTP allowed for it only, and a private
/// Docker config so the operator's real credentials are never read.
fn w(sb: &Sandbox, reg: &RegistryServer, args: &[&str]) -> Run {
    w_env(sb, reg, args, &[])
}

fn w_env(sb: &Sandbox, reg: &RegistryServer, args: &[&str], env: &[(&str, &str)]) -> Run {
    sb.wasmix_at(&reg.addr, Some(&reg.trust().policy), args, env)
}

/// `wasmix install BUNDLE` with mixins from registries only.
fn install(sb: &Sandbox, reg: &RegistryServer, bundle: &std::path::Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "install",
        bundle.to_str().unwrap(),
        "--mixin-path",
        "/nonexistent",
    ];
    args.extend_from_slice(extra);
    w(sb, reg, &args)
}

/// Push `file` (`name:media-type`, in `dir`, beside a `config.json`) with
/// the PyPI oras client: an independent writer of OCI artifacts.
fn oras_push(
    reg: &RegistryServer,
    dir: &std::path::Path,
    target: &str,
    file: &str,
    config_media: &str,
) {
    let script = format!(
        "import oras.client, os\nos.chdir('{}')\noras.client.OrasClient(hostname='{}', insecure=True).push(target='{target}', files=['{file}'], manifest_config='config.json:{config_media}', disable_path_validation=True)\n",
        dir.display(),
        reg.addr
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "oras push: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn exec_wasm() -> String {
    mixin_dir().join("wasmix_exec.wasm").display().to_string()
}

fn bundle(sb: &Sandbox, name: &str, reference: &str) -> std::path::PathBuf {
    let m = format!(
        "schemaVersion: 1.0.0\nname: {name}\nversion: 0.1.0\nmixins:\n  - exec:\n      reference: {reference}\ninstall:\n  - exec:\n      command: echo\n      arguments: [hello from the registry]\n      grants: {{commands: [echo]}}\nuninstall:\n  - exec:\n      command: echo\n      grants: {{commands: [echo]}}\n"
    );
    sb.bundle(name, &m, &[])
}

#[test]
fn pushed_artifacts_follow_the_wasm_layout_and_install_offline_from_the_cache() {
    let mut reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let reference = format!("{}/wasmix/exec:0.1.0", reg.addr);
    let digest = reg.push_mixin(&sb, exec_wasm(), &reference, true);

    // An independent client reads what wasmix pushed.
    let out = std::process::Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ])
        .output()
        .expect("skopeo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.version"],
        "0.1.0"
    );
    assert_eq!(
        wasmix::oci::sha256_digest(&out.stdout),
        digest,
        "the digest wasmix reports is the manifest's"
    );

    // A clean cache (new home): the install pulls, pins, and runs.
    let sb = Sandbox::new();
    let b = bundle(&sb, "reg", &reference);
    let run = install(&sb, &reg, &b, &[]);
    run.expect_code(0);
    run.expect_stdout("hello from the registry");
    let lock = std::fs::read_to_string(b.join("wasmix.lock")).unwrap();
    assert!(lock.contains(&digest), "{lock}");

    // With the registry gone, the second install needs no network at all.
    reg.stop();
    install(&sb, &reg, &b, &["--offline"]).expect_code(0);
    install(&sb, &reg, &b, &[]).expect_code(0);

    let list = w(&sb, &reg, &["mixin", "list", "--output", "json"]);
    let doc: Value = serde_json::from_str(&list.stdout()).unwrap();
    assert_eq!(doc["cached"][0]["digest"], digest.as_str());
    assert_eq!(doc["cached"][0]["mixin"], "exec");

    // A clean cache and no registry: offline fails, naming what is missing.
    let fresh = Sandbox::new();
    std::fs::copy(
        b.join("porter.yaml"),
        fresh.bundle("again", "", &[]).join("porter.yaml"),
    )
    .unwrap();
    std::fs::copy(
        b.join("wasmix.lock"),
        fresh.dir.path().join("again/wasmix.lock"),
    )
    .unwrap();
    let run = w(
        &fresh,
        &reg,
        &[
            "install",
            fresh.dir.path().join("again").to_str().unwrap(),
            "--mixin-path",
            "/nonexistent",
            "--offline",
        ],
    );
    run.expect_code(3);
    assert!(
        run.stderr()
            .contains("is not in the cache and --offline forbids the network"),
        "{}",
        run.all()
    );
}

#[test]
fn oras_reads_what_wasmix_pushes_and_wasmix_runs_what_oras_pushes() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let reference = format!("{}/wasmix/exec:0.1.0", reg.addr);
    reg.push_mixin(&sb, exec_wasm(), &reference, true);
    let out_dir = sb.dir.path().join("oras-out");
    let foreign = format!("{}/oras/exec:1.0", reg.addr);
    let work = sb.dir.path().join("oras-push");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::copy(exec_wasm(), work.join("exec.wasm")).unwrap();
    std::fs::write(
        work.join("config.json"),
        r#"{"architecture":"wasm","os":"wasip2","layerDigests":[]}"#,
    )
    .unwrap();
    let script = format!(
        r#"
import oras.client, os
c = oras.client.OrasClient(hostname="{addr}", insecure=True)
files = c.pull(target="{reference}", outdir="{out}")
print("pulled", files)
os.chdir("{work}")
c.push(target="{foreign}", files=["exec.wasm:application/wasm"], manifest_config="config.json:application/vnd.wasm.config.v0+json", disable_path_validation=True)
print("pushed")
"#,
        addr = reg.addr,
        out = out_dir.display(),
        work = work.display()
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "oras: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let pulled = std::fs::read(out_dir.join("exec.wasm")).expect("oras wrote exec.wasm");
    assert_eq!(pulled, std::fs::read(exec_wasm()).unwrap());

    reg.sign(&sb, &foreign);
    let b = bundle(&sb, "from-oras", &foreign);
    let run = install(&sb, &reg, &b, &[]);
    run.expect_code(0);
    run.expect_stdout("hello from the registry");
}

#[test]
fn tampered_oversized_and_foreign_artifacts_are_refused() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let reference = format!("{}/wasmix/exec:0.1.0", reg.addr);
    reg.push_mixin(&sb, exec_wasm(), &reference, true);
    let wasm = std::fs::read(exec_wasm()).unwrap();
    let layer = wasmix::oci::sha256_digest(&wasm);

    // Over the configured size: refused from the manifest, before any download.
    let fresh = Sandbox::new();
    let run = w_env(
        &fresh,
        &reg,
        &["mixin", "pull", &reference],
        &[("WASMIX_MAX_MIXIN_SIZE", "100000")],
    );
    run.expect_code(3);
    run.expect_stderr("is over the limit of 100000 bytes");

    // The registry's copy of the layer is corrupted: the digest check refuses it,
    // and the cache keeps nothing of it.
    let blob = reg.blob_file(&layer);
    let mut bad = wasm.clone();
    bad[1000] ^= 0xff;
    std::fs::write(&blob, &bad).unwrap();
    assert_ne!(
        wasmix::oci::sha256_digest(&std::fs::read(&blob).unwrap()),
        layer
    );
    let run = w(&fresh, &reg, &["mixin", "pull", &reference]);
    run.expect_code(3);
    run.expect_stderr("digest mismatch");
    let cache = fresh.home().join("cache/oci");
    let blobs: Vec<_> = std::fs::read_dir(cache.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        !blobs.iter().any(|b| layer.ends_with(b.to_str().unwrap())),
        "the bad layer was kept"
    );
    assert_eq!(
        std::fs::read_dir(cache.join("tmp")).unwrap().count(),
        0,
        "temporary files were left behind"
    );
    assert_eq!(
        std::fs::read_dir(cache.join("entries")).unwrap().count(),
        0,
        "an entry was recorded"
    );

    // Longer than its descriptor says: stopped at the descriptor's size.
    let mut long = wasm.clone();
    long.extend(std::iter::repeat_n(0u8, 1 << 20));
    std::fs::write(&blob, &long).unwrap();
    let run = w(&fresh, &reg, &["mixin", "pull", &reference]);
    run.expect_code(3);
    run.expect_stderr("over the limit of");
    std::fs::write(&blob, &wasm).unwrap();

    // A foreign layer media type is not a mixin.
    let work = sb.dir.path().join("oras");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("x.bin"), b"not wasm").unwrap();
    std::fs::write(work.join("config.json"), "{}").unwrap();
    let foreign = format!("{}/other/blob:1", reg.addr);
    oras_push(
        &reg,
        &work,
        &foreign,
        "x.bin:application/octet-stream",
        "application/vnd.oci.image.config.v1+json",
    );
    let run = w(&fresh, &reg, &["mixin", "pull", &foreign]);
    run.expect_code(3);
    assert!(
        run.stderr()
            .contains("not a Wasm component artifact: config media type"),
        "{}",
        run.all()
    );
}

#[test]
fn a_moved_tag_is_not_followed_until_the_lock_is_updated() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let reference = format!("{}/wasmix/exec:stable", reg.addr);
    let first = reg.push_mixin(&sb, exec_wasm(), &reference, true);
    let b = bundle(&sb, "moving", &reference);
    install(&sb, &reg, &b, &[]).expect_code(0);
    // Someone re-points the tag at another component.
    let second = reg.push_mixin(&sb, mixin_dir().join("wasmix_probe.wasm"), &reference, true);
    assert_ne!(first, second);
    let run = w(&sb, &reg, &["lock", b.to_str().unwrap()]);
    run.expect_code(2);
    assert!(
        run.stderr()
            .contains(&format!("locked {first}, now {second}")),
        "{}",
        run.all()
    );
    // Installs keep running the locked digest, even from a clean cache.
    let clean = Sandbox::new();
    std::fs::create_dir_all(clean.dir.path()).unwrap();
    let run = install(&clean, &reg, &b, &[]);
    run.expect_code(0);
    run.expect_stdout("hello from the registry");
    assert!(std::fs::read_to_string(b.join("wasmix.lock"))
        .unwrap()
        .contains(&first));
    // Following the tag is explicit.
    w(&sb, &reg, &["lock", b.to_str().unwrap(), "--update"]).expect_code(0);
    assert!(std::fs::read_to_string(b.join("wasmix.lock"))
        .unwrap()
        .contains(&second));
}

#[test]
fn registries_with_auth_need_credentials_and_say_so() {
    let reg = RegistryServer::start(Some(("mixer", "s3cret-pass")));
    let sb = Sandbox::new();
    let reference = format!("{}/wasmix/exec:0.1.0", reg.addr);
    let run = w(&sb, &reg, &["mixin", "push", &exec_wasm(), &reference]);
    run.expect_code(3);
    assert!(
        run.stderr()
            .contains(&format!("registry {}: authentication failed", reg.addr)),
        "{}",
        run.all()
    );
    run.expect_stderr("wasmix registry login");

    let login = |password: &str| {
        let docker = sb.dir.path().join("docker");
        let mut child = std::process::Command::new(wasmix_e2e::wasmix_bin())
            .args([
                "registry",
                "login",
                &reg.addr,
                "-u",
                "mixer",
                "--password-stdin",
            ])
            .env("WASMIX_HOME", sb.home())
            .env("WASMIX_INSECURE_REGISTRIES", &reg.addr)
            .env("DOCKER_CONFIG", &docker)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        Run(child.wait_with_output().unwrap())
    };
    let bad = login("wrong");
    assert_ne!(bad.code(), 0, "{}", bad.all());
    assert!(
        !bad.stderr().contains("wrong"),
        "the password is not echoed: {}",
        bad.all()
    );
    login("s3cret-pass").expect_code(0);
    let config = std::fs::read_to_string(sb.dir.path().join("docker/config.json")).unwrap();
    assert!(
        config.contains(&reg.addr) && !config.contains("s3cret-pass"),
        "stored base64, not plain: {config}"
    );
    reg.push_mixin(&sb, exec_wasm(), &reference, true);
    let fresh_home = sb.dir.path().join("home2");
    let run = w_env(
        &sb,
        &reg,
        &["mixin", "pull", &reference],
        &[("WASMIX_HOME", fresh_home.to_str().unwrap())],
    );
    run.expect_code(0);
}

#[test]
fn save_and_load_move_mixins_without_a_registry() {
    let mut reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let reference = format!("{}/wasmix/exec:0.1.0", reg.addr);
    reg.push_mixin(&sb, exec_wasm(), &reference, true);
    let b = bundle(&sb, "airgap", &reference);
    install(&sb, &reg, &b, &[]).expect_code(0);
    let layout = sb.dir.path().join("layout");
    w(
        &sb,
        &reg,
        &["mixin", "save", &reference, "-O", layout.to_str().unwrap()],
    )
    .expect_code(0);
    assert!(layout.join("oci-layout").is_file() && layout.join("index.json").is_file());
    reg.stop();

    // Another machine: no registry, an empty cache.
    let other = Sandbox::new();
    w(&other, &reg, &["mixin", "load", layout.to_str().unwrap()]).expect_code(0);
    let run = install(&other, &reg, &b, &["--offline"]);
    run.expect_code(0);

    // A tampered layout is refused.
    let third = Sandbox::new();
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(layout.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(&manifest_digest[7..])).unwrap(),
    )
    .unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let layer_file = layout.join("blobs/sha256").join(&layer[7..]);
    let mut bytes = std::fs::read(&layer_file).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&layer_file, bytes).unwrap();
    let run = w(&third, &reg, &["mixin", "load", layout.to_str().unwrap()]);
    run.expect_code(3);
    run.expect_stderr("digest mismatch");
}

#[test]
fn bare_names_resolve_through_the_default_namespace() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    reg.push_mixin(
        &sb,
        exec_wasm(),
        &format!("{}/team/exec:latest", reg.addr),
        true,
    );
    let m = "schemaVersion: 1.0.0\nname: bare\nversion: 0.1.0\nmixins: [exec]\ninstall:\n  - exec:\n      command: echo\n      arguments: [bare name]\n      grants: {commands: [echo]}\nuninstall:\n  - exec:\n      command: echo\n      grants: {commands: [echo]}\n";
    let b = sb.bundle("bare", m, &[]);
    let ns = format!("{}/team", reg.addr);
    let run = w_env(
        &sb,
        &reg,
        &[
            "install",
            b.to_str().unwrap(),
            "--mixin-path",
            "/nonexistent",
        ],
        &[("WASMIX_MIXIN_NAMESPACE", ns.as_str())],
    );
    run.expect_code(0);
    run.expect_stdout("bare name");
}

#[test]
fn a_killed_pull_leaves_no_entry_and_the_next_pull_completes() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    // A large layer (random bytes: a pull only checks format and digests), pushed with oras.
    let work = sb.dir.path().join("big");
    std::fs::create_dir_all(&work).unwrap();
    let mut bytes = vec![0u8; 48 << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in bytes.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(work.join("big.wasm"), &bytes).unwrap();
    std::fs::write(
        work.join("config.json"),
        r#"{"architecture":"wasm","os":"wasip2","layerDigests":[]}"#,
    )
    .unwrap();
    let reference = format!("{}/big/blob:1", reg.addr);
    oras_push(
        &reg,
        &work,
        &reference,
        "big.wasm:application/wasm",
        "application/vnd.wasm.config.v0+json",
    );
    let layer = wasmix::oci::sha256_digest(&bytes);
    reg.sign(&sb, &reference);

    let cache = sb.home().join("cache/oci");
    let mut child = std::process::Command::new(wasmix_e2e::wasmix_bin())
        .args(["mixin", "pull", &reference])
        .env("WASMIX_HOME", sb.home())
        .env("WASMIX_INSECURE_REGISTRIES", &reg.addr)
        .env("DOCKER_CONFIG", sb.dir.path().join("docker"))
        .env("WASMIX_TRUST_POLICY", reg.trust().policy)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it as soon as the download has started.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let started = std::fs::read_dir(cache.join("tmp"))
            .map(|d| d.count() > 0)
            .unwrap_or(false);
        if started || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let blob = cache.join("blobs/sha256").join(&layer[7..]);
    assert!(!blob.exists(), "a partial layer was published in the cache");
    assert_eq!(
        std::fs::read_dir(cache.join("entries")).unwrap().count(),
        0,
        "an entry was recorded"
    );
    // Leftover temporary files are only ever in tmp/, and prune clears them.
    w(&sb, &reg, &["cache", "prune"]).expect_code(0);
    assert_eq!(std::fs::read_dir(cache.join("tmp")).unwrap().count(), 0);
    // The next pull completes and the blob is whole.
    w(&sb, &reg, &["mixin", "pull", &reference]).expect_code(0);
    assert_eq!(
        wasmix::oci::sha256_digest(&std::fs::read(&blob).unwrap()),
        layer
    );
}

#[test]
fn credentials_can_come_from_a_docker_credential_helper() {
    let reg = RegistryServer::start(Some(("mixer", "helper-pass")));
    let sb = Sandbox::new();
    // A credential helper speaking Docker's protocol: `get`, the server on
    // stdin, JSON on stdout.
    let bin = sb.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-wasmixtest");
    std::fs::write(&helper, format!(
        "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\n[ \"$server\" = \"{}\" ] || {{ echo 'credentials not found' >&2; exit 1; }}\necho '{{\"Username\":\"mixer\",\"Secret\":\"helper-pass\"}}'\n",
        reg.addr
    ))
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let docker = sb.dir.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!("{{\"credHelpers\": {{\"{}\": \"wasmixtest\"}}}}", reg.addr),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let reference = format!("{}/wasmix/exec:0.1.0", reg.addr);
    let run = w_env(
        &sb,
        &reg,
        &["mixin", "push", &exec_wasm(), &reference],
        &[("PATH", path.as_str())],
    );
    run.expect_code(0);
    assert!(!run.stdout().contains("helper-pass") && !run.stderr().contains("helper-pass"));
}

#[test]
fn two_processes_pulling_the_same_digest_agree() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let reference = format!("{}/wasmix/exec:0.1.0", reg.addr);
    reg.push_mixin(&sb, exec_wasm(), &reference, true);
    let home = sb.dir.path().join("shared-home");
    let spawn = || {
        std::process::Command::new(wasmix_e2e::wasmix_bin())
            .args(["mixin", "pull", &reference])
            .env("WASMIX_HOME", &home)
            .env("WASMIX_INSECURE_REGISTRIES", &reg.addr)
            .env("DOCKER_CONFIG", sb.dir.path().join("docker"))
            .env("WASMIX_TRUST_POLICY", reg.trust().policy)
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let blobs = home.join("cache/oci/blobs/sha256");
    for entry in std::fs::read_dir(&blobs).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(
            wasmix::oci::sha256_digest(&std::fs::read(&path).unwrap()),
            format!("sha256:{name}"),
            "blob {name} is not whole"
        );
    }
    assert_eq!(
        std::fs::read_dir(home.join("cache/oci/entries"))
            .unwrap()
            .count(),
        1
    );
    assert_eq!(
        std::fs::read_dir(home.join("cache/oci/tmp"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn credentials_are_found_as_docker_and_podman_keep_them_and_logout_forgets_them() {
    use base64::Engine as _;
    let reg = RegistryServer::start(Some(("mixer", "s3cret-pass")));
    let sb = Sandbox::new();
    let reference = format!("{}/wasmix/exec:0.1.0", reg.addr);
    let auth = base64::engine::general_purpose::STANDARD.encode("mixer:s3cret-pass");
    // Docker's key style: a scheme and a path, as `https://index.docker.io/v1/`.
    let docker = sb.dir.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths": {{"http://{}/v1/": {{"auth": "{auth}"}}}}}}"#,
            reg.addr
        ),
    )
    .unwrap();
    reg.push_mixin(&sb, exec_wasm(), &reference, true);

    // Podman's auth.json, named by REGISTRY_AUTH_FILE, with no Docker config.
    let podman = Sandbox::new();
    let auth_file = podman.dir.path().join("auth.json");
    std::fs::write(
        &auth_file,
        format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, reg.addr),
    )
    .unwrap();
    w_env(
        &podman,
        &reg,
        &["mixin", "pull", &reference],
        &[("REGISTRY_AUTH_FILE", auth_file.to_str().unwrap())],
    )
    .expect_code(0);

    // Logout forgets them: the next pull (fresh cache) is refused.
    w(&sb, &reg, &["registry", "logout", &reg.addr])
        .expect_code(0)
        .expect_stdout("removed");
    let fresh = sb.dir.path().join("home2");
    let run = w_env(
        &sb,
        &reg,
        &["mixin", "pull", &reference],
        &[("WASMIX_HOME", fresh.to_str().unwrap())],
    );
    run.expect_code(3);
    assert!(
        run.stderr().contains("authentication failed"),
        "{}",
        run.all()
    );
    w(&sb, &reg, &["registry", "logout", &reg.addr]).expect_code(2);
}

#[test]
fn push_takes_orases_argument_order_and_pull_writes_the_component() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let reference = format!("{}/wasmix/exec:oras-order", reg.addr);
    let typed = format!("{}:application/wasm", exec_wasm());
    let key = reg.trust().key;
    w(
        &sb,
        &reg,
        &[
            "mixin",
            "push",
            &reference,
            &typed,
            "--sign",
            "--key",
            key.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    // Another media type is refused, not pushed as something else.
    let wrong = format!("{}:application/octet-stream", exec_wasm());
    let run = w(&sb, &reg, &["mixin", "push", &reference, &wrong]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("application/wasm"),
        "{}",
        run.stderr()
    );
    let out = sb.dir.path().join("pulled.wasm");
    let fresh = Sandbox::new();
    w(
        &fresh,
        &reg,
        &["mixin", "pull", &reference, "-O", out.to_str().unwrap()],
    )
    .expect_code(0);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(exec_wasm()).unwrap()
    );
}
