//! Creating keys, one or a batch: all or nothing, within the owner's policy.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::input::{ValidNewKey, check_batch_size};
use super::{CreatedKey, KeyService, NewKeyInput, entry, snapshot};
use crate::audit::{self, Action, NewEntry, Origin};
use crate::error::{Error, ItemError, Result};
use crate::events::Event;
use crate::identity::users;
use crate::keys::format::{self, Secret};
use crate::keys::keyspace_store::{self, Keyspace};
use crate::keys::model::KeyView;
use crate::keys::policy::{self, Actor, AskedLimits};
use crate::keys::store::{self, KeyRow, NewKeyRow};

impl KeyService {
    /// Creates one key.
    #[tracing::instrument(name = "keys.create", skip_all, fields(db.system = "postgresql"))]
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
    #[tracing::instrument(name = "keys.create_batch", skip_all, fields(db.system = "postgresql"))]
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
            entries.push(
                entry(actor, Action::KeyCreate, view.id, origin)
                    .after(snapshot(&view))
                    .events([Event::key_created(&view)]),
            );
            created.push(CreatedKey { key, view });
        }
        if batch {
            let ids: Vec<Uuid> = created.iter().map(|c| c.view.id).collect();
            entries.push(
                NewEntry::of(actor, Action::KeyBulkCreate, keyspace.id, origin)
                    .after(json!({ "count": ids.len(), "ids": ids })),
            );
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
            scopes: item.scopes,
            ip_allowlist: item.ip_allowlist,
            meta: item.meta.into_value(),
            expires_at: item.expires_at,
            created_at: now,
            created_by: actor.recorded_id(),
            last_used_at: None,
            revoked_at: None,
            revoked_reason: None,
            rotated_from: None,
            rotated_to: None,
            quota: item.quota,
            quota_used: 0,
            quota_period_start: item.quota.map(|q| q.period.start(now)),
            rate_limit: item.rate_limit,
            generation: 0,
            grace_ends_at: None,
            own_expires_at: None,
        };
        let digest = self.hasher.digest(secret.expose());
        let stored = store::insert(conn, NewKeyRow { row: &row, digest }).await?;
        Ok((secret, stored.view(now)))
    }
}
