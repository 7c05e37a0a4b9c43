//! Rotating a key: a successor with a new secret, the old key working on for a grace.

use chrono::{Duration, Utc};
use uuid::Uuid;

use super::{
    CreatedKey, DEFAULT_GRACE_SECONDS, KeyService, MAX_GRACE_SECONDS, RotatedKey, entry, lock_one,
    snapshot,
};
use crate::audit::{self, Action, Origin};
use crate::error::{Error, Result};
use crate::events::{Event, KeyRef};
use crate::keys::format;
use crate::keys::keyspace_store;
use crate::keys::policy::{self, Actor};
use crate::keys::store::{self, NewKeyRow};

impl KeyService {
    /// Replaces a key by a new one that inherits everything but the secret (and its quota
    /// usage carries over). The old key keeps working for `grace_seconds` (0 ends it now),
    /// then is expired; the two link to each other.
    #[tracing::instrument(name = "keys.rotate", skip_all, fields(db.system = "postgresql"))]
    pub async fn rotate(
        &self,
        actor: Actor,
        id: Uuid,
        grace_seconds: Option<i64>,
        origin: &Origin,
    ) -> Result<RotatedKey> {
        actor.check_may_change_keys()?;
        let grace = grace_seconds.unwrap_or(DEFAULT_GRACE_SECONDS);
        if !(0..=MAX_GRACE_SECONDS).contains(&grace) {
            return Err(Error::invalid(
                "grace_seconds",
                format!("must be between 0 and {MAX_GRACE_SECONDS}"),
            ));
        }
        let mut tx = self.pool.begin().await?;
        let old = lock_one(&mut tx, actor, id).await?;
        let now = Utc::now();
        if old.revoked_at.is_some() {
            return Err(Error::Conflict(
                "key is revoked; a revoked key cannot be rotated".into(),
            ));
        }
        if let Some(successor) = old.rotated_to {
            return Err(Error::Conflict(format!(
                "key was already rotated to {successor}; rotate that key instead"
            )));
        }
        if old.expires_at.is_some_and(|at| at <= now) {
            return Err(Error::Conflict(
                "key has expired; create a new key instead".into(),
            ));
        }
        // The new key carries the old one's scopes, so they must still be allowed; and
        // during a grace period both keys work, so the new one needs a free place.
        if let Some(me) = self.owner_policy(&mut tx, actor).await? {
            policy::check_scopes(&me, &old.scopes)?;
            if grace > 0 {
                let live = store::count_live(&mut tx, actor.id, now).await?;
                policy::check_key_count(&me, live, 1).map_err(|_| {
                    Error::Forbidden(format!(
                        "max_keys: your policy allows {} live keys and a rotation with a \
                         grace period holds one more until it ends; rotate with \
                         grace_seconds 0, or revoke a key first",
                        me.max_keys.unwrap_or_default()
                    ))
                })?;
            }
        }
        let keyspace = keyspace_store::find(&mut *tx, old.keyspace_id)
            .await?
            .ok_or(Error::NotFound)?;
        let secret = format::generate(&keyspace.prefix);
        let mut successor = old.clone();
        successor.start = secret.start();
        successor.created_by = actor.recorded_id();
        successor.last_used_at = None;
        successor.rotated_from = Some(old.id);
        successor.rotated_to = None;
        successor.grace_ends_at = None;
        successor.own_expires_at = None;
        successor.expires_at = old.own_expiry();
        let digest = self.hasher.digest(secret.expose());
        let new = store::insert(
            &mut tx,
            NewKeyRow {
                row: &successor,
                digest,
            },
        )
        .await?;

        let mut previous = old.clone();
        previous.set_grace_end(now + Duration::seconds(grace));
        previous.rotated_to = Some(new.id);
        let previous = store::save(&mut tx, &previous).await?;

        let new_view = new.view(now);
        let previous_view = previous.view(now);
        let grace_ends_at = previous.grace_ends_at.unwrap_or(now);
        let entries = vec![
            entry(actor, Action::KeyRotate, old.id, origin)
                .before(snapshot(&old.view(now)))
                .after(snapshot(&previous_view))
                .events([Event::KeyRotated {
                    key: KeyRef::from(&previous_view),
                    new_key_id: new.id,
                    grace_ends_at,
                }]),
            entry(actor, Action::KeyCreate, new.id, origin)
                .after(snapshot(&new_view))
                .events([Event::key_created(&new_view)]),
        ];
        audit::append_all(&mut tx, entries).await?;
        tx.commit().await?;
        let mut views = self.flagged(vec![new_view, previous_view], now).await?;
        let (Some(previous_view), Some(new_view)) = (views.pop(), views.pop()) else {
            return Err(Error::NotFound);
        };
        Ok(RotatedKey {
            new: CreatedKey {
                key: secret,
                view: new_view,
            },
            previous: previous_view,
        })
    }
}
