//! What wasmix does not honour yet. A Porter field that would change what a
//! bundle does is never parsed and dropped: each one present in a manifest
//! is refused here, with its location and what to do instead, before
//! anything runs (`wasmix lint` and every action go through it).
//!
//! When a field becomes supported, its check leaves this list and a test of
//! its behaviour takes its place.

use crate::manifest::Manifest;

/// One field present in the manifest that wasmix cannot honour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// Document path (`credentials[0].path`).
    pub path: String,
    /// What is not supported, and what to do.
    pub message: String,
}

/// Every field of `manifest` that wasmix would otherwise ignore.
pub fn unsupported(m: &Manifest) -> Vec<Unsupported> {
    let mut out = Vec::new();
    let mut refuse = |path: String, message: &str| {
        out.push(Unsupported {
            path,
            message: message.to_string(),
        })
    };
    if !m.required.is_empty() {
        refuse(
            "required".into(),
            "required extensions are not supported: wasmix runs no invocation image; grant \
             container work per step with `grants: {images: [...]}` and `--driver docker`",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(text: &str) -> Vec<String> {
        let m = crate::manifest::parse(std::path::Path::new("porter.yaml"), text).unwrap();
        unsupported(&m).into_iter().map(|u| u.path).collect()
    }

    const HEAD: &str = "schemaVersion: 1.0.0\nname: t\nversion: 0.1.0\nmixins: [exec]\ninstall:\n  - exec:\n      command: echo\nuninstall:\n  - exec:\n      command: echo\n";

    #[test]
    fn a_plain_bundle_uses_nothing_unsupported() {
        assert!(paths(HEAD).is_empty());
    }

    #[test]
    fn each_ignored_field_is_named() {
        let text = format!(
            "{HEAD}state:\n  - name: tfstate\n    path: /cnab/app/tfstate\nrequired:\n  - docker\n\
             dependencies:\n  requires:\n    - name: db\n      bundle:\n        reference: localhost:5000/db:v1\n"
        );
        assert_eq!(paths(&text), ["required"]);
    }
}
