//! Porter's command line: command, arguments, sorted flags, suffix arguments.

use serde_json::Value;
use std::collections::BTreeMap;

/// The argument vector (without the command) Porter's exec would build.
///
/// Arguments are passed as written. Flags come sorted by name (the map is
/// ordered), a one-letter name as `-x`, longer as `--xx`; a null value is a
/// bare flag and a list repeats the flag. Each flag value is then split on
/// whitespace outside quotes, as Porter does. Suffix arguments come last.
pub fn build(
    arguments: &[String],
    flags: &BTreeMap<String, Value>,
    suffix: &[String],
) -> Vec<String> {
    let mut argv: Vec<String> = arguments.to_vec();
    for (name, value) in flags {
        let dash = if name.chars().count() == 1 { "-" } else { "--" };
        let flag = format!("{dash}{name}");
        match value {
            Value::Null => argv.push(flag),
            Value::Array(items) => {
                for item in items {
                    argv.push(flag.clone());
                    argv.extend(split_words(&scalar(item)));
                }
            }
            other => {
                argv.push(flag);
                argv.extend(split_words(&scalar(other)));
            }
        }
    }
    argv.extend(suffix.iter().cloned());
    argv
}

/// A scalar printed the way Porter prints it: strings bare, numbers and
/// booleans as written.
pub fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Split on spaces, tabs and newlines outside quotes; quotes that wrap a word
/// are removed and a backslash keeps the next character from being special.
/// Text with an unmatched quote is returned whole, unsplit.
pub fn split_words(input: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = input.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                word.push(c);
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, ' ' | '\t' | '\n') => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return vec![input.to_string()];
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flags(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn flags_are_sorted_and_dashed_by_length() {
        let argv = build(&[], &flags(json!({"bull": 2, "a": 1})), &[]);
        assert_eq!(argv, ["-a", "1", "--bull", "2"]);
    }

    #[test]
    fn split_follows_porter_quoting() {
        assert_eq!(split_words("val1 val2"), ["val1", "val2"]);
        assert_eq!(split_words("\"val1 val2\" val3"), ["val1 val2", "val3"]);
        assert_eq!(
            split_words("\"Patty O'Brien\" true"),
            ["Patty O'Brien", "true"]
        );
        assert_eq!(split_words("\"unmatched quote"), ["\"unmatched quote"]);
        assert_eq!(split_words("  spaced\tout\n"), ["spaced", "out"]);
    }
}
