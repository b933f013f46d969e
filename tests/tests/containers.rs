//! The `docker` driver against a real engine (Podman's Docker-compatible
//! API): steps run in containers with only what they were granted, and no
//! container outlives its step.

use wasmix_e2e::{PodmanService, Sandbox, TEST_IMAGE};

fn manifest(name: &str, grants: &str, script: &str, extra: &str) -> String {
    let lines = [
        "schemaVersion: 1.0.0".to_string(),
        format!("name: {name}"),
        "version: 0.1.0".into(),
        "mixins: [exec]".into(),
        "credentials:".into(),
        "  - name: token".into(),
        "    required: false".into(),
        "outputs:".into(),
        "  - name: report".into(),
        "install:".into(),
        "  - exec:".into(),
        "      description: in a container".into(),
        format!("      image: {TEST_IMAGE}"),
        "      command: sh".into(),
        format!("      arguments: [\"-c\", {script:?}]"),
        format!("      grants: {grants}"),
        format!("{extra}      outputs:"),
        "        - name: report".into(),
        "          regex: \"(?s)(.*)\"".into(),
        "uninstall:".into(),
        "  - exec:".into(),
        "      command: echo".into(),
        "      grants: {commands: [echo]}".into(),
    ];
    lines.join("\n") + "\n"
}

fn docker(
    sb: &Sandbox,
    engine: &PodmanService,
    bundle: &std::path::Path,
    extra: &[&str],
) -> wasmix_e2e::Run {
    let mut args = vec![
        "install",
        bundle.to_str().unwrap(),
        "--driver",
        "docker",
        "--pull",
        "never",
    ];
    args.extend_from_slice(extra);
    sb.wasmix_env(&args, &[("DOCKER_HOST", engine.docker_host.as_str())])
}

#[test]
fn a_step_runs_confined_in_a_container_and_leaves_nothing_behind() {
    let engine = PodmanService::start();
    let sb = Sandbox::new();
    let script = "echo in-container; ls /sys/class/net | tr '\\n' ' '; echo; touch /x 2>/dev/null && echo root-writable || echo root-read-only; id -u";
    let grants = format!("{{images: [{TEST_IMAGE}]}}");
    let b = sb.bundle("boxed", &manifest("boxed", &grants, script, ""), &[]);
    let run = docker(&sb, &engine, &b, &[]);
    run.expect_code(0)
        .expect_stdout("in-container")
        .expect_stdout("root-read-only");
    let outputs = sb.wasmix(&["installation", "outputs", "boxed", "--output", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&outputs.stdout()).unwrap();
    let report = doc[0]["value"].as_str().unwrap();
    // No network unless a host is granted: only the loopback interface.
    assert!(
        report.contains("lo") && !report.contains("eth0"),
        "{report}"
    );
    assert!(
        engine.containers_of("boxed").is_empty(),
        "a container was left behind"
    );
}

#[test]
fn failing_and_overdue_containers_are_removed() {
    let engine = PodmanService::start();
    let sb = Sandbox::new();
    let grants = format!("{{images: [{TEST_IMAGE}]}}");
    let b = sb.bundle(
        "fails",
        &manifest("fails", &grants, "echo nope >&2; exit 3", ""),
        &[],
    );
    let run = docker(&sb, &engine, &b, &[]);
    run.expect_code(1)
        .expect_stdout("exit code 3")
        .expect_stdout("nope");
    assert!(engine.containers_of("fails").is_empty());

    let b = sb.bundle(
        "slow",
        &manifest(
            "slow",
            &grants,
            "sleep 60",
            "      limits: {deadline: 3s}\n",
        ),
        &[],
    );
    let started = std::time::Instant::now();
    let run = docker(&sb, &engine, &b, &[]);
    run.expect_code(1);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{}",
        run.all()
    );
    assert!(
        engine.containers_of("slow").is_empty(),
        "the overdue container was left behind"
    );
}

#[test]
fn images_and_credentials_reach_a_container_only_when_granted() {
    let engine = PodmanService::start();
    let sb = Sandbox::new();
    // Image not granted.
    let b = sb.bundle("nogrant", &manifest("nogrant", "{}", "echo hi", ""), &[]);
    docker(&sb, &engine, &b, &[])
        .expect_code(1)
        .expect_stdout("is not granted to this step");
    assert!(engine.containers_of("nogrant").is_empty());
    // A credential passed through the step's env reaches the container; the
    // secret itself never appears in what wasmix prints.
    let grants = format!("{{images: [{TEST_IMAGE}]}}");
    let m = manifest(
        "cred",
        &grants,
        "printf %s \"$TOKEN\" | wc -c; env | grep -c UNGRANTED || true",
        "      envs: {TOKEN: \"${ bundle.credentials.token }\"}\n",
    );
    let b = sb.bundle("cred", &m, &[]);
    let run = sb.wasmix_env(
        &[
            "install",
            b.to_str().unwrap(),
            "--driver",
            "docker",
            "--pull",
            "never",
            "--cred",
            "token=env:T",
        ],
        &[
            ("DOCKER_HOST", engine.docker_host.as_str()),
            ("T", "container-secret-123"),
            ("UNGRANTED", "x"),
        ],
    );
    run.expect_code(0);
    assert!(
        !run.stdout().contains("container-secret-123"),
        "{}",
        run.all()
    );
    let outputs = sb.wasmix(&["installation", "outputs", "cred", "--output", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&outputs.stdout()).unwrap();
    let report = doc[0]["value"].as_str().unwrap();
    assert!(
        report.starts_with("20\n0"),
        "token length 20, no ungranted host env: {report:?}"
    );
    // A missing image with --pull never is a clear error.
    let m = manifest(
        "missing",
        "{images: [localhost/wasmix-test/nope:1]}",
        "true",
        "",
    )
    .replace(TEST_IMAGE, "localhost/wasmix-test/nope:1");
    let b = sb.bundle("missing", &m, &[]);
    docker(&sb, &engine, &b, &[])
        .expect_code(1)
        .expect_stdout("not present, and --pull never forbids pulling it");
}

#[test]
fn the_containers_example_runs_exec_helm3_and_kubernetes_in_containers() {
    let engine = PodmanService::start();
    let sb = Sandbox::new();
    // A copy, so the test writes its lock file outside the repository.
    let src = wasmix_e2e::repo_root().join("examples/containers");
    let b = sb.bundle(
        "example",
        &std::fs::read_to_string(src.join("porter.yaml")).unwrap(),
        &[(
            "manifests/app.yaml",
            &std::fs::read_to_string(src.join("manifests/app.yaml")).unwrap(),
        )],
    );
    let run = docker(&sb, &engine, &b, &[]);
    run.expect_code(0)
        // The helm command line, exactly, with the earlier step's output in it.
        .expect_stdout("helm3 upgrade --install mysql bitnami/mysql --namespace demo --version 9.4.1 --wait --atomic --create-namespace --set auth.database=wordpress")
        .expect_stdout("kubectl apply -f manifests/app.yaml -n demo --wait")
        // The manifest was readable through the granted, read-only mount.
        .expect_stdout("apiVersion: v1  # app manifest")
        .expect_stdout("cluster-ip: 10.0.0.7")
        .expect_stdout("db-password: *******");
    let outputs = sb.wasmix(&[
        "installation",
        "outputs",
        "containers-demo",
        "--show-sensitive",
        "--output",
        "json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&outputs.stdout()).unwrap();
    let by_name = |n: &str| {
        doc.as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == n)
            .map(|o| o["value"].as_str().unwrap().to_string())
    };
    assert_eq!(by_name("db-password").as_deref(), Some("supersecret"));
    assert_eq!(by_name("database").as_deref(), Some("wordpress"));
    let down = sb.wasmix_env(
        &[
            "uninstall",
            b.to_str().unwrap(),
            "--driver",
            "docker",
            "--pull",
            "never",
        ],
        &[("DOCKER_HOST", engine.docker_host.as_str())],
    );
    down.expect_code(0)
        .expect_stdout("kubectl delete -f manifests/app.yaml -n demo --wait")
        .expect_stdout("helm3 uninstall mysql --namespace demo");
    assert!(
        engine.containers_of("containers-demo").is_empty(),
        "containers were left behind"
    );
}

#[test]
fn ctrl_c_removes_the_running_container() {
    let engine = PodmanService::start();
    let sb = Sandbox::new();
    let grants = format!("{{images: [{TEST_IMAGE}]}}");
    let b = sb.bundle(
        "interrupted",
        &manifest("interrupted", &grants, "sleep 120", ""),
        &[],
    );
    let child = std::process::Command::new(wasmix_e2e::wasmix_bin())
        .args([
            "install",
            b.to_str().unwrap(),
            "--driver",
            "docker",
            "--pull",
            "never",
        ])
        .env("WASMIX_HOME", sb.home())
        .env("WASMIX_MIXIN_PATH", wasmix_e2e::mixin_dir())
        .env("DOCKER_HOST", &engine.docker_host)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while engine.containers_of("interrupted").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the container never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        engine.containers_of("interrupted").is_empty(),
        "the container outlived Ctrl-C"
    );
    // The interrupted run is recorded, whole, as failed by the interrupt.
    let show = sb.wasmix(&["installation", "show", "interrupted"]);
    show.expect_code(0)
        .expect_stdout("failed")
        .expect_stdout("interrupted (Ctrl-C)");
}

#[test]
fn a_mount_outside_the_grant_is_denied() {
    let engine = PodmanService::start();
    let sb = Sandbox::new();
    let m = [
        "schemaVersion: 1.0.0",
        "name: mounts",
        "version: 0.1.0",
        "mixins:",
        "  - kubernetes:",
        &format!("      image: {}", wasmix_e2e::TOOLS_IMAGE),
        "      grants: {images: [localhost/wasmix-test/tools]}",
        "install:",
        "  - kubernetes:",
        "      description: no files granted",
        "      manifests: [manifests/app.yaml]",
        "uninstall:",
        "  - kubernetes:",
        "      description: x",
        "      manifests: [manifests/app.yaml]",
    ]
    .join("\n");
    let b = sb.bundle("mounts", &m, &[("manifests/app.yaml", "kind: Service\n")]);
    let run = docker(&sb, &engine, &b, &[]);
    run.expect_code(1)
        .expect_stdout("mount source \"/cnab/app/manifests\" is not a granted directory");
    assert!(engine.containers_of("mounts").is_empty());
}

#[test]
fn a_credential_env_destination_reaches_a_granted_container_only() {
    let engine = PodmanService::start();
    let sb = Sandbox::new();
    let script =
        "if [ \"$TOKEN\" = s3cret-value ]; then echo token-seen; else echo token-absent; fi";
    let with_env = |name: &str, grants: &str| {
        manifest(name, grants, script, "").replace(
            "  - name: token\n    required: false\n",
            "  - name: token\n    required: false\n    env: TOKEN\n",
        )
    };
    let granted = format!("{{images: [{TEST_IMAGE}], credentials: [token]}}");
    let b = sb.bundle("envok", &with_env("envok", &granted), &[]);
    let env = [
        ("DOCKER_HOST", engine.docker_host.as_str()),
        ("ENV_TOKEN", "s3cret-value"),
    ];
    let cred = ["--cred", "token=env:ENV_TOKEN"];
    let args = |b: &std::path::Path| {
        let mut a = vec![
            "install".to_string(),
            b.to_str().unwrap().to_string(),
            "--driver".into(),
            "docker".into(),
            "--pull".into(),
            "never".into(),
        ];
        a.extend(cred.iter().map(|s| s.to_string()));
        a
    };
    let a = args(&b);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let run = sb.wasmix_env(&a, &env);
    run.expect_code(0).expect_stdout("token-seen");
    assert!(!run.all().contains("s3cret-value"), "{}", run.all());
    // The same container without the credential granted does not see it.
    let ungranted = format!("{{images: [{TEST_IMAGE}]}}");
    let b = sb.bundle("envno", &with_env("envno", &ungranted), &[]);
    let a = args(&b);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    sb.wasmix_env(&a, &env)
        .expect_code(0)
        .expect_stdout("token-absent");
}

#[test]
fn a_credential_path_destination_is_mounted_read_only_into_a_granted_container_only() {
    let engine = PodmanService::start();
    let sb = Sandbox::new();
    // Porter's kubeconfig habit: a file at an absolute path in the image.
    let script = "if [ \"$(cat /root/.kube/config 2>/dev/null)\" = s3cret-value ]; then echo file-seen; else echo file-absent; fi; echo x > /root/.kube/config 2>/dev/null && echo writable || echo read-only";
    let with_path = |name: &str, grants: &str| {
        manifest(name, grants, script, "").replace(
            "  - name: token\n    required: false\n",
            "  - name: token\n    required: false\n    path: /root/.kube/config\n",
        )
    };
    let env = [
        ("DOCKER_HOST", engine.docker_host.as_str()),
        ("ENV_TOKEN", "s3cret-value"),
    ];
    let run_it = |b: &std::path::Path| {
        sb.wasmix_env(
            &[
                "install",
                b.to_str().unwrap(),
                "--driver",
                "docker",
                "--pull",
                "never",
                "--cred",
                "token=env:ENV_TOKEN",
            ],
            &env,
        )
    };
    let granted = format!("{{images: [{TEST_IMAGE}], credentials: [token]}}");
    let b = sb.bundle("pathok", &with_path("pathok", &granted), &[]);
    let run = run_it(&b);
    run.expect_code(0)
        .expect_stdout("file-seen")
        .expect_stdout("read-only");
    assert!(!run.all().contains("s3cret-value"), "{}", run.all());
    let ungranted = format!("{{images: [{TEST_IMAGE}]}}");
    let b = sb.bundle("pathno", &with_path("pathno", &ungranted), &[]);
    run_it(&b).expect_code(0).expect_stdout("file-absent");
}

/// Porter's docker mixin syntax against a real engine: `build` an image,
/// `run` it, start a container and `remove` it, with Podman's CLI standing
/// in for docker (`binary:` in the mixin config). Each is one command the
/// step was granted.
#[test]
fn the_docker_mixin_builds_runs_and_removes_with_a_real_engine() {
    let engine = PodmanService::start();
    let sb = Sandbox::new();
    let tag = "localhost/wasmix-docker-mixin-test:1";
    let dir = sb.bundle(
        "dockerx",
        "placeholder",
        &[(
            "ctx/Dockerfile",
            &format!("FROM {}\nRUN echo built > /built\n", wasmix_e2e::TEST_IMAGE),
        )],
    );
    // The host driver clears the environment: the wrapper points podman at
    // the test engine's configuration.
    let wrapper = dir.join("bin/podman");
    std::fs::create_dir_all(wrapper.parent().unwrap()).unwrap();
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nCONTAINERS_CONF={} exec podman \"$@\"\n",
            engine.dir.path().join("containers.conf").display()
        ),
    )
    .unwrap();
    wasmix_e2e::make_executable(&wrapper);
    let podman = wrapper.display().to_string();
    let name = "wasmix-docker-mixin-sleeper";
    let manifest = format!(
        r#"schemaVersion: 1.0.0
name: dockerx
version: 0.1.0
mixins:
  - docker:
      binary: {podman}
outputs:
  - name: content
install:
  - docker:
      description: Build the image
      build:
        tag: {tag}
        path: ctx
        flags:
          network: none
      grants: {{commands: [{podman}]}}
  - docker:
      description: Run it
      run:
        image: {tag}
        command: cat
        arguments: [/built]
        rm: true
        flags:
          network: none
        outputs:
          - name: content
            regex: "(b\\w+)"
      grants: {{commands: [{podman}]}}
  - docker:
      description: Start a long-lived container
      run:
        image: {tag}
        name: {name}
        detach: true
        command: sleep
        arguments: ["60"]
        flags:
          network: none
      grants: {{commands: [{podman}]}}
uninstall:
  - docker:
      description: Remove it
      remove:
        container: {name}
        force: true
      grants: {{commands: [{podman}]}}
"#
    );
    std::fs::write(dir.join("porter.yaml"), manifest).unwrap();
    let run = sb.wasmix(&["install", dir.to_str().unwrap()]);
    run.expect_code(0).expect_stdout("content: built");
    let running = engine.podman(&["ps", "-q", "--filter", &format!("name={name}")]);
    assert!(
        !String::from_utf8_lossy(&running.stdout).trim().is_empty(),
        "the detached container runs"
    );
    sb.wasmix(&["uninstall", "-i", "dockerx"]).expect_code(0);
    let left = engine.podman(&["ps", "-aq", "--filter", &format!("name={name}")]);
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "removed"
    );
    engine.podman(&["rmi", "-f", tag]);

    // A step naming no command, or two, is refused before anything runs.
    let text = std::fs::read_to_string(dir.join("porter.yaml"))
        .unwrap()
        .replace("      remove:\n", "      pull: {name: x}\n      remove:\n");
    std::fs::write(dir.join("porter.yaml"), text).unwrap();
    let lint = sb.wasmix(&["lint", dir.to_str().unwrap()]);
    assert_ne!(lint.code(), 0, "{}", lint.all());
}
