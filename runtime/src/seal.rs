//! Sealing sensitive values at rest. The state store keeps sensitive outputs
//! sealed with a key of its own (`state.key` beside `state.db`, readable by
//! the user only), so a copied database, a backup or a stray `sqlite3`
//! session shows no secret in clear.
//!
//! A sealed value is `v1 || nonce (24 bytes) || XSalsa20-Poly1305(context
//! "\0" value)`: the context (run and output name) is sealed with the value
//! and checked on opening, so a sealed value moved to another row does not
//! open.

use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

const VERSION: u8 = 1;
const NONCE: usize = 24;
const KEY: usize = 32;

/// Why a value could not be sealed or opened. Never holds the value.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key file could not be read or created.
    #[error("state key {path}: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The system's random source failed.
    #[error("no randomness for sealing: {0}")]
    Random(String),
    /// A sealed value is damaged, belongs to another row, or was sealed with
    /// another key.
    #[error("a sealed value of {context} cannot be opened: damaged, moved, or sealed with another state key")]
    Open {
        /// Which value.
        context: String,
    },
}

/// The key sensitive values are sealed with.
pub struct SealKey {
    cipher: XSalsa20Poly1305,
}

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, SealError> {
    let mut bytes = Zeroizing::new([0u8; N]);
    getrandom::fill(bytes.as_mut()).map_err(|e| SealError::Random(e.to_string()))?;
    Ok(bytes)
}

impl SealKey {
    /// The key in `path`, created (readable by the user only) when missing.
    pub fn load_or_create(path: &Path) -> Result<SealKey, SealError> {
        let err = |reason: String| SealError::Key {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random::<KEY>()?;
                match create_private(path, key.as_ref()) {
                    Ok(()) => Zeroizing::new(key.to_vec()),
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Zeroizing::new(std::fs::read(path).map_err(|e| err(e.to_string()))?)
                    }
                    Err(e) => return Err(err(e.to_string())),
                }
            }
            Err(e) => return Err(err(e.to_string())),
        };
        if bytes.len() != KEY {
            return Err(err(format!(
                "holds {} bytes, not a {KEY}-byte key; restore it from a backup (sealed values cannot be read without it)",
                bytes.len()
            )));
        }
        Ok(SealKey {
            cipher: XSalsa20Poly1305::new(Key::from_slice(&bytes)),
        })
    }

    /// Seal `value` for `context` (which row it belongs to).
    pub fn seal(&self, context: &str, value: &str) -> Result<Vec<u8>, SealError> {
        self.seal_bytes(context, value.as_bytes())
    }

    /// Open a value sealed for `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<String, SealError> {
        let bytes = self.open_bytes(context, sealed)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| SealError::Open {
            context: context.to_string(),
        })
    }

    /// Seal bytes (a state file) for `context`.
    pub fn seal_bytes(&self, context: &str, value: &[u8]) -> Result<Vec<u8>, SealError> {
        let nonce = random::<NONCE>()?;
        let mut plain = Zeroizing::new(Vec::with_capacity(context.len() + 1 + value.len()));
        plain.extend_from_slice(context.as_bytes());
        plain.push(0);
        plain.extend_from_slice(value);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(nonce.as_ref()), plain.as_slice())
            .map_err(|_| SealError::Random("the cipher refused the value".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Open bytes sealed for `context`.
    pub fn open_bytes(
        &self,
        context: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let bad = || SealError::Open {
            context: context.to_string(),
        };
        if sealed.len() < 1 + NONCE || sealed[0] != VERSION {
            return Err(bad());
        }
        let (nonce, body) = sealed[1..].split_at(NONCE);
        let plain = Zeroizing::new(
            self.cipher
                .decrypt(Nonce::from_slice(nonce), body)
                .map_err(|_| bad())?,
        );
        let value = plain
            .strip_prefix(context.as_bytes())
            .and_then(|rest| rest.strip_prefix(&[0]))
            .ok_or_else(bad)?;
        Ok(Zeroizing::new(value.to_vec()))
    }
}

/// Write `bytes` to a new file `path` that only the user can read; fails if
/// it exists. Written whole to a private temporary file first and then
/// linked into place, so no reader ever sees a short key.
fn create_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    // tempfile creates its files 0600.
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist_noclobber(path).map(|_| ()).map_err(|e| e.error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_for_their_context_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.key");
        let key = SealKey::load_or_create(&path).unwrap();
        let sealed = key.seal("run 1 output token", "s3cret").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(key.open("run 1 output token", &sealed).unwrap(), "s3cret");
        // Moved to another row.
        assert!(key.open("run 2 output token", &sealed).is_err());
        // Damaged.
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(key.open("run 1 output token", &bad).is_err());
        // The same key file again opens it; another key does not.
        let again = SealKey::load_or_create(&path).unwrap();
        assert_eq!(again.open("run 1 output token", &sealed).unwrap(), "s3cret");
        let other = SealKey::load_or_create(&dir.path().join("other.key")).unwrap();
        assert!(other.open("run 1 output token", &sealed).is_err());
        // Two seals of one value differ (fresh nonce).
        assert_ne!(sealed, key.seal("run 1 output token", "s3cret").unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn the_key_is_private_and_a_truncated_key_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.key");
        SealKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&path, b"short").unwrap();
        let err = SealKey::load_or_create(&path).err().unwrap().to_string();
        assert!(err.contains("5 bytes"), "{err}");
    }
}
