//! The exec mixin's logic as a native process, invoked the way Porter
//! invokes a mixin: the action with one step as YAML on stdin, outputs
//! written as files into `$OUTPUTS_DIR`. Used only by the benchmarks, to
//! compare a process per step with a sandbox per step.
//!
//! Like the wasm benchmark's debug driver, it does not start the command:
//! it takes the command's stdout from `$CANNED_STDOUT`, so both sides
//! measure the mixin's own work.

use std::io::Read;
use wasmix_exec::{argv, outcome, step::ExecStep};

fn main() {
    let mut input = String::new();
    if std::io::stdin().read_to_string(&mut input).is_err() {
        std::process::exit(2);
    }
    let doc: serde_yaml::Value = match serde_yaml::from_str(&input) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("invalid step YAML: {e}");
            std::process::exit(2);
        }
    };
    let body = doc
        .as_mapping()
        .and_then(|m| m.values().next())
        .and_then(|steps| steps.get(0))
        .and_then(|s| s.get("exec"))
        .cloned()
        .unwrap_or(serde_yaml::Value::Null);
    let step: ExecStep = match serde_yaml::from_value(body) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("invalid step: {e}");
            std::process::exit(2);
        }
    };
    let args = argv::build(&step.arguments, &step.flags, &step.suffix_arguments);
    let stdout = std::env::var("CANNED_STDOUT").unwrap_or_default();
    let _ = (&step.command, args);
    let outputs = match outcome::collect(&step.outputs, &stdout, |p| {
        std::fs::read_to_string(p).map_err(|e| e.to_string())
    }) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let dir = std::env::var("OUTPUTS_DIR").unwrap_or_else(|_| ".".into());
    for (name, value) in outputs {
        if std::fs::write(format!("{dir}/{name}"), value).is_err() {
            std::process::exit(1);
        }
    }
}
