//! What a finished command means: whether its failure is ignored, and the
//! outputs taken from what it printed.

use crate::jsonpath;
use crate::spec::{IgnoreError, OutputSpec};
use regex_lite::Regex;

/// Why a non-zero exit was let through, or `None` when it was not.
pub fn ignored_because(rule: &IgnoreError, exit_code: i32, stderr: &str) -> Option<String> {
    if rule.all {
        return Some("ignoreError.all is set".into());
    }
    if rule.exit_codes.contains(&exit_code) {
        return Some(format!("exit code {exit_code} is in ignoreError.exitCodes"));
    }
    if let Some(s) = rule
        .output
        .contains
        .iter()
        .find(|s| stderr.contains(s.as_str()))
    {
        return Some(format!("stderr contains {s:?}"));
    }
    rule.output
        .regex
        .iter()
        .find(|r| Regex::new(r).map(|re| re.is_match(stderr)).unwrap_or(false))
        .map(|r| format!("stderr matches {r:?}"))
}

/// Every capture group of every match, one per line. A pattern without groups
/// captures nothing.
pub fn regex_output(pattern: &str, stdout: &str) -> Result<String, String> {
    let re = Regex::new(pattern).map_err(|e| format!("invalid regex {pattern:?}: {e}"))?;
    let mut lines = Vec::new();
    for caps in re.captures_iter(stdout) {
        for group in caps.iter().skip(1).flatten() {
            lines.push(group.as_str().to_string());
        }
    }
    Ok(lines.join("\n"))
}

/// A `jsonPath` output over the command's standard output.
pub fn json_path_output(path: &str, stdout: &str) -> Result<String, String> {
    let doc: serde_json::Value = serde_json::from_str(stdout)
        .map_err(|e| format!("jsonPath {path:?}: stdout is not JSON ({e})"))?;
    jsonpath::evaluate(path, &doc)
        .map(|v| jsonpath::render(&v))
        .map_err(|e| e.to_string())
}

/// Porter's message for a command that exited non-zero: the command, its
/// exit code and what it printed on standard error.
pub fn failure_message(shown: &str, exit_code: i32, stderr: &str) -> String {
    let detail = if stderr.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", stderr.trim_end())
    };
    format!("error running command {shown}: exit code {exit_code}{detail}")
}

/// Every declared output as `(name, value, sensitive)`: [`collect`] with
/// `path` outputs read through the sandbox's filesystem, where Porter's
/// relative paths are under the bundle directory (`/cnab/app`, when
/// granted), and Porter's `sensitive: true` carried to the host.
pub fn declared_outputs(
    specs: &[OutputSpec],
    stdout: &str,
) -> Result<Vec<(String, String, bool)>, String> {
    let values = collect(specs, stdout, |path| {
        let full = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/cnab/app/{path}")
        };
        std::fs::read_to_string(&full).map_err(|e| format!("could not read {full}: {e}"))
    })?;
    Ok(values
        .into_iter()
        .map(|(name, value)| {
            let sensitive = specs.iter().any(|o| o.name == name && o.sensitive);
            (name, value, sensitive)
        })
        .collect())
}

/// Collect every declared output. `read_file` reads a `path` output through
/// the sandbox's filesystem (only granted directories are visible). As in
/// Porter, `jsonPath` outputs are skipped when the command printed nothing.
pub fn collect(
    specs: &[OutputSpec],
    stdout: &str,
    read_file: impl Fn(&str) -> Result<String, String>,
) -> Result<Vec<(String, String)>, String> {
    specs
        .iter()
        .filter(|spec| spec.json_path.is_none() || !stdout.trim().is_empty())
        .map(|spec| {
            let value = match (&spec.json_path, &spec.regex, &spec.path) {
                (Some(p), None, None) => json_path_output(p, stdout),
                (None, Some(r), None) => regex_output(r, stdout),
                (None, None, Some(f)) => read_file(f),
                _ => Err("needs exactly one of jsonPath, regex or path".to_string()),
            };
            value
                .map(|v| (spec.name.clone(), v))
                .map_err(|e| format!("output {:?}: {e}", spec.name))
        })
        .collect()
}
