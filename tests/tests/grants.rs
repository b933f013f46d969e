//! Each step reaches exactly what it was granted, through the real CLI and
//! the real probe component: one allowed and one denied case per kind.

use serde_json::Value;
use wasmix_e2e::Sandbox;

/// Run install with JSON output; returns the run and the parsed outcome.
fn install(
    sb: &Sandbox,
    bundle: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (wasmix_e2e::Run, Value) {
    let mut all = vec!["install", bundle.to_str().unwrap(), "--output", "json"];
    all.extend_from_slice(args);
    let run = sb.wasmix_env(&all, env);
    let doc: Value = serde_json::from_str(&run.stdout()).unwrap_or(Value::Null);
    (run, doc)
}

/// The probe's results, read back from the state store (sensitive revealed).
fn results(sb: &Sandbox) -> std::collections::BTreeMap<String, String> {
    let run = sb.wasmix(&[
        "installation",
        "outputs",
        "probe-bundle",
        "--show-sensitive",
        "--output",
        "json",
    ]);
    let doc: Value = serde_json::from_str(&run.stdout()).expect("outputs json");
    doc.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_string(),
                o["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A bundle whose install is one probe step with these grants and attempts;
/// attempt `i` becomes bundle output `a{i}`.
fn single_step(extra: &str, grants: &str, attempts: &[&str]) -> String {
    let outputs: String = (0..attempts.len())
        .map(|i| format!("  - name: a{i}\n"))
        .collect();
    let list: String = attempts
        .iter()
        .map(|a| format!("        - {a}\n"))
        .collect();
    format!(
        "schemaVersion: 1.0.0\nname: probe-bundle\nversion: 0.1.0\nmixins:\n  - probe\n{extra}\noutputs:\n{outputs}\ninstall:\n  - probe:\n      description: probe\n      grants: {grants}\n      attempts:\n{list}uninstall:\n  - probe:\n      attempts: []\n"
    )
}

fn starts(v: &str, prefix: &str) -> bool {
    v.starts_with(prefix)
}

#[test]
fn credentials_need_a_grant_and_reading_needs_read() {
    let secret = "hunter2-very-secret";
    let creds = "credentials:\n  - name: token\n  - name: other\n    required: false\n";
    let sb = Sandbox::new();
    // Not granted: no handle at all.
    let b = sb.bundle(
        "none",
        &single_step(
            creds,
            "{}",
            &[
                "{kind: credential, name: token}",
                "{kind: reveal, name: token}",
            ],
        ),
        &[],
    );
    let (run, _) = install(
        &sb,
        &b,
        &["--cred", "token=env:TOKEN"],
        &[("TOKEN", secret)],
    );
    run.expect_code(0);
    let r = results(&sb);
    assert!(
        starts(&r["a0"], "denied:") && r["a0"].contains("not granted"),
        "{r:?}"
    );
    assert!(starts(&r["a1"], "denied:"), "{r:?}");

    // Granted for use: a handle, no bytes; and it can be passed to a command.
    let sb = Sandbox::new();
    let b = sb.bundle(
        "use",
        &single_step(
            creds,
            "{credentials: [token], commands: [printenv]}",
            &[
                "{kind: credential, name: token}",
                "{kind: reveal, name: token}",
                "{kind: credential, name: other}",
                "{kind: run-with-secret, program: printenv, name: token}",
            ],
        ),
        &[],
    );
    let (run, _) = install(
        &sb,
        &b,
        &["--cred", "token=env:TOKEN"],
        &[("TOKEN", secret)],
    );
    run.expect_code(0);
    assert!(
        !run.stdout().contains(secret) && !run.stderr().contains(secret),
        "{}",
        run.all()
    );
    let r = results(&sb);
    assert_eq!(r["a0"], "ok:token");
    assert!(
        starts(&r["a1"], "denied:") && r["a1"].contains("read: true"),
        "{r:?}"
    );
    assert!(starts(&r["a2"], "denied:"), "{r:?}");
    // printenv with no argument prints the whole (cleared) environment: the
    // secret reached the command, and what it printed of it came back to
    // the mixin (granted use, not read) masked.
    assert!(r["a3"].contains("SECRET=*******"), "{r:?}");
    assert!(!r["a3"].contains(secret), "{r:?}");

    // Granted for reading.
    let sb = Sandbox::new();
    let b = sb.bundle(
        "read",
        &single_step(
            creds,
            "{credentials: [{name: token, read: true}]}",
            &["{kind: reveal, name: token}"],
        ),
        &[],
    );
    let (run, doc) = install(
        &sb,
        &b,
        &["--cred", "token=env:TOKEN"],
        &[("TOKEN", secret)],
    );
    run.expect_code(0);
    assert!(!run.stdout().contains(secret), "{}", run.all());
    // The output holds the secret, so it is treated as sensitive: masked here…
    assert_eq!(doc["outputs"][0]["sensitive"], Value::Bool(true), "{doc}");
    // …and stored apart from the plain columns.
    assert_eq!(results(&sb)["a0"], format!("ok:{secret}"));
    let db = std::fs::read(sb.home().join("state.db")).unwrap();
    let wal = std::fs::read(sb.home().join("state.db-wal")).unwrap_or_default();
    let plain_hits = [db, wal]
        .iter()
        .filter(|bytes| bytes.windows(secret.len()).any(|w| w == secret.as_bytes()))
        .count();
    // Exactly the sensitive_values row may hold it; logs and plain output columns do not.
    let plain = sb.wasmix(&[
        "installation",
        "outputs",
        "probe-bundle",
        "--output",
        "json",
    ]);
    assert!(!plain.stdout().contains(secret), "{}", plain.all());
    assert!(plain_hits <= 1, "secret found in {plain_hits} store files");
}

#[test]
fn template_references_grant_only_their_own_step() {
    let sb = Sandbox::new();
    let manifest = [
        "schemaVersion: 1.0.0",
        "name: probe-bundle",
        "version: 0.1.0",
        "mixins: [probe]",
        "credentials:",
        "  - name: token",
        "outputs:",
        "  - name: a0",
        "install:",
        "  - probe:",
        "      description: uses the token in a template",
        "      prefix: x",
        "      attempts:",
        "        - {kind: log, text: \"token is ${ bundle.credentials.token }\"}",
        "  - probe:",
        "      description: next step, nothing granted",
        "      attempts:",
        "        - {kind: credential, name: token}",
        "uninstall:",
        "  - probe:",
        "      attempts: []",
    ]
    .join("\n");
    let b = sb.bundle("tmpl", &manifest, &[]);
    let (run, _) = install(&sb, &b, &["--cred", "token=value:abcdef123456"], &[]);
    run.expect_code(0);
    // The first step's log was redacted; the second step was denied.
    assert!(!run.stdout().contains("abcdef123456"), "{}", run.all());
    let text = sb
        .wasmix(&[
            "install",
            b.to_str().unwrap(),
            "--cred",
            "token=value:abcdef123456",
        ])
        .stdout();
    assert!(text.contains("token is *******"), "{text}");
    let shown = sb.wasmix(&["installation", "show", "probe-bundle"]);
    shown.expect_code(0);
    let r = results(&sb);
    assert!(starts(&r["a0"], "denied:"), "{r:?}");
    let explain = sb.wasmix(&["explain", b.to_str().unwrap(), "--action", "install"]);
    let text = explain.stdout();
    assert!(
        text.contains("token (read)") && text.contains("template ${ bundle.credentials.token }"),
        "{text}"
    );
    assert!(text.contains("grants: nothing"), "{text}");
}

#[test]
fn files_are_visible_only_as_granted() {
    let sb = Sandbox::new();
    let grants =
        "{files: [{path: ./data}, {path: ./out, write: true}, {path: ./sub, to: /elsewhere}]}";
    let attempts = [
        "{kind: read-file, path: /cnab/app/data/in.txt}",
        "{kind: write-file, path: /cnab/app/data/in.txt}",
        "{kind: write-file, path: /cnab/app/out/result.txt}",
        "{kind: read-file, path: /etc/passwd}",
        "{kind: read-file, path: /cnab/app/porter.yaml}",
        "{kind: read-file, path: /cnab/app/data/../porter.yaml}",
        "{kind: read-file, path: /cnab/app/data/link/passwd}",
        "{kind: list-dir, path: /elsewhere}",
    ];
    let b = sb.bundle(
        "files",
        &single_step("", grants, &attempts),
        &[("data/in.txt", "input"), ("out/.keep", ""), ("sub/x", "")],
    );
    std::os::unix::fs::symlink("/etc", b.join("data/link")).unwrap();
    let (run, _) = install(&sb, &b, &[], &[]);
    run.expect_code(0);
    let r = results(&sb);
    assert_eq!(r["a0"], "ok:input");
    assert!(
        starts(&r["a1"], "denied:"),
        "read-only grant was written: {r:?}"
    );
    assert_eq!(
        std::fs::read_to_string(b.join("data/in.txt")).unwrap(),
        "input"
    );
    assert_eq!(r["a2"], "ok:");
    assert_eq!(
        std::fs::read_to_string(b.join("out/result.txt")).unwrap(),
        "written by probe"
    );
    for k in ["a3", "a4", "a5", "a6"] {
        assert!(starts(&r[k], "denied:"), "{k}: {r:?}");
    }
    assert_eq!(r["a7"], "ok:x");
}

#[test]
fn env_vars_are_visible_only_as_granted() {
    let sb = Sandbox::new();
    let b = sb.bundle(
        "env",
        &single_step(
            "",
            "{env: [WASMIX_T_VISIBLE]}",
            &[
                "{kind: env, name: WASMIX_T_VISIBLE}",
                "{kind: env, name: WASMIX_T_HIDDEN}",
                "{kind: env, name: HOME}",
            ],
        ),
        &[],
    );
    let (run, _) = install(
        &sb,
        &b,
        &[],
        &[("WASMIX_T_VISIBLE", "seen"), ("WASMIX_T_HIDDEN", "unseen")],
    );
    run.expect_code(0);
    let r = results(&sb);
    assert_eq!(r["a0"], "ok:seen");
    assert!(starts(&r["a1"], "denied:"), "{r:?}");
    assert!(starts(&r["a2"], "denied:"), "{r:?}");
}

#[test]
fn commands_images_and_sockets_need_grants() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let sb = Sandbox::new();
    let attempts = [
        "{kind: run, program: echo, args: [hi]}".to_string(),
        "{kind: run, program: sh, args: [-c, 'echo pwned']}".to_string(),
        "{kind: image, image: busybox}".to_string(),
        format!("{{kind: connect, address: '{addr}'}}"),
        "{kind: run, program: echo, args: [x], workdir: /tmp}".to_string(),
        "{kind: run, program: env}".to_string(),
    ];
    let refs: Vec<&str> = attempts.iter().map(String::as_str).collect();
    let b = sb.bundle(
        "cmds",
        &single_step("", "{commands: [echo, env]}", &refs),
        &[],
    );
    let (run, _) = install(&sb, &b, &[], &[("WASMIX_T_LEAK", "should-not-pass")]);
    run.expect_code(0);
    let r = results(&sb);
    assert_eq!(r["a0"], "ok:exit=0 hi");
    assert!(
        starts(&r["a1"], "denied:") && r["a1"].contains("\"sh\" is not granted"),
        "{r:?}"
    );
    assert!(
        starts(&r["a2"], "denied:") && r["a2"].contains("busybox"),
        "{r:?}"
    );
    assert!(starts(&r["a3"], "denied:"), "{r:?}");
    assert!(
        starts(&r["a4"], "denied:") && r["a4"].contains("outside the bundle"),
        "{r:?}"
    );
    // The host driver clears the environment: only the fixed PATH remains.
    assert!(
        r["a5"].contains("PATH=") && !r["a5"].contains("WASMIX_T_LEAK"),
        "{r:?}"
    );
    // Denials are reported to the operator too.
    let show = sb.wasmix(&["installation", "show", "probe-bundle", "--output", "json"]);
    show.expect_code(0);
}

#[test]
fn terminal_escapes_in_logs_are_neutralised() {
    let sb = Sandbox::new();
    let b = sb.bundle(
        "esc",
        &single_step(
            "",
            "{}",
            &["{kind: log, text: \"\\e[2J\\e]0;pwned\\a hello\"}"],
        ),
        &[],
    );
    let run = sb.wasmix(&["install", b.to_str().unwrap()]);
    run.expect_code(0);
    assert!(
        !run.stdout().contains('\u{1b}') && !run.stdout().contains('\u{7}'),
        "{:?}",
        run.stdout()
    );
    assert!(run.stdout().contains("\\u{1b}[2J"), "{}", run.stdout());
}

#[test]
fn network_hosts_images_and_parameters_are_granted_by_name() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other_port = other.local_addr().unwrap().port();
    let sb = Sandbox::new();
    let params = "parameters:\n  - name: region\n    default: eu-west\n  - name: db-password\n    default: pw-123456\n    sensitive: true\n";
    let grants = format!(
        "{{hosts: ['127.0.0.1:{port}'], images: [registry.local/tools], parameters: [region]}}"
    );
    let attempts = [
        format!("{{kind: connect, address: '127.0.0.1:{port}'}}"),
        format!("{{kind: connect, address: '127.0.0.1:{other_port}'}}"),
        "{kind: image, image: 'registry.local/tools:1.2'}".to_string(),
        "{kind: image, image: 'registry.local/other:1.2'}".to_string(),
        "{kind: env, name: REGION}".to_string(),
        "{kind: env, name: DB_PASSWORD}".to_string(),
    ];
    let refs: Vec<&str> = attempts.iter().map(String::as_str).collect();
    let b = sb.bundle("net", &single_step(params, &grants, &refs), &[]);
    let (run, _) = install(&sb, &b, &["--driver", "debug"], &[]);
    run.expect_code(0);
    let r = results(&sb);
    assert_eq!(r["a0"], "ok:connected", "{r:?}");
    assert!(starts(&r["a1"], "denied:"), "{r:?}");
    assert_eq!(
        r["a2"], "ok:exit=0",
        "granted image under the debug driver: {r:?}"
    );
    assert!(
        starts(&r["a3"], "denied:") && r["a3"].contains("not granted"),
        "{r:?}"
    );
    assert_eq!(r["a4"], "ok:eu-west");
    assert!(starts(&r["a5"], "denied:"), "{r:?}");
    // The host driver cannot run images at all, and says so.
    let (run, _) = install(&sb, &b, &[], &[]);
    run.expect_code(0);
    assert!(
        results(&sb)["a2"].contains("the host driver cannot run image"),
        "{:?}",
        results(&sb)
    );
}

#[test]
fn limits_can_be_set_in_the_manifest() {
    let sb = Sandbox::new();
    let m = single_step("", "{}", &["{kind: loop}"]).replace(
        "      grants: {}\n",
        "      grants: {}\n      limits: {deadline: 1s, memory: 32Mi}\n",
    );
    let b = sb.bundle("limits", &m, &[]);
    let run = sb.wasmix(&["install", b.to_str().unwrap()]);
    run.expect_code(1);
    run.expect_stdout("ran past its deadline of 1s");
    let explain = sb.wasmix(&["explain", b.to_str().unwrap()]).stdout();
    assert!(
        explain.contains("deadline 1s") && explain.contains("memory 32Mi"),
        "{explain}"
    );
    let bad = m.replace("deadline: 1s", "deadline: soon");
    let b = sb.bundle("badlimits", &bad, &[]);
    let run = sb.wasmix(&["install", b.to_str().unwrap()]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("porter.yaml:14:16")
            && run.stderr().contains("invalid duration \"soon\""),
        "{}",
        run.all()
    );
}

#[test]
fn home_secrets_and_undeclared_bundle_files_stay_out_of_reach() {
    let sb = Sandbox::new();
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let attempts = [
        format!("{{kind: read-file, path: '{home}/.ssh/id_rsa'}}"),
        format!("{{kind: list-dir, path: '{home}'}}"),
        "{kind: read-file, path: /cnab/app/secrets/token}".to_string(),
        "{kind: list-dir, path: /}".to_string(),
    ];
    let refs: Vec<&str> = attempts.iter().map(String::as_str).collect();
    let b = sb.bundle(
        "home",
        &single_step("", "{files: [{path: ./public}]}", &refs),
        &[("secrets/token", "t0ps3cret"), ("public/readme", "hi")],
    );
    let (run, _) = install(&sb, &b, &[], &[]);
    run.expect_code(0);
    let r = results(&sb);
    for k in ["a0", "a1", "a2"] {
        assert!(starts(&r[k], "denied:"), "{k}: {r:?}");
    }
    assert!(
        !r["a3"].contains("secrets") && !r["a3"].contains("etc"),
        "only granted dirs are visible: {r:?}"
    );
}

#[test]
fn a_step_cannot_overwrite_another_steps_outputs() {
    let sb = Sandbox::new();
    let m = [
        "schemaVersion: 1.0.0",
        "name: probe-bundle",
        "version: 0.1.0",
        "mixins: [probe]",
        "outputs:",
        "  - name: verdict",
        "install:",
        "  - probe:",
        "      attempts: [{kind: output, name: verdict, value: honest}]",
        "  - probe:",
        "      attempts: [{kind: output, name: verdict, value: forged}]",
        "uninstall:",
        "  - probe:",
        "      attempts: []",
    ]
    .join("\n");
    let b = sb.bundle("overwrite", &m, &[]);
    let run = sb.wasmix(&["install", b.to_str().unwrap()]);
    run.expect_code(1);
    assert!(
        run.stdout()
            .contains("cannot overwrite another step's outputs"),
        "{}",
        run.all()
    );
    assert!(!run.stdout().contains("forged"), "{}", run.all());
}

#[test]
fn widening_grants_needs_acceptance() {
    let sb = Sandbox::new();
    let narrow = single_step(
        "",
        "{commands: [echo]}",
        &["{kind: run, program: echo, args: [hi]}"],
    );
    let b = sb.bundle("lock", &narrow, &[]);
    sb.wasmix(&["install", b.to_str().unwrap()]).expect_code(0);
    let lock = std::fs::read_to_string(b.join("wasmix.lock")).unwrap();
    assert!(lock.contains("command echo"), "{lock}");
    // The bundle's next version asks for a shell and a credential.
    let wide = single_step(
        "credentials:\n  - name: token\n",
        "{commands: [echo, sh], credentials: [token]}",
        &["{kind: run, program: sh, args: [-c, 'echo hi']}"],
    );
    std::fs::write(b.join("porter.yaml"), &wide).unwrap();
    let run = sb.wasmix(&[
        "install",
        b.to_str().unwrap(),
        "--cred",
        "token=value:abcdefgh",
    ]);
    run.expect_code(2);
    let err = run.stderr();
    assert!(
        err.contains("+ install[0].probe: command sh")
            && err.contains("+ install[0].probe: credential token (use)"),
        "{err}"
    );
    assert!(err.contains("--accept-capabilities"), "{err}");
    assert_eq!(
        std::fs::read_to_string(b.join("wasmix.lock")).unwrap(),
        lock,
        "a refused run leaves the lock alone"
    );
    sb.wasmix(&[
        "install",
        b.to_str().unwrap(),
        "--cred",
        "token=value:abcdefgh",
        "--accept-capabilities",
    ])
    .expect_code(0);
    assert!(std::fs::read_to_string(b.join("wasmix.lock"))
        .unwrap()
        .contains("command sh"));
    // Narrowing again needs nothing.
    std::fs::write(b.join("porter.yaml"), &narrow).unwrap();
    sb.wasmix(&["install", b.to_str().unwrap()]).expect_code(0);
}

#[test]
fn a_step_output_reaches_a_later_step_as_a_credential_handle() {
    let sb = Sandbox::new();
    let m = r#"schemaVersion: 1.0.0
name: probe-bundle
version: 0.1.0
mixins: [exec, probe]
outputs:
  - name: connectionString
  - name: a0
  - name: a1
install:
  - exec:
      id: create
      description: create a database
      command: echo
      arguments: ["conn=postgres://admin:pw-9f8e7d@db/app"]
      grants: {commands: [echo]}
      outputs: [{name: connectionString, regex: "conn=(.*)"}]
  - probe:
      description: use the connection
      grants:
        commands: [printenv]
        credentials:
          - {name: conn, from: steps.create.outputs.connectionString}
      attempts:
        - {kind: run-with-secret, program: printenv, name: conn}
        - {kind: reveal, name: conn}
uninstall:
  - probe:
      attempts: []
"#;
    let secret = "postgres://admin:pw-9f8e7d@db/app";
    let b = sb.bundle("derived", m, &[]);
    let explain = sb.wasmix(&["explain", b.to_str().unwrap()]);
    explain
        .expect_code(0)
        .expect_stdout("conn (use) from steps.create.outputs.connectionString");
    let (run, _) = install(&sb, &b, &[], &[]);
    run.expect_code(0);
    assert!(!run.all().contains("pw-9f8e7d"), "{}", run.all());
    let r = results(&sb);
    // The command got the value; the mixin, granted use only, gets it back masked.
    assert!(r["a0"].contains("SECRET=*******"), "{r:?}");
    assert!(!r["a0"].contains(secret), "{r:?}");
    assert!(starts(&r["a1"], "denied:"), "{r:?}");
    // The producing output became sensitive: masked unless asked for.
    let shown = sb.wasmix(&["installation", "outputs", "probe-bundle"]);
    shown.expect_stdout("connectionString: *******");
    assert_eq!(r["connectionString"], secret);
    // Logs in the state store hold no trace of it.
    let logs = sb.wasmix(&["installation", "logs", "probe-bundle"]);
    assert!(!logs.all().contains("pw-9f8e7d"), "{}", logs.all());

    // Rendering it into a later step's text is refused: it travels as a handle only.
    let rendered = m.replace(
        "        - {kind: reveal, name: conn}\n",
        "        - {kind: reveal, name: conn}\n  - exec:\n      command: echo\n      arguments: [\"${ steps.create.outputs.connectionString }\"]\n      grants: {commands: [echo]}\n",
    );
    let b = sb.bundle("derived-rendered", &rendered, &[]);
    let run = sb.wasmix(&["install", b.to_str().unwrap(), "-i", "rendered"]);
    run.expect_code(1)
        .expect_stdout("is passed to a step as a credential");
    assert!(!run.all().contains("pw-9f8e7d"), "{}", run.all());

    // `from` must name an earlier step's output.
    let bad = m.replace("steps.create.outputs", "steps.later.outputs");
    let b = sb.bundle("derived-bad", &bad, &[]);
    sb.wasmix(&["lint", b.to_str().unwrap()])
        .expect_code(2)
        .expect_stderr("no earlier step of install has id \"later\"");
    // And `from` with an unknown key next to it is refused, not dropped.
    let typo = m.replace("{name: conn, from:", "{name: conn, raed: true, from:");
    let b = sb.bundle("derived-typo", &typo, &[]);
    sb.wasmix(&["lint", b.to_str().unwrap()])
        .expect_code(2)
        .expect_stderr("unknown field `raed`, expected one of `name`, `read`, `from`");
}

#[test]
fn a_secret_cut_by_the_output_cap_is_still_masked() {
    let sb = Sandbox::new();
    let secret = "straddling-secret-value";
    // printenv prints PATH first, then SECRET: cut the output five bytes
    // into the secret.
    let prefix = format!("PATH={}\nSECRET=", wasmix::driver::FIXED_PATH);
    let cap = prefix.len() + 5;
    let creds = "credentials:\n  - name: token\n";
    let b = sb.bundle(
        "cut",
        &single_step(
            creds,
            &format!(
                "{{credentials: [token], commands: [printenv]}}\n      limits: {{output: {cap}}}"
            ),
            &["{kind: run-with-secret, program: printenv, name: token}"],
        ),
        &[],
    );
    let (run, _) = install(
        &sb,
        &b,
        &["--cred", "token=env:TOKEN"],
        &[("TOKEN", secret)],
    );
    run.expect_code(0);
    let r = results(&sb);
    assert!(!r["a0"].contains(&secret[..5]), "{r:?}");
    assert!(r["a0"].contains("SECRET=*"), "{r:?}");
}

#[test]
fn a_bound_credential_handle_is_refused_to_other_programs() {
    let secret = "hunter2-very-secret";
    let creds = "credentials:\n  - name: token\n";
    let sb = Sandbox::new();
    let b = sb.bundle(
        "bound",
        &single_step(
            creds,
            "{credentials: [{name: token, to: [env]}], commands: [printenv, env]}",
            &[
                "{kind: run-with-secret, program: printenv, name: token}",
                "{kind: run-with-secret, program: env, name: token}",
            ],
        ),
        &[],
    );
    let (run, _) = install(
        &sb,
        &b,
        &["--cred", "token=env:TOKEN"],
        &[("TOKEN", secret)],
    );
    run.expect_code(0);
    let r = results(&sb);
    // Another granted program: refused, naming the binding.
    assert!(
        starts(&r["a0"], "denied:") && r["a0"].contains("bound to env"),
        "{r:?}"
    );
    // The bound program: passed (and masked coming back, use-only).
    assert!(r["a1"].contains("SECRET=*******"), "{r:?}");
    assert!(!run.all().contains(secret), "{}", run.all());
}

#[test]
fn a_use_only_credential_does_not_come_back_through_the_programs_it_is_passed_to() {
    // Long enough that base64 and `xxd -p` wrap it over lines and `od`
    // spreads it over several offset-prefixed lines.
    let secret = "s3cr3t-token-value-that-is-long-enough-to-wrap-every-line-0123456789";
    let cases = [
        ("printenv", r#"["SECRET"]"#),
        ("sh", r#"["-c", "echo $SECRET"]"#),
        ("sh", r#"["-c", "printf %s \"$SECRET\" | base64"]"#),
        ("sh", r#"["-c", "printf %s \"$SECRET\" | xxd -p"]"#),
        ("sh", r#"["-c", "printf %s \"$SECRET\" | od"]"#),
        ("sh", r#"["-c", "printf %s \"$SECRET\" | od -An -tx1"]"#),
    ];
    let attempts: Vec<String> = cases
        .iter()
        .map(|(program, args)| {
            format!("{{kind: run-with-secret, program: {program}, name: token, args: {args}}}")
        })
        .collect();
    let attempts: Vec<&str> = attempts.iter().map(String::as_str).collect();
    let sb = Sandbox::new();
    let b = sb.bundle(
        "printers",
        &single_step(
            "credentials:\n  - name: token\n",
            "{credentials: [token], commands: [printenv, sh]}",
            &attempts,
        ),
        &[],
    );
    let (run, _) = install(
        &sb,
        &b,
        &["--cred", "token=env:TOKEN"],
        &[("TOKEN", secret)],
    );
    run.expect_code(0);
    let r = results(&sb);
    let forms = wasmix::redact::encodings(secret);
    for (i, (program, args)) in cases.iter().enumerate() {
        let got = &r[&format!("a{i}")];
        // The command ran, got the secret and printed it in some form...
        assert!(
            got.starts_with("ok:exit=0") && got.contains(wasmix::redact::MASK),
            "{program} {args}: {got}"
        );
        // ...and no eight bytes of any form of it reached the mixin, even
        // with the layout (line breaks, spaces) taken out.
        let flat: String = got.split_whitespace().collect();
        for form in &forms {
            for w in form.windows(8) {
                let w = String::from_utf8_lossy(w);
                assert!(
                    !flat.contains(w.as_ref()),
                    "{program} {args} leaks {w:?}: {got}"
                );
            }
        }
    }
}
