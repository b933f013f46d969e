//! What `wasmix explain` tells: what a bundle declares and what each step of
//! each action is granted, and from where. One value, rendered as text or
//! JSON by the CLI; sensitive defaults are already masked here.

use crate::grant::CapabilityKind;
use crate::manifest::Manifest;
use crate::plan::Plan;
use crate::redact::MASK;
use serde::Serialize;

/// A bundle explained.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// Name, version, description.
    pub bundle: BundleInfo,
    /// Declared mixins.
    pub mixins: Vec<MixinInfo>,
    /// Declared parameters.
    pub parameters: Vec<ParameterInfo>,
    /// Declared credentials.
    pub credentials: Vec<CredentialInfo>,
    /// Declared outputs.
    pub outputs: Vec<OutputInfo>,
    /// The explained actions, with their steps' grants.
    pub actions: Vec<ActionInfo>,
}

/// The bundle's identity.
#[derive(Debug, Clone, Serialize)]
pub struct BundleInfo {
    /// Bundle name.
    pub name: String,
    /// Bundle version.
    pub version: String,
    /// Its description, if any.
    pub description: Option<String>,
}

/// A declared mixin.
#[derive(Debug, Clone, Serialize)]
pub struct MixinInfo {
    /// Mixin name.
    pub name: String,
    /// Version constraint, if any.
    pub version: Option<String>,
}

/// A declared parameter.
#[derive(Debug, Clone, Serialize)]
pub struct ParameterInfo {
    /// Parameter name.
    pub name: String,
    /// JSON type (`string` when unsaid).
    #[serde(rename = "type")]
    pub kind: String,
    /// Default value, masked when sensitive; `None` means required.
    pub default: Option<serde_json::Value>,
    /// Masked everywhere it is shown.
    pub sensitive: bool,
    /// Actions it applies to (empty: all).
    #[serde(rename = "applyTo")]
    pub apply_to: Vec<String>,
}

/// A declared credential.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialInfo {
    /// Credential name.
    pub name: String,
    /// Must be given for the actions it applies to.
    pub required: bool,
    /// Actions it applies to (empty: all).
    #[serde(rename = "applyTo")]
    pub apply_to: Vec<String>,
}

/// A declared output.
#[derive(Debug, Clone, Serialize)]
pub struct OutputInfo {
    /// Output name.
    pub name: String,
    /// Masked everywhere it is shown.
    pub sensitive: bool,
    /// Actions that produce it (empty: all).
    #[serde(rename = "applyTo")]
    pub apply_to: Vec<String>,
}

/// An action and its steps.
#[derive(Debug, Clone, Serialize)]
pub struct ActionInfo {
    /// Action name.
    pub name: String,
    /// Its steps, in order.
    pub steps: Vec<StepInfo>,
}

/// A step and what it is granted.
#[derive(Debug, Clone, Serialize)]
pub struct StepInfo {
    /// Position, from 0.
    pub index: usize,
    /// The mixin handling it.
    pub mixin: String,
    /// Its description, if any.
    pub description: Option<String>,
    /// Every capability, in the order granted.
    pub grants: Vec<GrantInfo>,
}

/// One capability of a step.
#[derive(Debug, Clone, Serialize)]
pub struct GrantInfo {
    /// Kind of capability.
    pub kind: CapabilityKind,
    /// What exactly.
    pub what: String,
    /// Where it was granted.
    pub from: String,
}

impl Explanation {
    /// Explain `manifest`, with the steps of `plans`.
    pub fn new(m: &Manifest, plans: &[Plan]) -> Explanation {
        Explanation {
            bundle: BundleInfo {
                name: m.name.clone(),
                version: m.version.clone(),
                description: m.description.clone(),
            },
            mixins: m
                .mixins
                .iter()
                .map(|d| MixinInfo {
                    name: d.name.clone(),
                    version: d.version.clone(),
                })
                .collect(),
            parameters: m
                .parameters
                .iter()
                .map(|p| ParameterInfo {
                    name: p.name.clone(),
                    kind: p.kind.clone().unwrap_or_else(|| "string".into()),
                    default: p.default.as_ref().map(|d| {
                        if p.sensitive {
                            serde_json::json!(MASK)
                        } else {
                            serde_json::to_value(d).unwrap_or_default()
                        }
                    }),
                    sensitive: p.sensitive,
                    apply_to: p.apply_to.clone(),
                })
                .collect(),
            credentials: m
                .credentials
                .iter()
                .map(|c| CredentialInfo {
                    name: c.name.clone(),
                    required: c.required,
                    apply_to: c.apply_to.clone(),
                })
                .collect(),
            outputs: m
                .outputs
                .iter()
                .map(|o| OutputInfo {
                    name: o.name.clone(),
                    sensitive: o.sensitive,
                    apply_to: o.apply_to.clone(),
                })
                .collect(),
            actions: plans
                .iter()
                .map(|p| ActionInfo {
                    name: p.action.clone(),
                    steps: p
                        .steps
                        .iter()
                        .map(|s| StepInfo {
                            index: s.step.index,
                            mixin: s.step.mixin.clone(),
                            description: s.step.description.clone(),
                            grants: s
                                .grant
                                .capabilities
                                .iter()
                                .map(|c| GrantInfo {
                                    kind: c.kind,
                                    what: c.what.clone(),
                                    from: c.origin.to_string(),
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// The JSON Schema of a bundle's steps, from each mixin's step schema:
/// every action is a list of steps, each step one mixin's key with a body
/// its mixin's schema accepts. What `wasmix schema` prints for editors.
pub fn bundle_step_schema(
    bundle: &str,
    mixins: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let step = serde_json::json!({
        "type": "object", "minProperties": 1, "maxProperties": 1,
        "properties": mixins
            .keys()
            .map(|k| (k.clone(), serde_json::json!({"$ref": format!("#/definitions/{k}")})))
            .collect::<serde_json::Map<_, _>>(),
        "additionalProperties": false,
    });
    serde_json::json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": format!("steps of bundle {bundle}"),
        "definitions": mixins,
        "type": "object",
        "additionalProperties": {"type": "array", "items": step},
    })
}
