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
    pub async fn verify(&self, actor: Actor) -> Result<VerifyReport> {
        actor.check_reader()?;
        store::verify(&self.pool).await
    }
}
