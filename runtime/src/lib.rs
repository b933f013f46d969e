//! wasmix: run Porter-style bundles whose mixins are sandboxed WebAssembly
//! components.
//!
//! The data flows through a few types, one module each:
//! [`manifest::Manifest`] (what the bundle says) → [`plan::Plan`] (the steps
//! of one action, each with its [`grant::Grant`]) → [`sandbox`] (a fresh
//! wasmtime store per step built from that grant only) → [`run::Outcome`]
//! (step results and bundle outputs, recorded in the [`store`]).

#![deny(missing_docs)]

pub mod driver;
pub mod exit;
pub mod explain;
pub mod fsutil;
pub mod grant;
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
pub mod store;
pub mod support;
pub mod template;
