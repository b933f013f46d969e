//! Masking secrets in anything shown or stored as text.

/// What replaces a secret.
pub const MASK: &str = "*******";

/// Secrets shorter than this are not masked inside free text: masking every
/// `x` or `ab` in a log would hide the log, not the secret. Such short values
/// are still never written to logs or the store by wasmix itself.
pub const MIN_MASKED_LEN: usize = 4;

/// The forms a command is likely to print `secret` in: as is, base64
/// (standard and URL-safe, with and without padding, and at the two other
/// alignments a secret inside a longer stream lands on), hex (both cases),
/// `od`'s default octal words (at both alignments), URL-encoded and
/// JSON-escaped. Forms shorter than [`MIN_MASKED_LEN`] are left out, like
/// short secrets.
pub fn encodings(secret: &str) -> Vec<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine;
    let raw = secret.as_bytes();
    let mut forms: Vec<Vec<u8>> = vec![raw.to_vec()];
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        forms.push(engine.encode(raw).into_bytes());
    }
    // Inside a longer stream the secret may start on a base64 group or one
    // or two bytes into one, and other bytes may follow it: the whole
    // groups after the first boundary encode the same way wherever the
    // stream started and whatever follows.
    for skip in 0..3 {
        if let Some(rest) = raw.get(skip..) {
            let whole = &rest[..rest.len() / 3 * 3];
            for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
                forms.push(engine.encode(whole).into_bytes());
            }
        }
    }
    let lower = hex::encode(raw);
    forms.push(lower.to_uppercase().into_bytes());
    forms.push(lower.into_bytes());
    forms.extend(od_words(raw));
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

/// `od`'s default output of `raw`, without its layout: little-endian 16-bit
/// words as 6-digit octal, for the secret starting on a word and one byte
/// into one. Whole words only: a word shared with a neighbouring byte
/// depends on that byte.
fn od_words(raw: &[u8]) -> Vec<Vec<u8>> {
    (0..2)
        .filter_map(|skip| raw.get(skip..))
        .map(|body| {
            body.chunks_exact(2)
                .map(|w| format!("{:06o}", u16::from_le_bytes([w[0], w[1]])))
                .collect::<String>()
                .into_bytes()
        })
        .collect()
}

/// `bytes` with every occurrence of every form replaced by [`MASK`] —
/// also where a command laid the form out over lines and columns: base64
/// and `xxd -p` wrap their lines, `od` and `od -tx1` put spaces between
/// groups and an offset before each line.
pub fn mask_bytes(bytes: &[u8], forms: &[Vec<u8>]) -> Vec<u8> {
    if forms.is_empty() {
        return bytes.to_vec();
    }
    let exact = mask_exact(bytes, forms);
    mask_across_layout(&exact, forms)
}

fn mask_exact(bytes: &[u8], forms: &[Vec<u8>]) -> Vec<u8> {
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

/// Text with its layout left out, and where each kept run came from.
struct Skeleton {
    text: Vec<u8>,
    /// `(start in text, start in the original)` of each kept run, in order.
    runs: Vec<(usize, usize)>,
}

impl Skeleton {
    /// Leave out whitespace and `od`'s line offsets (seven octal digits at
    /// the start of a line, followed by a space or the end).
    fn of(bytes: &[u8]) -> Skeleton {
        let mut text = Vec::with_capacity(bytes.len());
        let mut runs = Vec::new();
        let mut i = 0;
        let mut line_start = true;
        let mut in_run = false;
        while i < bytes.len() {
            let b = bytes[i];
            if line_start && is_od_offset(&bytes[i..]) {
                i += 7;
                in_run = false;
                line_start = false;
                continue;
            }
            line_start = b == b'\n';
            if b.is_ascii_whitespace() {
                in_run = false;
            } else {
                if !in_run {
                    runs.push((text.len(), i));
                    in_run = true;
                }
                text.push(b);
            }
            i += 1;
        }
        Skeleton { text, runs }
    }

    /// Where byte `k` of the skeleton is in the original.
    fn origin(&self, k: usize) -> usize {
        let run = self.runs.partition_point(|&(start, _)| start <= k) - 1;
        let (start, at) = self.runs[run];
        at + (k - start)
    }
}

fn is_od_offset(rest: &[u8]) -> bool {
    rest.len() >= 7
        && rest[..7].iter().all(|b| (b'0'..=b'7').contains(b))
        && rest.get(7).is_none_or(u8::is_ascii_whitespace)
}

fn mask_across_layout(bytes: &[u8], forms: &[Vec<u8>]) -> Vec<u8> {
    let skeleton = Skeleton::of(bytes);
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for form in forms {
        if form.iter().any(u8::is_ascii_whitespace) {
            continue; // found as is, or not at all
        }
        for at in memchr::memmem::find_iter(&skeleton.text, form) {
            let end = skeleton.origin(at + form.len() - 1) + 1;
            spans.push((skeleton.origin(at), end));
        }
    }
    if spans.is_empty() {
        return bytes.to_vec();
    }
    spans.sort_unstable();
    let mut out = Vec::with_capacity(bytes.len());
    let mut last = 0;
    for (start, end) in spans {
        if end <= last {
            continue;
        }
        if start >= last {
            out.extend_from_slice(&bytes[last..start]);
            out.extend_from_slice(MASK.as_bytes());
        }
        last = end;
    }
    out.extend_from_slice(&bytes[last..]);
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

    /// What `base64`, `xxd -p` and `od` print of `secret`, as the tools
    /// lay it out (taken from coreutils and xxd on Debian).
    #[test]
    fn a_secret_laid_out_by_base64_xxd_and_od_is_masked() {
        let secret = "s3cr3t-token-value-that-is-long-enough-to-wrap-every-line-0123456789";
        let forms = encodings(secret);
        let b64 = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(secret)
        };
        let wrapped: Vec<String> = b64
            .as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let hex = hex::encode(secret);
        let xxd: Vec<String> = hex
            .as_bytes()
            .chunks(60)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let words: Vec<String> = secret
            .as_bytes()
            .chunks(2)
            .map(|w| {
                format!(
                    "{:06o}",
                    u16::from_le_bytes([w[0], *w.get(1).unwrap_or(&0)])
                )
            })
            .collect();
        let od: String = words
            .chunks(8)
            .enumerate()
            .map(|(i, line)| format!("{:07o} {}\n", i * 16, line.join(" ")))
            .collect::<String>()
            + &format!("{:07o}\n", secret.len());
        for printed in [wrapped.join("\n"), xxd.join("\n"), od] {
            let masked = String::from_utf8(mask_bytes(printed.as_bytes(), &forms)).unwrap();
            assert!(masked.contains(MASK), "not masked:\n{printed}");
            let left: String = masked.split_whitespace().collect();
            for form in &forms {
                for w in form.windows(8) {
                    assert!(
                        !left.as_bytes().windows(8).any(|l| l == w),
                        "{:?} of it is left:\n{printed}\n->\n{masked}",
                        String::from_utf8_lossy(w)
                    );
                }
            }
        }
        // base64 of a longer stream, where the secret starts mid-group or
        // on a group, with other bytes after it.
        for (prefix, suffix) in [
            ("x", ""),
            ("xy", ""),
            ("xyz", ""),
            ("", ":x"),
            ("", "\""),
            ("ab", "}"),
        ] {
            use base64::Engine;
            let stream = base64::engine::general_purpose::STANDARD
                .encode(format!("{prefix}{secret}{suffix}"));
            let masked = String::from_utf8(mask_bytes(stream.as_bytes(), &forms)).unwrap();
            assert!(masked.len() < 20, "{prefix}…{suffix}: {masked}");
        }
        // Ordinary spaced text is left alone.
        assert_eq!(
            mask_bytes(b"0000000 hello world\n", &forms),
            b"0000000 hello world\n"
        );
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
