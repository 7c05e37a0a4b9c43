//! Mounts the Leptos portal: server-rendered routes, server functions, static assets, and
//! the portal's sessions.

use axum::Router;
use axum::middleware;
use axum::routing::get;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use locksmith_app::{App, shell};
use secrecy::ExposeSecret;
use tower_http::services::{ServeDir, ServeFile};
use tower_sessions::cookie::{Key, SameSite};
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::audit_export;
use crate::config::Settings;
use crate::http::csrf;
use crate::secrets::Secrets;
use crate::session_store::PgSessionStore;
use crate::state::AppState;

/// Idle sessions end after this long (the absolute limit is enforced by the app).
const IDLE_TIMEOUT_MINUTES: i64 = 30;

fn provide(state: &AppState) {
    provide_context(state.keys.clone());
    provide_context(state.keyspaces.clone());
    provide_context(state.users.clone());
    provide_context(state.audit.clone());
    provide_context(state.sessions.clone());
    provide_context(state.verify.clone());
    provide_context(state.dashboard.clone());
    provide_context(state.webhooks.clone());
    provide_context(state.notifications.clone());
    provide_context(state.leaks.clone());
    provide_context(state.findings.clone());
}

/// The portal's routes. Sessions live in PostgreSQL (`tower_sessions.session`), behind a
/// signed, HttpOnly, SameSite=Lax cookie that is Secure whenever HTTPS is configured.
pub fn router(state: &AppState, settings: &Settings, secrets: &Secrets) -> Router<AppState> {
    let routes = generate_route_list(App);
    let context = {
        let state = state.clone();
        move || provide(&state)
    };
    let options = (*state.leptos_options).clone();
    let sessions = SessionManagerLayer::new(PgSessionStore::new(state.sessions.clone()))
        .with_name("locksmith_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(settings.http.cookie_secure)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::minutes(IDLE_TIMEOUT_MINUTES),
        ))
        .with_signed(cookie_key(secrets));
    // The compiled assets are plain files. Leptos' own file handler runs them under a
    // reactive owner and copies that owner's response options (status, headers) onto the
    // file; under concurrent requests it was seen serving the CSS with another page's 403.
    let site_root = std::path::Path::new(&*state.leptos_options.site_root);
    let assets = ServeDir::new(site_root.join("pkg"));
    let favicon = ServeFile::new(site_root.join("favicon.svg"));
    // `leptos_routes_with_context` registers every server function (`/api/...`) too.
    // Pages and server functions show personal data and secrets: never cached.
    let dynamic = Router::new()
        .route("/audit/export.csv", get(audit_export::audit_csv))
        .leptos_routes_with_context(state, routes, context.clone(), move || {
            shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, shell))
        .layer(middleware::from_fn(
            crate::http::private::no_store_by_default,
        ));
    Router::new()
        .nest_service("/pkg", assets)
        .route_service("/favicon.svg", favicon)
        .merge(dynamic)
        // A server function that changed something answers once this instance's
        // verification caches have applied the change.
        .layer(middleware::from_fn_with_state(
            state.verify.clone(),
            crate::http::settle::after_changes,
        ))
        // Portal pages are GET only: every other request is a server function call and
        // must come from a page of this origin.
        .layer(middleware::from_fn_with_state(
            csrf::ThisOrigin::new(settings.public_url.as_ref(), settings.http.cookie_secure),
            csrf::same_origin,
        ))
        .layer(sessions)
}

/// The cookie signing key: 64 bytes derived from `LOCKSMITH_SESSION_SECRET` (at least
/// 32 bytes, checked at start-up).
fn cookie_key(secrets: &Secrets) -> Key {
    use sha2::Digest as _;
    Key::from(&sha2::Sha512::digest(
        secrets.session.expose_secret().as_bytes(),
    ))
}
