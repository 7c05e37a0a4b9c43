//! Read-your-writes for verification on the instance that made a change.
//!
//! A change to a key or verifier reaches this instance's cache through its own listener,
//! a few milliseconds after the change commits, so a caller who revokes a key and at once
//! verifies it on the same instance could still get the cached answer. To close that gap,
//! a change's response waits for a *barrier*: the instance announces `sync:<instance>:<n>`
//! on the invalidation channel after the change has committed, and waits until its own
//! listener has received that message. PostgreSQL delivers notifications in commit order,
//! so by then every announcement committed before it, the change's included, has been
//! applied. Other instances ignore barrier messages.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use super::announcement::{Announcement, CHANNEL};

/// The longest a response waits for its barrier (the listener answers in milliseconds;
/// this bounds the wait if it is slow or the connection drops meanwhile).
pub const WAIT: Duration = Duration::from_secs(1);

/// This instance's barrier messages and the listener's progress through them.
#[derive(Debug)]
pub struct Barrier {
    instance: Uuid,
    next: AtomicU64,
    seen: watch::Sender<u64>,
    /// Whether the listener is listening; if not, nothing is cached as current and there
    /// is nothing to wait for.
    listening: AtomicBool,
}

impl Default for Barrier {
    fn default() -> Self {
        Self {
            instance: Uuid::new_v4(),
            next: AtomicU64::new(0),
            seen: watch::Sender::new(0),
            listening: AtomicBool::new(false),
        }
    }
}

impl Barrier {
    /// Whether `announcement` is a barrier message (any instance's); this instance's
    /// own messages mark their number as received.
    pub fn observe(&self, announcement: &Announcement) -> bool {
        let Announcement::Sync { instance, n } = *announcement else {
            return false;
        };
        if instance == self.instance {
            self.seen.send_if_modified(|seen| {
                let newer = n > *seen;
                if newer {
                    *seen = n;
                }
                newer
            });
        }
        true
    }

    /// The listener is listening (`true`) or lost its connection (`false`).
    pub fn set_listening(&self, listening: bool) {
        self.listening.store(listening, Ordering::SeqCst);
    }

    /// Waits, at most [`WAIT`], until the listener has applied every announcement
    /// committed before this call. Returns whether it got there; a database error or a
    /// listener that is not listening returns `false` at once (without a listener every
    /// entry is already re-read before use).
    pub(crate) async fn settle(&self, pool: &PgPool) -> bool {
        if !self.listening.load(Ordering::SeqCst) {
            return false;
        }
        let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let mut seen = self.seen.subscribe();
        let payload = Announcement::Sync {
            instance: self.instance,
            n,
        }
        .payload();
        if let Err(err) = crate::db::notify(pool, CHANNEL, &payload).await {
            tracing::warn!(error = %err, "cannot announce a cache barrier");
            return false;
        }
        let reached = tokio::time::timeout(WAIT, seen.wait_for(|s| *s >= n)).await;
        matches!(reached, Ok(Ok(_)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::verify::cache::{Lookup, VerifyCache};

    /// Once `settle` returns, an announcement committed before it has been applied.
    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn settling_waits_for_every_announcement_committed_before_it(pool: PgPool) {
        let cache = Arc::new(VerifyCache::default());
        assert!(
            !cache.barrier().settle(&pool).await,
            "nothing to wait for before the listener listens"
        );
        let listener = tokio::spawn(crate::verify::listener::listen(
            pool.clone(),
            Arc::clone(&cache),
            Arc::default(),
        ));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !cache.barrier().settle(&pool).await {
            assert!(std::time::Instant::now() < deadline, "the listener listens");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for round in 0..50u8 {
            let digest = [round; 32];
            cache.fill_key(digest, None, cache.epoch());
            assert_eq!(cache.key(&digest), Lookup::Unknown);
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            let mut tx = pool.begin().await.expect("begin");
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(format!("key:{hex}"))
                .execute(&mut *tx)
                .await
                .expect("notify");
            tx.commit().await.expect("commit");
            assert!(cache.barrier().settle(&pool).await, "round {round}");
            assert_eq!(cache.key(&digest), Lookup::Miss, "round {round}");
        }
        listener.abort();
    }

    #[test]
    fn only_this_instances_messages_count_and_other_payloads_are_not_barriers() {
        let barrier = Barrier::default();
        let heard = |payload: &str| barrier.observe(&Announcement::parse(payload));
        let own = |n: u64| format!("sync:{}:{n}", barrier.instance);
        assert!(heard(&own(2)));
        assert_eq!(*barrier.seen.borrow(), 2);
        assert!(heard(&own(1)), "an older one is still a barrier");
        assert_eq!(*barrier.seen.borrow(), 2, "and does not go back");
        assert!(heard(&format!("sync:{}:9", Uuid::new_v4())));
        assert!(heard("sync:garbage"));
        assert_eq!(*barrier.seen.borrow(), 2, "other instances' do not count");
        assert!(!heard(&format!("key:{}", "00".repeat(32))));
        assert!(!heard("verifier:00ff"));
    }
}
