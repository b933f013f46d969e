//! The JSONPath subset Porter bundles use for outputs, with Porter's result
//! shape: a path that names one value gives that value, a path with a
//! wildcard, a recursive descent or a union gives a list of matches.
//!
//! Supported: `$`, `.name`, `['name']`, `["name"]`, `[n]` (negative counts
//! from the end), `[*]`, `.*`, `..name`, `..*`, `[a,b]`.

use serde_json::Value;

/// Why a path could not be evaluated.
#[derive(Debug, PartialEq)]
pub struct PathError(pub String);

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone)]
enum Segment {
    Key(String),
    Index(i64),
    Wildcard,
    Descend(Option<String>),
    Union(Vec<Segment>),
}

fn parse(path: &str) -> Result<Vec<Segment>, PathError> {
    let err = |m: &str| PathError(format!("invalid JSONPath {path:?}: {m}"));
    let rest = path.trim();
    let mut rest = rest
        .strip_prefix('$')
        .ok_or_else(|| err("must start with $"))?;
    let mut segments = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("..") {
            let (name, r) = take_name(r);
            if name == "*" {
                segments.push(Segment::Descend(None));
            } else if name.is_empty() {
                return Err(err("`..` must be followed by a name or *"));
            } else {
                segments.push(Segment::Descend(Some(name.to_string())));
            }
            rest = r;
        } else if let Some(r) = rest.strip_prefix('.') {
            let (name, r) = take_name(r);
            match name {
                "" => return Err(err("empty name after `.`")),
                "*" => segments.push(Segment::Wildcard),
                n => segments.push(Segment::Key(n.to_string())),
            }
            rest = r;
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = bracket_end(r).ok_or_else(|| err("unclosed ["))?;
            let inner = &r[..end];
            let parts: Vec<Segment> = split_union(inner)
                .into_iter()
                .map(|p| selector(p.trim()).ok_or_else(|| err(&format!("bad selector [{p}]"))))
                .collect::<Result<_, _>>()?;
            segments.push(if parts.len() == 1 {
                parts.into_iter().next().expect("one part")
            } else {
                Segment::Union(parts)
            });
            rest = &r[end + 1..];
        } else {
            return Err(err(&format!("unexpected text {rest:?}")));
        }
    }
    Ok(segments)
}

fn take_name(s: &str) -> (&str, &str) {
    let end = s.find(['.', '[']).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

fn bracket_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ']') => return Some(i),
            _ => {}
        }
    }
    None
}

fn split_union(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quote = None;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ',') => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn selector(p: &str) -> Option<Segment> {
    if p == "*" {
        return Some(Segment::Wildcard);
    }
    for q in ['\'', '"'] {
        if p.len() >= 2 && p.starts_with(q) && p.ends_with(q) {
            return Some(Segment::Key(p[1..p.len() - 1].to_string()));
        }
    }
    p.parse::<i64>().ok().map(Segment::Index)
}

fn is_definite(segments: &[Segment]) -> bool {
    segments
        .iter()
        .all(|s| matches!(s, Segment::Key(_) | Segment::Index(_)))
}

fn step<'a>(segment: &Segment, node: &'a Value, out: &mut Vec<&'a Value>) {
    match segment {
        Segment::Key(k) => {
            if let Some(v) = node.as_object().and_then(|o| o.get(k)) {
                out.push(v);
            }
        }
        Segment::Index(i) => {
            if let Some(a) = node.as_array() {
                let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                if let Some(v) = usize::try_from(idx).ok().and_then(|i| a.get(i)) {
                    out.push(v);
                }
            }
        }
        Segment::Wildcard => match node {
            Value::Array(a) => out.extend(a.iter()),
            Value::Object(o) => out.extend(o.values()),
            _ => {}
        },
        Segment::Descend(name) => {
            let mut stack = vec![node];
            while let Some(n) = stack.pop() {
                let children: Vec<&Value> = match n {
                    Value::Array(a) => a.iter().collect(),
                    Value::Object(o) => o.values().collect(),
                    _ => Vec::new(),
                };
                match name {
                    Some(k) => {
                        if let Some(v) = n.as_object().and_then(|o| o.get(k)) {
                            out.push(v);
                        }
                    }
                    None => out.extend(children.iter().copied()),
                }
                stack.extend(children.into_iter().rev());
            }
        }
        Segment::Union(parts) => {
            for p in parts {
                step(p, node, out);
            }
        }
    }
}

/// Evaluate `path` against `doc`. A definite path that matches nothing is an
/// error naming the path; an indefinite one gives an empty list.
pub fn evaluate(path: &str, doc: &Value) -> Result<Value, PathError> {
    let segments = parse(path)?;
    let mut current = vec![doc];
    for segment in &segments {
        let mut next = Vec::new();
        for node in current {
            step(segment, node, &mut next);
        }
        current = next;
    }
    if is_definite(&segments) {
        current
            .first()
            .map(|v| (*v).clone())
            .ok_or_else(|| PathError(format!("JSONPath {path:?} matched nothing")))
    } else {
        Ok(Value::Array(current.into_iter().cloned().collect()))
    }
}

/// An output value as Porter writes it: strings bare, everything else as
/// compact JSON with numbers exactly as the command printed them.
pub fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(path: &str, doc: &str) -> String {
        render(&evaluate(path, &serde_json::from_str(doc).unwrap()).unwrap())
    }

    #[test]
    fn forms() {
        let doc = r#"{"a":{"b":[10,20,{"c":"x"}]},"d":1.50e+3}"#;
        assert_eq!(eval("$.a.b[1]", doc), "20");
        assert_eq!(eval("$.a.b[-1].c", doc), "x");
        assert_eq!(eval("$['a']['b'][0]", doc), "10");
        assert_eq!(eval("$.a.b[*]", doc), r#"[10,20,{"c":"x"}]"#);
        assert_eq!(eval("$..c", doc), r#"["x"]"#);
        assert_eq!(eval("$.a.b[0,1]", doc), "[10,20]");
        assert_eq!(eval("$.d", doc), "1.50e+3");
    }

    #[test]
    fn errors_name_the_path() {
        let doc = serde_json::json!({"a": 1});
        assert!(evaluate("$.missing", &doc)
            .unwrap_err()
            .0
            .contains("$.missing"));
        assert!(evaluate("a.b", &doc).is_err());
        assert!(evaluate("$[", &doc).is_err());
        assert_eq!(render(&evaluate("$.x[*]", &doc).unwrap()), "[]");
    }
}
