//! Reading keys: one, by its secret, a page of the list, usage and the verification log.

use chrono::Utc;
use uuid::Uuid;

use super::KeyService;
use crate::audit::{self, Action, NewEntry, Origin};
use crate::error::{Error, Result};
use crate::keys::format;
use crate::keys::listing::{KeyCursor, KeyFilter};
use crate::keys::model::KeyView;
use crate::keys::policy::Actor;
use crate::keys::store;

impl KeyService {
    /// One key, if the caller may see it.
    #[tracing::instrument(name = "keys.get", skip_all, fields(db.system = "postgresql"))]
    pub async fn get(&self, actor: Actor, id: Uuid) -> Result<KeyView> {
        let row = store::find(&self.pool, id).await?.ok_or(Error::NotFound)?;
        actor.check_visible(row.owner_id)?;
        let now = Utc::now();
        self.flagged_one(row.view(now), now).await
    }

    /// "Is this my key?": the key whose whole secret is `secret`, if the caller may see
    /// it; `NotFound` for anything else (another owner's key, an unknown key, a string
    /// that is no key), after the same work: the string is hashed and looked up whatever
    /// it is. Rate-limited per user (`Throttled`), and audited (`key.lookup`, naming the
    /// key only when it was found). The secret travels in a body, never in a URL, and is
    /// never recorded.
    #[tracing::instrument(name = "keys.lookup", skip_all, fields(db.system = "postgresql"))]
    pub async fn lookup(&self, actor: Actor, secret: &str, origin: &Origin) -> Result<KeyView> {
        self.lookups.check(&actor.id).map_err(Error::Throttled)?;
        let well_formed = format::parse(secret).is_some();
        let digest = self.hasher.digest(secret);
        let row = store::find_by_digest(&self.pool, &digest).await?;
        let found = row.filter(|row| well_formed && actor.sees(row.owner_id));
        let mut tx = self.pool.begin().await?;
        let entry = NewEntry::new(
            actor.recorded_id(),
            Action::KeyLookup,
            found.as_ref().map(|row| row.id.to_string()),
            origin,
        )
        .after(serde_json::json!({ "found": found.is_some() }));
        audit::append(&mut tx, entry).await?;
        tx.commit().await?;
        let row = found.ok_or(Error::NotFound)?;
        let now = Utc::now();
        self.flagged_one(row.view(now), now).await
    }

    /// Verifications of a key the caller may see, bucket by bucket over `range`.
    #[tracing::instrument(name = "keys.usage", skip_all, fields(db.system = "postgresql"))]
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
    #[tracing::instrument(name = "keys.verifications", skip_all, fields(db.system = "postgresql"))]
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
    #[tracing::instrument(name = "keys.list", skip_all, fields(db.system = "postgresql"))]
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

    /// How many verifications each of the keys among `ids` answered in the 24 hours
    /// before `now` (keys the caller may not see count nothing).
    pub async fn verifications_24h(
        &self,
        actor: Actor,
        ids: &[Uuid],
        now: chrono::DateTime<Utc>,
    ) -> Result<Vec<(Uuid, i64)>> {
        let totals = crate::usage::store::key_totals_since(
            &self.pool,
            ids,
            now - chrono::Duration::hours(24),
        )
        .await?;
        if actor.role.reads_everything() {
            return Ok(totals);
        }
        let own = store::owned_among(&self.pool, ids, actor.id).await?;
        Ok(totals
            .into_iter()
            .filter(|(id, _)| own.contains(id))
            .collect())
    }

    /// How many of the caller's own keys count against their `max_keys` (neither revoked
    /// nor expired), for the forms that show the policy.
    pub async fn live_keys(&self, actor: Actor) -> Result<i64> {
        let mut conn = self.pool.acquire().await?;
        store::count_live(&mut conn, actor.id, Utc::now()).await
    }
}
