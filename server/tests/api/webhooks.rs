//! Webhooks end to end: subscriptions over the API, deliveries to a real HTTP receiver
//! on localhost (hence `LOCKSMITH_WEBHOOK_ALLOW_PRIVATE=true`), signed, retried, in order,
//! once per attempt across instances.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use locksmith_core::webhooks::signature::SigningSecret;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::mpsc;

use crate::helpers::{KeyWorld, TestApp, detail};

/// Receivers on localhost, retries a second apart.
const SETTINGS: &[(&str, &str)] = &[
    ("LOCKSMITH_WEBHOOK_ALLOW_PRIVATE", "true"),
    ("LOCKSMITH_WEBHOOK_RETRY_SCHEDULE", "1,1,1"),
];

/// A delivery as received.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: i64,
    signature: String,
    body: Bytes,
    json: Value,
}

impl Received {
    fn kind(&self) -> &str {
        self.json["type"].as_str().unwrap_or_default()
    }

    /// Checks the Standard Webhooks signature with `secret`.
    fn signed_with(&self, secret: &str) -> bool {
        SigningSecret::parse(secret)
            .expect("a whsec_ secret")
            .verifies(&self.id, self.timestamp, &self.body, &self.signature)
    }
}

/// An HTTP receiver on 127.0.0.1 that records every request and answers with the
/// statuses it is given (then 200).
struct Receiver {
    url: String,
    received: mpsc::UnboundedReceiver<Received>,
    answers: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    async fn start() -> Self {
        let (tx, received) = mpsc::unbounded_channel();
        let answers = Arc::new(Mutex::new(VecDeque::new()));
        let script = Arc::clone(&answers);
        let handler = move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            let script = Arc::clone(&script);
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let _ = tx.send(Received {
                    id: header("webhook-id"),
                    timestamp: header("webhook-timestamp").parse().unwrap_or_default(),
                    signature: header("webhook-signature"),
                    json: serde_json::from_slice(&body).unwrap_or_default(),
                    body,
                });
                let status = script.lock().expect("script").pop_front().unwrap_or(200);
                (
                    StatusCode::from_u16(status).expect("status"),
                    format!("answered {status}"),
                )
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let app = axum::Router::new().route("/hook", axum::routing::post(handler));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            received,
            answers,
        }
    }

    /// Answer the next requests with these statuses.
    fn answer(&self, statuses: &[u16]) {
        self.answers
            .lock()
            .expect("script")
            .extend(statuses.iter().copied());
    }

    /// The next request (waits up to 30 s).
    async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(30), self.received.recv())
            .await
            .expect("a delivery within 30 s")
            .expect("receiver open")
    }

    /// Nothing more arrives within `wait` (for what must not be delivered).
    async fn quiet_for(&mut self, wait: Duration) -> Option<Received> {
        tokio::time::timeout(wait, self.received.recv())
            .await
            .ok()
            .flatten()
    }
}

/// Creates an endpoint for `url` as `token`; returns it with its secret.
async fn subscribe(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, created) = app.post_json("/v1/webhooks", token, &body).await;
    assert_eq!(status, 201, "{created}");
    created
}

async fn deliveries(app: &TestApp, token: &str, webhook: &str) -> Vec<Value> {
    let page = app
        .get_json(&format!("/v1/webhooks/{webhook}/deliveries"), token)
        .await;
    page["items"].as_array().cloned().unwrap_or_default()
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn owners_receive_their_own_keys_events_signed_and_admins_everything(pool: PgPool) {
    let w = KeyWorld::with_settings(pool, SETTINGS).await;
    let mut alice_rx = Receiver::start().await;
    let mut bob_rx = Receiver::start().await;
    let mut admin_rx = Receiver::start().await;
    let alice_hook = subscribe(
        &w.app,
        &w.alice,
        json!({ "url": alice_rx.url, "description": "Alice's CI" }),
    )
    .await;
    let secret = alice_hook["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(alice_hook["events"], Value::Null);
    assert_eq!(alice_hook["owner_id"], w.alice_id.to_string());
    assert_eq!(alice_hook["enabled"], true);
    let alice_hook_id = alice_hook["id"].as_str().expect("id").to_owned();
    subscribe(&w.app, &w.bob, json!({ "url": bob_rx.url })).await;
    let admin_hook = subscribe(
        &w.app,
        &w.admin,
        json!({ "url": admin_rx.url, "events": ["key.created", "key.revoked"] }),
    )
    .await;
    assert_eq!(admin_hook["owner_id"], Value::Null);

    // The secret is never shown again.
    let shown = w
        .app
        .get_json(&format!("/v1/webhooks/{alice_hook_id}"), &w.alice)
        .await;
    assert!(shown.get("secret").is_none(), "{shown}");
    assert_eq!(shown["description"], "Alice's CI");

    let key = w.key(&w.alice, json!({ "name": "alice ci" })).await;
    let key_id = key["id"].as_str().expect("id");
    let (status, _) = w
        .app
        .post_json(
            &format!("/v1/keys/{key_id}/revoke"),
            &w.alice,
            &json!({ "reason": "leaked" }),
        )
        .await;
    assert_eq!(status, 200);

    let created = alice_rx.next().await;
    let revoked = alice_rx.next().await;
    for (received, kind) in [(&created, "key.created"), (&revoked, "key.revoked")] {
        assert_eq!(received.kind(), kind);
        assert!(received.signed_with(&secret), "a valid signature on {kind}");
        assert!(!received.signed_with("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        assert_eq!(
            received.json["id"], received.id,
            "webhook-id is the event id"
        );
        let data = &received.json["data"];
        assert_eq!(data["key_id"], key_id);
        assert_eq!(data["owner_id"], w.alice_id.to_string());
        assert_eq!(data["keyspace_id"], w.keyspace);
        assert_eq!(data["name"], "alice ci");
        assert!(data["start"].as_str().expect("start").starts_with("pay_"));
        assert!(received.json["occurred_at"].is_string());
        let text = String::from_utf8_lossy(&received.body);
        assert!(
            !text.contains("digest") && !text.contains("secret"),
            "{text}"
        );
    }
    assert_eq!(revoked.json["data"]["reason"], "leaked");
    assert!(
        revoked.json["position"].as_i64() > created.json["position"].as_i64(),
        "in position order"
    );
    assert!(received_within_five_minutes(&created));

    // The admin's endpoint gets both (its types), Bob's nothing of Alice's: the first
    // thing Bob's receives is his own key.
    assert_eq!(admin_rx.next().await.kind(), "key.created");
    assert_eq!(admin_rx.next().await.kind(), "key.revoked");
    let bobs = w.key(&w.bob, json!({ "name": "bob's" })).await;
    let first = bob_rx.next().await;
    assert_eq!(first.kind(), "key.created");
    assert_eq!(
        first.json["data"]["key_id"], bobs["id"],
        "Bob received only his own key"
    );

    // The log shows both deliveries, delivered at the first attempt with the answer.
    let log = deliveries(&w.app, &w.alice, &alice_hook_id).await;
    assert_eq!(log.len(), 2, "{log:?}");
    for d in &log {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["response_status"], 200);
        assert_eq!(d["response_body"], "answered 200");
        assert_eq!(d["history"].as_array().map(Vec::len), Some(1));
    }

    // Bob cannot see Alice's endpoint; the auditor reads it but cannot change it.
    w.app
        .refused(
            Method::GET,
            &format!("/v1/webhooks/{alice_hook_id}"),
            &w.bob,
            None,
            404,
        )
        .await;
    let listed = w.app.get_json("/v1/webhooks", &w.bob).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    let all = w.app.get_json("/v1/webhooks", &w.auditor).await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(3));
    w.app
        .refused(
            Method::PATCH,
            &format!("/v1/webhooks/{alice_hook_id}"),
            &w.auditor,
            Some(&json!({ "enabled": false })),
            403,
        )
        .await;
    w.app
        .refused(
            Method::POST,
            "/v1/webhooks",
            &w.auditor,
            Some(&json!({ "url": alice_rx.url })),
            403,
        )
        .await;

    // Every change is audited.
    let trail = w
        .app
        .get_json("/v1/audit?action=webhook.create", &w.admin)
        .await;
    assert_eq!(trail["items"].as_array().map(Vec::len), Some(3));
    let text = trail.to_string();
    assert!(!text.contains(&secret[6..]), "no secret in the trail");
}

fn received_within_five_minutes(r: &Received) -> bool {
    (chrono::Utc::now().timestamp() - r.timestamp).abs() < 300
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_failing_receiver_is_retried_until_it_answers_and_the_log_shows_each_attempt(
    pool: PgPool,
) {
    let w = KeyWorld::with_settings(pool, SETTINGS).await;
    let mut rx = Receiver::start().await;
    rx.answer(&[500, 500]);
    let hook = subscribe(
        &w.app,
        &w.admin,
        json!({ "url": rx.url, "events": ["key.created"] }),
    )
    .await;
    let hook_id = hook["id"].as_str().expect("id");
    w.key(&w.alice, json!({})).await;
    let attempts = [rx.next().await, rx.next().await, rx.next().await];
    let id = &attempts[0].id;
    assert!(
        attempts.iter().all(|a| &a.id == id),
        "one event id on every attempt"
    );
    assert!(
        attempts
            .iter()
            .all(|a| a.signed_with(hook["secret"].as_str().expect("s")))
    );
    // The log reflects the third attempt once it is recorded.
    let delivery = wait_for(&w.app, &w.admin, hook_id, |d| d["status"] == "delivered").await;
    assert_eq!(delivery["attempts"], 3);
    let history = delivery["history"].as_array().expect("history");
    let statuses: Vec<&Value> = history.iter().map(|a| &a["response_status"]).collect();
    assert_eq!(statuses, [&json!(500), &json!(500), &json!(200)]);
    assert!(history.iter().all(|a| a["latency_ms"].is_i64()));
    assert!(
        rx.quiet_for(Duration::from_millis(1500)).await.is_none(),
        "no attempt after the 2xx"
    );

    // A receiver that is down for a while gets everything once it is back, in order.
    rx.answer(&[503; 4]);
    for n in 0..3 {
        w.key(&w.alice, json!({ "name": format!("batch {n}") }))
            .await;
    }
    let mut names = Vec::new();
    let mut positions = Vec::new();
    while names.len() < 3 {
        let r = rx.next().await;
        if names.last() != Some(&r.json["data"]["name"]) {
            names.push(r.json["data"]["name"].clone());
            positions.push(r.json["position"].as_i64().expect("position"));
        }
    }
    assert_eq!(
        names,
        [json!("batch 0"), json!("batch 1"), json!("batch 2")]
    );
    assert!(positions.windows(2).all(|p| p[0] < p[1]));
}

/// Polls the endpoint's newest delivery until `done` holds (the attempt is recorded
/// just after the receiver answers).
async fn wait_for(app: &TestApp, token: &str, hook: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        if let Some(d) = deliveries(app, token, hook).await.into_iter().next()
            && done(&d)
        {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the delivery never reached the expected state");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_410_switches_the_endpoint_off_and_tells_the_other_endpoints(pool: PgPool) {
    let w = KeyWorld::with_settings(pool, SETTINGS).await;
    let mut gone = Receiver::start().await;
    let mut watcher = Receiver::start().await;
    gone.answer(&[410]);
    let hook = subscribe(&w.app, &w.alice, json!({ "url": gone.url })).await;
    let hook_id = hook["id"].as_str().expect("id");
    subscribe(
        &w.app,
        &w.admin,
        json!({ "url": watcher.url, "events": ["webhook.disabled"] }),
    )
    .await;
    w.key(&w.alice, json!({})).await;
    assert_eq!(gone.next().await.kind(), "key.created");
    let told = watcher.next().await;
    assert_eq!(told.kind(), "webhook.disabled");
    assert_eq!(told.json["data"]["webhook_id"], hook_id);
    assert_eq!(told.json["data"]["owner_id"], w.alice_id.to_string());
    let shown = w
        .app
        .get_json(&format!("/v1/webhooks/{hook_id}"), &w.alice)
        .await;
    assert_eq!(shown["enabled"], false);
    assert_eq!(shown["disabled_reason"], "the endpoint answered 410 Gone");
    // Nothing more goes to it, and a test is refused until it is switched on again.
    w.key(&w.alice, json!({})).await;
    assert!(gone.quiet_for(Duration::from_millis(1500)).await.is_none());
    w.app
        .refused(
            Method::POST,
            &format!("/v1/webhooks/{hook_id}/test"),
            &w.alice,
            None,
            409,
        )
        .await;
    let (status, on) = w
        .app
        .send_json(
            Method::PATCH,
            &format!("/v1/webhooks/{hook_id}"),
            &w.alice,
            &json!({ "enabled": true }),
        )
        .await;
    assert_eq!(status, 200, "{on}");
    assert_eq!(on["disabled_reason"], Value::Null);
    let (status, sent) = w
        .app
        .post_json(
            &format!("/v1/webhooks/{hook_id}/test"),
            &w.alice,
            &json!({}),
        )
        .await;
    assert_eq!(status, 202, "{sent}");
    let test = gone.next().await;
    assert_eq!(test.kind(), "webhook.test");
    assert_eq!(test.id, sent["event_id"]);
    let trail = w
        .app
        .get_json("/v1/audit?action=webhook.disable", &w.admin)
        .await;
    assert_eq!(
        trail["items"][0]["actor_id"],
        Value::Null,
        "Locksmith did it"
    );
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn two_instances_make_each_attempt_once(pool: PgPool) {
    let w = KeyWorld::with_settings(pool.clone(), SETTINGS).await;
    let second = TestApp::spawn_with(pool, SETTINGS).await;
    let mut rx = Receiver::start().await;
    // Every third answer fails, so retries are claimed by either instance too.
    rx.answer(&[200, 200, 500, 200, 200, 500]);
    subscribe(
        &w.app,
        &w.admin,
        json!({ "url": rx.url, "events": ["key.created"] }),
    )
    .await;
    let body = json!({ "action": "create", "keyspace_id": w.keyspace, "items": (0..20).map(|n| json!({ "name": format!("k{n}"), "owner_id": w.alice_id })).collect::<Vec<_>>() });
    let (status, made) = second.post_json("/v1/keys/bulk", &w.admin, &body).await;
    assert_eq!(status, 201, "{made}");
    let mut seen = std::collections::HashMap::<String, u32>::new();
    let mut delivered = 0;
    let mut answers_left = vec![200, 200, 500, 200, 200, 500];
    answers_left.reverse();
    while delivered < 20 {
        let r = rx.next().await;
        *seen.entry(r.id.clone()).or_default() += 1;
        let answered = answers_left.pop().unwrap_or(200);
        if answered == 200 {
            delivered += 1;
        }
    }
    assert!(
        rx.quiet_for(Duration::from_millis(2500)).await.is_none(),
        "no attempt twice"
    );
    assert_eq!(seen.len(), 20);
    let retried: Vec<u32> = seen.values().copied().filter(|n| *n > 1).collect();
    assert_eq!(
        retried,
        [2, 2],
        "two failed once and were sent once more, {seen:?}"
    );
    second.shutdown().await;
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn private_addresses_are_refused_without_the_setting(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost/hook",
    ] {
        let problem = w
            .app
            .refused(
                Method::POST,
                "/v1/webhooks",
                &w.admin,
                Some(&json!({ "url": url })),
                403,
            )
            .await;
        assert!(
            detail(&problem).contains("LOCKSMITH_WEBHOOK_ALLOW_PRIVATE"),
            "{problem}"
        );
    }
    // A name is checked on the address it resolves to, at delivery time (see the
    // transport's test in core: `localhost` names and metadata addresses refused).
    for (body, field) in [
        (json!({ "url": "ftp://example.com/" }), "url"),
        (
            json!({ "url": "https://example.com/", "events": ["key.nope"] }),
            "events[0]",
        ),
        (
            json!({ "url": "https://example.com/", "events": [] }),
            "events",
        ),
    ] {
        let problem = w
            .app
            .refused(Method::POST, "/v1/webhooks", &w.admin, Some(&body), 400)
            .await;
        assert_eq!(problem["field"], field, "{problem}");
    }
    // A keyspace that does not exist is not found, as for a key.
    w.app
        .refused(
            Method::POST,
            "/v1/webhooks",
            &w.admin,
            Some(&json!({ "url": "https://example.com/", "keyspace_id": uuid::Uuid::new_v4() })),
            404,
        )
        .await;
    let problem = w
        .app
        .refused(
            Method::POST,
            "/v1/webhooks",
            &w.alice,
            Some(&json!({ "url": "https://example.com/", "events": ["user.created"] })),
            400,
        )
        .await;
    assert_eq!(problem["field"], "events[0]");
    // An owner's endpoints are bounded: each one multiplies their events' deliveries.
    for n in 0..10 {
        subscribe(
            &w.app,
            &w.alice,
            json!({ "url": format!("https://example.com/{n}") }),
        )
        .await;
    }
    let problem = w
        .app
        .refused(
            Method::POST,
            "/v1/webhooks",
            &w.alice,
            Some(&json!({ "url": "https://example.com/11" })),
            403,
        )
        .await;
    assert!(detail(&problem).contains("at most 10"), "{problem}");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_rotated_secret_overlaps_and_deliveries_can_be_redelivered_and_replayed(pool: PgPool) {
    let w = KeyWorld::with_settings(pool, SETTINGS).await;
    let mut rx = Receiver::start().await;
    let hook = subscribe(
        &w.app,
        &w.alice,
        json!({ "url": rx.url, "events": ["key.created"] }),
    )
    .await;
    let hook_id = hook["id"].as_str().expect("id");
    let old = hook["secret"].as_str().expect("secret").to_owned();
    let (status, rotated) = w
        .app
        .post_json(
            &format!("/v1/webhooks/{hook_id}/rotate-secret"),
            &w.alice,
            &json!({ "overlap_seconds": 3600 }),
        )
        .await;
    assert!((200..300).contains(&status), "{rotated}");
    let new = rotated["secret"].as_str().expect("secret").to_owned();
    assert_ne!(new, old);
    assert!(rotated["previous_secret_until"].is_string());
    w.key(&w.alice, json!({ "name": "first" })).await;
    let first = rx.next().await;
    assert!(
        first.signed_with(&old) && first.signed_with(&new),
        "both during the overlap"
    );
    assert_eq!(first.signature.split(' ').count(), 2);

    // Redeliver: the same event id, one more attempt in the log.
    let delivery = wait_for(&w.app, &w.alice, hook_id, |d| d["status"] == "delivered").await;
    let did = delivery["id"].as_str().expect("id");
    let (status, again) = w
        .app
        .post_json(
            &format!("/v1/webhooks/{hook_id}/deliveries/{did}/retry"),
            &w.alice,
            &json!({}),
        )
        .await;
    assert_eq!(status, 202, "{again}");
    let resent = rx.next().await;
    assert_eq!(resent.id, first.id);
    wait_for(&w.app, &w.alice, hook_id, |d| {
        d["attempts"] == 2 && d["status"] == "delivered"
    })
    .await;
    w.app
        .refused(
            Method::POST,
            &format!("/v1/webhooks/{hook_id}/deliveries/{did}/retry"),
            &w.bob,
            None,
            404,
        )
        .await;

    // Without overlap, the old secret stops at once.
    let (_, rotated) = w
        .app
        .post_json(
            &format!("/v1/webhooks/{hook_id}/rotate-secret"),
            &w.alice,
            &json!({ "overlap_seconds": 0 }),
        )
        .await;
    let newest = rotated["secret"].as_str().expect("secret").to_owned();
    w.key(&w.alice, json!({ "name": "second" })).await;
    let second = rx.next().await;
    assert!(second.signed_with(&newest) && !second.signed_with(&new));

    // Replay since before both (once the second is recorded as delivered): both events
    // are queued and sent again.
    wait_for(&w.app, &w.alice, hook_id, |d| d["status"] == "delivered").await;
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let (status, replayed) = w
        .app
        .post_json(
            &format!("/v1/webhooks/{hook_id}/replay"),
            &w.alice,
            &json!({ "since": since }),
        )
        .await;
    assert_eq!(status, 202, "{replayed}");
    assert_eq!(replayed["queued"], 2);
    let mut again = [rx.next().await.id, rx.next().await.id];
    again.sort();
    let mut expected = [first.id.clone(), second.id.clone()];
    expected.sort();
    assert_eq!(again, expected);

    // Deleting the endpoint ends its deliveries and its log.
    assert_eq!(
        w.app
            .status(Method::DELETE, &format!("/v1/webhooks/{hook_id}"), &w.alice)
            .await,
        204
    );
    w.app
        .refused(
            Method::GET,
            &format!("/v1/webhooks/{hook_id}/deliveries"),
            &w.alice,
            None,
            404,
        )
        .await;
}

/// The fields a documented schema names: every property and the required ones, through
/// `allOf` and `$ref`.
fn documented(
    doc: &Value,
    schema: &Value,
) -> (
    std::collections::BTreeSet<String>,
    std::collections::BTreeSet<String>,
) {
    let mut properties = std::collections::BTreeSet::new();
    let mut required = std::collections::BTreeSet::new();
    if let Some(target) = schema["$ref"].as_str() {
        let name = target.rsplit('/').next().expect("name");
        return documented(doc, &doc["components"]["schemas"][name]);
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let (p, r) = documented(doc, part);
        properties.extend(p);
        required.extend(r);
    }
    if let Some(props) = schema["properties"].as_object() {
        properties.extend(props.keys().cloned());
    }
    for name in schema["required"].as_array().into_iter().flatten() {
        required.insert(name.as_str().expect("name").to_owned());
    }
    (properties, required)
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn every_event_type_is_delivered_signed_and_as_documented(pool: PgPool) {
    use locksmith_core::lifecycle::{DEFAULT_EXPIRY_REMINDERS, Lifecycle};
    let w = KeyWorld::with_settings(pool.clone(), SETTINGS).await;
    let mut rx = Receiver::start().await;
    let gone = Receiver::start().await;
    gone.answer(&[410]);
    let hook = subscribe(&w.app, &w.admin, json!({ "url": rx.url })).await;
    let secret = hook["secret"].as_str().expect("secret").to_owned();
    let hook_id = hook["id"].as_str().expect("id").to_owned();
    subscribe(
        &w.app,
        &w.alice,
        json!({ "url": gone.url, "events": ["key.created"] }),
    )
    .await;
    let app = &w.app;
    let now = chrono::Utc::now();

    // Keys: created (Alice's 410 endpoint switches off: webhook.disabled), updated,
    // disabled, enabled, rotated, grace changed, revoked.
    let key = w
        .key(&w.alice, json!({ "name": "svc", "expires_at": (now + chrono::Duration::days(10)).to_rfc3339(), "quota": { "limit": 10, "period": "day" } }))
        .await;
    let id = key["id"].as_str().expect("id").to_owned();
    for patch in [
        json!({ "name": "svc 2" }),
        json!({ "enabled": false }),
        json!({ "enabled": true }),
    ] {
        let (status, body) = app
            .send_json(Method::PATCH, &format!("/v1/keys/{id}"), &w.alice, &patch)
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, rotated) = app
        .post_json(
            &format!("/v1/keys/{id}/rotate"),
            &w.alice,
            &json!({ "grace_seconds": 7200 }),
        )
        .await;
    assert!((200..300).contains(&status), "{rotated}");
    let (status, body) = app
        .post_json(
            &format!("/v1/keys/{id}/grace/extend"),
            &w.alice,
            &json!({ "seconds": 3600 }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The old key is used during its grace; the new one spends its quota.
    let new_id = rotated["new_key"]["id"]
        .as_str()
        .or(rotated["id"].as_str())
        .expect("new id")
        .to_owned();
    sqlx::query("UPDATE keys SET last_used_at = now() WHERE id = $1::uuid")
        .bind(&id)
        .execute(&pool)
        .await
        .expect("used");
    sqlx::query("UPDATE keys SET quota_used = 10, quota_period_start = date_trunc('day', now(), 'UTC') WHERE id = $1::uuid")
        .bind(&new_id)
        .execute(&pool)
        .await
        .expect("spent");
    let lifecycle = Lifecycle::new(pool.clone(), &DEFAULT_EXPIRY_REMINDERS);
    lifecycle.check(now).await.expect("grace ending, quota");
    lifecycle
        .check(now + chrono::Duration::days(3) + chrono::Duration::minutes(1))
        .await
        .expect("expired old key");
    let (status, body) = app
        .post_json(
            &format!("/v1/keys/{new_id}/revoke"),
            &w.alice,
            &json!({ "reason": "done" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The successor expires in ten days: seven days before, it is expiring.
    let expiring = w.key(&w.admin, json!({ "name": "later", "expires_at": (now + chrono::Duration::days(10)).to_rfc3339() })).await;
    lifecycle
        .check(now + chrono::Duration::days(3) + chrono::Duration::minutes(2))
        .await
        .expect("expiring");

    // Keyspaces, verifiers, users, and a test.
    let (status, ks) = app
        .post_json(
            "/v1/keyspaces",
            &w.admin,
            &json!({ "name": "Other", "prefix": "oth" }),
        )
        .await;
    assert_eq!(status, 201, "{ks}");
    let (status, ks) = app
        .send_json(
            Method::PATCH,
            &format!("/v1/keyspaces/{}", ks["id"].as_str().expect("id")),
            &w.admin,
            &json!({ "key_header": "authorization" }),
        )
        .await;
    assert_eq!(status, 200, "{ks}");
    let (status, verifier) = app
        .post_json(
            &format!("/v1/keyspaces/{}/verifiers", w.keyspace),
            &w.admin,
            &json!({ "name": "edge" }),
        )
        .await;
    assert_eq!(status, 201, "{verifier}");
    let vid = verifier["id"].as_str().expect("id");
    assert_eq!(
        app.status(
            Method::DELETE,
            &format!("/v1/keyspaces/{}/verifiers/{vid}", w.keyspace),
            &w.admin
        )
        .await,
        204
    );
    let (status, user) = app
        .post_json("/v1/users", &w.admin, &json!({ "email": "carol@keys.test", "password": crate::helpers::PASSWORD, "role": "owner" }))
        .await;
    assert_eq!(status, 201, "{user}");
    let uid = user["id"].as_str().expect("id");
    for patch in [
        json!({ "display_name": "Carol" }),
        json!({ "role": "auditor" }),
        json!({ "disabled": true }),
        json!({ "disabled": false }),
    ] {
        let (status, body) = app
            .send_json(Method::PATCH, &format!("/v1/users/{uid}"), &w.admin, &patch)
            .await;
        assert_eq!(status, 200, "{body}");
    }
    // Leaks: a reporter is issued, reports a key (key.leaked), the finding is
    // acknowledged, the reporter revoked.
    let reporter = w.leak_reporter().await;
    let token = reporter["token"].as_str().expect("token");
    w.report_leak(token, &expiring, "https://paste.example/1")
        .await;
    let findings = app
        .get_json(
            &format!(
                "/v1/findings?key_id={}",
                expiring["id"].as_str().expect("id")
            ),
            &w.admin,
        )
        .await;
    let finding = findings["items"][0]["id"].as_str().expect("finding");
    let (status, body) = app
        .post_json(
            &format!("/v1/findings/{finding}/acknowledge"),
            &w.admin,
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let rid = reporter["id"].as_str().expect("id");
    assert_eq!(
        app.status(
            Method::DELETE,
            &format!("/v1/leak-reporters/{rid}"),
            &w.admin
        )
        .await,
        204
    );
    // Unusual use: an old key still used late in a one-hour grace (key.anomaly).
    let late = w.key(&w.alice, json!({ "name": "late" })).await;
    let late_id = late["id"].as_str().expect("id").to_owned();
    let (status, body) = app
        .post_json(
            &format!("/v1/keys/{late_id}/rotate"),
            &w.alice,
            &json!({ "grace_seconds": 3600 }),
        )
        .await;
    assert!((200..300).contains(&status), "{body}");
    sqlx::query("UPDATE keys SET last_used_at = now() + interval '50 minutes' WHERE id = $1::uuid")
        .bind(&late_id)
        .execute(&pool)
        .await
        .expect("used late");
    let found = locksmith_core::findings::Detector::new(pool.clone(), Default::default())
        .evaluate(now + chrono::Duration::minutes(55))
        .await
        .expect("evaluated")
        .expect("not locked");
    assert_eq!(found.found.len(), 1, "{found:?}");

    let (status, _) = app
        .post_json(
            &format!("/v1/webhooks/{hook_id}/test"),
            &w.admin,
            &json!({}),
        )
        .await;
    assert_eq!(status, 202);
    // The audit trail's head, which the server publishes hourly.
    locksmith_core::audit::AuditService::new(pool.clone())
        .publish_head(locksmith_core::identity::Actor::SYSTEM)
        .await
        .expect("published");

    let doc: Value =
        serde_json::from_str(&locksmith_server::api::openapi::pretty_json()).expect("doc");
    let mut seen = std::collections::BTreeSet::new();
    let mut last_position = 0;
    while seen.len() < locksmith_core::events::TYPES.len() {
        let r = rx.next().await;
        assert!(r.signed_with(&secret), "{}", r.kind());
        let position = r.json["position"].as_i64().expect("position");
        assert!(position > last_position, "in position order");
        last_position = position;
        let schema = &doc["webhooks"][r.kind()]["post"]["requestBody"]["content"]["application/json"]
            ["schema"];
        let (top, top_required) = documented(&doc, schema);
        let body: std::collections::BTreeSet<String> = r
            .json
            .as_object()
            .expect("object")
            .keys()
            .cloned()
            .collect();
        assert_eq!(body, top, "{}", r.kind());
        assert!(top_required.is_subset(&body));
        let (fields, required) = documented(&doc, &schema["properties"]["data"]);
        let data: std::collections::BTreeSet<String> = r.json["data"]
            .as_object()
            .expect("data")
            .keys()
            .cloned()
            .collect();
        assert_eq!(data, fields, "{}: the data is as documented", r.kind());
        assert!(required.is_subset(&data), "{}", r.kind());
        if r.kind().starts_with("key.") {
            for field in ["key_id", "keyspace_id", "owner_id", "name", "start"] {
                assert!(
                    data.contains(field),
                    "{} names the key by {field}",
                    r.kind()
                );
            }
        }
        seen.insert(r.kind().to_owned());
    }
    let catalogue: std::collections::BTreeSet<String> = locksmith_core::events::TYPES
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
    assert_eq!(seen, catalogue);
}

/// Delivery throughput (`scripts/bench-webhooks.sh`, release build): events per second
/// delivered to a local receiver, against the same receiver's rate for plain sequential
/// POSTs from one client measured in the same run (the ratio is what compares across
/// machines). One endpoint receives its events one at a time, in order; four endpoints
/// are served in parallel.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
#[ignore = "a benchmark: scripts/bench-webhooks.sh"]
async fn bench_delivery_throughput(pool: PgPool) {
    let events: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let w = KeyWorld::with_settings(pool, SETTINGS).await;
    let mut rx = Receiver::start().await;
    // Baseline: sequential POSTs of a delivery-sized body straight to the receiver.
    let client = reqwest::Client::new();
    let body = vec![b'x'; 400];
    let started = std::time::Instant::now();
    for _ in 0..events {
        let res = client
            .post(&rx.url)
            .body(body.clone())
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 200);
    }
    let baseline = events as f64 / started.elapsed().as_secs_f64();
    for _ in 0..events {
        rx.next().await;
    }
    for endpoints in [1_usize, 4] {
        let mut hooks = Vec::new();
        for _ in 0..endpoints {
            let hook = subscribe(
                &w.app,
                &w.admin,
                json!({ "url": rx.url, "events": ["key.created"] }),
            )
            .await;
            hooks.push(hook["id"].as_str().expect("id").to_owned());
        }
        let per_endpoint = events / endpoints;
        let started = std::time::Instant::now();
        let mut made = 0;
        while made < per_endpoint {
            let n = (per_endpoint - made).min(400);
            let items: Vec<Value> = (0..n)
                .map(|i| json!({ "name": format!("b{made}-{i}"), "owner_id": w.alice_id }))
                .collect();
            let (status, _) = w
                .app
                .post_json(
                    "/v1/keys/bulk",
                    &w.admin,
                    &json!({ "action": "create", "keyspace_id": w.keyspace, "items": items }),
                )
                .await;
            assert_eq!(status, 201);
            made += n;
        }
        for _ in 0..per_endpoint * endpoints {
            rx.next().await;
        }
        let rate = (per_endpoint * endpoints) as f64 / started.elapsed().as_secs_f64();
        #[expect(clippy::print_stdout, reason = "the benchmark's report")]
        {
            println!(
                "BENCH endpoints={endpoints} events={} delivered_per_s={rate:.0} baseline_posts_per_s={baseline:.0} ratio={:.2}",
                per_endpoint * endpoints,
                rate / baseline
            );
        }
        for hook in hooks {
            assert_eq!(
                w.app
                    .status(Method::DELETE, &format!("/v1/webhooks/{hook}"), &w.admin)
                    .await,
                204
            );
        }
    }
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn an_endpoint_failing_for_days_is_switched_off_and_the_admins_are_told(pool: PgPool) {
    let w = KeyWorld::with_settings(pool.clone(), SETTINGS).await;
    let mut down = Receiver::start().await;
    let mut watcher = Receiver::start().await;
    down.answer(&[503; 10]);
    let hook = subscribe(
        &w.app,
        &w.admin,
        json!({ "url": down.url, "events": ["key.created"] }),
    )
    .await;
    let hook_id = hook["id"].as_str().expect("id");
    subscribe(
        &w.app,
        &w.admin,
        json!({ "url": watcher.url, "events": ["webhook.disabled"] }),
    )
    .await;
    // Every attempt has failed for six days (more than the default five).
    sqlx::query(
        "UPDATE webhooks SET failing_since = now() - interval '6 days' WHERE id = $1::uuid",
    )
    .bind(hook_id)
    .execute(&pool)
    .await
    .expect("failing");
    w.key(&w.alice, json!({})).await;
    assert_eq!(down.next().await.kind(), "key.created");
    let told = watcher.next().await;
    assert_eq!(told.kind(), "webhook.disabled");
    assert!(
        told.json["data"]["reason"]
            .as_str()
            .expect("reason")
            .starts_with("every attempt failed since")
    );
    assert_eq!(told.json["data"]["owner_id"], Value::Null);
    let shown = w
        .app
        .get_json(&format!("/v1/webhooks/{hook_id}"), &w.admin)
        .await;
    assert_eq!(shown["enabled"], false);
    // Its delivery waits, and goes once the endpoint is on again and answers.
    assert!(
        down.quiet_for(Duration::from_millis(1500)).await.is_none(),
        "no retry while off"
    );
    let (status, _) = w
        .app
        .send_json(
            Method::PATCH,
            &format!("/v1/webhooks/{hook_id}"),
            &w.admin,
            &json!({ "enabled": true }),
        )
        .await;
    assert_eq!(status, 200);
    down.answers.lock().expect("script").clear();
    let again = down.next().await;
    assert_eq!(again.kind(), "key.created");
    wait_for(&w.app, &w.admin, hook_id, |d| d["status"] == "delivered").await;
}
