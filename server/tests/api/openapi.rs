//! The OpenAPI document: committed snapshot, served copy and the contract's endpoints;
//! the interactive reference at /docs, served by Locksmith itself.

use sqlx::PgPool;

use crate::helpers::{KEY_VIEW_FIELDS, TestApp};

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");

/// Fails when the API changed without the snapshot; `LOCKSMITH_UPDATE_OPENAPI=1` rewrites
/// it (then review the diff).
#[test]
fn the_committed_snapshot_matches_the_code() {
    let current = locksmith_server::api::openapi::pretty_json();
    if std::env::var_os("LOCKSMITH_UPDATE_OPENAPI").is_some() {
        std::fs::write(SNAPSHOT, format!("{current}\n")).expect("snapshot written");
    }
    let committed = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    assert!(
        committed.trim_end() == current,
        "docs/openapi.json is out of date: run \
         `LOCKSMITH_UPDATE_OPENAPI=1 cargo test -p locksmith-server --test api openapi` \
         and review the diff"
    );
}

#[test]
fn the_document_covers_the_contract() {
    let doc: serde_json::Value =
        serde_json::from_str(&locksmith_server::api::openapi::pretty_json()).expect("JSON");
    for (path, method) in [
        ("/v1/auth/token", "post"),
        ("/v1/auth/refresh", "post"),
        ("/v1/auth/logout", "post"),
        ("/v1/users", "post"),
        ("/v1/users", "get"),
        ("/v1/users/{id}", "get"),
        ("/v1/users/{id}", "patch"),
        ("/v1/me", "get"),
        ("/v1/keyspaces", "post"),
        ("/v1/keyspaces", "get"),
        ("/v1/keyspaces/{id}", "get"),
        ("/v1/keyspaces/{id}/verifiers", "post"),
        ("/v1/keyspaces/{id}/verifiers/{verifier_id}", "delete"),
        ("/v1/keys", "post"),
        ("/v1/keys", "get"),
        ("/v1/keys/{id}", "get"),
        ("/v1/keys/{id}", "patch"),
        ("/v1/keys/{id}/rotate", "post"),
        ("/v1/keys/{id}/revoke", "post"),
        ("/v1/keys/bulk", "post"),
        ("/v1/verify", "post"),
        ("/v1/audit", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
    let view = &doc["components"]["schemas"]["KeyView"]["properties"];
    for field in KEY_VIEW_FIELDS {
        assert!(view[field].is_object(), "KeyView.{field} missing");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_document_and_the_reference_are_served(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app.get("/v1/openapi.json").await;
    assert_eq!(res.status(), 200);
    let served: serde_json::Value = res.json().await.expect("JSON");
    let expected: serde_json::Value =
        serde_json::from_str(&locksmith_server::api::openapi::pretty_json()).expect("JSON");
    assert_eq!(served, expected);

    let res = app.get("/docs").await;
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    let html = res.text().await.expect("html");
    for asset in [
        "/docs/swagger-ui.css",
        "/docs/swagger-ui-bundle.js",
        "/docs/init.js",
    ] {
        assert!(html.contains(asset), "{asset}");
        let res = app.get(asset).await;
        assert_eq!(res.status(), 200, "{asset}");
        assert!(res.bytes().await.expect("body").len() > 100, "{asset}");
    }
}

/// What OpenAPI validators and SDK generators insist on: every operation has an id, no
/// two the same; every `$ref` names a schema the document holds; every link names an
/// operation that exists.
#[test]
fn the_document_is_valid_for_tools() {
    let text = locksmith_server::api::openapi::pretty_json();
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let mut ids = std::collections::BTreeSet::new();
    let paths = doc["paths"].as_object().expect("paths");
    let webhooks = doc["webhooks"].as_object().expect("webhooks");
    // The OpenAPI 3.1 `webhooks` section lists every event type Locksmith sends.
    let listed: Vec<&str> = webhooks.keys().map(String::as_str).collect();
    let mut catalogue = locksmith_core::events::TYPES.to_vec();
    catalogue.sort_unstable();
    assert_eq!(listed, catalogue);
    for (path, item) in paths.iter().chain(webhooks) {
        for (method, op) in item.as_object().expect("item") {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
        }
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let refs = regex::Regex::new(r##""\$ref": "#/components/schemas/([^"]+)""##).expect("regex");
    for found in refs.captures_iter(&text) {
        assert!(
            schemas.contains_key(&found[1]),
            "$ref to missing schema {}",
            &found[1]
        );
    }
    let links = regex::Regex::new(r#""operationId": "([^"]+)""#).expect("regex");
    let mut linked = 0;
    for found in links.captures_iter(&text) {
        assert!(
            ids.contains(&found[1]),
            "link or operation names unknown {}",
            &found[1]
        );
        linked += 1;
    }
    assert!(
        linked > ids.len(),
        "create operations link to the operations using their ids"
    );
    assert_eq!(
        doc["paths"]["/v1/keys"]["post"]["responses"]["201"]["links"]["GetKey"]["operationId"],
        "getKey"
    );
    assert!(
        !text.contains("operation_id"),
        "links use OpenAPI's own field names"
    );
}
