//! What a finding is: its kind, severity, window, evidence and what was done about it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

macro_rules! named {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &[$name] = &[$($name::$variant,)*];

            /// The name stored and sent.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// The value named `text`.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                Self::parse(text).ok_or_else(|| format!("not a {}: {text}", stringify!($name)).into())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named! {
    /// What was found.
    FindingKind {
        /// A scanner or a person reported the key's secret as published somewhere.
        Leaked => "leaked",
        /// The key was used from a network it had never been used from, although it has
        /// an established set of networks.
        NewNetwork => "new_network",
        /// The key was used from many networks within an hour: shared, or stolen.
        ManyNetworks => "many_networks",
        /// The key's traffic in an hour was far above its own baseline.
        VolumeSpike => "volume_spike",
        /// Many of the key's verifications were refused (`FORBIDDEN_IP`,
        /// `INSUFFICIENT_SCOPES`, `RATE_LIMITED`): someone probing with it.
        RefusalSurge => "refusal_surge",
        /// The old key of a rotation was still used late in its grace period.
        LateRotationUse => "late_rotation_use",
    }
}

named! {
    /// How urgent a finding is.
    Severity {
        /// Worth a look.
        Low => "low",
        /// Look soon.
        Medium => "medium",
        /// Act now; a keyspace's policy may disable the key.
        High => "high",
    }
}

named! {
    /// What Locksmith did to the key when the finding was made (the keyspace's policy).
    FindingAction {
        /// Nothing: people were told.
        None => "none",
        /// The key was disabled.
        Disabled => "disabled",
        /// The key was revoked.
        Revoked => "revoked",
    }
}

named! {
    /// What a keyspace does to a key reported as leaked.
    LeakAction {
        /// Tell (event, webhooks, email); leave the key as it is.
        Notify => "notify",
        /// Disable the key (it can be enabled again).
        Disable => "disable",
        /// Revoke the key for good.
        Revoke => "revoke",
    }
}

named! {
    /// What a keyspace does to a key with a high-severity unusual-use finding.
    AnomalyAction {
        /// Tell; leave the key as it is.
        Notify => "notify",
        /// Disable the key.
        Disable => "disable",
    }
}

/// A finding on one key, as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    pub id: Uuid,
    pub key_id: Uuid,
    pub keyspace_id: Uuid,
    pub owner_id: Uuid,
    /// The key's name.
    pub key_name: String,
    /// The key's visible beginning.
    pub key_start: String,
    pub kind: FindingKind,
    pub severity: Severity,
    /// The time the evidence covers.
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// Counts, networks and thresholds behind the finding (by kind); never a secret.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub evidence: Value,
    /// What the keyspace's policy did to the key.
    pub action: FindingAction,
    pub detected_at: DateTime<Utc>,
    /// `null` while the finding needs attention.
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<Uuid>,
}

/// A finding about to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFinding {
    pub key_id: Uuid,
    pub kind: FindingKind,
    pub severity: Severity,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub evidence: Value,
    /// What makes two detections the same finding (recorded once).
    pub dedupe: String,
}

/// Which findings to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingFilter {
    /// `Some(true)`: only those needing attention; `Some(false)`: only acknowledged ones.
    pub open: Option<bool>,
    pub kind: Option<FindingKind>,
    pub key_id: Option<Uuid>,
}
