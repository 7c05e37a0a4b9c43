//! Passwords: the policy for new ones, and argon2id hashing off the async runtime.
//!
//! Parameters: argon2id, 19 MiB of memory, 2 passes, 1 lane (the OWASP baseline). About
//! 25 ms per hash on this project's 2-core machines, run in `spawn_blocking` so a burst
//! of logins never stalls the runtime. Unknown users are verified against a dummy hash,
//! so a login takes the same time whether or not the account exists.

use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

use super::Email;

/// Shortest accepted password, in characters.
pub const MIN_LEN: usize = 12;
/// Longest accepted password, in characters (bounds the hashing cost of a request).
pub const MAX_LEN: usize = 256;

/// A new password that passed the policy.
#[derive(Debug)]
pub struct Password(SecretString);

/// Why a new password was refused. Messages never contain the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer than [`MIN_LEN`] characters.
    #[error("must be at least {MIN_LEN} characters")]
    TooShort,
    /// More than [`MAX_LEN`] characters.
    #[error("must be at most {MAX_LEN} characters")]
    TooLong,
    /// On the list of the most common passwords, or a trivial pattern.
    #[error("too common or too easy to guess")]
    TooCommon,
    /// Contains the account's email name.
    #[error("must not contain your email address")]
    ContainsEmail,
}

impl From<PasswordError> for crate::Error {
    fn from(err: PasswordError) -> Self {
        Self::invalid("password", err)
    }
}

/// The stored PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string read from the database.
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string to store.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The most common passwords long enough to pass the length rule, lower-cased.
/// Shorter ones are already refused by [`MIN_LEN`].
const COMMON: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "123456789012345",
    "1234567890qwerty",
    "qwertyuiop12",
    "qwertyuiop123",
    "qwerty123456",
    "qwerty1234567",
    "qwertyqwerty",
    "password1234",
    "password12345",
    "password123!",
    "passwordpassword",
    "password1!password",
    "passw0rd1234",
    "p@ssw0rd1234",
    "p@ssword1234",
    "iloveyou1234",
    "iloveyouiloveyou",
    "1q2w3e4r5t6y",
    "1q2w3e4r5t6y7u",
    "1qaz2wsx3edc",
    "1qaz2wsx3edc4rfv",
    "zaq12wsxcde3",
    "qazwsxedcrfv",
    "qazwsxedcrfvtgb",
    "asdfghjkl123",
    "asdfghjkl;'",
    "zxcvbnm12345",
    "abcdefghijkl",
    "abcdefghijklm",
    "abc123abc123",
    "administrator",
    "administrator1",
    "letmein12345",
    "letmeinletmein",
    "welcome12345",
    "welcome123456",
    "changeme1234",
    "changemechangeme",
    "trustno1trustno1",
    "football1234",
    "baseball1234",
    "basketball12",
    "monkey123456",
    "starwars1234",
    "superman1234",
    "princess1234",
    "sunshine1234",
    "dragon123456",
    "master123456",
    "shadow123456",
    "michael12345",
    "jennifer1234",
    "computer1234",
    "internet1234",
    "whatever1234",
    "freedom12345",
    "hello1234567",
    "helloworld12",
    "helloworld123",
    "secret123456",
    "mypassword12",
    "mypassword123",
    "thisismypassword",
    "correcthorsebatterystaple",
    "locksmith123",
    "locksmith1234",
];

impl Password {
    /// Applies the policy: 12 to 256 characters, not common, not the email's name.
    pub fn parse(raw: SecretString, email: Option<&Email>) -> Result<Self, PasswordError> {
        let candidate = raw.expose_secret();
        let len = candidate.chars().count();
        if len < MIN_LEN {
            return Err(PasswordError::TooShort);
        }
        if len > MAX_LEN {
            return Err(PasswordError::TooLong);
        }
        let lower = candidate.to_lowercase();
        if COMMON.contains(&lower.as_str()) || is_trivial(&lower) {
            return Err(PasswordError::TooCommon);
        }
        if let Some(email) = email {
            let name = email.local_part();
            if name.chars().count() >= 4 && lower.contains(&name) {
                return Err(PasswordError::ContainsEmail);
            }
        }
        Ok(Self(raw))
    }

    /// Hashes with argon2id on the blocking pool.
    pub async fn hash(self) -> PasswordHash {
        let secret = self.0;
        let hashed =
            tokio::task::spawn_blocking(move || hash_blocking(secret.expose_secret())).await;
        // Hashing cannot fail with fixed, valid parameters; a panic in the task would be a bug.
        PasswordHash(hashed.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())))
    }
}

/// One character repeated, or a run of consecutive characters (`abcdef…`, `987654…`).
fn is_trivial(lower: &str) -> bool {
    let bytes = lower.as_bytes();
    let same = bytes.windows(2).all(|w| w[0] == w[1]);
    let ascending = bytes.windows(2).all(|w| w[1] == w[0].wrapping_add(1));
    let descending = bytes.windows(2).all(|w| w[0] == w[1].wrapping_add(1));
    same || ascending || descending
}

fn argon2() -> Argon2<'static> {
    // 19 MiB, 2 passes, 1 lane: OWASP's recommended argon2id baseline.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// Verified against when the account does not exist, so both cases cost the same.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_blocking("not a real password, never matches"));

/// Checks `candidate` against `stored`, or against a dummy hash when there is no account,
/// in constant time with respect to the candidate; runs on the blocking pool.
pub async fn verify(candidate: SecretString, stored: Option<PasswordHash>) -> bool {
    let has_account = stored.is_some();
    let result = tokio::task::spawn_blocking(move || {
        let phc = stored.map_or_else(|| DUMMY_HASH.clone(), |h| h.0);
        argon2::PasswordHash::new(&phc)
            .map(|parsed| {
                argon2()
                    .verify_password(candidate.expose_secret().as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    result && has_account
}

/// Computes the dummy hash now, so the first login of an unknown user is not faster.
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str, email: Option<&str>) -> Result<Password, PasswordError> {
        let email = email.map(|e| Email::parse(e).expect("valid email"));
        Password::parse(SecretString::from(raw.to_owned()), email.as_ref())
    }

    #[test]
    fn the_policy_refuses_short_long_common_and_trivial_passwords() {
        assert_eq!(parse("short", None).err(), Some(PasswordError::TooShort));
        assert_eq!(
            parse(&"x".repeat(257), None).err(),
            Some(PasswordError::TooLong)
        );
        assert_eq!(
            parse("Password1234", None).err(),
            Some(PasswordError::TooCommon)
        );
        assert_eq!(
            parse("aaaaaaaaaaaaaa", None).err(),
            Some(PasswordError::TooCommon)
        );
        assert_eq!(
            parse("abcdefghijklmnop", None).err(),
            Some(PasswordError::TooCommon)
        );
        assert_eq!(
            parse("zyxwvutsrqponm", None).err(),
            Some(PasswordError::TooCommon)
        );
        assert_eq!(
            parse("grace.hopper!2024", Some("grace.hopper@example.com")).err(),
            Some(PasswordError::ContainsEmail)
        );
        assert!(parse("correct horse battery", Some("ada@example.com")).is_ok());
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(parse("ééééééééééé", None).is_err(), "11 characters");
        assert!(parse("éèêëéèêëéèêë", None).is_ok(), "12 characters");
    }

    #[test]
    fn errors_never_contain_the_password() {
        let err = parse("Password1234", None).expect_err("common");
        assert!(!format!("{err} {err:?}").contains("Password1234"));
    }

    #[tokio::test]
    async fn a_hash_verifies_only_its_password_and_is_salted() {
        let a = parse("tolerable-secret-1", None).expect("ok").hash().await;
        let b = parse("tolerable-secret-1", None).expect("ok").hash().await;
        assert!(
            a.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            a.as_str()
        );
        assert_ne!(a, b, "salted");
        assert!(verify(SecretString::from("tolerable-secret-1"), Some(a.clone())).await);
        assert!(!verify(SecretString::from("tolerable-secret-2"), Some(a)).await);
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        assert!(
            !verify(
                SecretString::from("not a real password, never matches"),
                None
            )
            .await
        );
    }
}
