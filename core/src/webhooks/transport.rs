//! Sending one attempt: an HTTP POST with a 10 s budget, no redirects, no proxy, and only
//! to addresses the destination rule allows, checked on the addresses the connection is
//! actually made to (the resolver below hands the connector nothing else).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use url::{Host, Url};

use super::destination;

/// How long one attempt may take, connection included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an answer's body is kept for the delivery log.
pub const BODY_KEPT: usize = 1024;

/// What one attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status, when the endpoint answered.
    pub status: Option<u16>,
    /// The first KiB of the body (lossy UTF-8).
    pub body: Option<String>,
    /// Why there was no answer.
    pub error: Option<String>,
    pub latency: Duration,
}

/// Sends deliveries.
#[derive(Clone, Debug)]
pub struct Transport {
    client: reqwest::Client,
    allow_private: bool,
}

impl Transport {
    /// A transport that refuses private destinations unless `allow_private`.
    pub fn new(allow_private: bool) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(ATTEMPT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30))
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .build()
            .unwrap_or_else(|e| unreachable!("a client without custom TLS builds: {e}"));
        Self {
            client,
            allow_private,
        }
    }

    /// POSTs `body` (JSON) with `headers` to `url`.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
    ) -> Answer {
        let started = Instant::now();
        let failed = |error: String| Answer {
            status: None,
            body: None,
            error: Some(error),
            latency: started.elapsed(),
        };
        let Ok(parsed) = Url::parse(url) else {
            return failed("the URL does not parse".into());
        };
        // Addresses written in the URL are connected to without the resolver.
        let literal = match parsed.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if !self.allow_private
            && let Some(why) = literal.and_then(destination::refused)
        {
            return failed(format!("refused: the URL names {why}"));
        }
        let mut map = HeaderMap::new();
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        map.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("Locksmith-Webhooks/", env!("CARGO_PKG_VERSION"))),
        );
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                map.insert(HeaderName::from_static(name), value);
            }
        }
        let response = match self
            .client
            .post(parsed)
            .headers(map)
            .body(body)
            .send()
            .await
        {
            Ok(response) => response,
            Err(err) => return failed(describe(&err)),
        };
        let status = response.status().as_u16();
        let body = read_start(response).await;
        Answer {
            status: Some(status),
            body: Some(body),
            error: None,
            latency: started.elapsed(),
        }
    }
}

/// The first KiB of a body; the rest is not read.
async fn read_start(mut response: reqwest::Response) -> String {
    let mut kept = Vec::with_capacity(BODY_KEPT);
    while kept.len() < BODY_KEPT {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = BODY_KEPT - kept.len();
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// Why a request got no answer, with its causes (never a secret: the URL is the
/// subscriber's own, and no header is named).
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return format!("timed out after {} s", ATTEMPT_TIMEOUT.as_secs());
    }
    let mut text = if err.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Resolves names as the system does, then hands the connector only the addresses the
/// destination rule allows. A name with none left fails with the reason.
#[derive(Debug)]
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| match destination::refused(addr.ip()) {
                    Some(why) if !allow_private => {
                        refused = Some((addr.ip(), why));
                        false
                    }
                    _ => true,
                })
                .collect();
            if allowed.is_empty() {
                let why = match refused {
                    Some((ip, why)) => format!(
                        "refused: {host} resolves to {ip}, {why} (LOCKSMITH_WEBHOOK_ALLOW_PRIVATE=true allows it)"
                    ),
                    None => format!("{host} resolves to no address"),
                };
                return Err(why.into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_and_metadata_addresses_are_refused_whether_named_or_resolved() {
        let transport = Transport::new(false);
        for url in [
            "http://127.0.0.1:9/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:9/",
            "http://localhost:9/hook",
        ] {
            let answer = transport.post(url, &[], b"{}".to_vec()).await;
            assert_eq!(answer.status, None, "{url}");
            let error = answer.error.expect("an error");
            assert!(error.contains("refused"), "{url}: {error}");
        }
    }
}
