//! The `host` driver: runs allowed programs as local processes.
//!
//! A host process is not sandboxed: it runs with the operator's user and
//! can reach whatever that user can. wasmix narrows what starts it (only
//! programs the step was granted), and what it inherits: the environment is
//! cleared and holds only the request's variables and a fixed `PATH`.

use super::{Completed, Driver, DriverError, EnvValue, Request, RunLimits};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use wait_timeout::ChildExt;

/// How often a waiting command checks for Ctrl-C.
const INTERRUPT_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// The only `PATH` host commands see.
pub const FIXED_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Runs requests as local processes.
#[derive(Debug, Default)]
pub struct HostDriver;

impl Driver for HostDriver {
    fn name(&self) -> &'static str {
        "host"
    }

    fn run(&self, request: &Request, limits: RunLimits) -> Result<Completed, DriverError> {
        if let Some(image) = &request.image {
            return Err(DriverError::Unsupported {
                driver: "host",
                what: format!("run image {image} (use a container driver)"),
            });
        }
        if let Some(f) = request.files.first() {
            // Placed in the bundle directory before the step instead; a
            // request carrying one here would otherwise drop it.
            return Err(DriverError::Unsupported {
                driver: "host",
                what: format!("mount {} at {}", f.source, f.target),
            });
        }
        let mut cmd = Command::new(&request.program);
        cmd.args(&request.args)
            .env_clear()
            .env("PATH", FIXED_PATH)
            .current_dir(&request.workdir)
            .stdin(if request.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &request.env {
            match v {
                EnvValue::Text(t) => cmd.env(k, t),
                EnvValue::Secret { value, .. } => cmd.env(k, value),
            };
        }
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|source| DriverError::Spawn {
            program: request.program.clone(),
            source,
        })?;
        if let (Some(bytes), Some(mut stdin)) = (request.stdin.clone(), child.stdin.take()) {
            // A command that never reads its stdin must not block us.
            std::thread::spawn(move || {
                let _ = stdin.write_all(&bytes);
            });
        }
        let cap = limits.output_cap;
        let out = child
            .stdout
            .take()
            .map(|s| std::thread::spawn(move || read_capped(s, cap)));
        let err = child
            .stderr
            .take()
            .map(|s| std::thread::spawn(move || read_capped(s, cap)));
        // Woken by the child's exit (SIGCHLD, not polling); killed at the
        // deadline, or within a tenth of a second of Ctrl-C.
        let started = std::time::Instant::now();
        let fail = |child: &mut std::process::Child, e: DriverError| {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        };
        let status = loop {
            let left = limits.timeout.saturating_sub(started.elapsed());
            match child.wait_timeout(left.min(INTERRUPT_CHECK)) {
                Ok(Some(status)) => break status,
                Ok(None) if crate::interrupt::requested() => {
                    return fail(
                        &mut child,
                        DriverError::Interrupted {
                            program: request.program.clone(),
                        },
                    );
                }
                Ok(None) if started.elapsed() >= limits.timeout => {
                    return fail(
                        &mut child,
                        DriverError::Timeout {
                            program: request.program.clone(),
                            seconds: limits.timeout.as_secs(),
                        },
                    );
                }
                Ok(None) => {}
                Err(source) => {
                    return fail(
                        &mut child,
                        DriverError::Spawn {
                            program: request.program.clone(),
                            source,
                        },
                    );
                }
            }
        };
        let join = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
            h.and_then(|h| h.join().ok()).unwrap_or_default()
        };
        Ok(Completed {
            exit_code: status.code().unwrap_or(-1),
            stdout: join(out),
            stderr: join(err),
        })
    }
}

/// Read everything, keeping at most `cap` bytes (the rest is drained so the
/// child never blocks on a full pipe).
fn read_capped(mut r: impl Read, cap: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    kept
}

/// A step's process dies with the wasmix thread that started it: a killed
/// wasmix (`kill -9`) leaves no step running on, finishing work that a
/// resumed workflow will run again.
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches only the child's own
    // attributes; nothing is allocated between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}
