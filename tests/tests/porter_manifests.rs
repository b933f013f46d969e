//! Every `porter.yaml` in Porter's own test data (`build/testdata`,
//! `pkg/**/testdata`, `tests/**/testdata`, copied into
//! `tests/porter-compat` with Porter's Apache-2.0 notice): each one lints
//! clean, or is refused for the reason listed — the same reason Porter
//! refuses it, or a named wasmix limitation — or needs a mixin wasmix does
//! not have yet. A file added to the directory must be decided here.

use wasmix_e2e::{repo_root, Sandbox};

/// Porter refuses it too (its invalid-manifest fixtures, exec-101).
const PORTER_REFUSES: &str = "Porter refuses it too";
/// The fixture wires a value to something its bundle does not declare;
/// Porter's static check misses it, wasmix refuses it before anything runs.
const DANGLING_WIRING: &str = "wiring names something undeclared";
/// Porter's invocation image: a path there has no place in wasmix.
const NO_INVOCATION_IMAGE: &str = "wasmix limitation: no invocation image";
/// Porter 1.3's build-time file downloads.
const NO_BUILD: &str = "wasmix limitation: no build step";
/// Not in Porter's manifest schema (Porter's loader ignores it).
const NOT_IN_SCHEMA: &str = "not in Porter's schema";

enum Expect {
    /// Lints clean.
    Ok,
    /// Refused, the message containing the text; and why (for the reader,
    /// and for the failure message).
    Refused(&'static str, &'static str),
    /// A mixin wasmix does not have yet.
    NeedsMixin(&'static str),
}
use Expect::*;

const MANIFESTS: &[(&str, Expect)] = &[
    ("build/testdata/bundles/diamond-app/porter.yaml", Ok),
    ("build/testdata/bundles/diamond-top/porter.yaml", Ok),
    ("build/testdata/bundles/mysql-interface/porter.yaml", Ok),
    ("build/testdata/bundles/mysql/porter.yaml", Ok),
    (
        "build/testdata/bundles/wiring-app-dangling-target/porter.yaml",
        Ok,
    ),
    ("build/testdata/bundles/wiring-app/porter.yaml", Ok),
    ("build/testdata/bundles/wiring-infra/porter.yaml", Ok),
    (
        "build/testdata/bundles/wiring-top-dangling/porter.yaml",
        Refused("requires no dependency \"doesnotexist\"", PORTER_REFUSES),
    ),
    ("build/testdata/bundles/wiring-top/porter.yaml", Ok),
    ("build/testdata/bundles/wordpress/porter.yaml", Ok),
    (
        "build/testdata/bundles/wordpressv2-interface-missing/porter.yaml",
        Ok,
    ),
    (
        "build/testdata/bundles/wordpressv2-interface-reference/porter.yaml",
        Ok,
    ),
    (
        "build/testdata/bundles/wordpressv2-interface/porter.yaml",
        Ok,
    ),
    ("build/testdata/bundles/wordpressv2/porter.yaml", Ok),
    (
        "pkg/cnab/config-adapter/testdata/porter-with-deps.yaml",
        Refused("exec-101", PORTER_REFUSES),
    ),
    (
        "pkg/cnab/config-adapter/testdata/porter-with-depsv2.yaml",
        Refused("declares no parameter \"db_collation\"", DANGLING_WIRING),
    ),
    (
        "pkg/cnab/config-adapter/testdata/porter-with-parameters.yaml",
        Refused("exec-101", PORTER_REFUSES),
    ),
    (
        "pkg/cnab/config-adapter/testdata/porter-with-required-extensions.yaml",
        Refused("required extensions are not supported", NO_INVOCATION_IMAGE),
    ),
    (
        "pkg/cnab/config-adapter/testdata/porter.yaml",
        Refused("exec-101", PORTER_REFUSES),
    ),
    (
        "pkg/manifest/testdata/bundles/mysql/porter.yaml",
        Refused("unknown field `replace`", NOT_IN_SCHEMA),
    ),
    (
        "pkg/manifest/testdata/bundles/nginx/porter.yaml",
        Refused("exec-101", PORTER_REFUSES),
    ),
    (
        "pkg/manifest/testdata/porter-no-name.yaml",
        Refused("bundle name must be set", PORTER_REFUSES),
    ),
    (
        "pkg/manifest/testdata/porter-with-bad-description.yaml",
        Refused("expected string, found array", PORTER_REFUSES),
    ),
    (
        "pkg/manifest/testdata/porter-with-bad-type.yaml",
        Refused("expected object, found string", PORTER_REFUSES),
    ),
    (
        "pkg/manifest/testdata/porter-with-badschema.yaml",
        Refused("unknown field `baddata`", PORTER_REFUSES),
    ),
    ("pkg/manifest/testdata/porter-with-custom-metadata.yaml", Ok),
    (
        "pkg/manifest/testdata/porter-with-deps.yaml",
        Refused("required extensions are not supported", NO_INVOCATION_IMAGE),
    ),
    (
        "pkg/manifest/testdata/porter-with-persistent-params.yaml",
        Refused("exec-101", PORTER_REFUSES),
    ),
    ("pkg/manifest/testdata/porter-with-templating.yaml", Ok),
    (
        "pkg/manifest/testdata/porter.yaml",
        Refused("required extensions are not supported", NO_INVOCATION_IMAGE),
    ),
    ("pkg/mixin/query/testdata/porter.yaml", Ok),
    (
        "pkg/porter/testdata/porter-with-dependencies.yaml",
        Refused("must be under /cnab/app", NO_INVOCATION_IMAGE),
    ),
    ("pkg/porter/testdata/porter-with-file-param.yaml", Ok),
    (
        "pkg/porter/testdata/porter.yaml",
        Refused(
            "wasmix reads output files from the bundle directory",
            NO_INVOCATION_IMAGE,
        ),
    ),
    (
        "pkg/runtime/testdata/porter-images.yaml",
        NeedsMixin("searcher"),
    ),
    (
        "tests/integration/testdata/bundles/bundle-with-credential-set-upgrade/porter.yaml",
        Ok,
    ),
    (
        "tests/integration/testdata/bundles/bundle-with-credentials/porter.yaml",
        Ok,
    ),
    (
        "tests/integration/testdata/bundles/bundle-with-custom-action/porter.yaml",
        Ok,
    ),
    (
        "tests/integration/testdata/bundles/bundle-with-failing-install/porter.yaml",
        Ok,
    ),
    (
        "tests/integration/testdata/bundles/bundle-with-file-params/porter.yaml",
        Ok,
    ),
    (
        "tests/integration/testdata/bundles/bundle-with-file-sources/porter.yaml",
        Refused("file sources (`files:`) are not supported", NO_BUILD),
    ),
    (
        "tests/integration/testdata/bundles/bundle-with-image/porter.yaml",
        Refused("unknown field `image`", NOT_IN_SCHEMA),
    ),
    (
        "tests/integration/testdata/bundles/bundle-with-lint-error/porter.yaml",
        Refused("exec-101", PORTER_REFUSES),
    ),
    (
        "tests/integration/testdata/bundles/bundle-with-modifies-false-action/porter.yaml",
        Refused(
            "must name a file inside the bundle directory",
            NO_INVOCATION_IMAGE,
        ),
    ),
    (
        "tests/integration/testdata/bundles/bundle-with-object-params/porter.yaml",
        Ok,
    ),
    (
        "tests/integration/testdata/bundles/bundle-with-param-apply-lint-error/porter.yaml",
        Ok,
    ),
    (
        "tests/integration/testdata/bundles/bundle-with-param-set-upgrade/porter.yaml",
        Ok,
    ),
    (
        "tests/integration/testdata/bundles/bundle-with-persistent-params/porter.yaml",
        Ok,
    ),
    (
        "tests/integration/testdata/bundles/bundle-with-samenamedeps-lint-error/porter.yaml",
        Refused("another dependency is named \"samename\"", PORTER_REFUSES),
    ),
    (
        "tests/integration/testdata/bundles/bundle-with-sensitive-data/porter.yaml",
        Ok,
    ),
    (
        "tests/integration/testdata/bundles/bundle-with-state/porter.yaml",
        Refused(
            "must name a file inside the bundle directory",
            NO_INVOCATION_IMAGE,
        ),
    ),
    (
        "tests/integration/testdata/bundles/bundle-with-string-params/porter.yaml",
        Ok,
    ),
    (
        "tests/integration/testdata/bundles/exec-local-script-with-prefix/porter.yaml",
        Ok,
    ),
    (
        "tests/integration/testdata/bundles/exec-local-script/porter.yaml",
        Ok,
    ),
    (
        "tests/integration/testdata/bundles/exec-outputs/porter.yaml",
        Refused(
            "wasmix reads output files from the bundle directory",
            NO_INVOCATION_IMAGE,
        ),
    ),
    (
        "tests/integration/testdata/bundles/failing-bundle-with-sensitive-data/porter.yaml",
        Ok,
    ),
    (
        "tests/integration/testdata/bundles/outputs-example/porter.yaml",
        Ok,
    ),
    ("tests/integration/testdata/bundles/signing/porter.yaml", Ok),
    (
        "tests/integration/testdata/bundles/suppressed-output-example/porter.yaml",
        Ok,
    ),
    (
        "tests/integration/testdata/porter-with-image-tag.yaml",
        Refused(
            "wasmix reads output files from the bundle directory",
            NO_INVOCATION_IMAGE,
        ),
    ),
    (
        "tests/integration/testdata/porter.yaml",
        Refused(
            "wasmix reads output files from the bundle directory",
            NO_INVOCATION_IMAGE,
        ),
    ),
    ("tests/testdata/embeddedimg/porter.yaml", Ok),
    ("tests/testdata/myapp/porter.yaml", Ok),
    (
        "tests/testdata/mybuns/porter.yaml",
        Refused("required extensions are not supported", NO_INVOCATION_IMAGE),
    ),
    ("tests/testdata/mydb/porter.yaml", Ok),
    ("tests/testdata/myenv/porter.yaml", Ok),
    ("tests/testdata/myinfra/porter.yaml", Ok),
    ("tests/testdata/mysqldb/porter.yaml", Ok),
];

#[test]
fn every_porter_test_manifest_lints_or_is_refused_for_a_named_reason() {
    let root = repo_root().join("tests/porter-compat");
    // Every porter*.yaml there is decided above.
    let mut found = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                if name.starts_with("porter") && name.ends_with(".yaml") {
                    found.push(p.strip_prefix(&root).unwrap().display().to_string());
                }
            }
        }
    }
    let undecided: Vec<&String> = found
        .iter()
        .filter(|f| !MANIFESTS.iter().any(|(m, _)| m == f))
        .collect();
    assert!(
        undecided.is_empty(),
        "decide these Porter manifests: {undecided:?}"
    );

    let sb = Sandbox::new();
    let mut wrong = Vec::new();
    let (mut ok, mut refused, mut needs) = (0, 0, 0);
    for (file, expect) in MANIFESTS {
        let path = root.join(file);
        let run = sb.wasmix(&["lint", path.to_str().unwrap()]);
        let err = run.stderr();
        let wanted = match expect {
            Ok => "lints clean".to_string(),
            Refused(text, why) => format!("refused with {text:?} ({why})"),
            NeedsMixin(name) => format!("needs mixin {name}"),
        };
        let good = match expect {
            Ok => {
                ok += 1;
                run.code() == 0
            }
            Refused(text, _) => {
                refused += 1;
                // Refused with its location, before anything is loaded.
                run.code() == 2 && err.contains(text) && err.contains(".yaml:")
            }
            NeedsMixin(name) => {
                needs += 1;
                run.code() == 3 && err.contains(&format!("mixin {name:?} not found"))
            }
        };
        if !good {
            wrong.push(format!(
                "{file}: want {wanted}, got exit {}: {}",
                run.code(),
                err.trim()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The tally the docs quote.
    assert_eq!((ok, refused, needs), (40, 27, 1));
}
