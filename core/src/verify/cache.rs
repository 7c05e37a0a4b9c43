//! `VerifyCache`: keys and verifiers as last read from PostgreSQL, by digest, so a
//! verification of a known key needs no database round trip.
//!
//! Entries are dropped the moment the database announces a change (see
//! [`listener`](super::listener)), and after at most a minute regardless. A read that
//! started before an announcement must not put the old state back afterwards: every
//! announcement bumps an epoch, and a fill is kept only if the epoch is still the one
//! seen before the read. Fills and announcements take a short lock so that the check and
//! the insert cannot straddle an announcement.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::sync::Cache;
use uuid::Uuid;

use super::decision::KeyRecord;
use crate::keys::digest::Digest;
use crate::keys::keyspace_store::VerifierAuth;
use crate::keys::model::IpAllowlist;
use crate::keys::store::KeyRow;
use crate::scope::Scope;

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
        ip_allowlist: IpAllowlist::from_stored(&row.ip_allowlist),
        // Stored scopes were validated on the way in.
        scopes: row
            .scopes
            .iter()
            .filter_map(|s| Scope::parse(s).ok())
            .collect(),
    }
}

/// What the cache knows of a digest.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup<T> {
    /// Known.
    Hit(T),
    /// Known not to exist (the negative cache).
    Unknown,
    /// Not cached: read the database.
    Miss,
}

/// The caches of one instance.
pub struct VerifyCache {
    keys: Cache<Digest, Arc<CachedKey>>,
    unknown_keys: Cache<Digest, ()>,
    verifiers: Cache<Digest, Option<VerifierAuth>>,
    touched: Cache<Uuid, ()>,
    epoch: AtomicU64,
    fill_lock: Mutex<()>,
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
        Self {
            keys: Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
            // Bounded and short-lived: enough to keep a flood of made-up keys off the
            // database, too small to hold much memory.
            unknown_keys: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(30))
                .build(),
            verifiers: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
            touched: Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(Duration::from_secs(1))
                .build(),
            epoch: AtomicU64::new(0),
            fill_lock: Mutex::new(()),
        }
    }
}

impl VerifyCache {
    /// The current epoch; read it before a database read that will fill the cache.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// The key with `digest`.
    pub fn key(&self, digest: &Digest) -> Lookup<Arc<CachedKey>> {
        if let Some(key) = self.keys.get(digest) {
            metrics::counter!("verify_cache_total", "result" => "hit").increment(1);
            Lookup::Hit(key)
        } else if self.unknown_keys.contains_key(digest) {
            metrics::counter!("verify_cache_total", "result" => "negative_hit").increment(1);
            Lookup::Unknown
        } else {
            metrics::counter!("verify_cache_total", "result" => "miss").increment(1);
            Lookup::Miss
        }
    }

    /// Keeps what a read that began at `epoch` found, unless something changed since.
    pub fn fill_key(&self, digest: Digest, key: Option<Arc<CachedKey>>, epoch: u64) {
        let _guard = self
            .fill_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.epoch() != epoch {
            return;
        }
        match key {
            Some(key) => self.keys.insert(digest, key),
            None => self.unknown_keys.insert(digest, ()),
        }
    }

    /// The verifier with `digest` (`Hit(None)`: known not to work).
    pub fn verifier(&self, digest: &Digest) -> Option<Option<VerifierAuth>> {
        self.verifiers.get(digest)
    }

    /// Keeps a verifier lookup that began at `epoch`, unless something changed since.
    pub fn fill_verifier(&self, digest: Digest, verifier: Option<VerifierAuth>, epoch: u64) {
        let _guard = self
            .fill_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.epoch() == epoch {
            self.verifiers.insert(digest, verifier);
        }
    }

    /// Applies an announcement (`key:<hex digest>` or `verifier:<hex digest>`); anything
    /// unreadable flushes everything, to be safe.
    pub fn announce(&self, payload: &str) {
        let _guard = self
            .fill_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let parsed = payload
            .split_once(':')
            .and_then(|(kind, hex)| Some((kind, parse_hex(hex)?)));
        match parsed {
            Some(("key", digest)) => {
                self.keys.invalidate(&digest);
                self.unknown_keys.invalidate(&digest);
            }
            Some(("verifier", digest)) => self.verifiers.invalidate(&digest),
            _ => self.flush_locked(),
        }
    }

    /// Drops everything (the listener lost its connection and may have missed
    /// announcements).
    pub fn flush(&self) {
        let _guard = self
            .fill_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.flush_locked();
    }

    fn flush_locked(&self) {
        self.keys.invalidate_all();
        self.unknown_keys.invalidate_all();
        self.verifiers.invalidate_all();
    }

    /// Whether `last_used_at` of `key` should be written now (at most once a second per
    /// key and instance).
    pub fn should_touch(&self, key: Uuid) -> bool {
        let mut first = false;
        self.touched.get_with(key, || first = true);
        first
    }
}

fn parse_hex(hex: &str) -> Option<Digest> {
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: &Digest) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_fill_that_straddles_an_announcement_is_dropped() {
        let cache = VerifyCache::default();
        let digest = [7u8; 32];
        let before = cache.epoch();
        // The key changes while the read is in flight...
        cache.announce(&format!("key:{}", hex(&digest)));
        // ...so what the read found is not kept.
        cache.fill_key(digest, None, before);
        assert_eq!(cache.key(&digest), Lookup::Miss);
        let now = cache.epoch();
        cache.fill_key(digest, None, now);
        assert_eq!(cache.key(&digest), Lookup::Unknown);
        cache.announce(&format!("key:{}", hex(&digest)));
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
        assert_eq!(cache.verifier(&digest), Some(None));
        cache.announce(&format!("verifier:{}", hex(&digest)));
        assert_eq!(cache.verifier(&digest), None);
        cache.fill_verifier(digest, None, cache.epoch());
        cache.announce("garbage");
        assert_eq!(
            cache.verifier(&digest),
            None,
            "an unreadable announcement flushes"
        );
        cache.fill_verifier(digest, None, cache.epoch());
        cache.flush();
        assert_eq!(cache.verifier(&digest), None);
    }

    #[test]
    fn touches_at_most_once_a_second() {
        let cache = VerifyCache::default();
        let key = Uuid::new_v4();
        assert!(cache.should_touch(key));
        assert!(!cache.should_touch(key));
        assert!(cache.should_touch(Uuid::new_v4()));
    }

    #[test]
    fn hex_digests() {
        let d = [0xabu8; 32];
        assert_eq!(parse_hex(&hex(&d)), Some(d));
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(parse_hex(&"g".repeat(64)), None);
    }
}
