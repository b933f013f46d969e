//! The step fields Porter's command-line mixins share: when a non-zero exit
//! is not a failure, and the outputs to collect.

use serde::Deserialize;

/// When a non-zero exit is not a failure.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreError {
    #[serde(default)]
    pub all: bool,
    #[serde(default, rename = "exitCodes")]
    pub exit_codes: Vec<i32>,
    #[serde(default)]
    pub output: IgnoreOutput,
}

/// Conditions on the command's standard error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreOutput {
    #[serde(default)]
    pub contains: Vec<String>,
    #[serde(default)]
    pub regex: Vec<String>,
}

/// An output to collect after the command succeeds: exactly one source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub name: String,
    #[serde(default, rename = "jsonPath")]
    pub json_path: Option<String>,
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    /// Porter's `sensitive`: the value is a secret.
    #[serde(default)]
    pub sensitive: bool,
}
