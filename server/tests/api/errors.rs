//! The error format of `/v1`: RFC 9457 problem details for every error, whatever
//! produced it, and body limits.

use sqlx::PgPool;

use crate::helpers::{TestApp, problem};

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn an_unknown_endpoint_is_a_404_problem(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let body = problem(app.get("/v1/no-such-endpoint").await, 404).await;
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["title"], "Not Found");
    assert!(
        body["type"]
            .as_str()
            .unwrap_or_default()
            .starts_with("urn:locksmith:problem:")
    );
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_body_over_64_kib_is_a_413_problem(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app
        .client
        .post(app.url("/v1/keys"))
        .header("content-type", "application/json")
        .body(vec![b' '; 64 * 1024 + 1])
        .send()
        .await
        .expect("sent");
    let body = problem(res, 413).await;
    assert_eq!(body["code"], "payload_too_large");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_body_at_the_limit_is_not_refused_for_its_size(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app
        .client
        .post(app.url("/v1/keys"))
        .header("content-type", "application/json")
        .body(vec![b' '; 64 * 1024])
        .send()
        .await
        .expect("sent");
    assert_ne!(res.status(), 413);
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn server_functions_have_a_body_limit_too(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app
        .client
        .post(app.url("/api/system_status"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 64 * 1024 + 1])
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 413);
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn an_operations_route_with_a_wrong_method_is_405(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app
        .client
        .post(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 405);
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn responses_are_compressed_when_asked(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app
        .client
        .get(app.url("/login"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get("content-encoding").map(|v| v.as_bytes()),
        Some(&b"gzip"[..])
    );
}

/// Every operation that takes a body, as the served OpenAPI document lists them, refuses
/// an array or a scalar with a 400 naming the body, before anything else reads it. A
/// derived struct would take `[…]` as a positional object.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn every_request_body_must_be_an_object(pool: PgPool) {
    let w = crate::helpers::KeyWorld::new(pool).await;
    let (status, verifier) = w
        .app
        .post_json(
            &format!("/v1/keyspaces/{}/verifiers", w.keyspace),
            &w.admin,
            &serde_json::json!({ "name": "svc" }),
        )
        .await;
    assert_eq!(status, 201, "{verifier}");
    let verifier = verifier["token"].as_str().expect("token").to_owned();
    let reporter = w.leak_reporter().await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let doc: serde_json::Value = w
        .app
        .get("/v1/openapi.json")
        .await
        .json()
        .await
        .expect("doc");
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if op.get("requestBody").is_none() {
                continue;
            }
            let url = path
                .replace("{id}", &uuid::Uuid::new_v4().to_string())
                .replace("{verifier_id}", &uuid::Uuid::new_v4().to_string());
            // GitHub's alerts are its own format, a JSON array (`leaks::github_*`).
            if path == "/v1/leaks/github" {
                continue;
            }
            let token = if path.starts_with("/v1/verify") {
                &verifier
            } else if path == "/v1/leaks" {
                &reporter
            } else {
                &w.admin
            };
            let method =
                reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            for body in [r#"["a", 1]"#, "[]", "42", "null", r#""text""#] {
                let res = w
                    .app
                    .with(method.clone(), &url, token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("sent");
                let problem = problem(res, 400).await;
                assert_eq!(
                    problem["detail"], "body: must be a JSON object",
                    "{method} {path} with {body}"
                );
                assert!(problem["request_id"].is_string());
            }
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} operations with a body");
}

/// Every 400 names its field, the bulk endpoint's type errors included (serde loses the
/// path inside an internally tagged enum).
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_wrong_type_is_named_by_its_field(pool: PgPool) {
    let w = crate::helpers::KeyWorld::new(pool).await;
    let cases = [
        (
            "/v1/keys/bulk",
            serde_json::json!({"action": "revoke", "ids": "x"}),
            "ids: invalid type: string",
        ),
        (
            "/v1/keys/bulk",
            serde_json::json!({"action": "revoke", "ids": null}),
            "ids: invalid type: null",
        ),
        (
            "/v1/keys/bulk",
            serde_json::json!({"action": "revoke", "ids": [1]}),
            "ids[0]: invalid type: integer",
        ),
        (
            "/v1/keys/bulk",
            serde_json::json!({"action": "revoke", "ids": [], "reason": 5}),
            "reason: invalid type: integer",
        ),
        (
            "/v1/keys/bulk",
            serde_json::json!({"action": "create", "keyspace_id": w.keyspace, "items": [{"name": "a"}, {"name": []}]}),
            "items[1].name: invalid type: sequence",
        ),
        (
            "/v1/keys/bulk",
            serde_json::json!({"action": "create", "keyspace_id": 7, "items": []}),
            "keyspace_id: invalid type: integer",
        ),
        (
            "/v1/keys/bulk",
            serde_json::json!({"action": "explode"}),
            "action: must be \"create\", \"revoke\", \"enable\", \"disable\" or \"extend\"",
        ),
        (
            "/v1/keys/bulk",
            serde_json::json!({"ids": []}),
            "missing field `action`",
        ),
        (
            "/v1/keys/bulk",
            serde_json::json!({"action": "revoke", "ids": [], "extra": 1}),
            "extra: unknown field `extra`",
        ),
        (
            "/v1/keys",
            serde_json::json!({"keyspace_id": w.keyspace, "name": "k", "quota": {"limit": "many", "period": "day"}}),
            "quota.limit: invalid type: string",
        ),
        (
            "/v1/users",
            serde_json::json!({"email": ["a"], "password": "x", "role": "owner"}),
            "email: invalid type: sequence",
        ),
    ];
    for (path, body, expected) in cases {
        let (status, problem) = w.app.post_json(path, &w.admin, &body).await;
        assert_eq!(status, 400, "{path} {body}: {problem}");
        let detail = problem["detail"].as_str().expect("detail");
        assert!(
            detail.starts_with(expected),
            "{path} {body}: {detail:?} should start with {expected:?}"
        );
    }
}
