//! Porter's cloud CLI mixins — `az`, `aws`, `gcloud` — as one piece of code.
//!
//! Porter's three mixins are thin wrappers over the same command-line builder
//! (`pkg/exec/builder`): a step names `arguments`, `flags` and `outputs`
//! (read from the command's JSON with `jsonPath`), and the mixin adds what
//! its tool needs: `az … --output json`, `aws SERVICE OPERATION … --output
//! json`, `gcloud --quiet GROUPS… COMMAND … --format json`. Here each tool is
//! a [`Tool`] value; the `az`, `aws` and `gcloud` components are a few lines
//! each that pick theirs, so every Porter name works unchanged.
//!
//! The program runs through the host driver like any other command: a
//! granted `az` (or the mixin config's `binary:`), or the config's `image:`
//! with the docker driver.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use wasmix_cmdline::spec::{IgnoreError, IgnoreOutput, OutputSpec};
use wasmix_cmdline::{argv, execute};
use wasmix_mixin_sdk::{
    parse_step, Command, Diagnostic, Failure, Info, Invocation, Output, Severity,
};

/// One of Porter's cloud CLI mixins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// The Azure CLI (getporter/az-mixin).
    Az,
    /// The AWS CLI (getporter/aws-mixin).
    Aws,
    /// The Google Cloud CLI (getporter/gcloud-mixin).
    Gcloud,
}

/// A step of any of the three tools; which fields a tool takes is its
/// schema's business ([`Tool::step_schema`]), checked by the host first.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub arguments: Vec<String>,
    #[serde(default)]
    pub flags: BTreeMap<String, Value>,
    #[serde(default)]
    pub outputs: Vec<OutputSpec>,
    #[serde(default, rename = "suppress-output")]
    pub suppress_output: bool,
    /// az only.
    #[serde(default, rename = "ignoreError")]
    pub ignore_error: Option<IgnoreError>,
    /// az only: ensure (or, on uninstall, delete) a resource group.
    #[serde(default)]
    pub group: Option<Group>,
    /// az only: log in from the step's environment. Porter writes it as
    /// `login: {}` or a bare `login:` (null): present-but-null is
    /// `Some(None)`, absent is `None`.
    #[serde(default, deserialize_with = "present")]
    pub login: Option<Option<Value>>,
    /// aws only: the service (`ec2`, `s3api`).
    #[serde(default)]
    pub service: Option<String>,
    /// aws only: the operation (`run-instances`).
    #[serde(default)]
    pub operation: Option<String>,
    /// gcloud only: the command groups (`compute instances`), one or a list.
    #[serde(default)]
    pub groups: Option<Groups>,
    /// gcloud only: the command (`create`).
    #[serde(default)]
    pub command: Option<String>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Value>>, D::Error> {
    Option::<Value>::deserialize(d).map(Some)
}

/// az's `group:` step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
    #[serde(default)]
    pub location: Option<String>,
}

/// gcloud's `groups:`, a single group or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Groups {
    One(String),
    Many(Vec<String>),
}

/// What one step runs: the arguments after the program, and what makes a
/// non-zero exit not a failure.
#[derive(Debug, PartialEq)]
pub struct Plan {
    pub args: Vec<String>,
    /// Standard-error texts that make a failure expected (az `group`).
    pub expected_errors: Vec<String>,
}

/// The environment variables az's `login` reads, as Porter's az mixin does.
#[derive(Debug, Default)]
pub struct LoginEnv {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub tenant_id: Option<String>,
}

impl LoginEnv {
    /// From the mixin's own environment: the variables the step was granted.
    pub fn from_granted_env() -> Self {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        LoginEnv {
            client_id: var("AZURE_CLIENT_ID"),
            client_secret: var("AZURE_CLIENT_SECRET"),
            tenant_id: var("AZURE_TENANT_ID"),
        }
    }
}

const FLAG_VALUE: &str = r#"{"anyOf": [{"type": ["null", "boolean", "number", "string"]}, {"type": "array", "items": {"type": "string"}}]}"#;

impl Tool {
    /// The mixin's Porter name, which is also the program it runs.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Az => "az",
            Tool::Aws => "aws",
            Tool::Gcloud => "gcloud",
        }
    }

    fn summary(self) -> &'static str {
        match self {
            Tool::Az => "Run Azure CLI commands (Porter's az mixin step syntax)",
            Tool::Aws => "Run AWS CLI commands (Porter's aws mixin step syntax)",
            Tool::Gcloud => "Run Google Cloud CLI commands (Porter's gcloud mixin step syntax)",
        }
    }

    /// The step schema: Porter's for the tool, with flags taking lists as
    /// Porter's code (not its schema) does.
    pub fn step_schema(self) -> String {
        let outputs = match self {
            // az also reads an output from a file.
            Tool::Az => {
                r#"{"type": "array", "items": {"type": "object", "additionalProperties": false, "required": ["name"],
                "properties": {"name": {"type": "string"}, "jsonPath": {"type": "string"}, "path": {"type": "string"}, "sensitive": {"type": "boolean"}},
                "oneOf": [{"required": ["jsonPath"]}, {"required": ["path"]}]}}"#
            }
            _ => {
                r#"{"type": "array", "items": {"type": "object", "additionalProperties": false, "required": ["name", "jsonPath"],
                "properties": {"name": {"type": "string"}, "jsonPath": {"type": "string"}, "sensitive": {"type": "boolean"}}}}"#
            }
        };
        let common = format!(
            r#""description": {{"type": "string", "minLength": 1}},
            "arguments": {{"type": "array", "items": {{"type": "string"}}}},
            "flags": {{"type": "object", "additionalProperties": {FLAG_VALUE}}},
            "outputs": {outputs},
            "suppress-output": {{"type": "boolean"}}"#
        );
        let (own, required) = match self {
            Tool::Az => (
                r#", "ignoreError": {"type": "object", "additionalProperties": false, "properties": {
                    "all": {"type": "boolean"}, "exitCodes": {"type": "array", "items": {"type": "integer"}},
                    "output": {"type": "object", "additionalProperties": false, "properties": {
                        "contains": {"type": "array", "items": {"type": "string"}}, "regex": {"type": "array", "items": {"type": "string"}}}}}},
                "group": {"type": "object", "additionalProperties": false, "required": ["name"], "properties": {"name": {"type": "string"}, "location": {"type": "string"}}},
                "login": {"type": ["object", "null"], "additionalProperties": false}"#,
                "[]",
            ),
            Tool::Aws => (
                r#", "service": {"type": "string"}, "operation": {"type": "string"}"#,
                r#"["description", "service", "operation"]"#,
            ),
            Tool::Gcloud => (
                r#", "groups": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}, "command": {"type": "string"}"#,
                r#"["description", "groups", "command"]"#,
            ),
        };
        format!(
            r#"{{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": false,
            "required": {required}, "properties": {{{common}{own}}}}}"#
        )
    }

    /// The mixin configuration: Porter's keys for the tool, plus wasmix's
    /// `image` (run in a container) and `binary` (another program name).
    pub fn config_schema(self) -> String {
        let own = match self {
            Tool::Az => {
                r#", "clientVersion": {"type": "string"}, "extensions": {"type": "array", "items": {"type": "string"}},
                "installBicep": {"type": "boolean"}, "userAgentOptOut": {"type": "boolean"}"#
            }
            _ => "",
        };
        format!(
            r#"{{"type": ["object", "null"], "additionalProperties": false, "properties": {{"image": {{"type": "string"}}, "binary": {{"type": "string"}}{own}}}}}"#
        )
    }

    /// What the mixin tells the host about itself.
    pub fn info(self) -> Info {
        Info {
            name: self.name().into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: self.summary().into(),
            step_schema: self.step_schema(),
            config_schema: self.config_schema(),
        }
    }

    /// The arguments a step runs with, exactly as Porter's mixin builds them.
    pub fn plan(self, action: &str, step: &Step, login: &LoginEnv) -> Result<Plan, String> {
        let plain = |prefix: Vec<String>, json_flag: &str| {
            let mut flags = step.flags.clone();
            // Added before the sort, as Porter does: it lands in order.
            flags.insert(json_flag.to_string(), Value::String("json".into()));
            let mut args = prefix;
            args.extend(argv::build(&step.arguments, &flags, &[]));
            Plan {
                args,
                expected_errors: Vec::new(),
            }
        };
        match self {
            Tool::Az => {
                if let Some(group) = &step.group {
                    return Ok(az_group(action, group));
                }
                if step.login.is_some() {
                    return Ok(az_login(login));
                }
                Ok(plain(Vec::new(), "output"))
            }
            Tool::Aws => {
                let (Some(service), Some(operation)) = (&step.service, &step.operation) else {
                    return Err("an aws step needs `service` and `operation`".into());
                };
                Ok(plain(vec![service.clone(), operation.clone()], "output"))
            }
            Tool::Gcloud => {
                let (Some(groups), Some(command)) = (&step.groups, &step.command) else {
                    return Err("a gcloud step needs `groups` and `command`".into());
                };
                // `--quiet` must come right after `gcloud`.
                let mut prefix = vec!["--quiet".to_string()];
                match groups {
                    Groups::One(g) => prefix.push(g.clone()),
                    Groups::Many(gs) => prefix.extend(gs.iter().cloned()),
                }
                prefix.push(command.clone());
                Ok(plain(prefix, "format"))
            }
        }
    }

    /// Lint a step: fields the tool's Porter mixin does not take together.
    pub fn lint(self, step: &str) -> Vec<Diagnostic> {
        let step: Step = match parse_step(step) {
            Ok(s) => s,
            Err(e) => return vec![diagnostic(self, "000", e.message, "")],
        };
        let mut found = Vec::new();
        if self == Tool::Az && step.group.is_some() && step.login.is_some() {
            found.push(diagnostic(
                self,
                "101",
                "a step is either `group` or `login`, not both; split it in two".into(),
                "",
            ));
        }
        if self == Tool::Az
            && (step.group.is_some() || step.login.is_some())
            && !(step.arguments.is_empty() && step.flags.is_empty() && step.outputs.is_empty())
        {
            found.push(diagnostic(
                self,
                "102",
                "`group` and `login` steps build their own command: `arguments`, `flags` and `outputs` are not used there".into(),
                "",
            ));
        }
        found
    }

    /// Run one step.
    pub fn execute(self, invocation: Invocation) -> Result<Vec<Output>, Failure> {
        let step: Step = parse_step(&invocation.step)?;
        let program = invocation
            .config_str("binary")
            .unwrap_or_else(|| self.name().to_string());
        let image = invocation.config_str("image");
        let config: Value = serde_json::from_str(&invocation.config).unwrap_or(Value::Null);
        let command = |args: Vec<String>| {
            let mut c = Command::new(program.clone())
                .args(args)
                .image_if(image.as_deref());
            for (k, v) in self.environment(&config) {
                c = c.env(k, v);
            }
            c
        };
        if self == Tool::Az {
            check_az_config(&config, &command)?;
        }
        let plan = self
            .plan(&invocation.action, &step, &LoginEnv::from_granted_env())
            .map_err(Failure::msg)?;
        let rule = match &step.ignore_error {
            Some(r) => clone_rule(r, &plan.expected_errors),
            None => IgnoreError {
                output: IgnoreOutput {
                    contains: plan.expected_errors.clone(),
                    regex: Vec::new(),
                },
                ..IgnoreError::default()
            },
        };
        execute::run_step(
            command(plan.args),
            step.suppress_output,
            &rule,
            &step.outputs,
        )
    }

    /// The variables each tool's Porter mixin sets for its program: the user
    /// agent that tells the cloud the call came through a Porter mixin.
    fn environment(self, config: &Value) -> Vec<(String, String)> {
        let agent = format!(
            "getporter/wasmix getporter/{}/v{}",
            self.name(),
            env!("CARGO_PKG_VERSION")
        );
        match self {
            Tool::Az if config["userAgentOptOut"] == Value::Bool(true) => Vec::new(),
            Tool::Az => vec![("AZURE_HTTP_USER_AGENT".into(), agent)],
            Tool::Aws => vec![("AWS_EXECUTION_ENV".into(), agent)],
            Tool::Gcloud => Vec::new(),
        }
    }
}

fn diagnostic(tool: Tool, code: &str, message: String, path: &str) -> Diagnostic {
    Diagnostic {
        code: format!("{}-{code}", tool.name()),
        severity: Severity::Error,
        message,
        path: path.into(),
    }
}

/// The step's own `ignoreError`, plus the errors the command expects.
fn clone_rule(rule: &IgnoreError, expected: &[String]) -> IgnoreError {
    let mut contains = rule.output.contains.clone();
    contains.extend(expected.iter().cloned());
    IgnoreError {
        all: rule.all,
        exit_codes: rule.exit_codes.clone(),
        output: IgnoreOutput {
            contains,
            regex: rule.output.regex.clone(),
        },
    }
}

/// `az group create` (or `delete` on uninstall), tolerating the group
/// already being there (or already gone), as Porter's az mixin does.
fn az_group(action: &str, group: &Group) -> Plan {
    if action == "uninstall" {
        return Plan {
            args: ["group", "delete", "--yes", "--name", &group.name]
                .map(String::from)
                .to_vec(),
            expected_errors: vec!["ResourceGroupNotFound".into()],
        };
    }
    let mut args: Vec<String> = ["group", "create"].map(String::from).to_vec();
    if let Some(location) = &group.location {
        args.extend(["--location".to_string(), location.clone()]);
    }
    args.extend(["--name".to_string(), group.name.clone()]);
    Plan {
        args,
        expected_errors: vec!["Resource group already exists".into()],
    }
}

/// `az login` from the step's environment: a service principal when the
/// client id, secret and tenant are all there, else a managed identity.
/// (Porter's mixin first skips the login when `$HOME/.azure` exists; a
/// mixin here sees no home directory, so it always logs in.)
fn az_login(env: &LoginEnv) -> Plan {
    let mut args = vec!["login".to_string()];
    match (&env.client_id, &env.client_secret, &env.tenant_id) {
        (Some(id), Some(secret), Some(tenant)) => args.extend([
            "--service-principal".into(),
            "--username".into(),
            id.clone(),
            "--password".into(),
            secret.clone(),
            "--tenant".into(),
            tenant.clone(),
        ]),
        (Some(id), _, _) => args.extend(["--identity".into(), "--username".into(), id.clone()]),
        _ => args.push("--identity".into()),
    }
    Plan {
        args,
        expected_errors: Vec::new(),
    }
}

/// Porter installs az at `clientVersion` with `extensions` (and Bicep) when
/// it builds the invocation image. Nothing is built here, so the same
/// declarations are checked against the az the step runs: a mismatch stops
/// the step, naming what to install, instead of running another version.
fn check_az_config(
    config: &Value,
    command: &dyn Fn(Vec<String>) -> Command<'static>,
) -> Result<(), Failure> {
    let run = |args: &[&str]| -> Result<(i32, String), Failure> {
        let done = command(args.iter().map(|s| s.to_string()).collect()).run()?;
        Ok((done.exit_code, done.stdout_text()))
    };
    if let Some(want) = config["clientVersion"].as_str() {
        let (code, out) = run(&["version", "--output", "json"])?;
        let have = serde_json::from_str::<Value>(&out)
            .ok()
            .and_then(|v| v["azure-cli"].as_str().map(String::from));
        match have {
            Some(have) if code == 0 && have == want => {}
            Some(have) => {
                return Err(Failure::msg(format!(
                    "the mixin config asks for az {want} (`clientVersion`), but the az this step runs is {have}; install {want} or change clientVersion"
                )))
            }
            None => {
                return Err(Failure::msg(format!(
                    "the mixin config asks for az {want} (`clientVersion`), but `az version` did not say which version it is (exit code {code})"
                )))
            }
        }
    }
    if let Some(exts) = config["extensions"].as_array() {
        for ext in exts.iter().filter_map(Value::as_str) {
            let (code, _) = run(&["extension", "show", "--name", ext, "--output", "json"])?;
            if code != 0 {
                return Err(Failure::msg(format!(
                    "the mixin config lists the az extension {ext:?} (`extensions`), which this az does not have; install it with `az extension add --name {ext}`"
                )));
            }
        }
    }
    if config["installBicep"] == Value::Bool(true) {
        let (code, _) = run(&["bicep", "version"])?;
        if code != 0 {
            return Err(Failure::msg(
                "the mixin config sets `installBicep`, but `az bicep version` fails here; install it with `az bicep install`",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(yaml: serde_json::Value) -> Step {
        serde_json::from_value(yaml).unwrap()
    }

    /// The command lines of Porter's own tests (`execute_test.go` of each
    /// mixin), flags sorted with the JSON flag among them.
    #[test]
    fn argv_matches_porters_mixins() {
        let none = LoginEnv::default();
        let aws = step(serde_json::json!({
            "description": "Provision VM", "service": "ec2", "operation": "run-instances",
            "arguments": ["myinst"], "flags": {"image-id": "ami-xxxxxxxx", "instance-type": "t2.micro"}
        }));
        assert_eq!(
            Tool::Aws.plan("install", &aws, &none).unwrap().args.join(" "),
            "ec2 run-instances myinst --image-id ami-xxxxxxxx --instance-type t2.micro --output json"
        );
        let tags = step(serde_json::json!({
            "description": "Tag", "service": "ec2", "operation": "create-tags",
            "flags": {"resources": "i-5203422c", "tags": "Key=canary,Value=true"}
        }));
        assert_eq!(
            Tool::Aws
                .plan("upgrade", &tags, &none)
                .unwrap()
                .args
                .join(" "),
            "ec2 create-tags --output json --resources i-5203422c --tags Key=canary,Value=true"
        );
        let gcloud = step(serde_json::json!({
            "description": "Update", "groups": ["compute", "instances"], "command": "update",
            "arguments": ["myinst"], "flags": {"update-labels": "color=blue,ready=true"}
        }));
        assert_eq!(
            Tool::Gcloud.plan("upgrade", &gcloud, &none).unwrap().args.join(" "),
            "--quiet compute instances update myinst --format json --update-labels color=blue,ready=true"
        );
        let one_group = step(serde_json::json!({
            "description": "ssh", "groups": "compute", "command": "config-ssh",
            "flags": {"ssh-config-file": "./gce-ssh-config", "ssh-key-file": "./gce-ssh-key"}
        }));
        assert_eq!(
            Tool::Gcloud.plan("install", &one_group, &none).unwrap().args.join(" "),
            "--quiet compute config-ssh --format json --ssh-config-file ./gce-ssh-config --ssh-key-file ./gce-ssh-key"
        );
        let az = step(serde_json::json!({
            "description": "Tag VM", "arguments": ["vm", "update"],
            "flags": {"name": "myVM", "resource-group": "porterci", "set": "tags.tagName=blue"}
        }));
        assert_eq!(
            Tool::Az.plan("upgrade", &az, &none).unwrap().args.join(" "),
            "vm update --name myVM --output json --resource-group porterci --set tags.tagName=blue"
        );
    }

    #[test]
    fn az_group_and_login_build_their_own_commands() {
        let none = LoginEnv::default();
        let group = step(
            serde_json::json!({"description": "g", "group": {"name": "mygroup", "location": "westus"}}),
        );
        let create = Tool::Az.plan("install", &group, &none).unwrap();
        assert_eq!(
            create.args.join(" "),
            "group create --location westus --name mygroup"
        );
        assert_eq!(create.expected_errors, ["Resource group already exists"]);
        let delete = Tool::Az.plan("uninstall", &group, &none).unwrap();
        assert_eq!(delete.args.join(" "), "group delete --yes --name mygroup");
        assert_eq!(delete.expected_errors, ["ResourceGroupNotFound"]);

        let bare = step(serde_json::json!({"description": "l", "login": null}));
        assert_eq!(
            Tool::Az
                .plan("install", &bare, &none)
                .unwrap()
                .args
                .join(" "),
            "login --identity",
            "a bare `login:` logs in too"
        );
        let login = step(serde_json::json!({"description": "l", "login": {}}));
        let sp = LoginEnv {
            client_id: Some("client-id".into()),
            client_secret: Some("password".into()),
            tenant_id: Some("tenant".into()),
        };
        assert_eq!(
            Tool::Az
                .plan("install", &login, &sp)
                .unwrap()
                .args
                .join(" "),
            "login --service-principal --username client-id --password password --tenant tenant"
        );
        let id_only = LoginEnv {
            client_id: Some("client-id".into()),
            ..LoginEnv::default()
        };
        assert_eq!(
            Tool::Az
                .plan("install", &login, &id_only)
                .unwrap()
                .args
                .join(" "),
            "login --identity --username client-id"
        );
        assert_eq!(
            Tool::Az
                .plan("install", &login, &none)
                .unwrap()
                .args
                .join(" "),
            "login --identity"
        );
    }

    #[test]
    fn schemas_are_json_and_lint_refuses_mixed_az_steps() {
        for tool in [Tool::Az, Tool::Aws, Tool::Gcloud] {
            serde_json::from_str::<Value>(&tool.step_schema()).unwrap();
            serde_json::from_str::<Value>(&tool.config_schema()).unwrap();
        }
        let found = Tool::Az.lint(r#"{"description": "x", "group": {"name": "g"}, "login": {}}"#);
        assert_eq!(found[0].code, "az-101");
        let found =
            Tool::Az.lint(r#"{"description": "x", "group": {"name": "g"}, "arguments": ["a"]}"#);
        assert_eq!(found[0].code, "az-102");
        assert!(Tool::Az
            .lint(r#"{"description": "x", "arguments": ["a"]}"#)
            .is_empty());
    }
}
