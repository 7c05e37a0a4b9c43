//! Retention: what keeps the database as large as the history an operator wants, and no
//! larger. Once an hour one instance (an advisory lock; the others skip that hour):
//!
//! - folds hourly usage older than the hourly horizon into one row per key, verifier,
//!   owner and day, at the day's midnight, one day per transaction, recording how far it
//!   got so a run starts where the last one stopped. Every chart by day, every total over
//!   a range, reads the same sums as before; an hourly chart of a folded day shows the
//!   day's sum in its first hour;
//! - deletes usage older than the daily horizon;
//! - deletes finished webhook deliveries (with their attempts) and notifications older
//!   than the history horizon, and events older than it that nothing still needs (every
//!   consumer has read past them, no pending delivery or email carries them);
//! - when the operator asked for it, deletes keys revoked, expired or past their
//!   rotation's grace for longer than a horizon, a thousand at a time, each batch with a
//!   `key.purge` audit row naming the keys. Their audit rows stay.
//!
//! Sessions, tokens and sign-in counters are purged by `SessionService::purge`; the
//! audit trail is kept until an operator archives a segment of it (`audit::archive`).

mod store;

use std::time::Duration;

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use serde_json::json;
use sqlx::PgPool;

use crate::audit::{self, Action, NewEntry, Origin};
use crate::error::Result;

/// How often an instance runs retention.
pub const RUN_EVERY: Duration = Duration::from_secs(3600);

/// Keys deleted per transaction.
const KEY_BATCH: i64 = 1000;

/// How long each kind of row is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Hourly usage; older hours are folded into daily sums (default 92 days, the
    /// longest hourly range the API charts).
    pub hourly_usage: Duration,
    /// Daily sums (default 730 days, the longest daily range the API charts).
    pub daily_usage: Duration,
    /// Finished webhook deliveries, sent notifications and consumed events (default 90
    /// days; also how far back `/replay` can reach).
    pub history: Duration,
    /// Keys revoked, expired or past their grace for this long are deleted; `None`
    /// (the default) keeps them.
    pub dead_keys: Option<Duration>,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            hourly_usage: Duration::from_secs(92 * 86_400),
            daily_usage: Duration::from_secs(730 * 86_400),
            history: Duration::from_secs(90 * 86_400),
            dead_keys: None,
        }
    }
}

/// How long the networks keys were used from are kept, hour by hour: longer than any
/// baseline of unusual-use detection (at most 30 days).
pub const NETWORK_HISTORY_DAYS: u64 = 31;

/// What one run removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Days of hourly usage folded into daily sums.
    pub folded_days: u64,
    /// Hourly key usage rows folded away.
    pub folded_rows: u64,
    /// Key usage rows past the daily horizon.
    pub usage_rows: u64,
    /// Hourly network rows of keys past [`NETWORK_HISTORY_DAYS`] (or the hourly horizon).
    pub network_rows: u64,
    /// Finished webhook deliveries.
    pub deliveries: u64,
    /// Sent or failed notifications.
    pub notifications: u64,
    /// Consumed events.
    pub events: u64,
    /// Dead keys.
    pub keys: u64,
}

/// Applies a [`RetentionPolicy`] to the database behind a pool. Clones share the policy,
/// which can be replaced while running.
#[derive(Debug, Clone)]
pub struct Retention {
    pool: PgPool,
    policy: std::sync::Arc<std::sync::RwLock<RetentionPolicy>>,
}

impl Retention {
    /// Retention of the database behind `pool`.
    pub fn new(pool: PgPool, policy: RetentionPolicy) -> Self {
        Self {
            pool,
            policy: std::sync::Arc::new(std::sync::RwLock::new(policy)),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> RetentionPolicy {
        *self
            .policy
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces the policy from the next run on.
    pub fn set_policy(&self, policy: RetentionPolicy) {
        *self
            .policy
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = policy;
    }

    /// Runs once as of `now`; `None` when another instance is running.
    #[tracing::instrument(name = "retention.run", skip_all, fields(db.system = "postgresql"))]
    pub async fn run(&self, now: DateTime<Utc>) -> Result<Option<RetentionReport>> {
        let policy = self.policy();
        let mut report = RetentionReport::default();
        let horizon = day_of(before(now, policy.hourly_usage));
        loop {
            let mut tx = self.pool.begin().await?;
            if !store::try_lock(&mut tx).await? {
                return Ok(None);
            }
            let day = store::next_day_to_fold(&mut tx).await?;
            let Some(day) = day.filter(|day| *day < horizon) else {
                // Ended now, not when the pool next uses the connection: the lock goes
                // with it, and the next transaction may be on another connection.
                tx.rollback().await?;
                break;
            };
            report.folded_rows += store::fold_day(&mut tx, day).await?;
            report.folded_days += 1;
            tx.commit().await?;
        }

        let mut tx = self.pool.begin().await?;
        if !store::try_lock(&mut tx).await? {
            return Ok(None);
        }
        let usage_horizon = day_of(before(now, policy.daily_usage));
        report.usage_rows = store::delete_usage_before(&mut tx, usage_horizon).await?;
        let networks_horizon = before(
            now,
            policy
                .hourly_usage
                .min(Duration::from_secs(NETWORK_HISTORY_DAYS * 86_400)),
        );
        report.network_rows = store::delete_networks_before(&mut tx, networks_horizon).await?;
        let history_horizon = before(now, policy.history);
        (report.deliveries, report.notifications) =
            store::delete_history_before(&mut tx, history_horizon).await?;
        report.events = store::delete_events_before(&mut tx, history_horizon).await?;
        tx.commit().await?;

        if let Some(after) = policy.dead_keys {
            let dead_before = before(now, after);
            loop {
                let mut tx = self.pool.begin().await?;
                if !store::try_lock(&mut tx).await? {
                    return Ok(None);
                }
                let keys = store::dead_keys(&mut tx, dead_before, KEY_BATCH).await?;
                if keys.is_empty() {
                    tx.rollback().await?;
                    break;
                }
                let deleted = store::delete_keys(&mut tx, &keys).await?;
                audit::append(
                    &mut tx,
                    NewEntry::new(None, Action::KeyPurge, None, &Origin::default()).after(json!({
                        "count": deleted,
                        "keys": keys,
                        "dead_before": dead_before,
                    })),
                )
                .await?;
                tx.commit().await?;
                report.keys += deleted;
            }
        }
        Ok(Some(report))
    }

    /// Runs every hour until `stop` fires.
    pub async fn run_periodically(self, mut stop: tokio::sync::oneshot::Receiver<()>) {
        let mut every = tokio::time::interval(RUN_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = &mut stop => return,
            }
            match self.run(Utc::now()).await {
                Ok(Some(report)) => {
                    metrics::gauge!("retention_last_success_timestamp_seconds")
                        .set(Utc::now().timestamp() as f64);
                    for (what, n) in [
                        ("usage_hours", report.folded_rows),
                        ("usage_days", report.usage_rows),
                        ("webhook_deliveries", report.deliveries),
                        ("notifications", report.notifications),
                        ("events", report.events),
                        ("networks", report.network_rows),
                        ("keys", report.keys),
                    ] {
                        metrics::counter!("retention_rows_removed_total", "what" => what)
                            .increment(n);
                    }
                    tracing::info!(?report, "retention applied");
                }
                Ok(None) => tracing::debug!("retention is running on another instance"),
                Err(err) => {
                    metrics::counter!("retention_failures_total").increment(1);
                    tracing::warn!(error = %err, "retention failed; trying again in an hour");
                }
            }
        }
    }
}

/// `d` before `now`, or the beginning of time for a horizon longer than history.
fn before(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The UTC midnight starting `at`'s day.
fn day_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::days(1)).unwrap_or(at)
}

#[cfg(test)]
mod tests;
