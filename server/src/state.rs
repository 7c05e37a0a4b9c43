//! The state shared by every handler and server function.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use locksmith_core::identity::login::LockoutPolicy;
use sqlx::PgPool;

use locksmith_core::keys::KeyService;
use locksmith_core::verify::VerifyService;

use crate::auth::JwtKeys;
use crate::http::rate_limit::ApiLimits;

/// How API callers authenticate.
#[derive(Debug)]
pub struct AuthConfig {
    /// Signs and verifies access tokens.
    pub jwt: JwtKeys,
    /// Account and address lockout thresholds.
    pub lockout: LockoutPolicy,
    /// How long a refresh token lives.
    pub refresh_ttl: Duration,
}

/// Cheap to clone: every field is reference-counted inside.
#[derive(Clone, Debug, FromRef)]
pub struct AppState {
    /// Where the portal's compiled assets are and how they are named.
    pub leptos_options: LeptosOptions,
    /// The database pool.
    pub pool: PgPool,
    /// Authentication settings and keys.
    pub auth: Arc<AuthConfig>,
    /// The key operations (pool plus the key hasher).
    pub keys: KeyService,
    /// Abuse limits of the management API.
    pub limits: Arc<ApiLimits>,
    /// Key verification.
    pub verify: VerifyService,
}
