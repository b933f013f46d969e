//! `wasmix publish` and `wasmix bundle …`: bundles as OCI artifacts; and
//! how every command that takes a bundle finds it — a directory, a manifest
//! file, or a registry reference (`--reference`, or a positional argument
//! that names a registry host), optionally picked by `--version`.

use super::output::print_doc;
use super::{bad_input, home, oci_source, oci_source_for, signing, Cli, Failure};
use anyhow::anyhow;
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::path::PathBuf;
use wasmix::bundle::artifact::{BundleManifest, Caps};
use wasmix::bundle::{self, FetchedBundle, MixinPin};
use wasmix::lock::LockedMixin;
use wasmix::manifest::{self, Manifest};
use wasmix::oci::client::parse_reference;
use wasmix::oci::{OciError, OciSource};
use wasmix::redact::sanitize;
use wasmix::run::PinnedComponent;

/// Which bundle a command works on.
#[derive(Args, Clone, Default)]
pub struct BundleArg {
    /// Bundle directory, manifest file, or registry reference
    /// (REGISTRY/REPOSITORY[:TAG|@DIGEST]) [default: the installation's
    /// bundle, else the current directory]
    #[arg(value_name = "BUNDLE")]
    pub bundle: Option<String>,
    /// The bundle's registry reference (Porter's spelling)
    #[arg(long, conflicts_with = "bundle", value_name = "REF")]
    pub reference: Option<String>,
    /// Pick the newest tag of the reference's repository satisfying this semver range (e.g. '^1.2')
    #[arg(long, value_name = "RANGE")]
    pub version: Option<String>,
}

/// Where a bundle is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A directory or manifest file.
    Local(PathBuf),
    /// A registry reference.
    Registry(String),
}

/// True when `text` names a registry host: `host.domain/…`, `host:port/…`,
/// `localhost/…`, or carries a digest. A bare `a/b` stays a path, so a
/// mistyped directory is not looked up on Docker Hub; `--reference` takes
/// any reference.
pub fn looks_like_reference(text: &str) -> bool {
    if text.contains("@sha256:") {
        return true;
    }
    match text.split_once('/') {
        Some((host, rest)) => {
            !rest.is_empty() && (host.contains('.') || host.contains(':') || host == "localhost")
        }
        None => false,
    }
}

impl BundleArg {
    /// Where the bundle is: the argument, else `remembered` (an
    /// installation's bundle: an absolute path, or `registry/repo@digest`),
    /// else the current directory.
    pub fn source(&self, remembered: Option<String>) -> Result<Source, Failure> {
        if let Some(r) = &self.reference {
            return Ok(Source::Registry(r.clone()));
        }
        let source = match (&self.bundle, remembered) {
            (Some(text), _) => {
                if std::path::Path::new(text).exists() {
                    Source::Local(PathBuf::from(text))
                } else if looks_like_reference(text) {
                    Source::Registry(text.clone())
                } else {
                    return Err(bad_input(anyhow!(
                        "{text}: no such bundle directory or manifest file, and not a registry \
                         reference (REGISTRY/REPOSITORY[:TAG|@DIGEST]); use --reference for a \
                         reference without a registry host"
                    )));
                }
            }
            (None, Some(r)) if r.starts_with('/') => Source::Local(PathBuf::from(r)),
            (None, Some(r)) => Source::Registry(r),
            (None, None) => Source::Local(PathBuf::from(".")),
        };
        if self.version.is_some() && matches!(source, Source::Local(_)) {
            return Err(bad_input(anyhow!(
                "--version picks a tag of a registry repository; name one with --reference"
            )));
        }
        Ok(source)
    }
}

/// A bundle opened for a command: its manifest, and when it came from a
/// registry, what was fetched and the source it was fetched through.
pub struct Opened {
    /// The manifest.
    pub manifest: Manifest,
    /// The fetched artifact, for a registry bundle.
    pub fetched: Option<(FetchedBundle, OciSource)>,
    /// A registry bundle's working copy, removed when the command ends.
    _work: Option<tempfile::TempDir>,
}

/// A registry bundle, opened in a fresh working copy of its cached tree.
fn opened(cli: &Cli, fetched: FetchedBundle, oci: OciSource) -> Result<Opened, Failure> {
    if let Some(w) = fetched.warning() {
        eprintln!("warning: {}", sanitize(&w));
    }
    let tmp = home(cli)?.join("tmp");
    wasmix::fsutil::private_dir(&tmp)?;
    let work = tempfile::Builder::new()
        .prefix("bundle-")
        .tempdir_in(&tmp)?;
    bundle::cache::working_copy(&fetched.dir, work.path())?;
    // Problems are located by the bundle's reference, not the working copy.
    let shown = format!("{}@{}", fetched.reference, fetched.digest);
    let manifest = match manifest::load(work.path()) {
        Ok(mut m) => {
            // Display only: the bundle directory (`m.dir`) stays the copy.
            let name = std::path::PathBuf::from(format!("{shown}/porter.yaml"));
            m.source.show_as(name.clone());
            m.file = name;
            m
        }
        Err(e) => {
            let text = e
                .to_string()
                .replace(&work.path().display().to_string(), &shown);
            return Err(bad_input(anyhow!(text)));
        }
    };
    Ok(Opened {
        manifest,
        fetched: Some((fetched, oci)),
        _work: Some(work),
    })
}

impl Opened {
    /// The mixins a registry bundle pins, for the runtime.
    pub fn pinned(&self) -> Result<Option<BTreeMap<String, PinnedComponent>>, Failure> {
        let Some((f, oci)) = &self.fetched else {
            return Ok(None);
        };
        let files = f.bundled_components(oci)?;
        let mut out = BTreeMap::new();
        for (name, pin) in &f.config.mixins {
            let c = match pin {
                MixinPin::Bundled { .. } => {
                    let (path, digest) = files.get(name).cloned().ok_or_else(|| {
                        anyhow!(
                            "bundle {}: mixin {name} is pinned but not carried",
                            f.reference
                        )
                    })?;
                    PinnedComponent::File { path, digest }
                }
                MixinPin::Registry { reference, digest } => {
                    PinnedComponent::Registry(LockedMixin {
                        reference: reference.clone(),
                        digest: digest.clone(),
                    })
                }
            };
            out.insert(name.clone(), c);
        }
        Ok(Some(out))
    }
}

/// Open the bundle `arg` names (see [`BundleArg::source`]).
pub fn open(cli: &Cli, arg: &BundleArg, remembered: Option<String>) -> Result<Opened, Failure> {
    match arg.source(remembered)? {
        Source::Local(path) => Ok(Opened {
            manifest: manifest::load(&path)?,
            fetched: None,
            _work: None,
        }),
        Source::Registry(reference) => {
            let oci = oci_source_for(cli, true)?;
            let reference = match &arg.version {
                Some(range) => {
                    bundle::version::resolve(need_registry(&oci, &reference)?, &reference, range)?
                }
                None => reference,
            };
            let fetched = bundle::fetch(&oci, &reference, Caps::default())?;
            opened(cli, fetched, oci)
        }
    }
}

/// Open the bundle in archive `file` (from `bundle archive`): loaded into
/// the cache and fetched from there, with no network.
pub fn open_archive(cli: &Cli, file: &std::path::Path) -> Result<Opened, Failure> {
    let oci = oci_source_for(cli, false)?;
    let reference = bundle::archive::load(&oci, file)?;
    let fetched = bundle::fetch(&oci, &reference, Caps::default())?;
    opened(cli, fetched, oci)
}

/// Where the operator's lock for installation `name` of a registry bundle
/// lives: the artifact in the cache is never written to.
pub fn installation_lock(cli: &Cli, name: &str) -> Result<PathBuf, Failure> {
    Ok(home(cli)?
        .join("locks")
        .join(wasmix::fsutil::file_name_for(name, "lock")))
}

fn need_registry<'a>(oci: &'a OciSource, what: &str) -> Result<&'a wasmix::oci::Registry, Failure> {
    Ok(oci.registry.as_ref().ok_or_else(|| OciError::Offline {
        reference: what.to_string(),
    })?)
}

/// `wasmix publish` arguments.
#[derive(Args)]
pub struct PublishArgs {
    /// Bundle directory or manifest file
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Where to push it [default: porter.yaml's `reference`, else `registry/NAME:vVERSION`]
    pub reference: Option<String>,
    /// Porter's spelling of the reference
    #[arg(long = "reference", conflicts_with = "reference", value_name = "REF")]
    pub reference_flag: Option<String>,
    /// Sign the pushed digest too (needs --key)
    #[arg(long, requires = "key")]
    pub sign: bool,
    /// Private key for --sign (cosign format); password from COSIGN_PASSWORD or a prompt
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Claim to sign with --sign, KEY=VALUE (repeatable)
    #[arg(short = 'a', long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
}

/// `wasmix publish`
pub fn publish(cli: &Cli, a: &PublishArgs) -> Result<u8, Failure> {
    let manifest = manifest::load(&a.path)?;
    let reference = a
        .reference
        .clone()
        .or_else(|| a.reference_flag.clone())
        .or_else(|| bundle::default_reference(&manifest))
        .ok_or_else(|| {
            bad_input(anyhow!(
                "say where to publish: `wasmix publish {} REGISTRY/REPOSITORY:TAG`, or set \
                 `reference:` (or `registry:`) in {}",
                a.path.display(),
                manifest.file.display()
            ))
        })?;
    parse_reference(&reference)?;
    // The key is opened before anything is pushed, so a wrong password
    // leaves nothing unsigned behind.
    let signer = match (&a.sign, &a.key) {
        (true, Some(k)) => Some(signing::Signer::open(k, &a.annotations)?),
        (true, None) => return Err(bad_input(anyhow!("--sign needs --key"))),
        (false, _) => None,
    };
    let plans = wasmix::plan::BundlePlan::new(&manifest)?;
    let mut rt = super::actions::runtime(
        cli,
        super::actions::DriverKind::Debug,
        super::actions::Pull::Never,
        &manifest,
        &plans,
        None,
    )?;
    // Publishing pushes: it always needs the registry client.
    rt.oci = Some(oci_source_for(cli, true)?);
    let published = bundle::publish(&rt, &manifest, &plans, &reference)?;
    let oci = rt.oci.as_ref().expect("set above");
    if let Some(signer) = &signer {
        signing::sign_digest(
            need_registry(oci, &reference)?,
            oci,
            &parse_reference(&reference)?,
            &published.digest,
            signer,
        )?;
    }
    if cli.output.is_structured() {
        return print_doc(&serde_json::json!({
            "reference": published.reference,
            "digest": published.digest,
            "bytes": published.bytes,
            "files": published.files,
            "mixins": published.config.mixins,
        }))
        .map(|()| 0);
    }
    println!(
        "published {} {} as {}@{} ({} files, {} bytes)",
        published.config.name,
        published.config.version,
        published.reference,
        published.digest,
        published.files.len(),
        published.bytes
    );
    for (name, pin) in &published.config.mixins {
        match pin {
            MixinPin::Bundled { digest } => println!("  mixin {name}: carried ({digest})"),
            MixinPin::Registry { reference, digest } => {
                println!("  mixin {name}: {reference}@{digest}")
            }
        }
    }
    Ok(0)
}

/// `wasmix bundle …`
#[derive(Subcommand)]
pub enum BundleCommand {
    /// Fetch a bundle (and check its signatures) into the cache
    Pull {
        /// Reference (tag or digest)
        reference: String,
        /// Pick the newest tag satisfying this semver range
        #[arg(long, value_name = "RANGE")]
        version: Option<String>,
    },
    /// Show a bundle artifact: manifest, pinned mixins, files
    Inspect {
        /// Reference (tag or digest)
        reference: String,
    },
    /// List cached bundles
    List,
    /// List a repository's tags, newest semver first
    ListTags {
        /// Repository (REGISTRY/REPOSITORY)
        repository: String,
    },
    /// Copy a bundle, its signatures and its registry mixins' pins to another reference
    Copy {
        /// Source reference
        source: String,
        /// Destination reference
        destination: String,
    },
    /// Sign a bundle's manifest digest, the way cosign does
    Sign(signing::SignArgs),
    /// Check a bundle's signatures against a key, an identity or the trust policy
    Verify(signing::VerifyArgs),
    /// Write a bundle, its registry mixins and all their signatures to one file, for air-gapped installs
    Archive {
        /// Reference (tag or digest)
        reference: String,
        /// The archive to write (a gzipped OCI image layout)
        file: PathBuf,
    },
    /// Forget cached bundles by reference or digest (blobs go at `cache prune`)
    Rm {
        /// Reference or digest
        reference: String,
    },
}

/// Run a `bundle` subcommand.
pub fn run(cli: &Cli, c: &BundleCommand) -> Result<u8, Failure> {
    let json = cli.output.is_structured();
    let oci = oci_source(cli)?;
    match c {
        BundleCommand::Sign(args) => signing::sign(cli, &oci, args, signing::Kind::Bundle),
        BundleCommand::Verify(args) => signing::verify(cli, &oci, args, signing::Kind::Bundle),
        BundleCommand::Pull { reference, version } => {
            let arg = BundleArg {
                bundle: None,
                reference: Some(reference.clone()),
                version: version.clone(),
            };
            let opened = open(cli, &arg, None)?;
            let (f, _) = opened.fetched.as_ref().expect("a registry bundle");
            if json {
                return print_doc(&serde_json::json!({
                    "reference": f.reference,
                    "digest": f.digest,
                    "name": f.config.name,
                    "version": f.config.version,
                    "verification": f.verification,
                }))
                .map(|()| 0);
            }
            println!(
                "pulled {} {} as {}@{}",
                f.config.name, f.config.version, f.reference, f.digest
            );
            println!("  {}", sanitize(&f.verification.verdict));
            Ok(0)
        }
        BundleCommand::Inspect { reference } => inspect(cli, &oci, reference),
        BundleCommand::List => {
            let entries = bundle::cache::entries(&oci.cache);
            if json {
                return print_doc(&entries).map(|()| 0);
            }
            if entries.is_empty() {
                println!("no bundles cached");
            }
            for e in entries {
                println!(
                    "{} {} {} {}",
                    e.references.join(", "),
                    e.name,
                    e.version,
                    e.digest
                );
            }
            Ok(0)
        }
        BundleCommand::ListTags { repository } => {
            let registry = need_registry(&oci, repository)?;
            let tags = registry.tags(&parse_reference(repository)?)?;
            let any = semver::VersionReq::STAR;
            let (_, mut versions) = bundle::version::newest(&tags, &any);
            versions.sort_by(|a, b| {
                let v = |t: &str| semver::Version::parse(t.strip_prefix('v').unwrap_or(t)).ok();
                v(b).cmp(&v(a))
            });
            let others: Vec<&String> = tags
                .iter()
                .filter(|t| !versions.contains(&t.as_str()) && !t.ends_with(".sig"))
                .collect();
            if json {
                return print_doc(&serde_json::json!({"versions": versions, "others": others}))
                    .map(|()| 0);
            }
            for t in versions
                .iter()
                .copied()
                .chain(others.iter().map(|s| s.as_str()))
            {
                println!("{t}");
            }
            Ok(0)
        }
        BundleCommand::Copy {
            source,
            destination,
        } => copy(cli, &oci, source, destination),
        BundleCommand::Archive { reference, file } => {
            let f = bundle::fetch(&oci, reference, Caps::default())?;
            let a = bundle::archive::write(&oci, &f, file)?;
            if json {
                return print_doc(&serde_json::json!({
                    "reference": a.reference, "digest": a.digest, "mixins": a.mixins,
                    "file": file, "bytes": a.bytes,
                }))
                .map(|()| 0);
            }
            println!(
                "wrote {} ({} bytes): {}@{} and {} registry mixin(s), with their signatures",
                file.display(),
                a.bytes,
                a.reference,
                a.digest,
                a.mixins.len()
            );
            Ok(0)
        }
        BundleCommand::Rm { reference } => {
            let n = bundle::cache::remove(&oci.cache, reference);
            if n == 0 {
                return Err(bad_input(anyhow!("no cached bundle is {reference}")));
            }
            if json {
                return print_doc(&serde_json::json!({"removed": n})).map(|()| 0);
            }
            println!("removed {n} cached bundle(s); `wasmix cache prune` frees their space");
            Ok(0)
        }
    }
}

/// `wasmix bundle inspect`: what the artifact says, without running it.
fn inspect(cli: &Cli, oci: &OciSource, reference: &str) -> Result<u8, Failure> {
    let f = bundle::fetch(oci, reference, Caps::default())?;
    let files = walk_files(&f.dir);
    if cli.output.is_structured() {
        return print_doc(&serde_json::json!({
            "reference": f.reference,
            "digest": f.digest,
            "name": f.config.name,
            "version": f.config.version,
            "description": f.config.description,
            "contract": f.config.contract,
            "mixins": f.config.mixins,
            "files": files,
            "verification": f.verification,
            "annotations": f.manifest.annotations,
        }))
        .map(|()| 0);
    }
    println!("{}@{}", f.reference, f.digest);
    println!("  bundle   {} {}", f.config.name, f.config.version);
    if let Some(d) = &f.config.description {
        println!("  about    {}", sanitize(d));
    }
    println!("  trust    {}", sanitize(&f.verification.verdict));
    println!(
        "  content  {} ({} bytes compressed)",
        f.manifest.content.digest, f.manifest.content.size
    );
    for (name, pin) in &f.config.mixins {
        match pin {
            MixinPin::Bundled { digest } => {
                let size = f.manifest.mixins.get(name).map(|d| d.size).unwrap_or(0);
                println!("  mixin    {name}: carried, {digest} ({size} bytes)")
            }
            MixinPin::Registry { reference, digest } => {
                println!("  mixin    {name}: {reference}@{digest}")
            }
        }
    }
    for file in files {
        println!("  file     {file}");
    }
    Ok(0)
}

fn walk_files(dir: &std::path::Path) -> Vec<String> {
    fn go(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        let mut children: Vec<_> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        children.sort();
        for p in children {
            if p.is_dir() {
                go(root, &p, out);
            } else if let Ok(rel) = p.strip_prefix(root) {
                out.push(rel.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    go(dir, dir, &mut out);
    out
}

/// `wasmix bundle copy`: the bundle (verified under the policy first), then
/// its signatures, pushed to `destination`. Registry mixins stay where they
/// are, pinned by digest; carried mixins travel inside the artifact.
fn copy(cli: &Cli, oci: &OciSource, source: &str, destination: &str) -> Result<u8, Failure> {
    let f = bundle::fetch(oci, source, Caps::default())?;
    let registry = need_registry(oci, destination)?;
    let dst = parse_reference(destination)?;
    let manifest_bytes = oci.cache.read_blob(&f.digest)?;
    let m = BundleManifest::parse(source, &manifest_bytes, Caps::default())?;
    let blobs: Vec<(String, Vec<u8>)> = m
        .blobs()
        .into_iter()
        .map(|d| oci.cache.read_blob(&d).map(|b| (d, b)))
        .collect::<Result<_, _>>()?;
    let parts: Vec<(&str, &[u8])> = blobs
        .iter()
        .map(|(d, b)| (d.as_str(), b.as_slice()))
        .collect();
    registry.push_parts(&dst, &parts, &manifest_bytes)?;
    let mut signatures = 0;
    // Looked up whatever the policy said (a `skip` scope fetches none).
    let (_, sig) =
        need_registry(oci, source)?.signatures(&parse_reference(source)?, &f.digest, &oci.cache)?;
    if let Some(sig) = sig.as_deref() {
        let sig_bytes = oci.cache.read_blob(sig)?;
        let sig_blobs: Vec<(String, Vec<u8>)> = wasmix::oci::trust::blobs_of(&sig_bytes)
            .into_iter()
            .map(|d| oci.cache.read_blob(&d).map(|b| (d, b)))
            .collect::<Result<_, _>>()?;
        let parts: Vec<(&str, &[u8])> = sig_blobs
            .iter()
            .map(|(d, b)| (d.as_str(), b.as_slice()))
            .collect();
        let tag = wasmix_signing::cosign::signature_tag(&f.digest).unwrap_or_default();
        let sig_ref = oci_client::Reference::with_tag(
            dst.registry().to_string(),
            dst.repository().to_string(),
            tag,
        );
        registry.push_parts(&sig_ref, &parts, &sig_bytes)?;
        signatures = wasmix_signing::cosign::parse_manifest("copy", &sig_bytes)
            .map(|l| l.len())
            .unwrap_or(0);
    }
    if cli.output.is_structured() {
        return print_doc(&serde_json::json!({
            "source": source, "destination": destination, "digest": f.digest, "signatures": signatures,
        }))
        .map(|()| 0);
    }
    println!(
        "copied {source} to {destination}@{} with {signatures} signature layer(s)",
        f.digest
    );
    Ok(0)
}
