//! Picking a bundle version from a repository's tags: the newest tag that
//! is a semantic version (with or without Porter's `v` prefix) and
//! satisfies a range such as `^1.2`. Other tags (`latest`, signature tags)
//! are not versions and are passed over.

use super::BundleError;
use crate::oci::client::parse_reference;
use crate::oci::{OciError, Registry};

/// The newest of `tags` satisfying `range`, and every semver tag seen.
pub fn newest<'a>(
    tags: &'a [String],
    range: &semver::VersionReq,
) -> (Option<&'a str>, Vec<&'a str>) {
    let versions: Vec<(semver::Version, &str)> = tags
        .iter()
        .filter_map(|t| {
            let v = semver::Version::parse(t.strip_prefix('v').unwrap_or(t)).ok()?;
            Some((v, t.as_str()))
        })
        .collect();
    let best = versions
        .iter()
        .filter(|(v, _)| range.matches(v))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, t)| *t);
    let mut seen: Vec<&str> = versions.iter().map(|(_, t)| *t).collect();
    seen.sort();
    (best, seen)
}

/// `repository` (`registry/repo`, no tag) at the newest tag satisfying
/// `range`, as a full reference.
pub fn resolve(registry: &Registry, repository: &str, range: &str) -> Result<String, BundleError> {
    let req = semver::VersionReq::parse(range).map_err(|e| {
        BundleError::Invalid(format!(
            "--version {range:?} is not a semver range ({e}); try '^1.2' or '>=1.0, <2'"
        ))
    })?;
    let parsed = parse_reference(repository)?;
    if parsed.digest().is_some()
        || repository
            .rsplit('/')
            .next()
            .is_some_and(|l| l.contains(':'))
    {
        return Err(BundleError::Oci(OciError::Reference {
            reference: repository.to_string(),
            reason: "--version picks the tag: name the repository without a tag or digest".into(),
        }));
    }
    let tags = registry.tags(&parsed)?;
    let (best, seen) = newest(&tags, &req);
    let repo = format!("{}/{}", parsed.registry(), parsed.repository());
    match best {
        Some(tag) => Ok(format!("{repo}:{tag}")),
        None => Err(BundleError::NoVersion {
            repository: repo,
            range: range.to_string(),
            tags: seen.into_iter().map(str::to_string).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_matching_semver_tag_wins_and_others_are_ignored() {
        let tags: Vec<String> = [
            "latest",
            "v1.2.0",
            "1.3.1",
            "1.10.0-rc.1",
            "2.0.0",
            "sha256-abc.sig",
            "v1.9.0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let req = semver::VersionReq::parse("^1.2").unwrap();
        let (best, seen) = newest(&tags, &req);
        assert_eq!(best, Some("v1.9.0"));
        assert_eq!(seen.len(), 5);
        let req = semver::VersionReq::parse(">=3").unwrap();
        assert_eq!(newest(&tags, &req).0, None);
    }
}
