//! What a run produced, and the run as the state store keeps it.

use crate::manifest::{applies, Manifest};
use crate::redact::Redactor;
use crate::run::inputs::yaml_text;
use crate::store::StepRecord;
use std::collections::BTreeMap;

/// A bundle output of a run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BundleOutput {
    /// Name.
    pub name: String,
    /// Value (raw; mask it before printing when sensitive).
    #[serde(skip)]
    pub value: String,
    /// Marked sensitive by the manifest, or holding a secret of the run.
    pub sensitive: bool,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Recorded run id.
    pub run_id: i64,
    /// Installation.
    pub installation: String,
    /// Action.
    pub action: String,
    /// One record per step that ran.
    pub steps: Vec<StepRecord>,
    /// Bundle outputs.
    pub outputs: Vec<BundleOutput>,
    /// Why the run failed (redacted), if it did.
    pub error: Option<String>,
    /// The operator pressed Ctrl-C; the run stopped and was recorded as failed.
    pub interrupted: bool,
    /// Masks this run's secrets, for printing.
    pub redactor: Redactor,
}

impl Outcome {
    /// True when every step succeeded.
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// The bundle outputs of `action`: what its steps produced, else the
/// output's default.
pub fn bundle_outputs(
    manifest: &Manifest,
    action: &str,
    produced: &BTreeMap<String, (String, bool)>,
) -> Vec<BundleOutput> {
    manifest
        .outputs
        .iter()
        .filter(|o| applies(&o.apply_to, action))
        .filter_map(|o| {
            let (value, marked) = match produced.get(&o.name) {
                Some((v, s)) => (v.clone(), *s),
                None => (o.default.as_ref().map(yaml_text)?, false),
            };
            Some(BundleOutput {
                name: o.name.clone(),
                value,
                sensitive: o.sensitive || marked,
            })
        })
        .collect()
}

/// The parameters of a run as the store keeps them: sensitive ones, and
/// `secret` ones (made from a secret by a workflow), left out.
pub fn public_parameters(
    manifest: &Manifest,
    params: &BTreeMap<String, String>,
    secret: &std::collections::BTreeSet<String>,
) -> String {
    let public: BTreeMap<&String, serde_json::Value> = params
        .iter()
        .filter(|(k, _)| {
            !secret.contains(*k)
                && !manifest
                    .parameters
                    .iter()
                    .any(|p| &p.name == *k && p.sensitive)
        })
        .map(|(k, v)| (k, serde_json::Value::String(v.clone())))
        .collect();
    serde_json::to_string(&public).unwrap_or_else(|_| "{}".into())
}
