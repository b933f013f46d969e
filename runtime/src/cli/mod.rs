//! The `wasmix` command line: argument types, one module per command group,
//! and the few things they share: where wasmix's home is, how a runtime is
//! built from the flags, how an error becomes an exit code, and how output
//! is rendered.
//!
//! | module | commands |
//! | --- | --- |
//! | [`actions`] | install, upgrade, uninstall, invoke |
//! | [`bundle`] | publish; bundle pull, inspect, list, list-tags, copy, sign, verify, rm |
//! | [`explain`] | explain, lint, schema |
//! | [`installation`] | installation list, show, outputs |
//! | [`mixin`] | mixin push, pull, list, inspect, rm, save, load; cache prune |
//! | [`lock`] | lock |
//! | [`registry`] | registry login |
//! | [`signing`] | key generate, mixin sign, mixin verify, trust show |
//! | [`sets`] | credentials and parameters apply, list, show, delete |
//!
//! A new command is a variant of [`Command`], a module here, and a line in
//! [`dispatch`].

pub mod actions;
pub mod bundle;
pub mod explain;
pub mod failure;
pub mod installation;
pub mod lock;
pub mod mixin;
pub mod output;
pub mod registry;
pub mod sets;
pub mod signing;
pub mod workflow;

pub use failure::{bad_input, Failure};
pub use output::Format;

use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use wasmix::exit::ExitClass;
use wasmix::manifest::{self, Manifest};
use wasmix::oci::{Cache, OciSource, Registry, RegistryConfig};
use wasmix::store::Store;

/// Exit codes scripts can rely on (see [`ExitClass`]).
pub mod exit {
    use super::ExitClass;
    /// The trust policy refused an artifact.
    pub const UNTRUSTED: u8 = ExitClass::Untrusted.code();
}

/// The command line.
#[derive(Parser)]
#[command(
    name = "wasmix",
    version,
    about = "Run Porter-style bundles with sandboxed WebAssembly mixins"
)]
pub struct Cli {
    /// wasmix's home: state store and caches [default: ~/.wasmix]
    #[arg(long, global = true, env = "WASMIX_HOME")]
    pub home: Option<PathBuf>,
    /// Directories holding mixin components, `:`-separated [default: HOME/mixins]
    #[arg(long, global = true, env = "WASMIX_MIXIN_PATH")]
    pub mixin_path: Option<String>,
    /// Output format
    // The id is not `output`: `installation output show` has a subcommand
    // of that name, and global ids and subcommand names share one space.
    #[arg(id = "format", long = "output", short = 'o', global = true, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// Never touch the network: mixins must be in the cache
    #[arg(long, global = true)]
    pub offline: bool,
    /// Print no step progress or logs, only warnings, errors and the result
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// Registries (host:port) reachable over plain HTTP; comma-separated or repeated
    #[arg(
        long = "insecure-registry",
        global = true,
        env = "WASMIX_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    pub insecure_registries: Vec<String>,
    /// Namespace for bare mixin names not found on the mixin path (e.g. localhost:5000/wasmix)
    #[arg(long, global = true, env = "WASMIX_MIXIN_NAMESPACE")]
    pub mixin_namespace: Option<String>,
    /// Largest mixin component accepted from a registry, in bytes
    #[arg(long, global = true, env = "WASMIX_MAX_MIXIN_SIZE", default_value_t = 256 << 20)]
    pub max_mixin_size: u64,
    /// Trust policy file, replacing the user's for this run [default: HOME/trust.yaml]
    #[arg(long, global = true, env = "WASMIX_TRUST_POLICY")]
    pub trust_policy: Option<PathBuf>,
    /// What to do
    #[command(subcommand)]
    pub command: Command,
    /// Where each setting came from (flag, environment, config file,
    /// default), for `wasmix config show`.
    #[arg(skip)]
    pub sources: std::collections::BTreeMap<&'static str, &'static str>,
}

/// The command line, with `HOME/config.toml` filling each setting neither a
/// flag nor its environment variable gave.
pub fn parse() -> Result<Cli, Failure> {
    use clap::parser::ValueSource;
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let path = home(&cli)?.join(wasmix::config::CONFIG_FILE);
    let config = wasmix::config::Config::load(&path).map_err(|e| bad_input(e.into()))?;
    let source = |m: &clap::ArgMatches, id: &str| match m.value_source(id) {
        Some(ValueSource::CommandLine) => "flag",
        Some(ValueSource::EnvVariable) => "environment",
        _ => "default",
    };
    let mut sources = std::collections::BTreeMap::new();
    macro_rules! setting {
        ($name:literal, $id:literal, $field:expr, $from_file:expr) => {{
            let mut from = source(&matches, $id);
            if from == "default" {
                if let Some(v) = $from_file {
                    $field = v;
                    from = "config file";
                }
            }
            sources.insert($name, from);
        }};
    }
    setting!(
        "mixin-path",
        "mixin_path",
        cli.mixin_path,
        config.mixin_path.clone().map(Some)
    );
    setting!(
        "insecure-registries",
        "insecure_registries",
        cli.insecure_registries,
        Some(config.insecure_registries.clone()).filter(|v| !v.is_empty())
    );
    setting!(
        "mixin-namespace",
        "mixin_namespace",
        cli.mixin_namespace,
        config.mixin_namespace.clone().map(Some)
    );
    setting!(
        "trust-policy",
        "trust_policy",
        cli.trust_policy,
        config.trust_policy.clone().map(Some)
    );
    setting!(
        "max-mixin-size",
        "max_mixin_size",
        cli.max_mixin_size,
        config.max_mixin_size
    );
    setting!(
        "output",
        "format",
        cli.output,
        config.output.as_deref().map(|o| match o {
            "json" => Format::Json,
            "yaml" => Format::Yaml,
            _ => Format::Text,
        })
    );
    if let Some((_, sub)) = matches.subcommand() {
        let args = match &mut cli.command {
            Command::Install(a) | Command::Upgrade(a) | Command::Uninstall(a) => Some(a),
            Command::Invoke { args, .. } => Some(args),
            _ => None,
        };
        if let Some(a) = args {
            let mut from = source(sub, "driver");
            if from == "default" {
                if let Some(d) = &config.driver {
                    a.how.driver = match d.as_str() {
                        "docker" => actions::DriverKind::Docker,
                        "debug" => actions::DriverKind::Debug,
                        _ => actions::DriverKind::Host,
                    };
                    from = "config file";
                }
            }
            sources.insert("driver", from);
        }
    }
    cli.sources = sources;
    output::set_format(cli.output);
    Ok(cli)
}

/// A command group (`wasmix mixin …`) whose subcommands clap builds only
/// when the group is the one parsed, or for help, completion and man pages
/// (which build the whole tree). Building every group's arguments on every
/// run was about a fifth of the ~1.3 ms clap took before `main` could start
/// work.
pub struct Deferred<T>(pub T);

thread_local! {
    /// Set by [`full_command`]: groups are built at once, for the completion
    /// script and man pages. The help subcommand clap generates mirrors the
    /// tree as it is when the top level is built, so a deferred group would be
    /// missing from `wasmix help GROUP SUB` completions.
    static BUILD_ALL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The whole command tree, no group deferred.
fn full_command() -> clap::Command {
    use clap::CommandFactory;
    BUILD_ALL.set(true);
    let cmd = Cli::command();
    BUILD_ALL.set(false);
    cmd
}

impl<T: Subcommand> Subcommand for Deferred<T> {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        if BUILD_ALL.get() {
            return augment_later::<T>(cmd);
        }
        cmd.defer(augment_later::<T>)
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        if BUILD_ALL.get() {
            return augment_later_for_update::<T>(cmd);
        }
        cmd.defer(augment_later_for_update::<T>)
    }

    fn has_subcommand(name: &str) -> bool {
        T::has_subcommand(name)
    }
}

/// `T`'s subcommands, added when clap builds the group. That is later
/// than the derive would add them, and `T`'s own doc comment
/// (`/// \`wasmix mixin …\``) would then replace the about text the
/// variant in [`Command`] gave the group: that text is put back.
fn augment_later<T: Subcommand>(cmd: clap::Command) -> clap::Command {
    let (about, long_about) = (cmd.get_about().cloned(), cmd.get_long_about().cloned());
    restore_about(T::augment_subcommands(cmd), about, long_about)
}

/// [`augment_later`] for `update_from_arg_matches`.
fn augment_later_for_update<T: Subcommand>(cmd: clap::Command) -> clap::Command {
    let (about, long_about) = (cmd.get_about().cloned(), cmd.get_long_about().cloned());
    restore_about(T::augment_subcommands_for_update(cmd), about, long_about)
}

fn restore_about(
    cmd: clap::Command,
    about: Option<clap::builder::StyledStr>,
    long_about: Option<clap::builder::StyledStr>,
) -> clap::Command {
    use clap::builder::Resettable;
    cmd.about(about.map_or(Resettable::Reset, Resettable::Value))
        .long_about(long_about.map_or(Resettable::Reset, Resettable::Value))
}

impl<T: clap::FromArgMatches> clap::FromArgMatches for Deferred<T> {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Deferred)
    }

    fn from_arg_matches_mut(matches: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Deferred)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }
}

impl<T> std::ops::Deref for Deferred<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// The commands.
#[derive(Subcommand)]
pub enum Command {
    /// Install a bundle
    Install(actions::ActionArgs),
    /// Upgrade an installation
    Upgrade(actions::ActionArgs),
    /// Uninstall an installation
    Uninstall(actions::ActionArgs),
    /// Run a custom action
    Invoke {
        /// The action to run
        #[arg(long)]
        action: String,
        /// Bundle, installation and inputs
        #[command(flatten)]
        args: actions::ActionArgs,
    },
    /// Check a bundle: manifest, step schemas and mixin lint rules
    Lint {
        /// Which bundle
        #[command(flatten)]
        bundle: bundle::BundleArg,
    },
    /// Show what a bundle declares and what each step is granted
    Explain {
        /// Which bundle
        #[command(flatten)]
        bundle: bundle::BundleArg,
        /// Only this action
        #[arg(long)]
        action: Option<String>,
    },
    /// Print the JSON Schema of a bundle's steps, from its mixins
    Schema {
        /// Which bundle
        #[command(flatten)]
        bundle: bundle::BundleArg,
    },
    /// Publish a bundle directory as a signed OCI artifact, its mixins pinned
    Publish(bundle::PublishArgs),
    /// Bundle artifacts: pull, inspect, copy, sign, verify, list tags
    #[command(subcommand)]
    Bundle(Deferred<bundle::BundleCommand>),
    /// Inspect installations
    #[command(subcommand)]
    Installation(Deferred<installation::InstallationCommand>),
    /// Dependency workflows: list, show, resume, retry, cancel
    #[command(subcommand)]
    Workflow(Deferred<workflow::WorkflowCommand>),
    /// Publish, fetch and manage mixin artifacts
    #[command(subcommand)]
    Mixin(Deferred<mixin::MixinCommand>),
    /// Manage the mixin cache
    #[command(subcommand)]
    Cache(Deferred<mixin::CacheCommand>),
    /// Registry credentials
    #[command(subcommand)]
    Registry(Deferred<registry::RegistryCommand>),
    /// Signing keys
    #[command(subcommand)]
    Key(Deferred<signing::KeyCommand>),
    /// The trust policy mixins are checked against
    #[command(subcommand)]
    Trust(Deferred<signing::TrustCommand>),
    /// Pin a bundle's registry mixins by digest in wasmix.lock
    Lock(lock::LockArgs),
    /// Credential sets: where each credential's value comes from
    #[command(subcommand)]
    Credentials(Deferred<sets::SetCommand>),
    /// Parameter sets: where each parameter's value comes from
    #[command(subcommand)]
    Parameters(Deferred<sets::SetCommand>),
    /// Print the versions of wasmix, wasmtime and the mixin contract
    Version,
    /// The effective settings and where each came from (flag, environment, config file, default)
    #[command(subcommand)]
    Config(Deferred<ConfigCommand>),
    /// Print a shell completion script (`wasmix completion bash > /etc/bash_completion.d/wasmix`)
    Completion {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Write man pages (`wasmix.1`, `wasmix-install.1`, …) into a directory (`man -l DIR/wasmix.1`)
    Man {
        /// Where to write them, e.g. /usr/local/share/man/man1
        #[arg(long, short = 'O', default_value = ".")]
        out: PathBuf,
    },
}

/// Write one man page per command and subcommand (`wasmix-mixin-push.1`),
/// each written whole before it is renamed into place.
fn man_pages(dir: &std::path::Path) -> std::io::Result<Vec<String>> {
    fn walk(
        cmd: &clap::Command,
        name: String,
        dir: &std::path::Path,
        pages: &mut Vec<String>,
    ) -> std::io::Result<()> {
        let page = cmd.clone().name(name.clone());
        let mut text = Vec::new();
        clap_mangen::Man::new(page).render(&mut text)?;
        let file = format!("{name}.1");
        wasmix::fsutil::write_atomic(&dir.join(&file), &text)?;
        pages.push(file);
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            walk(sub, format!("{name}-{}", sub.get_name()), dir, pages)?;
        }
        Ok(())
    }
    std::fs::create_dir_all(dir)?;
    let mut cmd = full_command();
    cmd.build();
    let mut pages = Vec::new();
    walk(&cmd, "wasmix".into(), dir, &mut pages)?;
    Ok(pages)
}

/// Run the command; the exit code on success.
pub fn dispatch(cli: &Cli) -> Result<u8, Failure> {
    match &cli.command {
        Command::Install(a) => actions::run(cli, "install", a),
        Command::Upgrade(a) => actions::run(cli, "upgrade", a),
        Command::Uninstall(a) => actions::run(cli, "uninstall", a),
        Command::Invoke { action, args } => actions::invoke(cli, action, args),
        Command::Lint { bundle } => explain::lint(cli, bundle),
        Command::Explain { bundle, action } => explain::explain(cli, bundle, action.as_deref()),
        Command::Publish(a) => bundle::publish(cli, a),
        Command::Bundle(c) => bundle::run(cli, c),
        Command::Schema { bundle } => explain::schema(cli, bundle),
        Command::Installation(c) => installation::run(cli, c),
        Command::Workflow(c) => workflow::run(cli, c),
        Command::Mixin(c) => mixin::run(cli, c),
        Command::Cache(c) => mixin::cache(cli, c),
        Command::Registry(c) => registry::run(cli, c),
        Command::Key(c) => signing::key(cli, c),
        Command::Trust(c) => signing::trust(cli, c),
        Command::Lock(a) => lock::run(cli, a),
        Command::Credentials(c) => sets::run(cli, wasmix::sets::SetKind::Credential, c),
        Command::Parameters(c) => sets::run(cli, wasmix::sets::SetKind::Parameter, c),
        Command::Version => version(cli),
        Command::Config(Deferred(ConfigCommand::Show)) => config_show(cli),
        Command::Man { out } => {
            let pages = man_pages(out).map_err(|e| {
                Failure::from(anyhow::anyhow!(
                    "writing man pages to {}: {e}",
                    out.display()
                ))
            })?;
            if cli.output.is_structured() {
                output::print_doc(&serde_json::json!({"directory": out, "pages": pages}))?;
            } else {
                println!("wrote {} man pages to {}", pages.len(), out.display());
            }
            Ok(0)
        }
        Command::Completion { shell } => {
            clap_complete::generate(
                *shell,
                &mut full_command(),
                "wasmix",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
    }
}

/// `wasmix config …`
#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Print the effective settings and their sources
    Show,
}

/// `wasmix config show`
fn config_show(cli: &Cli) -> Result<u8, Failure> {
    let file = home(cli)?.join(wasmix::config::CONFIG_FILE);
    let from = |k: &str| cli.sources.get(k).copied().unwrap_or("default");
    let settings = serde_json::json!({
        "mixin-path": {"value": cli.mixin_path, "from": from("mixin-path")},
        "insecure-registries": {"value": cli.insecure_registries, "from": from("insecure-registries")},
        "mixin-namespace": {"value": cli.mixin_namespace, "from": from("mixin-namespace")},
        "trust-policy": {"value": cli.trust_policy, "from": from("trust-policy")},
        "max-mixin-size": {"value": cli.max_mixin_size, "from": from("max-mixin-size")},
        "output": {"value": match cli.output { Format::Text => "text", Format::Json => "json", Format::Yaml => "yaml" }, "from": from("output")},
    });
    if cli.output.is_structured() {
        return output::print_doc(&serde_json::json!({"file": file, "settings": settings}))
            .map(|()| 0);
    }
    println!(
        "# {} ({})",
        file.display(),
        if file.is_file() { "read" } else { "absent" }
    );
    if let Some(map) = settings.as_object() {
        for (k, v) in map {
            println!(
                "{k:<20} {:<40} {}",
                v["value"].to_string(),
                v["from"].as_str().unwrap_or("")
            );
        }
    }
    println!(
        "# driver is set per action (`install --driver`, WASMIX_DRIVER, or `driver =` in the file)"
    );
    Ok(0)
}

/// `wasmix version`: what a bug report needs.
fn version(cli: &Cli) -> Result<u8, Failure> {
    if cli.output.is_structured() {
        output::print_doc(&serde_json::json!({
            "wasmix": wasmix::VERSION,
            "wasmtime": wasmix::WASMTIME_VERSION,
            "contract": wasmix::oci::CONTRACT,
        }))?;
    } else {
        println!("wasmix {}", wasmix::VERSION);
        println!("wasmtime {}", wasmix::WASMTIME_VERSION);
        println!("contract {}", wasmix::oci::CONTRACT);
    }
    Ok(0)
}

/// wasmix's home directory.
pub fn home(cli: &Cli) -> Result<PathBuf, Failure> {
    if let Some(h) = &cli.home {
        return Ok(h.clone());
    }
    let base = std::env::var_os("HOME")
        .ok_or_else(|| anyhow::anyhow!("HOME is not set; pass --home or set WASMIX_HOME"))?;
    Ok(PathBuf::from(base).join(".wasmix"))
}

/// The state store in the home directory.
pub fn open_store(cli: &Cli) -> Result<Store, Failure> {
    Ok(Store::open(&home(cli)?.join("state.db"))?)
}

/// The manifest at `path` (a bundle directory or a manifest file).
pub fn load_manifest(path: &Path) -> Result<Manifest, Failure> {
    Ok(manifest::load(path)?)
}

/// A registry client configured from the flags.
pub fn registry(cli: &Cli) -> Result<Registry, Failure> {
    let config = RegistryConfig {
        insecure: cli.insecure_registries.clone(),
        max_layer: cli.max_mixin_size,
        // Progress on a terminal only, and never mixed into JSON output.
        progress: std::io::stderr().is_terminal() && cli.output == Format::Text,
        ..Default::default()
    };
    Ok(Registry::new(config)?)
}

/// Where registry mixins come from: the cache, the registry unless
/// `--offline`, the default namespace and the trust policy.
pub fn oci_source(cli: &Cli) -> Result<OciSource, Failure> {
    oci_source_for(cli, true)
}

/// [`oci_source`], with a registry client only when `needs_registry`: the
/// client loads the system's root certificates, about half of a local
/// bundle's command time, for nothing when no mixin comes from a registry.
pub fn oci_source_for(cli: &Cli, needs_registry: bool) -> Result<OciSource, Failure> {
    Ok(OciSource {
        cache: Cache::open(&home(cli)?.join("cache").join("oci"))?,
        registry: if cli.offline || !needs_registry {
            None
        } else {
            Some(registry(cli)?)
        },
        namespace: cli.mixin_namespace.clone(),
        policy: signing::policy(cli)?,
    })
}

/// `NAME=VALUE` pairs of a repeatable flag.
pub fn parse_pairs(items: &[String], what: &str) -> Result<Vec<(String, String)>, Failure> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    bad_input(anyhow::anyhow!(
                        "--{what} {item:?} must look like NAME=VALUE"
                    ))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Each command's path, about text and argument ids, depth first; the
    /// generated help subcommand is left out.
    fn shape(cmd: &clap::Command, path: String, out: &mut Vec<String>) {
        let args: Vec<String> = cmd
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect();
        let about = cmd.get_about().map(|a| a.to_string());
        out.push(format!("{path} | {about:?} | {args:?}"));
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            shape(sub, format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn deferred_groups_build_into_the_same_tree() {
        // Deferred: parsing `wasmix install` never builds `mixin push`.
        let unbuilt = Cli::command();
        let mixin = unbuilt.find_subcommand("mixin").expect("mixin group");
        assert_eq!(mixin.get_subcommands().count(), 0);

        let mut deferred = Cli::command();
        deferred.build();
        let mut full = full_command();
        full.build();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        shape(&deferred, "wasmix".into(), &mut a);
        shape(&full, "wasmix".into(), &mut b);
        assert_eq!(a, b);
        // The group keeps the about text its variant gives it, not its
        // enum's doc comment.
        assert!(
            a.iter().any(|l| l
                .starts_with("wasmix mixin | Some(\"Publish, fetch and manage mixin artifacts\")")),
            "{a:#?}"
        );
        assert!(a.iter().any(|l| l.starts_with("wasmix mixin push |")));
        // The help subcommand of the full tree reaches into groups, for
        // `wasmix help mixin push` completions.
        let help = full.find_subcommand("help").expect("help");
        let mixin = help.find_subcommand("mixin").expect("help mixin");
        assert!(mixin.find_subcommand("push").is_some());
        full.debug_assert();
    }
}
