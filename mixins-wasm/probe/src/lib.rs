//! A deliberately nosy mixin for the sandbox tests. Each attempt in its step
//! becomes one output, `a0`, `a1`, …, whose value starts with `ok:` or
//! `denied:`, so a test can assert exactly what the sandbox allowed.
//! Some attempts (loop, alloc, recurse, print) never return normally: the
//! host must stop them.

use serde::Deserialize;
use wasmix_mixin_sdk::{
    credential, log, parse_step, reveal, Command, Failure, Info, Invocation, Mixin, Output,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    #[serde(default)]
    description: String,
    /// Output names are `{prefix}{i}` (default `a`).
    #[serde(default)]
    prefix: Option<String>,
    /// Schema-only fields: they exist so tests can break `minimum` and
    /// `enum` in a step; the probe does nothing with them.
    #[serde(default)]
    retries: Option<u32>,
    #[serde(default)]
    mode: Option<String>,
    attempts: Vec<Attempt>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", tag = "kind")]
enum Attempt {
    ReadFile {
        path: String,
    },
    WriteFile {
        path: String,
    },
    ListDir {
        path: String,
    },
    Env {
        name: String,
    },
    Credential {
        name: String,
    },
    Reveal {
        name: String,
    },
    Run {
        program: String,
        #[serde(default)]
        args: Vec<String>,
        #[serde(default)]
        workdir: Option<String>,
    },
    RunWithSecret {
        program: String,
        name: String,
        #[serde(default)]
        args: Vec<String>,
    },
    Image {
        image: String,
    },
    BigRequest {
        bytes: usize,
    },
    Connect {
        address: String,
    },
    Loop,
    Alloc,
    Recurse,
    Print {
        bytes: usize,
    },
    HugeOutput {
        bytes: usize,
    },
    Log {
        text: String,
    },
    LogFlood {
        lines: u32,
        bytes: usize,
    },
    Output {
        name: String,
        value: String,
    },
    /// Return `count` more outputs, each tiny: the host must count them
    /// before it copies them.
    OutputFlood {
        count: u32,
    },
    /// One log line of `bytes` bytes.
    BigLog {
        bytes: usize,
    },
    /// Ask for credential `name` `count` times, keeping every handle.
    HandleFlood {
        name: String,
        count: u32,
    },
    /// One driver request with `count` one-byte arguments.
    ArgFlood {
        count: u32,
    },
    /// Overwrite the probe's static memory (zero-initialised and
    /// initialised alike) with `byte`, as a step holding a secret would.
    Dirty {
        byte: u8,
    },
    /// Report what the probe's static memory holds: `ok:{non-zero bytes of
    /// the zeroed scratch} {the initialised marker}`. A step on a pristine
    /// instance sees `ok:0 pristine-marker!`.
    Inspect,
}

/// Zero-initialised memory (`.bss`) spanning many pages, for `dirty`.
const SCRATCH_BYTES: usize = 64 << 10;
static mut SCRATCH: [u8; SCRATCH_BYTES] = [0; SCRATCH_BYTES];
/// Initialised memory (`.data`): a fresh instance holds these bytes.
static mut MARKER: [u8; 16] = *b"pristine-marker!";

struct Probe;

fn verdict<T, E: std::fmt::Display>(r: Result<T, E>, ok: impl FnOnce(T) -> String) -> String {
    match r {
        Ok(v) => format!("ok:{}", ok(v)),
        Err(e) => format!("denied:{e}"),
    }
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    // black_box keeps the frame: without it LLVM turns this into a loop.
    let local = std::hint::black_box([depth; 64]);
    std::hint::black_box(recurse(depth + 1)) + local[(depth % 64) as usize]
}

impl Mixin for Probe {
    fn info() -> Info {
        Info {
            name: "probe".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Attempts what its step lists; for sandbox tests only".into(),
            step_schema: r#"{"type": "object", "required": ["attempts"], "additionalProperties": false,
                "properties": {"description": {"type": "string"}, "prefix": {"type": "string", "pattern": "^[a-z]*$"},
                    "retries": {"type": "integer", "minimum": 0, "maximum": 5}, "mode": {"enum": ["fast", "careful"]}, "attempts": {"type": "array", "items": {"type": "object", "required": ["kind"]}}}}"#.into(),
            config_schema: String::new(),
        }
    }

    fn execute(invocation: Invocation) -> Result<Vec<Output>, Failure> {
        let step: Step = parse_step(&invocation.step)?;
        let _ = (step.description, step.retries, step.mode);
        let mut outputs = Vec::new();
        let mut extra = Vec::new();
        for (i, attempt) in step.attempts.into_iter().enumerate() {
            let result = match attempt {
                Attempt::ReadFile { path } => verdict(std::fs::read_to_string(&path), |s| s),
                Attempt::WriteFile { path } => {
                    verdict(std::fs::write(&path, "written by probe"), |_| String::new())
                }
                Attempt::ListDir { path } => verdict(std::fs::read_dir(&path), |d| {
                    let mut names: Vec<String> = d
                        .filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect();
                    names.sort();
                    names.join(",")
                }),
                Attempt::Env { name } => verdict(std::env::var(&name), |v| v),
                Attempt::Credential { name } => verdict(credential(&name), |s| s.name()),
                Attempt::Reveal { name } => match credential(&name) {
                    Ok(s) => verdict(reveal(&s), |v| v),
                    Err(e) => format!("denied:{e}"),
                },
                Attempt::Run {
                    program,
                    args,
                    workdir,
                } => {
                    let mut c = Command::new(program).args(args);
                    if let Some(w) = workdir {
                        c = c.workdir(w);
                    }
                    verdict(c.run().map_err(|f| f.message), |d| {
                        format!("exit={} {}", d.exit_code, d.stdout_text().trim_end())
                    })
                }
                Attempt::RunWithSecret {
                    program,
                    name,
                    args,
                } => match credential(&name) {
                    Ok(s) => verdict(
                        Command::new(program)
                            .args(args)
                            .env_secret("SECRET", &s)
                            .run()
                            .map_err(|f| f.message),
                        |d| format!("exit={} {}", d.exit_code, d.stdout_text().trim_end()),
                    ),
                    Err(e) => format!("denied:{e}"),
                },
                Attempt::Image { image } => verdict(
                    Command::new("true")
                        .image(image)
                        .run()
                        .map_err(|f| f.message),
                    |d| format!("exit={}", d.exit_code),
                ),
                Attempt::BigRequest { bytes } => verdict(
                    Command::new("echo")
                        .arg("x".repeat(bytes))
                        .run()
                        .map_err(|f| f.message),
                    |d| format!("exit={}", d.exit_code),
                ),
                Attempt::Connect { address } => {
                    verdict(std::net::TcpStream::connect(address.as_str()), |_| {
                        "connected".into()
                    })
                }
                Attempt::Loop =>
                {
                    #[allow(clippy::empty_loop)]
                    loop {}
                }
                Attempt::Alloc => {
                    let mut hoard: Vec<Vec<u8>> = Vec::new();
                    loop {
                        hoard.push(vec![1u8; 16 << 20]);
                    }
                }
                Attempt::Recurse => format!("ok:{}", recurse(0)),
                Attempt::Print { bytes } => {
                    let chunk = vec![b'x'; 64 << 10];
                    let mut left = bytes;
                    use std::io::Write;
                    let mut out = std::io::stdout();
                    while left > 0 {
                        let n = left.min(chunk.len());
                        if out.write_all(&chunk[..n]).is_err() {
                            break;
                        }
                        left -= n;
                    }
                    "ok:printed".into()
                }
                Attempt::HugeOutput { bytes } => {
                    extra.push(Output::text("huge", "y".repeat(bytes)));
                    "ok:returned".into()
                }
                Attempt::Log { text } => {
                    log::info(&text);
                    "ok:logged".into()
                }
                Attempt::LogFlood { lines, bytes } => {
                    let line = "f".repeat(bytes);
                    for _ in 0..lines {
                        log::info(&line);
                    }
                    "ok:flooded".into()
                }
                Attempt::Output { name, value } => {
                    extra.push(Output::text(name, value));
                    "ok:output".into()
                }
                Attempt::OutputFlood { count } => {
                    extra.extend((0..count).map(|n| Output::text(format!("f{n}"), "")));
                    "ok:returned".into()
                }
                Attempt::BigLog { bytes } => {
                    log::info(&"g".repeat(bytes));
                    "ok:logged".into()
                }
                Attempt::HandleFlood { name, count } => {
                    let mut kept = Vec::new();
                    let mut refused = None;
                    for _ in 0..count {
                        match credential(&name) {
                            Ok(h) => kept.push(h),
                            Err(e) => refused = Some(e),
                        }
                    }
                    match refused {
                        Some(e) => format!("denied:{} held, last refusal: {e}", kept.len()),
                        None => format!("ok:{}", kept.len()),
                    }
                }
                Attempt::ArgFlood { count } => verdict(
                    Command::new("true")
                        .args((0..count).map(|_| "a"))
                        .run()
                        .map_err(|f| f.message),
                    |d| format!("exit={}", d.exit_code),
                ),
                Attempt::Dirty { byte } => {
                    // SAFETY: the component is single-threaded and no
                    // reference to either static is held across this call.
                    unsafe {
                        std::ptr::write_bytes((&raw mut SCRATCH).cast::<u8>(), byte, SCRATCH_BYTES);
                        std::ptr::write_bytes((&raw mut MARKER).cast::<u8>(), byte, 16);
                    }
                    "ok:dirtied".into()
                }
                Attempt::Inspect => {
                    // SAFETY: as above; the shared views end with this arm.
                    let (scratch, marker) = unsafe {
                        (
                            std::slice::from_raw_parts(
                                (&raw const SCRATCH).cast::<u8>(),
                                SCRATCH_BYTES,
                            ),
                            std::slice::from_raw_parts((&raw const MARKER).cast::<u8>(), 16),
                        )
                    };
                    let dirty = scratch.iter().filter(|b| **b != 0).count();
                    format!("ok:{dirty} {}", String::from_utf8_lossy(marker))
                }
            };
            let prefix = step.prefix.as_deref().unwrap_or("a");
            outputs.push(Output::text(format!("{prefix}{i}"), result));
        }
        outputs.extend(extra);
        Ok(outputs)
    }
}

wasmix_mixin_sdk::export_mixin!(Probe);
