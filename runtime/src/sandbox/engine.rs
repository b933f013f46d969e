//! The engine, the compile cache, and loaded mixins.

use super::bindings::{
    wasmix::mixin::types::{Diagnostic, Info},
    MixinPre,
};
use super::cache::{Cached, CompileCache};
use super::step::StepState;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

/// How often the epoch advances; step deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// At most how much of each pooled table slot is zeroed in place when a
/// step ends, instead of being given back to the kernel (a step zeroes its
/// table's current size, rounded up to a page). The first-party mixins'
/// tables fit in it many times over; a larger table has the rest given back
/// as before.
const TABLE_RESIDENT: usize = 64 << 10;

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
    cache: Option<CompileCache>,
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
    /// The step schema, compiled on first use: a mixin loaded from the
    /// cache has had it compiled before, and a run whose steps were checked
    /// before never needs it. See [`LoadedMixin::schema`].
    schema: OnceLock<Result<crate::schema::CompiledSchema, String>>,
    /// Where it was loaded from.
    pub path: PathBuf,
    /// The component's import names (interfaces it needs from the host).
    pub imports: Vec<String>,
    /// The component's export names.
    pub exports: Vec<String>,
    pub(crate) pre: MixinPre<StepState>,
}

impl LoadedMixin {
    /// The step schema, compiled (once) for validating steps; an error says
    /// why the validator cannot enforce it.
    pub fn schema(&self) -> Result<&crate::schema::CompiledSchema, String> {
        self.schema
            .get_or_init(|| {
                crate::schema::CompiledSchema::compile(&self.step_schema)
                    .map_err(|e| format!("its step schema cannot be enforced: {e}"))
            })
            .as_ref()
            .map_err(String::clone)
    }
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
                // A slot is reset with madvise when its step ends (the
                // default). PAGEMAP_SCAN (`pagemap_scan`, restoring only the
                // pages a step dirtied) halved a step's cost here, but in
                // wasmtime 48 a dirty page that was swapped out is not
                // reset, and the next step (maybe another mixin) would read
                // it: faster, not sound. wasmtime 50 resets those pages, but
                // it needs Rust 1.97, and on this kernel (6.18) the scan
                // reports pages never touched as written too, so the reset
                // became a memset of the whole budget and was no faster
                // (measured; docs/performance.md). Keeping memory resident
                // without the scan (`linear_memory_keep_resident`) is that
                // same memset.
                pooling.pagemap_scan(wasmtime::Enabled::No);
                // Tables are different: a component's are a few KiB, so
                // zeroing them in place costs less than the `madvise` and
                // the faults after it. That took two of a step's three
                // `madvise` calls away (no-op step about 8 µs, exec step
                // about 20 µs less; docs/performance.md).
                pooling.table_keep_resident(TABLE_RESIDENT);
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
        crate::timing::mark("runtime: engine");
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(wt)?;
        super::bindings::Mixin::add_to_linker::<StepState, wasmtime::component::HasSelf<StepState>>(
            &mut linker,
            |s| s,
        )
        .map_err(wt)?;
        crate::timing::mark("runtime: linker");
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
            cache: cache_dir.map(|d| CompileCache::new(d, &engine)),
            engine,
            linker,
            ticker_stop,
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Load the component at `path` as mixin `name`: compile it (or load the
    /// cached compilation), check it implements the world, and ask it to
    /// describe itself. A component the cache knows, unchanged since, is
    /// neither read, hashed, compiled nor asked again.
    pub fn load(&self, name: &str, path: &Path) -> Result<LoadedMixin, SandboxError> {
        let known = self.cache.as_ref().and_then(|c| {
            let digest = c.known_digest(path)?;
            let cached = c.lookup(&self.engine, &digest)?;
            Some((digest, cached))
        });
        let (digest, cached) = match known {
            Some(k) => k,
            None => {
                let read_err = |source| SandboxError::Read {
                    path: path.to_path_buf(),
                    source,
                };
                let (bytes, before, after) = read_watched(path).map_err(read_err)?;
                let digest = hex::encode(Sha256::digest(&bytes));
                if let Some(c) = &self.cache {
                    c.remember_digest(path, &digest, &before, &after);
                }
                let cached = self.component(&digest, &bytes, path)?;
                (digest, cached)
            }
        };
        let component = cached.component;
        let not_a_mixin = |reason: String| SandboxError::NotAMixin {
            path: path.to_path_buf(),
            reason,
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(MixinPre::new)
            .map_err(|e| not_a_mixin(format!("{e:#}")))?;
        let described = cached.info.is_none();
        let info = match cached.info {
            Some(info) => info,
            None => super::step::describe(&self.engine, &pre).map_err(not_a_mixin)?,
        };
        let step_schema: serde_json::Value = serde_json::from_str(&info.step_schema)
            .map_err(|e| not_a_mixin(format!("its step schema is not JSON: {e}")))?;
        let ty = component.component_type();
        let imports = ty
            .imports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();
        let exports = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();
        let mixin = LoadedMixin {
            name: name.to_string(),
            digest: format!("sha256:{digest}"),
            info,
            step_schema,
            schema: OnceLock::new(),
            path: path.to_path_buf(),
            imports,
            exports,
            pre,
        };
        if described {
            // A schema the validator cannot enforce refuses the mixin when
            // it is first seen; one the cache records compiled before.
            mixin.schema().map_err(not_a_mixin)?;
            if let Some(c) = &self.cache {
                c.record_info(&digest, &mixin.info);
            }
        }
        Ok(mixin)
    }

    /// The import names of the component in `bytes` (read from `path`),
    /// compiled (or loaded from the compile cache) but not linked, so a
    /// component importing what the host lacks can still be described.
    pub fn imports_of(&self, path: &Path, bytes: &[u8]) -> Result<Vec<String>, SandboxError> {
        let digest = hex::encode(Sha256::digest(bytes));
        let component = self.component(&digest, bytes, path)?.component;
        Ok(component
            .component_type()
            .imports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect())
    }

    /// The component `digest` (the bytes read from `path`): from the
    /// compile cache, compiled into it, or compiled when there is none.
    fn component(&self, digest: &str, bytes: &[u8], path: &Path) -> Result<Cached, SandboxError> {
        match &self.cache {
            Some(c) => match c.lookup(&self.engine, digest) {
                Some(hit) => Ok(hit),
                None => c.compile(&self.engine, digest, bytes, path),
            },
            None => Ok(Cached {
                component: Component::new(&self.engine, bytes)
                    .map_err(|e| not_component(path, e))?,
                info: None,
            }),
        }
    }

    /// The key under which the checks of these steps are remembered: the
    /// action and, per step, its mixin's digest and its body as JSON.
    pub fn checked_key<'a>(
        &self,
        action: &str,
        steps: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Option<String> {
        self.cache.as_ref()?;
        let mut h = Sha256::new();
        for part in [env!("CARGO_PKG_VERSION"), action] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        for (digest, json) in steps {
            for part in [digest, json] {
                h.update((part.len() as u64).to_le_bytes());
                h.update(part);
            }
        }
        Some(hex::encode(h.finalize()))
    }

    /// What checking the steps `key` names found before, when they passed.
    pub fn checked(&self, key: &str) -> Option<Vec<Vec<Diagnostic>>> {
        self.cache.as_ref()?.checked(key)
    }

    /// Remember that the steps `key` names passed with these findings.
    pub fn record_checked(&self, key: &str, findings: &[Vec<Diagnostic>]) {
        if let Some(c) = &self.cache {
            c.record_checked(key, findings);
        }
    }
}

/// The bytes of the file at `path`, with its metadata taken from the open
/// file before and after reading them (to tell whether it changed meanwhile).
fn read_watched(path: &Path) -> std::io::Result<(Vec<u8>, std::fs::Metadata, std::fs::Metadata)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let before = file.metadata()?;
    let mut bytes = Vec::with_capacity(before.len() as usize);
    file.read_to_end(&mut bytes)?;
    let after = file.metadata()?;
    Ok((bytes, before, after))
}

fn not_component(path: &Path, e: wasmtime::Error) -> SandboxError {
    SandboxError::NotAMixin {
        path: path.to_path_buf(),
        reason: format!("{e:#}"),
    }
}
