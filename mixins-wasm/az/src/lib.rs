//! Porter's `az` mixin. All of it is [`wasmix_cloud::Tool::Az`]: this
//! component only gives it its Porter name.

use wasmix_cloud::Tool;
use wasmix_mixin_sdk::{Diagnostic, Failure, Info, Invocation, Mixin, Output};

struct Az;

impl Mixin for Az {
    fn info() -> Info {
        Tool::Az.info()
    }

    fn lint(_action: &str, step: &str) -> Vec<Diagnostic> {
        Tool::Az.lint(step)
    }

    fn execute(invocation: Invocation) -> Result<Vec<Output>, Failure> {
        Tool::Az.execute(invocation)
    }
}

wasmix_mixin_sdk::export_mixin!(Az);
