//! `/healthz`, `/readyz` and `/metrics`.

use sqlx::PgPool;

use crate::helpers::{TestApp, detail, problem, unreachable_pool};

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn healthz_is_ok(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn readyz_is_ready_with_a_current_schema(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["status"], "ready");
    let newest = locksmith_core::db::MIGRATOR.iter().map(|m| m.version).max();
    assert_eq!(body["schema_version"].as_i64(), newest);
}

#[sqlx::test(migrations = false)]
async fn readyz_is_503_while_migrations_are_pending(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let body = problem(app.get("/readyz").await, 503).await;
    assert_eq!(body["code"], "not_ready");
    assert!(detail(&body).contains("pending"), "{body}");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn readyz_is_503_once_an_unknown_migration_was_applied(pool: PgPool) {
    // A newer Locksmith migrated this database: this binary must not claim readiness.
    sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99990101000000, 'from the future', true, '\\x00', 0)")
        .execute(&pool)
        .await
        .expect("insert");
    let app = TestApp::spawn(pool).await;
    let body = problem(app.get("/readyz").await, 503).await;
    assert!(detail(&body).contains("diverged"), "{body}");
}

#[tokio::test]
async fn readyz_is_503_and_healthz_200_when_the_database_is_unreachable() {
    let app = TestApp::spawn(unreachable_pool()).await;
    let body = problem(app.get("/readyz").await, 503).await;
    assert_eq!(body["detail"], "database: unreachable");
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "the process itself is alive"
    );
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn metrics_count_requests_by_route_and_status_and_report_the_pool(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let _ = app.get("/v1/no-such-thing").await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/plain"),
        "Prometheus text format"
    );
    let text = res.text().await.expect("body");
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total{")
            && l.contains(r#"route="/healthz""#)
            && l.contains(r#"status="200""#)),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("http_requests_total{") && l.contains(r#"status="404""#)),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket{"),
        "latency is a histogram"
    );
    for gauge in [
        "db_pool_connections",
        "db_pool_idle_connections",
        "db_pool_max_connections",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(gauge)),
            "missing {gauge}"
        );
    }
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn graceful_shutdown_lets_the_server_task_finish(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    tokio::time::timeout(std::time::Duration::from_secs(10), app.shutdown())
        .await
        .expect("shutdown completes");
}

/// With `LOCKSMITH_METRICS_TOKEN`, `/metrics` (which names key ids and their traffic)
/// answers only that bearer token.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn metrics_can_be_protected_by_a_token(pool: PgPool) {
    let token = "scrape-me-if-you-can-1234";
    let app = TestApp::spawn_with(pool, &[("LOCKSMITH_METRICS_TOKEN", token)]).await;
    let res = app.get("/metrics").await;
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let body = problem(res, 401).await;
    assert_eq!(body["code"], "unauthorized");
    let wrong = app
        .with(
            reqwest::Method::GET,
            "/metrics",
            "scrape-me-if-you-can-1235",
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(wrong.status(), 401);
    let right = app
        .with(reqwest::Method::GET, "/metrics", token)
        .send()
        .await
        .expect("sent");
    assert_eq!(right.status(), 200);
    assert!(
        right
            .text()
            .await
            .expect("text")
            .contains("http_requests_total")
    );
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "other operations stay open"
    );
}
