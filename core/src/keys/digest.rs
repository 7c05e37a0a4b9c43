//! `KeyHasher`: the HMAC-SHA-256 digest under which keys and verifier tokens are stored.
//!
//! A keyed hash rather than a plain one: without the pepper (which lives outside the
//! database), a stolen dump cannot be used to test candidate keys. A slow password hash
//! is unnecessary here: the input already carries over 128 bits of randomness, and the
//! lookup must be fast enough for the verification hot path.

use std::sync::Arc;

use hmac::{Hmac, Mac as _};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::Sha256;

/// A stored digest.
pub type Digest = [u8; 32];

/// Computes digests under the server's pepper. Cheap to clone (the keyed state is
/// shared; each digest starts from a copy of it).
#[derive(Clone)]
pub struct KeyHasher {
    mac: Arc<Hmac<Sha256>>,
}

impl KeyHasher {
    /// A hasher keyed with `pepper` (`LOCKSMITH_KEY_PEPPER`).
    pub fn new(pepper: &SecretString) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let mac = Hmac::<Sha256>::new_from_slice(pepper.expose_secret().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        Self { mac: Arc::new(mac) }
    }

    /// The digest of `secret`.
    pub fn digest(&self, secret: &str) -> Digest {
        let mut mac = (*self.mac).clone();
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_depend_on_the_pepper_and_the_input() {
        let a = KeyHasher::new(&SecretString::from("pepper-a-0123456789abcdefghijklmnop"));
        let b = KeyHasher::new(&SecretString::from("pepper-b-0123456789abcdefghijklmnop"));
        assert_eq!(a.digest("sk_x"), a.digest("sk_x"));
        assert_ne!(a.digest("sk_x"), a.digest("sk_y"));
        assert_ne!(a.digest("sk_x"), b.digest("sk_x"));
        // Not a plain SHA-256 of the key.
        use sha2::Digest as _;
        let plain: [u8; 32] = Sha256::digest(b"sk_x").into();
        assert_ne!(a.digest("sk_x"), plain);
        assert_eq!(format!("{a:?}"), "KeyHasher([REDACTED])");
    }
}
