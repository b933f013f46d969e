//! `wasmix mixin …` and `wasmix cache prune`: mixin artifacts in registries,
//! the local cache, and OCI layout directories.

use super::output::print_json;
use super::{bad_input, oci_source, signing, Cli, Failure, Format};
use anyhow::anyhow;
use clap::Subcommand;
use std::path::PathBuf;
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
    if cli.output == Format::Json {
        println!(
            "{}",
            serde_json::json!({"removedFiles": files, "removedBytes": bytes})
        );
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

/// Run a `mixin` subcommand.
pub fn run(cli: &Cli, c: &MixinCommand) -> Result<u8, Failure> {
    let oci = oci_source(cli)?;
    let max_layer = cli.max_mixin_size;
    let json = cli.output == Format::Json;
    match c {
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
                println!(
                    "{}",
                    serde_json::json!({"reference": reference, "digest": published.digest})
                );
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
                print_json(&entries)?;
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
                print_json(&doc)?;
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
                println!("{}", serde_json::json!({"removed": n}));
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
                println!("{}", serde_json::json!({"directory": out, "saved": saved}));
            } else {
                println!("saved {} artifact(s) to {}", items.len(), out.display());
            }
        }
        MixinCommand::Load { dir } => {
            let loaded = wasmix::oci::layout::load(&oci.cache, dir, max_layer)?;
            if json {
                println!("{}", serde_json::json!({"loaded": loaded}));
            } else {
                println!("loaded {}", loaded.join(", "));
            }
        }
    }
    Ok(0)
}
