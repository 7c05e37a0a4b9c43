//! `VerifyService`: authenticates verifiers and verifies keys around the pure
//! [`decide`](super::decide).
//!
//! Keys and verifiers come from the instance's [`VerifyCache`] (invalidated by the
//! database's announcements), so a plain valid key is answered without a database round
//! trip. Quota is spent from credit leased in blocks ([`QuotaLedger`]); usage is
//! counted in memory ([`UsageBuffer`]) and written by [`VerifyService::flush`] at most
//! once a second. Malformed keys and keys with another keyspace's prefix are refused
//! without any I/O, and a verifier sending a flood of unknown keys is throttled
//! ([`UnknownKeyThrottle`]).
//!
//! Degraded mode: when the database cannot be reached, keys and verifiers in the cache
//! keep verifying for the configured time ([`VerifyCache::usable_while_degraded`]);
//! anything else is [`Error::Unavailable`] (503), never `VALID`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;

use super::cache::{CachedKey, Lookup, Stale, VerifyCache};
use super::changes::ChangeFeed;
use super::decision::{Code, LimitState, QuotaOutcome, Request, decide};
use super::quota::{QuotaLedger, Spend};
use super::rate::{RateCheck, RateLimits};
use super::throttle::{self, UnknownKeyThrottle};
use crate::error::{Error, Result};
use crate::keys::digest::KeyHasher;
use crate::keys::format;
use crate::keys::keyspace_store::{self, VerifierAuth};
use crate::keys::model::RateLimit;
use crate::keys::store;
use crate::limits::Rate;
use crate::scope::Scope;
use crate::usage::{self, LoggedVerification, UsageBuffer};

pub use super::quota::QuotaAfter;

/// Most credits one verification may spend.
pub const MAX_COST: u32 = 1000;

/// How verification behaves; the server reads it from its settings.
#[derive(Debug, Clone)]
pub struct VerifyConfig {
    /// How long cached keys and verifiers keep answering while the database is
    /// unreachable (zero: not at all).
    pub degraded_for: Duration,
    /// How many unknown keys a verifier may send before it is throttled.
    pub unknown_keys: Rate,
    /// The rate limiter: this instance's own, or one shared through Redis.
    pub rates: RateLimits,
    /// How many of each key's latest verifications its log keeps (0: no log).
    pub log_per_key: usize,
}

/// Verifications kept per key for its log when no setting says otherwise.
pub const DEFAULT_LOG_PER_KEY: usize = 100;

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            degraded_for: Duration::from_secs(30),
            unknown_keys: throttle::DEFAULT_BUDGET,
            rates: RateLimits::default(),
            log_per_key: DEFAULT_LOG_PER_KEY,
        }
    }
}

/// A verification as the calling service asked it.
#[derive(Debug, Clone)]
pub struct VerifyInput {
    /// The key as presented.
    pub key: String,
    /// Scopes the key must grant.
    pub scopes: Vec<Scope>,
    /// Credits a `VALID` answer spends (0 to [`MAX_COST`]).
    pub cost: u32,
    /// The end user's address.
    pub client_ip: Option<IpAddr>,
}

impl VerifyInput {
    /// Refuses what no verification may ask: a cost over [`MAX_COST`].
    pub fn check(&self) -> Result<()> {
        if self.cost > MAX_COST {
            return Err(Error::invalid(
                "cost",
                format!("must be between 0 and {MAX_COST}"),
            ));
        }
        Ok(())
    }
}

/// Verifications of one key that a service's client answered itself (from its cache, or
/// failing open) and reports afterwards, so that the key's usage counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportedUse {
    /// The key.
    pub key_id: uuid::Uuid,
    /// How many `VALID` answers (1 to [`MAX_REPORTED_COUNT`]).
    pub count: u32,
    /// When the last of them was given.
    pub last_at: chrono::DateTime<Utc>,
}

/// The most verifications one report item may count.
pub const MAX_REPORTED_COUNT: u32 = 10_000_000;

/// Reports older than this are ignored: usage that old is history already written.
pub const REPORT_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// The outcome, with the key and its limits for a `VALID` answer.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The code.
    pub code: Code,
    /// The key, for `VALID` only.
    pub key: Option<Arc<CachedKey>>,
    /// The quota after spending, for `VALID` keys that have one.
    pub quota: Option<QuotaAfter>,
    /// The rate limit state, for `VALID` keys that have one.
    pub rate: Option<(RateLimit, RateCheck)>,
    /// For `RATE_LIMITED`, and `QUOTA_EXCEEDED` of a quota by period: when the key may
    /// be answered `VALID` again (for a proxy's `retry-after`). Says nothing else about
    /// the key.
    pub retry_at: Option<chrono::DateTime<Utc>>,
}

impl Verdict {
    fn refused(code: Code) -> Self {
        Self {
            code,
            key: None,
            quota: None,
            rate: None,
            retry_at: None,
        }
    }
}

/// A degraded-mode refusal (503), counted.
fn unavailable(detail: String) -> Error {
    metrics::counter!("verify_degraded_total", "result" => "unavailable").increment(1);
    Error::Unavailable(detail)
}

/// Verification over the database, the key hasher and this instance's caches, rate
/// windows, quota leases and usage counts. One reference count to clone: axum clones
/// the state for every request.
#[derive(Debug, Clone)]
pub struct VerifyService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    hasher: KeyHasher,
    rates: RateLimits,
    cache: Arc<VerifyCache>,
    changes: Arc<ChangeFeed>,
    quotas: QuotaLedger,
    usage: UsageBuffer,
    throttle: UnknownKeyThrottle,
    breaker: Breaker,
    /// One flush at a time (the periodic one, a test's, the last one at shutdown).
    flushing: tokio::sync::Mutex<()>,
}

/// The longest a database call may hold up a verification before it counts as failed.
pub const DB_TIMEOUT: Duration = Duration::from_secs(1);
/// After a failed database call, verification answers without the database (degraded)
/// for this long before it tries again.
pub const BREAKER_OPEN_FOR: Duration = Duration::from_secs(2);

/// A circuit breaker on the hot path's database calls: while the database is known to
/// be away, degraded answers come at once instead of after a timeout each.
#[derive(Debug, Default)]
struct Breaker {
    open_until: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Breaker {
    fn is_open(&self) -> bool {
        self.lock()
            .is_some_and(|until| std::time::Instant::now() < until)
    }

    fn trip(&self) {
        *self.lock() = Some(std::time::Instant::now() + BREAKER_OPEN_FOR);
        metrics::counter!("verify_breaker_trips_total").increment(1);
    }

    fn close(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<std::time::Instant>> {
        self.open_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl VerifyService {
    /// A service over `pool`, hashing with `hasher` (the same pepper as key creation).
    pub fn new(pool: PgPool, hasher: KeyHasher, config: VerifyConfig) -> Self {
        let inner = Inner {
            quotas: QuotaLedger::new(pool.clone()),
            pool,
            hasher,
            rates: config.rates,
            cache: Arc::new(VerifyCache::new(config.degraded_for)),
            changes: Arc::default(),
            usage: UsageBuffer::new(config.log_per_key),
            throttle: UnknownKeyThrottle::new(config.unknown_keys),
            breaker: Breaker::default(),
            flushing: tokio::sync::Mutex::default(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Runs a hot-path database call: refused at once while the breaker is open, failed
    /// after [`DB_TIMEOUT`], and a failure opens the breaker.
    async fn guarded<T>(&self, call: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        if self.inner.breaker.is_open() {
            return Err(Error::Database(sqlx::Error::PoolTimedOut));
        }
        let result = match tokio::time::timeout(DB_TIMEOUT, call).await {
            Ok(result) => result,
            Err(_) => Err(Error::Database(sqlx::Error::PoolTimedOut)),
        };
        if matches!(result, Err(Error::Database(_))) {
            self.inner.breaker.trip();
        }
        result
    }

    /// How many of each key's latest verifications its log keeps.
    pub fn log_per_key(&self) -> usize {
        self.inner.usage.keep()
    }

    /// Keeps this instance's caches in step with every change, on any instance, for as
    /// long as the future runs (spawn it; abort it at shut-down). See
    /// [`super::listener`].
    pub async fn listen_for_invalidations(&self) {
        super::listener::listen(
            self.inner.pool.clone(),
            Arc::clone(&self.inner.cache),
            Arc::clone(&self.inner.changes),
        )
        .await;
    }

    /// The changes this instance's caches apply, for services that cache answers
    /// themselves (see [`super::changes`]).
    pub fn changes(&self) -> &ChangeFeed {
        &self.inner.changes
    }

    /// Waits until this instance's caches have applied every change committed before
    /// the call (at most [`barrier::WAIT`](super::barrier::WAIT)): a response to a change
    /// awaits this, so the caller's next verification on this instance sees the change.
    pub async fn settle(&self) -> bool {
        self.inner.cache.barrier().settle(&self.inner.pool).await
    }

    /// The quota leases of this instance.
    pub fn quotas(&self) -> &QuotaLedger {
        &self.inner.quotas
    }

    /// The verifier presenting `token`, if it is well formed, known and not revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Arc<VerifierAuth>>> {
        if format::parse(token).is_none_or(|t| t.prefix != format::VERIFIER_PREFIX) {
            return Ok(None);
        }
        let digest = self.inner.hasher.digest(token);
        let stale = match self.inner.cache.verifier(&digest) {
            Lookup::Hit(verifier) => return Ok(Some(verifier)),
            Lookup::Unknown => return Ok(None),
            Lookup::Miss => None,
            Lookup::Stale(stale) => Some(stale),
        };
        let epoch = self.inner.cache.epoch();
        match self
            .guarded(keyspace_store::verifier_by_digest(
                &self.inner.pool,
                &digest,
            ))
            .await
        {
            Ok(found) => {
                let found = found.map(Arc::new);
                self.inner.cache.fill_verifier(digest, found.clone(), epoch);
                Ok(found)
            }
            Err(Error::Database(err)) => self.degraded(stale, &err, "the verifier token").map(Some),
            Err(err) => Err(err),
        }
    }

    /// Answers from a stale cache entry while the database is unreachable, if it may.
    fn degraded<T>(&self, stale: Option<Stale<T>>, err: &sqlx::Error, what: &str) -> Result<T> {
        tracing::debug!(error = %err, "verification could not read the database");
        match stale.filter(|s| self.inner.cache.usable_while_degraded(s)) {
            Some(Stale {
                value: Some(value), ..
            }) => {
                metrics::counter!("verify_degraded_total", "result" => "served").increment(1);
                Ok(value)
            }
            _ => Err(unavailable(format!(
                "The database is unreachable and {what} is not known to this instance; \
                 try again shortly."
            ))),
        }
    }

    /// The key with `digest`: from the cache, or read and cached. A verifier over its
    /// budget of unknown keys gets only what the cache already knows.
    async fn key(
        &self,
        digest: [u8; 32],
        verifier: &VerifierAuth,
    ) -> Result<Option<Arc<CachedKey>>> {
        let lookup = self.inner.cache.key(&digest);
        // Only lookups that could end in NOT_FOUND wait: a key known to exist (even if
        // it must be read again) is never held up by its verifier's guessing budget.
        let known = matches!(
            lookup,
            Lookup::Hit(_) | Lookup::Stale(Stale { value: Some(_), .. })
        );
        if !known && let Some(wait) = self.inner.throttle.throttled(verifier.id) {
            return Err(Error::Throttled(wait));
        }
        let stale = match lookup {
            Lookup::Hit(key) => return Ok(Some(key)),
            Lookup::Unknown => return Ok(None),
            Lookup::Miss => None,
            Lookup::Stale(stale) => Some(stale),
        };
        let epoch = self.inner.cache.epoch();
        match self
            .guarded(store::find_by_digest(&self.inner.pool, &digest))
            .await
        {
            Ok(found) => {
                let key = found.map(|row| Arc::new(CachedKey::new(row)));
                self.inner.cache.fill_key(digest, key.clone(), epoch);
                Ok(key)
            }
            Err(Error::Database(err)) => self.degraded(stale, &err, "this key").map(Some),
            Err(err) => Err(err),
        }
    }

    /// A `NOT_FOUND` answer, spent from the verifier's budget of unknown keys.
    fn not_found(&self, verifier: &VerifierAuth) -> Result<Verdict> {
        match self.inner.throttle.spend(verifier.id) {
            Some(wait) => Err(Error::Throttled(wait)),
            None => Ok(Verdict::refused(Code::NotFound)),
        }
    }

    /// Verifies `input` for `verifier`'s keyspace.
    pub async fn verify(&self, verifier: &VerifierAuth, input: &VerifyInput) -> Result<Verdict> {
        // The verifier is in use whatever the answer: recorded in memory, written with
        // the usage (an admin pruning "unused" verifiers must not cut off a live service).
        self.inner.usage.record_verifier(verifier.id, Utc::now());
        input.check()?;
        // Malformed keys, and keys of another keyspace's prefix, never reach the cache
        // or the database.
        if format::parse(&input.key).is_none_or(|k| k.prefix != verifier.prefix) {
            return self.not_found(verifier);
        }
        let Some(key) = self
            .key(self.inner.hasher.digest(&input.key), verifier)
            .await?
            .filter(|key| key.row.keyspace_id == verifier.keyspace_id)
        else {
            return self.not_found(verifier);
        };
        let now = Utc::now();
        let request = Request {
            scopes: &input.scopes,
            cost: input.cost,
            client_ip: input.client_ip,
        };
        // The checks before the limits first: a refused request spends nothing.
        let code = decide(Some(&key.record), &request, LimitState::default(), now);
        if !code.is_valid() {
            self.count(&key, code, now, verifier, input);
            return Ok(Verdict::refused(code));
        }
        let row = &key.row;
        let rate = match row.rate_limit {
            Some(limit) => Some((limit, self.inner.rates.check(row.id, limit, now).await)),
            None => None,
        };
        let rate_allows = rate.map(|(_, check)| check.allowed);
        // Quota is spent only once the rate limit let the request through.
        let spend = if row.quota.is_some() && rate_allows != Some(false) {
            let cost = i64::from(input.cost);
            // Usually decided from the credit this instance holds: no lock to wait for,
            // no timer, no database. Now and then this verification also tops the lease
            // up, before it runs out; a failed top-up leaves the answer as it is.
            let quotas = &self.inner.quotas;
            let held = quotas.try_spend(row.id, row.generation, cost, now);
            let spend = async {
                match held {
                    Some(held) => {
                        if held.top_up {
                            let top_up = quotas.top_up(row.id, row.generation, now);
                            if let Err(err) = self.guarded(top_up).await {
                                tracing::debug!(error = %err, "quota top-up failed");
                            }
                        }
                        Ok(held.spend)
                    }
                    None => {
                        let lease = quotas.spend(row.id, row.generation, cost, now);
                        self.guarded(lease).await
                    }
                }
            };
            match spend.await {
                Ok(spend) => Some(spend),
                Err(Error::Database(err)) => {
                    tracing::debug!(error = %err, "quota lease failed");
                    return Err(unavailable(
                        "The database is unreachable and this instance holds no quota \
                         credit for the key; try again shortly."
                            .into(),
                    ));
                }
                Err(err) => return Err(err),
            }
        } else {
            None
        };
        let limits = LimitState {
            rate_allows,
            quota: match spend {
                Some(Spend::Spent(_)) => Some(QuotaOutcome::Spent),
                Some(Spend::Exceeded) => Some(QuotaOutcome::Exceeded),
                Some(Spend::Unlimited) | None => None,
            },
        };
        let code = decide(Some(&key.record), &request, limits, now);
        self.count(&key, code, now, verifier, input);
        if !code.is_valid() {
            let retry_at = match code {
                Code::RateLimited => rate.map(|(_, check)| check.reset_at),
                Code::QuotaExceeded => row.quota.and_then(|q| q.period.resets_at(now)),
                _ => None,
            };
            return Ok(Verdict {
                retry_at,
                ..Verdict::refused(code)
            });
        }
        Ok(Verdict {
            code,
            quota: match spend {
                Some(Spend::Spent(after)) => Some(after),
                _ => None,
            },
            rate,
            key: Some(key),
            retry_at: None,
        })
    }

    /// Counts the verifications a service's client answered itself for `verifier`'s
    /// keys; returns how many items were counted. Items about keys of other keyspaces
    /// (or of none) and items older than [`REPORT_WINDOW`] are left out; a time in the
    /// future counts as now. Written with the rest of the usage, at the next flush.
    pub async fn record_reported(
        &self,
        verifier: &VerifierAuth,
        items: &[ReportedUse],
    ) -> Result<usize> {
        if let Some(i) = items
            .iter()
            .position(|item| item.count == 0 || item.count > MAX_REPORTED_COUNT)
        {
            return Err(Error::invalid(
                format!("items[{i}].count"),
                format!("must be between 1 and {MAX_REPORTED_COUNT}"),
            ));
        }
        let ids: Vec<uuid::Uuid> = items.iter().map(|item| item.key_id).collect();
        let known = store::ids_in_keyspace(&self.inner.pool, verifier.keyspace_id, &ids).await?;
        let now = Utc::now();
        self.inner.usage.record_verifier(verifier.id, now);
        let mut counted = 0;
        for item in items {
            let at = item.last_at.min(now);
            if known.contains(&item.key_id) && now - at <= REPORT_WINDOW {
                self.inner
                    .usage
                    .record_reported(item.key_id, at, i64::from(item.count));
                counted += 1;
            }
        }
        metrics::counter!("verify_reported_total").increment(counted as u64);
        Ok(counted)
    }

    fn count(
        &self,
        key: &CachedKey,
        code: Code,
        now: chrono::DateTime<Utc>,
        verifier: &VerifierAuth,
        input: &VerifyInput,
    ) {
        self.inner.usage.record(
            key.row.id,
            LoggedVerification {
                at: now,
                code,
                client_ip: input.client_ip,
                verifier: verifier.id,
            },
        );
    }

    /// Writes the usage counted since the last flush; on failure (the database is away)
    /// keeps it for the next one. Gives back the credit of expired quota leases.
    pub async fn flush(&self) -> Result<()> {
        let _one_at_a_time = self.inner.flushing.lock().await;
        let batch = self.inner.usage.take();
        if !batch.is_empty() {
            let keep = self.inner.usage.keep();
            if let Err(err) = usage::store::write(&self.inner.pool, &batch, keep).await {
                self.inner.usage.restore(batch);
                return Err(err);
            }
            metrics::counter!("verify_usage_flushed_total").increment(batch.total() as u64);
            // The database answers again: the hot path may use it at once.
            self.inner.breaker.close();
        }
        self.inner.quotas.sweep().await?;
        Ok(())
    }

    /// The instance is stopping: writes all usage and gives back all leased credit.
    pub async fn shut_down(&self) -> Result<()> {
        let usage = self.flush().await;
        let quotas = self.inner.quotas.return_all().await;
        usage.and(quotas.map(drop))
    }

    /// Forgets idle throttle budgets and rate windows (call every minute or so).
    pub fn forget_idle(&self) {
        self.inner.throttle.forget_idle();
        self.inner.rates.forget_idle(Utc::now());
    }
}
