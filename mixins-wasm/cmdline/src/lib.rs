//! Porter's command-line mixin builder, shared by the mixins that run one
//! CLI per step (exec, az, aws, gcloud): the argument vector from
//! `arguments` and `flags`, `ignoreError`, and outputs read from the
//! command's stdout (`jsonPath`, `regex`) or a file (`path`). Porter's
//! mixins share the same code (`pkg/exec/builder`), so do these.

pub mod argv;
pub mod execute;
pub mod jsonpath;
pub mod outcome;
pub mod spec;
