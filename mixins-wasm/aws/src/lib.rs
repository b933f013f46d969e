//! Porter's `aws` mixin. All of it is [`wasmix_cloud::Tool::Aws`]: this
//! component only gives it its Porter name.

use wasmix_cloud::Tool;
use wasmix_mixin_sdk::{Diagnostic, Failure, Info, Invocation, Mixin, Output};

struct Aws;

impl Mixin for Aws {
    fn info() -> Info {
        Tool::Aws.info()
    }

    fn lint(_action: &str, step: &str) -> Vec<Diagnostic> {
        Tool::Aws.lint(step)
    }

    fn execute(invocation: Invocation) -> Result<Vec<Output>, Failure> {
        Tool::Aws.execute(invocation)
    }
}

wasmix_mixin_sdk::export_mixin!(Aws);
