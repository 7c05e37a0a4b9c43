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
    /// Too many requests from this address.
    #[error("Too many attempts from your network. Try again in {seconds} s.")]
    RateLimited {
        /// Seconds to wait.
        seconds: u64,
    },
    /// The server is checking too many sign-ins at once.
    #[error("Sign-in is busy right now. Try again in {seconds} s.")]
    Busy {
        /// Seconds to wait.
        seconds: u64,
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
        // On the server, these two are a call's arguments that did not decode: the
        // caller's mistake, a 400 naming the field as the REST API does, never a 500
        // echoing the parser.
        #[cfg(feature = "ssr")]
        if let ServerFnErrorErr::Args(message) | ServerFnErrorErr::Deserialization(message) = &value
        {
            tracing::debug!(%message, "server function arguments refused");
            return Self::Invalid(arguments_problem(message)).respond();
        }
        Self::ServerFn(value)
    }
}

/// What is wrong with a call's arguments, from the decoder's message, naming the field
/// when the message does (serde names it in backticks) and echoing nothing else of it.
#[cfg(feature = "ssr")]
fn arguments_problem(message: &str) -> String {
    let field = message.split('`').nth(1).filter(|f| {
        !f.is_empty() && f.len() <= 64 && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    let problem = if message.contains("missing field") {
        "is missing"
    } else if message.contains("unknown field") {
        "is not a field of this form"
    } else if message.contains("duplicate field") {
        "is given twice"
    } else {
        "has a value of the wrong type"
    };
    match field {
        Some(field) => format!("{field}: {problem}"),
        None => format!("arguments: a field {problem}, or the form is malformed"),
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// The HTTP status this error answers with: a refused sign-in is a 401, not a 500.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::InvalidCredentials | Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Locked { .. } | Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Forbidden | Self::CrossSite | Self::NotAllowed(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal | Self::ServerFn(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Sets this error's status (and `retry-after`, when it has one) on the current
    /// server-function response and returns it.
    pub fn respond(self) -> Self {
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(self.status());
            let retry = match &self {
                Self::RateLimited { seconds } | Self::Busy { seconds } => Some(*seconds),
                Self::Locked { minutes, .. } => u64::try_from(minutes * 60).ok(),
                _ => None,
            };
            if let Some(value) =
                retry.and_then(|s| http::HeaderValue::try_from(s.max(1).to_string()).ok())
            {
                response.insert_header(http::header::RETRY_AFTER, value);
            }
        }
        self
    }
}

#[cfg(feature = "ssr")]
impl From<locksmith_core::Error> for AppError {
    fn from(err: locksmith_core::Error) -> Self {
        use locksmith_core::Error as E;
        match err {
            invalid @ E::Invalid { .. } => Self::Invalid(invalid.to_string()),
            E::Conflict(m) => Self::Invalid(m),
            E::Forbidden(m) => Self::NotAllowed(m),
            E::NotFound => Self::NotFound,
            E::Throttled(wait) => Self::RateLimited {
                seconds: wait.as_secs().max(1),
            },
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
