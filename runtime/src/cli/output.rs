//! Rendering: every command builds a value, then prints it as text or as
//! JSON on stdout. JSON goes through [`print_json`] only.

use super::Failure;
use clap::ValueEnum;

/// Output format of every command.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For programs: one JSON document on stdout.
    Json,
}

/// Print `value` as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<(), Failure> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `value`, or the mask when it is sensitive.
pub fn shown(value: &str, sensitive: bool) -> String {
    if sensitive {
        wasmix::redact::MASK.to_string()
    } else {
        value.to_string()
    }
}

/// A step result as JSON: what `install` reports and `installation logs` reads back.
#[derive(serde::Serialize)]
pub struct StepDoc<'a> {
    index: usize,
    mixin: &'a str,
    description: &'a str,
    status: wasmix::store::StepStatus,
    message: Option<&'a str>,
    logs: &'a str,
    duration_ms: u64,
}

impl<'a> From<&'a wasmix::store::StepRecord> for StepDoc<'a> {
    fn from(s: &'a wasmix::store::StepRecord) -> Self {
        StepDoc {
            index: s.index,
            mixin: &s.mixin,
            description: &s.description,
            status: s.status,
            message: s.message.as_deref(),
            logs: &s.logs,
            duration_ms: s.duration_ms,
        }
    }
}
