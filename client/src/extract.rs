//! [`VerifiedKey`] as an axum extractor, for handlers behind [`VerifyLayer`](crate::VerifyLayer).

use std::convert::Infallible;
use std::fmt;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::layer::problem;
use crate::verdict::VerifiedKey;

/// The key that [`VerifyLayer`](crate::VerifyLayer) verified for this request.
///
/// Rejected with a 500 ([`MissingVerifiedKey`]) when the route is not behind the layer:
/// a wiring mistake, never the caller's. `Option<VerifiedKey>` never rejects.
impl<S: Send + Sync> FromRequestParts<S> for VerifiedKey {
    type Rejection = MissingVerifiedKey;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or(MissingVerifiedKey)
    }
}

/// The verified key when the route is behind [`VerifyLayer`](crate::VerifyLayer), `None`
/// otherwise.
impl<S: Send + Sync> OptionalFromRequestParts<S> for VerifiedKey {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().cloned())
    }
}

/// The rejection of the [`VerifiedKey`] extractor on a route that is not behind
/// [`VerifyLayer`](crate::VerifyLayer): a 500, logged as an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingVerifiedKey;

impl fmt::Display for MissingVerifiedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "no verified key in the request: the route takes a VerifiedKey but is not behind VerifyLayer",
        )
    }
}

impl std::error::Error for MissingVerifiedKey {}

impl IntoResponse for MissingVerifiedKey {
    fn into_response(self) -> Response {
        tracing::error!("{self}");
        problem(StatusCode::INTERNAL_SERVER_ERROR, &self.to_string())
    }
}
