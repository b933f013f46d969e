//! The engine, the compile cache, and loaded mixins.

use super::bindings::{wasmix::mixin::types::Info, MixinPre};
use super::step::StepState;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

/// How often the epoch advances; step deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Why a mixin could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The component file could not be read.
    #[error("could not read mixin {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not a component implementing the `wasmix:mixin` world.
    #[error("{path} is not a wasmix mixin component: {reason}")]
    NotAMixin {
        /// File.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The compile cache could not be written.
    #[error("compile cache {path}: {source}")]
    Cache {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// wasmtime failed.
    #[error("{0}")]
    Wasmtime(String),
}

fn wt(e: wasmtime::Error) -> SandboxError {
    SandboxError::Wasmtime(format!("{e:#}"))
}

/// How many instances the pooling allocator keeps ready, and how large a
/// memory each may grow to. Steps run one at a time, so a handful of slots
/// covers a run (a step's instance plus `describe`/`lint` instances).
#[derive(Debug, Clone, Copy)]
pub struct PoolSize {
    /// Component instances in the pool.
    pub instances: u32,
    /// Largest linear memory of a pooled instance.
    pub memory_bytes: usize,
}

impl Default for PoolSize {
    fn default() -> Self {
        PoolSize {
            instances: 16,
            memory_bytes: 256 << 20,
        }
    }
}

/// One engine per process, configured for many short steps.
pub struct MixinEngine {
    engine: Engine,
    linker: Linker<StepState>,
    cache_dir: Option<PathBuf>,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for MixinEngine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// A compiled mixin, ready to instantiate once per step.
pub struct LoadedMixin {
    /// The name it was loaded as.
    pub name: String,
    /// sha256 of the component bytes, `sha256:<hex>`.
    pub digest: String,
    /// What the mixin says about itself.
    pub info: Info,
    /// Parsed step schema, as the mixin wrote it.
    pub step_schema: serde_json::Value,
    /// The step schema compiled once, when the mixin loaded: a schema using
    /// a keyword the validator cannot enforce was refused then.
    pub schema: crate::schema::CompiledSchema,
    /// Where it was loaded from.
    pub path: PathBuf,
    /// The component's import names (interfaces it needs from the host).
    pub imports: Vec<String>,
    /// The component's export names.
    pub exports: Vec<String>,
    pub(crate) pre: MixinPre<StepState>,
}

impl MixinEngine {
    /// A new engine. Compiled components are cached under `cache_dir` (created
    /// private to the user) when given.
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Self, SandboxError> {
        Self::with_pool(cache_dir, Some(PoolSize::default()))
    }

    /// A new engine whose instances come from a pool of `pool` slots (or are
    /// allocated on demand when `None`). When the host cannot reserve the
    /// pool's address space, the engine falls back to on-demand allocation.
    pub fn with_pool(
        cache_dir: Option<PathBuf>,
        pool: Option<PoolSize>,
    ) -> Result<Self, SandboxError> {
        let base = || {
            let mut config = Config::new();
            config.wasm_component_model(true);
            config.epoch_interruption(true);
            // Copy-on-write images of the initial memory (the default on
            // Linux) make instantiation a mapping, not a copy.
            config.memory_init_cow(true);
            config
        };
        let engine = match pool {
            Some(p) => {
                let mut config = base();
                let mut pooling = wasmtime::PoolingAllocationConfig::default();
                pooling
                    .total_component_instances(p.instances)
                    .total_core_instances(p.instances * 4)
                    .total_memories(p.instances * 2)
                    .total_tables(p.instances * 4)
                    .total_stacks(p.instances)
                    .max_memory_size(p.memory_bytes)
                    .max_component_instance_size(1 << 20)
                    .max_core_instance_size(1 << 20);
                config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling));
                match Engine::new(&config) {
                    Ok(e) => e,
                    // No room for the pool's reservation (ulimit -v, 32-bit
                    // address space): allocate per instance instead.
                    Err(_) => Engine::new(&base()).map_err(wt)?,
                }
            }
            None => Engine::new(&base()).map_err(wt)?,
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(wt)?;
        super::bindings::Mixin::add_to_linker::<StepState, wasmtime::component::HasSelf<StepState>>(
            &mut linker,
            |s| s,
        )
        .map_err(wt)?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.weak();
            let stop = ticker_stop.clone();
            std::thread::Builder::new()
                .name("wasmix-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        match engine.upgrade() {
                            Some(e) => e.increment_epoch(),
                            None => break,
                        }
                    }
                })
                .map_err(|e| {
                    SandboxError::Wasmtime(format!("could not start epoch thread: {e}"))
                })?;
        }
        Ok(MixinEngine {
            engine,
            linker,
            cache_dir,
            ticker_stop,
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Load the component at `path` as mixin `name`: compile it (or load the
    /// cached compilation), check it implements the world, and ask it to
    /// describe itself.
    pub fn load(&self, name: &str, path: &Path) -> Result<LoadedMixin, SandboxError> {
        let bytes = std::fs::read(path).map_err(|source| SandboxError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let digest = hex::encode(Sha256::digest(&bytes));
        let component = self.component(&digest, &bytes, path)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(MixinPre::new)
            .map_err(|e| SandboxError::NotAMixin {
                path: path.to_path_buf(),
                reason: format!("{e:#}"),
            })?;
        let info = super::step::describe(&self.engine, &pre).map_err(|reason| {
            SandboxError::NotAMixin {
                path: path.to_path_buf(),
                reason,
            }
        })?;
        let step_schema =
            serde_json::from_str(&info.step_schema).map_err(|e| SandboxError::NotAMixin {
                path: path.to_path_buf(),
                reason: format!("its step schema is not JSON: {e}"),
            })?;
        let schema = crate::schema::CompiledSchema::compile(&step_schema).map_err(|e| {
            SandboxError::NotAMixin {
                path: path.to_path_buf(),
                reason: format!("its step schema cannot be enforced: {e}"),
            }
        })?;
        let ty = component.component_type();
        let imports = ty
            .imports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();
        let exports = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();
        Ok(LoadedMixin {
            name: name.to_string(),
            digest: format!("sha256:{digest}"),
            info,
            step_schema,
            schema,
            path: path.to_path_buf(),
            imports,
            exports,
            pre,
        })
    }

    /// The import names of the component in `bytes` (read from `path`),
    /// compiled (or loaded from the compile cache) but not linked, so a
    /// component importing what the host lacks can still be described.
    pub fn imports_of(&self, path: &Path, bytes: &[u8]) -> Result<Vec<String>, SandboxError> {
        let digest = hex::encode(Sha256::digest(bytes));
        let component = self.component(&digest, bytes, path)?;
        Ok(component
            .component_type()
            .imports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect())
    }

    /// Compile, or load a compilation this process's wasmtime wrote earlier.
    ///
    /// Deserializing a precompiled artifact runs native code from it, so a
    /// cache entry is only used when its bytes hash to the value recorded
    /// beside it at compile time; anything else is recompiled and replaced.
    fn component(
        &self,
        digest: &str,
        bytes: &[u8],
        path: &Path,
    ) -> Result<Component, SandboxError> {
        let Some(dir) = &self.cache_dir else {
            return Component::new(&self.engine, bytes).map_err(|e| not_component(path, e));
        };
        let key = format!("{digest}-{}", self.compat_key());
        let artifact = dir.join(format!("{key}.cwasm"));
        let check = dir.join(format!("{key}.sha256"));
        let cached = || -> Option<Component> {
            let compiled = std::fs::read(&artifact).ok()?;
            let recorded = std::fs::read_to_string(&check).ok()?;
            if hex::encode(Sha256::digest(&compiled)) != recorded.trim() {
                return None;
            }
            // SAFETY: the artifact was written by this runtime into a
            // directory only the user can write, and its hash matches the
            // one recorded when it was compiled.
            unsafe { Component::deserialize(&self.engine, &compiled) }.ok()
        };
        if let Some(c) = cached() {
            return Ok(c);
        }
        let cache_err = |source| SandboxError::Cache {
            path: dir.clone(),
            source,
        };
        // One compile per component at a time, across threads and processes
        // (a workflow's parallel tasks, two commands at once): the others
        // wait for it and load what it wrote, instead of each spending the
        // same CPU on the same compile.
        crate::fsutil::private_dir(dir).map_err(cache_err)?;
        let _compiling =
            crate::fsutil::lock_exclusive(&dir.join(format!("{key}.lock"))).map_err(cache_err)?;
        if let Some(c) = cached() {
            return Ok(c);
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| not_component(path, e))?;
        let compiled = component.serialize().map_err(wt)?;
        crate::fsutil::write_atomic(&artifact, &compiled).map_err(cache_err)?;
        crate::fsutil::write_atomic(&check, hex::encode(Sha256::digest(&compiled)).as_bytes())
            .map_err(cache_err)?;
        Ok(component)
    }

    /// Engine settings and wasmtime version, as a short hex key.
    fn compat_key(&self) -> String {
        let mut h = ShaHasher(Sha256::new());
        self.engine.precompile_compatibility_hash().hash(&mut h);
        env!("CARGO_PKG_VERSION").hash(&mut h);
        hex::encode(&h.0.finalize()[..8])
    }
}

fn not_component(path: &Path, e: wasmtime::Error) -> SandboxError {
    SandboxError::NotAMixin {
        path: path.to_path_buf(),
        reason: format!("{e:#}"),
    }
}

struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
