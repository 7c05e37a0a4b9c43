//! Request ids. Locksmith gives every request an id of its own (a UUID), which every log
//! line and audit row of the request carries. A caller's `x-request-id` is echoed when it
//! is a sane token (the contract's promise), logged and audited beside Locksmith's own
//! as `client_request_id`, never in its place: a caller chooses its id, so it could
//! choose another request's.

use std::sync::LazyLock;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use locksmith_core::audit::RequestIds;

/// `x-request-id`.
pub static HEADER: LazyLock<HeaderName> = LazyLock::new(|| HeaderName::from_static("x-request-id"));

/// Longest caller-supplied id that is echoed.
pub const MAX_LEN: usize = 128;

/// Whether a caller-supplied id may be echoed: 1 to 128 characters of `[A-Za-z0-9._:-]`,
/// so it cannot inject anything into headers, logs or JSON.
pub fn is_acceptable(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Gives the request its ids ([`RequestIds`], an extension) and sets `x-request-id` to the
/// one the caller knows: its own when it sent a sane one (echoed on the response by the
/// next layer), else Locksmith's.
pub async fn assign(mut req: Request) -> Request {
    let headers = req.headers_mut();
    let mut sent = headers.get_all(&*HEADER).iter();
    let client = match (sent.next(), sent.next()) {
        (Some(one), None) if is_acceptable(one.as_bytes()) => one.to_str().ok().map(str::to_owned),
        _ => None,
    };
    let server = uuid::Uuid::new_v4().to_string();
    let shown = client.as_deref().unwrap_or(&server);
    if let Ok(value) = HeaderValue::from_str(shown) {
        headers.insert(&*HEADER, value);
    }
    req.extensions_mut().insert(RequestIds { server, client });
    req
}

/// The id of a request the caller knows (`x-request-id`), as set by [`assign`].
pub fn of<B>(req: &axum::http::Request<B>) -> String {
    req.headers()
        .get(&*HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The tracing span of a request: method, path (never the query, which may hold
/// secrets), Locksmith's request id and the caller's, if any.
pub fn make_span<B>(req: &axum::http::Request<B>) -> tracing::Span {
    let ids = req.extensions().get::<RequestIds>();
    let span = tracing::info_span!(
        "request",
        // The method alone: paths hold ids, and span names must stay few.
        otel.name = %req.method(),
        otel.kind = "server",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %ids.map_or("", |ids| ids.server.as_str()),
        client_request_id = ids.and_then(|ids| ids.client.as_deref()),
    );
    // A caller's `traceparent` makes this request a part of its trace.
    super::trace_context::join_caller_trace(&span, req.headers());
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_tokens_are_accepted() {
        assert!(is_acceptable(b"abc-123"));
        assert!(is_acceptable(b"trace:01HZX.span_9"));
        assert!(is_acceptable("a".repeat(128).as_bytes()));
    }

    #[test]
    fn unsafe_or_oversized_tokens_are_refused() {
        assert!(!is_acceptable(b""));
        assert!(!is_acceptable("a".repeat(129).as_bytes()));
        assert!(!is_acceptable(b"has space"));
        assert!(!is_acceptable(b"quote\"inject"));
        assert!(!is_acceptable(b"line\nbreak"));
        assert!(!is_acceptable("caf\u{e9}".as_bytes()));
    }
}
