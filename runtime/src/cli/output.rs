//! Rendering: every command builds a value, then prints it as text, or as
//! one JSON or YAML document on stdout. Documents go through [`print_doc`]
//! only, so both formats carry the same value.

use super::Failure;
use clap::ValueEnum;
use std::sync::OnceLock;

/// Output format of every command.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For programs: one JSON document on stdout.
    Json,
    /// For programs and people: the same document as YAML.
    Yaml,
}

impl Format {
    /// A document for programs (JSON or YAML), not text.
    pub fn is_structured(self) -> bool {
        self != Format::Text
    }
}

/// The document format, set once from `--output` after the settings are
/// read; [`print_doc`] renders in it.
static DOC_FORMAT: OnceLock<Format> = OnceLock::new();

/// Render documents as `format` from now on.
pub fn set_format(format: Format) {
    let _ = DOC_FORMAT.set(format);
}

/// Print `value` as one document on stdout: YAML under `--output yaml`,
/// pretty JSON otherwise.
pub fn print_doc<T: serde::Serialize + ?Sized>(value: &T) -> Result<(), Failure> {
    match DOC_FORMAT.get() {
        Some(Format::Yaml) => {
            // Through serde_json's value, so both formats hold the same data.
            let doc = serde_json::to_value(value)?;
            print!(
                "{}",
                serde_yaml::to_string(&doc).map_err(anyhow::Error::from)?
            );
        }
        _ => println!("{}", serde_json::to_string_pretty(value)?),
    }
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
