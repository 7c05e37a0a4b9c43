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
