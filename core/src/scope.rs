//! `Scope`: a permission name such as `read:orders` carried by keys and owner policies.

use serde::{Deserialize, Serialize};

/// A scope: 1 to 64 characters of `a-z 0-9 : . _ / * -`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Scope(String);

/// As its text, without a copy (verification answers carry the key's scopes).
impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

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

    proptest::proptest! {
        /// Any text is a scope or a clear refusal; a scope reads back as written.
        #[test]
        fn any_text_is_answered_and_scopes_round_trip(raw in "\\PC{0,80}") {
            if let Ok(scope) = Scope::parse(&raw) {
                proptest::prop_assert_eq!(scope.as_str(), raw.as_str());
                proptest::prop_assert_eq!(Scope::parse(scope.as_str()), Ok(scope.clone()));
            }
        }

        /// Everything the documented pattern describes is accepted, and nothing else.
        #[test]
        fn the_documented_pattern_is_the_rule(raw in "[a-z0-9][a-z0-9:._/*-]{0,63}") {
            proptest::prop_assert!(Scope::parse(&raw).is_ok());
        }

        /// A list refuses a repeated scope, wherever it stands.
        #[test]
        fn a_list_refuses_duplicates(scopes in proptest::collection::vec("[a-z]{1,6}", 1..8), at in 0_usize..8) {
            let mut list = scopes.clone();
            let repeated = scopes[at % scopes.len()].clone();
            list.push(repeated);
            proptest::prop_assert!(Scope::parse_list("scopes", &list).is_err());
        }
    }
}
