//! Bounded reads from a registry: manifests and blobs fetched over HTTP
//! with their size capped as the bytes arrive, and one authorization per
//! repository.
//!
//! `oci-client` reads a whole manifest into memory before anyone can check
//! its size, and for a registry that needs no credentials it probes `/v2/`
//! again before every request (it caches only tokens). Pushes still go
//! through `oci-client`; reads, which face untrusted registries, come here.

use super::OciError;
use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use oci_client::Reference;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// An error from asking for authorization: a registry that cannot be
/// reached is said so (not "authentication failed").
pub(crate) fn unreachable_or_auth(
    registry: &str,
    e: oci_client::errors::OciDistributionError,
) -> OciError {
    use oci_client::errors::OciDistributionError as E;
    match &e {
        E::RequestError(r) if r.is_connect() || r.is_timeout() || r.is_request() => {
            OciError::Registry {
                registry: registry.to_string(),
                reason: format!(
                    "cannot reach it ({e}); check the address, and for a registry served over plain HTTP add --insecure-registry {registry}"
                ),
            }
        }
        _ => OciError::Auth {
            registry: registry.to_string(),
            reason: e.to_string(),
        },
    }
}

/// What a GET found.
pub(crate) enum Found {
    /// The body was read (into the sink).
    Yes,
    /// The registry has no such manifest or blob.
    No,
}

/// HTTP reads for one `Registry`.
pub(crate) struct Transport {
    http: reqwest::Client,
    insecure: Vec<String>,
    /// `Authorization` header per `registry/repository`, decided once.
    authorization: Mutex<HashMap<String, Option<String>>>,
    stall: Duration,
}

/// Why a request failed, before it is phrased for the user.
enum Failure {
    /// Worth another try (connection, timeout, 5xx, 429).
    Transient(String),
    /// Credentials refused.
    Auth(String),
    /// Anything else.
    Other(OciError),
}

impl Transport {
    /// Reads with the timeouts and plain-HTTP hosts of `config`.
    pub(crate) fn new(config: &super::RegistryConfig) -> Result<Transport, OciError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("wasmix/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.timeout)
            .read_timeout(config.timeout)
            .build()
            .map_err(|e| OciError::Registry {
                registry: "-".into(),
                reason: format!("HTTP client: {e}"),
            })?;
        Ok(Transport {
            http,
            insecure: config.insecure.clone(),
            authorization: Mutex::new(HashMap::new()),
            stall: config.timeout,
        })
    }

    /// The `Authorization` header for reading `reference`'s repository:
    /// a bearer token from the registry's token service (through
    /// `oci-client`), basic credentials, or none. Asked once per repository.
    pub(crate) async fn authorize(
        &self,
        client: &oci_client::Client,
        reference: &Reference,
        auth: &RegistryAuth,
    ) -> Result<Option<String>, OciError> {
        let key = format!(
            "{}/{}",
            reference.resolve_registry(),
            reference.repository()
        );
        if let Some(known) = self.authorization.lock().expect("lock").get(&key) {
            return Ok(known.clone());
        }
        let registry = reference.resolve_registry().to_string();
        let token = client
            .auth(reference, auth, oci_client::RegistryOperation::Pull)
            .await
            .map_err(|e| unreachable_or_auth(&registry, e))?;
        let header = match (token, auth) {
            (Some(t), _) => Some(format!("Bearer {t}")),
            (None, RegistryAuth::Basic(u, p)) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )),
            (None, RegistryAuth::Bearer(t)) => Some(format!("Bearer {t}")),
            (None, RegistryAuth::Anonymous) => None,
        };
        self.authorization
            .lock()
            .expect("lock")
            .insert(key, header.clone());
        Ok(header)
    }

    /// GET `path` of `reference`'s repository, authorized as
    /// [`Self::authorize`] says. A bearer token the registry refuses — one
    /// that expired during a long pull — is forgotten, a fresh one asked
    /// for, and the request made once more (a refusal comes before any
    /// byte of the body, so nothing reached the sink).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn fetch(
        &self,
        client: &oci_client::Client,
        reference: &Reference,
        auth: &RegistryAuth,
        path: &str,
        accept: Option<&str>,
        limit: u64,
        retries: u32,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), OciError>,
    ) -> Result<Found, OciError> {
        let authorization = self.authorize(client, reference, auth).await?;
        let first = self
            .get(
                reference,
                path,
                accept,
                authorization.as_deref(),
                limit,
                retries,
                sink,
            )
            .await;
        let bearer = authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer "));
        match first {
            Err(OciError::Auth { .. }) if bearer => {
                self.forget(reference);
                let fresh = self.authorize(client, reference, auth).await?;
                self.get(
                    reference,
                    path,
                    accept,
                    fresh.as_deref(),
                    limit,
                    retries,
                    sink,
                )
                .await
            }
            other => other,
        }
    }

    /// Forget the authorization cached for `reference`'s repository.
    fn forget(&self, reference: &Reference) {
        let key = format!(
            "{}/{}",
            reference.resolve_registry(),
            reference.repository()
        );
        self.authorization.lock().expect("lock").remove(&key);
    }

    fn url(&self, reference: &Reference, path: &str) -> String {
        let host = reference.resolve_registry();
        let scheme = if self.insecure.iter().any(|h| h == host) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{host}/v2/{}/{path}", reference.repository())
    }

    /// GET `path` (`manifests/<ref>` or `blobs/<digest>`) of `reference`'s
    /// repository, feeding the body to `sink` and failing as soon as it
    /// passes `limit` bytes or stalls. Retries transient failures that
    /// happen before any byte reached the sink `retries` times.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn get(
        &self,
        reference: &Reference,
        path: &str,
        accept: Option<&str>,
        authorization: Option<&str>,
        limit: u64,
        retries: u32,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), OciError>,
    ) -> Result<Found, OciError> {
        let registry = reference.resolve_registry().to_string();
        let what = format!("{}/{}/{path}", registry, reference.repository());
        let mut attempt = 0;
        loop {
            let mut delivered = false;
            match self
                .get_once(
                    reference,
                    path,
                    accept,
                    authorization,
                    limit,
                    &mut delivered,
                    sink,
                )
                .await
            {
                Ok(found) => return Ok(found),
                Err(Failure::Transient(reason)) if attempt < retries && !delivered => {
                    attempt += 1;
                    let _ = reason;
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
                Err(Failure::Transient(reason)) => {
                    return Err(OciError::Registry {
                        registry,
                        reason: format!("{what}: {reason}"),
                    })
                }
                Err(Failure::Auth(reason)) => return Err(OciError::Auth { registry, reason }),
                Err(Failure::Other(e)) => return Err(e),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn get_once(
        &self,
        reference: &Reference,
        path: &str,
        accept: Option<&str>,
        authorization: Option<&str>,
        limit: u64,
        delivered: &mut bool,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), OciError>,
    ) -> Result<Found, Failure> {
        let registry = reference.resolve_registry().to_string();
        let mut request = self.http.get(self.url(reference, path));
        if let Some(a) = accept {
            request = request.header(reqwest::header::ACCEPT, a);
        }
        if let Some(a) = authorization {
            request = request.header(reqwest::header::AUTHORIZATION, a);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| Failure::Transient(error_text(&e)))?;
        let status = response.status();
        match status.as_u16() {
            200 => {}
            404 => return Ok(Found::No),
            401 | 403 => {
                return Err(Failure::Auth(format!(
                    "{path}: the registry answered {status}"
                )))
            }
            429 | 500..=599 => {
                return Err(Failure::Transient(format!(
                    "the registry answered {status}"
                )))
            }
            _ => {
                return Err(Failure::Other(OciError::Registry {
                    registry,
                    reason: format!("{path}: the registry answered {status}"),
                }))
            }
        }
        if let Some(len) = response.content_length() {
            if len > limit {
                return Err(Failure::Other(OciError::TooLarge {
                    what: format!("{}/{path}", reference.repository()),
                    size: len,
                    limit,
                }));
            }
        }
        let mut received = 0u64;
        loop {
            let chunk = tokio::time::timeout(self.stall, response.chunk())
                .await
                .map_err(|_| {
                    Failure::Other(OciError::Registry {
                        registry: registry.clone(),
                        reason: format!("{path} stalled for {}s", self.stall.as_secs()),
                    })
                })?
                .map_err(|e| {
                    Failure::Other(OciError::Registry {
                        registry: registry.clone(),
                        reason: format!(
                            "{path}: the transfer broke off after {received} bytes ({})",
                            error_text(&e)
                        ),
                    })
                })?;
            let Some(chunk) = chunk else {
                return Ok(Found::Yes);
            };
            received += chunk.len() as u64;
            if received > limit {
                return Err(Failure::Other(OciError::TooLarge {
                    what: format!("{}/{path}", reference.repository()),
                    size: received,
                    limit,
                }));
            }
            *delivered = true;
            sink(&chunk).map_err(Failure::Other)?;
        }
    }
}

/// reqwest's error with its causes, which say what actually happened.
fn error_text(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
