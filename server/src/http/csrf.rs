//! Cross-site request forgery defence for the portal's server functions: on top of
//! `SameSite=Lax` session cookies, a state-changing request must come from a page of this
//! origin. Its `Origin` (or failing that `Referer`) must name this origin exactly:
//! scheme, host and port (RFC 6454), so that `http://keys.example.com` (a page an attacker
//! on the network can forge) does not pass for `https://keys.example.com`.
//!
//! This origin is `LOCKSMITH_PUBLIC_URL`'s when it is set (behind a proxy, whatever
//! `Host` the proxy sends), and only that one. Without it, it is the `Host` the request
//! was sent to, over `https` when cookies are `Secure` (HTTPS is terminated in front of
//! Locksmith) and `http` otherwise.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::client_address::ForwardedOrigin;

/// The origin that state-changing portal requests must come from.
#[derive(Debug, Clone)]
pub enum ThisOrigin {
    /// `LOCKSMITH_PUBLIC_URL`'s origin.
    Public(url::Origin),
    /// The `Host` of each request, over this scheme.
    OwnHost {
        /// `https` when cookies are `Secure`, else `http`.
        scheme: &'static str,
    },
}

impl ThisOrigin {
    /// The origin for a deployment reached at `public_url` (if set), whose cookies are
    /// `Secure` when `https` is true.
    pub fn new(public_url: Option<&url::Url>, https: bool) -> Self {
        match public_url {
            Some(url) => Self::Public(url.origin()),
            None => Self::OwnHost {
                scheme: if https { "https" } else { "http" },
            },
        }
    }

    /// Whether `claimed` (an `Origin` or `Referer` value) is this origin, for a request
    /// sent to `host`, over `forwarded_scheme` when a trusted proxy reported one.
    fn admits(&self, claimed: &str, host: Option<&str>, forwarded_scheme: Option<&str>) -> bool {
        let Ok(claimed) = url::Url::parse(claimed).map(|u| u.origin()) else {
            return false;
        };
        if !claimed.is_tuple() {
            // `null`, `file:`, `javascript:`, `data:`: opaque origins are nobody's.
            return false;
        }
        match self {
            Self::Public(public) => claimed == *public,
            Self::OwnHost { scheme } => host
                .and_then(|h| {
                    let scheme = forwarded_scheme.unwrap_or(scheme);
                    url::Url::parse(&format!("{scheme}://{h}")).ok()
                })
                .is_some_and(|own| own.origin() == claimed),
        }
    }
}

/// Refuses non-GET requests whose origin is not this one, or unknown.
pub async fn same_origin(State(this): State<ThisOrigin>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let forwarded = req.extensions().get::<ForwardedOrigin>();
    let host = forwarded.and_then(|f| f.host.as_deref()).or_else(|| {
        req.headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
    });
    let forwarded_scheme = forwarded.and_then(|f| f.scheme);
    let claimed = req
        .headers()
        .get(header::ORIGIN)
        .or_else(|| req.headers().get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    if claimed.is_some_and(|claimed| this.admits(claimed, host, forwarded_scheme)) {
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
        status_with(ThisOrigin::new(None, false), headers).await
    }

    async fn status_behind(public: Option<&str>, headers: &[(&str, &str)]) -> StatusCode {
        let public = public.map(|p| url::Url::parse(&format!("https://{p}")).expect("url"));
        status_with(ThisOrigin::new(public.as_ref(), true), headers).await
    }

    async fn status_with(this: ThisOrigin, headers: &[(&str, &str)]) -> StatusCode {
        let app = Router::new()
            .route("/api/x", post(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(this, same_origin));
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
                ("referer", "http://keys.example.com/users")
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

    /// Scheme, host and port all count: an `http` page does not pass for an `https`
    /// deployment, nor does any other scheme (found by an outside probe).
    #[tokio::test]
    async fn the_scheme_and_the_port_must_match_too() {
        for (public, origin) in [
            ("keys.example.com", "http://keys.example.com"),
            ("keys.example.com", "javascript://keys.example.com"),
            ("keys.example.com", "https://keys.example.com:8443"),
            ("keys.example.com:8443", "https://keys.example.com"),
            ("keys.example.com", "wss://keys.example.com"),
        ] {
            let headers = [("host", public), ("origin", origin)];
            assert_eq!(
                status_behind(Some(public), &headers).await,
                StatusCode::FORBIDDEN,
                "{origin} on https://{public}"
            );
        }
        assert_eq!(
            status_behind(
                Some("keys.example.com"),
                &[
                    ("host", "keys.example.com"),
                    ("origin", "https://keys.example.com:443")
                ]
            )
            .await,
            StatusCode::OK,
            "the default port may be spelt out"
        );
        // Without a public URL, Secure cookies mean HTTPS in front: http pages are refused.
        let https_own = ThisOrigin::new(None, true);
        let from = |origin| [("host", "keys.example.com"), ("origin", origin)];
        assert_eq!(
            status_with(https_own.clone(), &from("http://keys.example.com")).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status_with(https_own, &from("https://keys.example.com")).await,
            StatusCode::OK
        );
        assert_eq!(
            status(&from("https://keys.example.com")).await,
            StatusCode::FORBIDDEN,
            "a plain-HTTP deployment is not reached over https"
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
