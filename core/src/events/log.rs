//! Reading the event log: from a position, and waiting for the next commit.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;

use super::{CHANNEL, RecordedEvent, store};
use crate::error::Result;

/// Most events one read returns.
const MAX_READ: i64 = 1000;

/// A notification can be lost with a dropped connection; a consumer waiting this long
/// reads anyway.
const FALLBACK_POLL: Duration = Duration::from_secs(5);

/// The event log, for consumers inside `core` (webhooks, notifications, anomaly
/// detection). Read-only: events are written only with their change.
#[derive(Clone, Debug)]
pub struct EventLog {
    pool: PgPool,
}

impl EventLog {
    /// The log of the database behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Up to `limit` (at most 1000) events after `position`, oldest first. Start from 0,
    /// then from the last position seen.
    pub async fn after(&self, position: i64, limit: i64) -> Result<Vec<RecordedEvent>> {
        store::after(&self.pool, position, limit.clamp(1, MAX_READ)).await
    }

    /// The newest position (0 while the log is empty): where a consumer that wants only
    /// what happens from now on starts.
    pub async fn head(&self) -> Result<i64> {
        store::head(&self.pool).await
    }

    /// A listener that waits for new events instead of polling.
    pub async fn listen(&self) -> Result<EventListener> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(EventListener {
            log: self.clone(),
            listener,
        })
    }
}

/// Waits for events; see [`EventLog::listen`].
#[derive(Debug)]
pub struct EventListener {
    log: EventLog,
    listener: PgListener,
}

impl EventListener {
    /// The events after `position` (up to `limit`); when there are none yet, waits until a
    /// commit announces some, or `timeout` passes (then the answer may be empty).
    /// Listening starts before the first read, so an event committed in between is not
    /// missed.
    pub async fn next(
        &mut self,
        position: i64,
        limit: i64,
        timeout: Duration,
    ) -> Result<Vec<RecordedEvent>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let events = self.log.after(position, limit).await?;
            let now = tokio::time::Instant::now();
            if !events.is_empty() || now >= deadline {
                return Ok(events);
            }
            let wait = (deadline - now).min(FALLBACK_POLL);
            // An error (a dropped connection, re-established by the next recv) or a
            // timeout both mean: read again.
            let _ = tokio::time::timeout(wait, self.listener.recv()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::PgPool;

    use super::*;
    use crate::identity::Role;
    use crate::test_support::user;

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn a_listener_is_woken_by_the_commit_of_an_event(pool: PgPool) {
        let log = EventLog::new(pool.clone());
        let mut listener = log.listen().await.expect("listening");
        let from = log.head().await.expect("head");
        assert!(
            listener
                .next(from, 10, Duration::from_millis(50))
                .await
                .expect("empty")
                .is_empty()
        );
        let writer = tokio::spawn({
            let pool = pool.clone();
            async move { user(&pool, "ada@example.com", Role::Owner).await }
        });
        // Far longer than the fallback poll: only the notification or a read finds it.
        let events = listener
            .next(from, 10, Duration::from_secs(30))
            .await
            .expect("events");
        let ada = writer.await.expect("created");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event.kind(), "user.created");
        assert!(events[0].position > from);
        match &events[0].event {
            crate::events::Event::UserCreated { user } => assert_eq!(user.user_id, ada.id),
            other => panic!("{other:?}"),
        }
        assert_eq!(log.after(from, 10).await.expect("after"), events);
    }
}
