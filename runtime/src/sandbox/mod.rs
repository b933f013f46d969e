//! One fresh wasmtime store per step, holding only what the step's
//! [`Grant`](crate::grant::Grant) allows.
//!
//! - [`engine`]: the process-wide engine and [`LoadedMixin`] (a compiled
//!   component ready to instantiate);
//! - `cache`: the on-disk compile cache, trusted only for unchanged files;
//! - [`host`]: the host side of the `wasmix:mixin` imports (log,
//!   credentials, driver), checking every request against the grant;
//! - [`step`]: building the WASI context from a grant and running a step.

mod cache;
pub mod engine;
pub mod host;
pub mod step;

pub use engine::{LoadedMixin, MixinEngine, PoolSize, SandboxError};
pub use step::{LogLevel, LogLine, MixinOutput, StepInput, StepReport};

/// Bindings for the `wasmix:mixin` world.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "mixin",
        with: {
            "wasmix:mixin/credentials.secret": super::host::SecretHandle,
        },
    });
}
