//! Writing mixins: [`check`] a component against the `wasmix:mixin` world
//! before anyone installs it, [`scaffold`] a new mixin in Rust, Python or
//! JavaScript, and [`build`] one with its language's toolchain.

pub mod build;
pub mod check;
pub mod scaffold;

/// The languages a mixin can be written in with a first-party SDK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Rust, with `wit-bindgen` (cargo, target `wasm32-wasip2`).
    Rust,
    /// Python, with componentize-py.
    Python,
    /// JavaScript, with componentize-js.
    Js,
}

impl Lang {
    /// The language's name, for people.
    pub fn label(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        }
    }

    /// Which language the mixin in `dir` is written in, from its files.
    pub fn of(dir: &std::path::Path) -> Option<Lang> {
        if dir.join("Cargo.toml").is_file() {
            Some(Lang::Rust)
        } else if dir.join("app.py").is_file() {
            Some(Lang::Python)
        } else if dir.join("mixin.js").is_file() {
            Some(Lang::Js)
        } else {
            None
        }
    }
}
