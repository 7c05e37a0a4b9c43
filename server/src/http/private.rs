//! Responses are private by default: every `/v1` answer, portal page and server-function
//! result gets `cache-control: no-store` unless its handler chose its own caching (the
//! OpenAPI document, the API reference, the compiled assets). A new key or verifier
//! token, a user list or an audit page must never rest in a browser's or a proxy's
//! cache, and a rule that needs each handler to remember it is a rule that gets
//! forgotten (an outside probe found the portal's secret-returning calls without it).

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// Adds `cache-control: no-store` to a response that does not say how to cache it.
pub async fn no_store_by_default(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    res.headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}
