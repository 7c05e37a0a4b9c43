//! The event log: a typed domain event for every committed change, in commit order.
//!
//! Every service that changes state writes its events in the transaction of the change,
//! through [`crate::audit`]'s writer, and nothing outside `core` can write one. Consumers
//! (webhooks, notifications, anomaly detection) read them with [`EventLog::after`] from a
//! position they remember, and [`EventLog::listen`] wakes them when more are committed.
//!
//! **Why a log of its own and not the audit trail.** The audit trail already holds every
//! change in order, so it was the first candidate. It is kept apart for three reasons:
//! - *Its shape is frozen by its hash chain.* A row's hash covers its columns, so adding
//!   what a consumer needs (the key's owner and keyspace as columns to filter on, a
//!   versioned typed payload) would change what old rows mean or how they verify.
//! - *It speaks to people, events speak to machines.* Audit rows are snapshots and diffs,
//!   and hold what a machine must not act on (sign-ins, lockouts, a whole bulk batch in
//!   one summary row). An event is one fact about one object (`key.revoked`, one per key
//!   of a bulk revoke), with the fields a subscriber filters by.
//! - *Their lives differ.* The trail is kept forever and archived with its chain; events
//!   can be pruned once every consumer has passed them, and later issues add events that
//!   are not changes of a row (`key.expiring`).
//!
//! **Order.** Positions come from a sequence and are taken while the audit chain's
//! transaction-scoped lock is held, the lock every writer of a change already takes. A
//! position is therefore drawn only by the one transaction that will commit next, and
//! positions become visible in increasing order: a consumer that has read up to `p` never
//! later finds a committed event below `p`. A rolled-back change leaves a gap, never a
//! reordering. Each event names the audit row of its change (`audit_id`).
//!
//! **What makes an event.** Changes to keys, keyspaces, verifiers and users. Session
//! bookkeeping (sign-in, sign-out, refresh tokens, lockouts) changes no object anyone
//! subscribes to and stays in the audit trail only. A refused or no-op change writes
//! nothing. Changes the system makes on its own have no actor (`actor_id` null).

mod log;
pub(crate) mod store;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::identity::Role;
use crate::identity::users::User;
use crate::keys::KeyView;
use crate::keys::keyspace_store::{Keyspace, Verifier};

pub use log::{EventListener, EventLog};

/// The channel on which a commit that wrote events announces its last position.
pub(crate) const CHANNEL: &str = "locksmith_events";

/// Names a key in every key event: never its secret or digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyRef {
    pub key_id: Uuid,
    pub keyspace_id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    /// The key's visible beginning (prefix and first characters).
    pub start: String,
}

impl From<&KeyView> for KeyRef {
    fn from(view: &KeyView) -> Self {
        Self {
            key_id: view.id,
            keyspace_id: view.keyspace_id,
            owner_id: view.owner_id,
            name: view.name.clone(),
            start: view.start.clone(),
        }
    }
}

/// Names a user in every user event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserRef {
    pub user_id: Uuid,
    pub email: String,
    pub role: Role,
}

impl From<&User> for UserRef {
    fn from(user: &User) -> Self {
        Self {
            user_id: user.id,
            email: user.email.clone(),
            role: user.role,
        }
    }
}

/// Names a verifier in verifier events: never its token or digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifierRef {
    pub verifier_id: Uuid,
    pub keyspace_id: Uuid,
    pub name: String,
    pub start: String,
}

impl From<&Verifier> for VerifierRef {
    fn from(v: &Verifier) -> Self {
        Self {
            verifier_id: v.id,
            keyspace_id: v.keyspace_id,
            name: v.name.clone(),
            start: v.start.clone(),
        }
    }
}

/// What happened: the event's `type` and its `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", content = "data")]
pub enum Event {
    /// A key was created (also the successor of a rotation, which names its predecessor).
    #[serde(rename = "key.created")]
    KeyCreated {
        #[serde(flatten)]
        key: KeyRef,
        expires_at: Option<DateTime<Utc>>,
        rotated_from: Option<Uuid>,
    },
    /// A key's name, scopes, expiry, allowlist, limits or metadata changed.
    #[serde(rename = "key.updated")]
    KeyUpdated {
        #[serde(flatten)]
        key: KeyRef,
        /// The names of the fields that changed.
        changed: Vec<String>,
    },
    /// A disabled key was switched back on.
    #[serde(rename = "key.enabled")]
    KeyEnabled {
        #[serde(flatten)]
        key: KeyRef,
    },
    /// A key was switched off (it verifies as `DISABLED` until enabled).
    #[serde(rename = "key.disabled")]
    KeyDisabled {
        #[serde(flatten)]
        key: KeyRef,
    },
    /// A key was rotated: `key` is the old key, valid until `grace_ends_at`.
    #[serde(rename = "key.rotated")]
    KeyRotated {
        #[serde(flatten)]
        key: KeyRef,
        new_key_id: Uuid,
        grace_ends_at: DateTime<Utc>,
    },
    /// The grace of a rotated key was ended or extended.
    #[serde(rename = "key.grace_changed")]
    KeyGraceChanged {
        #[serde(flatten)]
        key: KeyRef,
        grace_ends_at: DateTime<Utc>,
    },
    /// A key was revoked (one event per key of a bulk revoke).
    #[serde(rename = "key.revoked")]
    KeyRevoked {
        #[serde(flatten)]
        key: KeyRef,
        reason: Option<String>,
    },
    /// A key's secret was reported as published (GitHub secret scanning, or a
    /// leak-reporter token). `action` is what the keyspace's leak policy did to it.
    #[serde(rename = "key.leaked")]
    KeyLeaked {
        #[serde(flatten)]
        key: KeyRef,
        finding_id: Uuid,
        /// Where the secret was found, as the reporter said.
        url: Option<String>,
        /// The kind of place (`content`, `commit`, `issue`, …), as the reporter said.
        source: Option<String>,
        /// Who reported it: `github`, or `reporter:<name>`.
        reported_by: String,
        action: crate::findings::FindingAction,
    },
    /// Unusual use of a key was detected. `action` is what the keyspace's policy did.
    #[serde(rename = "key.anomaly")]
    KeyAnomaly {
        #[serde(flatten)]
        key: KeyRef,
        finding_id: Uuid,
        kind: crate::findings::FindingKind,
        severity: crate::findings::Severity,
        window_start: DateTime<Utc>,
        window_end: DateTime<Utc>,
        /// Counts, networks and thresholds behind the finding.
        #[cfg_attr(feature = "openapi", schema(value_type = Object))]
        evidence: serde_json::Value,
        action: crate::findings::FindingAction,
    },
    /// Someone acknowledged a finding on a key (it no longer needs attention).
    #[serde(rename = "key.finding_acknowledged")]
    KeyFindingAcknowledged {
        #[serde(flatten)]
        key: KeyRef,
        finding_id: Uuid,
        kind: crate::findings::FindingKind,
    },
    /// A keyspace was created.
    #[serde(rename = "keyspace.created")]
    KeyspaceCreated {
        keyspace_id: Uuid,
        name: String,
        prefix: String,
    },
    /// A keyspace's settings changed (`changed` names them).
    #[serde(rename = "keyspace.updated")]
    KeyspaceUpdated {
        keyspace_id: Uuid,
        name: String,
        prefix: String,
        changed: Vec<String>,
    },
    /// A verifier token was issued.
    #[serde(rename = "verifier.issued")]
    VerifierIssued {
        #[serde(flatten)]
        verifier: VerifierRef,
    },
    /// A verifier token was revoked.
    #[serde(rename = "verifier.revoked")]
    VerifierRevoked {
        #[serde(flatten)]
        verifier: VerifierRef,
    },
    /// A leak-reporter token was issued.
    #[serde(rename = "leak_reporter.issued")]
    LeakReporterIssued {
        reporter_id: Uuid,
        name: String,
        start: String,
    },
    /// A leak-reporter token was revoked.
    #[serde(rename = "leak_reporter.revoked")]
    LeakReporterRevoked {
        reporter_id: Uuid,
        name: String,
        start: String,
    },
    /// A user was created.
    #[serde(rename = "user.created")]
    UserCreated {
        #[serde(flatten)]
        user: UserRef,
    },
    /// A user's name or owner policy changed.
    #[serde(rename = "user.updated")]
    UserUpdated {
        #[serde(flatten)]
        user: UserRef,
        changed: Vec<String>,
    },
    /// A user's role changed.
    #[serde(rename = "user.role_changed")]
    UserRoleChanged {
        #[serde(flatten)]
        user: UserRef,
        from: Role,
        to: Role,
    },
    /// A user was disabled (their sessions ended with it).
    #[serde(rename = "user.disabled")]
    UserDisabled {
        #[serde(flatten)]
        user: UserRef,
    },
    /// A disabled user was enabled again.
    #[serde(rename = "user.enabled")]
    UserEnabled {
        #[serde(flatten)]
        user: UserRef,
    },
    /// A key expires within one of the reminder thresholds (sent once per threshold and
    /// expiry; a changed expiry re-arms it).
    #[serde(rename = "key.expiring")]
    KeyExpiring {
        #[serde(flatten)]
        key: KeyRef,
        expires_at: DateTime<Utc>,
        /// The threshold crossed, in seconds before `expires_at` (e.g. 604800: 7 days).
        threshold_seconds: i64,
    },
    /// A key passed its `expires_at` (an old key at the end of its rotation grace too).
    #[serde(rename = "key.expired")]
    KeyExpired {
        #[serde(flatten)]
        key: KeyRef,
        expires_at: DateTime<Utc>,
    },
    /// A rotated key's grace ends within 24 hours and the old key was used during the
    /// grace: some client has not moved to the new key.
    #[serde(rename = "key.grace_ending")]
    KeyGraceEnding {
        #[serde(flatten)]
        key: KeyRef,
        grace_ends_at: DateTime<Utc>,
        last_used_at: DateTime<Utc>,
    },
    /// A key used 80% or 100% of its quota in the current period (once per period each).
    #[serde(rename = "key.quota_threshold")]
    KeyQuotaThreshold {
        #[serde(flatten)]
        key: KeyRef,
        /// 80 or 100.
        percent: u8,
        limit: i64,
        used: i64,
        period: crate::key_limits::QuotaPeriod,
        resets_at: Option<DateTime<Utc>>,
    },
    /// A test event, sent on demand to one endpoint only.
    #[serde(rename = "webhook.test")]
    WebhookTest { webhook_id: Uuid, url: String },
    /// Locksmith switched an endpoint off: it answered 410 Gone, or every attempt failed
    /// for too long. Sent to the installation's other endpoints.
    #[serde(rename = "webhook.disabled")]
    WebhookDisabled {
        webhook_id: Uuid,
        url: String,
        /// The endpoint's owner (`None`: an installation endpoint).
        owner_id: Option<Uuid>,
        reason: String,
    },
    /// The audit trail's newest row, published every hour when it moved: a receiver that
    /// keeps these can tell if rows were later removed from the trail's end.
    #[serde(rename = "audit.head")]
    AuditHead {
        /// The newest row's id.
        last_id: i64,
        /// Its chain hash (hex).
        hash: String,
        /// When it was recorded.
        at: DateTime<Utc>,
    },
}

/// Every event type, as sent in `type`: what a subscription may name.
pub const TYPES: &[&str] = &[
    "key.created",
    "key.updated",
    "key.enabled",
    "key.disabled",
    "key.rotated",
    "key.grace_changed",
    "key.revoked",
    "key.expiring",
    "key.expired",
    "key.grace_ending",
    "key.quota_threshold",
    "key.leaked",
    "key.anomaly",
    "key.finding_acknowledged",
    "keyspace.created",
    "keyspace.updated",
    "verifier.issued",
    "verifier.revoked",
    "leak_reporter.issued",
    "leak_reporter.revoked",
    "user.created",
    "user.updated",
    "user.role_changed",
    "user.disabled",
    "user.enabled",
    "webhook.test",
    "webhook.disabled",
    "audit.head",
];

/// Whether events of type `kind` are about one key (the only ones an owner's endpoint
/// receives, and only for their own keys).
pub fn is_key_type(kind: &str) -> bool {
    kind.starts_with("key.")
}

impl Event {
    /// The event's `type`, e.g. `key.revoked`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::KeyCreated { .. } => "key.created",
            Event::KeyUpdated { .. } => "key.updated",
            Event::KeyEnabled { .. } => "key.enabled",
            Event::KeyDisabled { .. } => "key.disabled",
            Event::KeyRotated { .. } => "key.rotated",
            Event::KeyGraceChanged { .. } => "key.grace_changed",
            Event::KeyRevoked { .. } => "key.revoked",
            Event::KeyspaceCreated { .. } => "keyspace.created",
            Event::KeyspaceUpdated { .. } => "keyspace.updated",
            Event::VerifierIssued { .. } => "verifier.issued",
            Event::VerifierRevoked { .. } => "verifier.revoked",
            Event::UserCreated { .. } => "user.created",
            Event::UserUpdated { .. } => "user.updated",
            Event::UserRoleChanged { .. } => "user.role_changed",
            Event::UserDisabled { .. } => "user.disabled",
            Event::UserEnabled { .. } => "user.enabled",
            Event::KeyExpiring { .. } => "key.expiring",
            Event::KeyExpired { .. } => "key.expired",
            Event::KeyGraceEnding { .. } => "key.grace_ending",
            Event::KeyQuotaThreshold { .. } => "key.quota_threshold",
            Event::KeyLeaked { .. } => "key.leaked",
            Event::KeyAnomaly { .. } => "key.anomaly",
            Event::KeyFindingAcknowledged { .. } => "key.finding_acknowledged",
            Event::LeakReporterIssued { .. } => "leak_reporter.issued",
            Event::LeakReporterRevoked { .. } => "leak_reporter.revoked",
            Event::WebhookTest { .. } => "webhook.test",
            Event::WebhookDisabled { .. } => "webhook.disabled",
            Event::AuditHead { .. } => "audit.head",
        }
    }

    /// The key the event is about, for the columns subscribers filter by.
    pub fn key(&self) -> Option<&KeyRef> {
        match self {
            Event::KeyCreated { key, .. }
            | Event::KeyUpdated { key, .. }
            | Event::KeyEnabled { key }
            | Event::KeyDisabled { key }
            | Event::KeyRotated { key, .. }
            | Event::KeyGraceChanged { key, .. }
            | Event::KeyRevoked { key, .. }
            | Event::KeyExpiring { key, .. }
            | Event::KeyExpired { key, .. }
            | Event::KeyGraceEnding { key, .. }
            | Event::KeyQuotaThreshold { key, .. }
            | Event::KeyLeaked { key, .. }
            | Event::KeyAnomaly { key, .. }
            | Event::KeyFindingAcknowledged { key, .. } => Some(key),
            _ => None,
        }
    }

    /// The webhook endpoint the event is about (`webhook.*`).
    pub fn webhook_id(&self) -> Option<Uuid> {
        match self {
            Event::WebhookTest { webhook_id, .. } | Event::WebhookDisabled { webhook_id, .. } => {
                Some(*webhook_id)
            }
            _ => None,
        }
    }

    /// The keyspace the event belongs to, if any.
    pub fn keyspace_id(&self) -> Option<Uuid> {
        match self {
            Event::KeyspaceCreated { keyspace_id, .. }
            | Event::KeyspaceUpdated { keyspace_id, .. } => Some(*keyspace_id),
            Event::VerifierIssued { verifier } | Event::VerifierRevoked { verifier } => {
                Some(verifier.keyspace_id)
            }
            other => other.key().map(|k| k.keyspace_id),
        }
    }

    /// The events of a key created, possibly by a rotation.
    pub fn key_created(view: &KeyView) -> Self {
        Event::KeyCreated {
            key: view.into(),
            expires_at: view.expires_at,
            rotated_from: view.rotated_from,
        }
    }

    /// The events of a key changed from `before` to `after`: `key.enabled` or
    /// `key.disabled` for the switch, `key.updated` naming every other field that changed.
    /// None when nothing did.
    pub fn key_changed(before: &KeyView, after: &KeyView) -> Vec<Self> {
        let key = KeyRef::from(after);
        let mut events = Vec::new();
        match (before.enabled, after.enabled) {
            (true, false) => events.push(Event::KeyDisabled { key: key.clone() }),
            (false, true) => events.push(Event::KeyEnabled { key: key.clone() }),
            _ => {}
        }
        let changed = differing(&[
            ("name", before.name != after.name),
            ("scopes", before.scopes != after.scopes),
            ("expires_at", before.own_expires_at != after.own_expires_at),
            ("ip_allowlist", before.ip_allowlist != after.ip_allowlist),
            (
                "quota",
                before.quota.as_ref().map(|q| (q.limit, q.period))
                    != after.quota.as_ref().map(|q| (q.limit, q.period)),
            ),
            ("rate_limit", before.rate_limit != after.rate_limit),
            ("meta", before.meta != after.meta),
        ]);
        if !changed.is_empty() {
            events.push(Event::KeyUpdated { key, changed });
        }
        events
    }

    /// The events of a user changed from `before` to `after`.
    pub fn user_changed(before: &User, after: &User) -> Vec<Self> {
        let user = UserRef::from(after);
        let mut events = Vec::new();
        if before.role != after.role {
            events.push(Event::UserRoleChanged {
                user: user.clone(),
                from: before.role,
                to: after.role,
            });
        }
        match (before.disabled, after.disabled) {
            (false, true) => events.push(Event::UserDisabled { user: user.clone() }),
            (true, false) => events.push(Event::UserEnabled { user: user.clone() }),
            _ => {}
        }
        let changed = differing(&[
            ("display_name", before.display_name != after.display_name),
            ("max_keys", before.max_keys != after.max_keys),
            (
                "allowed_scopes",
                before.allowed_scopes != after.allowed_scopes,
            ),
            (
                "may_change_limits",
                before.may_change_limits != after.may_change_limits,
            ),
            ("max_quota", before.max_quota != after.max_quota),
            (
                "max_rate_limit",
                before.max_rate_limit != after.max_rate_limit,
            ),
            (
                "max_key_lifetime_seconds",
                before.max_key_lifetime_seconds != after.max_key_lifetime_seconds,
            ),
        ]);
        if !changed.is_empty() {
            events.push(Event::UserUpdated { user, changed });
        }
        events
    }
}

/// The names of the fields that differ.
fn differing(fields: &[(&str, bool)]) -> Vec<String> {
    fields
        .iter()
        .filter(|(_, differs)| *differs)
        .map(|(name, _)| (*name).to_owned())
        .collect()
}

impl From<&Keyspace> for Event {
    fn from(k: &Keyspace) -> Self {
        Event::KeyspaceCreated {
            keyspace_id: k.id,
            name: k.name.clone(),
            prefix: k.prefix.clone(),
        }
    }
}

/// An event as committed, read back from the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordedEvent {
    /// Strictly increasing in commit order; read on from the last one seen.
    pub position: i64,
    /// Unique and stable: a consumer that sees it twice has seen one event.
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// Who made the change; `None` for the system.
    pub actor_id: Option<Uuid>,
    /// The audit row that records the change; `None` for what no change caused
    /// (`key.expiring`, `key.expired`, ...).
    pub audit_id: Option<i64>,
    #[serde(flatten)]
    pub event: Event,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_serialises_as_its_type_and_flat_data() {
        let key = KeyRef {
            key_id: Uuid::nil(),
            keyspace_id: Uuid::nil(),
            owner_id: Uuid::nil(),
            name: "ci".into(),
            start: "ls_test_ab".into(),
        };
        let event = Event::KeyRevoked {
            key,
            reason: Some("leaked".into()),
        };
        let json = serde_json::to_value(&event).expect("json");
        assert_eq!(json["type"], "key.revoked");
        assert_eq!(json["data"]["key_id"], Uuid::nil().to_string());
        assert_eq!(json["data"]["start"], "ls_test_ab");
        assert_eq!(json["data"]["reason"], "leaked");
        assert_eq!(event.kind(), "key.revoked");
        let back: Event = serde_json::from_value(json).expect("back");
        assert_eq!(back, event);
    }

    #[test]
    fn every_type_is_in_the_catalogue_once() {
        let mut seen = std::collections::HashSet::new();
        for kind in TYPES {
            assert!(seen.insert(kind), "{kind} twice");
        }
        let samples = [
            Event::WebhookTest {
                webhook_id: Uuid::nil(),
                url: "https://example.com".into(),
            },
            Event::KeyspaceCreated {
                keyspace_id: Uuid::nil(),
                name: "n".into(),
                prefix: "p".into(),
            },
        ];
        for event in samples {
            let json = serde_json::to_value(&event).expect("json");
            assert_eq!(json["type"], event.kind());
            assert!(TYPES.contains(&event.kind()));
        }
    }
}
