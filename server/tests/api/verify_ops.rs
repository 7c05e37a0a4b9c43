//! Verification in operation: quota leases (few writes, shared by a rotated key and its
//! successor, intact across a graceful restart), usage counts and their endpoint, the
//! unknown-key throttle, degraded mode without the database, and rate limits shared
//! through Redis.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{DbProxy, KeyWorld, TestApp, problem};
use crate::verify::{code, secret, verifier, verify};

fn id(key: &Value) -> String {
    key["id"].as_str().expect("id").to_owned()
}

/// Writes the instance's pending usage now (what its flusher does every second).
async fn flush(app: &TestApp) {
    app.verify.flush().await.expect("usage written");
}

/// The sums of a key's usage series over the default range.
async fn usage_totals(app: &TestApp, token: &str, key: &str) -> Value {
    let usage = app.get_json(&format!("/v1/keys/{key}/usage"), token).await;
    let mut totals = json!({});
    for column in [
        "valid",
        "rate_limited",
        "quota_exceeded",
        "forbidden",
        "other",
    ] {
        let sum: i64 = usage["series"]
            .as_array()
            .expect("series")
            .iter()
            .map(|b| b[column].as_i64().expect("count"))
            .sum();
        totals[column] = sum.into();
    }
    totals
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_busy_quota_key_costs_a_write_per_hundreds_of_verifications(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let token = verifier(&w).await;
    let key = w
        .key(
            &w.admin,
            json!({ "quota": { "limit": 1_000_000, "period": "day" } }),
        )
        .await;
    let body = json!({ "key": secret(&key) });
    let mut tasks = tokio::task::JoinSet::new();
    // 8 callers, 250 verifications each.
    for _ in 0..8 {
        let (client, url, token, body) = (
            w.app.client.clone(),
            w.app.url("/v1/verify"),
            token.clone(),
            body.clone(),
        );
        tasks.spawn(async move {
            let mut last = 0;
            for _ in 0..250 {
                let answer: Value = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .expect("sent")
                    .json()
                    .await
                    .expect("json");
                assert_eq!(answer["code"], "VALID", "{answer}");
                last = answer["quota"]["remaining"].as_i64().expect("remaining");
            }
            last
        });
    }
    let mut lowest = i64::MAX;
    while let Some(last) = tasks.join_next().await {
        lowest = lowest.min(last.expect("task"));
    }
    let writes = w.app.verify.quotas().writes();
    assert!(
        writes <= 20,
        "{writes} quota writes for 2000 verifications (at most 1 per 100)"
    );
    assert_eq!(lowest, 1_000_000 - 2000, "remaining counts every credit");
    // Stored: what was spent plus what this instance still holds.
    let held = w.app.verify.quotas().outstanding();
    let used: i64 = sqlx::query_scalar("SELECT quota_used FROM keys WHERE id = $1::uuid")
        .bind(id(&key))
        .fetch_one(&pool)
        .await
        .expect("row");
    assert_eq!(used - held.values().sum::<i64>(), 2000);
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn an_exhausted_quota_is_refused_from_memory_and_a_new_limit_applies_at_once(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let token = verifier(&w).await;
    let key = w
        .key(
            &w.admin,
            json!({ "quota": { "limit": 5, "period": "total" } }),
        )
        .await;
    let body = json!({ "key": secret(&key) });
    for _ in 0..5 {
        assert_eq!(code(&w.app, &token, &body).await, "VALID");
    }
    let writes = w.app.verify.quotas().writes();
    for _ in 0..50 {
        assert_eq!(code(&w.app, &token, &body).await, "QUOTA_EXCEEDED");
    }
    let retries = w.app.verify.quotas().writes() - writes;
    assert!(
        retries <= 2,
        "{retries} database calls for 50 retries within a second"
    );

    // A higher limit: exactly the new credit, at once.
    assert_eq!(
        w.app
            .send_status(
                reqwest::Method::PATCH,
                &format!("/v1/keys/{}", id(&key)),
                &w.admin,
                &json!({ "quota": { "limit": 8, "period": "total" } })
            )
            .await,
        200
    );
    let started = Instant::now();
    while code(&w.app, &token, &body).await != "VALID" {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the new limit applies"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let more: Vec<String> = {
        let mut codes = Vec::new();
        for _ in 0..4 {
            codes.push(code(&w.app, &token, &body).await);
        }
        codes
    };
    assert_eq!(more, ["VALID", "VALID", "QUOTA_EXCEEDED", "QUOTA_EXCEEDED"]);
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn quota_and_usage_survive_a_graceful_restart(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let token = verifier(&w).await;
    let key = w
        .key(
            &w.admin,
            json!({ "quota": { "limit": 1000, "period": "month" }, "scopes": ["orders:read"] }),
        )
        .await;
    let body = json!({ "key": secret(&key) });
    for _ in 0..150 {
        assert_eq!(code(&w.app, &token, &body).await, "VALID");
    }
    let forbidden = json!({ "key": secret(&key), "scopes": ["orders:write"] });
    for _ in 0..7 {
        assert_eq!(
            code(&w.app, &token, &forbidden).await,
            "INSUFFICIENT_SCOPES"
        );
    }
    let KeyWorld { app, admin, .. } = w;
    app.shutdown().await;

    // Everything counted was written and every unused credit given back.
    let (used, last_used): (i64, Option<chrono::DateTime<chrono::Utc>>) =
        sqlx::query_as("SELECT quota_used, last_used_at FROM keys WHERE id = $1::uuid")
            .bind(id(&key))
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!(used, 150, "exactly what was spent");
    assert!(last_used.is_some());

    let app = TestApp::spawn(pool.clone()).await;
    let (_, answer) = verify(&app, &token, &body).await;
    assert_eq!(answer["quota"]["remaining"], 1000 - 151, "{answer}");
    let admin = {
        let _ = admin;
        app.bearer("admin@keys.test").await
    };
    flush(&app).await;
    let totals = usage_totals(&app, &admin, &id(&key)).await;
    assert_eq!(
        totals,
        json!({ "valid": 151, "rate_limited": 0, "quota_exceeded": 0, "forbidden": 7, "other": 0 })
    );
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_key_in_grace_spends_its_successors_quota(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let token = verifier(&w).await;
    let old = w
        .key(
            &w.admin,
            json!({ "quota": { "limit": 10, "period": "total" } }),
        )
        .await;
    let (status, new) = w
        .app
        .post_json(
            &format!("/v1/keys/{}/rotate", id(&old)),
            &w.admin,
            &json!({ "grace_seconds": 3600 }),
        )
        .await;
    assert_eq!(status, 201, "{new}");
    let (old_body, new_body) = (
        json!({ "key": secret(&old) }),
        json!({ "key": secret(&new) }),
    );
    let mut valid = 0;
    for i in 0..20 {
        let body = if i % 2 == 0 { &old_body } else { &new_body };
        let (status, answer) = verify(&w.app, &token, body).await;
        assert_eq!(status, 200);
        match answer["code"].as_str() {
            Some("VALID") => {
                valid += 1;
                assert_eq!(answer["quota"]["remaining"], 10 - valid, "{answer}");
            }
            Some("QUOTA_EXCEEDED") => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(valid, 10, "the two keys share one quota of 10");
    let view = w
        .app
        .get_json(&format!("/v1/keys/{}", id(&new)), &w.admin)
        .await;
    assert_eq!(view["quota"]["used"], 10);
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn usage_is_counted_by_outcome_and_served_by_bucket(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let token = verifier(&w).await;
    let key = w
        .key(
            &w.alice,
            json!({ "rate_limit": { "limit": 3, "window_seconds": 3600 }, "ip_allowlist": ["10.0.0.0/8"] }),
        )
        .await;
    let ok = json!({ "key": secret(&key), "client_ip": "10.1.2.3" });
    let outside = json!({ "key": secret(&key), "client_ip": "192.0.2.1" });
    for expected in ["VALID", "VALID", "VALID", "RATE_LIMITED", "RATE_LIMITED"] {
        assert_eq!(code(&w.app, &token, &ok).await, expected);
    }
    assert_eq!(code(&w.app, &token, &outside).await, "FORBIDDEN_IP");
    let (_, revoked) = w
        .app
        .post_json(
            &format!("/v1/keys/{}/revoke", id(&key)),
            &w.admin,
            &json!({}),
        )
        .await;
    assert_eq!(revoked["status"], "revoked");
    // The revocation reaches this instance's cache through the listener.
    let started = Instant::now();
    while code(&w.app, &token, &ok).await != "REVOKED" {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "revocation seen"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    flush(&w.app).await;

    let usage = w
        .app
        .get_json(&format!("/v1/keys/{}/usage", id(&key)), &w.alice)
        .await;
    let series = usage["series"].as_array().expect("series");
    assert_eq!(series.len(), 24, "a day of hours by default");
    let now = series.last().expect("current hour");
    assert_eq!(now["valid"], 3);
    assert_eq!(now["rate_limited"], 2);
    assert_eq!(now["forbidden"], 1);
    assert!(now["other"].as_i64().expect("other") >= 1, "{now}");
    assert_eq!(now["quota_exceeded"], 0);
    assert!(series[..23].iter().all(|b| b["valid"] == 0));
    let view = w
        .app
        .get_json(&format!("/v1/keys/{}", id(&key)), &w.alice)
        .await;
    assert!(view["last_used_at"].is_string(), "{view}");

    // Days, a chosen range, and the rules.
    let days = w
        .app
        .get_json(
            &format!("/v1/keys/{}/usage?granularity=day", id(&key)),
            &w.admin,
        )
        .await;
    let days = days["series"].as_array().expect("series");
    assert_eq!(days.len(), 30);
    assert_eq!(days.last().expect("today")["valid"], 3);
    assert!(
        days.last().expect("today")["bucket"]
            .as_str()
            .expect("bucket")
            .ends_with("T00:00:00Z")
    );
    let ranged = w
        .app
        .get_json(
            &format!(
                "/v1/keys/{}/usage?from=2026-01-01T05:30:00Z&to=2026-01-01T08:00:00Z",
                id(&key)
            ),
            &w.admin,
        )
        .await;
    let buckets: Vec<&str> = ranged["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|b| b["bucket"].as_str().expect("bucket"))
        .collect();
    assert_eq!(
        buckets,
        [
            "2026-01-01T05:00:00Z",
            "2026-01-01T06:00:00Z",
            "2026-01-01T07:00:00Z"
        ]
    );
    for (query, field) in [
        ("granularity=week", "granularity"),
        ("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ("from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ("from=yesterday", "from"),
        ("bucket=1", "bucket"),
    ] {
        let body = w
            .app
            .refused(
                reqwest::Method::GET,
                &format!("/v1/keys/{}/usage?{query}", id(&key)),
                &w.admin,
                None,
                400,
            )
            .await;
        assert!(
            body["detail"].as_str().expect("detail").contains(field),
            "{query}: {body}"
        );
    }
    // Another owner cannot tell the key exists.
    w.app
        .refused(
            reqwest::Method::GET,
            &format!("/v1/keys/{}/usage", id(&key)),
            &w.bob,
            None,
            404,
        )
        .await;
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_verifier_sending_unknown_keys_is_throttled_but_known_keys_still_verify(pool: PgPool) {
    let w = KeyWorld::with_settings(
        pool,
        &[
            ("LOCKSMITH_VERIFY_UNKNOWN_KEYS_PER_MINUTE", "1"),
            ("LOCKSMITH_VERIFY_UNKNOWN_KEYS_BURST", "3"),
        ],
    )
    .await;
    let (noisy, quiet) = (verifier(&w).await, verifier(&w).await);
    let known = w.key(&w.admin, json!({})).await;
    let not_yet = w.key(&w.admin, json!({})).await;
    let known_body = json!({ "key": secret(&known) });
    assert_eq!(code(&w.app, &noisy, &known_body).await, "VALID");

    // Guesses: well-formed but unknown, malformed, and another keyspace's prefix.
    let guesses = [
        format!("pay_{}", "A".repeat(30)),
        "nonsense".to_owned(),
        format!("zzz_{}", "B".repeat(30)),
    ];
    for guess in &guesses {
        assert_eq!(
            code(&w.app, &noisy, &json!({ "key": guess })).await,
            "NOT_FOUND"
        );
    }
    let res = w
        .app
        .with(reqwest::Method::POST, "/v1/verify", &noisy)
        .json(&json!({ "key": guesses[0] }))
        .send()
        .await
        .expect("sent");
    let retry_after: u64 = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("retry-after");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body = problem(res, 429).await;
    assert_eq!(body["code"], "rate_limited");

    // While throttled: known keys verify, anything needing a lookup waits.
    assert_eq!(code(&w.app, &noisy, &known_body).await, "VALID");
    let (status, _) = verify(&w.app, &noisy, &json!({ "key": secret(&not_yet) })).await;
    assert_eq!(status, 429);
    // Budgets are per verifier.
    assert_eq!(
        code(&w.app, &quiet, &json!({ "key": secret(&not_yet) })).await,
        "VALID"
    );
    assert_eq!(
        code(&w.app, &quiet, &json!({ "key": guesses[0] })).await,
        "NOT_FOUND"
    );
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn without_the_database_cached_keys_verify_and_nothing_else_does(pool: PgPool) {
    let proxy = DbProxy::start(&pool).await;
    let w = KeyWorld::new(proxy.pool(&pool)).await;
    let token = verifier(&w).await;
    let cached = w.key(&w.admin, json!({})).await;
    let uncached = w.key(&w.admin, json!({})).await;
    let quota = w
        .key(
            &w.admin,
            json!({ "quota": { "limit": 100, "period": "day" } }),
        )
        .await;
    let cached_body = json!({ "key": secret(&cached) });
    let quota_body = json!({ "key": secret(&quota) });
    assert_eq!(code(&w.app, &token, &cached_body).await, "VALID");
    assert_eq!(code(&w.app, &token, &quota_body).await, "VALID");
    flush(&w.app).await;

    proxy.cut();
    for _ in 0..3 {
        assert_eq!(code(&w.app, &token, &cached_body).await, "VALID");
    }
    for body in [
        json!({ "key": secret(&uncached) }),
        // Well formed but unknown (a malformed key needs no database: NOT_FOUND).
        json!({ "key": locksmith_core::keys::format::generate("pay").expose() }),
        // A quota key verifies only with credit leased before: never overspent.
        quota_body.clone(),
    ] {
        let res = w
            .app
            .with(reqwest::Method::POST, "/v1/verify", &token)
            .json(&body)
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 503, "{body}");
        let problem = problem(res, 503).await;
        assert_eq!(problem["code"], "unavailable");
    }
    // The usage counted meanwhile waits for the database...
    assert!(w.app.verify.flush().await.is_err());

    // ...and is written once it is back.
    proxy.restore();
    let started = Instant::now();
    while w.app.verify.flush().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "database back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let totals = usage_totals(&w.app, &w.admin, &id(&cached)).await;
    assert_eq!(totals["valid"], 4, "{totals}");
    assert_eq!(
        code(&w.app, &token, &json!({ "key": secret(&uncached) })).await,
        "VALID"
    );
}

/// The Redis the tests use (`scripts/test.sh` starts one when none runs).
fn redis_url() -> String {
    std::env::var("LOCKSMITH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn with_redis_a_rate_limit_holds_across_instances(pool: PgPool) {
    let url = redis_url();
    let settings = [("LOCKSMITH_REDIS_URL", url.as_str())];
    let w = KeyWorld::with_settings(pool.clone(), &settings).await;
    let second = TestApp::spawn_with(pool, &settings).await;
    let token = verifier(&w).await;
    let key = w
        .key(
            &w.admin,
            json!({ "rate_limit": { "limit": 20, "window_seconds": 3600 } }),
        )
        .await;
    let body = json!({ "key": secret(&key) });
    let mut valid = 0;
    for i in 0..60 {
        let app = if i % 2 == 0 { &w.app } else { &second };
        let (_, answer) = verify(app, &token, &body).await;
        match answer["code"].as_str() {
            Some("VALID") => {
                valid += 1;
                assert_eq!(answer["rate_limit"]["limit"], 20);
            }
            Some("RATE_LIMITED") => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    // Each instance alone would allow 20 (40 together); shared, the sliding window
    // allows the limit to within 10%.
    assert!((18..=20).contains(&valid), "{valid} of 60 allowed");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn an_unreachable_redis_stops_start_up_naming_the_setting(pool: PgPool) {
    let settings = locksmith_server::config::Settings::from_env_pairs(
        [
            ("LOCKSMITH_PORT", "0"),
            ("LOCKSMITH_REDIS_URL", "redis://127.0.0.1:1"),
        ]
        .into_iter()
        .chain(crate::helpers::TEST_SECRETS),
    )
    .expect("settings");
    let err = locksmith_server::startup::Application::build(&settings, pool)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().starts_with("LOCKSMITH_REDIS_URL"), "{err}");
}
