//! wasmix: run Porter-style bundles whose mixins are sandboxed WebAssembly
//! components.
//!
//! The data flows through a few types, one module each:
//! [`manifest::Manifest`] (what the bundle says) → [`plan::Plan`] (the steps
//! of one action, each with its [`grant::Grant`]) → [`sandbox`] (a fresh
//! wasmtime store per step built from that grant only) → [`run::Outcome`]
//! (step results and bundle outputs, recorded in the [`store`]).

#![deny(missing_docs)]

/// The wasmtime release this build embeds (checked against `Cargo.lock` by a
/// test, so it cannot drift).
pub const WASMTIME_VERSION: &str = "48.0.8";

/// The wasmix release.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod version_tests {
    #[test]
    fn the_wasmtime_version_is_the_locked_one() {
        let lock = include_str!("../../Cargo.lock");
        let locked = lock
            .split("[[package]]")
            .find(|p| p.contains("\nname = \"wasmtime\"\n"))
            .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
            .map(|v| v.trim_matches('"'));
        assert_eq!(locked, Some(super::WASMTIME_VERSION));
    }
}

pub mod authoring;
pub mod bundle;
pub mod config;
pub mod dependencies;
pub mod driver;
pub mod exit;
pub mod explain;
pub mod fsutil;
pub mod grant;
pub mod installation;
pub mod interrupt;
pub mod lock;
pub mod manifest;
pub mod oci;
pub mod plan;
pub mod publish;
pub mod redact;
pub mod resolve;
pub mod run;
pub mod sandbox;
pub mod schema;
pub mod seal;
pub mod sets;
pub mod store;
pub mod support;
pub mod template;
pub mod timing;
pub mod workflow;
