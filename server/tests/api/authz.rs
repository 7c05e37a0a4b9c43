//! `GET /v1/authz`: the verification of `/v1/verify` as a status and headers for a proxy,
//! directly and through a real nginx running the deployment's configuration
//! (`deploy/nginx/locksmith-authz.conf` and `locksmith-protect.conf`) in front of a small
//! upstream service that records what reaches it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{KeyWorld, TestApp, problem};
use crate::nginx::{Nginx, deploy_file};
use crate::verify::{secret, verifier};

/// `GET /v1/authz` with the verifier token and these headers.
async fn authz(app: &TestApp, token: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app
        .client
        .get(app.url("/v1/authz"))
        .header("x-locksmith-verifier", token);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.expect("sent")
}

/// Request headers of a case.
type Headers<'a> = &'a [(&'a str, &'a str)];

fn header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn every_verdict_is_a_status_and_a_valid_key_comes_with_its_headers(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let token = verifier(&w).await;
    let key = w
        .key(
            &w.admin,
            json!({
                "scopes": ["orders:read", "orders:write"],
                "ip_allowlist": ["203.0.113.0/24"],
                "rate_limit": { "limit": 3, "window_seconds": 60 },
                "quota": { "limit": 100, "period": "month" },
            }),
        )
        .await;
    let k = secret(&key);
    let from = ("x-locksmith-client-ip", "203.0.113.9");

    let res = authz(
        &w.app,
        &token,
        &[
            ("x-api-key", &k),
            from,
            ("x-locksmith-scopes", "orders:read"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "x-locksmith-key-id").as_deref(),
        key["id"].as_str()
    );
    assert_eq!(
        header(&res, "x-locksmith-owner-id").as_deref(),
        key["owner_id"].as_str()
    );
    assert_eq!(
        header(&res, "x-locksmith-scopes").as_deref(),
        Some("orders:read,orders:write")
    );
    // The rate limit (2 left of 3) is nearer to running out than the quota (99 of 100).
    assert_eq!(header(&res, "ratelimit-limit").as_deref(), Some("3"));
    assert_eq!(header(&res, "ratelimit-remaining").as_deref(), Some("2"));
    let reset: u64 = header(&res, "ratelimit-reset")
        .expect("reset")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&reset), "{reset}");

    // Refusals, each with its code.
    let cases: [(Headers<'_>, u16, &str); 5] = [
        (&[from], 401, "missing_key"),
        (
            &[("x-api-key", "pay_0000000000000000000000000"), from],
            401,
            "not_found",
        ),
        (&[("x-api-key", &k)], 403, "forbidden_ip"),
        (
            &[("x-api-key", &k), ("x-locksmith-client-ip", "198.51.100.1")],
            403,
            "forbidden_ip",
        ),
        (
            &[
                ("x-api-key", &k),
                from,
                ("x-locksmith-scopes", "billing:read"),
            ],
            403,
            "insufficient_scopes",
        ),
    ];
    for (headers, status, code) in cases {
        let body = problem(authz(&w.app, &token, headers).await, status).await;
        assert_eq!(body["code"], code, "{headers:?}: {body}");
    }
    // The client address may also come from the proxy's X-Forwarded-For (its last hop).
    let res = authz(
        &w.app,
        &token,
        &[
            ("x-api-key", &k),
            ("x-forwarded-for", "198.51.100.1, 203.0.113.7"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    // Two of the three verifications in the window are spent: one more, then 429.
    assert_eq!(
        authz(&w.app, &token, &[("x-api-key", &k), from])
            .await
            .status(),
        200
    );
    let res = authz(&w.app, &token, &[("x-api-key", &k), from]).await;
    let retry: u64 = header(&res, "retry-after")
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(problem(res, 429).await["code"], "rate_limited");

    // Malformed proxy headers and a bad verifier token.
    let bad = problem(
        authz(
            &w.app,
            &token,
            &[("x-api-key", &k), ("x-locksmith-cost", "lots")],
        )
        .await,
        400,
    )
    .await;
    assert_eq!(bad["field"], "x-locksmith-cost");
    let bad = problem(authz(&w.app, "lsv_nope", &[("x-api-key", &k)]).await, 401).await;
    assert_eq!(bad["code"], "unauthorized");
    // Envoy's ext_authz sends the original method and path after the prefix.
    let res = w
        .app
        .client
        .post(w.app.url("/v1/authz/orders/42?x=1"))
        .bearer_auth(&token)
        .header("x-api-key", "pay_0000000000000000000000000")
        .send()
        .await
        .expect("sent");
    assert_eq!(problem(res, 401).await["code"], "not_found");
}

/// A keyspace may read keys from `Authorization: Bearer`; the verifier token then comes
/// in `X-Locksmith-Verifier`. The change reaches the cached verifier at once, and is
/// audited with its event.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_keyspace_may_take_its_keys_from_the_authorization_header(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let token = verifier(&w).await;
    let k = secret(&w.key(&w.admin, json!({})).await);
    let bearer = format!("Bearer {k}");
    assert_eq!(
        authz(&w.app, &token, &[("x-api-key", &k)]).await.status(),
        200
    );
    let path = format!("/v1/keyspaces/{}", w.keyspace);
    let (status, keyspace) = w
        .app
        .send_json(
            Method::PATCH,
            &path,
            &w.admin,
            &json!({ "key_header": "Authorization" }),
        )
        .await;
    assert_eq!(status, 200, "{keyspace}");
    assert_eq!(keyspace["key_header"], "authorization");
    assert_eq!(
        authz(&w.app, &token, &[("authorization", &bearer)])
            .await
            .status(),
        200
    );
    let missing = problem(authz(&w.app, &token, &[("x-api-key", &k)]).await, 401).await;
    assert_eq!(missing["code"], "missing_key");
    // Without X-Locksmith-Verifier, Authorization is the verifier's, and holds no key.
    let res = w
        .app
        .client
        .get(w.app.url("/v1/authz"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(problem(res, 401).await["code"], "missing_key");
    // Only admins change keyspaces; a reserved header is refused by name.
    let status = w
        .app
        .send_status(
            Method::PATCH,
            &path,
            &w.alice,
            &json!({ "key_header": "x-key" }),
        )
        .await;
    assert_eq!(status, 403);
    let (status, bad) = w
        .app
        .send_json(
            Method::PATCH,
            &path,
            &w.admin,
            &json!({ "key_header": "cookie" }),
        )
        .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["field"], "key_header");
    let (action, event): (String, String) = sqlx::query_as(
        "SELECT a.action, e.type FROM audit_log a JOIN events e ON e.audit_id = a.id
         WHERE a.action = 'keyspace.update'",
    )
    .fetch_one(&pool)
    .await
    .expect("audited with its event");
    assert_eq!(
        (action.as_str(), event.as_str()),
        ("keyspace.update", "keyspace.updated")
    );
}

/// The upstream service behind nginx: answers 200 and records the headers of every
/// request that reaches it.
#[derive(Clone, Default)]
struct Upstream {
    seen: Arc<Mutex<Vec<HeaderMap>>>,
}

impl Upstream {
    async fn start(&self) -> std::net::SocketAddr {
        let seen = Arc::clone(&self.seen);
        let app = axum::Router::new().fallback(move |headers: HeaderMap| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock().expect("lock").push(headers);
                "upstream answered"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    fn count(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }

    fn last(&self) -> HeaderMap {
        self.seen
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("a request reached the upstream")
    }
}

/// nginx in front of `upstream`, asking `locksmith` with `token`: `/orders/` needs
/// `orders:read`, `/reports/` costs 5 credits, as the deployment's files are meant to be
/// used.
fn nginx(locksmith: std::net::SocketAddr, upstream: std::net::SocketAddr, token: &str) -> Nginx {
    let authz = deploy_file("nginx/locksmith-authz.conf")
        .display()
        .to_string();
    let protect = deploy_file("nginx/locksmith-protect.conf")
        .display()
        .to_string();
    Nginx::start(&format!(
        "upstream locksmith {{ server {locksmith}; keepalive 8; }}
        upstream service {{ server {upstream}; }}
        server {{
            listen 127.0.0.1:{{port}};
            set $locksmith_verifier \"{token}\";
            include {authz};
            location /orders/ {{
                set $locksmith_scopes \"orders:read\";
                include {protect};
                proxy_pass http://service;
            }}
            location /reports/ {{
                set $locksmith_cost 5;
                include {protect};
                proxy_pass http://service;
            }}
        }}"
    ))
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn through_nginx_only_valid_keys_reach_the_service(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let token = verifier(&w).await;
    let upstream = Upstream::default();
    let nginx = nginx(w.app.addr, upstream.start().await, &token);
    let client = reqwest::Client::new();
    let get = |path: &str, key: Option<&str>| {
        let mut req = client.get(nginx.url(path));
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        async move { req.send().await.expect("sent") }
    };

    // No key, an unknown key, a key without the scope: refused, and never upstream.
    assert_eq!(get("/orders/1", None).await.status(), 401);
    assert_eq!(
        get("/orders/1", Some("pay_0000000000000000000000000"))
            .await
            .status(),
        401
    );
    let reader_key = w
        .key(
            &w.admin,
            json!({ "scopes": ["orders:read"], "rate_limit": { "limit": 100, "window_seconds": 60 } }),
        )
        .await;
    let reader = secret(&reader_key);
    let writer = secret(&w.key(&w.admin, json!({ "scopes": ["billing:read"] })).await);
    assert_eq!(get("/orders/1", Some(&writer)).await.status(), 403);
    assert_eq!(
        upstream.count(),
        0,
        "nothing refused reached the service: {}",
        nginx.errors()
    );

    // A valid key reaches it, with the key's identity; the client sees its rate limit.
    let res = get("/orders/1", Some(&reader)).await;
    assert_eq!(res.status(), 200, "{}", nginx.errors());
    assert_eq!(header(&res, "ratelimit-limit").as_deref(), Some("100"));
    assert_eq!(header(&res, "ratelimit-remaining").as_deref(), Some("99"));
    assert_eq!(res.text().await.expect("body"), "upstream answered");
    let seen = upstream.last();
    let key_id = seen
        .get("x-locksmith-key-id")
        .and_then(|v| v.to_str().ok())
        .expect("key id");
    assert_eq!(Some(key_id), reader_key["id"].as_str());
    assert_eq!(
        seen.get("x-locksmith-owner-id")
            .and_then(|v| v.to_str().ok()),
        reader_key["owner_id"].as_str()
    );
    assert_eq!(
        seen.get("x-locksmith-scopes").and_then(|v| v.to_str().ok()),
        Some("orders:read")
    );
    assert!(seen.get("x-api-key").is_none(), "the key stops at nginx");
    assert_eq!(upstream.count(), 1);
    // A client cannot forge the identity headers.
    let forged = client
        .get(nginx.url("/orders/2"))
        .header("x-api-key", &reader)
        .header("x-locksmith-key-id", "00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .expect("sent");
    assert_eq!(forged.status(), 200);
    assert_eq!(
        upstream
            .last()
            .get("x-locksmith-key-id")
            .and_then(|v| v.to_str().ok()),
        Some(key_id)
    );
    drop(nginx);
}

/// A quota is enforced exactly through nginx, even under concurrent requests: 4 reports
/// of 5 credits fit in 20 credits, the rest are 429 and never reach the service.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn through_nginx_a_quota_is_enforced_exactly(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let token = verifier(&w).await;
    let upstream = Upstream::default();
    let nginx = nginx(w.app.addr, upstream.start().await, &token);
    let key = secret(
        &w.key(
            &w.admin,
            json!({ "quota": { "limit": 20, "period": "day" } }),
        )
        .await,
    );
    let client = reqwest::Client::new();
    let requests = (0..10).map(|i| {
        let req = client
            .get(nginx.url(&format!("/reports/{i}")))
            .header("x-api-key", &key);
        async move { req.send().await.expect("sent") }
    });
    let answers = futures_util::future::join_all(requests).await;
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 429, 429, 429, 429, 429, 429],
        "{}",
        nginx.errors()
    );
    let refused = answers
        .iter()
        .find(|r| r.status() == 429)
        .expect("a refusal");
    let retry: u64 = header(refused, "retry-after")
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!(
        (1..=86_400).contains(&retry),
        "until the day's quota starts again: {retry}"
    );
    assert_eq!(upstream.count(), 4);
}

/// A key revoked on one instance is refused through nginx in front of another within a
/// second.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn through_nginx_a_revoked_key_is_refused_within_a_second(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let token = verifier(&w).await;
    let other = TestApp::spawn(pool.clone()).await;
    let upstream = Upstream::default();
    let nginx = nginx(other.addr, upstream.start().await, &token);
    let key = w.key(&w.admin, json!({})).await;
    let client = reqwest::Client::new();
    let status = || {
        let req = client
            .get(nginx.url("/reports/1"))
            .header("x-api-key", secret(&key));
        async move { req.send().await.expect("sent").status().as_u16() }
    };
    assert_eq!(status().await, 200, "cached by the other instance now");
    w.revoke(&key).await;
    let revoked = Instant::now();
    let mut last = 200;
    while revoked.elapsed() < Duration::from_secs(1) {
        last = status().await;
        if last == 403 {
            break;
        }
    }
    assert_eq!(last, 403, "refused within a second of the revocation");
    let through = upstream.count();
    assert_eq!(status().await, 403);
    assert_eq!(upstream.count(), through, "and never again upstream");
    drop(nginx);
    other.shutdown().await;
}
