//! The step loop: each planned step rendered with this run's variables, run
//! in its own sandbox, its outputs collected, then the whole run recorded in
//! one transaction.

use super::inputs::{self, Inputs, Previous};
use super::record::{self, Outcome};
use super::variables::Variables;
use super::{Prepared, RunError, Runtime};
use crate::interrupt;
use crate::manifest::Manifest;
use crate::plan::PlannedStep;
use crate::redact::Redactor;
use crate::sandbox::{self, StepInput, StepReport};
use crate::store::{self, InstallationStatus, RunRecord, StepRecord, StepStatus, Store};
use crate::template::{self, TemplateError};
use std::collections::BTreeMap;

/// Something that happened while running, for progress display.
pub enum Event<'a> {
    /// A step is starting.
    StepStarted {
        /// Position, from 0.
        index: usize,
        /// Number of steps.
        total: usize,
        /// Description or mixin name.
        description: &'a str,
        /// Mixin.
        mixin: &'a str,
    },
    /// A step finished.
    StepFinished {
        /// Position, from 0.
        index: usize,
        /// What happened.
        report: &'a StepReport,
        /// Why the run counts the step as failed, when it does (a failed
        /// report, or outputs the run refuses).
        failure: Option<&'a str>,
    },
}

impl Runtime {
    /// Run `action` on `installation` and record it in `store`.
    pub fn run(
        &self,
        store: &mut Store,
        manifest: &Manifest,
        prepared: &Prepared,
        installation: &str,
        inputs: &Inputs,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Outcome, RunError> {
        let action = prepared.plan.action.as_str();
        let not_started = || RunError::Interrupted {
            action: action.to_string(),
        };
        if interrupt::requested() {
            return Err(not_started());
        }
        // One action per installation at a time; a killed one is recorded
        // and what it left in the bundle directory removed.
        let (mut guard, left) =
            super::guard::Guard::acquire(&store.dir().join("running"), installation)?;
        if let Some(killed) = left {
            recover(store, installation, &killed)?;
        }
        let origin = prepared.origin.clone().unwrap_or_else(|| {
            manifest
                .file
                .canonicalize()
                .unwrap_or_else(|_| manifest.file.clone())
                .display()
                .to_string()
        });
        guard
            .mark(&super::guard::Marker {
                pid: std::process::id(),
                action: action.to_string(),
                started: store::now(),
                bundle: manifest.name.clone(),
                version: manifest.version.clone(),
                manifest: origin.clone(),
                files: leavable_files(manifest, prepared, self.driver.name()),
            })
            .map_err(|e| RunError::Busy {
                installation: installation.to_string(),
                holder: format!("cannot record the running action: {e}"),
            })?;
        crate::timing::mark("run: guard");
        check_installation(store, manifest, action, installation, inputs.force)?;
        let previous = Previous {
            outputs: store
                .outputs(installation, true)?
                .into_iter()
                .filter_map(|o| o.value.map(|v| (o.name, v)))
                .collect(),
            parameters: store
                .last_parameters(installation)?
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or_default(),
        };
        let params = inputs::resolve_parameters(manifest, action, &inputs.parameters, &previous)?;
        let creds = inputs::resolve_credentials(manifest, action, &inputs.credentials)?;
        let mut redactor = Redactor::new(creds.values().cloned());
        for p in manifest.parameters.iter().filter(|p| p.sensitive) {
            if let Some(v) = params.get(&p.name) {
                redactor.add(v.clone());
            }
        }
        for name in &inputs.secret_parameters {
            if let Some(v) = params.get(name) {
                redactor.add(v.clone());
            }
        }
        // A dependency's sensitive output stays a secret in this bundle's
        // logs and errors.
        for (value, _) in inputs
            .dependency_outputs
            .values()
            .flat_map(|o| o.values())
            .filter(|(_, sensitive)| *sensitive)
        {
            redactor.add(value.clone());
        }

        crate::timing::mark("run: previous, inputs");
        let state_files = super::state::StateFiles::restore(manifest, &store.state(installation)?)?;
        let started = store::now();
        let mut produced: BTreeMap<String, (String, bool)> = BTreeMap::new();
        let mut by_step: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        // Step outputs later steps take as credentials: secrets from the
        // moment they are produced.
        let secret_outputs: std::collections::BTreeSet<(String, String)> = prepared
            .plan
            .steps
            .iter()
            .flat_map(|s| s.grant.derived.values().cloned())
            .collect();
        let mut records = Vec::new();
        let mut error = None;
        let mut interrupted = false;
        let total = prepared.plan.steps.len();
        for planned in &prepared.plan.steps {
            let step = &planned.step;
            // Checked before each step, so a run whose last step finished
            // keeps its result; one with nothing done records nothing.
            if interrupt::requested() {
                if records.is_empty() {
                    return Err(not_started());
                }
                interrupted = true;
                error = Some(format!(
                    "interrupted (Ctrl-C) before step {} of {action}",
                    step.index + 1
                ));
                break;
            }
            on_event(Event::StepStarted {
                index: step.index,
                total,
                description: planned.label(),
                mixin: &step.mixin,
            });
            let vars = Variables {
                manifest,
                action,
                installation,
                parameters: &params,
                credentials: &creds,
                produced: &produced,
                previous_outputs: &previous.outputs,
                by_step: &by_step,
                credential_outputs: &secret_outputs,
                dependency_outputs: &inputs.dependency_outputs,
                grant: &planned.grant,
            };
            let mut report = match render(manifest, planned, &vars) {
                Ok(step_json) => self.execute(
                    manifest,
                    prepared,
                    planned,
                    installation,
                    step_json,
                    &params,
                    step_secrets(planned, &creds, &by_step),
                    &redactor,
                ),
                Err(message) => StepReport::failed(redactor.redact(&message)),
            };
            let failure = match &report.result {
                Err(e) => Some(e.clone()),
                Ok(outputs) => outputs
                    .iter()
                    .find(|o| produced.contains_key(&o.name))
                    .map(|o| format!(
                        "output {:?} was already produced by an earlier step; a step cannot overwrite another step's outputs",
                        o.name
                    )),
            };
            if let Ok(outputs) = &report.result {
                let mut grew = false;
                for o in outputs {
                    // Marked sensitive by the mixin (exec's `sensitive:`), or
                    // taken by a later step as a credential.
                    let as_credential = step
                        .id
                        .as_ref()
                        .is_some_and(|id| secret_outputs.contains(&(id.clone(), o.name.clone())));
                    if o.sensitive || as_credential {
                        redactor.add(o.value.clone());
                        grew = true;
                    }
                }
                if grew {
                    // The step's own logs were masked before its output was
                    // known to be a secret.
                    for l in &mut report.logs {
                        l.message = redactor.redact(&l.message);
                    }
                    for d in &mut report.denials {
                        *d = redactor.redact(d);
                    }
                    report.stdio = redactor.redact(&report.stdio);
                }
            }
            if let (Ok(outputs), None) = (&report.result, &failure) {
                if let Some(id) = &step.id {
                    by_step.insert(
                        id.clone(),
                        outputs
                            .iter()
                            .map(|o| (o.name.clone(), o.value.clone()))
                            .collect(),
                    );
                }
                for o in outputs {
                    let taken_as_credential = step
                        .id
                        .as_ref()
                        .is_some_and(|id| secret_outputs.contains(&(id.clone(), o.name.clone())));
                    let sensitive =
                        o.sensitive || taken_as_credential || redactor.contains_secret(&o.value);
                    if sensitive {
                        redactor.add(o.value.clone());
                    }
                    produced.insert(o.name.clone(), (o.value.clone(), sensitive));
                }
            }
            on_event(Event::StepFinished {
                index: step.index,
                report: &report,
                failure: failure.as_deref(),
            });
            crate::timing::mark("run: step");
            records.push(step_record(planned, &report, failure.clone(), &redactor));
            if let Some(e) = failure {
                // A step that failed because of Ctrl-C makes the run interrupted.
                interrupted = interrupt::requested();
                error = Some(format!(
                    "step {} of {action} ({}) failed: {e}",
                    step.index + 1,
                    step.path
                ));
                break;
            }
        }

        // Outputs the bundle's dependencies promote to it, where no step
        // produced one of that name.
        if error.is_none() {
            for (name, (value, sensitive)) in &inputs.promoted_outputs {
                if *sensitive {
                    redactor.add(value.clone());
                }
                produced
                    .entry(name.clone())
                    .or_insert_with(|| (value.clone(), *sensitive));
            }
        }
        // Porter's `outputs[].path`: read from the bundle directory once the
        // action is done; a file there wins over a step output of that name.
        if error.is_none() {
            for o in &manifest.outputs {
                let (Some(path), true) = (&o.path, crate::manifest::applies(&o.apply_to, action))
                else {
                    continue;
                };
                match super::state::read_output_file(manifest, &o.name, path) {
                    Ok(Some(value)) => {
                        produced.insert(o.name.clone(), (value, false));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        error = Some(redactor.redact(&e.to_string()));
                        break;
                    }
                }
            }
        }
        // Every bundle output must satisfy its declaration (type, `$id`,
        // `pattern`, …), as CNAB runtimes check: one that does not fails
        // the action.
        let mut outputs = Vec::new();
        if error.is_none() {
            outputs = record::bundle_outputs(manifest, action, &produced);
            let bad = outputs.iter().find_map(|o| {
                let def = manifest.outputs.iter().find(|d| d.name == o.name)?;
                crate::schema::check_output_value(def, &o.value).err()
            });
            if let Some(e) = bad {
                error = Some(redactor.redact(&e));
                outputs.clear();
            }
        }
        // A failed action keeps the previous state; so does state that
        // cannot be saved, which fails the run.
        let mut state = Vec::new();
        if error.is_none() {
            match state_files.collect() {
                Ok(s) => state = s,
                Err(e) => {
                    error = Some(redactor.redact(&e.to_string()));
                    outputs.clear();
                }
            }
        }
        let stored: Vec<(String, String, bool)> = outputs
            .iter()
            .map(|o| (o.name.clone(), o.value.clone(), o.sensitive))
            .collect();
        crate::timing::mark("run: after steps");
        let run_id = store.record(&RunRecord {
            installation,
            bundle: &manifest.name,
            version: &manifest.version,
            // Absolute, so `wasmix uninstall -i NAME` finds it from anywhere.
            manifest: &origin,
            action,
            error: error.as_deref(),
            parameters: &record::public_parameters(manifest, &params, &inputs.secret_parameters),
            steps: &records,
            outputs: &stored,
            state: &state,
            started,
        })?;
        // Only once the state is recorded does it leave the bundle directory;
        // then the installation is free again.
        drop(state_files);
        drop(guard);
        Ok(Outcome {
            run_id,
            installation: installation.to_string(),
            action: action.to_string(),
            steps: records,
            outputs,
            error,
            interrupted,
            redactor,
        })
    }

    /// Run one rendered step in a fresh sandbox holding its grant only.
    #[allow(clippy::too_many_arguments)]
    fn execute(
        &self,
        manifest: &Manifest,
        prepared: &Prepared,
        planned: &PlannedStep,
        installation: &str,
        step_json: String,
        params: &BTreeMap<String, String>,
        secrets: BTreeMap<String, String>,
        redactor: &Redactor,
    ) -> StepReport {
        let grant = &planned.grant;
        let env = grant
            .parameters
            .iter()
            .filter_map(|(env, p)| params.get(p).map(|v| (env.clone(), v.clone())))
            .collect();
        let Some(mixin) = prepared.mixins.get(&planned.step.mixin) else {
            return StepReport::failed(format!(
                "mixin {} was not prepared for this plan",
                planned.step.mixin
            ));
        };
        // Porter's `path:` destinations: mounted into the step's containers,
        // or, for host commands, placed in the bundle directory for this
        // step only.
        let files = match super::destinations::values(manifest, grant, &secrets, params) {
            Ok(f) => f,
            Err(e) => return StepReport::failed(redactor.redact(&e)),
        };
        let (_placed, files) = if self.driver.name() == "host" && !files.is_empty() {
            match super::destinations::Placed::place(&manifest.dir, &files) {
                Ok(p) => (Some(p), Vec::new()),
                Err(e) => return StepReport::failed(redactor.redact(&e)),
            }
        } else {
            (None, files)
        };
        sandbox::step::execute(
            &self.engine,
            mixin,
            StepInput {
                action: &prepared.plan.action,
                step_json,
                env,
                config_json: planned.config_json.clone(),
                installation,
                grant,
                secrets,
                driver: self.driver.clone(),
                bundle_dir: &manifest.dir,
                limits: planned.limits(self.limits),
                redactor,
                files,
            },
        )
    }
}

/// Files an action may leave in the bundle directory if it is killed:
/// its state files, and (host driver) its steps' file destinations.
fn leavable_files(
    manifest: &Manifest,
    prepared: &Prepared,
    driver: &str,
) -> Vec<std::path::PathBuf> {
    use crate::grant::state::relative_path;
    let bundle = manifest
        .dir
        .canonicalize()
        .unwrap_or_else(|_| manifest.dir.clone());
    let mut files: Vec<std::path::PathBuf> = manifest
        .state
        .iter()
        .filter_map(|v| relative_path(&v.path))
        .map(|rel| bundle.join(rel))
        .collect();
    if driver == "host" {
        for s in &prepared.plan.steps {
            for target in s.grant.destinations.keys() {
                if let Some(rel) = crate::grant::destinations::in_bundle(target) {
                    files.push(bundle.join(rel));
                }
            }
        }
    }
    files
}

/// Record the run a killed process left, and remove the files it may have
/// left (wasmix wrote them: it never writes over an existing file).
fn recover(
    store: &mut Store,
    installation: &str,
    killed: &super::guard::Marker,
) -> Result<(), RunError> {
    for f in &killed.files {
        if std::fs::symlink_metadata(f).is_ok_and(|m| m.file_type().is_file()) {
            let _ = std::fs::remove_file(f);
        }
    }
    let error = format!(
        "killed during {} (process {}, started {}); nothing of it was kept",
        killed.action,
        killed.pid,
        store::rfc3339(killed.started)
    );
    store.record(&RunRecord {
        installation,
        bundle: &killed.bundle,
        version: &killed.version,
        manifest: &killed.manifest,
        action: &killed.action,
        error: Some(&error),
        parameters: "{}",
        steps: &[],
        outputs: &[],
        state: &[],
        started: killed.started,
    })?;
    Ok(())
}

/// The values of the credentials `planned` is granted: declared ones from
/// this run's credentials, derived ones from the outputs of earlier steps.
fn step_secrets(
    planned: &PlannedStep,
    creds: &BTreeMap<String, String>,
    by_step: &BTreeMap<String, BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    planned
        .grant
        .credentials
        .keys()
        .filter_map(|k| {
            let value = match planned.grant.derived.get(k) {
                Some((id, output)) => by_step.get(id).and_then(|o| o.get(output)),
                None => creds.get(k),
            };
            value.map(|v| (k.clone(), v.clone()))
        })
        .collect()
}

/// Whether `installation` is in a state `action` may run in.
fn check_installation(
    store: &Store,
    manifest: &Manifest,
    action: &str,
    installation: &str,
    force: bool,
) -> Result<(), RunError> {
    let refuse = |reason: &str| {
        Err(RunError::Installation {
            installation: installation.to_string(),
            reason: reason.to_string(),
        })
    };
    match (action, store.installation(installation)?) {
        ("install", _) => Ok(()),
        (_, None) => {
            let stateless = manifest
                .custom_actions
                .get(action)
                .is_some_and(|c| c.stateless);
            if stateless {
                Ok(())
            } else {
                refuse("does not exist; run `wasmix install` first")
            }
        }
        (_, Some(i)) if i.bundle != manifest.name && !force => refuse(&format!(
            "was made from bundle {:?}, not {:?}; pass --force to {action} it with this bundle",
            i.bundle, manifest.name
        )),
        (_, Some(i)) if i.status == InstallationStatus::Uninstalled => {
            refuse("was uninstalled; run `wasmix install` to install it again")
        }
        _ => Ok(()),
    }
}

/// The step body with its templates rendered, as the JSON the mixin gets.
fn render(
    manifest: &Manifest,
    planned: &PlannedStep,
    vars: &Variables<'_>,
) -> Result<String, String> {
    let step = &planned.step;
    let body = template::render(
        &step.body,
        template::Delimiters::of(manifest),
        &|name: &str| vars.lookup(name),
        &step.path,
    )
    .map_err(|e| locate_template_error(manifest, e))?;
    serde_json::to_string(&body).map_err(|e| format!("{}: {e}", step.path))
}

fn locate_template_error(manifest: &Manifest, e: TemplateError) -> String {
    let path = match &e {
        TemplateError::Missing { path, .. } | TemplateError::Unclosed { path, .. } => path.clone(),
    };
    format!("{}: {e}", manifest.source.locate(&path))
}

/// A step as the state store keeps it: logs, denials and the mixin's own
/// output in one redacted text.
fn step_record(
    planned: &PlannedStep,
    report: &StepReport,
    failure: Option<String>,
    redactor: &Redactor,
) -> StepRecord {
    let logs = report
        .logs
        .iter()
        .map(|l| format!("{}: {}", l.level, l.message))
        .chain(report.denials.iter().map(|d| format!("denied: {d}")))
        .chain(std::iter::once(report.stdio.clone()).filter(|s| !s.is_empty()))
        .collect::<Vec<_>>()
        .join("\n");
    StepRecord {
        index: planned.step.index,
        mixin: planned.step.mixin.clone(),
        description: planned.label().to_string(),
        status: if failure.is_none() {
            StepStatus::Succeeded
        } else {
            StepStatus::Failed
        },
        message: failure,
        logs: redactor.redact(&logs),
        duration_ms: report.duration.as_millis() as u64,
    }
}
