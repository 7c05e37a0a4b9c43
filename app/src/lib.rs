//! The Locksmith portal: the HTML shell, the router and the pages.
//!
//! Every page renders on the server and hydrates in the browser. Server functions are thin
//! callers of `locksmith-core` and return DTOs defined here, so the WASM bundle never
//! depends on the core or the database.

pub mod audit;
pub mod auth;
pub mod components;
pub mod dashboard;
pub mod error;
pub mod findings;
#[cfg(feature = "ssr")]
mod form;
pub mod keys;
pub mod keyspaces;
pub mod leaks;
pub mod pages;
pub mod status;
pub mod users;
pub mod webhooks;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{Lazy, LazyRoute, ParamSegment, SsrMode, StaticSegment, lazy_route};

use crate::auth::{UserResource, current_user};
use crate::components::layout::Layout;
use crate::pages::audit::AuditPage;
use crate::pages::check_key::CheckKeyPage;
use crate::pages::key::KeyPage;
use crate::pages::keys::KeysPage;
use crate::pages::keyspaces::KeyspacesPage;
use crate::pages::new_key::NewKeyPage;
use crate::pages::webhooks::WebhooksPage;
use crate::pages::{home::HomePage, login::LoginPage, not_found::NotFound, users::UsersPage};

/// The page's Content-Security-Policy: scripts only from this origin or carrying this
/// response's nonce (Leptos puts it on its hydration scripts), WASM compilation allowed,
/// no foreign connections. It travels in a meta tag, first in `<head>`; the header adds
/// `frame-ancestors`, which a meta policy cannot carry.
fn content_security_policy() -> Option<String> {
    leptos::nonce::use_nonce().map(|nonce| {
        format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
             style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
             object-src 'none'; base-uri 'none'; form-action 'self'"
        )
    })
}

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta http-equiv="Content-Security-Policy" content=content_security_policy() />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body class="min-h-screen bg-slate-50 text-slate-900 antialiased">
                <App />
            </body>
        </html>
    }
}

/// The portal's root component.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Who is signed in, loaded once per page load and shared by the header and the guards.
    let user: UserResource = Resource::new(|| (), |()| current_user());
    provide_context(user);
    view! {
        <Stylesheet id="leptos" href="/pkg/locksmith.css" />
        <Title formatter=|page: String| {
            if page.is_empty() { "Locksmith".to_owned() } else { format!("{page} · Locksmith") }
        } />
        <Router>
            <Layout>
                <Routes fallback=NotFound>
                    // Async: guarded pages wait for the session check, so that a redirect
                    // or a 403 can still set the response status.
                    <Route path=StaticSegment("") view=HomePage ssr=SsrMode::Async />
                    <Route path=StaticSegment("login") view=LoginPage />
                    <Route path=StaticSegment("users") view={Lazy::<UsersRoute>::new()} ssr=SsrMode::Async />
                    <Route path=StaticSegment("audit") view={Lazy::<AuditRoute>::new()} ssr=SsrMode::Async />
                    <Route path=StaticSegment("keys") view=KeysPage ssr=SsrMode::Async />
                    <Route path=(StaticSegment("keys"), StaticSegment("new")) view={Lazy::<NewKeyRoute>::new()} ssr=SsrMode::Async />
                    <Route path=(StaticSegment("keys"), StaticSegment("check")) view=CheckKeyPage ssr=SsrMode::Async />
                    <Route path=(StaticSegment("keys"), ParamSegment("id")) view={Lazy::<KeyRoute>::new()} ssr=SsrMode::Async />
                    <Route path=StaticSegment("keyspaces") view={Lazy::<KeyspacesRoute>::new()} ssr=SsrMode::Async />
                    <Route path=StaticSegment("webhooks") view={Lazy::<WebhooksRoute>::new()} ssr=SsrMode::Async />
                </Routes>
            </Layout>
        </Router>
    }
}

// Pages whose code is loaded only when they are visited (`cargo leptos build --split`).
// Written out one by one: `#[lazy_route]` names each split after where it is written, so
// a macro generating them would give every page the same name.

#[derive(Debug)]
struct UsersRoute;

#[lazy_route]
impl LazyRoute for UsersRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <UsersPage /> }.into_any()
    }
}

#[derive(Debug)]
struct AuditRoute;

#[lazy_route]
impl LazyRoute for AuditRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <AuditPage /> }.into_any()
    }
}

#[derive(Debug)]
struct NewKeyRoute;

#[lazy_route]
impl LazyRoute for NewKeyRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <NewKeyPage /> }.into_any()
    }
}

#[derive(Debug)]
struct KeyRoute;

#[lazy_route]
impl LazyRoute for KeyRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <KeyPage /> }.into_any()
    }
}

#[derive(Debug)]
struct KeyspacesRoute;

#[lazy_route]
impl LazyRoute for KeyspacesRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <KeyspacesPage /> }.into_any()
    }
}

#[derive(Debug)]
struct WebhooksRoute;

#[lazy_route]
impl LazyRoute for WebhooksRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <WebhooksPage /> }.into_any()
    }
}
