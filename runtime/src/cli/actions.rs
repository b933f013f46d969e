//! `wasmix install | upgrade | uninstall | invoke`: plan the bundle once,
//! build a runtime sized for it, prepare (lock check included), run, print.

use super::output::{print_doc, shown, StepDoc};
use super::{bad_input, home, oci_source_for, open_store, parse_pairs, Cli, Failure, Format};
use anyhow::anyhow;
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use wasmix::driver::{DebugDriver, DockerDriver, Driver, HostDriver, PullPolicy};
use wasmix::manifest::Manifest;
use wasmix::plan::BundlePlan;
use wasmix::redact::sanitize;
use wasmix::resolve::MixinPath;
use wasmix::run::inputs::{CredentialSource, SourceError};
use wasmix::run::{
    pool_for, Event, ExitClass, Inputs, Limits, LockCheck, Outcome, PinnedComponent, Runtime,
};
use wasmix::sandbox::MixinEngine;
use wasmix::sets::SetKind;
use wasmix::store::Store;

/// Who runs the commands mixins ask for.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriverKind {
    /// Run granted programs as local processes
    Host,
    /// Print what would run; run nothing
    Debug,
    /// Run in containers through the Docker Engine API (Docker or Podman)
    Docker,
}

/// When the docker driver pulls images.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Pull {
    /// Never pull; a missing image is an error
    Never,
    /// Pull images the engine does not have
    Missing,
    /// Pull before every run
    Always,
}

impl From<Pull> for PullPolicy {
    fn from(p: Pull) -> Self {
        match p {
            Pull::Never => PullPolicy::Never,
            Pull::Missing => PullPolicy::Missing,
            Pull::Always => PullPolicy::Always,
        }
    }
}

/// What every action command takes.
#[derive(Args)]
pub struct ActionArgs {
    /// Which bundle
    #[command(flatten)]
    pub bundle: super::bundle::BundleArg,
    /// Install from an archive written by `wasmix bundle archive` (no network)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["bundle", "reference", "version"])]
    pub from_archive: Option<PathBuf>,
    /// Installation name [default: the bundle's name]
    #[arg(long, short = 'i')]
    pub installation: Option<String>,
    /// Parameter value, NAME=VALUE (repeatable)
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Credential, NAME=env:VAR, NAME=file:PATH or NAME=value:TEXT (repeatable)
    #[arg(long = "cred", value_name = "NAME=SOURCE")]
    pub creds: Vec<String>,
    /// Credential set: a CredentialSet file or a stored set's name (repeatable; --cred overrides)
    #[arg(long = "credential-set", short = 'c', value_name = "FILE|NAME")]
    pub credential_sets: Vec<String>,
    /// Parameter set: a ParameterSet file or a stored set's name (repeatable; --param overrides)
    #[arg(long = "parameter-set", short = 'p', value_name = "FILE|NAME")]
    pub parameter_sets: Vec<String>,
    /// How the action runs
    #[command(flatten)]
    pub how: RunFlags,
    /// Run on an installation made from a bundle of another name
    #[arg(long)]
    pub force: bool,
    /// How many of a bundle's dependencies may run at once [default: the number of cores]
    #[arg(long, value_name = "N")]
    pub parallel: Option<usize>,
}

/// How an action runs: the flags `install`, `upgrade`, `uninstall`,
/// `invoke` and `installation apply` share.
#[derive(Args, Clone, Copy)]
pub struct RunFlags {
    /// Who runs the commands mixins ask for
    #[arg(long, value_enum, env = "WASMIX_DRIVER", default_value_t = DriverKind::Host)]
    pub driver: DriverKind,
    /// When the docker driver pulls images
    #[arg(long, value_enum, default_value_t = Pull::Missing)]
    pub pull: Pull,
    /// Print mixin debug and trace logs too
    #[arg(long, short, visible_alias = "debug")]
    pub verbose: bool,
    /// Accept capabilities the bundle grants beyond what was accepted before
    #[arg(long)]
    pub accept_capabilities: bool,
}

/// A runtime for `plans`: the engine's instance pool sized from the plan,
/// mixins from the mixin path and the registry, commands to `driver`.
/// `pinned` is set for a bundle from a registry: its mixins come from
/// there and nowhere else.
pub fn runtime(
    cli: &Cli,
    driver: DriverKind,
    pull: Pull,
    manifest: &Manifest,
    plans: &BundlePlan,
    pinned: Option<BTreeMap<String, PinnedComponent>>,
) -> Result<Runtime, Failure> {
    // A registry is needed only for mixins that name one, or that may come
    // from the default namespace.
    let needs_registry = match &pinned {
        Some(p) => p
            .values()
            .any(|c| matches!(c, PinnedComponent::Registry(_))),
        None => {
            manifest.mixins.iter().any(|m| m.reference.is_some()) || cli.mixin_namespace.is_some()
        }
    };
    let home = home(cli)?;
    let driver: Arc<dyn Driver> = match driver {
        DriverKind::Host => Arc::new(HostDriver),
        DriverKind::Debug => Arc::new(DebugDriver::printing()),
        DriverKind::Docker => Arc::new(DockerDriver::connect(None, pull.into())?),
    };
    let limits = Limits::default();
    Ok(Runtime {
        engine: MixinEngine::with_pool(
            Some(home.join("cache").join("compiled")),
            Some(pool_for(plans, limits)),
        )?,
        mixin_path: mixin_path(cli)?,
        driver,
        limits,
        oci: Some(oci_source_for(cli, needs_registry)?),
        pinned,
    })
}

/// Where mixin components are looked for: `--mixin-path` (or HOME/mixins),
/// then the built-in mixins installed beside the binary.
pub fn mixin_path(cli: &Cli) -> Result<MixinPath, Failure> {
    let mut path = match &cli.mixin_path {
        Some(p) => MixinPath::parse(p),
        None => MixinPath(vec![home(cli)?.join("mixins")]),
    };
    if let Some(dir) = wasmix::resolve::builtin_dir() {
        path.push(&dir);
    }
    Ok(path)
}

/// `wasmix invoke --action NAME`: custom actions only.
pub fn invoke(cli: &Cli, action: &str, args: &ActionArgs) -> Result<u8, Failure> {
    if matches!(action, "install" | "upgrade" | "uninstall") {
        return Err(bad_input(anyhow!(
            "use `wasmix {action}` for the {action} action"
        )));
    }
    run(cli, action, args)
}

/// Values for the run: sets first, then `--param`/`--cred`, which override.
/// A `type: file` parameter takes base64 contents, as Porter carries them,
/// or `@PATH` to read (and encode) a file.
pub fn inputs(cli: &Cli, args: &ActionArgs, manifest: &Manifest) -> Result<Inputs, Failure> {
    let mut inputs = Inputs {
        force: args.force,
        parameters: super::sets::values(cli, SetKind::Parameter, &args.parameter_sets)?,
        credentials: super::sets::values(cli, SetKind::Credential, &args.credential_sets)?,
        dependency_outputs: BTreeMap::new(),
        promoted_outputs: BTreeMap::new(),
        secret_parameters: Default::default(),
    };
    for (name, value) in parse_pairs(&args.params, "param")? {
        let file = manifest
            .parameters
            .iter()
            .any(|p| p.name == name && p.kind.as_deref() == Some("file"));
        let value = match value.strip_prefix('@') {
            Some(path) if file => {
                use base64::Engine as _;
                let bytes = std::fs::read(path)
                    .map_err(|e| bad_input(anyhow!("parameter {name}: reading {path}: {e}")))?;
                base64::engine::general_purpose::STANDARD.encode(bytes)
            }
            _ => value,
        };
        inputs.parameters.insert(name, value);
    }
    for (name, source) in parse_pairs(&args.creds, "cred")? {
        let value = source
            .parse::<CredentialSource>()
            .and_then(|s| s.read())
            .map_err(|e| match e {
                SourceError::Unknown => bad_input(anyhow!(
                    "credential {name}: say where the value comes from: \
                     {name}=env:VAR, {name}=file:PATH or {name}=value:TEXT"
                )),
                e => bad_input(anyhow!("credential {name}: {e}")),
            })?;
        inputs.credentials.insert(name, value);
    }
    Ok(inputs)
}

/// The bundle an existing installation was last run from (a path, or a
/// registry reference pinned by digest), when no bundle is named.
fn remembered(
    cli: &Cli,
    action: &str,
    args: &ActionArgs,
    store: &mut PendingStore<'_>,
) -> Result<Option<String>, Failure> {
    let named = args.bundle.bundle.is_some() || args.bundle.reference.is_some();
    if let (Some(name), false, false) = (&args.installation, action == "install", named) {
        if let Some(i) = store.get(cli)?.installation(name)? {
            return Ok(Some(i.manifest));
        }
        // No such installation and no bundle named: the current directory
        // is a guess worth making only when it holds a bundle.
        if !std::path::Path::new(wasmix::manifest::MANIFEST_FILE).is_file() {
            return Err(bad_input(anyhow!(
                "no installation named {name:?} (see `wasmix installation list`), and no bundle named: give the bundle directory or reference"
            )));
        }
    }
    Ok(None)
}

/// The state store, opened on another thread while the caller reads the
/// bundle; waited for on first use. If the thread could not start, or
/// panicked, the store is opened on first use instead.
struct PendingStore<'scope> {
    background: Option<std::thread::ScopedJoinHandle<'scope, Option<Result<Store, Failure>>>>,
    opened: Option<Store>,
}

impl<'scope> PendingStore<'scope> {
    /// Start opening the store on a thread of `scope`.
    fn start<'env>(scope: &'scope std::thread::Scope<'scope, 'env>, cli: &'env Cli) -> Self {
        let background = std::thread::Builder::new()
            .name("wasmix-store".into())
            .spawn_scoped(scope, move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| open_store(cli))).ok()
            })
            .ok();
        PendingStore {
            background,
            opened: None,
        }
    }

    /// The store, once open.
    fn get(&mut self, cli: &Cli) -> Result<&mut Store, Failure> {
        let store = match self.opened.take() {
            Some(s) => s,
            None => self.wait(cli)?,
        };
        Ok(self.opened.insert(store))
    }

    /// The store, to keep.
    fn into_store(mut self, cli: &Cli) -> Result<Store, Failure> {
        match self.opened.take() {
            Some(s) => Ok(s),
            None => self.wait(cli),
        }
    }

    fn wait(&mut self, cli: &Cli) -> Result<Store, Failure> {
        match self.background.take().and_then(|t| t.join().ok().flatten()) {
            Some(opened) => opened,
            None => open_store(cli),
        }
    }
}

/// Run `action` of the bundle `args` names.
pub fn run(cli: &Cli, action: &str, args: &ActionArgs) -> Result<u8, Failure> {
    // The state store is opened on the other core while the bundle is read
    // and its mixins loaded (~0.8 ms of a 1-step install's ~8, which has
    // nothing else to do in parallel). So a command that fails before its
    // run (a bad bundle, a refused mixin) has still opened the store: its
    // directory, database and sealing key exist afterwards, a store written
    // by an older wasmix is brought to this layout, and the error is printed
    // once the opening is done.
    std::thread::scope(|scope| run_with(cli, action, args, PendingStore::start(scope, cli)))
}

/// [`run`], with the store being opened.
fn run_with(
    cli: &Cli,
    action: &str,
    args: &ActionArgs,
    mut store: PendingStore<'_>,
) -> Result<u8, Failure> {
    let opened = match &args.from_archive {
        Some(file) => super::bundle::open_archive(cli, file)?,
        None => super::bundle::open(
            cli,
            &args.bundle,
            remembered(cli, action, args, &mut store)?,
        )?,
    };
    wasmix::timing::mark("open bundle");
    let manifest = &opened.manifest;
    let installation = args
        .installation
        .clone()
        .unwrap_or_else(|| manifest.name.clone());
    if super::workflow::has_dependencies(manifest) {
        // Each task opens its own; the one opened for a plain run is let go.
        drop(store);
        return super::workflow::start(cli, action, args, &opened, &installation, args.parallel);
    }
    if args.parallel.is_some() {
        return Err(bad_input(anyhow!(
            "--parallel sets how many of a bundle's dependencies run at once, and {} has none",
            manifest.file.display()
        )));
    }
    let inputs = inputs(cli, args, manifest)?;
    let plans = BundlePlan::new(manifest)?;
    wasmix::timing::mark("inputs and plan");
    let mut rt = runtime(
        cli,
        args.how.driver,
        args.how.pull,
        manifest,
        &plans,
        opened.pinned()?,
    )?;
    if args.from_archive.is_some() {
        // Everything is in the cache now: an archive install never reaches
        // for the network, even for a mixin's signatures.
        rt.oci = Some(oci_source_for(cli, false)?);
    }
    // A registry bundle's directory is the cache's: the operator's lock for
    // it is kept per installation.
    wasmix::timing::mark("runtime");
    let lock_file = match &opened.fetched {
        Some(_) => Some(super::bundle::installation_lock(cli, &installation)?),
        None => None,
    };
    let mut prepared = rt.prepare(
        manifest,
        &plans,
        action,
        LockCheck::Enforce {
            accept: args.how.accept_capabilities,
            file: lock_file,
        },
    )?;
    wasmix::timing::mark("prepare");
    prepared.origin = opened.fetched.as_ref().map(|(f, _)| f.pinned_reference());
    let text = cli.output == Format::Text;
    // Warnings (an unverified artifact, a Dockerfile not built) are said
    // even with --quiet: they are about what is being trusted.
    if text {
        for w in &prepared.warnings {
            eprintln!("warning: {}", sanitize(w));
        }
    }
    let text = text && !cli.quiet;
    if text {
        println!(
            "{action} {installation} (bundle {} {}, {} driver)",
            manifest.name,
            manifest.version,
            rt.driver.name()
        );
    }
    let mut store = store.into_store(cli)?;
    wasmix::timing::mark("open store");
    // From here Ctrl-C stops the run cleanly instead of killing wasmix.
    wasmix::interrupt::watch();
    let verbose = args.how.verbose;
    let mut on_event = |e: Event<'_>| {
        if text {
            progress(e, verbose, None);
        }
    };
    let outcome = rt.run(
        &mut store,
        manifest,
        &prepared,
        &installation,
        &inputs,
        &mut on_event,
    )?;
    wasmix::timing::mark("run");
    print_outcome(cli, &outcome)?;
    // The process ends next: unmapping the engine's pool and freeing its
    // linker and compiled mixins one allocation at a time is work the exit
    // does anyway. Nothing of them outlives the process (the store, which
    // folds its log when dropped, is dropped as usual).
    std::mem::forget(prepared);
    std::mem::forget(rt);
    drop(store);
    wasmix::timing::mark("output");
    Ok(if outcome.interrupted {
        ExitClass::Interrupted.code()
    } else if outcome.succeeded() {
        0
    } else {
        ExitClass::StepFailed.code()
    })
}

/// One progress line per step, then its logs, denials and result;
/// prefixed with the installation when tasks of a workflow run at once.
pub fn progress(e: Event<'_>, verbose: bool, task: Option<&str>) {
    let tag = task.map(|t| format!("[{t}] ")).unwrap_or_default();
    match e {
        Event::StepStarted {
            index,
            total,
            description,
            mixin,
        } => {
            println!(
                "{tag}[{}/{total}] {} ({mixin})",
                index + 1,
                sanitize(description)
            );
        }
        Event::StepFinished {
            report, failure, ..
        } => {
            for l in &report.logs {
                if verbose || l.level.is_shown_by_default() {
                    for line in l.message.lines() {
                        println!("{tag}      {line}");
                    }
                }
            }
            for d in &report.denials {
                println!("{tag}      denied: {d}");
            }
            match failure {
                None => println!("{tag}      ok ({:.1?})", report.duration),
                Some(e) => println!("{tag}      FAILED: {e}"),
            }
        }
    }
}

/// The outcome as JSON: its own shape, not the store's records.
#[derive(serde::Serialize)]
struct OutcomeDoc<'a> {
    installation: &'a str,
    action: &'a str,
    run: i64,
    status: &'static str,
    error: Option<&'a str>,
    steps: Vec<StepDoc<'a>>,
    outputs: Vec<OutputDoc<'a>>,
}

#[derive(serde::Serialize)]
struct OutputDoc<'a> {
    name: &'a str,
    value: String,
    sensitive: bool,
}

fn print_outcome(cli: &Cli, o: &Outcome) -> Result<(), Failure> {
    if cli.output.is_structured() {
        return print_doc(&OutcomeDoc {
            installation: &o.installation,
            action: &o.action,
            run: o.run_id,
            status: if o.succeeded() { "succeeded" } else { "failed" },
            error: o.error.as_deref(),
            steps: o.steps.iter().map(StepDoc::from).collect(),
            outputs: o
                .outputs
                .iter()
                .map(|b| OutputDoc {
                    name: &b.name,
                    value: shown(&b.value, b.sensitive),
                    sensitive: b.sensitive,
                })
                .collect(),
        });
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
                sanitize(shown(&b.value, b.sensitive).trim_end_matches('\n'))
            );
        }
    }
    Ok(())
}

/// `wasmix installation apply` arguments.
#[derive(Args)]
pub struct ApplyArgs {
    /// Porter Installation document (YAML or JSON)
    pub file: PathBuf,
    /// How the action runs
    #[command(flatten)]
    pub how: RunFlags,
    /// Run even when nothing changed since the last apply
    #[arg(long)]
    pub force: bool,
}

/// `wasmix installation apply FILE`: make the installation what the
/// document says, as Porter does: install it when it is not installed,
/// upgrade it when the bundle (its digest), parameters or sets changed,
/// and do nothing when nothing did.
pub fn apply(cli: &Cli, a: &ApplyArgs) -> Result<u8, Failure> {
    use wasmix::installation::InstallationDoc;
    use wasmix::store::InstallationStatus;
    let text = std::fs::read_to_string(&a.file)
        .map_err(|e| bad_input(anyhow!("{}: {e}", a.file.display())))?;
    let doc = InstallationDoc::parse(&a.file.display().to_string(), &text)
        .map_err(|e| bad_input(e.into()))?;
    let bundle = super::bundle::BundleArg {
        bundle: None,
        reference: Some(doc.bundle.reference()),
        version: None,
    };
    // What was asked, to compare with the last apply: the bundle it
    // resolves to now, the parameters and the sets.
    let opened = super::bundle::open(cli, &bundle, None)?;
    let pinned = opened
        .fetched
        .as_ref()
        .map(|(f, _)| f.pinned_reference())
        .unwrap_or_default();
    drop(opened);
    let wanted = serde_json::json!({
        "bundle": pinned,
        "parameters": doc.parameters,
        "parameterSets": doc.parameter_sets,
        "credentialSets": doc.credential_sets,
    })
    .to_string();
    // Hashed: parameters in the document may be secrets.
    let wanted = wasmix::oci::sha256_digest(wanted.as_bytes());
    let stamp = super::bundle::installation_lock(cli, &doc.name)?.with_extension("applied");
    let existing = open_store(cli)?.installation(&doc.name)?;
    let installed = existing
        .as_ref()
        .is_some_and(|i| i.status == InstallationStatus::Installed);
    let unchanged = std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted);
    if installed && unchanged && !a.force {
        println!(
            "installation {} is up to date ({pinned}); --force runs it again",
            doc.name
        );
        return Ok(0);
    }
    // Installed once (even if a later upgrade failed): upgrade.
    let action = match &existing {
        Some(i) if i.status != InstallationStatus::Uninstalled && i.last_action != "install" => {
            "upgrade"
        }
        Some(i) if i.status == InstallationStatus::Installed => "upgrade",
        _ => "install",
    };
    let args = ActionArgs {
        bundle,
        from_archive: None,
        installation: Some(doc.name.clone()),
        params: doc
            .parameters
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        creds: Vec::new(),
        credential_sets: doc.credential_sets.clone(),
        parameter_sets: doc.parameter_sets.clone(),
        how: a.how,
        force: false,
        parallel: None,
    };
    let code = run(cli, action, &args)?;
    if code == 0 {
        if let Some(dir) = stamp.parent() {
            std::fs::create_dir_all(dir)?;
        }
        wasmix::fsutil::write_atomic(&stamp, wanted.as_bytes())?;
    }
    Ok(code)
}
