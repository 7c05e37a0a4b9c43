//! The audit trail as callers read it: who may read which rows, what an owner sees of
//! other people's requests, and the names that make rows readable.

use std::collections::HashMap;

use sqlx::PgPool;
use uuid::Uuid;

use super::Entry;
use super::store::{self, AuditFilter, VerifyReport};
use crate::error::{Error, Result};
use crate::identity::{Actor, users};
use crate::keys::{keyspace_store, store as key_store};

/// Reading and checking the audit trail. Rows are written only by the services whose
/// changes they record.
#[derive(Clone, Debug)]
pub struct AuditService {
    pool: PgPool,
}

/// The names behind the ids of some entries: actors by email, targets by name.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Emails of actors and of users that are targets.
    pub emails: HashMap<Uuid, String>,
    /// Names of targets: keys as `name (start…)`, keyspaces, verifiers, users (email).
    pub targets: HashMap<Uuid, String>,
}

impl Names {
    /// The actor of `entry` as people know them: an email, or "system".
    pub fn actor(&self, entry: &Entry) -> String {
        entry.actor_id.map_or_else(
            || "system".to_owned(),
            |id| {
                self.emails
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| id.to_string())
            },
        )
    }

    /// The name of `entry`'s target, when it has one.
    pub fn target(&self, entry: &Entry) -> Option<String> {
        let id = Uuid::parse_str(entry.target_id.as_deref()?).ok()?;
        self.targets.get(&id).cloned()
    }
}

impl AuditService {
    /// The trail in the database behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// A page of the whole trail, newest first; `before` is the last id of the previous
    /// page. Admins and auditors only.
    #[tracing::instrument(name = "audit.list", skip_all, fields(db.system = "postgresql"))]
    pub async fn list(
        &self,
        actor: Actor,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Entry>> {
        actor.check_reader()?;
        store::list(&self.pool, filter, before, limit).await
    }

    /// The newest `limit` entries about one key, for whoever may see the key (its owner
    /// too: it is their key). An owner sees what was done and by whom, but not where other
    /// people (admins) made their requests from.
    #[tracing::instrument(name = "audit.of_key", skip_all, fields(db.system = "postgresql"))]
    pub async fn of_key(&self, actor: Actor, key_id: Uuid, limit: i64) -> Result<Vec<Entry>> {
        let key = key_store::find(&self.pool, key_id)
            .await?
            .ok_or(Error::NotFound)?;
        actor.check_visible(key.owner_id)?;
        let filter = AuditFilter {
            target_id: Some(key_id.to_string()),
            ..AuditFilter::default()
        };
        let mut entries = store::list(&self.pool, &filter, None, limit).await?;
        if !actor.role.reads_everything() {
            for entry in entries.iter_mut().filter(|e| e.actor_id != Some(actor.id)) {
                entry.source_ip = None;
                entry.request_id = None;
                entry.client_request_id = None;
            }
        }
        Ok(entries)
    }

    /// The names behind `entries`' actors and targets (one query per kind of target).
    /// Entries are what the caller was allowed to read, so are their names.
    pub async fn names(&self, entries: &[Entry]) -> Result<Names> {
        let targets_of = |kinds: &[&str]| -> Vec<Uuid> {
            let mut ids: Vec<Uuid> = entries
                .iter()
                .filter(|e| kinds.contains(&e.target_type.as_str()))
                .filter_map(|e| e.target_id.as_deref().and_then(|t| Uuid::parse_str(t).ok()))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let user_targets = targets_of(&["user"]);
        let mut people: Vec<Uuid> = entries.iter().filter_map(|e| e.actor_id).collect();
        people.extend(&user_targets);
        people.sort_unstable();
        people.dedup();
        let emails: HashMap<Uuid, String> = users::emails(&self.pool, &people)
            .await?
            .into_iter()
            .collect();
        let mut targets: HashMap<Uuid, String> =
            key_store::names(&self.pool, &targets_of(&["key"]))
                .await?
                .into_iter()
                .collect();
        targets.extend(
            keyspace_store::names(&self.pool, &targets_of(&["keyspace", "verifier"])).await?,
        );
        for id in user_targets {
            if let Some(email) = emails.get(&id) {
                targets.insert(id, email.clone());
            }
        }
        Ok(Names { emails, targets })
    }

    /// Recomputes the whole chain (admins, auditors, and the command line's system
    /// actor).
    #[tracing::instrument(name = "audit.verify", skip_all, fields(db.system = "postgresql"))]
    pub async fn verify(&self, actor: Actor) -> Result<VerifyReport> {
        actor.check_reader()?;
        store::verify(&self.pool).await
    }

    /// Checks the rows recorded since `since` (the `last` of an earlier intact report),
    /// or the whole chain: what the server does every hour.
    #[tracing::instrument(name = "audit.verify_since", skip_all, fields(db.system = "postgresql"))]
    pub async fn verify_since(
        &self,
        actor: Actor,
        since: Option<(Vec<u8>, i64)>,
    ) -> Result<VerifyReport> {
        actor.check_reader()?;
        store::verify_from(&self.pool, since).await
    }

    /// Publishes the trail's newest row as an `audit.head` event when it moved since the
    /// last one (the server does it every hour, and logs it), so that a subscriber holds
    /// a witness of the trail's end; returns the head.
    #[tracing::instrument(name = "audit.publish_head", skip_all, fields(db.system = "postgresql"))]
    pub async fn publish_head(&self, actor: Actor) -> Result<Option<ChainHead>> {
        actor.check_admin()?;
        let mut tx = self.pool.begin().await?;
        crate::events::store::lock_chain(&mut tx).await?;
        let Some((last_id, hash, at)) = store::head(&mut tx).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        let head = ChainHead {
            last_id,
            hash: super::chain::hex(&hash),
            at,
        };
        let published = crate::events::store::latest_of_type(&mut tx, "audit.head").await?;
        let already = published
            .as_ref()
            .and_then(|data| data.get("last_id"))
            .and_then(serde_json::Value::as_i64)
            == Some(last_id);
        if !already {
            crate::events::store::append_observed(
                &mut tx,
                vec![crate::events::Event::AuditHead {
                    last_id,
                    hash: head.hash.clone(),
                    at,
                }],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Some(head))
    }

    /// Writes the rows recorded before `before` to `out` as an archive segment (admins
    /// and the command line); removes nothing. See [`archive`](super::archive).
    #[tracing::instrument(name = "audit.export_segment", skip_all, fields(db.system = "postgresql"))]
    pub async fn export_segment(
        &self,
        actor: Actor,
        before: chrono::DateTime<chrono::Utc>,
        out: &mut impl std::io::Write,
    ) -> Result<Option<super::archive::SegmentEnd>> {
        actor.check_admin()?;
        super::archive::export(&self.pool, before, out).await
    }

    /// Removes an exported segment once its file is stored, leaving the anchor.
    #[tracing::instrument(name = "audit.remove_segment", skip_all, fields(db.system = "postgresql"))]
    pub async fn remove_segment(
        &self,
        actor: Actor,
        end: &super::archive::SegmentEnd,
    ) -> Result<u64> {
        actor.check_admin()?;
        super::archive::remove(&self.pool, end).await
    }
}

/// The trail's newest row, as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Its id.
    pub last_id: i64,
    /// Its chain hash (hex).
    pub hash: String,
    /// When it was recorded.
    pub at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use sqlx::PgPool;

    use super::*;
    use crate::audit::Origin;
    use crate::identity::Role;
    use crate::keys::{KeyService, KeyspaceService, NewKeyInput};
    use crate::test_support::{hasher, user};

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn an_owner_reads_their_keys_history_without_other_peoples_addresses(pool: PgPool) {
        let audit = AuditService::new(pool.clone());
        let admin = Actor::from(&user(&pool, "admin@example.com", Role::Admin).await);
        let owner = Actor::from(&user(&pool, "owner@example.com", Role::Owner).await);
        let other = Actor::from(&user(&pool, "other@example.com", Role::Owner).await);
        let from = |last: u8| Origin {
            source_ip: Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, last))),
            request_id: Some(format!("req-{last}")),
            client_request_id: None,
        };
        let keyspace = KeyspaceService::new(pool.clone(), hasher())
            .create(admin, "Payments", "pay", None, &from(1))
            .await
            .expect("keyspace");
        let keys = KeyService::new(pool.clone(), hasher());
        let key = keys
            .create(
                admin,
                keyspace.id,
                NewKeyInput {
                    name: "billing".into(),
                    owner_id: Some(owner.id),
                    ..NewKeyInput::default()
                },
                &from(1),
            )
            .await
            .expect("key");
        keys.revoke(owner, key.view.id, None, &from(2))
            .await
            .expect("revoked");

        let seen = audit.of_key(owner, key.view.id, 10).await.expect("history");
        assert_eq!(seen.len(), 2);
        let by_admin = seen
            .iter()
            .find(|e| e.actor_id == Some(admin.id))
            .expect("admin's");
        assert_eq!(
            (
                by_admin.source_ip.as_deref(),
                by_admin.request_id.as_deref()
            ),
            (None, None)
        );
        let own = seen
            .iter()
            .find(|e| e.actor_id == Some(owner.id))
            .expect("owner's");
        assert_eq!(own.source_ip.as_deref(), Some("203.0.113.2"));
        // Admins see every address; another owner sees nothing of the key.
        let full = audit.of_key(admin, key.view.id, 10).await.expect("admin");
        assert!(full.iter().all(|e| e.source_ip.is_some()));
        assert!(matches!(
            audit.of_key(other, key.view.id, 10).await,
            Err(Error::NotFound)
        ));
        // The whole trail and its check are for admins and auditors.
        let filter = AuditFilter::default();
        assert!(matches!(
            audit.list(owner, &filter, None, 10).await,
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            audit.verify(owner).await,
            Err(Error::Forbidden(_))
        ));
        let names = audit.names(&full).await.expect("names");
        assert_eq!(names.actor(&full[0]), "owner@example.com");
        assert_eq!(
            names.target(&full[0]).as_deref(),
            Some(format!("billing ({}…)", key.view.start).as_str())
        );
    }
}
