//! The dashboard's SQL.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Expiring, KeyBrief, KeyTraffic, QuotaAlert, SetupSteps, StatusCounts};
use crate::error::Result;
use crate::usage::{UsageBucket, UsageRange};

/// Keys by status (of one owner, or all). The conditions mirror `KeyStatus::derive`.
pub(super) async fn status_counts(
    pool: &PgPool,
    owner: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<StatusCounts> {
    Ok(sqlx::query_as!(
        StatusCounts,
        r#"SELECT
               count(*) FILTER (WHERE revoked_at IS NULL AND enabled
                                  AND (expires_at IS NULL OR expires_at > $1)) AS "active!",
               count(*) FILTER (WHERE revoked_at IS NULL AND NOT enabled) AS "disabled!",
               count(*) FILTER (WHERE revoked_at IS NULL AND enabled AND expires_at <= $1) AS "expired!",
               count(*) FILTER (WHERE revoked_at IS NOT NULL) AS "revoked!"
           FROM keys
           WHERE ($2::uuid IS NULL OR owner_id = $2)"#,
        now,
        owner,
    )
    .fetch_one(pool)
    .await?)
}

/// Every bucket of `range` over all keys, zeros included, oldest first.
pub(super) async fn total_series(pool: &PgPool, range: &UsageRange) -> Result<Vec<UsageBucket>> {
    Ok(sqlx::query_as!(
        UsageBucket,
        r#"WITH buckets AS (
               SELECT g AS bucket
               FROM generate_series($1::timestamptz, $2::timestamptz - interval '1 second',
                                    CASE $3::text WHEN 'day' THEN interval '1 day' ELSE interval '1 hour' END) AS g
           ),
           sums AS (
               SELECT date_trunc($3::text, t.bucket, 'UTC') AS bucket,
                      sum(t.valid) AS valid, sum(t.rate_limited) AS rate_limited,
                      sum(t.quota_exceeded) AS quota_exceeded, sum(t.forbidden) AS forbidden,
                      sum(t.other) AS other
               FROM usage_totals t
               WHERE t.bucket >= $1 AND t.bucket < $2
               GROUP BY 1
           )
           SELECT b.bucket AS "bucket!",
                  coalesce(s.valid, 0)::int8 AS "valid!",
                  coalesce(s.rate_limited, 0)::int8 AS "rate_limited!",
                  coalesce(s.quota_exceeded, 0)::int8 AS "quota_exceeded!",
                  coalesce(s.forbidden, 0)::int8 AS "forbidden!",
                  coalesce(s.other, 0)::int8 AS "other!"
           FROM buckets b LEFT JOIN sums s ON s.bucket = b.bucket
           ORDER BY b.bucket"#,
        range.from,
        range.to,
        range.granularity.as_str(),
    )
    .fetch_all(pool)
    .await?)
}

/// Every bucket of `range` over one owner's keys, zeros included, oldest first.
pub(super) async fn owner_series(
    pool: &PgPool,
    owner: Uuid,
    range: &UsageRange,
) -> Result<Vec<UsageBucket>> {
    Ok(sqlx::query_as!(
        UsageBucket,
        r#"WITH buckets AS (
               SELECT g AS bucket
               FROM generate_series($2::timestamptz, $3::timestamptz - interval '1 second',
                                    CASE $4::text WHEN 'day' THEN interval '1 day' ELSE interval '1 hour' END) AS g
           ),
           sums AS (
               SELECT date_trunc($4::text, u.bucket, 'UTC') AS bucket,
                      sum(u.valid) AS valid, sum(u.rate_limited) AS rate_limited,
                      sum(u.quota_exceeded) AS quota_exceeded, sum(u.forbidden) AS forbidden,
                      sum(u.other) AS other
               FROM owner_usage u
               WHERE u.owner_id = $1 AND u.bucket >= $2 AND u.bucket < $3
               GROUP BY 1
           )
           SELECT b.bucket AS "bucket!",
                  coalesce(s.valid, 0)::int8 AS "valid!",
                  coalesce(s.rate_limited, 0)::int8 AS "rate_limited!",
                  coalesce(s.quota_exceeded, 0)::int8 AS "quota_exceeded!",
                  coalesce(s.forbidden, 0)::int8 AS "forbidden!",
                  coalesce(s.other, 0)::int8 AS "other!"
           FROM buckets b LEFT JOIN sums s ON s.bucket = b.bucket
           ORDER BY b.bucket"#,
        owner,
        range.from,
        range.to,
        range.granularity.as_str(),
    )
    .fetch_all(pool)
    .await?)
}

fn traffic(
    id: Uuid,
    name: String,
    start: String,
    owner_id: Uuid,
    total: i64,
    valid: i64,
) -> KeyTraffic {
    KeyTraffic {
        key: KeyBrief {
            id,
            name,
            start,
            owner_id,
        },
        total,
        valid,
    }
}

/// The keys with the most verifications since `since`, busiest first (every key: an
/// aggregate over the index of the day's usage rows).
pub(super) async fn top_keys(
    pool: &PgPool,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<KeyTraffic>> {
    let rows = sqlx::query!(
        r#"WITH traffic AS (
               SELECT u.key_id,
                      sum(u.valid + u.rate_limited + u.quota_exceeded + u.forbidden + u.other)::int8 AS total,
                      sum(u.valid)::int8 AS valid
               FROM key_usage u
               WHERE u.bucket >= $1
               GROUP BY u.key_id
               ORDER BY total DESC, u.key_id
               LIMIT $2
           )
           SELECT k.id, k.name, k.start, k.owner_id, t.total AS "total!", t.valid AS "valid!"
           FROM traffic t JOIN keys k ON k.id = t.key_id
           ORDER BY t.total DESC, k.id"#,
        since,
        limit,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| traffic(r.id, r.name, r.start, r.owner_id, r.total, r.valid))
        .collect())
}

/// One owner's keys with the most verifications since `since`, busiest first: read key
/// by key through the usage primary key.
pub(super) async fn owner_top_keys(
    pool: &PgPool,
    owner: Uuid,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<KeyTraffic>> {
    let rows = sqlx::query!(
        r#"SELECT k.id, k.name, k.start, k.owner_id, t.total AS "total!", t.valid AS "valid!"
           FROM keys k
           CROSS JOIN LATERAL (
               SELECT sum(u.valid + u.rate_limited + u.quota_exceeded + u.forbidden + u.other)::int8 AS total,
                      sum(u.valid)::int8 AS valid
               FROM key_usage u
               WHERE u.key_id = k.id AND u.bucket >= $2
           ) t
           WHERE k.owner_id = $1 AND t.total > 0
           ORDER BY t.total DESC, k.id
           LIMIT $3"#,
        owner,
        since,
        limit,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| traffic(r.id, r.name, r.start, r.owner_id, r.total, r.valid))
        .collect())
}

/// Live, enabled keys expiring after `now` and up to `until`, soonest first.
pub(super) async fn expiring(
    pool: &PgPool,
    owner: Option<Uuid>,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Expiring>> {
    let rows = sqlx::query!(
        r#"SELECT id, name, start, owner_id, expires_at AS "expires_at!"
           FROM keys
           WHERE expires_at IS NOT NULL AND revoked_at IS NULL
             AND expires_at > $1 AND expires_at <= $2 AND enabled
             AND ($3::uuid IS NULL OR owner_id = $3)
           ORDER BY expires_at, id
           LIMIT $4"#,
        now,
        until,
        owner,
        limit,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Expiring {
            key: KeyBrief {
                id: r.id,
                name: r.name,
                start: r.start,
                owner_id: r.owner_id,
            },
            expires_at: r.expires_at,
        })
        .collect())
}

/// Live keys that spent at least `percent` of their quota in the current period,
/// fullest first.
pub(super) async fn quota_alerts(
    pool: &PgPool,
    owner: Option<Uuid>,
    now: DateTime<Utc>,
    percent: i64,
    limit: i64,
) -> Result<Vec<QuotaAlert>> {
    let rows = sqlx::query!(
        r#"SELECT id, name, start, owner_id, quota_limit AS "quota_limit!", quota_used
           FROM keys
           WHERE quota_limit IS NOT NULL AND revoked_at IS NULL
             AND quota_period_start = locksmith_quota_period_start(quota_period, $1)
             AND quota_used * 100 >= quota_limit * $2::int8
             AND ($3::uuid IS NULL OR owner_id = $3)
           ORDER BY quota_used::float8 / quota_limit DESC, id
           LIMIT $4"#,
        now,
        percent,
        owner,
        limit,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| QuotaAlert {
            key: KeyBrief {
                id: r.id,
                name: r.name,
                start: r.start,
                owner_id: r.owner_id,
            },
            limit: r.quota_limit,
            used: r.quota_used,
        })
        .collect())
}

/// Which of a new installation's first steps are done.
pub(super) async fn setup_steps(pool: &PgPool) -> Result<SetupSteps> {
    Ok(sqlx::query_as!(
        SetupSteps,
        r#"SELECT EXISTS (SELECT 1 FROM keyspaces) AS "keyspace!",
                  EXISTS (SELECT 1 FROM verifiers WHERE revoked_at IS NULL) AS "verifier!",
                  EXISTS (SELECT 1 FROM keys) AS "key!",
                  EXISTS (SELECT 1 FROM keys WHERE last_used_at IS NOT NULL) AS "verified!""#
    )
    .fetch_one(pool)
    .await?)
}
