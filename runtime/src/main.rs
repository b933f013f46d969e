//! The `wasmix` command line: a thin layer over the `wasmix` library.

use anyhow::{anyhow, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use wasmix::driver::{DebugDriver, DockerDriver, Driver, HostDriver, PullPolicy};
use wasmix::manifest::{self, Manifest};
use wasmix::oci::artifact::{self, ArtifactMeta};
use wasmix::oci::client::parse_reference;
use wasmix::oci::{Cache, Registry, RegistryConfig, WasmManifest};
use wasmix::plan::Plan;
use wasmix::redact::{sanitize, MASK};
use wasmix::resolve::MixinPath;
use wasmix::run::{Event, Inputs, Limits, OciSource, Outcome, RunError, Runtime};
use wasmix::sandbox::MixinEngine;
use wasmix::store::Store;

#[path = "cli/signing.rs"]
mod signing_cli;

/// Exit codes scripts can rely on.
mod exit {
    /// The action ran and a step failed.
    pub const STEP_FAILED: u8 = 1;
    /// Bad input: manifest, parameters, credentials, arguments.
    pub const BAD_INPUT: u8 = 2;
    /// The environment: mixin not found, state store, I/O.
    pub const ENVIRONMENT: u8 = 3;
    /// The trust policy refused a mixin.
    pub const UNTRUSTED: u8 = 4;
    /// Interrupted with Ctrl-C (128 + SIGINT), as shells report it.
    pub const INTERRUPTED: u8 = 130;
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
    /// Never touch the network: mixins must be in the cache
    #[arg(long, global = true)]
    offline: bool,
    /// Registries (host:port) reachable over plain HTTP; comma-separated or repeated
    #[arg(
        long = "insecure-registry",
        global = true,
        env = "WASMIX_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    insecure_registries: Vec<String>,
    /// Namespace for bare mixin names not found on the mixin path (e.g. localhost:5000/wasmix)
    #[arg(long, global = true, env = "WASMIX_MIXIN_NAMESPACE")]
    mixin_namespace: Option<String>,
    /// Largest mixin component accepted from a registry, in bytes
    #[arg(long, global = true, env = "WASMIX_MAX_MIXIN_SIZE", default_value_t = 256 << 20)]
    max_mixin_size: u64,
    /// Trust policy file, replacing the user's for this run [default: HOME/trust.yaml]
    #[arg(long, global = true, env = "WASMIX_TRUST_POLICY")]
    trust_policy: Option<PathBuf>,
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
    /// Run in containers through the Docker Engine API (Docker or Podman)
    Docker,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Pull {
    /// Never pull; a missing image is an error
    Never,
    /// Pull images the engine does not have
    Missing,
    /// Pull before every run
    Always,
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
    /// Publish, fetch and manage mixin artifacts
    #[command(subcommand)]
    Mixin(MixinCommand),
    /// Manage the mixin cache
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Registry credentials
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Signing keys
    #[command(subcommand)]
    Key(signing_cli::KeyCommand),
    /// The trust policy mixins are checked against
    #[command(subcommand)]
    Trust(signing_cli::TrustCommand),
    /// Pin a bundle's registry mixins by digest in wasmix.lock
    Lock {
        /// Bundle directory or manifest file
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Follow tags that moved since the lock was written
        #[arg(long)]
        update: bool,
        /// Accept capabilities the manifest grants beyond the lock file
        #[arg(long)]
        accept_capabilities: bool,
    },
}

#[derive(Subcommand)]
enum MixinCommand {
    /// Push a component as a Wasm OCI artifact
    Push {
        /// The component file
        file: PathBuf,
        /// Where to push it (registry/repository:tag)
        reference: String,
        /// Source URL to record in the annotations
        #[arg(long)]
        source: Option<String>,
        /// Sign the pushed digest too (needs --key)
        #[arg(long, requires = "key")]
        sign: bool,
        /// Private key for --sign (cosign format); password from COSIGN_PASSWORD or a prompt
        #[arg(long)]
        key: Option<PathBuf>,
        /// Claim to sign with --sign, KEY=VALUE (repeatable)
        #[arg(short = 'a', long = "annotation", value_name = "KEY=VALUE")]
        annotations: Vec<String>,
    },
    /// Sign an artifact's manifest digest, the way cosign does
    Sign(signing_cli::SignArgs),
    /// Check an artifact's signatures against a key, an identity or the trust policy
    Verify(signing_cli::VerifyArgs),
    /// Pull an artifact into the cache
    Pull {
        /// Reference (tag or digest)
        reference: String,
    },
    /// List cached artifacts
    List,
    /// Show an artifact's manifest, config, world and needs
    Inspect {
        /// Reference (tag or digest)
        reference: String,
    },
    /// Remove cached artifacts by reference or digest (blobs go at `cache prune`)
    Rm {
        /// Reference or digest
        reference: String,
    },
    /// Write artifacts into an OCI image-layout directory
    Save {
        /// References to save (pulled first if needed)
        #[arg(required = true)]
        references: Vec<String>,
        /// The directory to write
        #[arg(long, short = 'O')]
        out: PathBuf,
    },
    /// Import an OCI image-layout directory into the cache, checking every digest
    Load {
        /// The layout directory
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum CacheCommand {
    /// Delete blobs no cached artifact uses
    Prune,
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Save credentials for a registry in Docker's config.json
    Login {
        /// Registry host[:port]
        registry: String,
        /// User name
        #[arg(long, short)]
        username: String,
        /// Read the password from standard input
        #[arg(long, required = true)]
        password_stdin: bool,
    },
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
    #[arg(long, value_enum, env = "WASMIX_DRIVER", default_value_t = DriverKind::Host)]
    driver: DriverKind,
    /// When the docker driver pulls images
    #[arg(long, value_enum, default_value_t = Pull::Missing)]
    pull: Pull,
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
            Some(RunError::Oci(wasmix::oci::OciError::Untrusted(_))) => exit::UNTRUSTED,
            Some(_) => exit::ENVIRONMENT,
            None if matches!(
                error.downcast_ref::<wasmix::oci::OciError>(),
                Some(wasmix::oci::OciError::Untrusted(_))
            ) =>
            {
                exit::UNTRUSTED
            }
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

fn runtime(cli: &Cli, driver: DriverKind, manifest: &Manifest) -> Result<Runtime, Failure> {
    runtime_with(cli, driver, Pull::Missing, manifest)
}

fn runtime_with(
    cli: &Cli,
    driver: DriverKind,
    pull: Pull,
    manifest: &Manifest,
) -> Result<Runtime, Failure> {
    let home = home(cli)?;
    let mixin_path = match &cli.mixin_path {
        Some(p) => MixinPath::parse(p),
        None => MixinPath(vec![home.join("mixins")]),
    };
    let driver: Arc<dyn Driver> = match driver {
        DriverKind::Host => Arc::new(HostDriver),
        DriverKind::Debug => Arc::new(DebugDriver::printing()),
        DriverKind::Docker => {
            let policy = match pull {
                Pull::Never => PullPolicy::Never,
                Pull::Missing => PullPolicy::Missing,
                Pull::Always => PullPolicy::Always,
            };
            Arc::new(DockerDriver::connect(None, policy).map_err(|e| Failure {
                code: exit::ENVIRONMENT,
                error: e.into(),
            })?)
        }
    };
    Ok(Runtime {
        engine: MixinEngine::with_pool(
            Some(home.join("cache").join("compiled")),
            Some(wasmix::run::pool_for(manifest, Limits::default())),
        )?,
        mixin_path,
        driver,
        limits: Limits::default(),
        oci: Some(oci_source(cli)?),
    })
}

fn registry(cli: &Cli) -> Result<Registry, Failure> {
    let config = RegistryConfig {
        insecure: cli.insecure_registries.clone(),
        max_layer: cli.max_mixin_size,
        // Progress on a terminal only, and never mixed into JSON output.
        progress: std::io::stderr().is_terminal() && cli.output == Format::Text,
        ..Default::default()
    };
    Ok(Registry::new(config)?)
}

fn oci_source(cli: &Cli) -> Result<OciSource, Failure> {
    Ok(OciSource {
        cache: Cache::open(&home(cli)?.join("cache").join("oci"))?,
        registry: if cli.offline {
            None
        } else {
            Some(registry(cli)?)
        },
        namespace: cli.mixin_namespace.clone(),
        policy: signing_cli::policy(cli)?,
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
        Command::Mixin(c) => mixin(cli, c),
        Command::Key(c) => signing_cli::key(c),
        Command::Trust(c) => signing_cli::trust(cli, c),
        Command::Cache(CacheCommand::Prune) => {
            let (files, bytes) = oci_source(cli)?.cache.prune()?;
            println!("removed {files} file(s), {bytes} bytes");
            Ok(0)
        }
        Command::Registry(RegistryCommand::Login {
            registry: host,
            username,
            password_stdin: _,
        }) => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\n', '\r']);
            let reg = registry(cli)?;
            reg.check_login(host, username, password)?;
            let path = reg
                .config()
                .docker_config
                .clone()
                .ok_or_else(|| anyhow!("no Docker config path: set HOME or DOCKER_CONFIG"))?;
            wasmix::oci::client::save_login(&path, host, username, password)?;
            println!(
                "login succeeded; credentials for {host} saved in {}",
                path.display()
            );
            Ok(0)
        }
        Command::Lock {
            path,
            update,
            accept_capabilities,
        } => lock(cli, path, *update, *accept_capabilities),
    }
}

fn mixin(cli: &Cli, c: &MixinCommand) -> Result<u8, Failure> {
    let oci = oci_source(cli)?;
    let max_layer = cli.max_mixin_size;
    let need_registry = |what: &str| {
        oci.registry.as_ref().ok_or_else(|| {
            Failure::from(wasmix::oci::OciError::Offline {
                reference: what.to_string(),
            })
        })
    };
    let json = cli.output == Format::Json;
    match c {
        MixinCommand::Sign(args) => return signing_cli::sign(cli, &oci, args),
        MixinCommand::Verify(args) => return signing_cli::verify(cli, &oci, args),
        MixinCommand::Push {
            file,
            reference,
            source,
            sign,
            key,
            annotations,
        } => {
            let signer = match (sign, key) {
                (true, Some(k)) => Some(signing_cli::Signer::open(k, annotations)?),
                (true, None) => return Err(bad_input(anyhow!("--sign needs --key"))),
                (false, _) => None,
            };
            let wasm =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let engine = MixinEngine::new(None)?;
            let loaded = engine.load("pushed", file)?;
            let meta = ArtifactMeta {
                name: loaded.info.name.clone(),
                version: loaded.info.version.clone(),
                source: source.clone(),
                created: wasmix::store::rfc3339(wasmix::store::now()),
                imports: loaded.imports.clone(),
                exports: loaded.exports.clone(),
            };
            let art = artifact::build(&wasm, &meta);
            let parsed = parse_reference(reference)?;
            let digest = need_registry(reference)?.push(&wasm, &art, &parsed)?;
            for (d, bytes) in [
                (&art.config_digest, &art.config),
                (&art.layer_digest, &wasm),
                (&art.manifest_digest, &art.manifest),
            ] {
                oci.cache.write_blob(d, bytes)?;
            }
            oci.cache.record(
                reference,
                &digest,
                &WasmManifest::parse(reference, &art.manifest, max_layer)?,
            )?;
            if let Some(signer) = &signer {
                signing_cli::sign_digest(
                    need_registry(reference)?,
                    &oci,
                    &parsed,
                    &digest,
                    signer,
                )?;
            }
            if json {
                println!(
                    "{}",
                    serde_json::json!({"reference": reference, "digest": digest})
                );
            } else {
                println!(
                    "pushed {} {} as {reference}@{digest}",
                    meta.name, meta.version
                );
            }
        }
        MixinCommand::Pull { reference } => {
            let parsed = parse_reference(reference)?;
            let pulled = need_registry(reference)?.pull(&parsed, &oci.cache, &oci.policy)?;
            let (digest, m) = (&pulled.digest, &pulled.manifest);
            if json {
                println!(
                    "{}",
                    serde_json::json!({"reference": reference, "digest": digest, "size": m.layer.size, "verification": pulled.verification})
                );
            } else {
                println!("pulled {reference}@{digest} ({} bytes)", m.layer.size);
                match pulled.verification.status {
                    wasmix::oci::trust::Status::Unverified => {
                        eprintln!("warning: {reference}: {}", pulled.verification.verdict)
                    }
                    _ => println!("  {}", pulled.verification.verdict),
                }
            }
        }
        MixinCommand::List => {
            let entries = oci.cache.entries();
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else if entries.is_empty() {
                println!("the mixin cache is empty");
            } else {
                println!(
                    "{:<16} {:<10} {:<10} {:<73} REFERENCES",
                    "MIXIN", "VERSION", "SIZE", "DIGEST"
                );
                for e in entries {
                    println!(
                        "{:<16} {:<10} {:<10} {:<73} {}",
                        e.mixin.as_deref().unwrap_or("-"),
                        e.version.as_deref().unwrap_or("-"),
                        e.size,
                        e.digest,
                        e.references.join(", ")
                    );
                }
            }
        }
        MixinCommand::Inspect { reference } => {
            let cached = oci
                .cache
                .entries()
                .into_iter()
                .find(|e| &e.digest == reference || e.references.contains(reference));
            let digest = match cached {
                Some(e) => e.digest,
                None => {
                    need_registry(reference)?
                        .pull(&parse_reference(reference)?, &oci.cache, &oci.policy)?
                        .digest
                }
            };
            let (m, path) = oci.cache.artifact(&digest, max_layer)?;
            let manifest: serde_json::Value =
                serde_json::from_slice(&oci.cache.read_blob(&digest)?)?;
            let config: serde_json::Value =
                serde_json::from_slice(&oci.cache.read_blob(&m.config.digest)?)?;
            let loaded = MixinEngine::new(None)?.load(m.mixin_name().unwrap_or("mixin"), &path)?;
            let doc = serde_json::json!({
                "reference": reference,
                "digest": digest,
                "manifest": manifest,
                "config": config,
                "world": config["component"]["target"],
                "mixin": {"name": loaded.info.name, "version": loaded.info.version, "summary": loaded.info.summary},
                "needs": loaded.imports,
                "exports": loaded.exports,
            });
            if json {
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                println!(
                    "{reference}\n  digest:  {digest}\n  mixin:   {} {} ({})",
                    loaded.info.name, loaded.info.version, loaded.info.summary
                );
                println!(
                    "  world:   {}\n  layer:   {} ({} bytes)",
                    doc["world"].as_str().unwrap_or("-"),
                    m.layer.digest,
                    m.layer.size
                );
                println!("  needs:   {}", loaded.imports.join(", "));
                println!("  exports: {}", loaded.exports.join(", "));
                println!(
                    "manifest:\n{}\nconfig:\n{}",
                    serde_json::to_string_pretty(&manifest)?,
                    serde_json::to_string_pretty(&config)?
                );
            }
        }
        MixinCommand::Rm { reference } => {
            let n = oci.cache.remove(reference);
            if n == 0 {
                return Err(bad_input(anyhow!(
                    "no cached artifact matches {reference:?}; see `wasmix mixin list`"
                )));
            }
            println!(
                "removed {n} cached artifact(s); run `wasmix cache prune` to free their blobs"
            );
        }
        MixinCommand::Save { references, out } => {
            let mut items = Vec::new();
            for r in references {
                let cached = oci
                    .cache
                    .entries()
                    .into_iter()
                    .find(|e| &e.digest == r || e.references.contains(r));
                let digest = match cached {
                    Some(e) => e.digest,
                    None => {
                        need_registry(r)?
                            .pull(&parse_reference(r)?, &oci.cache, &oci.policy)?
                            .digest
                    }
                };
                items.push((r.clone(), digest));
            }
            wasmix::oci::layout::save(&oci.cache, &items, out, max_layer)?;
            println!("saved {} artifact(s) to {}", items.len(), out.display());
        }
        MixinCommand::Load { dir } => {
            let loaded = wasmix::oci::layout::load(&oci.cache, dir, max_layer)?;
            println!("loaded {}", loaded.join(", "));
        }
    }
    Ok(0)
}

fn lock(cli: &Cli, path: &Path, update: bool, accept: bool) -> Result<u8, Failure> {
    let manifest = load_manifest(path)?;
    let oci = oci_source(cli)?;
    let old = wasmix::lock::read(&manifest)
        .map_err(|e| bad_input(e.into()))?
        .map(|l| l.mixins)
        .unwrap_or_default();
    let mut pins = std::collections::BTreeMap::new();
    let mut moved = Vec::new();
    for d in manifest.mixins.iter() {
        let Some(reference) = &d.reference else {
            continue;
        };
        let registry = oci.registry.as_ref().ok_or_else(|| {
            Failure::from(wasmix::oci::OciError::Offline {
                reference: reference.clone(),
            })
        })?;
        let parsed = parse_reference(reference)?;
        let (digest, bytes) = registry.resolve(&parsed)?;
        // Never pin what the trust policy would refuse to run.
        let artifact = WasmManifest::parse(reference, &bytes, cli.max_mixin_size)?;
        wasmix::oci::trust::check(
            &oci.policy,
            Some(registry),
            &oci.cache,
            &parsed,
            &digest,
            &artifact,
        )?;
        match old.get(&d.name) {
            Some(p) if p.reference == *reference && p.digest != digest && !update => {
                moved.push(format!(
                    "  {} ({reference}): locked {}, now {digest}",
                    d.name, p.digest
                ));
                pins.insert(d.name.clone(), p.clone());
            }
            _ => {
                pins.insert(
                    d.name.clone(),
                    wasmix::lock::LockedMixin {
                        reference: reference.clone(),
                        digest,
                    },
                );
            }
        }
    }
    if !moved.is_empty() {
        return Err(bad_input(anyhow!(
            "tags moved since wasmix.lock was written:\n{}\nwasmix keeps using the locked digests; run `wasmix lock --update` to follow the tags",
            moved.join("\n")
        )));
    }
    wasmix::lock::check(&manifest, accept, &pins).map_err(|e| bad_input(e.into()))?;
    for (name, p) in &pins {
        println!("{name}: {}@{}", p.reference, p.digest);
    }
    println!(
        "{} is up to date",
        manifest.dir.join(wasmix::lock::LOCK_FILE).display()
    );
    Ok(0)
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
    let rt = runtime_with(cli, a.driver, a.pull, &manifest)?;
    let prepared = rt.prepare(&manifest, name)?;
    wasmix::lock::check(&manifest, a.accept_capabilities, &prepared.pins)
        .map_err(|e| bad_input(e.into()))?;
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
    if wasmix::driver::INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(exit::INTERRUPTED);
    }
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
    let rt = runtime(cli, DriverKind::Debug, &manifest)?;
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
    let rt = runtime(cli, DriverKind::Debug, &m)?;
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
