//! `POST /v1/verify/batch`: answers in order, with the bodies of `/v1/verify`, spending
//! exactly as the same items sent one by one.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{KeyWorld, problem};
use crate::verify::{secret, verifier, verify};

/// The same sequence of verifications, once as a batch and once one by one against an
/// identical key: the same answers (quota, rate limit, refusals) and the same usage.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_batch_spends_exactly_as_its_items_one_by_one(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let token = verifier(&w).await;
    let limits = json!({
        "scopes": ["orders:read"],
        "quota": { "limit": 7, "period": "total" },
        "rate_limit": { "limit": 5, "window_seconds": 3600 },
    });
    let (batched, single) = (
        w.key(&w.admin, limits.clone()).await,
        w.key(&w.admin, limits).await,
    );
    let revoked = w.key(&w.admin, json!({})).await;
    w.revoke(&revoked).await;
    let items = |key: &str| -> Vec<Value> {
        vec![
            json!({ "key": key }),
            json!({ "key": key, "cost": 2 }),
            json!({ "key": key, "scopes": ["orders:write"] }),
            json!({ "key": secret(&revoked) }),
            json!({ "key": "pay_malformed" }),
            json!({ "key": key, "cost": 3 }),
            json!({ "key": key, "cost": 3 }),
            json!({ "key": key }),
            json!({ "key": key }),
            json!({ "key": key }),
        ]
    };
    let (status, answer) = w
        .app
        .post_json(
            "/v1/verify/batch",
            &token,
            &json!({ "items": items(&secret(&batched)) }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let mut one_by_one = Vec::new();
    for item in items(&secret(&single)) {
        let (status, answer) = verify(&w.app, &token, &item).await;
        assert_eq!(status, 200, "{answer}");
        one_by_one.push(answer);
    }
    let batch = answer["items"].as_array().expect("items");
    assert_eq!(batch.len(), one_by_one.len());
    let codes = |answers: &[Value]| -> Vec<String> {
        answers
            .iter()
            .map(|a| a["code"].as_str().expect("code").to_owned())
            .collect()
    };
    assert_eq!(
        codes(batch),
        [
            "VALID",
            "VALID",
            "INSUFFICIENT_SCOPES",
            "REVOKED",
            "NOT_FOUND",
            "VALID",
            "QUOTA_EXCEEDED",
            "VALID",
            "RATE_LIMITED",
            "RATE_LIMITED",
        ],
        "{answer}"
    );
    assert_eq!(codes(batch), codes(&one_by_one));
    for (b, s) in batch.iter().zip(&one_by_one) {
        assert_eq!(
            b["quota"]["remaining"], s["quota"]["remaining"],
            "{b} / {s}"
        );
        assert_eq!(
            b["rate_limit"]["remaining"], s["rate_limit"]["remaining"],
            "{b} / {s}"
        );
        // The same fields, and a refusal discloses nothing, as in /v1/verify.
        let fields =
            |v: &Value| -> Vec<String> { v.as_object().expect("object").keys().cloned().collect() };
        assert_eq!(fields(b), fields(s));
    }
    assert_eq!(
        batch[7]["quota"]["remaining"], 0,
        "7 credits: 1 + 2 + 3, then 3 refused, then 1"
    );
    assert_eq!(
        batch[7]["rate_limit"]["remaining"], 0,
        "5 checks: a refused scope is not one"
    );
}

/// A malformed item refuses the whole batch before anything is spent, naming the item;
/// an empty or oversized batch, a bad token and a non-JSON body are refused as in
/// `/v1/verify`.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_malformed_batch_is_refused_whole_and_spends_nothing(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let token = verifier(&w).await;
    let key = w
        .key(
            &w.admin,
            json!({ "quota": { "limit": 1, "period": "total" } }),
        )
        .await;
    let k = secret(&key);
    let refused = |body: Value| {
        let (app, token) = (&w.app, &token);
        async move {
            let res = app
                .with(reqwest::Method::POST, "/v1/verify/batch", token)
                .json(&body)
                .send()
                .await
                .expect("sent");
            problem(res, 400).await
        }
    };
    let bad = refused(json!({ "items": [{ "key": k }, { "key": k, "client_ip": "nope" }] })).await;
    assert_eq!(bad["field"], "items[1].client_ip", "{bad}");
    let bad = refused(json!({ "items": [{ "key": k, "cost": 1001 }] })).await;
    assert_eq!(bad["field"], "items[0].cost", "{bad}");
    let bad = refused(json!({ "items": [{ "key": k, "scopes": ["NOT A SCOPE"] }] })).await;
    assert_eq!(bad["field"], "items[0].scopes", "{bad}");
    refused(json!({ "items": [] })).await;
    let many: Vec<Value> = (0..101).map(|_| json!({ "key": k })).collect();
    refused(json!({ "items": many })).await;
    refused(json!({ "items": [{ "key": k, "extra": true }] })).await;
    // Nothing was spent by the refused batches: the one credit is still there.
    let (_, answer) = verify(&w.app, &token, &json!({ "key": k })).await;
    assert_eq!(answer["code"], "VALID", "{answer}");
    let status = w
        .app
        .client
        .post(w.app.url("/v1/verify/batch"))
        .json(&json!({ "items": [{ "key": k }] }))
        .send()
        .await
        .expect("sent")
        .status();
    assert_eq!(status, 401);
    let status = w
        .app
        .with(reqwest::Method::POST, "/v1/verify/batch", &token)
        .body("items")
        .send()
        .await
        .expect("sent")
        .status();
    assert_eq!(status, 415);
}

/// `POST /v1/verify/usage`: counts only keys of the verifier's keyspace, from the last
/// day; refuses malformed reports naming the item.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn reported_usage_counts_only_the_verifiers_own_recent_keys(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let token = verifier(&w).await;
    let key = w.key(&w.admin, json!({})).await;
    let theirs = w.foreign_key().await;
    let now = chrono::Utc::now();
    let report = json!({ "items": [
        { "key_id": key["id"], "count": 40, "last_at": now },
        { "key_id": theirs["id"], "count": 5, "last_at": now },
        { "key_id": key["id"], "count": 2, "last_at": now - chrono::Duration::days(2) },
        { "key_id": uuid::Uuid::new_v4(), "count": 1, "last_at": now },
    ] });
    let (status, answer) = w.app.post_json("/v1/verify/usage", &token, &report).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 1);
    w.app.verify.flush().await.expect("usage written");
    assert_eq!(w.valid_usage(&key).await, 40);
    assert_eq!(
        w.valid_usage(&theirs).await,
        0,
        "another keyspace's key is not the verifier's to count"
    );
    let got = w
        .app
        .get_json(
            &format!("/v1/keys/{}", key["id"].as_str().expect("id")),
            &w.admin,
        )
        .await;
    assert!(got["last_used_at"].is_string(), "{got}");
    let res = w
        .app
        .with(reqwest::Method::POST, "/v1/verify/usage", &token)
        .json(&json!({ "items": [{ "key_id": key["id"], "count": 0, "last_at": now }] }))
        .send()
        .await
        .expect("sent");
    assert_eq!(problem(res, 400).await["field"], "items[0].count");
    let res = w
        .app
        .client
        .post(w.app.url("/v1/verify/usage"))
        .json(&report)
        .send()
        .await
        .expect("sent");
    problem(res, 401).await;
}
