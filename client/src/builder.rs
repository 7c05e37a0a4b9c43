//! [`ClientBuilder`]: the client's settings, checked and put together by `build`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::watch;

use crate::breaker::{Breaker, BreakerConfig};
use crate::cache::{CacheConfig, FailOpenConfig, Stores};
use crate::client::{Client, Endpoints, Inner, report_periodically};
use crate::error::Error;
use crate::invalidations::InvalidationTask;
use crate::policy::UnavailablePolicy;
use crate::retry::Backoff;
use crate::transport::Transport;

impl Client {
    /// Starts building a client for the Locksmith server at `base_url` (e.g.
    /// `http://127.0.0.1:8080`, or with a path prefix behind a proxy), authenticating
    /// with `verifier_token` (`lsv_...`).
    ///
    /// The token is kept out of `Debug` output and errors.
    pub fn builder(
        base_url: impl Into<String>,
        verifier_token: impl Into<String>,
    ) -> ClientBuilder {
        ClientBuilder::new(base_url.into(), SecretString::from(verifier_token.into()))
    }
}

/// Settings for a [`Client`], from [`Client::builder`].
///
/// | setting | default |
/// | --- | --- |
/// | [`timeout`](Self::timeout) per attempt | 2 s |
/// | [`retries`](Self::retries) | 2 |
/// | [`backoff`](Self::backoff) | 50 ms, doubling, at most 1 s, full jitter |
/// | [`breaker`](Self::breaker) | opens after 5 failures in a row, for 5 s |
/// | [`unavailable_policy`](Self::unavailable_policy) | [`UnavailablePolicy::FailClosed`] |
/// | [`fail_open_capacity`](Self::fail_open_capacity) | 10 000 answers |
/// | [`cache`](Self::cache) | off |
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ClientBuilder {
    base_url: String,
    token: SecretString,
    timeout: Duration,
    retries: u32,
    backoff: Backoff,
    breaker: BreakerConfig,
    policy: UnavailablePolicy,
    fail_open_capacity: u64,
    cache: Option<CacheConfig>,
    http: Option<reqwest::Client>,
}

impl ClientBuilder {
    pub(crate) fn new(base_url: String, token: SecretString) -> Self {
        Self {
            base_url,
            token,
            timeout: Duration::from_secs(2),
            retries: 2,
            backoff: Backoff::new(Duration::from_millis(50), Duration::from_secs(1)),
            breaker: BreakerConfig::default(),
            policy: UnavailablePolicy::FailClosed,
            fail_open_capacity: 10_000,
            cache: None,
            http: None,
        }
    }

    /// How long one attempt may take, connecting included (default 2 s). A timed-out
    /// attempt is not retried: the server may have decided, and spent quota, without the
    /// answer reaching us.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many times a verification is retried after a connection error or a 503
    /// (default 2, so at most 3 attempts).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The wait before each retry: drawn at random up to `base * 2^n` for retry `n`,
    /// never above `cap` (default 50 ms and 1 s).
    pub fn backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.backoff = Backoff::new(base, cap);
        self
    }

    /// The circuit breaker's settings (default: opens after 5 failures in a row, for 5 s).
    pub fn breaker(mut self, breaker: BreakerConfig) -> Self {
        self.breaker = breaker;
        self
    }

    /// What to answer when Locksmith cannot decide (default
    /// [`UnavailablePolicy::FailClosed`]).
    pub fn unavailable_policy(mut self, policy: UnavailablePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How many answers the fail-open store keeps, the least used going first (default
    /// 10 000). Only used with [`UnavailablePolicy::FailOpen`].
    pub fn fail_open_capacity(mut self, capacity: u64) -> Self {
        self.fail_open_capacity = capacity;
        self
    }

    /// Turns the local answer cache on, and with it the task that follows the server's
    /// invalidation stream (so [`build`](Self::build) must then run inside a Tokio
    /// runtime). See the crate documentation for what is cached and when.
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Sends through this HTTP client instead of one of the builder's own, for TLS roots
    /// or proxies of your own. Its redirect policy should be `none`: a verification is
    /// never redirected. The per-attempt [`timeout`](Self::timeout) still applies.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Checks the settings and builds the client.
    ///
    /// With the [cache](Self::cache) on, this spawns the invalidation task on the current
    /// Tokio runtime; it stops when the last clone of the client is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a base URL that is not `http(s)://`, an empty verifier token
    /// or one that cannot be sent in a header, a zero timeout, breaker threshold, cache
    /// TTL or capacity, fail-open `max_age` or capacity, or a cache without a Tokio
    /// runtime to run its task on.
    pub fn build(self) -> Result<Client, Error> {
        let base_url = base_url(&self.base_url)?;
        let auth = bearer(&self.token)?;
        if self.timeout.is_zero() {
            return Err(Error::config("the timeout must be above zero"));
        }
        if self.breaker.failure_threshold == 0 {
            return Err(Error::config(
                "the breaker's failure threshold must be at least 1",
            ));
        }
        if let Some(cache) = self.cache
            && (cache.ttl.is_zero() || cache.capacity == 0)
        {
            return Err(Error::config(
                "the cache's ttl and capacity must be above zero",
            ));
        }
        let fail_open = match self.policy {
            UnavailablePolicy::FailClosed => None,
            UnavailablePolicy::FailOpen { max_age } => {
                if max_age.is_zero() || self.fail_open_capacity == 0 {
                    return Err(Error::config(
                        "the fail-open max_age and capacity must be above zero",
                    ));
                }
                Some(FailOpenConfig {
                    max_age,
                    capacity: self.fail_open_capacity,
                })
            }
        };
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .user_agent(concat!("locksmith-client/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(self.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .tcp_keepalive(Duration::from_secs(30))
                .build()
                .map_err(|err| Error::config(format!("the HTTP client: {err}")))?,
        };
        let endpoints = Endpoints::new(&base_url)?;
        let stores = Arc::new(Stores::new(self.cache, fail_open));
        let (live, task) = match self.cache {
            None => (None, None),
            Some(_) => {
                let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
                    Error::config("the cache needs a Tokio runtime: build the client inside one")
                })?;
                let (sender, receiver) = watch::channel(false);
                let task = InvalidationTask {
                    http: http.clone(),
                    url: endpoints.invalidations.clone(),
                    auth: auth.clone(),
                    connect_timeout: self.timeout.max(Duration::from_secs(5)),
                    stores: Arc::clone(&stores),
                    live: sender,
                };
                (Some(receiver), Some(runtime.spawn(task.run())))
            }
        };
        let reports = (self.cache.is_some() || fail_open.is_some())
            .then(|| tokio::runtime::Handle::try_current().ok())
            .flatten();
        let client = Client::from_inner(Inner {
            base_url,
            endpoints,
            transport: Transport {
                http,
                auth,
                timeout: self.timeout,
                retries: self.retries,
                backoff: self.backoff,
                breaker: Breaker::new(self.breaker),
            },
            stores,
            policy: self.policy,
            live,
            task,
        });
        // What the client answers itself is reported, so that the keys' usage counts it;
        // the task ends once the last clone is gone.
        if let Some(runtime) = reports {
            runtime.spawn(report_periodically(client.downgrade(), REPORT_EVERY));
        }
        Ok(client)
    }
}

/// How often a client with the cache or fail-open on reports the verifications it
/// answered itself (`POST /v1/verify/usage`).
pub const REPORT_EVERY: Duration = Duration::from_secs(5);

/// The base URL, checked, with a path ending in `/` so the API's paths join under it.
fn base_url(raw: &str) -> Result<Url, Error> {
    let mut url = Url::parse(raw)
        .map_err(|err| Error::config(format!("the base URL {raw:?} is malformed: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(Error::config(format!(
            "the base URL {raw:?} is not an http:// or https:// URL"
        )));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// The `Authorization` header for the verifier token, marked sensitive so it is never
/// printed.
fn bearer(token: &SecretString) -> Result<HeaderValue, Error> {
    let token = token.expose_secret().trim();
    if token.is_empty() {
        return Err(Error::config("the verifier token is empty"));
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| Error::config("the verifier token has characters a header cannot carry"))?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_url_gets_a_trailing_slash_and_loses_its_query() {
        let url = |raw: &str| base_url(raw).expect("a base URL").to_string();
        assert_eq!(url("http://127.0.0.1:8080"), "http://127.0.0.1:8080/");
        assert_eq!(
            url("https://auth.example/locksmith"),
            "https://auth.example/locksmith/"
        );
        assert_eq!(
            url("https://auth.example/locksmith/?x=1#f"),
            "https://auth.example/locksmith/"
        );
        assert!(base_url("ftp://auth.example").is_err());
        assert!(base_url("not a url").is_err());
        assert!(base_url("mailto:a@example.com").is_err());
    }

    #[test]
    fn the_token_is_checked_and_hidden() {
        let header = bearer(&SecretString::from("lsv_secret_123")).expect("a header");
        assert!(header.is_sensitive());
        assert!(!format!("{header:?}").contains("lsv_secret_123"));
        assert!(bearer(&SecretString::from("  ")).is_err());
        let error = bearer(&SecretString::from("lsv_\nsecret")).expect_err("a newline");
        assert!(!error.to_string().contains("secret"));
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        let builder = || super::super::Client::builder("http://127.0.0.1:8080", "lsv_x");
        assert!(builder().timeout(Duration::ZERO).build().is_err());
        let breaker = BreakerConfig {
            failure_threshold: 0,
            ..BreakerConfig::default()
        };
        assert!(builder().breaker(breaker).build().is_err());
        let open = UnavailablePolicy::FailOpen {
            max_age: Duration::ZERO,
        };
        assert!(builder().unavailable_policy(open).build().is_err());
        let cache = CacheConfig {
            capacity: 0,
            ..CacheConfig::default()
        };
        assert!(builder().cache(cache).build().is_err());
    }

    #[test]
    fn the_cache_needs_a_runtime_and_nothing_else_does() {
        let builder = || super::super::Client::builder("http://127.0.0.1:8080", "lsv_x");
        let error = builder()
            .cache(CacheConfig::default())
            .build()
            .expect_err("no runtime");
        assert!(matches!(error, Error::Config { .. }));
        let client = builder().build().expect("no runtime needed");
        assert!(!client.cache_is_live());
        let debug = format!("{client:?} {:?}", builder());
        assert!(!debug.contains("lsv_x"), "the token never shows: {debug}");
    }
}
