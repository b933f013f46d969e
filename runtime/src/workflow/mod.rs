//! Workflows: a solved dependency graph run as persisted, resumable tasks.
//!
//! - [`record`]: the workflow, its tasks and every attempt in the state
//!   store, written before the first task starts and after every change;
//! - [`inputs`]: a task's parameters, credentials and dependency outputs,
//!   rendered just in time from the operator's sources and the outputs the
//!   store holds — never persisted;
//! - [`engine`]: the scheduler — runs ready tasks in parallel through an
//!   [`Executor`], stops the dependents of a failed task, recovers tasks a
//!   killed process left running.
//!
//! A workflow is the unit `wasmix workflow list|show|resume|retry|cancel`
//! works on. See `docs/workflows.md`.

pub mod engine;
pub mod inputs;
pub mod record;

pub use engine::{Engine, Event, Executor, TaskEnd, TaskStart};
pub use record::{Attempt, Task, Workflow};

use crate::store::StoreError;

crate::store::text_status! {
    /// Where a workflow stands.
    WorkflowStatus {
        /// Persisted; its process is running it (or was killed: `resume`).
        Running => "running",
        /// Every task succeeded (or had nothing to do).
        Succeeded => "succeeded",
        /// A task failed; its dependents are pending (`retry`).
        Failed => "failed",
        /// Ctrl-C stopped it between tasks (`resume`).
        Interrupted => "interrupted",
        /// Cancelled: its pending tasks will not run.
        Cancelled => "cancelled",
    }
}

crate::store::text_status! {
    /// Where a task stands.
    TaskStatus {
        /// Waiting for the tasks before it.
        Pending => "pending",
        /// Started and not finished (or its process was killed).
        Running => "running",
        /// Its action succeeded.
        Succeeded => "succeeded",
        /// Its action failed.
        Failed => "failed",
        /// Nothing to run: the installation is reused as it is.
        Reused => "reused",
        /// Nothing to run: kept for other users, or absent.
        Skipped => "skipped",
        /// Cancelled before it ran.
        Cancelled => "cancelled",
    }
}

impl TaskStatus {
    /// True when tasks after it may start.
    pub fn lets_dependents_run(self) -> bool {
        matches!(
            self,
            TaskStatus::Succeeded | TaskStatus::Reused | TaskStatus::Skipped
        )
    }
}

/// Why a workflow could not be created, loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such workflow.
    #[error("no workflow {0} (see `wasmix workflow list`)")]
    NotFound(i64),
    /// Another process is running the workflow.
    #[error("workflow {id} is being run by another wasmix (process {pid}); wait for it, or stop it first")]
    Busy {
        /// The workflow.
        id: i64,
        /// The process holding it.
        pid: String,
    },
    /// The workflow is not in a state for this command.
    #[error("workflow {id} is {status}: {what}")]
    State {
        /// The workflow.
        id: i64,
        /// Its status.
        status: WorkflowStatus,
        /// What to do instead.
        what: String,
    },
    /// A stored workflow could not be read back.
    #[error("workflow {id}: stored record is unreadable: {message}")]
    Corrupt {
        /// The workflow.
        id: i64,
        /// What is wrong.
        message: String,
    },
    /// The lock file could not be taken.
    #[error("workflow lock {path}: {source}")]
    Lock {
        /// The lock file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

impl WorkflowError {
    /// The exit class a command ending with this error reports.
    pub fn exit_class(&self) -> crate::exit::ExitClass {
        match self {
            WorkflowError::NotFound(_) | WorkflowError::State { .. } => {
                crate::exit::ExitClass::BadInput
            }
            _ => crate::exit::ExitClass::Environment,
        }
    }
}

/// Milliseconds since the epoch: task timings must show two tasks
/// overlapping, which seconds cannot.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
