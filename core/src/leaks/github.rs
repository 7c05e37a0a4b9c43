//! GitHub secret scanning's signatures: every alert GitHub sends a partner is signed with
//! ECDSA (NIST P-256, SHA-256) over the raw body; the signature (base64 of ASN.1 DER) comes
//! in `Github-Public-Key-Signature`, and `Github-Public-Key-Identifier` names the key
//! among those GitHub publishes (`{"public_keys": [{"key_identifier", "key" (PEM),
//! "is_current"}]}` at <https://api.github.com/meta/public_keys/secret_scanning>).
//!
//! The keys come from a file or a URL, read on first use and again every hour; an
//! unknown identifier makes them read again at once (GitHub rotates keys), at most once a
//! minute so that forged identifiers cannot make Locksmith hammer the source.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;
use serde::Deserialize;
use tokio::sync::Mutex;

/// Where GitHub's signing keys are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A JSON file in GitHub's format.
    File(PathBuf),
    /// A URL answering GitHub's format (GitHub's own, or a mirror).
    Url(url::Url),
}

impl KeySource {
    /// `https://…` or `http://…` is a URL; anything else a file path.
    pub fn parse(text: &str) -> Self {
        match url::Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "https" | "http") => Self::Url(url),
            _ => Self::File(PathBuf::from(text)),
        }
    }
}

/// Why a signed body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A header is missing or malformed.
    #[error("{0}")]
    Malformed(&'static str),
    /// No published key has this identifier.
    #[error("unknown Github-Public-Key-Identifier")]
    UnknownKey,
    /// The signature does not match the body.
    #[error("the signature does not match the body")]
    Mismatch,
    /// The keys could not be read.
    #[error("GitHub's signing keys cannot be read: {0}")]
    KeysUnavailable(String),
}

#[derive(Deserialize)]
struct Published {
    public_keys: Vec<PublishedKey>,
}

#[derive(Deserialize)]
struct PublishedKey {
    key_identifier: String,
    key: String,
}

/// Longest key list read (GitHub's is a few KiB).
const MAX_KEYS_BYTES: usize = 256 * 1024;
/// How long read keys are used before they are read again.
const FRESH_FOR: Duration = Duration::from_secs(3600);
/// The least time between two reads caused by unknown identifiers.
const REREAD_AT_MOST_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Cached {
    keys: Vec<(String, VerifyingKey)>,
    read_at: Option<Instant>,
}

impl Cached {
    /// The key with this identifier, if it was read.
    fn named(&self, identifier: &str) -> Option<VerifyingKey> {
        self.keys
            .iter()
            .find(|(id, _)| id == identifier)
            .map(|(_, k)| *k)
    }
}

/// GitHub's signing keys, read when needed, and the signature check.
#[derive(Debug)]
pub struct GithubKeys {
    source: KeySource,
    http: reqwest::Client,
    cached: Mutex<Cached>,
}

/// Parses GitHub's key list; keys that are not P-256 public keys are skipped.
fn parse(json: &[u8]) -> Result<Vec<(String, VerifyingKey)>, String> {
    let published: Published =
        serde_json::from_slice(json).map_err(|e| format!("not GitHub's key list: {e}"))?;
    let keys: Vec<_> = published
        .public_keys
        .into_iter()
        .filter_map(|k| {
            let key = VerifyingKey::from_public_key_pem(&k.key).ok();
            if key.is_none() {
                tracing::warn!(key_identifier = %k.key_identifier, "GitHub key list: not a P-256 public key; skipped");
            }
            Some((k.key_identifier, key?))
        })
        .collect();
    if keys.is_empty() {
        return Err("the key list holds no P-256 public key".to_owned());
    }
    Ok(keys)
}

impl GithubKeys {
    /// Keys read from `source` when first needed.
    pub fn new(source: KeySource) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent("locksmith")
            .build()
            .unwrap_or_default();
        Self {
            source,
            http,
            cached: Mutex::new(Cached::default()),
        }
    }

    async fn read(&self) -> Result<Vec<(String, VerifyingKey)>, String> {
        let bytes = match &self.source {
            KeySource::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| format!("{}: {e}", path.display()))?,
            KeySource::Url(url) => {
                let answer = self
                    .http
                    .get(url.clone())
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| format!("{url}: {}", e.without_url()))?;
                let bytes = answer.bytes().await.map_err(|e| format!("{url}: {e}"))?;
                bytes.to_vec()
            }
        };
        if bytes.len() > MAX_KEYS_BYTES {
            return Err(format!("the key list is over {MAX_KEYS_BYTES} bytes"));
        }
        parse(&bytes)
    }

    /// The key named `identifier`, reading the keys again when they are stale or do not
    /// know it.
    async fn key(&self, identifier: &str) -> Result<VerifyingKey, SignatureError> {
        let mut cached = self.cached.lock().await;
        let known = cached.named(identifier);
        let age = cached.read_at.map(|at| at.elapsed());
        let stale = age.is_none_or(|age| age >= FRESH_FOR);
        let may_reread = age.is_none_or(|age| age >= REREAD_AT_MOST_EVERY);
        if (stale || known.is_none()) && may_reread {
            match self.read().await {
                Ok(keys) => {
                    *cached = Cached {
                        keys,
                        read_at: Some(Instant::now()),
                    };
                }
                Err(err) if cached.keys.is_empty() => {
                    tracing::warn!(error = %err, "GitHub's signing keys cannot be read");
                    return Err(SignatureError::KeysUnavailable(err));
                }
                Err(err) => {
                    tracing::warn!(error = %err, "GitHub's signing keys cannot be read again; the ones read before are used");
                }
            }
        }
        cached.named(identifier).ok_or(SignatureError::UnknownKey)
    }

    /// Checks that `signature` (base64 DER) by the key `identifier` signs `body`.
    pub async fn check(
        &self,
        identifier: &str,
        signature: &str,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        if identifier.is_empty() || identifier.len() > 256 {
            return Err(SignatureError::Malformed(
                "Github-Public-Key-Identifier is missing or too long",
            ));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(signature.trim())
            .map_err(|_| SignatureError::Malformed("Github-Public-Key-Signature is not base64"))?;
        let signature = Signature::from_der(&der).map_err(|_| {
            SignatureError::Malformed("Github-Public-Key-Signature is not an ECDSA signature")
        })?;
        let key = self.key(identifier).await?;
        key.verify(body, &signature)
            .map_err(|_| SignatureError::Mismatch)
    }
}
