//! Key operations: create (one or a batch), list, get, change, revoke (one or a batch) and
//! rotate. Each change runs in one transaction together with its audit rows; the REST API
//! and the portal both come through here.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::digest::KeyHasher;
use super::format::{self, Secret};
use super::keyspace_store::{self, Keyspace};
use super::listing::{KeyCursor, KeyFilter};
use super::model::{IpAllowlist, KeyName, KeyStatus, KeyView, Meta, QuotaSpec, RateLimit};
use super::policy::{self, Actor, AskedLimits};
use super::store::{self, KeyRow, NewKeyRow};
use crate::audit::{self, NewEntry, Origin};
use crate::error::{Error, ItemError, Result};
use crate::identity::users::{self, User};
use crate::scope::Scope;

/// Most items in one batch.
pub const MAX_BATCH: usize = 1000;
/// Longest grace period of a rotation: 30 days.
pub const MAX_GRACE_SECONDS: i64 = 2_592_000;
/// The grace period when none is given: one day.
pub const DEFAULT_GRACE_SECONDS: i64 = 86_400;

/// A key to create, as the caller typed it.
#[derive(Debug, Clone, Default)]
pub struct NewKeyInput {
    /// A name for people.
    pub name: String,
    /// The owner; the caller when absent (only admins may name someone else).
    pub owner_id: Option<Uuid>,
    /// Scopes.
    pub scopes: Option<Vec<String>>,
    /// Expiry; must be in the future.
    pub expires_at: Option<DateTime<Utc>>,
    /// Allowed addresses and networks.
    pub ip_allowlist: Option<Vec<String>>,
    /// Quota.
    pub quota: Option<QuotaSpec>,
    /// Rate limit.
    pub rate_limit: Option<RateLimit>,
    /// Metadata object.
    pub meta: Option<Value>,
}

/// A [`NewKeyInput`] with every field validated.
#[derive(Debug, Clone)]
struct ValidNewKey {
    name: KeyName,
    owner_id: Option<Uuid>,
    scopes: Vec<Scope>,
    expires_at: Option<DateTime<Utc>>,
    ip_allowlist: IpAllowlist,
    quota: Option<QuotaSpec>,
    rate_limit: Option<RateLimit>,
    meta: Meta,
}

impl NewKeyInput {
    fn validate(self, now: DateTime<Utc>) -> Result<ValidNewKey> {
        let expires_at = self
            .expires_at
            .map(|at| check_expiry(at, now))
            .transpose()?;
        if expires_at.is_some_and(|at| at <= now) {
            return Err(Error::invalid("expires_at", "must be in the future"));
        }
        Ok(ValidNewKey {
            name: KeyName::parse("name", &self.name)?,
            owner_id: self.owner_id,
            scopes: Scope::parse_list("scopes", self.scopes.as_deref().unwrap_or_default())?,
            expires_at,
            ip_allowlist: IpAllowlist::parse(self.ip_allowlist.as_deref().unwrap_or_default())?,
            quota: self.quota.map(QuotaSpec::validate).transpose()?,
            rate_limit: self.rate_limit.map(RateLimit::validate).transpose()?,
            meta: self
                .meta
                .map(Meta::parse)
                .transpose()?
                .unwrap_or_else(Meta::empty),
        })
    }
}

fn check_expiry(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let at = crate::timestamp::check("expires_at", at)?;
    if at > now + Duration::days(365 * 100) {
        Err(Error::invalid("expires_at", "must be within 100 years"))
    } else {
        Ok(at)
    }
}

/// Changes to a key as typed: `None` leaves a field alone; for `expires_at`, `quota` and
/// `rate_limit`, `Some(None)` removes it.
#[derive(Debug, Clone, Default)]
pub struct KeyPatchInput {
    /// New name.
    pub name: Option<String>,
    /// New scopes (replacing the old ones).
    pub scopes: Option<Vec<String>>,
    /// New expiry (a past time expires the key now), or none.
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// Switch on or off.
    pub enabled: Option<bool>,
    /// New allowlist (replacing the old one; empty allows any address).
    pub ip_allowlist: Option<Vec<String>>,
    /// New quota, or none. Usage is kept while the period stays the same.
    pub quota: Option<Option<QuotaSpec>>,
    /// New rate limit, or none.
    pub rate_limit: Option<Option<RateLimit>>,
    /// New metadata (replacing the old object).
    pub meta: Option<Value>,
}

/// One change applied to a batch of keys ([`KeyService::change_batch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkChange {
    /// Switch on.
    Enable,
    /// Switch off.
    Disable,
    /// Move each key's own expiry `days` later (from now if it has passed); keys that
    /// never expire stay so.
    ExtendExpiry {
        /// 1 to 3650.
        days: i64,
    },
}

impl BulkChange {
    /// The name the audit trail records.
    pub fn name(self) -> &'static str {
        match self {
            Self::Enable => "enable",
            Self::Disable => "disable",
            Self::ExtendExpiry { .. } => "extend_expiry",
        }
    }
}

/// A created key: the secret, shown this once, and the view.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedKey {
    /// The secret. Never stored, never shown again.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub key: SecretField,
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

/// A secret that serialises (for the one response that shows it) but never prints.
#[derive(Clone)]
pub struct SecretField(Secret);

impl SecretField {
    /// Wraps a freshly generated secret.
    pub fn new(secret: Secret) -> Self {
        Self(secret)
    }

    /// The secret.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl std::fmt::Debug for SecretField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl Serialize for SecretField {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.0.expose())
    }
}

/// The key operations, over the database and the server's key hasher.
#[derive(Debug, Clone)]
pub struct KeyService {
    pool: PgPool,
    hasher: KeyHasher,
}

fn snapshot(view: &KeyView) -> Value {
    // `KeyView` holds neither the secret nor its digest, so it can be recorded as is.
    serde_json::to_value(view).unwrap_or_else(|_| json!({ "id": view.id }))
}

fn entry(
    actor: Actor,
    action: &'static str,
    target: Uuid,
    origin: &Origin,
    before: Option<Value>,
    after: Option<Value>,
) -> NewEntry {
    NewEntry {
        actor_id: Some(actor.id),
        action,
        target_type: "key",
        target_id: Some(target.to_string()),
        origin: origin.clone(),
        before,
        after,
    }
}

impl KeyService {
    /// The service over `pool`, hashing with `hasher`.
    pub fn new(pool: PgPool, hasher: KeyHasher) -> Self {
        Self { pool, hasher }
    }

    /// The hasher (verification needs the same one).
    pub fn hasher(&self) -> &KeyHasher {
        &self.hasher
    }

    /// Creates one key.
    pub async fn create(
        &self,
        actor: Actor,
        keyspace_id: Uuid,
        input: NewKeyInput,
        origin: &Origin,
    ) -> Result<CreatedKey> {
        actor.check_may_change_keys()?;
        let now = Utc::now();
        let valid = input.validate(now)?;
        let mut created = self
            .insert_all(actor, keyspace_id, vec![valid], origin, now, false)
            .await?;
        created.pop().ok_or(Error::NotFound)
    }

    /// Creates up to [`MAX_BATCH`] keys in one transaction: all or none. Invalid items are
    /// all reported at once ([`Error::Batch`]).
    pub async fn create_batch(
        &self,
        actor: Actor,
        keyspace_id: Uuid,
        inputs: Vec<NewKeyInput>,
        origin: &Origin,
    ) -> Result<Vec<CreatedKey>> {
        actor.check_may_change_keys()?;
        check_batch_size("items", inputs.len())?;
        let now = Utc::now();
        let mut valid = Vec::with_capacity(inputs.len());
        let mut errors = Vec::new();
        for (index, input) in inputs.into_iter().enumerate() {
            match input.validate(now) {
                Ok(v) => valid.push(v),
                Err(e) => errors.push(ItemError {
                    index,
                    id: None,
                    detail: e.to_string(),
                }),
            }
        }
        if !errors.is_empty() {
            return Err(Error::Batch(errors));
        }
        let created = self
            .insert_all(actor, keyspace_id, valid, origin, now, true)
            .await?;
        Ok(created)
    }

    async fn insert_all(
        &self,
        actor: Actor,
        keyspace_id: Uuid,
        mut items: Vec<ValidNewKey>,
        origin: &Origin,
        now: DateTime<Utc>,
        batch: bool,
    ) -> Result<Vec<CreatedKey>> {
        let keyspace = keyspace_store::find(&self.pool, keyspace_id)
            .await?
            .ok_or_else(|| Error::invalid("keyspace_id", "no such keyspace"))?;
        let mut tx = self.pool.begin().await?;
        self.check_owners(&mut tx, actor, &mut items, now).await?;
        let mut created = Vec::with_capacity(items.len());
        let mut entries = Vec::with_capacity(items.len() + 1);
        for item in items {
            let (key, view) = self
                .insert_one(&mut tx, actor, &keyspace, item, now)
                .await?;
            entries.push(entry(
                actor,
                "key.create",
                view.id,
                origin,
                None,
                Some(snapshot(&view)),
            ));
            created.push(CreatedKey {
                key: SecretField(key),
                view,
            });
        }
        if batch {
            let ids: Vec<Uuid> = created.iter().map(|c| c.view.id).collect();
            entries.push(NewEntry {
                actor_id: Some(actor.id),
                action: "key.bulk_create",
                target_type: "keyspace",
                target_id: Some(keyspace.id.to_string()),
                origin: origin.clone(),
                before: None,
                after: Some(json!({ "count": ids.len(), "ids": ids })),
            });
        }
        audit::append_all(&mut tx, entries).await?;
        tx.commit().await?;
        let views = self
            .flagged(created.iter().map(|c| c.view.clone()).collect(), now)
            .await?;
        for (c, view) in created.iter_mut().zip(views) {
            c.view = view;
        }
        Ok(created)
    }

    /// Marks each view's settings that lie outside its owner's current policy. Runs after
    /// a change has committed, so it never fails the answer: when the owners cannot be
    /// read, the views go out unflagged (and the secrets of new keys still reach their
    /// caller).
    async fn flagged(&self, mut views: Vec<KeyView>, now: DateTime<Utc>) -> Result<Vec<KeyView>> {
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

    async fn flagged_one(&self, view: KeyView, now: DateTime<Utc>) -> Result<KeyView> {
        self.flagged(vec![view], now)
            .await?
            .pop()
            .ok_or(Error::NotFound)
    }

    /// Checks owners and, for owners creating their own keys, their policy. Locks the
    /// owner's row so that concurrent creations cannot both slip under `max_keys`.
    async fn check_owners(
        &self,
        conn: &mut PgConnection,
        actor: Actor,
        items: &mut [ValidNewKey],
        now: DateTime<Utc>,
    ) -> Result<()> {
        if let Some(me) = self.owner_policy(conn, actor).await? {
            if items
                .iter()
                .any(|i| i.owner_id.is_some_and(|o| o != actor.id))
            {
                return Err(Error::Forbidden(
                    "owner_id: only admins may create keys for another user".into(),
                ));
            }
            let live = store::count_live(conn, actor.id, now).await?;
            policy::check_key_count(&me, live, i64::try_from(items.len()).unwrap_or(i64::MAX))?;
            for item in items.iter_mut() {
                policy::check_scopes(&me, &item.scopes)?;
                let asked = AskedLimits {
                    quota: item.quota,
                    rate_limit: item.rate_limit,
                    expires_at: item.expires_at,
                };
                let given = policy::limits_for_new_key(&me, asked, now)?;
                item.quota = given.quota;
                item.rate_limit = given.rate_limit;
                item.expires_at = given.expires_at;
            }
            return Ok(());
        }
        // Users are never deleted, so existence needs no lock (the foreign key holds it).
        let mut named: Vec<Uuid> = items.iter().filter_map(|i| i.owner_id).collect();
        named.sort_unstable();
        named.dedup();
        let existing = users::existing(conn, &named).await?;
        if named.len() != existing.len() {
            return Err(Error::invalid("owner_id", "no such user"));
        }
        Ok(())
    }

    /// For an owner acting on their own key: their policy row, locked for the rest of the
    /// transaction (so concurrent changes are checked one after the other).
    async fn owner_policy(&self, conn: &mut PgConnection, actor: Actor) -> Result<Option<User>> {
        if !actor.bound_by_policy() {
            return Ok(None);
        }
        users::lock(conn, actor.id)
            .await?
            .ok_or(Error::NotFound)
            .map(Some)
    }

    async fn insert_one(
        &self,
        conn: &mut PgConnection,
        actor: Actor,
        keyspace: &Keyspace,
        item: ValidNewKey,
        now: DateTime<Utc>,
    ) -> Result<(Secret, KeyView)> {
        let secret = format::generate(&keyspace.prefix);
        let row = KeyRow {
            id: Uuid::nil(),
            keyspace_id: keyspace.id,
            owner_id: item.owner_id.unwrap_or(actor.id),
            name: item.name.as_str().to_owned(),
            start: secret.start(),
            enabled: true,
            scopes: item.scopes.into_iter().map(String::from).collect(),
            ip_allowlist: item.ip_allowlist.to_strings(),
            meta: item.meta.into_value(),
            expires_at: item.expires_at,
            created_at: now,
            created_by: Some(actor.id),
            last_used_at: None,
            revoked_at: None,
            revoked_reason: None,
            rotated_from: None,
            rotated_to: None,
            quota_limit: item.quota.map(|q| q.limit),
            quota_period: item.quota.map(|q| q.period),
            quota_used: 0,
            quota_period_start: item.quota.map(|q| q.period.start(now)),
            rate_limit: item.rate_limit.map(|r| r.limit),
            rate_window_secs: item.rate_limit.map(|r| r.window_seconds),
            generation: 0,
            grace_ends_at: None,
            own_expires_at: None,
        };
        let digest = self.hasher.digest(secret.expose());
        let stored = store::insert(conn, NewKeyRow { row: &row, digest }).await?;
        Ok((secret, stored.view(now)))
    }

    /// One key, if the caller may see it.
    pub async fn get(&self, actor: Actor, id: Uuid) -> Result<KeyView> {
        let row = store::find(&self.pool, id).await?.ok_or(Error::NotFound)?;
        actor.check_visible(row.owner_id)?;
        let now = Utc::now();
        self.flagged_one(row.view(now), now).await
    }

    /// The key whose whole secret is `secret`, if the caller may see it (`NotFound`
    /// otherwise, and for anything that is not a well-formed key). For a pasted key: it
    /// travels in a body, never in a URL.
    pub async fn find_by_secret(&self, actor: Actor, secret: &str) -> Result<KeyView> {
        if format::parse(secret).is_none() {
            return Err(Error::NotFound);
        }
        let digest = self.hasher.digest(secret);
        let row = store::find_by_digest(&self.pool, &digest)
            .await?
            .ok_or(Error::NotFound)?;
        actor.check_visible(row.owner_id)?;
        let now = Utc::now();
        self.flagged_one(row.view(now), now).await
    }

    /// Verifications of a key the caller may see, bucket by bucket over `range`.
    pub async fn usage(
        &self,
        actor: Actor,
        id: Uuid,
        range: &crate::usage::UsageRange,
    ) -> Result<Vec<crate::usage::UsageBucket>> {
        let row = store::find(&self.pool, id).await?.ok_or(Error::NotFound)?;
        actor.check_visible(row.owner_id)?;
        crate::usage::store::series(&self.pool, id, range).await
    }

    /// A page of the log of a key the caller may see: its latest verifications, newest
    /// first, with every kept entry counted by answer.
    pub async fn verifications(
        &self,
        actor: Actor,
        id: Uuid,
        filter: crate::usage::recent::LogFilter,
        before: Option<i64>,
        limit: i64,
        kept_per_key: usize,
    ) -> Result<crate::usage::recent::VerificationLog> {
        use crate::usage::recent::{MAX_PAGE, VerificationLog};
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        let row = store::find(&self.pool, id).await?.ok_or(Error::NotFound)?;
        actor.check_visible(row.owner_id)?;
        if kept_per_key == 0 {
            // The log is off: whatever an earlier setting kept is not shown either.
            return Ok(VerificationLog {
                items: Vec::new(),
                counts: std::collections::BTreeMap::new(),
                kept_per_key,
                next_before: None,
            });
        }
        let mut items =
            crate::usage::store::recent(&self.pool, id, &filter, before, limit + 1).await?;
        let next_before = (items.len() > usize::try_from(limit).unwrap_or(usize::MAX))
            .then(|| {
                items.pop();
                items.last().map(|i| i.id)
            })
            .flatten();
        let counts = crate::usage::store::recent_counts(&self.pool, id)
            .await?
            .into_iter()
            .collect();
        Ok(VerificationLog {
            items,
            counts,
            kept_per_key,
            next_before,
        })
    }

    /// A page of the keys the caller may see, in `filter.sort` order. A cursor from a
    /// list in another order is refused, naming `cursor`.
    pub async fn list(
        &self,
        actor: Actor,
        mut filter: KeyFilter,
        cursor: Option<KeyCursor>,
        limit: i64,
    ) -> Result<Vec<KeyView>> {
        if let Some(q) = &filter.q
            && (q.is_empty() || q.chars().count() > 200 || q.chars().any(char::is_control))
        {
            return Err(Error::invalid(
                "q",
                "must be 1 to 200 characters, without control characters",
            ));
        }
        if cursor.as_ref().is_some_and(|c| c.sort() != filter.sort) {
            return Err(Error::invalid(
                "cursor",
                "belongs to a list in another order; start again from the first page",
            ));
        }
        if !actor.role.reads_everything() {
            match filter.owner_id {
                Some(owner) if owner != actor.id => return Ok(Vec::new()),
                _ => filter.owner_id = Some(actor.id),
            }
        }
        let now = Utc::now();
        let rows = store::list(&self.pool, &filter, cursor.as_ref(), limit, now).await?;
        self.flagged(rows.iter().map(|r| r.view(now)).collect(), now)
            .await
    }

    /// Applies `patch`. A revoked key cannot be changed.
    pub async fn update(
        &self,
        actor: Actor,
        id: Uuid,
        patch: KeyPatchInput,
        origin: &Origin,
    ) -> Result<KeyView> {
        actor.check_may_change_keys()?;
        let now = Utc::now();
        let scopes = patch
            .scopes
            .as_deref()
            .map(|s| Scope::parse_list("scopes", s))
            .transpose()?;
        let name = patch
            .name
            .as_deref()
            .map(|n| KeyName::parse("name", n))
            .transpose()?;
        let allowlist = patch
            .ip_allowlist
            .as_deref()
            .map(IpAllowlist::parse)
            .transpose()?;
        let expires_at = patch
            .expires_at
            .map(|e| e.map(|at| check_expiry(at, now)).transpose())
            .transpose()?;
        let quota = patch
            .quota
            .map(|q| q.map(QuotaSpec::validate).transpose())
            .transpose()?;
        let rate_limit = patch
            .rate_limit
            .map(|r| r.map(RateLimit::validate).transpose())
            .transpose()?;
        let meta = patch.meta.map(Meta::parse).transpose()?;

        let mut tx = self.pool.begin().await?;
        let before = lock_one(&mut tx, actor, id).await?;
        if before.revoked_at.is_some() {
            return Err(Error::Conflict(
                "key is revoked; a revoked key cannot be changed".into(),
            ));
        }
        let policy = self.owner_policy(&mut tx, actor).await?;
        if let (Some(me), Some(scopes)) = (&policy, &scopes) {
            policy::check_scopes(me, scopes)?;
        }
        let mut after = before.clone();
        if let Some(name) = name {
            after.name = name.as_str().to_owned();
        }
        if let Some(scopes) = scopes {
            after.scopes = scopes.into_iter().map(String::from).collect();
        }
        if let Some(expires_at) = expires_at {
            after.set_own_expiry(expires_at);
        }
        if let Some(enabled) = patch.enabled {
            after.enabled = enabled;
        }
        if let Some(list) = allowlist {
            after.ip_allowlist = list.to_strings();
        }
        if let Some(meta) = meta {
            after.meta = meta.into_value();
        }
        if let Some(quota) = quota {
            set_quota(&mut after, quota, now);
        }
        if let Some(rate_limit) = rate_limit {
            after.rate_limit = rate_limit.map(|r| r.limit);
            after.rate_window_secs = rate_limit.map(|r| r.window_seconds);
        }
        if let Some(me) = &policy {
            policy::check_limit_changes(me, asked_limits(&before), asked_limits(&after), now)?;
        }
        if after == before {
            drop(tx);
            return self.flagged_one(before.view(now), now).await;
        }
        // Bringing an expired key back (disabled or not) makes it count against
        // `max_keys` again.
        if let Some(me) = &policy
            && !before.counts_as_live(now)
            && after.counts_as_live(now)
        {
            let live = store::count_live(&mut tx, actor.id, now).await?;
            policy::check_key_count(me, live, 1)?;
        }
        let saved = store::save(&mut tx, &after).await?;
        let view = saved.view(now);
        audit::append(
            &mut tx,
            entry(
                actor,
                "key.update",
                id,
                origin,
                Some(snapshot(&before.view(now))),
                Some(snapshot(&view)),
            ),
        )
        .await?;
        tx.commit().await?;
        self.flagged_one(view, now).await
    }

    /// Ends the grace period of the old key of a rotation now: calls with it are refused
    /// from this moment. Audited as `key.grace_end`.
    pub async fn end_grace(&self, actor: Actor, id: Uuid, origin: &Origin) -> Result<KeyView> {
        self.move_grace_end(actor, id, None, origin).await
    }

    /// Moves the end of a running grace period `seconds` later (1 to
    /// [`MAX_GRACE_SECONDS`]), but never beyond [`MAX_GRACE_SECONDS`] from now; the key's
    /// own expiry still applies. Audited as `key.grace_extend`.
    pub async fn extend_grace(
        &self,
        actor: Actor,
        id: Uuid,
        seconds: i64,
        origin: &Origin,
    ) -> Result<KeyView> {
        if !(1..=MAX_GRACE_SECONDS).contains(&seconds) {
            return Err(Error::invalid(
                "seconds",
                format!("must be between 1 and {MAX_GRACE_SECONDS}"),
            ));
        }
        self.move_grace_end(actor, id, Some(seconds), origin).await
    }

    async fn move_grace_end(
        &self,
        actor: Actor,
        id: Uuid,
        extend: Option<i64>,
        origin: &Origin,
    ) -> Result<KeyView> {
        actor.check_may_change_keys()?;
        let mut tx = self.pool.begin().await?;
        let before = lock_one(&mut tx, actor, id).await?;
        let now = Utc::now();
        let end = match (before.rotated_to, before.grace_ends_at) {
            (Some(_), Some(end)) if before.revoked_at.is_none() => end,
            _ => {
                return Err(Error::Conflict(
                    "key is not the old key of a rotation in its grace period".into(),
                ));
            }
        };
        if before.status(now) != KeyStatus::Active || end <= now {
            return Err(Error::Conflict(
                "key's grace period is over (or the key stopped working): nothing to change".into(),
            ));
        }
        let (new_end, action) = match extend {
            None => (now, "key.grace_end"),
            Some(seconds) => {
                let latest = now + Duration::seconds(MAX_GRACE_SECONDS);
                let wanted = end + Duration::seconds(seconds);
                if wanted > latest {
                    return Err(Error::invalid(
                        "seconds",
                        format!(
                            "a grace period may end at most {MAX_GRACE_SECONDS} seconds (30 \
                             days) from now; it ends in {} s",
                            (end - now).num_seconds()
                        ),
                    ));
                }
                (wanted, "key.grace_extend")
            }
        };
        let mut after = before.clone();
        after.set_grace_end(new_end);
        let saved = store::save(&mut tx, &after).await?;
        let view = saved.view(now);
        audit::append(
            &mut tx,
            entry(
                actor,
                action,
                id,
                origin,
                Some(snapshot(&before.view(now))),
                Some(snapshot(&view)),
            ),
        )
        .await?;
        tx.commit().await?;
        self.flagged_one(view, now).await
    }

    /// Revokes a key for good. Revoking a revoked key changes nothing (and keeps the first
    /// reason).
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
        entries.push(NewEntry {
            actor_id: Some(actor.id),
            action: "key.bulk_revoke",
            target_type: "key_batch",
            target_id: None,
            origin: origin.clone(),
            before: None,
            after: Some(json!({
                "count": views.len(),
                "revoked": changed,
                "already_revoked": views.len() - changed.len(),
                "reason": reason,
            })),
        });
        audit::append_all(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(views)
    }

    /// Applies one change to up to [`MAX_BATCH`] keys in one transaction: all or none.
    /// Ids that do not exist, are not visible to the caller or are listed twice are all
    /// reported at once. A revoked key cannot change and is left as it is (as a bulk
    /// revocation leaves one); each changed key gets its `key.update` row and the batch
    /// one `key.bulk_update`.
    pub async fn change_batch(
        &self,
        actor: Actor,
        ids: Vec<Uuid>,
        change: BulkChange,
        origin: &Origin,
    ) -> Result<Vec<KeyView>> {
        actor.check_may_change_keys()?;
        check_batch_size("ids", ids.len())?;
        if let BulkChange::ExtendExpiry { days } = change
            && !(1..=3650).contains(&days)
        {
            return Err(Error::invalid("days", "must be between 1 and 3650"));
        }
        let mut tx = self.pool.begin().await?;
        let ordered = lock_batch(&mut tx, actor, &ids).await?;
        let now = Utc::now();
        let policy = self.owner_policy(&mut tx, actor).await?;
        let mut live = match &policy {
            Some(_) => Some(store::count_live(&mut tx, actor.id, now).await?),
            None => None,
        };
        let mut views = Vec::with_capacity(ordered.len());
        let mut entries = Vec::with_capacity(ordered.len() + 1);
        let mut changed = Vec::new();
        for before in ordered {
            if before.revoked_at.is_some() {
                views.push(before.view(now));
                continue;
            }
            let mut after = before.clone();
            match change {
                BulkChange::Enable => after.enabled = true,
                BulkChange::Disable => after.enabled = false,
                BulkChange::ExtendExpiry { days } => {
                    if let Some(at) = before.own_expiry() {
                        after.set_own_expiry(Some(at.max(now) + Duration::days(days)));
                    }
                }
            }
            if let Some(me) = &policy {
                policy::check_limit_changes(me, asked_limits(&before), asked_limits(&after), now)?;
                if let Some(live) = live.as_mut()
                    && !before.counts_as_live(now)
                    && after.counts_as_live(now)
                {
                    policy::check_key_count(me, *live, 1)?;
                    *live += 1;
                }
            }
            if after == before {
                views.push(before.view(now));
                continue;
            }
            let saved = store::save(&mut tx, &after).await?;
            let view = saved.view(now);
            entries.push(entry(
                actor,
                "key.update",
                view.id,
                origin,
                Some(snapshot(&before.view(now))),
                Some(snapshot(&view)),
            ));
            changed.push(view.id);
            views.push(view);
        }
        entries.push(NewEntry {
            actor_id: Some(actor.id),
            action: "key.bulk_update",
            target_type: "key_batch",
            target_id: None,
            origin: origin.clone(),
            before: None,
            after: Some(json!({
                "change": change.name(),
                "count": views.len(),
                "changed": changed,
            })),
        });
        audit::append_all(&mut tx, entries).await?;
        tx.commit().await?;
        self.flagged(views, now).await
    }

    /// Replaces a key by a new one that inherits everything but the secret (and its quota
    /// usage carries over). The old key keeps working for `grace_seconds` (0 ends it now),
    /// then is expired; the two link to each other.
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
            let scopes = Scope::parse_list("scopes", &old.scopes)?;
            policy::check_scopes(&me, &scopes)?;
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
        successor.created_by = Some(actor.id);
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
        audit::append_all(
            &mut tx,
            vec![
                entry(
                    actor,
                    "key.rotate",
                    old.id,
                    origin,
                    Some(snapshot(&old.view(now))),
                    Some(snapshot(&previous_view)),
                ),
                entry(
                    actor,
                    "key.create",
                    new.id,
                    origin,
                    None,
                    Some(snapshot(&new_view)),
                ),
            ],
        )
        .await?;
        tx.commit().await?;
        let mut views = self.flagged(vec![new_view, previous_view], now).await?;
        let (Some(previous_view), Some(new_view)) = (views.pop(), views.pop()) else {
            return Err(Error::NotFound);
        };
        Ok(RotatedKey {
            new: CreatedKey {
                key: SecretField(secret),
                view: new_view,
            },
            previous: previous_view,
        })
    }
}

/// Locks the keys of a batch, in the order asked; ids that are listed twice or name no
/// key the caller may act on are all reported at once.
async fn lock_batch(conn: &mut PgConnection, actor: Actor, ids: &[Uuid]) -> Result<Vec<KeyRow>> {
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
fn asked_limits(row: &KeyRow) -> AskedLimits {
    AskedLimits {
        quota: row.quota_spec(),
        rate_limit: row.rate_limit_spec(),
        expires_at: row.own_expiry(),
    }
}

/// Locks one key the caller may act on; another owner's key is `NotFound`.
async fn lock_one(conn: &mut PgConnection, actor: Actor, id: Uuid) -> Result<KeyRow> {
    store::lock(conn, &[id], actor.only_own())
        .await?
        .pop()
        .ok_or(Error::NotFound)
}

/// Revokes `row` unless it is revoked already; returns the view and the audit entry to
/// write (none when nothing changed).
async fn revoke_row(
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
    let entry = entry(
        actor,
        "key.revoke",
        row.id,
        origin,
        Some(snapshot(&row.view(now))),
        Some(snapshot(&view)),
    );
    Ok((view, Some(entry)))
}

/// Sets or removes the quota. Usage is kept while the period stays the same (and the
/// current period has not moved on); a new period starts from zero.
fn set_quota(row: &mut KeyRow, quota: Option<QuotaSpec>, now: DateTime<Utc>) {
    match quota {
        None => {
            row.quota_limit = None;
            row.quota_period = None;
            row.quota_used = 0;
            row.quota_period_start = None;
        }
        Some(spec) => {
            let used = if row.quota_period == Some(spec.period) {
                row.quota_used_at(now)
            } else {
                0
            };
            row.quota_limit = Some(spec.limit);
            row.quota_period = Some(spec.period);
            row.quota_used = used;
            row.quota_period_start = Some(spec.period.start(now));
        }
    }
}

fn parse_reason(reason: Option<String>) -> Result<Option<String>> {
    match reason {
        Some(r) if r.chars().count() > 500 => {
            Err(Error::invalid("reason", "must be at most 500 characters"))
        }
        Some(r) if r.chars().any(|c| c.is_control() && c != '\n') => Err(Error::invalid(
            "reason",
            "must not contain control characters",
        )),
        Some(r) if r.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn check_batch_size(field: &str, len: usize) -> Result<()> {
    if (1..=MAX_BATCH).contains(&len) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("must hold 1 to {MAX_BATCH} entries"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::model::QuotaPeriod;

    #[test]
    fn reasons_are_checked() {
        assert_eq!(parse_reason(None).expect("none"), None);
        assert_eq!(parse_reason(Some("  ".into())).expect("blank"), None);
        assert_eq!(
            parse_reason(Some("leaked in a gist".into())).expect("ok"),
            Some("leaked in a gist".into())
        );
        assert!(parse_reason(Some("x".repeat(501))).is_err());
        assert!(parse_reason(Some("a\u{7}".into())).is_err());
    }

    #[test]
    fn created_keys_print_no_secret() {
        let secret = format::generate("sk");
        let exposed = secret.expose().to_owned();
        let field = SecretField(secret);
        assert_eq!(format!("{field:?}"), "[REDACTED]");
        assert_eq!(serde_json::to_value(&field).expect("json"), json!(exposed));
    }

    #[test]
    fn changing_the_quota_period_starts_from_zero() {
        let now = Utc::now();
        let mut row = KeyRow {
            id: Uuid::nil(),
            keyspace_id: Uuid::nil(),
            owner_id: Uuid::nil(),
            name: "k".into(),
            start: "sk_abcd".into(),
            enabled: true,
            scopes: vec![],
            ip_allowlist: vec![],
            meta: json!({}),
            expires_at: None,
            created_at: now,
            created_by: None,
            last_used_at: None,
            revoked_at: None,
            revoked_reason: None,
            rotated_from: None,
            rotated_to: None,
            quota_limit: Some(100),
            quota_period: Some(QuotaPeriod::Day),
            quota_used: 40,
            quota_period_start: Some(QuotaPeriod::Day.start(now)),
            rate_limit: None,
            rate_window_secs: None,
            generation: 0,
            grace_ends_at: None,
            own_expires_at: None,
        };
        set_quota(
            &mut row,
            Some(QuotaSpec {
                limit: 50,
                period: QuotaPeriod::Day,
            }),
            now,
        );
        assert_eq!((row.quota_limit, row.quota_used), (Some(50), 40));
        set_quota(
            &mut row,
            Some(QuotaSpec {
                limit: 50,
                period: QuotaPeriod::Month,
            }),
            now,
        );
        assert_eq!(row.quota_used, 0);
        set_quota(&mut row, None, now);
        assert_eq!(
            (row.quota_limit, row.quota_period, row.quota_period_start),
            (None, None, None)
        );
    }
}
