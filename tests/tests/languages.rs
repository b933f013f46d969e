//! Mixins written in Python (`mixins-wasm/python/jsonq`, componentize-py)
//! and JavaScript (`mixins-wasm/js/httpcheck`, componentize-js) run under
//! the same contract as the Rust ones, and reach only what their step was
//! granted: the same files, environment, credential and command checks.
//!
//! Each language's cases share one home, so its large component is compiled
//! once (a cold compile takes seconds; the cache makes the rest fast).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use wasmix_e2e::{Run, Sandbox};

fn component(name: &str) -> PathBuf {
    let file = wasmix_e2e::mixin_dir().join(format!("wasmix_{name}.wasm"));
    assert!(
        file.is_file(),
        "{} not found: build the Python and JavaScript mixins with `make lang-mixins`",
        file.display()
    );
    file
}

/// A mixin path holding only `name`, so nothing else answers for it.
fn only(sb: &Sandbox, name: &str) -> PathBuf {
    let dir = sb.dir.path().join(format!("mixins-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(component(name), dir.join(format!("wasmix_{name}.wasm"))).unwrap();
    dir
}

fn install(sb: &Sandbox, mixins: &Path, bundle: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "install",
        bundle.to_str().unwrap(),
        "--mixin-path",
        mixins.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    sb.wasmix_env(
        &args,
        &[
            ("JSONQ_VISIBLE", r#"{"zone": "b"}"#),
            ("JSONQ_HIDDEN", r#"{"zone": "c"}"#),
            ("API_TOKEN", "s3cret-token-value"),
        ],
    )
}

fn outputs(sb: &Sandbox, installation: &str) -> serde_json::Value {
    let out = sb.wasmix(&[
        "installation",
        "outputs",
        installation,
        "--show-sensitive",
        "-o",
        "json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    doc.as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap().to_string(), o["value"].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

const CREDS: &str = "credentials:\n  - name: api-token\n    required: false\n";

/// A one-step jsonq bundle reading `input` with `grants`.
fn jsonq(sb: &Sandbox, name: &str, input: &str, grants: &str) -> PathBuf {
    sb.bundle(
        name,
        &format!(
            "schemaVersion: 1.0.0\nname: {name}\nversion: 0.1.0\nmixins: [jsonq]\n{CREDS}outputs:\n  - name: v\ninstall:\n  - jsonq:\n      description: read\n      input: {input}\n      outputs:\n        - name: v\n          path: .zone\n      grants: {grants}\nuninstall:\n  - jsonq:\n      input: {{text: '{{}}'}}\n      outputs: []\n"
        ),
        &[("data/in.json", r#"{"zone": "a"}"#)],
    )
}

#[test]
fn a_python_mixin_reads_only_what_its_step_was_granted() {
    let sb = Sandbox::new();
    let mixins = only(&sb, "jsonq");
    let cred = ["--cred", "api-token=env:API_TOKEN"];

    // Granted: a file, an environment variable, a credential to read, a command.
    let granted = [
        (
            "file",
            "{file: /cnab/app/data/in.json}",
            "{files: [{path: ./data}]}",
            "a",
        ),
        ("env", "{env: JSONQ_VISIBLE}", "{env: [JSONQ_VISIBLE]}", "b"),
        (
            "cmd",
            "{command: [cat, data/in.json]}",
            "{commands: [cat]}",
            "a",
        ),
    ];
    for (name, input, grants, want) in granted {
        let b = jsonq(&sb, name, input, grants);
        install(&sb, &mixins, &b, &[]).expect_code(0);
        assert_eq!(outputs(&sb, name)["v"], want, "{name}");
    }
    let b = sb.bundle(
        "cred",
        &format!(
            "schemaVersion: 1.0.0\nname: cred\nversion: 0.1.0\nmixins: [jsonq]\n{CREDS}outputs:\n  - name: v\ninstall:\n  - jsonq:\n      description: read\n      input: {{credential: api-token}}\n      outputs:\n        - name: v\n          path: .zone\n      grants: {{credentials: [{{name: api-token, read: true}}]}}\nuninstall:\n  - jsonq:\n      input: {{text: '{{}}'}}\n      outputs: []\n"
        ),
        &[],
    );
    install(
        &sb,
        &mixins,
        &b,
        &["--cred", r#"api-token=value:{"zone": "secret-zone"}"#],
    )
    .expect_code(0);
    assert_eq!(outputs(&sb, "cred")["v"], "secret-zone");
    let listed = sb.wasmix(&["installation", "outputs", "cred"]);
    assert!(
        !listed.stdout().contains("secret-zone"),
        "a value read from a credential is sensitive"
    );
    // The credential is not JSON: the failure says so without showing it.
    let run = install(&sb, &mixins, &b, &cred);
    run.expect_code(1);
    assert!(run.all().contains("the input is not JSON"), "{}", run.all());
    assert!(!run.all().contains("s3cret-token-value"), "{}", run.all());

    // Not granted: each refused, with what to grant.
    let denied = [
        (
            "nofile",
            "{file: /cnab/app/data/in.json}",
            "{}",
            "cannot read /cnab/app/data/in.json",
        ),
        (
            "passwd",
            "{file: /etc/passwd}",
            "{files: [{path: ./data}]}",
            "cannot read /etc/passwd",
        ),
        (
            "noenv",
            "{env: JSONQ_HIDDEN}",
            "{env: [JSONQ_VISIBLE]}",
            "JSONQ_HIDDEN is not set or not granted",
        ),
        (
            "nocred",
            "{credential: api-token}",
            "{}",
            "is not granted to this step",
        ),
        (
            "useonly",
            "{credential: api-token}",
            "{credentials: [api-token]}",
            "may be passed to commands but not read",
        ),
        (
            "nocmd",
            "{command: [cat, data/in.json]}",
            "{}",
            "command \"cat\" is not granted",
        ),
    ];
    for (name, input, grants, why) in denied {
        let b = jsonq(&sb, name, input, grants);
        let run = install(&sb, &mixins, &b, &cred);
        run.expect_code(1);
        assert!(run.all().contains(why), "{name}: {}", run.all());
        assert!(!run.all().contains("s3cret-token-value"), "{}", run.all());
    }

    // The mixin's own lint rule, in Python.
    let b = jsonq(&sb, "badpath", "{text: '{}'}", "{}");
    let text = std::fs::read_to_string(b.join("porter.yaml"))
        .unwrap()
        .replace("path: .zone", "path: zone");
    std::fs::write(b.join("porter.yaml"), text).unwrap();
    let run = sb.wasmix(&[
        "lint",
        b.to_str().unwrap(),
        "--mixin-path",
        mixins.to_str().unwrap(),
    ]);
    assert_ne!(run.code(), 0);
    assert!(run.all().contains("jsonq-101"), "{}", run.all());
}

/// A local HTTP server: `/` answers 200 (401 without the bearer token when
/// `token` is set), `/down` answers 503. Returns its address.
fn serve(token: Option<&'static str>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let mut authorized = token.is_none();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(t) = token {
                    if line.trim_end() == format!("Authorization: Bearer {t}") {
                        authorized = true;
                    }
                }
            }
            let status = if first.contains("/down") {
                "503 Service Unavailable"
            } else if authorized {
                "200 OK"
            } else {
                "401 Unauthorized"
            };
            let mut s = stream;
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    addr
}

fn httpcheck(sb: &Sandbox, name: &str, url: &str, extra: &str, grants: &str) -> PathBuf {
    sb.bundle(
        name,
        &format!(
            "schemaVersion: 1.0.0\nname: {name}\nversion: 0.1.0\nmixins: [httpcheck]\n{CREDS}outputs:\n  - name: status\ninstall:\n  - httpcheck:\n      description: check\n      url: {url}\n{extra}      outputs:\n        - name: status\n      grants: {grants}\nuninstall:\n  - httpcheck:\n      url: {url}\n      grants: {grants}\n"
        ),
        &[],
    )
}

#[test]
fn a_javascript_mixin_runs_only_granted_commands_and_reads_only_granted_credentials() {
    let sb = Sandbox::new();
    let mixins = only(&sb, "httpcheck");
    let cred = ["--cred", "api-token=env:API_TOKEN"];
    let open = serve(None);
    let guarded = serve(Some("s3cret-token-value"));

    let b = httpcheck(
        &sb,
        "up",
        &format!("http://{open}/"),
        "",
        "{commands: [curl]}",
    );
    install(&sb, &mixins, &b, &[]).expect_code(0);
    assert_eq!(outputs(&sb, "up")["status"], "200");

    // The token, read through a read grant, reaches the server on curl's stdin.
    let b = httpcheck(
        &sb,
        "auth",
        &format!("http://{guarded}/"),
        "      token: api-token\n",
        "{commands: [curl], credentials: [{name: api-token, read: true}]}",
    );
    let run = install(&sb, &mixins, &b, &cred);
    run.expect_code(0);
    assert!(!run.all().contains("s3cret-token-value"), "{}", run.all());
    assert_eq!(outputs(&sb, "auth")["status"], "200");

    let refused = [
        (
            "down",
            format!("http://{open}/down"),
            "",
            "{commands: [curl]}",
            "answered 503, expected 200",
        ),
        (
            "nocurl",
            format!("http://{open}/"),
            "",
            "{}",
            "command \"curl\" is not granted",
        ),
        (
            "nocred",
            format!("http://{guarded}/"),
            "      token: api-token\n",
            "{commands: [curl]}",
            "is not granted to this step",
        ),
        (
            "useonly",
            format!("http://{guarded}/"),
            "      token: api-token\n",
            "{commands: [curl], credentials: [api-token]}",
            "may be passed to commands but not read",
        ),
    ];
    for (name, url, extra, grants, why) in refused {
        let b = httpcheck(&sb, name, &url, extra, grants);
        let run = install(&sb, &mixins, &b, &cred);
        run.expect_code(1);
        assert!(run.all().contains(why), "{name}: {}", run.all());
    }
}
