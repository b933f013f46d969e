//! What a dependency's parameter or credential template refers to.
//!
//! A value in `dependencies.requires[].parameters` (or `credentials`) is
//! literal text or a template over the parent bundle's values:
//! `${ bundle.parameters.P }`, `${ bundle.credentials.C }`,
//! `${ bundle.dependencies.D.outputs.O }` (another dependency's output —
//! an edge in the graph), `${ bundle.name }`, `${ bundle.version }`,
//! `${ installation.name }`.

use crate::template::Delimiters;

/// One variable a wiring template names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    /// A parameter of the parent bundle.
    Parameter(String),
    /// A credential of the parent bundle.
    Credential(String),
    /// An output of another dependency of the parent.
    Output {
        /// The dependency's name in the parent's `requires`.
        dependency: String,
        /// Its output.
        output: String,
    },
    /// The parent's name, version or installation name.
    Metadata(String),
    /// `outputs.NAME`: an output of the dependency itself, in the
    /// templates of outputs it promotes to its parent.
    Own(String),
}

/// Every variable `template` names, or the first it cannot name, with what
/// it may name instead.
pub fn refs(template: &str, delims: Delimiters) -> Result<Vec<Ref>, String> {
    let value = serde_yaml::Value::String(template.to_string());
    crate::template::references(&value, delims)
        .into_iter()
        .map(|name| classify(&name))
        .collect()
}

/// Like [`refs`], for the template of an output a dependency promotes to
/// its parent: it may also name `outputs.NAME`, the dependency's own.
pub fn promoted_refs(template: &str, delims: Delimiters) -> Result<Vec<Ref>, String> {
    let value = serde_yaml::Value::String(template.to_string());
    crate::template::references(&value, delims)
        .into_iter()
        .map(
            |name| match name.split('.').collect::<Vec<_>>().as_slice() {
                ["outputs", o] => Ok(Ref::Own(o.to_string())),
                _ => classify(&name),
            },
        )
        .collect()
}

fn classify(name: &str) -> Result<Ref, String> {
    let parts: Vec<&str> = name.split('.').collect();
    Ok(match parts.as_slice() {
        ["bundle", "parameters", p] => Ref::Parameter(p.to_string()),
        ["bundle", "credentials", c] => Ref::Credential(c.to_string()),
        ["bundle", "dependencies", d, "outputs", o] => Ref::Output {
            dependency: d.to_string(),
            output: o.to_string(),
        },
        ["bundle", "name"] | ["bundle", "version"] | ["installation", "name"] => {
            Ref::Metadata(name.to_string())
        }
        ["bundle", "outputs", _] => {
            return Err(format!(
                "{name}: a bundle's own outputs do not exist before its dependencies run; \
                 pass another dependency's output (bundle.dependencies.NAME.outputs.OUT)"
            ))
        }
        _ => {
            return Err(format!(
                "{name}: a dependency's inputs may name bundle.parameters.*, bundle.credentials.*, \
                 bundle.dependencies.NAME.outputs.*, bundle.name, bundle.version and installation.name"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_reference_is_told_apart() {
        let r = refs(
            "${ bundle.parameters.p }:${bundle.credentials.c}/${ bundle.dependencies.infra.outputs.ip }-${installation.name}",
            Delimiters::Dollar,
        )
        .unwrap();
        assert_eq!(
            r,
            [
                Ref::Parameter("p".into()),
                Ref::Credential("c".into()),
                Ref::Output {
                    dependency: "infra".into(),
                    output: "ip".into()
                },
                Ref::Metadata("installation.name".into()),
            ]
        );
        assert!(refs("plain text", Delimiters::Dollar).unwrap().is_empty());
    }

    #[test]
    fn own_outputs_and_unknown_names_are_refused_with_what_to_use() {
        let e = refs("${ bundle.outputs.x }", Delimiters::Dollar).unwrap_err();
        assert!(e.contains("bundle.dependencies.NAME.outputs.OUT"), "{e}");
        let e = refs("${ env.HOME }", Delimiters::Dollar).unwrap_err();
        assert!(e.contains("bundle.parameters.*"), "{e}");
    }
}
