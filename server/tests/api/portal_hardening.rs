//! The portal under an outside probe: what reaches its server functions and pages that
//! should not, and what they answer with (origins by scheme, caching, control
//! characters, malformed arguments, one rule for who lists users).

use locksmith_core::identity::Role;
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TestApp, create_user};

/// On an `https` deployment, a server-function call from an `http` page of the same
/// host (or any other scheme) is cross-site (before, only the host was compared).
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_page_of_another_scheme_is_another_site(pool: PgPool) {
    create_user(&pool, "ada@example.com", Role::Owner).await;
    let app = TestApp::spawn_with(
        pool,
        &[("LOCKSMITH_PUBLIC_URL", "https://keys.example.com")],
    )
    .await;
    let login = |origin: &'static str| {
        app.client
            .post(app.url("/api/login"))
            .header("host", "keys.example.com")
            .header("origin", origin)
            .form(&[("email", "ada@example.com"), ("password", PASSWORD)])
            .send()
    };
    for origin in [
        "http://keys.example.com",
        "javascript://keys.example.com",
        "https://keys.example.com:8443",
    ] {
        let res = login(origin).await.expect("sent");
        assert_eq!(res.status(), 403, "{origin}");
        assert!(res.headers().get("set-cookie").is_none(), "{origin}");
    }
    let res = login("https://keys.example.com").await.expect("sent");
    assert_eq!(res.status(), 200, "this origin");
}

/// A server function that returns a secret, a signed-in page, and every other portal
/// answer carry `cache-control: no-store`; the compiled assets keep their own caching.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn portal_answers_are_never_stored(pool: PgPool) {
    create_user(&pool, "admin@example.com", Role::Admin).await;
    let app = TestApp::spawn(pool).await;
    let admin = app.portal_session("admin@example.com").await;
    let no_store = |res: &reqwest::Response| {
        res.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "no-store")
    };
    let keyspace = app
        .server_fn(
            &admin,
            "create_keyspace",
            &[("name", "Payments"), ("prefix", "pay")],
        )
        .await;
    let keyspace: serde_json::Value =
        serde_json::from_str(&keyspace.text().await.expect("body")).expect("keyspace JSON");
    let keyspace_id = keyspace["id"].as_str().expect("id");
    let verifier = app
        .server_fn(
            &admin,
            "create_verifier",
            &[("keyspace_id", keyspace_id), ("name", "checkout")],
        )
        .await;
    // Server functions called as plain forms answer success with a redirect.
    assert!(verifier.status().is_redirection(), "{}", verifier.status());
    assert!(no_store(&verifier), "a verifier token");
    for path in ["/users", "/audit", "/keyspaces", "/keys"] {
        let page = app.page(&admin, path).await;
        assert_eq!(page.status(), 200, "{path}");
        assert!(no_store(&page), "{path}");
    }
    let users = app.server_fn(&admin, "list_users", &[]).await;
    assert!(no_store(&users), "the users list");
}

/// A NUL byte in an audit filter (page, server function or CSV export) is a 400 naming
/// the filter, not a false "database unavailable" 503 (before, PostgreSQL refused it).
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn control_characters_in_audit_filters_are_refused_naming_the_filter(pool: PgPool) {
    create_user(&pool, "auditor@example.com", Role::Auditor).await;
    let app = TestApp::spawn(pool).await;
    let auditor = app.portal_session("auditor@example.com").await;
    let entries = app
        .server_fn(
            &auditor,
            "audit_entries",
            &[("filters[action]", "user\u{0}.create")],
        )
        .await;
    assert_eq!(entries.status(), 400);
    let body = entries.text().await.expect("body");
    assert!(
        body.contains("action: must be at most 200 characters"),
        "{body}"
    );

    let csv = auditor
        .get(app.url("/audit/export.csv?target_id=a%00b"))
        .send()
        .await
        .expect("sent");
    assert_eq!(csv.status(), 400);
    assert!(csv.text().await.expect("body").starts_with("target_id: "));
}

/// Arguments that do not decode (a missing field, a wrong type) are a 400 naming the
/// field, as in the REST API; before, a 500 echoed the parser's message.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn malformed_server_function_arguments_are_a_400_naming_the_field(pool: PgPool) {
    create_user(&pool, "admin@example.com", Role::Admin).await;
    let app = TestApp::spawn(pool).await;
    let admin = app.portal_session("admin@example.com").await;
    let missing = app
        .server_fn(&admin, "create_keyspace", &[("name", "Payments")])
        .await;
    assert_eq!(missing.status(), 400);
    let body = missing.text().await.expect("body");
    assert!(body.contains("prefix: is missing"), "{body}");

    let wrong_type = app
        .server_fn(
            &admin,
            "update_user",
            &[("id", "x"), ("disabled", "perhaps")],
        )
        .await;
    assert_eq!(wrong_type.status(), 400);
    let body = wrong_type.text().await.expect("body");
    assert!(!body.contains("perhaps"), "the input is not echoed: {body}");
}

/// Auditors read everything, users included, through the portal as through REST (before,
/// the portal refused what REST allowed); they see the list read-only, and changing a
/// user stays an admin's.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn auditors_list_users_read_only_through_either_door(pool: PgPool) {
    create_user(&pool, "admin@example.com", Role::Admin).await;
    create_user(&pool, "auditor@example.com", Role::Auditor).await;
    let owner = create_user(&pool, "owner@example.com", Role::Owner).await;
    let app = TestApp::spawn(pool).await;
    let auditor = app.portal_session("auditor@example.com").await;
    let listed = app.server_fn(&auditor, "list_users", &[]).await;
    assert!(listed.status().is_redirection(), "{}", listed.status());
    let users: serde_json::Value =
        serde_json::from_str(&listed.text().await.expect("body")).expect("users JSON");
    assert_eq!(users.as_array().map(Vec::len), Some(3));
    let page = app.page(&auditor, "/users").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("owner@example.com") && html.contains("data-testid=\"read-only\""));
    assert!(!html.contains("Create user"), "no forms for auditors");
    let change = app
        .server_fn(
            &auditor,
            "update_user",
            &[("id", owner.to_string().as_str()), ("disabled", "true")],
        )
        .await;
    assert_eq!(change.status(), 403);

    let rest = app.bearer("auditor@example.com").await;
    let listed = app
        .with(reqwest::Method::GET, "/v1/users", &rest)
        .send()
        .await
        .expect("sent");
    assert_eq!(listed.status(), 200);
}
