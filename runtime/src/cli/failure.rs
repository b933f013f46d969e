//! How an error ends the command: every library error says its own
//! [`ExitClass`]; the CLI only adds context. No downcasting.

use wasmix::exit::ExitClass;

/// An error with the exit class it ends the command with.
pub struct Failure {
    /// Which exit code.
    pub class: ExitClass,
    /// What to print.
    pub error: anyhow::Error,
}

/// An error a library call returns, with the exit class it belongs to.
pub trait Classified: std::error::Error + Send + Sync + 'static {
    /// The exit class of a command that ends with this error.
    fn exit_class(&self) -> ExitClass;
}

impl<E: Classified> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure {
            class: e.exit_class(),
            error: e.into(),
        }
    }
}

/// Errors built in the CLI with context (`anyhow!`, `.context()`) are about
/// the environment unless marked otherwise with [`bad_input`].
impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure {
            class: ExitClass::Environment,
            error,
        }
    }
}

/// A failure caused by what the user gave: exit 2.
pub fn bad_input(error: anyhow::Error) -> Failure {
    Failure {
        class: ExitClass::BadInput,
        error,
    }
}

macro_rules! classified {
    ($($ty:ty => $class:expr),+ $(,)?) => {
        $(impl Classified for $ty {
            fn exit_class(&self) -> ExitClass {
                $class
            }
        })+
    };
}

classified! {
    wasmix::manifest::ManifestError => ExitClass::BadInput,
    wasmix::plan::PlanError => ExitClass::BadInput,
    wasmix::run::inputs::InputError => ExitClass::BadInput,
    wasmix::run::inputs::SourceError => ExitClass::BadInput,
    wasmix::resolve::NotFound => ExitClass::Environment,
    wasmix::sandbox::SandboxError => ExitClass::Environment,
    wasmix::store::StoreError => ExitClass::Environment,
    wasmix::driver::DriverError => ExitClass::Environment,
    std::io::Error => ExitClass::Environment,
    serde_json::Error => ExitClass::Environment,
    wasmix_signing::SigningError => ExitClass::Environment,
    wasmix::sets::SetError => ExitClass::BadInput,
}

impl Classified for wasmix::run::RunError {
    fn exit_class(&self) -> ExitClass {
        wasmix::run::RunError::exit_class(self)
    }
}

impl Classified for wasmix::lock::LockError {
    fn exit_class(&self) -> ExitClass {
        wasmix::lock::LockError::exit_class(self)
    }
}

impl Classified for wasmix::oci::OciError {
    fn exit_class(&self) -> ExitClass {
        wasmix::oci::OciError::exit_class(self)
    }
}

impl Classified for wasmix::oci::PinError {
    fn exit_class(&self) -> ExitClass {
        match self {
            wasmix::oci::PinError::Oci(e) => e.exit_class(),
            wasmix::oci::PinError::Moved(_) => ExitClass::BadInput,
        }
    }
}

impl Classified for wasmix::publish::PublishError {
    fn exit_class(&self) -> ExitClass {
        match self {
            wasmix::publish::PublishError::Oci(e) => e.exit_class(),
            wasmix::publish::PublishError::Component(_) => ExitClass::Environment,
        }
    }
}

impl Classified for wasmix::bundle::BundleError {
    fn exit_class(&self) -> ExitClass {
        wasmix::bundle::BundleError::exit_class(self)
    }
}
