//! `POST /v1/verify`: every outcome code, verifier authentication, input errors, and
//! quotas that are never overspent, also across two instances.

use std::borrow::Borrow;

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{KeyWorld, TestApp, problem};

/// A verifier token for the world's keyspace.
pub(crate) async fn verifier(w: &KeyWorld) -> String {
    let (status, created) = w
        .app
        .post_json(
            &format!("/v1/keyspaces/{}/verifiers", w.keyspace),
            &w.admin,
            &json!({ "name": "checkout service" }),
        )
        .await;
    assert_eq!(status, 201);
    created["token"].as_str().expect("token").to_owned()
}

pub(crate) async fn verify(app: &TestApp, token: &str, body: &Value) -> (u16, Value) {
    app.post_json("/v1/verify", token, body).await
}

/// Verifies and returns the code, asserting the answer is a 200 and that a refusal
/// discloses nothing.
pub(crate) async fn code(app: &TestApp, token: &str, body: impl Borrow<Value>) -> String {
    let body = body.borrow();
    let (status, answer) = verify(app, token, body).await;
    assert_eq!(status, 200, "{body}: {answer}");
    if answer["valid"] != true {
        // A refusal discloses nothing about the key.
        let fields: Vec<&String> = answer.as_object().expect("object").keys().collect();
        assert_eq!(fields, ["code", "valid"], "{answer}");
    }
    answer["code"].as_str().expect("code").to_owned()
}

pub(crate) fn secret(key: &Value) -> String {
    key["key"].as_str().expect("secret").to_owned()
}

/// A change answers once the instance that made it has applied it to its caches: the
/// caller's next verification there sees it, every time, through the REST API and the
/// portal alike (without the barrier, the cached answer won this race now and then).
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_instance_that_made_a_change_sees_it_at_once(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let token = verifier(&w).await;
    let key = w.key(&w.admin, json!({})).await;
    let (k, id) = (secret(&key), key["id"].as_str().expect("id").to_owned());
    let path = format!("/v1/keys/{id}");
    let portal = w.app.portal_session("admin@keys.test").await;
    for round in 0..25 {
        assert_eq!(
            w.app
                .send_status(Method::PATCH, &path, &w.admin, &json!({ "enabled": false }))
                .await,
            200
        );
        assert_eq!(
            code(&w.app, &token, json!({ "key": k })).await,
            "DISABLED",
            "round {round}: REST"
        );
        let res = w
            .app
            .server_fn(
                &portal,
                "set_key_enabled",
                &[("id", &id), ("enabled", "true")],
            )
            .await;
        assert!(res.status().as_u16() < 400, "{}", res.status());
        assert_eq!(
            code(&w.app, &token, json!({ "key": k })).await,
            "VALID",
            "round {round}: portal"
        );
    }
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn every_outcome_in_the_contracts_order(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let token = verifier(&w).await;
    let app = &w.app;
    let key = w
        .key(
            &w.admin,
            json!({
                "owner_id": w.alice_id,
                "name": "checkout",
                "scopes": ["orders:*", "reports:read"],
                "meta": { "plan": "pro" },
                "expires_at": "2099-01-01T00:00:00Z",
            }),
        )
        .await;
    let k = secret(&key);

    let (status, valid) = verify(
        app,
        &token,
        &json!({ "key": k, "scopes": ["orders:refund"] }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(valid["valid"], true);
    assert_eq!(valid["code"], "VALID");
    assert_eq!(valid["key_id"], key["id"]);
    assert_eq!(valid["owner_id"], json!(w.alice_id));
    assert_eq!(valid["name"], "checkout");
    assert_eq!(valid["scopes"], json!(["orders:*", "reports:read"]));
    assert_eq!(valid["meta"], json!({ "plan": "pro" }));
    assert_eq!(valid["expires_at"], "2099-01-01T00:00:00Z");
    assert!(valid.get("quota").is_none() && valid.get("rate_limit").is_none());
    // Usage is written at most once a second; write it now.
    app.verify.flush().await.expect("usage written");
    let seen = w
        .app
        .get_json(
            &format!("/v1/keys/{}", key["id"].as_str().expect("id")),
            &w.admin,
        )
        .await;
    assert!(
        seen["last_used_at"].is_string(),
        "a valid verification is recorded"
    );

    // NOT_FOUND: unknown, mistyped, malformed, or of another keyspace.
    let mut typo = k.clone().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).expect("ascii");
    let unknown = locksmith_core::keys::format::generate("pay")
        .expose()
        .to_owned();
    for presented in [
        unknown.as_str(),
        typo.as_str(),
        "pay_short",
        "",
        "' OR 1=1 --",
    ] {
        assert_eq!(
            code(app, &token, json!({ "key": presented })).await,
            "NOT_FOUND",
            "{presented}"
        );
    }
    let (_, other) = app
        .post_json(
            "/v1/keyspaces",
            &w.admin,
            &json!({ "name": "Maps", "prefix": "map" }),
        )
        .await;
    let (_, foreign) = app
        .post_json(
            "/v1/keys",
            &w.admin,
            &json!({ "keyspace_id": other["id"], "name": "maps" }),
        )
        .await;
    assert_eq!(
        code(app, &token, json!({ "key": secret(&foreign) })).await,
        "NOT_FOUND"
    );

    assert_eq!(
        code(app, &token, json!({ "key": k, "scopes": ["admin"] })).await,
        "INSUFFICIENT_SCOPES"
    );
    let fenced = secret(
        &w.key(
            &w.admin,
            json!({ "ip_allowlist": ["10.0.0.0/8", "2001:db8::/32"] }),
        )
        .await,
    );
    for (client_ip, expected) in [
        (json!("10.9.8.7"), "VALID"),
        (json!("2001:db8::1"), "VALID"),
        (json!("11.0.0.1"), "FORBIDDEN_IP"),
        (json!(null), "FORBIDDEN_IP"),
    ] {
        let body = json!({ "key": fenced, "client_ip": client_ip });
        assert_eq!(code(app, &token, body).await, expected, "{client_ip}");
    }

    let limited = secret(
        &w.key(
            &w.admin,
            json!({ "rate_limit": { "limit": 2, "window_seconds": 3600 } }),
        )
        .await,
    );
    let (_, first) = verify(app, &token, &json!({ "key": limited })).await;
    assert_eq!(first["rate_limit"]["limit"], 2);
    assert_eq!(first["rate_limit"]["remaining"], 1);
    assert!(first["rate_limit"]["reset_at"].is_string());
    assert_eq!(code(app, &token, json!({ "key": limited })).await, "VALID");
    assert_eq!(
        code(app, &token, json!({ "key": limited })).await,
        "RATE_LIMITED"
    );

    let quota = secret(
        &w.key(
            &w.admin,
            json!({ "quota": { "limit": 3, "period": "day" } }),
        )
        .await,
    );
    let (_, spent) = verify(app, &token, &json!({ "key": quota, "cost": 2 })).await;
    assert_eq!(spent["quota"]["limit"], 3);
    assert_eq!(spent["quota"]["remaining"], 1);
    assert!(spent["quota"]["resets_at"].is_string());
    assert_eq!(
        code(app, &token, json!({ "key": quota, "cost": 2 })).await,
        "QUOTA_EXCEEDED"
    );
    assert_eq!(
        code(app, &token, json!({ "key": quota, "scopes": ["x"] })).await,
        "INSUFFICIENT_SCOPES"
    );
    assert_eq!(
        code(app, &token, json!({ "key": quota })).await,
        "VALID",
        "refusals spend nothing"
    );
    assert_eq!(
        code(app, &token, json!({ "key": quota })).await,
        "QUOTA_EXCEEDED"
    );
    // A zero-cost verification checks the key alone: a spent quota does not refuse it
    // (decided and documented in the README), and it reports what is left.
    let (_, free) = verify(app, &token, &json!({ "key": quota, "cost": 0 })).await;
    assert_eq!(
        (free["code"].as_str(), free["quota"]["remaining"].as_i64()),
        (Some("VALID"), Some(0)),
        "{free}"
    );
    let total = secret(
        &w.key(
            &w.admin,
            json!({ "quota": { "limit": 5, "period": "total" } }),
        )
        .await,
    );
    let (_, answer) = verify(app, &token, &json!({ "key": total, "cost": 0 })).await;
    assert_eq!(answer["quota"]["remaining"], 5, "cost 0 spends nothing");
    assert!(answer["quota"]["resets_at"].is_null());

    // EXPIRED, DISABLED, REVOKED; and revoked beats disabled beats expired.
    let id = key["id"].as_str().expect("id");
    let path = format!("/v1/keys/{id}");
    let patch = |body: Value| {
        let (app, admin, path) = (&w.app, &w.admin, &path);
        async move {
            assert_eq!(
                app.send_status(Method::PATCH, path, admin, &body).await,
                200
            );
        }
    };
    patch(json!({ "expires_at": "2020-01-01T00:00:00Z" })).await;
    assert_eq!(code(app, &token, json!({ "key": k })).await, "EXPIRED");
    patch(json!({ "enabled": false })).await;
    assert_eq!(code(app, &token, json!({ "key": k })).await, "DISABLED");
    app.post_json(&format!("/v1/keys/{id}/revoke"), &w.admin, &json!({}))
        .await;
    assert_eq!(code(app, &token, json!({ "key": k })).await, "REVOKED");

    // A rotated key works during its grace and is expired after it.
    let old = w.key(&w.admin, json!({ "name": "rotating" })).await;
    let (_, rotated) = app
        .post_json(
            &format!("/v1/keys/{}/rotate", old["id"].as_str().expect("id")),
            &w.admin,
            &json!({ "grace_seconds": 0 }),
        )
        .await;
    assert_eq!(
        code(app, &token, json!({ "key": secret(&old) })).await,
        "EXPIRED"
    );
    assert_eq!(
        code(app, &token, json!({ "key": secret(&rotated) })).await,
        "VALID"
    );
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn verifiers_authenticate_and_bad_input_is_a_400(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let token = verifier(&w).await;
    let k = secret(&w.key(&w.admin, json!({})).await);
    let app = &w.app;

    // No token, an access token, a made-up token: 401 with the challenge.
    for bad in [
        "",
        w.admin.as_str(),
        "lsv_notarealtokenatallnotarealtokenat",
    ] {
        let res = app
            .with(Method::POST, "/v1/verify", bad)
            .json(&json!({ "key": k }))
            .send()
            .await
            .expect("sent");
        assert_eq!(
            res.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
        problem(res, 401).await;
    }
    for body in [
        json!({}),
        json!({ "key": 5 }),
        json!({ "key": k, "cost": 1001 }),
        json!({ "key": k, "cost": -1 }),
        json!({ "key": k, "client_ip": "not an ip" }),
        json!({ "key": k, "scopes": ["Not A Scope"] }),
        json!({ "key": k, "extra": true }),
    ] {
        let p = app
            .refused(Method::POST, "/v1/verify", &token, Some(&body), 400)
            .await;
        assert_eq!(p["code"], "invalid_request", "{body}");
    }
    let big = json!({ "key": k, "scopes": vec!["a"; 3000] });
    app.refused(Method::POST, "/v1/verify", &token, Some(&big), 413)
        .await;

    // A revoked verifier stops working at once.
    let list = app
        .get_json(&format!("/v1/keyspaces/{}/verifiers", w.keyspace), &w.admin)
        .await;
    let verifier_id = list["items"][0]["id"].as_str().expect("id");
    let res = app
        .with(
            Method::DELETE,
            &format!("/v1/keyspaces/{}/verifiers/{verifier_id}", w.keyspace),
            &w.admin,
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 204);
    app.refused(
        Method::POST,
        "/v1/verify",
        &token,
        Some(&json!({ "key": k })),
        401,
    )
    .await;
}

/// Sends `head` (a request line and headers, without the blank line) and `body` over a
/// fresh connection, keeping it open without sending more; returns what the server
/// answers before it closes the connection.
async fn raw_request(app: &TestApp, head: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    stream
        .write_all(format!("{head}\r\nconnection: close\r\n\r\n").as_bytes())
        .await
        .expect("head");
    stream.write_all(body).await.expect("body");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    );
    read.await.expect("answered in time").expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

/// The body must be JSON, at most 8 KiB, and arrive within the request timeout; each
/// failure is its own problem, and none costs the server a verification.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn verify_bodies_must_be_json_small_and_on_time(pool: PgPool) {
    let w = KeyWorld::with_settings(pool, &[("LOCKSMITH_REQUEST_TIMEOUT_SECS", "1")]).await;
    let token = verifier(&w).await;
    let k = secret(&w.key(&w.admin, json!({})).await);
    let app = &w.app;
    let body = json!({ "key": k }).to_string();

    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut req = app
            .with(Method::POST, "/v1/verify", &token)
            .body(body.clone());
        if let Some(content_type) = content_type {
            req = req.header("content-type", content_type);
        }
        let p = problem(req.send().await.expect("sent"), 415).await;
        assert_eq!(p["code"], "unsupported_media_type", "{content_type:?}");
    }
    let res = app
        .with(Method::POST, "/v1/verify", &token)
        .header("content-type", "application/json; charset=utf-8")
        .body(body.clone())
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200, "parameters are allowed");

    let head = |length: &str| {
        format!(
            "POST /v1/verify HTTP/1.1\r\nhost: locksmith.test\r\n\
             authorization: Bearer {token}\r\ncontent-type: application/json\r\n{length}"
        )
    };
    // Chunked, so no length is declared up front: refused once it passes 8 KiB.
    let chunk = format!("{:x}\r\n{}\r\n", 5000, "x".repeat(5000));
    let answer = raw_request(
        app,
        &head("transfer-encoding: chunked"),
        chunk.repeat(2).as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");

    // Half a body, then nothing: a 408 after the request timeout, not a hung task.
    let started = std::time::Instant::now();
    let answer = raw_request(
        app,
        &head(&format!("content-length: {}", body.len())),
        &body.as_bytes()[..10],
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("x-request-id"),
        "{answer}"
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));

    // A verification answer is small: never compressed, even when asked.
    let res = app
        .with(Method::POST, "/v1/verify", &token)
        .header("accept-encoding", "gzip, br")
        .json(&json!({ "key": k }))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("content-encoding").is_none());
    let answer: Value = res.json().await.expect("json");
    assert_eq!(answer["code"], "VALID");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_quota_is_never_overspent_under_concurrency_across_instances(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let token = verifier(&w).await;
    let second = TestApp::spawn(pool.clone()).await;
    let key = w
        .key(
            &w.admin,
            json!({ "quota": { "limit": 100, "period": "month" } }),
        )
        .await;
    let body = json!({ "key": secret(&key) });

    // 200 verifications at once, half on each instance.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let client = w.app.client.clone();
        let url = if i % 2 == 0 {
            w.app.url("/v1/verify")
        } else {
            second.url("/v1/verify")
        };
        let (token, body) = (token.clone(), body.clone());
        tasks.spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("sent");
            assert_eq!(res.status(), 200);
            let answer: Value = res.json().await.expect("json");
            answer["code"].as_str().expect("code").to_owned()
        });
    }
    let mut valid = 0;
    let mut exceeded = 0;
    while let Some(code) = tasks.join_next().await {
        match code.expect("task").as_str() {
            "VALID" => valid += 1,
            "QUOTA_EXCEEDED" => exceeded += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((valid, exceeded), (100, 100));
    let view = w
        .app
        .get_json(
            &format!("/v1/keys/{}", key["id"].as_str().expect("id")),
            &w.admin,
        )
        .await;
    assert_eq!(view["quota"]["used"], 100);
    assert_eq!(view["quota"]["remaining"], 0);
}

/// Verifies on `app` until the answer is `expected`, for at most `within`; returns how
/// long it took. Polls every 10 ms: the event is another instance's cache invalidation,
/// which has no handle to await from here.
async fn settles_to(
    app: &TestApp,
    token: &str,
    body: &Value,
    expected: u16,
    code_wanted: Option<&str>,
    within: std::time::Duration,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    loop {
        let (status, answer) = verify(app, token, body).await;
        if status == expected && code_wanted.is_none_or(|c| answer["code"] == c) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "still {status} {answer} after {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_revocation_on_one_instance_is_refused_on_another_within_a_second(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let token = verifier(&w).await;
    let b = TestApp::spawn(pool.clone()).await;
    let key = w.key(&w.admin, json!({})).await;
    let body = json!({ "key": secret(&key) });
    let second = std::time::Duration::from_secs(1);

    // B answers from its cache once it has seen the key.
    for _ in 0..3 {
        assert_eq!(code(&b, &token, body.clone()).await, "VALID");
    }
    w.revoke(&key).await;
    settles_to(&b, &token, &body, 200, Some("REVOKED"), second).await;

    // The same for a change that is not a revocation, and for the verifier itself.
    let other = w.key(&w.admin, json!({})).await;
    let other_body = json!({ "key": secret(&other) });
    assert_eq!(code(&b, &token, other_body.clone()).await, "VALID");
    w.app
        .send_json(
            Method::PATCH,
            &format!("/v1/keys/{}", other["id"].as_str().expect("id")),
            &w.admin,
            &json!({ "enabled": false }),
        )
        .await;
    settles_to(&b, &token, &other_body, 200, Some("DISABLED"), second).await;
    let list = w
        .app
        .get_json(&format!("/v1/keyspaces/{}/verifiers", w.keyspace), &w.admin)
        .await;
    let verifier_id = list["items"][0]["id"].as_str().expect("id").to_owned();
    let res = w
        .app
        .with(
            Method::DELETE,
            &format!("/v1/keyspaces/{}/verifiers/{verifier_id}", w.keyspace),
            &w.admin,
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 204);
    settles_to(&b, &token, &body, 401, None, second).await;
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn an_instance_that_loses_its_listener_reconnects_and_forgets_its_cache(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let token = verifier(&w).await;
    let key = w.key(&w.admin, json!({})).await;
    let body = json!({ "key": secret(&key) });
    assert_eq!(code(&w.app, &token, body.clone()).await, "VALID");

    // Cut the listener's connection, then change the key behind the instance's back
    // (straight in the database, as another instance would, but with no one to hear it).
    let cut: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%locksmith_invalidate%') t",
    )
    .fetch_one(&pool)
    .await
    .expect("terminate");
    assert_eq!(cut, 1, "one listener per instance");
    sqlx::query("UPDATE keys SET enabled = false, generation = generation + 1 WHERE id = $1::uuid")
        .bind(key["id"].as_str().expect("id"))
        .execute(&pool)
        .await
        .expect("disable");
    settles_to(
        &w.app,
        &token,
        &body,
        200,
        Some("DISABLED"),
        std::time::Duration::from_secs(5),
    )
    .await;
    // And it listens again: the next change arrives the usual way.
    let other = w.key(&w.admin, json!({})).await;
    let other_body = json!({ "key": secret(&other) });
    assert_eq!(code(&w.app, &token, other_body.clone()).await, "VALID");
    w.revoke(&other).await;
    settles_to(
        &w.app,
        &token,
        &other_body,
        200,
        Some("REVOKED"),
        std::time::Duration::from_secs(1),
    )
    .await;
}
