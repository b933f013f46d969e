//! `wasmix publish`: a bundle directory becomes a bundle artifact. Every
//! action is prepared first (mixins located, verified and compiled; steps
//! checked against their schemas), so what is published is a bundle that
//! lints clean. Every mixin is pinned: registry mixins by the digest the
//! lock file (or the tag, now) names, mixins from the mixin path carried in
//! the artifact itself. The packed `wasmix.lock` records the grants and the
//! pins, so the bundle's capabilities travel with it.

use super::artifact::{self, BundleConfig, MixinPin};
use super::{cache, pack, BundleError};
use crate::lock::{self, Lock, LOCK_FILE};
use crate::manifest::Manifest;
use crate::oci::client::parse_reference;
use crate::oci::OciError;
use crate::plan::BundlePlan;
use crate::run::{LockCheck, Runtime};
use std::collections::BTreeMap;

/// A published bundle.
#[derive(Debug, Clone)]
pub struct Published {
    /// Where it was pushed.
    pub reference: String,
    /// Its manifest digest.
    pub digest: String,
    /// Its config (name, version, pins).
    pub config: BundleConfig,
    /// The files packed, relative to the bundle directory.
    pub files: Vec<String>,
    /// Bytes pushed: manifest and every blob.
    pub bytes: u64,
}

/// Where Porter publishes a bundle when no reference is given:
/// `reference:` from `porter.yaml`, else `registry/name:vVERSION`.
pub fn default_reference(manifest: &Manifest) -> Option<String> {
    manifest.reference.clone().or_else(|| {
        manifest.registry.as_ref().map(|r| {
            format!(
                "{}/{}:v{}",
                r.trim_end_matches('/'),
                manifest.name,
                manifest.version
            )
        })
    })
}

/// The artifact for `manifest`'s bundle directory, built but not pushed:
/// what `publish` pushes, and what `bundle archive` could write.
pub fn build(
    rt: &Runtime,
    manifest: &Manifest,
    plans: &BundlePlan,
) -> Result<(artifact::BuiltBundle, BundleConfig, Vec<String>), BundleError> {
    let mut pins = BTreeMap::new();
    let mut bundled = BTreeMap::new();
    for action in plans.actions.keys() {
        let prepared = rt
            .prepare(manifest, plans, action, LockCheck::ReadOnly)
            .map_err(|e| BundleError::Run(Box::new(e)))?;
        for (name, loaded) in &prepared.mixins {
            if pins.contains_key(name) {
                continue;
            }
            let pin = match prepared.pins.get(name) {
                Some(p) => MixinPin::Registry {
                    reference: p.reference.clone(),
                    digest: p.digest.clone(),
                },
                None => {
                    let path = rt
                        .mixin_path
                        .locate(name)
                        .map_err(|e| BundleError::Invalid(format!("mixin {name}: {e}")))?;
                    let wasm = std::fs::read(&path).map_err(|e| BundleError::io(&path, e))?;
                    let digest = crate::oci::sha256_digest(&wasm);
                    // The bytes packed must be the bytes that were checked.
                    if digest != loaded.digest {
                        return Err(BundleError::Invalid(format!(
                            "mixin {name}: {} changed while publishing",
                            path.display()
                        )));
                    }
                    bundled.insert(name.clone(), wasm);
                    MixinPin::Bundled { digest }
                }
            };
            pins.insert(name.clone(), pin);
        }
    }
    // The lock that travels: this manifest's grants, and the registry pins.
    let mut packed_lock = Lock::of(manifest, plans);
    packed_lock.mixins = pins
        .iter()
        .filter_map(|(name, p)| match p {
            MixinPin::Registry { reference, digest } => Some((
                name.clone(),
                lock::LockedMixin {
                    reference: reference.clone(),
                    digest: digest.clone(),
                },
            )),
            MixinPin::Bundled { .. } => None,
        })
        .collect();
    if let Some(old) = lock::read(manifest).map_err(|e| BundleError::Invalid(e.to_string()))? {
        let added = packed_lock.added_since(&old);
        if !added.is_empty() {
            return Err(BundleError::Invalid(format!(
                "{} grants capabilities that {LOCK_FILE} does not record:\n{}\nreview them (`wasmix explain`), accept them with `wasmix lock --accept-capabilities`, then publish",
                manifest.file.display(),
                added
                    .iter()
                    .map(|(s, c)| format!("  + {s}: {c}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )));
        }
    }
    let lock_text = serde_yaml::to_string(&packed_lock)
        .map_err(|e| BundleError::Invalid(format!("{LOCK_FILE}: {e}")))?;
    let packed = pack::pack(
        &manifest.dir,
        &BTreeMap::from([(LOCK_FILE.to_string(), lock_text.into_bytes())]),
    )?;
    let manifest_name = manifest
        .file
        .strip_prefix(&manifest.dir)
        .ok()
        .and_then(|p| p.to_str())
        .unwrap_or("porter.yaml");
    if !packed.files.iter().any(|f| f == manifest_name) {
        return Err(BundleError::Invalid(format!(
            "{} is not inside {}",
            manifest.file.display(),
            manifest.dir.display()
        )));
    }
    let config = BundleConfig {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        description: manifest.description.clone(),
        contract: crate::oci::CONTRACT.to_string(),
        mixins: pins,
    };
    let built = artifact::build(&config, packed.bytes, bundled);
    Ok((built, config, packed.files))
}

/// Publish `manifest`'s bundle to `reference`: build it (see [`build`]),
/// push every blob then the manifest, and record it in the cache so a
/// local install by reference needs no download.
pub fn publish(
    rt: &Runtime,
    manifest: &Manifest,
    plans: &BundlePlan,
    reference: &str,
) -> Result<Published, BundleError> {
    let oci = rt.oci.as_ref().ok_or_else(|| OciError::Offline {
        reference: reference.to_string(),
    })?;
    let registry = oci.registry.as_ref().ok_or_else(|| OciError::Offline {
        reference: reference.to_string(),
    })?;
    let parsed = parse_reference(reference)?;
    let (built, config, files) = build(rt, manifest, plans)?;
    let blobs: Vec<(&str, &[u8])> = built
        .blobs
        .iter()
        .map(|(d, b)| (d.as_str(), b.as_slice()))
        .collect();
    registry.push_parts(&parsed, &blobs, &built.manifest)?;
    for (d, b) in &built.blobs {
        oci.cache.write_blob(d, b)?;
    }
    oci.cache.write_blob(&built.digest, &built.manifest)?;
    cache::record(
        &oci.cache,
        reference,
        &built.digest,
        &config.name,
        &config.version,
        None,
    )?;
    let bytes =
        built.manifest.len() as u64 + built.blobs.iter().map(|(_, b)| b.len() as u64).sum::<u64>();
    Ok(Published {
        reference: reference.to_string(),
        digest: built.digest,
        config,
        files,
        bytes,
    })
}
