//! `Scope`: a permission name such as `read:orders` carried by keys and owner policies.

use serde::{Deserialize, Serialize};

/// A scope: 1 to 64 characters of `a-z 0-9 : . _ / * -`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope(String);

impl Scope {
    /// Parses one scope.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok_len = (1..=64).contains(&raw.len());
        let ok_first = raw
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let ok_chars = raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ":._/*-".contains(c));
        if ok_len && ok_first && ok_chars {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "`{}` is not a scope (1-64 characters of a-z 0-9 : . _ / * -, starting with a letter or digit)",
                raw.chars().take(80).collect::<String>()
            ))
        }
    }

    /// Parses a list, refusing duplicates and more than 100 entries; `field` names the
    /// field in error messages.
    pub fn parse_list(field: &str, raw: &[String]) -> crate::error::Result<Vec<Self>> {
        if raw.len() > 100 {
            return Err(crate::Error::invalid(field, "at most 100 scopes"));
        }
        let mut scopes = Vec::with_capacity(raw.len());
        for item in raw {
            let scope = Self::parse(item).map_err(|e| crate::Error::invalid(field, e))?;
            if scopes.contains(&scope) {
                return Err(crate::Error::invalid(
                    field,
                    format!("`{item}` is listed twice"),
                ));
            }
            scopes.push(scope);
        }
        Ok(scopes)
    }

    /// The scope's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Scope {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<Scope> for String {
    fn from(scope: Scope) -> Self {
        scope.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_scopes() {
        for ok in [
            "read",
            "read:orders",
            "orders.write",
            "admin/*",
            "v2-beta_1",
        ] {
            assert!(Scope::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn invalid_scopes() {
        for bad in [
            "",
            "Read",
            ":x",
            "has space",
            "ünï",
            &"x".repeat(65),
            "a;drop",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lists_refuse_duplicates_and_name_the_field() {
        let err = Scope::parse_list("allowed_scopes", &["a".into(), "a".into()]).expect_err("dup");
        assert!(err.to_string().starts_with("allowed_scopes:"));
    }
}
