//! RFC 9457 problem details, the one error format of `/v1` (and of `/readyz`).
//!
//! Handlers return [`Problem`]; its body is written by [`render`], which knows the request
//! id. `render` also rewrites every other error response under `/v1` (unknown route, wrong
//! method, body too large, timeout) so that clients only ever see one format.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use locksmith_core::error::ItemError;
use serde::Serialize;

use super::request_id;

/// The media type of problem details.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// An error answer: status, a stable machine-readable `code` and a human `detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The HTTP status.
    pub status: StatusCode,
    /// Stable snake_case code, e.g. `invalid_request`.
    pub code: &'static str,
    /// What went wrong, for a human; never internal causes.
    pub detail: String,
    /// For all-or-nothing batches: each failing item and why.
    pub errors: Vec<ItemError>,
    /// For invalid input: the offending field, as the request named it.
    pub field: Option<String>,
    /// Seconds after which a retry may succeed (sent as `retry-after`).
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem with an explicit code and detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            field: None,
            retry_after: None,
        }
    }

    /// A 400 `invalid_request` about one field: `detail` reads `field: message`, and the
    /// body names the field on its own too.
    pub fn invalid(field: impl Into<String>, message: impl std::fmt::Display) -> Self {
        let field = field.into();
        Self {
            field: Some(field.clone()),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("{field}: {message}"),
            )
        }
    }

    /// The same problem listing failing batch items.
    pub fn with_errors(mut self, errors: Vec<ItemError>) -> Self {
        self.errors = errors;
        self
    }

    /// The same problem asking the client to wait `seconds` (at least 1) before a retry.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// A 429 asking the client to wait `seconds` (at least 1).
    pub fn too_many_requests(code: &'static str, detail: impl Into<String>, seconds: u64) -> Self {
        Self {
            retry_after: Some(seconds.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, detail)
        }
    }

    /// A 5xx whose cause is logged (with the request id, via the span) but never sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::for_status(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The generic problem for a status, used where no handler said more.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, detail) = match status.as_u16() {
            400 => ("invalid_request", "The request is malformed."),
            401 => ("unauthorized", "Missing or invalid credentials."),
            403 => ("forbidden", "You are not allowed to do this."),
            404 => ("not_found", "No such resource."),
            405 => (
                "method_not_allowed",
                "This method is not allowed on this resource.",
            ),
            408 => ("request_timeout", "The request took too long to arrive."),
            409 => ("conflict", "The request conflicts with the current state."),
            413 => ("payload_too_large", "The request body is too large."),
            415 => (
                "unsupported_media_type",
                "The request body must be application/json.",
            ),
            429 => ("rate_limited", "Too many requests; retry later."),
            503 => (
                "service_unavailable",
                "The service is unavailable or the request took too long; retry later.",
            ),
            s if s >= 500 => (
                "internal_error",
                "The request failed. Quote the request id when reporting it.",
            ),
            _ => ("client_error", "The request cannot be processed."),
        };
        Self::new(status, code, detail)
    }

    pub fn body(&self, request_id: &str) -> ProblemBody {
        ProblemBody {
            r#type: format!("urn:locksmith:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code,
            request_id: request_id.to_owned(),
            errors: self.errors.clone(),
            field: self.field.clone(),
        }
    }
}

/// The wire form (RFC 9457 plus `code`, `request_id` and, for batches, `errors`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody {
    /// `urn:locksmith:problem:<code>`.
    r#type: String,
    /// The HTTP status's reason phrase.
    title: &'static str,
    /// The HTTP status.
    status: u16,
    /// What went wrong; names the offending field for 400s.
    detail: String,
    /// Stable machine-readable code, e.g. `invalid_request`.
    code: &'static str,
    /// The `x-request-id` of the response.
    request_id: String,
    /// For all-or-nothing batches: each failing item and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<ItemError>,
    /// For invalid input: the offending field, as the request named it (`quota.limit`,
    /// `items[2].name`); the same name begins `detail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        // The body is written by `render`, which knows the request id; the problem rides
        // along as an extension until then.
        let mut res = self.status.into_response();
        res.extensions_mut().insert(self);
        res
    }
}

/// Writes problem bodies; under `/v1` also converts any other error response.
pub async fn render(req: Request, next: Next) -> Response {
    let request_id = request_id::of(&req);
    let is_api = req.uri().path() == "/v1" || req.uri().path().starts_with("/v1/");
    let res = next.run(req).await;
    let problem = match res.extensions().get::<Problem>() {
        Some(problem) => problem.clone(),
        None if is_api && is_error(&res) && !is_problem(&res) => Problem::for_status(res.status()),
        None => return res,
    };
    let (mut parts, _) = res.into_parts();
    let body = serde_json::to_vec(&problem.body(&request_id)).unwrap_or_default();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Some(seconds) = problem.retry_after
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        parts.headers.insert(header::RETRY_AFTER, value);
    }
    if problem.status == StatusCode::UNAUTHORIZED {
        parts
            .headers
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    parts.extensions.remove::<Problem>();
    Response::from_parts(parts, Body::from(body))
}

fn is_error(res: &Response) -> bool {
    res.status().is_client_error() || res.status().is_server_error()
}

fn is_problem(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(CONTENT_TYPE.as_bytes()))
}

impl From<locksmith_core::Error> for Problem {
    fn from(err: locksmith_core::Error) -> Self {
        use locksmith_core::Error as E;
        match err {
            E::Invalid { field, message } => Self::invalid(field, message),
            E::Conflict(detail) => Self::new(StatusCode::CONFLICT, "conflict", detail),
            E::NotFound => Self::new(StatusCode::NOT_FOUND, "not_found", "No such resource."),
            E::Forbidden(detail) => Self::new(StatusCode::FORBIDDEN, "forbidden", detail),
            E::Batch(errors) => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!(
                    "{} item(s) of the batch cannot be processed; nothing was changed \
                     (first: item {}: {}); see errors",
                    errors.len(),
                    errors.first().map_or(0, |e| e.index),
                    errors.first().map_or("", |e| e.detail.as_str()),
                ),
            )
            .with_errors(errors),
            E::Unavailable(detail) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
            }
            E::Throttled(wait) => Self::too_many_requests(
                "rate_limited",
                "Too many unknown keys from this verifier; only keys already known are \
                 verified until retry-after.",
                wait.as_secs_f64().ceil() as u64,
            ),
            other => Self::internal(&other),
        }
    }
}

/// The `/v1` fallback: an unknown endpoint.
pub async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not_found", "No such endpoint.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_gets_a_snake_case_code() {
        for status in [
            400, 401, 403, 404, 405, 408, 409, 413, 415, 418, 429, 500, 502, 503,
        ] {
            let p = Problem::for_status(StatusCode::from_u16(status).expect("status"));
            assert!(
                p.code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{}",
                p.code
            );
            assert!(!p.detail.is_empty());
        }
    }

    #[test]
    fn server_errors_say_nothing_of_the_cause() {
        let p = Problem::internal(&"relation \"keys\" does not exist");
        assert_eq!(p.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!p.detail.contains("relation"));
    }

    #[test]
    fn the_body_has_every_contract_field() {
        let p = Problem::new(StatusCode::BAD_REQUEST, "invalid_request", "name: too long");
        let json = serde_json::to_value(p.body("req-1")).expect("json");
        for field in ["type", "title", "status", "detail", "code", "request_id"] {
            assert!(json.get(field).is_some(), "missing {field}");
        }
        assert_eq!(json["status"], 400);
        assert_eq!(json["title"], "Bad Request");
    }
}
