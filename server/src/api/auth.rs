//! `POST /v1/auth/token`, `/v1/auth/refresh`, `/v1/auth/logout`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use locksmith_core::identity::login::LoginError;
use locksmith_core::identity::tokens::{self, RefreshError};
use locksmith_core::identity::users::User;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::extract::{ApiJson, RequestOrigin};
use super::no_store::NoStore;
use crate::auth::AuthUser;
use crate::http::problem::Problem;
use crate::http::rate_limit::{AddressLimited, too_many};
use crate::state::AppState;

/// `{"email", "password"}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The sign-in email.
    email: String,
    /// The password.
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// `{"refresh_token"}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// A refresh token from a previous pair; it works once.
    #[schema(value_type = String, format = Password)]
    refresh_token: SecretString,
}

/// A token pair. The refresh token is a secret shown once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// A JWT (HS256) with `sub`, `role`, `jti`, `exp`, `iat`; lives at most 15 minutes.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
    /// Trades for a new pair once, at `POST /v1/auth/refresh`.
    refresh_token: String,
}

impl IntoResponse for TokenPair {
    fn into_response(self) -> Response {
        // Tokens must never be cached by a browser or a proxy.
        NoStore(StatusCode::OK, self).into_response()
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

fn locked(until: DateTime<Utc>) -> Problem {
    let retry = u64::try_from((until - Utc::now()).num_seconds()).unwrap_or(1);
    Problem::too_many_requests(
        "account_locked",
        format!(
            "Too many failed sign-ins. Sign-in opens again at {} (in {} minutes).",
            until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            retry.div_ceil(60).max(1)
        ),
        retry,
    )
}

fn busy(wait: std::time::Duration) -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "sign_in_busy",
        "Too many sign-ins are being checked at once. Retry after the time in retry-after.",
    )
    .with_retry_after(wait.as_secs())
}

fn invalid_credentials() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "Invalid email or password.",
    )
}

/// Signs in with email and password. Wrong email and wrong password answer alike.
#[utoipa::path(post, path = "/v1/auth/token", tag = "auth", operation_id = "createToken",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "A token pair", body = TokenPair),
        (status = 401, description = "Invalid email or password", body = crate::http::problem::ProblemBody),
        (status = 429, description = "Account or address locked out, or too many sign-ins from this address; see retry-after", body = crate::http::problem::ProblemBody),
        (status = 503, description = "Too many sign-ins being checked at once; see retry-after", body = crate::http::problem::ProblemBody),
    ))]
pub async fn token(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    ApiJson(body): ApiJson<TokenRequest>,
) -> Result<Response, Problem> {
    let (user, refresh) = match state
        .sessions
        .sign_in_for_tokens(&body.email, body.password, &origin)
        .await
    {
        Ok(signed_in) => signed_in,
        Err(LoginError::InvalidCredentials) => return Err(invalid_credentials()),
        Err(LoginError::Locked { until }) => return Err(locked(until)),
        Err(LoginError::RateLimited(wait)) => return Err(too_many(wait)),
        Err(LoginError::Busy(wait)) => return Err(busy(wait)),
        Err(LoginError::Core(e)) => return Err(e.into()),
    };
    Ok(pair(&state, &user, &refresh).into_response())
}

/// Trades a refresh token for a new pair; a reused token revokes its family.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", operation_id = "refreshToken",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = TokenPair),
        (status = 401, description = "Invalid, expired or reused refresh token", body = crate::http::problem::ProblemBody),
    ))]
pub async fn refresh(
    _: AddressLimited,
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Response, Problem> {
    match state.sessions.refresh(&body.refresh_token, &origin).await {
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
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", operation_id = "logout",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Missing or invalid token", body = crate::http::problem::ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn logout(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    caller: AuthUser,
) -> Result<StatusCode, Problem> {
    let expires_at = DateTime::from_timestamp(caller.claims.exp, 0).unwrap_or_else(Utc::now);
    state
        .sessions
        .sign_out_api(
            caller.actor(),
            caller.claims.jti,
            expires_at,
            caller.claims.fam,
            &origin,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
