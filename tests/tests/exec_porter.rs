//! The exec mixin component replays Porter's own exec test data
//! (`tests/porter-compat/pkg/exec`) and gives Porter's results. The command
//! runs through the recording `debug` driver, so argv and env are asserted
//! exactly; canned replies stand in for what the command printed.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmix::driver::{Completed, DebugDriver, Recorded};
use wasmix::grant::{CredentialAccess, Grant};
use wasmix::redact::Redactor;
use wasmix::sandbox::{step, LoadedMixin, MixinEngine, StepInput, StepReport};
use wasmix::schema;
use wasmix_e2e::{mixin_dir, porter_compat};

struct Exec {
    engine: MixinEngine,
    mixin: LoadedMixin,
}

impl Exec {
    /// One compiled exec component shared by every test here.
    fn new() -> &'static Self {
        static EXEC: std::sync::OnceLock<Exec> = std::sync::OnceLock::new();
        EXEC.get_or_init(|| {
            let engine = MixinEngine::new(None).unwrap();
            let mixin = engine
                .load("exec", &mixin_dir().join("wasmix_exec.wasm"))
                .unwrap();
            Exec { engine, mixin }
        })
    }

    /// Run one step body with `command` granted; the driver answers `reply`.
    fn run(&self, body: &Value, reply: Completed) -> (StepReport, Vec<Recorded>) {
        let driver = Arc::new(DebugDriver::default());
        driver.reply_with(reply);
        let mut grant = Grant::default();
        grant
            .commands
            .insert(body["command"].as_str().unwrap().to_string());
        let dir = tempfile::tempdir().unwrap();
        let report = step::execute(
            &self.engine,
            &self.mixin,
            StepInput {
                action: "install",
                step_json: body.to_string(),
                config_json: "null".into(),
                installation: "test",
                grant: &grant,
                secrets: BTreeMap::new(),
                env: Vec::new(),
                driver: driver.clone(),
                bundle_dir: dir.path(),
                limits: Default::default(),
                redactor: &Redactor::default(),
                files: Vec::new(),
            },
        );
        (report, driver.recorded())
    }

    fn argv(&self, body: &Value) -> Vec<String> {
        let (report, rec) = self.run(body, Completed::default());
        report.result.expect("step succeeds");
        assert_eq!(rec.len(), 1);
        std::iter::once(rec[0].program.clone())
            .chain(rec[0].args.clone())
            .collect()
    }

    fn outputs(&self, body: &Value, stdout: &str) -> Result<BTreeMap<String, String>, String> {
        let reply = Completed {
            exit_code: 0,
            stdout: stdout.as_bytes().to_vec(),
            stderr: vec![],
        };
        let (report, _) = self.run(body, reply);
        report
            .result
            .map(|o| o.into_iter().map(|o| (o.name, o.value)).collect())
    }
}

/// The first step of `action` in one of Porter's exec input files, as JSON.
fn porter_step(file: &str, action: &str) -> Value {
    let text = std::fs::read_to_string(porter_compat().join("exec").join(file)).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let step = &doc[action][0]["exec"];
    serde_json::to_value(step).unwrap()
}

#[test]
fn install_input_builds_porters_command_and_env() {
    let exec = Exec::new();
    let body = porter_step("testdata/install-input.yaml", "install");
    let (report, rec) = exec.run(&body, Completed::default());
    // Nothing printed: the jsonPath output is skipped, as in Porter.
    assert_eq!(report.result.unwrap(), []);
    let r = &rec[0];
    assert_eq!(r.program, "gcloud");
    assert_eq!(
        r.args,
        [
            "compute",
            "instances",
            "create",
            "--machine-type",
            "f1-micro",
            "--project",
            "porterci",
            "--zone",
            "us-central1-a"
        ]
    );
    assert_eq!(r.env, [("SECRET".to_string(), "super-secret".to_string())]);
}

#[test]
fn suffix_arguments_come_after_flags() {
    let exec = Exec::new();
    let argv = exec.argv(&porter_step("testdata/suffix-args-input.yaml", "install"));
    assert_eq!(
        argv,
        [
            "docker",
            "build",
            "--tag",
            "getporter/porter-hello:latest",
            "."
        ]
    );
}

#[test]
fn flags_follow_porters_rules() {
    let exec = Exec::new();
    let text =
        std::fs::read_to_string(porter_compat().join("exec/builder/testdata/flags-input.yaml"))
            .unwrap();
    let flags: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let body = json!({"command": "cmd", "flags": serde_json::to_value(flags).unwrap()});
    assert_eq!(
        exec.argv(&body),
        [
            "cmd",
            "--bool",
            "true",
            "--empty",
            "--int",
            "1",
            "--repeated",
            "FOO=BAR",
            "--repeated",
            "STUFF=THINGS",
            "--string",
            "abc"
        ]
    );
    let body = json!({"command": "cmd", "flags": {"bull": 2, "a": 1}});
    assert_eq!(exec.argv(&body), ["cmd", "-a", "1", "--bull", "2"]);
}

#[test]
fn only_flag_values_are_split_on_whitespace() {
    let exec = Exec::new();
    let body = json!({"command": "cmd", "arguments": ["not split here"], "flags": {
        "a": "val1 val2", "b": "\"val1 val2\" val3", "c": "\"Patty O'Brien\" true", "d": "\"unmatched"}});
    assert_eq!(
        exec.argv(&body),
        [
            "cmd",
            "not split here",
            "-a",
            "val1",
            "val2",
            "-b",
            "val1 val2",
            "val3",
            "-c",
            "Patty O'Brien",
            "true",
            "-d",
            "\"unmatched"
        ]
    );
    // Porter's bash -c example: unquoted, the script is split (what lint warns about).
    assert_eq!(
        exec.argv(&porter_step("testdata/uninstall-input.yaml", "uninstall")),
        ["bash", "-c", "echo", "Hello", "World"]
    );
}

#[test]
fn ignore_error_rules_apply_in_porters_order() {
    let exec = Exec::new();
    let failing = || Completed {
        exit_code: 1,
        stdout: vec![],
        stderr: b"thing already exists".to_vec(),
    };
    for rule in [
        json!({"all": true}),
        json!({"exitCodes": [1]}),
        json!({"output": {"contains": ["already exists"]}}),
        json!({"output": {"regex": [".* exists"]}}),
    ] {
        let body = json!({"command": "cmd", "ignoreError": rule});
        let (report, _) = exec.run(&body, failing());
        assert!(
            report.result.is_ok(),
            "{rule} should ignore the failure: {:?}",
            report.result
        );
    }
    let body = json!({"command": "cmd", "ignoreError": {"exitCodes": [2, 1, 4]}});
    let (report, _) = exec.run(
        &body,
        Completed {
            exit_code: 10,
            stdout: vec![],
            stderr: vec![],
        },
    );
    let err = report.result.unwrap_err();
    assert!(err.contains("exit code 10"), "{err}");
    assert_eq!(report.exit_code, Some(10));
    // Porter's install-input ignores "already exists" on stderr.
    let (report, _) = exec.run(
        &porter_step("testdata/install-input.yaml", "install"),
        failing(),
    );
    assert!(report.result.is_ok());
}

#[test]
fn json_path_outputs_keep_porters_formatting() {
    let exec = Exec::new();
    let stdout =
        std::fs::read_to_string(porter_compat().join("exec/builder/testdata/install-output.json"))
            .unwrap();
    let cases = [
        ("$[*].id", r#"["1085517466897181794"]"#),
        ("$[0].tags", r#"{"fingerprint":"42WmSpB8rSM="}"#),
        ("$[0]._bigId", "1.23123123e+08"),
        ("$[0].deletionProtection", "false"),
        ("$[0].cpuPlatform", "Intel Haswell"),
    ];
    let outputs: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(i, (p, _))| json!({"name": format!("o{i}"), "jsonPath": p}))
        .collect();
    let got = exec
        .outputs(&json!({"command": "gcloud", "outputs": outputs}), &stdout)
        .unwrap();
    for (i, (path, want)) in cases.iter().enumerate() {
        assert_eq!(got[&format!("o{i}")], *want, "{path}");
    }
    // Porter's install-input collects vms with $[*].id.
    let got = exec
        .outputs(
            &porter_step("testdata/install-input.yaml", "install"),
            &stdout,
        )
        .unwrap();
    assert_eq!(got["vms"], r#"["1085517466897181794"]"#);
}

#[test]
fn regex_outputs_take_every_group_of_every_match() {
    let exec = Exec::new();
    let stdout =
        "--- FAIL: TestMixin_Install (0.00s)\nstuff\n--- FAIL: TestMixin_Upgrade (0.00s)\n";
    let body = json!({"command": "go", "outputs": [
        {"name": "failed", "regex": "--- FAIL: (.*) \\(.*\\)"},
        {"name": "nogroup", "regex": "--- FAIL"}]});
    let got = exec.outputs(&body, stdout).unwrap();
    assert_eq!(got["failed"], "TestMixin_Install\nTestMixin_Upgrade");
    assert_eq!(got["nogroup"], "");
    let got = exec
        .outputs(
            &porter_step("testdata/invoke-input.yaml", "status"),
            "Hello World\n",
        )
        .unwrap();
    assert_eq!(got["name"], "World");
}

#[test]
fn path_output_of_a_missing_file_is_an_error() {
    let exec = Exec::new();
    let err = exec
        .outputs(&porter_step("testdata/upgrade-input.yaml", "upgrade"), "")
        .unwrap_err();
    assert!(
        err.contains("world-config") && err.contains("config/kube.yaml"),
        "{err}"
    );
}

#[test]
fn outputs_are_only_collected_on_success() {
    let exec = Exec::new();
    let body = json!({"command": "cmd", "outputs": [{"name": "x", "regex": "(.*)"}]});
    let (report, _) = exec.run(
        &body,
        Completed {
            exit_code: 3,
            stdout: b"partial".to_vec(),
            stderr: b"boom".to_vec(),
        },
    );
    let err = report.result.unwrap_err();
    assert!(err.contains("exit code 3") && err.contains("boom"), "{err}");
}

#[test]
fn lint_reports_embedded_bash_like_porter() {
    let exec = Exec::new();
    let text =
        std::fs::read_to_string(porter_compat().join("exec/testdata/lint-input.yaml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let steps = doc["actions"]["install"].as_sequence().unwrap();
    let mut found = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let body = serde_json::to_value(&s["exec"]).unwrap();
        for d in step::lint(&exec.engine, &exec.mixin, "install", &body.to_string()).unwrap() {
            found.push((i, d.code, format!("{:?}", d.severity)));
        }
    }
    assert_eq!(
        found,
        [
            (1, "exec-100".to_string(), "Severity::Warning".to_string()),
            (1, "exec-101".to_string(), "Severity::Error".to_string())
        ]
    );
    // Wrapped in quotes, only the warning remains.
    let ok = json!({"command": "bash", "flags": {"c": "\"echo Hello World\""}});
    let codes: Vec<String> = step::lint(&exec.engine, &exec.mixin, "install", &ok.to_string())
        .unwrap()
        .into_iter()
        .map(|d| d.code)
        .collect();
    assert_eq!(codes, ["exec-100"]);
}

#[test]
fn schema_rejects_porters_invalid_inputs() {
    let exec = Exec::new();
    let v = schema::validate(
        &exec.mixin.step_schema,
        &porter_step("testdata/invalid-args-input.yaml", "install"),
    );
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].path, "args");
    assert!(
        v[0].message.contains("unknown field `args`"),
        "{}",
        v[0].message
    );

    let text = std::fs::read_to_string(
        porter_compat().join("exec/testdata/install-invalid-type-input.yaml"),
    )
    .unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let body = serde_json::to_value(&doc["install"][0]["exec"]).unwrap();
    let v = schema::validate(&exec.mixin.step_schema, &body);
    assert_eq!(v[0].message, "expected object, found string");

    for (file, action) in [
        ("testdata/install-input.yaml", "install"),
        ("testdata/upgrade-input.yaml", "upgrade"),
        ("testdata/suffix-args-input.yaml", "install"),
    ] {
        assert!(
            schema::validate(&exec.mixin.step_schema, &porter_step(file, action)).is_empty(),
            "{file}"
        );
    }
    let text = std::fs::read_to_string(porter_compat().join("exec/testdata/outputs.yaml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert!(schema::validate(
        &exec.mixin.step_schema,
        &serde_json::to_value(&doc["foo"][0]["exec"]).unwrap()
    )
    .is_empty());
}

#[test]
fn describe_reports_name_version_and_schema() {
    let exec = Exec::new();
    assert_eq!(exec.mixin.info.name, "exec");
    assert_eq!(exec.mixin.info.version, "0.1.0");
    assert_eq!(exec.mixin.step_schema["required"], json!(["command"]));
    let _ = CredentialAccess::Use;
}
