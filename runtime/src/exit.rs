//! How a command ends, for scripts: every error of the library says its
//! class, and each class is one exit code.

/// How a command ended, for scripts: each class is one exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitClass {
    /// The action ran and a step failed (recorded).
    StepFailed,
    /// Bad input: manifest, parameters, credentials, arguments, widened grants.
    BadInput,
    /// The environment: mixin not found, registry, engine, state store, I/O.
    Environment,
    /// The trust policy refused an artifact; nothing was fetched or compiled.
    Untrusted,
    /// The operator pressed Ctrl-C.
    Interrupted,
}

impl ExitClass {
    /// The process exit code (130 is 128 + SIGINT, as shells report it).
    pub const fn code(self) -> u8 {
        match self {
            ExitClass::StepFailed => 1,
            ExitClass::BadInput => 2,
            ExitClass::Environment => 3,
            ExitClass::Untrusted => 4,
            ExitClass::Interrupted => 130,
        }
    }
}
