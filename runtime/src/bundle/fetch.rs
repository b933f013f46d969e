//! Fetching a bundle by reference, in the order mixins are fetched: the tag
//! is resolved once to a digest; the trust policy decides on that digest's
//! signatures; only then are the config, the bundle directory and the
//! bundled components fetched, by digest, each capped and checked; the
//! directory is unpacked into the cache. A cached bundle costs no registry
//! request when named by digest, and one (the tag) when named by tag.

use super::artifact::{BundleConfig, BundleManifest, Caps, MixinPin};
use super::{cache, BundleError};
use crate::oci::client::parse_reference;
use crate::oci::trust::{self, Status, Verification};
use crate::oci::{OciError, OciSource};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A bundle in the cache, verified, ready to run.
#[derive(Debug, Clone)]
pub struct FetchedBundle {
    /// The reference it was asked for by.
    pub reference: String,
    /// Its manifest digest.
    pub digest: String,
    /// The unpacked bundle directory (in the cache; never written to).
    pub dir: PathBuf,
    /// The checked manifest.
    pub manifest: BundleManifest,
    /// The config: name, version, pinned mixins.
    pub config: BundleConfig,
    /// The trust policy's verdict.
    pub verification: Verification,
}

impl FetchedBundle {
    /// `registry/repository@digest`: what an installation records so a
    /// later action runs exactly this bundle.
    pub fn pinned_reference(&self) -> String {
        match parse_reference(&self.reference) {
            Ok(r) => format!("{}/{}@{}", r.registry(), r.repository(), self.digest),
            Err(_) => format!("{}@{}", self.reference, self.digest),
        }
    }

    /// Said when the trust policy let an unverified bundle through.
    pub fn warning(&self) -> Option<String> {
        (self.verification.status == Status::Unverified).then(|| {
            format!(
                "bundle {}@{}: {}",
                self.reference, self.digest, self.verification.verdict
            )
        })
    }

    /// The components this bundle carries, by mixin name: the cached blob
    /// and the digest it must hash to.
    pub fn bundled_components(
        &self,
        oci: &OciSource,
    ) -> Result<BTreeMap<String, (PathBuf, String)>, BundleError> {
        let mut out = BTreeMap::new();
        for (name, pin) in &self.config.mixins {
            if let MixinPin::Bundled { digest } = pin {
                out.insert(name.clone(), (oci.cache.blob_path(digest)?, digest.clone()));
            }
        }
        Ok(out)
    }
}

/// Fetch bundle `reference` (a tag or a digest) through `oci`: its cache,
/// its registry unless offline, and its trust policy.
pub fn fetch(oci: &OciSource, reference: &str, caps: Caps) -> Result<FetchedBundle, BundleError> {
    let parsed = parse_reference(reference)?;
    // 1. The digest: named, or the tag resolved once (offline: the digest
    //    the cache last recorded for this reference).
    let (digest, manifest_bytes) = match (parsed.digest(), &oci.registry) {
        (Some(d), _) if oci.cache.has_blob(d) => (d.to_string(), oci.cache.read_blob(d)?),
        (_, Some(registry)) => registry.resolve(&parsed)?,
        (_, None) => {
            let entry = cache::find(&oci.cache, reference).ok_or_else(|| OciError::Offline {
                reference: reference.to_string(),
            })?;
            let bytes = oci.cache.read_blob(&entry.digest)?;
            (entry.digest, bytes)
        }
    };
    let manifest = BundleManifest::parse(reference, &manifest_bytes, caps)?;
    // 2. The trust policy, before any blob of the bundle is fetched.
    let entry = cache::entry(&oci.cache, &digest);
    let cached = entry
        .as_ref()
        .and_then(|e| e.verification.clone())
        .filter(|v| v.policy == oci.policy.hash());
    let verification = match cached {
        Some(v) => v,
        None => trust::check(
            &oci.policy,
            oci.registry.as_ref(),
            &oci.cache,
            &parsed,
            &digest,
            manifest.version(),
            entry
                .as_ref()
                .and_then(|e| e.verification.as_ref())
                .and_then(|v| v.signatures.clone()),
        )?,
    };
    // 3. Every blob by digest.
    let descriptors: Vec<_> = std::iter::once(&manifest.config)
        .chain(std::iter::once(&manifest.content))
        .chain(manifest.mixins.values())
        .collect();
    if descriptors.iter().any(|d| !oci.cache.has_blob(&d.digest)) {
        let registry = oci.registry.as_ref().ok_or_else(|| OciError::Offline {
            reference: format!("{reference}@{digest}"),
        })?;
        let by_digest = oci_client::Reference::with_digest(
            parsed.registry().to_string(),
            parsed.repository().to_string(),
            digest.clone(),
        );
        registry.fetch_blobs(&by_digest, &descriptors, &oci.cache)?;
    }
    let config = manifest.config(reference, &oci.cache.read_blob(&manifest.config.digest)?)?;
    // 4. The directory, unpacked once; then the entry that names it.
    let dir = cache::unpacked(&oci.cache, &digest, &manifest)?;
    // A cached bundle is not written again (each write is an fsync).
    if !oci.cache.has_blob(&digest) {
        oci.cache.write_blob(&digest, &manifest_bytes)?;
    }
    cache::record(
        &oci.cache,
        reference,
        &digest,
        &config.name,
        &config.version,
        Some(verification.clone()),
    )?;
    Ok(FetchedBundle {
        reference: reference.to_string(),
        digest,
        dir,
        manifest,
        config,
        verification,
    })
}
