//! SQL of `key_findings`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::model::{Finding, FindingAction, FindingFilter, FindingKind, NewFinding, Severity};
use crate::error::Result;

struct Row {
    id: Uuid,
    key_id: Uuid,
    keyspace_id: Uuid,
    owner_id: Uuid,
    key_name: String,
    key_start: String,
    kind: String,
    severity: String,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    evidence: Value,
    action: String,
    detected_at: DateTime<Utc>,
    acknowledged_at: Option<DateTime<Utc>>,
    acknowledged_by: Option<Uuid>,
}

impl Row {
    /// The finding; `None` only if a CHECK constraint were bypassed.
    fn finding(self) -> Option<Finding> {
        Some(Finding {
            id: self.id,
            key_id: self.key_id,
            keyspace_id: self.keyspace_id,
            owner_id: self.owner_id,
            key_name: self.key_name,
            key_start: self.key_start,
            kind: FindingKind::parse(&self.kind)?,
            severity: Severity::parse(&self.severity)?,
            window_start: self.window_start,
            window_end: self.window_end,
            evidence: self.evidence,
            action: FindingAction::parse(&self.action)?,
            detected_at: self.detected_at,
            acknowledged_at: self.acknowledged_at,
            acknowledged_by: self.acknowledged_by,
        })
    }
}

/// Records `new` unless the same finding (key, kind, dedupe) is recorded already; the
/// new finding's id, `None` when it was known.
pub(crate) async fn insert(
    conn: &mut PgConnection,
    new: &NewFinding,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar!(
        r#"INSERT INTO key_findings (key_id, kind, severity, window_start, window_end, evidence, dedupe, detected_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (key_id, kind, dedupe) DO NOTHING
           RETURNING id"#,
        new.key_id,
        new.kind.as_str(),
        new.severity.as_str(),
        new.window_start,
        new.window_end,
        new.evidence,
        new.dedupe,
        now,
    )
    .fetch_optional(conn)
    .await?)
}

/// Records what the keyspace's policy did to the key of finding `id`.
pub(crate) async fn set_action(
    conn: &mut PgConnection,
    id: Uuid,
    action: FindingAction,
) -> Result<()> {
    sqlx::query!(
        "UPDATE key_findings SET action = $2 WHERE id = $1",
        id,
        action.as_str()
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// One finding, with its key.
pub(crate) async fn find<'e>(db: impl sqlx::PgExecutor<'e>, id: Uuid) -> Result<Option<Finding>> {
    Ok(sqlx::query_as!(
        Row,
        r#"SELECT f.id, f.key_id, k.keyspace_id, k.owner_id, k.name AS key_name, k.start AS key_start,
                  f.kind, f.severity, f.window_start, f.window_end, f.evidence, f.action,
                  f.detected_at, f.acknowledged_at, f.acknowledged_by
           FROM key_findings f JOIN keys k ON k.id = f.key_id
           WHERE f.id = $1"#,
        id
    )
    .fetch_optional(db)
    .await?
    .and_then(Row::finding))
}

/// Marks finding `id` acknowledged by `by` (once: acknowledging again keeps the first);
/// whether it was open.
pub(crate) async fn acknowledge(
    conn: &mut PgConnection,
    id: Uuid,
    by: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let changed = sqlx::query!(
        r#"UPDATE key_findings SET acknowledged_at = $2, acknowledged_by = $3
           WHERE id = $1 AND acknowledged_at IS NULL"#,
        id,
        now,
        by
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// A page of findings, newest first, after the finding `after`; only keys of `owner`
/// when given.
pub(crate) async fn list(
    pool: &PgPool,
    filter: &FindingFilter,
    owner: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Finding>> {
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT f.id, f.key_id, k.keyspace_id, k.owner_id, k.name AS key_name, k.start AS key_start,
                  f.kind, f.severity, f.window_start, f.window_end, f.evidence, f.action,
                  f.detected_at, f.acknowledged_at, f.acknowledged_by
           FROM key_findings f JOIN keys k ON k.id = f.key_id
           WHERE ($1::uuid IS NULL OR k.owner_id = $1)
             AND ($2::bool IS NULL OR (f.acknowledged_at IS NULL) = $2)
             AND ($3::text IS NULL OR f.kind = $3)
             AND ($4::uuid IS NULL OR f.key_id = $4)
             AND ($5::uuid IS NULL OR (f.detected_at, f.id) <
                  (SELECT c.detected_at, c.id FROM key_findings c WHERE c.id = $5))
           ORDER BY f.detected_at DESC, f.id DESC
           LIMIT $6"#,
        owner,
        filter.open,
        filter.kind.map(FindingKind::as_str),
        filter.key_id,
        after,
        limit,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().filter_map(Row::finding).collect())
}

/// Findings needing attention, by severity; only keys of `owner` when given.
pub(crate) async fn open_counts(pool: &PgPool, owner: Option<Uuid>) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query!(
        r#"SELECT f.severity, count(*) AS "n!"
           FROM key_findings f JOIN keys k ON k.id = f.key_id
           WHERE f.acknowledged_at IS NULL AND ($1::uuid IS NULL OR k.owner_id = $1)
           GROUP BY f.severity"#,
        owner
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.severity, r.n)).collect())
}
