//! Containing a key on Locksmith's own initiative: a keyspace's policy disables or
//! revokes a key reported as leaked or used unusually. The change is the system's (no
//! actor), audited and announced like any other, inside the caller's transaction.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::revoke::revoke_row;
use super::{entry, snapshot};
use crate::audit::{Action, NewEntry, Origin};
use crate::error::Result;
use crate::events::Event;
use crate::findings::FindingAction;
use crate::keys::model::KeyView;
use crate::keys::policy::Actor;
use crate::keys::store::{self, KeyRow};

/// How to contain a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Containment {
    /// Leave it as it is.
    Nothing,
    /// Switch it off (it can be enabled again).
    Disable,
    /// Revoke it for good, with a reason.
    Revoke,
}

/// Locks key `id` for the rest of the transaction; `None` if it no longer exists.
pub(crate) async fn lock_key(conn: &mut PgConnection, id: Uuid) -> Result<Option<KeyRow>> {
    Ok(store::lock(conn, &[id], None).await?.pop())
}

/// Applies `how` to the locked key `row` at `now`; what was done (nothing for a key that
/// is already off or revoked), the key as it is now, and the audit rows to write.
pub(crate) async fn contain(
    conn: &mut PgConnection,
    row: KeyRow,
    how: Containment,
    reason: &str,
    origin: &Origin,
    now: DateTime<Utc>,
) -> Result<(FindingAction, KeyView, Vec<NewEntry>)> {
    let before = row.view(now);
    match how {
        Containment::Disable if row.revoked_at.is_none() && row.enabled => {
            let mut off = row.clone();
            off.enabled = false;
            let saved = store::save(conn, &off).await?;
            let view = saved.view(now);
            let audit = entry(Actor::SYSTEM, Action::KeyUpdate, view.id, origin)
                .before(snapshot(&before))
                .after(snapshot(&view))
                .events(Event::key_changed(&before, &view));
            Ok((FindingAction::Disabled, view, vec![audit]))
        }
        Containment::Revoke if row.revoked_at.is_none() => {
            let (view, audit) = revoke_row(
                conn,
                Actor::SYSTEM,
                row,
                Some(reason.to_owned()),
                origin,
                now,
            )
            .await?;
            Ok((FindingAction::Revoked, view, audit.into_iter().collect()))
        }
        _ => Ok((FindingAction::None, before, Vec::new())),
    }
}
