//! Errors that teach: every refusal path of the CLI a user meets first —
//! bad flag values, missing files, an unreachable registry, credentials,
//! parameters, installations, the trust policy, widened grants, a broken
//! manifest — names the thing, where it is, and what to do next, with the
//! exit code scripts rely on. (Registry credentials and trust refusals
//! against a live registry are checked in registry.rs, trust.rs and
//! bundles.rs.)

use wasmix_e2e::Sandbox;

struct Case {
    args: Vec<String>,
    code: i32,
    /// Each must appear in stderr: the thing, the place, the next step.
    says: Vec<&'static str>,
}

fn case(args: &[&str], code: i32, says: &[&'static str]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        code,
        says: says.to_vec(),
    }
}

#[test]
fn every_first_refusal_names_the_thing_the_place_and_the_next_step() {
    let sb = Sandbox::new();
    let ok = "schemaVersion: 1.0.0\nname: e\nversion: 0.1.0\nmixins: [exec]\ncredentials:\n  - name: token\nparameters:\n  - name: port\n    type: integer\n    default: 8080\ninstall:\n  - exec:\n      command: echo\n      grants: {commands: [echo]}\nuninstall:\n  - exec:\n      command: echo\n      grants: {commands: [echo]}\n";
    let b = sb.bundle("e", ok, &[]);
    let bundle = b.to_str().unwrap().to_string();
    let broken = sb.bundle("broken", "schemaVersion: 1.0.0\nname: b\nversion: 0.1.0\nmixins: [exec]\ninstall:\n  - exec:\n      comand: echo\nuninstall:\n  - exec:\n      command: echo\n", &[]);
    let broken = broken.to_str().unwrap().to_string();
    let cases = [
        case(
            &["install", &bundle, "--driver", "bogus"],
            2,
            &["bogus", "--driver", "possible values: host, debug, docker"],
        ),
        case(
            &["install", "/nonexistent/bundle"],
            2,
            &[
                "/nonexistent/bundle",
                "no such bundle directory",
                "--reference",
            ],
        ),
        case(
            &["install", "127.0.0.1:1/bundles/x:v1"],
            3,
            &[
                "127.0.0.1:1",
                "cannot reach it",
                "--insecure-registry 127.0.0.1:1",
            ],
        ),
        case(
            &["install", &bundle, "--cred", "token=oops"],
            2,
            &["credential token", "token=env:VAR", "token=value:TEXT"],
        ),
        case(
            &[
                "install",
                &bundle,
                "--cred",
                "token=value:x",
                "--param",
                "nope=1",
            ],
            2,
            &["\"nope\"", "declares: port"],
        ),
        case(
            &[
                "install",
                &bundle,
                "--cred",
                "token=value:x",
                "--param",
                "port=abc",
            ],
            2,
            &["parameter \"port\"", "integer", "\"abc\""],
        ),
        case(&["install", &bundle], 2, &["token", "--cred"]),
        case(
            &["installation", "show", "nope"],
            2,
            &["\"nope\"", "wasmix installation list"],
        ),
        case(
            &["uninstall", "-i", "nope"],
            2,
            &[
                "\"nope\"",
                "wasmix installation list",
                "bundle directory or reference",
            ],
        ),
        case(
            &["--trust-policy", "/nonexistent/trust.yaml", "mixin", "list"],
            2,
            &["/nonexistent/trust.yaml", "--trust-policy"],
        ),
        case(
            &["lint", &broken],
            2,
            &["porter.yaml:7:7", "comand", "command"],
        ),
        case(
            &["mixin", "push", "/nonexistent.wasm", "127.0.0.1:1/x:y"],
            2,
            &["/nonexistent.wasm", "usage: wasmix mixin push FILE"],
        ),
        case(
            &["installation", "apply", "/nonexistent/inst.yaml"],
            2,
            &["/nonexistent/inst.yaml"],
        ),
        case(
            &["publish", &bundle],
            2,
            &[
                "say where to publish",
                "REGISTRY/REPOSITORY:TAG",
                "registry:",
            ],
        ),
    ];
    let mut wrong = Vec::new();
    for c in &cases {
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let run = sb.wasmix(&args);
        let err = run.stderr();
        let missing: Vec<&&str> = c.says.iter().filter(|s| !err.contains(**s)).collect();
        if run.code() != c.code || !missing.is_empty() {
            wrong.push(format!(
                "wasmix {}: exit {} (want {}), missing {missing:?} in:\n{err}",
                args.join(" "),
                run.code(),
                c.code
            ));
        }
        // One error line (plus located problems), never a panic or a backtrace.
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "{err}"
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));

    // Widened grants: the step, the capability, the flag that accepts them.
    sb.wasmix(&["install", &bundle, "--cred", "token=value:x"])
        .expect_code(0);
    let wider = ok.replace(
        "commands: [echo]}\nuninstall",
        "commands: [echo, cat]}\nuninstall",
    );
    std::fs::write(b.join("porter.yaml"), wider).unwrap();
    let run = sb.wasmix(&["install", &bundle, "-i", "again", "--cred", "token=value:x"]);
    run.expect_code(2);
    for s in [
        "install[0].exec",
        "command cat",
        "--accept-capabilities",
        "wasmix explain",
    ] {
        assert!(run.stderr().contains(s), "missing {s:?}: {}", run.stderr());
    }
}

#[test]
fn config_file_settings_yield_to_environment_and_flags() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.home()).unwrap();
    std::fs::write(
        sb.home().join("config.toml"),
        "driver = \"debug\"\ninsecure-registries = [\"localhost:5999\"]\n",
    )
    .unwrap();
    let b = sb.bundle(
        "c",
        "schemaVersion: 1.0.0\nname: c\nversion: 0.1.0\nmixins: [exec]\ninstall:\n  - exec:\n      command: echo\n      arguments: [ran-for-real]\n      grants: {commands: [echo]}\nuninstall:\n  - exec:\n      command: echo\n      grants: {commands: [echo]}\n",
        &[],
    );
    let bundle = b.to_str().unwrap();
    // From the file: the debug driver runs nothing.
    let run = sb.wasmix(&["install", bundle, "-i", "one"]);
    run.expect_code(0).expect_stdout("debug driver");
    assert!(!run.stdout().contains("ran-for-real"), "{}", run.all());
    // The environment beats the file, and a flag beats both.
    sb.wasmix_env(
        &["install", bundle, "-i", "two"],
        &[("WASMIX_DRIVER", "host")],
    )
    .expect_code(0)
    .expect_stdout("ran-for-real");
    sb.wasmix_env(
        &["install", bundle, "-i", "three", "--driver", "host"],
        &[("WASMIX_DRIVER", "debug")],
    )
    .expect_code(0)
    .expect_stdout("ran-for-real");
    // config show says where each setting came from.
    let show = sb.wasmix(&["config", "show", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&show.stdout()).unwrap();
    assert_eq!(
        doc["settings"]["insecure-registries"]["from"],
        "config file"
    );
    assert_eq!(
        doc["settings"]["insecure-registries"]["value"][0],
        "localhost:5999"
    );
    assert_eq!(doc["settings"]["output"]["from"], "flag");
    // A misspelt setting is refused with its line, not ignored.
    std::fs::write(
        sb.home().join("config.toml"),
        "driver = \"host\"\ndirver = \"debug\"\n",
    )
    .unwrap();
    let run = sb.wasmix(&["version"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("config.toml:2") && run.stderr().contains("dirver"),
        "{}",
        run.stderr()
    );
}

#[test]
fn quiet_leaves_the_result_and_drops_the_progress() {
    let sb = Sandbox::new();
    let b = sb.bundle(
        "q",
        "schemaVersion: 1.0.0\nname: q\nversion: 0.1.0\nmixins: [exec]\noutputs:\n  - name: said\ninstall:\n  - exec:\n      description: Say it\n      command: echo\n      arguments: [hello-quietly]\n      grants: {commands: [echo]}\n      outputs: [{name: said, regex: \"(hello.*)\"}]\nuninstall:\n  - exec:\n      command: echo\n      grants: {commands: [echo]}\n",
        &[],
    );
    let run = sb.wasmix(&["install", b.to_str().unwrap(), "--quiet"]);
    run.expect_code(0)
        .expect_stdout("install of q succeeded")
        .expect_stdout("said: hello-quietly");
    assert!(
        !run.stdout().contains("Say it") && !run.stdout().contains("[1/1]"),
        "{}",
        run.stdout()
    );
}
