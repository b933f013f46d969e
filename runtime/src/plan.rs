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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::{CapabilityKind, CredentialAccess, Origin};
    use std::path::Path;

    fn manifest(dir: &Path, text: &str) -> Manifest {
        std::fs::write(dir.join("porter.yaml"), text).unwrap();
        crate::manifest::load(dir).unwrap()
    }

    const BUNDLE: &str = "\
schemaVersion: 1.0.0
name: planned
version: 0.1.0
mixins:
  - exec:
      grants: {commands: [helm]}
credentials:
  - name: kubeconfig
  - name: token
    applyTo: [upgrade]
parameters:
  - name: port
    type: integer
    default: 80
install:
  - exec:
      description: Deploy
      command: ./deploy.sh ${ bundle.credentials.kubeconfig }
      grants:
        commands: [./deploy.sh]
        files: [{path: ./charts}]
        parameters: [port]
      limits: {memory: 32Mi}
upgrade:
  - exec:
      command: true
      grants: {credentials: all}
uninstall:
  - exec:
      command: true
";

    #[test]
    fn a_step_holds_its_mixins_grants_its_own_and_what_templates_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("charts")).unwrap();
        let m = manifest(dir.path(), BUNDLE);
        let plan = Plan::new(&m, "install").unwrap();
        assert_eq!(plan.steps.len(), 1);
        let s = &plan.steps[0];
        assert_eq!(s.label(), "Deploy");
        assert!(s.location.contains("porter.yaml:"), "{}", s.location);
        let g = &s.grant;
        assert!(g.commands.contains("helm") && g.commands.contains("./deploy.sh"));
        assert_eq!(
            g.credentials.get("kubeconfig"),
            Some(&CredentialAccess::Read)
        );
        assert!(!g.credentials.contains_key("token"));
        assert_eq!(g.parameters.get("PORT").map(String::as_str), Some("port"));
        assert_eq!(g.files.len(), 1);
        assert_eq!(g.files[0].guest, "/cnab/app/charts");
        assert!(!g.files[0].write);
        assert_eq!(s.limits(Limits::default()).memory_bytes, 32 << 20);
        let kinds: Vec<CapabilityKind> = g.capabilities.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [
                CapabilityKind::Command,
                CapabilityKind::File,
                CapabilityKind::Command,
                CapabilityKind::Parameter,
                CapabilityKind::Limit,
                CapabilityKind::Credential,
            ]
        );
        assert!(matches!(g.capabilities[0].origin, Origin::Mixin(_)));
        assert!(matches!(g.capabilities[5].origin, Origin::Template(_)));
    }

    #[test]
    fn all_credentials_means_those_of_the_action() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("charts")).unwrap();
        let m = manifest(dir.path(), BUNDLE);
        let plans = BundlePlan::new(&m).unwrap();
        let upgrade = plans.action(&m, "upgrade").unwrap();
        let creds: Vec<&String> = upgrade.steps[0].grant.credentials.keys().collect();
        assert_eq!(creds, ["kubeconfig", "token"]);
        let uninstall = plans.action(&m, "uninstall").unwrap();
        assert!(uninstall.steps[0].grant.commands.contains("helm"));
        assert!(uninstall.steps[0].grant.credentials.is_empty());
        assert_eq!(
            plans.peak_memory(Limits::default()),
            Limits::default().memory_bytes
        );
        let err = plans.action(&m, "status").unwrap_err().to_string();
        assert!(err.contains("install, uninstall, upgrade"), "{err}");
    }

    #[test]
    fn grant_errors_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let text = BUNDLE.replace("files: [{path: ./charts}]", "files: [{path: ./missing}]");
        let m = manifest(dir.path(), &text);
        let err = Plan::new(&m, "install").unwrap_err().to_string();
        assert!(err.contains("porter.yaml:"), "{err}");
        assert!(err.contains("\"./missing\" cannot be opened"), "{err}");

        let text = BUNDLE.replace("credentials: all", "credentials: [nosuch]");
        let m = manifest(dir.path(), &text);
        let err = Plan::new(&m, "upgrade").unwrap_err().to_string();
        assert!(
            err.contains("credential \"nosuch\" is not declared"),
            "{err}"
        );

        let text = BUNDLE.replace(
            "grants: {commands: [helm]}",
            "grants: {credentials: [token]}",
        );
        let m = manifest(dir.path(), &text);
        let err = Plan::new(&m, "uninstall").unwrap_err().to_string();
        assert!(
            err.contains("does not apply to action \"uninstall\""),
            "{err}"
        );
    }
}
