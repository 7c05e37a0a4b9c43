//! `GET /v1/verify/invalidations`: the changes of the verifier's keyspace, as
//! server-sent events, for services that cache verification answers themselves (the
//! `locksmith-client` crate does). It is fed by the announcements that keep this
//! instance's own caches coherent ([`locksmith_core::verify::changes`]), after this
//! instance has applied them.
//!
//! Events:
//! - `ready`, first, `{"keyspace_id", "heartbeat_seconds"}`: every change from here on is
//!   sent. A subscriber drops what it cached before.
//! - `key`, `{"key_id", "keyspace_id"}`: this key changed in any way (revoked, disabled,
//!   expiry, scopes, limits...): drop every answer about it. A key is named by its id,
//!   which the subscriber knows from its `VALID` answers. The digest that the database
//!   keys it by is a hash of the secret, and no answer of the API shows one.
//! - `reset`, `{}`: changes may have been missed (the subscriber fell behind, or the
//!   instance's listener reconnected): drop everything.
//! - a comment (`: ping`) every `heartbeat_seconds`, so that a subscriber notices a dead
//!   connection.
//!
//! The stream ends when this instance stops hearing changes itself (its database
//! listener is down), when the verifier is revoked or changed, and when the instance
//! shuts down. A subscriber must not trust its cache between the end of one stream and
//! the `ready` of the next. While this instance hears nothing, subscribing answers 503.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse as _, Response};
use futures_util::stream::{self, Stream, StreamExt as _};
use locksmith_core::keys::VerifierAuth;
use locksmith_core::verify::VerifyService;
use locksmith_core::verify::changes::{Change, Subscription};
use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;

use super::{VerifyRoute, verifier};
use crate::auth::bearer_token;
use crate::http::problem::Problem;

/// How often an idle stream sends a comment.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// `ready` data.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// The keyspace whose changes follow.
    keyspace_id: Uuid,
    /// How often a comment arrives when nothing changes: a subscriber that hears nothing
    /// for a few of these should take the stream for dead.
    heartbeat_seconds: u64,
}

/// `key` data.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct KeyChanged {
    /// The key that changed.
    key_id: Uuid,
    /// Its keyspace.
    keyspace_id: Uuid,
}

/// Subscribes to the changes of the verifier's keyspace.
#[utoipa::path(get, path = "/v1/verify/invalidations", tag = "verify", operation_id = "streamInvalidations",
    responses(
        (status = 200, description = "`text/event-stream`: `ready` (data `Ready`), then `key` (data `KeyChanged`) for each changed key of the keyspace and `reset` when everything must be dropped; a `: ping` comment every 15 s. The stream ends when this instance stops hearing changes, when the verifier changes, and at shutdown", content_type = "text/event-stream", body = String),
        (status = 401, description = "Missing, invalid or revoked verifier token", body = crate::http::problem::ProblemBody),
        (status = 503, description = "This instance is not hearing changes right now; try again after `retry-after`", body = crate::http::problem::ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn stream(
    State(route): State<VerifyRoute>,
    request: Request,
) -> Result<Response, Problem> {
    let (parts, _body) = request.into_parts();
    // Kept to check the verifier again when verifiers change; a missing token is an
    // empty one, which no verifier has.
    let token = SecretString::from(bearer_token(&parts).unwrap_or_default().to_owned());
    let verifier = verifier(&route.verify, Some(token.expose_secret())).await?;
    let Some(subscription) = route.verify.changes().subscribe() else {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "This instance is not hearing changes right now; try again shortly.",
        )
        .with_retry_after(1));
    };
    let ready = Event::default().event("ready").json_data(Ready {
        keyspace_id: verifier.keyspace_id,
        heartbeat_seconds: HEARTBEAT.as_secs(),
    });
    let ready = ready.map_err(|err| Problem::internal(&err))?;
    let feed = Feed {
        subscription,
        verify: route.verify.clone(),
        token,
        verifier,
        _open: OpenStream::new(),
    };
    let events = stream::once(async { Ok(ready) }).chain(feed.events());
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(HEARTBEAT).text("ping"))
        .into_response();
    // A reverse proxy in front of Locksmith must pass each event on at once.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// One subscriber's stream.
struct Feed {
    subscription: Subscription,
    verify: VerifyService,
    /// To check the verifier again when verifiers change.
    token: SecretString,
    verifier: Arc<VerifierAuth>,
    _open: OpenStream,
}

impl Feed {
    fn events(self) -> impl Stream<Item = Result<Event, Infallible>> {
        stream::unfold(self, |mut feed| async move {
            let event = feed.next().await?;
            Some((Ok(event), feed))
        })
    }

    /// The next event to send; `None` ends the stream.
    async fn next(&mut self) -> Option<Event> {
        loop {
            match self.subscription.next().await? {
                Change::Key(key) if key.keyspace_id == self.verifier.keyspace_id => {
                    let data = KeyChanged {
                        key_id: key.key_id,
                        keyspace_id: key.keyspace_id,
                    };
                    return Event::default().event("key").json_data(data).ok();
                }
                Change::Key(_) => {}
                Change::Reset => return Some(Event::default().event("reset").data("{}")),
                Change::Lost => return None,
                Change::Verifier(_) => {
                    // Whichever verifier changed (only its digest is announced), this one
                    // must still be the same and valid, or the subscriber's cache is not.
                    let now = self.verify.authenticate(self.token.expose_secret()).await;
                    match now {
                        Ok(Some(v)) if *v == *self.verifier => {}
                        _ => return None,
                    }
                }
            }
        }
    }
}

/// Counts open streams (`verify_invalidation_streams`) for as long as it lives.
struct OpenStream;

impl OpenStream {
    fn new() -> Self {
        metrics::gauge!("verify_invalidation_streams").increment(1.0);
        Self
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!("verify_invalidation_streams").decrement(1.0);
    }
}
