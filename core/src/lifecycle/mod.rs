//! Lifecycle events that no change causes: a key's expiry coming closer
//! (`key.expiring`, once per threshold), passing (`key.expired`), a rotation's grace
//! ending while the old key is still in use (`key.grace_ending`), and a quota running
//! out (`key.quota_threshold` at 80% and 100%, once per period each). Every instance
//! checks every minute, one at a time (an advisory lock; the others skip that minute);
//! each reminder is recorded as sent in the transaction that writes its event, under a
//! unique key, so it is sent once whatever the number of instances and restarts. A
//! moved expiry is a new moment and re-arms its reminders.

mod store;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::Result;
use crate::events::{Event, KeyRef};
use store::Sent;

/// The default expiry reminders: 7 days and 1 day before.
pub const DEFAULT_EXPIRY_REMINDERS: [Duration; 2] =
    [Duration::from_secs(7 * 86_400), Duration::from_secs(86_400)];

/// How often an instance looks.
pub const CHECK_EVERY: Duration = Duration::from_secs(60);

/// Finds what is due and writes its events.
#[derive(Clone, Debug)]
pub struct Lifecycle {
    pool: PgPool,
    thresholds: Vec<i64>,
}

impl Sent {
    fn key(&self) -> KeyRef {
        KeyRef {
            key_id: self.key_id,
            keyspace_id: self.keyspace_id,
            owner_id: self.owner_id,
            name: self.name.clone(),
            start: self.start.clone(),
        }
    }

    /// The number after the kind's colon (`expiring:86400`, `quota:80`).
    fn figure(&self) -> i64 {
        self.kind
            .rsplit_once(':')
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or_default()
    }
}

impl Lifecycle {
    /// Checks keys in the database behind `pool`, reminding of expiry `reminders` before.
    pub fn new(pool: PgPool, reminders: &[Duration]) -> Self {
        Self {
            pool,
            thresholds: reminders
                .iter()
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                .collect(),
        }
    }

    /// Writes the events due at `now` (and records them as sent); how many.
    #[tracing::instrument(name = "lifecycle.check", skip_all, fields(db.system = "postgresql"))]
    pub async fn check(&self, now: DateTime<Utc>) -> Result<usize> {
        let mut tx = self.pool.begin().await?;
        if !store::try_lock(&mut tx).await? {
            return Ok(0);
        }
        let mut events = Vec::new();
        // Of several thresholds crossed at once, only the nearest is worth saying.
        let mut expiring: BTreeMap<_, Sent> = BTreeMap::new();
        for sent in store::expiring(&mut tx, now, &self.thresholds).await? {
            match expiring.get(&sent.key_id) {
                Some(kept) if kept.figure() <= sent.figure() => {}
                _ => {
                    expiring.insert(sent.key_id, sent);
                }
            }
        }
        events.extend(expiring.into_values().map(|s| Event::KeyExpiring {
            key: s.key(),
            expires_at: s.moment,
            threshold_seconds: s.figure(),
        }));
        events.extend(
            store::expired(&mut tx, now)
                .await?
                .into_iter()
                .map(|s| Event::KeyExpired {
                    key: s.key(),
                    expires_at: s.moment,
                }),
        );
        events.extend(
            store::grace_ending(&mut tx, now)
                .await?
                .into_iter()
                .map(|s| Event::KeyGraceEnding {
                    key: s.key(),
                    grace_ends_at: s.moment,
                    last_used_at: s.last_used_at.unwrap_or(s.moment),
                }),
        );
        // 80% and 100% crossed together: only 100% is worth saying.
        let mut quota: BTreeMap<_, Sent> = BTreeMap::new();
        for sent in store::quota(&mut tx, now).await? {
            match quota.get(&sent.key_id) {
                Some(kept) if kept.figure() >= sent.figure() => {}
                _ => {
                    quota.insert(sent.key_id, sent);
                }
            }
        }
        events.extend(quota.into_values().filter_map(|s| {
            let period = s.quota_period?;
            Some(Event::KeyQuotaThreshold {
                key: s.key(),
                percent: u8::try_from(s.figure()).unwrap_or(100),
                limit: s.quota_limit?,
                used: s.quota_used,
                period,
                resets_at: period.resets_at(now),
            })
        }));
        let n = events.len();
        crate::events::store::append_observed(&mut tx, events).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Checks every minute until `stop` fires.
    pub async fn run(self, mut stop: tokio::sync::oneshot::Receiver<()>) {
        let mut every = tokio::time::interval(CHECK_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = &mut stop => return,
            }
            match self.check(Utc::now()).await {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!("key lifecycle checks resumed");
                }
                Ok(_) => {}
                Err(err) if !failing => {
                    failing = true;
                    tracing::warn!(error = %err, "cannot check key lifecycles; retrying every minute");
                }
                Err(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
