//! [`Client`]: verifies keys, one at a time or in batches, through the cache, the
//! transport and the fail-open store.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::Url;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::cache::{Fingerprint, Stats, Stores};
use crate::error::{Error, Problem};
use crate::policy::UnavailablePolicy;
use crate::request::{VerifyRequest, WireBatch, WireRequest};
use crate::transport::Transport;
use crate::verdict::Verdict;

/// Verifies API keys with a Locksmith server.
///
/// Cheap to clone: clones share one connection pool, one circuit breaker, one cache and
/// one invalidation task, which stops when the last clone is dropped. See the crate
/// documentation for the whole picture.
///
/// ```no_run
/// # async fn run() -> Result<(), locksmith_client::Error> {
/// use locksmith_client::{Client, VerifyRequest};
///
/// let client = Client::builder("http://127.0.0.1:8080", "lsv_...").build()?;
/// let verdict = client
///     .verify("lsk_...", &VerifyRequest::new().scope("orders:read"))
///     .await?;
/// if verdict.valid {
///     println!("hello {}", verdict.name.unwrap_or_default());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// The API's URLs.
#[derive(Debug)]
pub(crate) struct Endpoints {
    verify: Url,
    batch: Url,
    usage: Url,
    pub(crate) invalidations: Url,
}

impl Endpoints {
    pub(crate) fn new(base: &Url) -> Result<Self, Error> {
        let join = |path: &str| {
            base.join(path)
                .map_err(|err| Error::config(format!("the base URL cannot hold {path}: {err}")))
        };
        Ok(Self {
            verify: join("v1/verify")?,
            batch: join("v1/verify/batch")?,
            usage: join("v1/verify/usage")?,
            invalidations: join("v1/verify/invalidations")?,
        })
    }
}

/// What the clones of a client share.
pub(crate) struct Inner {
    pub(crate) base_url: Url,
    pub(crate) endpoints: Endpoints,
    pub(crate) transport: Transport,
    pub(crate) stores: Arc<Stores>,
    pub(crate) policy: UnavailablePolicy,
    /// Whether the cache is live, from the invalidation task (with the cache on).
    pub(crate) live: Option<watch::Receiver<bool>>,
    /// The invalidation task (with the cache on).
    pub(crate) task: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// One item of a batch answer: a verdict, or the problem of an item that could not be
/// decided.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WireItem {
    Verdict(Verdict),
    Undecided(Problem),
}

/// The most keys one usage report names (the server's limit).
const REPORT_CHUNK: usize = 500;

/// The most verifications one report item counts (the server's limit).
const MAX_REPORTED_COUNT: u32 = 10_000_000;

/// The body of a usage report.
#[derive(Debug, serde::Serialize)]
struct WireUsage {
    items: Vec<WireUsed>,
}

#[derive(Debug, serde::Serialize)]
struct WireUsed {
    key_id: Uuid,
    count: u32,
    last_at: chrono::DateTime<Utc>,
}

/// The answer to a usage report.
#[derive(Debug, Deserialize)]
struct WireUsageAccepted {
    accepted: usize,
}

/// Reports usage every `every` for as long as a clone of the client lives.
pub(crate) async fn report_periodically(client: std::sync::Weak<Inner>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(inner) = client.upgrade() else {
            return;
        };
        if let Err(error) = (Client { inner }).flush_usage().await {
            tracing::debug!(%error, "could not report the verifications answered locally; kept for the next report");
        }
    }
}

/// The body of a batch answer.
#[derive(Debug, Deserialize)]
struct WireBatchAnswer {
    items: Vec<WireItem>,
}

impl Client {
    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// A handle that does not keep the client alive.
    pub(crate) fn downgrade(&self) -> std::sync::Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    /// Verifies `key` for `request`.
    ///
    /// A key that may not be used is an `Ok` verdict with `valid: false`; an `Err` means
    /// Locksmith gave no decision. With the cache live, a cacheable `VALID` answer may
    /// come from the cache ([`Source::Cache`](crate::Source::Cache)); with
    /// [`UnavailablePolicy::FailOpen`], an unavailable Locksmith may be answered for from
    /// the fail-open store ([`Source::FailOpen`](crate::Source::FailOpen)).
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] when Locksmith cannot decide (and the policy did not answer
    /// for it), [`Error::Unauthorized`] for a refused verifier token,
    /// [`Error::Throttled`] for a throttled verifier, [`Error::Status`] for a refused
    /// request (a cost over 1000, say), [`Error::Protocol`] for an unreadable answer.
    pub async fn verify(&self, key: &str, request: &VerifyRequest) -> Result<Verdict, Error> {
        let stores = &self.inner.stores;
        let fingerprint = Fingerprint::of(key, &request.scopes, request.client_ip);
        if let Some(cached) = stores.cached(&fingerprint, Instant::now()) {
            return Ok(cached);
        }
        let since = stores.epoch();
        let body = json(&WireRequest::new(key, request))?;
        match self
            .inner
            .transport
            .post::<Verdict>(&self.inner.endpoints.verify, body)
            .await
        {
            Ok(verdict) => {
                stores.remember(fingerprint, &verdict, since, Instant::now(), Utc::now());
                Ok(verdict)
            }
            Err(error) if error.is_unavailable() => {
                match stores.fail_open(&fingerprint, Instant::now()) {
                    Some(recorded) => {
                        tracing::debug!(%error, "Locksmith unavailable: answering from the fail-open store");
                        Ok(recorded)
                    }
                    None => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// Verifies up to 100 keys in one request (`POST /v1/verify/batch`), in order, each
    /// exactly as [`verify`](Self::verify) would have been.
    ///
    /// The answers come back in the order of `items`: a verdict, or the error of an item
    /// the server could not decide (degraded for that key, or the verifier throttled).
    /// Batches always ask the server: neither the cache nor the fail-open store answers
    /// for them (their `VALID` answers are recorded in both, as those of `verify` are).
    /// An empty batch is answered at once without a request.
    ///
    /// ```no_run
    /// # async fn run(client: locksmith_client::Client) -> Result<(), locksmith_client::Error> {
    /// use locksmith_client::VerifyRequest;
    ///
    /// let read = VerifyRequest::new().scope("orders:read");
    /// let answers = client
    ///     .verify_batch(&[("lsk_first...", read.clone()), ("lsk_second...", read)])
    ///     .await?;
    /// for answer in answers {
    ///     match answer {
    ///         Ok(verdict) => println!("{}", verdict.code),
    ///         Err(error) => eprintln!("undecided: {error}"),
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`verify`](Self::verify), for the batch as a whole: more than 100 items, or a
    /// malformed one, is [`Error::Status`] (400) and nothing is verified.
    pub async fn verify_batch<K: AsRef<str>>(
        &self,
        items: &[(K, VerifyRequest)],
    ) -> Result<Vec<Result<Verdict, Error>>, Error> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let stores = &self.inner.stores;
        stores.count_misses(items.len() as u64);
        let since = stores.epoch();
        let body = json(&WireBatch {
            items: items
                .iter()
                .map(|(key, request)| WireRequest::new(key.as_ref(), request))
                .collect(),
        })?;
        let answer: WireBatchAnswer = self
            .inner
            .transport
            .post(&self.inner.endpoints.batch, body)
            .await?;
        if answer.items.len() != items.len() {
            return Err(Error::Protocol {
                message: format!(
                    "the batch answer has {} items for {} asked",
                    answer.items.len(),
                    items.len()
                ),
            });
        }
        let (now, wall_now) = (Instant::now(), Utc::now());
        Ok(items
            .iter()
            .zip(answer.items)
            .map(|((key, request), item)| match item {
                WireItem::Verdict(verdict) => {
                    let fingerprint =
                        Fingerprint::of(key.as_ref(), &request.scopes, request.client_ip);
                    stores.remember(fingerprint, &verdict, since, now, wall_now);
                    Ok(verdict)
                }
                WireItem::Undecided(problem) if problem.status == 0 => Err(Error::Protocol {
                    message: "a batch item is neither an answer nor a problem".to_owned(),
                }),
                WireItem::Undecided(problem) => {
                    Err(Error::from_status(problem.status, problem, None))
                }
            })
            .collect())
    }

    /// Whether the local cache answers now: it is on and the invalidation stream is up.
    pub fn cache_is_live(&self) -> bool {
        self.inner.stores.is_live()
    }

    /// Waits until the local cache is live, for at most `timeout`; whether it is. Wakes
    /// on the invalidation stream's `ready`, without polling. `false` at once when the
    /// cache is off.
    pub async fn wait_until_cache_live(&self, timeout: Duration) -> bool {
        let Some(live) = &self.inner.live else {
            return false;
        };
        let mut live = live.clone();
        let became_live =
            tokio::time::timeout(
                timeout,
                async move { live.wait_for(|live| *live).await.is_ok() },
            )
            .await;
        became_live.unwrap_or(false)
    }

    /// Reports the verifications this client answered itself (from its cache, or failing
    /// open) since the last report to `POST /v1/verify/usage`, so that the keys' usage
    /// and `last_used_at` count them; returns how many keys' counts were accepted.
    ///
    /// A client with the cache or fail-open on reports by itself every
    /// [`REPORT_EVERY`](crate::REPORT_EVERY) (5 s); call this at shutdown so that the last
    /// seconds are counted too.
    ///
    /// # Errors
    ///
    /// As [`verify`](Self::verify); what could not be reported is kept for the next
    /// report (up to 100 000 keys).
    pub async fn flush_usage(&self) -> Result<usize, Error> {
        let served = self.inner.stores.take_served();
        let mut items: Vec<(Uuid, (u64, chrono::DateTime<Utc>))> =
            served.keys.into_iter().collect();
        let mut accepted = 0;
        while !items.is_empty() {
            let rest = items.split_off(items.len().min(REPORT_CHUNK));
            let body = json(&WireUsage {
                items: items
                    .iter()
                    .map(|(key_id, (count, last_at))| WireUsed {
                        key_id: *key_id,
                        count: u32::try_from(*count)
                            .unwrap_or(MAX_REPORTED_COUNT)
                            .min(MAX_REPORTED_COUNT),
                        last_at: *last_at,
                    })
                    .collect(),
            })?;
            let sent: Result<WireUsageAccepted, Error> = self
                .inner
                .transport
                .post(&self.inner.endpoints.usage, body)
                .await;
            match sent {
                Ok(answer) => accepted += answer.accepted,
                Err(error) => {
                    // Refused outright (a bad token): reporting again will not help.
                    if error.is_unavailable() {
                        let mut unreported = crate::cache::Served::default();
                        unreported.keys.extend(items.into_iter().chain(rest));
                        self.inner.stores.restore_served(unreported);
                    }
                    return Err(error);
                }
            }
            items = rest;
        }
        Ok(accepted)
    }

    /// Counters of what the client answered and heard since it was built.
    pub fn stats(&self) -> Stats {
        self.inner.stores.stats()
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Client")
            .field("base_url", &inner.base_url.as_str())
            .field("timeout", &inner.transport.timeout)
            .field("retries", &inner.transport.retries)
            .field("policy", &inner.policy)
            .field("cache", &inner.live.is_some())
            .field("cache_is_live", &self.cache_is_live())
            .finish_non_exhaustive()
    }
}

/// `value` as a JSON body.
fn json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|err| Error::Protocol {
        message: format!("the request could not be written as JSON: {err}"),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::CacheConfig;
    use crate::verdict::Code;

    #[test]
    fn batch_items_are_verdicts_or_problems() {
        let answer: WireBatchAnswer = serde_json::from_str(
            r#"{"items": [
                {"valid": true, "code": "VALID", "key_id": "6f1c1a52-37d4-4a4e-9f0c-6f6c9a0e8d11"},
                {"type": "urn:locksmith:problem:degraded", "title": "Service Unavailable",
                 "status": 503, "detail": "the database is unreachable"},
                {"valid": false, "code": "NOT_FOUND"}
            ]}"#,
        )
        .expect("a batch answer");
        let kinds: Vec<_> = answer
            .items
            .into_iter()
            .map(|item| match item {
                WireItem::Verdict(v) => Ok(v.code),
                WireItem::Undecided(p) => Err(Error::from_status(p.status, p, None)),
            })
            .collect();
        assert!(matches!(kinds[0], Ok(Code::Valid)));
        assert!(matches!(&kinds[1], Err(e) if e.is_unavailable()));
        assert!(matches!(kinds[2], Ok(Code::NotFound)));
    }

    #[test]
    fn endpoints_join_under_the_base_path() {
        let base = Url::parse("https://auth.example/locksmith/").expect("url");
        let endpoints = Endpoints::new(&base).expect("endpoints");
        assert_eq!(
            endpoints.verify.as_str(),
            "https://auth.example/locksmith/v1/verify"
        );
        assert_eq!(
            endpoints.batch.as_str(),
            "https://auth.example/locksmith/v1/verify/batch"
        );
        assert_eq!(
            endpoints.invalidations.as_str(),
            "https://auth.example/locksmith/v1/verify/invalidations"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_invalidation_task_stops_with_the_last_clone() {
        let client = Client::builder("http://127.0.0.1:1", "lsv_x")
            .cache(CacheConfig::default())
            .build()
            .expect("a client");
        let stores = Arc::downgrade(&client.inner.stores);
        let clone = client.clone();
        drop(client);
        assert!(stores.upgrade().is_some(), "a clone is left");
        drop(clone);
        // The task was aborted before it ever ran; the runtime drops it when it next
        // looks at it.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(stores.upgrade().is_none(), "the task let go of the stores");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn waiting_for_the_cache_gives_up_without_one() {
        let client = Client::builder("http://127.0.0.1:1", "lsv_x")
            .build()
            .expect("a client");
        assert!(!client.wait_until_cache_live(Duration::from_secs(60)).await);
        assert_eq!(client.stats(), Stats::default());
    }
}
