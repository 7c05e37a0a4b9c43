//! `QuotaLedger`: exact quotas without a database write per verification.
//!
//! Each instance leases blocks of credit from a key's quota (one atomic call to
//! `locksmith_lease_quota`, which locks the paying key's row) and spends them in memory.
//! The database has handed out at most the limit, so the keys together never spend more
//! than the quota, however many instances verify them and however concurrently.
//!
//! The block size adapts: it covers about [`LEASE_HORIZON`] of the key's recent traffic
//! on this instance, at most [`MAX_LEASE`] and at most an eighth of the credit left, so
//! a busy key costs one write per many verifications while a nearly spent quota is
//! shared fairly (below eight times the cost, each verification leases exactly its cost).
//! A busy key's lease is topped up before it runs out: the verification that finds it
//! below a quarter of its last grant leases more, while the others keep spending what
//! is left, so that no verification waits for the database. Credit a lease did not use
//! goes back when the lease is [`LEASE_TTL`] old, when the key changes, or when the
//! instance stops; while it is out, other instances may answer
//! `QUOTA_EXCEEDED` although a little credit is left (never the other way round). A
//! spent quota is remembered for [`EXHAUSTED_FOR`], so retries of an exhausted key do
//! not reach the database. A crash, or a failed give-back, loses the credit in question:
//! counted as spent, never overspent.
//!
//! Keys rotated with a grace period charge the newest key of their rotation chain (the
//! database follows `rotated_to`), so the old and the new key share one quota.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::keyed::KeyedState;
use crate::error::Result;
use crate::keys::model::QuotaPeriod;
use crate::keys::store::{self, QuotaGrant};

/// A lease aims to last this long at the key's recent rate.
pub const LEASE_HORIZON: Duration = Duration::from_secs(2);
/// Unused credit goes back after this long.
pub const LEASE_TTL: Duration = Duration::from_secs(5);
/// The largest block one lease takes.
pub const MAX_LEASE: i64 = 10_000;
/// A lease takes at most this share of the credit left (1/8).
const FAIR_SHARE: i64 = 8;
/// A lease is topped up once it holds less than this share of its last grant (1/4)...
const TOP_UP_BELOW: i64 = 4;
/// ...if that grant was at least this large (smaller ones are the scarce credit that
/// verifications lease one by one).
const TOP_UP_FROM: i64 = 16;

/// The quota of a key after a verification spent from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaAfter {
    /// Credits per period.
    pub limit: i64,
    /// Left in this period: left in the database plus this instance's unspent lease.
    pub remaining: i64,
    /// When the period ends; `None` for a total quota.
    pub resets_at: Option<DateTime<Utc>>,
}

/// What spending from held credit came to ([`QuotaLedger::try_spend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// What spending came to.
    pub spend: Spend,
    /// The lease ran low and this caller (no other) should
    /// [`top it up`](QuotaLedger::top_up).
    pub top_up: bool,
}

/// What spending came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    /// Spent; the quota afterwards.
    Spent(QuotaAfter),
    /// Not enough credit left.
    Exceeded,
    /// The paying key has no quota (a successor's quota was removed).
    Unlimited,
}

/// Credit leased to this instance for one key.
#[derive(Debug, Default)]
struct Lease {
    /// The key that pays (the key itself, or its successor).
    account: Uuid,
    /// The period the credit belongs to.
    period_start: Option<DateTime<Utc>>,
    period: Option<QuotaPeriod>,
    limit: i64,
    /// Credit left in the database after the last lease.
    db_remaining: i64,
    /// Leased and not yet spent.
    balance: i64,
    /// Spent out of the current lease, and when it was taken: the key's recent rate.
    spent: i64,
    taken: Option<Instant>,
    /// The key's `generation` when the lease was taken: a changed key (a new limit or
    /// period) gives its credit back and leases afresh under the new terms.
    generation: i64,
    /// The quota was found too short: until then, costs above what was left are refused
    /// without asking the database again.
    exhausted_until: Option<Instant>,
    /// The credits of the last grant: the lease is topped up when it runs low.
    last_grant: i64,
    /// A verification is topping the lease up.
    topping_up: bool,
}

impl Lease {
    fn current(&self, now: DateTime<Utc>) -> bool {
        match (self.period, self.period_start) {
            (Some(period), Some(start)) => period.start(now) == start,
            _ => false,
        }
    }

    fn after(&self, now: DateTime<Utc>) -> QuotaAfter {
        QuotaAfter {
            limit: self.limit,
            remaining: (self.db_remaining + self.balance).max(0),
            resets_at: self.period.and_then(|p| p.resets_at(now)),
        }
    }

    /// Spends `cost` from the credit held, if the lease holds enough.
    fn spend_held(&mut self, cost: i64, now: DateTime<Utc>) -> Option<QuotaAfter> {
        if self.taken.is_none() || self.balance < cost {
            return None;
        }
        self.balance -= cost;
        self.spent += cost;
        Some(self.after(now))
    }

    /// Found too short a moment ago for a cost this large: no need to ask again.
    fn refused_from_memory(&self, cost: i64) -> bool {
        self.exhausted_until
            .is_some_and(|until| Instant::now() < until)
            && cost > self.balance + self.db_remaining
    }

    /// How much to ask for when `need` more credit is wanted.
    fn want(&self, need: i64) -> i64 {
        let rate_based = match self.taken {
            Some(taken) if self.spent > 0 => {
                let elapsed = taken.elapsed().as_secs_f64().max(0.001);
                (self.spent as f64 / elapsed * LEASE_HORIZON.as_secs_f64()) as i64
            }
            _ => 0,
        };
        let fair = self.db_remaining / FAIR_SHARE;
        rate_based.min(MAX_LEASE).min(fair).max(need)
    }
}

/// How long a spent quota is answered from memory before the database is asked again
/// (credit given back by another instance, or a raised limit, shows after this long).
pub const EXHAUSTED_FOR: Duration = Duration::from_secs(1);

/// Credit returned to the database: (paying key, period start, credits).
type Return = (Uuid, DateTime<Utc>, i64);

/// The leases of one instance.
#[derive(Clone)]
pub struct QuotaLedger {
    pool: PgPool,
    leases: Arc<KeyedState<tokio::sync::Mutex<Lease>>>,
    /// Database writes made: leases taken and batches of credit given back.
    writes: Arc<AtomicU64>,
}

impl std::fmt::Debug for QuotaLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuotaLedger")
            .field("leases", &self.leases.len())
            .finish()
    }
}

impl QuotaLedger {
    /// A ledger leasing from `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            // Never evicted: a lease is emptied only by `sweep` or `return_all`, which
            // give its credit back first.
            leases: Arc::default(),
            writes: Arc::default(),
        }
    }

    /// Spends `cost` credits from what this instance already holds for `key`, without
    /// waiting and without the database: the common case of a busy key. `None` when
    /// that cannot be decided at once (no lease yet, too little credit, a new period or
    /// generation, or another verification busy with the lease); then [`Self::spend`]
    /// decides, the same way.
    pub fn try_spend(
        &self,
        key: Uuid,
        generation: i64,
        cost: i64,
        now: DateTime<Utc>,
    ) -> Option<Held> {
        let entry = self.leases.get(key)?;
        let mut lease = entry.try_lock().ok()?;
        if lease.generation != generation || !lease.current(now) {
            return None;
        }
        if let Some(after) = lease.spend_held(cost, now) {
            let top_up = !lease.topping_up
                && lease.last_grant >= TOP_UP_FROM
                && lease.balance < lease.last_grant / TOP_UP_BELOW;
            lease.topping_up |= top_up;
            return Some(Held {
                spend: Spend::Spent(after),
                top_up,
            });
        }
        lease.refused_from_memory(cost).then_some(Held {
            spend: Spend::Exceeded,
            top_up: false,
        })
    }

    /// Leases more credit for `key` (at `generation`) while what it holds still lasts;
    /// for the caller [`Held::top_up`] named. The lease is not locked while the
    /// database answers, so other verifications keep spending meanwhile. Credit granted
    /// for a lease that changed in the meantime (a new period or generation, a rotation,
    /// a sweep) is given back at once.
    pub async fn top_up(&self, key: Uuid, generation: i64, now: DateTime<Utc>) -> Result<()> {
        let Some(entry) = self.leases.get(key) else {
            return Ok(());
        };
        let want = {
            let mut lease = entry.lock().await;
            if lease.generation != generation || !lease.current(now) {
                lease.topping_up = false;
                return Ok(());
            }
            lease.want(1)
        };
        self.writes.fetch_add(1, Ordering::Relaxed);
        let granted = store::lease_quota(&self.pool, key, want, 1, now).await;
        let mut lease = entry.lock().await;
        lease.topping_up = false;
        let Some(granted) = granted? else {
            // No quota any more: the next verification that runs short finds out.
            return Ok(());
        };
        metrics::counter!("verify_quota_leases_total").increment(1);
        let same_lease = lease.generation == generation
            && lease.taken.is_some()
            && lease.account == granted.account
            && lease.period_start == Some(granted.period_start);
        if same_lease {
            lease.balance += granted.granted;
            lease.limit = granted.limit;
            lease.db_remaining = granted.limit - granted.used;
            lease.last_grant = granted.granted;
            lease.spent = 0;
            lease.taken = Some(Instant::now());
            return Ok(());
        }
        drop(lease);
        if granted.granted > 0 {
            self.writes.fetch_add(1, Ordering::Relaxed);
            store::return_quota(
                &self.pool,
                &[(granted.account, granted.period_start, granted.granted)],
            )
            .await?;
        }
        Ok(())
    }

    /// Spends `cost` credits of the quota of `key` (at `generation`) at `now`, leasing
    /// more when this instance has too little.
    pub async fn spend(
        &self,
        key: Uuid,
        generation: i64,
        cost: i64,
        now: DateTime<Utc>,
    ) -> Result<Spend> {
        let entry = self.leases.get_or_insert_with(key, Default::default);
        let mut lease = entry.lock().await;
        if !lease.current(now) {
            // A new period: the old credit is void (the database resets it too).
            *lease = Lease::default();
        }
        if lease.generation != generation {
            // The key changed (perhaps its quota): settle, then lease under the new terms.
            self.give_back(&mut lease).await?;
            *lease = Lease {
                generation,
                ..Lease::default()
            };
        }
        if let Some(after) = lease.spend_held(cost, now) {
            return Ok(Spend::Spent(after));
        }
        if lease.refused_from_memory(cost) {
            return Ok(Spend::Exceeded);
        }
        let need = cost - lease.balance;
        let want = if lease.taken.is_some() {
            lease.want(need)
        } else {
            need
        };
        self.writes.fetch_add(1, Ordering::Relaxed);
        let Some(granted) = store::lease_quota(&self.pool, key, want, need, now).await? else {
            self.give_back(&mut lease).await?;
            return Ok(Spend::Unlimited);
        };
        metrics::counter!("verify_quota_leases_total").increment(1);
        if lease.account != granted.account && lease.balance > 0 {
            // The key was rotated meanwhile: what it held goes back to its old payer.
            self.give_back(&mut lease).await?;
        }
        self.adopt(&mut lease, &granted);
        lease.balance += granted.granted;
        lease.last_grant = granted.granted;
        // A top-up given up on (its database call timed out) left its mark: a lease
        // just taken may be topped up again.
        lease.topping_up = false;
        if lease.balance < cost || granted.used > granted.limit {
            // Whatever was granted stays leased (and goes back with the lease).
            lease.exhausted_until = Some(Instant::now() + EXHAUSTED_FOR);
            return Ok(Spend::Exceeded);
        }
        lease.exhausted_until = None;
        lease.balance -= cost;
        lease.spent = cost;
        lease.taken = Some(Instant::now());
        Ok(Spend::Spent(lease.after(now)))
    }

    fn adopt(&self, lease: &mut Lease, granted: &QuotaGrant) {
        lease.account = granted.account;
        lease.period = Some(granted.period);
        lease.period_start = Some(granted.period_start);
        lease.limit = granted.limit;
        lease.db_remaining = granted.limit - granted.used;
    }

    /// Gives back what `lease` holds. The balance is cleared before the write, so credit
    /// is never given back twice: if the write fails (or its outcome is unknown) the
    /// credit stays counted as spent, which can only under-spend the quota.
    async fn give_back(&self, lease: &mut Lease) -> Result<()> {
        let credit = std::mem::take(&mut lease.balance);
        if let (Some(start), true) = (lease.period_start, credit > 0) {
            lease.db_remaining += credit;
            self.writes.fetch_add(1, Ordering::Relaxed);
            store::return_quota(&self.pool, &[(lease.account, start, credit)]).await?;
        }
        Ok(())
    }

    /// Gives back the credit of leases taken longer than [`LEASE_TTL`] ago (all leases
    /// when `all`), in one write. Leases busy with a spend are left for the next sweep.
    /// The leases are emptied before the write: on a failed write their credit stays
    /// counted as spent (never given back twice).
    async fn collect(&self, all: bool) -> Result<usize> {
        let now = Utc::now();
        let mut held = Vec::new();
        let mut returns: Vec<Return> = Vec::new();
        for entry in self.leases.entries() {
            let Ok(lease) = entry.try_lock_owned() else {
                continue;
            };
            let old = lease.taken.is_none_or(|t| t.elapsed() >= LEASE_TTL);
            if !(all || old) {
                continue;
            }
            if let (Some(start), true) = (lease.period_start, lease.current(now))
                && lease.balance > 0
            {
                returns.push((lease.account, start, lease.balance));
            }
            held.push(lease);
        }
        for mut lease in held {
            // Emptied: the next verification leases afresh. The entry stays, so that a
            // verification already waiting for it shares it rather than making a second.
            *lease = Lease::default();
        }
        if !returns.is_empty() {
            self.writes.fetch_add(1, Ordering::Relaxed);
            store::return_quota(&self.pool, &returns).await?;
            metrics::counter!("verify_quota_returns_total").increment(returns.len() as u64);
        }
        Ok(returns.len())
    }

    /// Gives back the unused credit of leases older than [`LEASE_TTL`].
    pub async fn sweep(&self) -> Result<usize> {
        self.collect(false).await
    }

    /// Gives back every lease's unused credit (the instance is stopping).
    pub async fn return_all(&self) -> Result<usize> {
        self.collect(true).await
    }

    /// Database writes this ledger has made (leases and returns).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Credit this instance holds, by paying key (for tests and diagnostics).
    pub fn outstanding(&self) -> HashMap<Uuid, i64> {
        let mut out = HashMap::new();
        for entry in self.leases.entries() {
            if let Ok(lease) = entry.try_lock() {
                *out.entry(lease.account).or_default() += lease.balance;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_sizes_follow_the_rate_and_the_credit_left() {
        let mut lease = Lease {
            db_remaining: 1_000_000,
            spent: 1000,
            taken: Some(Instant::now() - Duration::from_secs(1)),
            ..Lease::default()
        };
        // About 1000 a second for two seconds.
        let want = lease.want(1);
        assert!((1500..=2100).contains(&want), "{want}");
        // Never more than an eighth of what is left...
        lease.db_remaining = 800;
        assert_eq!(lease.want(1), 100);
        // ...and only the cost itself when little is left.
        lease.db_remaining = 7;
        assert_eq!(lease.want(3), 3);
        // A fast key is capped.
        lease.db_remaining = i64::MAX;
        lease.spent = 1_000_000_000;
        assert_eq!(lease.want(1), MAX_LEASE);
    }

    /// A ledger holding `balance` credits of a daily quota for `key` at generation 1
    /// (the pool is never used: `try_spend` does no I/O).
    fn ledger_holding(key: Uuid, balance: i64, now: DateTime<Utc>) -> QuotaLedger {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .expect("lazy pool");
        let ledger = QuotaLedger::new(pool);
        let lease = ledger.leases.get_or_insert_with(key, Default::default);
        let mut lease = lease.try_lock().expect("unlocked");
        *lease = Lease {
            account: key,
            period: Some(QuotaPeriod::Day),
            period_start: Some(QuotaPeriod::Day.start(now)),
            limit: 100,
            db_remaining: 50,
            balance,
            taken: Some(Instant::now()),
            generation: 1,
            ..Lease::default()
        };
        drop(lease);
        ledger
    }

    fn noon() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
    }

    #[tokio::test]
    async fn held_credit_is_spent_at_once_and_anything_else_is_left_to_spend() {
        let (now, key) = (noon(), Uuid::new_v4());
        let ledger = ledger_holding(key, 3, now);
        let spent = ledger.try_spend(key, 1, 2, now).map(|held| held.spend);
        let Some(Spend::Spent(after)) = spent else {
            panic!("spent from the lease: {spent:?}");
        };
        assert_eq!((after.limit, after.remaining), (100, 51));
        assert_eq!(ledger.outstanding()[&key], 1);
        // Not enough held, another generation, another period, an unknown key: the
        // database decides (through `spend`), and nothing is taken here.
        assert_eq!(ledger.try_spend(key, 1, 2, now), None);
        assert_eq!(ledger.try_spend(key, 2, 1, now), None);
        assert_eq!(
            ledger.try_spend(key, 1, 1, now + chrono::TimeDelta::days(1)),
            None
        );
        assert_eq!(ledger.try_spend(Uuid::new_v4(), 1, 1, now), None);
        // A lease busy with a spend (perhaps leasing) is not waited for.
        let entry = ledger.leases.get(key).expect("lease");
        let busy = entry.try_lock().expect("unlocked");
        assert_eq!(ledger.try_spend(key, 1, 1, now), None);
        drop(busy);
        assert_eq!(ledger.outstanding()[&key], 1, "nothing spent meanwhile");
        // A quota found too short a moment ago is refused from memory.
        entry.try_lock().expect("unlocked").exhausted_until = Some(Instant::now() + EXHAUSTED_FOR);
        let exceeded = ledger.try_spend(key, 1, 52, now);
        assert_eq!(exceeded.map(|held| held.spend), Some(Spend::Exceeded));
        assert!(matches!(
            ledger.try_spend(key, 1, 1, now),
            Some(Held {
                spend: Spend::Spent(_),
                top_up: false
            })
        ));
    }

    #[tokio::test]
    async fn one_verification_is_asked_to_top_up_a_lease_running_low() {
        let (now, key) = (noon(), Uuid::new_v4());
        let ledger = ledger_holding(key, 30, now);
        let entry = ledger.leases.get(key).expect("lease");
        entry.try_lock().expect("unlocked").last_grant = 100;
        let top_ups: Vec<bool> = (0..10)
            .filter_map(|_| ledger.try_spend(key, 1, 1, now))
            .map(|held| held.top_up)
            .collect();
        // 30 held of a grant of 100: below a quarter once 24 are left, asked once.
        assert_eq!(
            top_ups,
            [
                false, false, false, false, false, true, false, false, false, false
            ]
        );
        // A small last grant is scarce credit shared one by one: no top-up.
        let ledger = ledger_holding(key, 3, now);
        ledger
            .leases
            .get(key)
            .expect("lease")
            .try_lock()
            .expect("unlocked")
            .last_grant = 8;
        assert!(!ledger.try_spend(key, 1, 1, now).expect("held").top_up);
    }

    #[test]
    fn a_lease_belongs_to_its_period() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T23:59:59Z")
            .expect("time")
            .with_timezone(&Utc);
        let lease = Lease {
            period: Some(QuotaPeriod::Day),
            period_start: Some(QuotaPeriod::Day.start(now)),
            ..Lease::default()
        };
        assert!(lease.current(now));
        assert!(!lease.current(now + chrono::TimeDelta::seconds(1)));
        assert!(!Lease::default().current(now), "no lease yet");
    }
}
