//! `locksmith-client` against a real Locksmith: verdicts as `/v1/verify` gives them,
//! retries and the circuit breaker across a server stopped and started again, fail-open
//! for keys seen valid, and the local cache kept coherent by the invalidation stream
//! (refusing a revoked key within a second, and bypassed while the stream is down).

use std::time::{Duration, Instant};

use locksmith_client::{
    BreakerConfig, CacheConfig, Client, Code, Error, Source, UnavailablePolicy, UnavailableReason,
    VerifyRequest,
};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{DbProxy, KeyWorld, TestApp};
use crate::verify::{secret, verifier, verify};

fn client(app: &TestApp, token: &str) -> locksmith_client::ClientBuilder {
    Client::builder(app.url(""), token)
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn verdicts_match_the_verify_endpoint(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let token = verifier(&w).await;
    let limited = w
        .key(
            &w.admin,
            json!({
                "scopes": ["orders:read"],
                "ip_allowlist": ["203.0.113.0/24"],
                "quota": { "limit": 100, "period": "day" },
                "rate_limit": { "limit": 50, "window_seconds": 60 },
                "meta": { "plan": "pro" },
            }),
        )
        .await;
    let revoked = w.key(&w.admin, json!({})).await;
    w.revoke(&revoked).await;
    let client = client(&w.app, &token).build().expect("client");
    let ip = "203.0.113.5".parse().expect("ip");
    let cases = [
        (
            secret(&limited),
            VerifyRequest::new().scope("orders:read").client_ip(ip),
            "VALID",
        ),
        (
            secret(&limited),
            VerifyRequest::new().client_ip("198.51.100.1".parse().expect("ip")),
            "FORBIDDEN_IP",
        ),
        (
            secret(&limited),
            VerifyRequest::new().scope("orders:write").client_ip(ip),
            "INSUFFICIENT_SCOPES",
        ),
        (secret(&revoked), VerifyRequest::new(), "REVOKED"),
        (
            "pay_0000000000000000000000000".to_owned(),
            VerifyRequest::new(),
            "NOT_FOUND",
        ),
    ];
    for (key, request, expected) in &cases {
        let verdict = client.verify(key, request).await.expect("decided");
        assert_eq!(verdict.code.as_str(), *expected);
        assert_eq!(verdict.source, Source::Server);
        // The same request through the endpoint: the same answer, field for field.
        let mut body = json!({ "key": key, "scopes": request.scopes });
        if let Some(ip) = request.client_ip {
            body["client_ip"] = json!(ip.to_string());
        }
        let (_, answer) = verify(&w.app, &token, &body).await;
        assert_eq!(answer["code"], *expected);
        assert_eq!(answer["valid"], verdict.valid);
        assert_eq!(
            answer["key_id"].as_str().map(str::to_owned),
            verdict.key_id.map(|id| id.to_string())
        );
        assert_eq!(answer["name"].as_str(), verdict.name.as_deref());
        if verdict.valid {
            assert_eq!(verdict.meta.as_ref(), Some(&json!({ "plan": "pro" })));
            assert_eq!(verdict.quota.as_ref().map(|q| q.limit), Some(100));
            // One verification later through the endpoint: one credit less.
            assert_eq!(
                answer["quota"]["remaining"],
                verdict.quota.as_ref().map_or(0, |q| q.remaining) - 1
            );
        }
    }
    // A batch answers in order, as the single calls do.
    let items: Vec<(String, VerifyRequest)> = cases
        .iter()
        .map(|(k, r, _)| (k.clone(), r.clone()))
        .collect();
    let batch = client.verify_batch(&items).await.expect("batch");
    let codes: Vec<&str> = batch
        .iter()
        .map(|v| v.as_ref().expect("decided").code.as_str())
        .collect();
    assert_eq!(codes, cases.iter().map(|(_, _, c)| *c).collect::<Vec<_>>());
    // A refused verifier token is an error, never a verdict.
    let stranger = Client::builder(w.app.url(""), "lsv_not_a_token")
        .build()
        .expect("client");
    let refused = stranger
        .verify(&secret(&limited), &VerifyRequest::new())
        .await;
    assert!(
        matches!(refused, Err(Error::Unauthorized { .. })),
        "{refused:?}"
    );
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn retries_and_the_breaker_ride_out_a_server_stopped_and_started_again(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let token = verifier(&w).await;
    let key = secret(&w.key(&w.admin, json!({})).await);
    let never_seen = secret(&w.key(&w.admin, json!({})).await);
    let first = TestApp::spawn(pool.clone()).await;
    let port = first.addr.port().to_string();
    let breaker = BreakerConfig {
        failure_threshold: 2,
        open_for: Duration::from_millis(300),
    };
    let closed = client(&first, &token)
        .retries(2)
        .breaker(breaker)
        .build()
        .expect("client");
    let open = client(&first, &token)
        .retries(2)
        .breaker(breaker)
        .unavailable_policy(UnavailablePolicy::FailOpen {
            max_age: Duration::from_secs(60),
        })
        .build()
        .expect("client");
    for c in [&closed, &open] {
        assert_eq!(
            c.verify(&key, &VerifyRequest::new())
                .await
                .expect("up")
                .code,
            Code::Valid
        );
    }
    first.shutdown().await;

    // Down: connection errors, retried, then the breaker answers at once.
    let err = closed
        .verify(&key, &VerifyRequest::new())
        .await
        .expect_err("down");
    assert!(
        matches!(
            err,
            Error::Unavailable {
                reason: UnavailableReason::Connection,
                ..
            }
        ),
        "{err:?}"
    );
    let _ = closed.verify(&key, &VerifyRequest::new()).await;
    let started = Instant::now();
    let err = closed
        .verify(&key, &VerifyRequest::new())
        .await
        .expect_err("open");
    assert!(
        matches!(
            err,
            Error::Unavailable {
                reason: UnavailableReason::BreakerOpen,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "no call was made"
    );
    // Fail open: a key seen VALID is answered from memory; another is not.
    let served = open
        .verify(&key, &VerifyRequest::new())
        .await
        .expect("served");
    assert_eq!(
        (served.code, served.source),
        (Code::Valid, Source::FailOpen)
    );
    assert!(
        open.verify(&never_seen, &VerifyRequest::new())
            .await
            .expect_err("unseen")
            .is_unavailable()
    );
    assert!(open.stats().fail_open_served >= 1);

    // Up again on the same port: once the breaker lets a probe through, it closes.
    let second = TestApp::spawn_with(pool, &[("LOCKSMITH_PORT", port.as_str())]).await;
    assert_eq!(second.addr.port().to_string(), port);
    tokio::time::sleep(breaker.open_for).await; // the breaker's own timer, not a race
    let verdict = closed
        .verify(&key, &VerifyRequest::new())
        .await
        .expect("up again");
    assert_eq!(
        (verdict.code, verdict.source),
        (Code::Valid, Source::Server)
    );
    let verdict = closed
        .verify(&never_seen, &VerifyRequest::new())
        .await
        .expect("closed");
    assert_eq!(verdict.code, Code::Valid);
    second.shutdown().await;
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_cache_answers_without_a_round_trip_and_refuses_a_revoked_key_within_a_second(
    pool: PgPool,
) {
    let w = KeyWorld::new(pool.clone()).await;
    let token = verifier(&w).await;
    // The service's client talks to another instance than the one the admin uses.
    let other = TestApp::spawn(pool).await;
    // Created before the client listens: a key announced to it (created, changed) is not
    // cached for 2 s, in case another instance has not applied the change yet.
    let key = w.key(&w.admin, json!({ "scopes": ["orders:read"] })).await;
    let quota = secret(
        &w.key(
            &w.admin,
            json!({ "quota": { "limit": 10, "period": "day" } }),
        )
        .await,
    );
    let client = client(&other, &token)
        .cache(CacheConfig::default())
        .build()
        .expect("client");
    assert!(
        client.wait_until_cache_live(Duration::from_secs(10)).await,
        "the stream is up"
    );
    let read = VerifyRequest::new().scope("orders:read");
    let first = client.verify(&secret(&key), &read).await.expect("decided");
    assert_eq!((first.code, first.source), (Code::Valid, Source::Server));
    let second = client.verify(&secret(&key), &read).await.expect("decided");
    assert_eq!((second.code, second.source), (Code::Valid, Source::Cache));
    // What the cache answered is reported, and the key's usage counts it.
    assert_eq!(client.flush_usage().await.expect("reported"), 1);
    other.verify.flush().await.expect("usage written");
    let usage = w
        .app
        .get_json(
            &format!("/v1/keys/{}/usage", key["id"].as_str().expect("id")),
            &w.admin,
        )
        .await;
    let valid: i64 = usage["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|bucket| bucket["valid"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(
        valid, 2,
        "one answered by the server, one by the cache: {usage}"
    );
    assert_eq!(client.flush_usage().await.expect("nothing new"), 0);
    // Another request (another scope) is another entry; a quota key is never cached.
    let other_scope = client
        .verify(&secret(&key), &VerifyRequest::new())
        .await
        .expect("decided");
    assert_eq!(other_scope.source, Source::Server);
    for _ in 0..2 {
        let spent = client
            .verify(&quota, &VerifyRequest::new())
            .await
            .expect("decided");
        assert_eq!(spent.source, Source::Server);
    }
    let hits = client.stats().hits;

    w.revoke(&key).await;
    let revoked = Instant::now();
    let mut verdict = client.verify(&secret(&key), &read).await.expect("decided");
    while verdict.code == Code::Valid && revoked.elapsed() < Duration::from_secs(1) {
        tokio::task::yield_now().await;
        verdict = client.verify(&secret(&key), &read).await.expect("decided");
    }
    assert_eq!(verdict.code, Code::Revoked, "refused within a second");
    assert_eq!(verdict.source, Source::Server);
    assert!(client.stats().invalidations >= 1);
    assert!(client.stats().hits >= hits);
    other.shutdown().await;
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_cache_is_bypassed_while_the_stream_is_down(pool: PgPool) {
    let proxy = DbProxy::start(&pool).await;
    let w = KeyWorld::with_settings(
        proxy.pool(&pool),
        &[("LOCKSMITH_VERIFY_DEGRADED_SECS", "60")],
    )
    .await;
    let token = verifier(&w).await;
    let key = secret(&w.key(&w.admin, json!({})).await);
    let client = client(&w.app, &token)
        .cache(CacheConfig::default())
        .build()
        .expect("client");
    assert!(client.wait_until_cache_live(Duration::from_secs(10)).await);
    client
        .verify(&key, &VerifyRequest::new())
        .await
        .expect("decided");
    let cached = client
        .verify(&key, &VerifyRequest::new())
        .await
        .expect("decided");
    assert_eq!(cached.source, Source::Cache);

    // The server loses its database: its stream ends, and the client's cache goes off.
    proxy.cut();
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.cache_is_live() {
        assert!(Instant::now() < deadline, "the cache stayed live");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let hits = client.stats().hits;
    let verdict = client
        .verify(&key, &VerifyRequest::new())
        .await
        .expect("degraded, served");
    assert_eq!(
        (verdict.code, verdict.source),
        (Code::Valid, Source::Server)
    );
    assert_eq!(client.stats().hits, hits, "not from the cache");

    // Back: the stream is up again, and the cache starts over.
    proxy.restore();
    assert!(
        client.wait_until_cache_live(Duration::from_secs(20)).await,
        "up again"
    );
    let fresh = client
        .verify(&key, &VerifyRequest::new())
        .await
        .expect("decided");
    assert_eq!(
        fresh.source,
        Source::Server,
        "emptied when the stream came back"
    );
    let cached = client
        .verify(&key, &VerifyRequest::new())
        .await
        .expect("decided");
    assert_eq!(cached.source, Source::Cache);
}

/// A service protected by the client's tower layer, as in `client/examples/service.rs`:
/// only valid keys with the route's scope reach the handler, which reads the key through
/// the `VerifiedKey` extractor; refusals get the statuses a proxy would give.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_layer_protects_routes_and_the_handler_extracts_the_key(pool: PgPool) {
    use axum::routing::{get, post};
    use locksmith_client::{VerifiedKey, VerifyLayer};

    let w = KeyWorld::new(pool).await;
    let token = verifier(&w).await;
    let reader = w
        .key(&w.admin, json!({ "scopes": ["orders:read"], "rate_limit": { "limit": 10, "window_seconds": 60 } }))
        .await;
    let refunder = w
        .key(
            &w.admin,
            json!({ "scopes": ["orders:*"], "quota": { "limit": 7, "period": "day" } }),
        )
        .await;
    let client = client(&w.app, &token).build().expect("client");
    let service = axum::Router::new()
        .route(
            "/orders",
            get(|key: VerifiedKey| async move { format!("orders of {}", key.owner_id) }),
        )
        .route_layer(VerifyLayer::new(client.clone()).scopes(["orders:read"]))
        .route(
            "/refund",
            post(|key: VerifiedKey| async move { key.name })
                .route_layer(VerifyLayer::new(client).scopes(["orders:refund"]).cost(5)),
        )
        .route("/health", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(
            listener,
            service.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, key: Option<&str>| {
        let mut req = http.request(method, format!("http://{addr}{path}"));
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        async move { req.send().await.expect("sent") }
    };
    use reqwest::Method;
    let res = call(Method::GET, "/orders", Some(&secret(&reader))).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("ratelimit-limit")
            .and_then(|v| v.to_str().ok()),
        Some("10")
    );
    assert_eq!(
        res.text().await.expect("body"),
        format!("orders of {}", reader["owner_id"].as_str().expect("owner"))
    );
    assert_eq!(
        call(Method::GET, "/health", None).await.status(),
        200,
        "routes after the layer are public"
    );
    let missing = call(Method::GET, "/orders", None).await;
    assert_eq!(missing.status(), 401);
    assert!(missing.headers().contains_key("www-authenticate"));
    assert_eq!(
        call(
            Method::GET,
            "/orders",
            Some("pay_0000000000000000000000000")
        )
        .await
        .status(),
        401
    );
    assert_eq!(
        call(Method::POST, "/refund", Some(&secret(&reader)))
            .await
            .status(),
        403,
        "no orders:refund"
    );
    // 7 credits: one refund of 5, then 429.
    let res = call(Method::POST, "/refund", Some(&secret(&refunder))).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.expect("body"), "test key");
    let res = call(Method::POST, "/refund", Some(&secret(&refunder))).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
}
