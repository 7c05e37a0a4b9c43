//! `Email`: an address that is plausibly deliverable, in one canonical form.
//!
//! Two accounts must never differ only in how their addresses are written. An address is
//! stored and compared in its canonical form: trimmed, Unicode NFC (so the two ways of
//! writing `é` are one), lower-cased. Look-alikes that no normalisation joins are
//! refused: characters a person cannot see or tell apart (zero-width spaces, bidi
//! controls, fullwidth letters: anything Unicode's identifier profile, UTS #39, does not
//! allow) and letters from scripts that do not belong together within one part of the
//! address (a Cyrillic `а` among Latin ones), while one script, or Latin with Chinese,
//! Japanese or Korean, is fine.

use std::fmt;

use unicode_normalization::UnicodeNormalization as _;
use unicode_security::{
    GeneralSecurityProfile as _, RestrictionLevel, RestrictionLevelDetection as _,
};

/// A validated email address in canonical form (see the module documentation).
/// Uniqueness is enforced by the database with an index on `lower(email)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

/// Why an email address was refused. The message names the field, and the offending
/// character by its code point (an invisible one would not show in an echo).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("email: {0}")]
pub struct EmailError(String);

impl EmailError {
    fn new(problem: &str) -> Self {
        Self(problem.to_owned())
    }
}

impl From<EmailError> for crate::Error {
    fn from(err: EmailError) -> Self {
        Self::invalid("email", err.0)
    }
}

/// The canonical form of `raw` (trimmed, NFC, lower-cased), valid or not: what counts
/// as the same address (the sign-in lockout keys its counters on it).
pub fn canonical(raw: &str) -> String {
    raw.trim().nfc().collect::<String>().to_lowercase()
}

/// Refuses characters that look like others or like nothing: non-ASCII characters
/// outside UTS #39's identifier profile, and letters of scripts that do not belong
/// together.
fn refuse_look_alikes(email: &str) -> Result<(), EmailError> {
    if let Some(c) = email
        .chars()
        .find(|c| !c.is_ascii() && !c.identifier_allowed())
    {
        return Err(EmailError(format!(
            "contains U+{:04X}, a character that is invisible or looks like another; \
             type the address with ordinary letters",
            u32::from(c)
        )));
    }
    // Script by script within each part (the name, each label of the domain), as
    // browsers judge internationalised domain names: `иван@example.com` is fine,
    // `ex\u{430}mple` is not.
    let mixed = email.split(['@', '.']).any(|part| {
        let letters: String = part.chars().filter(|c| c.is_alphanumeric()).collect();
        letters.as_str().detect_restriction_level() > RestrictionLevel::HighlyRestrictive
    });
    if mixed {
        return Err(EmailError::new(
            "mixes letters of different scripts (such as a Cyrillic letter among Latin \
             ones); type the address in one script",
        ));
    }
    Ok(())
}

impl Email {
    /// Longest address accepted (RFC 5321 path limit).
    pub const MAX_LEN: usize = 254;

    /// Parses and validates an address, and puts it in canonical form.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let email = canonical(raw);
        let email = email.as_str();
        if email.is_empty() {
            return Err(EmailError::new("must not be empty"));
        }
        if email.len() > Self::MAX_LEN {
            return Err(EmailError::new("must be at most 254 characters"));
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailError::new(
                "must not contain spaces or control characters",
            ));
        }
        refuse_look_alikes(email)?;
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err(EmailError::new("must contain @"));
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(EmailError::new(
                "the part before @ must be 1 to 64 characters, without @",
            ));
        }
        let labels_ok = domain
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-'));
        if !domain.contains('.') || !labels_ok {
            return Err(EmailError::new("the domain must look like example.com"));
        }
        Ok(Self(email.to_owned()))
    }

    /// The address, in canonical form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the @ (used to refuse passwords containing it).
    pub fn local_part(&self) -> String {
        self.0.rsplit_once('@').map_or("", |(l, _)| l).to_owned()
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
    fn valid_addresses_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Ada.Lovelace@Example.COM ").map(|e| e.0),
            Ok("ada.lovelace@example.com".into())
        );
        assert!(Email::parse("o'brien+keys@sub.example.co.uk").is_ok());
    }

    #[test]
    fn the_two_forms_of_an_accent_are_one_address() {
        let composed = Email::parse("jos\u{e9}@example.com").expect("composed");
        let decomposed = Email::parse("jose\u{301}@example.com").expect("decomposed");
        assert_eq!(composed, decomposed);
        assert_eq!(
            Email::parse("JOS\u{c9}@EXAMPLE.COM").expect("upper"),
            composed
        );
    }

    #[test]
    fn one_script_or_latin_with_cjk_is_accepted() {
        for ok in [
            "müller@beispiel.de",
            "δοκιμή@example.gr",
            "пример@example.com",
            "山田@example.jp",
            "たなか.taro@example.jp",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}: {:?}", Email::parse(ok));
        }
    }

    #[test]
    fn look_alikes_are_refused_naming_the_character() {
        for (bad, shows) in [
            ("ada\u{200b}@example.com", "U+200B"),
            ("ada@exam\u{200d}ple.com", "U+200D"),
            ("\u{ff41}\u{ff44}\u{ff41}@example.com", "U+FF41"),
            ("ada@example.com\u{202e}", "U+202E"),
            ("ad\u{ad}a@example.com", "U+00AD"),
        ] {
            let err = Email::parse(bad).expect_err(bad).to_string();
            assert!(
                err.starts_with("email: contains ") && err.contains(shows),
                "{err}"
            );
        }
        // A Cyrillic `а` (U+0430) among Latin letters.
        let mixed = Email::parse("\u{430}da@example.com").expect_err("mixed scripts");
        assert!(mixed.to_string().contains("one script"), "{mixed}");
        let mixed_domain = Email::parse("ada@ex\u{430}mple.com").expect_err("mixed domain");
        assert!(mixed_domain.to_string().contains("one script"));
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
