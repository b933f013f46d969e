//! Credentials: a step holds a credential by handle (it may pass it to the
//! driver) or, when granted `read: true` or when a template renders it, may
//! read its bytes too.

use super::{CapabilityKind, GrantBuilder, GrantError, Origin};
use crate::manifest::{applies, CredentialGrantItem, CredentialGrantSpec, CredentialKeyword};

/// How a step may use a credential. `Read` includes `Use`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CredentialAccess {
    /// Obtain a handle and pass it to the driver; never see the bytes.
    Use,
    /// Read the bytes too (`reveal`, or a template that renders it).
    Read,
}

impl CredentialAccess {
    fn label(self) -> &'static str {
        match self {
            CredentialAccess::Use => "use",
            CredentialAccess::Read => "read",
        }
    }
}

/// The `credentials:` entry of a `grants:` block: `all`, `matching` (those
/// the step's templates name) or a list.
pub(super) fn add(
    b: &mut GrantBuilder<'_>,
    spec: Option<&CredentialGrantSpec>,
    referenced: &[String],
) -> Result<(), GrantError> {
    match spec {
        None => Ok(()),
        Some(CredentialGrantSpec::Keyword(CredentialKeyword::All)) => {
            let names: Vec<String> = b
                .manifest
                .credentials
                .iter()
                .filter(|c| applies(&c.apply_to, b.action))
                .map(|c| c.name.clone())
                .collect();
            for name in &names {
                grant(b, name, CredentialAccess::Use, "")?;
            }
            Ok(())
        }
        Some(CredentialGrantSpec::Keyword(CredentialKeyword::Matching)) => {
            for name in referenced {
                grant(b, name, CredentialAccess::Use, "")?;
            }
            Ok(())
        }
        Some(CredentialGrantSpec::List(items)) => {
            for item in items {
                match item {
                    CredentialGrantItem::Name(n) => {
                        grant(b, n, CredentialAccess::Use, ".credentials")?
                    }
                    CredentialGrantItem::Detailed(d) => {
                        let access = if d.read {
                            CredentialAccess::Read
                        } else {
                            CredentialAccess::Use
                        };
                        match &d.from {
                            None => grant(b, &d.name, access, ".credentials")?,
                            Some(from) => derive(b, &d.name, from, access)?,
                        }
                        if !d.to.is_empty() {
                            bind(b, &d.name, &d.to)?;
                        }
                    }
                }
            }
            Ok(())
        }
    }
}

/// Bind credential `name` to `programs`: the sandbox passes it (by handle
/// or by its `env:` destination) to those only. A credential the step may
/// read, or one with a `path:` destination (a file every command of the
/// step can open), cannot be bound: the binding would promise what it
/// cannot keep.
fn bind(b: &mut GrantBuilder<'_>, name: &str, programs: &[String]) -> Result<(), GrantError> {
    if b.manifest
        .credentials
        .iter()
        .any(|c| c.name == name && c.path.is_some())
    {
        return Err(b.error(
            ".credentials",
            format!("credential {name:?} has a `path:` destination, a file every command of the step can read; it cannot be bound with `to:`"),
        ));
    }
    let set = b.grant.bound.entry(name.to_string()).or_default();
    set.extend(programs.iter().cloned());
    let list = set.iter().cloned().collect::<Vec<_>>().join(", ");
    b.note(
        CapabilityKind::Credential,
        format!("{name} bound to {list}"),
    );
    Ok(())
}

/// Once every grant of the step is known: a bound credential the mixin
/// may read (`read: true`, or a template of the step renders it) would not
/// stay bound, so it is refused.
pub(super) fn check_bindings(b: &mut GrantBuilder<'_>) -> Result<(), GrantError> {
    let readable: Vec<String> = b
        .grant
        .bound
        .keys()
        .filter(|n| b.grant.credentials.get(*n) == Some(&CredentialAccess::Read))
        .cloned()
        .collect();
    match readable.first() {
        None => Ok(()),
        Some(name) => Err(b.error(
            ".credentials",
            format!(
                "credential {name:?} is bound with `to:` but the mixin can read it (`read: true`, or a template of the step renders it); a binding would not hold: pass it by its `env:` destination instead of a template, or drop `to:`"
            ),
        )),
    }
}

/// A credential for this step whose value is an earlier step's output
/// (`steps.ID.outputs.NAME`): checked here against the action's steps.
fn derive(
    b: &mut GrantBuilder<'_>,
    name: &str,
    from: &str,
    access: CredentialAccess,
) -> Result<(), GrantError> {
    let sub = ".credentials";
    if b.manifest.credentials.iter().any(|c| c.name == name) {
        return Err(b.error(
            sub,
            format!("credential {name:?} is declared under `credentials:`; a credential `from` a step output needs a name of its own"),
        ));
    }
    let parts: Vec<&str> = from.split('.').collect();
    let ["steps", id, "outputs", output] = parts.as_slice() else {
        return Err(b.error(
            sub,
            format!("`from: {from}` must name a step output: steps.ID.outputs.NAME"),
        ));
    };
    let earlier = b
        .manifest
        .action(b.action)
        .unwrap_or(&[])
        .iter()
        .take_while(|s| s.index < b.step.index)
        .any(|s| s.id.as_deref() == Some(*id));
    if !earlier {
        return Err(b.error(
            sub,
            format!(
                "`from: {from}`: no earlier step of {} has id {id:?}",
                b.action
            ),
        ));
    }
    b.grant
        .derived
        .insert(name.to_string(), (id.to_string(), output.to_string()));
    hold(b, name, access, &format!(" from {from}"));
    Ok(())
}

/// Record that the step holds credential `name` with `access` (a wider
/// access replaces a narrower one), and note it for `explain`.
fn hold(b: &mut GrantBuilder<'_>, name: &str, access: CredentialAccess, what_else: &str) {
    let entry = b
        .grant
        .credentials
        .entry(name.to_string())
        .or_insert(access);
    if access > *entry {
        *entry = access;
    }
    b.note(
        CapabilityKind::Credential,
        format!("{name} ({}){what_else}", access.label()),
    );
}

/// Credentials the step's templates render: rendering puts the bytes into
/// the step, so that is reading.
pub(super) fn add_referenced(
    b: &mut GrantBuilder<'_>,
    referenced: &[String],
    step_path: &str,
) -> Result<(), GrantError> {
    for name in referenced {
        b.at(
            Origin::Template(format!("bundle.credentials.{name}")),
            step_path.to_string(),
        );
        grant(b, name, CredentialAccess::Read, "")?;
    }
    Ok(())
}

/// Grant one declared credential; a wider access replaces a narrower one.
fn grant(
    b: &mut GrantBuilder<'_>,
    name: &str,
    access: CredentialAccess,
    sub: &str,
) -> Result<(), GrantError> {
    let Some(def) = b.manifest.credentials.iter().find(|c| c.name == name) else {
        return Err(b.error(
            sub,
            format!("credential {name:?} is not declared under `credentials:`"),
        ));
    };
    if !applies(&def.apply_to, b.action) {
        return Err(b.error(
            sub,
            format!(
                "credential {name:?} does not apply to action {:?} (applyTo: {})",
                b.action,
                def.apply_to.join(", ")
            ),
        ));
    }
    if let Some(var) = &def.env {
        let first = b
            .grant
            .credential_env
            .insert(var.clone(), name.to_string())
            .is_none();
        if first {
            b.note(
                CapabilityKind::Credential,
                format!("{name} as ${var} for the step's commands"),
            );
        }
    }
    if let Some(path) = &def.path {
        super::destinations::add(
            b,
            path,
            super::destinations::Source::Credential(name.to_string()),
        );
    }
    hold(b, name, access, "");
    Ok(())
}
