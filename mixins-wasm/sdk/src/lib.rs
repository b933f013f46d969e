//! Write wasmix mixins in Rust.
//!
//! A mixin is a WASI 0.2 component implementing the `wasmix:mixin` world
//! (`wit/mixin.wit` at the repository root). This crate holds the guest
//! bindings for that world and the few helpers every mixin needs:
//!
//! - [`Mixin`]: the trait a mixin implements, with typed step parsing;
//! - [`export_mixin!`]: exports a [`Mixin`] as the component's entry points;
//! - [`Command`]: build a command for the host driver and [`Command::run`] it;
//! - [`log`]: structured, host-redacted logging.
//!
//! ```ignore
//! use wasmix_mixin_sdk::{Mixin, Failure, Output, Invocation, Info};
//!
//! struct Hello;
//! impl Mixin for Hello {
//!     fn info() -> Info { /* name, version, step schema */ }
//!     fn execute(inv: Invocation) -> Result<Vec<Output>, Failure> {
//!         let done = wasmix_mixin_sdk::Command::new("echo").arg("hi").run()?;
//!         Ok(vec![Output::text("said", done.stdout_text())])
//!     }
//! }
//! wasmix_mixin_sdk::export_mixin!(Hello);
//! ```

#![deny(missing_docs)]

/// Raw guest bindings generated from `wit/mixin.wit`.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "mixin",
        pub_export_macro: true,
        export_macro_name: "__export_world_mixin",
        default_bindings_module: "wasmix_mixin_sdk::bindings",
    });
}

mod command;
pub mod log;

pub use bindings::wasmix::mixin::credentials::{get as credential, reveal, Secret};
pub use bindings::wasmix::mixin::types::{Diagnostic, Failure, Info, Invocation, Output, Severity};
pub use command::{Command, Completed};

/// What a mixin implements. [`export_mixin!`] turns it into the component's
/// exports.
pub trait Mixin {
    /// Name, version and the JSON Schema of a step.
    fn info() -> Info;

    /// Findings about a step (its body as JSON) beyond what the schema checks.
    /// The default finds nothing.
    fn lint(_action: &str, _step: &str) -> Vec<Diagnostic> {
        Vec::new()
    }

    /// Run one step.
    fn execute(invocation: Invocation) -> Result<Vec<Output>, Failure>;
}

impl Failure {
    /// A failure with a message and no exit code.
    pub fn msg(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            exit_code: None,
        }
    }
}

impl Invocation {
    /// A string setting from the mixin's configuration in `porter.yaml`
    /// (`mixins: - exec: {image: …}`), if present.
    pub fn config_str(&self, key: &str) -> Option<String> {
        serde_json::from_str::<serde_json::Value>(&self.config)
            .ok()?
            .get(key)?
            .as_str()
            .map(str::to_string)
    }
}

impl Output {
    /// A plain output.
    pub fn text(name: impl Into<String>, value: impl Into<String>) -> Self {
        Output {
            name: name.into(),
            value: value.into(),
            sensitive: false,
        }
    }
}

/// Parse a step body (JSON) into the mixin's own step type, with an error that
/// names the field.
pub fn parse_step<T: serde::de::DeserializeOwned>(step: &str) -> Result<T, Failure> {
    serde_json::from_str(step).map_err(|e| Failure::msg(format!("invalid step: {e}")))
}

#[doc(hidden)]
pub struct Adapter<M>(core::marker::PhantomData<M>);

impl<M: Mixin> bindings::Guest for Adapter<M> {
    fn describe() -> Info {
        M::info()
    }
    fn lint(action: String, step: String) -> Vec<Diagnostic> {
        M::lint(&action, &step)
    }
    fn execute(invocation: Invocation) -> Result<Vec<Output>, Failure> {
        M::execute(invocation)
    }
}

/// Export a type implementing [`Mixin`] as this component's `describe`,
/// `lint` and `execute`.
#[macro_export]
macro_rules! export_mixin {
    ($ty:ty) => {
        type __WasmixMixinAdapter = $crate::Adapter<$ty>;
        $crate::bindings::__export_world_mixin!(__WasmixMixinAdapter with_types_in $crate::bindings);
    };
}
