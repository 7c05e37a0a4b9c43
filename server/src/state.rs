//! The state shared by every handler and server function.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use locksmith_core::audit::AuditService;
use locksmith_core::dashboard::Dashboard;
use locksmith_core::db::Schema;
use locksmith_core::findings::FindingService;
use locksmith_core::identity::gate::SignInGate;
use locksmith_core::identity::{SessionService, UserService};
use locksmith_core::keys::{KeyService, KeyspaceService};
use locksmith_core::leaks::LeakService;
use locksmith_core::notify::NotificationService;
use locksmith_core::verify::VerifyService;
use locksmith_core::webhooks::WebhookService;

use crate::auth::JwtKeys;
use crate::http::rate_limit::ApiLimits;

/// How API callers authenticate.
#[derive(Debug)]
pub struct AuthConfig {
    /// Signs and verifies access tokens.
    pub jwt: JwtKeys,
}

/// Cheap to clone (axum clones it for every request): every field is one reference
/// count, or a few inside.
#[derive(Clone, Debug, FromRef)]
pub struct AppState {
    /// Where the portal's compiled assets are and how they are named.
    #[from_ref(skip)]
    pub leptos_options: Arc<LeptosOptions>,
    /// The database schema (readiness) and pool figures (metrics).
    pub schema: Schema,
    /// Authentication settings and keys.
    pub auth: Arc<AuthConfig>,
    /// The key operations (pool plus the key hasher).
    pub keys: KeyService,
    /// Keyspaces and verifiers.
    pub keyspaces: KeyspaceService,
    pub users: UserService,
    /// Reading the audit trail.
    pub audit: AuditService,
    /// Signing in and out, tokens and portal sessions.
    pub sessions: SessionService,
    /// Abuse limits of the management API.
    pub limits: Arc<ApiLimits>,
    /// What every sign-in passes: a rate per address, the lockout, bounded hashing.
    pub sign_in: Arc<SignInGate>,
    /// Key verification.
    pub verify: VerifyService,
    /// Webhook subscriptions and their delivery logs.
    pub webhooks: WebhookService,
    /// Users' email notification preferences.
    pub notifications: NotificationService,
    /// The portal's dashboard queries (with its cache of the busiest keys).
    pub dashboard: Dashboard,
    /// Leak reports and leak-reporter tokens.
    pub leaks: LeakService,
    /// Findings on keys (leaks, unusual use).
    pub findings: FindingService,
}

/// Leptos' handlers take the options by value: copied only for portal requests.
impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        (*state.leptos_options).clone()
    }
}
