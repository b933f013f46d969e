//! Before anything runs: the plan's mixins located (mixin path or registry,
//! verified), compiled, version-checked; every step checked against its
//! mixin's schema and lint rules; the lock file checked and written.

use super::{RunError, Runtime};
use crate::lock::{self, LockedMixin};
use crate::manifest::Manifest;
use crate::oci::{Fetched, OciError};
use crate::plan::{BundlePlan, Plan};
use crate::run::inputs::yaml_text;
use crate::sandbox::bindings::wasmix::mixin::types::{Diagnostic, Severity};
use crate::sandbox::{self, LoadedMixin, SandboxError};
use crate::schema;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What [`Runtime::prepare`] does with the lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockCheck {
    /// Refuse grants wider than the lock records (unless `accept`), then
    /// write the lock with this run's grants and pins: what a run does.
    Enforce {
        /// Accept capabilities beyond the lock (`--accept-capabilities`).
        accept: bool,
        /// Where the lock lives; `None` is `wasmix.lock` beside the
        /// manifest. A bundle from a registry is never written to, so the
        /// operator's lock for it lives elsewhere.
        file: Option<PathBuf>,
    },
    /// Read the lock's pins, write nothing: what `lint` does.
    ReadOnly,
}

/// An action ready to run: its plan, its mixins loaded, its steps checked.
pub struct Prepared {
    /// The plan.
    pub plan: Plan,
    /// Loaded mixins by name.
    pub mixins: BTreeMap<String, Arc<LoadedMixin>>,
    /// Registry mixins and the digests they are pinned to, for the lock file.
    pub pins: BTreeMap<String, LockedMixin>,
    /// Lint warnings (located), which do not stop a run.
    pub warnings: Vec<String>,
    /// Where the bundle came from when it is not a local directory
    /// (`registry/repository@digest`): recorded on the installation so a
    /// later action runs the same bundle. `None` records the manifest path.
    pub origin: Option<String>,
}

/// Where a mixin of a bundle that pins its mixins comes from (a bundle
/// fetched from a registry): nothing else is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinnedComponent {
    /// A component file whose bytes must hash to `digest`.
    File {
        /// The file.
        path: PathBuf,
        /// Its digest.
        digest: String,
    },
    /// A registry mixin, fetched by this digest only.
    Registry(LockedMixin),
}

/// Where a mixin's component was found.
enum Located {
    /// On the mixin path (trusted as a file the operator installed).
    Path(PathBuf),
    /// From a registry, by digest, verified.
    Fetched(Fetched),
    /// Carried by a registry bundle: its bytes must hash to `digest`.
    Carried {
        /// The component file in the cache.
        path: PathBuf,
        /// The layer digest the bundle pins.
        digest: String,
    },
}

/// A mixin found, compiled and checked.
struct Loaded {
    mixin: LoadedMixin,
    pin: Option<LockedMixin>,
    warning: Option<String>,
}

impl Runtime {
    /// Prepare `action` of `manifest` from its bundle plan: load its mixins,
    /// check every step, and check the lock file as `lock` says. Nothing runs.
    pub fn prepare(
        &self,
        manifest: &Manifest,
        plans: &BundlePlan,
        action: &str,
        lock: LockCheck,
    ) -> Result<Prepared, RunError> {
        let plan = plans.action(manifest, action)?.clone();
        // What the manifest says on its own is checked before any mixin is
        // fetched or compiled.
        let mut problems: Vec<String> = crate::support::unsupported(manifest)
            .into_iter()
            .map(|u| {
                format!(
                    "{}: {}: {}",
                    manifest.source.locate(&u.path),
                    u.path,
                    u.message
                )
            })
            .chain(
                crate::dependencies::lint(manifest)
                    .into_iter()
                    .map(|(path, message)| {
                        format!("{}: {path}: {message}", manifest.source.locate(&path))
                    }),
            )
            .collect();
        problems.extend(check_parameters(manifest));
        problems.extend(check_outputs(manifest));
        problems.extend(check_state(manifest));
        problems.extend(check_destinations(manifest, &plan, self.driver.name()));
        if !problems.is_empty() {
            return Err(RunError::InvalidSteps {
                file: manifest.file.display().to_string(),
                problems,
            });
        }
        let lock_file = match &lock {
            LockCheck::Enforce {
                file: Some(file), ..
            } => file.clone(),
            _ => manifest.dir.join(lock::LOCK_FILE),
        };
        let previous = lock::read_at(&lock_file)?;
        let pins = previous
            .as_ref()
            .map(|l| l.mixins.clone())
            .unwrap_or_default();
        let names = plan.mixins();
        // Resolve, verify and compile every mixin of the plan at once: a
        // bundle's first step then waits for the slowest mixin, not the sum.
        let results: Vec<Result<Loaded, RunError>> = if names.len() == 1 {
            vec![self.load_mixin(manifest, names[0], &pins)]
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = names
                    .iter()
                    .map(|n| s.spawn(|| self.load_mixin(manifest, n, &pins)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(
                                SandboxError::Wasmtime("a mixin loader thread panicked".into())
                                    .into(),
                            )
                        })
                    })
                    .collect()
            })
        };
        crate::timing::mark("prepare: load mixins");
        let mut mixins = BTreeMap::new();
        let mut new_pins = BTreeMap::new();
        let mut warnings = Vec::new();
        for (name, result) in names.iter().zip(results) {
            let loaded = result?;
            if let Some(pin) = loaded.pin {
                new_pins.insert(name.to_string(), pin);
            }
            warnings.extend(loaded.warning);
            mixins.insert(name.to_string(), Arc::new(loaded.mixin));
        }
        if manifest.dockerfile.is_some() {
            warnings.push(format!(
                "{}: dockerfile: wasmix runs no invocation image, so this Dockerfile is not built: \
                 the tools it installs must be on this machine (host driver) or in an image a step is granted (docker driver)",
                manifest.source.locate("dockerfile")
            ));
        }
        let problems = self.check_steps(manifest, &plan, &mixins, &mut warnings)?;
        crate::timing::mark("prepare: check steps");
        if !problems.is_empty() {
            return Err(RunError::InvalidSteps {
                file: manifest.file.display().to_string(),
                problems,
            });
        }
        if crate::interrupt::requested() {
            return Err(RunError::Interrupted {
                action: action.to_string(),
            });
        }
        if let LockCheck::Enforce { accept, .. } = lock {
            lock::check_at(
                &lock_file,
                manifest,
                plans,
                previous.as_ref(),
                accept,
                &new_pins,
            )?;
        }
        Ok(Prepared {
            plan,
            mixins,
            pins: new_pins,
            warnings,
            origin: None,
        })
    }

    /// Find, fetch and compile mixin `name`, and check it is what the
    /// manifest asked for.
    fn load_mixin(
        &self,
        manifest: &Manifest,
        name: &str,
        pins: &BTreeMap<String, LockedMixin>,
    ) -> Result<Loaded, RunError> {
        let (path, fetched, carried) = match self.locate(manifest, name, pins)? {
            Located::Path(p) => (p, None, None),
            Located::Fetched(f) => (f.path.clone(), Some(f), None),
            Located::Carried { path, digest } => (path, None, Some(digest)),
        };
        let mixin = self.engine.load(name, &path)?;
        // The loader hashed the bytes it compiled: they must be the layer
        // the artifact (pinned by digest) names.
        let expected = match (&fetched, &carried) {
            (Some(f), _) => Some((f.layer.clone(), f.pin.reference.clone())),
            (None, Some(d)) => Some((d.clone(), format!("mixin {name} carried by the bundle"))),
            (None, None) => None,
        };
        if let Some((layer, what)) = expected {
            if mixin.digest != layer {
                return Err(OciError::Digest {
                    what: format!("component of {what}"),
                    expected: layer,
                    actual: mixin.digest,
                }
                .into());
            }
        }
        if let Some(req) = manifest.mixin(name).and_then(|d| d.version.as_deref()) {
            check_version(name, req, &mixin)?;
        }
        let (pin, warning) = match fetched {
            Some(f) => (Some(f.pin), f.warning),
            None => (None, None),
        };
        Ok(Loaded {
            mixin,
            pin,
            warning,
        })
    }

    /// Where mixin `name`'s component is: its declared registry reference,
    /// the mixin path, or the default registry namespace when the mixin
    /// path has none.
    fn locate(
        &self,
        manifest: &Manifest,
        name: &str,
        pins: &BTreeMap<String, LockedMixin>,
    ) -> Result<Located, RunError> {
        if let Some(pinned) = &self.pinned {
            return self.locate_pinned(pinned, name);
        }
        let decl = manifest.mixin(name);
        let reference = match decl.and_then(|d| d.reference.clone()) {
            Some(r) => r,
            None => match self.mixin_path.locate(name) {
                Ok(path) => return Ok(Located::Path(path)),
                Err(not_found) => self
                    .oci
                    .as_ref()
                    .and_then(|o| o.namespaced(name, decl))
                    .ok_or(not_found)?,
            },
        };
        let oci = self.oci.as_ref().ok_or_else(|| RunError::NoOciSource {
            name: name.to_string(),
            reference: reference.clone(),
        })?;
        Ok(Located::Fetched(oci.fetch(name, &reference, pins)?))
    }

    /// Mixin `name` of a bundle that pins its mixins: only the pin counts,
    /// never the mixin path or the default namespace.
    fn locate_pinned(
        &self,
        pinned: &BTreeMap<String, PinnedComponent>,
        name: &str,
    ) -> Result<Located, RunError> {
        match pinned.get(name) {
            Some(PinnedComponent::File { path, digest }) => Ok(Located::Carried {
                path: path.clone(),
                digest: digest.clone(),
            }),
            Some(PinnedComponent::Registry(pin)) => {
                let oci = self.oci.as_ref().ok_or_else(|| RunError::NoOciSource {
                    name: name.to_string(),
                    reference: pin.reference.clone(),
                })?;
                let pins = BTreeMap::from([(name.to_string(), pin.clone())]);
                Ok(Located::Fetched(oci.fetch(name, &pin.reference, &pins)?))
            }
            None => Err(RunError::Unpinned {
                name: name.to_string(),
            }),
        }
    }

    /// Every step against its mixin's schema, then its mixin's lint rules.
    /// Returns the errors; warnings are added to `warnings`. Steps that
    /// passed before, unchanged and with the same mixins, are not checked
    /// again: their warnings come from the compile cache.
    fn check_steps(
        &self,
        manifest: &Manifest,
        plan: &Plan,
        mixins: &BTreeMap<String, Arc<LoadedMixin>>,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<String>, RunError> {
        let mut problems = Vec::new();
        let mut checked = Vec::new();
        for planned in &plan.steps {
            let step = &planned.step;
            let Some(mixin) = mixins.get(&step.mixin) else {
                problems.push(format!(
                    "{}: {}: mixin {} was not loaded",
                    planned.location, step.path, step.mixin
                ));
                continue;
            };
            match serde_json::to_value(&step.body) {
                Ok(json) => checked.push((planned, mixin, json.to_string(), json)),
                Err(e) => problems.push(format!("{}: {}: {e}", planned.location, step.path)),
            }
        }
        // Every step is checked even when another could not be: the author
        // hears of all the problems at once. Only a complete plan is
        // remembered.
        let complete = problems.is_empty();
        let key = self.engine.checked_key(
            &plan.action,
            checked
                .iter()
                .map(|(_, m, text, _)| (m.digest.as_str(), text.as_str())),
        );
        let remembered = key
            .as_deref()
            .filter(|_| complete)
            .and_then(|k| self.engine.checked(k))
            .filter(|r| r.len() == checked.len());
        let findings = match remembered {
            Some(findings) => findings,
            None => {
                let mut findings = Vec::new();
                for (planned, mixin, text, json) in &checked {
                    findings.push(self.check_step(
                        manifest,
                        &plan.action,
                        planned,
                        mixin,
                        (text, json),
                        &mut problems,
                    )?);
                }
                let passed = problems.is_empty()
                    && !findings
                        .iter()
                        .flatten()
                        .any(|d| matches!(d.severity, Severity::Error));
                if let (true, true, Some(k)) = (complete, passed, &key) {
                    self.engine.record_checked(k, &findings);
                }
                findings
            }
        };
        for ((planned, ..), diagnostics) in checked.iter().zip(findings) {
            for d in diagnostics {
                let path = crate::manifest::join(&planned.step.path, &d.path);
                let line = format!(
                    "{}: {path}: {} {}",
                    manifest.source.locate(&path),
                    d.code,
                    d.message
                );
                match d.severity {
                    Severity::Error => problems.push(line),
                    _ => warnings.push(line),
                }
            }
        }
        Ok(problems)
    }

    /// One step (its body as `text` and `json`) against its mixin's schema,
    /// then the mixin's lint: schema problems are added to `problems`, and
    /// what lint found is returned.
    fn check_step(
        &self,
        manifest: &Manifest,
        action: &str,
        planned: &crate::plan::PlannedStep,
        mixin: &LoadedMixin,
        (text, json): (&str, &serde_json::Value),
        problems: &mut Vec<String>,
    ) -> Result<Vec<Diagnostic>, RunError> {
        let step = &planned.step;
        let schema = mixin.schema().map_err(|reason| SandboxError::NotAMixin {
            path: mixin.path.clone(),
            reason,
        })?;
        let violations = schema.validate(json);
        for v in &violations {
            let path = crate::manifest::join(&step.path, &v.path);
            problems.push(format!(
                "{}: {path}: {}",
                manifest.source.locate(&path),
                v.message
            ));
        }
        if !violations.is_empty() {
            return Ok(Vec::new());
        }
        sandbox::step::lint(&self.engine, mixin, action, text).map_err(|reason| {
            SandboxError::NotAMixin {
                path: mixin.path.clone(),
                reason,
            }
            .into()
        })
    }
}

/// Every `state:` path must name a file inside the bundle directory.
fn check_state(manifest: &Manifest) -> Vec<String> {
    let state = manifest
        .state
        .iter()
        .enumerate()
        .filter(|(_, v)| crate::grant::state::relative_path(&v.path).is_none())
        .map(|(i, v)| {
            let path = format!("state[{i}].path");
            format!(
                "{}: {path}: state {:?}: {:?} must name a file inside the bundle directory (relative, or under /cnab/app)",
                manifest.source.locate(&path),
                v.name,
                v.path
            )
        });
    // Output files are read from the bundle directory too.
    let outputs = manifest
        .outputs
        .iter()
        .enumerate()
        .filter_map(|(i, o)| Some((i, o, o.path.as_deref()?)))
        .filter(|(_, _, p)| crate::grant::state::relative_path(p).is_none())
        .map(|(i, o, p)| {
            let path = format!("outputs[{i}].path");
            format!(
                "{}: {path}: output {:?}: wasmix reads output files from the bundle directory: {p:?} must be under /cnab/app (or relative)",
                manifest.source.locate(&path),
                o.name
            )
        });
    state.chain(outputs).collect()
}

/// Porter's `path:` destinations: each names a file that can be placed
/// (no `..`; the parser already requires one of a `type: file`
/// parameter), and with the host driver
/// every destination a step of this plan receives is in the bundle
/// directory (see [`crate::grant::destinations`]).
fn check_destinations(manifest: &Manifest, plan: &Plan, driver: &str) -> Vec<String> {
    use crate::grant::destinations::{in_bundle, target};
    let mut problems = Vec::new();
    let declared = manifest
        .credentials
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("credentials[{i}]"), "credential", &c.name, &c.path))
        .chain(
            manifest
                .parameters
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("parameters[{i}]"), "parameter", &p.name, &p.path)),
        );
    for (at, what, name, path) in declared {
        if let Some(p) = path {
            if target(p).is_none() {
                let at = format!("{at}.path");
                problems.push(format!(
                    "{}: {at}: {what} {name:?}: {p:?} is not a file path wasmix can place (empty, or climbing with `..`)",
                    manifest.source.locate(&at)
                ));
            }
        }
    }
    if driver == "host" {
        for planned in &plan.steps {
            for (to, source) in &planned.grant.destinations {
                if in_bundle(to).is_none() {
                    problems.push(format!(
                        "{}: {}: {} goes to {to}, but the host driver places files only in the bundle directory (under /cnab/app): run with --driver docker, or give it an `env:` destination",
                        planned.location,
                        planned.step.path,
                        source.describe()
                    ));
                }
            }
        }
    }
    problems
}

/// Every parameter declaration: its JSON-Schema keywords must be ones the
/// validator enforces, and its default must satisfy them.
fn check_parameters(manifest: &Manifest) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, p) in manifest.parameters.iter().enumerate() {
        let path = format!("parameters[{i}]");
        if let Err(e) = schema::CompiledSchema::compile(&schema::parameter_schema(p)) {
            problems.push(format!(
                "{}: {path}: parameter {:?}: {e}",
                manifest.source.locate(&path),
                p.name
            ));
            continue;
        }
        if let Some(default) = &p.default {
            if let Err(e) = schema::check_parameter_value(p, &yaml_text(default)) {
                let path = format!("{path}.default");
                problems.push(format!(
                    "{}: {path}: the default does not satisfy the declaration: {e}",
                    manifest.source.locate(&path)
                ));
            }
        }
    }
    problems
}

/// Every output declaration: its JSON-Schema keywords must be ones the
/// validator enforces, and its default must satisfy them.
fn check_outputs(manifest: &Manifest) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, o) in manifest.outputs.iter().enumerate() {
        let path = format!("outputs[{i}]");
        if let Err(e) = schema::CompiledSchema::compile(&schema::output_schema(o)) {
            problems.push(format!(
                "{}: {path}: output {:?}: {e}",
                manifest.source.locate(&path),
                o.name
            ));
            continue;
        }
        if let Some(default) = &o.default {
            if let Err(e) = schema::check_output_value(o, &yaml_text(default)) {
                let path = format!("{path}.default");
                problems.push(format!(
                    "{}: {path}: the default does not satisfy the declaration: {e}",
                    manifest.source.locate(&path)
                ));
            }
        }
    }
    problems
}

fn check_version(name: &str, req: &str, loaded: &LoadedMixin) -> Result<(), RunError> {
    let bad = |reason: String| RunError::MixinVersion {
        name: name.to_string(),
        required: req.to_string(),
        reason,
    };
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
