//! What the client remembers of Locksmith's answers: the answer cache (served while the
//! invalidation stream is up) and the fail-open store (served when Locksmith cannot be
//! reached), with what keeps both from serving a stale answer.
//!
//! Both are keyed by a [`Fingerprint`] of the request, a SHA-256 digest, so no raw key
//! is kept as a map key. Both hold `VALID` answers only, and neither keeps an answer past
//! the key's `expires_at`.
//!
//! # Race protection
//!
//! A verification that was on its way while an invalidation arrived may carry an answer
//! from before the change. Such an answer is not stored:
//!
//! - every invalidation (a key's, a reset, the stream going up or down) moves an *epoch*
//!   on; a verification reads the epoch before it is sent, and its answer is stored only
//!   if the epoch has not moved when it comes back (checked again after storing, so an
//!   invalidation between the check and the store still removes it);
//! - an answer for a key invalidated within the last two seconds is not stored either:
//!   it may come from a server instance that has not applied the change yet.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use moka::sync::Cache;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::verdict::{Source, Verdict};

/// How long after a key's invalidation answers about it are not stored.
pub(crate) const RECENT_INVALIDATION: Duration = Duration::from_secs(2);

/// The local answer cache's settings, for [`ClientBuilder::cache`](crate::ClientBuilder::cache).
///
/// The cache answers only `VALID` verifications of keys with neither quota nor rate limit,
/// and only while the invalidation stream is up; see the crate documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// The longest an answer is served from the cache (default 30 s). It is never served
    /// past the key's `expires_at` either.
    pub ttl: Duration,
    /// The most answers kept (default 100 000); the least used go first.
    pub capacity: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(30),
            capacity: 100_000,
        }
    }
}

/// Counters of what the client answered and heard, from [`Client::stats`](crate::Client::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Verifications answered from the local cache.
    pub hits: u64,
    /// Verifications not answered from the local cache (sent to Locksmith).
    pub misses: u64,
    /// Invalidations heard on the stream: `key` events and resets.
    pub invalidations: u64,
    /// Verifications answered from the fail-open store while Locksmith was unavailable.
    pub fail_open_served: u64,
}

/// The identity of a verification for the stores: a SHA-256 digest over the key, the
/// requested scopes (sorted, without duplicates) and the client address. The cost is left
/// out: the stores only hold answers whose cost does not matter to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub(crate) fn of(key: &str, scopes: &[String], client_ip: Option<IpAddr>) -> Self {
        let mut scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
        scopes.sort_unstable();
        scopes.dedup();
        let mut digest = Sha256::new();
        // Every part is length-prefixed, so no two requests hash the same bytes.
        digest.update(b"locksmith-client/fingerprint/v1");
        let mut part = |bytes: &[u8]| {
            digest.update((bytes.len() as u64).to_be_bytes());
            digest.update(bytes);
        };
        part(key.as_bytes());
        part(&(scopes.len() as u64).to_be_bytes());
        for scope in scopes {
            part(scope.as_bytes());
        }
        match client_ip {
            None => part(&[]),
            Some(IpAddr::V4(ip)) => part(&ip.octets()),
            Some(IpAddr::V6(ip)) => part(&ip.octets()),
        }
        Self(digest.finalize().into())
    }
}

/// Until when an answer received at `now` (`wall_now` on the wall clock) may be served,
/// keeping it at most `keep`: never past the key's `expires_at`; `None` if that is past.
pub(crate) fn deadline(
    now: Instant,
    wall_now: DateTime<Utc>,
    keep: Duration,
    expires_at: Option<DateTime<Utc>>,
) -> Option<Instant> {
    let keep = match expires_at {
        None => keep,
        Some(expires_at) => {
            let left = (expires_at - wall_now).to_std().ok()?;
            if left.is_zero() {
                return None;
            }
            keep.min(left)
        }
    };
    now.checked_add(keep)
}

/// The keys invalidated within the last [`RECENT_INVALIDATION`].
#[derive(Debug)]
pub(crate) struct RecentInvalidations {
    window: Duration,
    at: HashMap<Uuid, Instant>,
    pruned: Option<Instant>,
}

impl RecentInvalidations {
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            at: HashMap::new(),
            pruned: None,
        }
    }

    /// `key_id` was invalidated at `now`.
    pub(crate) fn record(&mut self, key_id: Uuid, now: Instant) {
        self.at.insert(key_id, now);
        // Forget what is out of the window now and then, so the map stays as small as
        // the invalidations of about two windows.
        if self
            .pruned
            .is_none_or(|pruned| now.saturating_duration_since(pruned) >= self.window)
        {
            let window = self.window;
            self.at
                .retain(|_, at| now.saturating_duration_since(*at) < window);
            self.pruned = Some(now);
        }
    }

    /// Whether `key_id` was invalidated within the window before `now`.
    pub(crate) fn contains(&self, key_id: Uuid, now: Instant) -> bool {
        self.at
            .get(&key_id)
            .is_some_and(|at| now.saturating_duration_since(*at) < self.window)
    }
}

/// The most keys whose self-answered verifications wait for a report; beyond, a new
/// key's are not counted (the server is away for long, and usage is history, not a
/// decision).
pub(crate) const MAX_UNREPORTED_KEYS: usize = 100_000;

/// The verifications the client answered itself (cache hits, fail-open answers) since
/// they were last reported, by key: how many, and when the last one was.
#[derive(Debug, Default)]
pub(crate) struct Served {
    pub(crate) keys: HashMap<Uuid, (u64, DateTime<Utc>)>,
}

impl Served {
    fn add(&mut self, key_id: Uuid, count: u64, at: DateTime<Utc>) {
        if self.keys.len() >= MAX_UNREPORTED_KEYS && !self.keys.contains_key(&key_id) {
            return;
        }
        let (n, last) = self.keys.entry(key_id).or_insert((0, at));
        *n = n.saturating_add(count);
        *last = (*last).max(at);
    }
}

/// A mutex's data, whatever a panicking holder left (counters stay usable).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A stored `VALID` answer.
#[derive(Debug, Clone)]
struct Entry {
    verdict: Arc<Verdict>,
    key_id: Uuid,
    deadline: Instant,
}

/// One store: a bounded map from fingerprints to answers, each kept at most `keep`.
#[derive(Debug)]
struct Store {
    entries: Cache<Fingerprint, Entry>,
    keep: Duration,
}

impl Store {
    fn new(keep: Duration, capacity: u64) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(keep.max(Duration::from_millis(1)))
                .support_invalidation_closures()
                .build(),
            keep,
        }
    }

    fn get(&self, fingerprint: &Fingerprint, now: Instant, source: Source) -> Option<Verdict> {
        let entry = self.entries.get(fingerprint)?;
        if now >= entry.deadline {
            self.entries.invalidate(fingerprint);
            return None;
        }
        let mut verdict = Verdict::clone(&entry.verdict);
        verdict.source = source;
        Some(verdict)
    }

    fn insert(
        &self,
        fingerprint: Fingerprint,
        verdict: &Arc<Verdict>,
        key_id: Uuid,
        now: Instant,
        wall_now: DateTime<Utc>,
    ) {
        if let Some(deadline) = deadline(now, wall_now, self.keep, verdict.expires_at) {
            let verdict = Arc::clone(verdict);
            self.entries.insert(
                fingerprint,
                Entry {
                    verdict,
                    key_id,
                    deadline,
                },
            );
        }
    }

    fn invalidate_key(&self, key_id: Uuid) {
        let registered = self
            .entries
            .invalidate_entries_if(move |_, entry| entry.key_id == key_id);
        if registered.is_err() {
            // Only without `support_invalidation_closures`, which `new` asks for; were it
            // missing, forgetting everything is the safe way.
            self.entries.invalidate_all();
        }
    }
}

/// The fail-open store's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FailOpenConfig {
    pub(crate) max_age: Duration,
    pub(crate) capacity: u64,
}

/// Everything the client remembers, and the guards on it. Shared by the client's clones
/// and the invalidation task.
#[derive(Debug)]
pub(crate) struct Stores {
    answers: Option<Store>,
    fail_open: Option<Store>,
    epoch: AtomicU64,
    recent: Mutex<RecentInvalidations>,
    live: AtomicBool,
    hits: AtomicU64,
    served: Mutex<Served>,
    misses: AtomicU64,
    invalidations: AtomicU64,
    fail_open_served: AtomicU64,
}

impl Stores {
    pub(crate) fn new(cache: Option<CacheConfig>, fail_open: Option<FailOpenConfig>) -> Self {
        Self {
            answers: cache.map(|c| Store::new(c.ttl, c.capacity)),
            fail_open: fail_open.map(|f| Store::new(f.max_age, f.capacity)),
            epoch: AtomicU64::new(0),
            recent: Mutex::new(RecentInvalidations::new(RECENT_INVALIDATION)),
            live: AtomicBool::new(false),
            hits: AtomicU64::new(0),
            served: Mutex::default(),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            fail_open_served: AtomicU64::new(0),
        }
    }

    /// The invalidation epoch, to read before sending a verification.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Whether the answer cache may answer: it exists and the stream is up.
    pub(crate) fn is_live(&self) -> bool {
        self.answers.is_some() && self.live.load(Ordering::SeqCst)
    }

    /// The cached answer for this request, while the stream is up. Counts a hit or a
    /// miss.
    pub(crate) fn cached(&self, fingerprint: &Fingerprint, now: Instant) -> Option<Verdict> {
        let hit = match &self.answers {
            Some(answers) if self.is_live() => answers.get(fingerprint, now, Source::Cache),
            _ => None,
        };
        let counter = if hit.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(verdict) = &hit {
            self.note_served(verdict);
        }
        hit
    }

    /// The recorded `VALID` answer for this request, for when Locksmith is unavailable.
    pub(crate) fn fail_open(&self, fingerprint: &Fingerprint, now: Instant) -> Option<Verdict> {
        let verdict = self
            .fail_open
            .as_ref()?
            .get(fingerprint, now, Source::FailOpen)?;
        self.fail_open_served.fetch_add(1, Ordering::Relaxed);
        self.note_served(&verdict);
        Some(verdict)
    }

    /// Learns from the server's answer to a verification sent at `since` (an
    /// [epoch](Stores::epoch)): a `VALID` answer is stored where it may be, any other
    /// answer drops what was stored for the request.
    pub(crate) fn remember(
        &self,
        fingerprint: Fingerprint,
        verdict: &Verdict,
        since: u64,
        now: Instant,
        wall_now: DateTime<Utc>,
    ) {
        if self.answers.is_none() && self.fail_open.is_none() {
            return;
        }
        if !verdict.valid || !verdict.code.is_valid() {
            self.forget(&fingerprint);
            return;
        }
        let Some(key_id) = verdict.key_id else {
            return;
        };
        if self.epoch() != since || self.recent().contains(key_id, now) {
            return;
        }
        let stored = Arc::new(Verdict {
            source: Source::Server,
            ..verdict.clone()
        });
        if let Some(answers) = &self.answers
            && verdict.is_cacheable()
            && self.live.load(Ordering::SeqCst)
        {
            answers.insert(fingerprint, &stored, key_id, now, wall_now);
        }
        if let Some(fail_open) = &self.fail_open {
            fail_open.insert(fingerprint, &stored, key_id, now, wall_now);
        }
        // An invalidation between the check above and the inserts may have been applied
        // before them: take the answer back out.
        if self.epoch() != since {
            self.forget(&fingerprint);
        }
    }

    /// `key_id` changed: nothing stored about it may be served, and answers about it are
    /// not stored for a while.
    pub(crate) fn invalidate_key(&self, key_id: Uuid, now: Instant) {
        self.recent().record(key_id, now);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for store in self.stores() {
            store.invalidate_key(key_id);
        }
        self.invalidations.fetch_add(1, Ordering::Relaxed);
    }

    /// Anything may have changed: forget everything.
    pub(crate) fn reset(&self) {
        self.clear_all();
        self.invalidations.fetch_add(1, Ordering::Relaxed);
    }

    /// The stream is up (a `ready` event): every change from now on will be heard, but
    /// changes since the stream was last up may have been missed, so both stores start
    /// empty.
    pub(crate) fn stream_up(&self) {
        self.clear_all();
        self.live.store(true, Ordering::SeqCst);
    }

    /// The stream is down: the cache stops answering and is emptied. The fail-open store
    /// is kept, since this may be the outage it is for; its `max_age` bounds how long a
    /// change missed meanwhile can matter.
    pub(crate) fn stream_down(&self) {
        self.live.store(false, Ordering::SeqCst);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Some(answers) = &self.answers {
            answers.entries.invalidate_all();
        }
    }

    /// Counts an answer the client gave itself, for the next usage report.
    fn note_served(&self, verdict: &Verdict) {
        if let Some(key_id) = verdict.key_id {
            lock(&self.served).add(key_id, 1, Utc::now());
        }
    }

    /// Takes what the client answered itself since the last report.
    pub(crate) fn take_served(&self) -> Served {
        std::mem::take(&mut *lock(&self.served))
    }

    /// Puts back what could not be reported, merged with what was served meanwhile.
    pub(crate) fn restore_served(&self, unreported: Served) {
        let mut served = lock(&self.served);
        for (key_id, (count, last_at)) in unreported.keys {
            served.add(key_id, count, last_at);
        }
    }

    /// `n` verifications were sent without looking at the cache (a batch): counts them
    /// as misses.
    pub(crate) fn count_misses(&self, n: u64) {
        self.misses.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> Stats {
        Stats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            fail_open_served: self.fail_open_served.load(Ordering::Relaxed),
        }
    }

    fn clear_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for store in self.stores() {
            store.entries.invalidate_all();
        }
    }

    fn forget(&self, fingerprint: &Fingerprint) {
        for store in self.stores() {
            store.entries.invalidate(fingerprint);
        }
    }

    fn stores(&self) -> impl Iterator<Item = &Store> {
        self.answers.iter().chain(self.fail_open.iter())
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, RecentInvalidations> {
        lock(&self.recent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "lsk_test_0123456789";

    fn scopes(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    fn valid(key_id: Uuid) -> Verdict {
        serde_json::from_value(serde_json::json!({
            "valid": true, "code": "VALID", "key_id": key_id,
            "owner_id": Uuid::nil(), "name": "test", "scopes": ["orders:read"], "meta": {}
        }))
        .expect("a valid verdict")
    }

    fn stores() -> Stores {
        Stores::new(
            Some(CacheConfig::default()),
            Some(FailOpenConfig {
                max_age: Duration::from_secs(300),
                capacity: 100,
            }),
        )
    }

    fn live_stores() -> Stores {
        let stores = stores();
        stores.stream_up();
        stores
    }

    #[test]
    fn the_fingerprint_ignores_scope_order_and_duplicates() {
        let a = Fingerprint::of(KEY, &scopes(&["b", "a", "a"]), None);
        let b = Fingerprint::of(KEY, &scopes(&["a", "b"]), None);
        assert_eq!(a, b);
        assert_eq!(
            a,
            Fingerprint::of(KEY, &scopes(&["a", "b"]), None),
            "stable"
        );
    }

    #[test]
    fn the_fingerprint_tells_every_part_apart() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().expect("ip"));
        let base = Fingerprint::of(KEY, &scopes(&["a"]), None);
        let others = [
            Fingerprint::of("lsk_other", &scopes(&["a"]), None),
            Fingerprint::of(KEY, &scopes(&[]), None),
            Fingerprint::of(KEY, &scopes(&["a", "b"]), None),
            Fingerprint::of(KEY, &scopes(&["a"]), ip("192.0.2.1")),
            Fingerprint::of(KEY, &scopes(&["a"]), ip("::ffff:192.0.2.1")),
        ];
        for other in others {
            assert_ne!(base, other);
        }
        // Moving bytes between the key and the scopes changes the digest.
        assert_ne!(
            Fingerprint::of("ab", &scopes(&["c"]), None),
            Fingerprint::of("a", &scopes(&["bc"]), None)
        );
    }

    #[test]
    fn the_deadline_never_passes_the_keys_expiry() {
        let now = Instant::now();
        let wall = Utc::now();
        let keep = Duration::from_secs(30);
        assert_eq!(deadline(now, wall, keep, None), Some(now + keep));
        let soon = wall + chrono::Duration::seconds(5);
        assert_eq!(
            deadline(now, wall, keep, Some(soon)),
            Some(now + Duration::from_secs(5))
        );
        let late = wall + chrono::Duration::hours(1);
        assert_eq!(deadline(now, wall, keep, Some(late)), Some(now + keep));
        assert_eq!(deadline(now, wall, keep, Some(wall)), None, "expiring now");
        assert_eq!(
            deadline(now, wall, keep, Some(wall - chrono::Duration::seconds(1))),
            None
        );
    }

    #[test]
    fn recent_invalidations_last_the_window() {
        let t0 = Instant::now();
        let id = Uuid::new_v4();
        let mut recent = RecentInvalidations::new(RECENT_INVALIDATION);
        recent.record(id, t0);
        assert!(recent.contains(id, t0 + Duration::from_millis(1999)));
        assert!(!recent.contains(id, t0 + RECENT_INVALIDATION));
        assert!(!recent.contains(Uuid::new_v4(), t0));
        // Old records are pruned as new ones come.
        recent.record(Uuid::new_v4(), t0 + Duration::from_secs(10));
        assert_eq!(recent.at.len(), 1);
    }

    #[test]
    fn a_valid_answer_is_served_from_the_cache_only_while_live() {
        let stores = stores();
        let fp = Fingerprint::of(KEY, &[], None);
        let now = Instant::now();
        let key_id = Uuid::new_v4();
        stores.remember(fp, &valid(key_id), stores.epoch(), now, Utc::now());
        assert!(
            stores.cached(&fp, now).is_none(),
            "not live: not even stored"
        );
        stores.stream_up();
        stores.remember(fp, &valid(key_id), stores.epoch(), now, Utc::now());
        let hit = stores.cached(&fp, now).expect("a hit");
        assert_eq!((hit.source, hit.key_id), (Source::Cache, Some(key_id)));
        stores.stream_down();
        assert!(stores.cached(&fp, now).is_none(), "the stream went down");
        let stats = stores.stats();
        assert_eq!((stats.hits, stats.misses), (1, 2));
    }

    #[test]
    fn an_answer_from_before_an_invalidation_is_not_stored() {
        let stores = live_stores();
        let fp = Fingerprint::of(KEY, &[], None);
        let now = Instant::now();
        let since = stores.epoch();
        // Another key's change arrives while this verification is on its way.
        stores.invalidate_key(Uuid::new_v4(), now);
        stores.remember(fp, &valid(Uuid::new_v4()), since, now, Utc::now());
        assert!(stores.cached(&fp, now).is_none());
        assert!(stores.fail_open(&fp, now).is_none());
    }

    #[test]
    fn an_answer_for_a_recently_invalidated_key_is_not_stored() {
        let stores = live_stores();
        let fp = Fingerprint::of(KEY, &[], None);
        let key_id = Uuid::new_v4();
        let t0 = Instant::now();
        stores.invalidate_key(key_id, t0);
        // Sent after the invalidation, but perhaps answered by a lagging instance.
        let soon = t0 + Duration::from_secs(1);
        stores.remember(fp, &valid(key_id), stores.epoch(), soon, Utc::now());
        assert!(stores.cached(&fp, soon).is_none());
        // Past the window, it is stored again.
        let later = t0 + RECENT_INVALIDATION;
        stores.remember(fp, &valid(key_id), stores.epoch(), later, Utc::now());
        assert!(stores.cached(&fp, later).is_some());
        assert_eq!(stores.stats().invalidations, 1);
    }

    #[test]
    fn a_key_event_drops_every_answer_about_that_key_only() {
        let stores = live_stores();
        let now = Instant::now();
        let (changed, other) = (Uuid::new_v4(), Uuid::new_v4());
        let fp_read = Fingerprint::of(KEY, &scopes(&["orders:read"]), None);
        let fp_none = Fingerprint::of(KEY, &[], None);
        let fp_other = Fingerprint::of("lsk_other", &[], None);
        for (fp, id) in [(fp_read, changed), (fp_none, changed), (fp_other, other)] {
            stores.remember(fp, &valid(id), stores.epoch(), now, Utc::now());
        }
        stores.invalidate_key(changed, now);
        assert!(stores.cached(&fp_read, now).is_none());
        assert!(stores.cached(&fp_none, now).is_none());
        assert!(
            stores.fail_open(&fp_none, now).is_none(),
            "revoked keys never fail open"
        );
        assert!(stores.cached(&fp_other, now).is_some());
        assert!(stores.fail_open(&fp_other, now).is_some());
    }

    #[test]
    fn limited_keys_are_never_cached_but_may_fail_open() {
        let stores = live_stores();
        let fp = Fingerprint::of(KEY, &[], None);
        let now = Instant::now();
        let mut limited = valid(Uuid::new_v4());
        limited.rate_limit = serde_json::from_value(serde_json::json!(
            {"limit": 10, "remaining": 9, "reset_at": "2030-01-01T00:00:00Z"}
        ))
        .expect("rate limit");
        stores.remember(fp, &limited, stores.epoch(), now, Utc::now());
        assert!(stores.cached(&fp, now).is_none());
        let served = stores.fail_open(&fp, now).expect("fails open");
        assert_eq!(served.source, Source::FailOpen);
        assert_eq!(stores.stats().fail_open_served, 1);
    }

    #[test]
    fn a_refusal_drops_what_was_stored_for_the_request() {
        let stores = live_stores();
        let fp = Fingerprint::of(KEY, &[], None);
        let now = Instant::now();
        stores.remember(fp, &valid(Uuid::new_v4()), stores.epoch(), now, Utc::now());
        let revoked: Verdict =
            serde_json::from_str(r#"{"valid": false, "code": "REVOKED"}"#).expect("refusal");
        stores.remember(fp, &revoked, stores.epoch(), now, Utc::now());
        assert!(stores.cached(&fp, now).is_none());
        assert!(stores.fail_open(&fp, now).is_none());
    }

    #[test]
    fn answers_are_not_served_past_their_deadline() {
        let stores = live_stores();
        let fp = Fingerprint::of(KEY, &[], None);
        let now = Instant::now();
        let wall = Utc::now();
        let mut expiring = valid(Uuid::new_v4());
        expiring.expires_at = Some(wall + chrono::Duration::seconds(3));
        stores.remember(fp, &expiring, stores.epoch(), now, wall);
        assert!(stores.cached(&fp, now + Duration::from_secs(2)).is_some());
        assert!(
            stores.cached(&fp, now + Duration::from_secs(3)).is_none(),
            "expired"
        );
        assert!(
            stores
                .fail_open(&fp, now + Duration::from_secs(3))
                .is_none()
        );
    }

    #[test]
    fn the_stream_coming_up_or_a_reset_starts_afresh_but_going_down_keeps_fail_open() {
        let stores = live_stores();
        let fp = Fingerprint::of(KEY, &[], None);
        let now = Instant::now();
        stores.remember(fp, &valid(Uuid::new_v4()), stores.epoch(), now, Utc::now());
        stores.stream_down();
        assert!(stores.fail_open(&fp, now).is_some(), "kept for the outage");
        stores.stream_up();
        assert!(
            stores.fail_open(&fp, now).is_none(),
            "changes may have been missed"
        );
        stores.remember(fp, &valid(Uuid::new_v4()), stores.epoch(), now, Utc::now());
        stores.reset();
        assert!(stores.cached(&fp, now).is_none());
        assert!(stores.fail_open(&fp, now).is_none());
    }
}
