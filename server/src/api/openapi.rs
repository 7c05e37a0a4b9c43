//! The OpenAPI 3.1 document of `/v1`, generated from the handlers and types themselves
//! (utoipa) and served at `/v1/openapi.json`. `docs/openapi.json` is a committed snapshot;
//! a test fails when the two drift apart, so every API change shows up in review.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{audit, auth, keys, keyspaces, users};
use crate::http::ops;

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Locksmith API",
        description = "Self-hosted API key management: keyspaces, keys, verification, users \
                       and the audit trail. Errors are RFC 9457 problem details \
                       (`application/problem+json`) with a stable `code` and the `request_id`.",
        license(name = "Apache-2.0"),
    ),
    paths(
        auth::token, auth::refresh, auth::logout,
        users::create, users::list, users::get, users::update, users::me,
        keyspaces::create, keyspaces::list, keyspaces::get,
        keyspaces::create_verifier, keyspaces::list_verifiers, keyspaces::revoke_verifier,
        keys::create, keys::list, keys::get, keys::update, keys::revoke, keys::rotate, keys::bulk,
        audit::list,
        ops::healthz, ops::readyz,
    ),
    modifiers(&BearerAuth, &OptionalBodies),
    tags(
        (name = "auth", description = "Access and refresh tokens"),
        (name = "users", description = "Users and roles (admin)"),
        (name = "keyspaces", description = "Keyspaces and their verifier tokens"),
        (name = "keys", description = "API keys"),
        (name = "audit", description = "The audit trail"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Bodies that may be left out entirely (an empty body means `{}`).
struct OptionalBodies;

impl Modify for OptionalBodies {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for path in ["/v1/keys/{id}/revoke", "/v1/keys/{id}/rotate"] {
            if let Some(body) = doc
                .paths
                .paths
                .get_mut(path)
                .and_then(|item| item.post.as_mut())
                .and_then(|op| op.request_body.as_mut())
            {
                body.required = Some(utoipa::openapi::Required::False);
            }
        }
    }
}

/// The document as served (and as snapshotted in `docs/openapi.json`).
pub fn pretty_json() -> String {
    let mut doc = ApiDoc::openapi();
    // The crate's version would churn the snapshot on every release; the API is v1.
    doc.info.version = "1".into();
    doc.to_pretty_json().unwrap_or_default()
}

static DOCUMENT: LazyLock<String> = LazyLock::new(pretty_json);

/// `GET /v1/openapi.json`.
pub async fn document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}
