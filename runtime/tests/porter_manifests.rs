//! Porter's own manifest fixtures (tests/porter-compat) parse or fail as
//! Porter's do, with located errors.

use std::path::PathBuf;
use wasmix::manifest;

fn fixture(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    root.join("../tests/porter-compat/pkg/manifest/testdata")
        .join(name)
}

fn load(name: &str) -> Result<manifest::Manifest, manifest::ManifestError> {
    manifest::load(&fixture(name))
}

fn problems(name: &str) -> Vec<String> {
    let err = load(name).expect_err(&format!("{name} must be rejected"));
    err.problems().iter().map(|p| p.to_string()).collect()
}

#[test]
fn good_manifests_parse() {
    for name in [
        "porter.yaml",
        "simple.porter.yaml",
        "porter-with-templating.yaml",
        "porter-with-deps.yaml",
        "with-credentials.yaml",
        "porter-with-custom-metadata.yaml",
        "porter-with-persistent-params.yaml",
    ] {
        if let Err(e) = load(name) {
            panic!("{name} should parse: {e}");
        }
    }
}

#[test]
fn simple_manifest_has_porters_fields() {
    let m = load("simple.porter.yaml").unwrap();
    assert_eq!(m.name, "hello");
    assert_eq!(
        m.description.as_deref(),
        Some("An example Porter configuration")
    );
    assert_eq!(m.version, "v0.1.0");
    assert_eq!(m.mixins.len(), 1);
    assert_eq!(m.mixins[0].name, "exec");
    assert_eq!(m.maintainers.len(), 4);
    assert_eq!(
        m.maintainers[3].email.as_deref(),
        Some("mike.doe@example.com")
    );
    assert_eq!(m.action("install").unwrap().len(), 1);
    let status = &m.action("status").expect("custom action status")[0];
    assert_eq!(status.description.as_deref(), Some("Get World Status"));
    assert_eq!(status.mixin, "exec");
}

#[test]
fn credentials_default_to_required_and_keep_apply_to() {
    let m = load("with-credentials.yaml").unwrap();
    assert_eq!(m.credentials.len(), 5);
    assert!(m.credentials.iter().all(|c| c.required));
    let kube = m
        .credentials
        .iter()
        .find(|c| c.name == "kubeconfig")
        .unwrap();
    assert_eq!(kube.path.as_deref(), Some("/home/nonroot/.kube/config"));
    assert_eq!(kube.apply_to, ["status", "uninstall"]);
}

#[test]
fn parameters_sources_dependencies_and_custom() {
    let m = load("porter-with-templating.yaml").unwrap();
    let tf = &m.parameters[0];
    assert_eq!(tf.kind.as_deref(), Some("file"));
    assert_eq!(
        tf.source.as_ref().unwrap().output.as_deref(),
        Some("tfstate")
    );
    assert_eq!(m.dependencies.as_ref().unwrap().requires[0].name, "mysql");
    let m = load("porter-with-persistent-params.yaml").unwrap();
    assert!(m.parameters[0].persistent);
    let m = load("porter.yaml").unwrap();
    assert_eq!(m.custom["foo"].as_str(), Some("bar"));
    assert_eq!(m.required.len(), 2);
    assert_eq!(
        m.dependencies.unwrap().requires[0].credentials["password"].0,
        "mcstuffins"
    );
}

#[test]
fn mixin_declarations_in_all_three_forms() {
    // These fragments have no name or actions; only their mixins are checked.
    let m = manifest::parse(
        &fixture("mixin-with-config.yaml"),
        &format!(
            "name: x\ninstall: []\nuninstall: []\n{}",
            std::fs::read_to_string(fixture("mixin-with-config.yaml")).unwrap()
        ),
    )
    .unwrap();
    let names: Vec<_> = m.mixins.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["exec", "az", "terraform"]);
    assert_eq!(m.mixins[1].config["extensions"][0].as_str(), Some("iot"));

    let text = std::fs::read_to_string(fixture("mixin-with-versions.yaml")).unwrap();
    let m = manifest::parse(
        &fixture("mixin-with-versions.yaml"),
        &format!("name: x\ninstall: []\nuninstall: []\n{text}"),
    )
    .unwrap();
    let versions: Vec<_> = m
        .mixins
        .iter()
        .map(|m| m.version.clone().unwrap())
        .collect();
    assert_eq!(versions, ["1", "1.1.X", ">=2"]);
}

#[test]
fn bad_mixin_declarations_are_rejected_with_porters_reason() {
    let p = problems("mixin-with-bad-config.yaml");
    assert!(
        p.iter()
            .any(|p| p.contains("mixin declaration contained more than one mixin")),
        "{p:?}"
    );
    assert!(
        p.iter().any(|p| p.contains(":2:")),
        "points at line 2: {p:?}"
    );
    let p = problems("mixin-with-invalid-version.yaml");
    assert!(
        p.iter()
            .any(|p| p.contains("mixins[1]") && p.contains("this@that")),
        "{p:?}"
    );
    let p = problems("mixin-with-empty-version.yaml");
    assert!(
        p.iter()
            .any(|p| p.contains("mixins[0]") && p.contains("empty version")),
        "{p:?}"
    );
}

#[test]
fn missing_name_is_rejected() {
    let p = problems("porter-no-name.yaml");
    assert!(
        p.iter().any(|p| p.contains("bundle name must be set")),
        "{p:?}"
    );
}

#[test]
fn empty_steps_are_rejected_for_each_action() {
    let p = problems("empty-steps.yaml");
    for action in ["install", "uninstall", "status"] {
        assert!(
            p.iter().any(|p| p.contains(&format!(
                "validation of action \"{action}\" failed: found an empty step"
            ))),
            "{action}: {p:?}"
        );
    }
    assert!(
        p.iter().any(|p| p.contains("empty mixin declaration")),
        "{p:?}"
    );
}

#[test]
fn unknown_top_level_field_is_rejected_at_its_line() {
    let p = problems("porter-with-badschema.yaml");
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("porter-with-badschema.yaml:42:1: baddata: unknown field `baddata`"),
        "{p:?}"
    );
}

/// Mangled manifests (every truncation point on a stride, byte flips,
/// inserted YAML punctuation) are rejected or accepted, never a panic, and
/// every rejection is located.
#[test]
fn mangled_manifests_never_panic() {
    let dir = fixture("");
    let mut tried = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        // `bundles/` holds whole bundles, linted by tests/tests/porter_manifests.rs.
        if path.is_dir() {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let bytes = text.as_bytes();
        let mut variants: Vec<String> = Vec::new();
        for cut in (0..bytes.len()).step_by(11) {
            variants.push(String::from_utf8_lossy(&bytes[..cut]).into_owned());
        }
        for (i, junk) in [
            "{",
            "]",
            ": :",
            "- ",
            "\t",
            "&a *a",
            "!!binary x",
            "\"",
            "${ bundle.",
            "\u{0}",
        ]
        .iter()
        .enumerate()
        {
            let at = (bytes.len() * (i + 1) / 11).min(bytes.len());
            let at = (0..=at)
                .rev()
                .find(|&k| text.is_char_boundary(k))
                .unwrap_or(0);
            variants.push(format!("{}{junk}{}", &text[..at], &text[at..]));
        }
        for v in variants {
            tried += 1;
            let result = std::panic::catch_unwind(|| manifest::parse(&path, &v));
            match result {
                Err(_) => panic!("parser panicked on a mangled {}:\n{v}", path.display()),
                Ok(Err(manifest::ManifestError::Invalid { problems, .. })) => {
                    for p in problems {
                        assert!(
                            p.location.starts_with(&path.display().to_string()),
                            "unlocated problem: {p}"
                        );
                    }
                }
                Ok(_) => {}
            }
        }
    }
    assert!(tried > 200, "only {tried} variants");
}
