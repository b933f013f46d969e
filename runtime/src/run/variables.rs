//! What `${ … }` templates in a step may refer to, for one step of a run.

use crate::grant::Grant;
use crate::manifest::{applies, Manifest};
use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;

/// The values a step's templates may name, borrowed from the run.
pub struct Variables<'a> {
    /// The bundle.
    pub manifest: &'a Manifest,
    /// The action being run.
    pub action: &'a str,
    /// The installation.
    pub installation: &'a str,
    /// Parameter values of this run.
    pub parameters: &'a BTreeMap<String, String>,
    /// Credential values of this run.
    pub credentials: &'a BTreeMap<String, String>,
    /// Outputs earlier steps of this run produced: value and sensitivity.
    pub produced: &'a BTreeMap<String, (String, bool)>,
    /// Outputs earlier runs of the installation left.
    pub previous_outputs: &'a BTreeMap<String, String>,
    /// Outputs of earlier steps of this run that have an `id`, by id.
    pub by_step: &'a BTreeMap<String, BTreeMap<String, String>>,
    /// Step outputs later steps take as credentials (step id, output): they
    /// travel as handles only, never rendered into a step's text.
    pub credential_outputs: &'a std::collections::BTreeSet<(String, String)>,
    /// The step's grant (`env.*` needs the variable granted).
    pub grant: &'a Grant,
    /// Outputs of the bundle's dependencies, by dependency, by output.
    pub dependency_outputs: &'a BTreeMap<String, BTreeMap<String, (String, bool)>>,
}

/// Why an output passed as a credential is not rendered.
fn as_handle_only(output: &str) -> String {
    format!(
        "output {output:?} is passed to a step as a credential (`from:`), so it is never rendered into text; \
         grant it to this step with `{{name: …, from: …, read: true}}` to read it"
    )
}

impl Variables<'_> {
    /// The value of variable `name` (`bundle.parameters.port`), or why it
    /// has none.
    pub fn lookup(&self, name: &str) -> Result<String, String> {
        let m = self.manifest;
        let action = self.action;
        let parts: Vec<&str> = name.split('.').collect();
        match parts.as_slice() {
            ["bundle", "name"] => Ok(m.name.clone()),
            ["bundle", "version"] => Ok(m.version.clone()),
            ["bundle", "description"] => Ok(m.description.clone().unwrap_or_default()),
            ["installation", "name"] => Ok(self.installation.to_string()),
            ["bundle", "parameters", p] => match m.parameters.iter().find(|d| d.name == *p) {
                None => Err(format!("the bundle declares no parameter {p:?}")),
                Some(d) if !applies(&d.apply_to, action) => {
                    Err(format!("parameter {p:?} does not apply to {action}"))
                }
                Some(_) => self
                    .parameters
                    .get(*p)
                    .cloned()
                    .ok_or_else(|| format!("parameter {p:?} has no value")),
            },
            ["bundle", "credentials", c] => match m.credentials.iter().find(|d| d.name == *c) {
                None => Err(format!("the bundle declares no credential {c:?}")),
                Some(_) => self
                    .credentials
                    .get(*c)
                    .cloned()
                    .ok_or_else(|| format!("credential {c:?} was not given for {action}")),
            },
            ["bundle", "outputs", o]
                if self.credential_outputs.iter().any(|(_, name)| name == o) =>
            {
                Err(as_handle_only(o))
            }
            ["steps", id, "outputs", o]
                if self
                    .credential_outputs
                    .contains(&(id.to_string(), o.to_string())) =>
            {
                Err(as_handle_only(o))
            }
            ["bundle", "outputs", o] => self
                .produced
                .get(*o)
                .map(|(v, _)| v.clone())
                .or_else(|| self.previous_outputs.get(*o).cloned())
                .ok_or_else(|| format!("no earlier step or run produced output {o:?}")),
            ["steps", id, "outputs", o] => match self.by_step.get(*id) {
                Some(outputs) => outputs
                    .get(*o)
                    .cloned()
                    .ok_or_else(|| format!("step {id:?} produced no output {o:?}")),
                None if self
                    .manifest
                    .action(action)
                    .is_some_and(|steps| steps.iter().any(|s| s.id.as_deref() == Some(*id))) =>
                {
                    Err(format!(
                        "step {id:?} has not run before this step; a step can use the outputs of earlier steps only"
                    ))
                }
                None => Err(format!("{action} has no step with id {id:?}")),
            },
            ["env", v] => {
                if !self.grant.env.contains(*v) {
                    return Err(format!(
                        "environment variable {v} is not granted to this step (grants: env: [{v}])"
                    ));
                }
                std::env::var(v).map_err(|_| format!("environment variable {v} is not set"))
            }
            ["bundle", "images", img, field] => {
                let image = m
                    .images
                    .get(*img)
                    .ok_or_else(|| format!("the bundle declares no image {img:?}"))?;
                match *field {
                    "repository" => Ok(image.repository.clone()),
                    "digest" => image
                        .digest
                        .clone()
                        .ok_or_else(|| format!("image {img:?} has no digest")),
                    "tag" => image
                        .tag
                        .clone()
                        .ok_or_else(|| format!("image {img:?} has no tag")),
                    _ => Err(format!(
                        "images have repository, digest and tag, not {field:?}"
                    )),
                }
            }
            ["bundle", "custom", rest @ ..] if !rest.is_empty() => {
                let mut v = &m.custom;
                for key in rest {
                    v = v
                        .get(*key)
                        .ok_or_else(|| format!("custom metadata has no {name:?}"))?;
                }
                match v {
                    Yaml::String(s) => Ok(s.clone()),
                    Yaml::Number(n) => Ok(n.to_string()),
                    Yaml::Bool(b) => Ok(b.to_string()),
                    other => serde_json::to_string(other).map_err(|e| e.to_string()),
                }
            }
            ["bundle", "dependencies", dep, "outputs", o] => {
                let declared = m
                    .dependencies
                    .as_ref()
                    .is_some_and(|d| d.requires.iter().any(|r| r.name == *dep));
                if !declared {
                    return Err(format!(
                        "the bundle declares no dependency {dep:?} (dependencies.requires)"
                    ));
                }
                let outputs = self.dependency_outputs.get(*dep).ok_or_else(|| {
                    format!("dependency {dep:?} has not run: run the bundle's workflow (its dependencies are installed first)")
                })?;
                outputs
                    .get(*o)
                    .map(|(v, _)| v.clone())
                    .ok_or_else(|| format!("dependency {dep:?} left no output {o:?}"))
            }
            _ => Err(
                "known variables: bundle.name, bundle.version, bundle.description, installation.name, \
                 bundle.parameters.*, bundle.credentials.*, bundle.outputs.*, bundle.images.*, bundle.custom.*, \
                 bundle.dependencies.NAME.outputs.*, steps.ID.outputs.*, env.*"
                    .into(),
            ),
        }
    }
}
