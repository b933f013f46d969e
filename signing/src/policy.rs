//! The trust policy: which signatures a mixin from a given registry scope
//! must carry before it may run.
//!
//! ```yaml
//! scopes:
//!   - scope: localhost:5000/wasmix/*     # prefix; `host/repo` is exact; `*` is the catch-all
//!     mode: enforce                      # enforce | warn | skip
//!     authorities:
//!       - key: keys/cosign.pub           # relative to this file
//!       - keyless:
//!           issuer: https://token.actions.githubusercontent.com
//!           subjectRegex: ^https://github\.com/acme/mixins/\.github/workflows/release\.yml@refs/tags/v.*$
//!           trustedRoot: trusted_root.json
//!     minVersion: 1.2.0                  # refuse anything older (no rollbacks)
//!     annotations: {env: prod}           # claims the signature must carry
//!   - scope: "*"
//!     mode: enforce
//! ```
//!
//! The most specific scope wins: an exact repository, then the longest
//! prefix, then `*`. A reference no scope matches is refused.

use crate::keyless::TrustedRoot;
use crate::{PublicKey, SigningError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What happens when an artifact does not satisfy its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Refuse it.
    Enforce,
    /// Run it, saying loudly that it was not verified.
    Warn,
    /// Do not look for signatures at all (never for the catch-all).
    Skip,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
            Mode::Skip => "skip",
        })
    }
}

/// How a keyless subject is matched.
#[derive(Debug, Clone)]
pub enum SubjectMatch {
    /// The whole subject.
    Exact(String),
    /// An anchored (`^…$`) regular expression.
    Regex(regex::Regex),
}

impl SubjectMatch {
    /// True when `subject` matches.
    pub fn matches(&self, subject: &str) -> bool {
        match self {
            SubjectMatch::Exact(s) => s == subject,
            SubjectMatch::Regex(r) => r.is_match(subject),
        }
    }
}

impl std::fmt::Display for SubjectMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubjectMatch::Exact(s) => write!(f, "subject {s}"),
            SubjectMatch::Regex(r) => write!(f, "subject matching {}", r.as_str()),
        }
    }
}

/// Who may sign.
#[derive(Debug, Clone)]
pub enum Authority {
    /// A cosign public key.
    Key {
        /// The key.
        key: PublicKey,
        /// Where it was read from.
        source: String,
    },
    /// A Fulcio identity, checked against a trusted root.
    Keyless {
        /// The OIDC issuer, exactly.
        issuer: String,
        /// The certificate subject.
        subject: SubjectMatch,
        /// Certificate authorities and logs.
        root: TrustedRoot,
        /// Where the root was read from.
        root_source: String,
    },
}

impl std::fmt::Display for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Authority::Key { key, source } => write!(f, "key {} ({source})", key.id()),
            Authority::Keyless {
                issuer, subject, ..
            } => write!(f, "keyless issuer {issuer}, {subject}"),
        }
    }
}

/// One scope of the policy.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The pattern as written.
    pub pattern: String,
    /// What to do.
    pub mode: Mode,
    /// Who may sign; any one suffices.
    pub authorities: Vec<Authority>,
    /// The oldest version accepted.
    pub min_version: Option<semver::Version>,
    /// Claims every accepted signature must carry.
    pub annotations: BTreeMap<String, String>,
    /// Line of the entry in its file (0 for the built-in default).
    pub line: usize,
}

impl Scope {
    /// How specifically this scope matches `repository`
    /// (`registry/repository`), if it does.
    fn specificity(&self, repository: &str) -> Option<usize> {
        if self.pattern == "*" {
            return Some(0);
        }
        if let Some(prefix) = self.pattern.strip_suffix("/*") {
            let rest = repository.strip_prefix(prefix)?;
            return rest.starts_with('/').then_some(prefix.len() + 1);
        }
        (self.pattern == repository).then_some(usize::MAX)
    }
}

/// A loaded, checked trust policy.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    /// Where it came from (a path, or "built-in default").
    pub source: String,
    /// Its scopes, in file order.
    pub scopes: Vec<Scope>,
    hash: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    scopes: Vec<RawScope>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScope {
    scope: String,
    #[serde(default = "enforce")]
    mode: Mode,
    #[serde(default)]
    authorities: Vec<RawAuthority>,
    #[serde(rename = "minVersion")]
    min_version: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

fn enforce() -> Mode {
    Mode::Enforce
}

/// One of `key:` or `keyless:` (a struct, not an enum: serde_yaml 0.9
/// reads enums only from YAML tags).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthority {
    key: Option<String>,
    keyless: Option<RawKeyless>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeyless {
    #[serde(default)]
    issuer: String,
    subject: Option<String>,
    #[serde(rename = "subjectRegex")]
    subject_regex: Option<String>,
    #[serde(rename = "trustedRoot")]
    trusted_root: String,
}

/// Where the user-level policy lives: `$WASMIX_TRUST_POLICY`, else
/// `<home>/trust.yaml`.
pub fn default_path(home: &Path) -> PathBuf {
    std::env::var_os("WASMIX_TRUST_POLICY")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join("trust.yaml"))
}

impl TrustPolicy {
    /// The policy used when the user has written none: every registry
    /// mixin must be signed, and no one is trusted to sign, so every
    /// registry mixin is refused until a policy names a key.
    pub fn builtin() -> TrustPolicy {
        let scopes = vec![Scope {
            pattern: "*".into(),
            mode: Mode::Enforce,
            authorities: Vec::new(),
            min_version: None,
            annotations: BTreeMap::new(),
            line: 0,
        }];
        let mut p = TrustPolicy {
            source: "built-in default policy (no trust.yaml was found)".into(),
            scopes,
            hash: String::new(),
        };
        p.hash = p.compute_hash();
        p
    }

    /// Load `path` if it exists, else the built-in default.
    pub fn load_or_default(path: &Path) -> Result<TrustPolicy, SigningError> {
        if path.exists() {
            TrustPolicy::load(path)
        } else {
            Ok(TrustPolicy::builtin())
        }
    }

    /// Load and check the policy file at `path`. Key and root files are
    /// read relative to it.
    pub fn load(path: &Path) -> Result<TrustPolicy, SigningError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SigningError::Policy {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        TrustPolicy::parse(&file, &text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Parse policy `text` (from `file`), resolving relative paths in `dir`.
    pub fn parse(file: &str, text: &str, dir: &Path) -> Result<TrustPolicy, SigningError> {
        let raw: RawPolicy = serde_yaml::from_str(text).map_err(|e| SigningError::Policy {
            file: match e.location() {
                Some(l) => format!("{file}:{}:{}", l.line(), l.column()),
                None => file.to_string(),
            },
            reason: e.to_string(),
        })?;
        let mut scopes = Vec::new();
        for rs in raw.scopes {
            let line = line_of(text, &rs.scope);
            let at = format!("{file}:{line}");
            let fail = |reason: String| SigningError::Policy {
                file: at.clone(),
                reason: format!("scope `{}`: {reason}", rs.scope),
            };
            check_pattern(&rs.scope).map_err(&fail)?;
            if scopes.iter().any(|s: &Scope| s.pattern == rs.scope) {
                return Err(fail("appears twice".into()));
            }
            if rs.scope == "*" && rs.mode == Mode::Skip {
                return Err(fail(
                    "the catch-all scope cannot be `skip`: name the registries to skip instead"
                        .into(),
                ));
            }
            let mut authorities = Vec::new();
            for a in rs.authorities {
                authorities.push(authority(a, dir).map_err(&fail)?);
            }
            let min_version = rs
                .min_version
                .map(|v| {
                    semver::Version::parse(v.trim_start_matches('v'))
                        .map_err(|e| fail(format!("minVersion {v:?}: {e}")))
                })
                .transpose()?;
            scopes.push(Scope {
                pattern: rs.scope,
                mode: rs.mode,
                authorities,
                min_version,
                annotations: rs.annotations,
                line,
            });
        }
        let mut p = TrustPolicy {
            source: file.to_string(),
            scopes,
            hash: String::new(),
        };
        p.hash = p.compute_hash();
        Ok(p)
    }

    /// The scope for `repository` (`registry/repository`), if any.
    pub fn scope_for(&self, repository: &str) -> Option<&Scope> {
        self.scopes
            .iter()
            .filter_map(|s| s.specificity(repository).map(|n| (n, s)))
            .max_by_key(|(n, _)| *n)
            .map(|(_, s)| s)
    }

    /// A digest of everything that decides a verdict (scopes, key bytes,
    /// roots), so a cached verdict can tell when the policy changed.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    fn compute_hash(&self) -> String {
        let scopes: Vec<serde_json::Value> = self
            .scopes
            .iter()
            .map(|s| {
                let authorities: Vec<serde_json::Value> = s
                    .authorities
                    .iter()
                    .map(|a| match a {
                        Authority::Key { key, .. } => {
                            serde_json::json!({"key": hex::encode(key.der())})
                        }
                        Authority::Keyless {
                            issuer,
                            subject,
                            root_source,
                            ..
                        } => serde_json::json!({
                            "issuer": issuer,
                            "subject": subject.to_string(),
                            "root": root_source,
                        }),
                    })
                    .collect();
                serde_json::json!({
                    "scope": s.pattern,
                    "mode": s.mode.to_string(),
                    "authorities": authorities,
                    "minVersion": s.min_version.as_ref().map(|v| v.to_string()),
                    "annotations": s.annotations,
                })
            })
            .collect();
        crate::sha256_digest(&serde_json::to_vec(&scopes).expect("JSON of plain values"))
    }
}

impl std::fmt::Display for TrustPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "# trust policy: {}", self.source)?;
        writeln!(f, "# policy hash: {}", self.hash)?;
        for s in &self.scopes {
            writeln!(f, "scope {}  mode {}", s.pattern, s.mode)?;
            if s.authorities.is_empty() && s.mode != Mode::Skip {
                writeln!(f, "  (no authorities: nothing here can be verified)")?;
            }
            for a in &s.authorities {
                writeln!(f, "  signed by {a}")?;
            }
            if let Some(v) = &s.min_version {
                writeln!(f, "  version at least {v}")?;
            }
            for (k, v) in &s.annotations {
                writeln!(f, "  claim {k}={v}")?;
            }
        }
        Ok(())
    }
}

fn line_of(text: &str, scope: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches("- ").trim_start();
            l.strip_prefix("scope:")
                .is_some_and(|rest| rest.trim().trim_matches(|c| c == '"' || c == '\'') == scope)
        })
        .map(|i| i + 1)
        .unwrap_or(1)
}

fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern == "*" {
        return Ok(());
    }
    let body = pattern.strip_suffix("/*").unwrap_or(pattern);
    if body.is_empty() || body.contains('*') || body.contains(['@', ' ']) || body.ends_with('/') {
        return Err(
            "a scope is `registry/repository` (exact), `registry/path/*` (prefix) or `*`".into(),
        );
    }
    if let Some((_, tag)) = body
        .rsplit_once('/')
        .and_then(|(_, last)| last.split_once(':'))
    {
        return Err(format!(
            "scopes name repositories, not tags (remove `:{tag}`)"
        ));
    }
    Ok(())
}

fn read_relative(dir: &Path, name: &str) -> Result<(PathBuf, Vec<u8>), String> {
    let path = dir.join(name);
    std::fs::read(&path)
        .map(|b| (path.clone(), b))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn authority(raw: RawAuthority, dir: &Path) -> Result<Authority, String> {
    match (raw.key, raw.keyless) {
        (Some(k), None) => {
            let (path, bytes) = if k.contains("-----BEGIN") {
                (PathBuf::from("inline key"), k.into_bytes())
            } else {
                read_relative(dir, &k)?
            };
            let source = path.display().to_string();
            let key = PublicKey::from_pem(&source, &bytes).map_err(|e| e.to_string())?;
            Ok(Authority::Key { key, source })
        }
        (Some(_), Some(_)) | (None, None) => Err(
            "each authority is either `key: FILE` or `keyless: {issuer, subject, trustedRoot}`"
                .into(),
        ),
        (None, Some(k)) => {
            if k.issuer.trim().is_empty() {
                return Err("a keyless authority needs an `issuer`".into());
            }
            let subject = match (k.subject, k.subject_regex) {
                (Some(s), None) if !s.trim().is_empty() => SubjectMatch::Exact(s),
                (None, Some(r)) => {
                    if !r.starts_with('^') || !r.ends_with('$') || r.ends_with("\\$") {
                        return Err(format!(
                            "subjectRegex {r:?} must be anchored with ^ and $, or it matches any subject that merely contains it"
                        ));
                    }
                    if matches!(r.as_str(), "^.*$" | "^.+$" | "^$") {
                        return Err(format!("subjectRegex {r:?} constrains nothing"));
                    }
                    SubjectMatch::Regex(
                        regex::Regex::new(&r).map_err(|e| format!("subjectRegex {r:?}: {e}"))?,
                    )
                }
                (Some(_), Some(_)) => {
                    return Err("give `subject` or `subjectRegex`, not both".into())
                }
                _ => {
                    return Err(
                        "a keyless authority needs a `subject` or an anchored `subjectRegex`; an empty set of constraints would trust anyone".into(),
                    )
                }
            };
            let (path, bytes) = read_relative(dir, &k.trusted_root)?;
            let root_source = path.display().to_string();
            let root = TrustedRoot::from_json(&root_source, &bytes).map_err(|e| e.to_string())?;
            Ok(Authority::Keyless {
                issuer: k.issuer,
                subject,
                root,
                root_source: format!("{root_source} {}", crate::sha256_digest(&bytes)),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TrustPolicy, SigningError> {
        TrustPolicy::parse("trust.yaml", text, Path::new("/nonexistent"))
    }

    #[test]
    fn most_specific_scope_wins_and_prefixes_stop_at_segments() {
        let p = parse(
            "scopes:\n  - scope: \"*\"\n  - scope: r.io/team/*\n    mode: warn\n  - scope: r.io/team/exec\n    mode: skip\n",
        )
        .unwrap();
        assert_eq!(p.scope_for("r.io/team/exec").unwrap().mode, Mode::Skip);
        assert_eq!(p.scope_for("r.io/team/helm3").unwrap().mode, Mode::Warn);
        assert_eq!(p.scope_for("r.io/team/a/b").unwrap().mode, Mode::Warn);
        assert_eq!(p.scope_for("r.io/teamster/x").unwrap().pattern, "*");
        let none = parse("scopes:\n  - scope: r.io/team/*\n").unwrap();
        assert!(none.scope_for("other.io/x").is_none());
    }

    #[test]
    fn unsafe_policies_are_refused_with_their_line() {
        let err = parse("scopes:\n  - scope: \"*\"\n    mode: skip\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("trust.yaml:2: scope `*`: the catch-all"),
            "{err}"
        );
        let err = parse("scopes:\n  - scope: r.io/x\n    authorities:\n      - keyless:\n          issuer: https://i\n          subjectRegex: me@example\\.com\n          trustedRoot: root.json\n").unwrap_err();
        assert!(err.to_string().contains("must be anchored"), "{err}");
        let err = parse("scopes:\n  - scope: r.io/x\n    authorities:\n      - keyless:\n          issuer: https://i\n          trustedRoot: root.json\n").unwrap_err();
        assert!(
            err.to_string().contains("empty set of constraints"),
            "{err}"
        );
        let err = parse("scopes:\n  - scope: r.io/x:1.0\n").unwrap_err();
        assert!(err.to_string().contains("not tags"), "{err}");
        let err = parse("scopes:\n  - scope: r.io/x\n    mode: sometimes\n").unwrap_err();
        assert!(err.to_string().starts_with("trust.yaml:3"), "{err}");
    }

    #[test]
    fn the_hash_changes_with_the_policy() {
        let a = parse("scopes:\n  - scope: \"*\"\n").unwrap();
        let b = parse("scopes:\n  - scope: \"*\"\n    mode: warn\n").unwrap();
        assert_eq!(a.hash(), TrustPolicy::builtin().hash());
        assert_ne!(a.hash(), b.hash());
    }
}
