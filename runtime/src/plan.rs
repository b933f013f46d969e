//! The steps of an action, each with its grant: what `wasmix explain` shows,
//! what the lock file records and what `run` executes. Building a plan needs
//! no mixin and runs nothing; a run builds the bundle's plan once and every
//! later stage (pool sizing, lock check, the step loop) reads it.

use crate::grant::{Grant, GrantError, Limits};
use crate::manifest::{Manifest, Step};
use std::collections::BTreeMap;

/// One planned step: the step as written and everything the loop needs that
/// comes from the manifest, resolved once.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    /// The step as written.
    pub step: Step,
    /// What it may reach.
    pub grant: Grant,
    /// The mixin's `config:` from its declaration, as JSON text for the guest.
    pub config_json: String,
    /// `file:line:col` of the step, for messages about it.
    pub location: String,
}

impl PlannedStep {
    /// What progress output calls the step: its description, or its mixin.
    pub fn label(&self) -> &str {
        self.step.description.as_deref().unwrap_or(&self.step.mixin)
    }

    /// The step's limits: `defaults` with its `limits:` applied.
    pub fn limits(&self, defaults: Limits) -> Limits {
        self.grant.limits.apply(defaults)
    }
}

/// The steps of one action.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The action.
    pub action: String,
    /// Its steps, in order.
    pub steps: Vec<PlannedStep>,
}

/// Why a plan could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The bundle has no such action.
    #[error("bundle {bundle:?} has no action {action:?}; it defines: {available}")]
    UnknownAction {
        /// Bundle name.
        bundle: String,
        /// The action asked for.
        action: String,
        /// The actions it has.
        available: String,
    },
    /// A grant is invalid.
    #[error(transparent)]
    Grant(#[from] GrantError),
}

impl Plan {
    /// Plan `action` of `manifest`.
    pub fn new(manifest: &Manifest, action: &str) -> Result<Plan, PlanError> {
        let steps = manifest
            .action(action)
            .ok_or_else(|| unknown_action(manifest, action))?;
        let steps = steps
            .iter()
            .map(|step| {
                let config = manifest
                    .mixin(&step.mixin)
                    .map(|d| d.config.clone())
                    .unwrap_or(serde_yaml::Value::Null);
                Ok(PlannedStep {
                    grant: Grant::for_step(manifest, action, step)?,
                    config_json: serde_json::to_string(&config).unwrap_or_else(|_| "null".into()),
                    location: manifest.source.locate(&step.path),
                    step: step.clone(),
                })
            })
            .collect::<Result<_, GrantError>>()?;
        Ok(Plan {
            action: action.to_string(),
            steps,
        })
    }

    /// The distinct mixins the plan uses, in first-use order.
    pub fn mixins(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for s in &self.steps {
            if !names.contains(&s.step.mixin.as_str()) {
                names.push(&s.step.mixin);
            }
        }
        names
    }

    /// The most linear memory any step may grow to, given the defaults.
    pub fn peak_memory(&self, defaults: Limits) -> usize {
        self.steps
            .iter()
            .map(|s| s.limits(defaults).memory_bytes)
            .fold(defaults.memory_bytes, usize::max)
    }
}

fn unknown_action(manifest: &Manifest, action: &str) -> PlanError {
    PlanError::UnknownAction {
        bundle: manifest.name.clone(),
        action: action.to_string(),
        available: manifest
            .actions
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The plans of every action of a bundle: built once per command, because
/// the lock file records every action's grants while a run executes one.
#[derive(Debug, Clone)]
pub struct BundlePlan {
    /// Plans by action name.
    pub actions: BTreeMap<String, Plan>,
    /// Mixins the bundle declares.
    pub declared_mixins: usize,
}

impl BundlePlan {
    /// Plan every action of `manifest`.
    pub fn new(manifest: &Manifest) -> Result<BundlePlan, PlanError> {
        let actions = manifest
            .actions
            .keys()
            .map(|a| Ok((a.clone(), Plan::new(manifest, a)?)))
            .collect::<Result<_, PlanError>>()?;
        Ok(BundlePlan {
            actions,
            declared_mixins: manifest.mixins.len(),
        })
    }

    /// The plan of `action`, or an error naming the actions there are.
    pub fn action(&self, manifest: &Manifest, action: &str) -> Result<&Plan, PlanError> {
        self.actions
            .get(action)
            .ok_or_else(|| unknown_action(manifest, action))
    }

    /// The most linear memory any step of any action may grow to.
    pub fn peak_memory(&self, defaults: Limits) -> usize {
        self.actions
            .values()
            .map(|p| p.peak_memory(defaults))
            .fold(defaults.memory_bytes, usize::max)
    }
}
