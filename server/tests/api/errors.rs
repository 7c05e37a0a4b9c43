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
