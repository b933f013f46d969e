//! Runaway mixins are stopped with a clear error, and the runtime carries on.
//! Also: the compile cache is used, a tampered cache entry is never run,
//! and what it remembers follows the files and steps it was computed from.

use std::sync::Arc;
use std::time::Duration;
use wasmix::driver::HostDriver;
use wasmix::manifest;
use wasmix::plan::BundlePlan;
use wasmix::resolve::MixinPath;
use wasmix::run::{Inputs, Limits, LockCheck, Outcome, Runtime};
use wasmix::sandbox::MixinEngine;
use wasmix::store::{InstallationStatus, Store};
use wasmix_e2e::{mixin_dir, Sandbox};

fn runtime(limits: Limits, cache: Option<std::path::PathBuf>) -> Runtime {
    Runtime {
        engine: MixinEngine::new(cache).unwrap(),
        mixin_path: MixinPath(vec![mixin_dir()]),
        driver: Arc::new(HostDriver),
        limits,
        oci: None,
        pinned: None,
    }
}

fn small_limits() -> Limits {
    Limits {
        memory_bytes: 64 << 20,
        deadline: Duration::from_millis(800),
        output_cap: 1 << 20,
        max_driver_calls: 3,
        max_output_bytes: 1 << 20,
        max_log_lines: 100,
        max_log_bytes: 1 << 20,
    }
}

/// Install a one-step probe bundle doing `attempts`.
fn install(
    rt: &Runtime,
    sb: &Sandbox,
    store: &mut Store,
    name: &str,
    grants: &str,
    attempts: &[&str],
) -> Outcome {
    let list: String = attempts
        .iter()
        .map(|a| format!("        - {a}\n"))
        .collect();
    let text = format!(
        "schemaVersion: 1.0.0\nname: {name}\nversion: 0.1.0\nmixins: [probe]\noutputs:\n  - name: a0\ninstall:\n  - probe:\n      grants: {grants}\n      attempts:\n{list}uninstall:\n  - probe:\n      attempts: []\n"
    );
    let dir = sb.bundle(name, &text, &[]);
    let m = manifest::load(&dir).unwrap();
    let plans = BundlePlan::new(&m).unwrap();
    let prepared = rt
        .prepare(&m, &plans, "install", LockCheck::ReadOnly)
        .unwrap();
    rt.run(store, &m, &prepared, name, &Inputs::default(), &mut |_| {})
        .unwrap()
}

fn failure(o: &Outcome) -> String {
    o.error
        .clone()
        .unwrap_or_else(|| panic!("{} should have failed", o.installation))
}

#[test]
fn runaway_mixins_are_stopped_and_the_runtime_carries_on() {
    let sb = Sandbox::new();
    let rt = runtime(small_limits(), None);
    let mut store = Store::open(&sb.home().join("state.db")).unwrap();
    let cases = [
        ("spin", "{kind: loop}", "ran past its deadline"),
        ("hog", "{kind: alloc}", "memory limit of 64 MiB"),
        ("deep", "{kind: recurse}", "overflowed its stack"),
        (
            "bulky",
            "{kind: huge-output, bytes: 2000000}",
            "bytes of outputs, more than the step's limit",
        ),
    ];
    for (name, attempt, want) in cases {
        let o = install(&rt, &sb, &mut store, name, "{}", &[attempt]);
        let err = failure(&o);
        assert!(err.contains(want), "{name}: {err}");
        // After each runaway, a normal step in the same runtime works.
        let ok = install(
            &rt,
            &sb,
            &mut store,
            "fine",
            "{}",
            &["{kind: log, text: hi}"],
        );
        assert!(ok.succeeded(), "{name} broke the runtime: {:?}", ok.error);
    }
    let all = store.installations().unwrap();
    let failed: Vec<&str> = all
        .iter()
        .filter(|i| i.status == InstallationStatus::Failed)
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(failed, ["bulky", "deep", "hog", "spin"]);

    // Printing without end is cut at the output limit; the step goes on.
    let o = install(
        &rt,
        &sb,
        &mut store,
        "loud",
        "{}",
        &["{kind: print, bytes: 50000000}"],
    );
    let logs = &o.steps[0].logs;
    assert!(
        logs.contains("stdout was cut at 1048576 bytes"),
        "{}",
        &logs[logs.len().saturating_sub(200)..]
    );
    assert!(
        logs.len() < (1 << 20) + 4096,
        "stored logs are bounded: {}",
        logs.len()
    );
}

#[test]
fn driver_requests_are_capped_per_step() {
    let sb = Sandbox::new();
    let rt = runtime(small_limits(), None);
    let mut store = Store::open(&sb.home().join("state.db")).unwrap();
    let run = "{kind: run, program: echo, args: [x]}";
    let o = install(
        &rt,
        &sb,
        &mut store,
        "many",
        "{commands: [echo]}",
        &[run, run, run, run],
    );
    assert!(o.succeeded());
    let outputs = store.outputs("many", false).unwrap();
    assert_eq!(outputs[0].value.as_deref(), Some("ok:exit=0 x"));
    let logs = &o.steps[0].logs;
    assert!(
        logs.contains("denied: this step already made 3 driver requests"),
        "{logs}"
    );
}

#[test]
fn oversized_driver_requests_are_refused() {
    let sb = Sandbox::new();
    let rt = runtime(Limits::default(), None);
    let mut store = Store::open(&sb.home().join("state.db")).unwrap();
    let o = install(
        &rt,
        &sb,
        &mut store,
        "big",
        "{commands: [echo]}",
        &["{kind: big-request, bytes: 5000000}"],
    );
    assert!(o.succeeded());
    let v = store.outputs("big", false).unwrap()[0]
        .value
        .clone()
        .unwrap();
    assert!(
        v.starts_with("denied:") && v.contains("over the limit of 4194304"),
        "{v}"
    );
}

#[test]
fn a_slow_command_is_killed_at_the_step_deadline() {
    let sb = Sandbox::new();
    let rt = runtime(small_limits(), None);
    let mut store = Store::open(&sb.home().join("state.db")).unwrap();
    let started = std::time::Instant::now();
    let o = install(
        &rt,
        &sb,
        &mut store,
        "slow",
        "{commands: [sleep]}",
        &["{kind: run, program: sleep, args: ['30']}"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the command was not killed"
    );
    // The command was killed at the deadline. Whether the mixin then gets to
    // report that before the epoch stops it depends on scheduling; both are
    // correct, and neither lets the command run on.
    match &o.error {
        Some(err) => assert!(err.contains("ran past its deadline of 800ms"), "{err}"),
        None => {
            let v = store.outputs("slow", false).unwrap()[0]
                .value
                .clone()
                .unwrap_or_default();
            assert!(v.starts_with("denied:") && v.contains("killed"), "{v}");
        }
    }
}

#[test]
fn compiled_components_are_cached_and_tampering_is_detected() {
    let sb = Sandbox::new();
    let cache = sb.dir.path().join("compiled");
    let exec = mixin_dir().join("wasmix_exec.wasm");
    let first = MixinEngine::new(Some(cache.clone()))
        .unwrap()
        .load("exec", &exec)
        .unwrap();
    let artifacts: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(artifacts.len(), 1);
    assert!(artifacts[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with(first.digest.trim_start_matches("sha256:")));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
    // Flip a byte: the entry must be detected and rebuilt, not loaded.
    let mut bytes = std::fs::read(&artifacts[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&artifacts[0], &bytes).unwrap();
    let again = MixinEngine::new(Some(cache.clone()))
        .unwrap()
        .load("exec", &exec)
        .unwrap();
    assert_eq!(again.info.name, "exec");
    let rebuilt = std::fs::read(&artifacts[0]).unwrap();
    assert_ne!(rebuilt, bytes, "the tampered artifact was kept");
}

#[test]
fn the_compile_cache_follows_a_component_file_that_changes() {
    let sb = Sandbox::new();
    let cache = sb.dir.path().join("compiled");
    let file = sb.dir.path().join("m.wasm");
    let load = |path: &std::path::Path| {
        MixinEngine::new(Some(cache.clone()))
            .unwrap()
            .load("m", path)
    };
    std::fs::copy(mixin_dir().join("wasmix_exec.wasm"), &file).unwrap();
    let first = load(&file).unwrap();
    assert_eq!(first.info.name, "exec");
    // Again, from the cache: the same digest, and what it said about itself
    // recorded with the artifact, not asked again.
    let again = load(&file).unwrap();
    assert_eq!(again.digest, first.digest);
    assert_eq!(again.info.step_schema, first.info.step_schema);
    let meta: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".meta.json"))
        .collect();
    assert_eq!(meta.len(), 1);
    assert!(std::fs::read_to_string(&meta[0])
        .unwrap()
        .contains("\"name\":\"exec\""));
    // A file changed less than a clock tick ago is hashed on every load;
    // once settled, its digest is remembered with its stamp.
    let memos = || {
        std::fs::read_dir(cache.join("digests"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!(memos(), 0, "a file copied just now must not be remembered");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(load(&file).unwrap().digest, first.digest);
    assert_eq!(memos(), 1);
    // Another component written over the same path is the one that loads:
    // the remembered digest no longer matches the file's stamp.
    std::fs::copy(mixin_dir().join("wasmix_probe.wasm"), &file).unwrap();
    let replaced = load(&file).unwrap();
    assert_eq!(replaced.info.name, "probe");
    assert_ne!(replaced.digest, first.digest);
    // A byte changed in place (same size): hashed again, never taken for
    // the component it was.
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    if let Ok(changed) = load(&file) {
        assert_ne!(changed.digest, replaced.digest);
    }
}

#[test]
fn checked_steps_are_remembered_until_a_step_changes() {
    let sb = Sandbox::new();
    let cache = sb.dir.path().join("compiled");
    let bundle = |step: &str| {
        let text = format!(
            "schemaVersion: 1.0.0\nname: chk\nversion: 0.1.0\nmixins: [exec]\ninstall:\n  - exec:\n      command: bash\n      flags:\n        c: '\"echo hi\"'\n{step}      grants: {{commands: [bash]}}\nuninstall:\n  - exec:\n      command: echo\n      grants: {{commands: [echo]}}\n"
        );
        manifest::load(&sb.bundle("chk", &text, &[])).unwrap()
    };
    let prepare = |m: &manifest::Manifest| {
        let plans = BundlePlan::new(m).unwrap();
        runtime(Limits::default(), Some(cache.clone())).prepare(
            m,
            &plans,
            "install",
            LockCheck::ReadOnly,
        )
    };
    let m = bundle("");
    let first = prepare(&m).unwrap().warnings;
    assert!(first.iter().any(|w| w.contains("exec-100")), "{first:?}");
    let checked = cache.join("checked");
    assert_eq!(std::fs::read_dir(&checked).unwrap().count(), 1);
    // Unchanged: the same warnings, located the same way, from the cache.
    assert_eq!(prepare(&m).unwrap().warnings, first);
    assert_eq!(std::fs::read_dir(&checked).unwrap().count(), 1);
    // A changed step is checked again, and its error is not hidden.
    let bad = bundle("      colour: red\n");
    let err = prepare(&bad)
        .err()
        .expect("an unknown field must be refused");
    assert!(err.to_string().contains("colour"), "{err}");
    assert_eq!(std::fs::read_dir(&checked).unwrap().count(), 1);
}

#[test]
fn a_file_that_is_not_a_mixin_is_refused() {
    let sb = Sandbox::new();
    let bogus = sb.dir.path().join("bogus.wasm");
    std::fs::write(&bogus, b"\0asm\x01\0\0\0").unwrap();
    let err = MixinEngine::new(None)
        .unwrap()
        .load("bogus", &bogus)
        .err()
        .expect("must fail");
    assert!(
        err.to_string().contains("is not a wasmix mixin component"),
        "{err}"
    );
}

#[test]
fn the_instance_pool_fits_the_largest_step() {
    let sb = Sandbox::new();
    let m = "schemaVersion: 1.0.0\nname: big\nversion: 0.1.0\nmixins: [probe, exec]\ninstall:\n  - probe:\n      limits: {memory: 512Mi}\n      attempts: []\nuninstall:\n  - probe:\n      attempts: []\n";
    let dir = sb.bundle("big", m, &[]);
    let manifest = manifest::load(&dir).unwrap();
    let plans = BundlePlan::new(&manifest).unwrap();
    let pool = wasmix::run::pool_for(&plans, Limits::default());
    assert_eq!(pool.memory_bytes, 512 << 20);
    assert_eq!(pool.instances, 6);
    // An engine with that pool runs the step.
    let rt = Runtime {
        engine: MixinEngine::with_pool(None, Some(pool)).unwrap(),
        ..runtime(Limits::default(), None)
    };
    let mut store = Store::open(&sb.home().join("state.db")).unwrap();
    let prepared = rt
        .prepare(&manifest, &plans, "install", LockCheck::ReadOnly)
        .unwrap();
    let o = rt
        .run(
            &mut store,
            &manifest,
            &prepared,
            "big",
            &Inputs::default(),
            &mut |_| {},
        )
        .unwrap();
    assert!(o.succeeded(), "{:?}", o.error);
}

#[test]
fn log_floods_stop_at_the_steps_byte_budget_with_one_notice() {
    let sb = Sandbox::new();
    let rt = runtime(Limits::default(), None);
    let mut store = Store::open(&sb.home().join("state.db")).unwrap();
    // 64 KiB budget from the manifest; the mixin tries 2 MiB of logs.
    let o = install(
        &rt,
        &sb,
        &mut store,
        "flood",
        "{}\n      limits: {logs: 64Ki}",
        &["{kind: log-flood, lines: 512, bytes: 4096}"],
    );
    assert!(o.succeeded(), "{:?}", o.error);
    let logs = &o.steps[0].logs;
    assert_eq!(
        logs.matches("reached its log budget").count(),
        1,
        "one notice"
    );
    assert!(
        logs.len() < (64 << 10) + 4096,
        "stored {} bytes",
        logs.len()
    );
    // The default budget (1 MiB) holds too.
    let o = install(
        &rt,
        &sb,
        &mut store,
        "flood2",
        "{}",
        &["{kind: log-flood, lines: 1024, bytes: 4096}"],
    );
    let logs = &o.steps[0].logs;
    assert!(logs.contains("reached its log budget"));
    assert!(logs.len() < (1 << 20) + 4096, "stored {} bytes", logs.len());
}

/// A pooled slot is reset between steps: whatever one step wrote into its
/// instance's memory (a secret, say), the next step in that slot starts from
/// the component's pristine image. The pool is as small as it gets, and
/// wasmtime hands a module the slot it used last, so each step of the probe
/// runs in the memory the step before it dirtied.
#[test]
fn every_step_starts_from_a_pristine_instance() {
    let sb = Sandbox::new();
    let steps: String = [
        ("x", "{kind: dirty, byte: 90}, "),
        ("y", ""),
        ("z", "{kind: dirty, byte: 33}, "),
        ("w", ""),
    ]
    .iter()
    .map(|(prefix, dirty)| {
        format!("  - probe:\n      prefix: {prefix}\n      attempts: [{dirty}{{kind: inspect}}]\n")
    })
    .collect();
    let m = format!(
        "schemaVersion: 1.0.0\nname: reuse\nversion: 0.1.0\nmixins: [probe]\noutputs:\n  - name: x1\n  - name: y0\n  - name: z1\n  - name: w0\ninstall:\n{steps}uninstall:\n  - probe:\n      attempts: []\n"
    );
    let dir = sb.bundle("reuse", &m, &[]);
    let manifest = manifest::load(&dir).unwrap();
    let plans = BundlePlan::new(&manifest).unwrap();
    let pool = wasmix::sandbox::PoolSize {
        instances: 1,
        ..Default::default()
    };
    let rt = Runtime {
        engine: MixinEngine::with_pool(None, Some(pool)).unwrap(),
        ..runtime(Limits::default(), None)
    };
    // Not the fallback to a fresh allocation per instance, where every
    // memory is new and the check below would prove nothing.
    assert!(
        rt.engine.engine().pooling_allocator_metrics().is_some(),
        "the engine should use its pool"
    );
    let mut store = Store::open(&sb.home().join("state.db")).unwrap();
    let prepared = rt
        .prepare(&manifest, &plans, "install", LockCheck::ReadOnly)
        .unwrap();
    let scratch = 64 << 10;
    for round in 0..3 {
        let o = rt
            .run(
                &mut store,
                &manifest,
                &prepared,
                "reuse",
                &Inputs::default(),
                &mut |_| {},
            )
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(o.succeeded(), "round {round}: {:?}", o.error);
        let got: std::collections::BTreeMap<&str, &str> = o
            .outputs
            .iter()
            .map(|out| (out.name.as_str(), out.value.as_str()))
            .collect();
        // Within a step the probe sees what it wrote: the check can fail.
        assert_eq!(
            got["x1"],
            format!("ok:{scratch} {}", "Z".repeat(16)),
            "round {round}"
        );
        assert_eq!(
            got["z1"],
            format!("ok:{scratch} {}", "!".repeat(16)),
            "round {round}"
        );
        // The next step, in the same slot, sees none of it.
        assert_eq!(got["y0"], "ok:0 pristine-marker!", "round {round}");
        assert_eq!(got["w0"], "ok:0 pristine-marker!", "round {round}");
    }
}
