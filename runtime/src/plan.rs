//! The steps of one action, each with its grant: what `wasmix explain` shows
//! and what `run` executes. Building a plan needs no mixin and runs nothing.

use crate::grant::{Grant, GrantError};
use crate::manifest::{Manifest, Step};

/// One planned step.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    /// The step as written.
    pub step: Step,
    /// What it may reach.
    pub grant: Grant,
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
            .ok_or_else(|| PlanError::UnknownAction {
                bundle: manifest.name.clone(),
                action: action.to_string(),
                available: manifest
                    .actions
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let steps = steps
            .iter()
            .map(|step| {
                Ok(PlannedStep {
                    grant: Grant::for_step(manifest, action, step)?,
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
}
