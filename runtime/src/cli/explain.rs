//! `wasmix explain`, `wasmix lint` and `wasmix schema`: what a bundle says,
//! whether its steps are valid, and the schema editors check them with.

use super::actions::{mixin_path, runtime, DriverKind, Pull};
use super::bundle::BundleArg;
use super::output::print_doc;
use super::{home, Cli, Failure};
use wasmix::explain::{bundle_step_schema, Explanation};
use wasmix::plan::{BundlePlan, Plan};
use wasmix::redact::{sanitize, MASK};
use wasmix::run::LockCheck;
use wasmix::sandbox::MixinEngine;

/// `wasmix lint`: prepare every action (mixins loaded, steps checked against
/// schemas and lint rules) without writing the lock file.
pub fn lint(cli: &Cli, bundle: &BundleArg) -> Result<u8, Failure> {
    let opened = super::bundle::open(cli, bundle, None)?;
    let manifest = opened.manifest.clone();
    let plans = BundlePlan::new(&manifest)?;
    let rt = runtime(
        cli,
        DriverKind::Debug,
        Pull::Missing,
        &manifest,
        &plans,
        opened.pinned()?,
    )?;
    let mut warnings = Vec::new();
    for action in plans.actions.keys() {
        let prepared = rt.prepare(&manifest, &plans, action, LockCheck::ReadOnly)?;
        warnings.extend(prepared.warnings);
    }
    if cli.output.is_structured() {
        #[derive(serde::Serialize)]
        struct LintDoc<'a> {
            errors: [&'a str; 0],
            warnings: &'a [String],
        }
        return print_doc(&LintDoc {
            errors: [],
            warnings: &warnings,
        })
        .map(|()| 0);
    }
    for w in &warnings {
        println!("warning: {}", sanitize(w));
    }
    let shown = match &opened.fetched {
        Some((f, _)) => format!("{}@{}", f.reference, f.digest),
        None => manifest.file.display().to_string(),
    };
    println!("{shown}: ok ({} warning(s))", warnings.len());
    Ok(0)
}

/// `wasmix explain`: the bundle's declarations and every step's grants.
pub fn explain(cli: &Cli, bundle: &BundleArg, only: Option<&str>) -> Result<u8, Failure> {
    let opened = super::bundle::open(cli, bundle, None)?;
    // A bundle with dependencies: the plan its action would run, solved
    // against the registry and the installations that exist.
    let graph = if super::workflow::has_dependencies(&opened.manifest) {
        let name = opened.manifest.name.clone();
        Some(super::workflow::solve(cli, &opened, &name, only.unwrap_or("install"))?.graph)
    } else {
        None
    };
    let m = opened.manifest;
    let plans: Vec<Plan> = match only {
        Some(a) => vec![Plan::new(&m, a)?],
        None => m
            .actions
            .keys()
            .map(|a| Plan::new(&m, a))
            .collect::<Result<_, _>>()?,
    };
    let e = Explanation::new(&m, &plans);
    if cli.output.is_structured() {
        let mut doc = serde_json::to_value(&e)?;
        if let (Some(g), Some(obj)) = (&graph, doc.as_object_mut()) {
            obj.insert("plan".into(), serde_json::to_value(g)?);
        }
        return print_doc(&doc).map(|()| 0);
    }
    print_text(&e);
    if let Some(g) = &graph {
        println!();
        super::workflow::print_plan(g);
    }
    Ok(0)
}

fn print_text(e: &Explanation) {
    let applies = |to: &[String]| {
        if to.is_empty() {
            String::new()
        } else {
            format!(" applies to {}", to.join(", "))
        }
    };
    println!(
        "Bundle {} {}{}",
        e.bundle.name,
        e.bundle.version,
        e.bundle
            .description
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default()
    );
    println!("\nMixins:");
    for d in &e.mixins {
        println!(
            "  {}{}",
            d.name,
            d.version
                .as_deref()
                .map(|v| format!("@{v}"))
                .unwrap_or_default()
        );
    }
    if !e.parameters.is_empty() {
        println!("\nParameters:");
        for p in &e.parameters {
            let default = match (&p.default, p.sensitive) {
                (Some(_), true) => format!(" (default {MASK})"),
                (Some(d), false) => format!(
                    " (default {})",
                    serde_json::to_string(d).unwrap_or_default()
                ),
                (None, _) => " (required)".into(),
            };
            println!(
                "  {} {}{default}{}{}",
                p.name,
                p.kind,
                if p.sensitive { " sensitive" } else { "" },
                applies(&p.apply_to)
            );
        }
    }
    if !e.credentials.is_empty() {
        println!("\nCredentials:");
        for c in &e.credentials {
            println!(
                "  {}{}{}",
                c.name,
                if c.required {
                    " (required)"
                } else {
                    " (optional)"
                },
                applies(&c.apply_to)
            );
        }
    }
    if !e.outputs.is_empty() {
        println!("\nOutputs:");
        for o in &e.outputs {
            println!(
                "  {}{}",
                o.name,
                if o.sensitive { " sensitive" } else { "" }
            );
        }
    }
    for a in &e.actions {
        println!("\nAction {}:", a.name);
        for s in &a.steps {
            println!(
                "  {}. {} ({})",
                s.index + 1,
                s.description.as_deref().unwrap_or("-"),
                s.mixin
            );
            if s.grants.is_empty() {
                println!("       grants: nothing");
            }
            for g in &s.grants {
                println!("       {:<10} {:<40} from {}", g.kind, g.what, g.from);
            }
        }
    }
}

/// `wasmix schema`: the JSON Schema of the bundle's steps. A local bundle's
/// mixins are only loaded (the schema helps fix steps that do not validate
/// yet); a registry bundle's come from its pins, through `prepare`.
pub fn schema(cli: &Cli, bundle: &BundleArg) -> Result<u8, Failure> {
    let opened = super::bundle::open(cli, bundle, None)?;
    let m = &opened.manifest;
    let mut defs = serde_json::Map::new();
    if opened.fetched.is_some() {
        let plans = BundlePlan::new(m)?;
        let rt = runtime(
            cli,
            DriverKind::Debug,
            Pull::Missing,
            m,
            &plans,
            opened.pinned()?,
        )?;
        for action in plans.actions.keys() {
            let prepared = rt.prepare(m, &plans, action, LockCheck::ReadOnly)?;
            for (name, loaded) in &prepared.mixins {
                defs.insert(name.clone(), loaded.step_schema.clone());
            }
        }
    } else {
        // Only the mixins' schemas are needed: no plan, no pool.
        let engine = MixinEngine::new(Some(home(cli)?.join("cache").join("compiled")))?;
        let mixin_path = mixin_path(cli)?;
        for d in &m.mixins {
            let file = mixin_path.locate(&d.name)?;
            let loaded = engine.load(&d.name, &file)?;
            defs.insert(d.name.clone(), loaded.step_schema);
        }
    }
    print_doc(&bundle_step_schema(&m.name, defs)).map(|()| 0)
}
