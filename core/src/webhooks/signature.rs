//! Webhook signatures per the Standard Webhooks specification, so that receivers can use
//! its existing verifier libraries.
//!
//! A delivery carries `webhook-id`, `webhook-timestamp` (Unix seconds) and
//! `webhook-signature`: `v1,<base64 of HMAC-SHA256 over "id.timestamp.body">`, keyed with
//! the bytes of the endpoint's secret (`whsec_<base64>`). While a rotated secret's overlap
//! window runs, the header carries one signature per secret, separated by spaces; a
//! receiver accepts the delivery if any of them matches a secret it knows.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::Sha256;

use crate::error::{Error, Result};

/// What a secret's text begins with.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a generated secret (192 bits; the specification asks for 24 to 64).
const SECRET_BYTES: usize = 24;

/// An endpoint's signing secret: the key bytes, never printed.
pub struct SigningSecret(SecretBox<Vec<u8>>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret([REDACTED])")
    }
}

impl SigningSecret {
    /// A new random secret and its text (`whsec_…`), to be shown once.
    pub fn generate() -> (Self, SecretString) {
        let mut bytes = vec![0_u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        let text = SecretString::from(format!("{SECRET_PREFIX}{}", STANDARD.encode(&bytes)));
        (Self(SecretBox::new(Box::new(bytes))), text)
    }

    /// The secret written as `whsec_<base64>`; the error names the field, never the value.
    pub fn parse(text: &str) -> Result<Self> {
        let bytes = text
            .strip_prefix(SECRET_PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|bytes| (SECRET_BYTES..=64).contains(&bytes.len()))
            .ok_or_else(|| {
                Error::invalid("secret", "must be whsec_ and the base64 of 24 to 64 bytes")
            })?;
        Ok(Self(SecretBox::new(Box::new(bytes))))
    }

    /// The secret of these key bytes (as stored, once decrypted).
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// The key bytes, to be encrypted for storage.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.0.expose_secret()
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose_secret())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// `v1,<base64 signature>` of one delivery.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// Whether any `v1` signature of `header` is this secret's for the delivery; compared
    /// in constant time.
    pub fn verifies(&self, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        header
            .split(' ')
            .filter_map(|part| part.strip_prefix("v1,"))
            .filter_map(|b64| STANDARD.decode(b64).ok())
            .any(|tag| self.mac(id, timestamp, body).verify_slice(&tag).is_ok())
    }
}

/// The `webhook-signature` header of a delivery: one signature per current secret (two
/// during a rotation's overlap window).
pub fn header(secrets: &[&SigningSecret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    /// The test vector the Standard Webhooks specification publishes.
    #[test]
    fn the_specifications_test_vector_is_reproduced() {
        let secret =
            SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let signature = secret.sign(ID, TIMESTAMP, BODY);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(secret.verifies(ID, TIMESTAMP, BODY, &signature));
    }

    #[test]
    fn during_a_rotation_either_secret_verifies_and_a_change_breaks_both() {
        let (old, old_text) = SigningSecret::generate();
        let (new, new_text) = SigningSecret::generate();
        assert!(old_text.expose_secret().starts_with(SECRET_PREFIX));
        assert_ne!(old_text.expose_secret(), new_text.expose_secret());
        let both = header(&[&old, &new], ID, TIMESTAMP, BODY);
        assert_eq!(both.split(' ').count(), 2);
        for secret in [&old, &new] {
            assert!(secret.verifies(ID, TIMESTAMP, BODY, &both));
            assert!(!secret.verifies(ID, TIMESTAMP, b"{\"test\": 1}", &both));
            assert!(!secret.verifies(ID, TIMESTAMP + 1, BODY, &both));
            assert!(!secret.verifies("msg_other", TIMESTAMP, BODY, &both));
        }
        let (stranger, _) = SigningSecret::generate();
        assert!(!stranger.verifies(ID, TIMESTAMP, BODY, &both));
        // A generated secret reads back as the same key.
        let again = SigningSecret::parse(new_text.expose_secret()).expect("parses");
        assert_eq!(
            again.sign(ID, TIMESTAMP, BODY),
            new.sign(ID, TIMESTAMP, BODY)
        );
    }

    #[test]
    fn malformed_secrets_are_refused_without_echoing_them() {
        for bad in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_not base64!",
            "whsec_c2hvcnQ=",
        ] {
            let err = SigningSecret::parse(bad).expect_err(bad).to_string();
            assert!(err.starts_with("secret: "), "{err}");
            assert!(!err.contains(bad), "{err}");
        }
        assert_eq!(
            format!("{:?}", SigningSecret::generate().0),
            "SigningSecret([REDACTED])"
        );
    }
}
