//! The key's domain types: validated fields, the derived status, quota periods, and the
//! view the API returns (which never holds the secret or its digest).

use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{Error, Result};
pub use crate::key_limits::{QuotaPeriod, QuotaSpec, RateLimit};

/// A key's name: 1 to 200 characters, stored verbatim (any script, any punctuation),
/// but not blank and without control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl KeyName {
    /// Parses a name; `field` names it in errors.
    pub fn parse(field: &str, raw: &str) -> Result<Self> {
        if raw.trim().is_empty() || raw.chars().count() > 200 {
            return Err(Error::invalid(
                field,
                "must be 1 to 200 characters, not blank",
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(Error::invalid(field, "must not contain control characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The addresses a key may be used from: single addresses and CIDR networks, IPv4 and
/// IPv6. Empty means any address. Entries are kept canonical (`10.0.0.0/8`,
/// `2001:db8::/32`, `203.0.113.7`), without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAllowlist(Vec<IpNet>);

/// Most entries in one allowlist.
pub const MAX_ALLOWLIST: usize = 100;

impl IpAllowlist {
    /// Parses the list; errors name `ip_allowlist` and the offending entry.
    pub fn parse(raw: &[String]) -> Result<Self> {
        if raw.len() > MAX_ALLOWLIST {
            return Err(Error::invalid(
                "ip_allowlist",
                format!("at most {MAX_ALLOWLIST} entries"),
            ));
        }
        let mut nets: Vec<IpNet> = Vec::with_capacity(raw.len());
        for entry in raw {
            let net = parse_net(entry)?;
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        Ok(Self(nets))
    }

    /// Reads back what [`Self::to_strings`] stored.
    pub fn from_stored(stored: &[String]) -> Self {
        Self(stored.iter().filter_map(|s| parse_net(s).ok()).collect())
    }

    /// The canonical text of each entry.
    pub fn to_strings(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|net| {
                if net.prefix_len() == net.max_prefix_len() {
                    net.addr().to_string()
                } else {
                    net.to_string()
                }
            })
            .collect()
    }

    /// Whether the list is empty (any address allowed).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An address the list allows, for sample calls: the first entry's address, or the
    /// first host of its network (`10.0.0.0/8` gives `10.0.0.1`); `None` when empty.
    pub fn sample(&self) -> Option<IpAddr> {
        let net = self.0.first()?;
        if net.prefix_len() == net.max_prefix_len() {
            return Some(net.addr());
        }
        net.hosts().next().or(Some(net.addr()))
    }

    /// Whether `ip` is allowed. An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) counts as
    /// its IPv4 address, as dual-stack sockets report IPv4 clients that way.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        self.0.iter().any(|net| net.contains(&ip))
    }
}

fn parse_net(entry: &str) -> Result<IpNet> {
    let bad = |why: &str| {
        Error::invalid(
            "ip_allowlist",
            format!("`{}` {why}", entry.chars().take(60).collect::<String>()),
        )
    };
    if entry.contains('/') {
        let net = IpNet::from_str(entry)
            .map_err(|_| bad("is not an IP address or CIDR network (e.g. 10.0.0.0/8)"))?;
        if net.trunc() != net {
            return Err(bad(&format!(
                "has host bits set; the network is {}",
                net.trunc()
            )));
        }
        Ok(net)
    } else {
        let ip = IpAddr::from_str(entry)
            .map_err(|_| bad("is not an IP address or CIDR network (e.g. 10.0.0.0/8)"))?;
        Ok(IpNet::from(ip))
    }
}

/// Most bytes of a key's `meta`, serialised.
pub const MAX_META_BYTES: usize = 4096;

/// Free-form metadata returned on verification: a JSON object of at most 4 KiB.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta(Value);

impl Meta {
    /// Parses metadata; `field` names it in errors.
    pub fn parse(value: Value) -> Result<Self> {
        if !value.is_object() {
            return Err(Error::invalid("meta", "must be a JSON object"));
        }
        if contains_nul(&value) {
            // PostgreSQL's jsonb cannot store U+0000.
            return Err(Error::invalid(
                "meta",
                "must not contain the character U+0000",
            ));
        }
        if has_extreme_number(&value) {
            // PostgreSQL writes numbers out in full (1e300 becomes 301 digits), so they
            // would make the stored object far larger than what was measured here.
            return Err(Error::invalid(
                "meta",
                "numbers must be integers, or decimals between 1e-6 and 1e15 in magnitude",
            ));
        }
        let size = serde_json::to_vec(&value)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_META_BYTES {
            return Err(Error::invalid(
                "meta",
                format!("is {size} bytes; at most {MAX_META_BYTES} are allowed"),
            ));
        }
        Ok(Self(value))
    }

    /// The empty object.
    pub fn empty() -> Self {
        Self(Value::Object(serde_json::Map::new()))
    }

    /// The JSON value.
    pub fn into_value(self) -> Value {
        self.0
    }
}

fn has_extreme_number(value: &Value) -> bool {
    match value {
        Value::Number(n) if n.is_f64() => n.as_f64().is_some_and(|x| {
            let x = x.abs();
            x != 0.0 && !(1e-6..1e15).contains(&x)
        }),
        Value::Array(items) => items.iter().any(has_extreme_number),
        Value::Object(map) => map.values().any(has_extreme_number),
        _ => false,
    }
}

fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// A quota as shown: the spec plus what is spent in the current period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuotaView {
    /// Credits per period.
    pub limit: i64,
    /// The period.
    pub period: QuotaPeriod,
    /// Spent in the current period.
    pub used: i64,
    /// Left in the current period.
    pub remaining: i64,
    /// When the period ends; `null` for `total`.
    pub resets_at: Option<DateTime<Utc>>,
}

/// A key's status, derived from its fields and the time; never stored. The order of the
/// checks matches verification's: revoked, then disabled, then expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum KeyStatus {
    /// Usable.
    Active,
    /// Switched off; can be switched on again.
    Disabled,
    /// Permanently unusable.
    Revoked,
    /// Past its `expires_at` (including a rotated key past its grace).
    Expired,
}

impl KeyStatus {
    /// The status at `now`. `key_list.sql` derives it the same way (a test holds them
    /// together).
    pub fn derive(
        revoked_at: Option<DateTime<Utc>>,
        enabled: bool,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        if revoked_at.is_some() {
            Self::Revoked
        } else if !enabled {
            Self::Disabled
        } else if expires_at.is_some_and(|at| at <= now) {
            Self::Expired
        } else {
            Self::Active
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

/// A key as the API shows it. Holds neither the secret nor its digest, so it is also what
/// audit rows record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyView {
    /// The key's id.
    pub id: Uuid,
    /// The keyspace it belongs to.
    pub keyspace_id: Uuid,
    /// The user who owns it.
    pub owner_id: Uuid,
    /// A name for people.
    pub name: String,
    /// `<prefix>_` plus the first 4 characters of the body.
    pub start: String,
    /// Derived from the fields below and the time.
    pub status: KeyStatus,
    /// Whether it is switched on.
    pub enabled: bool,
    /// What it may do.
    pub scopes: Vec<String>,
    /// Addresses it may be used from; empty means any.
    pub ip_allowlist: Vec<String>,
    /// Free-form metadata (a JSON object).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub meta: Value,
    /// When it stops working: its own expiry or, for the old key of a rotation, the end
    /// of the grace period if that is earlier.
    pub expires_at: Option<DateTime<Utc>>,
    /// The key's own expiry, which a rotation's grace period does not overwrite: equal to
    /// `expires_at` except during (and after) a grace period that ends first.
    #[serde(default)]
    pub own_expires_at: Option<DateTime<Utc>>,
    /// For the old key of a rotation: when its grace period ends (`null` otherwise).
    #[serde(default)]
    pub grace_ends_at: Option<DateTime<Utc>>,
    /// Settings of this live key outside its owner's current policy (`scopes`, `quota`,
    /// `rate_limit`, `expires_at`): an admin set them, or the policy changed since. The key
    /// keeps working; the list flags it.
    #[serde(default)]
    pub outside_policy: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: Option<Uuid>,
    /// When it was last verified successfully.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
    /// The key this one replaced.
    pub rotated_from: Option<Uuid>,
    /// The key that replaced this one.
    pub rotated_to: Option<Uuid>,
    /// The quota and what is spent of it.
    pub quota: Option<QuotaView>,
    /// The rate limit.
    pub rate_limit: Option<RateLimit>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_address_is_one_the_list_allows() {
        let list = |e: &[&str]| {
            IpAllowlist::parse(&e.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .expect("list")
        };
        for entries in [
            &["203.0.113.7"][..],
            &["10.0.0.0/8", "192.0.2.1"],
            &["2001:db8::/32"],
            &["198.51.100.0/31"],
        ] {
            let l = list(entries);
            let ip = l.sample().expect("a sample");
            assert!(l.allows(ip), "{entries:?}: {ip}");
        }
        assert_eq!(
            list(&["10.0.0.0/8"]).sample().map(|i| i.to_string()),
            Some("10.0.0.1".into())
        );
        assert_eq!(IpAllowlist::default().sample(), None);
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn allowlists_are_canonical_and_match_v4_v6_and_mapped_addresses() {
        let list = IpAllowlist::parse(&[
            "10.0.0.0/8".into(),
            "2001:db8::/32".into(),
            "203.0.113.7".into(),
            "203.0.113.7/32".into(),
        ])
        .expect("valid");
        assert_eq!(
            list.to_strings(),
            ["10.0.0.0/8", "2001:db8::/32", "203.0.113.7"]
        );
        for ok in [
            "10.1.2.3",
            "2001:db8:1::9",
            "203.0.113.7",
            "::ffff:10.9.9.9",
        ] {
            assert!(list.allows(ok.parse().expect("ip")), "{ok}");
        }
        for no in ["11.0.0.1", "2001:db9::1", "203.0.113.8", "::1"] {
            assert!(!list.allows(no.parse().expect("ip")), "{no}");
        }
        assert_eq!(IpAllowlist::from_stored(&list.to_strings()), list);
    }

    #[test]
    fn allowlist_errors_name_the_field_and_the_entry() {
        for (bad, says) in [
            ("10.1.2.3/8", "host bits set; the network is 10.0.0.0/8"),
            ("300.1.1.1", "is not an IP address"),
            ("10.0.0.0/33", "is not an IP address"),
            ("example.com", "is not an IP address"),
            ("", "is not an IP address"),
        ] {
            let err = IpAllowlist::parse(&[bad.into()])
                .expect_err(bad)
                .to_string();
            assert!(err.starts_with("ip_allowlist:"), "{err}");
            assert!(err.contains(says), "{err}");
        }
        let many: Vec<String> = (0..=MAX_ALLOWLIST)
            .map(|i| format!("10.0.0.{}", i % 250))
            .collect();
        assert!(IpAllowlist::parse(&many).is_err());
    }

    #[test]
    fn status_order_is_revoked_disabled_expired_active() {
        let now = at("2026-01-01T00:00:00Z");
        let past = Some(at("2025-12-31T23:59:59Z"));
        let future = Some(at("2026-01-01T00:00:01Z"));
        assert_eq!(
            KeyStatus::derive(Some(now), false, past, now),
            KeyStatus::Revoked
        );
        assert_eq!(
            KeyStatus::derive(None, false, past, now),
            KeyStatus::Disabled
        );
        assert_eq!(KeyStatus::derive(None, true, past, now), KeyStatus::Expired);
        assert_eq!(
            KeyStatus::derive(None, true, Some(now), now),
            KeyStatus::Expired
        );
        assert_eq!(
            KeyStatus::derive(None, true, future, now),
            KeyStatus::Active
        );
        assert_eq!(KeyStatus::derive(None, true, None, now), KeyStatus::Active);
    }

    #[test]
    fn quota_periods_start_and_reset_at_utc_boundaries() {
        let now = at("2026-12-31T23:59:59.999Z");
        assert_eq!(QuotaPeriod::Day.start(now), at("2026-12-31T00:00:00Z"));
        assert_eq!(
            QuotaPeriod::Day.resets_at(now),
            Some(at("2027-01-01T00:00:00Z"))
        );
        assert_eq!(QuotaPeriod::Month.start(now), at("2026-12-01T00:00:00Z"));
        assert_eq!(
            QuotaPeriod::Month.resets_at(now),
            Some(at("2027-01-01T00:00:00Z"))
        );
        let feb = at("2028-02-29T12:00:00Z");
        assert_eq!(
            QuotaPeriod::Month.resets_at(feb),
            Some(at("2028-03-01T00:00:00Z"))
        );
        assert_eq!(QuotaPeriod::Total.start(now), at("1970-01-01T00:00:00Z"));
        assert_eq!(QuotaPeriod::Total.resets_at(now), None);
    }

    #[test]
    fn names_are_kept_verbatim_but_not_blank_or_controlled() {
        for ok in ["x", "Robert'); DROP TABLE keys;--", "ключ 🔑", " padded "] {
            assert_eq!(KeyName::parse("name", ok).expect(ok).as_str(), ok);
        }
        for bad in ["", "   ", "a\u{0}b", "line\nbreak", &"x".repeat(201)] {
            let err = KeyName::parse("name", bad).expect_err(bad).to_string();
            assert!(err.starts_with("name:"), "{err}");
        }
    }

    #[test]
    fn meta_must_be_a_small_object() {
        assert!(Meta::parse(serde_json::json!({"plan": "pro"})).is_ok());
        assert!(Meta::parse(serde_json::json!([1])).is_err());
        assert!(Meta::parse(serde_json::json!("x")).is_err());
        assert!(Meta::parse(serde_json::json!({ "a": ["\u{0}"] })).is_err());
        assert!(Meta::parse(serde_json::json!({ "\u{0}": 1 })).is_err());
        for extreme in [1e300, -1e300, 1e-300, 1e15] {
            assert!(
                Meta::parse(serde_json::json!({ "n": [extreme] })).is_err(),
                "{extreme}"
            );
        }
        let fine = serde_json::json!({ "n": [1.5, -2e-3, 0.0, u64::MAX, i64::MIN] });
        assert!(Meta::parse(fine).is_ok());
        let big = serde_json::json!({ "x": "y".repeat(MAX_META_BYTES) });
        let err = Meta::parse(big).expect_err("too big").to_string();
        assert!(err.starts_with("meta:"), "{err}");
    }

    #[test]
    fn limits_are_validated_with_field_names() {
        assert!(
            QuotaSpec {
                limit: 0,
                period: QuotaPeriod::Day
            }
            .validate()
            .is_err()
        );
        assert!(
            RateLimit {
                limit: 10,
                window_seconds: 0
            }
            .validate()
            .expect_err("window")
            .to_string()
            .starts_with("rate_limit.window_seconds:")
        );
    }

    proptest::proptest! {
        /// Any entries are an allowlist or a refusal naming `ip_allowlist`, never a panic.
        #[test]
        fn any_allowlist_entries_are_answered(entries in proptest::collection::vec("\\PC{0,50}", 0..5)) {
            match IpAllowlist::parse(&entries) {
                Ok(_) => {}
                Err(Error::Invalid { field, .. }) => proptest::prop_assert_eq!(field, "ip_allowlist"),
                Err(other) => proptest::prop_assert!(false, "{:?}", other),
            }
        }

        /// Addresses and networks (host bits cleared) are accepted, and what is stored
        /// reads back to the same list.
        #[test]
        fn canonical_entries_round_trip(
            v4 in proptest::prelude::any::<[u8; 4]>(),
            v6 in proptest::prelude::any::<[u16; 8]>(),
            v4_prefix in 0_u8..=32,
            v6_prefix in 0_u8..=128,
        ) {
            let v4 = std::net::Ipv4Addr::from(v4);
            let v6 = std::net::Ipv6Addr::from(v6);
            let entries = vec![
                v4.to_string(),
                v6.to_string(),
                ipnet::Ipv4Net::new(v4, v4_prefix).expect("prefix").trunc().to_string(),
                ipnet::Ipv6Net::new(v6, v6_prefix).expect("prefix").trunc().to_string(),
            ];
            let list = IpAllowlist::parse(&entries).expect("accepted");
            proptest::prop_assert!(list.allows(std::net::IpAddr::V4(v4)));
            proptest::prop_assert!(list.allows(std::net::IpAddr::V6(v6)));
            let stored = list.to_strings();
            proptest::prop_assert_eq!(IpAllowlist::parse(&stored).expect("re-parsed").to_strings(), stored);
        }
    }
}
