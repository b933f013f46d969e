//! Finding a mixin's component file by name on the mixin path, and the
//! built-in mixins installed beside the `wasmix` binary.

use std::path::{Path, PathBuf};

/// Where `make install` puts the first-party mixins, relative to the
/// directory holding the `wasmix` binary: `PREFIX/bin/wasmix` finds them in
/// `PREFIX/lib/wasmix/mixins`.
pub const BUILTIN_RELATIVE: &str = "../lib/wasmix/mixins";

/// The built-in mixins' directory for the running binary, when it exists.
/// It comes last on every mixin path, so a component of the same name on
/// the operator's path (or pinned from a registry) overrides the built-in.
pub fn builtin_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.join(BUILTIN_RELATIVE);
    // Canonical, so `mixin list` can tell it from a path entry naming it.
    dir.canonicalize().ok().filter(|d| d.is_dir())
}

/// The mixin name a component file stands for: `NAME.wasm`, or
/// `wasmix_NAME.wasm` with `_` read as `-`.
pub fn mixin_name_of(file: &Path) -> Option<String> {
    let stem = file.file_name()?.to_str()?.strip_suffix(".wasm")?;
    Some(match stem.strip_prefix("wasmix_") {
        Some(rest) => rest.replace('_', "-"),
        None => stem.to_string(),
    })
}

/// Directories searched for `NAME.wasm` (or `wasmix_NAME.wasm`, the name
/// cargo gives a crate `wasmix-NAME`), in order.
#[derive(Debug, Clone, Default)]
pub struct MixinPath(pub Vec<PathBuf>);

/// No component was found for a mixin.
#[derive(Debug, thiserror::Error)]
#[error(
    "mixin {name:?} not found: looked for {name}.wasm and wasmix_{name}.wasm in {searched}; \
         set --mixin-path or WASMIX_MIXIN_PATH to the directory holding it \
         (`wasmix mixin list` shows the mixins found)"
)]
pub struct NotFound {
    /// Mixin name.
    pub name: String,
    /// Directories searched.
    pub searched: String,
}

impl MixinPath {
    /// Parse a `:`-separated list.
    pub fn parse(list: &str) -> Self {
        MixinPath(
            list.split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect(),
        )
    }

    /// The component file for mixin `name`.
    pub fn locate(&self, name: &str) -> Result<PathBuf, NotFound> {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            for dir in &self.0 {
                for file in [
                    format!("{name}.wasm"),
                    format!("wasmix_{}.wasm", name.replace('-', "_")),
                ] {
                    let p = dir.join(file);
                    if p.is_file() {
                        return Ok(p);
                    }
                }
            }
        }
        Err(NotFound {
            name: name.to_string(),
            searched: if self.0.is_empty() {
                "no directories (the mixin path is empty)".into()
            } else {
                self.0
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
    }

    /// Add a directory at the end.
    pub fn push(&mut self, dir: &Path) {
        self.0.push(dir.to_path_buf());
    }
}
