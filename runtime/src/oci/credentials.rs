//! Registry credentials where Docker and Podman keep them, found by their
//! rules: `REGISTRY_AUTH_FILE`, Docker's `config.json` (`$DOCKER_CONFIG` or
//! `~/.docker`), then Podman's `auth.json` (`$XDG_RUNTIME_DIR/containers`,
//! `~/.config/containers`). In each: an `auths` entry whose key names the
//! registry as Docker normalises it (`https://index.docker.io/v1/` is
//! Docker Hub; a scheme and a path are ignored), else a `credHelpers`
//! helper for it, else the `credsStore` helper.
//!
//! Written by hand over `serde_json` rather than with a crate: the rules are
//! few, and wasmix must refuse (not skip) entries it cannot use, such as an
//! OAuth `identitytoken`.

use super::OciError;
use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use std::path::{Path, PathBuf};

/// Docker Hub's key in `config.json`.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The credential files, in the order they are read.
pub fn default_files() -> Vec<PathBuf> {
    let env = |k: &str| std::env::var_os(k).map(PathBuf::from);
    let home = env("HOME");
    let mut files = Vec::new();
    files.extend(env("REGISTRY_AUTH_FILE"));
    files.extend(
        env("DOCKER_CONFIG")
            .map(|d| d.join("config.json"))
            .or_else(|| home.as_ref().map(|h| h.join(".docker/config.json"))),
    );
    files.extend(env("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")));
    files.extend(home.map(|h| h.join(".config/containers/auth.json")));
    files
}

/// The host a `config.json` key names: Docker's `ConvertToHostname` (no
/// scheme, nothing after the first `/`), with Docker Hub's names as one.
pub fn normalise(key: &str) -> String {
    let host = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        other => other.to_string(),
    }
}

fn read(path: &Path) -> Result<Option<serde_json::Value>, OciError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| OciError::Auth {
            registry: "-".into(),
            reason: format!("{} is not valid JSON: {e}", path.display()),
        })
}

/// The entry of `map` (an `auths` or `credHelpers` object) for `registry`.
fn entry<'a>(
    map: &'a serde_json::Value,
    registry: &str,
) -> Option<(&'a str, &'a serde_json::Value)> {
    let want = normalise(registry);
    map.as_object()?
        .iter()
        .find(|(k, _)| normalise(k) == want)
        .map(|(k, v)| (k.as_str(), v))
}

/// Credentials for `registry` from `files` (see the module docs);
/// anonymous when none of them has any.
pub fn lookup(files: &[PathBuf], registry: &str) -> Result<RegistryAuth, OciError> {
    let fail = |reason: String| OciError::Auth {
        registry: registry.to_string(),
        reason,
    };
    let mut store = None;
    for path in files {
        let Some(doc) = read(path)? else { continue };
        if let Some((key, e)) = entry(&doc["auths"], registry) {
            if let Some(auth) = e["auth"].as_str().filter(|a| !a.is_empty()) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|s| {
                        s.split_once(':')
                            .map(|(u, p)| (u.to_string(), p.to_string()))
                    });
                return decoded
                    .map(|(u, p)| RegistryAuth::Basic(u, p))
                    .ok_or_else(|| {
                        fail(format!(
                            "the `auth` of {key:?} in {} is not base64 user:password",
                            path.display()
                        ))
                    });
            }
            if let (Some(u), Some(p)) = (e["username"].as_str(), e["password"].as_str()) {
                return Ok(RegistryAuth::Basic(u.into(), p.into()));
            }
            if e["identitytoken"].is_string() {
                return Err(fail(format!(
                    "{key:?} in {} holds an OAuth identity token, which wasmix cannot use; log in with a password (`wasmix registry login`) or a credential helper",
                    path.display()
                )));
            }
        }
        if let Some((_, helper)) = entry(&doc["credHelpers"], registry) {
            if let Some(h) = helper.as_str() {
                return helper_get(h, registry);
            }
        }
        if store.is_none() {
            store = doc["credsStore"].as_str().map(str::to_string);
        }
    }
    match store {
        Some(h) => helper_get(&h, registry),
        None => Ok(RegistryAuth::Anonymous),
    }
}

/// The server URL a helper is asked about: Docker Hub by its key.
fn server_url(registry: &str) -> String {
    if normalise(registry) == "docker.io" {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

fn helper(helper: &str, verb: &str, input: &str, registry: &str) -> Result<Vec<u8>, OciError> {
    use std::io::Write;
    let program = format!("docker-credential-{helper}");
    let fail = |reason: String| OciError::Auth {
        registry: registry.to_string(),
        reason,
    };
    let mut child = std::process::Command::new(&program)
        .arg(verb)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("credential helper {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("credential helper {program}: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!(
            "credential helper {program} {verb} failed: {}",
            String::from_utf8_lossy(&out.stdout).trim()
        )));
    }
    Ok(out.stdout)
}

fn helper_get(name: &str, registry: &str) -> Result<RegistryAuth, OciError> {
    let out = match helper(name, "get", &server_url(registry), registry) {
        Ok(out) => out,
        // Helpers say "credentials not found" for registries they do not know.
        Err(_) => return Ok(RegistryAuth::Anonymous),
    };
    let doc: serde_json::Value = serde_json::from_slice(&out).map_err(|e| OciError::Auth {
        registry: registry.to_string(),
        reason: format!("credential helper docker-credential-{name} printed invalid JSON: {e}"),
    })?;
    match (doc["Username"].as_str(), doc["Secret"].as_str()) {
        (Some("<token>"), Some(token)) => Ok(RegistryAuth::Bearer(token.into())),
        (Some(u), Some(s)) => Ok(RegistryAuth::Basic(u.into(), s.into())),
        _ => Err(OciError::Auth {
            registry: registry.to_string(),
            reason: format!("credential helper docker-credential-{name} gave no Username/Secret"),
        }),
    }
}

/// Where `config` (Docker's `config.json`) says to keep `registry`'s
/// credentials: a helper's name, or `None` for its own `auths`.
fn helper_for(doc: &serde_json::Value, registry: &str) -> Option<String> {
    entry(&doc["credHelpers"], registry)
        .and_then(|(_, h)| h.as_str())
        .or_else(|| doc["credsStore"].as_str())
        .map(str::to_string)
}

fn write_config(path: &Path, doc: &serde_json::Value) -> Result<(), OciError> {
    let io = |source| OciError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        crate::fsutil::private_dir(dir).map_err(io)?;
    }
    // write_atomic's temporary file is 0600, so the file never exists with
    // wider permissions.
    crate::fsutil::write_atomic(
        path,
        serde_json::to_string_pretty(doc).expect("JSON").as_bytes(),
    )
    .map_err(io)
}

/// Store `user`/`password` for `registry` where `config` says: its helper
/// (`credHelpers`, `credsStore`), else its `auths`, keeping every other
/// entry. Returns where they went.
pub fn store(
    config: &Path,
    registry: &str,
    user: &str,
    password: &str,
) -> Result<String, OciError> {
    let mut doc = read(config)?.unwrap_or_else(|| serde_json::json!({}));
    if let Some(h) = helper_for(&doc, registry) {
        let input = serde_json::json!({
            "ServerURL": server_url(registry), "Username": user, "Secret": password,
        })
        .to_string();
        helper(&h, "store", &input, registry)?;
        return Ok(format!("credential helper docker-credential-{h}"));
    }
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    if !doc["auths"].is_object() {
        doc["auths"] = serde_json::json!({});
    }
    let key = match entry(&doc["auths"], registry) {
        Some((k, _)) => k.to_string(),
        None => server_url(registry),
    };
    doc["auths"][key] = serde_json::json!({ "auth": token });
    write_config(config, &doc)?;
    Ok(config.display().to_string())
}

/// Forget `registry`'s credentials where `config` keeps them. Returns
/// whether there were any.
pub fn erase(config: &Path, registry: &str) -> Result<bool, OciError> {
    let Some(mut doc) = read(config)? else {
        return Ok(false);
    };
    if let Some(h) = helper_for(&doc, registry) {
        helper(&h, "erase", &server_url(registry), registry)?;
        return Ok(true);
    }
    let want = normalise(registry);
    let Some(auths) = doc["auths"].as_object_mut() else {
        return Ok(false);
    };
    let before = auths.len();
    auths.retain(|k, _| normalise(k) != want);
    if auths.len() == before {
        return Ok(false);
    }
    write_config(config, &doc)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_normalised_as_docker_does() {
        assert_eq!(normalise("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalise("registry-1.docker.io"), "docker.io");
        assert_eq!(normalise("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
        assert_eq!(normalise("ghcr.io"), "ghcr.io");
    }

    #[test]
    fn docker_hub_podman_files_and_identity_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let docker = dir.path().join("config.json");
        let podman = dir.path().join("auth.json");
        let basic = base64::engine::general_purpose::STANDARD.encode("hub:pw");
        std::fs::write(
            &docker,
            format!(r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{basic}"}}, "t.io": {{"identitytoken": "x"}}}}}}"#),
        )
        .unwrap();
        let pod = base64::engine::general_purpose::STANDARD.encode("pod:pw2");
        std::fs::write(
            &podman,
            format!(r#"{{"auths": {{"q.io": {{"auth": "{pod}"}}}}}}"#),
        )
        .unwrap();
        let files = vec![docker.clone(), podman.clone()];
        assert!(
            matches!(lookup(&files, "index.docker.io").unwrap(), RegistryAuth::Basic(u, _) if u == "hub")
        );
        assert!(matches!(lookup(&files, "q.io").unwrap(), RegistryAuth::Basic(u, _) if u == "pod"));
        assert!(matches!(
            lookup(&files, "none.io").unwrap(),
            RegistryAuth::Anonymous
        ));
        let err = lookup(&files, "t.io").unwrap_err().to_string();
        assert!(err.contains("identity token"), "{err}");
        // Store keeps other entries; erase removes only the one.
        store(&docker, "q.io", "me", "secret").unwrap();
        assert!(
            matches!(lookup(std::slice::from_ref(&docker), "q.io").unwrap(), RegistryAuth::Basic(u, _) if u == "me")
        );
        assert!(erase(&docker, "q.io").unwrap());
        assert!(!erase(&docker, "q.io").unwrap());
        assert!(
            matches!(lookup(&[docker], "docker.io").unwrap(), RegistryAuth::Basic(u, _) if u == "hub")
        );
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {

        /// Whatever a config file holds, looking a registry up in it is an
        /// answer or a clear error, never a panic.
        #[test]
        fn arbitrary_config_files_never_panic(text in "\\PC{0,200}", key in "[a-z.:/0-9]{1,20}") {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("config.json");
            std::fs::write(&file, &text).unwrap();
            let _ = lookup(std::slice::from_ref(&file), &key);
            let doc = format!(r#"{{"auths": {{"{key}": {text:?}}}}}"#);
            std::fs::write(&file, doc).unwrap();
            let _ = lookup(std::slice::from_ref(&file), &key);
        }
    }
}
