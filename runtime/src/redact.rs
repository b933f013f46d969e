//! Masking secrets in anything shown or stored as text.

/// What replaces a secret.
pub const MASK: &str = "*******";

/// Secrets shorter than this are not masked inside free text: masking every
/// `x` or `ab` in a log would hide the log, not the secret. Such short values
/// are still never written to logs or the store by wasmix itself.
pub const MIN_MASKED_LEN: usize = 4;

/// Masks every known secret value in text, and neutralises terminal control
/// sequences so a mixin cannot rewrite the operator's screen.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    // Longest first, so a secret containing another is masked whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for these secret values (empty ones are ignored).
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(secrets: I) -> Self {
        let mut r = Redactor::default();
        for s in secrets {
            r.add(s.into());
        }
        r
    }

    /// Mask `secret` from now on.
    pub fn add(&mut self, secret: String) {
        if secret.chars().count() < MIN_MASKED_LEN || self.secrets.contains(&secret) {
            return;
        }
        self.secrets.push(secret);
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// True when `text` contains a secret.
    pub fn contains_secret(&self, text: &str) -> bool {
        self.secrets.iter().any(|s| text.contains(s.as_str()))
    }

    /// `text` with every secret masked and control characters made visible.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        sanitize(&out)
    }
}

/// Replace control characters (other than newline and tab) with a visible
/// escape, so ESC sequences in a mixin's output cannot drive the terminal.
pub fn sanitize(text: &str) -> String {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                format!("\\u{{{:x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_longest_first_and_escapes_controls() {
        let r = Redactor::new(["abcd", "abcdefg", "x"]);
        assert_eq!(r.redact("x abcdefg y abcd"), format!("x {MASK} y {MASK}"));
        assert_eq!(r.redact("\x1b[2Jhi"), "\\u{1b}[2Jhi");
        assert!(r.contains_secret("..abcd.."));
        assert!(!r.contains_secret("abc x"));
    }
}
