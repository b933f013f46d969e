//! The kubernetes mixin: Porter's kubernetes step syntax. Install and
//! upgrade `kubectl apply -f` each manifest, uninstall `kubectl delete -f`
//! them, and outputs are read back with `kubectl get`. With an `image` the
//! commands run in that container, with each manifest's directory (which the
//! step must be granted) mounted read-only at the same path.

use serde::Deserialize;
use wasmix_kube::KubeOutput;
use wasmix_mixin_sdk::{parse_step, Command, Failure, Info, Invocation, Mixin, Output};

/// A kubernetes step.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Step {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub manifests: Vec<String>,
    #[serde(default)]
    pub record: Option<bool>,
    #[serde(default)]
    pub selector: Option<String>,
    #[serde(default)]
    pub context: Option<String>,
    #[serde(default)]
    pub validate: Option<bool>,
    #[serde(default)]
    pub wait: Option<bool>,
    #[serde(default)]
    pub force: Option<bool>,
    #[serde(default)]
    pub grace_period: Option<i64>,
    #[serde(default)]
    pub overwrite: Option<bool>,
    #[serde(default)]
    pub prune: Option<bool>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub outputs: Vec<KubeOutput>,
    #[serde(default)]
    pub image: Option<String>,
}

/// The kubectl arguments for `action`: one command per manifest.
pub fn argv(action: &str, step: &Step) -> Result<Vec<Vec<String>>, String> {
    if step.manifests.is_empty() {
        return Err("the kubernetes mixin needs `manifests`".into());
    }
    let verb = match action {
        "install" | "upgrade" => "apply",
        "uninstall" => "delete",
        other => {
            return Err(format!(
                "the kubernetes mixin runs install, upgrade and uninstall, not {other:?}"
            ))
        }
    };
    Ok(step
        .manifests
        .iter()
        .map(|m| {
            let mut a = vec![verb.to_string(), "-f".into(), m.clone()];
            if let Some(ns) = step.namespace.as_deref().filter(|n| !n.is_empty()) {
                a.extend(["-n".into(), ns.into()]);
            }
            if verb == "apply" {
                if step.record == Some(true) {
                    a.push("--record=true".into());
                }
                if let Some(s) = &step.selector {
                    a.push(format!("--selector={s}"));
                }
            }
            if let Some(c) = &step.context {
                a.push(format!("--context={c}"));
            }
            if verb == "apply" && step.validate == Some(false) {
                a.push("--validate=false".into());
            }
            if action != "install" {
                if step.force == Some(true) {
                    a.push("--force".into());
                }
                if let Some(g) = step.grace_period {
                    a.push(format!("--grace-period={g}"));
                }
                if action == "upgrade" {
                    if step.overwrite == Some(false) {
                        a.push("--overwrite=false".into());
                    }
                    if step.prune == Some(true) {
                        a.push("--prune".into());
                    }
                }
                if let Some(t) = &step.timeout {
                    a.push(format!("--timeout={t}"));
                }
            }
            // Porter waits unless told not to.
            if step.wait != Some(false) {
                a.push("--wait".into());
            }
            a
        })
        .collect())
}

/// The directories to mount for the manifests, as guest paths under /cnab/app.
fn manifest_dirs(step: &Step) -> Vec<String> {
    let mut dirs: Vec<String> = step
        .manifests
        .iter()
        .map(|m| {
            let full = if m.starts_with('/') {
                m.clone()
            } else {
                format!("/cnab/app/{}", m.trim_start_matches("./"))
            };
            match full.rsplit_once('/') {
                Some((dir, _)) if !dir.is_empty() => dir.to_string(),
                _ => "/cnab/app".into(),
            }
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

struct Kubernetes;

impl Mixin for Kubernetes {
    fn info() -> Info {
        Info {
            name: "kubernetes".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Apply and delete Kubernetes manifests (Porter's kubernetes step syntax)".into(),
            step_schema: include_str!("schema.json").into(),
            config_schema: r#"{"type": ["object", "null"], "properties": {"image": {"type": "string"}, "kubectl": {"type": "string"}}}"#.into(),
        }
    }

    fn execute(inv: Invocation) -> Result<Vec<Output>, Failure> {
        let step: Step = parse_step(&inv.step)?;
        let image = step.image.clone().or_else(|| inv.config_str("image"));
        let kubectl = inv
            .config_str("kubectl")
            .unwrap_or_else(|| "kubectl".into());
        let dirs = manifest_dirs(&step);
        let command = |args: Vec<String>| {
            let mut c = Command::new(kubectl.clone()).args(args);
            if let Some(i) = &image {
                c = c.image(i.clone()).workdir("/cnab/app");
                for d in &dirs {
                    c = c.mount(d.clone(), d.clone(), true);
                }
            }
            c
        };
        for args in argv(&inv.action, &step).map_err(Failure::msg)? {
            command(args).run_checked()?;
        }
        wasmix_kube::read_outputs(&step.outputs, step.namespace.as_deref(), command)
    }
}

wasmix_mixin_sdk::export_mixin!(Kubernetes);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_and_delete_per_manifest() {
        let s: Step = serde_json::from_str(r#"{"description":"x","manifests":["manifests/a.yaml","manifests/b.yaml"],"namespace":"web","validate":false}"#).unwrap();
        assert_eq!(
            argv("install", &s).unwrap(),
            [
                [
                    "apply",
                    "-f",
                    "manifests/a.yaml",
                    "-n",
                    "web",
                    "--validate=false",
                    "--wait"
                ],
                [
                    "apply",
                    "-f",
                    "manifests/b.yaml",
                    "-n",
                    "web",
                    "--validate=false",
                    "--wait"
                ]
            ]
        );
        let s: Step = serde_json::from_str(r#"{"description":"x","manifests":["m.yaml"],"force":true,"gracePeriod":0,"wait":false}"#).unwrap();
        assert_eq!(
            argv("uninstall", &s).unwrap(),
            [["delete", "-f", "m.yaml", "--force", "--grace-period=0"]]
        );
        assert_eq!(manifest_dirs(&s), ["/cnab/app"]);
    }
}
