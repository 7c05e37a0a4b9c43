//! One verification call to Locksmith: its attempts, their timeout, the retries between
//! them and the circuit breaker around them, and what each HTTP answer means.
//!
//! Retried (with [back-off](crate::retry)): a connection that could not be made or broke
//! before any response, and a 503. Not retried:
//!
//! - a decided answer (200), and the errors retrying cannot fix (400, 401, 429, ...);
//! - a timeout: the server may have decided and spent the key's quota or rate limit
//!   without the answer reaching us, and a retry would spend it again;
//! - a response that broke off after its headers, for the same reason;
//! - a proxy's 502 or 504: whether Locksmith decided is not known.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::breaker::Breaker;
use crate::error::{Error, Problem, UnavailableReason};
use crate::retry::Backoff;

/// How one attempt went.
enum Outcome<T> {
    /// The server answered: a decision or an error retrying will not fix. A success for
    /// the breaker.
    Answered(Result<T, Error>),
    /// No answer; whether another attempt may be made. A failure for the breaker.
    Failed { error: Error, retryable: bool },
}

/// Sends verification requests.
#[derive(Debug)]
pub(crate) struct Transport {
    pub(crate) http: reqwest::Client,
    /// `Bearer <verifier token>`, marked sensitive.
    pub(crate) auth: HeaderValue,
    pub(crate) timeout: Duration,
    pub(crate) retries: u32,
    pub(crate) backoff: Backoff,
    pub(crate) breaker: Breaker,
}

impl Transport {
    /// POSTs the JSON `body` to `url` and reads a 200 answer as `T`.
    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        url: &Url,
        body: Vec<u8>,
    ) -> Result<T, Error> {
        let mut retry = 0;
        let mut last_error = None;
        loop {
            let Some(call) = self.breaker.acquire() else {
                // Opened meanwhile by this or other calls: the failure seen is more telling.
                return Err(last_error
                    .unwrap_or_else(|| Error::unavailable(UnavailableReason::BreakerOpen)));
            };
            match self.attempt(url, body.clone()).await {
                Outcome::Answered(result) => {
                    call.succeeded();
                    return result;
                }
                Outcome::Failed { error, retryable } => {
                    call.failed();
                    if !retryable || retry >= self.retries {
                        return Err(error);
                    }
                    tracing::debug!(%error, retry, "Locksmith verification failed; retrying");
                    tokio::time::sleep(self.backoff.jittered(retry)).await;
                    retry += 1;
                    last_error = Some(error);
                }
            }
        }
    }

    async fn attempt<T: DeserializeOwned>(&self, url: &Url, body: Vec<u8>) -> Outcome<T> {
        let sent = self
            .http
            .post(url.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .timeout(self.timeout)
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                // A connection that could not be made, or broke before any response, is
                // retried; a timeout is not (see the module's documentation).
                let timed_out = error.is_timeout() && !error.is_connect();
                return Outcome::Failed {
                    error: transport_error(error),
                    retryable: !timed_out,
                };
            }
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(error) => {
                return Outcome::Failed {
                    error: transport_error(error),
                    retryable: false,
                };
            }
        };
        classify(status, retry_after, &body)
    }
}

/// What an answer of `status` with `body` means.
fn classify<T: DeserializeOwned>(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Outcome<T> {
    if status == StatusCode::OK {
        return Outcome::Answered(serde_json::from_slice(body).map_err(|err| Error::Protocol {
            message: format!("the answer is not the expected JSON: {err}"),
        }));
    }
    let error = Error::from_status(
        status.as_u16(),
        Problem::from_body(status.as_u16(), body),
        retry_after,
    );
    match status {
        StatusCode::SERVICE_UNAVAILABLE => Outcome::Failed {
            error,
            retryable: true,
        },
        StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT => Outcome::Failed {
            error,
            retryable: false,
        },
        _ => Outcome::Answered(Err(error)),
    }
}

/// A transport failure as [`Error::Unavailable`].
pub(crate) fn transport_error(error: reqwest::Error) -> Error {
    let reason = if error.is_timeout() && !error.is_connect() {
        UnavailableReason::Timeout
    } else {
        UnavailableReason::Connection
    };
    Error::Unavailable {
        reason,
        retry_after: None,
        source: Some(error),
    }
}

/// The `retry-after` header, in seconds (the form Locksmith sends).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{Code, Verdict};

    fn outcome(status: u16, body: &str) -> Outcome<Verdict> {
        let status = StatusCode::from_u16(status).expect("status");
        classify(status, Some(Duration::from_secs(2)), body.as_bytes())
    }

    #[test]
    fn a_decided_answer_is_final() {
        let Outcome::Answered(Ok(verdict)) = outcome(200, r#"{"valid":false,"code":"NOT_FOUND"}"#)
        else {
            panic!("a decision");
        };
        assert_eq!(verdict.code, Code::NotFound);
        assert!(matches!(
            outcome(200, "<html>"),
            Outcome::Answered(Err(Error::Protocol { .. }))
        ));
    }

    #[test]
    fn only_a_503_is_retried_among_answers() {
        let problem = r#"{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"degraded"}"#;
        let Outcome::Failed { error, retryable } = outcome(503, problem) else {
            panic!("a failure");
        };
        assert!(retryable);
        assert!(error.is_unavailable());
        assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
        assert!(matches!(
            outcome(504, ""),
            Outcome::Failed {
                retryable: false,
                ..
            }
        ));
        assert!(matches!(
            outcome(502, ""),
            Outcome::Failed {
                retryable: false,
                ..
            }
        ));
        for status in [400, 401, 408, 413, 429, 500] {
            assert!(
                matches!(outcome(status, "{}"), Outcome::Answered(Err(_))),
                "{status} is an answer: neither retried nor a breaker failure"
            );
        }
    }

    #[test]
    fn retry_after_reads_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
