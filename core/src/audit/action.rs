//! What an audit row records: one closed list shared by the writers in `core`, the
//! filters of the REST API and the portal's action picker.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! actions {
    ($($variant:ident => $name:literal on $target:literal,)*) => {
        /// An audited action, `<target>.<verb>`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Action {
            $(
                #[doc = concat!("`", $name, "`")]
                #[serde(rename = $name)]
                $variant,
            )*
        }

        impl Action {
            /// Every action, in the order the portal offers them.
            pub const ALL: &[Action] = &[$(Action::$variant,)*];

            /// The name stored in the trail, e.g. `key.create`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }

            /// The kind of object the action is about (the row's `target_type`).
            pub fn target_type(self) -> &'static str {
                match self {
                    $(Action::$variant => $target,)*
                }
            }

            /// The action named `name`, if there is one.
            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(Action::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

actions! {
    KeyCreate => "key.create" on "key",
    KeyUpdate => "key.update" on "key",
    KeyRevoke => "key.revoke" on "key",
    KeyRotate => "key.rotate" on "key",
    KeyGraceEnd => "key.grace_end" on "key",
    KeyGraceExtend => "key.grace_extend" on "key",
    KeyBulkCreate => "key.bulk_create" on "keyspace",
    KeyBulkRevoke => "key.bulk_revoke" on "key_batch",
    KeyBulkUpdate => "key.bulk_update" on "key_batch",
    KeyPurge => "key.purge" on "key_batch",
    KeyLookup => "key.lookup" on "key",
    KeyLeakReport => "key.leak_report" on "key",
    KeyAnomaly => "key.anomaly" on "key",
    FindingAcknowledge => "finding.acknowledge" on "finding",
    LeakReporterCreate => "leak_reporter.create" on "leak_reporter",
    LeakReporterRevoke => "leak_reporter.revoke" on "leak_reporter",
    KeyspaceCreate => "keyspace.create" on "keyspace",
    KeyspaceUpdate => "keyspace.update" on "keyspace",
    VerifierCreate => "verifier.create" on "verifier",
    VerifierRevoke => "verifier.revoke" on "verifier",
    UserCreate => "user.create" on "user",
    UserUpdate => "user.update" on "user",
    UserLogin => "user.login" on "user",
    UserLogout => "user.logout" on "user",
    UserLock => "user.lock" on "user",
    UserSessionsEnd => "user.sessions_end" on "user",
    AddressLock => "address.lock" on "address",
    TokenReuse => "token.reuse" on "token_family",
    WebhookCreate => "webhook.create" on "webhook",
    WebhookUpdate => "webhook.update" on "webhook",
    WebhookDelete => "webhook.delete" on "webhook",
    WebhookRotateSecret => "webhook.rotate_secret" on "webhook",
    WebhookTest => "webhook.test" on "webhook",
    WebhookRetry => "webhook.retry" on "webhook",
    WebhookReplay => "webhook.replay" on "webhook",
    WebhookDisable => "webhook.disable" on "webhook",
}

impl Action {
    /// Sign-ins and sign-outs, which the trail's "hide sign-ins" filter leaves out.
    pub const SIGN_INS: [Action; 2] = [Action::UserLogin, Action::UserLogout];
}

impl Action {
    /// The action a filter names, refusing (naming `action`) text no entry can match:
    /// longer than 200 characters, holding control characters, or no action at all.
    /// One rule for the REST API, the portal and its CSV export.
    pub fn from_filter(raw: &str) -> crate::error::Result<Self> {
        if raw.chars().count() > 200 || raw.chars().any(char::is_control) {
            return Err(crate::Error::invalid(
                "action",
                "must be at most 200 characters, without control characters",
            ));
        }
        Self::parse(raw).ok_or_else(|| {
            crate::Error::invalid("action", "is not an action the audit trail records")
        })
    }
}

/// The schema lists the names as stored (utoipa's derive would not read renames made
/// inside the macro).
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Action {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("An audited action, `<target>.<verb>`."))
            .enum_values(Some(Action::ALL.iter().map(|a| a.as_str())))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Action {}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_parses_back_from_its_name_and_serialises_as_it() {
        for &action in Action::ALL {
            assert_eq!(Action::parse(action.as_str()), Some(action));
            assert_eq!(
                serde_json::to_value(action).expect("json"),
                serde_json::Value::String(action.as_str().to_owned())
            );
            let (target, _) = action.as_str().split_once('.').expect("dotted");
            assert!(action.target_type().starts_with(target), "{action}");
        }
        assert_eq!(Action::parse("key.destroy"), None);
    }
}
