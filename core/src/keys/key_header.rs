//! Where a proxy in front of a keyspace's service finds the key (`GET /v1/authz`): a
//! request header's name, `x-api-key` by default. `authorization` means the
//! `Authorization: Bearer <key>` scheme.

use crate::error::{Error, Result};

/// The header a keyspace's keys arrive in, when no one chose another.
pub const DEFAULT: &str = "x-api-key";

/// The header that carries the key as `Bearer <key>`.
pub const AUTHORIZATION: &str = "authorization";

/// Headers that cannot carry a key: they mean something to every proxy and server on
/// the way, or are Locksmith's own.
const RESERVED: [&str; 10] = [
    "host",
    "connection",
    "content-length",
    "content-type",
    "transfer-encoding",
    "te",
    "upgrade",
    "keep-alive",
    "proxy-authorization",
    "cookie",
];

/// A valid header name for keys, lower-cased.
pub fn parse(raw: &str) -> Result<String> {
    let name = raw.trim().to_ascii_lowercase();
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+.^_`|~-".contains(c);
    if name.is_empty() || name.len() > 64 || !name.chars().all(token) {
        return Err(Error::invalid(
            "key_header",
            "must be an HTTP header name of 1 to 64 characters",
        ));
    }
    if RESERVED.contains(&name.as_str()) || name.starts_with("x-locksmith-") {
        return Err(Error::invalid(
            "key_header",
            format!(
                "`{name}` cannot carry keys; use `x-api-key`, `authorization` or a header of your own"
            ),
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_tokens_lower_cased_and_not_reserved() {
        assert_eq!(parse(" X-Api-Key ").expect("valid"), DEFAULT);
        assert_eq!(parse("Authorization").expect("valid"), AUTHORIZATION);
        assert_eq!(parse("x-partner_token").expect("valid"), "x-partner_token");
        for bad in [
            "",
            "x api key",
            "x-api-key:",
            "é",
            &"a".repeat(65),
            "Host",
            "cookie",
            "X-Locksmith-Key-Id",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
