//! What the API shows of endpoints and deliveries, and the rules of what a subscription
//! may say.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::{Host, Url};
use uuid::Uuid;

use super::destination;
use crate::error::{Error, Result};
use crate::events::{TYPES, is_key_type};
use crate::keys::format::Secret;

/// A webhook endpoint (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    pub id: Uuid,
    /// Where deliveries are POSTed.
    pub url: String,
    pub description: String,
    /// The event types it receives; `null`: every type.
    pub events: Option<Vec<String>>,
    /// Only events of this keyspace; `null`: every keyspace.
    pub keyspace_id: Option<Uuid>,
    /// An owner's endpoint receives only the events of that owner's keys; `null`: an
    /// installation endpoint, created by an admin, which receives every event.
    pub owner_id: Option<Uuid>,
    /// Off: no delivery is made or queued (pending ones wait until it is on again).
    pub enabled: bool,
    /// Why Locksmith switched it off (a 410 answer, days of failures); `null` otherwise.
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed; `null` after a success.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when deliveries are also signed with the previous secret (a rotation's
    /// overlap); `null` outside one.
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new endpoint, or one whose secret was rotated, with its signing secret: shown in
/// this answer only.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_…`: the signing secret. Stored encrypted, never shown again.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub secret: Secret,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (or being attempted).
    Pending,
    /// A 2xx answer ended it.
    Delivered,
    /// Every attempt failed, or the endpoint answered 410 Gone.
    Failed,
}

impl DeliveryStatus {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// The status stored as `raw`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One delivery of one event to one endpoint, with its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub id: Uuid,
    pub webhook_id: Uuid,
    /// The event's id: the `webhook-id` header, the same on every attempt.
    pub event_id: Uuid,
    pub event_type: String,
    /// The event's position in the log.
    pub position: i64,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i32,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The last answer's HTTP status; `null` when there was none.
    pub response_status: Option<i32>,
    /// How long the last attempt took, in milliseconds.
    pub latency_ms: Option<i32>,
    /// The first KiB of the last answer's body.
    pub response_body: Option<String>,
    /// Why the last attempt got no answer (refused address, timeout, connection).
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Every attempt, oldest first.
    pub history: Vec<Attempt>,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attempt {
    /// 1 for the first.
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub response_status: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
}

/// What a subscriber may ask for: the rules every create and update passes.
#[derive(Debug, Clone, Copy)]
pub struct WebhookPolicy {
    /// Only `https://` URLs (production).
    pub require_https: bool,
    /// Deliveries to loopback, private and link-local addresses are allowed
    /// (`LOCKSMITH_WEBHOOK_ALLOW_PRIVATE`).
    pub allow_private: bool,
}

/// Longest accepted URL.
const MAX_URL_LEN: usize = 2000;

impl WebhookPolicy {
    /// The URL as stored, or why it is refused: `Invalid` (naming `url`) when malformed,
    /// `Forbidden` when the installation's policy refuses it (plain `http://` in
    /// production; an address that is refused at delivery time, when the URL names it
    /// directly: names are checked on every delivery, on the address connected to).
    pub fn parse_url(&self, raw: &str) -> Result<String> {
        let refuse = |why: &str| Error::invalid("url", why);
        if raw.len() > MAX_URL_LEN {
            return Err(refuse("must be at most 2000 characters"));
        }
        if !is_uri_text(raw.trim()) {
            return Err(refuse(
                "must hold only the characters a URI allows (percent-encode the rest as %XX)",
            ));
        }
        let url = Url::parse(raw.trim()).map_err(|_| refuse("must be an absolute URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if !self.require_https => {}
            "http" => {
                return Err(Error::Forbidden(
                    "This installation delivers only to https:// URLs (production profile).".into(),
                ));
            }
            _ => return Err(refuse("must be an http:// or https:// URL")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse(
                "must not hold credentials (they would be shown to every reader); put them in the path or verify the signature",
            ));
        }
        if url.fragment().is_some() {
            return Err(refuse("must not have a #fragment"));
        }
        let ip = match url.host() {
            None => return Err(refuse("must name a host")),
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            // A name resolvers can look up (`url` lets `*` and the like through).
            Some(Host::Domain(name))
                if !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') =>
            {
                return Err(refuse(
                    "must name a host of letters, digits, dots and hyphens",
                ));
            }
            Some(Host::Domain(name)) if name.eq_ignore_ascii_case("localhost") => {
                Some(IpAddr::from([127, 0, 0, 1]))
            }
            Some(Host::Domain(_)) => None,
        };
        // A policy of the installation, not a malformed URL: 403, as for an owner's limits.
        if !self.allow_private
            && let Some(why) = ip.and_then(destination::refused)
        {
            return Err(Error::Forbidden(format!(
                "The URL names {why}; this installation delivers to public addresses only (LOCKSMITH_WEBHOOK_ALLOW_PRIVATE=true lifts this)."
            )));
        }
        Ok(url.to_string())
    }
}

/// Whether `text` holds only what RFC 3986 allows in a URI: unreserved and reserved
/// characters, and `%` followed by two hex digits.
fn is_uri_text(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return false;
                }
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&b) => i += 1,
            _ => return false,
        }
    }
    true
}

/// The event types of a subscription (`None`: every type), each one of the catalogue,
/// without repeats. Owners receive key events only.
pub fn parse_event_types(raw: Option<Vec<String>>, owner: bool) -> Result<Option<Vec<String>>> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.is_empty() {
        return Err(Error::invalid(
            "events",
            "must name at least one event type, or be left out for every type",
        ));
    }
    let mut types: Vec<String> = Vec::with_capacity(raw.len());
    for (i, kind) in raw.into_iter().enumerate() {
        if !TYPES.contains(&kind.as_str()) {
            return Err(Error::invalid(
                format!("events[{i}]"),
                "is not an event type (see the catalogue in the API reference)",
            ));
        }
        if owner && !is_key_type(&kind) {
            return Err(Error::invalid(
                format!("events[{i}]"),
                "is not a key event; owners' endpoints receive the events of their own keys",
            ));
        }
        if !types.contains(&kind) {
            types.push(kind);
        }
    }
    Ok(Some(types))
}

/// A description: at most 500 characters, no control characters but line breaks.
pub fn parse_description(raw: Option<String>) -> Result<String> {
    let raw = raw.unwrap_or_default();
    if raw.chars().count() > 500 {
        return Err(Error::invalid(
            "description",
            "must be at most 500 characters",
        ));
    }
    if raw.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::invalid(
            "description",
            "must not contain control characters",
        ));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: WebhookPolicy = WebhookPolicy {
        require_https: true,
        allow_private: false,
    };

    fn field(err: Error) -> String {
        match err {
            Error::Invalid { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn urls_are_refused_for_what_would_make_them_unsafe() {
        assert_eq!(
            PUBLIC
                .parse_url("https://hooks.example.com/in?x=1")
                .expect("ok"),
            "https://hooks.example.com/in?x=1"
        );
        for bad in [
            "ftp://hooks.example.com/",
            "https://user:pw@hooks.example.com/",
            "https://hooks.example.com/#x",
            "https://hooks.example.com/caf\u{e9}",
            "https://hooks.example.com/a\u{10}b",
            "https://hooks.example.com/a`b<c",
            "https://hooks.example.com/%zz",
            "https://0.com*/",
            "not a url",
        ] {
            assert_eq!(field(PUBLIC.parse_url(bad).expect_err(bad)), "url", "{bad}");
        }
        for refused in [
            "http://hooks.example.com/",
            "https://127.0.0.1/",
            "https://localhost:8080/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[::ffff:10.0.0.1]/",
        ] {
            assert!(
                matches!(PUBLIC.parse_url(refused), Err(Error::Forbidden(_))),
                "{refused}"
            );
        }
        let open = WebhookPolicy {
            require_https: false,
            allow_private: true,
        };
        assert!(open.parse_url("http://127.0.0.1:9000/hook").is_ok());
    }

    #[test]
    fn event_types_come_from_the_catalogue_and_owners_get_key_events_only() {
        assert_eq!(parse_event_types(None, true).expect("all"), None);
        assert_eq!(
            parse_event_types(Some(vec!["key.revoked".into(), "key.revoked".into()]), true)
                .expect("ok"),
            Some(vec!["key.revoked".to_owned()])
        );
        assert_eq!(
            field(parse_event_types(Some(vec!["key.nope".into()]), false).expect_err("x")),
            "events[0]"
        );
        assert_eq!(
            field(
                parse_event_types(
                    Some(vec!["key.expired".into(), "user.created".into()]),
                    true
                )
                .expect_err("x")
            ),
            "events[1]"
        );
        assert!(parse_event_types(Some(vec!["user.created".into()]), false).is_ok());
        assert!(parse_event_types(Some(vec![]), false).is_err());
    }
}
