//! Bounds on timestamps taken from clients: chrono accepts years from -262143 to 262142,
//! PostgreSQL's `timestamptz` only 4713 BC to 294276 AD; anything outside
//! 1970-01-01..=9999-12-31 is refused as invalid input before it reaches the database.

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// Whether `at` lies in 1970-01-01T00:00:00Z..=9999-12-31T23:59:59Z.
pub fn in_range(at: DateTime<Utc>) -> bool {
    (0..=253_402_300_799).contains(&at.timestamp())
}

/// `at`, or an `Invalid` error naming `field`.
pub fn check(field: &str, at: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if in_range(at) {
        Ok(at)
    } else {
        Err(Error::invalid(field, "must be between 1970 and 9999"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        let parse = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("time")
                .with_timezone(&Utc)
        };
        assert!(check("t", parse("1970-01-01T00:00:00Z")).is_ok());
        assert!(check("t", parse("9999-12-31T23:59:59Z")).is_ok());
        assert!(check("t", parse("1969-12-31T23:59:59Z")).is_err());
        let year_10000 = DateTime::from_timestamp(253_402_300_800, 0).expect("time");
        let err = check("expires_at", year_10000).expect_err("far");
        assert!(err.to_string().starts_with("expires_at:"));
    }
}
