//! `wasmix installation list | show | runs | logs | outputs | output show |
//! delete`: what the state store knows about installations.

use super::output::{print_doc, StepDoc};
use super::{bad_input, open_store, Cli, Failure};
use anyhow::anyhow;
use clap::Subcommand;
use std::io::IsTerminal;
use wasmix::redact::{sanitize, MASK};
use wasmix::store::{Installation, InstallationStatus, Run, RunStatus};

/// `wasmix installation …`
#[derive(Subcommand)]
pub enum InstallationCommand {
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
    /// One output of an installation
    #[command(subcommand)]
    Output(OutputCommand),
    /// List an installation's runs, newest first
    Runs {
        /// Installation name
        name: String,
    },
    /// Print the logs of an installation's run (the latest by default)
    Logs {
        /// Installation name
        name: String,
        /// The run (see `installation runs`)
        #[arg(long)]
        run: Option<i64>,
    },
    /// Install or upgrade an installation from a Porter Installation document
    Apply(super::actions::ApplyArgs),
    /// Forget an installation and everything recorded about it
    Delete {
        /// Installation name
        name: String,
        /// Delete it even though it is still installed (its resources stay where they are)
        #[arg(long)]
        force: bool,
    },
}

/// `wasmix installation output …`
#[derive(Subcommand)]
pub enum OutputCommand {
    /// Print one output's raw value, as Porter's `installation output show` does
    Show {
        /// Installation name
        name: String,
        /// Output name
        #[arg(value_name = "OUTPUT")]
        output_name: String,
    },
}

/// An installation as JSON.
#[derive(serde::Serialize)]
struct InstallationDoc<'a> {
    name: &'a str,
    bundle: &'a str,
    version: &'a str,
    manifest: &'a str,
    status: InstallationStatus,
    last_action: &'a str,
    created: &'a str,
    modified: &'a str,
}

impl<'a> From<&'a Installation> for InstallationDoc<'a> {
    fn from(i: &'a Installation) -> Self {
        InstallationDoc {
            name: &i.name,
            bundle: &i.bundle,
            version: &i.version,
            manifest: &i.manifest,
            status: i.status,
            last_action: &i.last_action,
            created: &i.created,
            modified: &i.modified,
        }
    }
}

/// A run as JSON.
#[derive(serde::Serialize)]
struct RunDoc<'a> {
    id: i64,
    installation: &'a str,
    action: &'a str,
    status: RunStatus,
    error: Option<&'a str>,
    started: &'a str,
}

impl<'a> From<&'a Run> for RunDoc<'a> {
    fn from(r: &'a Run) -> Self {
        RunDoc {
            id: r.id,
            installation: &r.installation,
            action: &r.action,
            status: r.status,
            error: r.error.as_deref(),
            started: &r.started,
        }
    }
}

fn no_such(name: &str) -> Failure {
    bad_input(anyhow!(
        "no installation named {name:?}; see `wasmix installation list`"
    ))
}

/// Run an `installation` subcommand.
pub fn run(cli: &Cli, c: &InstallationCommand) -> Result<u8, Failure> {
    if let InstallationCommand::Apply(a) = c {
        return super::actions::apply(cli, a);
    }
    let mut store = open_store(cli)?;
    let json = cli.output.is_structured();
    match c {
        InstallationCommand::Runs { name } => {
            store.installation(name)?.ok_or_else(|| no_such(name))?;
            let runs = store.runs(name)?;
            if json {
                let docs: Vec<RunDoc<'_>> = runs.iter().map(Into::into).collect();
                print_doc(&docs)?;
            } else {
                println!(
                    "{:>4} {:<12} {:<10} {:<20} ERROR",
                    "RUN", "ACTION", "STATUS", "STARTED"
                );
                for r in runs {
                    println!(
                        "{:>4} {:<12} {:<10} {:<20} {}",
                        r.id,
                        r.action,
                        r.status,
                        r.started,
                        r.error.as_deref().map(sanitize).unwrap_or_default()
                    );
                }
            }
        }
        InstallationCommand::Logs { name, run } => {
            store.installation(name)?.ok_or_else(|| no_such(name))?;
            let runs = store.runs(name)?;
            let chosen = match run {
                Some(id) => runs.iter().find(|r| r.id == *id).ok_or_else(|| {
                    bad_input(anyhow!(
                        "installation {name:?} has no run {id}; see `wasmix installation runs {name}`"
                    ))
                })?,
                None => runs
                    .first()
                    .ok_or_else(|| bad_input(anyhow!("installation {name:?} has no runs")))?,
            };
            let results = store.results(chosen.id)?;
            if json {
                let docs: Vec<StepDoc<'_>> = results.iter().map(StepDoc::from).collect();
                print_doc(&docs)?;
            } else {
                println!(
                    "run {} of {name}: {} {}",
                    chosen.id, chosen.action, chosen.status
                );
                for s in results {
                    println!(
                        "[{}] {} ({}): {}",
                        s.index + 1,
                        sanitize(&s.description),
                        s.mixin,
                        s.status
                    );
                    for line in s.logs.lines() {
                        println!("      {}", sanitize(line));
                    }
                    if let Some(m) = &s.message {
                        println!("      {}", sanitize(m));
                    }
                }
            }
        }
        InstallationCommand::Delete { name, force } => {
            let inst = store.installation(name)?.ok_or_else(|| no_such(name))?;
            if inst.status != InstallationStatus::Uninstalled && !force {
                return Err(bad_input(anyhow!(
                    "installation {name:?} is {}; uninstall it first (`wasmix uninstall -i {name}`), \
                     or pass --force to forget it and leave its resources where they are",
                    inst.status
                )));
            }
            store.delete_installation(name)?;
            println!("deleted installation {name}");
        }
        InstallationCommand::Output(OutputCommand::Show {
            name,
            output_name: output,
        }) => {
            store.installation(name)?.ok_or_else(|| no_such(name))?;
            let outputs = store.outputs(name, true)?;
            let o = outputs.iter().find(|o| &o.name == output).ok_or_else(|| {
                bad_input(anyhow!(
                    "installation {name:?} has no output {output:?}; see `wasmix installation outputs {name}`"
                ))
            })?;
            // Raw for scripts (`$(wasmix installation output show app url)`);
            // escapes neutralised when a terminal would interpret them.
            let v = o.value.as_deref().unwrap_or_default();
            if std::io::stdout().is_terminal() {
                print!("{}", sanitize(v));
            } else {
                print!("{v}");
            }
        }
        // Handled above, before the store is opened here.
        InstallationCommand::Apply(a) => return super::actions::apply(cli, a),
        InstallationCommand::List => {
            let all = store.installations()?;
            if json {
                let docs: Vec<InstallationDoc<'_>> = all.iter().map(Into::into).collect();
                print_doc(&docs)?;
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
            let inst = store.installation(name)?.ok_or_else(|| no_such(name))?;
            let runs = store.runs(name)?;
            if json {
                #[derive(serde::Serialize)]
                struct ShowDoc<'a> {
                    installation: InstallationDoc<'a>,
                    runs: Vec<RunDoc<'a>>,
                }
                print_doc(&ShowDoc {
                    installation: (&inst).into(),
                    runs: runs.iter().map(Into::into).collect(),
                })?;
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
                return Err(no_such(name));
            }
            let outputs = store.outputs(name, *show_sensitive)?;
            if json {
                #[derive(serde::Serialize)]
                struct OutputDoc<'a> {
                    name: &'a str,
                    value: &'a str,
                    sensitive: bool,
                }
                let docs: Vec<OutputDoc<'_>> = outputs
                    .iter()
                    .map(|o| OutputDoc {
                        name: &o.name,
                        value: o.value.as_deref().unwrap_or(MASK),
                        sensitive: o.sensitive,
                    })
                    .collect();
                print_doc(&docs)?;
            } else if outputs.is_empty() {
                println!("installation {name} has no outputs");
            } else {
                let tty = std::io::stdout().is_terminal();
                for o in outputs {
                    let v = o.value.as_deref().unwrap_or(MASK);
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
