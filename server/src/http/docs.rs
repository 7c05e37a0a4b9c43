//! `/docs`: the interactive API reference (Swagger UI 5.35.0, compiled into the binary, so
//! it works offline and loads nothing from a CDN). It reads `/v1/openapi.json`.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Scripts and styles from this origin only; Swagger UI sets some inline styles and
/// shows its logo as a data URL.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

fn asset(body: &'static [u8], content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(DOCS_CSP),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}

/// The `/docs` routes.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/docs",
            get(|| async {
                asset(
                    include_bytes!("../../assets/swagger-ui/index.html"),
                    "text/html; charset=utf-8",
                )
            }),
        )
        .route(
            "/docs/swagger-ui.css",
            get(|| async {
                asset(
                    include_bytes!("../../assets/swagger-ui/swagger-ui.css"),
                    "text/css; charset=utf-8",
                )
            }),
        )
        .route(
            "/docs/swagger-ui-bundle.js",
            get(|| async {
                asset(
                    include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
                    "text/javascript; charset=utf-8",
                )
            }),
        )
        .route(
            "/docs/init.js",
            get(|| async {
                asset(
                    include_bytes!("../../assets/swagger-ui/init.js"),
                    "text/javascript; charset=utf-8",
                )
            }),
        )
}
