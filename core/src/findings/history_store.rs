//! What the detector reads: the recent hours of the keys used lately, their networks,
//! and the old keys of rotations still in their grace.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::detect::{GraceUse, HourCounts, KeyHistory};
use super::model::AnomalyAction;
use crate::error::Result;

/// The lock of an evaluation: one instance at a time.
const LOCK: i64 = 0x4c6f_636b_416e_6f6d; // "LockAnom"

/// Takes the evaluation's lock for this transaction, unless another instance holds it.
pub(super) async fn try_lock(conn: &mut PgConnection) -> Result<bool> {
    Ok(
        sqlx::query_scalar!(r#"SELECT pg_try_advisory_xact_lock($1) AS "locked!""#, LOCK)
            .fetch_one(conn)
            .await?,
    )
}

/// A key to judge, and its keyspace's policy.
pub(super) struct Candidate {
    pub history: KeyHistory,
    pub policy: AnomalyAction,
}

/// The live keys used since `since` (at most `limit`), with their hours from `from` on.
pub(super) async fn recent(
    conn: &mut PgConnection,
    since: DateTime<Utc>,
    from: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Candidate>> {
    let keys = sqlx::query!(
        r#"SELECT k.id, k.created_at, s.anomaly_action
           FROM keys k JOIN keyspaces s ON s.id = k.keyspace_id
           WHERE k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2)
             AND (EXISTS (SELECT 1 FROM key_usage u WHERE u.key_id = k.id AND u.bucket >= $1)
                  OR EXISTS (SELECT 1 FROM key_networks n WHERE n.key_id = k.id AND n.bucket >= $1))
           ORDER BY k.id
           LIMIT $3"#,
        since,
        now,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<Uuid> = keys.iter().map(|k| k.id).collect();
    let mut candidates: Vec<Candidate> = keys
        .into_iter()
        .map(|k| Candidate {
            history: KeyHistory {
                key_id: k.id,
                created_at: k.created_at,
                ..KeyHistory::default()
            },
            policy: AnomalyAction::parse(&k.anomaly_action).unwrap_or(AnomalyAction::Notify),
        })
        .collect();
    let usage = sqlx::query!(
        r#"SELECT key_id, bucket,
                  (valid + rate_limited + quota_exceeded + forbidden + other)::int8 AS "total!",
                  forbidden, rate_limited
           FROM key_usage WHERE key_id = ANY($1) AND bucket >= $2"#,
        &ids,
        from
    )
    .fetch_all(&mut *conn)
    .await?;
    let networks = sqlx::query!(
        r#"SELECT key_id, bucket, network::text AS "network!", requests
           FROM key_networks WHERE key_id = ANY($1) AND bucket >= $2"#,
        &ids,
        from
    )
    .fetch_all(&mut *conn)
    .await?;
    let index: std::collections::HashMap<Uuid, usize> =
        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    for row in usage {
        if let Some(&i) = index.get(&row.key_id) {
            candidates[i].history.usage.insert(
                row.bucket,
                HourCounts {
                    total: row.total,
                    forbidden: row.forbidden,
                    rate_limited: row.rate_limited,
                },
            );
        }
    }
    for row in networks {
        if let Some(&i) = index.get(&row.key_id) {
            candidates[i]
                .history
                .networks
                .entry(row.bucket)
                .or_default()
                .insert(row.network, row.requests);
        }
    }
    Ok(candidates)
}

/// Old keys of rotations still in their grace at `now` that were used during it, with
/// their keyspace's policy.
pub(super) async fn graces(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
) -> Result<Vec<(GraceUse, AnomalyAction)>> {
    let rows = sqlx::query!(
        r#"SELECT k.id, n.id AS new_id, n.created_at AS rotated_at,
                  k.grace_ends_at AS "grace_ends_at!", k.last_used_at AS "last_used_at!",
                  s.anomaly_action
           FROM keys k
           JOIN keys n ON n.id = k.rotated_to
           JOIN keyspaces s ON s.id = k.keyspace_id
           WHERE k.revoked_at IS NULL AND k.grace_ends_at > $1
             AND k.last_used_at IS NOT NULL AND k.last_used_at >= n.created_at"#,
        now
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                GraceUse {
                    key_id: r.id,
                    new_key_id: r.new_id,
                    rotated_at: r.rotated_at,
                    grace_ends_at: r.grace_ends_at,
                    last_used_at: r.last_used_at,
                },
                AnomalyAction::parse(&r.anomaly_action).unwrap_or(AnomalyAction::Notify),
            )
        })
        .collect())
}

/// `VALID` verifications of `key` in the hours from `from` on.
pub(super) async fn valid_since(
    conn: &mut PgConnection,
    key: Uuid,
    from: DateTime<Utc>,
) -> Result<i64> {
    Ok(sqlx::query_scalar!(
        r#"SELECT coalesce(sum(valid), 0)::int8 AS "n!" FROM key_usage WHERE key_id = $1 AND bucket >= $2"#,
        key,
        crate::usage::buffer::hour_of(from)
    )
    .fetch_one(conn)
    .await?)
}
