//! Mounts the Leptos portal: server-rendered routes, server functions and static assets.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::IntoResponse;
use axum::routing::post;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list, handle_server_fns_with_context};
use locksmith_app::{App, shell};

use crate::state::AppState;

/// The portal's routes, with the state's pool provided to every render and server function.
pub fn router(state: &AppState) -> Router<AppState> {
    let routes = generate_route_list(App);
    let context = {
        let pool = state.pool.clone();
        move || provide_context(pool.clone())
    };
    let options = state.leptos_options.clone();
    Router::new()
        .leptos_routes_with_context(state, routes, context.clone(), move || {
            shell(options.clone())
        })
        .route("/api/{*fn_name}", post(server_fn).get(server_fn))
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, shell))
}

async fn server_fn(State(state): State<AppState>, req: Request<Body>) -> impl IntoResponse {
    handle_server_fns_with_context(move || provide_context(state.pool.clone()), req).await
}
