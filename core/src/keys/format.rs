//! The format of API keys and verifier tokens: `<prefix>_<body><checksum>`.
//!
//! - `prefix`: the keyspace's prefix, 2 to 12 characters of `[a-z0-9]` (verifier tokens
//!   use [`VERIFIER_PREFIX`]);
//! - `body`: [`BODY_LEN`] base62 characters drawn uniformly from the operating system's
//!   CSPRNG: 62^24 ≈ 2^142.9, comfortably above the 128 bits required;
//! - `checksum`: CRC-32 of `<prefix>_<body>`, written as [`CHECKSUM_LEN`] base62 digits
//!   (most significant first, zero-padded), so a mistyped or truncated key is refused
//!   without touching the cache or the database, and secret scanners can tell a real key
//!   from a look-alike.
//!
//! THE FORMAT MUST NEVER CHANGE once released: keys already handed out would stop
//! parsing, and scanners registered with the regex would stop finding leaks. A new
//! format needs a new, distinguishable shape, accepted alongside this one.

use std::fmt;

use rand::TryRngCore as _;
use rand::distr::{Alphanumeric, Distribution as _};
use rand::rngs::OsRng;
use secrecy::{ExposeSecret as _, SecretString};

/// Characters of randomness in the body.
pub const BODY_LEN: usize = 24;
/// Characters of the base62 checksum.
pub const CHECKSUM_LEN: usize = 6;
/// Characters of the body shown in `start`.
pub const START_BODY_LEN: usize = 4;
/// The prefix of verifier tokens.
pub const VERIFIER_PREFIX: &str = "lsv";
/// Every key and verifier token matches this (documented in the README).
pub const KEY_REGEX: &str = r"^[a-z0-9]{2,12}_[A-Za-z0-9]{30}$";

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A keyspace prefix: 2 to 12 characters of `[a-z0-9]`, not one of Locksmith's own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Prefix(String);

/// Whether `prefix` is reserved for Locksmith's own secrets: `ls` and one more character
/// (`lsv` verifier tokens, `lsr` refresh tokens, and room for more). A keyspace with such
/// a prefix would hand out keys that read as Locksmith's credentials, to people and to
/// secret scanners alike.
pub fn is_reserved(prefix: &str) -> bool {
    prefix.len() == 3 && prefix.starts_with("ls")
}

impl Prefix {
    /// Parses a prefix; the error names the `prefix` field.
    pub fn parse(raw: &str) -> crate::error::Result<Self> {
        if !is_prefix(raw) {
            return Err(crate::Error::invalid(
                "prefix",
                "must be 2 to 12 characters of a-z and 0-9",
            ));
        }
        if is_reserved(raw) {
            return Err(crate::Error::invalid(
                "prefix",
                format!(
                    "{raw} is reserved: prefixes of ls and one character name Locksmith's own tokens"
                ),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_prefix(raw: &str) -> bool {
    (2..=12).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A freshly generated secret (key or verifier token). Its `Debug` is redacted; it is
/// handed to the caller once and then dropped.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// The secret itself, for the one response that shows it and for hashing.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// `<prefix>_` plus the first characters of the body: safe to show and store.
    pub fn start(&self) -> String {
        let (prefix, body) = self.expose().split_once('_').unwrap_or_default();
        format!("{prefix}_{}", &body[..START_BODY_LEN])
    }
}

impl From<SecretString> for Secret {
    /// A secret made elsewhere (a webhook's signing secret), handed over the same way.
    fn from(secret: SecretString) -> Self {
        Self(secret)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// Serialises as the secret itself: only the one answer that hands a new key or token to
/// its caller holds a `Secret`.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.expose())
    }
}

/// Generates a new secret under `prefix`.
pub fn generate(prefix: &str) -> Secret {
    debug_assert!(is_prefix(prefix), "prefixes are validated on creation");
    let mut rng = OsRng.unwrap_err();
    let body: String = Alphanumeric
        .sample_iter(&mut rng)
        .take(BODY_LEN)
        .map(char::from)
        .collect();
    let head = format!("{prefix}_{body}");
    let sum = checksum(&head);
    Secret(SecretString::from(format!("{head}{sum}")))
}

/// A syntactically valid key: right shape and checksum. Says nothing of whether it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WellFormed<'a> {
    /// The prefix before `_`.
    pub prefix: &'a str,
}

/// Checks shape and checksum, without any I/O; `None` for anything malformed.
pub fn parse(raw: &str) -> Option<WellFormed<'_>> {
    let (prefix, rest) = raw.split_once('_')?;
    if !is_prefix(prefix)
        || rest.len() != BODY_LEN + CHECKSUM_LEN
        || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return None;
    }
    let (head, sum) = raw.split_at(raw.len() - CHECKSUM_LEN);
    (checksum(head) == sum).then_some(WellFormed { prefix })
}

/// CRC-32 of `data` as [`CHECKSUM_LEN`] base62 digits (62^6 > 2^32, so every value fits).
fn checksum(data: &str) -> String {
    let mut n = u64::from(crc32fast::hash(data.as_bytes()));
    let mut digits = [b'0'; CHECKSUM_LEN];
    for digit in digits.iter_mut().rev() {
        // `n % 62` is below 62, so the index is in range.
        *digit = BASE62[usize::try_from(n % 62).unwrap_or(0)];
        n /= 62;
    }
    digits.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_print_redacted_and_serialise_once_for_their_caller() {
        let secret = generate("sk");
        let exposed = secret.expose().to_owned();
        assert_eq!(format!("{secret:?}"), "Secret([REDACTED])");
        assert_eq!(
            serde_json::to_value(&secret).expect("json"),
            serde_json::Value::String(exposed)
        );
    }

    #[test]
    fn generated_keys_parse_and_match_the_documented_regex() {
        let re_ok = |s: &str| {
            let (p, rest) = s.split_once('_').expect("underscore");
            is_prefix(p) && rest.len() == 30 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        };
        for prefix in ["sk", "acme2024", "abcdefghijkl"] {
            let key = generate(prefix);
            assert!(re_ok(key.expose()), "{}", key.expose());
            assert_eq!(parse(key.expose()), Some(WellFormed { prefix }));
            assert_eq!(key.start().len(), prefix.len() + 1 + START_BODY_LEN);
            assert!(key.expose().starts_with(&key.start()));
        }
        assert_eq!(KEY_REGEX, r"^[a-z0-9]{2,12}_[A-Za-z0-9]{30}$");
    }

    #[test]
    fn keys_are_unique_and_use_the_whole_alphabet() {
        let keys: std::collections::HashSet<String> = (0..2000)
            .map(|_| generate("sk").expose().to_owned())
            .collect();
        assert_eq!(keys.len(), 2000);
        let seen: std::collections::HashSet<u8> = keys
            .iter()
            .flat_map(|k| k.as_bytes()[3..3 + BODY_LEN].to_vec())
            .collect();
        assert_eq!(
            seen.len(),
            62,
            "a uniform base62 body uses all 62 characters"
        );
    }

    #[test]
    fn any_single_character_change_is_caught_by_the_checksum() {
        let key = generate("sk").expose().to_owned();
        for i in 3..key.len() {
            for replacement in [b'0', b'a', b'Z'] {
                let mut bytes = key.clone().into_bytes();
                if bytes[i] == replacement {
                    continue;
                }
                bytes[i] = replacement;
                let typo = String::from_utf8(bytes).expect("ascii");
                assert_eq!(parse(&typo), None, "{typo}");
            }
        }
        // Swapping two adjacent different characters is caught too.
        let bytes = key.as_bytes();
        let i = (3..key.len() - 1)
            .find(|&i| bytes[i] != bytes[i + 1])
            .expect("two different neighbours");
        let mut swapped = bytes.to_vec();
        swapped.swap(i, i + 1);
        assert_eq!(parse(&String::from_utf8(swapped).expect("ascii")), None);
    }

    #[test]
    fn malformed_shapes_are_refused() {
        let key = generate("sk").expose().to_owned();
        for bad in [
            "",
            "sk_",
            "sk",
            &key[..key.len() - 1],
            &format!("{key}0"),
            &key.replacen("sk_", "SK_", 1),
            &key.replacen("sk_", "s_", 1),
            &key.replacen('_', "-", 1),
            "sk_ÄÖÜäöüßÄÖÜäöüßÄÖÜäöüßÄÖÜäöüß",
            "' OR 1=1 --",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn prefixes_are_validated() {
        for ok in ["sk", "a1", "abcdefghijkl", "ls", "lsvx", "lock"] {
            assert!(Prefix::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a",
            "SK",
            "abcdefghijklm",
            "s-k",
            "s_k",
            "ü1",
            "lsv",
            "lsr",
            "ls0",
        ] {
            let err = Prefix::parse(bad).expect_err(bad);
            assert!(err.to_string().starts_with("prefix:"), "{err}");
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = generate("sk");
        let printed = format!("{key:?}");
        assert!(!printed.contains(&key.expose()[3..]), "{printed}");
    }

    #[test]
    fn checksum_is_fixed_width() {
        assert_eq!(checksum("").len(), CHECKSUM_LEN);
        assert_eq!(checksum("x").len(), CHECKSUM_LEN);
        assert_eq!(checksum("sk_000000000000000000000000").len(), CHECKSUM_LEN);
    }

    proptest::proptest! {
        /// The parser answers any input, of any length or alphabet, without panicking.
        #[test]
        fn any_text_is_answered(raw in "\\PC{0,80}") {
            let _ = parse(&raw);
        }

        /// A mistyped character anywhere in a key is caught by the checksum, before any
        /// lookup.
        #[test]
        fn one_wrong_character_is_refused(position in 0_usize..33, replacement in "[a-zA-Z0-9]") {
            let key = generate("sk");
            let raw = key.expose();
            let position = 3 + position % (raw.len() - 3);
            let original = &raw[position..=position];
            proptest::prop_assume!(original != replacement);
            let typo = format!("{}{}{}", &raw[..position], replacement, &raw[position + 1..]);
            proptest::prop_assert_eq!(parse(&typo), None);
        }
    }
}
