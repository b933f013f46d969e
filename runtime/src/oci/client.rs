//! A registry client for mixin artifacts, over `oci-client`.
//!
//! What this adds to `oci-client`: digests are always computed here from the
//! bytes received (a `Docker-Content-Digest` header is never trusted), blobs
//! stream into the cache with their size capped at the descriptor's and the
//! configured limit, plain HTTP is used only for hosts listed as insecure,
//! credentials come from Docker's `config.json` (and its credential
//! helpers), and transient failures are retried with backoff.

use super::transport::Found;
use super::{sha256_digest, Artifact, Cache, OciError, WasmManifest, MANIFEST_MEDIA_TYPE};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::path::PathBuf;
use std::time::Duration;
use wasmix_signing::cosign::{self, SignatureLayer};
use wasmix_signing::{Evidence, TrustPolicy};

/// How to talk to registries.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Registries (`host:port`) that may be reached over plain HTTP.
    pub insecure: Vec<String>,
    /// Largest manifest accepted.
    pub max_manifest: u64,
    /// Largest component accepted.
    pub max_layer: u64,
    /// Connect and read timeout.
    pub timeout: Duration,
    /// Attempts after the first for transient failures.
    pub retries: u32,
    /// Docker's `config.json`: where `registry login` writes.
    pub docker_config: Option<PathBuf>,
    /// Where credentials are read, in order (see [`super::credentials`]).
    pub auth_files: Vec<PathBuf>,
    /// Show transfer progress on stderr (for a terminal).
    pub progress: bool,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        let docker_config = std::env::var_os("DOCKER_CONFIG")
            .map(|d| PathBuf::from(d).join("config.json"))
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
            });
        RegistryConfig {
            insecure: Vec::new(),
            max_manifest: 4 << 20,
            max_layer: 256 << 20,
            timeout: Duration::from_secs(30),
            retries: 3,
            docker_config,
            auth_files: super::credentials::default_files(),
            progress: false,
        }
    }
}

/// A connection to registries.
pub struct Registry {
    client: Client,
    transport: super::transport::Transport,
    rt: tokio::runtime::Runtime,
    config: RegistryConfig,
}

/// Manifest media types read: OCI, and Docker's v2 (older cosign
/// signatures); each reader checks what it got.
/// An OCI image index: what the referrers API and the referrers tag schema return.
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Signature manifests read per artifact, however many are listed.
pub const MAX_REFERRERS: usize = 16;

const ACCEPT_MANIFESTS: &str =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// An artifact pulled into the cache.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// Manifest digest.
    pub digest: String,
    /// The checked manifest.
    pub manifest: WasmManifest,
    /// The trust policy's verdict.
    pub verification: super::trust::Verification,
}

/// Parse an OCI reference (`host/repo:tag`, `host/repo@sha256:…`).
pub fn parse_reference(text: &str) -> Result<Reference, OciError> {
    super::reference::parse(text).map_err(|reason| OciError::Reference {
        reference: text.to_string(),
        reason,
    })
}

impl Registry {
    /// A client with `config`.
    pub fn new(config: RegistryConfig) -> Result<Registry, OciError> {
        let client = Client::new(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(config.insecure.clone()),
            read_timeout: Some(config.timeout),
            connect_timeout: Some(config.timeout),
            user_agent: concat!("wasmix/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| OciError::Io {
                path: "tokio runtime".into(),
                source,
            })?;
        Ok(Registry {
            client,
            transport: super::transport::Transport::new(&config)?,
            rt,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Credentials for `registry` as Docker and Podman find them (see
    /// [`super::credentials`]).
    pub fn auth_for(&self, registry: &str) -> Result<RegistryAuth, OciError> {
        super::credentials::lookup(&self.config.auth_files, registry)
    }

    fn retry<T>(
        &self,
        registry: &str,
        what: &str,
        op: impl AsyncFnMut() -> Result<T, OciDistributionError>,
    ) -> Result<T, OciError> {
        let mut op = op;
        self.rt.block_on(async {
            let mut attempt = 0;
            loop {
                match op().await {
                    Ok(v) => return Ok(v),
                    Err(e) if attempt < self.config.retries && transient(&e) => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    }
                    Err(e) => return Err(map_error(registry, what, e)),
                }
            }
        })
    }

    /// Resolve `reference` to its manifest digest, computed from the bytes.
    pub fn resolve(&self, reference: &Reference) -> Result<(String, Vec<u8>), OciError> {
        let bytes = self
            .read_manifest(reference, self.config.max_manifest)?
            .ok_or_else(|| OciError::Registry {
                registry: reference.resolve_registry().to_string(),
                reason: format!("{}: not found", reference.whole()),
            })?;
        let digest = sha256_digest(&bytes);
        if let Some(pinned) = reference.digest() {
            if pinned != digest {
                return Err(OciError::Digest {
                    what: format!("manifest {}", reference.whole()),
                    expected: pinned.into(),
                    actual: digest,
                });
            }
        }
        Ok((digest, bytes))
    }

    /// The manifest at `reference` (at most `limit` bytes, read as they
    /// arrive), or `None` when the registry has none.
    fn read_manifest(
        &self,
        reference: &Reference,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, OciError> {
        let at = reference
            .digest()
            .or(reference.tag())
            .unwrap_or("latest")
            .to_string();
        self.read_path(
            reference,
            &format!("manifests/{at}"),
            ACCEPT_MANIFESTS,
            limit,
        )
    }

    /// The tags of `reference`'s repository (at most 10 000, the registry's
    /// first page: wasmix asks for them all at once), in the registry's order.
    pub fn tags(&self, reference: &Reference) -> Result<Vec<String>, OciError> {
        let registry = reference.resolve_registry().to_string();
        let bytes = self.read_path(
            reference,
            "tags/list?n=10000",
            "application/json",
            self.config.max_manifest,
        )?;
        let Some(bytes) = bytes else {
            return Ok(Vec::new());
        };
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let list: TagList = serde_json::from_slice(&bytes).map_err(|e| OciError::Registry {
            registry: registry.clone(),
            reason: format!("tag list of {}: {e}", reference.repository()),
        })?;
        Ok(list.tags.unwrap_or_default())
    }

    /// Pull `reference` into `cache`: resolve it to a digest once, check
    /// the signatures for that digest against `policy`, then fetch and
    /// check every blob by digest. The tag is never fetched again, so a tag
    /// moved after verification changes nothing.
    pub fn pull(
        &self,
        reference: &Reference,
        cache: &Cache,
        policy: &TrustPolicy,
    ) -> Result<Pulled, OciError> {
        let shown = reference.whole();
        let (digest, manifest_bytes) = self.resolve(reference)?;
        let manifest = WasmManifest::parse(&shown, &manifest_bytes, self.config.max_layer)?;
        let verification = match super::trust::cached(policy, cache, &digest) {
            Some(v) => v,
            None => super::trust::check(
                policy,
                Some(self),
                cache,
                reference,
                &digest,
                manifest.version(),
                None,
            )?,
        };
        let by_digest = Reference::with_digest(
            reference.registry().to_string(),
            reference.repository().to_string(),
            digest.clone(),
        );
        self.fetch_blobs(&by_digest, &[&manifest.config, &manifest.layer], cache)?;
        cache.write_blob(&digest, &manifest_bytes)?;
        cache.record_checked(&shown, &digest, &manifest, Some(verification.clone()))?;
        Ok(Pulled {
            digest,
            manifest,
            verification,
        })
    }

    /// The signatures of manifest `digest` in `reference`'s repository,
    /// wherever cosign keeps them: under its `sha256-<hex>.sig` tag, and as
    /// OCI 1.1 referrers (a signature or a Sigstore bundle whose manifest
    /// names `digest` as its subject — how cosign v3 stores them by default),
    /// found through the registry's referrers API or, where it has none,
    /// the referrers tag schema (`sha256-<hex>`). Every manifest and layer
    /// is bounded before it is read. What was found is cached as one
    /// combined signature manifest, so a verdict can be re-made offline.
    pub fn signatures(
        &self,
        reference: &Reference,
        digest: &str,
        cache: &Cache,
    ) -> Result<(Evidence, Option<String>), OciError> {
        let tag = cosign::signature_tag(digest).ok_or_else(|| OciError::Reference {
            reference: digest.into(),
            reason: "not a sha256 digest".into(),
        })?;
        let at = |tag_or_digest: &str, by_digest: bool| {
            let (registry, repository) = (
                reference.registry().to_string(),
                reference.repository().to_string(),
            );
            if by_digest {
                Reference::with_digest(registry, repository, tag_or_digest.to_string())
            } else {
                Reference::with_tag(registry, repository, tag_or_digest.to_string())
            }
        };
        let mut looked = Vec::new();
        let mut manifests: Vec<(Reference, Vec<u8>)> = Vec::new();
        let sig_ref = at(&tag, false);
        match self.read_manifest(&sig_ref, cosign::MAX_MANIFEST as u64)? {
            Some(bytes) => manifests.push((sig_ref, bytes)),
            None => looked.push(format!("tag {tag}: not there")),
        }
        // Referrers are extra evidence: a registry that answers oddly, or a
        // referrer that is malformed, is noted and passed over, so it can
        // neither break a check the `.sig` tag satisfies nor block one.
        let referrers = match self.referrers(reference, digest) {
            Ok((list, where_)) => {
                looked.push(where_);
                list
            }
            Err(e) => {
                looked.push(format!("OCI referrers: not read ({e})"));
                Vec::new()
            }
        };
        for d in referrers {
            let r = at(&d, true);
            match self.read_manifest(&r, cosign::MAX_MANIFEST as u64) {
                Ok(Some(bytes)) if sha256_digest(&bytes) == d => manifests.push((r, bytes)),
                Ok(Some(_)) => looked.push(format!("referrer {d}: its bytes do not hash to it")),
                Ok(None) => looked.push(format!("referrer {d}: listed but not there")),
                Err(e) => looked.push(format!("referrer {d}: {e}")),
            }
        }
        // Every manifest's layers counted (and each manifest checked) before
        // any blob is fetched: at most MAX_LAYERS layers in all.
        let from_tag = manifests.first().is_some_and(|(r, _)| r.tag().is_some());
        let mut kept: Vec<(Reference, Vec<u8>, Vec<super::artifact::Descriptor>)> = Vec::new();
        let mut total = 0;
        for (i, (r, bytes)) in manifests.into_iter().enumerate() {
            let parsed = cosign::parse_manifest(&r.whole(), &bytes).map_err(OciError::from);
            let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let config =
                serde_json::from_value::<super::artifact::Descriptor>(doc["config"].clone())
                    .map_err(|e| format!("config: {e}"))
                    .and_then(|c| {
                        if c.size as u64 > cosign::MAX_LAYER
                            || super::digest_hex(&c.digest).is_none()
                        {
                            Err("config is not a small sha256 blob".to_string())
                        } else {
                            Ok(c)
                        }
                    });
            let checked = match (parsed, config) {
                (Ok(found), Ok(cfg)) => Ok((found, cfg)),
                (Err(e), _) => Err(e.to_string()),
                (_, Err(e)) => Err(e),
            };
            let (found, cfg) = match checked {
                Ok(x) => x,
                // The `.sig` tag's manifest is cosign's own: a bad one is
                // refused, as before referrers were read.
                Err(reason) if i == 0 && from_tag => {
                    return Err(OciError::Format {
                        reference: r.whole(),
                        reason,
                    })
                }
                Err(reason) => {
                    looked.push(format!("{}: passed over ({reason})", r.whole()));
                    continue;
                }
            };
            if total + found.len() > cosign::MAX_LAYERS {
                looked.push(format!(
                    "stopped at {} signature layers; {} not read",
                    total,
                    r.whole()
                ));
                break;
            }
            total += found.len();
            // The config too, so the cached signature manifest is whole and
            // `mixin save` can carry it.
            let descriptors: Vec<super::artifact::Descriptor> = found
                .iter()
                .map(super::trust::descriptor)
                .chain(std::iter::once(cfg))
                .collect();
            kept.push((r, bytes, descriptors));
        }
        let looked_in = format!("looked for {}", looked.join("; "));
        if kept.is_empty() {
            return Ok((
                Evidence {
                    looked_in,
                    ..Default::default()
                },
                None,
            ));
        }
        // One manifest holding every layer found, in the order found.
        let mut layers: Vec<serde_json::Value> = Vec::new();
        let mut config: Option<serde_json::Value> = None;
        for (r, bytes, descriptors) in &kept {
            self.fetch_blobs(r, &descriptors.iter().collect::<Vec<_>>(), cache)?;
            let doc: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
            config.get_or_insert_with(|| doc["config"].clone());
            layers.extend(doc["layers"].as_array().cloned().unwrap_or_default());
        }
        let combined = match kept.as_slice() {
            // A single manifest is cached as the registry served it.
            [(_, bytes, _)] => bytes.clone(),
            _ => serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config,
                "layers": layers,
            }))
            .map_err(|e| OciError::Format {
                reference: reference.whole(),
                reason: format!("combining signature manifests: {e}"),
            })?,
        };
        let evidence =
            super::trust::evidence_from(&looked_in, &combined, |d| cache.read_blob(&d.digest))?;
        let sig_digest = sha256_digest(&combined);
        cache.write_blob(&sig_digest, &combined)?;
        Ok((evidence, Some(sig_digest)))
    }

    /// The digests of the signature manifests that name `digest` as their
    /// subject (OCI 1.1), at most [`MAX_REFERRERS`]: from the referrers API,
    /// or the referrers tag schema where the registry has no such API.
    /// Only signatures and Sigstore bundles are listed; attestations and
    /// SBOMs are not evidence of a signature. Also says where it looked.
    fn referrers(
        &self,
        reference: &Reference,
        digest: &str,
    ) -> Result<(Vec<String>, String), OciError> {
        // A registry without the API answers 404, or 400/405/406, or a
        // 200 that is not an index: each means "use the tag schema".
        let api = self
            .read_path(
                reference,
                &format!("referrers/{digest}"),
                OCI_INDEX,
                cosign::MAX_MANIFEST as u64,
            )
            .ok()
            .flatten()
            .filter(|b| {
                serde_json::from_slice::<serde_json::Value>(b)
                    .is_ok_and(|v| v["manifests"].is_array())
            });
        let (index, where_) = match api {
            Some(bytes) => (Some(bytes), "OCI referrers (referrers API)".to_string()),
            None => {
                // The fallback the OCI 1.1 distribution spec gives clients.
                let tag = digest.replacen(':', "-", 1);
                let r = Reference::with_tag(
                    reference.registry().to_string(),
                    reference.repository().to_string(),
                    tag.clone(),
                );
                let bytes = self.read_path(
                    &r,
                    &format!("manifests/{tag}"),
                    OCI_INDEX,
                    cosign::MAX_MANIFEST as u64,
                )?;
                let where_ = match &bytes {
                    Some(_) => format!("OCI referrers (tag {tag})"),
                    None => format!("OCI referrers: no referrers API, no tag {tag}"),
                };
                (bytes, where_)
            }
        };
        let Some(index) = index else {
            return Ok((Vec::new(), where_));
        };
        let doc: serde_json::Value =
            serde_json::from_slice(&index).map_err(|e| OciError::Format {
                reference: format!("{}@{digest}", reference.repository()),
                reason: format!("referrers index: {e}"),
            })?;
        let listed = doc["manifests"].as_array().cloned().unwrap_or_default();
        let digests: Vec<String> = listed
            .iter()
            .filter(|d| {
                d["artifactType"].as_str().is_some_and(|t| {
                    t == cosign::SIGNATURE_ARTIFACT_TYPE || t == cosign::BUNDLE_MEDIA_TYPE
                })
            })
            .filter_map(|d| d["digest"].as_str())
            .filter(|d| super::digest_hex(d).is_some())
            .take(MAX_REFERRERS)
            .map(String::from)
            .collect();
        let where_ = format!(
            "{where_}: {} signature(s) of {} listed",
            digests.len(),
            listed.len()
        );
        Ok((digests, where_))
    }

    /// GET `path` under `reference`'s repository with `accept`, at most
    /// `limit` bytes (read as they arrive); `None` when the registry has
    /// nothing there.
    fn read_path(
        &self,
        reference: &Reference,
        path: &str,
        accept: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, OciError> {
        let registry = reference.resolve_registry().to_string();
        let auth = self.auth_for(&registry)?;
        self.rt.block_on(async {
            let mut bytes = Vec::new();
            let found = self
                .transport
                .fetch(
                    &self.client,
                    reference,
                    &auth,
                    path,
                    Some(accept),
                    limit,
                    self.config.retries,
                    &mut |chunk| {
                        bytes.extend_from_slice(chunk);
                        Ok(())
                    },
                )
                .await?;
            Ok(match found {
                Found::Yes => Some(bytes),
                Found::No => None,
            })
        })
    }

    /// Add `layer` to the signatures of manifest `digest` in `reference`'s
    /// repository (cosign appends: earlier signatures stay).
    pub fn attach_signature(
        &self,
        reference: &Reference,
        digest: &str,
        layer: SignatureLayer,
        cache: &Cache,
    ) -> Result<(), OciError> {
        let (existing, _) = self.signatures(reference, digest, cache)?;
        let mut layers = existing.signatures;
        // Bundles stored beside the signatures stay too.
        layers.extend(existing.bundles.into_iter().map(|payload| SignatureLayer {
            media_type: cosign::BUNDLE_MEDIA_TYPE.to_string(),
            payload,
            annotations: Default::default(),
        }));
        if layers.contains(&layer) {
            return Ok(());
        }
        layers.push(layer);
        let built = cosign::build_manifest(&layers);
        let tag = cosign::signature_tag(digest).expect("checked by signatures()");
        let sig_ref = Reference::with_tag(
            reference.registry().to_string(),
            reference.repository().to_string(),
            tag,
        );
        let blobs: Vec<(&str, &[u8])> = built
            .blobs
            .iter()
            .map(|(d, b)| (d.as_str(), b.as_slice()))
            .collect();
        self.push_parts(&sig_ref, &blobs, &built.manifest)?;
        Ok(())
    }

    /// Fetch the blobs of `descriptors` the cache lacks, at the same time,
    /// each checked against its digest and capped at its descriptor's size.
    pub fn fetch_blobs(
        &self,
        reference: &Reference,
        descriptors: &[&super::artifact::Descriptor],
        cache: &Cache,
    ) -> Result<(), OciError> {
        let mut seen = std::collections::HashSet::new();
        let missing = descriptors
            .iter()
            .filter(|d| !cache.has_blob(&d.digest) && seen.insert(d.digest.clone()))
            .map(|d| self.fetch_blob(reference, d, cache));
        self.rt
            .block_on(futures_util::future::try_join_all(missing))
            .map(|_| ())
    }

    async fn fetch_blob(
        &self,
        reference: &Reference,
        d: &super::artifact::Descriptor,
        cache: &Cache,
    ) -> Result<(), OciError> {
        let registry = reference.resolve_registry().to_string();
        let auth = self.auth_for(&registry)?;
        let limit = (d.size as u64).min(self.config.max_layer);
        let mut writer = cache.writer(&d.digest, limit)?;
        let mut received = 0u64;
        let mut shown = std::time::Instant::now();
        let found = async {
            self.transport
                .fetch(
                    &self.client,
                    reference,
                    &auth,
                    &format!("blobs/{}", d.digest),
                    None,
                    limit,
                    // A blob is not retried: part of it may be written.
                    0,
                    &mut |chunk| {
                        writer.write(chunk)?;
                        received += chunk.len() as u64;
                        if self.config.progress && shown.elapsed() >= Duration::from_millis(100) {
                            shown = std::time::Instant::now();
                            eprint!(
                                "\r  pulling {} {} / {} KiB",
                                short(&d.digest),
                                received >> 10,
                                d.size >> 10
                            );
                        }
                        Ok(())
                    },
                )
                .await
        }
        .await?;
        if matches!(found, Found::No) {
            return Err(OciError::Registry {
                registry,
                reason: format!("blob {} of {}: not found", d.digest, reference.whole()),
            });
        }
        if received != d.size as u64 {
            return Err(OciError::Registry {
                registry,
                reason: format!(
                    "blob {}: the registry sent {received} of {} bytes",
                    d.digest, d.size
                ),
            });
        }
        if self.config.progress && d.size > 1 << 20 {
            eprintln!(
                "\r  pulled {} {} KiB{:20}",
                short(&d.digest),
                d.size >> 10,
                ""
            );
        }
        writer.commit()
    }

    /// Push component `wasm` as `artifact` to `reference`; returns the
    /// manifest digest.
    pub fn push(
        &self,
        wasm: &[u8],
        artifact: &Artifact,
        reference: &Reference,
    ) -> Result<String, OciError> {
        self.push_parts(
            reference,
            &[
                (&artifact.config_digest, &artifact.config),
                (&artifact.layer_digest, wasm),
            ],
            &artifact.manifest,
        )?;
        if self.config.progress {
            eprintln!(
                "  pushed {} {} KiB",
                short(&artifact.layer_digest),
                wasm.len() >> 10
            );
        }
        Ok(artifact.manifest_digest.clone())
    }

    /// Push `blobs` (digest, bytes), then `manifest` (an OCI image manifest)
    /// to `reference`, authenticating for push first.
    pub fn push_parts(
        &self,
        reference: &Reference,
        blobs: &[(&str, &[u8])],
        manifest: &[u8],
    ) -> Result<(), OciError> {
        let registry = reference.resolve_registry().to_string();
        let auth = self.auth_for(&registry)?;
        let shown = reference.whole();
        self.retry(&registry, &shown, async || {
            self.client
                .store_auth_if_needed(reference.resolve_registry(), &auth)
                .await;
            self.client
                .auth(reference, &auth, oci_client::RegistryOperation::Push)
                .await
                .map(|_| ())
        })?;
        for (i, (digest, bytes)) in blobs.iter().enumerate() {
            // One line per blob on a terminal, rewritten when it is done: a
            // blob goes up in one request, so its start and end are what
            // there is to show.
            if self.config.progress {
                eprint!(
                    "\r  pushing {}/{} {} {} KiB",
                    i + 1,
                    blobs.len(),
                    short(digest),
                    bytes.len() >> 10
                );
            }
            self.retry(&registry, &shown, async || {
                self.client
                    .push_blob(reference, bytes.to_vec(), digest)
                    .await
            })?;
            if self.config.progress {
                eprint!("\r{:60}\r", "");
            }
        }
        let content_type = http::HeaderValue::from_static(MANIFEST_MEDIA_TYPE);
        self.retry(&registry, &shown, async || {
            self.client
                .push_manifest_raw(reference, manifest.to_vec(), content_type.clone())
                .await
        })?;
        Ok(())
    }

    /// Check that `user`/`password` work for `registry` (a 404 for a
    /// made-up repository proves the credentials were accepted).
    pub fn check_login(&self, registry: &str, user: &str, password: &str) -> Result<(), OciError> {
        let probe = parse_reference(&format!("{registry}/wasmix-login-check/none:none"))?;
        let auth = RegistryAuth::Basic(user.into(), password.into());
        let result = self
            .rt
            .block_on(async { self.client.fetch_manifest_digest(&probe, &auth).await });
        match result {
            Ok(_) => Ok(()),
            Err(e) => match map_error(registry, "login", e) {
                // The made-up repository does not exist, so the registry
                // accepted the credentials.
                OciError::Registry { reason, .. }
                    if reason.to_lowercase().contains("unknown")
                        || reason.contains("not found") =>
                {
                    Ok(())
                }
                other => Err(other),
            },
        }
    }
}

/// `sha256:abcdef123456` for progress lines.
fn short(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

fn transient(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RequestError(r) => r.is_timeout() || r.is_connect() || r.is_request(),
        OciDistributionError::ServerError { code, .. } => *code >= 500,
        _ => false,
    }
}

fn map_error(registry: &str, what: &str, e: OciDistributionError) -> OciError {
    if matches!(&e, OciDistributionError::RequestError(r) if r.is_connect() || r.is_timeout() || r.is_request())
    {
        return super::transport::unreachable_or_auth(registry, e);
    }
    let text = e.to_string();
    let auth = matches!(
        e,
        OciDistributionError::AuthenticationFailure(_)
            | OciDistributionError::UnauthorizedError { .. }
    ) || matches!(e, OciDistributionError::ServerError { code: 401, .. })
        // The registry's error envelope names the code; matching "401" in the
        // text would also match digests that happen to contain it.
        || text.contains("UNAUTHORIZED");
    if auth {
        return OciError::Auth {
            registry: registry.into(),
            reason: text,
        };
    }
    let reason = match e {
        OciDistributionError::ImageManifestNotFoundError(_) => format!("{what}: not found"),
        _ => format!("{what}: {text}"),
    };
    OciError::Registry {
        registry: registry.into(),
        reason,
    }
}
