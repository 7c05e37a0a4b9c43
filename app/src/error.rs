//! The portal's error type: what a server function can answer, safe to show a user.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// Errors that travel from server functions to the browser. They carry no internal
/// detail: the cause is logged on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
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
impl From<locksmith_core::Error> for AppError {
    fn from(err: locksmith_core::Error) -> Self {
        match err {
            locksmith_core::Error::Database(cause) => {
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
