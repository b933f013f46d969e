//! Running one step: a WASI context built from the grant, a fresh store, the
//! call, and what came out.

use super::bindings::wasmix::mixin::types::{Diagnostic, Info, Invocation};
use super::bindings::MixinPre;
use super::engine::{LoadedMixin, MixinEngine};
use crate::driver::Driver;
use crate::grant::{Grant, Limits, APP_DIR};
use crate::redact::Redactor;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The level of a mixin's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Step-by-step detail.
    Trace,
    /// Detail for whoever debugs the mixin (shown with `--verbose`).
    Debug,
    /// Progress.
    Info,
    /// Something the operator should look at.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// The lower-case name stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    /// Shown without `--verbose`.
    pub fn is_shown_by_default(self) -> bool {
        self >= LogLevel::Info
    }
}

impl std::fmt::Display for LogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A log line from a mixin, already redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// How important the mixin says it is.
    pub level: LogLevel,
    /// The text, secrets masked and control characters escaped.
    pub message: String,
}

/// An output returned by a mixin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixinOutput {
    /// Name.
    pub name: String,
    /// Value (raw: not redacted).
    pub value: String,
    /// Declared sensitive by the mixin.
    pub sensitive: bool,
}

/// What a step needs to run.
pub struct StepInput<'a> {
    /// The action.
    pub action: &'a str,
    /// The rendered step body as JSON.
    pub step_json: String,
    /// The mixin config as JSON.
    pub config_json: String,
    /// The installation.
    pub installation: &'a str,
    /// What the step may reach.
    pub grant: &'a Grant,
    /// Values of the credentials in the grant.
    pub secrets: BTreeMap<String, String>,
    /// Environment variables for the mixin beyond the granted host ones
    /// (parameters granted as env).
    pub env: Vec<(String, String)>,
    /// Who runs commands.
    pub driver: Arc<dyn Driver>,
    /// The bundle directory (default working directory of commands).
    pub bundle_dir: &'a Path,
    /// Limits.
    pub limits: Limits,
    /// Masks secrets in logs and errors.
    pub redactor: &'a Redactor,
    /// Files placed read-only in every container the step starts (Porter's
    /// `path:` destinations; empty with the host driver, which places them
    /// in the bundle directory instead).
    pub files: Vec<crate::driver::FileValue>,
}

/// What happened in a step.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// Outputs, or why the step failed (redacted).
    pub result: Result<Vec<MixinOutput>, String>,
    /// Exit code of the failing command, when there was one.
    pub exit_code: Option<i32>,
    /// Log lines.
    pub logs: Vec<LogLine>,
    /// Requests the host refused, as told to the mixin (redacted).
    pub denials: Vec<String>,
    /// The mixin's own stdout and stderr (redacted).
    pub stdio: String,
    /// How long it took.
    pub duration: Duration,
}

impl StepReport {
    /// A step that failed before its mixin ran (`message` already redacted).
    pub fn failed(message: String) -> StepReport {
        StepReport {
            result: Err(message),
            exit_code: None,
            logs: Vec::new(),
            denials: Vec::new(),
            stdio: String::new(),
            duration: Duration::default(),
        }
    }
}

/// Memory growth cap that remembers it refused.
pub(crate) struct MemoryCap {
    max: usize,
    pub(crate) hit: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }
    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// The host state of one step's store.
pub struct StepState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) memory: MemoryCap,
    pub(crate) access: Access,
}

/// What the host imports consult: the grant and the means to honour it.
pub(crate) struct Access {
    pub(crate) grant: Grant,
    pub(crate) secrets: BTreeMap<String, String>,
    /// Parameters granted as environment variables, for commands too.
    pub(crate) param_env: Vec<(String, String)>,
    /// The printable forms of every credential this step may use but not
    /// read: masked in what commands return to the mixin.
    pub(crate) use_only_forms: Vec<Vec<u8>>,
    pub(crate) driver: Option<Arc<dyn Driver>>,
    pub(crate) bundle_dir: PathBuf,
    /// Files for every container the step starts.
    pub(crate) files: Vec<crate::driver::FileValue>,
    pub(crate) limits: Limits,
    pub(crate) deadline: Instant,
    pub(crate) redactor: Redactor,
    pub(crate) logs: Vec<LogLine>,
    /// Bytes of log text kept so far.
    pub(crate) log_bytes: usize,
    /// The log budget was reached and said so.
    pub(crate) log_budget_hit: bool,
    /// Refusals kept for the operator, at most [`MAX_DENIALS`].
    pub(crate) denials: Vec<String>,
    /// Refusals past [`MAX_DENIALS`], counted and not kept: a mixin asking
    /// for a denied credential in a loop must not grow the host's memory.
    pub(crate) denials_dropped: usize,
    pub(crate) driver_calls: u32,
    pub(crate) labels: Vec<(String, String)>,
}

impl WasiView for StepState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Refusals one step keeps for the operator; more are counted only.
pub(crate) const MAX_DENIALS: usize = 100;

/// Host resources (credential handles, WASI streams, files, pollables) one
/// step may hold at once. A guest keeps 4 bytes per handle and the host a
/// few hundred, so without a cap a loop of `get-stdout` or `credentials.get`
/// would grow the host far past the guest's own memory limit.
pub(crate) const MAX_HANDLES: usize = 4096;

/// The most the host copies out of the guest in one call: a log line, a
/// driver request, the step's returned outputs, a WASI write. wasmtime counts
/// every lifted list element at its size on the host, so a list of a million
/// tiny strings costs what it would take on the host and is refused before it
/// is copied, whatever the guest's memory limit.
pub(crate) fn hostcall_budget(limits: &Limits) -> usize {
    let largest = limits
        .output_cap
        .max(limits.max_output_bytes)
        .max(limits.max_log_bytes)
        .max(super::host::MAX_REQUEST_BYTES);
    // Twice the largest single transfer a step may legitimately make, for
    // the per-element bookkeeping of lists, plus room for small calls.
    largest.saturating_mul(2).saturating_add(1 << 20)
}

fn new_store(
    engine: &Engine,
    wasi: WasiCtx,
    access: Access,
    memory_bytes: usize,
    deadline: Duration,
) -> Store<StepState> {
    let hostcall_fuel = hostcall_budget(&access.limits);
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_HANDLES);
    let state = StepState {
        wasi,
        table,
        memory: MemoryCap {
            max: memory_bytes,
            hit: false,
        },
        access,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.memory);
    store.set_hostcall_fuel(hostcall_fuel);
    // Checked at every epoch tick: the step's own deadline, and Ctrl-C.
    let deadline_at = later(Instant::now(), deadline);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if crate::interrupt::requested() || Instant::now() >= deadline_at {
            Err(Trap::Interrupt.into())
        } else {
            Ok(wasmtime::UpdateDeadline::Continue(1))
        }
    });
    store
}

/// `from + d`, or a year from `from` when `d` would overflow the clock.
fn later(from: Instant, d: Duration) -> Instant {
    from.checked_add(d)
        .or_else(|| from.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(from)
}

/// What a command might print of the credentials `grant` lets the step
/// use but not read.
fn use_only_forms(grant: &Grant, secrets: &BTreeMap<String, String>) -> Vec<Vec<u8>> {
    let mut forms: Vec<Vec<u8>> = grant
        .credentials
        .iter()
        .filter(|(_, access)| **access == crate::grant::CredentialAccess::Use)
        .filter_map(|(name, _)| secrets.get(name))
        .flat_map(|v| crate::redact::encodings(v))
        .collect();
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    forms
}

/// A store with no capabilities at all, for `describe` and `lint`.
fn bare_store(engine: &Engine) -> Store<StepState> {
    let limits = Limits::default();
    let access = Access {
        grant: Grant::default(),
        secrets: BTreeMap::new(),
        param_env: Vec::new(),
        use_only_forms: Vec::new(),
        driver: None,
        bundle_dir: PathBuf::new(),
        files: Vec::new(),
        limits,
        deadline: Instant::now() + Duration::from_secs(10),
        redactor: Redactor::default(),
        logs: Vec::new(),
        log_bytes: 0,
        log_budget_hit: false,
        denials: Vec::new(),
        denials_dropped: 0,
        driver_calls: 0,
        labels: Vec::new(),
    };
    new_store(
        engine,
        WasiCtxBuilder::new().build(),
        access,
        limits.memory_bytes,
        Duration::from_secs(10),
    )
}

pub(crate) fn describe(engine: &Engine, pre: &MixinPre<StepState>) -> Result<Info, String> {
    let mut store = bare_store(engine);
    let mixin = pre.instantiate(&mut store).map_err(|e| format!("{e:#}"))?;
    mixin
        .call_describe(&mut store)
        .map_err(|e| format!("describe failed: {e:#}"))
}

/// Ask `mixin` to lint a step body (JSON), with no capabilities.
pub fn lint(
    engine: &MixinEngine,
    mixin: &LoadedMixin,
    action: &str,
    step_json: &str,
) -> Result<Vec<Diagnostic>, String> {
    let mut store = bare_store(engine.engine());
    let m = mixin
        .pre
        .instantiate(&mut store)
        .map_err(|e| format!("{e:#}"))?;
    m.call_lint(&mut store, action, step_json)
        .map_err(|e| format!("lint failed: {e:#}"))
}

fn wasi_for(
    grant: &Grant,
    extra_env: &[(String, String)],
    cap: usize,
) -> Result<(WasiCtx, MemoryOutputPipe, MemoryOutputPipe), String> {
    let stdout = MemoryOutputPipe::new(cap);
    let stderr = MemoryOutputPipe::new(cap);
    let mut b = WasiCtxBuilder::new();
    b.stdout(stdout.clone())
        .stderr(stderr.clone())
        .arg("mixin")
        .initial_cwd(APP_DIR);
    for f in &grant.files {
        let perms = if f.write {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        b.preopened_dir(&f.host, &f.guest, perms).map_err(|e| {
            format!(
                "could not open granted directory {}: {e:#}",
                f.host.display()
            )
        })?;
    }
    for name in &grant.env {
        if let Ok(v) = std::env::var(name) {
            b.env(name, v);
        }
    }
    for (k, v) in extra_env {
        b.env(k, v);
    }
    if !grant.hosts.is_empty() {
        allow_hosts(&mut b, grant);
    }
    Ok((b.build(), stdout, stderr))
}

/// Let the guest open TCP connections to the granted hosts only. Names are
/// resolved here, once; the guest may look names up, but can connect only
/// to the addresses they had when the step started. Binding and UDP stay
/// denied.
fn allow_hosts(b: &mut WasiCtxBuilder, grant: &Grant) {
    use std::net::{IpAddr, ToSocketAddrs};
    use wasmtime_wasi::sockets::SocketAddrUse;
    let mut allowed: Vec<(IpAddr, Option<u16>)> = Vec::new();
    let mut names = false;
    for h in &grant.hosts {
        match h.host.parse::<IpAddr>() {
            Ok(ip) => allowed.push((ip, h.port)),
            Err(_) => {
                names = true;
                if let Ok(addrs) = (h.host.as_str(), h.port.unwrap_or(0)).to_socket_addrs() {
                    allowed.extend(addrs.map(|a| (a.ip(), h.port)));
                }
            }
        }
    }
    let allowed = std::sync::Arc::new(allowed);
    b.allow_tcp(true)
        .allow_ip_name_lookup(names)
        .socket_addr_check(move |addr, usage| {
            // A client connect first checks an implicit bind to the
            // unspecified address and an ephemeral port: the only bind allowed.
            let implicit_bind = matches!(usage, SocketAddrUse::TcpBind)
                && addr.ip().is_unspecified()
                && addr.port() == 0;
            let ok = implicit_bind
                || matches!(usage, SocketAddrUse::TcpConnect)
                    && allowed.iter().any(|(ip, port)| {
                        *ip == addr.ip() && port.is_none_or(|p| p == addr.port())
                    });
            Box::pin(async move { ok })
        });
}

/// Run `mixin`'s `execute` for one step, in a fresh store built from the
/// step's grant.
pub fn execute(engine: &MixinEngine, mixin: &LoadedMixin, input: StepInput<'_>) -> StepReport {
    let started = Instant::now();
    let redactor = input.redactor.clone();
    let fail = |message: String| StepReport {
        duration: started.elapsed(),
        ..StepReport::failed(redactor.redact(&message))
    };
    let (wasi, stdout, stderr) = match wasi_for(input.grant, &input.env, input.limits.output_cap) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let use_only_forms = use_only_forms(input.grant, &input.secrets);
    let access = Access {
        grant: input.grant.clone(),
        secrets: input.secrets,
        param_env: input.env.clone(),
        use_only_forms,
        driver: Some(input.driver),
        bundle_dir: input.bundle_dir.to_path_buf(),
        files: input.files,
        limits: input.limits,
        deadline: later(started, input.limits.deadline),
        redactor: input.redactor.clone(),
        logs: Vec::new(),
        log_bytes: 0,
        log_budget_hit: false,
        denials: Vec::new(),
        denials_dropped: 0,
        driver_calls: 0,
        labels: vec![
            (
                "dev.wasmix.installation".into(),
                input.installation.to_string(),
            ),
            ("dev.wasmix.action".into(), input.action.to_string()),
        ],
    };
    let mut store = new_store(
        engine.engine(),
        wasi,
        access,
        input.limits.memory_bytes,
        input.limits.deadline,
    );
    let invocation = Invocation {
        action: input.action.to_string(),
        step: input.step_json,
        config: input.config_json,
        installation: input.installation.to_string(),
    };
    let called = mixin
        .pre
        .instantiate(&mut store)
        .and_then(|m| m.call_execute(&mut store, &invocation));
    let mut exit_code = None;
    let result = match called {
        Ok(Ok(outputs)) => check_outputs(outputs, &input.limits),
        Ok(Err(failure)) => {
            exit_code = failure.exit_code;
            Err(failure.message)
        }
        Err(trap) => Err(explain_trap(&trap, &store, &input.limits)),
    };
    let mut state = store.into_data();
    if state.access.denials_dropped > 0 {
        state.access.denials.push(format!(
            "… and {} more refusals, not kept",
            state.access.denials_dropped
        ));
    }
    for (name, pipe) in [("stdout", &stdout), ("stderr", &stderr)] {
        if pipe.contents().len() >= input.limits.output_cap {
            state.access.denials.push(format!(
                "the mixin's {name} was cut at {} bytes, its output limit",
                input.limits.output_cap
            ));
        }
    }
    let stdio = [stdout.contents(), stderr.contents()]
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    StepReport {
        result: result.map_err(|e| redactor.redact(&e)),
        exit_code,
        logs: state.access.logs,
        denials: state.access.denials,
        stdio: redactor.redact(&stdio),
        duration: started.elapsed(),
    }
}

fn check_outputs(
    outputs: Vec<super::bindings::wasmix::mixin::types::Output>,
    limits: &Limits,
) -> Result<Vec<MixinOutput>, String> {
    let total: usize = outputs.iter().map(|o| o.name.len() + o.value.len()).sum();
    if total > limits.max_output_bytes {
        return Err(format!(
            "the mixin returned {total} bytes of outputs, more than the step's limit of {} bytes",
            limits.max_output_bytes
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for o in &outputs {
        if o.name.is_empty() || !seen.insert(o.name.as_str()) {
            return Err(format!(
                "the mixin returned an empty or repeated output name {:?}",
                o.name
            ));
        }
    }
    Ok(outputs
        .into_iter()
        .map(|o| MixinOutput {
            name: o.name,
            value: o.value,
            sensitive: o.sensitive,
        })
        .collect())
}

fn explain_trap(trap: &wasmtime::Error, store: &Store<StepState>, limits: &Limits) -> String {
    if store.data().memory.hit {
        return format!(
            "the mixin tried to use more than its memory limit of {} MiB and was stopped",
            limits.memory_bytes >> 20
        );
    }
    // The trap code may sit under backtrace context: look down the chain.
    let code = trap.chain().find_map(|e| e.downcast_ref::<Trap>().copied());
    match code {
        Some(Trap::Interrupt) if crate::interrupt::requested() => {
            "interrupted (Ctrl-C) and was stopped".into()
        }
        Some(Trap::Interrupt) => format!(
            "the step ran past its deadline of {:?} and was stopped",
            limits.deadline
        ),
        Some(Trap::StackOverflow) => "the mixin overflowed its stack and was stopped".into(),
        // Rust and C guests keep their stack in linear memory: overflowing it
        // shows up as an access below address 0.
        Some(Trap::MemoryOutOfBounds) => {
            "the mixin overflowed its stack or accessed memory out of bounds and was stopped".into()
        }
        _ => {
            let root = trap.root_cause().to_string();
            if root.contains("fuel allocated for hostcalls") {
                format!(
                    "the mixin passed more than {} bytes to the host in one call \
                     (its outputs, a log line, a driver request or a write) and was stopped; \
                     the step's `limits:` (output, outputs, logs) set this budget",
                    hostcall_budget(limits)
                )
            } else if root.contains("write beyond capacity") {
                format!(
                    "the mixin printed more than its output limit of {} bytes and was stopped",
                    limits.output_cap
                )
            } else {
                // The root cause names the trap; the wasm backtrace is noise here.
                format!("the mixin trapped: {root}")
            }
        }
    }
}
