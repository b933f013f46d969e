//! Porter's `gcloud` mixin. All of it is [`wasmix_cloud::Tool::Gcloud`]: this
//! component only gives it its Porter name.

use wasmix_cloud::Tool;
use wasmix_mixin_sdk::{Diagnostic, Failure, Info, Invocation, Mixin, Output};

struct Gcloud;

impl Mixin for Gcloud {
    fn info() -> Info {
        Tool::Gcloud.info()
    }

    fn lint(_action: &str, step: &str) -> Vec<Diagnostic> {
        Tool::Gcloud.lint(step)
    }

    fn execute(invocation: Invocation) -> Result<Vec<Output>, Failure> {
        Tool::Gcloud.execute(invocation)
    }
}

wasmix_mixin_sdk::export_mixin!(Gcloud);
