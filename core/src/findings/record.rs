//! Recording a finding on a key: the finding, what the keyspace's policy does to the
//! key, their audit rows and events, all in the caller's transaction. Recording the same
//! finding twice (same key, kind and dedupe) changes nothing and says nothing.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{FindingAction, NewFinding};
use super::store;
use crate::audit::{self, Action, NewEntry, Origin};
use crate::error::Result;
use crate::events::{Event, KeyRef};
use crate::keys::service::contain::{self, Containment};

/// How a finding is recorded: what to do to the key, why, and the audit action.
pub(crate) struct Recording<'a> {
    pub finding: NewFinding,
    pub containment: Containment,
    /// The revocation reason, when the policy revokes.
    pub reason: &'a str,
    pub action: Action,
    /// More to record in the audit row (the reporter, the reported URL).
    pub details: serde_json::Value,
}

/// A finding recorded by [`record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub id: Uuid,
    pub action: FindingAction,
}

/// Records `recording` and applies its containment; `None` when the key is gone or the
/// finding was recorded before. `event` makes the finding's event from the key as it is
/// now, the finding's id and what was done.
pub(crate) async fn record(
    conn: &mut PgConnection,
    recording: Recording<'_>,
    origin: &Origin,
    now: DateTime<Utc>,
    event: impl FnOnce(KeyRef, Uuid, FindingAction) -> Event,
) -> Result<Option<Recorded>> {
    let finding = &recording.finding;
    let Some(row) = contain::lock_key(conn, finding.key_id).await? else {
        return Ok(None);
    };
    let Some(id) = store::insert(conn, finding, now).await? else {
        return Ok(None);
    };
    let (action, view, containment) = contain::contain(
        conn,
        row,
        recording.containment,
        recording.reason,
        origin,
        now,
    )
    .await?;
    if action != FindingAction::None {
        store::set_action(conn, id, action).await?;
    }
    let mut after = json!({
        "finding_id": id,
        "kind": finding.kind,
        "severity": finding.severity,
        "window_start": finding.window_start,
        "window_end": finding.window_end,
        "evidence": finding.evidence,
        "action": action,
    });
    if let (Some(after), serde_json::Value::Object(details)) =
        (after.as_object_mut(), recording.details)
    {
        after.extend(details);
    }
    let mut entries = vec![
        NewEntry::new(
            None,
            recording.action,
            Some(finding.key_id.to_string()),
            origin,
        )
        .after(after)
        .events([event(KeyRef::from(&view), id, action)]),
    ];
    entries.extend(containment);
    audit::append_all(conn, entries).await?;
    Ok(Some(Recorded { id, action }))
}
