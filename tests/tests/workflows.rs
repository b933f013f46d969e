//! Dependencies as workflows, end to end through the CLI against a real
//! registry: bundles published and signed, installed by reference with
//! their dependency graphs; parallel levels shown by task timestamps;
//! sharing groups; a failed task and `workflow retry`; `kill -9` of the
//! real process at several points and `workflow resume`. Every step of
//! every bundle appends a line to a file named after its installation, so
//! "ran exactly once" is counted, not assumed.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wasmix_e2e::{RegistryServer, Run, Sandbox};

const STEP_FAILED: i32 = wasmix::exit::ExitClass::StepFailed.code() as i32;

fn w(sb: &Sandbox, reg: &RegistryServer, args: &[&str]) -> Run {
    let policy = reg.trust().policy;
    sb.wasmix_at(&reg.addr, Some(&policy), args, &[])
}

/// Where the bundles' steps count their runs, and the marker files that
/// make one fail.
struct Counters {
    dir: tempfile::TempDir,
}

impl Counters {
    fn new() -> Counters {
        Counters {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    /// The lines installation `name`'s steps appended.
    fn lines(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.path().join(name))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
    fn count(&self, name: &str, action: &str) -> usize {
        self.lines(name)
            .iter()
            .filter(|l| l.starts_with(&format!("{action} ")))
            .count()
    }
    fn fail(&self, name: &str, yes: bool) {
        let marker = self.path().join(format!("fail-{name}"));
        if yes {
            std::fs::write(marker, "").unwrap();
        } else {
            let _ = std::fs::remove_file(marker);
        }
    }
}

/// A bundle whose install and uninstall run `step.sh`: it sleeps `sleep`
/// seconds, fails when told to, appends `ACTION RECEIVED` to the counter of
/// its installation, and prints `url=INSTALLATION.example/RECEIVED` as its
/// output. `deps` is the `dependencies:` block (or empty); `wired` is the
/// text the install step passes (a template).
fn node(sb: &Sandbox, c: &Counters, name: &str, deps: &str, wired: &str, sleep: &str) -> PathBuf {
    let m = format!(
        r#"schemaVersion: 1.1.0
name: {name}
version: 0.1.0
mixins: [exec]
parameters:
  - name: connstr
    type: string
    default: none
credentials:
  - name: token
    required: false
outputs:
  - name: url
{deps}
install:
  - exec:
      description: work
      command: ./step.sh
      arguments: ["${{ installation.name }}", install, "{wired}"]
      grants: {{commands: [./step.sh]}}
      outputs: [{{name: url, regex: "url=(\\S+)"}}]
uninstall:
  - exec:
      description: undo
      command: ./step.sh
      arguments: ["${{ installation.name }}", uninstall, "-"]
      grants: {{commands: [./step.sh]}}
"#
    );
    let script = format!(
        "#!/bin/sh\n/bin/sleep {sleep}\nif [ -e '{dir}/fail-'\"$1\" ]; then echo \"$1 was told to fail\" >&2; exit 3; fi\necho \"$2 $3\" >> '{dir}/'\"$1\"\necho \"url=$1.example/$3\"\n",
        dir = c.path().display()
    );
    let dir = sb.bundle(name, &m, &[("step.sh", &script)]);
    wasmix_e2e::make_executable(dir.join("step.sh"));
    dir
}

fn publish(sb: &Sandbox, reg: &RegistryServer, dir: &Path, name: &str) -> String {
    let key = reg.trust().key;
    let reference = format!("{}/deps/{name}:v0.1.0", reg.addr);
    w(
        sb,
        reg,
        &[
            "publish",
            dir.to_str().unwrap(),
            &reference,
            "--sign",
            "--key",
            key.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    reference
}

fn requires(entries: &[(&str, &str, &str)]) -> String {
    // (name, reference, extra YAML indented under the entry)
    let mut s = "dependencies:\n  requires:\n".to_string();
    for (name, reference, extra) in entries {
        s.push_str(&format!(
            "    - name: {name}\n      bundle:\n        reference: {reference}\n{extra}"
        ));
    }
    s
}

const SHARED: &str =
    "      sharing:\n        mode: true\n        group:\n          name: diamond\n";

/// The diamond: A needs B and C, both need D (shared in one group, so one
/// installation). Returns A's reference.
fn diamond(sb: &Sandbox, reg: &RegistryServer, c: &Counters, sleep: &str) -> String {
    let d = publish(sb, reg, &node(sb, c, "d", "", "-", sleep), "d");
    let mid = requires(&[("d", &d, SHARED)]);
    let b = publish(
        sb,
        reg,
        &node(
            sb,
            c,
            "b",
            &mid,
            "${ bundle.dependencies.d.outputs.url }",
            sleep,
        ),
        "b",
    );
    let cc = publish(
        sb,
        reg,
        &node(
            sb,
            c,
            "c",
            &mid,
            "${ bundle.dependencies.d.outputs.url }",
            sleep,
        ),
        "c",
    );
    let top = requires(&[("b", &b, ""), ("c", &cc, "")]);
    publish(
        sb,
        reg,
        &node(
            sb,
            c,
            "a",
            &top,
            "${ bundle.dependencies.b.outputs.url }",
            sleep,
        ),
        "a",
    )
}

fn show(sb: &Sandbox, reg: &RegistryServer, id: &str) -> Value {
    let run = w(sb, reg, &["workflow", "show", id, "--output", "json"]);
    run.expect_code(0);
    serde_json::from_str(&run.stdout()).expect("workflow JSON")
}

fn task<'a>(wf: &'a Value, node: &str) -> &'a Value {
    wf["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["node"] == node)
        .unwrap_or_else(|| panic!("no task {node} in {wf:#}"))
}

fn status(wf: &Value, node: &str) -> String {
    task(wf, node)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn ms(t: &Value, field: &str) -> i64 {
    t[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field} of {t}"))
}

#[test]
fn a_diamond_installs_in_parallel_runs_the_shared_bundle_once_and_uninstalls_in_reverse() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let c = Counters::new();
    let a = diamond(&sb, &reg, &c, "1");

    // The plan, before anything runs: levels, reasons, wiring.
    let run = w(&sb, &reg, &["explain", &a]);
    run.expect_code(0)
        .expect_stdout("level 0: d")
        .expect_stdout("level 1 (in parallel): a-b, a-c")
        .expect_stdout("level 2: a")
        .expect_stdout("shared in group \"diamond\"")
        .expect_stdout("required by a-b, a-c");
    let plan: Value =
        serde_json::from_str(&w(&sb, &reg, &["explain", &a, "-o", "json"]).stdout()).unwrap();
    assert_eq!(
        plan["plan"]["nodes"].as_array().unwrap().len(),
        4,
        "{plan:#}"
    );

    let run = w(&sb, &reg, &["install", &a, "-i", "a", "--parallel", "4"]);
    run.expect_code(0).expect_stdout("workflow 1 succeeded");
    let wf = show(&sb, &reg, "1");
    for n in ["d", "a-b", "a-c", "a"] {
        assert_eq!(status(&wf, n), "succeeded", "{wf:#}");
    }
    // D once, for both B and C.
    assert_eq!(c.count("d", "install"), 1);
    // B and C overlapped: each started before the other finished.
    let (b, cc) = (task(&wf, "a-b"), task(&wf, "a-c"));
    assert!(
        ms(b, "started_ms") < ms(cc, "finished_ms") && ms(cc, "started_ms") < ms(b, "finished_ms"),
        "B and C did not run in parallel: {wf:#}"
    );
    // D finished before either began; A began after both finished.
    let (d, top) = (task(&wf, "d"), task(&wf, "a"));
    assert!(ms(d, "finished_ms") <= ms(b, "started_ms").min(ms(cc, "started_ms")));
    assert!(ms(top, "started_ms") >= ms(b, "finished_ms").max(ms(cc, "finished_ms")));
    // Wiring: B received D's output; A received B's.
    assert_eq!(c.lines("a-b"), ["install d.example/-"]);
    assert_eq!(c.lines("a"), ["install a-b.example/d.example/-"]);
    // The digest each task ran is recorded.
    assert!(task(&wf, "d")["bundle"]
        .as_str()
        .unwrap()
        .contains("/deps/d@sha256:"));

    // Uninstall: A first, then B and C, then D.
    w(&sb, &reg, &["uninstall", "-i", "a"]).expect_code(0);
    let wf = show(&sb, &reg, "2");
    assert_eq!(wf["action"], "uninstall");
    let (d, b, cc, top) = (
        task(&wf, "d"),
        task(&wf, "a-b"),
        task(&wf, "a-c"),
        task(&wf, "a"),
    );
    assert!(ms(top, "finished_ms") <= ms(b, "started_ms").min(ms(cc, "started_ms")));
    assert!(ms(d, "started_ms") >= ms(b, "finished_ms").max(ms(cc, "finished_ms")));
    for n in ["d", "a-b", "a-c", "a"] {
        assert_eq!(c.count(n, "uninstall"), 1, "{n}: {:?}", c.lines(n));
    }
}

#[test]
fn wiring_passes_an_output_and_a_sharing_group_reuses_the_installation() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let c = Counters::new();
    // Porter's wiring-top: infra and app shared in one group; app's
    // parameter takes infra's output.
    let infra = publish(&sb, &reg, &node(&sb, &c, "infra", "", "-", "0"), "infra");
    let app = publish(
        &sb,
        &reg,
        &node(&sb, &c, "app", "", "${ bundle.parameters.connstr }", "0"),
        "app",
    );
    let group = SHARED.replace("diamond", "wiring");
    let wiring = format!(
        "{group}      parameters:\n        connstr: ${{ bundle.dependencies.infra.outputs.url }}\n"
    );
    let top = |name: &str| {
        let deps = requires(&[("infra", &infra, &group), ("app", &app, &wiring)]);
        publish(&sb, &reg, &node(&sb, &c, name, &deps, "-", "0"), name)
    };
    let first = top("top");
    w(&sb, &reg, &["install", &first, "-i", "top"]).expect_code(0);
    assert_eq!(c.lines("app"), ["install infra.example/-"]);

    // A second bundle of the same group reuses both installations.
    let second = top("other");
    w(&sb, &reg, &["install", &second, "-i", "other"]).expect_code(0);
    let wf = show(&sb, &reg, "2");
    assert_eq!(status(&wf, "infra"), "reused", "{wf:#}");
    assert_eq!(status(&wf, "app"), "reused", "{wf:#}");
    assert_eq!(c.count("infra", "install"), 1);
    assert_eq!(c.count("app", "install"), 1);
    let list = w(&sb, &reg, &["installation", "list", "-o", "json"]);
    let names: Vec<String> = serde_json::from_str::<Value>(&list.stdout())
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names.iter().filter(|n| *n == "infra").count(),
        1,
        "{names:?}"
    );

    // Uninstalling one user keeps what the other still uses.
    w(&sb, &reg, &["uninstall", "-i", "top"])
        .expect_code(0)
        .expect_stdout("kept");
    assert_eq!(c.count("infra", "uninstall"), 0);
    assert_eq!(c.count("top", "uninstall"), 1);
    // The last user takes them with it.
    w(&sb, &reg, &["uninstall", "-i", "other"]).expect_code(0);
    assert_eq!(c.count("infra", "uninstall"), 1);
    assert_eq!(c.count("app", "uninstall"), 1);
}

#[test]
fn a_failed_task_leaves_the_rest_and_retry_finishes_the_workflow() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let c = Counters::new();
    let a = diamond(&sb, &reg, &c, "0");
    c.fail("a-c", true);
    let run = w(&sb, &reg, &["install", &a, "-i", "a"]);
    run.expect_code(STEP_FAILED)
        .expect_stdout("a-c: FAILED")
        .expect_stdout("workflow retry 1");
    let wf = show(&sb, &reg, "1");
    assert_eq!(wf["status"], "failed");
    assert_eq!(status(&wf, "d"), "succeeded");
    assert_eq!(status(&wf, "a-b"), "succeeded");
    assert_eq!(status(&wf, "a-c"), "failed");
    assert_eq!(status(&wf, "a"), "pending");
    assert_eq!(c.count("a", "install"), 0);

    c.fail("a-c", false);
    w(&sb, &reg, &["workflow", "retry", "1"])
        .expect_code(0)
        .expect_stdout("workflow 1 succeeded");
    let wf = show(&sb, &reg, "1");
    assert_eq!(status(&wf, "a"), "succeeded");
    assert_eq!(task(&wf, "a-c")["attempts"], 2);
    for n in ["d", "a-b", "a-c", "a"] {
        assert_eq!(c.count(n, "install"), 1, "{n}: {:?}", c.lines(n));
    }
    // Nothing left to run.
    w(&sb, &reg, &["workflow", "resume", "1"])
        .expect_code(2)
        .expect_stderr("nothing left to run");
}

/// A child process killed (SIGKILL) and reaped however the test ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Kill the real process when `when` holds of the workflow, resume, and
/// check no task that had succeeded ran again.
fn kill_and_resume(when: &str, ready: fn(&Value) -> bool) {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let c = Counters::new();
    let a = diamond(&sb, &reg, &c, "1");
    let policy = reg.trust().policy;
    let mut child = Killed(
        sb.command_at(&reg.addr, Some(&policy), &["install", &a, "-i", "a"], &[])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn wasmix"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let before = loop {
        assert!(Instant::now() < deadline, "{when}: never reached");
        let run = w(&sb, &reg, &["workflow", "show", "1", "--output", "json"]);
        if run.code() == 0 {
            let wf: Value = serde_json::from_str(&run.stdout()).unwrap();
            if ready(&wf) {
                child.0.kill().expect("kill -9");
                child.0.wait().unwrap();
                break wf;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let succeeded: Vec<String> = before["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "succeeded")
        .map(|t| t["node"].as_str().unwrap().to_string())
        .collect();
    w(&sb, &reg, &["workflow", "resume", "1"])
        .expect_code(0)
        .expect_stdout("workflow 1 succeeded");
    let wf = show(&sb, &reg, "1");
    for n in ["d", "a-b", "a-c", "a"] {
        assert_eq!(status(&wf, n), "succeeded", "{when}: {wf:#}");
        let count = c.count(n, "install");
        if succeeded.contains(&n.to_string()) {
            assert_eq!(count, 1, "{when}: {n} had succeeded and ran again");
        } else {
            assert!(count >= 1, "{when}: {n} never ran");
        }
    }
}

#[test]
fn kill_9_while_the_first_task_runs_then_resume_finishes() {
    kill_and_resume("d running", |wf| status(wf, "d") == "running");
}

#[test]
fn kill_9_while_a_level_runs_in_parallel_then_resume_runs_nothing_twice() {
    kill_and_resume("b and c running", |wf| {
        status(wf, "a-b") == "running" && status(wf, "a-c") == "running"
    });
}

#[test]
fn kill_9_while_the_root_runs_then_resume_runs_nothing_twice() {
    kill_and_resume("a running", |wf| status(wf, "a") == "running");
}

#[test]
fn secrets_wired_to_dependencies_never_reach_the_workflow_tables_or_output() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let c = Counters::new();
    // d echoes the parameter it receives, which its parent made from a
    // credential: a secret in a parameter d does not declare sensitive.
    let d = publish(
        &sb,
        &reg,
        &node(&sb, &c, "d", "", "${ bundle.parameters.connstr }", "0"),
        "d",
    );
    let deps = requires(&[(
        "d",
        &d,
        "      credentials:\n        token: ${ bundle.credentials.token }\n      parameters:\n        connstr: ${ bundle.credentials.token }\n",
    )]);
    let top = publish(&sb, &reg, &node(&sb, &c, "s", &deps, "-", "0"), "s");
    let secret = "hunter2-very-secret-token";
    let run = w(
        &sb,
        &reg,
        &[
            "install",
            &top,
            "-i",
            "s",
            "--cred",
            &format!("token=value:{secret}"),
        ],
    );
    run.expect_code(0);
    assert!(!run.all().contains(secret));
    // It reached d, and went no further in clear.
    assert_eq!(c.lines("s-d"), [format!("install {secret}")]);
    let wf = w(&sb, &reg, &["workflow", "show", "1", "-o", "json"]);
    assert!(!wf.all().contains(secret));
    let logs = w(&sb, &reg, &["installation", "logs", "s-d"]);
    assert!(!logs.all().contains(secret), "{}", logs.all());
    let shown = w(&sb, &reg, &["installation", "show", "s-d", "-o", "json"]);
    assert!(!shown.all().contains(secret), "{}", shown.all());
    // The store holds it nowhere in clear: the workflow's sources are sealed.
    let db = std::fs::read(sb.home().join("state.db")).unwrap();
    let wal = std::fs::read(sb.home().join("state.db-wal")).unwrap_or_default();
    let needle = secret.as_bytes();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "secret found in the state store"
        );
    }
}

#[test]
fn a_cycle_and_wiring_to_an_undeclared_output_are_refused_before_anything_runs() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let c = Counters::new();
    let d = publish(&sb, &reg, &node(&sb, &c, "d", "", "-", "0"), "d");
    // x takes y's output, y takes x's: a cycle through wiring.
    let deps = format!(
        "dependencies:\n  requires:\n    - name: x\n      bundle:\n        reference: {d}\n      parameters:\n        connstr: ${{ bundle.dependencies.y.outputs.url }}\n    - name: y\n      bundle:\n        reference: {d}\n      parameters:\n        connstr: ${{ bundle.dependencies.x.outputs.url }}\n"
    );
    let dir = node(&sb, &c, "cyclic", &deps, "-", "0");
    w(&sb, &reg, &["install", dir.to_str().unwrap()])
        .expect_code(2)
        .expect_stderr("dependency cycle: ")
        .expect_stderr("porter.yaml:");
    // An output the dependency does not declare.
    let deps = format!(
        "dependencies:\n  requires:\n    - name: x\n      bundle:\n        reference: {d}\n    - name: y\n      bundle:\n        reference: {d}\n      parameters:\n        connstr: ${{ bundle.dependencies.x.outputs.nope }}\n"
    );
    let dir = node(&sb, &c, "dangling", &deps, "-", "0");
    w(&sb, &reg, &["install", dir.to_str().unwrap()])
        .expect_code(2)
        .expect_stderr("declares no output \"nope\" (it declares: url)")
        .expect_stderr("porter.yaml:");
    // An interface the bundle does not provide.
    let deps = format!(
        "dependencies:\n  requires:\n    - name: x\n      bundle:\n        reference: {d}\n        interface:\n          id: https://porter.sh/interfaces/mysql\n"
    );
    let dir = node(&sb, &c, "iface", &deps, "-", "0");
    w(&sb, &reg, &["install", dir.to_str().unwrap()])
        .expect_code(2)
        .expect_stderr("does not provide interface");
    // --parallel means nothing to a bundle without dependencies: refused.
    let plain = node(&sb, &c, "plain", "", "-", "0");
    w(
        &sb,
        &reg,
        &["install", plain.to_str().unwrap(), "--parallel", "2"],
    )
    .expect_code(2)
    .expect_stderr("--parallel sets how many of a bundle's dependencies run at once");
    assert!(c.lines("plain").is_empty());
    // Nothing ran, nothing was persisted.
    assert!(c.lines("d").is_empty());
    w(&sb, &reg, &["workflow", "list"])
        .expect_code(0)
        .expect_stdout("no workflows");
}

#[test]
fn the_lock_pins_resolved_dependencies_so_the_next_solve_is_identical() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let c = Counters::new();
    let d = publish(&sb, &reg, &node(&sb, &c, "d", "", "-", "0"), "d");
    let deps = requires(&[("d", &d, "")]);
    let root = node(&sb, &c, "r", &deps, "-", "0");
    let root_arg = root.to_str().unwrap();
    w(&sb, &reg, &["install", root_arg]).expect_code(0);
    let lock = std::fs::read_to_string(root.join("wasmix.lock")).unwrap();
    let first = task(&show(&sb, &reg, "1"), "r-d")["bundle"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(lock.contains(&first), "{lock}");

    // The tag moves to a new build; the lock keeps the one that was run.
    let moved = node(&sb, &c, "d", "", "moved", "0");
    assert_eq!(publish(&sb, &reg, &moved, "d"), d);
    w(&sb, &reg, &["uninstall", root_arg]).expect_code(0);
    w(&sb, &reg, &["install", root_arg]).expect_code(0);
    let again = show(&sb, &reg, "3");
    assert_eq!(task(&again, "r-d")["bundle"].as_str().unwrap(), first);
    assert_eq!(c.lines("r-d").last().unwrap(), "install -");
}

#[test]
fn a_dependency_promotes_its_output_to_the_bundle_that_requires_it() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let c = Counters::new();
    let infra = publish(&sb, &reg, &node(&sb, &c, "infra", "", "-", "0"), "infra");
    // Porter's myenv shape: an output of the bundle made from its
    // dependency's (`outputs.NAME`) and its own parameters.
    let m = format!(
        r#"schemaVersion: 1.1.0
name: env
version: 0.1.0
mixins: [exec]
parameters:
  - name: path
    type: string
    default: app
outputs:
  - name: endpoint
dependencies:
  requires:
    - name: infra
      bundle:
        reference: {infra}
      outputs:
        endpoint: "https://${{ outputs.url }}/${{ bundle.parameters.path }}"
install:
  - exec:
      command: echo
      arguments: [hi]
      grants: {{commands: [echo]}}
uninstall:
  - exec:
      command: echo
      grants: {{commands: [echo]}}
"#
    );
    let dir = sb.bundle("env", &m, &[]);
    w(
        &sb,
        &reg,
        &["install", dir.to_str().unwrap(), "--param", "path=shop"],
    )
    .expect_code(0);
    w(
        &sb,
        &reg,
        &["installation", "output", "show", "env", "endpoint"],
    )
    .expect_code(0)
    .expect_stdout("https://env-infra.example/-/shop");
    // One it does not declare is refused by lint, located.
    let bad = m.replace("endpoint: \"https", "elsewhere: \"https");
    let dir = sb.bundle("env-bad", &bad, &[]);
    w(&sb, &reg, &["lint", dir.to_str().unwrap()])
        .expect_code(2)
        .expect_stderr("declares no output \"elsewhere\"")
        .expect_stderr("porter.yaml:");
}

#[test]
fn a_cancelled_workflow_runs_nothing_more() {
    let reg = RegistryServer::start(None);
    let sb = Sandbox::new();
    let c = Counters::new();
    let a = diamond(&sb, &reg, &c, "0");
    c.fail("a-c", true);
    w(&sb, &reg, &["install", &a, "-i", "a"]).expect_code(STEP_FAILED);
    w(&sb, &reg, &["workflow", "cancel", "1"])
        .expect_code(0)
        .expect_stdout("workflow 1 cancelled (2 task(s) will not run)");
    let wf = show(&sb, &reg, "1");
    assert_eq!(wf["status"], "cancelled");
    assert_eq!(status(&wf, "a"), "cancelled");
    assert_eq!(status(&wf, "a-b"), "succeeded");
    c.fail("a-c", false);
    w(&sb, &reg, &["workflow", "retry", "1"])
        .expect_code(2)
        .expect_stderr("workflow 1 is cancelled: there is nothing left to run");
    assert_eq!(c.count("a", "install"), 0);
}
