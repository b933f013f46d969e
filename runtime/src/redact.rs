//! Masking secrets in anything shown or stored as text.

/// What replaces a secret.
pub const MASK: &str = "*******";

/// Secrets shorter than this are not masked inside free text: masking every
/// `x` or `ab` in a log would hide the log, not the secret. Such short values
/// are still never written to logs or the store by wasmix itself.
pub const MIN_MASKED_LEN: usize = 4;

/// The forms a command is likely to print `secret` in: as is, base64
/// (standard and URL-safe, with and without padding), hex (both cases),
/// URL-encoded and JSON-escaped. Forms shorter than [`MIN_MASKED_LEN`] are
/// left out, like short secrets.
pub fn encodings(secret: &str) -> Vec<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine;
    let raw = secret.as_bytes();
    let mut forms: Vec<Vec<u8>> = vec![raw.to_vec()];
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        forms.push(engine.encode(raw).into_bytes());
    }
    let lower = hex::encode(raw);
    forms.push(lower.to_uppercase().into_bytes());
    forms.push(lower.into_bytes());
    let mut url = String::new();
    for &b in raw {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    forms.push(url.to_lowercase().into_bytes());
    forms.push(url.into_bytes());
    if let Ok(json) = serde_json::to_string(secret) {
        forms.push(json.trim_matches('"').as_bytes().to_vec());
    }
    forms.retain(|f| f.len() >= MIN_MASKED_LEN);
    // Longest first, so a form containing another is masked whole.
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    forms
}

/// `bytes` with every occurrence of each of `forms` replaced by [`MASK`].
pub fn mask_bytes(bytes: &[u8], forms: &[Vec<u8>]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for form in forms {
        let finder = memchr::memmem::Finder::new(form);
        if finder.find(&out).is_none() {
            continue;
        }
        let mut masked = Vec::with_capacity(out.len());
        let mut last = 0;
        for at in finder.find_iter(&out) {
            if at < last {
                continue;
            }
            masked.extend_from_slice(&out[last..at]);
            masked.extend_from_slice(MASK.as_bytes());
            last = at + form.len();
        }
        masked.extend_from_slice(&out[last..]);
        out = masked;
    }
    out
}

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
    fn a_secret_is_masked_in_the_forms_commands_print() {
        use base64::Engine;
        let secret = "p@ss word/+?";
        let forms = encodings(secret);
        let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
        let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
        let hex = hex::encode(secret);
        let printed = format!(
            "raw={secret}\nb64={b64}\nurl64={b64url}\nhex={hex}\nHEX={}\npct=p%40ss%20word%2F%2B%3F\njson={}\n",
            hex.to_uppercase(),
            serde_json::to_string(secret).unwrap()
        );
        let masked = String::from_utf8(mask_bytes(printed.as_bytes(), &forms)).unwrap();
        for (key, _) in masked.lines().filter_map(|l| l.split_once('=')) {
            let line = masked
                .lines()
                .find(|l| l.starts_with(&format!("{key}=")))
                .unwrap();
            assert!(line.contains(MASK), "{key} not masked: {line}");
        }
        assert!(!masked.contains("p@ss"), "{masked}");
        assert!(!masked.contains(&b64), "{masked}");
        // Unrelated text is untouched.
        assert_eq!(mask_bytes(b"nothing here", &forms), b"nothing here");
    }

    #[test]
    fn masks_longest_first_and_escapes_controls() {
        let r = Redactor::new(["abcd", "abcdefg", "x"]);
        assert_eq!(r.redact("x abcdefg y abcd"), format!("x {MASK} y {MASK}"));
        assert_eq!(r.redact("\x1b[2Jhi"), "\\u{1b}[2Jhi");
        assert!(r.contains_secret("..abcd.."));
        assert!(!r.contains_secret("abc x"));
    }
}
