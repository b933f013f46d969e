//! The bundle artifact: an OCI image manifest whose config says what the
//! bundle is and pins every mixin it uses, whose first layer is the bundle
//! directory (a deterministic gzipped tar), and whose further layers are the
//! mixin components the bundle carries itself. `docs/distribution.md`
//! describes the format for other tools.

use super::BundleError;
use crate::oci::artifact::{Descriptor, ImageManifest};
use crate::oci::{digest_hex, sha256_digest, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// The manifest's `artifactType`.
pub const ARTIFACT_TYPE: &str = "application/vnd.wasmix.bundle.v1";
/// Media type of the config blob ([`BundleConfig`] as JSON).
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasmix.bundle.config.v1+json";
/// Media type of the first layer: the bundle directory.
pub const CONTENT_MEDIA_TYPE: &str = "application/vnd.wasmix.bundle.content.v1.tar+gzip";
/// Annotation on a component layer naming the mixin it is.
pub const ANNOTATION_MIXIN: &str = crate::oci::ANNOTATION_MIXIN;
/// Largest config blob read.
pub const MAX_CONFIG: u64 = 1 << 20;

/// What the config blob says: the bundle, and where each of its mixins
/// comes from, pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleConfig {
    /// Bundle name (`porter.yaml`'s `name`).
    pub name: String,
    /// Bundle version.
    pub version: String,
    /// Bundle description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The mixin contract every component implements.
    pub contract: String,
    /// Every mixin the bundle uses, by name.
    pub mixins: BTreeMap<String, MixinPin>,
}

/// Where one mixin of a published bundle comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase", deny_unknown_fields)]
pub enum MixinPin {
    /// Carried in the bundle artifact as a layer; `digest` is the
    /// component's (the layer's) digest.
    Bundled {
        /// Layer digest.
        digest: String,
    },
    /// A mixin artifact in a registry, pinned by its manifest digest and
    /// verified under its own repository's trust scope.
    Registry {
        /// The reference the bundle names it by.
        reference: String,
        /// The manifest digest it was pinned to at publish.
        digest: String,
    },
}

/// A bundle artifact ready to push: the manifest and every blob it names.
#[derive(Debug, Clone)]
pub struct BuiltBundle {
    /// Manifest bytes.
    pub manifest: Vec<u8>,
    /// Manifest digest.
    pub digest: String,
    /// (digest, bytes) of the config, the content and every bundled mixin.
    pub blobs: Vec<(String, Vec<u8>)>,
}

/// Assemble the artifact. Everything is sorted and nothing time-dependent
/// is written, so the same inputs give the same digest.
pub fn build(
    config: &BundleConfig,
    content: Vec<u8>,
    bundled: BTreeMap<String, Vec<u8>>,
) -> BuiltBundle {
    let config_bytes = serde_json::to_vec(config).expect("JSON of plain values");
    let config_digest = sha256_digest(&config_bytes);
    let content_digest = sha256_digest(&content);
    let mut layers = vec![json!({
        "mediaType": CONTENT_MEDIA_TYPE,
        "digest": content_digest,
        "size": content.len(),
        "annotations": {"org.opencontainers.image.title": "bundle.tar.gz"},
    })];
    let mut blobs = vec![(config_digest.clone(), config_bytes.clone())];
    blobs.push((content_digest, content));
    for (name, wasm) in bundled {
        let digest = sha256_digest(&wasm);
        layers.push(json!({
            "mediaType": LAYER_MEDIA_TYPE,
            "digest": digest,
            "size": wasm.len(),
            "annotations": {
                ANNOTATION_MIXIN: name,
                "org.opencontainers.image.title": format!("{name}.wasm"),
            },
        }));
        blobs.push((digest, wasm));
    }
    let mut annotations = BTreeMap::new();
    annotations.insert("org.opencontainers.image.title", config.name.clone());
    annotations.insert("org.opencontainers.image.version", config.version.clone());
    if let Some(d) = &config.description {
        annotations.insert("org.opencontainers.image.description", d.clone());
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config_bytes.len()},
        "layers": layers,
        "annotations": annotations,
    });
    let manifest = serde_json::to_vec(&manifest).expect("JSON of plain values");
    BuiltBundle {
        digest: sha256_digest(&manifest),
        manifest,
        blobs,
    }
}

/// Size caps applied to a bundle manifest's descriptors before any blob is
/// fetched.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Largest compressed bundle directory.
    pub content: u64,
    /// Largest bundled component.
    pub mixin: u64,
    /// Most bundled components.
    pub mixins: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            content: 64 << 20,
            mixin: 256 << 20,
            mixins: 64,
        }
    }
}

/// A checked bundle manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleManifest {
    /// The config descriptor.
    pub config: Descriptor,
    /// The bundle directory layer.
    pub content: Descriptor,
    /// Bundled component layers by mixin name.
    pub mixins: BTreeMap<String, Descriptor>,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
}

impl BundleManifest {
    /// Parse and check a manifest: an OCI image manifest with the bundle
    /// config media type, one content layer first, then only named
    /// `application/wasm` layers; no foreign URLs; sizes within `caps`.
    pub fn parse(reference: &str, bytes: &[u8], caps: Caps) -> Result<Self, BundleError> {
        let bad = |reason: String| BundleError::Format {
            reference: reference.to_string(),
            reason,
        };
        let raw = ImageManifest::parse(bytes).map_err(bad)?;
        if raw.config.media_type != CONFIG_MEDIA_TYPE {
            let hint = if raw.config.media_type == crate::oci::CONFIG_MEDIA_TYPE {
                " (it is a mixin: use `wasmix mixin` commands)"
            } else {
                ""
            };
            return Err(bad(format!(
                "config media type {} (want {CONFIG_MEDIA_TYPE}){hint}",
                raw.config.media_type
            )));
        }
        if raw
            .artifact_type
            .as_deref()
            .is_some_and(|t| t != ARTIFACT_TYPE)
        {
            return Err(bad(format!(
                "artifactType {:?} (want {ARTIFACT_TYPE})",
                raw.artifact_type.unwrap_or_default()
            )));
        }
        let Some((content, rest)) = raw.layers.split_first() else {
            return Err(bad("no layers (want the bundle content first)".into()));
        };
        if content.media_type != CONTENT_MEDIA_TYPE {
            return Err(bad(format!(
                "first layer media type {} (want {CONTENT_MEDIA_TYPE})",
                content.media_type
            )));
        }
        if rest.len() > caps.mixins {
            return Err(bad(format!(
                "{} bundled mixins (at most {})",
                rest.len(),
                caps.mixins
            )));
        }
        let too_large = |what: String, size: i64, limit: u64| BundleError::TooLarge {
            what: format!("{reference}: {what}"),
            size: size as u64,
            limit,
        };
        if raw.config.size as u64 > MAX_CONFIG {
            return Err(too_large("config".into(), raw.config.size, MAX_CONFIG));
        }
        if content.size as u64 > caps.content {
            return Err(too_large(
                "bundle content".into(),
                content.size,
                caps.content,
            ));
        }
        let mut mixins = BTreeMap::new();
        for d in rest {
            if d.media_type != LAYER_MEDIA_TYPE {
                return Err(bad(format!(
                    "layer {} has media type {} (want {LAYER_MEDIA_TYPE} after the content)",
                    d.digest, d.media_type
                )));
            }
            let Some(name) = d.annotations.as_ref().and_then(|a| a.get(ANNOTATION_MIXIN)) else {
                return Err(bad(format!(
                    "component layer {} does not name its mixin ({ANNOTATION_MIXIN})",
                    d.digest
                )));
            };
            if d.size as u64 > caps.mixin {
                return Err(too_large(format!("mixin {name}"), d.size, caps.mixin));
            }
            if mixins.insert(name.clone(), d.clone()).is_some() {
                return Err(bad(format!("mixin {name} is bundled twice")));
            }
        }
        Ok(BundleManifest {
            config: raw.config,
            content: content.clone(),
            mixins,
            annotations: raw.annotations,
        })
    }

    /// The version, from the annotations.
    pub fn version(&self) -> Option<&str> {
        self.annotations
            .get("org.opencontainers.image.version")
            .map(String::as_str)
    }

    /// Parse `bytes` as this manifest's config and check it agrees with
    /// the layers: every bundled pin has its layer, and no layer is unpinned.
    pub fn config(&self, reference: &str, bytes: &[u8]) -> Result<BundleConfig, BundleError> {
        let bad = |reason: String| BundleError::Format {
            reference: reference.to_string(),
            reason,
        };
        let config: BundleConfig = serde_json::from_slice(bytes).map_err(|e| {
            bad(format!(
                "config: {e} (made by a newer wasmix? this one reads {CONFIG_MEDIA_TYPE})"
            ))
        })?;
        if config.contract != crate::oci::CONTRACT {
            return Err(bad(format!(
                "its mixins implement {}, this wasmix runs {}",
                config.contract,
                crate::oci::CONTRACT
            )));
        }
        for (name, pin) in &config.mixins {
            match pin {
                MixinPin::Bundled { digest } => match self.mixins.get(name) {
                    Some(d) if &d.digest == digest => {}
                    Some(d) => {
                        return Err(bad(format!(
                            "mixin {name} is pinned to {digest} but its layer is {}",
                            d.digest
                        )))
                    }
                    None => return Err(bad(format!("mixin {name} is pinned but not bundled"))),
                },
                MixinPin::Registry { reference, digest } => {
                    if digest_hex(digest).is_none() {
                        return Err(bad(format!(
                            "mixin {name} ({reference}) is pinned to {digest:?}, not a sha256 digest"
                        )));
                    }
                }
            }
        }
        if let Some(extra) = self
            .mixins
            .keys()
            .find(|n| !matches!(config.mixins.get(*n), Some(MixinPin::Bundled { .. })))
        {
            return Err(bad(format!(
                "layer for mixin {extra} is not pinned in the config"
            )));
        }
        Ok(config)
    }

    /// Digests of every blob this manifest names (for the cache's prune).
    pub fn blobs(&self) -> Vec<String> {
        std::iter::once(self.config.digest.clone())
            .chain(std::iter::once(self.content.digest.clone()))
            .chain(self.mixins.values().map(|d| d.digest.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mixins: BTreeMap<String, MixinPin>) -> BundleConfig {
        BundleConfig {
            name: "hello".into(),
            version: "0.1.0".into(),
            description: None,
            contract: crate::oci::CONTRACT.into(),
            mixins,
        }
    }

    #[test]
    fn built_bundles_parse_and_agree_with_their_config() {
        let wasm = b"\0asm-exec".to_vec();
        let pins = BTreeMap::from([
            (
                "exec".to_string(),
                MixinPin::Bundled {
                    digest: sha256_digest(&wasm),
                },
            ),
            (
                "helm3".to_string(),
                MixinPin::Registry {
                    reference: "r.example/helm3:v1".into(),
                    digest: sha256_digest(b"m"),
                },
            ),
        ]);
        let c = config(pins);
        let built = build(&c, b"tar".to_vec(), BTreeMap::from([("exec".into(), wasm)]));
        // Deterministic.
        let again = build(
            &c,
            b"tar".to_vec(),
            BTreeMap::from([("exec".into(), b"\0asm-exec".to_vec())]),
        );
        assert_eq!(built.digest, again.digest);
        let m = BundleManifest::parse("r", &built.manifest, Caps::default()).unwrap();
        assert_eq!(m.mixins.len(), 1);
        assert_eq!(m.version(), Some("0.1.0"));
        assert_eq!(m.config("r", &built.blobs[0].1).unwrap(), c);
        // A config that pins a layer the manifest lacks is refused.
        let lying = config(BTreeMap::from([(
            "exec".to_string(),
            MixinPin::Bundled {
                digest: sha256_digest(b"other"),
            },
        )]));
        let err = m
            .config("r", &serde_json::to_vec(&lying).unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("but its layer is"), "{err}");
        // Unknown fields are refused, not dropped.
        let mut v = serde_json::to_value(&c).unwrap();
        v["extra"] = json!(1);
        assert!(m
            .config("r", &serde_json::to_vec(&v).unwrap())
            .unwrap_err()
            .to_string()
            .contains("newer wasmix"));
    }

    #[test]
    fn lying_or_oversized_manifests_are_refused() {
        let built = build(&config(BTreeMap::new()), vec![1; 100], BTreeMap::new());
        let text = String::from_utf8(built.manifest.clone()).unwrap();
        let small = Caps {
            content: 10,
            ..Caps::default()
        };
        let err = BundleManifest::parse("r", &built.manifest, small).unwrap_err();
        assert!(err.to_string().contains("over the limit"), "{err}");
        let mixin = text.replace(CONFIG_MEDIA_TYPE, crate::oci::CONFIG_MEDIA_TYPE);
        let err = BundleManifest::parse("r", mixin.as_bytes(), Caps::default()).unwrap_err();
        assert!(err.to_string().contains("it is a mixin"), "{err}");
        let urls = text.replace("\"size\":100", "\"size\":100,\"urls\":[\"http://x\"]");
        let err = BundleManifest::parse("r", urls.as_bytes(), Caps::default()).unwrap_err();
        assert!(err.to_string().contains("foreign urls"), "{err}");
        let negative = text.replace("\"size\":100", "\"size\":-1");
        let err = BundleManifest::parse("r", negative.as_bytes(), Caps::default()).unwrap_err();
        assert!(err.to_string().contains("negative"), "{err}");
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {

        /// Arbitrary JSON-ish text: refused or parsed, never a panic; a
        /// parsed manifest always respects the caps.
        #[test]
        fn arbitrary_manifests_never_panic(text in "\\PC{0,400}") {
            if let Ok(m) = BundleManifest::parse("fuzz", text.as_bytes(), Caps::default()) {
                prop_assert!(m.content.size as u64 <= Caps::default().content);
            }
        }
    }
}
