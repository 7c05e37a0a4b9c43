//! `x-request-id`: echoed when sane, generated otherwise, on every response.

use sqlx::PgPool;

use crate::helpers::TestApp;

fn request_id(res: &reqwest::Response) -> String {
    res.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("every response has x-request-id")
        .to_owned()
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_missing_id_is_generated_and_unique(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let a = request_id(&app.get("/healthz").await);
    let b = request_id(&app.get("/healthz").await);
    assert!(uuid::Uuid::parse_str(&a).is_ok(), "{a}");
    assert_ne!(a, b);
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_sane_id_is_echoed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = "trace-01HZX:span_9.abc";
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", id)
        .send()
        .await
        .expect("sent");
    assert_eq!(request_id(&res), id);
    let long = "a".repeat(128);
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", &long)
        .send()
        .await
        .expect("sent");
    assert_eq!(request_id(&res), long);
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn an_unsafe_or_oversized_id_is_replaced(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for bad in [
        "a".repeat(129),
        "<script>".to_owned(),
        "has space".to_owned(),
        String::new(),
    ] {
        let res = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", &bad)
            .send()
            .await
            .expect("sent");
        let id = request_id(&res);
        assert_ne!(id, bad);
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "replaced by a generated id, got {id}"
        );
    }
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn portal_pages_and_errors_carry_the_id_too(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for path in ["/", "/no-such-page", "/v1/no-such-endpoint"] {
        let res = app
            .client
            .get(app.url(path))
            .header("x-request-id", "abc-123")
            .send()
            .await
            .expect("sent");
        assert_eq!(request_id(&res), "abc-123", "{path}");
    }
}

/// The audit trail keeps Locksmith's own request id (unique, generated) apart from the
/// id a caller sent: a caller that reuses another request's id gets its change recorded
/// under a new `request_id`, with its own id as `client_request_id` (before, the
/// caller's id was stored as the request id). The chain still verifies.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_callers_id_is_audited_beside_locksmiths_own(pool: PgPool) {
    use locksmith_core::identity::Role;
    crate::helpers::create_user(&pool, "admin@example.com", Role::Admin).await;
    let app = TestApp::spawn(pool.clone()).await;
    let admin = app.bearer("admin@example.com").await;
    let create = |name: &'static str, id: &'static str| {
        app.with(reqwest::Method::POST, "/v1/keyspaces", &admin)
            .header("x-request-id", id)
            .json(&serde_json::json!({ "name": name, "prefix": name }))
            .send()
    };
    let first = create("one", "copied-id").await.expect("sent");
    assert_eq!(first.status(), 201);
    assert_eq!(
        request_id(&first),
        "copied-id",
        "echoed as the contract says"
    );
    let second = create("two", "copied-id").await.expect("sent");
    assert_eq!(second.status(), 201);

    let entries = app
        .get_json("/v1/audit?action=keyspace.create", &admin)
        .await;
    let items = entries["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    let ids: Vec<&str> = items
        .iter()
        .map(|e| e["request_id"].as_str().expect("request_id"))
        .collect();
    assert_ne!(ids[0], ids[1], "Locksmith's ids are unique");
    assert!(
        ids.iter().all(|id| uuid::Uuid::parse_str(id).is_ok()),
        "{ids:?}"
    );
    assert!(
        items.iter().all(|e| e["client_request_id"] == "copied-id"),
        "{entries}"
    );
    let chain = locksmith_core::audit::AuditService::new(pool.clone())
        .verify(locksmith_core::identity::Actor::SYSTEM)
        .await
        .expect("verified");
    assert_eq!(chain.first_broken, None);
}
