//! The usage series of one key: what `GET /v1/keys/{id}/usage` asks for and answers.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The width of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Granularity {
    /// One bucket per UTC hour.
    #[default]
    Hour,
    /// One bucket per UTC day.
    Day,
}

impl Granularity {
    /// The bucket width.
    pub fn step(self) -> TimeDelta {
        match self {
            Self::Hour => TimeDelta::hours(1),
            Self::Day => TimeDelta::days(1),
        }
    }

    /// Most buckets one request may ask for: 92 days of hours, or two years of days.
    pub fn max_buckets(self) -> i64 {
        match self {
            Self::Hour => 92 * 24,
            Self::Day => 731,
        }
    }

    /// The span asked for when `from` is left out: a day of hours, 30 days of days.
    fn default_span(self) -> TimeDelta {
        match self {
            Self::Hour => TimeDelta::hours(24),
            Self::Day => TimeDelta::days(30),
        }
    }

    /// The name used in SQL and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }
}

/// A checked range: `from` on a bucket boundary, `to` after it, and not too many
/// buckets between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageRange {
    /// Start of the first bucket.
    pub from: DateTime<Utc>,
    /// The range ends before this instant.
    pub to: DateTime<Utc>,
    /// Bucket width.
    pub granularity: Granularity,
}

impl UsageRange {
    /// Checks a request. `to` defaults to now (the current bucket included); `from` to a
    /// day before `to` for hours and 30 days for days. `from` is rounded down to its
    /// bucket.
    pub fn new(
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        granularity: Option<Granularity>,
        now: DateTime<Utc>,
    ) -> Result<Self> {
        let granularity = granularity.unwrap_or_default();
        let step = granularity.step();
        if let Some(t) = from {
            crate::timestamp::check("from", t)?;
        }
        if let Some(t) = to {
            crate::timestamp::check("to", t)?;
        }
        let to = match to {
            Some(to) => to,
            // The bucket now is running: include it whole.
            None => now.duration_trunc(step).unwrap_or(now) + step,
        };
        let from = from.unwrap_or(to - granularity.default_span());
        let from = from.duration_trunc(step).unwrap_or(from);
        if from >= to {
            return Err(Error::invalid("from", "must be before `to`"));
        }
        let step_secs = step.num_seconds();
        let buckets = ((to - from).num_seconds() + step_secs - 1) / step_secs;
        if buckets > granularity.max_buckets() {
            return Err(Error::invalid(
                "from",
                format!(
                    "the range holds {buckets} {}s; at most {} fit in one request",
                    granularity.as_str(),
                    granularity.max_buckets()
                ),
            ));
        }
        Ok(Self {
            from,
            to,
            granularity,
        })
    }
}

/// Verifications of one key in one bucket, by outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageBucket {
    /// Start of the bucket.
    pub bucket: DateTime<Utc>,
    /// `VALID` answers.
    pub valid: i64,
    /// `RATE_LIMITED` answers.
    pub rate_limited: i64,
    /// `QUOTA_EXCEEDED` answers.
    pub quota_exceeded: i64,
    /// `FORBIDDEN_IP` and `INSUFFICIENT_SCOPES` answers.
    pub forbidden: i64,
    /// `REVOKED`, `DISABLED` and `EXPIRED` answers.
    pub other: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn defaults_cover_the_last_day_of_hours_or_month_of_days() {
        let now = t("2026-11-23T10:20:00Z");
        let hours = UsageRange::new(None, None, None, now).expect("range");
        assert_eq!(hours.from, t("2026-11-22T11:00:00Z"));
        assert_eq!(hours.to, t("2026-11-23T11:00:00Z"));
        let days = UsageRange::new(None, None, Some(Granularity::Day), now).expect("range");
        assert_eq!(days.from, t("2026-10-25T00:00:00Z"));
        assert_eq!(days.to, t("2026-11-24T00:00:00Z"));
    }

    #[test]
    fn from_rounds_down_and_bad_ranges_name_the_field() {
        let now = t("2026-11-23T10:20:00Z");
        let r =
            UsageRange::new(Some(t("2026-11-23T08:59:00Z")), Some(now), None, now).expect("range");
        assert_eq!(r.from, t("2026-11-23T08:00:00Z"));
        let backwards = UsageRange::new(Some(now), Some(t("2026-11-01T00:00:00Z")), None, now);
        assert!(
            backwards
                .expect_err("refused")
                .to_string()
                .starts_with("from:")
        );
        let too_long = UsageRange::new(Some(t("2025-01-01T00:00:00Z")), Some(now), None, now);
        assert!(
            too_long
                .expect_err("refused")
                .to_string()
                .contains("at most 2208")
        );
        let far = UsageRange::new(Some(t("0001-01-01T00:00:00Z")), None, None, now);
        assert!(far.is_err(), "out-of-range timestamps are refused");
    }
}
