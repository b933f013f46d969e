//! The `wasmix` binary: parse the command line, run the command, turn the
//! result into an exit code. Everything else lives in [`cli`] and the
//! `wasmix` library.

mod cli;

use clap::Parser;
use std::process::ExitCode;
use wasmix::redact::sanitize;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::dispatch(&args) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("error: {}", sanitize(&format!("{:#}", f.error)));
            ExitCode::from(f.class.code())
        }
    }
}
