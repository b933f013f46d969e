//! A registry that lies, for adversarial tests: a small HTTP/1.1 server
//! speaking just enough of the OCI distribution API (`GET /v2/`,
//! manifests, blobs) to serve whatever a test tells it to, including
//! answers no honest registry gives. Every request is logged.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// How a blob is served.
#[derive(Clone)]
pub enum Blob {
    /// As given (which may not hash to the digest asked for).
    Bytes(Vec<u8>),
    /// Half of these bytes under a Content-Length for all of them, then the
    /// connection closes.
    Truncated(Vec<u8>),
    /// Zeros, forever.
    Endless,
}

/// How a manifest is served.
#[derive(Clone)]
pub struct Manifest {
    /// Bodies served in turn to successive requests; the last repeats.
    pub bodies: Vec<Vec<u8>>,
    /// A `Docker-Content-Digest` header to send instead of the true one.
    pub claimed_digest: Option<String>,
}

#[derive(Default)]
struct State {
    addr: String,
    /// Bearer tokens required when set: each token the token service
    /// issues is good for this many requests, then refused as expired.
    token_uses: Option<usize>,
    /// Uses left of each token issued.
    tokens: HashMap<String, usize>,
    manifests: HashMap<String, (Manifest, usize)>,
    blobs: HashMap<String, Blob>,
    endless: std::collections::HashSet<String>,
    log: Vec<String>,
}

/// The server; it runs until the test process ends.
pub struct LyingRegistry {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    state: Arc<Mutex<State>>,
}

impl LyingRegistry {
    /// Start one on a free port.
    pub fn start() -> LyingRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let state = Arc::new(Mutex::new(State {
            addr: addr.clone(),
            ..State::default()
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &state);
                });
            }
        });
        LyingRegistry { addr, state }
    }

    /// Serve `m` at `/v2/{repository}/manifests/{reference}`.
    pub fn manifest(&self, repository: &str, reference: &str, m: Manifest) {
        self.state
            .lock()
            .expect("state")
            .manifests
            .insert(format!("{repository}/manifests/{reference}"), (m, 0));
    }

    /// Serve a manifest that never ends at `/v2/{repository}/manifests/{reference}`.
    pub fn endless_manifest(&self, repository: &str, reference: &str) {
        self.state
            .lock()
            .expect("state")
            .endless
            .insert(format!("{repository}/manifests/{reference}"));
    }

    /// Serve `b` for blob `digest` (in any repository).
    pub fn blob(&self, digest: &str, b: Blob) {
        self.state
            .lock()
            .expect("state")
            .blobs
            .insert(digest.to_string(), b);
    }

    /// Require bearer tokens from `/token`, each good for `uses` requests:
    /// a long pull outlives its first token.
    pub fn require_tokens(&self, uses: usize) {
        self.state.lock().expect("state").token_uses = Some(uses);
    }

    /// Every request so far, as `METHOD PATH`.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().expect("state").log.clone()
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    let mut bearer = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
        if let Some(v) = header
            .split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| v.trim().strip_prefix("Bearer "))
        {
            bearer = Some(v.to_string());
        }
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut out = stream;
    let path = path.split('?').next().unwrap_or("").to_string();
    state
        .lock()
        .expect("state")
        .log
        .push(format!("{method} {path}"));
    if let Some(refused) = tokens(state, &path, bearer.as_deref()) {
        return match refused {
            Token::Issue(token) => respond(
                &mut out,
                200,
                &[("Content-Type", "application/json")],
                format!(r#"{{"token":"{token}","access_token":"{token}"}}"#).as_bytes(),
                method,
            ),
            Token::Challenge(realm) => respond(
                &mut out,
                401,
                &[(
                    "WWW-Authenticate",
                    &format!(r#"Bearer realm="{realm}",service="lying""#),
                )],
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}"#,
                method,
            ),
        };
    }
    if path == "/v2/" || path == "/v2" {
        return respond(
            &mut out,
            200,
            &[("Content-Type", "application/json")],
            b"{}",
            method,
        );
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return not_found(&mut out, method);
    };
    if state.lock().expect("state").endless.contains(rest) {
        return endless(&mut out, "application/vnd.oci.image.manifest.v1+json");
    }
    if rest.contains("/manifests/") {
        let found = {
            let mut s = state.lock().expect("state");
            s.manifests.get_mut(rest).map(|(m, served)| {
                let i = (*served).min(m.bodies.len() - 1);
                *served += 1;
                (m.bodies[i].clone(), m.claimed_digest.clone())
            })
        };
        let Some((body, claimed)) = found else {
            return not_found(&mut out, method);
        };
        let digest = claimed.unwrap_or_else(|| wasmix::oci::sha256_digest(&body));
        return respond(
            &mut out,
            200,
            &[
                ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
                ("Docker-Content-Digest", &digest),
            ],
            &body,
            method,
        );
    }
    if let Some((_, digest)) = rest.split_once("/blobs/") {
        let blob = state.lock().expect("state").blobs.get(digest).cloned();
        return match blob {
            None => not_found(&mut out, method),
            Some(Blob::Bytes(b)) => respond(
                &mut out,
                200,
                &[("Content-Type", "application/octet-stream")],
                &b,
                method,
            ),
            Some(Blob::Truncated(b)) => {
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    b.len()
                )?;
                out.write_all(&b[..b.len() / 2])?;
                out.flush()
            }
            Some(Blob::Endless) => endless(&mut out, "application/octet-stream"),
        };
    }
    not_found(&mut out, method)
}

enum Token {
    Issue(String),
    Challenge(String),
}

/// With tokens required: `/token` issues one; any other request needs a
/// token with uses left (and uses one up), or is challenged.
fn tokens(state: &Mutex<State>, path: &str, bearer: Option<&str>) -> Option<Token> {
    let mut s = state.lock().expect("state");
    let uses = s.token_uses?;
    if path == "/token" {
        let token = format!("t{}", s.tokens.len() + 1);
        s.tokens.insert(token.clone(), uses);
        return Some(Token::Issue(token));
    }
    match bearer.and_then(|t| s.tokens.get_mut(t)) {
        Some(left) if *left > 0 => {
            *left -= 1;
            None
        }
        _ => Some(Token::Challenge(format!("http://{}/token", s.addr))),
    }
}

/// A chunked body of spaces that ends only when the client hangs up.
fn endless(out: &mut TcpStream, content_type: &str) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )?;
    let chunk = vec![b' '; 64 << 10];
    loop {
        write!(out, "{:x}\r\n", chunk.len())?;
        out.write_all(&chunk)?;
        out.write_all(b"\r\n")?;
    }
}

fn not_found(out: &mut TcpStream, method: &str) -> std::io::Result<()> {
    respond(
        out,
        404,
        &[("Content-Type", "application/json")],
        br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
        method,
    )
}

fn respond(
    out: &mut TcpStream,
    code: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    method: &str,
) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        401 => "Unauthorized",
        _ => "Not Found",
    };
    write!(out, "HTTP/1.1 {code} {reason}\r\n")?;
    for (k, v) in headers {
        write!(out, "{k}: {v}\r\n")?;
    }
    write!(
        out,
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        out.write_all(body)?;
    }
    out.flush()
}
