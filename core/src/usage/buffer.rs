//! `UsageBuffer`: verification counts gathered in memory between two writes.
//!
//! Recording is a short critical section (one hash-map update), so the hot path pays
//! no I/O for usage. The buffer is split in shards, one per worker thread in turn, so
//! that threads verifying at once do not queue for one lock. A writer takes the whole
//! buffer at most once a second; when the write fails (the database is away) it puts
//! the batch back, merged with whatever was counted meanwhile, so nothing is lost while
//! the database is unreachable.
//!
//! The buffer also keeps each key's latest verifications for its log ("why is my key
//! failing?"), at most the newest `keep` per key between two writes, and counts each
//! verifier's requests by hour: both in the same critical section.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use uuid::Uuid;

use super::Outcome;
use crate::verify::Code;

/// One verification as a key's log keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedVerification {
    /// When it was answered.
    pub at: DateTime<Utc>,
    /// The answer (never `NOT_FOUND`: that belongs to no key).
    pub code: Code,
    /// The end user's address, as the calling service gave it.
    pub client_ip: Option<IpAddr>,
    /// The verifier that asked.
    pub verifier: Uuid,
}

/// Counts by outcome, in [`Outcome`] order.
pub type Counts = [i64; 5];

/// What was counted since the last write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageBatch {
    /// Counts by key and hour.
    pub counts: HashMap<(Uuid, DateTime<Utc>), Counts>,
    /// Latest `VALID` verification by key.
    pub last_used: HashMap<Uuid, DateTime<Utc>>,
    /// Latest verification request by verifier, whatever its answer: a verifier that
    /// asks is in use, even when the keys it is sent are refused.
    pub verifier_used: HashMap<Uuid, DateTime<Utc>>,
    /// Requests by verifier and hour.
    pub verifier_requests: HashMap<(Uuid, DateTime<Utc>), i64>,
    /// The newest verifications of each key, oldest first (at most `keep` per key).
    pub log: HashMap<Uuid, VecDeque<LoggedVerification>>,
    /// Verifications by key, hour and client network (the /24 or /48 of `client_ip`,
    /// see [`super::network_of`]): what unusual-use detection reads.
    pub networks: HashMap<(Uuid, DateTime<Utc>, ipnet::IpNet), i64>,
}

impl UsageBatch {
    /// Nothing counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
            && self.last_used.is_empty()
            && self.verifier_used.is_empty()
            && self.verifier_requests.is_empty()
            && self.log.is_empty()
            && self.networks.is_empty()
    }

    /// Verifications counted in this batch.
    pub fn total(&self) -> i64 {
        self.counts.values().flatten().sum()
    }

    fn merge(&mut self, other: Self, keep: usize) {
        for (at, counts) in other.counts {
            let mine = self.counts.entry(at).or_default();
            for (m, o) in mine.iter_mut().zip(counts) {
                *m += o;
            }
        }
        for (key, at) in other.last_used {
            keep_latest(&mut self.last_used, key, at);
        }
        for (verifier, at) in other.verifier_used {
            keep_latest(&mut self.verifier_used, verifier, at);
        }
        for (hour, n) in other.verifier_requests {
            *self.verifier_requests.entry(hour).or_default() += n;
        }
        for (at, n) in other.networks {
            *self.networks.entry(at).or_default() += n;
        }
        for (key, events) in other.log {
            let mine = self.log.entry(key).or_default();
            mine.extend(events);
            mine.make_contiguous().sort_by_key(|e| e.at);
            while mine.len() > keep {
                mine.pop_front();
            }
        }
    }
}

/// Records `at` for `id` unless a later time is already there.
fn keep_latest(times: &mut HashMap<Uuid, DateTime<Utc>>, id: Uuid, at: DateTime<Utc>) {
    let latest = times.entry(id).or_insert(at);
    *latest = (*latest).max(at);
}

/// How many shards a buffer has (more than a server has worker threads).
const SHARDS: usize = 16;

/// The counts of one instance since its last write.
#[derive(Debug, Default)]
pub struct UsageBuffer {
    shards: [Mutex<UsageBatch>; SHARDS],
    /// Verifications kept per key for its log (0: no log).
    keep: usize,
}

/// The shard the current thread records into: threads take shards in turn.
fn shard_of_this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

/// The hour `at` falls in.
pub fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at)
}

impl UsageBuffer {
    /// A buffer that keeps the newest `keep` verifications of each key for its log.
    pub fn new(keep: usize) -> Self {
        Self {
            shards: Default::default(),
            keep,
        }
    }

    /// Verifications kept per key for its log.
    pub fn keep(&self) -> usize {
        self.keep
    }

    /// Counts one verification of `key`, and logs it. `NOT_FOUND` belongs to no key and
    /// is not recorded.
    pub fn record(&self, key: Uuid, event: LoggedVerification) {
        let Some(outcome) = Outcome::of(event.code) else {
            return;
        };
        let hour = hour_of(event.at);
        let network = event.client_ip.map(super::network_of);
        let mut pending = self.lock(shard_of_this_thread());
        pending.counts.entry((key, hour)).or_default()[outcome.index()] += 1;
        if let Some(network) = network {
            *pending.networks.entry((key, hour, network)).or_default() += 1;
        }
        if outcome == Outcome::Valid {
            keep_latest(&mut pending.last_used, key, event.at);
        }
        if self.keep > 0 {
            let log = pending.log.entry(key).or_default();
            if log.len() == self.keep {
                log.pop_front();
            }
            log.push_back(event);
        }
    }

    /// Counts `count` `VALID` verifications of `key` up to `at` that a service's client
    /// answered itself (from its cache, or failing open) and reported afterwards. They
    /// join the key's counts and `last_used_at`, not its log, which holds what this
    /// server answered.
    pub fn record_reported(&self, key: Uuid, at: DateTime<Utc>, count: i64) {
        let mut pending = self.lock(shard_of_this_thread());
        pending.counts.entry((key, hour_of(at))).or_default()[Outcome::Valid.index()] += count;
        keep_latest(&mut pending.last_used, key, at);
    }

    /// Notes that `verifier` asked for a verification at `at`.
    pub fn record_verifier(&self, verifier: Uuid, at: DateTime<Utc>) {
        let mut pending = self.lock(shard_of_this_thread());
        keep_latest(&mut pending.verifier_used, verifier, at);
        *pending
            .verifier_requests
            .entry((verifier, hour_of(at)))
            .or_default() += 1;
    }

    /// Takes everything counted so far.
    pub fn take(&self) -> UsageBatch {
        let mut batch = UsageBatch::default();
        for shard in 0..SHARDS {
            let taken = std::mem::take(&mut *self.lock(shard));
            batch.merge(taken, self.keep);
        }
        batch
    }

    /// Puts back a batch that could not be written.
    pub fn restore(&self, batch: UsageBatch) {
        self.lock(shard_of_this_thread()).merge(batch, self.keep);
    }

    fn lock(&self, shard: usize) -> std::sync::MutexGuard<'_, UsageBatch> {
        self.shards[shard]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("time")
    }

    fn answered(code: Code, secs: i64) -> LoggedVerification {
        LoggedVerification {
            at: at(secs),
            code,
            client_ip: None,
            verifier: Uuid::nil(),
        }
    }

    trait RecordOutcome {
        fn count(&self, key: Uuid, outcome: Outcome, at: DateTime<Utc>);
    }

    impl RecordOutcome for UsageBuffer {
        fn count(&self, key: Uuid, outcome: Outcome, at: DateTime<Utc>) {
            let code = match outcome {
                Outcome::Valid => Code::Valid,
                Outcome::RateLimited => Code::RateLimited,
                Outcome::QuotaExceeded => Code::QuotaExceeded,
                Outcome::Forbidden => Code::ForbiddenIp,
                Outcome::Other => Code::Revoked,
            };
            self.record(
                key,
                LoggedVerification {
                    at,
                    code,
                    client_ip: None,
                    verifier: Uuid::nil(),
                },
            );
        }
    }

    #[test]
    fn the_log_keeps_the_newest_per_key_across_a_failed_write() {
        let buffer = UsageBuffer::new(3);
        let key = Uuid::new_v4();
        for secs in 0..5 {
            buffer.record(key, answered(Code::Valid, secs));
        }
        buffer.record(key, answered(Code::NotFound, 9));
        let failed = buffer.take();
        let times: Vec<_> = failed.log[&key].iter().map(|e| e.at).collect();
        assert_eq!(
            times,
            [at(2), at(3), at(4)],
            "the newest 3; NOT_FOUND is no key's"
        );
        buffer.record(key, answered(Code::ForbiddenIp, 7));
        buffer.restore(failed);
        let codes: Vec<_> = buffer.take().log[&key]
            .iter()
            .map(|e| (e.at, e.code))
            .collect();
        assert_eq!(
            codes,
            [
                (at(3), Code::Valid),
                (at(4), Code::Valid),
                (at(7), Code::ForbiddenIp)
            ]
        );
        let off = UsageBuffer::new(0);
        off.record(key, answered(Code::Valid, 1));
        let batch = off.take();
        assert!(
            batch.log.is_empty() && batch.total() == 1,
            "counted, not logged"
        );
    }

    #[test]
    fn counts_by_hour_and_outcome_and_keeps_the_latest_use() {
        let buffer = UsageBuffer::default();
        let key = Uuid::new_v4();
        buffer.count(key, Outcome::Valid, at(10));
        buffer.count(key, Outcome::Valid, at(5));
        buffer.count(key, Outcome::RateLimited, at(20));
        buffer.count(key, Outcome::Valid, at(4000));
        let batch = buffer.take();
        assert_eq!(batch.total(), 4);
        assert_eq!(batch.counts[&(key, hour_of(at(10)))], [2, 1, 0, 0, 0]);
        assert_eq!(batch.counts[&(key, hour_of(at(4000)))], [1, 0, 0, 0, 0]);
        assert_eq!(batch.last_used[&key], at(4000));
        assert!(buffer.take().is_empty(), "taking empties the buffer");
    }

    #[test]
    fn a_batch_put_back_merges_with_what_came_since() {
        let buffer = UsageBuffer::default();
        let key = Uuid::new_v4();
        let verifier = Uuid::new_v4();
        buffer.count(key, Outcome::Forbidden, at(1));
        buffer.record_verifier(verifier, at(9));
        let failed = buffer.take();
        assert_eq!(failed.verifier_requests[&(verifier, hour_of(at(9)))], 1);
        buffer.count(key, Outcome::Forbidden, at(2));
        buffer.count(key, Outcome::Other, at(3));
        buffer.record_verifier(verifier, at(4));
        buffer.restore(failed);
        let batch = buffer.take();
        assert_eq!(batch.counts[&(key, hour_of(at(1)))], [0, 0, 0, 2, 1]);
        assert!(batch.last_used.is_empty(), "only VALID counts as a use");
        assert_eq!(batch.verifier_used[&verifier], at(9), "the latest use");
    }

    #[test]
    fn counts_from_many_threads_are_all_taken() {
        let buffer = std::sync::Arc::new(UsageBuffer::default());
        let key = Uuid::new_v4();
        let threads: Vec<_> = (0..SHARDS + 3)
            .map(|i| {
                let buffer = std::sync::Arc::clone(&buffer);
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        buffer.count(key, Outcome::Valid, at(i as i64));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        let batch = buffer.take();
        assert_eq!(
            batch.counts[&(key, hour_of(at(0)))][0],
            100 * (SHARDS as i64 + 3)
        );
        assert_eq!(batch.last_used[&key], at(SHARDS as i64 + 2));
        assert!(buffer.take().is_empty());
    }

    #[test]
    fn networks_are_counted_by_key_hour_and_network() {
        let buffer = UsageBuffer::new(0);
        let key = Uuid::new_v4();
        for (ip, secs) in [
            ("203.0.113.7", 1),
            ("203.0.113.200", 2),
            ("198.51.100.1", 3),
            ("2001:db8:1:2::9", 4),
        ] {
            buffer.record(
                key,
                LoggedVerification {
                    at: at(secs),
                    code: Code::Valid,
                    client_ip: Some(ip.parse().expect("ip")),
                    verifier: Uuid::nil(),
                },
            );
        }
        buffer.record(key, answered(Code::Valid, 5));
        let failed = buffer.take();
        buffer.restore(failed);
        let batch = buffer.take();
        let hour = hour_of(at(0));
        let of = |net: &str| {
            batch
                .networks
                .get(&(key, hour, net.parse().expect("network")))
                .copied()
        };
        assert_eq!(of("203.0.113.0/24"), Some(2), "one /24");
        assert_eq!(of("198.51.100.0/24"), Some(1));
        assert_eq!(of("2001:db8:1::/48"), Some(1), "a /48");
        assert_eq!(batch.networks.len(), 3, "no address, no network");
    }

    #[test]
    fn hours_are_utc_hours() {
        let t = DateTime::parse_from_rfc3339("2026-11-23T10:59:59.999Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(hour_of(t).to_rfc3339(), "2026-11-23T10:00:00+00:00");
    }
}
