//! Drivers run what mixins ask for. The sandbox checks every request against
//! the step's grant and resolves guest paths and secret handles first, so a
//! driver only ever sees a [`Request`] that is allowed.

mod debug;
mod docker;
mod host;

pub use debug::{DebugDriver, Recorded};
pub use docker::{DockerDriver, PullPolicy};
pub use host::{HostDriver, FIXED_PATH};

use std::path::PathBuf;
use std::time::Duration;

/// A value in a command's environment.
#[derive(Clone)]
pub enum EnvValue {
    /// Plain text.
    Text(String),
    /// A credential's value, substituted by the host; named for logs.
    Secret {
        /// Credential name.
        name: String,
        /// The value. Never printed: [`std::fmt::Debug`] masks it.
        value: String,
    },
}

impl std::fmt::Debug for EnvValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvValue::Text(t) => write!(f, "{t:?}"),
            EnvValue::Secret { name, .. } => write!(f, "<credential {name}>"),
        }
    }
}

/// A checked request to run a command.
#[derive(Debug, Clone)]
pub struct Request {
    /// Program, exactly as the mixin named it (already allowed).
    pub program: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Environment (the command's whole environment besides a fixed `PATH`).
    pub env: Vec<(String, EnvValue)>,
    /// Host working directory.
    pub workdir: PathBuf,
    /// Standard input.
    pub stdin: Option<Vec<u8>>,
    /// Container image, for container drivers.
    pub image: Option<String>,
    /// Working directory inside the container, as the mixin asked.
    pub container_workdir: Option<String>,
    /// Granted directories to mount into the container.
    pub mounts: Vec<Mount>,
    /// Whether the container may use the network (the step was granted a host).
    pub network: bool,
    /// Labels tying a container to its installation and action.
    pub labels: Vec<(String, String)>,
    /// Files placed read-only in the container (Porter's `path:`
    /// destinations). Only container drivers take them: with the host
    /// driver they are placed in the bundle directory before the step.
    pub files: Vec<FileValue>,
}

/// A credential or parameter placed as a file at `target`.
#[derive(Clone)]
pub struct FileValue {
    /// Absolute path in the container.
    pub target: String,
    /// What it is (`credential kube`), for messages.
    pub source: String,
    /// The bytes. Never printed: [`std::fmt::Debug`] leaves them out.
    pub contents: zeroize::Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for FileValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} at {}>", self.source, self.target)
    }
}

/// A granted host directory mounted into a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Host path (inside a file grant).
    pub host: PathBuf,
    /// Path in the container.
    pub target: String,
    /// Read-only (always, for read-only grants).
    pub read_only: bool,
}

/// Limits the host applies to one command.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    /// Kill the command after this long.
    pub timeout: Duration,
    /// Keep at most this many bytes of stdout and of stderr.
    pub output_cap: usize,
}

/// How a command ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completed {
    /// Exit code (-1 when killed by a signal).
    pub exit_code: i32,
    /// Captured stdout (at most the cap).
    pub stdout: Vec<u8>,
    /// Captured stderr (at most the cap).
    pub stderr: Vec<u8>,
}

/// Why a driver could not run a request.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The program could not be started.
    #[error("could not start {program}: {source}")]
    Spawn {
        /// Program.
        program: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The operator pressed Ctrl-C; the command was killed.
    #[error("{program} was interrupted (Ctrl-C) and killed")]
    Interrupted {
        /// Program.
        program: String,
    },
    /// The command ran past its deadline and was killed.
    #[error("{program} was killed after {seconds}s (step deadline)")]
    Timeout {
        /// Program.
        program: String,
        /// Seconds allowed.
        seconds: u64,
    },
    /// The container engine failed or refused.
    #[error("container engine {endpoint}: {reason}")]
    Engine {
        /// Socket or URL of the engine.
        endpoint: String,
        /// What failed.
        reason: String,
    },
    /// The driver cannot do this kind of request.
    #[error("the {driver} driver cannot {what}")]
    Unsupported {
        /// Driver name.
        driver: &'static str,
        /// What was asked.
        what: String,
    },
}

/// Runs checked requests.
pub trait Driver: Send + Sync {
    /// The driver's name (`host`, `debug`).
    fn name(&self) -> &'static str;
    /// Run one request to completion.
    fn run(&self, request: &Request, limits: RunLimits) -> Result<Completed, DriverError>;
}
