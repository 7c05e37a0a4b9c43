//! The versioned REST API under `/v1`: thin handlers over `locksmith-core`.

pub mod audit;
pub mod auth;
pub mod extract;
pub mod users;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// The `/v1` routes (mounted by `http::router`, which adds the error format and limits).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/token", post(auth::token))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/users", post(users::create).get(users::list))
        .route("/users/{id}", get(users::get).patch(users::update))
        .route("/me", get(users::me))
        .route("/audit", get(audit::list))
}
