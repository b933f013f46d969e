//! wasmix benchmarks: `make bench` (or `cargo bench -p wasmix-e2e --bench steps`
//! after `make mixins native`). Prints a Markdown report and writes it to
//! `target/bench-report.md`.
//!
//! Measured, on the same steps:
//! 1. a warm wasm step through the sandbox (grant → WASI context → store →
//!    instantiate from `InstancePre` → call → outputs), no-op and exec;
//! 2. the same exec logic as a native process per step, Porter-style;
//! 3. a container per step through the docker driver (when `podman` is installed);
//! 4. cold compile, cached load (deserialize), and no-cache compile;
//! 5. bundles of 1, 10, 100, 1000 steps through `Runtime::run`: total time
//!    and peak RSS, each in a fresh process;
//! 6. pulling the exec mixin from a local registry into an empty cache.
//!
//! Commands the exec step would start go to a recording driver with a
//! canned reply on both the wasm and native side, so both measure the
//! mixin's own work.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmix::driver::{Completed, DebugDriver};
use wasmix::grant::Grant;
use wasmix::redact::Redactor;
use wasmix::sandbox::{step, MixinEngine, PoolSize, StepInput};
use wasmix_e2e::mixin_dir;

const EXEC_STEP: &str = r#"{"command":"echo","flags":{"e":null},"arguments":["Hello World"],"outputs":[{"name":"who","regex":"Hello (.*)"}]}"#;
const EXEC_STEP_YAML: &str = "install:\n- exec:\n    command: echo\n    flags: {e: null}\n    arguments: [Hello World]\n    outputs: [{name: who, regex: \"Hello (.*)\"}]\n";

struct Stats {
    median: Duration,
    p90: Duration,
    n: usize,
}

fn measure(n: usize, mut f: impl FnMut()) -> Stats {
    for _ in 0..(n / 10).max(3) {
        f();
    }
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    Stats {
        median: times[n / 2],
        p90: times[n * 9 / 10],
        n,
    }
}

fn us(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn native_bin() -> PathBuf {
    std::env::var_os("WASMIX_BENCH_NATIVE")
        .map(PathBuf::from)
        .unwrap_or_else(|| mixin_dir().join("../../release/exec-native"))
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Child mode: run a bundle of `n` steps of `kind` once; print JSON.
fn child(n: usize, kind: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut m = String::from(
        "schemaVersion: 1.0.0\nname: bench\nversion: 0.1.0\nmixins: [exec, probe]\ninstall:\n",
    );
    for i in 0..n {
        match kind {
            "noop" => m.push_str(&format!("  - probe:\n      prefix: s{i}x\n      attempts: []\n")),
            _ => m.push_str(&format!(
                "  - exec:\n      command: echo\n      flags: {{e: null}}\n      arguments: [Hello World]\n      grants: {{commands: [echo]}}\n      outputs: [{{name: who{i}, regex: \"Hello (.*)\"}}]\n"
            )),
        }
    }
    m.push_str("uninstall:\n  - probe:\n      attempts: []\n");
    std::fs::write(dir.path().join("porter.yaml"), m).unwrap();
    let driver = Arc::new(DebugDriver::default());
    driver.reply_with(Completed {
        exit_code: 0,
        stdout: b"Hello World\n".to_vec(),
        stderr: vec![],
    });
    let rt = wasmix::run::Runtime {
        engine: MixinEngine::new(Some(dir.path().join("compiled"))).unwrap(),
        mixin_path: wasmix::resolve::MixinPath(vec![mixin_dir()]),
        driver,
        limits: Default::default(),
        oci: None,
        pinned: None,
    };
    let manifest = wasmix::manifest::load(dir.path()).unwrap();
    let mut store = wasmix::store::Store::open(&dir.path().join("state.db")).unwrap();
    // Warm the compile cache so the run measures steps, not compilation.
    let plans = wasmix::plan::BundlePlan::new(&manifest).unwrap();
    let ro = wasmix::run::LockCheck::ReadOnly;
    let prepared = rt
        .prepare(&manifest, &plans, "install", ro.clone())
        .unwrap();
    let t = Instant::now();
    let prepared2 = rt.prepare(&manifest, &plans, "install", ro).unwrap();
    let prepare = t.elapsed();
    drop(prepared);
    let t = Instant::now();
    let outcome = rt
        .run(
            &mut store,
            &manifest,
            &prepared2,
            "bench",
            &Default::default(),
            &mut |_| {},
        )
        .unwrap();
    let run = t.elapsed();
    assert!(outcome.succeeded(), "{:?}", outcome.error);
    println!(
        "{{\"prepare_us\": {}, \"run_us\": {}, \"rss_kib\": {}}}",
        prepare.as_micros(),
        run.as_micros(),
        peak_rss_kib()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(args[i + 1].parse().unwrap(), &args[i + 2]);
        return;
    }
    let mut report = String::new();
    let mut line = |s: String| {
        println!("{s}");
        report.push_str(&s);
        report.push('\n');
    };
    line(format!(
        "# wasmix benchmark report\n\nwasmtime 48, {} cores, {}\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        cpu_model()
    ));

    // 1. Sandbox steps, warm.
    let engine = MixinEngine::with_pool(None, Some(PoolSize::default())).unwrap();
    let on_demand = MixinEngine::with_pool(None, None).unwrap();
    let exec = engine
        .load("exec", &mixin_dir().join("wasmix_exec.wasm"))
        .unwrap();
    let probe = engine
        .load("probe", &mixin_dir().join("wasmix_probe.wasm"))
        .unwrap();
    let exec_od = on_demand
        .load("exec", &mixin_dir().join("wasmix_exec.wasm"))
        .unwrap();
    let driver = Arc::new(DebugDriver::default());
    driver.reply_with(Completed {
        exit_code: 0,
        stdout: b"Hello World\n".to_vec(),
        stderr: vec![],
    });
    let bundle = tempfile::tempdir().unwrap();
    let redactor = Redactor::default();
    let run_step = |engine: &MixinEngine, mixin: &wasmix::sandbox::LoadedMixin, json: &str| {
        let mut grant = Grant::default();
        grant.commands.insert("echo".into());
        let r = step::execute(
            engine,
            mixin,
            StepInput {
                action: "install",
                step_json: json.to_string(),
                config_json: "null".into(),
                installation: "bench",
                grant: &grant,
                secrets: BTreeMap::new(),
                env: Vec::new(),
                driver: driver.clone(),
                bundle_dir: bundle.path(),
                limits: Default::default(),
                redactor: &redactor,
                files: Vec::new(),
            },
        );
        assert!(r.result.is_ok(), "{:?}", r.result);
    };
    // `WASMIX_BENCH_LOOP=noop|exec`: that step 20 000 times and nothing
    // else, to profile it (`perf record`).
    if let Ok(which) = std::env::var("WASMIX_BENCH_LOOP") {
        for _ in 0..20_000 {
            match which.as_str() {
                "noop" => run_step(&engine, &probe, r#"{"attempts": []}"#),
                "exec" => run_step(&engine, &exec, EXEC_STEP),
                other => panic!("WASMIX_BENCH_LOOP={other:?}: give noop or exec"),
            }
        }
        return;
    }
    let noop = measure(2000, || run_step(&engine, &probe, r#"{"attempts": []}"#));
    let wasm_exec = measure(2000, || run_step(&engine, &exec, EXEC_STEP));
    let wasm_exec_od = measure(1000, || run_step(&on_demand, &exec_od, EXEC_STEP));
    let bare_exec = r#"{"command":"echo","flags":{"e":null},"arguments":["Hello World"]}"#;
    let wasm_exec_bare = measure(2000, || run_step(&engine, &exec, bare_exec));

    // 2. Native process per step, Porter-style.
    let native = native_bin();
    let outputs = tempfile::tempdir().unwrap();
    let native_stats = native.is_file().then(|| {
        measure(300, || {
            let mut child = Command::new(&native)
                .env("CANNED_STDOUT", "Hello World\n")
                .env("OUTPUTS_DIR", outputs.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(EXEC_STEP_YAML.as_bytes())
                .unwrap();
            assert!(child.wait().unwrap().success());
            assert_eq!(
                std::fs::read_to_string(outputs.path().join("who")).unwrap(),
                "World"
            );
        })
    });

    // 3. A container per step, through the docker driver against Podman:
    //    the "mixins as images" model, one container for each step.
    let podman = Command::new("podman")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let container = podman.then(|| {
        use wasmix::driver::Driver;
        let engine = wasmix_e2e::PodmanService::start();
        let driver = wasmix::driver::DockerDriver::connect(
            Some(&engine.docker_host),
            wasmix::driver::PullPolicy::Never,
        )
        .unwrap();
        let request = wasmix::driver::Request {
            program: "echo".into(),
            args: vec!["Hello World".into()],
            env: Vec::new(),
            workdir: bundle.path().to_path_buf(),
            stdin: None,
            image: Some(wasmix_e2e::TEST_IMAGE.into()),
            container_workdir: None,
            mounts: Vec::new(),
            network: false,
            labels: vec![("dev.wasmix.installation".into(), "bench".into())],
            files: Vec::new(),
        };
        let limits = wasmix::driver::RunLimits {
            timeout: Duration::from_secs(60),
            output_cap: 1 << 20,
        };
        measure(20, || {
            let done = driver.run(&request, limits).unwrap();
            assert_eq!(done.stdout, b"Hello World\n");
        })
    });

    line("## Steps (median of warm runs)\n".into());
    line("| what | median | p90 | runs |".into());
    line("| --- | --- | --- | --- |".into());
    let row =
        |name: &str, s: &Stats| format!("| {name} | {} | {} | {} |", us(s.median), us(s.p90), s.n);
    line(row("wasm no-op step (pooling allocator)", &noop));
    line(row(
        "wasm exec step: echo with a flag and a regex output (pooling)",
        &wasm_exec,
    ));
    line(row("wasm exec step, on-demand allocator", &wasm_exec_od));
    line(row(
        "wasm exec step without the regex output",
        &wasm_exec_bare,
    ));
    match &native_stats {
        Some(s) => line(row("native exec mixin process per step (Porter-style)", s)),
        None => line(format!(
            "| native exec mixin process | not built: {} missing (`make native`) | | |",
            native.display()
        )),
    }
    match &container {
        Some(s) => line(row("container per step: create, start, wait, logs, remove (docker driver, Podman, busybox echo)", s)),
        None => line(
            "| container per step | skipped: no container engine (podman) on this machine | | |"
                .into(),
        ),
    }
    if let Some(n) = &native_stats {
        line(format!(
            "\nwasm exec step vs native process: **{:.1}× faster**",
            n.median.as_secs_f64() / wasm_exec.median.as_secs_f64()
        ));
    }
    if let Some(c) = &container {
        line(format!(
            "wasm exec step vs container: **{:.0}× faster**",
            c.median.as_secs_f64() / wasm_exec.median.as_secs_f64()
        ));
    }

    // `WASMIX_BENCH_ONLY=steps`: the in-process rows only, for profiling
    // a step (`perf record … cargo bench … --bench steps`).
    match std::env::var("WASMIX_BENCH_ONLY").as_deref() {
        Ok("steps") => return,
        Ok(other) => panic!("WASMIX_BENCH_ONLY={other:?}: the only section to run alone is steps"),
        Err(_) => {}
    }

    // 4. Compile and cache.
    let wasm = mixin_dir().join("wasmix_exec.wasm");
    let cold = measure(5, || {
        let dir = tempfile::tempdir().unwrap();
        MixinEngine::new(Some(dir.path().to_path_buf()))
            .unwrap()
            .load("exec", &wasm)
            .unwrap();
    });
    let cache = tempfile::tempdir().unwrap();
    MixinEngine::new(Some(cache.path().to_path_buf()))
        .unwrap()
        .load("exec", &wasm)
        .unwrap();
    let warm_engine = MixinEngine::new(Some(cache.path().to_path_buf())).unwrap();
    let cached = measure(50, || {
        warm_engine.load("exec", &wasm).unwrap();
    });
    line("\n## Compiling the exec mixin\n".into());
    line("| what | median | runs |".into());
    line("| --- | --- | --- |".into());
    line(format!(
        "| cold: compile, write the guarded cache, describe | {} | {} |",
        us(cold.median),
        cold.n
    ));
    line(format!(
        "| cached: read, hash-check, deserialize, describe | {} | {} |",
        us(cached.median),
        cached.n
    ));

    // 5. Bundles of many steps, each in a fresh process.
    line("\n## Bundles through `Runtime::run` (fresh process each; commands go to the recording driver)\n".into());
    line(
        "| steps | kind | prepare (load + validate + lint) | run total | per step | peak RSS |"
            .into(),
    );
    line("| --- | --- | --- | --- | --- | --- |".into());
    let me = std::env::current_exe().unwrap();
    for kind in ["noop", "exec"] {
        for n in [1usize, 10, 100, 1000] {
            let out = Command::new(&me)
                .args(["--child", &n.to_string(), kind])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let run_us = doc["run_us"].as_f64().unwrap();
            line(format!(
                "| {n} | {kind} | {} | {} | {} | {:.1} MiB |",
                us(Duration::from_micros(doc["prepare_us"].as_u64().unwrap())),
                us(Duration::from_micros(run_us as u64)),
                us(Duration::from_secs_f64(run_us / n as f64 / 1e6)),
                doc["rss_kib"].as_f64().unwrap() / 1024.0
            ));
        }
    }

    // 6. Pull from a local registry.
    line(
        "\n## Pulling the exec mixin from a local registry (docker-registry on 127.0.0.1)\n".into(),
    );
    if Path::new("/usr/bin/docker-registry").is_file() {
        let reg = wasmix_e2e::RegistryServer::start(None);
        let reference = format!("{}/bench/exec:1", reg.addr);
        let registry = wasmix::oci::Registry::new(wasmix::oci::RegistryConfig {
            insecure: vec![reg.addr.clone()],
            docker_config: None,
            ..Default::default()
        })
        .unwrap();
        let parsed = wasmix::oci::client::parse_reference(&reference).unwrap();
        let bytes = std::fs::read(&wasm).unwrap();
        let loaded = engine.load("exec", &wasm).unwrap();
        let meta = wasmix::oci::ArtifactMeta {
            name: loaded.info.name.clone(),
            version: loaded.info.version.clone(),
            created: "2026-01-01T00:00:00Z".into(),
            imports: loaded.imports.clone(),
            exports: loaded.exports.clone(),
            ..Default::default()
        };
        registry
            .push(
                &bytes,
                &wasmix::oci::artifact::build(&bytes, &meta),
                &parsed,
            )
            .unwrap();
        // Sign the pushed digest with a real key, and trust that key.
        let policy_dir = tempfile::tempdir().unwrap();
        let pair = wasmix_signing::KeyPair::generate().unwrap();
        std::fs::write(policy_dir.path().join("k.pub"), pair.public().to_pem()).unwrap();
        let (digest, _) = registry.resolve(&parsed).unwrap();
        let payload = wasmix_signing::payload::SimpleSigning::new(
            &wasmix::oci::trust::repository_of(&parsed),
            &digest,
            &Default::default(),
        )
        .to_bytes();
        let layer = wasmix_signing::cosign::SignatureLayer::simple(
            payload.clone(),
            &pair.sign(&payload).unwrap(),
        );
        let scratch = tempfile::tempdir().unwrap();
        registry
            .attach_signature(
                &parsed,
                &digest,
                layer,
                &wasmix::oci::Cache::open(scratch.path()).unwrap(),
            )
            .unwrap();
        let policy = |text: String| {
            wasmix_signing::TrustPolicy::parse("bench", &text, policy_dir.path()).unwrap()
        };
        let skip = policy(format!(
            "scopes:\n  - scope: {}/*\n    mode: skip\n  - scope: \"*\"\n",
            reg.addr
        ));
        let enforce = policy(format!(
            "scopes:\n  - scope: {}/*\n    authorities:\n      - key: k.pub\n  - scope: \"*\"\n",
            reg.addr
        ));
        let pull_with = |policy: &wasmix_signing::TrustPolicy| {
            measure(30, || {
                let dir = tempfile::tempdir().unwrap();
                let cache = wasmix::oci::Cache::open(dir.path()).unwrap();
                let pulled = registry.pull(&parsed, &cache, policy).unwrap();
                assert_eq!(pulled.digest, digest);
            })
        };
        let plain = pull_with(&skip);
        let verified = pull_with(&enforce);
        line("| what | median | runs |".into());
        line("| --- | --- | --- |".into());
        line(format!(
            "| resolve tag + pull manifest, config, {} KB layer; sha256 of every blob; atomic cache writes (policy: skip) | {} | {} |",
            bytes.len() / 1024,
            us(plain.median),
            plain.n
        ));
        line(format!(
            "| the same, verifying a cosign key signature first (sig manifest + layer fetched, ECDSA P-256 checked) | {} | {} |",
            us(verified.median),
            verified.n
        ));
        // The verification work itself, with the evidence in memory.
        let cache = wasmix::oci::Cache::open(scratch.path()).unwrap();
        let (evidence, _) = registry.signatures(&parsed, &digest, &cache).unwrap();
        let repository = wasmix::oci::trust::repository_of(&parsed);
        let subject = wasmix_signing::Subject {
            repository: &repository,
            digest: &digest,
            version: Some("0.1.0"),
        };
        let check = measure(500, || {
            let verdict = enforce.verify(&subject, &evidence).unwrap();
            assert!(matches!(verdict, wasmix_signing::Verdict::Verified { .. }));
        });
        line(format!(
            "| the policy applied to evidence in memory (payload parse, ECDSA P-256 verify) | {} | {} |",
            us(check.median),
            check.n
        ));
        line(format!(
            "\nVerification adds {:.1} % to a cold pull; the checking itself is {:.1} % of it, the rest is the signature manifest, its layer and its config fetched before the component (three more requests to the registry).",
            (verified.median.as_secs_f64() / plain.median.as_secs_f64() - 1.0) * 100.0,
            check.median.as_secs_f64() / plain.median.as_secs_f64() * 100.0
        ));
    } else {
        line("skipped: docker-registry is not installed".into());
    }

    let target = wasmix_e2e::repo_root().join("target");
    let _ = std::fs::create_dir_all(&target);
    let _ = std::fs::write(target.join("bench-report.md"), &report);
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
