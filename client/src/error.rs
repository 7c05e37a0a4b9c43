//! The crate's [`Error`], why Locksmith was [unavailable](UnavailableReason), and the
//! [`Problem`] details the server explains its errors with.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What can go wrong building a [`Client`](crate::Client) or verifying a key.
///
/// A key that may not be used is not an error: it is a [`Verdict`](crate::Verdict) with
/// `valid: false`. Errors are the cases where Locksmith gave no decision. Neither the
/// verifier token nor the key ever appears in an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client's configuration is not usable (a malformed base URL, a verifier token
    /// that cannot be sent in a header, a cache without a Tokio runtime, ...).
    #[error("invalid Locksmith client configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
    /// Locksmith could not decide: it could not be reached, it did not answer in time,
    /// it is degraded (503), or the circuit breaker is open. This is the error that
    /// [`UnavailablePolicy::FailOpen`](crate::UnavailablePolicy::FailOpen) may answer in
    /// place of.
    #[error("Locksmith is unavailable: {reason}")]
    Unavailable {
        /// Why.
        reason: UnavailableReason,
        /// How long the server asked to wait (`retry-after`), when it said so.
        retry_after: Option<Duration>,
        /// The transport error, for a connection failure or a timeout.
        source: Option<reqwest::Error>,
    },
    /// The verifier token is missing, invalid or revoked (401). Retrying will not help;
    /// the service's configuration must change.
    #[error("Locksmith refused the verifier token: {problem}")]
    Unauthorized {
        /// The server's explanation.
        problem: Box<Problem>,
    },
    /// This verifier sent too many unknown keys and is throttled (429): until
    /// `retry_after`, only keys the server instance already knows are verified.
    #[error("Locksmith throttles this verifier: {problem}")]
    Throttled {
        /// How long the server asked to wait, when it said so.
        retry_after: Option<Duration>,
        /// The server's explanation.
        problem: Box<Problem>,
    },
    /// Locksmith refused the request with another status: 400 for a malformed request
    /// (the detail names the field, e.g. a cost over 1000), 408, 413, or an unexpected
    /// server error.
    #[error("Locksmith answered {status}: {problem}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The server's explanation (made up from the status when the body had none).
        problem: Box<Problem>,
    },
    /// Locksmith's answer could not be understood (not the JSON this crate expects).
    #[error("unexpected answer from Locksmith: {message}")]
    Protocol {
        /// What was wrong with it.
        message: String,
    },
}

impl Error {
    /// Whether Locksmith could not decide ([`Error::Unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// How long the server asked to wait before trying again, when it said so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Unavailable { retry_after, .. } | Self::Throttled { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::Config {
            message: message.into(),
        }
    }

    pub(crate) fn unavailable(reason: UnavailableReason) -> Self {
        Self::Unavailable {
            reason,
            retry_after: None,
            source: None,
        }
    }

    /// The error for an answer (or a batch item) of `status` explained by `problem`.
    pub(crate) fn from_status(
        status: u16,
        problem: Problem,
        retry_after: Option<Duration>,
    ) -> Self {
        let problem = Box::new(problem);
        match status {
            401 => Self::Unauthorized { problem },
            429 => Self::Throttled {
                retry_after,
                problem,
            },
            503 => Self::Unavailable {
                reason: UnavailableReason::Degraded { problem },
                retry_after,
                source: None,
            },
            502 | 504 => Self::Unavailable {
                reason: UnavailableReason::Gateway { status },
                retry_after,
                source: None,
            },
            _ => Self::Status { status, problem },
        }
    }
}

/// Why Locksmith could not decide ([`Error::Unavailable`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnavailableReason {
    /// No connection could be made, or it broke before the answer arrived.
    Connection,
    /// No answer within the per-attempt timeout. Not retried: the server may have
    /// decided, and spent quota, without the answer reaching us.
    Timeout,
    /// Locksmith answered 503: its database is unreachable and this instance cannot
    /// decide about the key without it.
    Degraded {
        /// The server's explanation.
        problem: Box<Problem>,
    },
    /// A proxy in front of Locksmith answered 502 or 504: it could not get an answer
    /// from Locksmith.
    Gateway {
        /// The proxy's status.
        status: u16,
    },
    /// The circuit breaker is open after repeated failures: the call was not made.
    BreakerOpen,
}

impl fmt::Display for UnavailableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connection => f.write_str("the connection failed"),
            Self::Timeout => f.write_str("no answer in time"),
            Self::Degraded { problem } => write!(f, "the server is degraded: {problem}"),
            Self::Gateway { status } => write!(f, "a proxy answered {status}"),
            Self::BreakerOpen => f.write_str("the circuit breaker is open"),
        }
    }
}

/// An RFC 9457 problem details object, as Locksmith explains its errors.
///
/// Every field is optional on the wire; a missing one is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Problem {
    /// The problem type, a URI (`urn:locksmith:problem:<code>`).
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The HTTP status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong; names the offending field for a 400.
    pub detail: String,
    /// Locksmith's stable machine-readable code, e.g. `invalid_request`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The `x-request-id` of the response, to find it in the server's logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Problem {
    /// The problem in `body`, or one made up from `status` when the body is not a
    /// problem object (a proxy's HTML page, an empty body).
    pub(crate) fn from_body(status: u16, body: &[u8]) -> Self {
        let mut problem = serde_json::from_slice::<Self>(body).unwrap_or_default();
        if problem.status == 0 {
            problem.status = status;
        }
        if problem.title.is_empty() {
            problem.title = reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error")
                .to_owned();
        }
        problem
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.title.is_empty(), self.detail.is_empty()) {
            (_, false) => f.write_str(&self.detail),
            (false, true) => f.write_str(&self.title),
            (true, true) => write!(f, "status {}", self.status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_reads_from_its_json_or_is_made_up_from_the_status() {
        let read = Problem::from_body(
            400,
            br#"{"type":"urn:locksmith:problem:invalid_request","title":"Bad Request",
                "status":400,"detail":"cost: must be at most 1000","code":"invalid_request",
                "request_id":"r1"}"#,
        );
        assert_eq!(read.detail, "cost: must be at most 1000");
        assert_eq!(read.code.as_deref(), Some("invalid_request"));
        assert_eq!(read.to_string(), "cost: must be at most 1000");
        let made_up = Problem::from_body(502, b"<html>bad gateway</html>");
        assert_eq!(
            (made_up.status, made_up.title.as_str()),
            (502, "Bad Gateway")
        );
        assert_eq!(made_up.to_string(), "Bad Gateway");
    }

    #[test]
    fn statuses_map_to_the_errors_that_say_what_to_do() {
        let p = Problem::default;
        let wait = Some(Duration::from_secs(3));
        assert!(matches!(
            Error::from_status(401, p(), None),
            Error::Unauthorized { .. }
        ));
        let throttled = Error::from_status(429, p(), wait);
        assert!(matches!(throttled, Error::Throttled { .. }));
        assert_eq!(throttled.retry_after(), wait);
        let degraded = Error::from_status(503, p(), wait);
        assert!(degraded.is_unavailable());
        assert_eq!(degraded.retry_after(), wait);
        assert!(Error::from_status(504, p(), None).is_unavailable());
        assert!(matches!(
            Error::from_status(400, p(), None),
            Error::Status { status: 400, .. }
        ));
        assert!(!Error::from_status(500, p(), None).is_unavailable());
    }
}
