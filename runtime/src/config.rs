//! `~/.wasmix/config.toml`: defaults an operator sets once. A setting on
//! the command line wins, then its environment variable, then this file,
//! then wasmix's default. Unknown keys are refused with their line, so a
//! misspelt setting never silently does nothing.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The config file's name in wasmix's home.
pub const CONFIG_FILE: &str = "config.toml";

/// What the file may set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Who runs commands: `host`, `docker` or `debug` (`--driver`).
    pub driver: Option<String>,
    /// Registries reachable over plain HTTP (`--insecure-registry`).
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// Namespace for bare mixin names (`--mixin-namespace`).
    pub mixin_namespace: Option<String>,
    /// Directories holding mixin components, `:`-separated (`--mixin-path`).
    pub mixin_path: Option<String>,
    /// Trust policy file (`--trust-policy`).
    pub trust_policy: Option<PathBuf>,
    /// Largest mixin component accepted, in bytes (`--max-mixin-size`).
    pub max_mixin_size: Option<u64>,
    /// Output format: `text`, `json` or `yaml` (`--output`).
    pub output: Option<String>,
}

/// The file could not be read or says something wrong.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct ConfigError {
    /// The file (with the line, when known).
    pub file: String,
    /// What is wrong, and what to do.
    pub reason: String,
}

impl Config {
    /// The config at `path`; the empty config when there is no file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => {
                return Err(ConfigError {
                    file: path.display().to_string(),
                    reason: e.to_string(),
                })
            }
        };
        Config::parse(&path.display().to_string(), &text)
    }

    /// Parse `text` (from `file`, for messages).
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            ConfigError {
                file: match line {
                    Some(l) => format!("{file}:{l}"),
                    None => file.to_string(),
                },
                // toml's message names the known settings for an unknown key.
                reason: e.message().to_string(),
            }
        })?;
        if let Some(d) = &config.driver {
            if !matches!(d.as_str(), "host" | "docker" | "debug") {
                return Err(ConfigError {
                    file: file.to_string(),
                    reason: format!("driver = {d:?}: use host, docker or debug"),
                });
            }
        }
        if let Some(o) = &config.output {
            if !matches!(o.as_str(), "text" | "json" | "yaml") {
                return Err(ConfigError {
                    file: file.to_string(),
                    reason: format!("output = {o:?}: use text, json or yaml"),
                });
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_mistakes_are_located() {
        let c = Config::parse(
            "c.toml",
            "driver = \"docker\"\ninsecure-registries = [\"localhost:5000\"]\nmixin-namespace = \"r.io/wasmix\"\n",
        )
        .unwrap();
        assert_eq!(c.driver.as_deref(), Some("docker"));
        assert_eq!(c.insecure_registries, ["localhost:5000"]);
        let err = Config::parse("c.toml", "driver = \"host\"\ndirver = \"docker\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("c.toml:2") && err.contains("dirver"),
            "{err}"
        );
        let err = Config::parse("c.toml", "driver = \"kube\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("host, docker or debug"), "{err}");
    }
}
