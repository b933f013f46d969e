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
