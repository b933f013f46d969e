//! Validation against draft-07 JSON Schema: mixin step bodies and bundle parameters.
//!
//! Mixins describe their steps with draft-07 JSON Schema, and Porter parameter
//! definitions carry JSON Schema keywords (`minimum`, `pattern`, …). The
//! checking itself is done by the `jsonschema` crate; this module decides which
//! schemas are accepted ([`CompiledSchema::compile`]) and turns the crate's
//! errors into [`Violation`]s whose paths use the manifest's form (`flags.c`,
//! `outputs[0]`, empty for the root) and whose messages are one readable line.
//!
//! A schema keyword that would not be enforced is refused when the schema is
//! compiled, never silently ignored:
//!
//! - `$schema` must name draft-07 (absent means draft-07);
//! - `$ref` must be a local `#…` reference: nothing is ever fetched (the
//!   validator is also built offline, without HTTP or file resolvers);
//! - `format` asserts, and a format the validator does not know is refused;
//! - `contentMediaType`/`contentEncoding` assert, and values the validator
//!   cannot decode or check are refused;
//! - a keyword draft-07 does not define is refused (with a suggestion when it
//!   looks like a typo), except `x-…` extension keys, which are annotations
//!   by convention;
//! - keywords draft-07 ignores where they stand are refused: anything but
//!   annotations next to `$ref`, `then`/`else` without `if`, and
//!   `additionalItems` unless `items` is an array.
//!
//! Annotations (`title`, `description`, `default`, `examples`, `$comment`,
//! `readOnly`, `writeOnly`, `$id`, `definitions`/`$defs`) are accepted and
//! constrain nothing, as the draft says.

use crate::manifest::{join, Parameter};
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Draft, ValidationError, Validator};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The `$schema` URI of the one draft this module validates.
pub const DRAFT_07: &str = "http://json-schema.org/draft-07/schema#";

/// One schema violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Path inside the validated value (`flags.c`, `outputs[0]`), empty for the root.
    pub path: String,
    /// What is wrong, on one line.
    pub message: String,
}

/// Why a schema was refused by [`CompiledSchema::compile`].
///
/// `at` is the place inside the schema in the manifest's path form
/// (`properties.flags.format`), empty for the schema's root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// A `$ref` that is not a local `#…` reference; nothing is fetched.
    #[error("{}: `$ref` {reference:?} is not a local `#...` reference; wasmix does not fetch schemas", place(.at))]
    RemoteRef {
        /// Where the `$ref` is.
        at: String,
        /// The reference as written.
        reference: String,
    },
    /// A `$schema` other than draft-07.
    #[error("{}: `$schema` {uri:?} is not draft-07 ({DRAFT_07}), the only draft wasmix validates", place(.at))]
    UnsupportedDraft {
        /// Where the `$schema` is.
        at: String,
        /// The meta-schema URI as written.
        uri: String,
    },
    /// A `format` the validator cannot check.
    #[error("{}: `format` {format:?} cannot be checked; known formats: {}", place(.at), known_formats().join(", "))]
    UnknownFormat {
        /// Where the `format` is.
        at: String,
        /// The format name as written.
        format: String,
    },
    /// A `contentMediaType` or `contentEncoding` value the validator cannot check.
    #[error("{}: `{keyword}` {value:?} cannot be checked; supported: {}", place(.at), supported.join(", "))]
    UnsupportedContent {
        /// Where the keyword is.
        at: String,
        /// `contentMediaType` or `contentEncoding`.
        keyword: String,
        /// The value as written.
        value: String,
        /// The values that are checked.
        supported: Vec<String>,
    },
    /// A keyword draft-07 does not define.
    #[error("{}: unknown keyword `{keyword}`{}", place(.at), suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownKeyword {
        /// The schema object holding the keyword.
        at: String,
        /// The keyword as written.
        keyword: String,
        /// A known keyword close to it.
        suggestion: Option<String>,
    },
    /// A keyword draft-07 ignores where it stands.
    #[error("{}: `{keyword}` has no effect {reason}", place(.at))]
    Ignored {
        /// The schema object holding the keyword.
        at: String,
        /// The keyword as written.
        keyword: String,
        /// Why it would be ignored, and what to write instead.
        reason: String,
    },
    /// The validator refused the schema (a keyword with a value of the wrong
    /// shape, a pattern that is not a regular expression, a `$ref` that does
    /// not resolve, …).
    #[error("{}: {message}", place(.at))]
    Invalid {
        /// Where in the schema, when known.
        at: String,
        /// What the validator said.
        message: String,
    },
}

fn place(at: &str) -> &str {
    if at.is_empty() {
        "schema root"
    } else {
        at
    }
}

/// A schema accepted by [`CompiledSchema::compile`], ready to validate many
/// values: compile a mixin's step schema once when the mixin is loaded.
#[derive(Debug, Clone)]
pub struct CompiledSchema {
    schema: Value,
    validator: Validator,
}

/// One problem found, with the keyword that found it.
struct Finding {
    violation: Violation,
    keyword: String,
    steps: Vec<Step>,
}

impl CompiledSchema {
    /// Check `schema` is a draft-07 schema whose every keyword is enforced
    /// (see the module documentation for what is refused) and compile it.
    pub fn compile(schema: &Value) -> Result<Self, SchemaError> {
        audit(schema, "")?;
        let validator = jsonschema::options()
            .with_draft(Draft::Draft7)
            .offline()
            .should_validate_formats(true)
            .should_ignore_unknown_formats(false)
            .build(schema)
            .map_err(|e| SchemaError::Invalid {
                at: instance_path(schema, e.instance_path().as_str()),
                message: one_line(&e.to_string()),
            })?;
        Ok(CompiledSchema {
            schema: schema.clone(),
            validator,
        })
    }

    /// The schema as it was given to [`CompiledSchema::compile`].
    pub fn as_value(&self) -> &Value {
        &self.schema
    }

    /// Validate `value`; an empty list means valid. Messages may quote the
    /// offending value (`must be one of "a", "b", found "c"`).
    pub fn validate(&self, value: &Value) -> Vec<Violation> {
        self.findings(value, true)
            .into_iter()
            .map(|f| f.violation)
            .collect()
    }

    /// True when `value` is valid.
    pub fn is_valid(&self, value: &Value) -> bool {
        self.validator.is_valid(value)
    }

    /// The problems in `value`. With `reveal` false, messages never quote
    /// the value (it may be a secret).
    fn findings(&self, value: &Value, reveal: bool) -> Vec<Finding> {
        let mut found: Vec<Finding> = Vec::new();
        for error in self.validator.iter_errors(value) {
            let (path, steps) = locate(value, error.instance_path().as_str());
            let keyword = error.kind().keyword().to_string();
            if let ValidationErrorKind::AdditionalProperties { unexpected } = error.kind() {
                let known = self.known_properties(&error);
                for key in unexpected {
                    let mut steps = steps.clone();
                    steps.push(Step::Key(key.clone()));
                    found.push(Finding {
                        violation: Violation {
                            path: join(&path, key),
                            message: one_line(&unknown_field(key, &known)),
                        },
                        keyword: keyword.clone(),
                        steps,
                    });
                }
                continue;
            }
            found.push(Finding {
                violation: Violation {
                    path,
                    message: one_line(&self.describe(&error, reveal)),
                },
                keyword,
                steps,
            });
        }
        // In the value's order (fields by name, items by index, a value
        // before what is inside it), not the order keywords were checked in.
        found.sort_by(|a, b| a.steps.cmp(&b.steps));
        // A value of the wrong type makes every other complaint about it
        // (and about what is inside it) noise: keep only the type error.
        let mistyped: Vec<String> = found
            .iter()
            .filter(|f| f.keyword == "type")
            .map(|f| f.violation.path.clone())
            .collect();
        let mut out: Vec<Finding> = Vec::new();
        for f in found {
            let hidden =
                f.keyword != "type" && mistyped.iter().any(|p| within(&f.violation.path, p));
            if !hidden && !out.iter().any(|o| o.violation == f.violation) {
                out.push(f);
            }
        }
        out
    }

    /// The schema value of the keyword that raised `error`, when it can be found.
    fn keyword_value(&self, error: &ValidationError<'_>) -> Option<&Value> {
        self.schema.pointer(error.schema_path().as_str())
    }

    /// The `properties` next to the `additionalProperties: false` that raised `error`.
    fn known_properties(&self, error: &ValidationError<'_>) -> Vec<String> {
        let pointer = error.schema_path().as_str();
        let parent = pointer
            .strip_suffix("/additionalProperties")
            .and_then(|p| self.schema.pointer(p))
            .and_then(Value::as_object);
        parent
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
            .map(|props| props.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn describe(&self, error: &ValidationError<'_>, reveal: bool) -> String {
        let instance: &Value = error.instance();
        let found = if reveal {
            format!(", found {}", shown(instance))
        } else {
            String::new()
        };
        match error.kind() {
            ValidationErrorKind::Type { kind } => {
                let expected: Vec<String> = match self.keyword_value(error) {
                    Some(Value::String(one)) => vec![one.clone()],
                    Some(Value::Array(many)) if many.iter().all(Value::is_string) => many
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                    _ => match kind {
                        TypeKind::Single(t) => vec![t.to_string()],
                        TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
                    },
                };
                format!(
                    "expected {}, found {}",
                    expected.join(" or "),
                    type_name(instance)
                )
            }
            ValidationErrorKind::Enum { options } => {
                let list: Vec<String> = match options.as_ref() {
                    Value::Array(values) => values.iter().map(shown).collect(),
                    other => vec![shown(other)],
                };
                format!("must be one of {}{found}", list.join(", "))
            }
            ValidationErrorKind::Constant { expected_value } => {
                format!("must be {}{found}", shown(expected_value))
            }
            ValidationErrorKind::Required { property } => match property.as_str() {
                Some(name) => format!("missing required field `{name}`"),
                None => format!("missing required field {property}"),
            },
            ValidationErrorKind::AdditionalProperties { unexpected }
            | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                format!("unknown field(s): {}", unexpected.join(", "))
            }
            ValidationErrorKind::UnevaluatedItems { unexpected } => {
                format!("unexpected item(s): {}", unexpected.join(", "))
            }
            ValidationErrorKind::AdditionalItems { limit } => {
                format!("allows at most {limit} item(s)")
            }
            ValidationErrorKind::MinItems { limit } => format!("needs at least {limit} item(s)"),
            ValidationErrorKind::MaxItems { limit } => format!("allows at most {limit} item(s)"),
            ValidationErrorKind::MinLength { limit } => {
                format!("must be at least {limit} character(s){found}")
            }
            ValidationErrorKind::MaxLength { limit } => {
                format!("must be at most {limit} character(s){found}")
            }
            ValidationErrorKind::MinProperties { limit } => {
                format!("needs at least {limit} field(s)")
            }
            ValidationErrorKind::MaxProperties { limit } => {
                format!("allows at most {limit} field(s)")
            }
            ValidationErrorKind::Minimum { limit } => format!("must be at least {limit}{found}"),
            ValidationErrorKind::Maximum { limit } => format!("must be at most {limit}{found}"),
            ValidationErrorKind::ExclusiveMinimum { limit } => {
                format!("must be greater than {limit}{found}")
            }
            ValidationErrorKind::ExclusiveMaximum { limit } => {
                format!("must be less than {limit}{found}")
            }
            ValidationErrorKind::MultipleOf { multiple_of } => {
                format!("must be a multiple of {multiple_of}{found}")
            }
            ValidationErrorKind::Pattern { pattern } => {
                format!("must match the pattern `{pattern}`{found}")
            }
            ValidationErrorKind::Format { format } => format!("must be a valid {format}{found}"),
            ValidationErrorKind::ContentEncoding { content_encoding } => {
                format!("must be {content_encoding}-encoded")
            }
            ValidationErrorKind::ContentMediaType { content_media_type } => {
                format!("must be valid {content_media_type} content")
            }
            ValidationErrorKind::FromUtf8 { .. } => "its decoded content is not UTF-8".into(),
            ValidationErrorKind::UniqueItems => "items must be unique".into(),
            ValidationErrorKind::Contains => {
                "needs at least one item matching the `contains` schema".into()
            }
            ValidationErrorKind::FalseSchema => "no value is allowed here".into(),
            ValidationErrorKind::Not { schema } => {
                format!("must not match the schema {}", shown(schema))
            }
            ValidationErrorKind::AnyOf { .. } => "does not match any of the allowed forms".into(),
            ValidationErrorKind::OneOfNotValid { .. } => format!(
                "must match exactly one form{}, matches none",
                self.alternatives(error)
            ),
            ValidationErrorKind::OneOfMultipleValid { .. } => format!(
                "must match exactly one form{}, matches more than one",
                self.alternatives(error)
            ),
            ValidationErrorKind::PropertyNames { error: inner } => {
                let name = if reveal {
                    format!(" {}", shown(inner.instance()))
                } else {
                    String::new()
                };
                format!("field name{name} {}", self.describe(inner, false))
            }
            ValidationErrorKind::Custom { message, .. } => message.clone(),
            ValidationErrorKind::BacktrackLimitExceeded { error } => {
                format!("the pattern is too costly to check here: {error}")
            }
            ValidationErrorKind::RegexEngineFailure { message } => {
                format!("the pattern could not be checked: {message}")
            }
            ValidationErrorKind::Referencing(e) => format!("schema error: {e}"),
        }
    }

    /// For `oneOf: [{required: [a]}, {required: [b]}]`, say " (set exactly one of: a, b)".
    fn alternatives(&self, error: &ValidationError<'_>) -> String {
        let Some(Value::Array(options)) = self.keyword_value(error) else {
            return String::new();
        };
        let names: Vec<&str> = options
            .iter()
            .filter_map(|o| o.get("required")?.as_array()?.first()?.as_str())
            .collect();
        if names.len() == options.len() && !names.is_empty() {
            format!(" (set exactly one of: {})", names.join(", "))
        } else {
            String::new()
        }
    }
}

/// Validate `value` against `schema`; an empty list means valid.
///
/// Compiles `schema` on every call: code validating many values against one
/// schema should [`CompiledSchema::compile`] it once. A schema that does not
/// compile yields one violation at the root saying why.
pub fn validate(schema: &Value, value: &Value) -> Vec<Violation> {
    match CompiledSchema::compile(schema) {
        Ok(compiled) => compiled.validate(value),
        Err(e) => vec![Violation {
            path: String::new(),
            message: format!("the schema is unusable: {e}"),
        }],
    }
}

/// A parameter or output definition, as far as its value's schema goes.
struct ValueDef<'a> {
    what: &'static str,
    name: &'a str,
    kind: Option<&'a str>,
    keywords: &'a BTreeMap<String, serde_yaml::Value>,
    allowed: Option<&'a Vec<serde_yaml::Value>>,
    sensitive: bool,
}

impl<'a> ValueDef<'a> {
    fn parameter(p: &'a Parameter) -> Self {
        ValueDef {
            what: "parameter",
            name: &p.name,
            kind: p.kind.as_deref(),
            keywords: &p.schema,
            allowed: p.allowed.as_ref(),
            sensitive: p.sensitive,
        }
    }

    fn output(o: &'a crate::manifest::OutputDef) -> Self {
        ValueDef {
            what: "output",
            name: &o.name,
            // An output of type file is its contents, not base64.
            kind: o.kind.as_deref().filter(|k| *k != "file"),
            keywords: &o.schema,
            allowed: None,
            sensitive: o.sensitive,
        }
    }

    fn schema(&self) -> Value {
        let mut schema = Map::new();
        schema.insert("$schema".into(), Value::from(DRAFT_07));
        for (key, value) in self.keywords {
            schema.insert(key.clone(), yaml_to_json(value));
        }
        let kind = match self.kind {
            None | Some("file") => "string",
            Some(other) => other,
        };
        schema.insert("type".into(), Value::from(kind));
        if let Some(allowed) = self.allowed {
            schema.insert(
                "enum".into(),
                Value::Array(allowed.iter().map(yaml_to_json).collect()),
            );
        }
        Value::Object(schema)
    }

    fn check(&self, text: &str) -> Result<(), String> {
        let (what, name) = (self.what, self.name);
        let shown_text = if self.sensitive {
            crate::redact::MASK
        } else {
            text
        };
        let bad =
            |expected: &str| format!("{what} {name:?} must be {expected}, got {shown_text:?}");
        let value = typed_value(self.kind, text).map_err(bad)?;
        let compiled = CompiledSchema::compile(&self.schema())
            .map_err(|e| format!("{what} {name:?} has an unusable definition: {e}"))?;
        let findings = compiled.findings(&value, false);
        if findings.is_empty() {
            return Ok(());
        }
        let (root, nested): (Vec<Finding>, Vec<Finding>) = findings
            .into_iter()
            .partition(|f| f.violation.path.is_empty());
        let mut message = format!("{what} {name:?}");
        if !root.is_empty() {
            let list: Vec<String> = root
                .iter()
                .map(|f| match (f.keyword.as_str(), self.allowed) {
                    ("enum", Some(allowed)) => {
                        let list: Vec<String> = allowed.iter().map(yaml_display).collect();
                        format!("must be one of {}", list.join(", "))
                    }
                    _ => f.violation.message.clone(),
                })
                .collect();
            message.push_str(&format!(" {}, got {shown_text:?}", list.join(" and ")));
        }
        for (i, f) in nested.iter().enumerate() {
            let sep = if i == 0 && root.is_empty() { ":" } else { ";" };
            message.push_str(&format!(
                "{sep} {}: {}",
                f.violation.path, f.violation.message
            ));
        }
        Err(message)
    }
}

/// The draft-07 schema a Porter parameter definition describes: `type` from
/// its `kind` (Porter's `file` is a string; no type means string, as Porter
/// does), `enum` from its allowed values, and its extra keywords (`minimum`,
/// `pattern`, `$id`, `title`, …) converted from YAML.
pub fn parameter_schema(p: &Parameter) -> Value {
    ValueDef::parameter(p).schema()
}

/// The draft-07 schema of a bundle output: its `type` and its JSON-Schema
/// keywords (`$id`, `pattern`, `enum`, …).
pub fn output_schema(o: &crate::manifest::OutputDef) -> Value {
    ValueDef::output(o).schema()
}

/// Check a parameter's value, given as command-line text, against its
/// definition: the text is read as the parameter's type (integer, number,
/// `true`/`false`, JSON object or array, otherwise the text itself) and
/// validated against [`parameter_schema`].
///
/// The error is one line naming the parameter and what is wrong
/// (`parameter "port" must be at least 1, got "0"`); a sensitive parameter's
/// value is shown as [`crate::redact::MASK`].
pub fn check_parameter_value(p: &Parameter, text: &str) -> Result<(), String> {
    ValueDef::parameter(p).check(text)
}

/// Check a bundle output's value (text, as a step produced it) against its
/// definition, as [`check_parameter_value`] does for parameters.
pub fn check_output_value(o: &crate::manifest::OutputDef, text: &str) -> Result<(), String> {
    ValueDef::output(o).check(text)
}

/// The JSON value command-line text stands for, or what it should have been.
fn typed_value(kind: Option<&str>, text: &str) -> Result<Value, &'static str> {
    match kind {
        Some("integer") => text
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| "an integer"),
        Some("number") => {
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Value::from(i));
            }
            text.parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or("a number")
        }
        Some("boolean") => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err("true or false"),
        },
        Some("object") => serde_json::from_str::<Value>(text)
            .ok()
            .filter(Value::is_object)
            .ok_or("a JSON object"),
        Some("array") => serde_json::from_str::<Value>(text)
            .ok()
            .filter(Value::is_array)
            .ok_or("a JSON array"),
        // Porter carries a file parameter's contents base64-encoded.
        Some("file") => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map(|_| Value::String(text.to_string()))
                .map_err(|_| "file contents in base64 (or @PATH on the command line)")
        }
        _ => Ok(Value::String(text.to_string())),
    }
}

/// YAML to JSON without dropping anything: non-string mapping keys become
/// their text, tags are dropped (their values kept), and non-finite numbers
/// become `null` so the schema is refused rather than silently changed.
fn yaml_to_json(v: &serde_yaml::Value) -> Value {
    use serde_yaml::Value as Yaml;
    match v {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(yaml_to_json).collect()),
        Yaml::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (yaml_display(k), yaml_to_json(v)))
                .collect(),
        ),
        Yaml::Tagged(tagged) => yaml_to_json(&tagged.value),
    }
}

/// A YAML scalar as the text a user would type; other values as JSON.
fn yaml_display(v: &serde_yaml::Value) -> String {
    use serde_yaml::Value as Yaml;
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Null => "null".into(),
        other => yaml_to_json(other).to_string(),
    }
}

/// Keywords draft-07 defines that constrain values.
const ASSERTIONS: &[&str] = &[
    "$ref",
    "additionalItems",
    "additionalProperties",
    "allOf",
    "anyOf",
    "const",
    "contains",
    "contentEncoding",
    "contentMediaType",
    "dependencies",
    "else",
    "enum",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "format",
    "if",
    "items",
    "maxItems",
    "maxLength",
    "maxProperties",
    "maximum",
    "minItems",
    "minLength",
    "minProperties",
    "minimum",
    "multipleOf",
    "not",
    "oneOf",
    "pattern",
    "patternProperties",
    "properties",
    "propertyNames",
    "required",
    "then",
    "type",
    "uniqueItems",
];

/// Keywords that constrain nothing. `$defs` is draft 2019-09's name for
/// `definitions`; draft-07 `$ref`s can point into it all the same.
const ANNOTATIONS: &[&str] = &[
    "$comment",
    "$defs",
    "$id",
    "$schema",
    "default",
    "definitions",
    "description",
    "examples",
    "readOnly",
    "title",
    "writeOnly",
];

/// `contentMediaType` values the validator checks.
const MEDIA_TYPES: &[&str] = &["application/json"];
/// `contentEncoding` values the validator decodes.
const ENCODINGS: &[&str] = &["base16", "base32", "base32hex", "base64", "base64url"];

/// Formats the validator may know; [`known_formats`] keeps those it does.
const FORMATS: &[&str] = &[
    "date",
    "date-time",
    "duration",
    "email",
    "hostname",
    "idn-email",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "iri",
    "iri-reference",
    "json-pointer",
    "regex",
    "relative-json-pointer",
    "time",
    "uri",
    "uri-reference",
    "uri-template",
    "uuid",
];

fn format_is_known(name: &str) -> bool {
    jsonschema::options().is_known_format(Draft::Draft7, name)
}

fn known_formats() -> Vec<&'static str> {
    FORMATS
        .iter()
        .copied()
        .filter(|f| format_is_known(f))
        .collect()
}

fn is_draft_07(uri: &str) -> bool {
    matches!(
        uri.trim_end_matches('#'),
        "http://json-schema.org/draft-07/schema" | "https://json-schema.org/draft-07/schema"
    )
}

/// Refuse what the validator would not enforce (see the module documentation).
/// Only schema positions are walked: names under `properties` and values
/// under `enum`, `const`, `default` or `examples` are data, not keywords.
fn audit(schema: &Value, at: &str) -> Result<(), SchemaError> {
    let Value::Object(map) = schema else {
        // `true`/`false` are schemas; anything else the validator refuses.
        return Ok(());
    };
    let ignored = |keyword: &str, reason: &str| SchemaError::Ignored {
        at: at.to_string(),
        keyword: keyword.to_string(),
        reason: reason.to_string(),
    };
    if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
        if !reference.starts_with('#') {
            return Err(SchemaError::RemoteRef {
                at: at.to_string(),
                reference: reference.to_string(),
            });
        }
        if let Some(beside) = map.keys().find(|k| {
            // `$id` is an annotation too, but gets its own message below.
            k.as_str() != "$ref" && !k.starts_with("x-") && !ANNOTATIONS.contains(&k.as_str())
        }) {
            return Err(ignored(
                beside,
                "next to `$ref` (draft-07 ignores it); put both under `allOf`",
            ));
        }
        if map.contains_key("$id") {
            return Err(ignored(
                "$id",
                "next to `$ref` (draft-07 ignores it); move it to a schema of its own",
            ));
        }
    }
    for (key, value) in map {
        let here = join(at, key);
        let k = key.as_str();
        if !ASSERTIONS.contains(&k) && !ANNOTATIONS.contains(&k) && !k.starts_with("x-") {
            let known: Vec<&str> = ASSERTIONS.iter().chain(ANNOTATIONS).copied().collect();
            return Err(SchemaError::UnknownKeyword {
                at: at.to_string(),
                keyword: key.clone(),
                suggestion: closest(k, &known).map(str::to_string),
            });
        }
        match (k, value) {
            ("$schema", Value::String(uri)) if !is_draft_07(uri) => {
                return Err(SchemaError::UnsupportedDraft {
                    at: at.to_string(),
                    uri: uri.clone(),
                })
            }
            ("format", Value::String(name)) if !format_is_known(name) => {
                return Err(SchemaError::UnknownFormat {
                    at: at.to_string(),
                    format: name.clone(),
                })
            }
            ("contentMediaType", Value::String(v)) if !MEDIA_TYPES.contains(&v.as_str()) => {
                return Err(unsupported_content(at, k, v, MEDIA_TYPES))
            }
            ("contentEncoding", Value::String(v)) if !ENCODINGS.contains(&v.as_str()) => {
                return Err(unsupported_content(at, k, v, ENCODINGS))
            }
            ("then" | "else", _) if !map.contains_key("if") => {
                return Err(ignored(k, "without `if`"));
            }
            ("additionalItems", _) if !matches!(map.get("items"), Some(Value::Array(_))) => {
                return Err(ignored(
                    k,
                    "unless `items` is an array of schemas; use `items` for every item",
                ));
            }
            (
                "additionalItems"
                | "additionalProperties"
                | "contains"
                | "propertyNames"
                | "if"
                | "then"
                | "else"
                | "not",
                sub,
            ) => audit(sub, &here)?,
            ("items" | "allOf" | "anyOf" | "oneOf", Value::Array(subs)) => {
                for (i, sub) in subs.iter().enumerate() {
                    audit(sub, &format!("{here}[{i}]"))?;
                }
            }
            ("items", sub) => audit(sub, &here)?,
            (
                "properties" | "patternProperties" | "definitions" | "$defs" | "dependencies",
                Value::Object(subs),
            ) => {
                for (name, sub) in subs {
                    // `dependencies` values may also be lists of names.
                    audit(sub, &join(&here, name))?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn unsupported_content(at: &str, keyword: &str, value: &str, supported: &[&str]) -> SchemaError {
    SchemaError::UnsupportedContent {
        at: at.to_string(),
        keyword: keyword.to_string(),
        value: value.to_string(),
        supported: supported.iter().map(|s| s.to_string()).collect(),
    }
}

/// A JSON pointer into `value` (`/flags/c`, `/outputs/0`) in the manifest's
/// path form (`flags.c`, `outputs[0]`). Digits index arrays only: under an
/// object, `/0` is the field named `0`.
fn instance_path(value: &Value, pointer: &str) -> String {
    locate(value, pointer).0
}

/// One step of a path, ordered so parents come first and indexes numerically.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Index(usize),
    Key(String),
}

/// [`instance_path`], and the steps it is made of (to order findings by).
fn locate(value: &Value, pointer: &str) -> (String, Vec<Step>) {
    let mut path = String::new();
    let mut steps = Vec::new();
    let mut here = Some(value);
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        let index = match here {
            Some(Value::Array(_)) => segment.parse::<usize>().ok(),
            _ => None,
        };
        match (here, index) {
            (Some(Value::Array(items)), Some(i)) => {
                path.push_str(&format!("[{i}]"));
                here = items.get(i);
                steps.push(Step::Index(i));
            }
            _ => {
                path = join(&path, &segment);
                here = here.and_then(|v| v.get(&segment));
                steps.push(Step::Key(segment));
            }
        }
    }
    (path, steps)
}

/// True when `path` is `parent` or inside it.
fn within(path: &str, parent: &str) -> bool {
    parent.is_empty()
        || path == parent
        || path
            .strip_prefix(parent)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

fn unknown_field(key: &str, known: &[String]) -> String {
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    let hint = match closest(key, &known) {
        Some(c) => format!("; did you mean `{c}`?"),
        None if !known.is_empty() => format!("; expected one of: {}", known.join(", ")),
        None => String::new(),
    };
    format!("unknown field `{key}`{hint}")
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value as compact JSON, cut short when long.
fn shown(v: &Value) -> String {
    const MAX: usize = 60;
    let text = v.to_string();
    if text.chars().count() <= MAX {
        text
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

/// Messages are single lines whatever the validator or the schema put in them.
fn one_line(text: &str) -> String {
    text.replace("\r\n", " ").replace(['\n', '\r'], " ")
}

/// The known name closest to a misspelt one, when it is close enough.
fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compiled(schema: Value) -> CompiledSchema {
        match CompiledSchema::compile(&schema) {
            Ok(c) => c,
            Err(e) => panic!("{schema} should compile: {e}"),
        }
    }

    fn messages(v: &[Violation]) -> Vec<(String, String)> {
        v.iter()
            .map(|v| (v.path.clone(), v.message.clone()))
            .collect()
    }

    fn parameter(yaml: &str) -> Parameter {
        serde_yaml::from_str(yaml).expect("test parameter")
    }

    #[test]
    fn typo_is_an_unknown_field_with_a_suggestion() {
        let schema = json!({"type": "object", "additionalProperties": false,
            "properties": {"arguments": {"type": "array"}, "command": {"type": "string"}},
            "required": ["command"]});
        let v = validate(&schema, &json!({"command": "x", "argumnets": []}));
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].path, "argumnets");
        assert_eq!(
            v[0].message,
            "unknown field `argumnets`; did you mean `arguments`?"
        );
        let v = validate(&schema, &json!({"command": "x", "zzz": 1}));
        assert_eq!(
            v[0].message,
            "unknown field `zzz`; expected one of: arguments, command"
        );
        let v = validate(&schema, &json!({}));
        assert_eq!(v[0].message, "missing required field `command`");
    }

    #[test]
    fn refs_types_and_one_of() {
        let schema = json!({"definitions": {"o": {"type": "object",
            "oneOf": [{"required": ["a"]}, {"required": ["b"]}]}},
            "type": "array", "items": {"$ref": "#/definitions/o"}});
        assert!(validate(&schema, &json!([{"a": 1}])).is_empty());
        let v = validate(&schema, &json!([{"a": 1, "b": 2}, "x", {}]));
        assert_eq!(
            messages(&v),
            [
                (
                    "[0]".to_string(),
                    "must match exactly one form (set exactly one of: a, b), matches more than one"
                        .to_string()
                ),
                ("[1]".into(), "expected object, found string".into()),
                (
                    "[2]".into(),
                    "must match exactly one form (set exactly one of: a, b), matches none".into()
                ),
            ]
        );
        assert!(validate(&json!({"type": "number"}), &json!(3)).is_empty());
    }

    #[test]
    fn local_ref_reaches_definitions_and_keeps_suggestions() {
        let s = compiled(
            json!({"$ref": "#/definitions/step", "definitions": {"step": {
            "type": "object", "additionalProperties": false,
            "properties": {"command": {"$ref": "#/definitions/name"}}},
            "name": {"type": "string", "minLength": 1}}}),
        );
        assert!(s.validate(&json!({"command": "ls"})).is_empty());
        assert_eq!(
            messages(&s.validate(&json!({"command": "", "comand": "ls"}))),
            [
                (
                    "comand".to_string(),
                    "unknown field `comand`; did you mean `command`?".to_string()
                ),
                (
                    "command".into(),
                    "must be at least 1 character(s), found \"\"".into()
                ),
            ]
        );
    }

    #[test]
    fn nested_paths_use_dots_and_indexes() {
        let s = compiled(json!({"type": "object", "properties": {
            "flags": {"type": "object", "additionalProperties": {"type": "string"}},
            "outputs": {"type": "array", "items": {"type": "object", "required": ["name"],
                "properties": {"name": {"type": "string"}}}},
            "0": {"type": "object", "properties": {"1": {"type": "integer"}}}}}));
        let v = s.validate(&json!({"flags": {"c": 1, "a/b": true},
            "outputs": [{}, {"name": 2}], "0": {"1": "x"}}));
        assert_eq!(
            messages(&v).into_iter().map(|(p, _)| p).collect::<Vec<_>>(),
            [
                "0.1",
                "flags.a/b",
                "flags.c",
                "outputs[0]",
                "outputs[1].name"
            ]
        );
        assert_eq!(v[2].message, "expected string, found integer");
        assert_eq!(v[3].message, "missing required field `name`");
    }

    #[test]
    fn a_type_error_hides_the_complaints_it_causes() {
        let s = compiled(json!({"type": "object", "required": ["a"],
            "properties": {"b": {"type": "string", "enum": ["x"], "minLength": 3}}}));
        assert_eq!(
            messages(&s.validate(&json!({"a": 1, "b": 7}))),
            [(
                "b".to_string(),
                "expected string, found integer".to_string()
            )]
        );
        assert_eq!(
            messages(&s.validate(&json!("x"))),
            [(String::new(), "expected object, found string".to_string())]
        );
        let v = s.validate(&json!({"a": 1, "b": "yy"}));
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v.iter().all(|v| v.path == "b"));
    }

    #[test]
    fn pattern_is_enforced() {
        let s = compiled(json!({"type": "string", "pattern": "^[a-z][a-z0-9-]*$"}));
        assert!(s.is_valid(&json!("web-1")));
        assert_eq!(
            messages(&s.validate(&json!("Web"))),
            [(
                String::new(),
                "must match the pattern `^[a-z][a-z0-9-]*$`, found \"Web\"".to_string()
            )]
        );
        let bad = CompiledSchema::compile(&json!({"pattern": "(unclosed"}));
        assert!(matches!(bad, Err(SchemaError::Invalid { .. })), "{bad:?}");
    }

    #[test]
    fn minimum_and_maximum_are_enforced() {
        let s = compiled(json!({"type": "integer", "minimum": 1, "maximum": 65535,
            "exclusiveMaximum": 65535}));
        assert!(s.is_valid(&json!(80)));
        assert_eq!(
            s.validate(&json!(0))[0].message,
            "must be at least 1, found 0"
        );
        assert_eq!(
            messages(&s.validate(&json!(70000))),
            [
                (
                    String::new(),
                    "must be at most 65535, found 70000".to_string()
                ),
                (
                    String::new(),
                    "must be less than 65535, found 70000".to_string()
                ),
            ]
        );
        assert_eq!(
            s.validate(&json!(2.5))[0].message,
            "expected integer, found number"
        );
    }

    #[test]
    fn enum_and_const_list_what_is_allowed() {
        let s = compiled(json!({"properties": {"mode": {"enum": ["fast", "safe"]},
            "v": {"const": 2}}}));
        assert!(s.is_valid(&json!({"mode": "safe", "v": 2})));
        assert_eq!(
            messages(&s.validate(&json!({"mode": "slow", "v": 3}))),
            [
                (
                    "mode".to_string(),
                    "must be one of \"fast\", \"safe\", found \"slow\"".to_string()
                ),
                ("v".into(), "must be 2, found 3".into()),
            ]
        );
    }

    #[test]
    fn format_asserts_and_unknown_formats_are_refused() {
        let s = compiled(json!({"properties": {"when": {"format": "date-time"},
            "mail": {"format": "email"}, "ip": {"format": "ipv4"}}}));
        assert!(s.is_valid(
            &json!({"when": "2024-05-01T10:00:00Z", "mail": "a@b.io", "ip": "10.0.0.1"})
        ));
        assert_eq!(
            messages(&s.validate(&json!({"when": "yesterday", "ip": "10.0.0.300"}))),
            [
                (
                    "ip".to_string(),
                    "must be a valid ipv4, found \"10.0.0.300\"".to_string()
                ),
                (
                    "when".into(),
                    "must be a valid date-time, found \"yesterday\"".into()
                ),
            ]
        );
        let e = CompiledSchema::compile(&json!({"properties": {"id": {"format": "snowflake"}}}))
            .expect_err("unknown format");
        assert_eq!(
            e,
            SchemaError::UnknownFormat {
                at: "properties.id".into(),
                format: "snowflake".into()
            }
        );
        assert!(
            e.to_string().contains("known formats: date, date-time"),
            "{e}"
        );
    }

    #[test]
    fn if_then_else_apply_the_matching_branch() {
        let s = compiled(json!({"type": "object",
            "if": {"properties": {"kind": {"const": "tls"}}, "required": ["kind"]},
            "then": {"required": ["cert"]},
            "else": {"properties": {"cert": false}}}));
        assert!(s.is_valid(&json!({"kind": "tls", "cert": "c"})));
        assert!(s.is_valid(&json!({"kind": "plain"})));
        assert_eq!(
            messages(&s.validate(&json!({"kind": "tls"}))),
            [(String::new(), "missing required field `cert`".to_string())]
        );
        assert_eq!(
            messages(&s.validate(&json!({"kind": "plain", "cert": "c"}))),
            [("cert".to_string(), "no value is allowed here".to_string())]
        );
        let e = CompiledSchema::compile(&json!({"then": {"required": ["x"]}}))
            .expect_err("then without if");
        assert!(
            matches!(&e, SchemaError::Ignored { keyword, .. } if keyword == "then"),
            "{e}"
        );
    }

    #[test]
    fn pattern_properties_and_additional_properties_together() {
        let s = compiled(json!({"type": "object", "additionalProperties": false,
            "properties": {"name": {"type": "string"}},
            "patternProperties": {"^x-": {"type": "string"}}}));
        assert!(s.is_valid(&json!({"name": "n", "x-team": "a"})));
        assert_eq!(
            messages(&s.validate(&json!({"nmae": "n", "x-team": 1}))),
            [
                (
                    "nmae".to_string(),
                    "unknown field `nmae`; did you mean `name`?".to_string()
                ),
                ("x-team".into(), "expected string, found integer".into()),
            ]
        );
    }

    #[test]
    fn remote_refs_are_refused() {
        for reference in ["https://example.com/step.json", "other.json#/definitions/a"] {
            let e = CompiledSchema::compile(&json!({"properties": {"a": {"$ref": reference}}}))
                .expect_err(reference);
            assert_eq!(
                e,
                SchemaError::RemoteRef {
                    at: "properties.a".into(),
                    reference: reference.into()
                }
            );
        }
        let e = CompiledSchema::compile(&json!({"$ref": "#/definitions/missing"}))
            .expect_err("dangling ref");
        assert!(matches!(e, SchemaError::Invalid { .. }), "{e}");
        let e = CompiledSchema::compile(&json!({"$ref": "#/definitions/a", "type": "string",
            "definitions": {"a": {}}}))
        .expect_err("sibling of $ref");
        assert!(
            matches!(&e, SchemaError::Ignored { keyword, .. } if keyword == "type"),
            "{e}"
        );
    }

    #[test]
    fn only_draft_07_is_accepted() {
        compiled(json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}));
        compiled(json!({"type": "object"}));
        for uri in [
            "https://json-schema.org/draft/2020-12/schema",
            "http://json-schema.org/draft-04/schema#",
        ] {
            let e = CompiledSchema::compile(&json!({"$schema": uri})).expect_err(uri);
            assert_eq!(
                e,
                SchemaError::UnsupportedDraft {
                    at: String::new(),
                    uri: uri.into()
                }
            );
            assert!(e.to_string().starts_with("schema root: `$schema`"), "{e}");
        }
    }

    #[test]
    fn unknown_keywords_are_refused_with_a_suggestion() {
        let e = CompiledSchema::compile(&json!({"properties": {"port": {"minimun": 1}}}))
            .expect_err("typo");
        assert_eq!(
            e.to_string(),
            "properties.port: unknown keyword `minimun`; did you mean `minimum`?"
        );
        let e = CompiledSchema::compile(&json!({"unevaluatedProperties": false}))
            .expect_err("2019-09 keyword");
        assert!(matches!(e, SchemaError::UnknownKeyword { .. }), "{e}");
        // Names of properties and values of `enum` are data, not keywords.
        compiled(json!({"properties": {"minimun": {"enum": [{"bogus": 1}]}},
            "x-doc": "extension annotation", "title": "t", "examples": [{"zz": 1}]}));
    }

    #[test]
    fn content_keywords_assert_or_are_refused() {
        let s = compiled(json!({"contentEncoding": "base64"}));
        assert!(s.is_valid(&json!("aGVsbG8=")));
        assert_eq!(
            s.validate(&json!("not base64!"))[0].message,
            "must be base64-encoded"
        );
        let s = compiled(json!({"contentMediaType": "application/json"}));
        assert!(!s.is_valid(&json!("{oops")));
        let e = CompiledSchema::compile(&json!({"contentMediaType": "image/png"}))
            .expect_err("unchecked media type");
        assert!(matches!(e, SchemaError::UnsupportedContent { .. }), "{e}");
    }

    #[test]
    fn messages_are_one_line() {
        let s = compiled(json!({"enum": ["a\nb"], "maxLength": 1}));
        let v = s.validate(&json!("line one\nline two"));
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v.iter().all(|v| !v.message.contains('\n')), "{v:?}");
    }

    #[test]
    fn shipped_mixin_schemas_compile() {
        for text in [
            include_str!("../../mixins-wasm/helm3/src/schema.json"),
            include_str!("../../mixins-wasm/kubernetes/src/schema.json"),
            include_str!("../../mixins-wasm/terraform/src/schema.json"),
        ] {
            let schema: Value = serde_json::from_str(text).expect("mixin schema is JSON");
            compiled(schema);
        }
    }

    #[test]
    fn parameter_schema_maps_porter_fields() {
        let p = parameter(
            "name: cfg\ntype: file\npath: /cfg\nminLength: 2\ntitle: Config\n$id: https://example.com/cfg\nenum: [ab, 3]\n",
        );
        assert_eq!(
            parameter_schema(&p),
            json!({"$schema": DRAFT_07, "type": "string", "minLength": 2, "title": "Config",
                "$id": "https://example.com/cfg", "enum": ["ab", 3]})
        );
        assert_eq!(parameter_schema(&parameter("name: x\n"))["type"], "string");
    }

    #[test]
    fn integer_parameter_with_minimum() {
        let p = parameter("name: port\ntype: integer\nminimum: 1\nmaximum: 65535\n");
        assert_eq!(check_parameter_value(&p, "8080"), Ok(()));
        assert_eq!(
            check_parameter_value(&p, "0"),
            Err("parameter \"port\" must be at least 1, got \"0\"".to_string())
        );
        assert_eq!(
            check_parameter_value(&p, "abc"),
            Err("parameter \"port\" must be an integer, got \"abc\"".to_string())
        );
    }

    #[test]
    fn string_parameter_with_pattern() {
        let p = parameter("name: ns\ntype: string\npattern: '^[a-z]+$'\nmaxLength: 5\n");
        assert_eq!(check_parameter_value(&p, "dev"), Ok(()));
        assert_eq!(
            check_parameter_value(&p, "Prod-1"),
            Err("parameter \"ns\" must be at most 5 character(s) and must match the pattern `^[a-z]+$`, got \"Prod-1\"".to_string())
        );
    }

    #[test]
    fn sensitive_parameter_value_is_masked() {
        let p = parameter(
            "name: token\ntype: string\nsensitive: true\nminLength: 20\npattern: '^ghp_'\n",
        );
        let secret = "hunter2-secret";
        let e = check_parameter_value(&p, secret).expect_err("too short");
        assert!(!e.contains(secret), "{e}");
        assert!(
            e.starts_with("parameter \"token\" ")
                && e.ends_with(&format!("got \"{}\"", crate::redact::MASK)),
            "{e}"
        );
        let p = parameter("name: pin\ntype: integer\nsensitive: true\n");
        assert_eq!(
            check_parameter_value(&p, "12ab"),
            Err(format!(
                "parameter \"pin\" must be an integer, got \"{}\"",
                crate::redact::MASK
            ))
        );
        let p = parameter("name: conf\ntype: object\nsensitive: true\nproperties: {key: {type: string, minLength: 30}}\n");
        let e = check_parameter_value(&p, r#"{"key": "s3cr3t-value"}"#).expect_err("nested");
        assert!(!e.contains("s3cr3t"), "{e}");
        assert!(
            e.starts_with("parameter \"conf\": key: must be at least 30"),
            "{e}"
        );
    }

    #[test]
    fn parameter_types_and_allowed_values() {
        let p = parameter("name: replicas\ntype: number\nmultipleOf: 0.5\n");
        assert_eq!(check_parameter_value(&p, "1.5"), Ok(()));
        assert!(check_parameter_value(&p, "1.2")
            .is_err_and(|e| e == "parameter \"replicas\" must be a multiple of 0.5, got \"1.2\""));
        let p = parameter("name: debug\ntype: boolean\n");
        assert_eq!(check_parameter_value(&p, "true"), Ok(()));
        assert_eq!(
            check_parameter_value(&p, "yes"),
            Err("parameter \"debug\" must be true or false, got \"yes\"".to_string())
        );
        let p = parameter("name: tags\ntype: array\nitems: {type: string}\nmaxItems: 2\n");
        assert_eq!(check_parameter_value(&p, r#"["a"]"#), Ok(()));
        assert_eq!(
            check_parameter_value(&p, r#"{"a": 1}"#),
            Err("parameter \"tags\" must be a JSON array, got \"{\\\"a\\\": 1}\"".to_string())
        );
        assert_eq!(
            check_parameter_value(&p, r#"["a", 2]"#),
            Err("parameter \"tags\": [1]: expected string, found integer".to_string())
        );
        let p = parameter("name: size\ntype: string\nenum: [small, large]\n");
        assert_eq!(check_parameter_value(&p, "large"), Ok(()));
        assert_eq!(
            check_parameter_value(&p, "huge"),
            Err("parameter \"size\" must be one of small, large, got \"huge\"".to_string())
        );
        let p = parameter("name: level\ntype: integer\nenum: [1, 2]\n");
        assert_eq!(check_parameter_value(&p, "2"), Ok(()));
        assert!(check_parameter_value(&p, "3").is_err());
        let p = parameter("name: odd\ntype: integer\nminimum: low\n");
        assert!(check_parameter_value(&p, "3")
            .is_err_and(|e| e.starts_with("parameter \"odd\" has an unusable definition:")));
    }
}
