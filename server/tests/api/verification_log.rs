//! A key's log of recent verifications ("why is my key failing?"): each answer with its
//! reason, the caller's address and the verifier, newest first, filtered, paged, kept to
//! the newest N per key, for the key's owner and those who read everything; and each
//! verifier's traffic.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{KeyWorld, detail};
use crate::verify::{code, verifier};

fn codes(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["code"].as_str().expect("code"))
        .collect()
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_keys_log_tells_why_it_failed_and_stays_bounded(pool: PgPool) {
    let w =
        KeyWorld::with_settings(pool.clone(), &[("LOCKSMITH_VERIFICATION_LOG_PER_KEY", "3")]).await;
    let token = verifier(&w).await;
    let key = w
        .key(
            &w.alice,
            json!({ "ip_allowlist": ["203.0.113.0/24"], "scopes": ["read"] }),
        )
        .await;
    let secret = key["key"].as_str().expect("secret");
    let path = format!("/v1/keys/{}/verifications", key["id"].as_str().expect("id"));
    for (body, expected) in [
        (
            json!({ "key": secret, "client_ip": "198.51.100.1" }),
            "FORBIDDEN_IP",
        ),
        (json!({ "key": secret }), "FORBIDDEN_IP"),
        (
            json!({ "key": secret, "client_ip": "203.0.113.9", "scopes": ["write"] }),
            "INSUFFICIENT_SCOPES",
        ),
        (
            json!({ "key": secret, "client_ip": "203.0.113.9" }),
            "VALID",
        ),
    ] {
        assert_eq!(code(&w.app, &token, &body).await, expected, "{body}");
    }
    w.app.verify.flush().await.expect("usage written");

    // The newest 3 of 4, newest first, each with its address and verifier.
    let log = w.app.get_json(&path, &w.alice).await;
    assert_eq!(
        codes(&log),
        ["VALID", "INSUFFICIENT_SCOPES", "FORBIDDEN_IP"],
        "{log}"
    );
    assert_eq!(log["items"][0]["client_ip"], "203.0.113.9");
    assert!(
        log["items"][2]["client_ip"].is_null(),
        "no address was sent: {log}"
    );
    assert_eq!(log["items"][0]["verifier_name"], "checkout service");
    assert_eq!(log["kept_per_key"], 3);
    assert_eq!(
        log["counts"],
        json!({ "VALID": 1, "INSUFFICIENT_SCOPES": 1, "FORBIDDEN_IP": 1 })
    );
    assert!(log["next_before"].is_null());

    // Refusals only, one answer, and a page at a time.
    let refused = w
        .app
        .get_json(&format!("{path}?code=refused"), &w.alice)
        .await;
    assert_eq!(codes(&refused), ["INSUFFICIENT_SCOPES", "FORBIDDEN_IP"]);
    assert_eq!(refused["counts"], log["counts"], "counts ignore the filter");
    let valid = w
        .app
        .get_json(&format!("{path}?code=VALID"), &w.alice)
        .await;
    assert_eq!(codes(&valid), ["VALID"]);
    let first = w.app.get_json(&format!("{path}?limit=2"), &w.alice).await;
    assert_eq!(codes(&first), ["VALID", "INSUFFICIENT_SCOPES"]);
    let before = first["next_before"].as_i64().expect("a next page");
    let second = w
        .app
        .get_json(&format!("{path}?limit=2&before={before}"), &w.alice)
        .await;
    assert_eq!(codes(&second), ["FORBIDDEN_IP"]);
    assert!(second["next_before"].is_null());

    // Bad filters name their field; another owner does not see the key; auditors do.
    let p = w
        .app
        .refused(
            reqwest::Method::GET,
            &format!("{path}?code=NOT_FOUND"),
            &w.alice,
            None,
            400,
        )
        .await;
    assert!(detail(&p).starts_with("code:"), "{p}");
    w.app
        .refused(reqwest::Method::GET, &path, &w.bob, None, 404)
        .await;
    let seen = w.app.get_json(&path, &w.auditor).await;
    assert_eq!(codes(&seen).len(), 3);

    // The table holds 3 rows for the key, not 4.
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM verification_log")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(stored, 3);

    // The verifier's traffic: every request it made, whatever the answer.
    let verifiers = w
        .app
        .get_json(&format!("/v1/keyspaces/{}/verifiers", w.keyspace), &w.admin)
        .await;
    assert_eq!(verifiers["items"][0]["requests_24h"], 4, "{verifiers}");
    assert!(!verifiers["items"][0]["last_used_at"].is_null());
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_log_can_be_switched_off(pool: PgPool) {
    let w = KeyWorld::with_settings(pool, &[("LOCKSMITH_VERIFICATION_LOG_PER_KEY", "0")]).await;
    let token = verifier(&w).await;
    let key = w.key(&w.admin, json!({})).await;
    let secret = key["key"].as_str().expect("secret");
    assert_eq!(
        code(&w.app, &token, json!({ "key": secret })).await,
        "VALID"
    );
    w.app.verify.flush().await.expect("usage written");
    let log = w
        .app
        .get_json(
            &format!("/v1/keys/{}/verifications", key["id"].as_str().expect("id")),
            &w.admin,
        )
        .await;
    assert_eq!(log["items"], json!([]));
    assert_eq!(log["kept_per_key"], 0);
    // Usage is still counted.
    assert_eq!(w.valid_usage(&key).await, 1);
}
