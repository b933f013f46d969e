//! Validation of step bodies against a mixin's JSON Schema.
//!
//! Mixins describe their steps with draft-07 JSON Schema. This checks the
//! keywords step schemas use (type, properties, required,
//! additionalProperties, items, enum, const, oneOf/anyOf/allOf, local
//! `$ref`, min/max items and length) and reports each problem with its path
//! inside the step, so the caller can point at the exact line.

use serde_json::Value;

/// One schema violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Path inside the validated value (`flags.c`, `outputs[0]`), empty for the root.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Validate `value` against `schema`; an empty list means valid.
pub fn validate(schema: &Value, value: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    check(schema, schema, value, "", &mut out);
    out
}

fn push(out: &mut Vec<Violation>, path: &str, message: String) {
    out.push(Violation {
        path: path.to_string(),
        message,
    });
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(expected: &str, v: &Value) -> bool {
    let actual = type_name(v);
    actual == expected || (expected == "number" && actual == "integer")
}

fn child(path: &str, key: &str) -> String {
    crate::manifest::join(path, key)
}

fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

fn check(root: &Value, schema: &Value, value: &Value, path: &str, out: &mut Vec<Violation>) {
    let Some(s) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            push(out, path, "no value is allowed here".into());
        }
        return;
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        match resolve(root, r) {
            Some(target) => check(root, target, value, path, out),
            None => push(out, path, format!("schema error: unresolvable $ref {r}")),
        }
        return;
    }
    if let Some(t) = s.get("type") {
        let allowed: Vec<&str> = match t {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !allowed.is_empty() && !allowed.iter().any(|a| type_matches(a, value)) {
            push(
                out,
                path,
                format!(
                    "expected {}, found {}",
                    allowed.join(" or "),
                    type_name(value)
                ),
            );
            return;
        }
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            let list: Vec<String> = options.iter().map(Value::to_string).collect();
            push(
                out,
                path,
                format!("must be one of {}, found {value}", list.join(", ")),
            );
        }
    }
    if let Some(c) = s.get("const") {
        if c != value {
            push(out, path, format!("must be {c}"));
        }
    }
    match value {
        Value::Object(obj) => check_object(root, s, obj, path, out),
        Value::Array(items) => {
            if let Some(item_schema) = s.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(root, item_schema, item, &format!("{path}[{i}]"), out);
                }
            }
            if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
                if (items.len() as u64) < min {
                    push(out, path, format!("needs at least {min} item(s)"));
                }
            }
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64) {
                if items.len() as u64 > max {
                    push(out, path, format!("allows at most {max} item(s)"));
                }
            }
        }
        Value::String(text) => {
            let len = text.chars().count() as u64;
            if let Some(min) = s.get("minLength").and_then(Value::as_u64) {
                if len < min {
                    push(out, path, format!("must be at least {min} character(s)"));
                }
            }
            if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
                if len > max {
                    push(out, path, format!("must be at most {max} character(s)"));
                }
            }
        }
        _ => {}
    }
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for sub in all {
            check(root, sub, value, path, out);
        }
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        if !any.iter().any(|sub| validate_at(root, sub, value)) {
            push(out, path, "does not match any of the allowed forms".into());
        }
    }
    if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
        let matching = one
            .iter()
            .filter(|sub| validate_at(root, sub, value))
            .count();
        if matching != 1 {
            let hint = describe_alternatives(one);
            push(
                out,
                path,
                if matching == 0 {
                    format!("must match exactly one form{hint}, matches none")
                } else {
                    format!("must match exactly one form{hint}, matches {matching}")
                },
            );
        }
    }
}

fn validate_at(root: &Value, schema: &Value, value: &Value) -> bool {
    let mut out = Vec::new();
    check(root, schema, value, "", &mut out);
    out.is_empty()
}

/// For `oneOf: [{required: [a]}, {required: [b]}]`, say "(one of: a, b)".
fn describe_alternatives(options: &[Value]) -> String {
    let names: Vec<&str> = options
        .iter()
        .filter_map(|o| o.get("required")?.as_array()?.first()?.as_str())
        .collect();
    if names.len() == options.len() && !names.is_empty() {
        format!(" (set exactly one of: {})", names.join(", "))
    } else {
        String::new()
    }
}

fn check_object(
    root: &Value,
    s: &serde_json::Map<String, Value>,
    obj: &serde_json::Map<String, Value>,
    path: &str,
    out: &mut Vec<Violation>,
) {
    let props = s.get("properties").and_then(Value::as_object);
    if let Some(required) = s.get("required").and_then(Value::as_array) {
        for r in required.iter().filter_map(Value::as_str) {
            if !obj.contains_key(r) {
                push(out, path, format!("missing required field `{r}`"));
            }
        }
    }
    for (k, v) in obj {
        let p = child(path, k);
        if let Some(prop) = props.and_then(|p| p.get(k)) {
            check(root, prop, v, &p, out);
            continue;
        }
        match s.get("additionalProperties") {
            Some(Value::Bool(false)) => {
                let known: Vec<&str> = props
                    .map(|p| p.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                let hint = match closest(k, &known) {
                    Some(c) => format!("; did you mean `{c}`?"),
                    None if !known.is_empty() => format!("; expected one of: {}", known.join(", ")),
                    None => String::new(),
                };
                push(out, &p, format!("unknown field `{k}`{hint}"));
            }
            Some(extra @ Value::Object(_)) => check(root, extra, v, &p, out),
            _ => {}
        }
    }
}

/// The known name closest to a misspelt one, when it is close enough.
fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typo_is_an_unknown_field_with_a_suggestion() {
        let schema = json!({"type": "object", "additionalProperties": false,
            "properties": {"arguments": {"type": "array"}, "command": {"type": "string"}},
            "required": ["command"]});
        let v = validate(&schema, &json!({"command": "x", "argumnets": []}));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].path, "argumnets");
        assert!(
            v[0].message.contains("did you mean `arguments`"),
            "{}",
            v[0].message
        );
        let v = validate(&schema, &json!({}));
        assert_eq!(v[0].message, "missing required field `command`");
    }

    #[test]
    fn refs_types_and_one_of() {
        let schema = json!({"definitions": {"o": {"type": "object",
            "oneOf": [{"required": ["a"]}, {"required": ["b"]}]}},
            "type": "array", "items": {"$ref": "#/definitions/o"}});
        assert!(validate(&schema, &json!([{"a": 1}])).is_empty());
        let v = validate(&schema, &json!([{"a": 1, "b": 2}, "x"]));
        assert_eq!(v[0].path, "[0]");
        assert!(v[0].message.contains("set exactly one of: a, b"));
        assert_eq!(v[1].message, "expected object, found string");
        assert!(validate(&json!({"type": "number"}), &json!(3)).is_empty());
    }
}
