//! `wasmix mixin build [DIR]`: build a mixin with its language's toolchain
//! into `DIR/NAME.wasm` — cargo for Rust, componentize-py for Python,
//! rolldown and componentize-js for JavaScript — the way `mixin new` lays a
//! project out.

use super::Lang;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A built component.
#[derive(Debug, serde::Serialize)]
pub struct Built {
    /// The component file.
    pub file: PathBuf,
    /// The language it was built from.
    pub lang: Lang,
}

/// Why a mixin could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No project recognised in the directory.
    #[error("{0} holds no mixin project: expected Cargo.toml (Rust), app.py (Python) or mixin.js (JavaScript); start one with `wasmix mixin new NAME --lang rust|python|js`")]
    Unknown(PathBuf),
    /// A tool is not installed.
    #[error("{tool} was not found: {install}")]
    Missing {
        /// The program.
        tool: String,
        /// How to install it.
        install: String,
    },
    /// A tool ran and failed.
    #[error("{command} failed ({status}) in {dir}; its output is above")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// Where it ran.
        dir: PathBuf,
    },
    /// The project is malformed (no package name, no `wit/` directory).
    #[error("{0}")]
    Project(String),
    /// Reading or writing a file failed.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

fn run(dir: &Path, program: &str, args: &[&str], install: &str) -> Result<(), BuildError> {
    let command = format!("{program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => BuildError::Missing {
                tool: program.to_string(),
                install: install.to_string(),
            },
            _ => BuildError::Io(dir.to_path_buf(), e),
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Failed {
            command,
            status: status.to_string(),
            dir: dir.to_path_buf(),
        })
    }
}

/// The mixin's name: the Rust package's name, else the directory's.
fn name_of(dir: &Path, lang: Lang) -> Result<String, BuildError> {
    if lang == Lang::Rust {
        let manifest = dir.join("Cargo.toml");
        let text =
            std::fs::read_to_string(&manifest).map_err(|e| BuildError::Io(manifest.clone(), e))?;
        let doc: toml::Table = text
            .parse()
            .map_err(|e| BuildError::Project(format!("{}: {e}", manifest.display())))?;
        return doc
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .map(String::from)
            .ok_or_else(|| {
                BuildError::Project(format!("{}: no [package] name", manifest.display()))
            });
    }
    dir.canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .ok_or_else(|| BuildError::Project(format!("{}: no directory name", dir.display())))
}

/// Build the mixin in `dir`; the component lands in `dir/NAME.wasm`.
pub fn build(dir: &Path) -> Result<Built, BuildError> {
    // Absolute, so tool paths under it stay right when the tools run in it.
    let dir = &dir
        .canonicalize()
        .map_err(|e| BuildError::Io(dir.to_path_buf(), e))?;
    let lang = Lang::of(dir).ok_or_else(|| BuildError::Unknown(dir.to_path_buf()))?;
    let name = name_of(dir, lang)?;
    if lang != Lang::Rust && !dir.join("wit/mixin.wit").is_file() {
        return Err(BuildError::Project(format!(
            "{}: wit/mixin.wit is missing; `wasmix mixin new` writes it, or copy it from wasmix's wit/",
            dir.display()
        )));
    }
    let file = dir.join(format!("{name}.wasm"));
    let tmp = dir.join(format!("{name}.wasm.tmp"));
    let tmp_arg = tmp
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("out.wasm.tmp");
    match lang {
        Lang::Rust => {
            run(
                dir,
                "cargo",
                &["build", "--release", "--target", "wasm32-wasip2"],
                "install Rust with rustup, then `rustup target add wasm32-wasip2`",
            )?;
            // cargo ran in `dir`: a relative CARGO_TARGET_DIR is under it.
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(|t| dir.join(t))
                .unwrap_or_else(|| dir.join("target"));
            let artifact = target
                .join("wasm32-wasip2/release")
                .join(format!("{}.wasm", name.replace('-', "_")));
            std::fs::copy(&artifact, &tmp).map_err(|e| BuildError::Io(artifact.clone(), e))?;
        }
        Lang::Python => run(
            dir,
            "componentize-py",
            &[
                "-d",
                "wit",
                "-w",
                "mixin",
                "componentize",
                "app",
                "-p",
                ".",
                "-o",
                tmp_arg,
            ],
            "install it with `python3 -m pip install componentize-py`",
        )?,
        Lang::Js => {
            let bin = |tool: &str| dir.join("node_modules/.bin").join(tool);
            if !bin("componentize-js").is_file() || !bin("rolldown").is_file() {
                run(
                    dir,
                    "npm",
                    &["install", "--no-audit", "--no-fund"],
                    "install Node.js 18 or later (it brings npm)",
                )?;
            }
            let bundle = format!("{name}.bundle.js");
            let rolldown = bin("rolldown");
            run(
                dir,
                &rolldown.to_string_lossy(),
                &[
                    "mixin.js",
                    "--format",
                    "esm",
                    "--file",
                    &bundle,
                    "--external",
                    "wasmix:mixin/log@0.1.0",
                    "--external",
                    "wasmix:mixin/credentials@0.1.0",
                    "--external",
                    "wasmix:mixin/driver@0.1.0",
                ],
                "run `npm install` in the mixin's directory",
            )?;
            // No fetch/http: the host offers no wasi:http.
            let componentize = bin("componentize-js");
            run(
                dir,
                &componentize.to_string_lossy(),
                &[
                    &bundle,
                    "--wit",
                    "wit",
                    "-n",
                    "mixin",
                    "-d",
                    "http",
                    "-d",
                    "fetch-event",
                    "-o",
                    tmp_arg,
                ],
                "run `npm install` in the mixin's directory",
            )?;
        }
    }
    std::fs::rename(&tmp, &file).map_err(|e| BuildError::Io(file.clone(), e))?;
    Ok(Built { file, lang })
}
