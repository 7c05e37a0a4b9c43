//! `POST /v1/auth/token`, `/v1/auth/refresh`, `/v1/auth/logout`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use locksmith_core::audit::{self, NewEntry};
use locksmith_core::identity::login::{self, LoginError};
use locksmith_core::identity::tokens::{self, RefreshError};
use locksmith_core::identity::users::User;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::extract::{ApiJson, RequestOrigin};
use crate::auth::AuthUser;
use crate::http::problem::Problem;
use crate::state::AppState;

/// `{"email", "password"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    email: String,
    password: SecretString,
}

/// `{"refresh_token"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: SecretString,
}

/// A token pair. The refresh token is a secret shown once.
#[derive(Serialize)]
pub struct TokenPair {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
}

impl IntoResponse for TokenPair {
    fn into_response(self) -> Response {
        let mut res = Json(self).into_response();
        // Tokens must never be cached by a browser or a proxy.
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    }
}

fn pair(state: &AppState, user: &User, refresh: &tokens::IssuedRefresh) -> TokenPair {
    let (access_token, _) = state
        .auth
        .jwt
        .issue(user.id, user.role, Some(refresh.family_id));
    TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in: state.auth.jwt.ttl_secs(),
        refresh_token: refresh.token.expose_secret().to_owned(),
    }
}

fn locked(until: DateTime<Utc>) -> Response {
    let retry = (until - Utc::now()).num_seconds().max(1);
    let mut res = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "account_locked",
        format!(
            "Too many failed sign-ins. Try again in {} minutes.",
            (retry + 59) / 60
        ),
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&retry.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, value);
    }
    res
}

fn invalid_credentials() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "Invalid email or password.",
    )
}

/// Signs in with email and password.
pub async fn token(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    ApiJson(body): ApiJson<TokenRequest>,
) -> Result<Response, Problem> {
    let user = match login::login(
        &state.pool,
        &state.auth.lockout,
        &body.email,
        body.password,
        &origin,
    )
    .await
    {
        Ok(user) => user,
        Err(LoginError::InvalidCredentials) => return Err(invalid_credentials()),
        Err(LoginError::Locked { until }) => return Ok(locked(until)),
        Err(LoginError::Core(e)) => return Err(e.into()),
    };
    let mut conn = state
        .pool
        .acquire()
        .await
        .map_err(|e| Problem::internal(&e))?;
    let refresh = tokens::issue_refresh(&mut conn, user.id, None, state.auth.refresh_ttl).await?;
    Ok(pair(&state, &user, &refresh).into_response())
}

/// Trades a refresh token for a new pair; a reused token revokes its family.
pub async fn refresh(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Response, Problem> {
    match tokens::rotate_refresh(
        &state.pool,
        &body.refresh_token,
        state.auth.refresh_ttl,
        &origin,
    )
    .await
    {
        Ok((user, next)) => Ok(pair(&state, &user, &next).into_response()),
        Err(RefreshError::Invalid) => Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "Invalid or expired refresh token.",
        )),
        Err(RefreshError::Reused) => Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "token_reused",
            "This refresh token was already used; every token of its session is now revoked.",
        )),
        Err(RefreshError::Core(e)) => Err(e.into()),
    }
}

/// Revokes the caller's access token and its refresh family, on every instance at once.
pub async fn logout(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    caller: AuthUser,
) -> Result<StatusCode, Problem> {
    let expires_at = DateTime::from_timestamp(caller.claims.exp, 0).unwrap_or_else(Utc::now);
    let mut tx = state
        .pool
        .begin()
        .await
        .map_err(|e| Problem::internal(&e))?;
    tokens::revoke_session(&mut tx, caller.claims.jti, expires_at, caller.claims.fam).await?;
    audit::append(
        &mut tx,
        NewEntry {
            actor_id: Some(caller.id),
            action: "user.logout",
            target_type: "user",
            target_id: Some(caller.id.to_string()),
            origin,
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await.map_err(|e| Problem::internal(&e))?;
    Ok(StatusCode::NO_CONTENT)
}
