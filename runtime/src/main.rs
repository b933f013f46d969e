//! The `wasmix` command line: a thin layer over the `wasmix` library.

use anyhow::anyhow;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use wasmix::driver::{DebugDriver, Driver, HostDriver};
use wasmix::manifest::{self, Manifest};
use wasmix::plan::Plan;
use wasmix::redact::{sanitize, MASK};
use wasmix::resolve::MixinPath;
use wasmix::run::{Event, Inputs, Limits, Outcome, RunError, Runtime};
use wasmix::sandbox::MixinEngine;
use wasmix::store::Store;

/// Exit codes scripts can rely on.
mod exit {
    /// The action ran and a step failed.
    pub const STEP_FAILED: u8 = 1;
    /// Bad input: manifest, parameters, credentials, arguments.
    pub const BAD_INPUT: u8 = 2;
    /// The environment: mixin not found, state store, I/O.
    pub const ENVIRONMENT: u8 = 3;
}

#[derive(Parser)]
#[command(
    name = "wasmix",
    version,
    about = "Run Porter-style bundles with sandboxed WebAssembly mixins"
)]
struct Cli {
    /// wasmix's home: state store and caches [default: ~/.wasmix]
    #[arg(long, global = true, env = "WASMIX_HOME")]
    home: Option<PathBuf>,
    /// Directories holding mixin components, `:`-separated [default: HOME/mixins]
    #[arg(long, global = true, env = "WASMIX_MIXIN_PATH")]
    mixin_path: Option<String>,
    /// Output format
    #[arg(long, short, global = true, value_enum, default_value_t = Format::Text)]
    output: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DriverKind {
    /// Run granted programs as local processes
    Host,
    /// Print what would run; run nothing
    Debug,
}

#[derive(Subcommand)]
enum Command {
    /// Install a bundle
    Install(ActionArgs),
    /// Upgrade an installation
    Upgrade(ActionArgs),
    /// Uninstall an installation
    Uninstall(ActionArgs),
    /// Run a custom action
    Invoke {
        /// The action to run
        #[arg(long)]
        action: String,
        #[command(flatten)]
        args: ActionArgs,
    },
    /// Check a bundle: manifest, step schemas and mixin lint rules
    Lint {
        /// Bundle directory or manifest file
        #[arg(default_value = ".")]
        path: PathBuf,
    },
    /// Show what a bundle declares and what each step is granted
    Explain {
        /// Bundle directory or manifest file
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Only this action
        #[arg(long)]
        action: Option<String>,
    },
    /// Print the JSON Schema of a bundle's steps, from its mixins
    Schema {
        /// Bundle directory or manifest file
        #[arg(default_value = ".")]
        path: PathBuf,
    },
    /// Inspect installations
    #[command(subcommand)]
    Installation(InstallationCommand),
}

#[derive(Subcommand)]
enum InstallationCommand {
    /// List installations
    List,
    /// Show an installation and its runs
    Show {
        /// Installation name
        name: String,
    },
    /// Show an installation's outputs
    Outputs {
        /// Installation name
        name: String,
        /// Print sensitive values instead of masking them
        #[arg(long)]
        show_sensitive: bool,
    },
}

#[derive(Args)]
struct ActionArgs {
    /// Bundle directory or manifest file
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Installation name [default: the bundle's name]
    #[arg(long, short = 'i')]
    installation: Option<String>,
    /// Parameter value, NAME=VALUE (repeatable)
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Credential, NAME=env:VAR, NAME=file:PATH or NAME=value:TEXT (repeatable)
    #[arg(long = "cred", value_name = "NAME=SOURCE")]
    creds: Vec<String>,
    /// Who runs the commands mixins ask for
    #[arg(long, value_enum, default_value_t = DriverKind::Host)]
    driver: DriverKind,
    /// Print mixin debug logs too
    #[arg(long, short)]
    verbose: bool,
    /// Accept capabilities the manifest grants beyond its lock file
    #[arg(long)]
    accept_capabilities: bool,
}

/// An error with the exit code it should produce.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        let error = e.into();
        let code = match error.downcast_ref::<RunError>() {
            Some(
                RunError::Input(_)
                | RunError::InvalidSteps { .. }
                | RunError::Plan(_)
                | RunError::Installation(_),
            ) => exit::BAD_INPUT,
            Some(_) => exit::ENVIRONMENT,
            None if error.downcast_ref::<manifest::ManifestError>().is_some() => exit::BAD_INPUT,
            None => exit::ENVIRONMENT,
        };
        Failure { code, error }
    }
}

fn bad_input(error: anyhow::Error) -> Failure {
    Failure {
        code: exit::BAD_INPUT,
        error,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("error: {}", sanitize(&format!("{:#}", f.error)));
            ExitCode::from(f.code)
        }
    }
}

fn home(cli: &Cli) -> Result<PathBuf, Failure> {
    if let Some(h) = &cli.home {
        return Ok(h.clone());
    }
    let base = std::env::var_os("HOME").ok_or_else(|| anyhow!("HOME is not set; pass --home"))?;
    Ok(PathBuf::from(base).join(".wasmix"))
}

fn open_store(cli: &Cli) -> Result<Store, Failure> {
    Ok(Store::open(&home(cli)?.join("state.db"))?)
}

fn runtime(cli: &Cli, driver: DriverKind) -> Result<Runtime, Failure> {
    let home = home(cli)?;
    let mixin_path = match &cli.mixin_path {
        Some(p) => MixinPath::parse(p),
        None => MixinPath(vec![home.join("mixins")]),
    };
    let driver: Arc<dyn Driver> = match driver {
        DriverKind::Host => Arc::new(HostDriver),
        DriverKind::Debug => Arc::new(DebugDriver::printing()),
    };
    Ok(Runtime {
        engine: MixinEngine::new(Some(home.join("cache").join("compiled")))?,
        mixin_path,
        driver,
        limits: Limits::default(),
    })
}

fn load_manifest(path: &Path) -> Result<Manifest, Failure> {
    manifest::load(path).map_err(|e| Failure::from(anyhow::Error::new(e)))
}

fn dispatch(cli: &Cli) -> Result<u8, Failure> {
    match &cli.command {
        Command::Install(a) => action(cli, "install", a),
        Command::Upgrade(a) => action(cli, "upgrade", a),
        Command::Uninstall(a) => action(cli, "uninstall", a),
        Command::Invoke { action: name, args } => {
            if matches!(name.as_str(), "install" | "upgrade" | "uninstall") {
                return Err(bad_input(anyhow!(
                    "use `wasmix {name}` for the {name} action"
                )));
            }
            action(cli, name, args)
        }
        Command::Lint { path } => lint(cli, path),
        Command::Explain { path, action } => explain(cli, path, action.as_deref()),
        Command::Schema { path } => schema(cli, path),
        Command::Installation(c) => installation(cli, c),
    }
}

fn parse_pairs(items: &[String], what: &str) -> Result<Vec<(String, String)>, Failure> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| bad_input(anyhow!("--{what} {item:?} must look like NAME=VALUE")))
        })
        .collect()
}

/// Read a credential from its source. The value itself never appears in an
/// error.
fn credential_value(name: &str, source: &str) -> Result<String, Failure> {
    if let Some(var) = source.strip_prefix("env:") {
        return std::env::var(var).map_err(|_| {
            bad_input(anyhow!(
                "credential {name}: environment variable {var} is not set"
            ))
        });
    }
    if let Some(path) = source.strip_prefix("file:") {
        return std::fs::read_to_string(path)
            .map(|s| s.trim_end_matches('\n').to_string())
            .map_err(|e| bad_input(anyhow!("credential {name}: cannot read {path}: {e}")));
    }
    if let Some(text) = source.strip_prefix("value:") {
        return Ok(text.to_string());
    }
    Err(bad_input(anyhow!(
        "credential {name}: say where the value comes from: {name}=env:VAR, {name}=file:PATH or {name}=value:TEXT"
    )))
}

fn action(cli: &Cli, name: &str, a: &ActionArgs) -> Result<u8, Failure> {
    let manifest = load_manifest(&a.path)?;
    let mut inputs = Inputs::default();
    for (k, v) in parse_pairs(&a.params, "param")? {
        inputs.parameters.insert(k, v);
    }
    for (k, source) in parse_pairs(&a.creds, "cred")? {
        let value = credential_value(&k, &source)?;
        inputs.credentials.insert(k, value);
    }
    let installation = a
        .installation
        .clone()
        .unwrap_or_else(|| manifest.name.clone());
    let rt = runtime(cli, a.driver)?;
    let prepared = rt.prepare(&manifest, name)?;
    wasmix::lock::check(&manifest, a.accept_capabilities).map_err(|e| bad_input(e.into()))?;
    let text = cli.output == Format::Text;
    if text {
        for w in &prepared.warnings {
            eprintln!("warning: {}", sanitize(w));
        }
        println!(
            "{name} {installation} (bundle {} {}, {} driver)",
            manifest.name,
            manifest.version,
            rt.driver.name()
        );
    }
    let mut store = open_store(cli)?;
    let verbose = a.verbose;
    let mut on_event = |e: Event<'_>| {
        if !text {
            return;
        }
        match e {
            Event::StepStarted {
                index,
                total,
                description,
                mixin,
            } => {
                println!(
                    "[{}/{total}] {} ({mixin})",
                    index + 1,
                    sanitize(description)
                );
            }
            Event::StepFinished { report, .. } => {
                for l in &report.logs {
                    if verbose || !matches!(l.level, "debug" | "trace") {
                        for line in l.message.lines() {
                            println!("      {line}");
                        }
                    }
                }
                for d in &report.denials {
                    println!("      denied: {d}");
                }
                match &report.result {
                    Ok(_) => println!("      ok ({:.1?})", report.duration),
                    Err(e) => println!("      FAILED: {e}"),
                }
            }
        }
    };
    let outcome = rt.run(
        &mut store,
        &manifest,
        &prepared,
        &installation,
        &inputs,
        &mut on_event,
    )?;
    print_outcome(cli, &outcome)?;
    Ok(if outcome.succeeded() {
        0
    } else {
        exit::STEP_FAILED
    })
}

fn shown_value(value: &str, sensitive: bool) -> String {
    if sensitive {
        MASK.to_string()
    } else {
        value.to_string()
    }
}

fn print_outcome(cli: &Cli, o: &Outcome) -> Result<(), Failure> {
    if cli.output == Format::Json {
        let outputs: Vec<_> = o
            .outputs
            .iter()
            .map(|b| serde_json::json!({"name": b.name, "value": shown_value(&b.value, b.sensitive), "sensitive": b.sensitive}))
            .collect();
        let doc = serde_json::json!({
            "installation": o.installation,
            "action": o.action,
            "run": o.run_id,
            "status": if o.succeeded() { "succeeded" } else { "failed" },
            "error": o.error,
            "steps": o.steps,
            "outputs": outputs,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    match &o.error {
        None => println!(
            "{} of {} succeeded (run {})",
            o.action, o.installation, o.run_id
        ),
        Some(e) => println!(
            "{} of {} FAILED (run {}): {}",
            o.action,
            o.installation,
            o.run_id,
            sanitize(e)
        ),
    }
    if !o.outputs.is_empty() {
        println!("Outputs:");
        for b in &o.outputs {
            println!(
                "  {}: {}",
                b.name,
                sanitize(shown_value(&b.value, b.sensitive).trim_end_matches('\n'))
            );
        }
    }
    Ok(())
}

fn lint(cli: &Cli, path: &Path) -> Result<u8, Failure> {
    let manifest = load_manifest(path)?;
    let rt = runtime(cli, DriverKind::Debug)?;
    let mut warnings = Vec::new();
    for action in manifest.actions.keys() {
        let prepared = rt.prepare(&manifest, action)?;
        warnings.extend(prepared.warnings);
    }
    if cli.output == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"errors": [], "warnings": warnings}))?
        );
    } else {
        for w in &warnings {
            println!("warning: {}", sanitize(w));
        }
        println!(
            "{}: ok ({} warning(s))",
            manifest.file.display(),
            warnings.len()
        );
    }
    Ok(0)
}

fn explain(cli: &Cli, path: &Path, only: Option<&str>) -> Result<u8, Failure> {
    let m = load_manifest(path)?;
    let actions: Vec<String> = match only {
        Some(a) => vec![a.to_string()],
        None => m.actions.keys().cloned().collect(),
    };
    let plans: Vec<Plan> = actions
        .iter()
        .map(|a| Plan::new(&m, a))
        .collect::<Result<_, _>>()
        .map_err(|e| bad_input(e.into()))?;
    if cli.output == Format::Json {
        let doc = serde_json::json!({
            "bundle": {"name": m.name, "version": m.version, "description": m.description},
            "mixins": m.mixins.iter().map(|d| serde_json::json!({"name": d.name, "version": d.version})).collect::<Vec<_>>(),
            "parameters": m.parameters.iter().map(|p| serde_json::json!({
                "name": p.name, "type": p.kind.clone().unwrap_or_else(|| "string".into()),
                "default": p.default.as_ref().map(|d| if p.sensitive { serde_json::json!(MASK) } else { serde_json::to_value(d).unwrap_or_default() }),
                "sensitive": p.sensitive, "applyTo": p.apply_to})).collect::<Vec<_>>(),
            "credentials": m.credentials.iter().map(|c| serde_json::json!({"name": c.name, "required": c.required, "applyTo": c.apply_to})).collect::<Vec<_>>(),
            "outputs": m.outputs.iter().map(|o| serde_json::json!({"name": o.name, "sensitive": o.sensitive, "applyTo": o.apply_to})).collect::<Vec<_>>(),
            "actions": plans.iter().map(|p| serde_json::json!({
                "name": p.action,
                "steps": p.steps.iter().map(|s| serde_json::json!({
                    "index": s.step.index, "mixin": s.step.mixin, "description": s.step.description,
                    "grants": s.grant.capabilities.iter().map(|c| serde_json::json!({"kind": c.kind, "what": c.what, "from": c.origin.to_string()})).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(0);
    }
    println!(
        "Bundle {} {}{}",
        m.name,
        m.version,
        m.description
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default()
    );
    println!("\nMixins:");
    for d in &m.mixins {
        println!(
            "  {}{}",
            d.name,
            d.version
                .as_deref()
                .map(|v| format!("@{v}"))
                .unwrap_or_default()
        );
    }
    if !m.parameters.is_empty() {
        println!("\nParameters:");
        for p in &m.parameters {
            let default = match (&p.default, p.sensitive) {
                (Some(_), true) => format!(" (default {MASK})"),
                (Some(d), false) => format!(
                    " (default {})",
                    serde_json::to_string(d).unwrap_or_default()
                ),
                (None, _) => " (required)".into(),
            };
            let apply = if p.apply_to.is_empty() {
                String::new()
            } else {
                format!(" applies to {}", p.apply_to.join(", "))
            };
            println!(
                "  {} {}{default}{}{apply}",
                p.name,
                p.kind.as_deref().unwrap_or("string"),
                if p.sensitive { " sensitive" } else { "" }
            );
        }
    }
    if !m.credentials.is_empty() {
        println!("\nCredentials:");
        for c in &m.credentials {
            let apply = if c.apply_to.is_empty() {
                String::new()
            } else {
                format!(" applies to {}", c.apply_to.join(", "))
            };
            println!(
                "  {}{}{apply}",
                c.name,
                if c.required {
                    " (required)"
                } else {
                    " (optional)"
                }
            );
        }
    }
    if !m.outputs.is_empty() {
        println!("\nOutputs:");
        for o in &m.outputs {
            println!(
                "  {}{}",
                o.name,
                if o.sensitive { " sensitive" } else { "" }
            );
        }
    }
    for p in &plans {
        println!("\nAction {}:", p.action);
        for s in &p.steps {
            println!(
                "  {}. {} ({})",
                s.step.index + 1,
                s.step.description.as_deref().unwrap_or("-"),
                s.step.mixin
            );
            if s.grant.is_empty() {
                println!("       grants: nothing");
            }
            for c in &s.grant.capabilities {
                println!("       {:<10} {:<40} from {}", c.kind, c.what, c.origin);
            }
        }
    }
    Ok(0)
}

fn schema(cli: &Cli, path: &Path) -> Result<u8, Failure> {
    let m = load_manifest(path)?;
    let rt = runtime(cli, DriverKind::Debug)?;
    let mut defs = serde_json::Map::new();
    for d in &m.mixins {
        let file = rt.mixin_path.locate(&d.name).map_err(|e| Failure {
            code: exit::ENVIRONMENT,
            error: e.into(),
        })?;
        let loaded = rt.engine.load(&d.name, &file)?;
        defs.insert(d.name.clone(), loaded.step_schema);
    }
    let step = serde_json::json!({
        "type": "object", "minProperties": 1, "maxProperties": 1,
        "properties": defs.keys().map(|k| (k.clone(), serde_json::json!({"$ref": format!("#/definitions/{k}")}))).collect::<serde_json::Map<_, _>>(),
        "additionalProperties": false,
    });
    let doc = serde_json::json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": format!("steps of bundle {}", m.name),
        "definitions": defs,
        "type": "object",
        "additionalProperties": {"type": "array", "items": step},
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(0)
}

fn installation(cli: &Cli, c: &InstallationCommand) -> Result<u8, Failure> {
    let store = open_store(cli)?;
    let json = cli.output == Format::Json;
    match c {
        InstallationCommand::List => {
            let all = store.installations()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else if all.is_empty() {
                println!("no installations");
            } else {
                println!(
                    "{:<24} {:<24} {:<10} {:<12} {:<12} MODIFIED",
                    "NAME", "BUNDLE", "VERSION", "STATUS", "LAST ACTION"
                );
                for i in all {
                    println!(
                        "{:<24} {:<24} {:<10} {:<12} {:<12} {}",
                        i.name, i.bundle, i.version, i.status, i.last_action, i.modified
                    );
                }
            }
        }
        InstallationCommand::Show { name } => {
            let inst = store.installation(name)?.ok_or_else(|| {
                bad_input(anyhow!(
                    "no installation named {name:?}; see `wasmix installation list`"
                ))
            })?;
            let runs = store.runs(name)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"installation": inst, "runs": runs})
                    )?
                );
            } else {
                println!(
                    "Installation {} (bundle {} {}): {}",
                    inst.name, inst.bundle, inst.version, inst.status
                );
                println!(
                    "Manifest: {}\nCreated: {}\nModified: {}\nRuns:",
                    inst.manifest, inst.created, inst.modified
                );
                for r in runs {
                    println!(
                        "  {:>4} {:<12} {:<10} {} {}",
                        r.id,
                        r.action,
                        r.status,
                        r.started,
                        r.error.as_deref().map(sanitize).unwrap_or_default()
                    );
                }
            }
        }
        InstallationCommand::Outputs {
            name,
            show_sensitive,
        } => {
            if store.installation(name)?.is_none() {
                bail_input(name)?;
            }
            let outputs = store.outputs(name, *show_sensitive)?;
            if json {
                let doc: Vec<_> = outputs
                    .iter()
                    .map(|o| serde_json::json!({"name": o.name, "value": o.value.clone().unwrap_or_else(|| MASK.into()), "sensitive": o.sensitive}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else if outputs.is_empty() {
                println!("installation {name} has no outputs");
            } else {
                let tty = std::io::stdout().is_terminal();
                for o in outputs {
                    let v = o.value.unwrap_or_else(|| MASK.into());
                    let v = v.trim_end_matches('\n');
                    println!(
                        "{}: {}",
                        o.name,
                        if tty { sanitize(v) } else { v.to_string() }
                    );
                }
            }
        }
    }
    Ok(0)
}

fn bail_input(name: &str) -> Result<(), Failure> {
    Err(bad_input(anyhow!(
        "no installation named {name:?}; see `wasmix installation list`"
    )))
}
