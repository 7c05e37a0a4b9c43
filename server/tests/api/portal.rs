//! The portal renders on the server, with live data from the database.

use sqlx::PgPool;

use crate::helpers::TestApp;

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_overview_renders_the_installation_from_the_database(pool: PgPool) {
    let instance_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM instance")
        .fetch_one(&pool)
        .await
        .expect("the migration created the instance row");
    let app = TestApp::spawn(pool).await;
    let res = app.get("/").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let html = res.text().await.expect("html");
    assert!(
        html.contains("<title>Overview · Locksmith</title>"),
        "{html}"
    );
    assert!(
        html.contains(&instance_id.to_string()),
        "server-rendered status"
    );
    assert!(html.contains("PostgreSQL 1"), "server-rendered version");
    assert!(html.contains("/pkg/locksmith.js"), "hydration script");
    assert!(html.contains("/pkg/locksmith.css"), "stylesheet");
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn an_unknown_page_is_a_404_page(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app.get("/definitely/not/here").await;
    assert_eq!(res.status(), 404);
    let html = res.text().await.expect("html");
    assert!(html.contains("Page not found"));
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_status_server_function_answers_with_json(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app
        .client
        .post(app.url("/api/system_status"))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["schema_current"], true);
    assert!(
        body["postgres_version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
}

#[tokio::test]
async fn the_status_server_function_reports_an_unreachable_database_without_details() {
    let app = TestApp::spawn(crate::helpers::unreachable_pool()).await;
    let res = app
        .client
        .post(app.url("/api/system_status"))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 500);
    let text = res.text().await.expect("body");
    assert!(text.contains("DatabaseUnavailable"), "{text}");
    assert!(
        !text.contains("127.0.0.1") && !text.contains("refused"),
        "no internals leak: {text}"
    );
}
