//! The portal's error type: what a server function can answer, safe to show a user.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// Errors that travel from server functions to the browser. They carry no internal
/// detail: the cause is logged on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// Wrong email or password (one message for both).
    #[error("Invalid email or password.")]
    InvalidCredentials,
    /// Too many failed sign-ins.
    #[error("Too many failed sign-ins. Sign-in opens again at {until} (in {minutes} min).")]
    Locked {
        /// Minutes until sign-ins are accepted again.
        minutes: i64,
        /// When, as `HH:MM UTC`.
        until: String,
    },
    /// Not signed in, or the session expired.
    #[error("Your session has ended. Sign in again.")]
    Unauthorized,
    /// Signed in, but the role does not allow this.
    #[error("You do not have access to this.")]
    Forbidden,
    /// The request came from another site (cross-site request forgery defence).
    #[error("This request was refused because it did not come from this site.")]
    CrossSite,
    /// Input that breaks a rule; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// A rule of the caller's role or policy refuses this; the message says which.
    #[error("{0}")]
    NotAllowed(String),
    /// No such thing, or the caller may not see it (the two are not told apart).
    #[error("Not found: it does not exist, or you cannot see it.")]
    NotFound,
    /// The database did not answer.
    #[error("The database is unavailable right now. Try again in a moment.")]
    DatabaseUnavailable,
    /// Something failed on the server; the log has the details.
    #[error("Something went wrong on the server.")]
    Internal,
    /// The call itself failed (network, encoding).
    #[error("The server could not be reached: {0}")]
    ServerFn(ServerFnErrorErr),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::ServerFn(value)
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// The HTTP status this error answers with: a refused sign-in is a 401, not a 500.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::InvalidCredentials | Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Locked { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Forbidden | Self::CrossSite | Self::NotAllowed(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal | Self::ServerFn(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Sets this error's status on the current server-function response and returns it.
    pub fn respond(self) -> Self {
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(self.status());
        }
        self
    }
}

#[cfg(feature = "ssr")]
impl From<locksmith_core::Error> for AppError {
    fn from(err: locksmith_core::Error) -> Self {
        use locksmith_core::Error as E;
        match err {
            E::Invalid(m) | E::Conflict(m) => Self::Invalid(m),
            E::Forbidden(m) => Self::NotAllowed(m),
            E::NotFound => Self::NotFound,
            E::Batch(items) => Self::Invalid(
                items
                    .iter()
                    .take(3)
                    .map(|i| match i.id {
                        Some(id) => format!("{}: {id}", i.detail),
                        None => format!("{} (item {})", i.detail, i.index + 1),
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            E::Unavailable(m) => {
                tracing::warn!(reason = %m, "server function: unavailable");
                Self::DatabaseUnavailable
            }
            E::Database(cause) => {
                tracing::warn!(error = %cause, "server function: database error");
                Self::DatabaseUnavailable
            }
            other => {
                tracing::error!(error = %other, "server function failed");
                Self::Internal
            }
        }
    }
}
