//! `Email`: an address that is plausibly deliverable, compared case-insensitively.

use std::fmt;

/// A validated email address, kept as typed (trimmed). Uniqueness is case-insensitive,
/// which the database enforces with an index on `lower(email)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

/// Why an email address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("email: {0}")]
pub struct EmailError(&'static str);

impl Email {
    /// Longest address accepted (RFC 5321 path limit).
    pub const MAX_LEN: usize = 254;

    /// Parses and validates an address.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let email = raw.trim();
        if email.is_empty() {
            return Err(EmailError("must not be empty"));
        }
        if email.len() > Self::MAX_LEN {
            return Err(EmailError("must be at most 254 characters"));
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailError("must not contain spaces or control characters"));
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err(EmailError("must contain @"));
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(EmailError(
                "the part before @ must be 1 to 64 characters, without @",
            ));
        }
        let labels_ok = domain
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-'));
        if !domain.contains('.') || !labels_ok {
            return Err(EmailError("the domain must look like example.com"));
        }
        Ok(Self(email.to_owned()))
    }

    /// The address as typed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the @, lower-cased (used to refuse passwords containing it).
    pub fn local_part(&self) -> String {
        self.0
            .rsplit_once('@')
            .map_or("", |(l, _)| l)
            .to_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_addresses_are_kept_as_typed_but_trimmed() {
        assert_eq!(
            Email::parse("  Ada.Lovelace@Example.COM ").map(|e| e.0),
            Ok("Ada.Lovelace@Example.COM".into())
        );
        assert!(Email::parse("o'brien+keys@sub.example.co.uk").is_ok());
    }

    #[test]
    fn invalid_addresses_are_refused() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a b@example.com",
            "a@-x.com",
            "a@x..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
        assert!(Email::parse(&format!("a@{}.com", "b".repeat(250))).is_err());
    }

    #[test]
    fn errors_name_the_field() {
        assert!(
            Email::parse("nope")
                .expect_err("invalid")
                .to_string()
                .starts_with("email:")
        );
    }
}
