//! The `wasmix` binary: parse the command line, run the command, turn the
//! result into an exit code. Everything else lives in [`cli`] and the
//! `wasmix` library.

mod cli;

use std::process::ExitCode;
use wasmix::redact::sanitize;

/// The error and its causes, each cause added only when the message so far
/// does not already say it (many errors quote their cause).
fn message(error: &anyhow::Error) -> String {
    let mut out = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

fn main() -> ExitCode {
    wasmix::timing::mark("start");
    let args = match cli::parse() {
        Ok(a) => a,
        Err(f) => {
            eprintln!("error: {}", sanitize(&message(&f.error)));
            return ExitCode::from(f.class.code());
        }
    };
    wasmix::timing::mark("parse arguments");
    let result = cli::dispatch(&args);
    wasmix::timing::mark("command");
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("error: {}", sanitize(&message(&f.error)));
            ExitCode::from(f.class.code())
        }
    }
}
