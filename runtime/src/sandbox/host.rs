//! The host side of the `wasmix:mixin` imports. Every driver request and
//! credential access is checked against the step's grant here, before any
//! driver sees it.

use super::bindings::wasmix::mixin::{credentials, driver, log, types};
use super::step::{Access, LogLevel, LogLine, StepState};
use crate::driver::{EnvValue, Request, RunLimits};
use crate::grant::CredentialAccess;
use crate::redact::mask_bytes;
use std::time::Instant;
use wasmtime::component::Resource;

/// The host value behind a `secret` handle: only the credential's name. The
/// bytes stay in the step's access table.
pub struct SecretHandle {
    name: String,
}

impl types::Host for StepState {}

impl log::Host for StepState {
    fn emit(&mut self, level: log::Level, message: String) {
        let a = &mut self.access;
        if a.log_budget_hit {
            return;
        }
        let room = a.limits.max_log_bytes.saturating_sub(a.log_bytes);
        if a.logs.len() >= a.limits.max_log_lines || room == 0 {
            // Said once; what follows is dropped, never stored or printed.
            a.log_budget_hit = true;
            a.logs.push(LogLine {
                level: LogLevel::Warn,
                message: format!(
                    "this step reached its log budget ({} lines, {} bytes); its further log lines were dropped",
                    a.limits.max_log_lines, a.limits.max_log_bytes
                ),
            });
            return;
        }
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        // Masked and escaped first, then cut and counted: a cut never leaves
        // part of a secret, and the budget counts what is stored and shown.
        let message = a.redactor.redact(&message);
        let cap = a.limits.output_cap.min(room);
        let message = message[..floor_boundary(&message, cap)].to_string();
        a.log_bytes += message.len();
        a.logs.push(LogLine { level, message });
    }
}

/// The largest index ≤ `max` that is a char boundary of `s`.
fn floor_boundary(s: &str, max: usize) -> usize {
    let mut i = max.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl Access {
    fn deny(&mut self, message: String) -> String {
        let message = self.redactor.redact(&message);
        if self.denials.len() < super::step::MAX_DENIALS {
            self.denials.push(message.clone());
        } else {
            self.denials_dropped += 1;
        }
        message
    }
}

impl credentials::HostSecret for StepState {
    fn name(&mut self, secret: Resource<SecretHandle>) -> String {
        self.table
            .get(&secret)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    fn drop(&mut self, secret: Resource<SecretHandle>) -> wasmtime::Result<()> {
        self.table.delete(secret)?;
        Ok(())
    }
}

impl credentials::Host for StepState {
    fn get(&mut self, name: String) -> Result<Resource<SecretHandle>, String> {
        if !self.access.grant.credentials.contains_key(&name) {
            return Err(self.access.deny(format!(
                "credential {name:?} is not granted to this step; grant it with `grants: {{credentials: [{name}]}}`"
            )));
        }
        if !self.access.secrets.contains_key(&name) {
            return Err(format!("credential {name:?} has no value in this run"));
        }
        self.table
            .push(SecretHandle { name })
            .map_err(|_| {
                format!(
                    "this step already holds {} handles, its limit; drop the handles it no longer needs",
                    super::step::MAX_HANDLES
                )
            })
    }

    fn reveal(&mut self, secret: Resource<SecretHandle>) -> Result<String, String> {
        let name = self
            .table
            .get(&secret)
            .map_err(|e| e.to_string())?
            .name
            .clone();
        match self.access.grant.credentials.get(&name) {
            Some(CredentialAccess::Read) => {
                Ok(self.access.secrets.get(&name).cloned().unwrap_or_default())
            }
            _ => Err(self.access.deny(format!(
                "credential {name:?} may be passed to commands but not read by the mixin; \
                 grant `{{name: {name}, read: true}}` to allow reading it"
            ))),
        }
    }
}

impl driver::Host for StepState {
    fn run(&mut self, command: driver::Command) -> Result<driver::Completed, String> {
        let request = match self.check(&command) {
            Ok(r) => r,
            Err(message) => return Err(self.access.deny(message)),
        };
        let a = &self.access;
        let Some(driver) = a.driver.clone() else {
            return Err("no driver is available while describing or linting".into());
        };
        let remaining = a.deadline.saturating_duration_since(Instant::now());
        // Read past the cap, so a secret that straddles it is whole when it
        // is masked (laid out over lines, as `od` prints it, it takes more
        // room than its longest form); cut to the cap afterwards.
        let margin = a
            .use_only_forms
            .iter()
            .map(Vec::len)
            .max()
            .map_or(0, |l| 2 * l + 256);
        let limits = RunLimits {
            timeout: remaining,
            output_cap: a.limits.output_cap + margin,
        };
        let cap = a.limits.output_cap;
        let masked = |bytes: &[u8]| {
            let mut out = mask_bytes(bytes, &a.use_only_forms);
            out.truncate(cap);
            out
        };
        match driver.run(&request, limits) {
            // A credential granted for use only stays unread: whatever a
            // command prints of it comes back masked.
            Ok(done) => Ok(driver::Completed {
                exit_code: done.exit_code,
                stdout: masked(&done.stdout),
                stderr: masked(&done.stderr),
            }),
            Err(e) => Err(a.redactor.redact(&e.to_string())),
        }
    }
}

impl StepState {
    /// Check a request against the grant and resolve it for the driver.
    fn check(&mut self, command: &driver::Command) -> Result<Request, String> {
        let a = &mut self.access;
        a.driver_calls += 1;
        if a.driver_calls > a.limits.max_driver_calls {
            return Err(format!(
                "this step already made {} driver requests, its limit",
                a.limits.max_driver_calls
            ));
        }
        let size: usize = command.program.len()
            + command.args.iter().map(String::len).sum::<usize>()
            + command
                .env
                .iter()
                .map(|(k, v)| k.len() + text_len(v))
                .sum::<usize>()
            + command.stdin.as_ref().map_or(0, Vec::len);
        if size > MAX_REQUEST_BYTES {
            return Err(format!(
                "this driver request is {size} bytes (program, arguments, environment and stdin), over the limit of {MAX_REQUEST_BYTES}"
            ));
        }
        match &command.image {
            Some(image) => a.grant.allows_image(image)?,
            None => {
                if !command.mounts.is_empty() {
                    return Err("mounts need a container image".into());
                }
                a.grant.allows_command(&command.program)?;
            }
        }
        let mut mounts = Vec::with_capacity(command.mounts.len());
        for m in &command.mounts {
            if !m.target.starts_with('/') {
                return Err(format!(
                    "mount {:?} -> {:?}: paths must be absolute and stay inside the grant",
                    m.source, m.target
                ));
            }
            let (grant, host) = a.grant.mount_source(&m.source)?;
            mounts.push(crate::driver::Mount {
                host,
                target: m.target.clone(),
                read_only: m.read_only || !grant.write,
            });
        }
        // In a container the working directory is the container's own path.
        let workdir = match (&command.workdir, &command.image) {
            (Some(dir), None) => a.grant.workdir(&a.bundle_dir, dir)?,
            _ => a.bundle_dir.clone(),
        };
        let mut env = Vec::with_capacity(command.env.len());
        for (k, v) in &command.env {
            let value = match v {
                driver::Value::Text(t) => EnvValue::Text(t.clone()),
                driver::Value::Secret(handle) => {
                    let name = self
                        .table
                        .get(handle)
                        .map_err(|e| e.to_string())?
                        .name
                        .clone();
                    if let Some(to) = a.grant.bound.get(&name) {
                        if !to.contains(&command.program) {
                            return Err(format!(
                                "credential {name:?} is bound to {} (`to:` in its grant); it is not passed to {:?}",
                                to.iter().cloned().collect::<Vec<_>>().join(", "),
                                command.program
                            ));
                        }
                    }
                    let value = a.secrets.get(&name).cloned().unwrap_or_default();
                    EnvValue::Secret { name, value }
                }
            };
            env.push((k.clone(), value));
        }
        // Porter's `env:` destinations: granted credentials and parameters
        // reach the commands the step starts by the variable the manifest
        // names, unless the mixin sets that variable itself.
        let set_by_mixin: std::collections::BTreeSet<String> =
            env.iter().map(|(k, _)| k.clone()).collect();
        for (var, name) in &a.grant.credential_env {
            // A bound credential's destination reaches its programs only.
            let bound_elsewhere = a
                .grant
                .bound
                .get(name)
                .is_some_and(|to| !to.contains(&command.program));
            if bound_elsewhere {
                continue;
            }
            if let (false, Some(value)) = (set_by_mixin.contains(var), a.secrets.get(name)) {
                env.push((
                    var.clone(),
                    EnvValue::Secret {
                        name: name.clone(),
                        value: value.clone(),
                    },
                ));
            }
        }
        for (var, value) in &a.param_env {
            if set_by_mixin.contains(var) {
                continue;
            }
            // A sensitive parameter travels like a credential: drivers never print it.
            let value = if a.redactor.contains_secret(value) {
                EnvValue::Secret {
                    name: var.clone(),
                    value: value.clone(),
                }
            } else {
                EnvValue::Text(value.clone())
            };
            env.push((var.clone(), value));
        }
        Ok(Request {
            program: command.program.clone(),
            args: command.args.clone(),
            env,
            workdir,
            stdin: command.stdin.clone(),
            image: command.image.clone(),
            container_workdir: command.image.as_ref().and(command.workdir.clone()),
            mounts,
            network: !a.grant.hosts.is_empty(),
            labels: a.labels.clone(),
            // Containers get the step's file destinations; host commands
            // find them in the bundle directory, placed before the step.
            files: if command.image.is_some() {
                a.files.clone()
            } else {
                Vec::new()
            },
        })
    }
}

/// Largest driver request (program, arguments, environment, stdin) a step
/// may make: more is a runaway or an attempt to exhaust the host.
pub const MAX_REQUEST_BYTES: usize = 4 << 20;

fn text_len(v: &driver::Value) -> usize {
    match v {
        driver::Value::Text(t) => t.len(),
        driver::Value::Secret(_) => 0,
    }
}
