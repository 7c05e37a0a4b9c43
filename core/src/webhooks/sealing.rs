//! Signing secrets at rest. Locksmith must sign with an endpoint's secret, so it cannot
//! store only a hash of it as it does for keys; it stores it encrypted instead, with
//! XChaCha20-Poly1305 under a key derived from the key pepper (which lives outside the
//! database). A stolen dump holds no usable secret, and each ciphertext is bound to its
//! endpoint (the endpoint's id is the associated data), so one cannot be moved to another.

use std::sync::Arc;

use chacha20poly1305::aead::{Aead as _, Payload};
use chacha20poly1305::{KeyInit as _, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::Sha256;
use uuid::Uuid;

use super::signature::SigningSecret;
use crate::error::{Error, Result};

/// What the encryption key is derived for: a new purpose gets a new label.
const LABEL: &[u8] = b"locksmith/webhook-signing-secrets/v1";
const NONCE_LEN: usize = 24;

/// Encrypts and decrypts endpoints' signing secrets.
#[derive(Clone)]
pub struct SecretSealer {
    cipher: Arc<XChaCha20Poly1305>,
}

impl std::fmt::Debug for SecretSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretSealer([REDACTED])")
    }
}

impl SecretSealer {
    /// A sealer keyed from `pepper` (`LOCKSMITH_KEY_PEPPER`).
    pub fn new(pepper: &SecretString) -> Self {
        let mut mac =
            <Hmac<Sha256> as hmac::Mac>::new_from_slice(pepper.expose_secret().as_bytes())
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(LABEL);
        let key = mac.finalize().into_bytes();
        Self {
            cipher: Arc::new(XChaCha20Poly1305::new(&key)),
        }
    }

    /// `secret` encrypted for the endpoint `webhook_id`: a random nonce, then the
    /// ciphertext and its tag.
    pub(crate) fn seal(&self, webhook_id: Uuid, secret: &SigningSecret) -> Vec<u8> {
        let mut nonce = [0_u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: secret.bytes(),
            aad: webhook_id.as_bytes(),
        };
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_else(|_| unreachable!("encryption fails only past 256 GiB"));
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    /// The secret sealed for `webhook_id`. Fails when the pepper changed or the bytes were
    /// altered or belong to another endpoint.
    pub(crate) fn open(&self, webhook_id: Uuid, sealed: &[u8]) -> Result<SigningSecret> {
        let refused = || {
            Error::Unavailable(
                "an endpoint's signing secret cannot be decrypted (was LOCKSMITH_KEY_PEPPER \
                 changed?); rotate the endpoint's secret"
                    .into(),
            )
        };
        if sealed.len() <= NONCE_LEN {
            return Err(refused());
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad: webhook_id.as_bytes(),
        };
        self.cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map(SigningSecret::from_bytes)
            .map_err(|_| refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(pepper: &str) -> SecretSealer {
        SecretSealer::new(&SecretString::from(pepper.to_owned()))
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_endpoint_under_the_same_pepper() {
        let (secret, _) = SigningSecret::generate();
        let sealer = sealer("pepper-a-0123456789abcdefghijklmnop");
        let id = Uuid::new_v4();
        let sealed = sealer.seal(id, &secret);
        assert!(
            !sealed
                .windows(secret.bytes().len())
                .any(|w| w == secret.bytes())
        );
        let opened = sealer.open(id, &sealed).expect("opens");
        assert_eq!(opened.bytes(), secret.bytes());
        // Another endpoint, another pepper, an altered byte: refused.
        assert!(sealer.open(Uuid::new_v4(), &sealed).is_err());
        assert!(
            self::sealer("pepper-b-0123456789abcdefghijklmnop")
                .open(id, &sealed)
                .is_err()
        );
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(sealer.open(id, &altered).is_err());
        assert!(sealer.open(id, &sealed[..10]).is_err());
        // Two seals of one secret differ (random nonces).
        assert_ne!(sealer.seal(id, &secret), sealed);
    }
}
