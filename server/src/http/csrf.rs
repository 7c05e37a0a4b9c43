//! Cross-site request forgery defence for the portal's server functions: on top of
//! `SameSite=Lax` session cookies, a state-changing request must come from a page of this
//! origin: its `Origin` (or failing that `Referer`) names the `Host` it was sent to, or
//! the host of `LOCKSMITH_PUBLIC_URL` (behind a proxy that rewrites `Host`).

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The public host (`host[:port]`) from `LOCKSMITH_PUBLIC_URL`, if configured.
pub type PublicHost = Option<String>;

/// `host[:port]` of a URL, as a `Host` header would name it.
pub fn authority(url: &url::Url) -> Option<String> {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => Some(format!("{h}:{p}")),
        (Some(h), None) => Some(h.to_owned()),
        _ => None,
    }
}

/// Refuses non-GET requests whose origin is another site, or unknown.
pub async fn same_origin(State(public): State<PublicHost>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    let claimed = req
        .headers()
        .get(header::ORIGIN)
        .or_else(|| req.headers().get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| url::Url::parse(v).ok());
    let same = claimed.as_ref().and_then(authority).is_some_and(|claimed| {
        host.is_some_and(|h| claimed.eq_ignore_ascii_case(h))
            || public
                .as_deref()
                .is_some_and(|p| claimed.eq_ignore_ascii_case(p))
    });
    if same {
        next.run(req).await
    } else {
        tracing::warn!("refused a cross-site or origin-less server function call");
        (StatusCode::FORBIDDEN, "cross-site request refused").into_response()
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::post;
    use tower::ServiceExt as _;

    use super::*;

    async fn status(headers: &[(&str, &str)]) -> StatusCode {
        status_behind(None, headers).await
    }

    async fn status_behind(public: Option<&str>, headers: &[(&str, &str)]) -> StatusCode {
        let app = Router::new()
            .route("/api/x", post(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(
                public.map(str::to_owned),
                same_origin,
            ));
        let mut req = axum::http::Request::post("/api/x");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        app.oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("response")
            .status()
    }

    #[tokio::test]
    async fn same_origin_passes_and_everything_else_is_refused() {
        assert_eq!(
            status(&[
                ("host", "127.0.0.1:3000"),
                ("origin", "http://127.0.0.1:3000")
            ])
            .await,
            StatusCode::OK
        );
        assert_eq!(
            status(&[
                ("host", "keys.example.com"),
                ("referer", "https://keys.example.com/users")
            ])
            .await,
            StatusCode::OK
        );
        assert_eq!(
            status(&[
                ("host", "127.0.0.1:3000"),
                ("origin", "https://evil.example")
            ])
            .await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(&[
                ("host", "127.0.0.1:3000"),
                ("origin", "http://127.0.0.1:3001")
            ])
            .await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(&[("host", "127.0.0.1:3000")]).await,
            StatusCode::FORBIDDEN,
            "no origin at all"
        );
        assert_eq!(
            status(&[("host", "127.0.0.1:3000"), ("origin", "null")]).await,
            StatusCode::FORBIDDEN
        );
    }

    #[tokio::test]
    async fn behind_a_proxy_the_public_host_counts_as_this_origin() {
        let proxied = [
            ("host", "10.0.0.5:3000"),
            ("origin", "https://keys.example.com"),
        ];
        assert_eq!(
            status(&proxied).await,
            StatusCode::FORBIDDEN,
            "without LOCKSMITH_PUBLIC_URL"
        );
        assert_eq!(
            status_behind(Some("keys.example.com"), &proxied).await,
            StatusCode::OK
        );
        let evil = [
            ("host", "10.0.0.5:3000"),
            ("origin", "https://evil.example"),
        ];
        assert_eq!(
            status_behind(Some("keys.example.com"), &evil).await,
            StatusCode::FORBIDDEN
        );
    }
}
