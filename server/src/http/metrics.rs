//! Prometheus metrics: request counts and latency by route and status, pool gauges.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use locksmith_core::db::Schema;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds, from 100 µs (a cached verification) to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then ours just stays unused.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Counts each request and times it, labelled by route template (never the raw path, so
/// ids in URLs cannot explode the number of series).
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let res = next.run(req).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", res.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    res
}

/// `GET /metrics`: Prometheus text format.
pub async fn render(State(schema): State<Schema>) -> impl IntoResponse {
    let pool = schema.pool_stats();
    metrics::gauge!("db_pool_connections").set(f64::from(pool.size));
    metrics::gauge!("db_pool_idle_connections").set(pool.idle as f64);
    metrics::gauge!("db_pool_max_connections").set(f64::from(pool.max));
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        handle().render(),
    )
}

/// `GET /metrics`, behind a bearer token when `LOCKSMITH_METRICS_TOKEN` is set: the
/// numbers name key ids and show each key's traffic, which is not for everyone who can
/// reach the port. Without the token the route stays open, as scrapers expect by default.
pub fn route(
    token: Option<&secrecy::SecretString>,
) -> axum::routing::MethodRouter<crate::state::AppState> {
    use secrecy::ExposeSecret as _;
    use sha2::Digest as _;
    let get = axum::routing::get(render);
    let Some(token) = token else {
        return get;
    };
    // Compared as digests, so that the comparison's time says nothing of the token.
    let expected: [u8; 32] = sha2::Sha256::digest(token.expose_secret().as_bytes()).into();
    get.route_layer(axum::middleware::from_fn(
        move |req: Request, next: Next| async move {
            let presented = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(|t| -> [u8; 32] { sha2::Sha256::digest(t.trim().as_bytes()).into() });
            let allowed = presented.is_some_and(|p| {
                p.iter()
                    .zip(expected.iter())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
            });
            if allowed {
                next.run(req).await
            } else {
                let mut res = super::problem::Problem::new(
                    axum::http::StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "GET /metrics needs Authorization: Bearer <LOCKSMITH_METRICS_TOKEN>.",
                )
                .into_response();
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                res
            }
        },
    ))
}
