//! Porter's exec lint rules.

use crate::step::ExecStep;
use serde_json::Value;

/// One finding: code, whether it is an error, message, path in the step.
pub struct Finding {
    pub code: &'static str,
    pub error: bool,
    pub message: String,
    pub path: String,
}

/// `bash -c` is discouraged (exec-100, a warning) and its script must be
/// wrapped in quotes, or Porter's word splitting breaks it apart (exec-101).
pub fn lint(step: &ExecStep) -> Vec<Finding> {
    let mut found = Vec::new();
    if step.command != "bash" {
        return found;
    }
    let Some(script) = step.flags.get("c") else {
        return found;
    };
    found.push(Finding {
        code: "exec-100",
        error: false,
        message: "Best Practice: Avoid Embedded Bash; move the script into a file and run it \
                  (https://getporter.org/best-practices/exec-mixin/#use-scripts)"
            .into(),
        path: "flags.c".into(),
    });
    let values: Vec<String> = match script {
        Value::Array(items) => items.iter().map(wasmix_cmdline::argv::scalar).collect(),
        other => vec![wasmix_cmdline::argv::scalar(other)],
    };
    let wrapped = |s: &str| {
        s.len() >= 2
            && ((s.starts_with('"') && s.ends_with('"'))
                || (s.starts_with('\'') && s.ends_with('\'')))
    };
    if values.iter().any(|v| !wrapped(v)) {
        found.push(Finding {
            code: "exec-101",
            error: true,
            message: "bash -c argument missing wrapping quotes: the script is split on spaces \
                      unless quoted, for example  c: '\"echo Hello World\"'"
                .into(),
            path: "flags.c".into(),
        });
    }
    found
}
