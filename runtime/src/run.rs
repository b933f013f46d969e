//! Running an action: resolve inputs, load and check mixins, then execute
//! each step in its own sandbox and record the outcome.

use crate::driver::Driver;
use crate::grant::delimiters;
use crate::lock::LockedMixin;
use crate::manifest::{applies, Manifest, Parameter};
use crate::oci::client::parse_reference;
use crate::oci::{trust, Cache, OciError, Registry};
use crate::plan::{Plan, PlanError};
use crate::redact::Redactor;
use crate::resolve::{MixinPath, NotFound};
use crate::sandbox::{self, LoadedMixin, MixinEngine, SandboxError, StepInput, StepReport};
use crate::schema;
use crate::store::{self, RunRecord, StepRecord, Store, StoreError};
use crate::template::{self, TemplateError};
use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;
use std::sync::Arc;

pub use crate::sandbox::Limits;

/// Why an action could not run. Nothing is recorded for these: they are
/// found before the first step starts.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Planning failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A mixin was not found.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// A mixin could not be loaded.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Steps do not satisfy their mixins' schemas or lint rules.
    #[error("{} is invalid:\n{}", .file, .problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    InvalidSteps {
        /// Manifest file.
        file: String,
        /// Each problem, located.
        problems: Vec<String>,
    },
    /// A parameter or credential is missing, unknown or of the wrong type.
    #[error("{0}")]
    Input(String),
    /// The installation is not in a state for this action.
    #[error("{0}")]
    Installation(String),
    /// The manifest grants more than its lock file records.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// A registry, an artifact or the cache failed.
    #[error(transparent)]
    Oci(#[from] crate::oci::OciError),
}

/// Values given for this run.
#[derive(Debug, Default, Clone)]
pub struct Inputs {
    /// Parameter values as text, by name.
    pub parameters: BTreeMap<String, String>,
    /// Credential values, by name (already read from their sources).
    pub credentials: BTreeMap<String, String>,
}

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
    },
}

/// A bundle output of a run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BundleOutput {
    /// Name.
    pub name: String,
    /// Value (raw; mask it before printing when sensitive).
    #[serde(skip)]
    pub value: String,
    /// Sensitive.
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
    /// Masks this run's secrets, for printing.
    pub redactor: Redactor,
}

impl Outcome {
    /// True when every step succeeded.
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// The mixins of a plan, loaded and their steps checked.
pub struct Prepared {
    /// The plan.
    pub plan: Plan,
    /// Loaded mixins by name.
    pub mixins: BTreeMap<String, Arc<LoadedMixin>>,
    /// Registry mixins and the digests they are pinned to, for the lock file.
    pub pins: BTreeMap<String, LockedMixin>,
    /// Lint warnings (located), which do not stop a run.
    pub warnings: Vec<String>,
}

/// Where registry mixins come from.
pub struct OciSource {
    /// The content-addressed cache.
    pub cache: Cache,
    /// The registry client; `None` when offline.
    pub registry: Option<Registry>,
    /// The trust policy every artifact is checked against before use.
    pub policy: wasmix_signing::TrustPolicy,
    /// Namespace for bare mixin names not found locally
    /// (`localhost:5000/wasmix` makes `exec` mean `localhost:5000/wasmix/exec:<version or latest>`).
    pub namespace: Option<String>,
}

/// An instance pool sized for `manifest`: steps run one at a time, so a few
/// slots per mixin cover a run, and every slot must hold the largest memory
/// any step may grow to.
pub fn pool_for(manifest: &Manifest, defaults: Limits) -> crate::sandbox::PoolSize {
    let mut memory = defaults.memory_bytes;
    for action in manifest.actions.keys() {
        if let Ok(plan) = Plan::new(manifest, action) {
            for s in &plan.steps {
                memory = memory.max(s.grant.limits.apply(defaults).memory_bytes);
            }
        }
    }
    let instances = (manifest.mixins.len() as u32 * 2 + 2).clamp(4, 64);
    crate::sandbox::PoolSize {
        instances,
        memory_bytes: memory,
    }
}

/// Where a mixin's component is, and how it got there.
struct Located {
    path: std::path::PathBuf,
    /// The lock pin and the layer digest the component must hash to.
    pin: Option<(LockedMixin, String)>,
    /// Said when the trust policy let an unverified artifact through.
    warning: Option<String>,
}

/// Everything needed to run actions.
pub struct Runtime {
    /// The engine.
    pub engine: MixinEngine,
    /// Where mixins are found.
    pub mixin_path: MixinPath,
    /// Who runs commands.
    pub driver: Arc<dyn Driver>,
    /// Per-step limits.
    pub limits: Limits,
    /// Registry mixins: cache, client, default namespace.
    pub oci: Option<OciSource>,
}

impl Runtime {
    /// Find the component for mixin `name`: pulled by digest (the lock
    /// file's pin, or the reference resolved once) into the cache, or from
    /// the local mixin path.
    fn locate(
        &self,
        manifest: &Manifest,
        name: &str,
        pins: &BTreeMap<String, LockedMixin>,
    ) -> Result<Located, RunError> {
        let decl = manifest.mixin(name);
        let reference = match (decl.and_then(|d| d.reference.clone()), &self.oci) {
            (Some(r), _) => Some(r),
            (
                None,
                Some(OciSource {
                    namespace: Some(ns),
                    ..
                }),
            ) if self.mixin_path.locate(name).is_err() => {
                let tag = decl
                    .and_then(|d| d.version.clone())
                    .filter(|v| !v.contains(['>', '<', '*', '^', '~', ' ', ',']));
                Some(format!(
                    "{}/{name}:{}",
                    ns.trim_end_matches('/'),
                    tag.unwrap_or_else(|| "latest".into())
                ))
            }
            _ => None,
        };
        let Some(reference) = reference else {
            return Ok(Located {
                path: self.mixin_path.locate(name)?,
                pin: None,
                warning: None,
            });
        };
        let Some(oci) = &self.oci else {
            return Err(RunError::Input(format!(
                "mixin {name} names registry reference {reference} but no OCI cache is configured"
            )));
        };
        let parsed = parse_reference(&reference)?;
        let max_layer = oci
            .registry
            .as_ref()
            .map(|r| r.config().max_layer)
            .unwrap_or(256 << 20);
        let pinned = pins
            .get(name)
            .filter(|p| p.reference == reference)
            .map(|p| p.digest.clone());
        let digest = match pinned.or_else(|| parsed.digest().map(str::to_string)) {
            Some(d) => d,
            None => {
                let registry = oci.registry.as_ref().ok_or(OciError::Offline {
                    reference: reference.clone(),
                })?;
                registry.pull(&parsed, &oci.cache, &oci.policy)?.digest
            }
        };
        let verification = match (
            trust::cached(&oci.policy, &oci.cache, &digest),
            oci.cache.artifact(&digest, max_layer),
        ) {
            (Some(v), Ok(_)) => v,
            // Cached, but verified under another policy (or never): verify
            // again before using it.
            (None, Ok((m, _))) => {
                let v = trust::check(
                    &oci.policy,
                    oci.registry.as_ref(),
                    &oci.cache,
                    &parsed,
                    &digest,
                    &m,
                )?;
                oci.cache.record_verification(&digest, v.clone())?;
                v
            }
            (_, Err(_)) => {
                let registry = oci.registry.as_ref().ok_or(OciError::Offline {
                    reference: format!("{reference} ({digest})"),
                })?;
                let by_digest = oci_client::Reference::with_digest(
                    parsed.registry().to_string(),
                    parsed.repository().to_string(),
                    digest.clone(),
                );
                let pulled = registry.pull(&by_digest, &oci.cache, &oci.policy)?;
                oci.cache.record(&reference, &digest, &pulled.manifest)?;
                pulled.verification
            }
        };
        let (wasm_manifest, path) = oci.cache.artifact(&digest, max_layer)?;
        Ok(Located {
            path,
            pin: Some((
                LockedMixin {
                    reference: reference.clone(),
                    digest: digest.clone(),
                },
                wasm_manifest.layer.digest,
            )),
            warning: (verification.status == trust::Status::Unverified).then(|| {
                format!(
                    "mixin {name} ({reference}@{digest}): {}",
                    verification.verdict
                )
            }),
        })
    }

    /// Plan `action`, load its mixins, and check every step against its
    /// mixin's schema and lint rules. Nothing runs.
    pub fn prepare(&self, manifest: &Manifest, action: &str) -> Result<Prepared, RunError> {
        let plan = Plan::new(manifest, action)?;
        let pins = crate::lock::read(manifest)?
            .map(|l| l.mixins)
            .unwrap_or_default();
        // Resolve, verify and compile every mixin of the plan at once: a
        // bundle's first step then waits for the slowest mixin, not the sum.
        type LoadResult = Result<(LoadedMixin, Option<LockedMixin>, Option<String>), RunError>;
        let load_one = |name: &str| -> LoadResult {
            let Located { path, pin, warning } = self.locate(manifest, name, &pins)?;
            let loaded = self.engine.load(name, &path)?;
            if let Some((pin, layer)) = &pin {
                // The loader hashed the bytes it compiled: they must be the
                // layer the manifest (pinned by digest) names.
                if loaded.digest != *layer {
                    return Err(OciError::Digest {
                        what: format!("component of {}", pin.reference),
                        expected: layer.clone(),
                        actual: loaded.digest,
                    }
                    .into());
                }
            }
            if let Some(req) = manifest.mixin(name).and_then(|d| d.version.as_deref()) {
                check_version(name, req, &loaded)?;
            }
            Ok((loaded, pin.map(|(p, _)| p), warning))
        };
        let names = plan.mixins();
        let results: Vec<LoadResult> = if names.len() == 1 {
            vec![load_one(names[0])]
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = names.iter().map(|n| s.spawn(|| load_one(n))).collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(RunError::Input("a mixin loader thread panicked".into()))
                        })
                    })
                    .collect()
            })
        };
        let mut mixins = BTreeMap::new();
        let mut new_pins = BTreeMap::new();
        let mut warnings = Vec::new();
        for (name, result) in names.iter().zip(results) {
            let (loaded, pin, warning) = result?;
            if let Some(pin) = pin {
                new_pins.insert(name.to_string(), pin);
            }
            warnings.extend(warning);
            mixins.insert(name.to_string(), Arc::new(loaded));
        }
        let mut problems = Vec::new();
        for planned in &plan.steps {
            let step = &planned.step;
            let mixin = &mixins[&step.mixin];
            let json = match serde_json::to_value(&step.body) {
                Ok(j) => j,
                Err(e) => {
                    problems.push(format!(
                        "{}: {}: {e}",
                        manifest.source.locate(&step.path),
                        step.path
                    ));
                    continue;
                }
            };
            let violations = schema::validate(&mixin.step_schema, &json);
            for v in &violations {
                let path = crate::manifest::join(&step.path, &v.path);
                problems.push(format!(
                    "{}: {path}: {}",
                    manifest.source.locate(&path),
                    v.message
                ));
            }
            if !violations.is_empty() {
                continue;
            }
            let diagnostics = sandbox::step::lint(&self.engine, mixin, action, &json.to_string())
                .map_err(|reason| SandboxError::NotAMixin {
                path: mixin.path.clone(),
                reason,
            })?;
            for d in diagnostics {
                let path = crate::manifest::join(&step.path, &d.path);
                let line = format!(
                    "{}: {path}: {} {}",
                    manifest.source.locate(&path),
                    d.code,
                    d.message
                );
                match d.severity {
                    sandbox::bindings::wasmix::mixin::types::Severity::Error => problems.push(line),
                    _ => warnings.push(line),
                }
            }
        }
        if !problems.is_empty() {
            return Err(RunError::InvalidSteps {
                file: manifest.file.display().to_string(),
                problems,
            });
        }
        Ok(Prepared {
            plan,
            mixins,
            pins: new_pins,
            warnings,
        })
    }

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
        let existing = store.installation(installation)?;
        match (action, &existing) {
            ("install", _) => {}
            (_, None) => {
                let stateless = manifest
                    .custom_actions
                    .get(action)
                    .map(|c| c.stateless)
                    .unwrap_or(false);
                if !stateless {
                    return Err(RunError::Installation(format!(
                        "installation {installation:?} does not exist; run `wasmix install` first"
                    )));
                }
            }
            (_, Some(i)) if i.status == "uninstalled" => {
                return Err(RunError::Installation(format!(
                    "installation {installation:?} was uninstalled; run `wasmix install` to install it again"
                )));
            }
            _ => {}
        }
        let previous_outputs: BTreeMap<String, String> = store
            .outputs(installation, true)?
            .into_iter()
            .filter_map(|o| o.value.map(|v| (o.name, v)))
            .collect();
        let previous_params: BTreeMap<String, serde_json::Value> = store
            .last_parameters(installation)?
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or_default();
        let params = resolve_parameters(
            manifest,
            action,
            &inputs.parameters,
            &previous_params,
            &previous_outputs,
        )?;
        let creds = resolve_credentials(manifest, action, &inputs.credentials)?;
        let mut redactor = Redactor::new(creds.values().cloned());
        for p in manifest.parameters.iter().filter(|p| p.sensitive) {
            if let Some(v) = params.get(&p.name) {
                redactor.add(v.clone());
            }
        }

        let started = store::now();
        let delims = delimiters(manifest);
        let mut produced: BTreeMap<String, (String, bool)> = BTreeMap::new();
        let mut records = Vec::new();
        let mut error = None;
        let total = prepared.plan.steps.len();
        for planned in &prepared.plan.steps {
            let step = &planned.step;
            let description = step
                .description
                .clone()
                .unwrap_or_else(|| step.mixin.clone());
            on_event(Event::StepStarted {
                index: step.index,
                total,
                description: &description,
                mixin: &step.mixin,
            });
            let lookup = |name: &str| {
                lookup_variable(
                    name,
                    manifest,
                    action,
                    installation,
                    &params,
                    &creds,
                    &produced,
                    &previous_outputs,
                    &planned.grant,
                )
            };
            let rendered = template::render(&step.body, delims, &lookup, &step.path)
                .map_err(|e| locate_template_error(manifest, e))
                .and_then(|body| {
                    serde_json::to_string(&body).map_err(|e| format!("{}: {e}", step.path))
                });
            let report = match rendered {
                Ok(step_json) => {
                    let mixin = &prepared.mixins[&step.mixin];
                    let config = manifest
                        .mixin(&step.mixin)
                        .map(|d| d.config.clone())
                        .unwrap_or(Yaml::Null);
                    let secrets = planned
                        .grant
                        .credentials
                        .keys()
                        .filter_map(|k| creds.get(k).map(|v| (k.clone(), v.clone())))
                        .collect();
                    let env = planned
                        .grant
                        .parameters
                        .iter()
                        .filter_map(|(env, p)| params.get(p).map(|v| (env.clone(), v.clone())))
                        .collect();
                    sandbox::step::execute(
                        &self.engine,
                        mixin,
                        StepInput {
                            action,
                            step_json,
                            env,
                            config_json: serde_json::to_string(&config)
                                .unwrap_or_else(|_| "null".into()),
                            installation,
                            grant: &planned.grant,
                            secrets,
                            driver: self.driver.clone(),
                            bundle_dir: &manifest.dir,
                            limits: planned.grant.limits.apply(self.limits),
                            redactor: &redactor,
                        },
                    )
                }
                Err(message) => StepReport {
                    result: Err(redactor.redact(&message)),
                    exit_code: None,
                    logs: Vec::new(),
                    denials: Vec::new(),
                    stdio: String::new(),
                    duration: Default::default(),
                },
            };
            let mut report = report;
            if let Ok(outputs) = &report.result {
                if let Some(o) = outputs.iter().find(|o| produced.contains_key(&o.name)) {
                    report.result = Err(format!(
                        "output {:?} was already produced by an earlier step; a step cannot overwrite another step's outputs",
                        o.name
                    ));
                }
            }
            if let Ok(outputs) = &report.result {
                for o in outputs {
                    let sensitive = o.sensitive || redactor.contains_secret(&o.value);
                    if sensitive {
                        redactor.add(o.value.clone());
                    }
                    produced.insert(o.name.clone(), (o.value.clone(), sensitive));
                }
            }
            on_event(Event::StepFinished {
                index: step.index,
                report: &report,
            });
            let logs = report
                .logs
                .iter()
                .map(|l| format!("{}: {}", l.level, l.message))
                .chain(report.denials.iter().map(|d| format!("denied: {d}")))
                .chain(std::iter::once(report.stdio.clone()).filter(|s| !s.is_empty()))
                .collect::<Vec<_>>()
                .join("\n");
            records.push(StepRecord {
                index: step.index,
                mixin: step.mixin.clone(),
                description,
                status: if report.result.is_ok() {
                    "succeeded".into()
                } else {
                    "failed".into()
                },
                message: report.result.as_ref().err().cloned(),
                logs: redactor.redact(&logs),
                duration_ms: report.duration.as_millis() as u64,
            });
            if let Err(e) = &report.result {
                error = Some(format!(
                    "step {} of {action} ({}) failed: {e}",
                    step.index + 1,
                    step.path
                ));
                break;
            }
        }

        let outputs = if error.is_none() {
            bundle_outputs(manifest, action, &produced)
        } else {
            Vec::new()
        };
        let public_params: BTreeMap<&String, serde_json::Value> = params
            .iter()
            .filter(|(k, _)| {
                !manifest
                    .parameters
                    .iter()
                    .any(|p| &p.name == *k && p.sensitive)
            })
            .map(|(k, v)| (k, serde_json::Value::String(v.clone())))
            .collect();
        let stored: Vec<(String, String, bool)> = outputs
            .iter()
            .map(|o| (o.name.clone(), o.value.clone(), o.sensitive))
            .collect();
        let run_id = store.record(&RunRecord {
            installation,
            bundle: &manifest.name,
            version: &manifest.version,
            manifest: &manifest.file.display().to_string(),
            action,
            error: error.as_deref(),
            parameters: &serde_json::to_string(&public_params).unwrap_or_else(|_| "{}".into()),
            steps: &records,
            outputs: &stored,
            started,
        })?;
        Ok(Outcome {
            run_id,
            installation: installation.to_string(),
            action: action.to_string(),
            steps: records,
            outputs,
            error,
            redactor,
        })
    }
}

fn check_version(name: &str, req: &str, loaded: &LoadedMixin) -> Result<(), RunError> {
    let bad = |why: String| RunError::Input(format!("mixin {name}@{req}: {why}"));
    let req_parsed =
        semver::VersionReq::parse(req).map_err(|e| bad(format!("invalid constraint: {e}")))?;
    let v = semver::Version::parse(loaded.info.version.trim_start_matches('v')).map_err(|e| {
        bad(format!(
            "{} reports version {:?}, not semver: {e}",
            loaded.path.display(),
            loaded.info.version
        ))
    })?;
    if !req_parsed.matches(&v) {
        return Err(bad(format!(
            "{} is version {v}, which does not satisfy {req}",
            loaded.path.display()
        )));
    }
    Ok(())
}

fn locate_template_error(manifest: &Manifest, e: TemplateError) -> String {
    let path = match &e {
        TemplateError::Missing { path, .. } | TemplateError::Unclosed { path, .. } => path.clone(),
    };
    format!("{}: {e}", manifest.source.locate(&path))
}

#[allow(clippy::too_many_arguments)]
fn lookup_variable(
    name: &str,
    manifest: &Manifest,
    action: &str,
    installation: &str,
    params: &BTreeMap<String, String>,
    creds: &BTreeMap<String, String>,
    produced: &BTreeMap<String, (String, bool)>,
    previous: &BTreeMap<String, String>,
    grant: &crate::grant::Grant,
) -> Result<String, String> {
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        ["bundle", "name"] => Ok(manifest.name.clone()),
        ["bundle", "version"] => Ok(manifest.version.clone()),
        ["bundle", "description"] => Ok(manifest.description.clone().unwrap_or_default()),
        ["installation", "name"] => Ok(installation.to_string()),
        ["bundle", "parameters", p] => match manifest.parameters.iter().find(|d| d.name == *p) {
            None => Err(format!("the bundle declares no parameter {p:?}")),
            Some(d) if !applies(&d.apply_to, action) => Err(format!("parameter {p:?} does not apply to {action}")),
            Some(_) => params.get(*p).cloned().ok_or_else(|| format!("parameter {p:?} has no value")),
        },
        ["bundle", "credentials", c] => match manifest.credentials.iter().find(|d| d.name == *c) {
            None => Err(format!("the bundle declares no credential {c:?}")),
            Some(_) => creds.get(*c).cloned().ok_or_else(|| format!("credential {c:?} was not given for {action}")),
        },
        ["bundle", "outputs", o] => produced
            .get(*o)
            .map(|(v, _)| v.clone())
            .or_else(|| previous.get(*o).cloned())
            .ok_or_else(|| format!("no earlier step or run produced output {o:?}")),
        ["env", v] => {
            if !grant.env.contains(*v) {
                return Err(format!("environment variable {v} is not granted to this step (grants: env: [{v}])"));
            }
            std::env::var(v).map_err(|_| format!("environment variable {v} is not set"))
        }
        ["bundle", "images", img, field] => {
            let image = manifest.images.get(*img).ok_or_else(|| format!("the bundle declares no image {img:?}"))?;
            match *field {
                "repository" => Ok(image.repository.clone()),
                "digest" => image.digest.clone().ok_or_else(|| format!("image {img:?} has no digest")),
                "tag" => image.tag.clone().ok_or_else(|| format!("image {img:?} has no tag")),
                _ => Err(format!("images have repository, digest and tag, not {field:?}")),
            }
        }
        ["bundle", "custom", rest @ ..] if !rest.is_empty() => {
            let mut v = &manifest.custom;
            for key in rest {
                v = v.get(*key).ok_or_else(|| format!("custom metadata has no {name:?}"))?;
            }
            match v {
                Yaml::String(s) => Ok(s.clone()),
                Yaml::Number(n) => Ok(n.to_string()),
                Yaml::Bool(b) => Ok(b.to_string()),
                other => serde_json::to_string(other).map_err(|e| e.to_string()),
            }
        }
        ["bundle", "dependencies", ..] => Err("bundle dependencies are not supported by wasmix yet".into()),
        _ => Err("known variables: bundle.name, bundle.version, bundle.description, installation.name, \
                  bundle.parameters.*, bundle.credentials.*, bundle.outputs.*, bundle.images.*, bundle.custom.*, env.*"
            .into()),
    }
}

/// Parameter values for this run, checked against their declarations.
fn resolve_parameters(
    manifest: &Manifest,
    action: &str,
    given: &BTreeMap<String, String>,
    previous: &BTreeMap<String, serde_json::Value>,
    previous_outputs: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, RunError> {
    for name in given.keys() {
        if !manifest.parameters.iter().any(|p| &p.name == name) {
            let known: Vec<&str> = manifest
                .parameters
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            return Err(RunError::Input(format!(
                "unknown parameter {name:?}; bundle {} declares: {}",
                manifest.name,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    let mut out = BTreeMap::new();
    for p in manifest
        .parameters
        .iter()
        .filter(|p| applies(&p.apply_to, action))
    {
        let value = if let Some(v) = given.get(&p.name) {
            Some(v.clone())
        } else if let Some(v) = previous
            .get(&p.name)
            .filter(|_| action != "install" || p.persistent)
        {
            v.as_str().map(str::to_string)
        } else if let Some(v) = p
            .source
            .as_ref()
            .and_then(|s| s.output.as_ref())
            .and_then(|o| previous_outputs.get(o))
        {
            Some(v.clone())
        } else {
            p.default.as_ref().map(yaml_text)
        };
        match value {
            Some(v) => {
                check_parameter(p, &v)?;
                out.insert(p.name.clone(), v);
            }
            None if p.required.unwrap_or(true) => {
                return Err(RunError::Input(format!(
                "parameter {:?} is required for {action} and has no default; pass --param {}=VALUE",
                p.name, p.name
            )))
            }
            None => {}
        }
    }
    Ok(out)
}

fn yaml_text(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Null => String::new(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

fn check_parameter(p: &Parameter, v: &str) -> Result<(), RunError> {
    let shown = if p.sensitive { crate::redact::MASK } else { v };
    let bad = |expected: &str| {
        RunError::Input(format!(
            "parameter {:?} must be {expected}, got {shown:?}",
            p.name
        ))
    };
    match p.kind.as_deref().unwrap_or("string") {
        "integer" => {
            v.parse::<i64>().map_err(|_| bad("an integer"))?;
        }
        "number" => {
            v.parse::<f64>().map_err(|_| bad("a number"))?;
        }
        "boolean" if v != "true" && v != "false" => return Err(bad("true or false")),
        "object" => {
            let j: serde_json::Value = serde_json::from_str(v).map_err(|_| bad("a JSON object"))?;
            if !j.is_object() {
                return Err(bad("a JSON object"));
            }
        }
        "array" => {
            let j: serde_json::Value = serde_json::from_str(v).map_err(|_| bad("a JSON array"))?;
            if !j.is_array() {
                return Err(bad("a JSON array"));
            }
        }
        _ => {}
    }
    if let Some(allowed) = &p.allowed {
        if !allowed.iter().any(|a| yaml_text(a) == v) {
            let list: Vec<String> = allowed.iter().map(yaml_text).collect();
            return Err(bad(&format!("one of {}", list.join(", "))));
        }
    }
    Ok(())
}

/// Credential values for this run: required ones must be given.
fn resolve_credentials(
    manifest: &Manifest,
    action: &str,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, RunError> {
    for name in given.keys() {
        if !manifest.credentials.iter().any(|c| &c.name == name) {
            return Err(RunError::Input(format!(
                "unknown credential {name:?}; bundle {} does not declare it",
                manifest.name
            )));
        }
    }
    let mut out = BTreeMap::new();
    for c in manifest
        .credentials
        .iter()
        .filter(|c| applies(&c.apply_to, action))
    {
        match given.get(&c.name) {
            Some(v) => {
                out.insert(c.name.clone(), v.clone());
            }
            None if c.required => {
                return Err(RunError::Input(format!(
                    "credential {:?} is required for {action}; pass --cred {}=env:VAR or --cred {}=file:PATH",
                    c.name, c.name, c.name
                )))
            }
            None => {}
        }
    }
    Ok(out)
}

fn bundle_outputs(
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
