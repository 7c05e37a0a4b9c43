//! The state shared by every handler and server function.

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use sqlx::PgPool;

/// Cheap to clone: every field is reference-counted inside.
#[derive(Clone, Debug, FromRef)]
pub struct AppState {
    /// Where the portal's compiled assets are and how they are named.
    pub leptos_options: LeptosOptions,
    /// The database pool.
    pub pool: PgPool,
}
