//! `wasmix mixin …` and `wasmix cache prune`: mixin artifacts in registries,
//! the local cache, and OCI layout directories.

use super::output::print_doc;
use super::{bad_input, home, oci_source, signing, Cli, Failure};
use anyhow::anyhow;
use clap::Subcommand;
use std::path::PathBuf;
use wasmix::authoring::{self, Lang};
use wasmix::oci::client::parse_reference;
use wasmix::oci::{OciError, OciSource};
use wasmix::publish::publish_mixin;
use wasmix::sandbox::MixinEngine;

/// `wasmix mixin …`
#[derive(Subcommand)]
pub enum MixinCommand {
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
    Sign(signing::SignArgs),
    /// Check an artifact's signatures against a key, an identity or the trust policy
    Verify(signing::VerifyArgs),
    /// Pull an artifact into the cache
    Pull {
        /// Reference (tag or digest)
        reference: String,
        /// Also write the component to this file (checked against its digest first)
        #[arg(long, short = 'O', value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// List mixins: on the mixin path, built in (beside the binary), and cached from registries
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
    /// Start a new mixin: a working example with a test, in Rust, Python or JavaScript
    New {
        /// The mixin's name (lowercase letters, digits, `-`)
        name: String,
        /// The language to write it in
        #[arg(long, value_enum, default_value = "rust")]
        lang: Lang,
        /// Where to create it (default: ./NAME)
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Build the mixin in DIR into DIR/NAME.wasm (cargo, componentize-py or componentize-js), then check it
    Build {
        /// The mixin's directory
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Check a component: size, exports, imports against what the host provides, schemas, and a dry run of describe and lint
    Check {
        /// The component file
        file: PathBuf,
        /// The action to lint the step for
        #[arg(long, default_value = "install")]
        action: String,
        /// A step body to validate against the schema and lint, as YAML or JSON (`{name: world}`)
        #[arg(long)]
        step: Option<String>,
    },
}

/// `wasmix cache …`
#[derive(Subcommand)]
pub enum CacheCommand {
    /// Delete blobs no cached artifact uses
    Prune,
}

/// Run a `cache` subcommand.
pub fn cache(cli: &Cli, c: &CacheCommand) -> Result<u8, Failure> {
    let CacheCommand::Prune = c;
    let cache = oci_source(cli)?.cache;
    let (files, bytes) = cache.prune(wasmix::bundle::cache::blobs_in_use(&cache))?;
    if cli.output.is_structured() {
        print_doc(&serde_json::json!({"removedFiles": files, "removedBytes": bytes}))?;
    } else {
        println!("removed {files} file(s), {bytes} bytes");
    }
    Ok(0)
}

/// The registry, or the offline error naming what needed it.
fn need_registry<'a>(oci: &'a OciSource, what: &str) -> Result<&'a wasmix::oci::Registry, Failure> {
    Ok(oci.registry.as_ref().ok_or_else(|| OciError::Offline {
        reference: what.to_string(),
    })?)
}

/// The digest of `reference`: from the cache when it is there, else pulled.
fn cached_or_pulled(oci: &OciSource, reference: &str) -> Result<String, Failure> {
    let cached = oci
        .cache
        .entries()
        .into_iter()
        .find(|e| e.digest == reference || e.references.iter().any(|r| r == reference));
    Ok(match cached {
        Some(e) => e.digest,
        None => {
            need_registry(oci, reference)?
                .pull(&parse_reference(reference)?, &oci.cache, &oci.policy)?
                .digest
        }
    })
}

/// `mixin push FILE REF`, or ORAS's order `REF FILE[:application/wasm]`:
/// whichever argument is an existing file is the component. A media type
/// other than `application/wasm` after the file is refused.
fn oras_order(file: &std::path::Path, reference: &str) -> Result<(PathBuf, String), Failure> {
    if file.is_file() {
        return Ok((file.to_path_buf(), reference.to_string()));
    }
    let (path, media) = match reference.rsplit_once(':') {
        Some((p, m)) if !std::path::Path::new(reference).is_file() && m.contains('/') => {
            (p, Some(m))
        }
        _ => (reference, None),
    };
    if !std::path::Path::new(path).is_file() {
        return Err(bad_input(anyhow!(
            "{}: no such component file (usage: wasmix mixin push FILE REGISTRY/REPO:TAG)",
            file.display()
        )));
    }
    if let Some(m) = media.filter(|m| *m != wasmix::oci::LAYER_MEDIA_TYPE) {
        return Err(bad_input(anyhow!(
            "{path}: a mixin is pushed as {}, not {m}",
            wasmix::oci::LAYER_MEDIA_TYPE
        )));
    }
    Ok((PathBuf::from(path), file.display().to_string()))
}

/// A component found on the mixin path (built-in ones included).
#[derive(serde::Serialize)]
struct LocalMixin {
    /// The name bundles use for it.
    name: String,
    /// `path` (the operator's mixin path) or `built-in` (beside the binary).
    source: &'static str,
    /// What the component says its version is; absent when it did not load.
    version: Option<String>,
    /// sha256 of the file.
    digest: String,
    file: PathBuf,
    /// The file an install uses instead, found earlier on the path.
    #[serde(skip_serializing_if = "Option::is_none")]
    shadowed_by: Option<PathBuf>,
    /// Why the component could not be loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

/// Every component on the mixin path, in the order an install looks, with
/// the ones a file earlier on the path overrides marked.
fn local_mixins(cli: &Cli) -> Result<Vec<LocalMixin>, Failure> {
    use sha2::Digest as _;
    let path = super::actions::mixin_path(cli)?;
    let builtin = wasmix::resolve::builtin_dir();
    let engine = MixinEngine::new(Some(home(cli)?.join("cache").join("compiled")))?;
    let mut found: Vec<LocalMixin> = Vec::new();
    let mut first: std::collections::BTreeMap<String, PathBuf> = Default::default();
    for dir in &path.0 {
        let Ok(read) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
        // In `locate`'s order: by name, `NAME.wasm` before `wasmix_NAME.wasm`.
        files.sort_by_key(|f| {
            let prefixed = f
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("wasmix_"));
            (wasmix::resolve::mixin_name_of(f), prefixed)
        });
        for file in files {
            let Some(name) = wasmix::resolve::mixin_name_of(&file) else {
                continue;
            };
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)));
            let (version, problem) = match engine.load(&name, &file) {
                Ok(m) => (Some(m.info.version), None),
                Err(e) => (None, Some(e.to_string())),
            };
            let source = if dir.canonicalize().ok() == builtin {
                "built-in"
            } else {
                "path"
            };
            // `locate` takes NAME.wasm before wasmix_NAME.wasm in a directory
            // and the first directory that has either.
            let shadowed_by = first.get(&name).cloned();
            first.entry(name.clone()).or_insert_with(|| file.clone());
            found.push(LocalMixin {
                name,
                source,
                version,
                digest,
                file,
                shadowed_by,
                problem,
            });
        }
    }
    Ok(found)
}

/// `mixin check`: the report, or the refusal naming what is wrong.
fn check(
    cli: &Cli,
    file: &std::path::Path,
    action: &str,
    step: Option<&str>,
) -> Result<u8, Failure> {
    // Porter steps are YAML; JSON is YAML too.
    let step: Option<serde_json::Value> = step
        .map(serde_yaml::from_str)
        .transpose()
        .map_err(|e| bad_input(anyhow!("--step is not YAML or JSON: {e}")))?;
    let engine = MixinEngine::new(Some(home(cli)?.join("cache").join("compiled")))?;
    let report = authoring::check::check(&engine, file, cli.max_mixin_size, action, step.as_ref())
        .map_err(|e| match e {
            authoring::check::CheckError::Read(..) | authoring::check::CheckError::NotAMixin(_) => {
                Failure::from(anyhow!("{e}"))
            }
            other => bad_input(anyhow!("{other}")),
        })?;
    // Without a step, lint ran on `{}` only to show it does not trap.
    let errors = match &report.step {
        Some(_) => report.lint.iter().filter(|f| f.severity == "error").count(),
        None => 0,
    };
    if cli.output.is_structured() {
        print_doc(&report)?;
    } else {
        println!(
            "{}: mixin {} {} — {}",
            report.file, report.name, report.version, report.summary
        );
        println!(
            "  size     {} bytes (limit {}), {}",
            report.size, report.max_size, report.digest
        );
        println!("  exports  {}", report.exports.join(", "));
        println!(
            "  imports  {} (all provided by the host)",
            report
                .imports
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "  schemas  step schema enforceable; {}",
            if report.config_schema {
                "takes a configuration"
            } else {
                "no configuration"
            }
        );
        println!("  loaded   in {} ms", report.load_ms);
        match &report.step {
            None => println!(
                "  lint     ran on an empty {action} step ({} findings); pass --step to check one",
                report.lint.len()
            ),
            Some(_) if report.lint.is_empty() => println!("  lint     {action} step: no findings"),
            Some(_) => {}
        }
        for f in report.lint.iter().filter(|_| report.step.is_some()) {
            let at = if f.path.is_empty() {
                String::new()
            } else {
                format!(" at {}", f.path)
            };
            println!(
                "  lint     {action} step: {} {}{at}: {}",
                f.severity, f.code, f.message
            );
        }
    }
    Ok(if errors > 0 {
        wasmix::exit::ExitClass::BadInput.code()
    } else {
        0
    })
}

/// Run a `mixin` subcommand.
pub fn run(cli: &Cli, c: &MixinCommand) -> Result<u8, Failure> {
    match c {
        MixinCommand::New { name, lang, dir } => {
            let dir = dir.clone().unwrap_or_else(|| PathBuf::from(name));
            let files = authoring::scaffold::scaffold(name, *lang, &dir)
                .map_err(|e| bad_input(anyhow!("{e}")))?;
            if cli.output.is_structured() {
                print_doc(
                    &serde_json::json!({"name": name, "lang": lang, "dir": dir, "files": files}),
                )?;
            } else {
                println!(
                    "created {} (mixin {name}, {}):",
                    dir.display(),
                    lang.label()
                );
                for f in &files {
                    println!("  {}", f.display());
                }
                println!("next: wasmix mixin build {}", dir.display());
            }
            return Ok(0);
        }
        MixinCommand::Build { dir } => {
            let built = authoring::build::build(dir).map_err(|e| match e {
                authoring::build::BuildError::Unknown(_)
                | authoring::build::BuildError::Project(_) => bad_input(anyhow!("{e}")),
                other => Failure::from(anyhow!("{other}")),
            })?;
            if !cli.output.is_structured() {
                println!("built {}", built.file.display());
            }
            return check(cli, &built.file, "install", None);
        }
        MixinCommand::Check { file, action, step } => {
            return check(cli, file, action, step.as_deref())
        }
        // The rest work with registries and the cache.
        _ => {}
    }
    let oci = oci_source(cli)?;
    let max_layer = cli.max_mixin_size;
    let json = cli.output.is_structured();
    match c {
        // Authoring commands need no registry; they returned above.
        MixinCommand::New { .. } | MixinCommand::Build { .. } | MixinCommand::Check { .. } => {}
        MixinCommand::Sign(args) => return signing::sign(cli, &oci, args, signing::Kind::Mixin),
        MixinCommand::Verify(args) => {
            return signing::verify(cli, &oci, args, signing::Kind::Mixin)
        }
        MixinCommand::Push {
            file,
            reference,
            source,
            sign,
            key,
            annotations,
        } => {
            let (file, reference) = oras_order(file, reference)?;
            let (file, reference) = (&file, &reference);
            // The key is opened (and its password read) before anything is
            // pushed, so a wrong password leaves nothing unsigned behind.
            let signer = match (sign, key) {
                (true, Some(k)) => Some(signing::Signer::open(k, annotations)?),
                (true, None) => return Err(bad_input(anyhow!("--sign needs --key"))),
                (false, _) => None,
            };
            let published = publish_mixin(&oci, file, reference, source.clone())?;
            if let Some(signer) = &signer {
                signing::sign_digest(
                    need_registry(&oci, reference)?,
                    &oci,
                    &parse_reference(reference)?,
                    &published.digest,
                    signer,
                )?;
            }
            if json {
                print_doc(
                    &serde_json::json!({"reference": reference, "digest": published.digest}),
                )?;
            } else {
                println!(
                    "pushed {} {} as {reference}@{}",
                    published.meta.name, published.meta.version, published.digest
                );
            }
        }
        MixinCommand::Pull { reference, out } => {
            let parsed = parse_reference(reference)?;
            let pulled = need_registry(&oci, reference)?.pull(&parsed, &oci.cache, &oci.policy)?;
            let (digest, m) = (&pulled.digest, &pulled.manifest);
            if let Some(file) = out {
                // read_blob hashes the bytes against the layer digest.
                let wasm = oci.cache.read_blob(&m.layer.digest)?;
                wasmix::fsutil::write_atomic(file, &wasm)
                    .map_err(|e| anyhow!("writing {}: {e}", file.display()))?;
            }
            if json {
                print_doc(
                    &serde_json::json!({"reference": reference, "digest": digest, "size": m.layer.size, "verification": pulled.verification}),
                )?;
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
            let local = local_mixins(cli)?;
            let cached = oci.cache.entries();
            if json {
                print_doc(&serde_json::json!({"local": local, "cached": cached}))?;
                return Ok(0);
            }
            if local.is_empty() {
                println!("no mixin on the mixin path and none built in");
            } else {
                println!(
                    "{:<16} {:<10} {:<9} {:<73} FILE",
                    "MIXIN", "VERSION", "SOURCE", "DIGEST"
                );
                for m in &local {
                    let source = match &m.shadowed_by {
                        Some(_) => format!("{} (overridden)", m.source),
                        None => m.source.to_string(),
                    };
                    println!(
                        "{:<16} {:<10} {:<9} {:<73} {}",
                        m.name,
                        m.version.as_deref().unwrap_or("-"),
                        source,
                        m.digest,
                        m.file.display()
                    );
                    if let Some(problem) = &m.problem {
                        println!("  not loadable: {problem}");
                    }
                }
            }
            println!();
            if cached.is_empty() {
                println!("the mixin cache is empty");
            } else {
                println!(
                    "{:<16} {:<10} {:<10} {:<73} REFERENCES",
                    "CACHED", "VERSION", "SIZE", "DIGEST"
                );
                for e in cached {
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
            let digest = cached_or_pulled(&oci, reference)?;
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
                print_doc(&doc)?;
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
            if json {
                print_doc(&serde_json::json!({"removed": n}))?;
            } else {
                println!(
                    "removed {n} cached artifact(s); run `wasmix cache prune` to free their blobs"
                );
            }
        }
        MixinCommand::Save { references, out } => {
            let items = references
                .iter()
                .map(|r| Ok((r.clone(), cached_or_pulled(&oci, r)?)))
                .collect::<Result<Vec<_>, Failure>>()?;
            wasmix::oci::layout::save(&oci.cache, &items, out, max_layer)?;
            if json {
                let saved: Vec<_> = items
                    .iter()
                    .map(|(r, d)| serde_json::json!({"reference": r, "digest": d}))
                    .collect();
                print_doc(&serde_json::json!({"directory": out, "saved": saved}))?;
            } else {
                println!("saved {} artifact(s) to {}", items.len(), out.display());
            }
        }
        MixinCommand::Load { dir } => {
            let loaded = wasmix::oci::layout::load(&oci.cache, dir, max_layer)?;
            if json {
                print_doc(&serde_json::json!({"loaded": loaded}))?;
            } else {
                println!("loaded {}", loaded.join(", "));
            }
        }
    }
    Ok(0)
}
