//! Solving a bundle's dependencies into a graph of installations.
//!
//! Nodes are installations, named as Porter names them: a dependency
//! `NAME` of installation `PARENT` is installed as `PARENT-NAME`; a shared
//! one (`sharing: {mode: true, group: {name: G}}`) as `NAME`, and every
//! bundle of group `G` that requires `NAME` uses that one installation.
//! Edges come from `requires` (a dependency runs before the bundle that
//! needs it) and from wiring (a dependency that takes another's output runs
//! after it). Everything that can be wrong is found here, before anything
//! runs: an unresolvable bundle, an interface the bundle does not provide,
//! wiring to something undeclared, ambiguous sharing, a cycle.

use super::wiring::{refs, Ref};
use super::DependencyError;
use crate::manifest::{Dependency, Manifest};
use crate::store::{InstallationStatus, Store};
use crate::template::Delimiters;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// How deep a chain of dependencies may go: deeper is taken for a cycle of
/// bundles that require each other under fresh installation names.
const MAX_DEPTH: usize = 32;

/// A dependency's bundle, resolved and read.
pub struct ResolvedBundle {
    /// `registry/repository@sha256:…`: what the workflow runs.
    pub pinned: String,
    /// Its manifest (declarations only are used).
    pub manifest: Manifest,
}

/// Where the solver gets bundles: the registry, through the trust policy
/// and the cache (the CLI provides it).
pub trait BundleSource {
    /// The bundle `reference` names, at the newest tag satisfying `version`
    /// when one is given.
    fn resolve(&self, reference: &str, version: Option<&str>) -> Result<ResolvedBundle, String>;
}

/// The bundle the operator named.
pub struct Root<'a> {
    /// Its installation.
    pub installation: &'a str,
    /// Where it is: a directory or a pinned reference.
    pub bundle: String,
    /// Its manifest.
    pub manifest: &'a Manifest,
    /// The action the operator asked for.
    pub action: &'a str,
}

/// A value handed to a dependency: a template rendered when its task
/// starts, over the values of node `context` (the bundle that requires it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wire {
    /// The text as written.
    pub template: String,
    /// The node whose parameters, credentials and dependencies it names.
    pub context: String,
    /// `{{ }}` delimiters (the parent's schema version).
    #[serde(default)]
    pub mustache: bool,
}

/// An output a dependency promotes to the node that requires it
/// (`outputs:` on a dependency): rendered when that node's task starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promoted {
    /// The template as written: `outputs.NAME` is the dependency's own.
    pub template: String,
    /// The dependency's node.
    pub from: String,
    /// `{{ }}` delimiters.
    #[serde(default)]
    pub mustache: bool,
}

/// Why a node is in the plan, and what happens to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "reason")]
pub enum Reason {
    /// The bundle the operator named.
    Root,
    /// Not installed: installed now.
    New,
    /// Installed already from the same bundle (or shared in its group):
    /// used as it is.
    Reused,
    /// Installed from another bundle digest: upgraded.
    Upgraded,
    /// Installed and upgraded along with its parent.
    Upgrade,
    /// Uninstalled along with its parent.
    Remove,
    /// Shared and still used by installations outside this graph: kept.
    Kept {
        /// The installations that still use it.
        used_by: Vec<String>,
    },
    /// Not installed: nothing to uninstall.
    Absent,
}

impl Reason {
    /// One word for tables.
    pub fn word(&self) -> &'static str {
        match self {
            Reason::Root => "root",
            Reason::New => "new",
            Reason::Reused => "reused",
            Reason::Upgraded => "upgraded",
            Reason::Upgrade => "upgrade",
            Reason::Remove => "remove",
            Reason::Kept { .. } => "kept",
            Reason::Absent => "absent",
        }
    }
}

/// One installation in the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// The installation's name; unique in the graph.
    pub id: String,
    /// The dependency names from the root to here (`["app", "db"]`).
    pub via: Vec<String>,
    /// `file:line:col` of the `requires` entry that brought it in.
    pub at: String,
    /// Where its bundle is: a pinned reference, or the root's directory.
    pub bundle: String,
    /// The bundle's name.
    pub bundle_name: String,
    /// The bundle's version.
    pub version: String,
    /// The action its task runs; `None` when nothing runs.
    pub action: Option<String>,
    /// Why it is here.
    #[serde(flatten)]
    pub reason: Reason,
    /// Its sharing group, when shared.
    pub sharing: Option<String>,
    /// The nodes that require it.
    pub required_by: Vec<String>,
    /// Parameters it receives.
    pub parameters: BTreeMap<String, Wire>,
    /// Credentials it receives (rendered only in memory, when it starts).
    pub credentials: BTreeMap<String, Wire>,
    /// Parameter defaults of its bundle, for a dependency of it that names
    /// one it was not given.
    pub defaults: BTreeMap<String, String>,
    /// Its bundle's sensitive parameters: a value wired from one is a secret.
    #[serde(default)]
    pub sensitive_parameters: BTreeSet<String>,
    /// Its own dependencies: name in its manifest → node.
    pub dependencies: BTreeMap<String, String>,
    /// Outputs its dependencies promote to it, by output name.
    #[serde(default)]
    pub promoted: BTreeMap<String, Promoted>,
    /// Nodes that must finish before it starts.
    pub after: BTreeSet<String>,
    /// Its topological level: every node of a level may run in parallel.
    pub level: usize,
}

/// A solved graph, in the order it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Graph {
    /// The root node's id.
    pub root: String,
    /// The action.
    pub action: String,
    /// Nodes by level, then name.
    pub nodes: Vec<Node>,
}

impl Graph {
    /// The node `id`.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Nodes in levels: `levels()[i]` may all run at once.
    pub fn levels(&self) -> Vec<Vec<&Node>> {
        let mut out: Vec<Vec<&Node>> = Vec::new();
        for n in &self.nodes {
            if out.len() <= n.level {
                out.resize_with(n.level + 1, Vec::new);
            }
            out[n.level].push(n);
        }
        out
    }

    /// True when the graph is the root alone.
    pub fn is_single(&self) -> bool {
        self.nodes.len() == 1
    }
}

fn scalar_default(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn defaults(m: &Manifest) -> BTreeMap<String, String> {
    m.parameters
        .iter()
        .filter(|p| !p.sensitive)
        .filter_map(|p| Some((p.name.clone(), scalar_default(p.default.as_ref()?)?)))
        .collect()
}

fn sensitive(m: &Manifest) -> BTreeSet<String> {
    m.parameters
        .iter()
        .filter(|p| p.sensitive)
        .map(|p| p.name.clone())
        .collect()
}

fn invalid(at: String, message: String) -> DependencyError {
    DependencyError::Invalid { at, message }
}

fn show_path(root: &str, via: &[String]) -> String {
    std::iter::once(root)
        .chain(via.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" → ")
}

/// Solve `root`'s dependencies: resolve every bundle through `source`, look
/// at existing installations in `store`, and order the nodes.
pub fn solve(
    root: &Root<'_>,
    source: &dyn BundleSource,
    store: &Store,
) -> Result<Graph, DependencyError> {
    let m = root.manifest;
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let mut manifests: BTreeMap<String, Manifest> = BTreeMap::new();
    // The bundle digests on the way down, to tell a cycle of bundles apart
    // from a deep graph.
    let mut chain: BTreeMap<String, Vec<String>> = BTreeMap::new();
    nodes.insert(
        root.installation.to_string(),
        Node {
            id: root.installation.to_string(),
            via: Vec::new(),
            at: m.file.display().to_string(),
            bundle: root.bundle.clone(),
            bundle_name: m.name.clone(),
            version: m.version.clone(),
            action: Some(root.action.to_string()),
            reason: Reason::Root,
            sharing: None,
            required_by: Vec::new(),
            parameters: BTreeMap::new(),
            credentials: BTreeMap::new(),
            defaults: defaults(m),
            sensitive_parameters: sensitive(m),
            dependencies: BTreeMap::new(),
            promoted: BTreeMap::new(),
            after: BTreeSet::new(),
            level: 0,
        },
    );
    manifests.insert(root.installation.to_string(), m.clone());
    chain.insert(root.installation.to_string(), vec![root.bundle.clone()]);
    let mut queue = VecDeque::from([root.installation.to_string()]);
    while let Some(pid) = queue.pop_front() {
        let pm = manifests[&pid].clone();
        if let Some((path, message)) = super::lint(&pm).into_iter().next() {
            return Err(invalid(
                pm.source.locate(&path),
                format!("{path}: {message}"),
            ));
        }
        let Some(deps) = pm.dependencies.as_ref() else {
            continue;
        };
        let parent_via = nodes[&pid].via.clone();
        for (i, d) in deps.requires.iter().enumerate() {
            let entry = format!("dependencies.requires[{i}]");
            let at = pm.source.locate(&entry);
            let mut via = parent_via.clone();
            via.push(d.name.clone());
            let path = show_path(root.installation, &via);
            if via.len() > MAX_DEPTH {
                return Err(invalid(
                    at,
                    format!("dependencies nest deeper than {MAX_DEPTH}: {path}"),
                ));
            }
            let group = sharing_group(d, &pm, i)?;
            let id = match &group {
                Some(_) => d.name.clone(),
                None => format!("{pid}-{}", d.name),
            };
            let resolved = source
                .resolve(&d.bundle.reference, d.bundle.version.as_deref())
                .map_err(|message| DependencyError::Resolve {
                    at: at.clone(),
                    path: path.clone(),
                    message,
                })?;
            if chain[&pid].contains(&resolved.pinned) {
                return Err(invalid(
                    at,
                    format!(
                        "dependency cycle: {path} requires {} again ({})",
                        resolved.manifest.name, resolved.pinned
                    ),
                ));
            }
            check_interface(d, &resolved.manifest, source, &at, &path)?;
            let dm = &resolved.manifest;
            let mut parameters = BTreeMap::new();
            for (k, v) in &d.parameters {
                if !dm.parameters.iter().any(|p| &p.name == k) {
                    return Err(invalid(
                        pm.source.locate(&format!("{entry}.parameters.{k}")),
                        format!(
                            "{path}: bundle {} declares no parameter {k:?} (it declares: {})",
                            dm.name,
                            list(dm.parameters.iter().map(|p| p.name.as_str()))
                        ),
                    ));
                }
                parameters.insert(k.clone(), wire(&v.0, &pid, &pm));
            }
            let mut credentials = BTreeMap::new();
            for (k, v) in &d.credentials {
                if !dm.credentials.iter().any(|c| &c.name == k) {
                    return Err(invalid(
                        pm.source.locate(&format!("{entry}.credentials.{k}")),
                        format!(
                            "{path}: bundle {} declares no credential {k:?} (it declares: {})",
                            dm.name,
                            list(dm.credentials.iter().map(|c| c.name.as_str()))
                        ),
                    ));
                }
                credentials.insert(k.clone(), wire(&v.0, &pid, &pm));
            }
            if let Some(existing) = nodes.get_mut(&id) {
                // The same installation required twice: one shared node,
                // when both say so and agree on what it is.
                let agree = group.is_some()
                    && existing.sharing == group
                    && existing.bundle == resolved.pinned
                    && same_templates(&existing.parameters, &parameters)
                    && same_templates(&existing.credentials, &credentials);
                if !agree {
                    return Err(invalid(
                        at,
                        format!(
                            "ambiguous sharing: installation {id:?} is required by {} ({}) and by {path}, \
                             and they differ in {}; share it (same sharing group, bundle and inputs) \
                             or give the dependencies different names",
                            show_path(root.installation, &existing.via),
                            existing.at,
                            difference(existing, &group, &resolved.pinned, &parameters, &credentials)
                        ),
                    ));
                }
                existing.required_by.push(pid.clone());
            } else {
                let mut chain_here = chain[&pid].clone();
                chain_here.push(resolved.pinned.clone());
                chain.insert(id.clone(), chain_here);
                nodes.insert(
                    id.clone(),
                    Node {
                        id: id.clone(),
                        via,
                        at: at.clone(),
                        bundle: resolved.pinned.clone(),
                        bundle_name: dm.name.clone(),
                        version: dm.version.clone(),
                        action: None,
                        reason: Reason::New,
                        sharing: group,
                        required_by: vec![pid.clone()],
                        parameters,
                        credentials,
                        defaults: defaults(dm),
                        sensitive_parameters: sensitive(dm),
                        dependencies: BTreeMap::new(),
                        promoted: BTreeMap::new(),
                        after: BTreeSet::new(),
                        level: 0,
                    },
                );
                manifests.insert(id.clone(), resolved.manifest);
                queue.push_back(id.clone());
            }
            // Outputs it promotes to the parent: its own must exist.
            let own = &manifests[&id];
            for (k, v) in &d.outputs {
                let delims = Delimiters::of(&pm);
                for r in super::wiring::promoted_refs(&v.0, delims).unwrap_or_default() {
                    if let Ref::Own(o) = r {
                        if !own.outputs.iter().any(|x| x.name == o) {
                            return Err(invalid(
                                pm.source.locate(&format!("{entry}.outputs.{k}")),
                                format!(
                                    "{path}: bundle {} declares no output {o:?} (it declares: {})",
                                    own.name,
                                    list(own.outputs.iter().map(|x| x.name.as_str()))
                                ),
                            ));
                        }
                    }
                }
            }
            let parent = nodes.get_mut(&pid).expect("parent node exists");
            parent.dependencies.insert(d.name.clone(), id.clone());
            for (k, v) in &d.outputs {
                parent.promoted.insert(
                    k.clone(),
                    Promoted {
                        template: v.0.clone(),
                        from: id.clone(),
                        mustache: pm.uses_mustache_delimiters(),
                    },
                );
            }
            parent.after.insert(id);
        }
        check_wiring(&pid, &pm, &mut nodes, &manifests, root.installation)?;
    }
    check_own_steps(&nodes, &manifests)?;
    add_transitive_edges(&mut nodes);
    decide(&mut nodes, root, store)?;
    if root.action == "uninstall" {
        reverse(&mut nodes);
    }
    let order = levels(&mut nodes, root.installation)?;
    Ok(Graph {
        root: root.installation.to_string(),
        action: root.action.to_string(),
        nodes: order
            .into_iter()
            .map(|id| nodes.remove(&id).expect("ordered node"))
            .collect(),
    })
}

fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = names.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn wire(template: &str, context: &str, m: &Manifest) -> Wire {
    Wire {
        template: template.to_string(),
        context: context.to_string(),
        mustache: m.uses_mustache_delimiters(),
    }
}

/// Two requirers agree on a shared node's inputs when they pass the same
/// text, and any template that names a value names it in the same bundle:
/// `${ bundle.parameters.p }` of two different parents may differ.
fn same_templates(a: &BTreeMap<String, Wire>, b: &BTreeMap<String, Wire>) -> bool {
    let literal = |w: &Wire| {
        let delims = Delimiters::mustache(w.mustache);
        crate::template::references(&serde_yaml::Value::String(w.template.clone()), delims)
            .is_empty()
    };
    a.len() == b.len()
        && a.iter().zip(b.iter()).all(|((ka, wa), (kb, wb))| {
            ka == kb && wa.template == wb.template && (literal(wa) || wa.context == wb.context)
        })
}

fn difference(
    n: &Node,
    group: &Option<String>,
    pinned: &str,
    parameters: &BTreeMap<String, Wire>,
    credentials: &BTreeMap<String, Wire>,
) -> String {
    let mut d = Vec::new();
    if group.is_none() || n.sharing != *group {
        d.push(format!(
            "sharing group ({} vs {})",
            n.sharing.as_deref().unwrap_or("not shared"),
            group.as_deref().unwrap_or("not shared")
        ));
    }
    if n.bundle != pinned {
        d.push(format!("bundle ({} vs {pinned})", n.bundle));
    }
    if !same_templates(&n.parameters, parameters) {
        d.push("parameters".into());
    }
    if !same_templates(&n.credentials, credentials) {
        d.push("credentials".into());
    }
    d.join(", ")
}

/// The sharing group of dependency `d` (the `i`th of `m`), if it is shared.
fn sharing_group(
    d: &Dependency,
    m: &Manifest,
    i: usize,
) -> Result<Option<String>, DependencyError> {
    match &d.sharing {
        Some(s) if s.mode => match &s.group {
            Some(g) if !g.name.trim().is_empty() => Ok(Some(g.name.clone())),
            _ => Err(invalid(
                m.source
                    .locate(&format!("dependencies.requires[{i}].sharing")),
                format!(
                    "dependency {}: `sharing.mode: true` needs `sharing.group.name`: bundles share \
                     a dependency only within a named group",
                    d.name
                ),
            )),
        },
        _ => Ok(None),
    }
}

/// What an interface asks for of one kind, and what the bundle declares:
/// (kind, wanted entries, declared (name, type)).
type Shape<'a> = (
    &'static str,
    &'a Vec<crate::manifest::InterfaceEntry>,
    Vec<(&'a String, Option<&'a String>)>,
);

/// A bundle satisfies an interface when it declares the interface's id in
/// `dependencies.provides.interface.id`, or declares at least the
/// parameters, credentials and outputs of the interface document (inline,
/// or a bundle's own when `interface.reference` names one).
fn check_interface(
    d: &Dependency,
    dm: &Manifest,
    source: &dyn BundleSource,
    at: &str,
    path: &str,
) -> Result<(), DependencyError> {
    let wanted_id = d
        .bundle
        .interface
        .as_ref()
        .and_then(|i| i.id.clone())
        .or_else(|| d.bundle.id.clone());
    let provided = dm
        .dependencies
        .as_ref()
        .and_then(|x| x.provides.as_ref())
        .and_then(|p| p.interface.as_ref())
        .map(|i| i.id.clone());
    let mut document = d.bundle.interface.as_ref().and_then(|i| i.document.clone());
    if let Some(reference) = d
        .bundle
        .interface
        .as_ref()
        .and_then(|i| i.reference.clone())
    {
        let shape = source
            .resolve(&reference, None)
            .map_err(|message| DependencyError::Resolve {
                at: at.to_string(),
                path: format!("{path} (interface {reference})"),
                message,
            })?
            .manifest;
        let mut doc = document.unwrap_or_default();
        let entry = |name: &str, kind: &Option<String>| crate::manifest::InterfaceEntry {
            name: name.to_string(),
            kind: kind.clone(),
        };
        doc.parameters
            .extend(shape.parameters.iter().map(|p| entry(&p.name, &p.kind)));
        doc.credentials
            .extend(shape.credentials.iter().map(|c| entry(&c.name, &None)));
        doc.outputs
            .extend(shape.outputs.iter().map(|o| entry(&o.name, &o.kind)));
        document = Some(doc);
    }
    let id_matches = match (&wanted_id, &provided) {
        (Some(w), Some(p)) => w == p,
        _ => false,
    };
    if let Some(doc) = &document {
        let mut missing = Vec::new();
        let declared: [Shape<'_>; 3] = [
            (
                "parameter",
                &doc.parameters,
                dm.parameters
                    .iter()
                    .map(|p| (&p.name, p.kind.as_ref()))
                    .collect(),
            ),
            (
                "credential",
                &doc.credentials,
                dm.credentials.iter().map(|c| (&c.name, None)).collect(),
            ),
            (
                "output",
                &doc.outputs,
                dm.outputs
                    .iter()
                    .map(|o| (&o.name, o.kind.as_ref()))
                    .collect(),
            ),
        ];
        for (kind, wanted, have) in declared {
            for w in wanted {
                match have.iter().find(|(n, _)| **n == w.name) {
                    None => missing.push(format!("{kind} {}", w.name)),
                    Some((_, t)) => {
                        if let Some(want) = &w.kind {
                            if t.map(String::as_str) != Some(want.as_str()) {
                                missing.push(format!(
                                    "{kind} {} of type {want} (it declares {})",
                                    w.name,
                                    t.map(String::as_str).unwrap_or("no type")
                                ));
                            }
                        }
                    }
                }
            }
        }
        if !missing.is_empty() && !id_matches {
            return Err(invalid(
                at.to_string(),
                format!(
                    "{path}: bundle {} does not satisfy the interface: it lacks {}",
                    dm.name,
                    missing.join(", ")
                ),
            ));
        }
        return Ok(());
    }
    if let Some(w) = wanted_id {
        if !id_matches {
            return Err(invalid(
                at.to_string(),
                format!(
                    "{path}: bundle {} does not provide interface {w:?} (it declares {}); \
                     pick a bundle whose `dependencies.provides.interface.id` is {w:?}, or describe \
                     the interface with `interface.document`",
                    dm.name,
                    provided
                        .map(|p| format!("interface {p:?}"))
                        .unwrap_or_else(|| "no interface".into())
                ),
            ));
        }
    }
    Ok(())
}

/// Wiring, where it needs the resolved bundles: an output one dependency
/// takes from another must be declared by that bundle, and makes an edge.
/// (What the parent declares, which dependencies exist and self-wiring
/// were checked by [`super::lint`] before.)
fn check_wiring(
    pid: &str,
    pm: &Manifest,
    nodes: &mut BTreeMap<String, Node>,
    manifests: &BTreeMap<String, Manifest>,
    root: &str,
) -> Result<(), DependencyError> {
    let Some(deps) = pm.dependencies.as_ref() else {
        return Ok(());
    };
    let delims = Delimiters::of(pm);
    let siblings = nodes[pid].dependencies.clone();
    for (i, d) in deps.requires.iter().enumerate() {
        let this = siblings[&d.name].clone();
        let inputs = d
            .parameters
            .iter()
            .map(|(k, v)| ("parameters", k, v))
            .chain(d.credentials.iter().map(|(k, v)| ("credentials", k, v)));
        for (kind, k, v) in inputs {
            for r in refs(&v.0, delims).unwrap_or_default() {
                let Ref::Output { dependency, output } = r else {
                    continue;
                };
                let Some(from) = siblings.get(&dependency) else {
                    continue;
                };
                let fm = &manifests[from];
                if !fm.outputs.iter().any(|o| o.name == output) {
                    return Err(invalid(
                        pm.source
                            .locate(&format!("dependencies.requires[{i}].{kind}.{k}")),
                        format!(
                            "{}: dependency {dependency} (bundle {}) declares no output {output:?} (it declares: {})",
                            show_path(root, &nodes[&this].via),
                            fm.name,
                            list(fm.outputs.iter().map(|o| o.name.as_str()))
                        ),
                    ));
                }
                nodes
                    .get_mut(&this)
                    .expect("sibling node")
                    .after
                    .insert(from.clone());
            }
        }
    }
    Ok(())
}

/// A bundle's own steps may name its dependencies' outputs: each must be an
/// output that dependency's bundle declares (lint checked the names).
fn check_own_steps(
    nodes: &BTreeMap<String, Node>,
    manifests: &BTreeMap<String, Manifest>,
) -> Result<(), DependencyError> {
    for (id, m) in manifests {
        let delims = Delimiters::of(m);
        for steps in m.actions.values() {
            for step in steps {
                for name in crate::template::references(&step.body, delims) {
                    let parts: Vec<&str> = name.split('.').collect();
                    if let ["bundle", "dependencies", dep, "outputs", out] = parts.as_slice() {
                        let at = m.source.locate(&step.path);
                        let Some(node) = nodes[id].dependencies.get(*dep) else {
                            continue;
                        };
                        let dm = &manifests[node];
                        if !dm.outputs.iter().any(|o| o.name == *out) {
                            return Err(invalid(
                                at,
                                format!(
                                    "{name}: dependency {dep} (bundle {}) declares no output {out:?} (it declares: {})",
                                    dm.name,
                                    list(dm.outputs.iter().map(|o| o.name.as_str()))
                                ),
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// A node that takes its parent's parameter, where the parent took that
/// parameter from a sibling's output, must also wait for that sibling.
fn add_transitive_edges(nodes: &mut BTreeMap<String, Node>) {
    fn sources(nodes: &BTreeMap<String, Node>, w: &Wire, out: &mut BTreeSet<String>, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let delims = Delimiters::mustache(w.mustache);
        let Some(ctx) = nodes.get(&w.context) else {
            return;
        };
        for r in refs(&w.template, delims).unwrap_or_default() {
            match r {
                Ref::Output { dependency, .. } => {
                    if let Some(n) = ctx.dependencies.get(&dependency) {
                        out.insert(n.clone());
                    }
                }
                Ref::Parameter(p) => {
                    if let Some(w2) = ctx.parameters.get(&p) {
                        sources(nodes, w2, out, depth + 1);
                    }
                }
                Ref::Credential(c) => {
                    if let Some(w2) = ctx.credentials.get(&c) {
                        sources(nodes, w2, out, depth + 1);
                    }
                }
                Ref::Metadata(_) | Ref::Own(_) => {}
            }
        }
    }
    let ids: Vec<String> = nodes.keys().cloned().collect();
    for id in ids {
        let mut extra = BTreeSet::new();
        for w in nodes[&id]
            .parameters
            .values()
            .chain(nodes[&id].credentials.values())
        {
            sources(nodes, w, &mut extra, 0);
        }
        extra.remove(&id);
        nodes.get_mut(&id).expect("node").after.extend(extra);
    }
}

/// What happens to each dependency, from the action and the installations
/// that exist.
fn decide(
    nodes: &mut BTreeMap<String, Node>,
    root: &Root<'_>,
    store: &Store,
) -> Result<(), DependencyError> {
    let in_graph: BTreeSet<String> = nodes.keys().cloned().collect();
    for node in nodes.values_mut() {
        if node.reason == Reason::Root {
            continue;
        }
        let existing = store.installation(&node.id)?;
        let group = store.sharing_group(&node.id)?;
        let installed = existing
            .as_ref()
            .is_some_and(|i| i.status == InstallationStatus::Installed);
        let path = show_path(root.installation, &node.via);
        if let (Some(want), Some(i)) = (&node.sharing, &existing) {
            if i.status != InstallationStatus::Uninstalled && group.as_ref() != Some(want) {
                return Err(invalid(
                    node.at.clone(),
                    format!(
                        "ambiguous sharing: {path} would share installation {:?} in group {want:?}, \
                         but that installation exists {} (bundle {}); rename the dependency or \
                         uninstall that installation",
                        node.id,
                        match &group {
                            Some(g) => format!("in group {g:?}"),
                            None => "outside any sharing group".into(),
                        },
                        i.bundle
                    ),
                ));
            }
        }
        if let Some(i) = existing
            .as_ref()
            .filter(|i| i.status != InstallationStatus::Uninstalled && i.bundle != node.bundle_name)
        {
            return Err(invalid(
                node.at.clone(),
                format!(
                    "{path}: installation {:?} exists and was made from bundle {}, not {}; \
                     uninstall or delete it (`wasmix installation delete {}`), or rename the dependency",
                    node.id, i.bundle, node.bundle_name, node.id
                ),
            ));
        }
        let (action, reason) = match root.action {
            "install" | "upgrade" => match &existing {
                Some(i) if installed && (node.sharing.is_some() || i.manifest == node.bundle) => {
                    if root.action == "upgrade" && node.sharing.is_none() {
                        (Some("upgrade"), Reason::Upgrade)
                    } else {
                        (None, Reason::Reused)
                    }
                }
                Some(_) if installed => (Some("upgrade"), Reason::Upgraded),
                Some(i) if i.status == InstallationStatus::Failed && i.last_action != "install" => {
                    (Some("upgrade"), Reason::Upgraded)
                }
                _ => (Some("install"), Reason::New),
            },
            "uninstall" => {
                if !existing
                    .as_ref()
                    .is_some_and(|i| i.status != InstallationStatus::Uninstalled)
                {
                    (None, Reason::Absent)
                } else {
                    let others: Vec<String> = store
                        .parents(&node.id)?
                        .into_iter()
                        .filter(|p| !in_graph.contains(p))
                        .filter(|p| {
                            store
                                .installation(p)
                                .ok()
                                .flatten()
                                .is_some_and(|i| i.status != InstallationStatus::Uninstalled)
                        })
                        .collect();
                    if others.is_empty() {
                        (Some("uninstall"), Reason::Remove)
                    } else {
                        (None, Reason::Kept { used_by: others })
                    }
                }
            }
            custom => {
                if !installed {
                    return Err(invalid(
                        node.at.clone(),
                        format!(
                            "{path}: {custom} needs the dependency installed, and installation {:?} is not; \
                             install the bundle first",
                            node.id
                        ),
                    ));
                }
                (None, Reason::Reused)
            }
        };
        node.action = action.map(str::to_string);
        node.reason = reason;
        // An installed dependency runs the bundle it was installed from
        // when it is uninstalled or kept as it is.
        if let (Some(i), true) = (
            &existing,
            matches!(
                node.reason,
                Reason::Remove | Reason::Reused | Reason::Kept { .. }
            ),
        ) {
            if !i.manifest.is_empty() {
                node.bundle = i.manifest.clone();
            }
        }
    }
    freeze_subtrees(nodes, root.installation);
    Ok(())
}

/// What a kept or reused installation requires stays as it is too: it is
/// still in use, by that installation.
fn freeze_subtrees(nodes: &mut BTreeMap<String, Node>, root: &str) {
    let frozen: Vec<String> = nodes
        .values()
        .filter(|n| matches!(n.reason, Reason::Kept { .. } | Reason::Reused))
        .map(|n| n.id.clone())
        .collect();
    for top in frozen {
        let mut queue: VecDeque<String> = nodes[&top].dependencies.values().cloned().collect();
        let mut seen = BTreeSet::new();
        while let Some(id) = queue.pop_front() {
            if id == root || !seen.insert(id.clone()) {
                continue;
            }
            let Some(n) = nodes.get_mut(&id) else {
                continue;
            };
            match &n.reason {
                Reason::Remove => {
                    n.reason = Reason::Kept {
                        used_by: vec![top.clone()],
                    };
                    n.action = None;
                }
                Reason::Upgrade | Reason::Upgraded => {
                    n.reason = Reason::Reused;
                    n.action = None;
                }
                _ => {}
            }
            queue.extend(n.dependencies.values().cloned());
        }
    }
}

/// Uninstall runs the graph backwards: a bundle before what it needs.
fn reverse(nodes: &mut BTreeMap<String, Node>) {
    let mut before: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for n in nodes.values() {
        for a in &n.after {
            before.entry(a.clone()).or_default().insert(n.id.clone());
        }
    }
    for n in nodes.values_mut() {
        n.after = before.remove(&n.id).unwrap_or_default();
    }
}

/// Topological levels (Kahn's algorithm); a cycle is refused with its path.
fn levels(nodes: &mut BTreeMap<String, Node>, root: &str) -> Result<Vec<String>, DependencyError> {
    let mut level: BTreeMap<String, usize> = BTreeMap::new();
    let mut remaining: BTreeSet<String> = nodes.keys().cloned().collect();
    let mut current = 0;
    while !remaining.is_empty() {
        let ready: Vec<String> = remaining
            .iter()
            .filter(|id| nodes[*id].after.iter().all(|a| level.contains_key(a)))
            .cloned()
            .collect();
        if ready.is_empty() {
            return Err(cycle(nodes, &remaining, root));
        }
        for id in ready {
            remaining.remove(&id);
            level.insert(id, current);
        }
        current += 1;
    }
    let mut order: Vec<(usize, String)> = level.into_iter().map(|(id, l)| (l, id)).collect();
    order.sort();
    for (l, id) in &order {
        nodes.get_mut(id).expect("node").level = *l;
    }
    Ok(order.into_iter().map(|(_, id)| id).collect())
}

fn cycle(
    nodes: &BTreeMap<String, Node>,
    remaining: &BTreeSet<String>,
    root: &str,
) -> DependencyError {
    // Every remaining node waits on another remaining node: walk until one
    // repeats.
    let mut walk: Vec<String> = vec![remaining.iter().next().cloned().unwrap_or_default()];
    loop {
        let last = walk.last().cloned().unwrap_or_default();
        let Some(next) = nodes
            .get(&last)
            .and_then(|n| n.after.iter().find(|a| remaining.contains(*a)))
            .cloned()
        else {
            break;
        };
        if let Some(start) = walk.iter().position(|w| *w == next) {
            let mut path: Vec<String> = walk[start..].to_vec();
            path.push(next.clone());
            let at = nodes.get(&next).map(|n| n.at.clone()).unwrap_or_default();
            return invalid(
                at,
                format!(
                    "dependency cycle: {} (each waits for the next's outputs)",
                    path.join(" → ")
                ),
            );
        }
        walk.push(next);
    }
    invalid(root.to_string(), "dependency cycle".into())
}
