//! [`VerifyLayer`]: a tower layer that lets through only requests with a key Locksmith
//! finds `VALID`, and hands the handler the [`VerifiedKey`].

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::ConnectInfo;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse as _, Response};
use chrono::{DateTime, Utc};
use tower::{Layer, Service};

use crate::client::Client;
use crate::error::Error;
use crate::request::VerifyRequest;
use crate::verdict::{Code, Verdict, VerifiedKey};

/// Where the end user's address comes from, for keys with an IP allowlist.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ClientIp {
    /// The peer address of the connection, from axum's `ConnectInfo<SocketAddr>` (serve
    /// the app with `into_make_service_with_connect_info::<SocketAddr>()`); none without
    /// it. The default.
    #[default]
    ConnectInfo,
    /// The right-most address of this header, in the `X-Forwarded-For` style
    /// (`client, proxy1, proxy2`): the one your own proxy appended, the only one a client
    /// cannot forge. Use it behind exactly one trusted proxy that appends to the header.
    Header(HeaderName),
    /// Send no address: keys with an IP allowlist are then `FORBIDDEN_IP`.
    None,
}

/// Where the key is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeySource {
    /// A header holding the key alone.
    Header(HeaderName),
    /// `Authorization: Bearer <key>`.
    Bearer,
}

/// The layer's settings, shared by its services.
#[derive(Debug, Clone)]
struct Settings {
    key: KeySource,
    scopes: Vec<String>,
    cost: u32,
    client_ip: ClientIp,
}

/// Protects the services it wraps: every request must carry a key that Locksmith finds
/// `VALID` for the layer's scopes, or it is answered with a problem (401, 403, 429 or
/// 503) without reaching the service.
///
/// | verification | response |
/// | --- | --- |
/// | no key, or `NOT_FOUND` | 401, with `www-authenticate` |
/// | `REVOKED`, `DISABLED`, `EXPIRED`, `FORBIDDEN_IP`, `INSUFFICIENT_SCOPES` | 403 |
/// | `RATE_LIMITED`, `QUOTA_EXCEEDED` | 429, with `retry-after` |
/// | Locksmith unavailable, or any other error | 503 (details only in the log) |
/// | `VALID` | the service's response, with `RateLimit-*` headers for a limited key |
///
/// A `VALID` key's [`VerifiedKey`] is put in the request's extensions, where handlers
/// take it as an extractor. The `RateLimit-Limit`, `RateLimit-Remaining` and
/// `RateLimit-Reset` headers describe the key's rate limit or quota, whichever has fewer
/// left.
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use locksmith_client::{Client, VerifiedKey, VerifyLayer};
///
/// async fn orders(key: VerifiedKey) -> String {
///     format!("hello {}", key.name)
/// }
///
/// # fn app() -> Result<Router, locksmith_client::Error> {
/// let client = Client::builder("http://127.0.0.1:8080", "lsv_...").build()?;
/// let app: Router = Router::new()
///     .route("/orders", get(orders))
///     .layer(VerifyLayer::new(client).scopes(["orders:read"]));
/// # Ok(app)
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a layer does nothing until it wraps a service"]
pub struct VerifyLayer {
    client: Client,
    settings: Arc<Settings>,
}

impl VerifyLayer {
    /// A layer verifying with `client`: the key from the `x-api-key` header, no scopes, a
    /// cost of 1, the peer address as the client address.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            settings: Arc::new(Settings {
                key: KeySource::Header(HeaderName::from_static("x-api-key")),
                scopes: Vec::new(),
                cost: 1,
                client_ip: ClientIp::ConnectInfo,
            }),
        }
    }

    /// Reads the key from the header `name` (default `x-api-key`).
    ///
    /// # Panics
    ///
    /// If `name` is not a valid header name: a programming error, caught on start-up.
    pub fn key_header<N>(mut self, name: N) -> Self
    where
        N: TryInto<HeaderName>,
        N::Error: std::fmt::Debug,
    {
        let name = match name.try_into() {
            Ok(name) => name,
            Err(err) => panic!("VerifyLayer::key_header: not a header name: {err:?}"),
        };
        Arc::make_mut(&mut self.settings).key = KeySource::Header(name);
        self
    }

    /// Reads the key from `Authorization: Bearer <key>` instead of a header of its own.
    pub fn bearer(mut self) -> Self {
        Arc::make_mut(&mut self.settings).key = KeySource::Bearer;
        self
    }

    /// Adds scopes the key must grant.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let settings = Arc::make_mut(&mut self.settings);
        settings.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Sets the quota credits each request spends (default 1).
    pub fn cost(mut self, cost: u32) -> Self {
        Arc::make_mut(&mut self.settings).cost = cost;
        self
    }

    /// Sets where the end user's address comes from (default [`ClientIp::ConnectInfo`]).
    pub fn client_ip(mut self, client_ip: ClientIp) -> Self {
        Arc::make_mut(&mut self.settings).client_ip = client_ip;
        self
    }
}

impl<S> Layer<S> for VerifyLayer {
    type Service = Verify<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Verify {
            inner,
            client: self.client.clone(),
            settings: Arc::clone(&self.settings),
        }
    }
}

/// The service [`VerifyLayer`] wraps around another.
#[derive(Debug, Clone)]
pub struct Verify<S> {
    inner: S,
    client: Client,
    settings: Arc<Settings>,
}

impl<S, B> Service<Request<B>> for Verify<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The service that was polled ready goes into the future; a clone stays.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let client = self.client.clone();
        let settings = Arc::clone(&self.settings);
        Box::pin(async move {
            let Some(key) = settings.key(request.headers()) else {
                return Ok(unauthorized(&settings, "An API key is required.", false));
            };
            let verify = VerifyRequest {
                scopes: settings.scopes.clone(),
                cost: settings.cost,
                client_ip: settings.client_ip(&request),
            };
            let verified = match client.verify(&key, &verify).await {
                Ok(verdict) => match VerifiedKey::try_from(verdict) {
                    Ok(verified) => verified,
                    Err(verdict) => return Ok(refused(&settings, &verdict, Utc::now())),
                },
                Err(error) => return Ok(unavailable(&error)),
            };
            let limit = nearest_limit(&verified);
            request.extensions_mut().insert(verified);
            let mut response = inner.call(request).await?;
            if let Some(limit) = limit {
                limit.write(response.headers_mut(), Utc::now());
            }
            Ok(response)
        })
    }
}

impl Settings {
    /// The key the request carries, if any.
    fn key(&self, headers: &HeaderMap) -> Option<String> {
        let value = match &self.key {
            KeySource::Header(name) => headers.get(name)?.to_str().ok()?,
            KeySource::Bearer => {
                let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
                let (scheme, token) = value.trim_start().split_once(' ')?;
                if !scheme.eq_ignore_ascii_case("bearer") {
                    return None;
                }
                token
            }
        };
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_owned())
    }

    /// The end user's address, from where the settings say.
    fn client_ip<B>(&self, request: &Request<B>) -> Option<IpAddr> {
        let ip = match &self.client_ip {
            ClientIp::ConnectInfo => request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| peer.ip()),
            ClientIp::Header(name) => rightmost_address(request.headers(), name),
            ClientIp::None => None,
        };
        // A dual-stack listener sees IPv4 peers as `::ffff:a.b.c.d`.
        ip.map(|ip| ip.to_canonical())
    }

    /// The `www-authenticate` challenge for a 401.
    fn challenge(&self, invalid: bool) -> HeaderValue {
        let challenge = match (&self.key, invalid) {
            (KeySource::Bearer, false) => "Bearer".to_owned(),
            (KeySource::Bearer, true) => r#"Bearer error="invalid_token""#.to_owned(),
            (KeySource::Header(name), _) => format!(r#"ApiKey header="{name}""#),
        };
        HeaderValue::from_str(&challenge).unwrap_or_else(|_| HeaderValue::from_static("ApiKey"))
    }
}

/// The right-most address in the last `name` header (`client, proxy1, proxy2`), plain
/// or with a port (`203.0.113.7:5000`, `[2001:db8::1]:443`).
fn rightmost_address(headers: &HeaderMap, name: &HeaderName) -> Option<IpAddr> {
    let last = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    let entry = last.rsplit(',').next()?.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .and_then(|e| e.parse().ok())
        })
}

/// The response for a key that may not be used.
fn refused(settings: &Settings, verdict: &Verdict, now: DateTime<Utc>) -> Response {
    let forbidden = |detail| problem(StatusCode::FORBIDDEN, detail);
    match verdict.code {
        Code::NotFound | Code::Valid => unauthorized(settings, "The API key is not valid.", true),
        Code::Revoked => forbidden("The API key is revoked."),
        Code::Disabled => forbidden("The API key is disabled."),
        Code::Expired => forbidden("The API key has expired."),
        Code::ForbiddenIp => forbidden("The API key may not be used from this address."),
        Code::InsufficientScopes => {
            forbidden("The API key does not grant what this request needs.")
        }
        Code::RateLimited | Code::QuotaExceeded => {
            let detail = if verdict.code == Code::RateLimited {
                "The API key's rate limit is reached."
            } else {
                "The API key's quota is spent."
            };
            let mut response = problem(StatusCode::TOO_MANY_REQUESTS, detail);
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after(verdict, now)),
            );
            response
        }
        Code::Unknown => forbidden("The API key may not be used."),
    }
}

/// Seconds until a rate-limited or out-of-quota key may pass again, at least 1: from
/// the verdict's `retry_at`, or its limit's reset, or 1 when it says neither.
fn retry_after(verdict: &Verdict, now: DateTime<Utc>) -> u64 {
    let reset = verdict.retry_at.or(match verdict.code {
        Code::RateLimited => verdict.rate_limit.map(|r| r.reset_at),
        _ => verdict.quota.and_then(|q| q.resets_at),
    });
    reset.map_or(1, |at| seconds_until(at, now)).max(1)
}

/// The 401 for a missing or unknown key.
fn unauthorized(settings: &Settings, detail: &str, invalid: bool) -> Response {
    let mut response = problem(StatusCode::UNAUTHORIZED, detail);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, settings.challenge(invalid));
    response
}

/// The 503 when Locksmith gave no decision. What went wrong is logged, never sent.
fn unavailable(error: &Error) -> Response {
    // As an error value, so the log shows its sources (the transport's cause) too.
    let cause = error as &(dyn std::error::Error + 'static);
    match error {
        Error::Unavailable { .. } | Error::Throttled { .. } => {
            tracing::warn!(
                error = cause,
                "API key not verified: Locksmith gave no decision"
            );
        }
        _ => tracing::error!(
            error = cause,
            "API key not verified: the Locksmith client is failing"
        ),
    }
    let mut response = problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "The API key could not be verified right now.",
    );
    if let Some(wait) = error.retry_after() {
        let seconds = wait.as_secs().max(1);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// An `application/problem+json` response.
pub(crate) fn problem(status: StatusCode, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body.to_string(),
    )
        .into_response()
}

/// A limit to describe in `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limit {
    limit: i64,
    remaining: i64,
    reset: Option<DateTime<Utc>>,
}

impl Limit {
    fn write(self, headers: &mut HeaderMap, now: DateTime<Utc>) {
        let mut set = |name: &'static str, value: i64| {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
        };
        set("ratelimit-limit", self.limit);
        set("ratelimit-remaining", self.remaining.max(0));
        if let Some(reset) = self.reset {
            let seconds = i64::try_from(seconds_until(reset, now)).unwrap_or(i64::MAX);
            set("ratelimit-reset", seconds);
        }
    }
}

/// The key's rate limit or quota, whichever has fewer left.
fn nearest_limit(key: &VerifiedKey) -> Option<Limit> {
    let rate = key.rate_limit.map(|r| Limit {
        limit: i64::from(r.limit),
        remaining: i64::from(r.remaining),
        reset: Some(r.reset_at),
    });
    let quota = key.quota.map(|q| Limit {
        limit: q.limit,
        remaining: q.remaining,
        reset: q.resets_at,
    });
    match (rate, quota) {
        (Some(rate), Some(quota)) => Some(if quota.remaining < rate.remaining {
            quota
        } else {
            rate
        }),
        (rate, quota) => rate.or(quota),
    }
}

/// Whole seconds from `now` until `at`, rounded up; 0 when it is past.
fn seconds_until(at: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    (at - now)
        .num_milliseconds()
        .max(0)
        .unsigned_abs()
        .div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{QuotaState, RateLimitState};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("a header value"));
        }
        map
    }

    fn settings(key: KeySource) -> Settings {
        Settings {
            key,
            scopes: Vec::new(),
            cost: 1,
            client_ip: ClientIp::ConnectInfo,
        }
    }

    fn verdict(json: serde_json::Value) -> Verdict {
        serde_json::from_value(json).expect("a verdict")
    }

    #[test]
    fn the_key_comes_from_the_configured_header_or_the_bearer_token() {
        let header = settings(KeySource::Header(HeaderName::from_static("x-api-key")));
        assert_eq!(
            header.key(&headers(&[("x-api-key", " lsk_a ")])).as_deref(),
            Some("lsk_a")
        );
        assert_eq!(header.key(&headers(&[("x-api-key", "")])), None);
        assert_eq!(
            header.key(&headers(&[("authorization", "Bearer lsk_a")])),
            None
        );
        let bearer = settings(KeySource::Bearer);
        assert_eq!(
            bearer
                .key(&headers(&[("authorization", "bearer lsk_b")]))
                .as_deref(),
            Some("lsk_b")
        );
        assert_eq!(
            bearer.key(&headers(&[("authorization", "Basic dXNlcg==")])),
            None
        );
        assert_eq!(bearer.key(&headers(&[("authorization", "Bearer ")])), None);
    }

    #[test]
    fn the_client_address_is_the_rightmost_of_the_last_header() {
        let name = HeaderName::from_static("x-forwarded-for");
        let ip = |s: &str| Some(s.parse::<IpAddr>().expect("ip"));
        let forwarded = headers(&[
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-for", "198.51.100.1, 203.0.113.9"),
        ]);
        assert_eq!(rightmost_address(&forwarded, &name), ip("203.0.113.9"));
        let ported = headers(&[("x-forwarded-for", "203.0.113.9:5000")]);
        assert_eq!(rightmost_address(&ported, &name), ip("203.0.113.9"));
        let v6 = headers(&[("x-forwarded-for", "[2001:db8::1]")]);
        assert_eq!(rightmost_address(&v6, &name), ip("2001:db8::1"));
        assert_eq!(
            rightmost_address(&headers(&[("x-forwarded-for", "nope")]), &name),
            None
        );
        assert_eq!(rightmost_address(&HeaderMap::new(), &name), None);
    }

    #[test]
    fn connect_info_addresses_are_canonical() {
        let mut request = Request::new(());
        let peer: SocketAddr = "[::ffff:192.0.2.1]:4000".parse().expect("addr");
        request.extensions_mut().insert(ConnectInfo(peer));
        let settings = settings(KeySource::Bearer);
        assert_eq!(settings.client_ip(&request), "192.0.2.1".parse().ok());
        let none = Settings {
            client_ip: ClientIp::None,
            ..settings
        };
        assert_eq!(none.client_ip(&request), None);
    }

    #[test]
    fn refusals_map_to_statuses_without_details() {
        let now = Utc::now();
        let header = settings(KeySource::Header(HeaderName::from_static("x-api-key")));
        let status = |code: &str| {
            let v = verdict(serde_json::json!({"valid": false, "code": code}));
            refused(&header, &v, now).status()
        };
        assert_eq!(status("NOT_FOUND"), StatusCode::UNAUTHORIZED);
        for code in [
            "REVOKED",
            "DISABLED",
            "EXPIRED",
            "FORBIDDEN_IP",
            "INSUFFICIENT_SCOPES",
            "NEW_CODE",
        ] {
            assert_eq!(status(code), StatusCode::FORBIDDEN, "{code}");
        }
        let not_found = refused(
            &header,
            &verdict(serde_json::json!({"valid": false, "code": "NOT_FOUND"})),
            now,
        );
        assert_eq!(
            not_found.headers()[header::WWW_AUTHENTICATE],
            r#"ApiKey header="x-api-key""#
        );
        assert_eq!(
            not_found.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let limited = refused(
            &header,
            &verdict(serde_json::json!({"valid": false, "code": "RATE_LIMITED"})),
            now,
        );
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn retry_after_counts_whole_seconds_up_to_the_reset() {
        let now = Utc::now();
        let mut limited = verdict(serde_json::json!({"valid": false, "code": "QUOTA_EXCEEDED"}));
        assert_eq!(retry_after(&limited, now), 1, "at least 1 when unknown");
        limited.retry_at = Some(now + chrono::Duration::milliseconds(2500));
        assert_eq!(retry_after(&limited, now), 3);
        limited.retry_at = Some(now - chrono::Duration::seconds(5));
        assert_eq!(retry_after(&limited, now), 1, "never 0");
    }

    #[test]
    fn the_nearer_limit_is_described() {
        let now = Utc::now();
        let mut key = VerifiedKey::try_from(verdict(serde_json::json!({
            "valid": true, "code": "VALID", "key_id": uuid::Uuid::nil(), "owner_id": uuid::Uuid::nil()
        })))
        .expect("valid");
        assert_eq!(nearest_limit(&key), None);
        key.rate_limit = Some(RateLimitState {
            limit: 10,
            remaining: 4,
            reset_at: now + chrono::Duration::seconds(30),
        });
        key.quota = Some(QuotaState {
            limit: 1000,
            remaining: 900,
            resets_at: None,
        });
        let limit = nearest_limit(&key).expect("a limit");
        assert_eq!((limit.limit, limit.remaining), (10, 4));
        key.quota = Some(QuotaState {
            limit: 1000,
            remaining: 2,
            resets_at: None,
        });
        let limit = nearest_limit(&key).expect("a limit");
        assert_eq!((limit.limit, limit.remaining, limit.reset), (1000, 2, None));
        let mut out = HeaderMap::new();
        Limit {
            limit: 10,
            remaining: -1,
            reset: Some(now + chrono::Duration::seconds(30)),
        }
        .write(&mut out, now);
        assert_eq!(out["ratelimit-limit"], "10");
        assert_eq!(out["ratelimit-remaining"], "0");
        assert_eq!(out["ratelimit-reset"], "30");
    }
}
