//! What can be checked of a bundle's `dependencies` without resolving
//! them: names unique, wiring that names only what the bundle declares and
//! dependencies it requires, sharing that names its group. `wasmix lint`
//! and every action run these; the solve checks the rest against the
//! resolved bundles.

use super::wiring::{promoted_refs, refs, Ref};
use crate::manifest::Manifest;
use crate::template::Delimiters;
use std::collections::BTreeSet;

/// Each problem: the document path and what is wrong.
pub fn lint(m: &Manifest) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(deps) = m.dependencies.as_ref() else {
        return check_steps(m, &BTreeSet::new(), out);
    };
    let delims = Delimiters::of(m);
    let mut names = BTreeSet::new();
    for (i, d) in deps.requires.iter().enumerate() {
        let entry = format!("dependencies.requires[{i}]");
        if !names.insert(d.name.as_str()) {
            out.push((
                format!("{entry}.name"),
                format!(
                    "another dependency is named {:?}: each needs its own name",
                    d.name
                ),
            ));
        }
        if d.sharing
            .as_ref()
            .is_some_and(|s| s.mode && s.group.as_ref().is_none_or(|g| g.name.trim().is_empty()))
        {
            out.push((
                format!("{entry}.sharing"),
                "`sharing.mode: true` needs `sharing.group.name`: bundles share a dependency only within a named group".into(),
            ));
        }
        if d.sharing
            .as_ref()
            .is_some_and(|s| !s.mode && s.group.is_some())
        {
            out.push((
                format!("{entry}.sharing.group"),
                "a sharing group takes effect only with `sharing.mode: true`; set it, or remove the group".into(),
            ));
        }
    }
    for (i, d) in deps.requires.iter().enumerate() {
        let inputs = d
            .parameters
            .iter()
            .map(|(k, v)| ("parameters", k, v))
            .chain(d.credentials.iter().map(|(k, v)| ("credentials", k, v)));
        for (kind, k, v) in inputs {
            let path = format!("dependencies.requires[{i}].{kind}.{k}");
            let found = match refs(&v.0, delims) {
                Ok(r) => r,
                Err(e) => {
                    out.push((path, e));
                    continue;
                }
            };
            for r in found {
                let problem = match r {
                    Ref::Own(_) => None,
                    Ref::Parameter(p) if !m.parameters.iter().any(|x| x.name == p) => {
                        Some(format!("the bundle declares no parameter {p:?}"))
                    }
                    Ref::Credential(c) if !m.credentials.iter().any(|x| x.name == c) => {
                        Some(format!("the bundle declares no credential {c:?}"))
                    }
                    Ref::Output { dependency, .. } if dependency == d.name => Some(format!(
                        "dependency cycle: {} takes its own output",
                        d.name
                    )),
                    Ref::Output { dependency, .. } if !names.contains(dependency.as_str()) => {
                        Some(format!(
                            "bundle.dependencies.{dependency}: the bundle requires no dependency {dependency:?} (it requires: {})",
                            names.iter().copied().collect::<Vec<_>>().join(", ")
                        ))
                    }
                    _ => None,
                };
                if let Some(p) = problem {
                    out.push((path.clone(), p));
                }
            }
        }
    }
    let mut promoted = BTreeSet::new();
    for (i, d) in deps.requires.iter().enumerate() {
        if let (Some(a), Some(b)) = (
            d.bundle.id.as_deref(),
            d.bundle.interface.as_ref().and_then(|x| x.id.as_deref()),
        ) {
            if a != b {
                out.push((
                    format!("dependencies.requires[{i}].bundle.id"),
                    format!("bundle.id {a:?} and bundle.interface.id {b:?} differ: name the interface once"),
                ));
            }
        }
        for (k, v) in &d.outputs {
            let path = format!("dependencies.requires[{i}].outputs.{k}");
            if !promoted.insert(k.as_str()) {
                out.push((
                    path.clone(),
                    format!("another dependency already promotes output {k:?}: each output comes from one place"),
                ));
            }
            if !m.outputs.iter().any(|o| &o.name == k) {
                out.push((
                    path.clone(),
                    format!("the bundle declares no output {k:?} for the dependency to promote; declare it under `outputs`"),
                ));
            }
            match promoted_refs(&v.0, delims) {
                Err(e) => out.push((path, e)),
                Ok(found) => {
                    for r in found {
                        let problem = match r {
                            Ref::Parameter(p) if !m.parameters.iter().any(|x| x.name == p) => {
                                Some(format!("the bundle declares no parameter {p:?}"))
                            }
                            Ref::Credential(c) if !m.credentials.iter().any(|x| x.name == c) => {
                                Some(format!("the bundle declares no credential {c:?}"))
                            }
                            Ref::Output { dependency, .. }
                                if !names.contains(dependency.as_str()) =>
                            {
                                Some(format!(
                                    "bundle.dependencies.{dependency}: the bundle requires no dependency {dependency:?}"
                                ))
                            }
                            _ => None,
                        };
                        if let Some(p) = problem {
                            out.push((path.clone(), p));
                        }
                    }
                }
            }
        }
    }
    check_steps(m, &names, out)
}

/// Steps may name only dependencies the bundle requires.
fn check_steps(
    m: &Manifest,
    names: &BTreeSet<&str>,
    mut out: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let delims = Delimiters::of(m);
    for steps in m.actions.values() {
        for step in steps {
            for name in crate::template::references(&step.body, delims) {
                let parts: Vec<&str> = name.split('.').collect();
                if let ["bundle", "dependencies", dep, ..] = parts.as_slice() {
                    if !names.contains(dep) {
                        out.push((
                            step.path.clone(),
                            format!("{name}: the bundle requires no dependency {dep:?}"),
                        ));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(deps: &str, step_arg: &str) -> Vec<(String, String)> {
        let text = format!(
            "schemaVersion: 1.1.0\nname: t\nversion: 0.1.0\nmixins: [exec]\nparameters:\n  - name: p\n    type: string\n{deps}install:\n  - exec:\n      command: echo\n      arguments: [\"{step_arg}\"]\nuninstall:\n  - exec:\n      command: echo\n"
        );
        let m = crate::manifest::parse(std::path::Path::new("porter.yaml"), &text).unwrap();
        lint(&m)
    }

    #[test]
    fn sound_wiring_passes() {
        let deps = "dependencies:\n  requires:\n    - name: a\n      bundle: {reference: r/a:v1}\n    - name: b\n      bundle: {reference: r/b:v1}\n      parameters:\n        x: \"${ bundle.dependencies.a.outputs.o }-${ bundle.parameters.p }\"\n";
        assert!(problems(deps, "${ bundle.dependencies.b.outputs.o }").is_empty());
    }

    #[test]
    fn dangling_self_and_duplicate_wiring_are_each_located() {
        let deps = "dependencies:\n  requires:\n    - name: a\n      bundle: {reference: r/a:v1}\n      parameters:\n        x: ${ bundle.dependencies.a.outputs.o }\n        y: ${ bundle.dependencies.nope.outputs.o }\n        z: ${ bundle.parameters.q }\n    - name: a\n      bundle: {reference: r/a:v1}\n      sharing: {mode: true}\n    - name: c\n      bundle: {reference: r/c:v1}\n      sharing: {mode: false, group: {name: g}}\n";
        let p = problems(deps, "${ bundle.dependencies.gone.outputs.o }");
        let paths: Vec<&str> = p.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "dependencies.requires[1].name",
                "dependencies.requires[1].sharing",
                "dependencies.requires[2].sharing.group",
                "dependencies.requires[0].parameters.x",
                "dependencies.requires[0].parameters.y",
                "dependencies.requires[0].parameters.z",
                "install[0].exec",
            ],
            "{p:?}"
        );
        assert!(p[3].1.contains("takes its own output"));
        assert!(p[4].1.contains("requires no dependency \"nope\""));
    }
}
