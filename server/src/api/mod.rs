//! The versioned REST API under `/v1`: thin handlers over `locksmith-core`.

pub mod audit;
pub mod auth;
pub mod extract;
pub mod findings;
pub mod keys;
pub mod keyspaces;
pub mod leaks;
pub mod no_store;
pub mod openapi;
pub mod schema;
pub mod users;
pub mod verify;
pub mod webhooks;

use axum::Router;
use axum::routing::{delete, get, post};

use crate::state::AppState;

/// The `/v1` routes (mounted by `http::router`, which adds the error format and limits).
/// Management changes answer once this instance's verification caches have applied them
/// (`http::settle`). `POST /v1/verify` is mounted on its own ([`verify::route`]).
pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/auth/token", post(auth::token))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/users", post(users::create).get(users::list))
        .route("/users/{id}", get(users::get).patch(users::update))
        .route("/me", get(users::me))
        .route(
            "/me/notifications",
            get(users::my_notifications).put(users::set_my_notifications),
        )
        .route("/audit", get(audit::list))
        .route("/keyspaces", post(keyspaces::create).get(keyspaces::list))
        .route(
            "/keyspaces/{id}",
            get(keyspaces::get).patch(keyspaces::update),
        )
        .route(
            "/keyspaces/{id}/verifiers",
            post(keyspaces::create_verifier).get(keyspaces::list_verifiers),
        )
        .route(
            "/keyspaces/{id}/verifiers/{verifier_id}",
            delete(keyspaces::revoke_verifier),
        )
        .route("/keys", post(keys::create).get(keys::list))
        .route("/keys/bulk", post(keys::bulk))
        .route("/keys/{id}", get(keys::get).patch(keys::update))
        .route("/keys/{id}/revoke", post(keys::revoke))
        .route("/keys/{id}/rotate", post(keys::rotate))
        .route("/keys/lookup", post(keys::lookup))
        .route("/keys/{id}/verifications", get(keys::verifications))
        .route("/keys/{id}/grace/end", post(keys::end_grace))
        .route("/keys/{id}/grace/extend", post(keys::extend_grace))
        .route("/keys/{id}/usage", get(keys::usage))
        .route("/findings", get(findings::list))
        .route("/findings/summary", get(findings::summary))
        .route("/findings/{id}", get(findings::get))
        .route("/findings/{id}/acknowledge", post(findings::acknowledge))
        .route("/leaks", post(leaks::report))
        .route("/leaks/github", post(leaks::github))
        .route(
            "/leak-reporters",
            post(leaks::create_reporter).get(leaks::list_reporters),
        )
        .route("/leak-reporters/{id}", delete(leaks::revoke_reporter))
        .route("/webhooks", post(webhooks::create).get(webhooks::list))
        .route(
            "/webhooks/{id}",
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route(
            "/webhooks/{id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route("/webhooks/{id}/test", post(webhooks::test))
        .route("/webhooks/{id}/replay", post(webhooks::replay))
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route(
            "/webhooks/{id}/deliveries/{delivery_id}/retry",
            post(webhooks::retry),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.verify.clone(),
            crate::http::settle::after_changes,
        ))
        .route("/openapi.json", get(openapi::document))
}
