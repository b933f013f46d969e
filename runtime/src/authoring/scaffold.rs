//! `wasmix mixin new NAME --lang rust|python|js`: a working mixin to start
//! from, with a test, that builds anywhere — the contract (`wit/mixin.wit`)
//! and the language's SDK are written into the new directory, so it needs
//! no checkout of wasmix.
//!
//! Every language gets the same example, `greet`: it says hello to the
//! step's `name` through a granted `echo`, logs it, and returns the greeting
//! as an output. Its pure logic sits apart from the bindings, so the test
//! runs with the language's ordinary test runner.

use super::Lang;
use std::path::{Path, PathBuf};

const WIT: &str = include_str!("../../../wit/mixin.wit");
const RUST_SDK_LIB: &str = include_str!("../../../mixins-wasm/sdk/src/lib.rs");
const RUST_SDK_COMMAND: &str = include_str!("../../../mixins-wasm/sdk/src/command.rs");
const RUST_SDK_LOG: &str = include_str!("../../../mixins-wasm/sdk/src/log.rs");
const PYTHON_SDK: &str = include_str!("../../../mixins-wasm/python/sdk/wasmix_mixin.py");
const JS_SDK: &str = include_str!("../../../mixins-wasm/js/sdk/wasmix-mixin.js");

/// Why a mixin could not be scaffolded.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot be a mixin name.
    #[error(
        "{0:?} is not a mixin name: use lowercase letters, digits and `-`, starting with a letter"
    )]
    Name(String),
    /// The directory exists and is not empty.
    #[error("{0} already exists and is not empty; pick another name or directory")]
    Exists(PathBuf),
    /// Writing failed.
    #[error("writing {0}: {1}")]
    Write(PathBuf, std::io::Error),
}

/// Whether `name` can name a mixin (and a Rust crate, a Python module file
/// and an npm package).
pub fn valid_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
}

/// Write a new `lang` mixin called `name` into `dir`; returns the files written.
pub fn scaffold(name: &str, lang: Lang, dir: &Path) -> Result<Vec<PathBuf>, ScaffoldError> {
    if !valid_name(name) {
        return Err(ScaffoldError::Name(name.to_string()));
    }
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(ScaffoldError::Exists(dir.to_path_buf()));
    }
    let files = match lang {
        Lang::Rust => rust(name),
        Lang::Python => python(name),
        Lang::Js => js(name),
    };
    let mut written = Vec::new();
    for (rel, text) in files {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ScaffoldError::Write(parent.into(), e))?;
        }
        std::fs::write(&path, text).map_err(|e| ScaffoldError::Write(path.clone(), e))?;
        written.push(path);
    }
    Ok(written)
}

/// The step schema every scaffold starts with.
const SCHEMA: &str = r#"{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": false, "required": ["name"], "properties": {"description": {"type": "string"}, "name": {"type": "string", "minLength": 1}, "outputs": {"type": "array", "items": {"type": "object", "additionalProperties": false, "required": ["name"], "properties": {"name": {"type": "string"}}}}}}"#;

fn readme(name: &str, build: &str, test: &str) -> String {
    format!(
        "# {name}\n\nA wasmix mixin. It says hello to the step's `name` through a granted `echo`\n\
         and returns the greeting as each declared output.\n\n\
         ```sh\n{build}\n{test}\nwasmix mixin check {name}.wasm\n```\n\n\
         Use it from a bundle:\n\n```yaml\nmixins: [{name}]\ninstall:\n  - {name}:\n      description: Greet\n      name: world\n      outputs:\n        - name: greeting\n      grants: {{commands: [echo]}}\n```\n\n\
         and install with `wasmix install . --mixin-path path/to/{name}`.\n\
         `wit/mixin.wit` is the contract; see wasmix's docs/mixin-authors.md.\n"
    )
}

fn rust(name: &str) -> Vec<(String, String)> {
    let sdk_lib = RUST_SDK_LIB.replace("path: \"../../wit\"", "path: \"../wit\"");
    vec![
        ("wit/mixin.wit".into(), WIT.into()),
        (
            "sdk/Cargo.toml".into(),
            "[package]\nname = \"wasmix-mixin-sdk\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [dependencies]\nwit-bindgen = { version = \"0.46\", default-features = false, features = [\"macros\", \"realloc\"] }\n\
             serde = { version = \"1\", features = [\"derive\"] }\nserde_json = \"1\"\n"
                .into(),
        ),
        ("sdk/src/lib.rs".into(), sdk_lib),
        ("sdk/src/command.rs".into(), RUST_SDK_COMMAND.into()),
        ("sdk/src/log.rs".into(), RUST_SDK_LOG.into()),
        (
            "Cargo.toml".into(),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                 [lib]\ncrate-type = [\"cdylib\", \"rlib\"]\n\n\
                 [dependencies]\nwasmix-mixin-sdk = {{ path = \"sdk\" }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\nserde_json = \"1\"\n\n\
                 [workspace]\nmembers = [\".\", \"sdk\"]\n\n\
                 # Small components: optimised for size, one codegen unit, no unwinding.\n\
                 [profile.release]\nopt-level = \"s\"\nlto = true\ncodegen-units = 1\nstrip = true\npanic = \"abort\"\n"
            ),
        ),
        (
            "src/lib.rs".into(),
            format!(
                r##"//! The `{name}` mixin: says hello to the step's `name` through a granted
//! `echo`, and returns the greeting as each declared output.

use serde::Deserialize;
use wasmix_mixin_sdk::{{parse_step, Command, Failure, Info, Invocation, Mixin, Output}};

/// One step, as it appears under `{name}:` in porter.yaml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {{
    #[serde(default)]
    pub description: String,
    pub name: String,
    #[serde(default)]
    pub outputs: Vec<OutputSpec>,
}}

/// An output the step declares.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {{
    pub name: String,
}}

/// What the mixin says, kept apart from the bindings so it is tested on the host.
pub fn greeting(name: &str) -> String {{
    format!("Hello, {{name}}!")
}}

struct Greet;

impl Mixin for Greet {{
    fn info() -> Info {{
        Info {{
            name: "{name}".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Say hello (a wasmix mixin scaffold)".into(),
            step_schema: r#"{SCHEMA}"#.into(),
            config_schema: String::new(),
        }}
    }}

    fn execute(invocation: Invocation) -> Result<Vec<Output>, Failure> {{
        let step: Step = parse_step(&invocation.step)?;
        // run_checked logs what echo printed, and fails the step if it fails.
        let done = Command::new("echo").arg(greeting(&step.name)).run_checked()?;
        let said = done.stdout_text().trim_end().to_string();
        Ok(step.outputs.iter().map(|o| Output::text(&o.name, &said)).collect())
    }}
}}

wasmix_mixin_sdk::export_mixin!(Greet);

#[cfg(test)]
mod tests {{
    #[test]
    fn greets_by_name() {{
        assert_eq!(super::greeting("world"), "Hello, world!");
    }}
}}
"##
            ),
        ),
        ("README.md".into(), readme(name, &format!("wasmix mixin build          # cargo build --release --target wasm32-wasip2, then {name}.wasm"), "cargo test")),
        (".gitignore".into(), "target/\n*.wasm\n".into()),
    ]
}

fn python(name: &str) -> Vec<(String, String)> {
    vec![
        ("wit/mixin.wit".into(), WIT.into()),
        ("wasmix_mixin.py".into(), PYTHON_SDK.into()),
        (
            "logic.py".into(),
            "\"\"\"What the mixin says, kept apart from the bindings so it is tested on the host.\"\"\"\n\n\
             def greeting(name: str) -> str:\n    return f\"Hello, {name}!\"\n"
                .into(),
        ),
        (
            "app.py".into(),
            format!(
                r#""""The `{name}` mixin: says hello to the step's `name` through a granted
`echo`, and returns the greeting as each declared output."""

from logic import greeting
from wasmix_mixin import Command, Info, Mixin, output, parse_step

STEP_SCHEMA = r'{SCHEMA}'


class WitWorld(Mixin):
    def info(self):
        return Info(name="{name}", version="0.1.0", summary="Say hello (a wasmix mixin scaffold)",
                    step_schema=STEP_SCHEMA, config_schema="")

    def execute(self, invocation):
        step = parse_step(invocation.step)
        # run_checked logs what echo printed, and fails the step if it fails.
        said = Command("echo").arg(greeting(step["name"])).run_checked().stdout_text().rstrip()
        return [output(o["name"], said) for o in step.get("outputs", [])]
"#
            ),
        ),
        (
            "test_logic.py".into(),
            "import unittest\n\nfrom logic import greeting\n\n\nclass GreetingTest(unittest.TestCase):\n    def test_greets_by_name(self):\n        self.assertEqual(greeting(\"world\"), \"Hello, world!\")\n\n\nif __name__ == \"__main__\":\n    unittest.main()\n".into(),
        ),
        ("README.md".into(), readme(name, "wasmix mixin build          # componentize-py (pip install componentize-py)", "python3 -m unittest")),
        (".gitignore".into(), "__pycache__/\n*.wasm\n".into()),
    ]
}

fn js(name: &str) -> Vec<(String, String)> {
    vec![
        ("wit/mixin.wit".into(), WIT.into()),
        ("wasmix-mixin.js".into(), JS_SDK.into()),
        (
            "logic.js".into(),
            "// What the mixin says, kept apart from the bindings so it is tested on the host.\nexport function greeting(name) {\n  return `Hello, ${name}!`;\n}\n".into(),
        ),
        (
            "mixin.js".into(),
            format!(
                r#"// The `{name}` mixin: says hello to the step's `name` through a granted
// `echo`, and returns the greeting as each declared output.

import {{ greeting }} from './logic.js';
import {{ Command, mixin, output, parseStep }} from './wasmix-mixin.js';

const STEP_SCHEMA = '{SCHEMA}';

export const {{ describe, lint, execute }} = mixin({{
  info: () => ({{ name: '{name}', version: '0.1.0', summary: 'Say hello (a wasmix mixin scaffold)', stepSchema: STEP_SCHEMA, configSchema: '' }}),
  execute: (invocation) => {{
    const step = parseStep(invocation.step);
    // runChecked logs what echo printed, and fails the step if it fails.
    const said = new Command('echo').arg(greeting(step.name)).runChecked().stdoutText().trimEnd();
    return (step.outputs || []).map((o) => output(o.name, said));
  }},
}});
"#
            ),
        ),
        (
            "logic.test.js".into(),
            "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { greeting } from './logic.js';\n\ntest('greets by name', () => {\n  assert.equal(greeting('world'), 'Hello, world!');\n});\n".into(),
        ),
        (
            "package.json".into(),
            format!(
                "{{\n  \"name\": \"{name}\",\n  \"version\": \"0.1.0\",\n  \"private\": true,\n  \"type\": \"module\",\n  \"scripts\": {{\n    \"test\": \"node --test\"\n  }},\n  \"devDependencies\": {{\n    \"@bytecodealliance/componentize-js\": \"0.23.0\",\n    \"rolldown\": \"1.3.2\"\n  }}\n}}\n"
            ),
        ),
        ("README.md".into(), readme(name, "wasmix mixin build          # npm install, rolldown, componentize-js", "npm test")),
        (".gitignore".into(), "node_modules/\n*.wasm\n*.bundle.js\n".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_existing_directories_are_checked() {
        assert!(valid_name("greet"));
        assert!(valid_name("my-tool2"));
        for bad in ["", "Greet", "2x", "a_b", "a-", "../x"] {
            assert!(!valid_name(bad), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keep"), "x").unwrap();
        assert!(matches!(
            scaffold("greet", Lang::Python, dir.path()),
            Err(ScaffoldError::Exists(_))
        ));
        let out = dir.path().join("greet");
        let files = scaffold("greet", Lang::Rust, &out).unwrap();
        assert!(files.iter().any(|f| f.ends_with("sdk/src/lib.rs")));
        let lib = std::fs::read_to_string(out.join("sdk/src/lib.rs")).unwrap();
        assert!(
            lib.contains("path: \"../wit\""),
            "the vendored SDK finds the vendored contract"
        );
    }
}
