//! The reminder repository: finds what is due and records it as sent in one statement
//! per kind, so that of two instances looking at once only one gets each reminder.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::Result;
use crate::key_limits::QuotaPeriod;

/// Whether this transaction may check now: one instance at a time (the others skip the
/// minute), so that two never race on the same reminders.
pub(crate) async fn try_lock(conn: &mut PgConnection) -> Result<bool> {
    Ok(
        sqlx::query_scalar!(r#"SELECT pg_try_advisory_xact_lock($1) AS "locked!""#, LOCK)
            .fetch_one(conn)
            .await?,
    )
}

/// The lock of the minute's check.
const LOCK: i64 = 0x4c6f_636b_4c69_6665; // "Lock_Life"

/// A reminder just recorded as sent, with the key it is about.
pub(crate) struct Sent {
    pub key_id: Uuid,
    pub keyspace_id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub start: String,
    pub kind: String,
    pub moment: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub quota_limit: Option<i64>,
    pub quota_used: i64,
    pub quota_period: Option<QuotaPeriod>,
}

/// Live keys (not revoked, not rotated away) whose expiry is within a threshold, one
/// row per threshold (`expiring:<seconds>`). A key created already inside a threshold
/// is not reminded of it: whoever created it knows.
pub(crate) async fn expiring(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    thresholds: &[i64],
) -> Result<Vec<Sent>> {
    Ok(sqlx::query_as!(
        Sent,
        r#"WITH due AS (
               SELECT k.id AS key_id, 'expiring:' || t AS kind, k.expires_at AS moment
               FROM keys k CROSS JOIN unnest($2::int8[]) AS t
               WHERE k.revoked_at IS NULL AND k.rotated_to IS NULL
                 AND k.expires_at > $1
                 AND k.expires_at <= $1 + make_interval(secs => t::float8)
                 AND k.created_at <= k.expires_at - make_interval(secs => t::float8)
           ), sent AS (
               INSERT INTO key_reminders (key_id, kind, moment, sent_at)
               SELECT key_id, kind, moment, $1 FROM due
               ON CONFLICT DO NOTHING
               RETURNING key_id, kind, moment
           )
           SELECT k.id AS key_id, k.keyspace_id, k.owner_id, k.name, k.start,
                  sent.kind, sent.moment, k.last_used_at, k.quota_limit, k.quota_used,
                  k.quota_period AS "quota_period: QuotaPeriod"
           FROM sent JOIN keys k ON k.id = sent.key_id"#,
        now,
        thresholds
    )
    .fetch_all(conn)
    .await?)
}

/// Keys that passed their expiry (an old key at the end of its grace too) in the last
/// week, unless revoked.
pub(crate) async fn expired(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<Vec<Sent>> {
    Ok(sqlx::query_as!(
        Sent,
        r#"WITH sent AS (
               INSERT INTO key_reminders (key_id, kind, moment, sent_at)
               SELECT id, 'expired', expires_at, $1 FROM keys
               WHERE revoked_at IS NULL AND expires_at <= $1
                 AND expires_at > $1 - interval '7 days'
               ON CONFLICT DO NOTHING
               RETURNING key_id, kind, moment
           )
           SELECT k.id AS key_id, k.keyspace_id, k.owner_id, k.name, k.start,
                  sent.kind, sent.moment, k.last_used_at, k.quota_limit, k.quota_used,
                  k.quota_period AS "quota_period: QuotaPeriod"
           FROM sent JOIN keys k ON k.id = sent.key_id"#,
        now
    )
    .fetch_all(conn)
    .await?)
}

/// Rotated keys whose grace ends within a day and that were used since the rotation
/// (their successor's creation): some client still holds the old key.
pub(crate) async fn grace_ending(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<Vec<Sent>> {
    Ok(sqlx::query_as!(
        Sent,
        r#"WITH sent AS (
               INSERT INTO key_reminders (key_id, kind, moment, sent_at)
               SELECT k.id, 'grace_ending', k.grace_ends_at, $1
               FROM keys k JOIN keys n ON n.id = k.rotated_to
               WHERE k.revoked_at IS NULL AND k.grace_ends_at > $1
                 AND k.expires_at > $1
                 AND k.grace_ends_at <= $1 + interval '24 hours'
                 AND k.last_used_at >= n.created_at
               ON CONFLICT DO NOTHING
               RETURNING key_id, kind, moment
           )
           SELECT k.id AS key_id, k.keyspace_id, k.owner_id, k.name, k.start,
                  sent.kind, sent.moment, k.last_used_at, k.quota_limit, k.quota_used,
                  k.quota_period AS "quota_period: QuotaPeriod"
           FROM sent JOIN keys k ON k.id = sent.key_id"#,
        now
    )
    .fetch_all(conn)
    .await?)
}

/// Keys that spent 80% or 100% of their quota in the current period (`quota:<percent>`,
/// once per period).
pub(crate) async fn quota(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<Vec<Sent>> {
    Ok(sqlx::query_as!(
        Sent,
        r#"WITH sent AS (
               INSERT INTO key_reminders (key_id, kind, moment, sent_at)
               SELECT k.id, 'quota:' || p, k.quota_period_start, $1
               FROM keys k CROSS JOIN unnest(ARRAY[80, 100]) AS p
               WHERE k.revoked_at IS NULL AND k.quota_limit IS NOT NULL
                 AND k.quota_period_start = locksmith_quota_period_start(k.quota_period, $1)
                 AND k.quota_used * 100 >= p * k.quota_limit
               ON CONFLICT DO NOTHING
               RETURNING key_id, kind, moment
           )
           SELECT k.id AS key_id, k.keyspace_id, k.owner_id, k.name, k.start,
                  sent.kind, sent.moment, k.last_used_at, k.quota_limit, k.quota_used,
                  k.quota_period AS "quota_period: QuotaPeriod"
           FROM sent JOIN keys k ON k.id = sent.key_id"#,
        now
    )
    .fetch_all(conn)
    .await?)
}
