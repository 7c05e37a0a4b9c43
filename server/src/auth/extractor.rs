//! `AuthUser`: the authenticated caller of a `/v1` management endpoint.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use locksmith_core::identity::Role;
use locksmith_core::identity::revocation::Presented;
use locksmith_core::keys::Actor;
use uuid::Uuid;

use super::Claims;
use crate::http::problem::Problem;
use crate::state::AppState;

/// The caller, with the role read from the database at this request (so a role change, a
/// disabled account or a revoked session takes effect at once, not when the token
/// expires).
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The user id.
    pub id: Uuid,
    /// The current role.
    pub role: Role,
    /// The token's claims (for logout).
    pub claims: Claims,
}

impl AuthUser {
    /// The caller as the key operations see it.
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.id,
            role: self.role,
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    bearer(parts.headers.get(header::AUTHORIZATION))
}

/// The credential of an `Authorization`-style value `Bearer <credential>`.
pub fn bearer(value: Option<&header::HeaderValue>) -> Option<&str> {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail.to_owned())
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let token = bearer_token(parts).ok_or_else(|| unauthorized("Missing bearer token."))?;
        let claims = state
            .auth
            .jwt
            .verify(token)
            .ok_or_else(|| unauthorized("Invalid or expired token."))?;
        // One query: the user's current role, and whether the token, its family or the
        // user's sessions were ended (logout, a reused refresh token, a disabled user).
        let presented = Presented {
            user_id: claims.sub,
            token_id: claims.jti,
            family_id: claims.fam,
            issued_at: claims.iat,
        };
        let user = state
            .sessions
            .bearer_holder(&presented)
            .await
            .map_err(|e| Problem::internal(&e))?
            .ok_or_else(|| unauthorized("Invalid or expired token."))?;
        state.limits.check_caller(user.id)?;
        Ok(Self {
            id: user.id,
            role: user.role,
            claims,
        })
    }
}
