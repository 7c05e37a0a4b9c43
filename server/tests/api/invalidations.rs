//! `GET /v1/verify/invalidations`: the changes of the verifier's keyspace as server-sent
//! events, read here as a plain HTTP client would.

use std::time::Duration;

use futures_util::StreamExt as _;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{DbProxy, KeyWorld, TestApp, problem};
use crate::verify::verifier;

/// Asks for the stream with `token`, whatever the answer.
async fn subscribe(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/v1/verify/invalidations"))
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("sent")
}

/// An open event stream, read event by event.
pub struct Events {
    chunks: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>,
    >,
    buffer: String,
}

impl Events {
    pub async fn open(app: &TestApp, token: &str) -> Self {
        let res = subscribe(app, token).await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        Self {
            chunks: Box::pin(res.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event as (type, data), skipping comments; `None` when the stream ends
    /// (or nothing arrives within 10 s).
    pub async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut kind, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if kind.is_empty() {
                    continue; // a comment (the heartbeat)
                }
                return Some((kind, serde_json::from_str(&data).expect("JSON data")));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.chunks.next())
                .await
                .ok()??
                .ok()?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_subscriber_hears_its_keyspaces_key_changes_and_the_stream_ends_with_its_verifier(
    pool: PgPool,
) {
    let w = KeyWorld::new(pool).await;
    let token = verifier(&w).await;
    let res = w
        .app
        .client
        .get(w.app.url("/v1/verify/invalidations"))
        .send()
        .await
        .expect("sent");
    problem(res, 401).await;

    let mut events = Events::open(&w.app, &token).await;
    let (kind, ready) = events.next().await.expect("ready");
    assert_eq!(kind, "ready");
    assert_eq!(ready["keyspace_id"], w.keyspace.as_str());
    assert_eq!(ready["heartbeat_seconds"], 15);

    // A key of another keyspace changes: not this subscriber's business.
    w.foreign_key().await;
    // Ours: created (nothing cached yet, but announced all the same), then revoked.
    let key = w.key(&w.admin, json!({})).await;
    let id = key["id"].as_str().expect("id");
    assert_eq!(
        events.next().await,
        Some((
            "key".into(),
            json!({ "key_id": id, "keyspace_id": w.keyspace })
        ))
    );
    w.revoke(&key).await;
    assert_eq!(
        events.next().await,
        Some((
            "key".into(),
            json!({ "key_id": id, "keyspace_id": w.keyspace })
        ))
    );

    // Another verifier of the keyspace comes and goes: the stream goes on.
    let second = verifier(&w).await;
    let next = w.key(&w.admin, json!({})).await;
    assert_eq!(
        events.next().await,
        Some((
            "key".into(),
            json!({ "key_id": next["id"], "keyspace_id": w.keyspace })
        ))
    );
    let mut others = Events::open(&w.app, &second).await;
    assert_eq!(
        others.next().await.map(|(kind, _)| kind).as_deref(),
        Some("ready")
    );

    // Revoking this verifier ends its stream (its cache must not be used any more), and
    // it cannot subscribe again.
    let verifiers: Value = w
        .app
        .get_json(&format!("/v1/keyspaces/{}/verifiers", w.keyspace), &w.admin)
        .await;
    let first = verifiers["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|v| v["id"] != Value::Null && token.starts_with(v["start"].as_str().unwrap_or("-")))
        .expect("the first verifier")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let status = w
        .app
        .send_status(
            Method::DELETE,
            &format!("/v1/keyspaces/{}/verifiers/{first}", w.keyspace),
            &w.admin,
            &json!({}),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(events.next().await, None, "the stream ended");
    let res = subscribe(&w.app, &token).await;
    problem(res, 401).await;
}

/// While the instance itself hears no changes (its database connection is cut), streams
/// end and subscribing answers 503; when it hears again, subscribing works again.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn while_the_instance_hears_nothing_there_is_no_stream(pool: PgPool) {
    let proxy = DbProxy::start(&pool).await;
    let w = KeyWorld::new(proxy.pool(&pool)).await;
    let token = verifier(&w).await;
    let mut events = Events::open(&w.app, &token).await;
    assert_eq!(
        events.next().await.map(|(kind, _)| kind).as_deref(),
        Some("ready")
    );
    proxy.cut();
    assert_eq!(
        events.next().await,
        None,
        "the stream ended with the listener"
    );
    let res = subscribe(&w.app, &token).await;
    let retry = res.headers().get("retry-after").cloned();
    assert_eq!(problem(res, 503).await["code"], "unavailable");
    assert!(retry.is_some());
    proxy.restore();
    // The listener reconnects within its back-off (at most 5 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let res = subscribe(&w.app, &token).await;
        if res.status() == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never heard again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
