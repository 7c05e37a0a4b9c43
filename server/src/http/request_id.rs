//! Request ids: a caller's `x-request-id` is echoed when it is a sane token, otherwise a
//! fresh UUID is generated; every log line of the request carries it.

use std::sync::LazyLock;

use axum::extract::Request;
use axum::http::HeaderName;
use tower_http::request_id::{MakeRequestId, RequestId};

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

/// Drops an unacceptable incoming id, so that the next layer generates a new one.
pub async fn discard_unsafe(mut req: Request) -> Request {
    let headers = req.headers_mut();
    let all: Vec<_> = headers.get_all(&*HEADER).iter().collect();
    if all.len() > 1 || all.first().is_some_and(|v| !is_acceptable(v.as_bytes())) {
        headers.remove(&*HEADER);
    }
    req
}

/// Generates request ids as random UUIDs.
#[derive(Clone, Copy, Debug)]
pub struct MakeUuid;

impl MakeRequestId for MakeUuid {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        uuid::Uuid::new_v4()
            .to_string()
            .parse()
            .ok()
            .map(RequestId::new)
    }
}

/// The id of a request, as set by the layers above.
pub fn of<B>(req: &axum::http::Request<B>) -> String {
    req.headers()
        .get(&*HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The tracing span of a request: method, path (never the query, which may hold
/// secrets) and request id.
pub fn make_span<B>(req: &axum::http::Request<B>) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %of(req),
    )
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
