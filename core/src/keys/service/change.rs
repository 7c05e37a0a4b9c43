//! Changing keys: one by a patch, a batch by one change, and the grace of a rotated key.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use super::input::check_batch_size;
use super::{
    BulkChange, KeyPatchInput, KeyService, MAX_GRACE_SECONDS, asked_limits, entry, lock_batch,
    lock_one, snapshot,
};
use crate::audit::{self, Action, NewEntry, Origin};
use crate::error::{Error, Result};
use crate::events::{Event, KeyRef};
use crate::keys::model::{KeyStatus, KeyView, QuotaSpec};
use crate::keys::policy::{self, Actor};
use crate::keys::store::{self, KeyRow};

impl KeyService {
    /// Applies `patch`. A revoked key cannot be changed.
    #[tracing::instrument(name = "keys.update", skip_all, fields(db.system = "postgresql"))]
    pub async fn update(
        &self,
        actor: Actor,
        id: Uuid,
        patch: KeyPatchInput,
        origin: &Origin,
    ) -> Result<KeyView> {
        actor.check_may_change_keys()?;
        let now = Utc::now();
        let patch = patch.validate(now)?;

        let mut tx = self.pool.begin().await?;
        let before = lock_one(&mut tx, actor, id).await?;
        if before.revoked_at.is_some() {
            return Err(Error::Conflict(
                "key is revoked; a revoked key cannot be changed".into(),
            ));
        }
        let policy = self.owner_policy(&mut tx, actor).await?;
        if let (Some(me), Some(scopes)) = (&policy, &patch.scopes) {
            policy::check_scopes(me, scopes)?;
        }
        let mut after = before.clone();
        if let Some(name) = patch.name {
            after.name = name.as_str().to_owned();
        }
        if let Some(scopes) = patch.scopes {
            after.scopes = scopes;
        }
        if let Some(expires_at) = patch.expires_at {
            after.set_own_expiry(expires_at);
        }
        if let Some(enabled) = patch.enabled {
            after.enabled = enabled;
        }
        if let Some(list) = patch.ip_allowlist {
            after.ip_allowlist = list;
        }
        if let Some(meta) = patch.meta {
            after.meta = meta.into_value();
        }
        if let Some(quota) = patch.quota {
            set_quota(&mut after, quota, now);
        }
        if let Some(rate_limit) = patch.rate_limit {
            after.rate_limit = rate_limit;
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
        let old = before.view(now);
        let change = entry(actor, Action::KeyUpdate, id, origin)
            .before(snapshot(&old))
            .after(snapshot(&view))
            .events(Event::key_changed(&old, &view));
        audit::append(&mut tx, change).await?;
        tx.commit().await?;
        self.flagged_one(view, now).await
    }

    /// Ends the grace period of the old key of a rotation now: calls with it are refused
    /// from this moment. Audited as `key.grace_end`.
    #[tracing::instrument(name = "keys.end_grace", skip_all, fields(db.system = "postgresql"))]
    pub async fn end_grace(&self, actor: Actor, id: Uuid, origin: &Origin) -> Result<KeyView> {
        self.move_grace_end(actor, id, None, origin).await
    }

    /// Moves the end of a running grace period `seconds` later (1 to
    /// [`MAX_GRACE_SECONDS`]), but never beyond [`MAX_GRACE_SECONDS`] from now; the key's
    /// own expiry still applies. Audited as `key.grace_extend`.
    #[tracing::instrument(name = "keys.extend_grace", skip_all, fields(db.system = "postgresql"))]
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
            None => (now, Action::KeyGraceEnd),
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
                (wanted, Action::KeyGraceExtend)
            }
        };
        let mut after = before.clone();
        after.set_grace_end(new_end);
        let saved = store::save(&mut tx, &after).await?;
        let view = saved.view(now);
        let change = entry(actor, action, id, origin)
            .before(snapshot(&before.view(now)))
            .after(snapshot(&view))
            .events([Event::KeyGraceChanged {
                key: KeyRef::from(&view),
                grace_ends_at: new_end,
            }]);
        audit::append(&mut tx, change).await?;
        tx.commit().await?;
        self.flagged_one(view, now).await
    }

    /// Applies one change to up to [`MAX_BATCH`] keys in one transaction: all or none.
    /// Ids that do not exist, are not visible to the caller or are listed twice are all
    /// reported at once. A revoked key cannot change and is left as it is (as a bulk
    /// revocation leaves one); each changed key gets its `key.update` row and the batch
    /// one `key.bulk_update`.
    #[tracing::instrument(name = "keys.change_batch", skip_all, fields(db.system = "postgresql"))]
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
            let old = before.view(now);
            entries.push(
                entry(actor, Action::KeyUpdate, view.id, origin)
                    .before(snapshot(&old))
                    .after(snapshot(&view))
                    .events(Event::key_changed(&old, &view)),
            );
            changed.push(view.id);
            views.push(view);
        }
        entries.push(
            NewEntry::new(actor.recorded_id(), Action::KeyBulkUpdate, None, origin).after(json!({
                "change": change.name(),
                "count": views.len(),
                "changed": changed,
            })),
        );
        audit::append_all(&mut tx, entries).await?;
        tx.commit().await?;
        self.flagged(views, now).await
    }
}

/// Sets or removes the quota. Usage is kept while the period stays the same (and the
/// current period has not moved on); a new period starts from zero.
fn set_quota(row: &mut KeyRow, quota: Option<QuotaSpec>, now: DateTime<Utc>) {
    match quota {
        None => {
            row.quota = None;
            row.quota_used = 0;
            row.quota_period_start = None;
        }
        Some(spec) => {
            let used = if row.quota.is_some_and(|q| q.period == spec.period) {
                row.quota_used_at(now)
            } else {
                0
            };
            row.quota = Some(spec);
            row.quota_used = used;
            row.quota_period_start = Some(spec.period.start(now));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::keys::model::{IpAllowlist, QuotaPeriod};

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
            ip_allowlist: IpAllowlist::default(),
            meta: json!({}),
            expires_at: None,
            created_at: now,
            created_by: None,
            last_used_at: None,
            revoked_at: None,
            revoked_reason: None,
            rotated_from: None,
            rotated_to: None,
            quota: Some(QuotaSpec {
                limit: 100,
                period: QuotaPeriod::Day,
            }),
            quota_used: 40,
            quota_period_start: Some(QuotaPeriod::Day.start(now)),
            rate_limit: None,
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
        assert_eq!((row.quota.map(|q| q.limit), row.quota_used), (Some(50), 40));
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
        assert_eq!((row.quota, row.quota_period_start), (None, None));
    }
}
