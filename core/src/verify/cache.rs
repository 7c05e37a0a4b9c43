//! `VerifyCache`: keys and verifiers as last read from PostgreSQL, by digest, so a
//! verification of a known key needs no database round trip.
//!
//! Entries are dropped the moment the database announces a change (see
//! [`listener`](super::listener)), and are re-read after at most [`FRESH_FOR`]
//! regardless. A read that started before an announcement must not put the old state
//! back afterwards: every announcement bumps an epoch, and a fill is kept only if the
//! epoch is still the one seen before the read. Fills and announcements take a short
//! lock so that the check and the insert cannot straddle an announcement.
//!
//! When the listener loses its connection, announcements may be missed: every entry
//! becomes *stale* and is re-read before use, and entries read while the listener is
//! away are trusted for only [`FRESH_WITHOUT_LISTENER`]. A stale entry is still kept,
//! for degraded mode: if the database cannot be reached, a stale key or verifier may
//! answer for a bounded time after the last moment it was known to be current (see
//! [`VerifyCache::usable_while_degraded`]). When the listener is back, the cache is
//! flushed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::sync::Cache;

use super::announcement::Announcement;
use super::barrier::Barrier;
use super::decision::KeyRecord;
use crate::keys::digest::Digest;
use crate::keys::keyspace_store::VerifierAuth;
use crate::keys::store::KeyRow;

/// A key as verification keeps it: the row, and the decision's view of it, parsed once
/// when it is read rather than on every verification.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedKey {
    /// The row.
    pub row: KeyRow,
    /// What [`decide`](super::decide) needs, with allowlist and scopes parsed.
    pub record: KeyRecord,
}

impl CachedKey {
    /// Parses `row` once.
    pub fn new(row: KeyRow) -> Self {
        Self {
            record: record_of(&row),
            row,
        }
    }
}

fn record_of(row: &KeyRow) -> KeyRecord {
    KeyRecord {
        id: row.id,
        owner_id: row.owner_id,
        revoked_at: row.revoked_at,
        enabled: row.enabled,
        expires_at: row.expires_at,
        ip_allowlist: row.ip_allowlist.clone(),
        scopes: row.scopes.clone(),
    }
}

/// Entries are re-read after this long even without an announcement.
pub const FRESH_FOR: Duration = Duration::from_secs(60);
/// While the listener is away, entries read meanwhile are trusted this long.
pub const FRESH_WITHOUT_LISTENER: Duration = Duration::from_secs(1);

/// What the cache knows of a digest.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup<T> {
    /// Known.
    Hit(T),
    /// Known not to exist (the negative cache).
    Unknown,
    /// Not cached: read the database.
    Miss,
    /// Cached but possibly out of date: read the database, and fall back on this only
    /// in degraded mode ([`VerifyCache::usable_while_degraded`]).
    Stale(Stale<T>),
}

/// A cached value that must be re-read before use.
#[derive(Debug, Clone, PartialEq)]
pub struct Stale<T> {
    /// The value (`None`: the digest was unknown).
    pub value: Option<T>,
    /// The last moment it was known to be current.
    pub current_at: Instant,
}

/// One cached value (`None`: known not to exist).
#[derive(Debug, Clone)]
struct Entry<T> {
    value: Option<T>,
    filled: Instant,
    /// The trust generation it was read in (see `VerifyCache::distrust`).
    trust: u64,
}

/// The caches of one instance.
pub struct VerifyCache {
    keys: Cache<Digest, Entry<Arc<CachedKey>>>,
    unknown_keys: Cache<Digest, Entry<Arc<CachedKey>>>,
    verifiers: Cache<Digest, Entry<Arc<VerifierAuth>>>,
    epoch: AtomicU64,
    /// Bumped when the listener is lost: entries of older generations are stale.
    trust: AtomicU64,
    /// Since when the listener has been away (`None`: it is listening).
    listener_lost: Mutex<Option<Instant>>,
    /// Whether `listener_lost` may be set: read on every lookup, so that the common
    /// case (listening) takes no lock.
    listener_away: AtomicBool,
    fill_lock: Mutex<()>,
    /// Read-your-writes for changes made through this instance.
    barrier: Barrier,
    degraded_for: Duration,
    /// `verify_cache_total` by result, registered once.
    counters: [metrics::Counter; 4],
}

impl std::fmt::Debug for VerifyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyCache")
            .field("keys", &self.keys.entry_count())
            .field("unknown_keys", &self.unknown_keys.entry_count())
            .field("epoch", &self.epoch.load(Ordering::Relaxed))
            .finish()
    }
}

impl Default for VerifyCache {
    fn default() -> Self {
        Self::new(Duration::from_secs(30))
    }
}

impl VerifyCache {
    /// Caches whose stale entries may answer for `degraded_for` while the database is
    /// unreachable (zero: never).
    pub fn new(degraded_for: Duration) -> Self {
        // Kept past freshness for degraded mode; re-read before use once stale.
        let keep = FRESH_FOR + degraded_for;
        Self {
            keys: Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(keep)
                .build(),
            // Bounded and short-lived: enough to keep a flood of made-up keys off the
            // database, too small to hold much memory.
            unknown_keys: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(30))
                .build(),
            verifiers: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(keep)
                .build(),
            epoch: AtomicU64::new(0),
            trust: AtomicU64::new(0),
            listener_lost: Mutex::new(None),
            listener_away: AtomicBool::new(false),
            fill_lock: Mutex::new(()),
            barrier: Barrier::default(),
            degraded_for,
            counters: ["hit", "negative_hit", "miss", "stale"]
                .map(|result| metrics::counter!("verify_cache_total", "result" => result)),
        }
    }

    /// The current epoch; read it before a database read that will fill the cache.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    fn lost_since(&self) -> Option<Instant> {
        if !self.listener_away.load(Ordering::SeqCst) {
            return None;
        }
        *self
            .listener_lost
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn classify<T: Clone>(&self, entry: Entry<T>) -> Lookup<T> {
        let trusted = entry.trust == self.trust.load(Ordering::SeqCst);
        // Read once: every lookup on the hot path comes through here.
        let lost_since = self.lost_since();
        let fresh_for = if lost_since.is_some() {
            FRESH_WITHOUT_LISTENER
        } else {
            FRESH_FOR
        };
        if trusted && entry.filled.elapsed() < fresh_for {
            return match entry.value {
                Some(value) => Lookup::Hit(value),
                None => Lookup::Unknown,
            };
        }
        // Known current until the listener was lost (entries read before), or until
        // it was read (entries read since, while the listener was away).
        let current_at = match (trusted, lost_since) {
            (false, Some(lost)) => lost.max(entry.filled),
            _ => entry.filled,
        };
        Lookup::Stale(Stale {
            value: entry.value,
            current_at,
        })
    }

    /// The key with `digest`.
    pub fn key(&self, digest: &Digest) -> Lookup<Arc<CachedKey>> {
        let found = self
            .keys
            .get(digest)
            .or_else(|| self.unknown_keys.get(digest));
        let lookup = found.map_or(Lookup::Miss, |entry| self.classify(entry));
        let counter = match &lookup {
            Lookup::Hit(_) => 0,
            Lookup::Unknown => 1,
            Lookup::Miss => 2,
            Lookup::Stale(_) => 3,
        };
        self.counters[counter].increment(1);
        lookup
    }

    fn entry<T>(&self, value: Option<T>) -> Entry<T> {
        Entry {
            value,
            filled: Instant::now(),
            trust: self.trust.load(Ordering::SeqCst),
        }
    }

    /// Keeps what a read that began at `epoch` found, unless something changed since.
    pub fn fill_key(&self, digest: Digest, key: Option<Arc<CachedKey>>, epoch: u64) {
        let _guard = self.lock_fills();
        if self.epoch() != epoch {
            return;
        }
        match key {
            Some(key) => {
                self.unknown_keys.invalidate(&digest);
                self.keys.insert(digest, self.entry(Some(key)));
            }
            None => {
                self.keys.invalidate(&digest);
                self.unknown_keys.insert(digest, self.entry(None));
            }
        }
    }

    /// The verifier with `digest` (`Unknown`: known not to work).
    pub fn verifier(&self, digest: &Digest) -> Lookup<Arc<VerifierAuth>> {
        self.verifiers
            .get(digest)
            .map_or(Lookup::Miss, |entry| self.classify(entry))
    }

    /// Keeps a verifier lookup that began at `epoch`, unless something changed since.
    pub fn fill_verifier(&self, digest: Digest, verifier: Option<Arc<VerifierAuth>>, epoch: u64) {
        let _guard = self.lock_fills();
        if self.epoch() == epoch {
            self.verifiers.insert(digest, self.entry(verifier));
        }
    }

    /// Whether a stale entry may still answer while the database is unreachable: it
    /// was known current less than the configured degraded time ago, and it is not a
    /// negative entry (unknown keys never verify without the database).
    pub fn usable_while_degraded<T>(&self, stale: &Stale<T>) -> bool {
        stale.value.is_some() && stale.current_at.elapsed() <= self.degraded_for
    }

    fn lock_fills(&self) -> std::sync::MutexGuard<'_, ()> {
        self.fill_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The barrier that lets a change wait until this cache has applied it.
    pub fn barrier(&self) -> &Barrier {
        &self.barrier
    }

    /// Applies an announcement (`key:<hex digest>` or `verifier:<hex digest>`); a barrier
    /// message changes nothing cached; anything unreadable flushes everything, to be safe.
    pub fn announce(&self, payload: &str) {
        self.apply(&Announcement::parse(payload));
    }

    /// Applies a parsed announcement; `false` for a barrier message, which changes
    /// nothing cached.
    pub fn apply(&self, announcement: &Announcement) -> bool {
        let announcement = *announcement;
        if self.barrier.observe(&announcement) {
            return false;
        }
        let _guard = self.lock_fills();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        match announcement {
            Announcement::Key(digest, _) => {
                self.keys.invalidate(&digest);
                self.unknown_keys.invalidate(&digest);
            }
            Announcement::Verifier(digest) => self.verifiers.invalidate(&digest),
            Announcement::Sync { .. } | Announcement::Unknown => self.flush_locked(),
        }
        true
    }

    /// The listener is listening (again): drops everything it may have missed and
    /// trusts what is read from now on.
    pub fn flush(&self) {
        let _guard = self.lock_fills();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.flush_locked();
        *self
            .listener_lost
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        self.listener_away.store(false, Ordering::SeqCst);
        self.barrier.set_listening(true);
    }

    /// The listener lost its connection and may miss announcements: every entry is
    /// stale from now on, and reads in flight are not kept. Entries stay for degraded
    /// mode.
    pub fn distrust(&self) {
        let _guard = self.lock_fills();
        self.barrier.set_listening(false);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.trust.fetch_add(1, Ordering::SeqCst);
        self.listener_away.store(true, Ordering::SeqCst);
        let mut lost = self
            .listener_lost
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        lost.get_or_insert_with(Instant::now);
    }

    fn flush_locked(&self) {
        self.keys.invalidate_all();
        self.unknown_keys.invalidate_all();
        self.verifiers.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn verifier() -> Arc<VerifierAuth> {
        Arc::new(VerifierAuth {
            id: Uuid::new_v4(),
            keyspace_id: Uuid::new_v4(),
            prefix: "pay".into(),
            key_header: "x-api-key".into(),
        })
    }

    #[test]
    fn a_fill_that_straddles_an_announcement_is_dropped() {
        let cache = VerifyCache::default();
        let digest = [7u8; 32];
        let before = cache.epoch();
        // The key changes while the read is in flight...
        cache.announce(&Announcement::Key(digest, None).payload());
        // ...so what the read found is not kept.
        cache.fill_key(digest, None, before);
        assert_eq!(cache.key(&digest), Lookup::Miss);
        let now = cache.epoch();
        cache.fill_key(digest, None, now);
        assert_eq!(cache.key(&digest), Lookup::Unknown);
        cache.announce(&Announcement::Key(digest, None).payload());
        assert_eq!(
            cache.key(&digest),
            Lookup::Miss,
            "a new key drops the negative entry"
        );
    }

    #[test]
    fn verifiers_and_flushes() {
        let cache = VerifyCache::default();
        let digest = [9u8; 32];
        cache.fill_verifier(digest, None, cache.epoch());
        assert_eq!(cache.verifier(&digest), Lookup::Unknown);
        cache.announce(&Announcement::Verifier(digest).payload());
        assert_eq!(cache.verifier(&digest), Lookup::Miss);
        cache.fill_verifier(digest, None, cache.epoch());
        cache.announce("garbage");
        assert_eq!(
            cache.verifier(&digest),
            Lookup::Miss,
            "an unreadable announcement flushes"
        );
        cache.fill_verifier(digest, None, cache.epoch());
        cache.flush();
        assert_eq!(cache.verifier(&digest), Lookup::Miss);
    }

    #[test]
    fn a_lost_listener_makes_entries_stale_but_keeps_them_for_degraded_mode() {
        let cache = VerifyCache::new(Duration::from_secs(60));
        let (known, unknown) = ([1u8; 32], [2u8; 32]);
        let auth = verifier();
        cache.fill_verifier(known, Some(auth.clone()), cache.epoch());
        cache.fill_verifier(unknown, None, cache.epoch());
        let in_flight = cache.epoch();
        cache.distrust();
        let Lookup::Stale(stale) = cache.verifier(&known) else {
            panic!("stale after the listener is lost");
        };
        assert_eq!(stale.value, Some(auth.clone()));
        assert!(cache.usable_while_degraded(&stale));
        let Lookup::Stale(negative) = cache.verifier(&unknown) else {
            panic!("negative entries go stale too");
        };
        assert!(
            !cache.usable_while_degraded(&negative),
            "an unknown digest never answers without the database"
        );
        // A read that began before the loss is not kept.
        cache.fill_verifier([3u8; 32], None, in_flight);
        assert_eq!(cache.verifier(&[3u8; 32]), Lookup::Miss);
        // A read made while the listener is away is trusted, briefly.
        cache.fill_verifier(known, Some(auth.clone()), cache.epoch());
        assert_eq!(cache.verifier(&known), Lookup::Hit(auth));
        // Back: everything it may have missed is dropped.
        cache.flush();
        assert_eq!(cache.verifier(&known), Lookup::Miss);
    }

    #[test]
    fn degraded_mode_is_bounded() {
        let cache = VerifyCache::new(Duration::ZERO);
        let digest = [4u8; 32];
        cache.fill_verifier(digest, Some(verifier()), cache.epoch());
        cache.distrust();
        let Lookup::Stale(stale) = cache.verifier(&digest) else {
            panic!("stale");
        };
        assert!(
            !cache.usable_while_degraded(&stale),
            "a zero bound turns degraded mode off"
        );
    }
}
