//! Outputs read back from the cluster, as Porter's helm3 and kubernetes
//! mixins declare them: a key of a secret (base64-decoded), or a JSONPath
//! over any resource, fetched with `kubectl get`.

use base64::Engine as _;
use serde::Deserialize;
use wasmix_mixin_sdk::{Command, Failure, Output};

/// One output of a helm3 or kubernetes step.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubeOutput {
    /// Output name.
    pub name: String,
    /// Secret to read (with `key`).
    #[serde(default)]
    pub secret: Option<String>,
    /// Key in the secret's data.
    #[serde(default)]
    pub key: Option<String>,
    /// Namespace (default: the step's).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Resource type for a JSONPath output (`service`, `deployment`).
    #[serde(default)]
    pub resource_type: Option<String>,
    /// Resource name for a JSONPath output.
    #[serde(default)]
    pub resource_name: Option<String>,
    /// JSONPath over the resource, as kubectl takes it (`{.spec.clusterIP}`).
    #[serde(default)]
    pub json_path: Option<String>,
}

impl KubeOutput {
    /// The `kubectl` arguments that fetch this output.
    pub fn argv(&self, step_namespace: Option<&str>) -> Result<Vec<String>, String> {
        let ns = self.namespace.as_deref().or(step_namespace);
        let mut argv = match (&self.secret, &self.key, &self.resource_type, &self.resource_name, &self.json_path) {
            (Some(secret), Some(key), None, None, None) => {
                vec!["get".into(), "secret".into(), secret.clone(), format!("-o=jsonpath={{.data.{}}}", key.replace('.', "\\."))]
            }
            (None, None, Some(kind), Some(name), Some(path)) => {
                vec!["get".into(), kind.clone(), name.clone(), format!("-o=jsonpath={path}")]
            }
            _ => {
                return Err(format!(
                    "output {:?} needs either secret and key, or resourceType, resourceName and jsonPath",
                    self.name
                ))
            }
        };
        if let Some(ns) = ns.filter(|n| !n.is_empty()) {
            argv.push(format!("--namespace={ns}"));
        }
        Ok(argv)
    }

    /// The output's value from what `kubectl get` printed: secret data is
    /// base64-decoded.
    pub fn value(&self, stdout: &str) -> Result<String, String> {
        if self.secret.is_none() {
            return Ok(stdout.to_string());
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(stdout.trim())
            .map_err(|e| format!("output {:?}: secret data is not base64: {e}", self.name))?;
        String::from_utf8(bytes)
            .map_err(|_| format!("output {:?}: secret data is not UTF-8", self.name))
    }

    /// True when the value is a secret (a key of a Kubernetes secret).
    pub fn sensitive(&self) -> bool {
        self.secret.is_some()
    }
}

/// Read every output with `kubectl get`, built by `kubectl` from the
/// arguments (so the caller decides the image, mounts and program name).
pub fn read_outputs(
    outputs: &[KubeOutput],
    step_namespace: Option<&str>,
    kubectl: impl Fn(Vec<String>) -> Command<'static>,
) -> Result<Vec<Output>, Failure> {
    outputs
        .iter()
        .map(|o| {
            let args = o.argv(step_namespace).map_err(Failure::msg)?;
            let done = kubectl(args)
                .run_checked()
                .map_err(|f| Failure::msg(format!("reading output {:?}: {}", o.name, f.message)))?;
            Ok(Output {
                name: o.name.clone(),
                value: o.value(&done.stdout_text()).map_err(Failure::msg)?,
                sensitive: o.sensitive(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_and_jsonpath_outputs() {
        let o = KubeOutput {
            name: "pw".into(),
            secret: Some("db".into()),
            key: Some("root.pw".into()),
            namespace: None,
            resource_type: None,
            resource_name: None,
            json_path: None,
        };
        assert_eq!(
            o.argv(Some("ns")).unwrap(),
            [
                "get",
                "secret",
                "db",
                "-o=jsonpath={.data.root\\.pw}",
                "--namespace=ns"
            ]
        );
        assert_eq!(o.value("c2VjcmV0\n").unwrap(), "secret");
        let o = KubeOutput {
            name: "ip".into(),
            secret: None,
            key: None,
            namespace: Some("x".into()),
            resource_type: Some("service".into()),
            resource_name: Some("web".into()),
            json_path: Some("{.spec.clusterIP}".into()),
        };
        assert_eq!(
            o.argv(Some("ns")).unwrap(),
            [
                "get",
                "service",
                "web",
                "-o=jsonpath={.spec.clusterIP}",
                "--namespace=x"
            ]
        );
        let bad = KubeOutput {
            name: "b".into(),
            secret: Some("s".into()),
            key: None,
            namespace: None,
            resource_type: None,
            resource_name: None,
            json_path: None,
        };
        assert!(bad.argv(None).is_err());
    }
}
