//! `wasmix mixin check FILE`: is this component a mixin wasmix can run?
//!
//! The checks an install would make, run once on their own and reported all
//! together: size, the world's exports, every import against what the host
//! provides (anything else named), the step and config schemas, and a dry
//! run of `describe` and `lint` with no capabilities.

use crate::sandbox::{step, MixinEngine, SandboxError};
use std::path::Path;

/// Interfaces the host provides to every mixin, by package; an import from
/// any other package cannot be satisfied.
pub const PROVIDED_PACKAGES: &[&str] = &[
    "wasmix:mixin@0.1.0",
    "wasi:cli@0.2",
    "wasi:clocks@0.2",
    "wasi:filesystem@0.2",
    "wasi:io@0.2",
    "wasi:random@0.2",
    "wasi:sockets@0.2",
];

/// What a check found.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// The component file.
    pub file: String,
    /// Its size in bytes.
    pub size: u64,
    /// The size limit it was checked against.
    pub max_size: u64,
    /// sha256 of the file.
    pub digest: String,
    /// The mixin's name, version and summary, from `describe`.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its one-line summary.
    pub summary: String,
    /// Every import, each with whether the host provides it.
    pub imports: Vec<Import>,
    /// The component's exports.
    pub exports: Vec<String>,
    /// Whether the mixin takes a configuration (a config schema).
    pub config_schema: bool,
    /// The step body checked against the schema and `lint`, when one was given.
    pub step: Option<serde_json::Value>,
    /// What the schema and `lint` said about that step; without a step,
    /// what `lint` said about an empty one (a dry run: it must not trap).
    pub lint: Vec<Finding>,
    /// Time to compile (or load from the cache), in milliseconds.
    pub load_ms: u128,
}

/// One import of the component.
#[derive(Debug, serde::Serialize)]
pub struct Import {
    /// `wasi:cli/environment@0.2.0`.
    pub name: String,
    /// The host provides it.
    pub provided: bool,
}

/// One lint finding, or a schema violation of the checked step.
#[derive(Debug, serde::Serialize)]
pub struct Finding {
    /// The mixin's code, or `schema` for a schema violation.
    pub code: String,
    /// `error`, `warning` or `info`.
    pub severity: String,
    /// What is wrong.
    pub message: String,
    /// Where in the step.
    pub path: String,
}

/// Why a component is not a mixin wasmix can run.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The file could not be read.
    #[error("{0}: {1}")]
    Read(String, std::io::Error),
    /// Larger than the configured limit.
    #[error("{file} is {size} bytes, over the {max} byte limit for mixins (--max-mixin-size)")]
    TooLarge {
        /// File.
        file: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Imports the host does not provide.
    #[error(
        "{file} imports what the host does not provide: {}; a mixin may import wasmix:mixin and the WASI 0.2 interfaces {} only \
         (for JavaScript, build with `-d http -d fetch-event`)",
        .names.join(", "),
        PROVIDED_PACKAGES[1..].join(", ")
    )]
    Unprovided {
        /// File.
        file: String,
        /// The imports no one provides.
        names: Vec<String>,
    },
    /// Not a component of the world, or `describe` / the schemas failed.
    #[error(transparent)]
    NotAMixin(#[from] SandboxError),
    /// `lint` trapped or failed.
    #[error("{file}: lint failed: {reason}")]
    Lint {
        /// File.
        file: String,
        /// Why.
        reason: String,
    },
}

/// Whether the host provides `import` (`wasi:cli/environment@0.2.3`).
pub fn provided(import: &str) -> bool {
    let Some((pkg_iface, version)) = import.rsplit_once('@') else {
        return false;
    };
    let Some((package, _)) = pkg_iface.split_once('/') else {
        return false;
    };
    PROVIDED_PACKAGES.iter().any(|p| {
        let (name, want) = p.split_once('@').unwrap_or((p, ""));
        name == package && (version == want || version.starts_with(&format!("{want}.")))
    })
}

/// Check the component at `path`: size, imports, exports, schemas, and a
/// dry run of `describe` and `lint(action, step)` (an empty step when none
/// is given; then only a trap counts, not what lint says of `{}`).
pub fn check(
    engine: &MixinEngine,
    path: &Path,
    max_size: u64,
    action: &str,
    step: Option<&serde_json::Value>,
) -> Result<Report, CheckError> {
    use sha2::Digest as _;
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| CheckError::Read(file.clone(), e))?;
    let size = bytes.len() as u64;
    if size > max_size {
        return Err(CheckError::TooLarge {
            file,
            size,
            max: max_size,
        });
    }
    // Imports first: a component importing wasi:http fails to link, and the
    // operator should hear every import that is missing, not only the first.
    let names = engine.imports_of(path, &bytes)?;
    let unprovided: Vec<String> = names.iter().filter(|n| !provided(n)).cloned().collect();
    if !unprovided.is_empty() {
        return Err(CheckError::Unprovided {
            file,
            names: unprovided,
        });
    }
    let started = std::time::Instant::now();
    let name = crate::resolve::mixin_name_of(path).unwrap_or_else(|| "mixin".into());
    let loaded = engine.load(&name, path)?;
    let load_ms = started.elapsed().as_millis();
    let empty = serde_json::json!({});
    let step_json = step.unwrap_or(&empty).to_string();
    let schema = loaded.schema().map_err(|reason| SandboxError::NotAMixin {
        path: path.to_path_buf(),
        reason,
    })?;
    let mut lint: Vec<Finding> = step
        .map(|s| schema.validate(s))
        .unwrap_or_default()
        .into_iter()
        .map(|v| Finding {
            code: "schema".into(),
            severity: "error".into(),
            message: v.message,
            path: v.path,
        })
        .collect();
    let diagnostics =
        step::lint(engine, &loaded, action, &step_json).map_err(|reason| CheckError::Lint {
            file: file.clone(),
            reason,
        })?;
    lint.extend(diagnostics.into_iter().map(|d| Finding {
        code: d.code,
        severity: format!("{:?}", d.severity).to_lowercase(),
        message: d.message,
        path: d.path,
    }));
    Ok(Report {
        file,
        size,
        max_size,
        digest: format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes))),
        name: loaded.info.name.clone(),
        version: loaded.info.version.clone(),
        summary: loaded.info.summary.clone(),
        imports: names
            .into_iter()
            .map(|name| Import {
                provided: provided(&name),
                name,
            })
            .collect(),
        exports: loaded.exports.clone(),
        config_schema: !loaded.info.config_schema.trim().is_empty(),
        step: step.cloned(),
        lint,
        load_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::provided;

    #[test]
    fn wasi_02_and_the_contract_are_provided_nothing_else() {
        assert!(provided("wasi:cli/environment@0.2.0"));
        assert!(provided("wasi:io/streams@0.2.6"));
        assert!(provided("wasmix:mixin/driver@0.1.0"));
        assert!(!provided("wasi:http/outgoing-handler@0.2.0"));
        assert!(!provided("wasi:cli/environment@0.3.0"));
        assert!(!provided("wasmix:mixin/driver@0.2.0"));
        assert!(!provided("fermyon:spin/key-value@2.0.0"));
        assert!(!provided("no-version"));
    }
}
