//! What a key may spend (quota periods and specs, rate limits) and the ceiling an admin
//! sets on an owner's keys. Shared by keys, which carry limits, and identity, whose
//! owners are bound by a ceiling.

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, TimeZone as _, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How often a quota starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "quota_period", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum QuotaPeriod {
    /// Resets every day at 00:00 UTC.
    Day,
    /// Resets on the first of every month at 00:00 UTC.
    Month,
    /// Never resets.
    Total,
}

impl QuotaPeriod {
    /// When the period containing `now` began (the Unix epoch for `total`).
    pub fn start(self, now: DateTime<Utc>) -> DateTime<Utc> {
        let day = now.date_naive();
        let date = match self {
            Self::Day => day,
            Self::Month => day.with_day(1).unwrap_or(day),
            Self::Total => NaiveDate::default(),
        };
        midnight(date)
    }

    /// When the period containing `now` ends; `None` for `total`.
    pub fn resets_at(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let day = now.date_naive();
        match self {
            Self::Day => Some(midnight(day) + Duration::days(1)),
            Self::Month => {
                let (y, m) = if day.month() == 12 {
                    (day.year() + 1, 1)
                } else {
                    (day.year(), day.month() + 1)
                };
                NaiveDate::from_ymd_opt(y, m, 1).map(midnight)
            }
            Self::Total => None,
        }
    }
}

fn midnight(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN))
}

/// A quota as set: at most `limit` credits per `period`. Unknown fields are refused, as
/// at the top level of every body (a misspelt `limt` must not pass silently).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuotaSpec {
    /// Credits per period (1 to 10^12).
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 1, maximum = 1_000_000_000_000_i64)
    )]
    pub limit: i64,
    /// When the credit starts again.
    pub period: QuotaPeriod,
}

impl QuotaSpec {
    /// Checks the limit of a key's `quota`.
    pub fn validate(self) -> Result<Self> {
        self.validate_as("quota")
    }

    /// Checks the limit; errors name `field`.
    pub fn validate_as(self, field: &str) -> Result<Self> {
        if (1..=1_000_000_000_000).contains(&self.limit) {
            Ok(self)
        } else {
            Err(Error::invalid(
                format!("{field}.limit"),
                "must be between 1 and 1000000000000",
            ))
        }
    }

    /// "1000 a month", for messages.
    pub fn describe(self) -> String {
        let per = match self.period {
            QuotaPeriod::Day => "a day",
            QuotaPeriod::Month => "a month",
            QuotaPeriod::Total => "in total",
        };
        format!("{} {per}", self.limit)
    }
}

/// A rate limit: at most `limit` verifications per `window_seconds`. Unknown fields are
/// refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RateLimit {
    /// Verifications per window (1 to 1000000).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000))]
    pub limit: i32,
    /// The window, in seconds (1 to 86400).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 86_400))]
    pub window_seconds: i32,
}

impl RateLimit {
    /// Checks both fields of a key's `rate_limit`.
    pub fn validate(self) -> Result<Self> {
        self.validate_as("rate_limit")
    }

    /// Checks both fields; errors name `field`.
    pub fn validate_as(self, field: &str) -> Result<Self> {
        if !(1..=1_000_000).contains(&self.limit) {
            return Err(Error::invalid(
                format!("{field}.limit"),
                "must be between 1 and 1000000",
            ));
        }
        if !(1..=86_400).contains(&self.window_seconds) {
            return Err(Error::invalid(
                format!("{field}.window_seconds"),
                "must be between 1 and 86400",
            ));
        }
        Ok(self)
    }

    /// Whether this limit lets through no more than `ceiling`: no larger burst and no
    /// higher sustained rate (`limit / window_seconds`).
    pub fn within(self, ceiling: Self) -> bool {
        self.limit <= ceiling.limit
            && i64::from(self.limit) * i64::from(ceiling.window_seconds)
                <= i64::from(ceiling.limit) * i64::from(self.window_seconds)
    }

    /// "100 per 60 s", for messages.
    pub fn describe(self) -> String {
        format!("{} per {} s", self.limit, self.window_seconds)
    }
}

/// Longest lifetime an owner's keys may be given: 100 years, in seconds.
pub const MAX_LIFETIME_SECONDS: i64 = 3_155_760_000;

/// The ceiling an admin puts on an owner's keys. Each maximum is also what a new key of
/// the owner gets when it asks for nothing; `may_change` says whether the owner may
/// change their keys' quota, rate limit and expiry at all (within the maxima) or only
/// read what an admin set. Admins' own keys and the keys admins set are not bound: a key
/// outside its owner's ceiling is flagged ([`Self::outside`]), never broken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OwnerKeyLimits {
    /// Whether the owner may set and change these limits on their keys (within the maxima).
    pub may_change: bool,
    /// Largest quota, of this period only; a key must have one.
    pub max_quota: Option<QuotaSpec>,
    /// Largest rate limit; a key must have one.
    pub max_rate_limit: Option<RateLimit>,
    /// Longest a key may live from the moment its expiry is set; a key must expire.
    pub max_lifetime_seconds: Option<i64>,
}

/// Validates an owner's maximum key lifetime.
pub fn parse_lifetime(field: &str, seconds: i64) -> Result<i64> {
    if (60..=MAX_LIFETIME_SECONDS).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(Error::invalid(
            field,
            format!("must be between 60 and {MAX_LIFETIME_SECONDS} seconds, or null"),
        ))
    }
}

/// "30 days", "12 hours", "90 s": a lifetime for messages.
pub fn describe_lifetime(seconds: i64) -> String {
    match seconds {
        s if s % 86_400 == 0 => plural(s / 86_400, "day"),
        s if s % 3_600 == 0 => plural(s / 3_600, "hour"),
        s if s % 60 == 0 => plural(s / 60, "minute"),
        s => format!("{s} s"),
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

impl OwnerKeyLimits {
    /// `Forbidden` (naming `quota` and the maximum) when `quota` is above the ceiling.
    pub fn check_quota(&self, quota: Option<QuotaSpec>) -> Result<()> {
        match (self.max_quota, quota) {
            (Some(max), Some(q)) if q.period == max.period && q.limit <= max.limit => Ok(()),
            (Some(max), _) => Err(Error::Forbidden(format!(
                "quota: your policy allows a quota of at most {}",
                max.describe()
            ))),
            (None, _) => Ok(()),
        }
    }

    /// `Forbidden` (naming `rate_limit` and the maximum) when above the ceiling.
    pub fn check_rate_limit(&self, rate: Option<RateLimit>) -> Result<()> {
        match (self.max_rate_limit, rate) {
            (Some(max), Some(r)) if r.within(max) => Ok(()),
            (Some(max), _) => Err(Error::Forbidden(format!(
                "rate_limit: your policy allows a rate limit of at most {}",
                max.describe()
            ))),
            (None, _) => Ok(()),
        }
    }

    /// `Forbidden` (naming `expires_at` and the lifetime) when a key set at `now` to
    /// expire at `expires_at` would outlive the ceiling.
    pub fn check_expiry(
        &self,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        match (self.latest_expiry(now), expires_at) {
            (Some(latest), Some(at)) if at <= latest => Ok(()),
            (Some(latest), _) => Err(Error::Forbidden(format!(
                "expires_at: your policy requires keys to expire within {} (by {})",
                describe_lifetime(self.max_lifetime_seconds.unwrap_or_default()),
                latest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ))),
            (None, _) => Ok(()),
        }
    }

    /// The latest expiry a key may be given at `now`.
    pub fn latest_expiry(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.max_lifetime_seconds
            .map(|s| now + Duration::seconds(s))
    }

    /// Which of a key's settings are outside this ceiling at `now`: `quota`,
    /// `rate_limit`, `expires_at` (in that order).
    pub fn outside(
        &self,
        quota: Option<QuotaSpec>,
        rate: Option<RateLimit>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.check_quota(quota).is_err() {
            out.push("quota");
        }
        if self.check_rate_limit(rate).is_err() {
            out.push("rate_limit");
        }
        if self.check_expiry(expires_at, now).is_err() {
            out.push("expires_at");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The database's `locksmith_quota_period_start` (leases and usage run on it) and
    /// `QuotaPeriod::start` (views and the ledger) must draw the same line, whatever the
    /// session's time zone: checked over three years in steps of 7 h 13 min, and at each
    /// month's last microsecond and first instant.
    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn the_sql_period_start_and_its_rust_twin_agree_over_years_of_dates(pool: sqlx::PgPool) {
        let first = Utc
            .with_ymd_and_hms(2023, 12, 25, 0, 0, 0)
            .single()
            .expect("date");
        let mut instants: Vec<DateTime<Utc>> = (0..3700)
            .map(|i| first + Duration::minutes(433 * i))
            .collect();
        for month in 0..40 {
            let (y, m) = (2024 + month / 12, 1 + (month % 12) as u32);
            let start = midnight(NaiveDate::from_ymd_opt(y, m, 1).expect("month"));
            instants.extend([start, start - Duration::microseconds(1)]);
        }
        let mut conn = pool.acquire().await.expect("connection");
        sqlx::query("SET TIME ZONE 'Pacific/Chatham'")
            .execute(&mut *conn)
            .await
            .expect("time zone");
        for period in [QuotaPeriod::Day, QuotaPeriod::Month, QuotaPeriod::Total] {
            let sql: Vec<DateTime<Utc>> = sqlx::query_scalar(
                "SELECT locksmith_quota_period_start($1, t)
                 FROM unnest($2::timestamptz[]) WITH ORDINALITY AS u(t, n) ORDER BY n",
            )
            .bind(period)
            .bind(&instants)
            .fetch_all(&mut *conn)
            .await
            .expect("sql");
            for (at, from_sql) in instants.iter().zip(&sql) {
                assert_eq!(*from_sql, period.start(*at), "{period:?} at {at}");
            }
            assert_eq!(sql.len(), instants.len());
        }
    }

    fn quota(limit: i64, period: QuotaPeriod) -> QuotaSpec {
        QuotaSpec { limit, period }
    }

    fn rate(limit: i32, window_seconds: i32) -> RateLimit {
        RateLimit {
            limit,
            window_seconds,
        }
    }

    #[test]
    fn a_quota_must_be_of_the_ceilings_period_and_no_larger() {
        let ceiling = OwnerKeyLimits {
            max_quota: Some(quota(1000, QuotaPeriod::Month)),
            ..OwnerKeyLimits::default()
        };
        assert!(
            ceiling
                .check_quota(Some(quota(1000, QuotaPeriod::Month)))
                .is_ok()
        );
        assert!(
            ceiling
                .check_quota(Some(quota(10, QuotaPeriod::Month)))
                .is_ok()
        );
        let err = ceiling
            .check_quota(Some(quota(1001, QuotaPeriod::Month)))
            .expect_err("above");
        assert_eq!(
            err.to_string(),
            "quota: your policy allows a quota of at most 1000 a month"
        );
        assert!(
            ceiling
                .check_quota(Some(quota(10, QuotaPeriod::Day)))
                .is_err()
        );
        assert!(ceiling.check_quota(None).is_err(), "no quota is unlimited");
        assert!(OwnerKeyLimits::default().check_quota(None).is_ok());
    }

    #[test]
    fn a_rate_limit_may_be_neither_burstier_nor_faster() {
        let ceiling = OwnerKeyLimits {
            max_rate_limit: Some(rate(60, 60)),
            ..OwnerKeyLimits::default()
        };
        assert!(ceiling.check_rate_limit(Some(rate(60, 60))).is_ok());
        assert!(
            ceiling.check_rate_limit(Some(rate(1, 1))).is_ok(),
            "same rate, smaller burst"
        );
        assert!(ceiling.check_rate_limit(Some(rate(30, 60))).is_ok());
        assert!(
            ceiling.check_rate_limit(Some(rate(61, 60))).is_err(),
            "faster"
        );
        assert!(
            ceiling.check_rate_limit(Some(rate(2, 1))).is_err(),
            "faster, small burst"
        );
        assert!(
            ceiling.check_rate_limit(Some(rate(120, 3600))).is_err(),
            "burstier"
        );
        assert!(ceiling.check_rate_limit(None).is_err());
    }

    #[test]
    fn a_lifetime_requires_an_expiry_within_it() {
        let now = Utc::now();
        let ceiling = OwnerKeyLimits {
            max_lifetime_seconds: Some(30 * 86_400),
            ..OwnerKeyLimits::default()
        };
        assert!(
            ceiling
                .check_expiry(Some(now + Duration::days(30)), now)
                .is_ok()
        );
        let err = ceiling
            .check_expiry(Some(now + Duration::days(31)), now)
            .expect_err("too late");
        assert!(
            err.to_string()
                .starts_with("expires_at: your policy requires keys to expire within 30 days"),
            "{err}"
        );
        assert!(
            ceiling.check_expiry(None, now).is_err(),
            "never is too late"
        );
        assert_eq!(ceiling.outside(None, None, None, now), vec!["expires_at"]);
        assert_eq!(describe_lifetime(7_200), "2 hours");
        assert_eq!(describe_lifetime(86_400), "1 day");
        assert!(parse_lifetime("f", 59).is_err());
    }
}
