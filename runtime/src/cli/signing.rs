//! `wasmix key`, `wasmix mixin sign|verify` and `wasmix trust`: the command
//! line over `wasmix_signing` and the registry client.

use super::{bad_input, exit, home, Cli, Failure};
use anyhow::{anyhow, Context};
use clap::{Args, Subcommand};
use oci_client::Reference;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wasmix::oci::client::parse_reference;
use wasmix::oci::trust::repository_of;
use wasmix::oci::OciSource;
use wasmix::oci::{OciError, Registry, WasmManifest};
use wasmix_signing::cosign::{signature_tag, SignatureLayer};
use wasmix_signing::payload::SimpleSigning;
use wasmix_signing::{KeyPair, Subject, TrustPolicy, Verdict};

/// `wasmix key …`
#[derive(Subcommand)]
pub enum KeyCommand {
    /// Write a new ECDSA P-256 key pair: PREFIX.key (encrypted, cosign's format) and PREFIX.pub
    Generate {
        /// Where to write the pair
        #[arg(long, default_value = "cosign")]
        output_key_prefix: PathBuf,
    },
}

/// `wasmix trust …`
#[derive(Subcommand)]
pub enum TrustCommand {
    /// Print the effective trust policy: its source, scopes, authorities and hash
    Show,
}

/// `wasmix mixin sign`
#[derive(Args)]
pub struct SignArgs {
    /// The artifact (tag or digest); its tag is resolved once and the digest signed
    reference: String,
    /// Private key (cosign format); password from COSIGN_PASSWORD or a prompt
    #[arg(long)]
    key: PathBuf,
    /// Claim to include in the signed payload, KEY=VALUE (repeatable)
    #[arg(short = 'a', long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
}

/// `wasmix mixin verify`
#[derive(Args)]
pub struct VerifyArgs {
    /// The artifact (tag or digest)
    reference: String,
    /// Accept signatures by this public key (instead of the trust policy)
    #[arg(long)]
    key: Option<PathBuf>,
    /// Accept keyless signatures by exactly this certificate subject (email or URI)
    #[arg(long)]
    certificate_identity: Option<String>,
    /// Accept keyless signatures whose subject matches this anchored regex
    #[arg(long)]
    certificate_identity_regexp: Option<String>,
    /// The OIDC issuer keyless signatures must come from
    #[arg(long)]
    certificate_oidc_issuer: Option<String>,
    /// Sigstore trusted_root.json for keyless verification
    #[arg(long)]
    trusted_root: Option<PathBuf>,
    /// Also consider this Sigstore bundle (v0.3, DSSE) as evidence
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Claim the signature must carry, KEY=VALUE (repeatable)
    #[arg(short = 'a', long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
}

/// The effective trust policy: `--trust-policy` (or `WASMIX_TRUST_POLICY`),
/// else `HOME/trust.yaml`, else the built-in default that refuses every
/// registry mixin.
pub fn policy(cli: &Cli) -> Result<TrustPolicy, Failure> {
    match &cli.trust_policy {
        // Named explicitly: it must exist.
        Some(path) => TrustPolicy::load(path).map_err(|e| {
            bad_input(anyhow!(
                "{e} (the trust policy named by --trust-policy or WASMIX_TRUST_POLICY)"
            ))
        }),
        None => TrustPolicy::load_or_default(&home(cli)?.join("trust.yaml"))
            .map_err(|e| bad_input(e.into())),
    }
}

fn password(confirm: bool) -> Result<zeroize::Zeroizing<String>, Failure> {
    if let Ok(p) = std::env::var("COSIGN_PASSWORD") {
        return Ok(zeroize::Zeroizing::new(p));
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(bad_input(anyhow!(
            "the key password comes from COSIGN_PASSWORD or a terminal prompt; set COSIGN_PASSWORD"
        )));
    }
    let first = zeroize::Zeroizing::new(rpassword::prompt_password("key password: ")?);
    if confirm {
        let again = zeroize::Zeroizing::new(rpassword::prompt_password("again: ")?);
        if *again != *first {
            return Err(bad_input(anyhow!("the passwords differ")));
        }
    }
    Ok(first)
}

fn pairs(items: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    Ok(super::parse_pairs(items, "annotation")?
        .into_iter()
        .collect())
}

/// `wasmix key generate`
pub fn key(cli: &Cli, c: &KeyCommand) -> Result<u8, Failure> {
    let KeyCommand::Generate { output_key_prefix } = c;
    let private = output_key_prefix.with_extension("key");
    let public = output_key_prefix.with_extension("pub");
    for p in [&private, &public] {
        if p.exists() {
            return Err(bad_input(anyhow!(
                "{} exists; wasmix does not overwrite keys (remove it or pick another --output-key-prefix)",
                p.display()
            )));
        }
    }
    let password = password(true)?;
    let pair = KeyPair::generate()?;
    let pem = pair.to_encrypted_pem(password.as_bytes())?;
    // write_atomic's temporary file is 0600, so the private key never
    // exists with wider permissions.
    wasmix::fsutil::write_atomic(&private, pem.as_bytes())
        .with_context(|| format!("writing {}", private.display()))?;
    wasmix::fsutil::write_atomic(&public, pair.public().to_pem().as_bytes())
        .with_context(|| format!("writing {}", public.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644))?;
    }
    if cli.output.is_structured() {
        super::output::print_doc(
            &serde_json::json!({"private": private, "public": public, "key": pair.public().id()}),
        )?;
        return Ok(0);
    }
    println!(
        "wrote {} (private, encrypted) and {} (public), key {}",
        private.display(),
        public.display(),
        pair.public().id()
    );
    println!(
        "trust it in ~/.wasmix/trust.yaml:\n  scopes:\n    - scope: REGISTRY/NAMESPACE/*\n      authorities:\n        - key: {}",
        public.display()
    );
    Ok(0)
}

/// A signing key and the claims to sign with, read before anything is
/// pushed (so a wrong password leaves nothing half-done).
pub struct Signer {
    pair: KeyPair,
    claims: BTreeMap<String, String>,
}

impl Signer {
    /// Read the private key at `key_path` (password from COSIGN_PASSWORD or
    /// a prompt) and the `-a` claims.
    pub fn open(key_path: &Path, annotations: &[String]) -> Result<Signer, Failure> {
        let claims = pairs(annotations)?;
        let pem =
            std::fs::read(key_path).with_context(|| format!("reading {}", key_path.display()))?;
        let password = password(false)?;
        let pair =
            KeyPair::from_encrypted_pem(&key_path.display().to_string(), &pem, password.as_bytes())
                .map_err(|e| bad_input(e.into()))?;
        Ok(Signer { pair, claims })
    }
}

/// Sign `digest` (of `reference`'s repository) with `signer`.
pub fn sign_digest(
    registry: &Registry,
    oci: &OciSource,
    reference: &Reference,
    digest: &str,
    signer: &Signer,
) -> Result<String, Failure> {
    let Signer { pair, claims } = signer;
    let payload = SimpleSigning::new(&repository_of(reference), digest, claims).to_bytes();
    let signature = pair.sign(&payload)?;
    registry.attach_signature(
        reference,
        digest,
        SignatureLayer::simple(payload, &signature),
        &oci.cache,
    )?;
    let key_id = pair.public().id();
    eprintln!(
        "signed {}@{digest} with key {key_id}; signature at tag {}",
        repository_of(reference),
        signature_tag(digest).unwrap_or_default()
    );
    Ok(key_id)
}

fn need_registry<'a>(oci: &'a OciSource, what: &str) -> Result<&'a Registry, Failure> {
    oci.registry.as_ref().ok_or_else(|| {
        Failure::from(OciError::Offline {
            reference: what.to_string(),
        })
    })
}

/// What kind of artifact `sign` and `verify` work on: each checks that the
/// reference is one, so a mixin is not signed as a bundle by mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A mixin component artifact.
    Mixin,
    /// A bundle artifact.
    Bundle,
}

impl Kind {
    /// Check `bytes` is a manifest of this kind; its version annotation.
    fn check(self, reference: &str, bytes: &[u8]) -> Result<Option<String>, Failure> {
        Ok(match self {
            Kind::Mixin => WasmManifest::parse(reference, bytes, u64::MAX)?
                .version()
                .map(str::to_string),
            Kind::Bundle => {
                let caps = wasmix::bundle::artifact::Caps {
                    content: u64::MAX,
                    mixin: u64::MAX,
                    mixins: usize::MAX,
                };
                wasmix::bundle::BundleManifest::parse(reference, bytes, caps)?
                    .version()
                    .map(str::to_string)
            }
        })
    }
}

/// `wasmix mixin sign` and `wasmix bundle sign`
pub fn sign(cli: &Cli, oci: &OciSource, args: &SignArgs, kind: Kind) -> Result<u8, Failure> {
    let registry = need_registry(oci, &args.reference)?;
    let parsed = parse_reference(&args.reference)?;
    let signer = Signer::open(&args.key, &args.annotations)?;
    // Resolve once; the signature names the digest, never the tag.
    let (digest, bytes) = registry.resolve(&parsed)?;
    kind.check(&args.reference, &bytes)?;
    let key_id = sign_digest(registry, oci, &parsed, &digest, &signer)?;
    if cli.output.is_structured() {
        super::output::print_doc(
            &serde_json::json!({"reference": args.reference, "digest": digest, "key": key_id}),
        )?;
    }
    Ok(0)
}

/// A one-scope policy for `repository` from `mixin verify`'s flags, or
/// `None` when none was given (the trust policy applies).
fn ad_hoc_policy(args: &VerifyArgs, repository: &str) -> Result<Option<TrustPolicy>, Failure> {
    let abs =
        |p: &Path| -> Result<String, Failure> { Ok(std::path::absolute(p)?.display().to_string()) };
    let mut authorities = Vec::new();
    if let Some(k) = &args.key {
        authorities.push(serde_json::json!({"key": abs(k)?}));
    }
    let keyless = args.certificate_identity.is_some()
        || args.certificate_identity_regexp.is_some()
        || args.certificate_oidc_issuer.is_some();
    if keyless {
        let root = args.trusted_root.as_deref().ok_or_else(|| {
            bad_input(anyhow!(
                "keyless verification needs --trusted-root (a Sigstore trusted_root.json)"
            ))
        })?;
        let mut k = serde_json::json!({
            "issuer": args.certificate_oidc_issuer.clone().unwrap_or_default(),
            "trustedRoot": abs(root)?,
        });
        if let Some(s) = &args.certificate_identity {
            k["subject"] = s.clone().into();
        }
        if let Some(r) = &args.certificate_identity_regexp {
            k["subjectRegex"] = r.clone().into();
        }
        authorities.push(serde_json::json!({ "keyless": k }));
    }
    if authorities.is_empty() {
        return Ok(None);
    }
    let doc = serde_json::json!({"scopes": [{
        "scope": repository,
        "authorities": authorities,
        "annotations": pairs(&args.annotations)?,
    }]});
    // JSON is YAML: the flags go through the same checks as a policy file.
    TrustPolicy::parse(
        "command-line flags",
        &doc.to_string(),
        &std::env::current_dir()?,
    )
    .map(Some)
    .map_err(|e| bad_input(e.into()))
}

/// `wasmix mixin verify` and `wasmix bundle verify`
pub fn verify(cli: &Cli, oci: &OciSource, args: &VerifyArgs, kind: Kind) -> Result<u8, Failure> {
    let registry = need_registry(oci, &args.reference)?;
    let parsed = parse_reference(&args.reference)?;
    let repository = repository_of(&parsed);
    let policy = match ad_hoc_policy(args, &repository)? {
        Some(p) => p,
        None => oci.policy.clone(),
    };
    let (digest, bytes) = registry.resolve(&parsed)?;
    let version = kind.check(&args.reference, &bytes)?;
    let (mut evidence, _) = registry.signatures(&parsed, &digest, &oci.cache)?;
    if let Some(b) = &args.bundle {
        let meta = std::fs::metadata(b).with_context(|| format!("reading {}", b.display()))?;
        if meta.len() > wasmix_signing::keyless::MAX_DOCUMENT as u64 {
            return Err(bad_input(anyhow!(
                "{}: a bundle is at most 1 MiB",
                b.display()
            )));
        }
        evidence.bundles.push(std::fs::read(b)?);
    }
    let subject = Subject {
        repository: &repository,
        digest: &digest,
        version: version.as_deref(),
    };
    let verdict = policy
        .verify(&subject, &evidence)
        .map_err(OciError::Untrusted)?;
    let verified = matches!(verdict, Verdict::Verified { .. });
    if cli.output.is_structured() {
        super::output::print_doc(
            &serde_json::json!({"reference": args.reference, "digest": digest, "verified": verified, "verdict": verdict.summary()}),
        )?;
    } else {
        println!("{}@{}: {}", repository, digest, verdict.summary());
    }
    Ok(if verified { 0 } else { exit::UNTRUSTED })
}

/// `wasmix trust show`
pub fn trust(cli: &Cli, c: &TrustCommand) -> Result<u8, Failure> {
    let TrustCommand::Show = c;
    let policy = policy(cli)?;
    if cli.output.is_structured() {
        super::output::print_doc(&serde_json::json!({
            "source": policy.source,
            "hash": policy.hash(),
            "builtIn": policy.source.starts_with("built-in"),
            "policy": policy.to_string(),
        }))?;
        return Ok(0);
    }
    print!("{policy}");
    if policy.source.starts_with("built-in") {
        println!(
            "# write {} (or pass --trust-policy) to trust a key; see docs/trust.md",
            home(cli)?.join("trust.yaml").display()
        );
    }
    Ok(0)
}
