//! The words of a notification: a subject and a plain-text body per event, naming the
//! key by its name and visible start (never its secret), with a link to the portal.

use chrono::{DateTime, Utc};

use crate::events::{Event, KeyRef};
use crate::findings::{FindingAction, FindingKind};

/// A rendered notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub body: String,
}

fn at(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// "7 days", "1 day", "5 hours".
fn span(seconds: i64) -> String {
    match seconds {
        s if s >= 86_400 && s % 86_400 == 0 => plural(s / 86_400, "day"),
        s if s >= 3600 => plural(s / 3600, "hour"),
        s => plural((s / 60).max(1), "minute"),
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

fn link(portal: Option<&str>, key: &KeyRef) -> String {
    portal.map_or_else(String::new, |base| {
        format!(
            "\n\nOpen it in Locksmith: {}/keys/{}",
            base.trim_end_matches('/'),
            key.key_id
        )
    })
}

/// What Locksmith did, or what to do when it did nothing.
fn contained(action: FindingAction, advice: &str) -> String {
    match action {
        FindingAction::None => advice.to_owned(),
        FindingAction::Disabled => "Locksmith disabled the key, as its keyspace's policy says: it is refused (DISABLED) until someone enables it. Rotate it before you do.".to_owned(),
        FindingAction::Revoked => "Locksmith revoked the key, as its keyspace's policy says: it is refused (REVOKED) from now on. Create or rotate to a new key for your clients.".to_owned(),
    }
}

/// A finding's kind in words.
fn describe(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::Leaked => "its secret was reported as published",
        FindingKind::NewNetwork => "it was used from a network it had never been used from",
        FindingKind::ManyNetworks => "it was used from many different networks within an hour",
        FindingKind::VolumeSpike => "its traffic was far above its usual level",
        FindingKind::RefusalSurge => "many of its verifications were refused",
        FindingKind::LateRotationUse => {
            "the old key of a rotation is still used late in its grace period"
        }
    }
}

/// The message of `event` for a person (`None`: an event nobody is emailed about).
pub fn render(event: &Event, greeting_name: Option<&str>, portal: Option<&str>) -> Option<Message> {
    let hello = greeting_name.map_or_else(|| "Hello,".to_owned(), |n| format!("Hello {n},"));
    let named = |key: &KeyRef| format!("“{}” ({}…)", key.name, key.start);
    let (subject, text) = match event {
        Event::KeyExpiring {
            key,
            expires_at,
            threshold_seconds,
        } => (
            format!(
                "Your API key {} expires in {}",
                named(key),
                span(*threshold_seconds)
            ),
            format!(
                "The API key {} expires at {}. Services that still use it will then be refused (EXPIRED).\n\nRotate it before then: the old key keeps working during the rotation's grace period while clients move to the new one.{}",
                named(key),
                at(expires_at),
                link(portal, key)
            ),
        ),
        Event::KeyExpired { key, expires_at } => (
            format!("Your API key {} has expired", named(key)),
            format!(
                "The API key {} expired at {}; it is refused from now on (EXPIRED).{}",
                named(key),
                at(expires_at),
                link(portal, key)
            ),
        ),
        Event::KeyGraceEnding {
            key,
            grace_ends_at,
            last_used_at,
        } => (
            format!(
                "The old key {} is still in use and stops at {}",
                named(key),
                at(grace_ends_at)
            ),
            format!(
                "The key {} was rotated, and its grace period ends at {}. It was last used at {}: some client has not moved to the new key yet, and will be refused once the grace ends.\n\nFind the client, or extend the grace in the portal.{}",
                named(key),
                at(grace_ends_at),
                at(last_used_at),
                link(portal, key)
            ),
        ),
        Event::KeyRevoked { key, reason } => (
            format!("Your API key {} was revoked", named(key)),
            format!(
                "The API key {} was revoked{}. It is refused from now on (REVOKED), on every instance.{}",
                named(key),
                reason
                    .as_deref()
                    .map_or_else(String::new, |r| format!(" (reason: {r})")),
                link(portal, key)
            ),
        ),
        Event::KeyQuotaThreshold {
            key,
            percent,
            limit,
            used,
            resets_at,
            ..
        } => (
            format!("Your API key {} used {percent}% of its quota", named(key)),
            format!(
                "The API key {} has used {used} of its {limit} credits in this period ({percent}%).{} Past the quota it is refused (QUOTA_EXCEEDED).{}",
                named(key),
                resets_at.map_or_else(
                    || " The quota never resets.".to_owned(),
                    |r| format!(" The quota resets at {}.", at(&r))
                ),
                link(portal, key)
            ),
        ),
        Event::KeyLeaked {
            key,
            url,
            reported_by,
            action,
            ..
        } => (
            format!("Your API key {} was found published", named(key)),
            format!(
                "The secret of the API key {} was reported as published{} (reported by {reported_by}). Anyone who read it there can use it.\n\n{}{}",
                named(key),
                url.as_deref()
                    .map_or_else(String::new, |u| format!(" at {u}")),
                contained(
                    *action,
                    "Rotate it now, move your clients to the new key, and remove the secret from where it was published."
                ),
                link(portal, key)
            ),
        ),
        Event::KeyAnomaly {
            key,
            kind,
            severity,
            window_start,
            action,
            ..
        } => (
            format!("Unusual use of your API key {}", named(key)),
            format!(
                "Locksmith noticed unusual use of the API key {} since {}: {} ({severity} severity).\n\n{}{}",
                named(key),
                at(window_start),
                describe(*kind),
                contained(
                    *action,
                    "If this is not you, rotate or revoke the key; if it is, acknowledge the finding on the key's page."
                ),
                link(portal, key)
            ),
        ),
        Event::WebhookDisabled { url, reason, .. } => (
            format!("Webhook endpoint {url} was switched off"),
            format!(
                "Locksmith stopped sending events to {url}: {reason}.\n\nDeliveries that were pending wait; switch the endpoint on again on the Webhooks page once it answers, and replay what it missed."
            ),
        ),
        _ => return None,
    };
    Some(Message {
        subject,
        body: format!("{hello}\n\n{text}\n\n— Locksmith\n"),
    })
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn key() -> KeyRef {
        KeyRef {
            key_id: Uuid::nil(),
            keyspace_id: Uuid::nil(),
            owner_id: Uuid::nil(),
            name: "billing".into(),
            start: "pay_AbCd".into(),
        }
    }

    #[test]
    fn messages_name_the_key_and_link_to_it_and_not_every_event_is_one() {
        let expiring = Event::KeyExpiring {
            key: key(),
            expires_at: DateTime::<Utc>::UNIX_EPOCH,
            threshold_seconds: 7 * 86_400,
        };
        let m = render(&expiring, Some("Ada"), Some("https://keys.example.com/")).expect("message");
        assert_eq!(
            m.subject,
            "Your API key “billing” (pay_AbCd…) expires in 7 days"
        );
        assert!(m.body.starts_with("Hello Ada,"));
        assert!(
            m.body
                .contains("https://keys.example.com/keys/00000000-0000-0000-0000-000000000000")
        );
        let revoked = Event::KeyRevoked {
            key: key(),
            reason: Some("leaked".into()),
        };
        let m = render(&revoked, None, None).expect("message");
        assert!(m.body.contains("(reason: leaked)") && !m.body.contains("Open it"));
        assert_eq!(
            render(
                &Event::KeyCreated {
                    key: key(),
                    expires_at: None,
                    rotated_from: None
                },
                None,
                None
            ),
            None
        );
        assert_eq!(span(86_400), "1 day");
        assert_eq!(span(7200), "2 hours");
    }
}
