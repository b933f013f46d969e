//! Environment: host variables the mixin may read (`env:`), and parameters
//! passed to it as variables (`parameters:`, named as Porter names them).

use super::{CapabilityKind, GrantBuilder, GrantError};
use crate::manifest::{applies, Parameter, ParameterGrantSpec};

/// The `env:` entry of a `grants:` block.
pub(super) fn add(b: &mut GrantBuilder<'_>, names: &[String]) -> Result<(), GrantError> {
    for name in names {
        if !valid_name(name) {
            return Err(b.error(
                ".env",
                format!("invalid environment variable name {name:?}"),
            ));
        }
        if b.grant.env.insert(name.clone()) {
            b.note(CapabilityKind::Env, name.clone());
        }
    }
    Ok(())
}

/// A name a process environment can hold.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['=', '\0'])
}

/// The `parameters:` entry of a `grants:` block: `all` that apply to the
/// action, or declared names.
pub(super) fn add_parameters(
    b: &mut GrantBuilder<'_>,
    spec: Option<&ParameterGrantSpec>,
) -> Result<(), GrantError> {
    let params: Vec<&Parameter> = match spec {
        None => Vec::new(),
        Some(ParameterGrantSpec::Keyword(_)) => b
            .manifest
            .parameters
            .iter()
            .filter(|p| applies(&p.apply_to, b.action))
            .collect(),
        Some(ParameterGrantSpec::List(names)) => names
            .iter()
            .map(|n| {
                let p = b
                    .manifest
                    .parameters
                    .iter()
                    .find(|p| &p.name == n)
                    .ok_or_else(|| {
                        b.error(
                            ".parameters",
                            format!("parameter {n:?} is not declared under `parameters:`"),
                        )
                    })?;
                if !applies(&p.apply_to, b.action) {
                    return Err(b.error(
                        ".parameters",
                        format!("parameter {n:?} does not apply to action {:?}", b.action),
                    ));
                }
                Ok(p)
            })
            .collect::<Result<_, _>>()?,
    };
    for p in params {
        let env = p.env.clone().unwrap_or_else(|| param_env_name(&p.name));
        if b.grant
            .parameters
            .insert(env.clone(), p.name.clone())
            .is_none()
        {
            b.note(CapabilityKind::Parameter, format!("{} as ${env}", p.name));
        }
        if let Some(path) = &p.path {
            super::destinations::add(
                b,
                path,
                super::destinations::Source::Parameter(p.name.clone()),
            );
        }
    }
    Ok(())
}

/// The environment variable Porter uses for a parameter: upper case, with
/// `-` and `.` as `_`.
pub fn param_env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '-' || c == '.' {
                '_'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porter_parameter_names() {
        assert_eq!(param_env_name("db-name"), "DB_NAME");
        assert_eq!(param_env_name("a.b"), "A_B");
        assert_eq!(param_env_name("Port"), "PORT");
    }

    #[test]
    fn variable_names() {
        assert!(valid_name("KUBECONFIG"));
        assert!(!valid_name(""));
        assert!(!valid_name("A=B"));
        assert!(!valid_name("A\0"));
    }
}
