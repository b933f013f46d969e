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
