//! Retention's SQL: folding a day of hourly usage into its daily sums, and deleting what
//! is older than its horizon.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::Result;

/// The lock of a retention run: one instance at a time.
const LOCK: i64 = 0x4c6f_636b_5265_7465; // "LockRete"

/// Takes the run's lock for this transaction, unless another instance holds it.
pub(super) async fn try_lock(conn: &mut PgConnection) -> Result<bool> {
    Ok(
        sqlx::query_scalar!(r#"SELECT pg_try_advisory_xact_lock($1) AS "locked!""#, LOCK)
            .fetch_one(conn)
            .await?,
    )
}

/// The first day whose hours are not folded yet: where the last run stopped, or the
/// oldest usage when none ran.
pub(super) async fn next_day_to_fold(conn: &mut PgConnection) -> Result<Option<DateTime<Utc>>> {
    let folded = sqlx::query_scalar!("SELECT usage_folded_before FROM retention_state")
        .fetch_one(&mut *conn)
        .await?;
    if folded.is_some() {
        return Ok(folded);
    }
    Ok(sqlx::query_scalar!(
        r#"SELECT date_trunc('day', min(bucket), 'UTC') AS "day" FROM usage_totals"#
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Replaces the hourly rows of the UTC day starting at `day` with one row per key, per
/// verifier, per owner and in the totals, at the day's midnight; returns the hourly rows
/// folded away. Idempotent: the midnight rows are kept and added to.
pub(super) async fn fold_day(conn: &mut PgConnection, day: DateTime<Utc>) -> Result<u64> {
    let keys = sqlx::query!(
        r#"WITH hours AS (
               DELETE FROM key_usage
               WHERE bucket > $1 AND bucket < $1 + interval '1 day'
               RETURNING key_id, valid, rate_limited, quota_exceeded, forbidden, other
           )
           INSERT INTO key_usage AS u (key_id, bucket, valid, rate_limited, quota_exceeded, forbidden, other)
           SELECT key_id, $1, sum(valid), sum(rate_limited), sum(quota_exceeded), sum(forbidden), sum(other)
           FROM hours GROUP BY key_id
           ON CONFLICT (key_id, bucket) DO UPDATE SET
               valid = u.valid + EXCLUDED.valid,
               rate_limited = u.rate_limited + EXCLUDED.rate_limited,
               quota_exceeded = u.quota_exceeded + EXCLUDED.quota_exceeded,
               forbidden = u.forbidden + EXCLUDED.forbidden,
               other = u.other + EXCLUDED.other"#,
        day
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query!(
        r#"WITH hours AS (
               DELETE FROM owner_usage
               WHERE bucket > $1 AND bucket < $1 + interval '1 day'
               RETURNING owner_id, valid, rate_limited, quota_exceeded, forbidden, other
           )
           INSERT INTO owner_usage AS o (owner_id, bucket, valid, rate_limited, quota_exceeded, forbidden, other)
           SELECT owner_id, $1, sum(valid), sum(rate_limited), sum(quota_exceeded), sum(forbidden), sum(other)
           FROM hours GROUP BY owner_id
           ON CONFLICT (owner_id, bucket) DO UPDATE SET
               valid = o.valid + EXCLUDED.valid,
               rate_limited = o.rate_limited + EXCLUDED.rate_limited,
               quota_exceeded = o.quota_exceeded + EXCLUDED.quota_exceeded,
               forbidden = o.forbidden + EXCLUDED.forbidden,
               other = o.other + EXCLUDED.other"#,
        day
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"WITH hours AS (
               DELETE FROM usage_totals
               WHERE bucket > $1 AND bucket < $1 + interval '1 day'
               RETURNING valid, rate_limited, quota_exceeded, forbidden, other
           )
           INSERT INTO usage_totals AS t (bucket, valid, rate_limited, quota_exceeded, forbidden, other)
           SELECT $1, sum(valid), sum(rate_limited), sum(quota_exceeded), sum(forbidden), sum(other)
           FROM hours HAVING count(*) > 0
           ON CONFLICT (bucket) DO UPDATE SET
               valid = t.valid + EXCLUDED.valid,
               rate_limited = t.rate_limited + EXCLUDED.rate_limited,
               quota_exceeded = t.quota_exceeded + EXCLUDED.quota_exceeded,
               forbidden = t.forbidden + EXCLUDED.forbidden,
               other = t.other + EXCLUDED.other"#,
        day
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"WITH hours AS (
               DELETE FROM verifier_usage
               WHERE bucket > $1 AND bucket < $1 + interval '1 day'
               RETURNING verifier_id, requests
           )
           INSERT INTO verifier_usage AS v (verifier_id, bucket, requests)
           SELECT verifier_id, $1, sum(requests) FROM hours GROUP BY verifier_id
           ON CONFLICT (verifier_id, bucket) DO UPDATE SET requests = v.requests + EXCLUDED.requests"#,
        day
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE retention_state SET usage_folded_before = $1::timestamptz + interval '1 day'",
        day
    )
    .execute(&mut *conn)
    .await?;
    Ok(keys)
}

/// Deletes usage (daily sums by now) from before `before`; the rows deleted.
pub(super) async fn delete_usage_before(
    conn: &mut PgConnection,
    before: DateTime<Utc>,
) -> Result<u64> {
    let keys = sqlx::query!("DELETE FROM key_usage WHERE bucket < $1", before)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    sqlx::query!("DELETE FROM owner_usage WHERE bucket < $1", before)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM usage_totals WHERE bucket < $1", before)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM verifier_usage WHERE bucket < $1", before)
        .execute(&mut *conn)
        .await?;
    Ok(keys)
}

/// Deletes the hourly networks of keys from before `before`; the rows deleted.
pub(super) async fn delete_networks_before(
    conn: &mut PgConnection,
    before: DateTime<Utc>,
) -> Result<u64> {
    Ok(
        sqlx::query!("DELETE FROM key_networks WHERE bucket < $1", before)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// Deletes finished webhook deliveries (with their attempts) and notifications created
/// before `before`; how many of each.
pub(super) async fn delete_history_before(
    conn: &mut PgConnection,
    before: DateTime<Utc>,
) -> Result<(u64, u64)> {
    let deliveries = sqlx::query!(
        "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1",
        before
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let notifications = sqlx::query!(
        "DELETE FROM notifications WHERE status <> 'pending' AND created_at < $1",
        before
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok((deliveries, notifications))
}

/// Deletes events that occurred before `before` and that nothing needs any more: every
/// consumer has read past them, and no pending delivery or notification carries them.
pub(super) async fn delete_events_before(
    conn: &mut PgConnection,
    before: DateTime<Utc>,
) -> Result<u64> {
    Ok(sqlx::query!(
        r#"DELETE FROM events e
           WHERE e.occurred_at < $1
             AND e.position < (SELECT coalesce(min(position), 0) FROM event_consumers)
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                             WHERE d.status = 'pending' AND d.event_id = e.id)
             AND NOT EXISTS (SELECT 1 FROM notifications n
                             WHERE n.status = 'pending' AND n.event_id = e.id)"#,
        before
    )
    .execute(conn)
    .await?
    .rows_affected())
}

/// Up to `limit` keys revoked, expired or past their rotation's grace before `before`,
/// locked for deletion.
pub(super) async fn dead_keys(
    conn: &mut PgConnection,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar!(
        r#"SELECT id FROM keys
           WHERE (revoked_at IS NOT NULL OR expires_at IS NOT NULL OR grace_ends_at IS NOT NULL)
             AND LEAST(revoked_at, expires_at, grace_ends_at) < $1
           ORDER BY LEAST(revoked_at, expires_at, grace_ends_at), id
           LIMIT $2
           FOR UPDATE SKIP LOCKED"#,
        before,
        limit
    )
    .fetch_all(conn)
    .await?)
}

/// Deletes `keys` (their usage, log and reminders go with them); a rotation partner that
/// stays forgets the link.
pub(super) async fn delete_keys(conn: &mut PgConnection, keys: &[Uuid]) -> Result<u64> {
    sqlx::query!(
        "UPDATE keys SET rotated_from = NULL WHERE rotated_from = ANY($1) AND NOT id = ANY($1)",
        keys
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE keys SET rotated_to = NULL WHERE rotated_to = ANY($1) AND NOT id = ANY($1)",
        keys
    )
    .execute(&mut *conn)
    .await?;
    // Links inside the set would make the order of deletion matter.
    sqlx::query!(
        "UPDATE keys SET rotated_from = NULL, rotated_to = NULL WHERE id = ANY($1)",
        keys
    )
    .execute(&mut *conn)
    .await?;
    Ok(sqlx::query!("DELETE FROM keys WHERE id = ANY($1)", keys)
        .execute(conn)
        .await?
        .rows_affected())
}
