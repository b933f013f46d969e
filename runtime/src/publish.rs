//! Publishing a mixin: a component file becomes a CNCF Wasm OCI artifact
//! (its name, version, imports and exports read from the component itself),
//! pushed to a registry and recorded in the local cache under its digest.

use crate::oci::artifact::{self, ArtifactMeta};
use crate::oci::client::parse_reference;
use crate::oci::{OciError, OciSource, WasmManifest};
use crate::sandbox::{MixinEngine, SandboxError};
use std::path::Path;

/// A pushed mixin.
#[derive(Debug, Clone)]
pub struct Published {
    /// The manifest digest the registry stores it under.
    pub digest: String,
    /// What the artifact says about the component.
    pub meta: ArtifactMeta,
}

/// Why a mixin could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The file is not a loadable mixin component.
    #[error(transparent)]
    Component(#[from] SandboxError),
    /// The registry or the cache failed.
    #[error(transparent)]
    Oci(#[from] OciError),
}

/// Push component `file` to `reference` and record it in `oci`'s cache.
/// `source` is recorded as the artifact's source URL.
pub fn publish_mixin(
    oci: &OciSource,
    file: &Path,
    reference: &str,
    source: Option<String>,
) -> Result<Published, PublishError> {
    let wasm = std::fs::read(file).map_err(|source| SandboxError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    let loaded = MixinEngine::new(None)?.load("pushed", file)?;
    let meta = ArtifactMeta {
        name: loaded.info.name.clone(),
        version: loaded.info.version.clone(),
        source,
        created: crate::store::rfc3339(crate::store::now()),
        imports: loaded.imports.clone(),
        exports: loaded.exports.clone(),
    };
    let art = artifact::build(&wasm, &meta);
    let parsed = parse_reference(reference)?;
    let registry = oci.registry.as_ref().ok_or_else(|| OciError::Offline {
        reference: reference.to_string(),
    })?;
    let digest = registry.push(&wasm, &art, &parsed)?;
    for (d, bytes) in [
        (&art.config_digest, &art.config),
        (&art.layer_digest, &wasm),
        (&art.manifest_digest, &art.manifest),
    ] {
        oci.cache.write_blob(d, bytes)?;
    }
    let max_layer = registry.config().max_layer;
    oci.cache.record(
        reference,
        &digest,
        &WasmManifest::parse(reference, &art.manifest, max_layer)?,
    )?;
    Ok(Published { digest, meta })
}
