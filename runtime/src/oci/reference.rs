//! Parsing `registry/repository[:tag][@digest]` without a regex.
//!
//! `oci-client`'s parser (from `oci-spec`) builds one large Unicode regex per
//! process: about 80 ms of a 100 ms command on the 2-core machine, paid by
//! every command that names a registry reference, however small. This
//! hand-written parser follows the same grammar (Docker's
//! `distribution/reference`) and normalisation (`docker.io`,
//! `library/`), is tested against that parser, and is stricter in two
//! places: tags are ASCII (registries accept nothing else) and a first path
//! component that is not a host must be lowercase.

use oci_client::Reference;

const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
const MAX_NAME: usize = 255;

/// Parse `text` into a reference, normalised as Docker does.
pub fn parse(text: &str) -> Result<Reference, String> {
    if text.is_empty() {
        return Err("empty reference".into());
    }
    let (name_tag, digest) = match text.split_once('@') {
        Some((n, d)) => (n, Some(check_digest(d)?)),
        None => (text, None),
    };
    // A tag's `:` comes after the last `/`; a port's comes before one.
    let last_slash = name_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (&name_tag[..at], Some(check_tag(&name_tag[at + 1..])?))
        }
        None => (name_tag, None),
    };
    let (mut domain, mut path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            check_domain(first)?;
            (first.to_string(), rest.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    for component in path.split('/') {
        check_component(component)?;
    }
    if domain == DOCKER_HUB_LEGACY {
        domain = DOCKER_HUB.into();
    }
    if domain == DOCKER_HUB && !path.contains('/') {
        path = format!("library/{path}");
    }
    if path.len() > MAX_NAME {
        return Err(format!("repository name longer than {MAX_NAME} characters"));
    }
    Ok(match (tag, digest) {
        (Some(t), Some(d)) => Reference::with_tag_and_digest(domain, path, t.into(), d.into()),
        (None, Some(d)) => Reference::with_digest(domain, path, d.into()),
        (Some(t), None) => Reference::with_tag(domain, path, t.into()),
        (None, None) => Reference::with_tag(domain, path, "latest".into()),
    })
}

/// `host(.host)*(:port)?`, each label alphanumeric with inner `-`.
fn check_domain(domain: &str) -> Result<(), String> {
    let (host, port) = match domain.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (domain, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !host.split('.').all(label_ok) {
        return Err(format!("registry host {host:?} is not a host name"));
    }
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("registry port {p:?} is not a number"));
        }
    }
    Ok(())
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or any number of `-`.
fn check_component(c: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "repository component {c:?} must be lowercase letters and digits, joined by `.`, `_`, `__` or `-`"
        ))
    };
    let bytes = c.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(&bytes[0]) || !alnum(&bytes[bytes.len() - 1]) {
        return bad();
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(&bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(&bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return bad();
        }
    }
    Ok(())
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_tag(tag: &str) -> Result<&str, String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && word(tag.as_bytes()[0])
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(tag)
    } else {
        Err(format!(
            "tag {tag:?} must be at most 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`"
        ))
    }
}

/// `algorithm:hex`, with the hex length the algorithm implies.
fn check_digest(digest: &str) -> Result<&str, String> {
    let (algorithm, hex) = digest
        .split_once(':')
        .ok_or_else(|| format!("digest {digest:?} is not ALGORITHM:HEX"))?;
    let want = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        other => return Err(format!("digest algorithm {other:?} is not supported")),
    };
    if hex.len() != want || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "digest {digest:?} must be {algorithm}: and {want} hex digits"
        ));
    }
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn agrees_with_the_regex_parser() {
        let with_digest = format!("localhost:5000/a/b@sha256:{HEX}");
        let tag_and_digest = format!("r.io/x:v1@sha256:{HEX}");
        let cases = [
            "busybox",
            "busybox:1.36",
            "library/busybox",
            "acme/app:v1.2.3",
            "docker.io/acme/app",
            "index.docker.io/busybox",
            "localhost/app",
            "localhost:5000/wasmix/exec:0.1.0",
            "127.0.0.1:5055/bundles/hello:v0.1.0",
            "ghcr.io/org/team/app:latest",
            "r.io/a__b/c.d/e-f/g---h:tag_1.x-y",
            "my-registry.example.com:443/x/y",
            with_digest.as_str(),
            tag_and_digest.as_str(),
        ];
        for text in cases {
            let ours = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let theirs: Reference = text.parse().unwrap();
            assert_eq!(ours.whole(), theirs.whole(), "{text}");
            assert_eq!(ours.registry(), theirs.registry(), "{text}");
            assert_eq!(ours.repository(), theirs.repository(), "{text}");
            assert_eq!(ours.tag(), theirs.tag(), "{text}");
            assert_eq!(ours.digest(), theirs.digest(), "{text}");
        }
    }

    #[test]
    fn refuses_what_the_regex_parser_refuses() {
        let short = "r.io/x@sha256:abc".to_string();
        let md5 = format!("r.io/x@md5:{HEX}");
        let cases = [
            "",
            "r.io/",
            "r.io/x:",
            "r.io/x:-tag",
            "r.io/x/",
            "r.io//x",
            "r.io/x_-y",
            "r.io/x..y",
            "r.io/x.",
            "-r.io/x",
            "r.io:port/x",
            "r.io/x y",
            short.as_str(),
            md5.as_str(),
        ];
        for text in cases {
            assert!(parse(text).is_err(), "{text:?} should be refused");
            assert!(text.parse::<Reference>().is_err(), "{text:?} (oracle)");
        }
        // Stricter than the regex: non-ASCII tags.
        assert!(parse("r.io/x:tagé").is_err());
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    proptest! {

        /// Whatever the text, no panic; and whatever this parser accepts,
        /// the regex parser accepts with the same meaning (this one is
        /// stricter, never looser).
        #[test]
        fn never_looser_than_the_regex_parser(text in "[a-zA-Z0-9._:/@-]{0,40}") {
            if let Ok(ours) = super::parse(&text) {
                let theirs: oci_client::Reference = text.parse().expect("accepted by ours");
                prop_assert_eq!(ours.whole(), theirs.whole());
            }
        }
    }
}
