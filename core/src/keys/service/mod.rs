//! Key operations: create (one or a batch), read, change, revoke (one or a batch) and
//! rotate, each in its own module. Every change runs in one transaction together with its
//! audit rows and events; the REST API and the portal both come through here.
//!
//! Owners are bound by the policy an admin set for them (`keys::policy`): the checks run
//! inside the change's transaction, with the owner's row locked, so two concurrent
//! changes are judged one after the other.

mod change;
pub(crate) mod contain;
mod create;
mod input;
mod read;
mod revoke;
mod rotate;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::digest::KeyHasher;
use super::format::Secret;
use super::model::{KeyStatus, KeyView, QuotaSpec};
use super::policy::{self, Actor, AskedLimits};
use super::store::{self, KeyRow};
use crate::audit::{Action, NewEntry, Origin};
use crate::error::{Error, ItemError, Result};
use crate::identity::users::{self, User};

pub use input::{BulkChange, KeyPatchInput, NewKeyInput};

/// Most items in one batch.
pub const MAX_BATCH: usize = 1000;
/// Longest grace period of a rotation: 30 days.
pub const MAX_GRACE_SECONDS: i64 = 2_592_000;
/// The grace period when none is given: one day.
pub const DEFAULT_GRACE_SECONDS: i64 = 86_400;

/// A created key: the secret, shown this once, and the view.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedKey {
    /// The secret. Never stored, never shown again.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub key: Secret,
    /// The key.
    #[serde(flatten)]
    pub view: KeyView,
}

/// The result of a rotation: the new key with its secret, and the old key as it is now.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotatedKey {
    /// The new key.
    #[serde(flatten)]
    pub new: CreatedKey,
    /// The old key, with the end of its grace period as `expires_at`.
    pub previous: KeyView,
}

/// The key operations, over the database and the server's key hasher.
#[derive(Debug, Clone)]
pub struct KeyService {
    pool: PgPool,
    hasher: KeyHasher,
    /// "Is this my key?" lookups per user ([`LOOKUP_RATE`]).
    lookups: std::sync::Arc<crate::limits::Limiter<Uuid>>,
}

/// How often one user may ask "is this my key?": it is a way to test strings against
/// every key, so it is kept slow (10 at once, then 20 a minute).
pub const LOOKUP_RATE: crate::limits::Rate = crate::limits::Rate {
    per_minute: 20,
    burst: 10,
};

fn snapshot(view: &KeyView) -> Value {
    // `KeyView` holds neither the secret nor its digest, so it can be recorded as is.
    serde_json::to_value(view).unwrap_or_else(|_| json!({ "id": view.id }))
}

/// The audit row of `action` on one key.
fn entry(actor: Actor, action: Action, key: Uuid, origin: &Origin) -> NewEntry {
    NewEntry::of(actor, action, key, origin)
}

impl KeyService {
    /// The service over `pool`, hashing with `hasher`.
    pub fn new(pool: PgPool, hasher: KeyHasher) -> Self {
        Self {
            pool,
            hasher,
            lookups: std::sync::Arc::new(crate::limits::Limiter::new(LOOKUP_RATE)),
        }
    }

    /// The hasher (verification needs the same one).
    pub fn hasher(&self) -> &KeyHasher {
        &self.hasher
    }

    /// Marks each view's settings that lie outside its owner's current policy. Runs after
    /// a change has committed, so it never fails the answer: when the owners cannot be
    /// read, the views go out unflagged (and the secrets of new keys still reach their
    /// caller).
    pub(super) async fn flagged(
        &self,
        mut views: Vec<KeyView>,
        now: DateTime<Utc>,
    ) -> Result<Vec<KeyView>> {
        let mut ids: Vec<Uuid> = views
            .iter()
            .filter(|v| matches!(v.status, KeyStatus::Active | KeyStatus::Disabled))
            .map(|v| v.owner_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(views);
        }
        let owners = match users::owners_among(&self.pool, &ids).await {
            Ok(owners) => owners,
            Err(err) => {
                tracing::warn!(error = %err, "keys: owner policies not read; views unflagged");
                return Ok(views);
            }
        };
        for view in &mut views {
            if !matches!(view.status, KeyStatus::Active | KeyStatus::Disabled) {
                continue;
            }
            if let Some(owner) = owners.iter().find(|o| o.id == view.owner_id) {
                let limits = AskedLimits {
                    quota: view.quota.as_ref().map(|q| QuotaSpec {
                        limit: q.limit,
                        period: q.period,
                    }),
                    rate_limit: view.rate_limit,
                    expires_at: view.own_expires_at,
                };
                view.outside_policy = policy::outside_policy(owner, &view.scopes, limits, now);
            }
        }
        Ok(views)
    }

    pub(super) async fn flagged_one(&self, view: KeyView, now: DateTime<Utc>) -> Result<KeyView> {
        self.flagged(vec![view], now)
            .await?
            .pop()
            .ok_or(Error::NotFound)
    }

    /// For an owner acting on their own key: their policy row, locked for the rest of the
    /// transaction (so concurrent changes are checked one after the other).
    pub(super) async fn owner_policy(
        &self,
        conn: &mut PgConnection,
        actor: Actor,
    ) -> Result<Option<User>> {
        if !actor.bound_by_policy() {
            return Ok(None);
        }
        users::lock(conn, actor.id)
            .await?
            .ok_or(Error::NotFound)
            .map(Some)
    }
}

/// Locks the keys of a batch, in the order asked; ids that are listed twice or name no
/// key the caller may act on are all reported at once.
pub(super) async fn lock_batch(
    conn: &mut PgConnection,
    actor: Actor,
    ids: &[Uuid],
) -> Result<Vec<KeyRow>> {
    let rows = store::lock(conn, ids, actor.only_own()).await?;
    let mut errors = Vec::new();
    let mut ordered = Vec::with_capacity(ids.len());
    for (index, id) in ids.iter().enumerate() {
        let item_error = |detail: &str| ItemError {
            index,
            id: Some(*id),
            detail: detail.to_owned(),
        };
        if ids[..index].contains(id) {
            errors.push(item_error("ids: listed twice"));
            continue;
        }
        match rows.iter().find(|r| r.id == *id) {
            Some(row) => ordered.push(row.clone()),
            None => errors.push(item_error("ids: no such key")),
        }
    }
    if errors.is_empty() {
        Ok(ordered)
    } else {
        Err(Error::Batch(errors))
    }
}

/// The limits a key row carries, as the owner policy judges them.
pub(super) fn asked_limits(row: &KeyRow) -> AskedLimits {
    AskedLimits {
        quota: row.quota,
        rate_limit: row.rate_limit,
        expires_at: row.own_expiry(),
    }
}

/// Locks one key the caller may act on; another owner's key is `NotFound`.
pub(super) async fn lock_one(conn: &mut PgConnection, actor: Actor, id: Uuid) -> Result<KeyRow> {
    store::lock(conn, &[id], actor.only_own())
        .await?
        .pop()
        .ok_or(Error::NotFound)
}

#[cfg(test)]
mod tests;
