//! `wasmix install` and friends through the real binary: the example bundle,
//! bad input, failing steps, the debug driver and the state store.

use serde_json::Value;
use wasmix_e2e::{porter_compat, repo_root, Sandbox};

fn example() -> String {
    repo_root().join("examples/hello").display().to_string()
}

#[test]
fn example_installs_upgrades_and_uninstalls_with_outputs() {
    let sb = Sandbox::new();
    let secret = "tok-1234567890";
    let run = sb.wasmix_env(
        &["install", &example(), "--cred", "api-token=env:HELLO_TOKEN"],
        &[("HELLO_TOKEN", secret)],
    );
    run.expect_code(0);
    let out = run.stdout();
    for want in [
        "[1/3] Compose the greeting (exec)",
        "[3/3] Report as JSON and read the bundle's config file (exec)",
        "install of hello-wasmix succeeded",
        // A parameter holding `: `, `#` and quotes stays one argument.
        "message: Hello, world: the # one \"and only\"!",
        "token-length: 14",
        "greetings: 2",
        "config: colour=blue",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{}", run.all());
    }
    assert!(!out.contains(secret) && !run.stderr().contains(secret));

    let outputs = sb.wasmix(&[
        "installation",
        "outputs",
        "hello-wasmix",
        "--output",
        "json",
    ]);
    outputs.expect_code(0);
    let doc: Value = serde_json::from_str(&outputs.stdout()).unwrap();
    let names: Vec<&str> = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["config", "greetings", "message", "token-length"]);

    // Upgrade reads the stored output through a template.
    let up = sb.wasmix_env(
        &["upgrade", &example(), "--cred", "api-token=env:HELLO_TOKEN"],
        &[("HELLO_TOKEN", secret)],
    );
    up.expect_code(0);
    assert!(
        up.stdout()
            .contains("upgrading: Hello, world: the # one \"and only\"!"),
        "{}",
        up.all()
    );

    let custom = sb.wasmix_env(
        &[
            "invoke",
            "--action",
            "status",
            &example(),
            "--param",
            "who=you",
            "--cred",
            "api-token=value:abcd",
        ],
        &[],
    );
    custom.expect_code(0);
    custom.expect_stdout("hello-wasmix is fine");

    let down = sb.wasmix_env(
        &[
            "uninstall",
            &example(),
            "--param",
            "who=moon",
            "--cred",
            "api-token=value:abcd",
        ],
        &[],
    );
    down.expect_code(0);
    down.expect_stdout("Goodbye, moon");

    let list = sb.wasmix(&["installation", "list", "--output", "json"]);
    let doc: Value = serde_json::from_str(&list.stdout()).unwrap();
    assert_eq!(doc[0]["status"], "uninstalled");
    let show = sb.wasmix(&["installation", "show", "hello-wasmix", "--output", "json"]);
    let doc: Value = serde_json::from_str(&show.stdout()).unwrap();
    let actions: Vec<&str> = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["uninstall", "status", "upgrade", "install"]);
    // After uninstall, upgrade is refused.
    let again = sb.wasmix_env(
        &["upgrade", &example(), "--cred", "api-token=value:abcd"],
        &[],
    );
    again.expect_code(2);
    again.expect_stderr("was uninstalled");
}

#[test]
fn json_output_is_machine_readable() {
    let sb = Sandbox::new();
    let run = sb.wasmix(&[
        "install",
        &example(),
        "--cred",
        "api-token=value:abcdefgh",
        "--output",
        "json",
        "-i",
        "mine",
    ]);
    run.expect_code(0);
    let doc: Value = serde_json::from_str(&run.stdout()).expect("only JSON on stdout");
    assert_eq!(doc["installation"], "mine");
    assert_eq!(doc["status"], "succeeded");
    assert_eq!(doc["steps"].as_array().unwrap().len(), 3);
}

/// `--output yaml` prints the same document as `--output json`, on every
/// command that prints one (and the config file can ask for it).
#[test]
fn yaml_output_is_the_json_document_as_yaml() {
    let sb = Sandbox::new();
    let run = sb.wasmix(&[
        "install",
        &example(),
        "--cred",
        "api-token=value:abcdefgh",
        "-o",
        "yaml",
        "-i",
        "mine",
    ]);
    run.expect_code(0);
    let doc: Value = serde_yaml::from_str(&run.stdout()).expect("only YAML on stdout");
    assert_eq!(doc["installation"], "mine");
    assert_eq!(doc["steps"].as_array().unwrap().len(), 3);
    for args in [
        vec!["installation", "list"],
        vec!["installation", "outputs", "mine"],
        vec!["mixin", "list"],
        vec!["version"],
        vec!["cache", "prune"],
    ] {
        let mut json_args = args.clone();
        json_args.extend(["-o", "json"]);
        let mut yaml_args = args.clone();
        yaml_args.extend(["-o", "yaml"]);
        let json: Value = serde_json::from_str(&sb.wasmix(&json_args).stdout())
            .unwrap_or_else(|e| panic!("{args:?} -o json: {e}"));
        let yaml: Value = serde_yaml::from_str(&sb.wasmix(&yaml_args).stdout())
            .unwrap_or_else(|e| panic!("{args:?} -o yaml: {e}"));
        assert_eq!(json, yaml, "{args:?}");
    }
    let shown: Value =
        serde_yaml::from_str(&sb.wasmix(&["config", "show", "-o", "yaml"]).stdout()).unwrap();
    assert_eq!(shown["settings"]["output"]["value"], "yaml", "{shown}");
    std::fs::write(sb.home().join("config.toml"), "output = \"yaml\"\n").unwrap();
    let list = sb.wasmix(&["installation", "list"]);
    let doc: Value = serde_yaml::from_str(&list.stdout()).expect("YAML from the config file");
    assert_eq!(doc[0]["name"], "mine", "{doc}");
}

#[test]
fn bad_input_fails_clearly_before_anything_runs() {
    let sb = Sandbox::new();
    let ex = example();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["install", &ex],
            "credential \"api-token\" is required for install",
        ),
        (
            vec!["install", &ex, "--cred", "api-token=abcd"],
            "api-token=env:VAR",
        ),
        (
            vec![
                "install",
                &ex,
                "--cred",
                "api-token=value:abcd",
                "--param",
                "nope=1",
            ],
            "unknown parameter \"nope\"",
        ),
        (
            vec![
                "install",
                &ex,
                "--cred",
                "api-token=value:abcd",
                "--param",
                "repeat=two",
            ],
            "parameter \"repeat\" must be an integer",
        ),
        (
            vec![
                "install",
                &ex,
                "--cred",
                "api-token=value:abcd",
                "--param",
                "oops",
            ],
            "must look like NAME=VALUE",
        ),
        (
            vec![
                "invoke",
                "--action",
                "nosuch",
                &ex,
                "--cred",
                "api-token=value:abcd",
            ],
            "has no action \"nosuch\"; it defines: install, status, uninstall, upgrade",
        ),
        (
            vec!["upgrade", &ex, "--cred", "api-token=value:abcd"],
            "does not exist; run `wasmix install` first",
        ),
        (
            vec!["install", "/nonexistent/bundle"],
            "/nonexistent/bundle: no such bundle directory or manifest file",
        ),
    ];
    for (args, want) in cases {
        let run = sb.wasmix(&args);
        assert_ne!(run.code(), 0, "{args:?}");
        assert!(
            run.stderr().contains(want),
            "{args:?}: want {want:?}\n{}",
            run.all()
        );
    }
    // Nothing was recorded by any of them.
    let list = sb.wasmix(&["installation", "list"]);
    list.expect_stdout("no installations");
}

#[test]
fn manifest_and_step_errors_point_at_file_and_line() {
    let sb = Sandbox::new();
    let typo = "schemaVersion: 1.0.0\nname: t\nversion: 0.1.0\nmixins: [exec]\ninstall:\n  - exec:\n      description: x\n      command: echo\n      argumnets: [hi]\nuninstall:\n  - exec:\n      command: echo\n";
    let b = sb.bundle("typo", typo, &[]);
    let run = sb.wasmix(&["install", b.to_str().unwrap()]);
    run.expect_code(2);
    run.expect_stderr("porter.yaml:9:7: install[0].exec.argumnets: unknown field `argumnets`; did you mean `arguments`?");

    let compat = porter_compat().join("manifest/testdata");
    let bad_desc = sb.wasmix(&[
        "lint",
        compat
            .join("porter-with-bad-description.yaml")
            .to_str()
            .unwrap(),
    ]);
    bad_desc.expect_code(2);
    bad_desc.expect_stderr("porter-with-bad-description.yaml:11:7: install[0].exec.description: expected string, found array");
    let bad_type = sb.wasmix(&[
        "lint",
        compat.join("porter-with-bad-type.yaml").to_str().unwrap(),
    ]);
    bad_type.expect_code(2);
    bad_type.expect_stderr(
        "porter-with-bad-type.yaml:10:5: install[0].exec: expected object, found string",
    );

    let undeclared = "schemaVersion: 1.0.0\nname: t\nversion: 0.1.0\nmixins: [exec]\ninstall:\n  - helm3:\n      chart: x\nuninstall:\n  - exec:\n      command: echo\n";
    let b = sb.bundle("undeclared", undeclared, &[]);
    let run = sb.wasmix(&["install", b.to_str().unwrap()]);
    run.expect_code(2);
    assert!(
        run.stderr()
            .contains("porter.yaml:6:5: install[0].helm3: mixin (helm3) was not declared"),
        "{}",
        run.all()
    );

    let missing_var = "schemaVersion: 1.0.0\nname: t\nversion: 0.1.0\nmixins: [exec]\ninstall:\n  - exec:\n      command: echo\n      arguments: [\"${ bundle.parameters.nope }\"]\n      grants: {commands: [echo]}\nuninstall:\n  - exec:\n      command: echo\n";
    let b = sb.bundle("missingvar", missing_var, &[]);
    let run = sb.wasmix(&["install", b.to_str().unwrap()]);
    run.expect_code(1);
    run.expect_stdout("porter.yaml:8:19: install[0].exec.arguments[0]: unknown template variable `bundle.parameters.nope`: the bundle declares no parameter \"nope\"");

    let lint = sb.wasmix(&["lint", &example()]);
    lint.expect_code(0);

    // Porter's dockerfile is not built: said, with its line, not ignored.
    let docker = "schemaVersion: 1.0.0\nname: t\nversion: 0.1.0\ndockerfile: Dockerfile.tmpl\nmixins: [exec]\ninstall:\n  - exec:\n      command: echo\nuninstall:\n  - exec:\n      command: echo\n";
    let b = sb.bundle("dockerfile", docker, &[]);
    sb.wasmix(&["lint", b.to_str().unwrap()])
        .expect_code(0)
        .expect_stdout("porter.yaml:4:")
        .expect_stdout("dockerfile: wasmix runs no invocation image");
}

#[test]
fn lint_errors_from_the_mixin_block_the_install() {
    let sb = Sandbox::new();
    let m = "schemaVersion: 1.0.0\nname: t\nversion: 0.1.0\nmixins: [exec]\ninstall:\n  - exec:\n      command: bash\n      flags:\n        c: echo Hello World\nuninstall:\n  - exec:\n      command: echo\n";
    let b = sb.bundle("lint", m, &[]);
    let run = sb.wasmix(&["install", b.to_str().unwrap()]);
    run.expect_code(2);
    run.expect_stderr("install[0].exec.flags.c: exec-101");
}

#[test]
fn a_failing_step_stops_the_action_and_is_recorded() {
    let sb = Sandbox::new();
    let m = "schemaVersion: 1.0.0\nname: failing\nversion: 0.1.0\nmixins: [exec]\ninstall:\n  - exec:\n      description: fails\n      command: sh\n      flags:\n        c: \"'echo nope >&2; exit 7'\"\n      grants: {commands: [sh]}\n  - exec:\n      description: never runs\n      command: touch\n      arguments: [ran]\n      grants: {commands: [touch]}\nuninstall:\n  - exec:\n      command: echo\n";
    let b = sb.bundle("failing", m, &[]);
    let run = sb.wasmix(&["install", b.to_str().unwrap()]);
    run.expect_code(1);
    assert!(
        run.stdout().contains("exit code 7") && run.stdout().contains("nope"),
        "{}",
        run.all()
    );
    assert!(!b.join("ran").exists(), "the second step must not run");
    let show = sb.wasmix(&["installation", "show", "failing", "--output", "json"]);
    let doc: Value = serde_json::from_str(&show.stdout()).unwrap();
    assert_eq!(doc["installation"]["status"], "failed");
    assert!(doc["runs"][0]["error"]
        .as_str()
        .unwrap()
        .contains("step 1 of install"));
    // The store still works: a good bundle installs next.
    sb.wasmix(&["install", &example(), "--cred", "api-token=value:abcd"])
        .expect_code(0);
}

#[test]
fn debug_driver_runs_nothing() {
    let sb = Sandbox::new();
    let m = "schemaVersion: 1.0.0\nname: dbg\nversion: 0.1.0\nmixins: [exec]\ninstall:\n  - exec:\n      command: touch\n      arguments: [created]\n      envs: {A: b}\n      grants: {commands: [touch]}\nuninstall:\n  - exec:\n      command: echo\n";
    let b = sb.bundle("dbg", m, &[]);
    let run = sb.wasmix(&["install", b.to_str().unwrap(), "--driver", "debug"]);
    run.expect_code(0);
    assert!(
        run.stderr().contains("would run")
            && run.stderr().contains("\"touch\"")
            && run.stderr().contains("\"created\""),
        "{}",
        run.all()
    );
    assert!(!b.join("created").exists());
    // A command that is not granted is denied even under the debug driver.
    let denied = m.replace("grants: {commands: [touch]}", "grants: {}");
    let b = sb.bundle("dbg2", &denied, &[]);
    let run = sb.wasmix(&["install", b.to_str().unwrap(), "--driver", "debug"]);
    run.expect_code(1);
    run.expect_stdout("command \"touch\" is not granted");
}

#[test]
fn schema_and_explain_describe_the_bundle() {
    let sb = Sandbox::new();
    let run = sb.wasmix(&["schema", &example()]);
    run.expect_code(0);
    let doc: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(doc["definitions"]["exec"]["required"][0], "command");
    let run = sb.wasmix(&["explain", &example(), "--output", "json"]);
    run.expect_code(0);
    let doc: Value = serde_json::from_str(&run.stdout()).unwrap();
    let install = doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "install")
        .unwrap();
    let grants = &install["steps"][2]["grants"];
    assert_eq!(grants[0]["kind"], "file");
    assert_eq!(grants[0]["what"], "./config -> /cnab/app/config (ro)");
}

#[test]
fn lint_enforces_the_mixin_schema_and_parameter_declarations() {
    let sb = Sandbox::new();
    let bundle = |name: &str, step: &str, param: &str| {
        let m = format!(
            "schemaVersion: 1.0.0\nname: {name}\nversion: 0.1.0\nmixins: [probe]\nparameters:\n  - name: port\n    type: integer\n    minimum: 1024\n{param}install:\n  - probe:\n{step}      attempts: []\nuninstall:\n  - probe:\n      attempts: []\n"
        );
        sb.bundle(name, &m, &[])
    };
    // A valid bundle lints clean.
    let ok = bundle(
        "ok",
        "      prefix: out\n      retries: 2\n",
        "    default: 8080\n",
    );
    sb.wasmix(&["lint", ok.to_str().unwrap()]).expect_code(0);
    // The step breaks its mixin's `pattern`, `minimum` and `enum`: each is located.
    let bad = bundle(
        "badstep",
        "      prefix: Out!\n      retries: -1\n      mode: reckless\n",
        "    default: 8080\n",
    );
    let lint = sb.wasmix(&["lint", bad.to_str().unwrap()]);
    lint.expect_code(2);
    let err = lint.stderr();
    for (line, path) in [
        (":12:", "install[0].probe.prefix"),
        (":13:", "install[0].probe.retries"),
        (":14:", "install[0].probe.mode"),
    ] {
        assert!(
            err.lines().any(|l| l.contains(line) && l.contains(path)),
            "{path} at {line}:\n{err}"
        );
    }
    assert!(err.contains("must match the pattern"), "{err}");
    assert!(err.contains("must be at least 0"), "{err}");
    assert!(
        err.contains("must be one of \"fast\", \"careful\""),
        "{err}"
    );
    // A default that breaks its parameter's `minimum` is refused with its line.
    let low = bundle("lowdefault", "", "    default: 80\n");
    let lint = sb.wasmix(&["lint", low.to_str().unwrap()]);
    lint.expect_code(2);
    lint.expect_stderr("porter.yaml:9:");
    lint.expect_stderr("parameters[0].default");
    // A value given at install that breaks `minimum` is refused before anything runs.
    let run = sb.wasmix(&["install", ok.to_str().unwrap(), "--param", "port=22"]);
    run.expect_code(2);
    run.expect_stderr("parameter \"port\"");
    run.expect_stderr("1024");
    sb.wasmix(&["installation", "list"])
        .expect_stdout("no installations");
    // A parameter declaring a keyword the validator cannot enforce is refused, not ignored.
    let odd = bundle("odd", "", "    default: 8080\n    minimun: 1\n");
    let lint = sb.wasmix(&["lint", odd.to_str().unwrap()]);
    lint.expect_code(2);
    lint.expect_stderr("parameters[0]");
    lint.expect_stderr("minimun");
}

#[test]
fn env_destinations_reach_granted_commands_only() {
    let sb = Sandbox::new();
    let m = r#"schemaVersion: 1.0.0
name: dest
version: 0.1.0
mixins: [exec]
credentials:
  - name: token
    env: TOKEN
parameters:
  - name: region
    env: REGION
    default: eu-1
outputs:
  - name: granted
  - name: ungranted
install:
  - exec:
      description: granted
      command: ./show.sh
      grants: {commands: [./show.sh], credentials: [token], parameters: [region]}
      outputs: [{name: granted, regex: "(seen.*)"}]
  - exec:
      description: not granted
      command: ./show.sh
      grants: {commands: [./show.sh]}
      outputs: [{name: ungranted, regex: "(seen.*)"}]
uninstall:
  - exec:
      command: echo
"#;
    let script = r#"#!/bin/sh
if [ "$TOKEN" = s3cret-value ]; then t=yes; else t=no; fi
echo "seen token=$t region=[$REGION]"
"#;
    let b = sb.bundle("dest", m, &[("show.sh", script)]);
    wasmix_e2e::make_executable(b.join("show.sh"));
    // explain names the destination and the step that receives it.
    let explain = sb.wasmix(&["explain", b.to_str().unwrap()]);
    explain.expect_code(0);
    explain.expect_stdout("token as $TOKEN for the step's commands");
    let run = sb.wasmix_env(
        &[
            "install",
            b.to_str().unwrap(),
            "--cred",
            "token=env:DEST_TOKEN",
        ],
        &[("DEST_TOKEN", "s3cret-value")],
    );
    run.expect_code(0);
    let out = sb.wasmix(&["installation", "outputs", "dest", "--output", "json"]);
    let doc: Value = serde_json::from_str(&out.stdout()).unwrap();
    let value = |name: &str| {
        doc.as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .map(|o| o["value"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(value("granted"), "seen token=yes region=[eu-1]");
    assert_eq!(value("ungranted"), "seen token=no region=[]");
    assert!(!run.all().contains("s3cret-value"), "{}", run.all());
}

#[test]
fn installations_are_managed_like_porters() {
    let sb = Sandbox::new();
    let cred = ["--cred", "api-token=value:tok-abcdefgh"];
    let mut args = vec!["install", "-i", "app"];
    let ex = example();
    args.push(&ex);
    args.extend_from_slice(&cred);
    sb.wasmix(&args).expect_code(0);

    let runs = sb.wasmix(&["installation", "runs", "app"]);
    runs.expect_code(0)
        .expect_stdout("install")
        .expect_stdout("succeeded");
    let logs = sb.wasmix(&["installation", "logs", "app"]);
    logs.expect_code(0)
        .expect_stdout("install succeeded")
        .expect_stdout("(exec)");
    sb.wasmix(&["installation", "logs", "app", "--run", "99"])
        .expect_code(2)
        .expect_stderr("has no run 99");
    // The raw value, nothing around it.
    let shown = sb.wasmix(&["installation", "outputs", "app", "--output", "json"]);
    let doc: Value = serde_json::from_str(&shown.stdout()).unwrap();
    let message = doc
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "message")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    let raw = sb.wasmix(&["installation", "output", "show", "app", "message"]);
    raw.expect_code(0);
    assert_eq!(raw.stdout(), message);
    sb.wasmix(&["installation", "output", "show", "app", "nope"])
        .expect_code(2)
        .expect_stderr("has no output \"nope\"");

    // Still installed: delete needs --force or an uninstall first.
    sb.wasmix(&["installation", "delete", "app"])
        .expect_code(2)
        .expect_stderr("uninstall it first");

    // Another bundle may not take the installation over without --force.
    let other = "schemaVersion: 1.0.0\nname: other\nversion: 0.1.0\nmixins: [exec]\ninstall:\n  - exec:\n      command: echo\nuninstall:\n  - exec:\n      command: echo\nupgrade:\n  - exec:\n      command: echo\n      grants: {commands: [echo]}\n";
    let b = sb.bundle("other", other, &[]);
    sb.wasmix(&["upgrade", b.to_str().unwrap(), "-i", "app"])
        .expect_code(2)
        .expect_stderr("was made from bundle \"hello-wasmix\", not \"other\"");

    // Uninstall by name alone, from a directory with no bundle: the
    // installation remembers where its bundle is.
    let mut args = vec!["uninstall", "-i", "app"];
    args.extend_from_slice(&cred);
    sb.wasmix(&args)
        .expect_code(0)
        .expect_stdout("uninstall of app succeeded");
    sb.wasmix(&["installation", "delete", "app"])
        .expect_code(0)
        .expect_stdout("deleted installation app");
    sb.wasmix(&["installation", "list"])
        .expect_stdout("no installations");
}

#[test]
fn output_json_is_honoured_by_every_command() {
    let sb = Sandbox::new();
    let json = |args: &[&str], env: &[(&str, &str)]| -> Value {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let run = sb.wasmix_env(&all, env);
        run.expect_code(0);
        serde_json::from_str(&run.stdout())
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}):\n{}", run.all()))
    };
    for shell in ["bash", "zsh", "fish"] {
        let c = sb.wasmix(&["completion", shell]);
        c.expect_code(0).expect_stdout("wasmix");
        assert!(c.stdout().contains("installation"), "{shell}");
    }
    let version = json(&["version"], &[]);
    assert_eq!(version["contract"], "wasmix:mixin/mixin@0.1.0");
    assert!(version["wasmtime"].as_str().is_some_and(|v| !v.is_empty()));
    let trust = json(&["trust", "show"], &[]);
    assert_eq!(trust["builtIn"], true);
    assert!(trust["hash"].as_str().is_some_and(|h| !h.is_empty()));
    let prune = json(&["cache", "prune"], &[]);
    assert_eq!(prune["removedFiles"], 0);
    let prefix = sb.home().join("k");
    let key = json(
        &[
            "key",
            "generate",
            "--output-key-prefix",
            prefix.to_str().unwrap(),
        ],
        &[("COSIGN_PASSWORD", "pw")],
    );
    assert!(key["public"].as_str().unwrap().ends_with("k.pub"));
    let lock = json(&["lock", &example()], &[]);
    assert!(lock["lockFile"].as_str().unwrap().ends_with("wasmix.lock"));
    assert_eq!(lock["mixins"], serde_json::json!({}));
}

#[test]
fn a_step_names_an_earlier_steps_outputs_by_its_id() {
    let sb = Sandbox::new();
    let m = r#"schemaVersion: 1.0.0
name: ids
version: 0.1.0
mixins: [exec]
outputs:
  - name: echoed
install:
  - exec:
      id: make
      description: make a value
      command: echo
      arguments: [made-here]
      grants: {commands: [echo]}
      outputs: [{name: value, regex: "(made-\\S+)"}]
  - exec:
      description: use it
      command: echo
      arguments: ["got ${ steps.make.outputs.value }"]
      grants: {commands: [echo]}
      outputs: [{name: echoed, regex: "(got .*)"}]
uninstall:
  - exec:
      command: echo
"#;
    let b = sb.bundle("ids", m, &[]);
    sb.wasmix(&["install", b.to_str().unwrap()]).expect_code(0);
    sb.wasmix(&["installation", "output", "show", "ids", "echoed"])
        .expect_code(0)
        .expect_stdout("got made-here");

    // Naming a step that runs later is an error at that step, located.
    let later = m.replace("      id: make\n", "").replace(
        "      description: use it\n",
        "      id: make\n      description: use it\n",
    );
    let b = sb.bundle("later", &later, &[]);
    let run = sb.wasmix(&["install", b.to_str().unwrap(), "-i", "later"]);
    run.expect_code(1)
        .expect_stdout("porter.yaml:18:")
        .expect_stdout("step \"make\" has not run before this step");

    // Two steps with one id, and an id that is not a name, are refused by lint.
    let twice = m.replace(
        "      description: use it\n",
        "      id: make\n      description: use it\n",
    );
    let b = sb.bundle("twice", &twice, &[]);
    sb.wasmix(&["lint", b.to_str().unwrap()])
        .expect_code(2)
        .expect_stderr("install[1].exec.id: another step of install already has id \"make\"");
    let bad = m.replace("id: make", "id: \"9 lives\"");
    let b = sb.bundle("badid", &bad, &[]);
    sb.wasmix(&["lint", b.to_str().unwrap()])
        .expect_code(2)
        .expect_stderr("install[0].exec.id: a step id is a name");
}

#[test]
fn state_files_are_kept_between_actions_and_a_failed_action_keeps_the_previous() {
    let sb = Sandbox::new();
    let m = r#"schemaVersion: 1.0.0
name: stateful
version: 0.1.0
mixins:
  - exec:
      grants: {commands: [./tf.sh], state: [tfstate]}
state:
  - name: tfstate
    path: terraform/terraform.tfstate
parameters:
  - name: mode
    default: ok
outputs:
  - name: seen
install:
  - exec:
      command: ./tf.sh
      arguments: [apply, v1]
      outputs: [{name: seen, regex: "seen=(.*)"}]
upgrade:
  - exec:
      command: ./tf.sh
      arguments: ["${ bundle.parameters.mode }", v2]
      outputs: [{name: seen, regex: "seen=(.*)"}]
uninstall:
  - exec:
      command: ./tf.sh
      arguments: [destroy, gone]
      outputs: [{name: seen, regex: "seen=(.*)"}]
"#;
    // A stand-in for terraform: prints the state it finds, writes the new one.
    let script = r#"#!/bin/sh
f=terraform/terraform.tfstate
echo "seen=$(cat $f 2>/dev/null || echo none)"
echo "$2-state" > $f
if [ "$1" = fail ]; then exit 3; fi
"#;
    let b = sb.bundle("stateful", m, &[("tf.sh", script)]);
    wasmix_e2e::make_executable(b.join("tf.sh"));
    let bundle = b.to_str().unwrap();
    let seen = || {
        sb.wasmix(&["installation", "output", "show", "stateful", "seen"])
            .stdout()
    };
    sb.wasmix(&["explain", bundle])
        .expect_stdout("tfstate at /cnab/app/terraform/terraform.tfstate");
    sb.wasmix(&["install", bundle]).expect_code(0);
    assert_eq!(seen(), "none");
    // The state is kept by wasmix, not left in the bundle directory.
    assert!(!b.join("terraform/terraform.tfstate").exists());
    sb.wasmix(&["upgrade", bundle]).expect_code(0);
    assert_eq!(seen(), "v1-state");
    // A failed upgrade writes "broken" and fails: the previous state stays.
    sb.wasmix(&["upgrade", bundle, "--param", "mode=fail"])
        .expect_code(1);
    sb.wasmix(&["uninstall", bundle]).expect_code(0);
    assert_eq!(
        seen(),
        "v2-state",
        "uninstall sees the last successful state"
    );
    assert!(!b.join("terraform/terraform.tfstate").exists());
    // Sealed at rest: the store (database and its write-ahead log) holds no
    // state in clear.
    for file in ["state.db", "state.db-wal"] {
        let bytes = std::fs::read(sb.home().join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(10).any(|w| w == b"gone-state"),
            "{file} holds the state in clear"
        );
    }

    // Porter's `mixin:` on a state variable grants it to that mixin's steps.
    let by_mixin = m
        .replace(
            "grants: {commands: [./tf.sh], state: [tfstate]}",
            "grants: {commands: [./tf.sh]}",
        )
        .replace(
            "    path: terraform/terraform.tfstate\n",
            "    path: terraform/terraform.tfstate\n    mixin: exec\n",
        )
        .replace("name: stateful", "name: bymixin");
    let b2 = sb.bundle("bymixin", &by_mixin, &[("tf.sh", script)]);
    wasmix_e2e::make_executable(b2.join("tf.sh"));
    sb.wasmix(&["explain", b2.to_str().unwrap()])
        .expect_stdout("from state declaration state[0]");
    sb.wasmix(&["install", b2.to_str().unwrap()]).expect_code(0);
    sb.wasmix(&["upgrade", b2.to_str().unwrap()]).expect_code(0);
    sb.wasmix(&["installation", "output", "show", "bymixin", "seen"])
        .expect_stdout("v1-state");

    // A state path leaving the bundle is refused with its location.
    let out = m.replace("path: terraform/terraform.tfstate", "path: ../elsewhere");
    let b = sb.bundle("stateout", &out, &[("tf.sh", script)]);
    sb.wasmix(&["lint", b.to_str().unwrap()])
        .expect_code(2)
        .expect_stderr("porter.yaml:5:")
        .expect_stderr("path \"../elsewhere\" must stay inside the bundle directory");
}

#[test]
fn credential_and_parameter_sets_work_as_porters() {
    let sb = Sandbox::new();
    let creds = "schemaType: CredentialSet\nschemaVersion: 1.0.1\nname: hello-creds\ncredentials:\n  - name: api-token\n    source:\n      command: \"printf tok-from-a-command\"\n";
    let params = r#"{"schemaType": "ParameterSet", "schemaVersion": "1.0.1", "name": "hello-params",
        "parameters": [{"name": "greeting", "source": {"env": "SET_GREETING"}}]}"#;
    let dir = sb.bundle(
        "sets",
        "unused: true\n",
        &[("creds.yaml", creds), ("params.json", params)],
    );
    let cfile = dir.join("creds.yaml");
    let pfile = dir.join("params.json");

    // From files.
    let run = sb.wasmix_env(
        &[
            "install",
            &example(),
            "-i",
            "fromfiles",
            "-c",
            cfile.to_str().unwrap(),
            "-p",
            pfile.to_str().unwrap(),
        ],
        &[("SET_GREETING", "Howdy")],
    );
    run.expect_code(0).expect_stdout("Howdy");
    assert!(!run.all().contains("tok-from-a-command"), "{}", run.all());

    // Stored by name; --param overrides the set.
    sb.wasmix(&["credentials", "apply", cfile.to_str().unwrap()])
        .expect_code(0)
        .expect_stdout("applied credential set hello-creds (1 entries)");
    sb.wasmix(&["parameters", "apply", pfile.to_str().unwrap()])
        .expect_code(0);
    sb.wasmix(&["credentials", "list"])
        .expect_stdout("hello-creds");
    sb.wasmix(&["credentials", "show", "hello-creds"])
        .expect_stdout("printf tok-from-a-command");
    let run = sb.wasmix_env(
        &[
            "install",
            &example(),
            "-i",
            "byname",
            "--credential-set",
            "hello-creds",
            "--parameter-set",
            "hello-params",
            "--param",
            "greeting=Hi",
        ],
        &[("SET_GREETING", "Howdy")],
    );
    run.expect_code(0).expect_stdout("Hi");
    assert!(!run.stdout().contains("Howdy"), "{}", run.all());
    // The store keeps set documents sealed.
    let db = std::fs::read(sb.home().join("state.db")).unwrap();
    assert!(!db.windows(18).any(|w| w == b"tok-from-a-command"));

    // A parameter set given as a credential set is refused; an unknown name too.
    sb.wasmix(&[
        "install",
        &example(),
        "-i",
        "x",
        "-c",
        pfile.to_str().unwrap(),
    ])
    .expect_code(2)
    .expect_stderr("is a ParameterSet, not a CredentialSet");
    sb.wasmix(&["install", &example(), "-i", "x", "-c", "nosuch"])
        .expect_code(2)
        .expect_stderr("no credential set named \"nosuch\"");
    sb.wasmix(&["credentials", "delete", "hello-creds"])
        .expect_code(0);
    sb.wasmix(&["credentials", "list"])
        .expect_stdout("no credential sets");
}

#[cfg(unix)]
#[test]
fn ctrl_c_with_the_host_driver_stops_the_command_records_the_run_and_cleans_up() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let m = r#"schemaVersion: 1.0.0
name: slow
version: 0.1.0
mixins:
  - exec:
      grants: {commands: [./slow.sh], state: [tf]}
state:
  - name: tf
    path: terraform/state
parameters:
  - name: mode
    default: fast
install:
  - exec:
      command: ./slow.sh
      arguments: ["${ bundle.parameters.mode }"]
upgrade:
  - exec:
      command: ./slow.sh
      arguments: ["${ bundle.parameters.mode }"]
uninstall:
  - exec:
      command: echo
"#;
    let script = "#!/bin/sh\nif [ \"$1\" = slow ]; then touch started; sleep 30; fi\necho v1 > terraform/state\n";
    let b = sb.bundle("slow", m, &[("slow.sh", script)]);
    std::fs::set_permissions(b.join("slow.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    sb.wasmix(&["install", b.to_str().unwrap()]).expect_code(0);

    let mut child = std::process::Command::new(wasmix_e2e::wasmix_bin())
        .args(["upgrade", b.to_str().unwrap(), "--param", "mode=slow"])
        .env("WASMIX_HOME", sb.home())
        .env("WASMIX_MIXIN_PATH", wasmix_e2e::mixin_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !b.join("started").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the step never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The restored state sits in the bundle directory while the step runs.
    assert!(b.join("terraform/state").exists());
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "wasmix did not stop after Ctrl-C"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    assert!(
        !b.join("terraform/state").exists(),
        "the state file was left in the bundle directory"
    );
    let runs = sb.wasmix(&["installation", "runs", "slow", "--output", "json"]);
    let doc: Value = serde_json::from_str(&runs.stdout()).unwrap();
    assert_eq!(doc[0]["action"], "upgrade");
    assert_eq!(doc[0]["status"], "failed");
    assert!(
        doc[0]["error"]
            .as_str()
            .unwrap()
            .contains("interrupted (Ctrl-C)"),
        "{doc}"
    );
}

/// Every field of Porter's manifest schema, and what wasmix does with it.
/// A field Porter adds must be decided here: honoured (the test that shows
/// it), metadata (shown, changes nothing Porter runs either), warned, or
/// refused (checked below with a real manifest).
const PORTER_FIELDS: &[(&str, &str)] = &[
    (
        "credentials",
        "honoured: grants.rs, install.rs env_destinations_reach_granted_commands_only",
    ),
    ("custom", "honoured: ${ bundle.custom.* } templates"),
    (
        "customActions",
        "honoured: stateless custom actions (run/steps.rs)",
    ),
    ("dependencies", "solved and run as a workflow (docs/workflows.md)"),
    ("description", "metadata"),
    ("dockerfile", "warned"),
    ("images", "honoured: ${ bundle.images.* } templates"),
    ("install", "honoured"),
    ("maintainers", "metadata"),
    ("mixins", "honoured"),
    ("name", "honoured"),
    ("outputs", "honoured"),
    ("parameters", "honoured"),
    (
        "reference",
        "honoured: where `wasmix publish` pushes (bundles.rs publish_without_a_reference_goes_where_porter_would_put_it)",
    ),
    (
        "registry",
        "honoured: where `wasmix publish` pushes (bundles.rs publish_without_a_reference_goes_where_porter_would_put_it)",
    ),
    ("required", "refused"),
    ("schemaType", "honoured: checked"),
    ("schemaVersion", "honoured: template delimiters"),
    (
        "state",
        "honoured: state_files_are_kept_between_actions_and_a_failed_action_keeps_the_previous",
    ),
    ("uninstall", "honoured"),
    ("upgrade", "honoured"),
    ("version", "honoured"),
    ("credential.applyTo", "honoured"),
    ("credential.description", "metadata"),
    (
        "credential.env",
        "honoured: env_destinations_reach_granted_commands_only",
    ),
    ("credential.name", "honoured"),
    (
        "credential.path",
        "honoured: path_destinations_reach_granted_steps_only; containers.rs",
    ),
    ("credential.required", "honoured"),
    ("parameter.applyTo", "honoured"),
    ("parameter.description", "metadata"),
    (
        "parameter.env",
        "honoured: env_destinations_reach_granted_commands_only",
    ),
    ("parameter.name", "honoured"),
    (
        "parameter.path",
        "honoured: path_destinations_reach_granted_steps_only (type: file too)",
    ),
    ("parameter.persistent", "honoured"),
    ("parameter.sensitive", "honoured"),
    ("parameter.source", "honoured: source.output"),
    ("output.applyTo", "honoured"),
    ("output.description", "metadata"),
    ("output.name", "honoured"),
    (
        "output.path",
        "honoured: output_files_become_bundle_outputs (paths outside /cnab/app refused)",
    ),
    ("output.sensitive", "honoured"),
    ("stateVar.description", "metadata"),
    (
        "stateVar.mixin",
        "honoured: state_files_are_kept_between_actions_and_a_failed_action_keeps_the_previous",
    ),
    ("stateVar.name", "honoured"),
    ("stateVar.path", "honoured"),
    ("customAction.description", "metadata"),
    ("customAction.modifies", "metadata"),
    ("customAction.stateless", "honoured"),
    ("image.description", "metadata"),
    ("image.digest", "honoured: ${ bundle.images.NAME.digest }"),
    ("image.imageType", "metadata"),
    ("image.labels", "metadata"),
    ("image.mediaType", "metadata"),
    (
        "image.repository",
        "honoured: ${ bundle.images.NAME.repository }",
    ),
    ("image.size", "metadata"),
    ("image.tag", "honoured: ${ bundle.images.NAME.tag }"),
    ("dependency.bundle", "resolved from its registry (docs/workflows.md)"),
    ("dependency.name", "names the dependency's node and bundle.dependencies.NAME"),
    ("dependency.parameters", "rendered when its task starts"),
    ("maintainer.email", "metadata"),
    ("maintainer.name", "metadata"),
    ("maintainer.url", "metadata"),
];

#[test]
fn every_field_of_porters_manifest_schema_is_honoured_or_refused() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(porter_compat().join("schema/manifest.schema.json")).unwrap(),
    )
    .unwrap();
    let props = |v: &Value| -> Vec<String> {
        let mut out: Vec<String> = v["properties"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        for part in v["allOf"].as_array().into_iter().flatten() {
            out.extend(
                part["properties"]
                    .as_object()
                    .into_iter()
                    .flat_map(|o| o.keys().cloned()),
            );
        }
        out
    };
    let mut fields = props(&schema);
    for def in [
        "credential",
        "parameter",
        "output",
        "stateVar",
        "customAction",
        "image",
        "dependency",
        "maintainer",
    ] {
        fields.extend(
            props(&schema["definitions"][def])
                .into_iter()
                .map(|p| format!("{def}.{p}")),
        );
    }
    let undecided: Vec<&String> = fields
        .iter()
        .filter(|f| !PORTER_FIELDS.iter().any(|(k, _)| k == f))
        .collect();
    assert!(
        undecided.is_empty(),
        "Porter manifest fields nobody decided about (honour, refuse in support.rs, or list here): {undecided:?}"
    );

    // The refusals, each with its location.
    let sb = Sandbox::new();
    let base = "schemaVersion: 1.0.0\nname: t\nversion: 0.1.0\nmixins: [exec]\ninstall:\n  - exec:\n      command: echo\nuninstall:\n  - exec:\n      command: echo\n";
    for (extra, want) in [
        (
            "required:\n  - docker\n",
            "required: required extensions are not supported",
        ),
        (
            "credentials:\n  - name: k\n    path: /cnab/app/../etc/k\n",
            "credentials[0].path: credential \"k\"",
        ),
        (
            "parameters:\n  - name: p\n    type: file\n",
            "parameters[0]: no destination path supplied for parameter p",
        ),
        (
            "outputs:\n  - name: o\n    path: /etc/o\n",
            "outputs[0].path: output \"o\": wasmix reads output files from the bundle directory",
        ),
    ] {
        let b = sb.bundle("refused", &format!("{base}{extra}"), &[]);
        let lint = sb.wasmix(&["lint", b.to_str().unwrap()]);
        lint.expect_code(2).expect_stderr(want);
        assert!(lint.stderr().contains("porter.yaml:1"), "{}", lint.all());
    }
}

#[test]
fn output_files_become_bundle_outputs() {
    let sb = Sandbox::new();
    let m = "schemaVersion: 1.0.0\nname: files\nversion: 0.1.0\nmixins: [exec]\noutputs:\n  - name: report\n    path: /cnab/app/out/report.txt\n  - name: secret\n    path: out/secret.txt\n    sensitive: true\n  - name: missing\n    path: /cnab/app/out/none.txt\n    default: fallback\ninstall:\n  - exec:\n      command: ./write.sh\n      grants: {commands: [./write.sh]}\nuninstall:\n  - exec:\n      command: ./write.sh\n      grants: {commands: [./write.sh]}\n";
    let b = sb.bundle(
        "files",
        m,
        &[(
            "write.sh",
            "#!/bin/sh\nmkdir -p out\necho 'all good' > out/report.txt\nprintf s3cr3t-value > out/secret.txt\n",
        )],
    );
    wasmix_e2e::make_executable(b.join("write.sh"));
    let run = sb.wasmix(&["install", b.to_str().unwrap(), "-o", "json"]);
    run.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let outputs = doc["outputs"].as_array().unwrap();
    let find = |n: &str| outputs.iter().find(|o| o["name"] == n).cloned().unwrap();
    assert_eq!(find("report")["value"], "all good\n");
    assert_eq!(find("missing")["value"], "fallback");
    assert_eq!(find("secret")["sensitive"], true);
    assert!(!run.stdout().contains("s3cr3t-value"), "{}", run.stdout());
    sb.wasmix(&["installation", "output", "show", "files", "secret"])
        .expect_code(0)
        .expect_stdout("s3cr3t-value");
}

#[test]
fn path_destinations_reach_granted_steps_only() {
    let sb = Sandbox::new();
    let m = r#"schemaVersion: 1.0.0
name: paths
version: 0.1.0
mixins: [exec]
credentials:
  - name: kubeconfig
    path: /cnab/app/kube/config
parameters:
  - name: settings
    type: file
    path: conf/settings.ini
outputs:
  - name: granted
  - name: ungranted
install:
  - exec:
      description: granted
      command: ./show.sh
      grants: {commands: [./show.sh], credentials: [kubeconfig], parameters: [settings]}
      outputs: [{name: granted, regex: "(seen.*)"}]
  - exec:
      description: not granted
      command: ./show.sh
      grants: {commands: [./show.sh]}
      outputs: [{name: ungranted, regex: "(seen.*)"}]
uninstall:
  - exec:
      command: echo
"#;
    let script = r#"#!/bin/sh
if [ "$(cat kube/config 2>/dev/null)" = kube-s3cret ]; then k=yes; else k=no; fi
echo "seen kube=$k settings=[$(cat conf/settings.ini 2>/dev/null)]"
"#;
    let b = sb.bundle("paths", m, &[("show.sh", script)]);
    wasmix_e2e::make_executable(b.join("show.sh"));
    let explain = sb.wasmix(&["explain", b.to_str().unwrap()]);
    explain.expect_code(0);
    explain.expect_stdout("kubeconfig as file /cnab/app/kube/config for the step's commands");
    let settings = sb.dir.path().join("settings.ini");
    std::fs::write(&settings, "colour = blue").unwrap();
    let run = sb.wasmix_env(
        &[
            "install",
            b.to_str().unwrap(),
            "--cred",
            "kubeconfig=env:KUBE",
            "--param",
            &format!("settings=@{}", settings.display()),
        ],
        &[("KUBE", "kube-s3cret")],
    );
    run.expect_code(0);
    let out = sb.wasmix(&["installation", "outputs", "paths", "--output", "json"]);
    let doc: Value = serde_json::from_str(&out.stdout()).unwrap();
    let value = |name: &str| {
        doc.as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .map(|o| o["value"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(value("granted"), "seen kube=yes settings=[colour = blue]");
    assert_eq!(value("ungranted"), "seen kube=no settings=[]");
    // Gone from the bundle directory once the step is done.
    assert!(!b.join("kube").exists() && !b.join("conf").exists());
    // Porter's base64 form works too; anything else is refused up front.
    let again = sb.wasmix_env(
        &[
            "install",
            b.to_str().unwrap(),
            "-i",
            "again",
            "--cred",
            "kubeconfig=env:KUBE",
            "--param",
            "settings=Y29sb3VyID0gcmVk",
        ],
        &[("KUBE", "kube-s3cret")],
    );
    again
        .expect_code(0)
        .expect_stdout("settings=[colour = red]");
    let bad = sb.wasmix_env(
        &[
            "install",
            b.to_str().unwrap(),
            "-i",
            "bad",
            "--cred",
            "kubeconfig=env:KUBE",
            "--param",
            "settings=not base64!",
        ],
        &[("KUBE", "kube-s3cret")],
    );
    bad.expect_code(2);
    assert!(bad.stderr().contains("base64"), "{}", bad.stderr());

    // A destination outside the bundle directory cannot be placed by the
    // host driver: refused before anything runs, naming the step.
    let outside = sb.bundle(
        "outside",
        &m.replace("path: /cnab/app/kube/config", "path: /root/.kube/config"),
        &[("show.sh", script)],
    );
    let run = sb.wasmix_env(
        &[
            "install",
            outside.to_str().unwrap(),
            "--cred",
            "kubeconfig=env:KUBE",
            "--param",
            "settings=eA==",
        ],
        &[("KUBE", "kube-s3cret")],
    );
    run.expect_code(2);
    assert!(
        run.stderr()
            .contains("credential kubeconfig goes to /root/.kube/config")
            && run.stderr().contains("--driver docker"),
        "{}",
        run.stderr()
    );
}

#[test]
fn output_declarations_are_enforced_and_exec_outputs_can_be_sensitive() {
    let sb = Sandbox::new();
    let m = |value: &str| {
        format!(
            "schemaVersion: 1.0.0\nname: checked\nversion: 0.1.0\nmixins: [exec]\noutputs:\n  - name: port\n    type: integer\n    $id: https://example.com/port\n    minimum: 1024\n  - name: token\n    sensitive: false\ninstall:\n  - exec:\n      command: echo\n      arguments: [\"{value} tok-s3cret\"]\n      grants: {{commands: [echo]}}\n      outputs:\n        - name: port\n          regex: \"^(\\\\d+)\"\n        - name: token\n          regex: \"(tok-\\\\S+)\"\n          sensitive: true\nuninstall:\n  - exec:\n      command: echo\n      grants: {{commands: [echo]}}\n"
        )
    };
    let good = sb.bundle("good", &m("8080"), &[]);
    let run = sb.wasmix(&["install", good.to_str().unwrap()]);
    run.expect_code(0).expect_stdout("port: 8080");
    // The exec output marked sensitive is masked though the bundle output
    // is not declared sensitive.
    assert!(!run.stdout().contains("tok-s3cret"), "{}", run.stdout());
    sb.wasmix(&["installation", "output", "show", "checked", "token"])
        .expect_code(0)
        .expect_stdout("tok-s3cret");
    // A value breaking the declaration fails the action.
    let bad = sb.bundle("bad", &m("80"), &[]);
    let run = sb.wasmix(&["install", bad.to_str().unwrap(), "-i", "bad"]);
    run.expect_code(1);
    assert!(
        run.stdout().contains("output \"port\"") && run.stdout().contains("1024"),
        "{}",
        run.all()
    );
}

#[test]
fn one_action_per_installation_and_a_killed_one_leaves_it_usable() {
    let sb = Sandbox::new();
    let m = "schemaVersion: 1.0.0\nname: slow\nversion: 0.1.0\nmixins: [exec]\nstate:\n  - name: tf\n    path: tf/terraform.tfstate\ninstall:\n  - exec:\n      command: ./work.sh\n      grants: {commands: [./work.sh], state: [tf]}\nupgrade:\n  - exec:\n      command: ./work.sh\n      grants: {commands: [./work.sh], state: [tf]}\nuninstall:\n  - exec:\n      command: echo\n      grants: {commands: [echo]}\n";
    let b = sb.bundle(
        "slow",
        m,
        &[(
            "work.sh",
            "#!/bin/sh\necho started > tf/terraform.tfstate\nif [ -f slow ]; then sleep 30; fi\necho done\n",
        )],
    );
    wasmix_e2e::make_executable(b.join("work.sh"));
    std::fs::write(b.join("slow"), "").unwrap();
    let mut first = std::process::Command::new(wasmix_e2e::wasmix_bin())
        .args(["install", b.to_str().unwrap()])
        .env("WASMIX_HOME", sb.home())
        .env("WASMIX_MIXIN_PATH", wasmix_e2e::mixin_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until its step runs (it has written the state file).
    let state = b.join("tf/terraform.tfstate");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !state.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first install never started its step"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A second action on the same installation is refused, naming the first.
    let second = sb.wasmix(&["install", b.to_str().unwrap()]);
    second.expect_code(3);
    assert!(
        second.stderr().contains("is busy") && second.stderr().contains("install is running it"),
        "{}",
        second.all()
    );
    // SIGKILL: no clean-up runs in the killed process.
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(state.exists(), "the killed run left its state file");
    // The next action records the killed run, removes what it left, runs.
    std::fs::remove_file(b.join("slow")).unwrap();
    sb.wasmix(&["install", b.to_str().unwrap()])
        .expect_code(0)
        .expect_stdout("done");
    let runs = sb.wasmix(&["installation", "runs", "slow", "-o", "json"]);
    let doc: Value = serde_json::from_str(&runs.stdout()).unwrap();
    let runs = doc.as_array().unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0]["status"], "succeeded");
    assert!(
        runs[1]["error"]
            .as_str()
            .unwrap()
            .contains("killed during install"),
        "{runs:?}"
    );
    assert!(
        !state.exists(),
        "the state file left the bundle directory again"
    );
    sb.wasmix(&["upgrade", b.to_str().unwrap()]).expect_code(0);
}

#[test]
fn a_credential_bound_to_a_program_reaches_that_program_only() {
    let sb = Sandbox::new();
    let m = |program: &str| {
        format!(
            "schemaVersion: 1.0.0\nname: bound\nversion: 0.1.0\nmixins: [exec]\ncredentials:\n  - name: token\n    env: TOKEN\ninstall:\n  - exec:\n      command: {program}\n      grants:\n        commands: [./tool.sh, printenv]\n        credentials: [{{name: token, to: [./tool.sh]}}]\nuninstall:\n  - exec:\n      command: echo\n      grants: {{commands: [echo]}}\n"
        )
    };
    let tool = "#!/bin/sh\necho \"tool sees ${#TOKEN}\"\n";
    let run_with = |name: &str, program: &str| {
        let b = sb.bundle(name, &m(program), &[("tool.sh", tool)]);
        wasmix_e2e::make_executable(b.join("tool.sh"));
        sb.wasmix_env(
            &[
                "install",
                b.to_str().unwrap(),
                "-i",
                name,
                "--cred",
                "token=env:BOUND_TOKEN",
            ],
            &[("BOUND_TOKEN", "bound-s3cret")],
        )
    };
    // The bound program gets it through its env: destination.
    run_with("good", "./tool.sh")
        .expect_code(0)
        .expect_stdout("tool sees 12");
    // Another granted program of the same step does not.
    let run = run_with("other", "printenv");
    run.expect_code(0);
    assert!(
        !run.stdout().contains("TOKEN") && !run.all().contains("bound-s3cret"),
        "{}",
        run.all()
    );
    // A template that renders a bound credential would hand the mixin its
    // bytes: refused before anything runs.
    let templated = m("printenv").replace(
        "      grants:\n",
        "      envs:\n        T: ${ bundle.credentials.token }\n      grants:\n",
    );
    let b = sb.bundle("templated", &templated, &[("tool.sh", tool)]);
    let run = sb.wasmix_env(
        &[
            "install",
            b.to_str().unwrap(),
            "--cred",
            "token=env:BOUND_TOKEN",
        ],
        &[("BOUND_TOKEN", "bound-s3cret")],
    );
    run.expect_code(2);
    assert!(
        run.stderr().contains("a binding would not hold"),
        "{}",
        run.all()
    );
    // explain shows the binding.
    let b = sb.dir.path().join("good");
    sb.wasmix(&["explain", b.to_str().unwrap()])
        .expect_code(0)
        .expect_stdout("token bound to ./tool.sh");
}

/// A `wasmix` installed as `make install` lays it out (`PREFIX/bin/wasmix`,
/// `PREFIX/lib/wasmix/mixins/`) runs bundles with no mixin path at all; a
/// component of the same name on the operator's path overrides the built-in
/// one, and `mixin list` says which is which.
#[test]
fn built_in_mixins_need_no_mixin_path_and_the_path_overrides_them() {
    let sb = Sandbox::new();
    let prefix = sb.dir.path().join("prefix");
    let bin = prefix.join("bin");
    let builtin = prefix.join("lib/wasmix/mixins");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&builtin).unwrap();
    let exe = bin.join("wasmix");
    if std::fs::hard_link(wasmix_e2e::wasmix_bin(), &exe).is_err() {
        std::fs::copy(wasmix_e2e::wasmix_bin(), &exe).unwrap();
    }
    let exec = wasmix_e2e::mixin_dir().join("wasmix_exec.wasm");
    std::fs::copy(&exec, builtin.join("wasmix_exec.wasm")).unwrap();
    let bundle = sb.bundle(
        "builtin",
        "schemaVersion: 1.0.0\nname: builtin\nversion: 0.1.0\nmixins: [exec]\ninstall:\n  - exec:\n      description: hi\n      command: echo\n      arguments: [built-in exec ran]\n      grants: {commands: [echo]}\nuninstall:\n  - exec:\n      command: echo\n      arguments: [bye]\n      grants: {commands: [echo]}\n",
        &[],
    );
    let run = |args: &[&str]| {
        wasmix_e2e::Run(
            std::process::Command::new(&exe)
                .args(args)
                .env("WASMIX_HOME", sb.home())
                .env_remove("WASMIX_MIXIN_PATH")
                .output()
                .unwrap(),
        )
    };
    run(&["install", bundle.to_str().unwrap()])
        .expect_code(0)
        .expect_stdout("built-in exec ran");

    let list = run(&["mixin", "list", "-o", "json"]);
    list.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&list.stdout()).unwrap();
    let local = doc["local"].as_array().unwrap();
    assert_eq!(local.len(), 1, "{doc}");
    assert_eq!(local[0]["name"], "exec");
    assert_eq!(local[0]["source"], "built-in");
    assert_eq!(local[0]["version"], "0.1.0");
    assert!(local[0]["digest"].as_str().unwrap().starts_with("sha256:"));

    // The same name on the operator's path comes first.
    let mine = sb.home().join("mixins");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::copy(&exec, mine.join("exec.wasm")).unwrap();
    let list = run(&["mixin", "list", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&list.stdout()).unwrap();
    let local = doc["local"].as_array().unwrap();
    assert_eq!(local.len(), 2, "{doc}");
    assert_eq!(local[0]["source"], "path");
    assert!(local[0].get("shadowed_by").is_none(), "{doc}");
    assert_eq!(local[1]["source"], "built-in");
    assert_eq!(
        local[1]["shadowed_by"].as_str().unwrap(),
        mine.join("exec.wasm").to_str().unwrap()
    );
    let text = run(&["mixin", "list"]);
    assert!(
        text.stdout().contains("built-in (overridden)"),
        "{}",
        text.all()
    );
    // With the built-in gone, the operator's copy still serves.
    std::fs::remove_file(builtin.join("wasmix_exec.wasm")).unwrap();
    run(&["uninstall", bundle.to_str().unwrap()])
        .expect_code(0)
        .expect_stdout("bye");
}

/// `wasmix man` writes a page per command, with each command's options.
#[test]
fn man_pages_cover_every_command() {
    let sb = Sandbox::new();
    let dir = sb.dir.path().join("man1");
    sb.wasmix(&["man", "-O", dir.to_str().unwrap()])
        .expect_code(0)
        .expect_stdout("man pages to");
    let page = |name: &str| {
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert!(page("wasmix.1").contains(".TH wasmix 1"));
    assert!(page("wasmix-install.1").contains("accept\\-capabilities"));
    assert!(page("wasmix-mixin-push.1").contains(".TH wasmix-mixin-push 1"));
    assert!(page("wasmix-mixin-push.1").contains("Push a component as a Wasm OCI artifact"));
    assert!(page("wasmix-workflow-resume.1").contains("resume"));
}
