//! Registry mixins for a run: which reference a mixin comes from, and its
//! component fetched by digest into the cache, verified under the trust
//! policy before use. Also pins a bundle's registry mixins for `wasmix lock`.

use super::client::parse_reference;
use super::{trust, Cache, OciError, Registry, WasmManifest};
use crate::lock::LockedMixin;
use crate::manifest::{Manifest, MixinDecl};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where registry mixins come from.
pub struct OciSource {
    /// The content-addressed cache.
    pub cache: Cache,
    /// The registry client; `None` when offline.
    pub registry: Option<Registry>,
    /// The trust policy every artifact is checked against before use.
    pub policy: wasmix_signing::TrustPolicy,
    /// Namespace for bare mixin names not found locally
    /// (`localhost:5000/wasmix` makes `exec` mean `localhost:5000/wasmix/exec:<version or latest>`).
    pub namespace: Option<String>,
}

/// A registry mixin's component in the cache, and how it got there.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The component file in the cache.
    pub path: PathBuf,
    /// The digest the reference was pinned to.
    pub pin: LockedMixin,
    /// The layer digest the component must hash to.
    pub layer: String,
    /// Said when the trust policy let an unverified artifact through.
    pub warning: Option<String>,
}

/// Why `wasmix lock` could not pin a bundle's mixins.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// A registry, an artifact or the trust policy failed.
    #[error(transparent)]
    Oci(#[from] OciError),
    /// Tags moved since the lock file was written, and `update` was not asked.
    #[error("tags moved since wasmix.lock was written:\n{}\nwasmix keeps using the locked digests; run `wasmix lock --update` to follow the tags",
        .0.join("\n"))]
    Moved(Vec<String>),
}

/// Versions that are ranges, not tags: a namespaced mixin with one of these
/// is pulled as `latest` and the range is checked against what it reports.
fn is_range(version: &str) -> bool {
    version.contains(['>', '<', '*', '^', '~', ' ', ','])
}

impl OciSource {
    /// The largest component accepted.
    fn max_layer(&self) -> u64 {
        self.registry
            .as_ref()
            .map(|r| r.config().max_layer)
            .unwrap_or(256 << 20)
    }

    fn registry_for(&self, what: &str) -> Result<&Registry, OciError> {
        self.registry.as_ref().ok_or_else(|| OciError::Offline {
            reference: what.to_string(),
        })
    }

    /// The reference mixin `name` comes from under the default namespace,
    /// if one is configured.
    pub fn namespaced(&self, name: &str, decl: Option<&MixinDecl>) -> Option<String> {
        let ns = self.namespace.as_ref()?;
        let tag = decl
            .and_then(|d| d.version.clone())
            .filter(|v| !is_range(v))
            .unwrap_or_else(|| "latest".into());
        Some(format!("{}/{name}:{tag}", ns.trim_end_matches('/')))
    }

    /// Mixin `name`'s component from `reference`: by the lock file's pin when
    /// it names the same reference, by the reference's own digest, or by
    /// resolving the tag once. Verified under the policy (again, when the
    /// cached verdict was made under another policy) before it is used.
    pub fn fetch(
        &self,
        name: &str,
        reference: &str,
        pins: &BTreeMap<String, LockedMixin>,
    ) -> Result<Fetched, OciError> {
        let parsed = parse_reference(reference)?;
        let max_layer = self.max_layer();
        let pinned = pins
            .get(name)
            .filter(|p| p.reference == reference)
            .map(|p| p.digest.clone());
        let digest = match pinned.or_else(|| parsed.digest().map(str::to_string)) {
            Some(d) => d,
            None => {
                self.registry_for(reference)?
                    .pull(&parsed, &self.cache, &self.policy)?
                    .digest
            }
        };
        let verification = match (
            trust::cached(&self.policy, &self.cache, &digest),
            self.cache.artifact(&digest, max_layer),
        ) {
            (Some(v), Ok(_)) => v,
            // Cached, but verified under another policy (or never): verify
            // again before using it.
            (None, Ok((m, _))) => {
                let v = trust::check(
                    &self.policy,
                    self.registry.as_ref(),
                    &self.cache,
                    &parsed,
                    &digest,
                    m.version(),
                    trust::mixin_signatures(&self.cache, &digest),
                )?;
                self.cache.record_verification(&digest, v.clone())?;
                v
            }
            (_, Err(_)) => {
                let registry = self.registry_for(&format!("{reference} ({digest})"))?;
                let by_digest = oci_client::Reference::with_digest(
                    parsed.registry().to_string(),
                    parsed.repository().to_string(),
                    digest.clone(),
                );
                let pulled = registry.pull(&by_digest, &self.cache, &self.policy)?;
                self.cache.record(reference, &digest, &pulled.manifest)?;
                pulled.verification
            }
        };
        let (wasm_manifest, path) = self.cache.artifact(&digest, max_layer)?;
        let warning = (verification.status == trust::Status::Unverified).then(|| {
            format!(
                "mixin {name} ({reference}@{digest}): {}",
                verification.verdict
            )
        });
        Ok(Fetched {
            path,
            pin: LockedMixin {
                reference: reference.to_string(),
                digest,
            },
            layer: wasm_manifest.layer.digest,
            warning,
        })
    }

    /// Resolve every registry mixin `manifest` declares to the digest its
    /// tag names now, refusing any the trust policy would refuse to run.
    /// A digest that differs from `old`'s pin for the same reference is kept
    /// (and reported as moved) unless `update`.
    pub fn pin(
        &self,
        manifest: &Manifest,
        old: &BTreeMap<String, LockedMixin>,
        update: bool,
    ) -> Result<BTreeMap<String, LockedMixin>, PinError> {
        let mut pins = BTreeMap::new();
        let mut moved = Vec::new();
        for d in &manifest.mixins {
            let Some(reference) = &d.reference else {
                continue;
            };
            let registry = self.registry_for(reference)?;
            let parsed = parse_reference(reference)?;
            let (digest, bytes) = registry.resolve(&parsed)?;
            // Never pin what the trust policy would refuse to run.
            let artifact = WasmManifest::parse(reference, &bytes, self.max_layer())?;
            trust::check(
                &self.policy,
                Some(registry),
                &self.cache,
                &parsed,
                &digest,
                artifact.version(),
                None,
            )?;
            let pin = match old.get(&d.name) {
                Some(p) if p.reference == *reference && p.digest != digest && !update => {
                    moved.push(format!(
                        "  {} ({reference}): locked {}, now {digest}",
                        d.name, p.digest
                    ));
                    p.clone()
                }
                _ => LockedMixin {
                    reference: reference.clone(),
                    digest,
                },
            };
            pins.insert(d.name.clone(), pin);
        }
        if moved.is_empty() {
            Ok(pins)
        } else {
            Err(PinError::Moved(moved))
        }
    }
}
