//! A mixin that floods the host — with outputs, log lines, driver requests,
//! stdout, handles or refusals — gets at most its step's budgets onto the
//! terminal and into the state store, and the CLI's peak memory stays under
//! the step's memory limit plus a fixed margin, whatever the guest sends.
//!
//! Every case runs the real CLI as a child process and reads that child's
//! peak resident set size from `wait4`. The bound is the same CLI's peak for
//! a step that does nothing, plus the step's memory limit, plus a margin:
//! before the host counted what it copies out of the guest, 2 000 000 tiny
//! outputs drove the CLI to several times the guest's own memory.

use std::sync::OnceLock;
use wasmix_e2e::{run_measuring_rss, Run, Sandbox};

/// The memory limit every flooding step runs under.
const LIMIT: u64 = 96 << 20;
/// Host memory the CLI may use beyond an idle run and the guest's limit.
const MARGIN: u64 = 32 << 20;

struct Flood {
    run: Run,
    peak: u64,
    db_bytes: u64,
    _sb: Sandbox,
}

/// Install a one-step probe bundle doing `attempt` with `grants` under a
/// 96 MiB memory limit, in a fresh home, measuring the CLI.
fn flood(attempt: &str, grants: &str, head: &str, args: &[&str]) -> Flood {
    flood_with(attempt, grants, "{memory: 96Mi}", head, args)
}

/// [`flood`] with the step's whole `limits:` block.
fn flood_with(attempt: &str, grants: &str, limits: &str, head: &str, args: &[&str]) -> Flood {
    let sb = Sandbox::new();
    let text = format!(
        "schemaVersion: 1.0.0\nname: flood\nversion: 0.1.0\nmixins: [probe]\n{head}outputs:\n  - name: a0\ninstall:\n  - probe:\n      grants: {grants}\n      limits: {limits}\n      attempts:\n        - {attempt}\nuninstall:\n  - probe:\n      attempts: []\n"
    );
    let dir = sb.bundle("flood", &text, &[]);
    let mut cmd = std::process::Command::new(wasmix_e2e::wasmix_bin());
    cmd.args(["install", dir.to_str().expect("utf-8")])
        .args(args)
        .env("WASMIX_HOME", sb.home())
        .env("WASMIX_MIXIN_PATH", wasmix_e2e::mixin_dir())
        .env("FLOOD_TOKEN", "flood-token-value");
    let (run, peak) = run_measuring_rss(cmd);
    let db_bytes = db_size(&sb.home());
    Flood {
        run,
        peak,
        db_bytes,
        _sb: sb,
    }
}

/// The state store's size on disk, write-ahead log included.
fn db_size(home: &std::path::Path) -> u64 {
    ["state.db", "state.db-wal"]
        .iter()
        .map(|f| std::fs::metadata(home.join(f)).map_or(0, |m| m.len()))
        .sum()
}

/// The CLI's peak for a step that only logs one line.
fn idle_peak() -> u64 {
    static IDLE: OnceLock<u64> = OnceLock::new();
    *IDLE.get_or_init(|| {
        let f = flood("{kind: log, text: hi}", "{}", "", &[]);
        assert_eq!(f.run.code(), 0, "{}", f.run.all());
        f.peak
    })
}

fn assert_bounded(what: &str, f: &Flood) {
    let bound = idle_peak() + LIMIT + MARGIN;
    assert!(
        f.peak <= bound,
        "{what}: the CLI peaked at {} MiB, over idle {} MiB + limit 96 MiB + margin 32 MiB\n{}",
        f.peak >> 20,
        idle_peak() >> 20,
        tail(&f.run.all())
    );
}

fn tail(s: &str) -> String {
    let start = s.len().saturating_sub(2000);
    let start = (start..s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    s[start..].to_string()
}

/// The message a step gets when one call would copy too much.
const TOO_MUCH: &str = "bytes to the host in one call";

#[test]
fn a_million_tiny_outputs_are_refused_before_the_host_copies_them() {
    let f = flood("{kind: output-flood, count: 700000}", "{}", "", &[]);
    assert_eq!(f.run.code(), 1, "{}", tail(&f.run.all()));
    assert!(f.run.all().contains(TOO_MUCH), "{}", tail(&f.run.all()));
    assert!(f.run.all().contains("limits:"), "says what sets the budget");
    assert_bounded("output flood", &f);
    assert!(f.db_bytes < 512 << 10, "store holds {} bytes", f.db_bytes);
}

#[test]
fn a_driver_request_of_millions_of_arguments_is_refused_before_it_is_copied() {
    let f = flood(
        "{kind: arg-flood, count: 2000000}",
        "{commands: [\"true\"]}",
        "",
        &[],
    );
    assert_eq!(f.run.code(), 1, "{}", tail(&f.run.all()));
    assert!(f.run.all().contains(TOO_MUCH), "{}", tail(&f.run.all()));
    assert_bounded("argument flood", &f);
    assert!(f.db_bytes < 512 << 10, "store holds {} bytes", f.db_bytes);
}

#[test]
fn one_huge_log_line_is_refused_and_log_floods_stop_at_the_budget() {
    let f = flood("{kind: big-log, bytes: 40000000}", "{}", "", &[]);
    assert_eq!(f.run.code(), 1, "{}", tail(&f.run.all()));
    assert!(f.run.all().contains(TOO_MUCH), "{}", tail(&f.run.all()));
    assert_bounded("one huge log line", &f);
    assert!(f.db_bytes < 512 << 10, "store holds {} bytes", f.db_bytes);

    // 80 MiB of 4 KiB lines against the default 1 MiB log budget.
    let f = flood(
        "{kind: log-flood, lines: 20000, bytes: 4096}",
        "{}",
        "",
        &[],
    );
    assert_eq!(f.run.code(), 0, "{}", tail(&f.run.all()));
    let printed = f.run.0.stdout.len() + f.run.0.stderr.len();
    assert!(printed < (1 << 20) + (64 << 10), "printed {printed} bytes");
    assert_eq!(f.run.all().matches("reached its log budget").count(), 1);
    assert!(
        f.db_bytes < (1 << 20) + (512 << 10),
        "store holds {} bytes",
        f.db_bytes
    );
    assert_bounded("log flood", &f);
}

#[test]
fn stdout_floods_are_cut_at_the_output_cap() {
    // 200 MB through the mixin's own stdout; the cap is 1 MiB here.
    let f = flood_with(
        "{kind: print, bytes: 200000000}",
        "{}",
        "{memory: 96Mi, output: 1Mi}",
        "",
        &[],
    );
    assert_eq!(f.run.code(), 0, "{}", tail(&f.run.all()));
    assert!(
        f.run.all().contains("cut at 1048576 bytes"),
        "{}",
        tail(&f.run.all())
    );
    assert!(
        f.run.0.stdout.len() < 64 << 10,
        "the terminal got the notice only"
    );
    assert!(
        f.db_bytes < (1 << 20) + (512 << 10),
        "store holds {} bytes",
        f.db_bytes
    );
    assert_bounded("stdout flood", &f);
}

#[test]
fn handle_and_refusal_floods_hold_the_host_to_a_fixed_size() {
    // Two million handles to a granted credential: the host keeps at most
    // its handle limit, whatever the guest holds on to.
    let head = "credentials:\n  - name: tok\n    env: FLOOD_TOKEN\n";
    let f = flood(
        "{kind: handle-flood, name: tok, count: 2000000}",
        "{credentials: [tok]}",
        head,
        &["--cred", "tok=env:FLOOD_TOKEN", "--output", "json"],
    );
    assert_eq!(f.run.code(), 0, "{}", tail(&f.run.all()));
    let doc: serde_json::Value = serde_json::from_str(&f.run.stdout()).expect("json outcome");
    let a0 = doc.to_string();
    assert!(a0.contains("handles, its limit"), "{}", tail(&a0));
    assert_bounded("handle flood", &f);

    // 300 000 refused requests for an ungranted credential: the operator
    // sees the first hundred and a count, the host keeps no more.
    let f = flood(
        "{kind: handle-flood, name: nope, count: 300000}",
        "{}",
        "",
        &[],
    );
    assert_eq!(f.run.code(), 0, "{}", tail(&f.run.all()));
    let all = f.run.all();
    assert_eq!(
        all.matches("denied: credential \"nope\" is not granted")
            .count(),
        100
    );
    assert!(
        all.contains("… and 299900 more refusals, not kept"),
        "{}",
        tail(&all)
    );
    assert!(f.db_bytes < 512 << 10, "store holds {} bytes", f.db_bytes);
    assert_bounded("refusal flood", &f);
}
