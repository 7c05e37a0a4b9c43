//! Per-key rate limits: a sliding-window counter (the current fixed window plus the
//! previous one weighted by how much of it still overlaps the sliding window). It allows
//! at most `limit` requests in any window of `window_seconds`, to within the usual
//! approximation of the method (it assumes the previous window's requests were spread
//! evenly), and it reports `remaining` and when the current window ends (`reset_at`).
//!
//! By default each instance counts on its own ([`LocalRates`]): with N instances behind
//! a balancer, a key gets up to N times its limit. With `LOCKSMITH_REDIS_URL` set, the
//! same counter lives in Redis ([`SharedRates`], one script call per check, windows
//! aligned to Redis' clock), so the limit holds across all instances. If Redis cannot
//! be reached, checks fall back to the local counters (counted in
//! `verify_rate_fallbacks_total`) rather than failing verification.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::keyed::KeyedState;
use crate::keys::model::RateLimit;

/// The counters of one key.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    limit: RateLimit,
    start: DateTime<Utc>,
    current: u32,
    previous: u32,
}

/// The answer of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateCheck {
    /// Whether the request may go through (it was counted if so).
    pub allowed: bool,
    /// Requests left in the sliding window after this one.
    pub remaining: u32,
    /// When the current fixed window ends and its count starts to fade.
    pub reset_at: DateTime<Utc>,
}

impl Window {
    /// A fresh window starting at `now`.
    pub fn new(limit: RateLimit, now: DateTime<Utc>) -> Self {
        Self {
            limit,
            start: now,
            current: 0,
            previous: 0,
        }
    }

    fn length(&self) -> Duration {
        Duration::seconds(i64::from(self.limit.window_seconds))
    }

    /// Counts one request at `now` if the limit allows it.
    pub fn check(&mut self, now: DateTime<Utc>) -> RateCheck {
        let length = self.length();
        // Roll forward: one window later the current count becomes the previous one; two
        // or more windows later both are gone.
        let elapsed = now - self.start;
        if elapsed >= length + length {
            self.previous = 0;
            self.current = 0;
            self.start = now;
        } else if elapsed >= length {
            self.previous = self.current;
            self.current = 0;
            self.start += length;
        }
        let into = (now - self.start).num_milliseconds().max(0) as f64;
        let overlap = 1.0 - into / length.num_milliseconds().max(1) as f64;
        let estimated = f64::from(self.previous) * overlap + f64::from(self.current);
        let limit = f64::from(self.limit.limit.max(0) as u32);
        let allowed = estimated + 1.0 <= limit;
        if allowed {
            self.current = self.current.saturating_add(1);
        }
        let used = estimated + if allowed { 1.0 } else { 0.0 };
        RateCheck {
            allowed,
            remaining: (limit - used).floor().max(0.0) as u32,
            reset_at: self.start + length,
        }
    }
}

/// The windows of every recently used key, in this process. Windows quiet for two of
/// their lengths are dropped by [`LocalRates::forget_idle`]; a key whose limit changed
/// starts a fresh window.
#[derive(Clone, Default)]
pub struct LocalRates {
    windows: Arc<KeyedState<Mutex<Window>>>,
}

impl std::fmt::Debug for LocalRates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRates")
            .field("keys", &self.windows.len())
            .finish()
    }
}

impl LocalRates {
    /// Counts one request of `key` under `limit` at `now`.
    pub fn check(&self, key: Uuid, limit: RateLimit, now: DateTime<Utc>) -> RateCheck {
        let window = self
            .windows
            .get_or_insert_with(key, || Mutex::new(Window::new(limit, now)));
        let mut window = window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if window.limit != limit {
            *window = Window::new(limit, now);
        }
        window.check(now)
    }

    /// Drops the windows of keys quiet for two window lengths (they would start
    /// afresh anyway).
    pub fn forget_idle(&self, now: DateTime<Utc>) {
        self.windows.retain(|window| {
            window
                .lock()
                .map(|w| now - w.start < w.length() + w.length())
                .unwrap_or(false)
        });
    }
}

/// The sliding-window counter as a Redis script: windows are aligned to multiples of
/// the window length on Redis' own clock, so every instance agrees on them.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local index = math.floor(now / window)
local current_key = KEYS[1] .. ':' .. index
local current = tonumber(redis.call('GET', current_key) or '0')
local previous = tonumber(redis.call('GET', KEYS[1] .. ':' .. (index - 1)) or '0')
local estimated = previous * (1 - (now - index * window) / window) + current
local allowed = 0
if estimated + 1 <= limit then
  redis.call('INCR', current_key)
  redis.call('PEXPIRE', current_key, window * 2 + 1000)
  allowed = 1
  estimated = estimated + 1
end
local remaining = math.floor(limit - estimated)
if remaining < 0 then remaining = 0 end
return {allowed, remaining, (index + 1) * window}
";

/// Rate windows kept in Redis, shared by every instance.
#[derive(Clone)]
pub struct SharedRates {
    connection: redis::aio::ConnectionManager,
    script: Arc<redis::Script>,
}

impl std::fmt::Debug for SharedRates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRates").finish_non_exhaustive()
    }
}

impl SharedRates {
    /// Connects to the Redis at `url` (the connection reconnects by itself later).
    pub async fn connect(url: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let connection = redis::aio::ConnectionManager::new(client).await?;
        Ok(Self {
            connection,
            script: Arc::new(redis::Script::new(SCRIPT)),
        })
    }

    /// Counts one request of `key` under `limit`.
    pub async fn check(&self, key: Uuid, limit: RateLimit) -> redis::RedisResult<RateCheck> {
        let mut connection = self.connection.clone();
        // The limit is part of the name: a changed limit starts fresh windows.
        let name = format!(
            "locksmith:rate:{key}:{}:{}",
            limit.limit, limit.window_seconds
        );
        let (allowed, remaining, reset_ms): (i64, i64, i64) = self
            .script
            .key(name)
            .arg(limit.limit)
            .arg(i64::from(limit.window_seconds) * 1000)
            .invoke_async(&mut connection)
            .await?;
        Ok(RateCheck {
            allowed: allowed == 1,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset_at: DateTime::from_timestamp_millis(reset_ms).unwrap_or_else(Utc::now),
        })
    }
}

/// How long verification counts locally after Redis failed, before it asks Redis again.
pub const REDIS_BREAKER_OPEN_FOR: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

/// The rate limiter verification uses: local, or shared through Redis with the local
/// counters as the fallback.
///
/// A breaker guards Redis: after a failed call, verifications count locally for
/// [`REDIS_BREAKER_OPEN_FOR`] without asking it, so that a Redis that is down (each call
/// waiting for its client's timeout, or for a reconnection) costs one slow verification a
/// second instead of every verification's latency. The first call after that asks again.
#[derive(Debug, Clone, Default)]
pub struct RateLimits {
    local: LocalRates,
    shared: Option<SharedRates>,
    /// Until when (Unix milliseconds) Redis is not asked; 0 when it is.
    redis_skipped_until: Arc<std::sync::atomic::AtomicI64>,
}

impl RateLimits {
    /// Limits shared through `shared`.
    pub fn shared(shared: SharedRates) -> Self {
        Self {
            shared: Some(shared),
            ..Self::default()
        }
    }

    /// Counts one request of `key` under `limit` at `now`.
    pub async fn check(&self, key: Uuid, limit: RateLimit, now: DateTime<Utc>) -> RateCheck {
        use std::sync::atomic::Ordering;
        if let Some(shared) = &self.shared {
            if now.timestamp_millis() >= self.redis_skipped_until.load(Ordering::Relaxed) {
                match shared.check(key, limit).await {
                    Ok(check) => return check,
                    Err(err) => {
                        tracing::debug!(error = %err, "Redis rate check failed; counting locally");
                        self.redis_skipped_until.store(
                            (now + REDIS_BREAKER_OPEN_FOR).timestamp_millis(),
                            Ordering::Relaxed,
                        );
                    }
                }
            }
            metrics::counter!("verify_rate_fallbacks_total").increment(1);
        }
        self.local.check(key, limit, now)
    }

    /// Drops idle local windows.
    pub fn forget_idle(&self, now: DateTime<Utc>) {
        self.local.forget_idle(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).expect("time")
    }

    #[test]
    fn allows_the_limit_then_refuses_until_the_window_slides() {
        let limit = RateLimit {
            limit: 3,
            window_seconds: 10,
        };
        let mut w = Window::new(limit, at(0));
        let remaining: Vec<u32> = (0..3).map(|i| w.check(at(i)).remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = w.check(at(5));
        assert!(!refused.allowed);
        assert_eq!(refused.reset_at, at(10_000));
        // Just into the next window the previous 3 still weigh almost fully.
        assert!(!w.check(at(10_100)).allowed);
        // Two thirds into it, one third of them (1) weighs: two more fit.
        assert!(w.check(at(16_700)).allowed);
        assert!(w.check(at(16_800)).allowed);
        assert!(!w.check(at(16_900)).allowed);
        // After two quiet windows everything is forgotten.
        let fresh = w.check(at(60_000));
        assert!(fresh.allowed);
        assert_eq!(fresh.remaining, 2);
    }

    #[test]
    fn never_more_than_the_limit_in_any_window() {
        // A steady stream of a request every 100 ms against 5 per second: count what got
        // through in every sliding one-second span.
        let limit = RateLimit {
            limit: 5,
            window_seconds: 1,
        };
        let mut w = Window::new(limit, at(0));
        let passed: Vec<i64> = (0..200)
            .map(|i| i * 37)
            .filter(|&ms| w.check(at(ms)).allowed)
            .collect();
        for &start in &passed {
            let in_span = passed
                .iter()
                .filter(|&&t| t >= start && t < start + 1000)
                .count();
            assert!(
                in_span <= 5,
                "{in_span} requests in the second from {start} ms"
            );
        }
        assert!(
            passed.len() >= 30,
            "and it does let traffic through: {}",
            passed.len()
        );
    }

    #[test]
    fn idle_windows_are_forgotten() {
        let limits = LocalRates::default();
        let limit = RateLimit {
            limit: 1,
            window_seconds: 1,
        };
        let (quiet, busy) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(limits.check(quiet, limit, at(0)).allowed);
        assert!(limits.check(busy, limit, at(2500)).allowed);
        limits.forget_idle(at(3000));
        assert_eq!(limits.windows.len(), 1, "only the busy key's window stays");
        assert!(!limits.check(busy, limit, at(3100)).allowed);
    }

    #[test]
    fn a_changed_limit_starts_afresh_and_keys_are_separate() {
        let limits = LocalRates::default();
        let key = Uuid::new_v4();
        let one = RateLimit {
            limit: 1,
            window_seconds: 60,
        };
        assert!(limits.check(key, one, at(0)).allowed);
        assert!(!limits.check(key, one, at(1)).allowed);
        assert!(limits.check(Uuid::new_v4(), one, at(2)).allowed);
        let two = RateLimit {
            limit: 2,
            window_seconds: 60,
        };
        assert!(limits.check(key, two, at(3)).allowed);
    }
}
