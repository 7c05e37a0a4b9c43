//! The invalidation listener: one connection per instance that `LISTEN`s on
//! `locksmith_invalidate` and applies every announcement to this instance's
//! [`VerifyCache`], then passes it on to the instance's [`ChangeFeed`]. On a lost
//! connection it marks every entry stale (announcements may have been missed) and tells
//! the feed, reconnects, and flushes the cache once it listens again.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;

use super::announcement::{Announcement, CHANNEL};
use super::cache::VerifyCache;
use super::changes::ChangeFeed;

/// Listens until the task is aborted.
pub(crate) async fn listen(pool: PgPool, cache: Arc<VerifyCache>, feed: Arc<ChangeFeed>) {
    let mut pause = Duration::from_millis(100);
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(err) = listener.listen(CHANNEL).await {
                    tracing::warn!(error = %err, "cannot LISTEN for cache invalidations");
                } else {
                    // Whatever was cached before the LISTEN took effect may be stale.
                    cache.flush();
                    feed.connected();
                    pause = Duration::from_millis(100);
                    tracing::debug!("listening for cache invalidations");
                    metrics::gauge!("verify_invalidation_listener_connected").set(1.0);
                    relay(&mut listener, &cache, &feed).await;
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot connect the invalidation listener"),
        }
        // Disconnected: nothing cached can be trusted without a fresh read (stale
        // entries stay only for degraded mode); the cache is flushed on reconnection.
        cache.distrust();
        feed.lost();
        metrics::gauge!("verify_invalidation_listener_connected").set(0.0);
        metrics::counter!("verify_cache_flushes_total").increment(1);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// Applies announcements until the connection is lost.
async fn relay(listener: &mut PgListener, cache: &VerifyCache, feed: &ChangeFeed) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                let announcement = Announcement::parse(notification.payload());
                if cache.apply(&announcement) {
                    feed.publish(&announcement);
                }
            }
            Ok(None) => {
                tracing::warn!("invalidation listener lost its connection; flushing the cache");
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, "invalidation listener failed; flushing the cache");
                return;
            }
        }
    }
}
