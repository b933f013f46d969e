//! The exec step as it appears in `porter.yaml`, and its JSON Schema.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One exec step. Field names follow Porter's exec mixin exactly.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecStep {
    #[serde(default)]
    pub description: String,
    pub command: String,
    #[serde(default)]
    pub dir: Option<String>,
    #[serde(default)]
    pub arguments: Vec<String>,
    /// Flag values are scalars, null (a bare flag) or lists (a repeated flag).
    #[serde(default)]
    pub flags: BTreeMap<String, Value>,
    #[serde(default, rename = "suffix-arguments")]
    pub suffix_arguments: Vec<String>,
    #[serde(default)]
    pub envs: BTreeMap<String, String>,
    #[serde(default, rename = "suppress-output")]
    pub suppress_output: bool,
    #[serde(default, rename = "ignoreError")]
    pub ignore_error: Option<IgnoreError>,
    #[serde(default)]
    pub outputs: Vec<OutputSpec>,
    /// Run the command in this container image (wasmix extension; the
    /// mixin's `image` config is the default).
    #[serde(default)]
    pub image: Option<String>,
}

pub use wasmix_cmdline::spec::{IgnoreError, IgnoreOutput, OutputSpec};

/// The JSON Schema of one exec step body. Porter's `exec.json` describes
/// flags as strings, but Porter's exec accepts numbers, booleans, null and
/// lists there; this schema says what the mixin really accepts.
pub const STEP_SCHEMA: &str = r##"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "description": "A step that is executed by the exec mixin",
  "type": "object",
  "properties": {
    "description": {"type": "string", "description": "A description of the mixin step"},
    "command": {"type": "string", "description": "The name of the command to run"},
    "dir": {"type": "string", "description": "The directory in which to execute the command"},
    "arguments": {"type": "array", "items": {"type": "string"},
      "description": "Positional arguments to pass to the command before any flags"},
    "flags": {"type": "object", "description": "Flags to pass to the command",
      "additionalProperties": {"type": ["string", "number", "boolean", "null", "array"],
        "items": {"type": ["string", "number", "boolean"]}}},
    "envs": {"type": "object", "additionalProperties": {"type": "string"},
      "description": "Environment variables to add to the env of the command"},
    "suffix-arguments": {"type": "array", "items": {"type": "string"},
      "description": "Positional arguments to pass to the command after any flags"},
    "suppress-output": {"type": "boolean", "description": "Do not print output from the command"},
    "image": {"type": "string", "description": "Run the command in this container image (needs a container driver and an images grant)"},
    "outputs": {"type": "array", "items": {
      "type": "object",
      "properties": {
        "name": {"type": "string"},
        "jsonPath": {"type": "string"},
        "regex": {"type": "string"},
        "path": {"type": "string"},
        "sensitive": {"type": "boolean", "description": "The value is a secret: masked everywhere and stored sealed"}
      },
      "additionalProperties": false,
      "required": ["name"],
      "oneOf": [{"required": ["jsonPath"]}, {"required": ["regex"]}, {"required": ["path"]}]
    }},
    "ignoreError": {"type": "object", "additionalProperties": false, "properties": {
      "all": {"type": "boolean"},
      "exitCodes": {"type": "array", "items": {"type": "integer"}},
      "output": {"type": "object", "additionalProperties": false, "properties": {
        "contains": {"type": "array", "items": {"type": "string"}},
        "regex": {"type": "array", "items": {"type": "string"}}
      }}
    }}
  },
  "additionalProperties": false,
  "required": ["command"]
}"##;
