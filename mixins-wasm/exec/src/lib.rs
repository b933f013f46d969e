//! The exec mixin: runs one command per step, compatible with Porter's exec
//! mixin. The command itself runs through the host driver, so it can only
//! start what the step was granted.

pub mod lint;
pub mod step;

pub use wasmix_cmdline::{argv, jsonpath, outcome};

use step::ExecStep;
use wasmix_mixin_sdk::{
    parse_step, Command, Diagnostic, Failure, Info, Invocation, Mixin, Output, Severity,
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
        wasmix_cmdline::execute::run_step(
            command,
            step.suppress_output,
            &step.ignore_error.unwrap_or_default(),
            &step.outputs,
        )
    }
}

wasmix_mixin_sdk::export_mixin!(Exec);
