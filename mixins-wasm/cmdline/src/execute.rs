//! One step run the way Porter's command-line mixins run it
//! (`pkg/exec/builder.ExecuteStep`): the command through the host driver,
//! what it printed logged, a non-zero exit a failure unless `ignoreError`
//! says otherwise, then the declared outputs.

use crate::outcome;
use crate::spec::{IgnoreError, OutputSpec};
use wasmix_mixin_sdk::{log, Command, Failure, Output};

/// Run `command`, log its output unless `suppress_output`, apply `ignore`
/// to a non-zero exit, and collect `outputs` from what it printed.
pub fn run_step(
    command: Command<'_>,
    suppress_output: bool,
    ignore: &IgnoreError,
    outputs: &[OutputSpec],
) -> Result<Vec<Output>, Failure> {
    let shown = command.display();
    log::debug(&format!("running {shown}"));
    let done = command.run()?;
    let stdout = done.stdout_text();
    let stderr = done.stderr_text();
    if !suppress_output {
        if !stdout.trim().is_empty() {
            log::info(stdout.trim_end());
        }
        if !stderr.trim().is_empty() {
            log::warn(stderr.trim_end());
        }
    }
    if done.exit_code != 0 {
        match outcome::ignored_because(ignore, done.exit_code, &stderr) {
            Some(why) => log::info(&format!(
                "ignoring exit code {} of {shown}: {why}",
                done.exit_code
            )),
            None => {
                return Err(Failure {
                    message: outcome::failure_message(&shown, done.exit_code, &stderr),
                    exit_code: Some(done.exit_code),
                })
            }
        }
    }
    let values = outcome::declared_outputs(outputs, &stdout).map_err(Failure::msg)?;
    Ok(values
        .into_iter()
        .map(|(name, value, sensitive)| Output {
            name,
            value,
            sensitive,
        })
        .collect())
}
