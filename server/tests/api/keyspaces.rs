//! `/v1/keyspaces` and verifiers: creation rules, roles, tokens shown once.

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{KeyWorld, detail, problem};

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn admins_create_keyspaces_with_unique_names_and_prefixes(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let (status, ks) = w
        .app
        .post_json(
            "/v1/keyspaces",
            &w.admin,
            &json!({ "name": "Search", "prefix": "srch2" }),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(ks["name"], "Search");
    assert_eq!(ks["prefix"], "srch2");
    for field in ["id", "created_at", "created_by"] {
        assert!(!ks[field].is_null(), "{field}");
    }

    for (body, code, says) in [
        (json!({ "name": "Other", "prefix": "pay" }), 409, "prefix:"),
        (
            json!({ "name": "payments api", "prefix": "pay2" }),
            409,
            "name:",
        ),
        (json!({ "name": "X", "prefix": "P" }), 400, "prefix:"),
        // Locksmith's own tokens: verifier tokens are `lsv_…`, refresh tokens `lsr_…`.
        (
            json!({ "name": "X", "prefix": "lsv" }),
            400,
            "prefix: lsv is reserved",
        ),
        (
            json!({ "name": "X", "prefix": "lsr" }),
            400,
            "prefix: lsr is reserved",
        ),
        (
            json!({ "name": "X", "prefix": "has_underscore" }),
            400,
            "prefix:",
        ),
        (json!({ "name": "", "prefix": "okay" }), 400, "name:"),
        (json!({ "name": "X" }), 400, "prefix"),
        (
            json!({ "name": "X", "prefix": "ok", "extra": 1 }),
            400,
            "extra",
        ),
    ] {
        let res = w
            .app
            .with(Method::POST, "/v1/keyspaces", &w.admin)
            .json(&body)
            .send()
            .await
            .expect("sent");
        let p = problem(res, code).await;
        assert!(detail(&p).contains(says), "{body}: {p}");
    }

    // Owners and auditors cannot create; everyone can list and read.
    for token in [&w.alice, &w.auditor] {
        assert_eq!(
            w.app
                .send_status(
                    Method::POST,
                    "/v1/keyspaces",
                    token,
                    &json!({ "name": "Mine", "prefix": "mine" })
                )
                .await,
            403
        );
        let list = w.app.get_json("/v1/keyspaces", token).await;
        assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
        let one = w
            .app
            .get_json(&format!("/v1/keyspaces/{}", w.keyspace), token)
            .await;
        assert_eq!(one["prefix"], "pay");
    }
    for missing in [
        "/v1/keyspaces/00000000-0000-0000-0000-000000000000",
        "/v1/keyspaces/nope",
    ] {
        w.app
            .refused(Method::GET, missing, &w.admin, None, 404)
            .await;
    }
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn verifier_tokens_are_shown_once_scoped_and_revocable(pool: PgPool) {
    let w = KeyWorld::new(pool.clone()).await;
    let path = format!("/v1/keyspaces/{}/verifiers", w.keyspace);
    let (status, created) = w
        .app
        .post_json(&path, &w.admin, &json!({ "name": "checkout" }))
        .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().expect("token").to_owned();
    let re = regex::Regex::new(locksmith_core::keys::format::KEY_REGEX).expect("regex");
    assert!(re.is_match(&token) && token.starts_with("lsv_"), "{token}");
    assert_eq!(created["name"], "checkout");
    assert_eq!(created["keyspace_id"], w.keyspace.as_str());
    assert!(token.starts_with(created["start"].as_str().expect("start")));

    // Listed without the token, to admins and auditors only.
    let list = w.app.get_json(&path, &w.auditor).await;
    assert_eq!(list["items"][0]["id"], created["id"]);
    assert!(!list.to_string().contains(&token));
    w.app.refused(Method::GET, &path, &w.alice, None, 403).await;
    for token in [&w.alice, &w.auditor] {
        assert_eq!(
            w.app
                .send_status(Method::POST, &path, token, &json!({ "name": "x" }))
                .await,
            403
        );
    }

    // Stored as a digest, recorded without the token.
    let stored: Vec<String> = sqlx::query_scalar("SELECT row_to_json(v)::text FROM verifiers v")
        .fetch_all(&pool)
        .await
        .expect("rows");
    assert!(stored.iter().all(|row| !row.contains(&token)));
    let audit = w
        .app
        .get_json("/v1/audit?action=verifier.create", &w.admin)
        .await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(1));
    assert!(!audit.to_string().contains(&token));

    // Revocation: 204, idempotent, one audit row; another keyspace's path is 404.
    let id = created["id"].as_str().expect("id");
    let (_, other) = w
        .app
        .post_json(
            "/v1/keyspaces",
            &w.admin,
            &json!({ "name": "Other", "prefix": "oth" }),
        )
        .await;
    let wrong = format!(
        "/v1/keyspaces/{}/verifiers/{id}",
        other["id"].as_str().expect("id")
    );
    w.app
        .refused(Method::DELETE, &wrong, &w.admin, None, 404)
        .await;
    w.app
        .refused(Method::DELETE, &format!("{path}/{id}"), &w.alice, None, 403)
        .await;
    for _ in 0..2 {
        let res = w
            .app
            .with(Method::DELETE, &format!("{path}/{id}"), &w.admin)
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 204);
    }
    let list = w.app.get_json(&path, &w.admin).await;
    assert!(list["items"][0]["revoked_at"].is_string());
    let audit = w
        .app
        .get_json("/v1/audit?action=verifier.revoke", &w.admin)
        .await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(1));
}

/// A verifier that verifies is in use: its `last_used_at` moves with the usage writes
/// (before, nothing wrote it and every verifier said "never", so an admin pruning unused
/// tokens would cut off a live service). Any answer counts, a refused key included.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_verifier_that_verifies_shows_when_it_was_last_used(pool: PgPool) {
    let w = KeyWorld::new(pool).await;
    let path = format!("/v1/keyspaces/{}/verifiers", w.keyspace);
    let (_, busy) = w
        .app
        .post_json(&path, &w.admin, &json!({ "name": "checkout" }))
        .await;
    let (_, idle) = w
        .app
        .post_json(&path, &w.admin, &json!({ "name": "reports" }))
        .await;
    let token = busy["token"].as_str().expect("token");
    let before = chrono::Utc::now();
    let (status, answer) = w
        .app
        .post_json("/v1/verify", token, &json!({ "key": "pay_unknown" }))
        .await;
    assert_eq!((status, answer["code"].as_str()), (200, Some("NOT_FOUND")));
    w.app.verify.flush().await.expect("usage written");

    let list = w.app.get_json(&path, &w.admin).await;
    let used = |id: &serde_json::Value| {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|v| v["id"] == *id)
            .expect("listed")["last_used_at"]
            .clone()
    };
    let at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(used(&busy["id"])).expect("a time");
    assert!(at >= before - chrono::Duration::seconds(1), "{at}");
    assert!(
        used(&idle["id"]).is_null(),
        "an idle verifier stays never used"
    );
}
