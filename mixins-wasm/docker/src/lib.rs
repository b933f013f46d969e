//! The docker mixin: Porter's docker step syntax (getporter/docker-mixin).
//! A step names one command — `pull`, `push`, `build`, `run`, `remove` or
//! `login` — and the mixin runs the docker CLI with the argv Porter's mixin
//! builds, through the host driver: a granted `docker`, or another
//! Docker-compatible CLI named by `binary:` in the mixin config (`podman`).
//!
//! Granting `docker` grants the Docker engine: whatever it can do, the step
//! can. Grant it to steps that need it only.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use wasmix_cmdline::argv;
use wasmix_cmdline::spec::OutputSpec;
use wasmix_mixin_sdk::{log, parse_step, Command, Failure, Info, Invocation, Mixin, Output};

/// A docker step: a description and exactly one command.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub pull: Option<Pull>,
    #[serde(default)]
    pub push: Option<Push>,
    #[serde(default)]
    pub build: Option<Build>,
    #[serde(default)]
    pub run: Option<Run>,
    #[serde(default)]
    pub remove: Option<Remove>,
    /// Porter accepts a mapping or nothing (`login:`): present-but-null is
    /// `Some(None)`, absent is `None`.
    #[serde(default, deserialize_with = "present")]
    pub login: Option<Option<Login>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Login>>, D::Error> {
    Option::<Login>::deserialize(d).map(Some)
}

/// What every command takes besides its own fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Common {
    #[serde(default)]
    pub arguments: Vec<String>,
    #[serde(default)]
    pub flags: BTreeMap<String, Value>,
    #[serde(default)]
    pub outputs: Vec<OutputSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pull {
    pub name: String,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(flatten)]
    pub common: Common,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Push {
    pub name: String,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(flatten)]
    pub common: Common,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    pub tag: String,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(flatten)]
    pub common: Common,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    pub host: Value,
    pub container: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    pub image: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub detach: bool,
    #[serde(default)]
    pub ports: Vec<Port>,
    #[serde(default)]
    pub env: BTreeMap<String, Value>,
    #[serde(default)]
    pub privileged: bool,
    #[serde(default)]
    pub rm: bool,
    #[serde(default, rename = "suppress-output")]
    pub suppress_output: bool,
    #[serde(flatten)]
    pub common: Common,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remove {
    pub container: String,
    #[serde(default)]
    pub force: bool,
    #[serde(flatten)]
    pub common: Common,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub arguments: Vec<String>,
}

/// What one step runs.
#[derive(Debug, PartialEq)]
pub struct Plan {
    pub args: Vec<String>,
    /// Bytes for the CLI's standard input (login's password).
    pub stdin: Option<String>,
    /// Do not log what the command prints.
    pub quiet: bool,
}

fn scalar(v: &Value) -> String {
    argv::scalar(v)
}

/// The argv Porter's docker mixin builds for `step` (without the program).
/// `env` looks up `DOCKER_USERNAME` / `DOCKER_PASSWORD` for `login`.
pub fn plan<'s>(
    step: &'s Step,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Plan, &'s [OutputSpec]), String> {
    let count = [
        step.pull.is_some(),
        step.push.is_some(),
        step.build.is_some(),
        step.run.is_some(),
        step.remove.is_some(),
        step.login.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if count != 1 {
        return Err(
            "a docker step names exactly one of pull, push, build, run, remove or login".into(),
        );
    }
    let done = |args: Vec<String>, outputs| {
        Ok((
            Plan {
                args,
                stdin: None,
                quiet: false,
            },
            outputs,
        ))
    };
    if let Some(p) = &step.pull {
        let reference = match (&p.digest, &p.tag) {
            // Porter's mixin pulls the digest and drops the tag; both named
            // is refused here rather than one of them ignored.
            (Some(d), Some(t)) if !d.is_empty() && !t.is_empty() => {
                return Err(format!(
                    "docker pull of {} names both tag {t:?} and digest {d:?}; keep one (the digest pins the image)",
                    p.name
                ))
            }
            (Some(d), _) if !d.is_empty() => format!("{}@{d}", p.name),
            (_, Some(t)) if !t.is_empty() => format!("{}:{t}", p.name),
            _ => p.name.clone(),
        };
        let mut a = vec!["pull".to_string(), reference];
        a.extend(argv::build(&p.common.arguments, &p.common.flags, &[]));
        return done(a, p.common.outputs.as_slice());
    }
    if let Some(p) = &step.push {
        let reference = match &p.tag {
            Some(t) if !t.is_empty() => format!("{}:{t}", p.name),
            _ => p.name.clone(),
        };
        let mut a = vec!["push".to_string(), reference];
        a.extend(argv::build(&p.common.arguments, &p.common.flags, &[]));
        return done(a, p.common.outputs.as_slice());
    }
    if let Some(b) = &step.build {
        let mut flags = b.common.flags.clone();
        if let Some(f) = b.file.as_ref().filter(|f| !f.is_empty()) {
            flags.insert("f".into(), Value::String(f.clone()));
        }
        flags.insert("t".into(), Value::String(b.tag.clone()));
        let path = b
            .path
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| ".".into());
        let mut a = vec!["build".to_string()];
        a.extend(argv::build(&b.common.arguments, &flags, &[path]));
        return done(a, b.common.outputs.as_slice());
    }
    if let Some(r) = &step.run {
        let mut flags = r.common.flags.clone();
        if r.detach {
            flags.insert("d".into(), Value::Null);
        }
        if !r.env.is_empty() {
            let env = r
                .env
                .iter()
                .map(|(k, v)| Value::String(format!("{k}={}", scalar(v))));
            flags.insert("env".into(), Value::Array(env.collect()));
        }
        if let Some(n) = r.name.as_ref().filter(|n| !n.is_empty()) {
            flags.insert("name".into(), Value::String(n.clone()));
        }
        if !r.ports.is_empty() {
            let ports = r
                .ports
                .iter()
                .map(|p| Value::String(format!("{}:{}", scalar(&p.host), scalar(&p.container))));
            flags.insert("p".into(), Value::Array(ports.collect()));
        }
        if r.privileged {
            flags.insert("privileged".into(), Value::Null);
        }
        if r.rm {
            flags.insert("rm".into(), Value::Null);
        }
        let mut suffix = vec![r.image.clone()];
        suffix.extend(r.command.iter().filter(|c| !c.is_empty()).cloned());
        suffix.extend(r.common.arguments.iter().cloned());
        let mut a = vec!["run".to_string()];
        a.extend(argv::build(&[], &flags, &suffix));
        return Ok((
            Plan {
                args: a,
                stdin: None,
                quiet: r.suppress_output,
            },
            r.common.outputs.as_slice(),
        ));
    }
    if let Some(r) = &step.remove {
        let mut flags = r.common.flags.clone();
        if r.force {
            flags.insert("f".into(), Value::Null);
        }
        let mut suffix = vec![r.container.clone()];
        suffix.extend(r.common.arguments.iter().cloned());
        let mut a = vec!["rm".to_string()];
        a.extend(argv::build(&[], &flags, &suffix));
        return done(a, r.common.outputs.as_slice());
    }
    let login = step.login.as_ref().and_then(|l| l.as_ref());
    let pick = |given: Option<&String>, var: &str| {
        given
            .filter(|v| !v.is_empty())
            .cloned()
            .or_else(|| env(var))
            .ok_or_else(|| format!("docker login needs a {} (in the step, or {var} granted to it with `grants: {{env: [{var}]}}`)", var.trim_start_matches("DOCKER_").to_lowercase()))
    };
    let username = pick(login.and_then(|l| l.username.as_ref()), "DOCKER_USERNAME")?;
    let password = pick(login.and_then(|l| l.password.as_ref()), "DOCKER_PASSWORD")?;
    let mut a = vec!["login".to_string()];
    a.extend(login.map(|l| l.arguments.clone()).unwrap_or_default());
    // Porter passes `-p PASSWORD`; on stdin it stays out of the process list.
    a.extend(["--password-stdin".into(), "-u".into(), username]);
    Ok((
        Plan {
            args: a,
            stdin: Some(password),
            quiet: true,
        },
        &[],
    ))
}

struct Docker;

impl Mixin for Docker {
    fn info() -> Info {
        Info {
            name: "docker".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Pull, push, build and run images with the docker CLI (Porter's docker step syntax)".into(),
            step_schema: include_str!("schema.json").into(),
            config_schema: r#"{"type": ["object", "null"], "additionalProperties": false, "properties": {"clientVersion": {"type": "string"}, "binary": {"type": "string"}}}"#.into(),
        }
    }

    fn execute(inv: Invocation) -> Result<Vec<Output>, Failure> {
        let step: Step = parse_step(&inv.step)?;
        let program = inv.config_str("binary").unwrap_or_else(|| "docker".into());
        if let Some(want) = inv.config_str("clientVersion") {
            let done = Command::new(program.clone())
                .args(["version", "--format", "{{.Client.Version}}"])
                .run()?;
            let have = done.stdout_text().trim().to_string();
            if done.exit_code != 0 || have != want.trim_start_matches('v') {
                log::warn(&format!(
                    "the mixin config asks for docker {want} (`clientVersion`, which Porter installs when it builds the invocation image); this step runs {}",
                    if have.is_empty() { "a client that did not say its version".to_string() } else { have }
                ));
            }
        }
        let env = |var: &str| std::env::var(var).ok().filter(|v| !v.is_empty());
        let (plan, outputs) = plan(&step, &env).map_err(Failure::msg)?;
        let mut c = Command::new(program).args(plan.args);
        if let Some(input) = plan.stdin {
            c = c.stdin(input.into_bytes());
        }
        wasmix_cmdline::execute::run_step(c, plan.quiet, &Default::default(), outputs)
    }
}

wasmix_mixin_sdk::export_mixin!(Docker);

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(json: &str) -> Vec<String> {
        let step: Step = serde_json::from_str(json).unwrap();
        plan(&step, &|_| None).unwrap().0.args
    }

    /// The command lines of Porter's docker mixin tests (`execute_test.go`).
    #[test]
    fn argv_matches_porters_docker_mixin() {
        assert_eq!(
            plan_of(
                r#"{"description":"x","pull":{"name":"getporter/porter-hello","tag":"v0.1.0"}}"#
            )
            .join(" "),
            "pull getporter/porter-hello:v0.1.0"
        );
        assert_eq!(
            plan_of(r#"{"description":"x","pull":{"name":"getporter/porter-hello","digest":"sha256:abc"}}"#).join(" "),
            "pull getporter/porter-hello@sha256:abc"
        );
        let both: Step = serde_json::from_str(
            r#"{"description":"x","pull":{"name":"getporter/porter-hello","tag":"v0.1.0","digest":"sha256:abc"}}"#,
        )
        .unwrap();
        assert!(plan(&both, &|_| None).unwrap_err().contains("both tag"));
        assert_eq!(
            plan_of(r#"{"description":"x","push":{"name":"gmadhok/cookbook","tag":"v1.0"}}"#)
                .join(" "),
            "push gmadhok/cookbook:v1.0"
        );
        assert_eq!(
            plan_of(r#"{"description":"x","build":{"tag":"practice","file":"myfile","path":"/Users/myuser/Documents"}}"#).join(" "),
            "build -f myfile -t practice /Users/myuser/Documents"
        );
        assert_eq!(
            plan_of(r#"{"description":"x","run":{"image":"getporter/porter-hello","name":"practice","detach":true,"env":{"password":"password"},"privileged":true,"rm":true}}"#).join(" "),
            "run -d --env password=password --name practice --privileged --rm getporter/porter-hello"
        );
        assert_eq!(
            plan_of(r#"{"description":"x","run":{"image":"busybox","command":"echo","arguments":["hi"],"ports":[{"host":8080,"container":80}]}}"#).join(" "),
            "run -p 8080:80 busybox echo hi"
        );
        assert_eq!(
            plan_of(r#"{"description":"x","remove":{"container":"practice","force":true}}"#)
                .join(" "),
            "rm -f practice"
        );
    }

    #[test]
    fn login_sends_the_password_on_stdin_and_exactly_one_command_is_named() {
        let step: Step =
            serde_json::from_str(r#"{"description":"x","login":{"username":"gmadhok"}}"#).unwrap();
        let (p, _) = plan(&step, &|v| {
            (v == "DOCKER_PASSWORD").then(|| "password".to_string())
        })
        .unwrap();
        assert_eq!(p.args.join(" "), "login --password-stdin -u gmadhok");
        assert_eq!(p.stdin.as_deref(), Some("password"));
        let bare: Step = serde_json::from_str(r#"{"description":"x","login":null}"#).unwrap();
        assert!(plan(&bare, &|_| None)
            .unwrap_err()
            .contains("DOCKER_USERNAME"));
        let two: Step =
            serde_json::from_str(r#"{"description":"x","pull":{"name":"a"},"push":{"name":"a"}}"#)
                .unwrap();
        assert!(plan(&two, &|_| None).unwrap_err().contains("exactly one"));
    }
}
