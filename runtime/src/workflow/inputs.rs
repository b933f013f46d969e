//! A task's inputs, rendered when it starts: the operator's values for the
//! root, each dependency's wiring templates over its parent's values, and
//! the outputs earlier tasks left in the store. Nothing here is persisted;
//! a resumed workflow renders them again from the sources.

use crate::dependencies::{Graph, Node, Wire};
use crate::run::Inputs;
use crate::store::Store;
use crate::template::{render_str, Delimiters};
use std::collections::BTreeMap;

/// Outputs of an installation: name → (value, sensitive).
pub type Outputs = BTreeMap<String, (String, bool)>;

/// How deep wiring may refer through parents before it is taken for a loop.
const MAX_DEPTH: usize = 64;

#[derive(Clone, Copy)]
enum Kind {
    Parameter,
    Credential,
}

struct Renderer<'a> {
    graph: &'a Graph,
    root: &'a Inputs,
    /// The root installation's parameters from its last successful run
    /// (non-sensitive ones), as a run of it would remember them.
    remembered: BTreeMap<String, String>,
    store: &'a Store,
}

/// The latest outputs of `installation`, sensitive ones opened (they travel
/// in memory to the task that takes them).
pub fn outputs_of(store: &Store, installation: &str) -> Result<Outputs, String> {
    Ok(store
        .outputs(installation, true)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(|o| Some((o.name, (o.value?, o.sensitive))))
        .collect())
}

impl Renderer<'_> {
    fn value(
        &self,
        ctx: &Node,
        kind: Kind,
        name: &str,
        depth: usize,
    ) -> Result<Option<(String, bool)>, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "wiring of {name:?} refers through more than {MAX_DEPTH} bundles"
            ));
        }
        // A credential, or a parameter its bundle declares sensitive, is a
        // secret wherever it goes.
        let secret = match kind {
            Kind::Credential => true,
            Kind::Parameter => ctx.sensitive_parameters.contains(name),
        };
        if ctx.id == self.graph.root {
            return Ok(match kind {
                Kind::Parameter => self
                    .root
                    .parameters
                    .get(name)
                    .or_else(|| self.remembered.get(name))
                    .or_else(|| ctx.defaults.get(name))
                    .map(|v| (v.clone(), secret)),
                Kind::Credential => self.root.credentials.get(name).map(|v| (v.clone(), true)),
            });
        }
        let wires = match kind {
            Kind::Parameter => &ctx.parameters,
            Kind::Credential => &ctx.credentials,
        };
        match wires.get(name) {
            Some(w) => self
                .render(w, depth + 1)
                .map(|(v, s)| Some((v, s || secret))),
            None => Ok(match kind {
                Kind::Parameter => ctx.defaults.get(name).map(|v| (v.clone(), secret)),
                Kind::Credential => None,
            }),
        }
    }

    fn render(&self, w: &Wire, depth: usize) -> Result<(String, bool), String> {
        self.render_in(&w.template, w.mustache, &w.context, None, depth)
    }

    /// Render `template` over node `context`'s values; `own` is the
    /// dependency whose outputs `outputs.NAME` names (promoted outputs).
    /// Returns the text and whether a sensitive output went into it.
    fn render_in(
        &self,
        template: &str,
        mustache: bool,
        context: &str,
        own: Option<&str>,
        depth: usize,
    ) -> Result<(String, bool), String> {
        let ctx = self
            .graph
            .node(context)
            .ok_or_else(|| format!("wiring names unknown node {context:?}"))?;
        let sensitive = std::cell::Cell::new(false);
        let output = |id: &str, o: &str| -> Result<String, String> {
            let (v, s) = outputs_of(self.store, id)?
                .remove(o)
                .ok_or_else(|| format!("installation {id:?} has no output {o:?}"))?;
            if s {
                sensitive.set(true);
            }
            Ok(v)
        };
        let lookup = |name: &str| -> Result<String, String> {
            let parts: Vec<&str> = name.split('.').collect();
            match parts.as_slice() {
                ["outputs", o] if own.is_some() => output(own.unwrap_or_default(), o),
                ["bundle", "parameters", p] => {
                    let (v, s) = self
                        .value(ctx, Kind::Parameter, p, depth)?
                        .ok_or_else(|| format!("parameter {p:?} of {} has no value", ctx.id))?;
                    if s {
                        sensitive.set(true);
                    }
                    Ok(v)
                }
                ["bundle", "credentials", c] => {
                    sensitive.set(true);
                    self.value(ctx, Kind::Credential, c, depth)?
                        .map(|(v, _)| v)
                        .ok_or_else(|| format!("credential {c:?} of {} was not given", ctx.id))
                }
                ["bundle", "dependencies", d, "outputs", o] => {
                    let id = ctx
                        .dependencies
                        .get(*d)
                        .ok_or_else(|| format!("{} has no dependency {d:?}", ctx.id))?;
                    output(id, o)
                }
                ["bundle", "name"] => Ok(ctx.bundle_name.clone()),
                ["bundle", "version"] => Ok(ctx.version.clone()),
                ["installation", "name"] => Ok(ctx.id.clone()),
                _ => Err("not a wiring variable".into()),
            }
        };
        let delims = Delimiters::mustache(mustache);
        let text = render_str(template, delims, &lookup, context).map_err(|e| e.to_string())?;
        Ok((text, sensitive.get()))
    }
}

/// The inputs of `node`'s task: `root` (the operator's values) for the
/// root, rendered wiring for a dependency; with the outputs of its own
/// dependencies either way.
pub fn for_node(
    graph: &Graph,
    node: &Node,
    root: &Inputs,
    store: &Store,
) -> Result<Inputs, String> {
    let remembered = store
        .last_parameters(&graph.root)
        .map_err(|e| e.to_string())?
        .and_then(|p| serde_json::from_str::<BTreeMap<String, serde_json::Value>>(&p).ok())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            serde_json::Value::Null => None,
            other => Some((k, other.to_string())),
        })
        .collect();
    let r = Renderer {
        graph,
        root,
        remembered,
        store,
    };
    let mut inputs = if node.id == graph.root {
        root.clone()
    } else {
        let mut i = Inputs::default();
        for (k, w) in &node.parameters {
            let (v, secret) = r.render(w, 0).map_err(|e| format!("parameter {k}: {e}"))?;
            if secret {
                // Made from a secret: masked in the dependency's logs and
                // never stored with its run, as if declared sensitive.
                i.secret_parameters.insert(k.clone());
            }
            i.parameters.insert(k.clone(), v);
        }
        for (k, w) in &node.credentials {
            let (v, _) = r.render(w, 0).map_err(|e| format!("credential {k}: {e}"))?;
            i.credentials.insert(k.clone(), v);
        }
        i
    };
    for (alias, id) in &node.dependencies {
        inputs
            .dependency_outputs
            .insert(alias.clone(), outputs_of(store, id)?);
    }
    // An uninstall promotes nothing: the bundle's outputs go with it.
    let promoting = node.action.as_deref() != Some("uninstall");
    for (name, p) in node.promoted.iter().filter(|_| promoting) {
        let value = r
            .render_in(&p.template, p.mustache, &node.id, Some(&p.from), 0)
            .map_err(|e| format!("promoted output {name}: {e}"))?;
        inputs.promoted_outputs.insert(name.clone(), value);
    }
    Ok(inputs)
}
