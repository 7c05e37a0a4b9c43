//! The change feed: the announcements this instance's listener applies to its own cache,
//! passed on to whoever outside the instance caches verification answers (the services'
//! clients, through `GET /v1/verify/invalidations`). It is fed by the same listener, in
//! the same order, after the instance's own cache has applied each announcement, so a
//! subscriber never hears of a change before this instance would answer with it.
//!
//! The feed is only as good as the listener: while the listener is disconnected,
//! announcements may be missed, so the feed is *down* ([`ChangeFeed::subscribe`] gives
//! nothing) and every subscriber is told [`Change::Lost`], after which it must not trust
//! what it cached. When the listener listens again, the feed is up again.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{broadcast, watch};

use super::announcement::{Announcement, KeyRef};
use crate::keys::digest::Digest;

/// How many changes a slow subscriber may fall behind before it is told to start over
/// ([`broadcast::error::RecvError::Lagged`]).
const BACKLOG: usize = 4096;

/// One change, as subscribers hear it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// This key changed (any field, its status or its limits).
    Key(KeyRef),
    /// The verifier with this token digest changed (created, revoked, or its keyspace's
    /// settings changed).
    Verifier(Digest),
    /// Something changed that cannot be narrowed down: drop everything.
    Reset,
    /// The feed lost its source: changes may be missed from now on.
    Lost,
}

/// The feed of one instance. Cheap to share behind the verification service.
#[derive(Debug)]
pub struct ChangeFeed {
    sender: broadcast::Sender<Change>,
    up: AtomicBool,
    closing: watch::Sender<bool>,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        Self {
            sender: broadcast::Sender::new(BACKLOG),
            up: AtomicBool::new(false),
            closing: watch::Sender::new(false),
        }
    }
}

impl ChangeFeed {
    /// A subscription from now on, or `None` while the feed is down or closing.
    pub fn subscribe(&self) -> Option<Subscription> {
        // Subscribed before the check: a loss between the two is heard as `Lost`.
        let receiver = self.sender.subscribe();
        let closing = self.closing.subscribe();
        (self.up.load(Ordering::SeqCst) && !*closing.borrow())
            .then_some(Subscription { receiver, closing })
    }

    /// How many subscriptions are open.
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    /// The instance is stopping: every subscription ends, and none is given any more.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// An announcement the listener applied to this instance's cache.
    pub(crate) fn publish(&self, announcement: &Announcement) {
        let change = match *announcement {
            Announcement::Key(_, Some(key)) => Change::Key(key),
            Announcement::Verifier(digest) => Change::Verifier(digest),
            // A key announced without its ids (an instance older than migration 19 wrote
            // it) cannot be named to the outside: everything may have changed.
            Announcement::Key(_, None) | Announcement::Unknown => Change::Reset,
            Announcement::Sync { .. } => return,
        };
        // No subscribers is not an error.
        let _ = self.sender.send(change);
    }

    /// The listener listens (again): whatever subscribers held may be stale.
    pub(crate) fn connected(&self) {
        self.up.store(true, Ordering::SeqCst);
        let _ = self.sender.send(Change::Reset);
    }

    /// The listener lost its connection.
    pub(crate) fn lost(&self) {
        self.up.store(false, Ordering::SeqCst);
        let _ = self.sender.send(Change::Lost);
    }
}

/// One subscriber's view of the feed.
#[derive(Debug)]
pub struct Subscription {
    receiver: broadcast::Receiver<Change>,
    closing: watch::Receiver<bool>,
}

impl Subscription {
    /// The next change; `None` once the instance is closing the feed. A subscriber that
    /// fell too far behind hears [`Change::Reset`].
    pub async fn next(&mut self) -> Option<Change> {
        if *self.closing.borrow() {
            return None;
        }
        tokio::select! {
            received = self.receiver.recv() => match received {
                Ok(change) => Some(change),
                Err(broadcast::error::RecvError::Lagged(_)) => Some(Change::Reset),
                Err(broadcast::error::RecvError::Closed) => None,
            },
            _ = self.closing.wait_for(|closing| *closing) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[tokio::test]
    async fn subscribers_hear_changes_in_order_and_only_while_the_feed_is_up() {
        let feed = ChangeFeed::default();
        assert!(
            feed.subscribe().is_none(),
            "down until the listener listens"
        );
        feed.connected();
        let mut sub = feed.subscribe().expect("up");
        let key = KeyRef {
            keyspace_id: Uuid::new_v4(),
            key_id: Uuid::new_v4(),
        };
        feed.publish(&Announcement::Key([1; 32], Some(key)));
        feed.publish(&Announcement::Sync {
            instance: Uuid::new_v4(),
            n: 1,
        });
        feed.publish(&Announcement::Key([2; 32], None));
        feed.publish(&Announcement::Verifier([3; 32]));
        feed.lost();
        assert_eq!(sub.next().await, Some(Change::Key(key)));
        assert_eq!(sub.next().await, Some(Change::Reset), "a key without ids");
        assert_eq!(sub.next().await, Some(Change::Verifier([3; 32])));
        assert_eq!(sub.next().await, Some(Change::Lost));
        assert!(feed.subscribe().is_none(), "down again");
        feed.connected();
        assert_eq!(sub.next().await, Some(Change::Reset));
        feed.close();
        assert_eq!(sub.next().await, None, "closing ends every subscription");
        assert!(feed.subscribe().is_none(), "and gives none");
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_told_to_start_over() {
        let feed = ChangeFeed::default();
        feed.connected();
        let mut sub = feed.subscribe().expect("up");
        for _ in 0..=BACKLOG {
            feed.publish(&Announcement::Verifier([0; 32]));
        }
        assert_eq!(sub.next().await, Some(Change::Reset));
    }
}
