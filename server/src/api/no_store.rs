//! `NoStore`: a JSON response that carries a secret (a key, a verifier token, a token
//! pair), so no browser or proxy may keep a copy of it.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// `status` with `body` as JSON and `cache-control: no-store`.
pub struct NoStore<T>(pub StatusCode, pub T);

impl<T: Serialize> IntoResponse for NoStore<T> {
    fn into_response(self) -> Response {
        let mut res = (self.0, Json(self.1)).into_response();
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    }
}
