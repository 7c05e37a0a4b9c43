//! `VerifyService`: authenticates verifiers and verifies keys around the pure
//! [`decide`](super::decide).
//!
//! Keys and verifiers come from the instance's [`VerifyCache`] (invalidated by the
//! database's announcements), so a plain valid key is answered without a database round
//! trip. Quota is spent with one atomic `UPDATE` (exact across instances and restarts).
//! Malformed keys and keys with another keyspace's prefix are refused without any I/O.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::cache::{CachedKey, Lookup, VerifyCache};
use super::decision::{Code, LimitState, Request, decide};
use super::rate::{RateCheck, RateLimits};
use crate::error::{Error, Result};
use crate::keys::digest::KeyHasher;
use crate::keys::format;
use crate::keys::keyspace_store::{self, VerifierAuth};
use crate::keys::model::RateLimit;
use crate::keys::store;
use crate::scope::Scope;

/// Most credits one verification may spend.
pub const MAX_COST: u32 = 1000;

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

/// The quota after a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaAfter {
    /// Credits per period.
    pub limit: i64,
    /// Left in this period.
    pub remaining: i64,
    /// When the period ends; `None` for a total quota.
    pub resets_at: Option<DateTime<Utc>>,
}

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
}

impl Verdict {
    fn refused(code: Code) -> Self {
        Self {
            code,
            key: None,
            quota: None,
            rate: None,
        }
    }
}

/// Verification over the database, the key hasher and this instance's rate windows.
#[derive(Debug, Clone)]
pub struct VerifyService {
    pool: PgPool,
    hasher: KeyHasher,
    rates: RateLimits,
    cache: Arc<VerifyCache>,
}

impl VerifyService {
    /// A service over `pool`, hashing with `hasher` (the same pepper as key creation).
    pub fn new(pool: PgPool, hasher: KeyHasher) -> Self {
        Self {
            pool,
            hasher,
            rates: RateLimits::default(),
            cache: Arc::new(VerifyCache::default()),
        }
    }

    /// The caches, for the invalidation listener.
    pub fn cache(&self) -> Arc<VerifyCache> {
        Arc::clone(&self.cache)
    }

    /// The database pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The verifier presenting `token`, if it is well formed, known and not revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Option<VerifierAuth>> {
        if format::parse(token).is_none_or(|t| t.prefix != format::VERIFIER_PREFIX) {
            return Ok(None);
        }
        let digest = self.hasher.digest(token);
        if let Some(known) = self.cache.verifier(&digest) {
            return Ok(known);
        }
        let epoch = self.cache.epoch();
        let found = keyspace_store::verifier_by_digest(&self.pool, &digest).await?;
        self.cache.fill_verifier(digest, found.clone(), epoch);
        Ok(found)
    }

    /// The key with `digest`: from the cache, or read and cached.
    async fn key(&self, digest: [u8; 32]) -> Result<Option<Arc<CachedKey>>> {
        match self.cache.key(&digest) {
            Lookup::Hit(row) => Ok(Some(row)),
            Lookup::Unknown => Ok(None),
            Lookup::Miss => {
                let epoch = self.cache.epoch();
                let key = store::find_by_digest(&self.pool, &digest)
                    .await?
                    .map(|row| Arc::new(CachedKey::new(row)));
                self.cache.fill_key(digest, key.clone(), epoch);
                Ok(key)
            }
        }
    }

    /// Verifies `input` for `verifier`'s keyspace.
    pub async fn verify(&self, verifier: &VerifierAuth, input: &VerifyInput) -> Result<Verdict> {
        if input.cost > MAX_COST {
            return Err(Error::invalid(
                "cost",
                format!("must be between 0 and {MAX_COST}"),
            ));
        }
        // Malformed keys, and keys of another keyspace's prefix, never reach the database.
        if format::parse(&input.key).is_none_or(|k| k.prefix != verifier.prefix) {
            return Ok(Verdict::refused(Code::NotFound));
        }
        let key = self
            .key(self.hasher.digest(&input.key))
            .await?
            .filter(|key| key.row.keyspace_id == verifier.keyspace_id);
        let now = Utc::now();
        let record = key.as_ref().map(|key| &key.record);
        let request = Request {
            scopes: &input.scopes,
            cost: input.cost,
            client_ip: input.client_ip,
        };
        // The checks before the limits first: a refused request spends nothing.
        let code = decide(record, &request, LimitState::default(), now);
        let Some(key) = key.filter(|_| code.is_valid()) else {
            return Ok(Verdict::refused(code));
        };
        let row = &key.row;
        let rate_limit = row
            .rate_limit
            .zip(row.rate_window_secs)
            .map(|(limit, window_seconds)| RateLimit {
                limit,
                window_seconds,
            });
        let rate = rate_limit.map(|limit| (limit, self.rates.check(row.id, limit, now)));
        let limits = LimitState {
            rate_allows: rate.map(|(_, check)| check.allowed),
            quota_remaining: row.quota_limit.map(|limit| limit - row.quota_used_at(now)),
        };
        let code = decide(Some(&key.record), &request, limits, now);
        if !code.is_valid() {
            return Ok(Verdict::refused(code));
        }
        let quota = match (row.quota_limit, row.quota_period) {
            (Some(limit), Some(period)) => {
                let spent = store::spend_quota(
                    &self.pool,
                    row.id,
                    i64::from(input.cost),
                    period.start(now),
                    now,
                )
                .await?;
                // Another request (perhaps on another instance) took the last credits
                // between the read and the spend.
                let Some(remaining) = spent else {
                    return Ok(Verdict::refused(Code::QuotaExceeded));
                };
                Some(QuotaAfter {
                    limit,
                    remaining,
                    resets_at: period.resets_at(now),
                })
            }
            _ => {
                // `last_used_at` is kept to the second: at most one write a second.
                if self.cache.should_touch(row.id) {
                    store::touch(&self.pool, row.id, now).await?;
                }
                None
            }
        };
        Ok(Verdict {
            code,
            key: Some(Arc::clone(&key)),
            quota,
            rate,
        })
    }
}
