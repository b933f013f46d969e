//! Porter's template variables, rendered inside parsed YAML values.
//!
//! Porter renders templates over the manifest's raw text, so a parameter
//! holding `a: b`, `#` or a newline can change the YAML structure (Porter
//! issues #851, #846, #783). Here templates are rendered inside each string
//! value of an already-parsed step: whatever a variable holds, it stays one
//! string value.

use serde_yaml::Value;

/// The template delimiters of a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delimiters {
    /// `${ name }`: schemaVersion 1.0.0 and later.
    Dollar,
    /// `{{ name }}`: schemaVersion 1.0.0-alpha.1 or none.
    Mustache,
}

impl Delimiters {
    /// The delimiters `manifest`'s schema version uses.
    pub fn of(manifest: &crate::manifest::Manifest) -> Delimiters {
        if manifest.uses_mustache_delimiters() {
            Delimiters::Mustache
        } else {
            Delimiters::Dollar
        }
    }

    /// `{{ }}` when `yes`, `${ }` otherwise (as a wiring template records
    /// its manifest's choice).
    pub fn mustache(yes: bool) -> Delimiters {
        if yes {
            Delimiters::Mustache
        } else {
            Delimiters::Dollar
        }
    }

    fn open(self) -> &'static str {
        match self {
            Delimiters::Dollar => "${",
            Delimiters::Mustache => "{{",
        }
    }
    fn close(self) -> &'static str {
        match self {
            Delimiters::Dollar => "}",
            Delimiters::Mustache => "}}",
        }
    }
}

/// Why a template could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A variable has no value here.
    #[error("{path}: unknown template variable `{name}`{hint}")]
    Missing {
        /// Path of the value inside the rendered document.
        path: String,
        /// The variable.
        name: String,
        /// Why, or what would provide it.
        hint: String,
    },
    /// An opening delimiter without a closing one.
    #[error("{path}: unclosed template: {text:?} has `{open}` without a matching `{close}`")]
    Unclosed {
        /// Path of the value.
        path: String,
        /// The offending text (never a variable's value).
        text: String,
        /// Opening delimiter.
        open: &'static str,
        /// Closing delimiter.
        close: &'static str,
    },
}

/// A variable's value, or why it has none (for the error message).
pub type Lookup<'a> = dyn Fn(&str) -> Result<String, String> + 'a;

/// Render every string value of `value` (keys are left as written). `path`
/// names `value` in errors.
pub fn render(
    value: &Value,
    delims: Delimiters,
    lookup: &Lookup<'_>,
    path: &str,
) -> Result<Value, TemplateError> {
    Ok(match value {
        Value::String(s) => Value::String(render_str(s, delims, lookup, path)?),
        Value::Sequence(items) => Value::Sequence(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| render(v, delims, lookup, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Mapping(m) => {
            let mut out = serde_yaml::Mapping::new();
            for (k, v) in m {
                let key = k
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{k:?}"));
                out.insert(
                    k.clone(),
                    render(v, delims, lookup, &crate::manifest::join(path, &key))?,
                );
            }
            Value::Mapping(out)
        }
        Value::Tagged(t) => render(&t.value, delims, lookup, path)?,
        other => other.clone(),
    })
}

/// Render one string.
pub fn render_str(
    text: &str,
    delims: Delimiters,
    lookup: &Lookup<'_>,
    path: &str,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(delims.open()) {
        out.push_str(&rest[..start]);
        let after = &rest[start + delims.open().len()..];
        let Some(end) = after.find(delims.close()) else {
            return Err(TemplateError::Unclosed {
                path: path.to_string(),
                text: text.to_string(),
                open: delims.open(),
                close: delims.close(),
            });
        };
        let name = after[..end].trim();
        let value = lookup(name).map_err(|hint| TemplateError::Missing {
            path: path.to_string(),
            name: name.to_string(),
            hint: if hint.is_empty() {
                hint
            } else {
                format!(": {hint}")
            },
        })?;
        out.push_str(&value);
        rest = &after[end + delims.close().len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Every variable referred to anywhere in `value`, in order, without repeats.
pub fn references(value: &Value, delims: Delimiters) -> Vec<String> {
    let mut names = Vec::new();
    collect(value, delims, &mut names);
    names
}

fn collect(value: &Value, delims: Delimiters, names: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(start) = rest.find(delims.open()) {
                let after = &rest[start + delims.open().len()..];
                let Some(end) = after.find(delims.close()) else {
                    return;
                };
                let name = after[..end].trim().to_string();
                if !names.contains(&name) {
                    names.push(name);
                }
                rest = &after[end + delims.close().len()..];
            }
        }
        Value::Sequence(items) => items.iter().for_each(|v| collect(v, delims, names)),
        Value::Mapping(m) => m.values().for_each(|v| collect(v, delims, names)),
        Value::Tagged(t) => collect(&t.value, delims, names),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Result<String, String> {
        match name {
            "bundle.parameters.tricky" => Ok("a: b # c\n- d \"e\"".into()),
            "bundle.name" => Ok("hello".into()),
            _ => Err(String::new()),
        }
    }

    #[test]
    fn values_stay_one_string_whatever_they_hold() {
        let step: Value = serde_yaml::from_str(
            "args:\n  - \"${ bundle.parameters.tricky }\"\n  - x-${bundle.name}-y\n",
        )
        .unwrap();
        let out = render(&step, Delimiters::Dollar, &lookup, "install[0].exec").unwrap();
        let args = out["args"].as_sequence().unwrap();
        assert_eq!(args.len(), 2);
        assert_eq!(args[0].as_str().unwrap(), "a: b # c\n- d \"e\"");
        assert_eq!(args[1].as_str().unwrap(), "x-hello-y");
    }

    #[test]
    fn missing_and_unclosed_are_named() {
        let v = Value::String("{{ bundle.outputs.nope }}".into());
        let err = render(&v, Delimiters::Mustache, &lookup, "p").unwrap_err();
        assert_eq!(
            err.to_string(),
            "p: unknown template variable `bundle.outputs.nope`"
        );
        let v = Value::String("${ oops".into());
        assert!(matches!(
            render(&v, Delimiters::Dollar, &lookup, "p"),
            Err(TemplateError::Unclosed { .. })
        ));
        // The other syntax is left alone.
        let v = Value::String("{{ x }}".into());
        assert_eq!(render(&v, Delimiters::Dollar, &lookup, "p").unwrap(), v);
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {

        /// Any text, either delimiters: rendered or refused, never a panic;
        /// text without an opening delimiter comes back unchanged; and a
        /// variable's value is never scanned for templates again.
        #[test]
        fn rendering_never_panics_and_values_are_not_rescanned(
            text in "[a-z ${}.\\-]{0,60}",
            mustache in any::<bool>(),
        ) {
            let delims = if mustache { Delimiters::Mustache } else { Delimiters::Dollar };
            let lookup = |_: &str| Ok::<_, String>("${ bundle.parameters.x }".to_string());
            // One template: its value comes back as is, never rendered again.
            let one = format!("{}bundle.parameters.a{}", delims.open(), delims.close());
            prop_assert_eq!(
                render_str(&one, delims, &lookup, "p").unwrap(),
                "${ bundle.parameters.x }"
            );
            match render_str(&text, delims, &lookup, "p") {
                Ok(out) => {
                    if !text.contains(delims.open()) {
                        prop_assert_eq!(&out, &text);
                    }
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}
