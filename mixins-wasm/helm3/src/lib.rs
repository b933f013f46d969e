//! The helm3 mixin: Porter's helm3 step syntax. Install and upgrade run
//! `helm3 install|upgrade --install NAME CHART` with the step's flags,
//! uninstall runs `helm3 uninstall` per release, and outputs are read back
//! from the cluster with `kubectl get`. With an `image` (in the step or the
//! mixin's config) everything runs in that container; without one, as host
//! commands.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use wasmix_kube::KubeOutput;
use wasmix_mixin_sdk::{log, parse_step, Command, Failure, Info, Invocation, Mixin, Output};

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

fn need<'a>(v: &'a Option<String>, what: &str, action: &str) -> Result<&'a str, String> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("helm3 {action} needs `{what}`"))
}

fn set_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The helm arguments for `action` of `step`, in the order Porter's helm3
/// mixin (getporter/helm3-mixin) builds them. Two differences, both so that
/// nothing the author wrote is dropped: `repo` is passed on its own (Porter
/// passes it only with `username` and `password`), and `skipCrds`,
/// `noHooks`, `devel`, `repo`, `username` and `password` are honoured on
/// upgrade too (Porter's upgrade accepts and ignores them).
pub fn argv(action: &str, step: &Step) -> Result<Vec<Vec<String>>, String> {
    let some = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(String::from);
    match action {
        "install" | "upgrade" => {
            let name = need(&step.name, "name", action)?;
            let chart = need(&step.chart, "chart", action)?;
            // Install is an upgrade that installs when needed: idempotent.
            let mut a: Vec<String> = ["upgrade", "--install", name, chart]
                .map(String::from)
                .to_vec();
            let valued = |a: &mut Vec<String>, flag: &str, v: &Option<String>| {
                if let Some(v) = some(v) {
                    a.extend([flag.to_string(), v]);
                }
            };
            valued(&mut a, "--namespace", &step.namespace);
            valued(&mut a, "--version", &step.version);
            if action == "upgrade" {
                if step.reset_values {
                    a.push("--reset-values".into());
                }
                if step.reuse_values {
                    a.push("--reuse-values".into());
                }
            }
            if step.wait == Some(true) {
                a.push("--wait".into());
            }
            if step.devel {
                a.push("--devel".into());
            }
            for v in &step.values {
                a.extend(["--values".to_string(), v.clone()]);
            }
            if step.skip_crds {
                a.push("--skip-crds".into());
            }
            if step.no_hooks {
                a.push("--no-hooks".into());
            }
            valued(&mut a, "--repo", &step.repo);
            valued(&mut a, "--username", &step.username);
            valued(&mut a, "--password", &step.password);
            valued(&mut a, "--timeout", &step.timeout);
            if step.debug {
                a.push("--debug".into());
            }
            // On unless the step turns them off, as in Porter.
            if step.atomic != Some(false) {
                a.push("--atomic".into());
            }
            if step.create_namespace != Some(false) {
                a.push("--create-namespace".into());
            }
            // Sorted (the map is ordered) and last. Dots nest, as helm reads
            // them: `auth.database` sets `auth: {database: …}`.
            for (k, v) in &step.set {
                a.extend(["--set".to_string(), format!("{k}={}", set_text(v))]);
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
                    if let Some(ns) = some(&step.namespace) {
                        a.extend(["--namespace".into(), ns]);
                    }
                    if step.no_hooks {
                        a.push("--no-hooks".into());
                    }
                    if step.wait == Some(true) {
                        a.push("--wait".into());
                    }
                    if let Some(t) = some(&step.timeout) {
                        a.extend(["--timeout".into(), t]);
                    }
                    if step.debug {
                        a.push("--debug".into());
                    }
                    a
                })
                .collect())
        }
        // A custom action: Porter's command-line builder, as exec builds it.
        _ => Ok(vec![wasmix_cmdline::argv::build(
            &step.arguments,
            &step.flags,
            &[],
        )]),
    }
}

/// What helm prints when a release to uninstall is already gone: Porter's
/// mixin carries on, and so does this one.
fn already_gone(stderr: &str) -> bool {
    // Helm's own words for a missing release only: a missing kubeconfig or
    // context also says "not found", and is a failure.
    let text = stderr.to_lowercase();
    [
        "release not loaded",
        "release: not found",
        "already deleted",
    ]
    .iter()
    .any(|s| text.contains(s))
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
            config_schema: r#"{"type": ["object", "null"], "additionalProperties": false, "properties": {
                "clientVersion": {"type": "string"}, "clientPlatform": {"type": "string"}, "clientArchitecture": {"type": "string"},
                "repositories": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": false, "required": ["url"], "properties": {"url": {"type": "string"}}}},
                "image": {"type": "string"}, "binary": {"type": "string"}, "kubectl": {"type": "string"}}}"#.into(),
        }
    }

    fn execute(inv: Invocation) -> Result<Vec<Output>, Failure> {
        let step: Step = parse_step(&inv.step)?;
        let image = step.image.clone().or_else(|| inv.config_str("image"));
        let helm = inv.config_str("binary").unwrap_or_else(|| "helm3".into());
        let kubectl = inv
            .config_str("kubectl")
            .unwrap_or_else(|| "kubectl".into());
        let config: Value = serde_json::from_str(&inv.config).unwrap_or(Value::Null);
        prepare(&config, &inv.action, &|args| tool(&helm, &image).args(args))?;
        if inv.action == "uninstall" {
            // Every release is tried; the failures are reported together.
            let mut failed = Vec::new();
            for args in argv(&inv.action, &step).map_err(Failure::msg)? {
                let release = args[1].clone();
                let done = tool(&helm, &image).args(args).run()?;
                if !done.stdout.is_empty() {
                    log::info(done.stdout_text().trim_end());
                }
                let stderr = done.stderr_text();
                if done.exit_code != 0 && !already_gone(&stderr) {
                    failed.push(format!("{release}: {}", stderr.trim()));
                } else if done.exit_code != 0 {
                    log::info(&format!("release {release} is already gone"));
                }
            }
            if !failed.is_empty() {
                return Err(Failure::msg(format!(
                    "helm3 uninstall failed for {}",
                    failed.join("; ")
                )));
            }
            return Ok(Vec::new());
        }
        for args in argv(&inv.action, &step).map_err(Failure::msg)? {
            tool(&helm, &image).args(args).run_checked()?;
        }
        wasmix_kube::read_outputs(&step.outputs, step.namespace.as_deref(), |args| {
            tool(&kubectl, &image).args(args)
        })
    }
}

/// What Porter's helm3 mixin does when it builds the invocation image,
/// done (or checked) when a step runs instead, since nothing is built here:
/// the `repositories` are added (`helm3 repo add --force-update`, then
/// `repo update`) before an install or upgrade, and `clientVersion` is
/// checked against the helm the step runs. `clientPlatform` and
/// `clientArchitecture` pick the binary Porter downloads; here they are
/// said to have no effect, not dropped in silence.
fn prepare(
    config: &Value,
    action: &str,
    helm: &dyn Fn(Vec<String>) -> Command<'static>,
) -> Result<(), Failure> {
    if let Some(want) = config["clientVersion"].as_str() {
        let done = helm(vec![
            "version".into(),
            "--template".into(),
            "{{.Version}}".into(),
        ])
        .run()?;
        let have = done.stdout_text().trim().to_string();
        let major = |v: &str| {
            v.trim_start_matches('v')
                .split('.')
                .next()
                .map(String::from)
        };
        // Porter installs exactly clientVersion; the same release line is
        // what matters for the flags this mixin passes.
        if done.exit_code != 0 || have.is_empty() {
            return Err(Failure::msg(format!(
                "the mixin config asks for helm {want} (`clientVersion`), but `helm3 version` failed: {}",
                done.stderr_text().trim()
            )));
        }
        if have.trim_start_matches('v') != want.trim_start_matches('v') {
            if major(&have) != major(want) {
                return Err(Failure::msg(format!(
                    "the mixin config asks for helm {want} (`clientVersion`), but the helm this step runs is {have}; install {want} or change clientVersion"
                )));
            }
            log::warn(&format!(
                "the mixin config asks for helm {want} (`clientVersion`); this step runs {have}"
            ));
        }
    }
    for key in ["clientPlatform", "clientArchitecture"] {
        if let Some(v) = config[key].as_str() {
            log::warn(&format!(
                "`{key}: {v}` chooses the helm binary Porter puts in its invocation image; here the step runs the helm it is granted"
            ));
        }
    }
    if matches!(action, "install" | "upgrade") {
        if let Some(repos) = config["repositories"].as_object() {
            let mut names: Vec<&String> = repos.keys().collect();
            names.sort();
            for name in &names {
                let Some(url) = repos[name.as_str()]["url"].as_str() else {
                    return Err(Failure::msg(format!(
                        "repository {name:?} in the helm3 mixin config has no `url`"
                    )));
                };
                helm(vec![
                    "repo".into(),
                    "add".into(),
                    name.to_string(),
                    url.into(),
                    "--force-update".into(),
                ])
                .run_checked()?;
            }
            if !names.is_empty() {
                helm(vec!["repo".into(), "update".into()]).run_checked()?;
            }
        }
    }
    Ok(())
}

wasmix_mixin_sdk::export_mixin!(Helm3);

#[cfg(test)]
mod tests {
    use super::*;

    fn step(json: &str) -> Step {
        serde_json::from_str(json).unwrap()
    }

    /// The argv of Porter's own tests (helm3-mixin `install_test.go`,
    /// `upgrade_test.go`, `uninstall_test.go`): flags in its order, atomic
    /// and create-namespace on by default, `--set` sorted, last, dots kept.
    #[test]
    fn install_upgrade_uninstall_argv_match_porter() {
        let s = step(
            r#"{"description":"x","name":"mysql","chart":"bitnami/mysql","version":"6.14.2","namespace":"db","wait":true,"set":{"db.name":"wordpress","auth.user":"wp"},"values":["v.yaml"],"timeout":"5m"}"#,
        );
        assert_eq!(
            argv("install", &s).unwrap()[0].join(" "),
            "upgrade --install mysql bitnami/mysql --namespace db --version 6.14.2 --wait --values v.yaml \
             --timeout 5m --atomic --create-namespace --set auth.user=wp --set db.name=wordpress"
        );
        let u = step(
            r#"{"description":"x","name":"mysql","chart":"bitnami/mysql","namespace":"db","resetValues":true,"reuseValues":true,"wait":true,"atomic":false,"createNamespace":false,"set":{"a":1}}"#,
        );
        assert_eq!(
            argv("upgrade", &u).unwrap()[0].join(" "),
            "upgrade --install mysql bitnami/mysql --namespace db --reset-values --reuse-values --wait --set a=1"
        );
        let d = step(
            r#"{"description":"x","releases":["a","b"],"namespace":"db","noHooks":true,"wait":true,"timeout":"1m","debug":true}"#,
        );
        assert_eq!(
            argv("uninstall", &d).unwrap(),
            [
                [
                    "uninstall",
                    "a",
                    "--namespace",
                    "db",
                    "--no-hooks",
                    "--wait",
                    "--timeout",
                    "1m",
                    "--debug"
                ],
                [
                    "uninstall",
                    "b",
                    "--namespace",
                    "db",
                    "--no-hooks",
                    "--wait",
                    "--timeout",
                    "1m",
                    "--debug"
                ]
            ]
        );
        let custom = step(
            r#"{"description":"x","arguments":["status","mysql"],"flags":{"o":"json","namespace":"db","show-desc":null,"set":["a=1","b=2"]}}"#,
        );
        assert_eq!(
            argv("status", &custom).unwrap()[0].join(" "),
            "status mysql --namespace db -o json --set a=1 --set b=2 --show-desc"
        );
        assert!(argv("install", &step(r#"{"description":"x","name":"n"}"#))
            .unwrap_err()
            .contains("chart"));
        assert!(already_gone(
            "Error: uninstall: Release not loaded: x: release: not found"
        ));
    }
}
