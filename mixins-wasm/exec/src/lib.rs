//! The exec mixin: runs one command per step, compatible with Porter's exec
//! mixin. The command itself runs through the host driver, so it can only
//! start what the step was granted.

pub mod lint;
pub mod step;

pub use wasmix_cmdline::{argv, jsonpath, outcome};

use step::ExecStep;
use wasmix_mixin_sdk::{
    log, parse_step, Command, Diagnostic, Failure, Info, Invocation, Mixin, Output, Severity,
};

struct Exec;

impl Mixin for Exec {
    fn info() -> Info {
        Info {
            name: "exec".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Run a command (Porter-compatible exec steps)".into(),
            step_schema: step::STEP_SCHEMA.into(),
            config_schema:
                r#"{"type": ["object", "null"], "properties": {"image": {"type": "string"}}}"#
                    .into(),
        }
    }

    fn lint(_action: &str, step: &str) -> Vec<Diagnostic> {
        let step: ExecStep = match parse_step(step) {
            Ok(s) => s,
            Err(e) => {
                return vec![Diagnostic {
                    code: "exec-000".into(),
                    severity: Severity::Error,
                    message: e.message,
                    path: String::new(),
                }]
            }
        };
        lint::lint(&step)
            .into_iter()
            .map(|f| Diagnostic {
                code: f.code.into(),
                severity: if f.error {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                message: f.message,
                path: f.path,
            })
            .collect()
    }

    fn execute(invocation: Invocation) -> Result<Vec<Output>, Failure> {
        let step: ExecStep = parse_step(&invocation.step)?;
        let args = argv::build(&step.arguments, &step.flags, &step.suffix_arguments);
        let mut command = Command::new(&step.command).args(args);
        for (k, v) in &step.envs {
            command = command.env(k, v);
        }
        let config_image = invocation.config_str("image");
        if let Some(image) = step.image.clone().or(config_image) {
            command = command.image(image);
        }
        if let Some(dir) = step.dir.as_deref().filter(|d| !d.is_empty() && *d != ".") {
            command = command.workdir(dir);
        }
        let shown = command.display();
        log::debug(&format!("running {shown}"));
        let done = command.run()?;
        let stdout = done.stdout_text();
        let stderr = done.stderr_text();
        if !step.suppress_output {
            if !stdout.is_empty() {
                log::info(stdout.trim_end());
            }
            if !stderr.is_empty() {
                log::warn(stderr.trim_end());
            }
        }
        if done.exit_code != 0 {
            let rule = step.ignore_error.unwrap_or_default();
            match outcome::ignored_because(&rule, done.exit_code, &stderr) {
                Some(why) => log::info(&format!(
                    "ignoring exit code {} of {shown}: {why}",
                    done.exit_code
                )),
                None => {
                    return Err(Failure {
                        message: format!(
                            "error running command {shown}: exit code {}{}",
                            done.exit_code,
                            if stderr.trim().is_empty() {
                                String::new()
                            } else {
                                format!(": {}", stderr.trim_end())
                            }
                        ),
                        exit_code: Some(done.exit_code),
                    })
                }
            }
        }
        let outputs = outcome::collect(&step.outputs, &stdout, |path| {
            // Porter's paths are relative to the bundle directory, which the
            // sandbox shows at /cnab/app (when granted).
            let full = if path.starts_with('/') {
                path.to_string()
            } else {
                format!("/cnab/app/{path}")
            };
            std::fs::read_to_string(&full).map_err(|e| format!("could not read {full}: {e}"))
        })
        .map_err(Failure::msg)?;
        // Porter's `sensitive: true` on an output: the host masks the value
        // everywhere and stores it sealed.
        let sensitive = |name: &str| step.outputs.iter().any(|o| o.name == name && o.sensitive);
        Ok(outputs
            .into_iter()
            .map(|(name, value)| Output {
                sensitive: sensitive(&name),
                name,
                value,
            })
            .collect())
    }
}

wasmix_mixin_sdk::export_mixin!(Exec);
