//! The helm3 mixin: Porter's helm3 step syntax. Install and upgrade run
//! `helm3 install|upgrade --install NAME CHART` with the step's flags,
//! uninstall runs `helm3 uninstall` per release, and outputs are read back
//! from the cluster with `kubectl get`. With an `image` (in the step or the
//! mixin's config) everything runs in that container; without one, as host
//! commands.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use wasmix_kube::{escape_set_key, KubeOutput};
use wasmix_mixin_sdk::{parse_step, Command, Failure, Info, Invocation, Mixin, Output};

/// A helm3 step: the union of Porter's install, upgrade, uninstall and
/// invoke forms (which fields apply depends on the action).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Step {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub chart: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub repo: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub skip_crds: bool,
    #[serde(default)]
    pub no_hooks: bool,
    #[serde(default)]
    pub wait: Option<bool>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub debug: bool,
    #[serde(default)]
    pub devel: bool,
    #[serde(default)]
    pub set: BTreeMap<String, Value>,
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub atomic: Option<bool>,
    #[serde(default)]
    pub create_namespace: Option<bool>,
    #[serde(default)]
    pub reset_values: bool,
    #[serde(default)]
    pub reuse_values: bool,
    #[serde(default)]
    pub releases: Vec<String>,
    #[serde(default)]
    pub arguments: Vec<String>,
    #[serde(default)]
    pub flags: BTreeMap<String, Value>,
    #[serde(default)]
    pub outputs: Vec<KubeOutput>,
    #[serde(default)]
    pub image: Option<String>,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn need<'a>(v: &'a Option<String>, what: &str, action: &str) -> Result<&'a str, String> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("helm3 {action} needs `{what}`"))
}

/// The helm arguments for `action` of `step`, as Porter's helm3 mixin builds them.
pub fn argv(action: &str, step: &Step) -> Result<Vec<Vec<String>>, String> {
    let mut common = Vec::new();
    let mut flag = |cond: bool, f: &str| {
        if cond {
            common.push(f.to_string());
        }
    };
    flag(step.create_namespace == Some(true), "--create-namespace");
    flag(step.atomic == Some(true), "--atomic");
    flag(step.wait == Some(true), "--wait");
    flag(step.skip_crds, "--skip-crds");
    flag(step.no_hooks, "--no-hooks");
    flag(step.devel, "--devel");
    flag(step.debug, "--debug");
    let pairs = [
        ("--namespace", &step.namespace),
        ("--version", &step.version),
        ("--repo", &step.repo),
        ("--username", &step.username),
        ("--password", &step.password),
        ("--timeout", &step.timeout),
    ];
    let mut valued = Vec::new();
    for (f, v) in pairs {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            valued.push(f.to_string());
            valued.push(v.to_string());
        }
    }
    match action {
        "install" | "upgrade" => {
            let name = need(&step.name, "name", action)?;
            let chart = need(&step.chart, "chart", action)?;
            let mut a: Vec<String> = if action == "install" {
                vec!["install".into(), name.into(), chart.into()]
            } else {
                vec![
                    "upgrade".into(),
                    "--install".into(),
                    name.into(),
                    chart.into(),
                ]
            };
            a.extend(valued);
            a.extend(common);
            if action == "upgrade" {
                if step.reset_values {
                    a.push("--reset-values".into());
                }
                if step.reuse_values {
                    a.push("--reuse-values".into());
                }
            }
            for v in &step.values {
                a.push("--values".into());
                a.push(v.clone());
            }
            // Sorted, dots escaped: helm would otherwise nest `a.b` keys.
            for (k, v) in &step.set {
                a.push("--set".into());
                a.push(format!("{}={}", escape_set_key(k), text(v)));
            }
            Ok(vec![a])
        }
        "uninstall" => {
            if step.releases.is_empty() {
                return Err("helm3 uninstall needs `releases`".into());
            }
            Ok(step
                .releases
                .iter()
                .map(|r| {
                    let mut a = vec!["uninstall".to_string(), r.clone()];
                    if let Some(ns) = step.namespace.as_deref().filter(|n| !n.is_empty()) {
                        a.extend(["--namespace".into(), ns.into()]);
                    }
                    if let Some(t) = step.timeout.as_deref() {
                        a.extend(["--timeout".into(), t.into()]);
                    }
                    if step.wait == Some(true) {
                        a.push("--wait".into());
                    }
                    if step.no_hooks {
                        a.push("--no-hooks".into());
                    }
                    if step.debug {
                        a.push("--debug".into());
                    }
                    a
                })
                .collect())
        }
        _ => {
            let mut a = step.arguments.clone();
            for (k, v) in &step.flags {
                a.push(if k.len() == 1 {
                    format!("-{k}")
                } else {
                    format!("--{k}")
                });
                if !v.is_null() {
                    a.push(text(v));
                }
            }
            Ok(vec![a])
        }
    }
}

struct Helm3;

fn tool(program: &str, image: &Option<String>) -> Command<'static> {
    Command::new(program).image_if(image.as_deref())
}

impl Mixin for Helm3 {
    fn info() -> Info {
        Info {
            name: "helm3".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Install, upgrade and uninstall Helm charts (Porter's helm3 step syntax)".into(),
            step_schema: include_str!("schema.json").into(),
            config_schema: r#"{"type": ["object", "null"], "properties": {"image": {"type": "string"}, "binary": {"type": "string"}, "kubectl": {"type": "string"}}}"#.into(),
        }
    }

    fn execute(inv: Invocation) -> Result<Vec<Output>, Failure> {
        let step: Step = parse_step(&inv.step)?;
        let image = step.image.clone().or_else(|| inv.config_str("image"));
        let helm = inv.config_str("binary").unwrap_or_else(|| "helm3".into());
        let kubectl = inv
            .config_str("kubectl")
            .unwrap_or_else(|| "kubectl".into());
        for args in argv(&inv.action, &step).map_err(Failure::msg)? {
            tool(&helm, &image).args(args).run_checked()?;
        }
        wasmix_kube::read_outputs(&step.outputs, step.namespace.as_deref(), |args| {
            tool(&kubectl, &image).args(args)
        })
    }
}

wasmix_mixin_sdk::export_mixin!(Helm3);

#[cfg(test)]
mod tests {
    use super::*;

    fn step(json: &str) -> Step {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn install_upgrade_uninstall_argv() {
        let s = step(
            r#"{"description":"x","name":"mysql","chart":"bitnami/mysql","version":"6.14.2","namespace":"db","wait":true,"set":{"db.name":"wordpress","auth.user":"wp"},"values":["v.yaml"]}"#,
        );
        assert_eq!(
            argv("install", &s).unwrap(),
            [[
                "install",
                "mysql",
                "bitnami/mysql",
                "--namespace",
                "db",
                "--version",
                "6.14.2",
                "--wait",
                "--values",
                "v.yaml",
                "--set",
                "auth\\.user=wp",
                "--set",
                "db\\.name=wordpress"
            ]]
        );
        assert_eq!(
            argv("upgrade", &s).unwrap()[0][..4],
            ["upgrade", "--install", "mysql", "bitnami/mysql"]
        );
        let u = step(r#"{"description":"x","releases":["a","b"],"namespace":"db"}"#);
        assert_eq!(
            argv("uninstall", &u).unwrap(),
            [
                ["uninstall", "a", "--namespace", "db"],
                ["uninstall", "b", "--namespace", "db"]
            ]
        );
        assert!(argv("install", &step(r#"{"description":"x","name":"n"}"#))
            .unwrap_err()
            .contains("chart"));
    }
}
