//! ECDSA P-256 keys in cosign's formats: the private key as an encrypted PEM
//! (`ENCRYPTED SIGSTORE PRIVATE KEY`, scrypt + secretbox, which `cosign`
//! reads), the public key as a PKIX `PUBLIC KEY` PEM.

use crate::SigningError;
use sigstore::crypto::signing_key::ecdsa::{ECDSAKeys, EllipticCurve};
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme};
use zeroize::Zeroizing;

const SCHEME: SigningScheme = SigningScheme::ECDSA_P256_SHA256_ASN1;

/// A signing key pair.
pub struct KeyPair {
    inner: SigStoreKeyPair,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private half, even in a debug print.
        write!(f, "KeyPair({})", self.public().id())
    }
}

fn key_error(what: &str, reason: impl std::fmt::Display) -> SigningError {
    SigningError::Key {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

impl KeyPair {
    /// A fresh P-256 key pair.
    pub fn generate() -> Result<KeyPair, SigningError> {
        let keys = ECDSAKeys::new(EllipticCurve::P256).map_err(|e| key_error("new key", e))?;
        Ok(KeyPair {
            inner: SigStoreKeyPair::ECDSA(keys),
        })
    }

    /// Read an encrypted private key PEM (cosign's or sigstore's label).
    /// `what` names the key in errors.
    pub fn from_encrypted_pem(
        what: &str,
        pem: &[u8],
        password: &[u8],
    ) -> Result<KeyPair, SigningError> {
        let text = String::from_utf8_lossy(pem);
        if !text.contains("ENCRYPTED") || !text.contains("PRIVATE KEY") {
            return Err(key_error(
                what,
                "not an encrypted private key PEM (want `ENCRYPTED SIGSTORE PRIVATE KEY` or `ENCRYPTED COSIGN PRIVATE KEY`; is this the .pub file?)",
            ));
        }
        // sigstore's error for a wrong password is a bare decryption failure;
        // that is the common cause, so say it.
        let inner = SigStoreKeyPair::from_encrypted_pem(pem, password).map_err(|_| {
            key_error(
                what,
                "cannot decrypt: wrong password, or a damaged key file",
            )
        })?;
        match &inner {
            SigStoreKeyPair::ECDSA(ECDSAKeys::P256(_)) => Ok(KeyPair { inner }),
            other => Err(key_error(
                what,
                format!("{other} keys are not supported; wasmix signs with ECDSA P-256"),
            )),
        }
    }

    /// The private key, encrypted with `password`, as PEM.
    pub fn to_encrypted_pem(&self, password: &[u8]) -> Result<Zeroizing<String>, SigningError> {
        self.inner
            .private_key_to_encrypted_pem(password)
            .map_err(|e| key_error("private key", e))
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        let der = self
            .inner
            .public_key_to_der()
            .expect("a P-256 key pair always has a DER public key");
        PublicKey::from_der("generated key", &der).expect("our own public key parses")
    }

    /// An ASN.1 DER ECDSA-SHA256 signature over `msg`.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, SigningError> {
        self.inner
            .to_sigstore_signer(&SCHEME)
            .and_then(|s| s.sign(msg))
            .map_err(|e| key_error("signing", e))
    }
}

/// A public key that signatures are checked against.
#[derive(Clone)]
pub struct PublicKey {
    der: Vec<u8>,
    key: std::sync::Arc<CosignVerificationKey>,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.id())
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl PublicKey {
    /// Parse a PKIX `PUBLIC KEY` PEM (ECDSA P-256).
    pub fn from_pem(what: &str, pem_text: &[u8]) -> Result<PublicKey, SigningError> {
        let block = pem::parse(pem_text).map_err(|e| key_error(what, format!("not PEM: {e}")))?;
        if block.tag() != "PUBLIC KEY" {
            return Err(key_error(
                what,
                format!(
                    "PEM block is `{}`, want `PUBLIC KEY` (give the .pub file, not the private key)",
                    block.tag()
                ),
            ));
        }
        PublicKey::from_der(what, block.contents())
    }

    /// Parse a DER SubjectPublicKeyInfo (ECDSA P-256).
    pub fn from_der(what: &str, der: &[u8]) -> Result<PublicKey, SigningError> {
        let key = CosignVerificationKey::from_der(der, &SCHEME)
            .map_err(|e| key_error(what, format!("not an ECDSA P-256 public key: {e}")))?;
        Ok(PublicKey {
            der: der.to_vec(),
            key: std::sync::Arc::new(key),
        })
    }

    /// The PEM text.
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.der.clone()))
    }

    /// DER SubjectPublicKeyInfo.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// A short, stable name for the key: `sha256:` and the first 16 hex
    /// digits of the DER public key's digest.
    pub fn id(&self) -> String {
        let d = crate::sha256_digest(&self.der);
        d[..7 + 16].to_string()
    }

    /// True when `signature` (ASN.1 DER) is this key's over `msg`.
    pub fn verifies(&self, signature: &[u8], msg: &[u8]) -> bool {
        self.key
            .verify_signature(Signature::Raw(signature), msg)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_cosign_pem_and_sign() {
        let pair = KeyPair::generate().unwrap();
        let pem = pair.to_encrypted_pem(b"hunter2").unwrap();
        assert!(pem.contains("ENCRYPTED SIGSTORE PRIVATE KEY"));
        let back = KeyPair::from_encrypted_pem("k", pem.as_bytes(), b"hunter2").unwrap();
        assert_eq!(back.public(), pair.public());
        let err = KeyPair::from_encrypted_pem("k", pem.as_bytes(), b"wrong").unwrap_err();
        assert!(err.to_string().contains("wrong password"), "{err}");

        let sig = back.sign(b"message").unwrap();
        let public = PublicKey::from_pem("p", pair.public().to_pem().as_bytes()).unwrap();
        assert!(public.verifies(&sig, b"message"));
        assert!(!public.verifies(&sig, b"messagE"));
        let other = KeyPair::generate().unwrap().public();
        assert!(!other.verifies(&sig, b"message"));
        assert!(format!("{pair:?}").starts_with("KeyPair(sha256:"));
    }

    #[test]
    fn a_private_key_given_as_public_is_named() {
        let err = PublicKey::from_pem("cosign.key", b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n").unwrap_err();
        assert!(err.to_string().contains("give the .pub file"), "{err}");
    }
}
