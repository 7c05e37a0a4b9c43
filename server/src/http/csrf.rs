//! Cross-site request forgery defence for the portal's server functions: on top of
//! `SameSite=Lax` session cookies, a state-changing request must come from a page of this
//! origin (its `Origin`, or failing that `Referer`, names this host).

use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Refuses non-GET requests whose origin is another site, or unknown.
pub async fn same_origin(req: Request, next: Next) -> Response {
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
    let same = match (host, claimed) {
        (Some(host), Some(url)) => {
            let authority = match (url.host_str(), url.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_owned(),
                _ => String::new(),
            };
            authority.eq_ignore_ascii_case(host)
        }
        _ => false,
    };
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
        let app = Router::new()
            .route("/api/x", post(|| async { "ok" }))
            .layer(axum::middleware::from_fn(same_origin));
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
}
