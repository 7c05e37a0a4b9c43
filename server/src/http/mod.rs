//! The HTTP stack: the router and the layers every response passes through.

pub mod body;
pub mod client_address;
pub mod csrf;
pub mod docs;
pub mod metrics;
pub mod ops;
pub mod private;
pub mod problem;
pub mod rate_limit;
pub mod request_id;
pub mod security_headers;
pub mod settle;
pub mod trace_context;

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Method, StatusCode};
use axum::middleware;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate as _, SizeAbove};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::PropagateRequestIdLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use self::body::BODY_LIMIT;
use crate::config::Settings;
use crate::portal;
use crate::reload::Live;
use crate::secrets::Secrets;
use crate::state::AppState;

/// Responses of at most this many bytes are sent uncompressed.
const COMPRESS_ABOVE: u16 = 1024;

/// Builds the whole application: operations endpoints, the versioned API and the portal.
pub fn router(state: AppState, settings: &Settings, secrets: &Secrets, live: &Live) -> Router {
    let timeout = settings.http.request_timeout;
    let api = api_router(settings, timeout, &state, live);
    let ops = Router::new()
        .route("/healthz", axum::routing::get(ops::healthz))
        .route("/readyz", axum::routing::get(ops::readyz))
        .route("/metrics", metrics::route(settings.metrics_token.as_ref()))
        .merge(docs::routes());

    let portal = portal::router(&state, settings, secrets)
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ));

    let hsts = settings
        .public_url
        .as_ref()
        .is_some_and(|url| url.scheme() == "https");

    let mut verify = crate::api::verify::route(state.verify.clone(), timeout);
    if let Some(cors) = cors(settings, live) {
        verify = verify.layer(cors);
    }

    Router::new()
        .nest("/v1", api)
        .merge(ops)
        .merge(portal)
        .with_state(state)
        .merge(verify)
        .layer(
            ServiceBuilder::new()
                // First, so that every later layer and handler sees the real client.
                .layer(middleware::from_fn_with_state(
                    std::sync::Arc::clone(&live.trusted_proxies),
                    client_address::apply,
                ))
                .layer(SetSensitiveRequestHeadersLayer::new([
                    axum::http::header::AUTHORIZATION,
                    axum::http::header::COOKIE,
                ]))
                .layer(middleware::map_request(request_id::assign))
                .layer(PropagateRequestIdLayer::new(request_id::HEADER.clone()))
                .layer(TraceLayer::new_for_http().make_span_with(request_id::make_span))
                .layer(middleware::from_fn(metrics::track))
                .layer(middleware::from_fn_with_state(
                    hsts,
                    security_headers::apply,
                ))
                // Compression wraps the problem renderer, which rewrites bodies. A body
                // that fits in a packet or two gains nothing from it (a verification
                // answer, a problem) and would pay for a compressor's set-up.
                .layer(
                    CompressionLayer::new()
                        .compress_when(DefaultPredicate::new().and(SizeAbove::new(COMPRESS_ABOVE))),
                )
                .layer(middleware::from_fn(problem::render)),
        )
}

/// `/v1`: every error leaves as problem details, whatever layer produced it.
fn api_router(
    settings: &Settings,
    timeout: Duration,
    state: &AppState,
    live: &Live,
) -> Router<AppState> {
    let mut api = crate::api::routes(state)
        .fallback(problem::not_found)
        .layer(middleware::from_fn(private::no_store_by_default))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ));
    if let Some(cors) = cors(settings, live) {
        api = api.layer(cors);
    }
    api
}

/// The CORS policy of the API, when origins are configured at start-up; the list itself
/// is read live, so that `SIGHUP` can change it.
fn cors(settings: &Settings, live: &Live) -> Option<CorsLayer> {
    if settings.http.cors_allowed_origins.is_empty() {
        return None;
    }
    let origins = std::sync::Arc::clone(&live.cors_origins);
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin, _| {
                origins.load().iter().any(|allowed| allowed == origin)
            }))
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                axum::http::header::AUTHORIZATION,
                axum::http::header::CONTENT_TYPE,
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([HeaderName::from_static("x-request-id")])
            .max_age(Duration::from_secs(600)),
    )
}
