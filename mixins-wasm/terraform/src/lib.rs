//! The terraform mixin: Porter's terraform step syntax (getporter/
//! terraform-mixin). Every action first runs `terraform init` (with the
//! step's `backendConfig`), then `apply` (install, upgrade), `destroy`
//! (uninstall) or the custom action's own subcommand, each with the step's
//! `vars` as `-var NAME=VALUE`; outputs are read back with
//! `terraform output -json NAME`. Commands run in the mixin's working
//! directory (`terraform` under the bundle, as in Porter), through the host
//! driver: a granted `terraform`, or the step's image.
//!
//! `terraform.tfstate` is kept between actions by the bundle's `state:`
//! (Porter's syntax), not by this mixin.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use wasmix_mixin_sdk::{
    log, parse_step, Command, Diagnostic, Failure, Info, Invocation, Mixin, Output, Severity,
};

/// A terraform step: the union of Porter's per-action forms; which fields
/// apply to which action is checked by [`lint`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Step {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub arguments: Vec<String>,
    #[serde(default)]
    pub flags: BTreeMap<String, Value>,
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    #[serde(default)]
    pub backend_config: BTreeMap<String, Value>,
    #[serde(default)]
    pub log_level: Option<String>,
    #[serde(default)]
    pub disable_var_file: bool,
    #[serde(default)]
    pub outputs: Vec<OutputSpec>,
    #[serde(default)]
    pub image: Option<String>,
}

/// An output read back with `terraform output -json NAME`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub name: String,
}

/// A value as Porter's mixin writes it into `-var K=V` and
/// `-backend-config=K=V`: text as it is, anything else as compact JSON, null
/// as nothing.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn var_args(step: &Step) -> Vec<String> {
    step.vars
        .iter()
        .flat_map(|(k, v)| ["-var".to_string(), format!("{k}={}", text(v))])
        .collect()
}

/// `terraform init`, with the backend configured when the step has one.
pub fn init_argv(step: &Step) -> Vec<String> {
    let mut a = vec!["init".to_string()];
    if !step.backend_config.is_empty() {
        a.push("-backend=true".into());
        for (k, v) in &step.backend_config {
            a.push(format!("-backend-config={k}={}", text(v)));
        }
        a.push("-reconfigure".into());
    }
    a
}

/// The main command of `action`, as Porter's terraform mixin builds it.
pub fn main_argv(action: &str, step: &Step) -> Vec<String> {
    let mut a: Vec<String> = match action {
        "install" | "upgrade" => vec![
            "apply".into(),
            "-auto-approve".into(),
            "-input=false".into(),
        ],
        "uninstall" => vec![
            "destroy".into(),
            "-auto-approve".into(),
            "-input=false".into(),
        ],
        custom if step.arguments.is_empty() => vec![custom.to_string()],
        _ => Vec::new(),
    };
    if action != "uninstall" {
        a.extend(step.arguments.iter().cloned());
        for (k, v) in &step.flags {
            a.push(format!("-{k}"));
            if !v.is_null() {
                a.push(text(v));
            }
        }
    }
    a.extend(var_args(step));
    a
}

/// A `terraform output -json` value as Porter records it: a string as its
/// text, anything else as compact JSON.
pub fn output_value(json: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(json.trim())
        .map_err(|e| format!("`terraform output -json` printed something that is not JSON: {e}"))?;
    Ok(match v {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

/// The fields Porter's schema allows for each action.
fn allowed(action: &str, field: &str) -> bool {
    match action {
        "uninstall" => matches!(
            field,
            "description" | "backendConfig" | "logLevel" | "outputs" | "vars" | "image"
        ),
        "upgrade" => field != "disableVarFile",
        _ => true,
    }
}

/// Per-action rules beyond the step schema, located.
pub fn lint(action: &str, step: &str) -> Vec<Diagnostic> {
    let body: Value = match serde_json::from_str(step) {
        Ok(v) => v,
        Err(e) => {
            return vec![Diagnostic {
                code: "terraform-000".into(),
                severity: Severity::Error,
                message: format!("invalid step: {e}"),
                path: String::new(),
            }]
        }
    };
    let mut out = Vec::new();
    if let Some(fields) = body.as_object() {
        for k in fields.keys().filter(|k| !allowed(action, k)) {
            out.push(Diagnostic {
                code: "terraform-101".into(),
                severity: Severity::Error,
                message: format!(
                    "`{k}` does not apply to {action} (Porter's terraform mixin refuses it too)"
                ),
                path: k.clone(),
            });
        }
    }
    out
}

/// The mixin's working directory as a guest path: Porter's `workingDir`
/// (default `terraform`), under the bundle.
fn working_dir(inv: &Invocation) -> String {
    let dir = inv
        .config_str("workingDir")
        .unwrap_or_else(|| "terraform".into());
    if dir.starts_with('/') {
        dir
    } else {
        format!("/cnab/app/{}", dir.trim_start_matches("./"))
    }
}

/// The `terraform_version` of `terraform version -json`.
pub fn client_version(json: &str) -> Option<String> {
    serde_json::from_str::<Value>(json)
        .ok()?
        .get("terraform_version")?
        .as_str()
        .map(str::to_string)
}

struct Terraform;

impl Mixin for Terraform {
    fn info() -> Info {
        Info {
            name: "terraform".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Run terraform init, apply, destroy and custom commands (Porter's terraform step syntax)".into(),
            step_schema: include_str!("schema.json").into(),
            config_schema: r#"{"type": ["object", "null"], "additionalProperties": false, "properties": {"clientVersion": {"type": "string"}, "workingDir": {"type": "string"}, "initFile": {"type": "string"}, "image": {"type": "string"}, "binary": {"type": "string"}}}"#.into(),
        }
    }

    fn lint(action: &str, step: &str) -> Vec<Diagnostic> {
        lint(action, step)
    }

    fn execute(inv: Invocation) -> Result<Vec<Output>, Failure> {
        let step: Step = parse_step(&inv.step)?;
        let image = step.image.clone().or_else(|| inv.config_str("image"));
        let binary = inv
            .config_str("binary")
            .unwrap_or_else(|| "terraform".into());
        let dir = working_dir(&inv);
        if inv.config_str("initFile").is_some() {
            log::warn(
                "initFile is used by Porter's build to bake providers into the image; wasmix builds \
                 nothing, so `terraform init` fetches them at run time (grant the network, or use an \
                 image that has them)",
            );
        }
        let tf = || {
            let mut c = Command::new(binary.clone())
                .workdir(dir.clone())
                .image_if(image.as_deref());
            if let Some(level) = step.log_level.as_deref().filter(|l| !l.is_empty()) {
                c = c.env("TF_LOG", level);
            }
            c
        };
        // Porter pins the client at build time; here it is checked.
        if let Some(want) = inv.config_str("clientVersion") {
            let done = tf().args(["version", "-json"]).run_checked()?;
            let have = client_version(&done.stdout_text()).unwrap_or_default();
            if have != want.trim_start_matches('v') {
                return Err(Failure::msg(format!(
                    "terraform {have} found, the bundle's clientVersion is {want}: install that \
                     version, or use an image that has it"
                )));
            }
        }
        tf().args(init_argv(&step)).run_checked()?;
        let main = main_argv(&inv.action, &step);
        if main.is_empty() {
            return Err(Failure::msg(format!(
                "terraform {}: give the subcommand in `arguments`",
                inv.action
            )));
        }
        tf().args(main).run_checked()?;
        let mut outputs = Vec::new();
        for o in &step.outputs {
            let done = tf()
                .args(["output", "-json", o.name.as_str()])
                .run_checked()?;
            let value = output_value(&done.stdout_text())
                .map_err(|e| Failure::msg(format!("output {}: {e}", o.name)))?;
            outputs.push(Output::text(o.name.clone(), value));
        }
        Ok(outputs)
    }
}

wasmix_mixin_sdk::export_mixin!(Terraform);

#[cfg(test)]
mod tests {
    use super::*;

    fn step(json: &str) -> Step {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn argv_matches_porters_terraform_mixin() {
        // Porter's testdata install-input.yaml and its expected commands.
        let s = step(
            r#"{"description":"Install MySQL","logLevel":"TRACE","backendConfig":{"key":"my.tfstate"},"vars":{"myvar":"foo"}}"#,
        );
        assert_eq!(
            init_argv(&s),
            [
                "init",
                "-backend=true",
                "-backend-config=key=my.tfstate",
                "-reconfigure"
            ]
        );
        assert_eq!(
            main_argv("install", &s),
            [
                "apply",
                "-auto-approve",
                "-input=false",
                "-var",
                "myvar=foo"
            ]
        );
        assert_eq!(main_argv("upgrade", &s)[0], "apply");
        assert_eq!(
            main_argv("uninstall", &s),
            [
                "destroy",
                "-auto-approve",
                "-input=false",
                "-var",
                "myvar=foo"
            ]
        );
        assert_eq!(main_argv("custom", &s), ["custom", "-var", "myvar=foo"]);
        let plan =
            step(r#"{"description":"x","arguments":["plan","-no-color"],"flags":{"lock":false}}"#);
        assert_eq!(
            main_argv("show", &plan),
            ["plan", "-no-color", "-lock", "false"]
        );
        assert_eq!(init_argv(&step(r#"{"description":"x"}"#)), ["init"]);
    }

    #[test]
    fn vars_and_outputs_are_rendered_as_porter_does() {
        let s =
            step(r#"{"description":"x","vars":{"n":3,"b":true,"doc":{"a":[1,"x"]},"none":null}}"#);
        assert_eq!(
            var_args(&s),
            [
                "-var",
                "b=true",
                "-var",
                "doc={\"a\":[1,\"x\"]}",
                "-var",
                "n=3",
                "-var",
                "none="
            ]
        );
        assert_eq!(output_value("\"10.0.0.1\"\n").unwrap(), "10.0.0.1");
        assert_eq!(output_value("{\"a\": [1, 2]}").unwrap(), "{\"a\":[1,2]}");
        assert!(output_value("Warning: no outputs").is_err());
        assert_eq!(
            client_version(r#"{"terraform_version":"1.2.9","platform":"linux_amd64"}"#).as_deref(),
            Some("1.2.9")
        );
    }

    #[test]
    fn fields_an_action_does_not_take_are_named() {
        let d = lint(
            "uninstall",
            r#"{"description":"x","arguments":["a"],"vars":{}}"#,
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].path, "arguments");
        let d = lint("upgrade", r#"{"description":"x","disableVarFile":true}"#);
        assert_eq!(d[0].code, "terraform-101");
        assert!(lint("install", r#"{"description":"x","disableVarFile":true}"#).is_empty());
    }
}
