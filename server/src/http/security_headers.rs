//! Security headers on every response.
//!
//! Portal pages carry their script policy in the document itself: a
//! `<meta http-equiv="Content-Security-Policy">` at the top of `<head>` (see
//! `locksmith_app::shell`) with the per-response nonce that Leptos puts on its hydration
//! scripts. The nonce cannot go in a header, because leptos_axum returns a streaming
//! response before the page (and so its nonce) is rendered. HTML responses therefore get a
//! header policy with only what a meta policy cannot express; every other response gets a
//! policy that allows nothing at all.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The policy for responses that are not portal pages (JSON, assets, metrics).
pub const LOCKED_DOWN_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The header policy of portal pages, which add their script policy in a meta tag.
pub const PAGE_CSP: &str =
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'; form-action 'self'";

fn is_html(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"))
}

/// Adds the headers, keeping any a handler set itself.
pub async fn apply(State(hsts): State<bool>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let csp = if is_html(&res) {
        PAGE_CSP
    } else {
        LOCKED_DOWN_CSP
    };
    let headers = res.headers_mut();
    let defaults: [(HeaderName, &'static str); 6] = [
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        ),
    ];
    for (name, value) in defaults {
        headers
            .entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    }
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    res
}
