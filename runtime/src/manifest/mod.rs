//! `porter.yaml`: typed, validated, with every error located at `file:line:col`.
//!
//! Loading follows Porter's rules (the same files parse or fail) and adds
//! what wasmix needs: per-step grants (`grants:`), which are runtime-owned
//! keys removed before a mixin sees its step.

mod source;
mod types;

pub use source::{join, Position, SourceMap};
pub use types::*;

use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The names Porter reserves at the top of a manifest; any other top-level
/// key is a custom action.
const KNOWN_KEYS: &[&str] = &[
    "schemaType",
    "schemaVersion",
    "name",
    "version",
    "description",
    "registry",
    "reference",
    "maintainers",
    "mixins",
    "parameters",
    "credentials",
    "outputs",
    "install",
    "upgrade",
    "uninstall",
    "customActions",
    "state",
    "dependencies",
    "images",
    "custom",
    "required",
    "dockerfile",
    "files",
];

/// The manifest's file name inside a bundle directory.
pub const MANIFEST_FILE: &str = "porter.yaml";

/// One problem in a manifest, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `file:line:col`.
    pub location: String,
    /// The path in the document (`install[0].exec.command`), empty for the root.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.location, self.message)
        } else {
            write!(f, "{}: {}: {}", self.location, self.path, self.message)
        }
    }
}

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("could not read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest is invalid; every problem found is listed.
    #[error("{} is invalid:\n{}", .file.display(), .problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Every problem, in document order.
        problems: Vec<Problem>,
    },
}

impl ManifestError {
    /// The problems, when the manifest was read but is invalid.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ManifestError::Invalid { problems, .. } => problems,
            ManifestError::Read { .. } => &[],
        }
    }
}

/// Find the manifest for `path`: the file itself, or `porter.yaml` inside a
/// directory.
pub fn manifest_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(MANIFEST_FILE)
    } else {
        path.to_path_buf()
    }
}

/// Read and validate the manifest at `path` (a file or a bundle directory).
pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
    let file = manifest_path(path);
    let text = std::fs::read_to_string(&file).map_err(|source| ManifestError::Read {
        path: file.clone(),
        source,
    })?;
    parse(&file, &text)
}

/// Parse and validate manifest `text` read from `file`.
pub fn parse(file: &Path, text: &str) -> Result<Manifest, ManifestError> {
    let map = SourceMap::index(file, text);
    let mut loader = Loader {
        map: &map,
        problems: Vec::new(),
    };
    let manifest = loader.manifest(text);
    match manifest {
        Some(m) if loader.problems.is_empty() => Ok(m),
        _ => Err(ManifestError::Invalid {
            file: file.to_path_buf(),
            problems: loader.problems,
        }),
    }
}

struct Loader<'a> {
    map: &'a SourceMap,
    problems: Vec<Problem>,
}

impl Loader<'_> {
    fn problem(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            location: self.map.locate(path),
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// Deserialize `value` at `path` into `T`, recording a located problem on
    /// failure.
    fn typed<T: DeserializeOwned>(&mut self, path: &str, value: Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(t) => Some(t),
            Err(e) => {
                let inner = serde_path(e.path());
                let full = join(path, &inner);
                self.problem(&full, clean_serde_message(&e.inner().to_string()));
                None
            }
        }
    }

    fn manifest(&mut self, text: &str) -> Option<Manifest> {
        let root: Value = match serde_yaml::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let (line, col) = e
                    .location()
                    .map(|l| (l.line(), l.column()))
                    .unwrap_or((1, 1));
                self.problems.push(Problem {
                    location: format!("{}:{line}:{col}", self.map.file().display()),
                    path: String::new(),
                    message: format!("not valid YAML: {}", strip_location(&e.to_string())),
                });
                return None;
            }
        };
        let Value::Mapping(root) = root else {
            self.problem(
                "",
                "a manifest must be a mapping of keys such as name, version, install",
            );
            return None;
        };
        let mut fields = Mapping::new();
        let mut custom_actions = Vec::new();
        for (k, v) in root {
            let Some(key) = k.as_str().map(str::to_string) else {
                self.problem("", format!("top-level keys must be strings, found {k:?}"));
                continue;
            };
            if KNOWN_KEYS.contains(&key.as_str()) {
                fields.insert(Value::String(key), v);
            } else {
                custom_actions.push((key, v));
            }
        }
        let take = |fields: &mut Mapping, k: &str| fields.remove(k).unwrap_or(Value::Null);

        let schema_version = self.opt_string(&mut fields, "schemaVersion");
        let schema_type = self.opt_string(&mut fields, "schemaType");
        let name = self.opt_string(&mut fields, "name");
        let version = self.opt_string(&mut fields, "version");
        let description = self.opt_string(&mut fields, "description");
        let registry = self.opt_string(&mut fields, "registry");
        let reference = self.opt_string(&mut fields, "reference");
        let dockerfile = self.opt_string(&mut fields, "dockerfile");

        if name.as_deref().unwrap_or("").is_empty() {
            self.problem("", "bundle name must be set (add `name: my-bundle`)");
        }
        if let Some(v) = &schema_version {
            if !SUPPORTED_SCHEMA_VERSIONS.contains(&v.as_str()) {
                self.problem(
                    "schemaVersion",
                    format!(
                        "unsupported schemaVersion {v:?}; supported: {}",
                        SUPPORTED_SCHEMA_VERSIONS.join(", ")
                    ),
                );
            }
        }
        if dockerfile.as_deref() == Some("Dockerfile") {
            self.problem(
                "dockerfile",
                "Dockerfile template cannot be named 'Dockerfile' because that is the filename generated during porter build",
            );
        }

        let maintainers = self
            .typed_or_default::<Vec<Maintainer>>("maintainers", take(&mut fields, "maintainers"));
        let mixins = self.mixins(take(&mut fields, "mixins"));
        let parameters =
            self.typed_or_default::<Vec<Parameter>>("parameters", take(&mut fields, "parameters"));
        let credentials = self
            .typed_or_default::<Vec<Credential>>("credentials", take(&mut fields, "credentials"));
        let outputs =
            self.typed_or_default::<Vec<OutputDef>>("outputs", take(&mut fields, "outputs"));
        let custom_action_defs = self.typed_or_default::<BTreeMap<String, CustomActionDef>>(
            "customActions",
            take(&mut fields, "customActions"),
        );
        let state = self.typed_or_default::<Vec<StateVar>>("state", take(&mut fields, "state"));
        let dependencies = self.typed_or_default::<Option<Dependencies>>(
            "dependencies",
            take(&mut fields, "dependencies"),
        );
        let images =
            self.typed_or_default::<BTreeMap<String, Image>>("images", take(&mut fields, "images"));
        let required =
            self.typed_or_default::<Vec<Value>>("required", take(&mut fields, "required"));
        let custom = take(&mut fields, "custom");
        // Porter 1.3's file sources: files fetched into the bundle at build
        // time. wasmix builds nothing, so they would never arrive.
        if !take(&mut fields, "files").is_null() {
            self.problem(
                "files",
                "file sources (`files:`) are not supported: wasmix has no build step that would \
                 download them; put each file in the bundle directory instead"
                    .to_string(),
            );
        }

        self.check_unique("parameters", parameters.iter().map(|p| p.name.as_str()));
        self.check_unique("credentials", credentials.iter().map(|p| p.name.as_str()));
        self.check_unique("outputs", outputs.iter().map(|p| p.name.as_str()));
        for (i, p) in parameters.iter().enumerate() {
            for key in p.schema.keys() {
                if !PARAMETER_SCHEMA_KEYWORDS.contains(&key.as_str()) {
                    self.problem(
                        &format!("parameters[{i}].{key}"),
                        format!("unknown field `{key}` in parameter {:?}", p.name),
                    );
                }
            }
            if p.kind.as_deref() == Some("file") && p.path.is_none() {
                self.problem(
                    &format!("parameters[{i}]"),
                    format!("no destination path supplied for parameter {}", p.name),
                );
            }
        }

        for (i, o) in outputs.iter().enumerate() {
            for key in o.schema.keys() {
                if !PARAMETER_SCHEMA_KEYWORDS.contains(&key.as_str()) && key != "enum" {
                    self.problem(
                        &format!("outputs[{i}].{key}"),
                        format!("unknown field `{key}` in output {:?}", o.name),
                    );
                }
            }
        }

        let mut actions = BTreeMap::new();
        for builtin in ["install", "upgrade", "uninstall"] {
            let v = take(&mut fields, builtin);
            if v.is_null() {
                if builtin != "upgrade" {
                    self.problem("", format!("the {builtin} action is required"));
                }
                continue;
            }
            if let Some(steps) = self.steps(builtin, v) {
                actions.insert(builtin.to_string(), steps);
            }
        }
        for (key, v) in custom_actions {
            if !v.is_sequence() {
                self.problem(
                    &key,
                    format!(
                        "unknown field `{key}`: a top-level key that is not a manifest field \
                         is a custom action and must be a list of steps, found {}",
                        kind_of(&v)
                    ),
                );
                continue;
            }
            if let Some(steps) = self.steps(&key, v) {
                actions.insert(key, steps);
            }
        }
        for name in custom_action_defs.keys() {
            if !actions.contains_key(name) {
                self.problem(
                    &format!("customActions.{name}"),
                    format!("customActions names {name:?} but no action {name:?} is defined"),
                );
            }
        }
        for (action, steps) in &actions {
            for step in steps {
                if !mixins.iter().any(|m| m.name == step.mixin) {
                    self.problem(
                        &step.path,
                        format!(
                            "mixin ({}) was not declared; add it under `mixins:`",
                            step.mixin
                        ),
                    );
                }
                let _ = action;
            }
        }

        Some(Manifest {
            file: self.map.file().to_path_buf(),
            dir: self
                .map
                .file()
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            source: self.map.clone(),
            schema_type,
            schema_version,
            name: name.unwrap_or_default(),
            version: version.unwrap_or_default(),
            description,
            registry,
            reference,
            dockerfile,
            maintainers,
            mixins,
            parameters,
            credentials,
            outputs,
            actions,
            custom_actions: custom_action_defs,
            state,
            dependencies,
            images,
            required,
            custom,
        })
    }

    fn opt_string(&mut self, fields: &mut Mapping, key: &str) -> Option<String> {
        match fields.remove(key)? {
            Value::Null => None,
            Value::String(s) => Some(s),
            // Porter reads unquoted numbers (version: 1.0) as text too.
            Value::Number(n) if key.ends_with("ersion") => Some(n.to_string()),
            other => {
                self.problem(
                    key,
                    format!("{key} must be a string, found {}", kind_of(&other)),
                );
                None
            }
        }
    }

    fn typed_or_default<T: DeserializeOwned + Default>(&mut self, path: &str, v: Value) -> T {
        if v.is_null() {
            return T::default();
        }
        self.typed(path, v).unwrap_or_default()
    }

    fn check_unique<'n>(&mut self, section: &str, names: impl Iterator<Item = &'n str>) {
        let mut seen = std::collections::HashSet::new();
        for (i, n) in names.enumerate() {
            if !seen.insert(n) {
                self.problem(
                    &format!("{section}[{i}]"),
                    format!("{n:?} is declared twice in {section}"),
                );
            }
        }
    }

    fn mixins(&mut self, v: Value) -> Vec<MixinDecl> {
        let Value::Sequence(items) = v else {
            if v.is_null() {
                self.problem(
                    "",
                    "no mixins declared; add a `mixins:` list (for example `- exec`)",
                );
            } else {
                self.problem(
                    "mixins",
                    format!("mixins must be a list, found {}", kind_of(&v)),
                );
            }
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let path = format!("mixins[{i}]");
            let (spec, config) = match item {
                Value::String(s) => (s, Value::Null),
                Value::Mapping(m) if m.len() == 1 => {
                    let (k, v) = m.into_iter().next().expect("one entry");
                    match k {
                        Value::String(s) => (s, v),
                        _ => {
                            self.problem(&path, "a mixin name must be a string");
                            continue;
                        }
                    }
                }
                Value::Mapping(_) => {
                    self.problem(
                        &path,
                        "mixin declaration contained more than one mixin; write `- name:` with its \
                         config nested under it, one mixin per item",
                    );
                    continue;
                }
                Value::Null => {
                    self.problem(&path, "found an empty mixin declaration");
                    continue;
                }
                other => {
                    self.problem(
                        &path,
                        format!(
                            "a mixin must be a name or a mapping, found {}",
                            kind_of(&other)
                        ),
                    );
                    continue;
                }
            };
            let (name, version) = match spec.split_once('@') {
                None => (spec.clone(), None),
                Some((n, "")) => {
                    self.problem(&path, format!("mixin {n:?} has an empty version after @"));
                    continue;
                }
                Some((n, v)) if v.contains('@') => {
                    self.problem(
                        &path,
                        format!(
                            "invalid mixin version constraint {v:?} for {n:?}: more than one @"
                        ),
                    );
                    continue;
                }
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
            };
            if let Some(v) = &version {
                if let Err(e) = VersionReq::parse(v) {
                    self.problem(
                        &path,
                        format!("invalid mixin version constraint {v:?} for {name:?}: {e}"),
                    );
                    continue;
                }
            }
            let mut config = config;
            let reference = match &mut config {
                Value::Mapping(m) => match m.remove("reference") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(r)) => Some(r),
                    Some(other) => {
                        self.problem(
                            &join(&join(&path, &name), "reference"),
                            format!(
                                "reference must be an OCI reference string, found {}",
                                kind_of(&other)
                            ),
                        );
                        continue;
                    }
                },
                _ => None,
            };
            let Some((config, grants, limits)) =
                self.split_runtime_keys(&join(&path, &name), config)
            else {
                continue;
            };
            out.push(MixinDecl {
                name,
                version,
                config,
                grants,
                limits,
                reference,
                path,
            });
        }
        self.check_unique(
            "mixins",
            out.iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .into_iter(),
        );
        out
    }

    /// Take the runtime-owned keys (`grants`, `limits`) out of a mixin config
    /// or step body: the mixin never sees them.
    fn split_runtime_keys(
        &mut self,
        path: &str,
        v: Value,
    ) -> Option<(Value, GrantSpec, LimitSpec)> {
        let Value::Mapping(mut m) = v else {
            return Some((v, GrantSpec::default(), LimitSpec::default()));
        };
        let grants = match m.remove("grants") {
            None | Some(Value::Null) => GrantSpec::default(),
            Some(g) => self.typed(&join(path, "grants"), g)?,
        };
        let limits = match m.remove("limits") {
            None | Some(Value::Null) => LimitSpec::default(),
            Some(l) => self.typed(&join(path, "limits"), l)?,
        };
        Some((Value::Mapping(m), grants, limits))
    }

    fn steps(&mut self, action: &str, v: Value) -> Option<Vec<Step>> {
        let Value::Sequence(items) = v else {
            self.problem(
                action,
                format!(
                    "action {action:?} must be a list of steps, found {}",
                    kind_of(&v)
                ),
            );
            return None;
        };
        let mut steps = Vec::new();
        let mut empty = false;
        let mut seen_ids = std::collections::BTreeSet::new();
        for (i, item) in items.into_iter().enumerate() {
            let path = format!("{action}[{i}]");
            let Value::Mapping(m) = item else {
                if item.is_null() {
                    empty = true;
                } else {
                    self.problem(
                        &path,
                        format!(
                            "a step must be a mapping `- mixin: {{...}}`, found {}",
                            kind_of(&item)
                        ),
                    );
                }
                continue;
            };
            if m.len() != 1 {
                self.problem(
                    &path,
                    if m.is_empty() {
                        "no mixin specified".to_string()
                    } else {
                        "more than one mixin specified".to_string()
                    },
                );
                continue;
            }
            let (k, body) = m.into_iter().next().expect("one entry");
            let Some(mixin) = k.as_str().map(str::to_string) else {
                self.problem(&path, "a step's mixin name must be a string");
                continue;
            };
            let body_path = join(&path, &mixin);
            if !body.is_mapping() {
                // The mixin's schema reports the exact expectation; keep the
                // body so validation can say "expected object".
                steps.push(Step {
                    mixin,
                    description: None,
                    body,
                    grants: GrantSpec::default(),
                    limits: LimitSpec::default(),
                    path: body_path,
                    index: i,
                    id: None,
                });
                continue;
            }
            let (mut body, grants, limits) = self.split_runtime_keys(&body_path, body)?;
            let id = match body.as_mapping_mut().and_then(|m| m.remove("id")) {
                None => None,
                Some(Value::String(id)) if valid_step_id(&id) => {
                    if !seen_ids.insert(id.clone()) {
                        self.problem(
                            &join(&body_path, "id"),
                            format!(
                                "another step of {action} already has id {id:?}; ids name one step"
                            ),
                        );
                    }
                    Some(id)
                }
                Some(other) => {
                    self.problem(
                        &join(&body_path, "id"),
                        format!(
                            "a step id is a name of letters, digits, `-` and `_` starting with a letter, found {}",
                            match &other {
                                Value::String(s) => format!("{s:?}"),
                                v => kind_of(v).to_string(),
                            }
                        ),
                    );
                    None
                }
            };
            let description = body
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string);
            steps.push(Step {
                mixin,
                description,
                body,
                grants,
                limits,
                path: body_path,
                index: i,
                id,
            });
        }
        if empty {
            self.problem(
                action,
                format!("validation of action {action:?} failed: found an empty step"),
            );
        }
        Some(steps)
    }
}

/// A step id: a letter, then letters, digits, `-` or `_`.
fn valid_step_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Turn serde_path_to_error's path into ours (`a[0].b`).
fn serde_path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            serde_path_to_error::Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key } => out = join(&out, key),
            serde_path_to_error::Segment::Enum { variant } => out = join(&out, variant),
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    out
}

fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn clean_serde_message(msg: &str) -> String {
    strip_location(msg)
}

/// A short name for the kind of a YAML value, for messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// JSON Schema keywords a parameter (or, with `enum`, an output) may carry
/// besides its own fields.
const PARAMETER_SCHEMA_KEYWORDS: &[&str] = &[
    "$comment",
    "$id",
    "additionalProperties",
    "contentEncoding",
    "examples",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "format",
    "items",
    "maxItems",
    "maxLength",
    "maximum",
    "minItems",
    "minLength",
    "minimum",
    "multipleOf",
    "pattern",
    "properties",
    "readOnly",
    "title",
    "writeOnly",
];

/// Manifest schema versions this loader understands.
pub const SUPPORTED_SCHEMA_VERSIONS: &[&str] =
    &["1.0.0-alpha.1", "1.0.0", "1.0.1", "1.1.0", "1.2.0", "1.3.0"];
