//! `wasmix mixin new`, `build` and `check`, with the real toolchains: a
//! scaffold in each language passes its own unit test, builds into a
//! component that `check` accepts, and runs in a bundle; a component
//! importing what the host does not provide is refused with its name.

use std::path::{Path, PathBuf};
use std::process::Command;
use wasmix_e2e::{Run, Sandbox};

/// Where `make mixins` builds (`MIXIN_TARGET`): the Rust scaffold shares its
/// dependency builds, the JavaScript one its npm tools (`make lang-mixins`).
fn mixin_target() -> PathBuf {
    let dir = wasmix_e2e::mixin_dir();
    dir.parent()
        .and_then(Path::parent)
        .expect("MIXIN_TARGET/wasm32-wasip2/release")
        .to_path_buf()
}

fn wasmix(sb: &Sandbox, args: &[&str]) -> Run {
    sb.wasmix_env(
        args,
        &[(
            "CARGO_TARGET_DIR",
            mixin_target().to_str().expect("utf-8 path"),
        )],
    )
}

fn ok(cmd: &mut Command) {
    let out = cmd.output().expect("run the language's test runner");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Scaffold `name` in `lang`, run its unit test, build it, check it, and
/// install a bundle that uses it.
fn round_trip(lang: &str, test: &[&str]) -> (Sandbox, PathBuf) {
    let sb = Sandbox::new();
    let name = format!("greet-{lang}");
    let dir = sb.dir.path().join(&name);
    wasmix(
        &sb,
        &[
            "mixin",
            "new",
            &name,
            "--lang",
            lang,
            "--dir",
            dir.to_str().unwrap(),
        ],
    )
    .expect_code(0)
    .expect_stdout("next: wasmix mixin build");
    if lang == "js" {
        // The pinned tools `make lang-mixins` installed, instead of a second download.
        std::os::unix::fs::symlink(
            mixin_target().join("lang-tools/node_modules"),
            dir.join("node_modules"),
        )
        .unwrap();
    }
    ok(Command::new(test[0])
        .args(&test[1..])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", mixin_target()));

    let built = wasmix(&sb, &["mixin", "build", dir.to_str().unwrap()]);
    built
        .expect_code(0)
        .expect_stdout(&format!("mixin {name} 0.1.0"))
        .expect_stdout("(all provided by the host)");
    let component = dir.join(format!("{name}.wasm"));
    assert!(component.is_file());

    // A step checked against the schema and the mixin's lint.
    wasmix(
        &sb,
        &[
            "mixin",
            "check",
            component.to_str().unwrap(),
            "--step",
            "{name: world, outputs: [{name: greeting}]}",
        ],
    )
    .expect_code(0)
    .expect_stdout("install step: no findings");
    let bad = wasmix(
        &sb,
        &[
            "mixin",
            "check",
            component.to_str().unwrap(),
            "--step",
            "{nme: world}",
        ],
    );
    bad.expect_code(2).expect_stdout("did you mean `name`?");

    let bundle = sb.bundle(
        "hello",
        &format!(
            "schemaVersion: 1.0.0\nname: hello\nversion: 0.1.0\nmixins: [{name}]\noutputs:\n  - name: greeting\ninstall:\n  - {name}:\n      description: Greet\n      name: world\n      outputs:\n        - name: greeting\n      grants: {{commands: [echo]}}\nuninstall:\n  - {name}:\n      name: bye\n      grants: {{commands: [echo]}}\n"
        ),
        &[],
    );
    wasmix(
        &sb,
        &[
            "install",
            bundle.to_str().unwrap(),
            "--mixin-path",
            dir.to_str().unwrap(),
        ],
    )
    .expect_code(0)
    .expect_stdout("greeting: Hello, world!");
    (sb, dir)
}

#[test]
fn a_rust_mixin_from_new_to_install() {
    round_trip("rust", &["cargo", "test", "--quiet"]);
}

#[test]
fn a_python_mixin_from_new_to_install() {
    round_trip("python", &["python3", "-m", "unittest"]);
}

#[test]
fn a_javascript_mixin_from_new_to_install_and_an_unprovided_import_is_named() {
    let (sb, dir) = round_trip("js", &["node", "--test"]);
    // The same mixin with fetch left in imports wasi:http, which no mixin
    // gets: check names it instead of failing at the first link error.
    let with_http = dir.join("with-http.wasm");
    ok(Command::new(dir.join("node_modules/.bin/componentize-js"))
        .args(["greet-js.bundle.js", "--wit", "wit", "-n", "mixin", "-o"])
        .arg(&with_http)
        .current_dir(&dir));
    let run = wasmix(&sb, &["mixin", "check", with_http.to_str().unwrap()]);
    run.expect_code(2)
        .expect_stderr("imports what the host does not provide: wasi:http/");
}
