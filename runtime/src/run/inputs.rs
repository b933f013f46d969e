//! Parameter and credential values for one run: what the operator gave,
//! what an earlier run kept, outputs and defaults, each checked against its
//! declaration before anything runs.

use crate::manifest::{applies, Manifest, Parameter};
use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;

/// Values given for this run.
#[derive(Debug, Default, Clone)]
pub struct Inputs {
    /// Parameter values as text, by name.
    pub parameters: BTreeMap<String, String>,
    /// Credential values, by name (already read from their sources).
    pub credentials: BTreeMap<String, String>,
    /// Run even though the installation was made from a bundle of another
    /// name (`--force`).
    pub force: bool,
    /// Outputs of the bundle's dependencies (`bundle.dependencies.NAME.
    /// outputs.OUT` in templates): by dependency name, by output name,
    /// value and sensitivity. Filled by the workflow that ran them.
    pub dependency_outputs: BTreeMap<String, BTreeMap<String, (String, bool)>>,
    /// Outputs the bundle's dependencies promote to it (`outputs:` on a
    /// dependency), rendered by the workflow: value and sensitivity. An
    /// output of the same name a step produces wins.
    pub promoted_outputs: BTreeMap<String, (String, bool)>,
    /// Parameters whose values were made from a secret (a credential, a
    /// sensitive parameter or output wired in by a workflow): masked in
    /// logs and never stored, as if declared sensitive.
    pub secret_parameters: std::collections::BTreeSet<String>,
}

/// What an earlier run of the installation left for this one.
#[derive(Debug, Default, Clone)]
pub struct Previous {
    /// Parameter values of the last successful run (non-sensitive ones).
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// Installation outputs, by name.
    pub outputs: BTreeMap<String, String>,
}

/// A parameter or credential that cannot be used as given. Messages never
/// hold a sensitive value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// A parameter the bundle does not declare.
    #[error("unknown parameter {name:?}; bundle {bundle} declares: {declared}")]
    UnknownParameter {
        /// The name given.
        name: String,
        /// Bundle name.
        bundle: String,
        /// The parameters it declares, or `none`.
        declared: String,
    },
    /// A required parameter has no value.
    #[error(
        "parameter {name:?} is required for {action} and has no default; pass --param {name}=VALUE"
    )]
    MissingParameter {
        /// Parameter.
        name: String,
        /// Action.
        action: String,
    },
    /// A value does not satisfy its parameter's type or schema.
    #[error("{0}")]
    InvalidParameter(String),
    /// A credential the bundle does not declare.
    #[error("unknown credential {name:?}; bundle {bundle} does not declare it")]
    UnknownCredential {
        /// The name given.
        name: String,
        /// Bundle name.
        bundle: String,
    },
    /// A required credential was not given.
    #[error("credential {name:?} is required for {action}; pass --cred {name}=env:VAR or --cred {name}=file:PATH")]
    MissingCredential {
        /// Credential.
        name: String,
        /// Action.
        action: String,
    },
}

/// Parameter values for this run, checked against their declarations.
pub fn resolve_parameters(
    manifest: &Manifest,
    action: &str,
    given: &BTreeMap<String, String>,
    previous: &Previous,
) -> Result<BTreeMap<String, String>, InputError> {
    if let Some(name) = given
        .keys()
        .find(|n| !manifest.parameters.iter().any(|p| &p.name == *n))
    {
        let known: Vec<&str> = manifest
            .parameters
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        return Err(InputError::UnknownParameter {
            name: name.clone(),
            bundle: manifest.name.clone(),
            declared: if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            },
        });
    }
    let mut out = BTreeMap::new();
    for p in manifest
        .parameters
        .iter()
        .filter(|p| applies(&p.apply_to, action))
    {
        let value = if let Some(v) = given.get(&p.name) {
            Some(v.clone())
        } else if let Some(v) = previous
            .parameters
            .get(&p.name)
            .filter(|_| action != "install" || p.persistent)
        {
            v.as_str().map(str::to_string)
        } else if let Some(v) = p
            .source
            .as_ref()
            .and_then(|s| s.output.as_ref())
            .and_then(|o| previous.outputs.get(o))
        {
            Some(v.clone())
        } else {
            p.default.as_ref().map(yaml_text)
        };
        match value {
            Some(v) => {
                check_parameter(p, &v)?;
                out.insert(p.name.clone(), v);
            }
            None if p.required.unwrap_or(true) => {
                return Err(InputError::MissingParameter {
                    name: p.name.clone(),
                    action: action.to_string(),
                })
            }
            None => {}
        }
    }
    Ok(out)
}

/// A YAML scalar as the text a parameter value is given in.
pub fn yaml_text(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Null => String::new(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// Check one value against its parameter's type, `enum` and JSON-Schema
/// keywords (`pattern`, `minimum`, …). The message never holds a sensitive
/// value.
pub fn check_parameter(p: &Parameter, v: &str) -> Result<(), InputError> {
    crate::schema::check_parameter_value(p, v).map_err(InputError::InvalidParameter)
}

/// Credential values for this run: required ones must be given.
pub fn resolve_credentials(
    manifest: &Manifest,
    action: &str,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, InputError> {
    if let Some(name) = given
        .keys()
        .find(|n| !manifest.credentials.iter().any(|c| &c.name == *n))
    {
        return Err(InputError::UnknownCredential {
            name: name.clone(),
            bundle: manifest.name.clone(),
        });
    }
    let mut out = BTreeMap::new();
    for c in manifest
        .credentials
        .iter()
        .filter(|c| applies(&c.apply_to, action))
    {
        match given.get(&c.name) {
            Some(v) => {
                out.insert(c.name.clone(), v.clone());
            }
            None if c.required => {
                return Err(InputError::MissingCredential {
                    name: c.name.clone(),
                    action: action.to_string(),
                })
            }
            None => {}
        }
    }
    Ok(out)
}

/// Where a credential's value comes from: `env:VAR`, `file:PATH` or
/// `value:TEXT` (what `--cred NAME=SOURCE` takes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// An environment variable of the operator's shell.
    Env(String),
    /// A file; one trailing newline is dropped, as editors add one.
    File(std::path::PathBuf),
    /// The value itself.
    Value(String),
}

/// A credential source that cannot be read. Never holds the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Not `env:`, `file:` or `value:`.
    #[error("say where the value comes from: env:VAR, file:PATH or value:TEXT")]
    Unknown,
    /// The environment variable is not set.
    #[error("environment variable {0} is not set")]
    UnsetVariable(String),
    /// The file cannot be read.
    #[error("cannot read {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

impl std::str::FromStr for CredentialSource {
    type Err = SourceError;

    fn from_str(s: &str) -> Result<Self, SourceError> {
        if let Some(var) = s.strip_prefix("env:") {
            Ok(CredentialSource::Env(var.to_string()))
        } else if let Some(path) = s.strip_prefix("file:") {
            Ok(CredentialSource::File(path.into()))
        } else if let Some(text) = s.strip_prefix("value:") {
            Ok(CredentialSource::Value(text.to_string()))
        } else {
            Err(SourceError::Unknown)
        }
    }
}

impl CredentialSource {
    /// Read the value.
    pub fn read(&self) -> Result<String, SourceError> {
        match self {
            CredentialSource::Env(var) => {
                std::env::var(var).map_err(|_| SourceError::UnsetVariable(var.clone()))
            }
            CredentialSource::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches('\n').to_string())
                .map_err(|e| SourceError::Unreadable {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                }),
            CredentialSource::Value(text) => Ok(text.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_sources() {
        assert_eq!(
            "env:TOKEN".parse(),
            Ok(CredentialSource::Env("TOKEN".into()))
        );
        assert_eq!(
            "value:a=b".parse(),
            Ok(CredentialSource::Value("a=b".into()))
        );
        assert_eq!(
            "TOKEN".parse::<CredentialSource>(),
            Err(SourceError::Unknown)
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t");
        std::fs::write(&f, "secret\n").unwrap();
        let src: CredentialSource = format!("file:{}", f.display()).parse().unwrap();
        assert_eq!(src.read().unwrap(), "secret");
        let unset = CredentialSource::Env("WASMIX_TEST_SURELY_UNSET_VAR".into());
        assert!(matches!(unset.read(), Err(SourceError::UnsetVariable(_))));
    }
}
