//! The verification decision: a pure function of the key as cached, the request, the
//! rate-limit and quota state and the time. No I/O, so the hot path can call it on a
//! cache hit and the tests can try every combination.
//!
//! Checks run in the contract's order and the first failing one is the answer:
//! `NOT_FOUND`, `REVOKED`, `DISABLED`, `EXPIRED` (a rotated key past its grace included),
//! `FORBIDDEN_IP`, `INSUFFICIENT_SCOPES`, `RATE_LIMITED`, `QUOTA_EXCEEDED`, else `VALID`.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::keys::model::IpAllowlist;
use crate::scope::Scope;

/// The outcome of a verification, as `code` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Code {
    /// Unknown, malformed, or of another keyspace.
    NotFound,
    Revoked,
    /// Switched off.
    Disabled,
    /// Past `expires_at`.
    Expired,
    /// `client_ip` missing or outside the allowlist.
    ForbiddenIp,
    /// A requested scope is not granted.
    InsufficientScopes,
    /// Over the key's rate limit.
    RateLimited,
    /// Not enough quota left for `cost`.
    QuotaExceeded,
    /// Good to go.
    Valid,
}

impl Code {
    /// Every code, in the order the checks run.
    pub const ORDER: [Self; 9] = [
        Self::NotFound,
        Self::Revoked,
        Self::Disabled,
        Self::Expired,
        Self::ForbiddenIp,
        Self::InsufficientScopes,
        Self::RateLimited,
        Self::QuotaExceeded,
        Self::Valid,
    ];

    /// The wire name, e.g. `FORBIDDEN_IP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "NOT_FOUND",
            Self::Revoked => "REVOKED",
            Self::Disabled => "DISABLED",
            Self::Expired => "EXPIRED",
            Self::ForbiddenIp => "FORBIDDEN_IP",
            Self::InsufficientScopes => "INSUFFICIENT_SCOPES",
            Self::RateLimited => "RATE_LIMITED",
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
            Self::Valid => "VALID",
        }
    }

    /// The code of a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ORDER.into_iter().find(|c| c.as_str() == name)
    }

    /// Whether the key may be used.
    pub fn is_valid(self) -> bool {
        self == Self::Valid
    }
}

/// What verification needs to know of a key (a cache entry).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRecord {
    pub id: Uuid,
    pub owner_id: Uuid,
    /// Revocation time, if revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Switched on.
    pub enabled: bool,
    /// Expiry (for a rotated key: the end of its grace).
    pub expires_at: Option<DateTime<Utc>>,
    /// Allowed client addresses; empty allows any.
    pub ip_allowlist: IpAllowlist,
    /// Granted scopes.
    pub scopes: Vec<Scope>,
}

/// What the calling service asks.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Scopes the key must grant.
    pub scopes: &'a [Scope],
    /// Quota credits a `VALID` answer spends.
    pub cost: u32,
    /// The end user's address as the calling service saw it.
    pub client_ip: Option<IpAddr>,
}

/// The state of the key's limits for this request, as their keepers found it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitState {
    /// Whether the rate limiter let this request through (`None`: no limit).
    pub rate_allows: Option<bool>,
    /// What spending the request's cost from the key's quota came to (`None`: the key
    /// has no quota, or nothing was spent because the rate limit refused first). The
    /// quota ledger weighs the cost against the credit left, across every instance;
    /// `decide` only places its verdict in the order of reasons.
    pub quota: Option<QuotaOutcome>,
}

/// The quota ledger's verdict on one request's cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaOutcome {
    /// The cost was spent.
    Spent,
    /// Too little credit was left; nothing was spent.
    Exceeded,
}

/// Whether `granted` covers `wanted`: the same scope, or a granted scope ending in `*`
/// whose beginning `wanted` starts with (`orders:*` covers `orders:read` and
/// `orders:refund`, not `order`).
pub fn covers(granted: &Scope, wanted: &Scope) -> bool {
    let granted = granted.as_str();
    match granted.strip_suffix('*') {
        Some(stem) => wanted.as_str().starts_with(stem),
        None => granted == wanted.as_str(),
    }
}

/// Decides a verification. `key` is `None` for an unknown, malformed or foreign key.
pub fn decide(
    key: Option<&KeyRecord>,
    request: &Request<'_>,
    limits: LimitState,
    now: DateTime<Utc>,
) -> Code {
    let Some(key) = key else {
        return Code::NotFound;
    };
    if key.revoked_at.is_some() {
        return Code::Revoked;
    }
    if !key.enabled {
        return Code::Disabled;
    }
    if key.expires_at.is_some_and(|at| at <= now) {
        return Code::Expired;
    }
    if !key.ip_allowlist.is_empty()
        && !request
            .client_ip
            .is_some_and(|ip| key.ip_allowlist.allows(ip))
    {
        return Code::ForbiddenIp;
    }
    if !request
        .scopes
        .iter()
        .all(|wanted| key.scopes.iter().any(|granted| covers(granted, wanted)))
    {
        return Code::InsufficientScopes;
    }
    if limits.rate_allows == Some(false) {
        return Code::RateLimited;
    }
    if limits.quota == Some(QuotaOutcome::Exceeded) {
        return Code::QuotaExceeded;
    }
    Code::Valid
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use chrono::Duration;
    use proptest::prelude::*;

    use super::*;

    fn scope(s: &str) -> Scope {
        Scope::parse(s).expect("scope")
    }

    fn key() -> KeyRecord {
        KeyRecord {
            id: Uuid::nil(),
            owner_id: Uuid::nil(),
            revoked_at: None,
            enabled: true,
            expires_at: None,
            ip_allowlist: IpAllowlist::default(),
            scopes: vec![scope("orders:read")],
        }
    }

    fn ask(scopes: &[Scope], ip: Option<IpAddr>) -> Request<'_> {
        Request {
            scopes,
            cost: 1,
            client_ip: ip,
        }
    }

    #[test]
    fn each_code_for_its_reason() {
        let now = Utc::now();
        let none = LimitState::default();
        let read = [scope("orders:read")];
        assert_eq!(decide(None, &ask(&[], None), none, now), Code::NotFound);
        assert_eq!(
            decide(Some(&key()), &ask(&read, None), none, now),
            Code::Valid
        );
        let revoked = KeyRecord {
            revoked_at: Some(now),
            ..key()
        };
        assert_eq!(
            decide(Some(&revoked), &ask(&[], None), none, now),
            Code::Revoked
        );
        let disabled = KeyRecord {
            enabled: false,
            ..key()
        };
        assert_eq!(
            decide(Some(&disabled), &ask(&[], None), none, now),
            Code::Disabled
        );
        let expired = KeyRecord {
            expires_at: Some(now),
            ..key()
        };
        assert_eq!(
            decide(Some(&expired), &ask(&[], None), none, now),
            Code::Expired
        );
        let later = KeyRecord {
            expires_at: Some(now + Duration::seconds(1)),
            ..key()
        };
        assert_eq!(
            decide(Some(&later), &ask(&[], None), none, now),
            Code::Valid
        );
        let fenced = KeyRecord {
            ip_allowlist: IpAllowlist::parse(&["10.0.0.0/8".into()]).expect("list"),
            ..key()
        };
        let inside = Some(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)));
        let outside = Some(IpAddr::V4(Ipv4Addr::new(11, 1, 2, 3)));
        assert_eq!(
            decide(Some(&fenced), &ask(&[], inside), none, now),
            Code::Valid
        );
        assert_eq!(
            decide(Some(&fenced), &ask(&[], outside), none, now),
            Code::ForbiddenIp
        );
        assert_eq!(
            decide(Some(&fenced), &ask(&[], None), none, now),
            Code::ForbiddenIp,
            "an allowlist with no client_ip is forbidden"
        );
        let write = [scope("orders:write")];
        assert_eq!(
            decide(Some(&key()), &ask(&write, None), none, now),
            Code::InsufficientScopes
        );
        let limited = LimitState {
            rate_allows: Some(false),
            quota: None,
        };
        assert_eq!(
            decide(Some(&key()), &ask(&[], None), limited, now),
            Code::RateLimited
        );
        let spent = LimitState {
            rate_allows: Some(true),
            quota: Some(QuotaOutcome::Exceeded),
        };
        assert_eq!(
            decide(Some(&key()), &ask(&[], None), spent, now),
            Code::QuotaExceeded
        );
    }

    #[test]
    fn the_ledgers_verdict_on_the_quota_comes_after_the_rate_limit() {
        let now = Utc::now();
        let (spent, exceeded) = (Some(QuotaOutcome::Spent), Some(QuotaOutcome::Exceeded));
        for (rate_allows, quota, code) in [
            (None, spent, Code::Valid),
            (Some(true), spent, Code::Valid),
            (None, exceeded, Code::QuotaExceeded),
            (Some(false), exceeded, Code::RateLimited),
        ] {
            let limits = LimitState { rate_allows, quota };
            assert_eq!(decide(Some(&key()), &ask(&[], None), limits, now), code);
        }
    }

    #[test]
    fn wire_names_match_serde() {
        for code in Code::ORDER {
            assert_eq!(serde_json::to_value(code).expect("json"), code.as_str());
        }
    }

    #[test]
    fn wildcard_scopes_cover_their_stem_only() {
        assert!(covers(&scope("orders:*"), &scope("orders:read")));
        assert!(covers(&scope("admin/*"), &scope("admin/users")));
        assert!(!covers(&scope("orders:*"), &scope("order")));
        assert!(!covers(&scope("orders:read"), &scope("orders:readall")));
        assert!(covers(&scope("orders:read"), &scope("orders:read")));
    }

    proptest! {
        /// Whatever combination of reasons applies, the answer is the first in the
        /// contract's order, and VALID only when none does.
        #[test]
        fn the_first_failing_check_wins(
            missing in any::<bool>(),
            revoked in any::<bool>(),
            disabled in any::<bool>(),
            expired in any::<bool>(),
            wrong_ip in any::<bool>(),
            no_scope in any::<bool>(),
            rate_limited in any::<bool>(),
            quota_out in any::<bool>(),
        ) {
            let now = Utc::now();
            let record = KeyRecord {
                revoked_at: revoked.then_some(now),
                enabled: !disabled,
                expires_at: Some(if expired { now - Duration::seconds(1) } else { now + Duration::days(1) }),
                ip_allowlist: IpAllowlist::parse(&["192.0.2.0/24".into()]).expect("list"),
                ..key()
            };
            let ip = if wrong_ip { Ipv4Addr::new(198, 51, 100, 1) } else { Ipv4Addr::new(192, 0, 2, 9) };
            let wanted = [scope(if no_scope { "orders:write" } else { "orders:read" })];
            let limits = LimitState {
                rate_allows: Some(!rate_limited),
                quota: Some(if quota_out { QuotaOutcome::Exceeded } else { QuotaOutcome::Spent }),
            };
            let got = decide((!missing).then_some(&record), &ask(&wanted, Some(IpAddr::V4(ip))), limits, now);
            let reasons = [missing, revoked, disabled, expired, wrong_ip, no_scope, rate_limited, quota_out];
            let expected = reasons
                .iter()
                .position(|&r| r)
                .map_or(Code::Valid, |i| Code::ORDER[i]);
            prop_assert_eq!(got, expected);
        }

        /// IPv4 networks match exactly the addresses whose leading bits equal the network's.
        #[test]
        fn ipv4_networks_match_by_prefix(net in any::<u32>(), len in 0u8..=32, addr in any::<u32>()) {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            let network = Ipv4Addr::from(net & mask);
            let list = IpAllowlist::parse(&[format!("{network}/{len}")]).expect("canonical network");
            let inside = addr & mask == net & mask;
            prop_assert_eq!(list.allows(IpAddr::V4(Ipv4Addr::from(addr))), inside);
            // The same address seen through a dual-stack socket matches the same way.
            let mapped = Ipv4Addr::from(addr).to_ipv6_mapped();
            prop_assert_eq!(list.allows(IpAddr::V6(mapped)), inside);
        }

        /// IPv6 networks likewise.
        #[test]
        fn ipv6_networks_match_by_prefix(net in any::<u128>(), len in 0u8..=128, addr in any::<u128>()) {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
            let network = Ipv6Addr::from(net & mask);
            let list = IpAllowlist::parse(&[format!("{network}/{len}")]).expect("canonical network");
            let ip = Ipv6Addr::from(addr);
            // Mapped IPv4 addresses are compared as IPv4, so leave them out here.
            prop_assume!(ip.to_ipv4_mapped().is_none());
            prop_assert_eq!(list.allows(IpAddr::V6(ip)), addr & mask == net & mask);
        }

        /// A single address allows itself and nothing else.
        #[test]
        fn single_addresses_match_only_themselves(a in any::<u32>(), b in any::<u32>()) {
            let list = IpAllowlist::parse(&[Ipv4Addr::from(a).to_string()]).expect("address");
            prop_assert!(list.allows(IpAddr::V4(Ipv4Addr::from(a))));
            prop_assert_eq!(list.allows(IpAddr::V4(Ipv4Addr::from(b))), a == b);
        }
    }
}
