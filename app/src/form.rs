//! Parsing of portal form fields on the server. Every error names the field, in the same
//! `field: problem` form as the core's.

use chrono::{DateTime, NaiveDateTime, Utc};
use uuid::Uuid;

use crate::error::AppError;

/// A text field, trimmed; `None` when left empty (the forms' "none" / "any").
pub(crate) fn optional(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// A list typed into one field, separated by commas, spaces or new lines; `None` when
/// empty.
pub(crate) fn list(raw: &str) -> Option<Vec<String>> {
    let items: Vec<String> = raw
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    (!items.is_empty()).then_some(items)
}

/// A time as a `datetime-local` input sends it (`YYYY-MM-DDTHH:MM`), read as UTC.
pub(crate) fn time(field: &str, raw: &str) -> Result<Option<DateTime<Utc>>, AppError> {
    optional(raw)
        .map(|v| {
            NaiveDateTime::parse_from_str(&v, "%Y-%m-%dT%H:%M")
                .or_else(|_| NaiveDateTime::parse_from_str(&v, "%Y-%m-%dT%H:%M:%S"))
                .map(|t| t.and_utc())
                .map_err(|_| {
                    AppError::Invalid(format!("{field}: use the form YYYY-MM-DDTHH:MM (UTC)"))
                })
        })
        .transpose()
}

/// A whole number; `None` when empty.
pub(crate) fn number<T: std::str::FromStr>(field: &str, raw: &str) -> Result<Option<T>, AppError> {
    optional(raw)
        .map(|v| {
            v.parse::<T>()
                .map_err(|_| AppError::Invalid(format!("{field}: must be a whole number")))
        })
        .transpose()
}

/// An id.
pub(crate) fn id(field: &str, raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw.trim()).map_err(|_| AppError::Invalid(format!("{field}: not a valid id")))
}

/// An optional id; `None` when empty.
pub(crate) fn optional_id(field: &str, raw: &str) -> Result<Option<Uuid>, AppError> {
    optional(raw).map(|v| id(field, &v)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_on_commas_spaces_and_lines() {
        assert_eq!(
            list(" read, write\nadmin  billing:read "),
            Some(vec![
                "read".into(),
                "write".into(),
                "admin".into(),
                "billing:read".into()
            ])
        );
        assert_eq!(list(" , \n "), None);
    }

    #[test]
    fn times_are_utc_minutes_and_errors_name_the_field() {
        let t = time("expires_at", "2030-01-02T03:04")
            .expect("ok")
            .expect("some");
        assert_eq!(t.to_rfc3339(), "2030-01-02T03:04:00+00:00");
        assert_eq!(time("expires_at", "  ").expect("ok"), None);
        let err = time("expires_at", "tomorrow").expect_err("bad");
        assert!(err.to_string().starts_with("expires_at: "));
    }

    #[test]
    fn numbers_and_ids_name_the_field() {
        assert_eq!(
            number::<i64>("quota.limit", "1000").expect("ok"),
            Some(1000)
        );
        assert!(
            number::<i64>("quota.limit", "1e3")
                .expect_err("bad")
                .to_string()
                .starts_with("quota.limit: ")
        );
        assert!(
            id("keyspace_id", "nope")
                .expect_err("bad")
                .to_string()
                .starts_with("keyspace_id: ")
        );
        assert_eq!(optional_id("owner_id", "").expect("ok"), None);
    }
}
