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
        let started = std::time::Instant::now();
        let fail = |child: &mut std::process::Child, e: DriverError| {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        };
        // What ends a wait: the deadline (the command is killed) or Ctrl-C
        // (within a tenth of a second); otherwise how long to wait before
        // looking again.
        let next_check = || {
            if crate::interrupt::requested() {
                return Err(DriverError::Interrupted {
                    program: request.program.clone(),
                });
            }
            let left = limits.timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(DriverError::Timeout {
                    program: request.program.clone(),
                    seconds: limits.timeout.as_secs(),
                });
            }
            Ok(left.min(INTERRUPT_CHECK))
        };
        let (stdout, stderr) = match read_output(&request.program, &mut child, cap, &next_check) {
            Ok(both) => both,
            Err(e) => return fail(&mut child, e),
        };
        // Woken by the child's exit (SIGCHLD, not polling).
        let status = loop {
            let wait = match next_check() {
                Ok(wait) => wait,
                Err(e) => return fail(&mut child, e),
            };
            match child.wait_timeout(wait) {
                Ok(Some(status)) => break status,
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
        Ok(Completed {
            exit_code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        })
    }
}

/// The child's stdout and stderr, read until both close, keeping at most
/// `cap` bytes of each; the rest is drained so the child never blocks on a
/// full pipe. One `poll` over both pipes in this thread: a thread per pipe
/// costs a quarter of a millisecond to start on a small VM, per command.
/// `next_check` ends the wait (deadline, Ctrl-C) or says how long to sleep.
/// Pipes a background process of the command keeps open after the command
/// exited are let go a tenth of a second later, rather than waited for.
#[cfg(unix)]
fn read_output(
    program: &str,
    child: &mut std::process::Child,
    cap: usize,
    next_check: &dyn Fn() -> Result<std::time::Duration, DriverError>,
) -> Result<(Vec<u8>, Vec<u8>), DriverError> {
    let mut pipes: [Option<Box<dyn ReadFd>>; 2] = [
        child.stdout.take().map(|p| Box::new(p) as Box<dyn ReadFd>),
        child.stderr.take().map(|p| Box::new(p) as Box<dyn ReadFd>),
    ];
    let mut kept = [Vec::new(), Vec::new()];
    let mut buf = [0u8; 16 * 1024];
    let mut exited_at: Option<std::time::Instant> = None;
    while pipes.iter().any(Option::is_some) {
        let wait = next_check()?;
        let mut fds: Vec<libc::pollfd> = pipes
            .iter()
            .map(|p| libc::pollfd {
                fd: p.as_ref().map_or(-1, |p| p.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = wait.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd entries for
        // the duration of the call; a negative fd is ignored by poll.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if ready < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(DriverError::Spawn {
                program: program.to_string(),
                source: e,
            });
        }
        if ready == 0 {
            // Nothing to read: has the command itself ended, with a
            // background process still holding its output open?
            match exited_at {
                Some(t) if t.elapsed() >= INTERRUPT_CHECK => break,
                Some(_) => {}
                None => {
                    if child.try_wait().ok().flatten().is_some() {
                        exited_at = Some(std::time::Instant::now());
                    }
                }
            }
            continue;
        }
        for (i, fd) in fds.iter().enumerate() {
            if fd.revents == 0 {
                continue;
            }
            let Some(pipe) = pipes[i].as_mut() else {
                continue;
            };
            // poll said readable (or closed): this read does not block.
            match pipe.read(&mut buf) {
                Ok(0) => pipes[i] = None,
                Ok(n) => {
                    let room = cap.saturating_sub(kept[i].len());
                    kept[i].extend_from_slice(&buf[..n.min(room)]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => pipes[i] = None,
            }
        }
    }
    let [stdout, stderr] = kept;
    Ok((stdout, stderr))
}

/// A child's output pipe: readable, and pollable by its descriptor.
#[cfg(unix)]
trait ReadFd: Read + std::os::fd::AsRawFd {}
#[cfg(unix)]
impl<T: Read + std::os::fd::AsRawFd> ReadFd for T {}

/// Elsewhere: a reader thread per pipe.
#[cfg(not(unix))]
fn read_output(
    _program: &str,
    child: &mut std::process::Child,
    cap: usize,
    _next_check: &dyn Fn() -> Result<std::time::Duration, DriverError>,
) -> Result<(Vec<u8>, Vec<u8>), DriverError> {
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let out = stdout.map(|s| std::thread::spawn(move || read_capped(s, cap)));
    let err = stderr.map(|s| std::thread::spawn(move || read_capped(s, cap)));
    let join = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
        h.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    Ok((join(out), join(err)))
}

/// Read everything, keeping at most `cap` bytes (the rest is drained so the
/// child never blocks on a full pipe).
#[cfg(not(unix))]
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
