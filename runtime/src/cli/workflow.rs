//! Bundles with dependencies: solve the graph, persist it as a workflow,
//! run it with the local executor; and `wasmix workflow list | show |
//! resume | retry | cancel`.

use super::actions::{runtime, ActionArgs, DriverKind, Pull, RunFlags};
use super::bundle::{BundleArg, Opened};
use super::output::print_doc;
use super::{bad_input, home, oci_source_for, open_store, Cli, Failure, Format};
use anyhow::anyhow;
use clap::{Args, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use wasmix::bundle::{self, artifact::Caps};
use wasmix::dependencies::{self, BundleSource, Graph, ResolvedBundle, Root};
use wasmix::manifest::Manifest;
use wasmix::plan::BundlePlan;
use wasmix::redact::sanitize;
use wasmix::run::{Event as StepEvent, ExitClass, LockCheck};
use wasmix::workflow::{
    Engine, Event, Executor, TaskEnd, TaskStart, TaskStatus, Workflow, WorkflowError,
    WorkflowStatus,
};

impl super::failure::Classified for WorkflowError {
    fn exit_class(&self) -> ExitClass {
        WorkflowError::exit_class(self)
    }
}

impl super::failure::Classified for dependencies::DependencyError {
    fn exit_class(&self) -> ExitClass {
        dependencies::DependencyError::exit_class(self)
    }
}

/// True when the bundle needs other bundles installed first.
pub fn has_dependencies(m: &Manifest) -> bool {
    m.dependencies
        .as_ref()
        .is_some_and(|d| !d.requires.is_empty())
}

/// Dependencies resolved through the registry, the trust policy and the
/// cache, as `wasmix install REF` resolves a bundle.
/// Digests the root's lock pins are used as they are: no tag lookup, and
/// from the cache when offline.
struct Resolver<'a> {
    cli: &'a Cli,
    /// From the root's lock: key → pinned reference.
    locked: BTreeMap<String, String>,
    /// What this solve resolved, for the lock once the workflow succeeds.
    resolved: std::cell::RefCell<BTreeMap<String, String>>,
}

impl BundleSource for Resolver<'_> {
    fn resolve(&self, reference: &str, version: Option<&str>) -> Result<ResolvedBundle, String> {
        let key = wasmix::lock::dependency_key(reference, version);
        let locked = self.locked.get(&key);
        let oci =
            oci_source_for(self.cli, locked.is_none()).map_err(|f| format!("{:#}", f.error))?;
        let reference = match (locked, version) {
            (Some(pinned), _) => pinned.clone(),
            (None, Some(range)) => {
                let registry = oci.registry.as_ref().ok_or_else(|| {
                    format!("{reference}: a version range needs the registry (not --offline)")
                })?;
                // The range picks the tag: the reference's own tag is a
                // default Porter ignores when a range is given.
                let repository = strip_tag(reference);
                bundle::version::resolve(registry, &repository, range).map_err(|e| e.to_string())?
            }
            (None, None) => reference.to_string(),
        };
        let fetched =
            bundle::fetch(&oci, &reference, Caps::default()).map_err(|e| e.to_string())?;
        if let Some(w) = fetched.warning() {
            eprintln!("warning: {}", sanitize(&w));
        }
        let mut manifest = wasmix::manifest::load(&fetched.dir).map_err(|e| e.to_string())?;
        let shown = std::path::PathBuf::from(format!(
            "{}@{}/porter.yaml",
            fetched.reference, fetched.digest
        ));
        manifest.source.show_as(shown.clone());
        manifest.file = shown;
        let pinned = fetched.pinned_reference();
        self.resolved.borrow_mut().insert(key, pinned.clone());
        Ok(ResolvedBundle { pinned, manifest })
    }
}

/// `registry/repo:tag` → `registry/repo` (a digest is kept: it is exact).
fn strip_tag(reference: &str) -> String {
    if reference.contains('@') {
        return reference.to_string();
    }
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo.to_string(),
        _ => reference.to_string(),
    }
}

/// What the operator gave, kept (sealed) with the workflow so `resume`
/// reads the same sources again: never the values read from them, except a
/// `value:` credential, which is its own source.
#[derive(serde::Serialize, serde::Deserialize)]
struct Sources {
    root_bundle: String,
    params: Vec<String>,
    creds: Vec<String>,
    parameter_sets: Vec<String>,
    credential_sets: Vec<String>,
    force: bool,
    driver: String,
    pull: String,
    accept_capabilities: bool,
    /// The root's lock file, and the dependency pins to record in it when
    /// the workflow succeeds.
    lock: Option<std::path::PathBuf>,
    pins: BTreeMap<String, String>,
}

impl Sources {
    fn of(args: &ActionArgs, root_bundle: &str, solved: &Solved) -> Sources {
        let name = |v: Option<clap::builder::PossibleValue>| {
            v.map(|p| p.get_name().to_string()).unwrap_or_default()
        };
        Sources {
            root_bundle: root_bundle.to_string(),
            params: args.params.clone(),
            creds: args.creds.clone(),
            parameter_sets: args.parameter_sets.clone(),
            credential_sets: args.credential_sets.clone(),
            force: args.force,
            driver: name(args.how.driver.to_possible_value()),
            pull: name(args.how.pull.to_possible_value()),
            accept_capabilities: args.how.accept_capabilities,
            lock: Some(solved.lock.clone()),
            pins: solved.pins.clone(),
        }
    }

    fn args(&self, installation: &str, verbose: bool) -> ActionArgs {
        ActionArgs {
            bundle: BundleArg {
                bundle: Some(self.root_bundle.clone()),
                reference: None,
                version: None,
            },
            from_archive: None,
            installation: Some(installation.to_string()),
            params: self.params.clone(),
            creds: self.creds.clone(),
            credential_sets: self.credential_sets.clone(),
            parameter_sets: self.parameter_sets.clone(),
            how: RunFlags {
                driver: DriverKind::from_str(&self.driver, true).unwrap_or(DriverKind::Host),
                pull: Pull::from_str(&self.pull, true).unwrap_or(Pull::Missing),
                verbose,
                accept_capabilities: self.accept_capabilities,
            },
            force: self.force,
            parallel: None,
        }
    }
}

/// Where the root bundle is, for the workflow: its pinned reference, or
/// its directory as an absolute path.
fn root_bundle(opened: &Opened) -> Result<String, Failure> {
    Ok(match &opened.fetched {
        Some((f, _)) => f.pinned_reference(),
        None => std::fs::canonicalize(&opened.manifest.dir)?
            .display()
            .to_string(),
    })
}

/// A solved graph, with what its solve resolved and the lock it goes in.
pub struct Solved {
    /// The graph.
    pub graph: Graph,
    /// The root's lock file.
    lock: std::path::PathBuf,
    /// Dependency pins this solve used.
    pins: BTreeMap<String, String>,
}

/// Solve the graph of the bundle `opened` for `action` on `installation`,
/// with the dependency pins of the root's lock.
pub fn solve(
    cli: &Cli,
    opened: &Opened,
    installation: &str,
    action: &str,
) -> Result<Solved, Failure> {
    let store = open_store(cli)?;
    let root = Root {
        installation,
        bundle: root_bundle(opened)?,
        manifest: &opened.manifest,
        action,
    };
    let lock = match &opened.fetched {
        Some(_) => super::bundle::installation_lock(cli, installation)?,
        None => opened.manifest.dir.join(wasmix::lock::LOCK_FILE),
    };
    let resolver = Resolver {
        cli,
        locked: wasmix::lock::read_at(&lock)?
            .map(|l| l.dependencies)
            .unwrap_or_default(),
        resolved: Default::default(),
    };
    let graph = dependencies::solve(&root, &resolver, &store)?;
    Ok(Solved {
        graph,
        lock,
        pins: resolver.resolved.into_inner(),
    })
}

/// `install | upgrade | uninstall | invoke` of a bundle with dependencies:
/// the solved graph becomes a workflow, persisted before its first task.
pub fn start(
    cli: &Cli,
    action: &str,
    args: &ActionArgs,
    opened: &Opened,
    installation: &str,
    parallel: Option<usize>,
) -> Result<u8, Failure> {
    if args.from_archive.is_some() {
        return Err(bad_input(anyhow!(
            "{}: the bundle has dependencies, and an archive carries only the bundle itself; \
             install it from its registry reference",
            opened.manifest.file.display()
        )));
    }
    // Read every source once now, so a missing file or variable stops
    // the workflow before anything runs; each task reads them again.
    super::actions::inputs(cli, args, &opened.manifest)?;
    let solved = solve(cli, opened, installation, action)?;
    let graph = &solved.graph;
    let sources = Sources::of(args, &root_bundle(opened)?, &solved);
    let bytes = zeroize::Zeroizing::new(serde_json::to_vec(&sources)?);
    let id = open_store(cli)?.create_workflow(graph, &bytes)?;
    let text = cli.output == Format::Text && !cli.quiet;
    if text {
        println!(
            "workflow {id}: {action} {installation} and {} dependenc{} ({} level{})",
            graph.nodes.len() - 1,
            if graph.nodes.len() == 2 { "y" } else { "ies" },
            graph.levels().len(),
            if graph.levels().len() == 1 { "" } else { "s" }
        );
        for n in graph.nodes.iter().filter(|n| n.action.is_none()) {
            println!("  {}: {} ({})", n.id, n.reason.word(), n.bundle);
        }
    }
    drive(cli, id, &sources, args.how.verbose, parallel, false)
}

/// Run workflow `id` to where it stops, then print where it stands.
fn drive(
    cli: &Cli,
    id: i64,
    sources: &Sources,
    verbose: bool,
    parallel: Option<usize>,
    retry: bool,
) -> Result<u8, Failure> {
    let mut store = open_store(cli)?;
    let wf = store.workflow(id)?;
    let args = sources.args(&wf.installation, verbose);
    let root = super::bundle::open(cli, &args.bundle, None)?;
    let root_manifest = root.manifest.clone();
    drop(root);
    let read_root =
        || super::actions::inputs(cli, &args, &root_manifest).map_err(|f| format!("{:#}", f.error));
    let text = cli.output == Format::Text && !cli.quiet;
    let executor = Local {
        cli,
        how: args.how,
        text,
    };
    wasmix::interrupt::watch();
    let mut engine = Engine {
        store: &mut store,
        lock_dir: home(cli)?.join("running"),
        parallel: parallel.unwrap_or_else(default_parallel),
        root_inputs: &read_root,
    };
    let mut on_event = |e: Event<'_>| {
        if !text {
            return;
        }
        match e {
            Event::Recovered { node, status } => {
                println!("{node}: left running by a killed process; {status}")
            }
            Event::Started {
                node,
                action,
                attempt,
            } => {
                let again = if attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                println!("{node}: {action} started{again}");
            }
            Event::Finished {
                node,
                status,
                error,
                millis,
            } => match error {
                Some(e) if status == TaskStatus::Failed => {
                    println!("{node}: FAILED ({millis} ms): {}", sanitize(e))
                }
                _ => println!("{node}: {status} ({millis} ms)"),
            },
        }
    };
    let wf = engine.run(id, retry, &executor, &mut on_event)?;
    // The next solve resolves identically, offline if need be.
    if let (WorkflowStatus::Succeeded, Some(lock), false) =
        (wf.status, &sources.lock, wf.action == "uninstall")
    {
        wasmix::lock::record_dependencies(lock, &sources.pins)?;
    }
    if cli.output.is_structured() {
        print_doc(&wf)?;
    } else if !cli.quiet {
        match &wf.error {
            None => println!("workflow {id} {}", wf.status),
            Some(e) => println!("workflow {id} {}: {}", wf.status, sanitize(e)),
        }
    }
    Ok(match wf.status {
        WorkflowStatus::Succeeded => 0,
        WorkflowStatus::Interrupted => ExitClass::Interrupted.code(),
        _ => ExitClass::StepFailed.code(),
    })
}

/// The number of cores: tasks mostly wait on processes and registries.
fn default_parallel() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// The local executor: each task runs in a thread of this process, as
/// `wasmix install` runs a bundle — its own runtime, lock and store
/// connection.
struct Local<'a> {
    cli: &'a Cli,
    how: RunFlags,
    text: bool,
}

impl Executor for Local<'_> {
    fn execute(&self, task: TaskStart<'_>) -> TaskEnd {
        match self.run(&task) {
            Ok(end) => end,
            Err(f) => TaskEnd::Failed {
                run_id: None,
                error: format!("{:#}", f.error),
            },
        }
    }
}

impl Local<'_> {
    fn run(&self, task: &TaskStart<'_>) -> Result<TaskEnd, Failure> {
        let cli = self.cli;
        let node = task.node;
        let arg = BundleArg {
            bundle: Some(node.bundle.clone()),
            reference: None,
            version: None,
        };
        let opened = super::bundle::open(cli, &arg, None)?;
        let manifest = &opened.manifest;
        let plans = BundlePlan::new(manifest)?;
        let rt = runtime(
            cli,
            self.how.driver,
            self.how.pull,
            manifest,
            &plans,
            opened.pinned()?,
        )?;
        let lock_file = match &opened.fetched {
            Some(_) => Some(super::bundle::installation_lock(cli, &node.id)?),
            None => None,
        };
        let mut prepared = rt.prepare(
            manifest,
            &plans,
            task.action,
            LockCheck::Enforce {
                accept: self.how.accept_capabilities,
                file: lock_file,
            },
        )?;
        prepared.origin = opened.fetched.as_ref().map(|(f, _)| f.pinned_reference());
        if self.text {
            for w in &prepared.warnings {
                eprintln!("warning: {}: {}", node.id, sanitize(w));
            }
        }
        let mut store = open_store(cli)?;
        let text = self.text;
        let verbose = self.how.verbose;
        let id = node.id.clone();
        let mut on_event = |e: StepEvent<'_>| {
            if text {
                super::actions::progress(e, verbose, Some(&id));
            }
        };
        let outcome = rt.run(
            &mut store,
            manifest,
            &prepared,
            &node.id,
            &task.inputs,
            &mut on_event,
        )?;
        Ok(if outcome.interrupted {
            TaskEnd::Interrupted {
                run_id: Some(outcome.run_id),
            }
        } else if outcome.succeeded() {
            TaskEnd::Succeeded {
                run_id: outcome.run_id,
            }
        } else {
            TaskEnd::Failed {
                run_id: Some(outcome.run_id),
                error: outcome.error.clone().unwrap_or_else(|| "failed".into()),
            }
        })
    }
}

/// `wasmix workflow …`.
#[derive(Subcommand)]
pub enum WorkflowCommand {
    /// Workflows, newest first
    List,
    /// A workflow's tasks: status, timings, attempts, the digest each ran
    Show {
        /// Workflow id
        id: i64,
    },
    /// Continue a workflow after a crash or Ctrl-C; succeeded tasks do not run again
    Resume(ResumeArgs),
    /// Run a workflow's failed tasks again, then what waited on them
    Retry(ResumeArgs),
    /// Cancel a workflow: its pending tasks will not run
    Cancel {
        /// Workflow id
        id: i64,
    },
}

/// `workflow resume | retry` arguments.
#[derive(Args)]
pub struct ResumeArgs {
    /// Workflow id
    pub id: i64,
    /// How many tasks may run at once [default: the number of cores]
    #[arg(long)]
    pub parallel: Option<usize>,
    /// Print mixin debug logs too
    #[arg(long, short)]
    pub verbose: bool,
}

/// Run a `workflow` subcommand.
pub fn run(cli: &Cli, c: &WorkflowCommand) -> Result<u8, Failure> {
    match c {
        WorkflowCommand::List => list(cli),
        WorkflowCommand::Show { id } => show(cli, *id),
        WorkflowCommand::Resume(a) => resume(cli, a, false),
        WorkflowCommand::Retry(a) => resume(cli, a, true),
        WorkflowCommand::Cancel { id } => cancel(cli, *id),
    }
}

fn resume(cli: &Cli, a: &ResumeArgs, retry: bool) -> Result<u8, Failure> {
    let bytes = open_store(cli)?.workflow_inputs(a.id)?;
    let sources: Sources = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow!("workflow {}: stored inputs are unreadable: {e}", a.id))?;
    drive(cli, a.id, &sources, a.verbose, a.parallel, retry)
}

fn cancel(cli: &Cli, id: i64) -> Result<u8, Failure> {
    let mut store = open_store(cli)?;
    let no_inputs = || Ok(wasmix::run::Inputs::default());
    let n = Engine {
        store: &mut store,
        lock_dir: home(cli)?.join("running"),
        parallel: 1,
        root_inputs: &no_inputs,
    }
    .cancel(id)?;
    println!("workflow {id} cancelled ({n} task(s) will not run)");
    Ok(0)
}

fn list(cli: &Cli) -> Result<u8, Failure> {
    let wfs = open_store(cli)?.workflows()?;
    if cli.output.is_structured() {
        return print_doc(&wfs).map(|()| 0);
    }
    if wfs.is_empty() {
        println!("no workflows");
        return Ok(0);
    }
    println!(
        "{:<5} {:<24} {:<10} {:<12} {:<9} MODIFIED",
        "ID", "INSTALLATION", "ACTION", "STATUS", "DONE"
    );
    for w in &wfs {
        let done = w
            .tasks
            .iter()
            .filter(|t| t.status.lets_dependents_run())
            .count();
        println!(
            "{:<5} {:<24} {:<10} {:<12} {:<9} {}",
            w.id,
            w.installation,
            w.action,
            w.status,
            format!("{done}/{}", w.tasks.len()),
            wasmix::store::rfc3339(w.modified_ms / 1000)
        );
    }
    Ok(0)
}

fn show(cli: &Cli, id: i64) -> Result<u8, Failure> {
    let wf = open_store(cli)?.workflow(id)?;
    if cli.output.is_structured() {
        return print_doc(&wf).map(|()| 0);
    }
    print_workflow(&wf);
    Ok(0)
}

fn print_workflow(wf: &Workflow) {
    println!(
        "workflow {}: {} {} — {}",
        wf.id, wf.action, wf.installation, wf.status
    );
    if let Some(e) = &wf.error {
        println!("  {}", sanitize(e));
    }
    let t0 = wf
        .tasks
        .iter()
        .filter_map(|t| t.started_ms)
        .min()
        .unwrap_or(wf.created_ms);
    println!(
        "{:<5} {:<28} {:<10} {:<10} {:>9} {:>9} {:>8}  AFTER",
        "LEVEL", "TASK", "ACTION", "STATUS", "START ms", "END ms", "ATTEMPTS"
    );
    for t in &wf.tasks {
        let at = |ms: Option<i64>| ms.map(|m| (m - t0).to_string()).unwrap_or("-".into());
        println!(
            "{:<5} {:<28} {:<10} {:<10} {:>9} {:>9} {:>8}  {}",
            t.level,
            t.node,
            t.action.as_deref().unwrap_or("-"),
            t.status,
            at(t.started_ms),
            at(t.finished_ms),
            t.attempts,
            t.after.join(", ")
        );
    }
    for t in &wf.tasks {
        println!("  {}: {}", t.node, t.bundle);
        if let Some(e) = &t.error {
            println!("    error: {}", sanitize(e));
        }
    }
}

/// The plan of a graph as text, for `wasmix explain`: each node, why it is
/// there, what it receives from whom, and which nodes run in parallel.
pub fn print_plan(graph: &Graph) {
    println!("Plan ({}):", graph.action);
    for (level, nodes) in graph.levels().iter().enumerate() {
        let names: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
        println!(
            "  level {level}{}: {}",
            if nodes.len() > 1 {
                " (in parallel)"
            } else {
                ""
            },
            names.join(", ")
        );
        for n in nodes {
            println!(
                "    {} — {} {} ({}), {}{}",
                n.id,
                n.bundle_name,
                n.version,
                n.bundle,
                match &n.action {
                    Some(a) => format!("{a}, "),
                    None => String::new(),
                },
                match &n.reason {
                    dependencies::Reason::Kept { used_by } =>
                        format!("kept: used by {}", used_by.join(", ")),
                    r => r.word().to_string(),
                }
            );
            if let Some(g) = &n.sharing {
                println!("      shared in group {g:?}");
            }
            if !n.required_by.is_empty() {
                println!("      required by {}", n.required_by.join(", "));
            }
            for (k, w) in &n.parameters {
                println!("      parameter {k} ← {} (in {})", w.template, w.context);
            }
            for (k, w) in &n.credentials {
                println!("      credential {k} ← {} (in {})", w.template, w.context);
            }
            if !n.after.is_empty() {
                let after: Vec<&str> = n.after.iter().map(String::as_str).collect();
                println!("      after {}", after.join(", "));
            }
        }
    }
}
