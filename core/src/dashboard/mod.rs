//! The portal's dashboard: keys by status, verifications over the last day and month,
//! the busiest keys, keys about to expire and quotas nearly spent. Admins and auditors
//! see every key; owners see their own.
//!
//! Built for a large installation: the charts read the hourly totals (`usage_totals`,
//! at most 720 rows), never every key's usage; the lists read partial indexes. The one
//! costly answer, the busiest keys of all (an aggregate over a day of every key's usage),
//! is kept for [`TOP_KEYS_FRESH_FOR`] and refreshed in the background once it is older,
//! so only the first request after start waits for it. An owner's busiest keys are read
//! fresh: they are a few index lookups.

#[cfg(test)]
mod bench;
mod store;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::Result;
use crate::keys::Actor;
use crate::usage::{Granularity, UsageBucket, UsageRange};

/// How far ahead "expiring soon" looks.
pub const EXPIRING_WITHIN_DAYS: i64 = 14;
/// A quota counts as nearly spent from this share on, in percent.
pub const QUOTA_ALERT_PERCENT: i64 = 80;
/// Rows in each list.
pub const LIST_LENGTH: i64 = 8;
/// How long the busiest keys of all are served before they are computed again.
pub const TOP_KEYS_FRESH_FOR: StdDuration = StdDuration::from_secs(60);

/// Keys by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    /// Usable.
    pub active: i64,
    /// Switched off.
    pub disabled: i64,
    /// Past expiry.
    pub expired: i64,
    pub revoked: i64,
}

/// A key in one of the dashboard's lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyBrief {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the key.
    pub start: String,
    pub owner_id: Uuid,
}

/// A key and its verifications over the last 24 hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyTraffic {
    /// The key.
    pub key: KeyBrief,
    /// All verifications.
    pub total: i64,
    /// Of which valid.
    pub valid: i64,
}

/// A key that expires soon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expiring {
    /// The key.
    pub key: KeyBrief,
    /// When.
    pub expires_at: DateTime<Utc>,
}

/// A key whose quota is nearly spent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotaAlert {
    /// The key.
    pub key: KeyBrief,
    /// Credits per period.
    pub limit: i64,
    /// Spent in the current period.
    pub used: i64,
}

/// Everything the dashboard shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overview {
    /// Keys by status.
    pub counts: StatusCounts,
    /// Verifications over the last 24 hours, hour by hour.
    pub hours: Vec<UsageBucket>,
    /// Verifications over the last 30 days, day by day.
    pub days: Vec<UsageBucket>,
    /// The busiest keys of the last 24 hours.
    pub top: Vec<KeyTraffic>,
    /// Live keys expiring within [`EXPIRING_WITHIN_DAYS`], soonest first.
    pub expiring: Vec<Expiring>,
    /// Keys past [`QUOTA_ALERT_PERCENT`] of their quota, fullest first.
    pub quotas: Vec<QuotaAlert>,
}

/// The busiest keys of all, as last computed.
#[derive(Debug, Default)]
struct TopKeys {
    computed: Option<(Instant, Vec<KeyTraffic>)>,
}

/// A new installation's first steps: create a keyspace, issue a verifier, create a key,
/// verify it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetupSteps {
    /// A keyspace exists.
    pub keyspace: bool,
    /// A verifier token that is not revoked exists.
    pub verifier: bool,
    /// A key exists.
    pub key: bool,
    /// A key has been verified successfully.
    pub verified: bool,
}

impl SetupSteps {
    /// Every step is done.
    pub fn done(&self) -> bool {
        self.keyspace && self.verifier && self.key && self.verified
    }
}

/// The dashboard's queries over one database, with the busiest keys of all cached.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pool: PgPool,
    top: Arc<std::sync::Mutex<TopKeys>>,
    refreshing: Arc<AtomicBool>,
    /// Every first-run step was seen done.
    set_up: Arc<AtomicBool>,
}

impl Dashboard {
    /// The dashboard over `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            top: Arc::default(),
            refreshing: Arc::default(),
            set_up: Arc::default(),
        }
    }

    /// The dashboard as `actor` may see it, at `now`.
    pub async fn overview(&self, actor: Actor, now: DateTime<Utc>) -> Result<Overview> {
        let pool = &self.pool;
        let owner = actor.only_own();
        let hours = UsageRange::new(None, None, Some(Granularity::Hour), now)?;
        let days = UsageRange::new(None, None, Some(Granularity::Day), now)?;
        let (counts, hours, days, top, expiring, quotas) = tokio::try_join!(
            store::status_counts(pool, owner, now),
            series(pool, owner, &hours),
            series(pool, owner, &days),
            self.top_keys(owner, now),
            store::expiring(
                pool,
                owner,
                now,
                now + Duration::days(EXPIRING_WITHIN_DAYS),
                LIST_LENGTH
            ),
            store::quota_alerts(pool, owner, now, QUOTA_ALERT_PERCENT, LIST_LENGTH),
        )?;
        Ok(Overview {
            counts,
            hours,
            days,
            top,
            expiring,
            quotas,
        })
    }

    async fn top_keys(&self, owner: Option<Uuid>, now: DateTime<Utc>) -> Result<Vec<KeyTraffic>> {
        let since = now - Duration::hours(24);
        if let Some(owner) = owner {
            return store::owner_top_keys(&self.pool, owner, since, LIST_LENGTH).await;
        }
        let cached = self.top.lock().ok().and_then(|t| t.computed.clone());
        match cached {
            Some((at, top)) if at.elapsed() < TOP_KEYS_FRESH_FOR => Ok(top),
            Some((_, top)) => {
                // Stale: answer with it and compute the next one in the background (once).
                self.warm_up();
                Ok(top)
            }
            None => self.compute_top(now).await,
        }
    }

    /// Computes the busiest keys of all in the background, so that the first dashboard
    /// after start does not wait for them (call once the server is up).
    pub fn warm_up(&self) {
        if !self.refreshing.swap(true, Ordering::AcqRel) {
            let this = self.clone();
            tokio::spawn(async move {
                if let Err(e) = this.compute_top(Utc::now()).await {
                    tracing::debug!(error = %e, "dashboard: busiest keys not warmed up");
                }
                this.refreshing.store(false, Ordering::Release);
            });
        }
    }

    async fn compute_top(&self, now: DateTime<Utc>) -> Result<Vec<KeyTraffic>> {
        let top = store::top_keys(&self.pool, now - Duration::hours(24), LIST_LENGTH).await?;
        if let Ok(mut cache) = self.top.lock() {
            cache.computed = Some((Instant::now(), top.clone()));
        }
        Ok(top)
    }

    /// For admins, the first steps of an installation and which are done (they set it
    /// up); `None` for everyone else.
    pub async fn setup_steps(&self, actor: Actor) -> Result<Option<SetupSteps>> {
        if !actor.role.is_admin() {
            return Ok(None);
        }
        // Once every step is done it stays done (nothing is ever deleted): no more queries.
        if self.set_up.load(Ordering::Acquire) {
            return Ok(Some(SetupSteps {
                keyspace: true,
                verifier: true,
                key: true,
                verified: true,
            }));
        }
        let steps = store::setup_steps(&self.pool).await?;
        if steps.done() {
            self.set_up.store(true, Ordering::Release);
        }
        Ok(Some(steps))
    }

    /// Which installation this is and what it runs on (admins and auditors: owners see
    /// their keys, not the installation's internals).
    pub async fn system_status(&self, actor: Actor) -> Result<crate::system::SystemStatus> {
        actor.check_reader()?;
        crate::system::status(&self.pool).await
    }

    /// Keys by status as `actor` may see them.
    pub async fn status_counts(&self, actor: Actor, now: DateTime<Utc>) -> Result<StatusCounts> {
        store::status_counts(&self.pool, actor.only_own(), now).await
    }
}

async fn series(
    pool: &PgPool,
    owner: Option<Uuid>,
    range: &UsageRange,
) -> Result<Vec<UsageBucket>> {
    match owner {
        None => store::total_series(pool, range).await,
        Some(owner) => store::owner_series(pool, owner, range).await,
    }
}
