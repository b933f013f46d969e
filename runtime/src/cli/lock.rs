//! `wasmix lock`: pin the bundle's registry mixins by digest and record
//! every step's grants in `wasmix.lock`.

use super::{load_manifest, oci_source, Cli, Failure};
use clap::Args;
use std::path::PathBuf;
use wasmix::lock::{self, LOCK_FILE};
use wasmix::plan::BundlePlan;

/// `wasmix lock` arguments.
#[derive(Args)]
pub struct LockArgs {
    /// Bundle directory or manifest file
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Follow tags that moved since the lock was written
    #[arg(long)]
    pub update: bool,
    /// Accept capabilities the manifest grants beyond the lock file
    #[arg(long)]
    pub accept_capabilities: bool,
}

/// Pin, check and write the lock file.
pub fn run(cli: &Cli, a: &LockArgs) -> Result<u8, Failure> {
    let manifest = load_manifest(&a.path)?;
    let plans = BundlePlan::new(&manifest)?;
    let oci = oci_source(cli)?;
    let previous = lock::read(&manifest)?;
    let old = previous
        .as_ref()
        .map(|l| l.mixins.clone())
        .unwrap_or_default();
    let pins = oci.pin(&manifest, &old, a.update)?;
    lock::check(
        &manifest,
        &plans,
        previous.as_ref(),
        a.accept_capabilities,
        &pins,
    )?;
    let file = manifest.dir.join(LOCK_FILE);
    if cli.output.is_structured() {
        let mixins: std::collections::BTreeMap<_, _> = pins
            .iter()
            .map(|(name, p)| {
                (
                    name,
                    serde_json::json!({"reference": p.reference, "digest": p.digest}),
                )
            })
            .collect();
        super::output::print_doc(&serde_json::json!({"lockFile": file, "mixins": mixins}))?;
        return Ok(0);
    }
    for (name, p) in &pins {
        println!("{name}: {}@{}", p.reference, p.digest);
    }
    println!("{} is up to date", file.display());
    Ok(0)
}
