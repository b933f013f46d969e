//! Porter's Installation document, for `wasmix installation apply`: which
//! bundle (by registry reference), which parameters and sets. Read strictly
//! against Porter's installation schema 1.0.x: an unknown field is refused,
//! and so are the fields whose meaning wasmix cannot honour (a namespace,
//! labels, custom extensions), each with what to do instead.

use serde::Deserialize;
use std::collections::BTreeMap;

/// What is wrong with an Installation document.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct DocumentError {
    /// The document.
    pub file: String,
    /// Why.
    pub reason: String,
}

/// Where the bundle is published.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleRef {
    /// OCI repository (`registry/path`).
    pub repository: String,
    /// Bundle version (`0.1.1`, `v0.1.1`): the tag `v0.1.1`.
    #[serde(default)]
    pub version: Option<String>,
    /// Manifest digest.
    #[serde(default)]
    pub digest: Option<String>,
    /// Tag.
    #[serde(default)]
    pub tag: Option<String>,
}

impl BundleRef {
    /// The reference, as Porter builds it: `repository@digest`, else
    /// `repository:vVERSION`, else `repository:tag`.
    pub fn reference(&self) -> String {
        match (&self.digest, &self.version, &self.tag) {
            (Some(d), _, _) => format!("{}@{d}", self.repository),
            (None, Some(v), _) => format!("{}:v{}", self.repository, v.trim_start_matches('v')),
            (None, None, Some(t)) => format!("{}:{t}", self.repository),
            (None, None, None) => self.repository.clone(),
        }
    }
}

/// A Porter Installation document.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InstallationDoc {
    /// `Installation`.
    #[serde(default)]
    pub schema_type: Option<String>,
    /// `1.0.x`.
    pub schema_version: String,
    /// Installation name.
    pub name: String,
    /// Porter's namespace (refused when set: wasmix has none).
    #[serde(default)]
    pub namespace: Option<String>,
    /// The bundle.
    pub bundle: BundleRef,
    /// Parameter values by name.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// Names of stored parameter sets.
    #[serde(default)]
    pub parameter_sets: Vec<String>,
    /// Names of stored credential sets.
    #[serde(default)]
    pub credential_sets: Vec<String>,
    /// Labels (refused when set: wasmix stores none).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Custom extensions (refused when set).
    #[serde(default)]
    pub custom: Option<serde_json::Value>,
    /// Written by Porter; read and not used.
    #[serde(default)]
    pub created: Option<String>,
    /// Written by Porter; read and not used.
    #[serde(default)]
    pub modified: Option<String>,
}

impl InstallationDoc {
    /// Parse `text` (YAML or JSON) from `file`, checking what Porter's
    /// schema requires and refusing what wasmix cannot honour.
    pub fn parse(file: &str, text: &str) -> Result<InstallationDoc, DocumentError> {
        let fail = |reason: String| DocumentError {
            file: file.to_string(),
            reason,
        };
        let doc: InstallationDoc = serde_yaml::from_str(text).map_err(|e| {
            fail(match e.location() {
                Some(l) => format!("line {}: {e}", l.line()),
                None => e.to_string(),
            })
        })?;
        if let Some(t) = doc.schema_type.as_deref() {
            if !t.eq_ignore_ascii_case("installation") {
                return Err(fail(format!(
                    "schemaType {t:?}: this is not an Installation document"
                )));
            }
        }
        if !doc.schema_version.starts_with("1.0.") {
            return Err(fail(format!(
                "schemaVersion {:?}: wasmix reads Installation documents 1.0.x",
                doc.schema_version
            )));
        }
        if doc.name.is_empty() {
            return Err(fail("name is empty".into()));
        }
        let b = &doc.bundle;
        let given = [&b.version, &b.digest, &b.tag]
            .iter()
            .filter(|f| f.is_some())
            .count();
        if given != 1 {
            return Err(fail(format!(
                "bundle: give exactly one of version, digest or tag (got {given})"
            )));
        }
        if doc.namespace.as_deref().is_some_and(|n| !n.is_empty()) {
            return Err(fail(
                "namespace: wasmix has no namespaces; name the installation uniquely instead"
                    .into(),
            ));
        }
        if !doc.labels.is_empty() {
            return Err(fail(
                "labels: wasmix does not store installation labels yet; remove them".into(),
            ));
        }
        if doc
            .custom
            .as_ref()
            .is_some_and(|c| !c.is_null() && c.as_object().is_none_or(|o| !o.is_empty()))
        {
            return Err(fail(
                "custom: wasmix has no installation extensions; remove it".into(),
            ));
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "schemaType: Installation\nschemaVersion: 1.0.2\nname: mysql\nbundle:\n  repository: r.io/bundles/mysql\n  version: 0.1.0\nparameters:\n  db: wordpress\ncredentialSets: [mysql]\n";

    #[test]
    fn porters_document_gives_porters_reference() {
        let d = InstallationDoc::parse("i.yaml", DOC).unwrap();
        assert_eq!(d.bundle.reference(), "r.io/bundles/mysql:v0.1.0");
        assert_eq!(d.parameters["db"], "wordpress");
        assert_eq!(d.credential_sets, ["mysql"]);
    }

    #[test]
    fn unknown_or_unhonoured_fields_are_refused() {
        for (extra, want) in [
            ("uninstalled: true\n", "unknown field"),
            ("namespace: dev\n", "namespaces"),
            ("labels: {team: a}\n", "labels"),
        ] {
            let err = InstallationDoc::parse("i.yaml", &format!("{DOC}{extra}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err}");
        }
        let both = DOC.replace("version: 0.1.0", "version: 0.1.0\n  tag: latest");
        let err = InstallationDoc::parse("i.yaml", &both).unwrap_err();
        assert!(err.to_string().contains("exactly one"), "{err}");
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    proptest! {

        #[test]
        fn arbitrary_documents_never_panic(text in "\\PC{0,300}") {
            let _ = super::InstallationDoc::parse("fuzz.yaml", &text);
        }
    }
}
