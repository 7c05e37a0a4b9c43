//! `UsageBuffer`: verification counts gathered in memory between two writes.
//!
//! Recording is a short critical section (one hash-map update), so the hot path pays
//! no I/O for usage. The buffer is split in shards, one per worker thread in turn, so
//! that threads verifying at once do not queue for one lock. A writer takes the whole
//! buffer at most once a second; when the write fails (the database is away) it puts
//! the batch back, merged with whatever was counted meanwhile, so nothing is lost while
//! the database is unreachable.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use uuid::Uuid;

use super::Outcome;

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
}

impl UsageBatch {
    /// Nothing counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.last_used.is_empty() && self.verifier_used.is_empty()
    }

    /// Verifications counted in this batch.
    pub fn total(&self) -> i64 {
        self.counts.values().flatten().sum()
    }

    fn merge(&mut self, other: Self) {
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
    /// Counts one verification of `key` at `at`.
    pub fn record(&self, key: Uuid, outcome: Outcome, at: DateTime<Utc>) {
        let mut pending = self.lock(shard_of_this_thread());
        pending.counts.entry((key, hour_of(at))).or_default()[outcome.index()] += 1;
        if outcome == Outcome::Valid {
            keep_latest(&mut pending.last_used, key, at);
        }
    }

    /// Notes that `verifier` asked for a verification at `at`.
    pub fn record_verifier(&self, verifier: Uuid, at: DateTime<Utc>) {
        keep_latest(
            &mut self.lock(shard_of_this_thread()).verifier_used,
            verifier,
            at,
        );
    }

    /// Takes everything counted so far.
    pub fn take(&self) -> UsageBatch {
        let mut batch = UsageBatch::default();
        for shard in 0..SHARDS {
            let taken = std::mem::take(&mut *self.lock(shard));
            batch.merge(taken);
        }
        batch
    }

    /// Puts back a batch that could not be written.
    pub fn restore(&self, batch: UsageBatch) {
        self.lock(shard_of_this_thread()).merge(batch);
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

    #[test]
    fn counts_by_hour_and_outcome_and_keeps_the_latest_use() {
        let buffer = UsageBuffer::default();
        let key = Uuid::new_v4();
        buffer.record(key, Outcome::Valid, at(10));
        buffer.record(key, Outcome::Valid, at(5));
        buffer.record(key, Outcome::RateLimited, at(20));
        buffer.record(key, Outcome::Valid, at(4000));
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
        buffer.record(key, Outcome::Forbidden, at(1));
        buffer.record_verifier(verifier, at(9));
        let failed = buffer.take();
        buffer.record(key, Outcome::Forbidden, at(2));
        buffer.record(key, Outcome::Other, at(3));
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
                        buffer.record(key, Outcome::Valid, at(i as i64));
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
    fn hours_are_utc_hours() {
        let t = DateTime::parse_from_rfc3339("2026-11-23T10:59:59.999Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(hour_of(t).to_rfc3339(), "2026-11-23T10:00:00+00:00");
    }
}
