//! Porter's credential and parameter sets: documents that say where each
//! value comes from (`env`, `path`, `value`, `command`), never the values
//! themselves (unless a `value:` source writes one in). A set is resolved on
//! the operator's machine when an action starts; `command` sources run
//! there, never inside a mixin.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Which kind of set a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SetKind {
    /// `schemaType: CredentialSet`, entries under `credentials:`.
    Credential,
    /// `schemaType: ParameterSet`, entries under `parameters:`.
    Parameter,
}

impl SetKind {
    /// The `schemaType` Porter writes.
    pub fn schema_type(self) -> &'static str {
        match self {
            SetKind::Credential => "CredentialSet",
            SetKind::Parameter => "ParameterSet",
        }
    }

    /// The key holding the entries.
    pub fn entries_key(self) -> &'static str {
        match self {
            SetKind::Credential => "credentials",
            SetKind::Parameter => "parameters",
        }
    }

    /// What the store calls it.
    pub fn as_str(self) -> &'static str {
        match self {
            SetKind::Credential => "credential",
            SetKind::Parameter => "parameter",
        }
    }
}

/// Where one value comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// An environment variable of the operator's shell.
    Env(String),
    /// A file on the operator's machine (one trailing newline dropped).
    Path(String),
    /// The value, written in the document.
    Value(String),
    /// A command run with `sh -c` on the operator's machine; its standard
    /// output (one trailing newline dropped) is the value.
    Command(String),
}

/// A credential or parameter set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ValueSet {
    /// Credential or parameter set.
    pub kind: SetKind,
    /// Its name.
    pub name: String,
    /// Porter's namespace, kept as written.
    pub namespace: Option<String>,
    /// Labels, kept as written.
    pub labels: BTreeMap<String, String>,
    /// Each entry: the name it fills and where its value comes from.
    pub entries: Vec<(String, Source)>,
    /// The document as given, stored so `show` prints what was applied.
    #[serde(skip)]
    pub document: String,
}

/// Why a set cannot be read or resolved. Never holds a value.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    /// The document is not a valid set.
    #[error("{file}: {message}")]
    Invalid {
        /// The document.
        file: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A value could not be read from its source.
    #[error("{kind} set {set}: {entry}: {message}")]
    Source {
        /// Credential or parameter.
        kind: &'static str,
        /// Set name.
        set: String,
        /// Entry name.
        entry: String,
        /// Why.
        message: String,
    },
}

/// A parse error's message without the offending value: serde quotes a
/// scalar of the wrong type (`invalid type: integer `123456``), and in a
/// credential set that scalar may be a secret.
fn without_values(e: &serde_yaml::Error) -> String {
    let text = e.to_string();
    if !(text.contains("invalid type") || text.contains("invalid value")) {
        return text;
    }
    let mut out = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '`' if !quoted => {
                quoted = true;
                out.push_str("`…");
            }
            '`' => {
                quoted = false;
                out.push('`');
            }
            _ if quoted => {}
            _ => out.push(c),
        }
    }
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSet {
    schema_type: Option<String>,
    schema_version: String,
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    modified: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    // Reserved by Porter for extensions; neither Porter nor wasmix acts on it.
    #[serde(default)]
    custom: Option<serde_yaml::Value>,
    #[serde(default)]
    credentials: Option<Vec<RawEntry>>,
    #[serde(default)]
    parameters: Option<Vec<RawEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: String,
    source: BTreeMap<String, String>,
}

impl ValueSet {
    /// Read a set from `text` (YAML or JSON); `file` names it in errors.
    pub fn parse(file: &Path, text: &str) -> Result<ValueSet, SetError> {
        let invalid = |message: String| SetError::Invalid {
            file: file.display().to_string(),
            message,
        };
        let raw: RawSet = serde_yaml::from_str(text).map_err(|e| invalid(without_values(&e)))?;
        let _ = (&raw.created, &raw.modified, &raw.custom);
        let major = raw.schema_version.split('.').next().unwrap_or_default();
        if major != "1" {
            return Err(invalid(format!(
                "schemaVersion {:?} is not supported; wasmix reads Porter's 1.x sets",
                raw.schema_version
            )));
        }
        let (kind, entries) = match (raw.schema_type.as_deref(), raw.credentials, raw.parameters) {
            (Some("CredentialSet") | None, Some(c), None) => (SetKind::Credential, c),
            (Some("ParameterSet") | None, None, Some(p)) => (SetKind::Parameter, p),
            (Some(t), _, _) if t != "CredentialSet" && t != "ParameterSet" => {
                return Err(invalid(format!(
                    "schemaType {t:?}: a set is a CredentialSet or a ParameterSet"
                )))
            }
            _ => {
                return Err(invalid(
                    "a CredentialSet lists `credentials:`, a ParameterSet `parameters:` (exactly one of them)".into(),
                ))
            }
        };
        let mut out = Vec::new();
        for (i, e) in entries.into_iter().enumerate() {
            let at = format!("{}[{i}] ({})", kind.entries_key(), e.name);
            if e.source.len() != 1 {
                return Err(invalid(format!(
                    "{at}: source needs exactly one of env, path, value, command"
                )));
            }
            let (key, value) = e.source.into_iter().next().unwrap_or_default();
            let source = match key.as_str() {
                "env" => Source::Env(value),
                "path" => Source::Path(value),
                "value" => Source::Value(value),
                "command" => Source::Command(value),
                "secret" => {
                    return Err(invalid(format!(
                        "{at}: secret-store sources are not supported by wasmix yet; use env, path or command"
                    )))
                }
                other => {
                    return Err(invalid(format!(
                        "{at}: unknown source {other:?}; use env, path, value or command"
                    )))
                }
            };
            out.push((e.name, source));
        }
        Ok(ValueSet {
            kind,
            name: raw.name,
            namespace: raw.namespace,
            labels: raw.labels,
            entries: out,
            document: text.to_string(),
        })
    }

    /// Read every value from its source, on this machine.
    pub fn resolve(&self) -> Result<BTreeMap<String, String>, SetError> {
        let mut out = BTreeMap::new();
        for (name, source) in &self.entries {
            let fail = |message: String| SetError::Source {
                kind: self.kind.as_str(),
                set: self.name.clone(),
                entry: name.clone(),
                message,
            };
            let value = match source {
                Source::Env(var) => std::env::var(var)
                    .map_err(|_| fail(format!("environment variable {var} is not set")))?,
                Source::Path(path) => std::fs::read_to_string(path)
                    .map(|s| s.strip_suffix('\n').unwrap_or(&s).to_string())
                    .map_err(|e| fail(format!("cannot read {path}: {e}")))?,
                Source::Value(v) => v.clone(),
                Source::Command(cmd) => {
                    let out = std::process::Command::new("sh")
                        .arg("-c")
                        .arg(cmd)
                        .stdin(std::process::Stdio::null())
                        .stderr(std::process::Stdio::inherit())
                        .output()
                        .map_err(|e| fail(format!("cannot run its command: {e}")))?;
                    if !out.status.success() {
                        // The command line may hold a secret: not repeated here.
                        return Err(fail(format!("its command failed ({})", out.status)));
                    }
                    let text = String::from_utf8(out.stdout)
                        .map_err(|_| fail("its command printed bytes that are not UTF-8".into()))?;
                    text.strip_suffix('\n').unwrap_or(&text).to_string()
                }
            };
            out.insert(name.clone(), value);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ValueSet, SetError> {
        ValueSet::parse(Path::new("set.yaml"), text)
    }

    #[test]
    fn a_credential_set_resolves_every_source() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kube");
        std::fs::write(&file, "kubeconfig-bytes\n").unwrap();
        let set = parse(&format!(
            "schemaType: CredentialSet\nschemaVersion: 1.0.1\nname: mycreds\nlabels: {{team: a}}\ncredentials:\n  - name: kubeconfig\n    source: {{path: {}}}\n  - name: token\n    source: {{command: \"printf tok-from-cmd\"}}\n  - name: plain\n    source: {{value: v}}\n  - name: home\n    source: {{env: HOME}}\n",
            file.display()
        ))
        .unwrap();
        assert_eq!(set.kind, SetKind::Credential);
        assert_eq!(set.labels["team"], "a");
        let values = set.resolve().unwrap();
        assert_eq!(values["kubeconfig"], "kubeconfig-bytes");
        assert_eq!(values["token"], "tok-from-cmd");
        assert_eq!(values["plain"], "v");
        assert_eq!(values["home"], std::env::var("HOME").unwrap());
    }

    #[test]
    fn a_parameter_set_in_json() {
        let set = parse(r#"{"schemaType": "ParameterSet", "schemaVersion": "1.0.1", "name": "p", "parameters": [{"name": "region", "source": {"value": "eu"}}]}"#).unwrap();
        assert_eq!(set.kind, SetKind::Parameter);
        assert_eq!(set.resolve().unwrap()["region"], "eu");
    }

    #[test]
    fn what_wasmix_cannot_honour_is_refused() {
        let head = "schemaVersion: 1.0.1\nname: s\n";
        for (doc, want) in [
            (
                format!("{head}credentials:\n  - name: a\n    source: {{secret: x}}\n"),
                "secret-store sources",
            ),
            (
                format!("{head}credentials:\n  - name: a\n    source: {{envv: X}}\n"),
                "unknown source \"envv\"",
            ),
            (
                format!("{head}credentials:\n  - name: a\n    source: {{env: X, value: y}}\n"),
                "exactly one",
            ),
            (
                format!("{head}credentials: []\nparameters: []\n"),
                "exactly one of them",
            ),
            (
                format!("{head}schemaType: Installation\ncredentials: []\n"),
                "CredentialSet or a ParameterSet",
            ),
            (
                format!("{head}credentials: []\nextra: 1\n"),
                "unknown field `extra`",
            ),
            (
                "schemaVersion: 2.0.0\nname: s\ncredentials: []\n".to_string(),
                "not supported",
            ),
        ] {
            let err = parse(&doc).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(want), "{doc}: {err}");
            assert!(!err.contains("s3cret"), "a value leaked: {err}");
        }
    }

    #[test]
    fn a_failing_command_does_not_echo_itself() {
        let set = parse("schemaVersion: 1.0.1\nname: s\ncredentials:\n  - name: t\n    source: {command: \"echo s3cret >/dev/null; exit 4\"}\n").unwrap();
        let err = set.resolve().unwrap_err().to_string();
        assert!(err.contains("its command failed"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
}
