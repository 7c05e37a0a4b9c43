//! The invalidation task: follows `GET /v1/verify/invalidations` for as long as the
//! client lives, applies what it hears to the [stores](crate::cache::Stores), and says
//! whether the cache may answer.
//!
//! - `ready`: from here on every change is heard. Both stores start afresh (changes may
//!   have been missed before) and the cache goes live.
//! - `key`: that key changed; every answer stored about it is dropped.
//! - `reset`: anything may have changed; everything stored is dropped.
//! - comments: keep-alives, every `heartbeat_seconds`.
//!
//! The stream is *down* when it ends, fails, or brings no byte for three heartbeats; the
//! cache then stops answering until a new stream is `ready`. Reconnections back off from
//! 100 ms, doubling up to 5 s, jittered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use tokio::sync::watch;
use uuid::Uuid;

use crate::cache::Stores;
use crate::error::Problem;
use crate::retry::Backoff;
use crate::sse::{Event, Parser};

/// The heartbeat assumed until `ready` says what it is.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

/// How many heartbeats may pass without a byte before the stream counts as down.
const MISSED_HEARTBEATS: u32 = 3;

/// A stream that was up at least this long reconnects from the shortest back-off again.
const STABLE: Duration = Duration::from_secs(10);

/// Reconnection back-off: 100 ms doubling to 5 s, jittered.
const RECONNECT: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));

/// The `ready` event's data.
#[derive(Debug, Deserialize)]
struct Ready {
    #[serde(default)]
    keyspace_id: Option<Uuid>,
    #[serde(default)]
    heartbeat_seconds: Option<u64>,
}

/// The `key` event's data.
#[derive(Debug, Deserialize)]
struct KeyChanged {
    key_id: Uuid,
}

/// How one connection went.
struct Session {
    /// Whether its `ready` is logged as news (after a warning that the stream was down)
    /// rather than as a detail.
    announce_up: bool,
    /// When it became `ready`, if it did.
    up_since: Option<Instant>,
    /// Why it ended.
    reason: String,
}

/// Follows the stream; see the module's documentation.
pub(crate) struct InvalidationTask {
    pub(crate) http: reqwest::Client,
    pub(crate) url: Url,
    pub(crate) auth: HeaderValue,
    /// How long connecting and receiving the response headers may take.
    pub(crate) connect_timeout: Duration,
    pub(crate) stores: Arc<Stores>,
    pub(crate) live: watch::Sender<bool>,
}

impl InvalidationTask {
    /// Runs until the task is aborted (when the last clone of the client is dropped).
    pub(crate) async fn run(self) {
        let mut failures: u32 = 0;
        // Whether the stream's last failure was logged as a warning: a server that stays
        // away is warned about once, not at every reconnection, and the stream coming
        // back up is then logged as news.
        let mut warned = false;
        loop {
            let session = self.follow(warned).await;
            match session.up_since {
                Some(since) => {
                    self.stores.stream_down();
                    self.live.send_replace(false);
                    tracing::warn!(
                        reason = %session.reason,
                        "Locksmith invalidation stream down: the local cache is off until it is back"
                    );
                    warned = true;
                    failures = if since.elapsed() >= STABLE {
                        0
                    } else {
                        failures.saturating_add(1)
                    };
                }
                None if !warned => {
                    tracing::warn!(
                        reason = %session.reason,
                        "Locksmith invalidation stream unavailable: the local cache is off until it is up"
                    );
                    warned = true;
                    failures = failures.saturating_add(1);
                }
                None => {
                    tracing::debug!(reason = %session.reason, "Locksmith invalidation stream still unavailable");
                    failures = failures.saturating_add(1);
                }
            }
            tokio::time::sleep(RECONNECT.jittered(failures.saturating_sub(1))).await;
        }
    }

    /// One connection, from the request until the stream is down.
    async fn follow(&self, announce_up: bool) -> Session {
        let mut session = Session {
            announce_up,
            up_since: None,
            reason: String::new(),
        };
        let request = self
            .http
            .get(self.url.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, HeaderValue::from_static("text/event-stream"))
            .send();
        let mut response = match tokio::time::timeout(self.connect_timeout, request).await {
            Err(_) => {
                session.reason = "no response in time".to_owned();
                return session;
            }
            Ok(Err(error)) => {
                session.reason = error.to_string();
                return session;
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status != StatusCode::OK {
            let body = tokio::time::timeout(self.connect_timeout, response.bytes()).await;
            let problem = match body {
                Ok(Ok(body)) => Problem::from_body(status.as_u16(), &body),
                _ => Problem::from_body(status.as_u16(), &[]),
            };
            session.reason = if status == StatusCode::UNAUTHORIZED {
                format!("the verifier token was refused: {problem}")
            } else {
                format!("answered {}: {problem}", status.as_u16())
            };
            return session;
        }
        let is_event_stream = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        if !is_event_stream {
            session.reason = "the answer is not an event stream".to_owned();
            return session;
        }
        let mut parser = Parser::new();
        let mut idle = DEFAULT_HEARTBEAT * MISSED_HEARTBEATS;
        session.reason = loop {
            let chunk = match tokio::time::timeout(idle, response.chunk()).await {
                Err(_) => break format!("no keep-alive for {}s", idle.as_secs()),
                Ok(Err(error)) => break error.to_string(),
                Ok(Ok(None)) => break "the server ended the stream".to_owned(),
                Ok(Ok(Some(chunk))) => chunk,
            };
            let events = match parser.feed(&chunk) {
                Ok(events) => events,
                Err(error) => break error.to_string(),
            };
            for event in events {
                self.apply(&event, &mut session, &mut idle);
            }
        };
        session
    }

    /// Applies one event.
    fn apply(&self, event: &Event, session: &mut Session, idle: &mut Duration) {
        match event.event.as_str() {
            "ready" => {
                let ready = serde_json::from_str::<Ready>(&event.data).ok();
                let heartbeat = ready
                    .as_ref()
                    .and_then(|r| r.heartbeat_seconds)
                    .map_or(DEFAULT_HEARTBEAT, |s| Duration::from_secs(s.max(1)));
                *idle = heartbeat * MISSED_HEARTBEATS;
                self.stores.stream_up();
                self.live.send_replace(true);
                session.up_since.get_or_insert_with(Instant::now);
                let keyspace_id = ready.and_then(|r| r.keyspace_id);
                let heartbeat_seconds = heartbeat.as_secs();
                let message = "Locksmith invalidation stream up: the local cache answers";
                if std::mem::take(&mut session.announce_up) {
                    tracing::info!(?keyspace_id, heartbeat_seconds, "{message}");
                } else {
                    tracing::debug!(?keyspace_id, heartbeat_seconds, "{message}");
                }
            }
            "key" => match serde_json::from_str::<KeyChanged>(&event.data) {
                Ok(changed) => {
                    tracing::debug!(key_id = %changed.key_id, "Locksmith key changed");
                    self.stores.invalidate_key(changed.key_id, Instant::now());
                }
                Err(error) => {
                    // Which key changed is not known: only forgetting everything is safe.
                    tracing::warn!(%error, "unreadable Locksmith key event; dropping every cached answer");
                    self.stores.reset();
                }
            },
            "reset" => {
                tracing::debug!("Locksmith invalidation reset: dropping every cached answer");
                self.stores.reset();
            }
            other => tracing::debug!(event = other, "ignoring an unknown Locksmith event"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{CacheConfig, Fingerprint};
    use crate::verdict::Verdict;

    fn task() -> (InvalidationTask, watch::Receiver<bool>) {
        let (live, receiver) = watch::channel(false);
        let task = InvalidationTask {
            http: reqwest::Client::new(),
            url: Url::parse("http://127.0.0.1:9/v1/verify/invalidations").expect("url"),
            auth: HeaderValue::from_static("Bearer test"),
            connect_timeout: Duration::from_secs(1),
            stores: Arc::new(Stores::new(Some(CacheConfig::default()), None)),
            live,
        };
        (task, receiver)
    }

    fn event(name: &str, data: &str) -> Event {
        Event {
            event: name.to_owned(),
            data: data.to_owned(),
        }
    }

    fn session() -> Session {
        Session {
            announce_up: false,
            up_since: None,
            reason: String::new(),
        }
    }

    /// Stores a `VALID` answer for `key` about `key_id`; returns its fingerprint.
    fn cache(task: &InvalidationTask, key: &str, key_id: Uuid) -> Fingerprint {
        let fingerprint = Fingerprint::of(key, &[], None);
        let verdict: Verdict = serde_json::from_value(serde_json::json!({
            "valid": true, "code": "VALID", "key_id": key_id, "scopes": [], "meta": {}
        }))
        .expect("verdict");
        let stores = &task.stores;
        stores.remember(
            fingerprint,
            &verdict,
            stores.epoch(),
            Instant::now(),
            chrono::Utc::now(),
        );
        fingerprint
    }

    #[test]
    fn ready_makes_the_cache_live_with_the_servers_heartbeat() {
        let (task, live) = task();
        let (mut session, mut idle) = (session(), Duration::ZERO);
        let data =
            r#"{"keyspace_id":"6f1c1a52-37d4-4a4e-9f0c-6f6c9a0e8d11","heartbeat_seconds":2}"#;
        task.apply(&event("ready", data), &mut session, &mut idle);
        assert!(*live.borrow());
        assert!(task.stores.is_live());
        assert!(session.up_since.is_some());
        assert_eq!(idle, Duration::from_secs(6), "three heartbeats");
    }

    #[test]
    fn key_events_drop_that_key_and_unreadable_ones_drop_everything() {
        let (task, _live) = task();
        let (mut session, mut idle) = (session(), Duration::ZERO);
        task.apply(&event("ready", "{}"), &mut session, &mut idle);
        assert_eq!(idle, DEFAULT_HEARTBEAT * MISSED_HEARTBEATS);
        let (changed, other) = (Uuid::new_v4(), Uuid::new_v4());
        let a = cache(&task, "lsk_a", changed);
        let b = cache(&task, "lsk_b", other);
        let data = format!(r#"{{"key_id":"{changed}","keyspace_id":"{other}"}}"#);
        task.apply(&event("key", &data), &mut session, &mut idle);
        let now = Instant::now();
        assert!(task.stores.cached(&a, now).is_none());
        assert!(task.stores.cached(&b, now).is_some());
        task.apply(&event("key", "{}"), &mut session, &mut idle);
        assert!(task.stores.cached(&b, now).is_none());
        assert_eq!(task.stores.stats().invalidations, 2);
    }

    #[test]
    fn reset_drops_everything_and_unknown_events_nothing() {
        let (task, _live) = task();
        let (mut session, mut idle) = (session(), Duration::ZERO);
        task.apply(&event("ready", "{}"), &mut session, &mut idle);
        let a = cache(&task, "lsk_a", Uuid::new_v4());
        task.apply(&event("future", "{}"), &mut session, &mut idle);
        assert!(task.stores.cached(&a, Instant::now()).is_some());
        task.apply(&event("reset", "{}"), &mut session, &mut idle);
        assert!(task.stores.cached(&a, Instant::now()).is_none());
    }
}
