//! Revoking keys, one or a batch: for good, keeping the first reason.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::input::{check_batch_size, parse_reason};
use super::{KeyService, entry, lock_batch, lock_one, snapshot};
use crate::audit::{self, Action, NewEntry, Origin};
use crate::error::Result;
use crate::events::{Event, KeyRef};
use crate::keys::model::KeyView;
use crate::keys::policy::Actor;
use crate::keys::store::{self, KeyRow};

impl KeyService {
    /// Revokes a key for good. Revoking a revoked key changes nothing (and keeps the first
    /// reason).
    #[tracing::instrument(name = "keys.revoke", skip_all, fields(db.system = "postgresql"))]
    pub async fn revoke(
        &self,
        actor: Actor,
        id: Uuid,
        reason: Option<String>,
        origin: &Origin,
    ) -> Result<KeyView> {
        actor.check_may_change_keys()?;
        let reason = parse_reason(reason)?;
        let mut tx = self.pool.begin().await?;
        let row = lock_one(&mut tx, actor, id).await?;
        let now = Utc::now();
        let (view, entry) = revoke_row(&mut tx, actor, row, reason, origin, now).await?;
        if let Some(entry) = entry {
            audit::append(&mut tx, entry).await?;
        }
        tx.commit().await?;
        Ok(view)
    }

    /// Revokes up to [`MAX_BATCH`] keys in one transaction: all or none. Ids that do not
    /// exist, are not visible to the caller or are listed twice are all reported at once.
    #[tracing::instrument(name = "keys.revoke_batch", skip_all, fields(db.system = "postgresql"))]
    pub async fn revoke_batch(
        &self,
        actor: Actor,
        ids: Vec<Uuid>,
        reason: Option<String>,
        origin: &Origin,
    ) -> Result<Vec<KeyView>> {
        actor.check_may_change_keys()?;
        check_batch_size("ids", ids.len())?;
        let reason = parse_reason(reason)?;
        let mut tx = self.pool.begin().await?;
        let ordered = lock_batch(&mut tx, actor, &ids).await?;
        let now = Utc::now();
        let mut views = Vec::with_capacity(ordered.len());
        let mut entries = Vec::with_capacity(ordered.len() + 1);
        let mut changed = Vec::new();
        for row in ordered {
            let (view, entry) =
                revoke_row(&mut tx, actor, row, reason.clone(), origin, now).await?;
            if let Some(entry) = entry {
                changed.push(view.id);
                entries.push(entry);
            }
            views.push(view);
        }
        entries.push(
            NewEntry::new(actor.recorded_id(), Action::KeyBulkRevoke, None, origin).after(json!({
                "count": views.len(),
                "revoked": changed,
                "already_revoked": views.len() - changed.len(),
                "reason": reason,
            })),
        );
        audit::append_all(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(views)
    }
}

/// Revokes `row` unless it is revoked already; returns the view and the audit entry to
/// write (none when nothing changed).
pub(super) async fn revoke_row(
    conn: &mut PgConnection,
    actor: Actor,
    row: KeyRow,
    reason: Option<String>,
    origin: &Origin,
    now: DateTime<Utc>,
) -> Result<(KeyView, Option<NewEntry>)> {
    if row.revoked_at.is_some() {
        return Ok((row.view(now), None));
    }
    let mut revoked = row.clone();
    revoked.revoked_at = Some(now);
    revoked.revoked_reason = reason;
    let saved = store::save(conn, &revoked).await?;
    let view = saved.view(now);
    let entry = entry(actor, Action::KeyRevoke, row.id, origin)
        .before(snapshot(&row.view(now)))
        .after(snapshot(&view))
        .events([Event::KeyRevoked {
            key: KeyRef::from(&view),
            reason: view.revoked_reason.clone(),
        }]);
    Ok((view, Some(entry)))
}
