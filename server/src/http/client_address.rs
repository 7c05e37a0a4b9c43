//! Who sent a request: the TCP peer, or, when that peer is one of
//! `LOCKSMITH_TRUSTED_PROXIES`, the client the proxies name in `X-Forwarded-For` (or, as
//! `LOCKSMITH_FORWARDED_HEADER` says, `Forwarded`, RFC 7239), with the scheme and host
//! the client used. Only the configured header is read: a proxy that writes one passes
//! the other on as the client wrote it.
//!
//! A forwarded header is a list that every hop appends to, so its left part is whatever
//! the client chose to send. Only the right part, written by proxies we trust, is
//! evidence: we walk it from the right and stop at the first address that is not a
//! trusted proxy. That hop is the client. Headers from an untrusted peer are ignored
//! altogether, so nobody can choose their own address by sending one.
//!
//! The resolved address replaces the connection's `ConnectInfo` before any handler runs,
//! so every reader of the client address (sign-in lockouts, per-address rate limits, the
//! audit trail, the portal) sees the same one; the TCP peer stays available as
//! [`Peer`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use forwarded_header_value::{ForwardedStanza, Identifier, Protocol};
use ipnet::IpNet;

/// Which header the trusted proxies write (`LOCKSMITH_FORWARDED_HEADER`). Only that one is
/// read: a proxy passes the other on untouched, as the client wrote it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` with `X-Forwarded-Proto` and `X-Forwarded-Host` (nginx, HAProxy,
    /// Traefik, Envoy, cloud load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded` (RFC 7239) with its `for`, `proto` and `host`.
    Forwarded,
}

/// The proxies whose forwarded headers are believed (`LOCKSMITH_TRUSTED_PROXIES`), and
/// the header they write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// Trusts the given networks' `header`; an empty list trusts nobody.
    pub fn new(networks: Vec<IpNet>, header: ForwardedHeader) -> Self {
        Self { networks, header }
    }

    /// The networks, for logs.
    pub fn networks(&self) -> &[IpNet] {
        &self.networks
    }

    /// The header read from them.
    pub fn header(&self) -> ForwardedHeader {
        self.header
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.networks.iter().any(|net| net.contains(&address))
    }
}

/// The TCP peer of a request, before forwarded headers were read.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// The scheme and host the client asked for, as a trusted proxy reported them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardedOrigin {
    /// `http` or `https`.
    pub scheme: Option<&'static str>,
    /// The `Host` the client sent to the proxy.
    pub host: Option<String>,
}

/// What the request says about its client, once believed or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The client's address.
    pub client: IpAddr,
    /// Set only when the peer is a trusted proxy.
    pub origin: Option<ForwardedOrigin>,
}

/// Resolves the client of a request from `peer` and its headers.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> Resolved {
    let peer = canonical(peer);
    if !trusted.trusts(peer) {
        return Resolved {
            client: peer,
            origin: None,
        };
    }
    // Each element is parsed alone: a client that prepends garbage must not make the
    // whole list unreadable, which would leave the proxy's address as everyone's.
    let hops: Vec<Option<ForwardedStanza>> = match trusted.header {
        ForwardedHeader::Forwarded => joined(headers, "forwarded")
            .map(|value| {
                elements(&value)
                    .map(|e| e.parse::<ForwardedStanza>().ok())
                    .collect()
            })
            .unwrap_or_default(),
        ForwardedHeader::XForwardedFor => joined(headers, "x-forwarded-for")
            .map(|value| {
                elements(&value)
                    .map(|e| {
                        e.parse::<Identifier>().ok().map(|id| ForwardedStanza {
                            forwarded_for: Some(id),
                            ..ForwardedStanza::default()
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    // Right to left: each trusted hop vouches for the one before it. A hop that names no
    // address (`unknown`, an obfuscated name, garbage) ends the walk at the last proxy.
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(address) = hop
            .as_ref()
            .and_then(ForwardedStanza::forwarded_for_ip)
            .map(canonical)
        else {
            break;
        };
        client = address;
        if !trusted.trusts(address) {
            break;
        }
    }
    // The nearest proxy saw the request as the client sent it to the installation.
    let origin = match trusted.header {
        ForwardedHeader::Forwarded => {
            let nearest = hops.last().and_then(Option::as_ref);
            ForwardedOrigin {
                scheme: nearest.and_then(|s| s.forwarded_proto).map(|p| match p {
                    Protocol::Http => "http",
                    Protocol::Https => "https",
                }),
                host: nearest
                    .and_then(|s| s.forwarded_host.clone())
                    .filter(|h| is_host(h)),
            }
        }
        ForwardedHeader::XForwardedFor => x_forwarded_origin(headers),
    };
    Resolved {
        client,
        origin: Some(origin),
    }
}

/// The comma-separated elements of a list header. Quotes are not honoured: a client's
/// unbalanced quote must not swallow the elements the proxies appended after it (no value
/// we read, an address, a scheme or a host, contains a comma).
fn elements(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|e| !e.is_empty())
}

/// `X-Forwarded-Proto` and `X-Forwarded-Host`: their right-most values, the nearest
/// proxy's.
fn x_forwarded_origin(headers: &HeaderMap) -> ForwardedOrigin {
    let last = |name: &str| {
        joined(headers, name).and_then(|v| {
            v.rsplit(',')
                .next()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        })
    };
    ForwardedOrigin {
        scheme: last("x-forwarded-proto").and_then(|p| match p.to_ascii_lowercase().as_str() {
            "https" => Some("https"),
            "http" => Some("http"),
            _ => None,
        }),
        host: last("x-forwarded-host").filter(|h| is_host(h)),
    }
}

/// A header's values joined as one list (a header may be sent several times).
fn joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// A host with an optional port, as a `Host` header carries it.
fn is_host(value: &str) -> bool {
    url::Url::parse(&format!("http://{value}/"))
        .is_ok_and(|u| u.host().is_some() && u.path() == "/" && u.username().is_empty())
}

/// An IPv4 address in its IPv4-mapped IPv6 form (a dual-stack listener) is the IPv4
/// address, so that `10.0.0.0/8` matches it and the audit trail shows it plainly.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The middleware: replaces `ConnectInfo` with the resolved client and records the
/// [`Peer`] and, behind a trusted proxy, the [`ForwardedOrigin`].
pub async fn apply(
    State(trusted): State<Arc<arc_swap::ArcSwap<TrustedProxies>>>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let resolved = resolve(peer.ip(), req.headers(), &trusted.load());
        let extensions = req.extensions_mut();
        extensions.insert(Peer(peer));
        extensions.insert(ConnectInfo(SocketAddr::new(resolved.client, peer.port())));
        if let Some(origin) = resolved.origin {
            extensions.insert(origin);
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            nets.iter().map(|n| n.parse().expect("cidr")).collect(),
            ForwardedHeader::XForwardedFor,
        )
    }

    fn trusted_forwarded(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            nets.iter().map(|n| n.parse().expect("cidr")).collect(),
            ForwardedHeader::Forwarded,
        )
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, v.parse().expect("header value"));
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            (
                "forwarded",
                "for=198.51.100.1;proto=https;host=evil.example",
            ),
            ("x-forwarded-host", "evil.example"),
        ]);
        for proxies in [trusted(&[]), trusted(&["10.0.0.0/8"])] {
            let r = resolve(ip("192.0.2.7"), &h, &proxies);
            assert_eq!(r.client, ip("192.0.2.7"));
            assert_eq!(r.origin, None);
        }
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() {
        let proxies = trusted(&["10.0.0.0/8"]);
        // The client forged the first entry; the proxy appended the real address.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.5")]);
        assert_eq!(
            resolve(ip("10.0.0.2"), &h, &proxies).client,
            ip("203.0.113.9")
        );
        // Several headers are one list.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(
            resolve(ip("10.0.0.2"), &h, &proxies).client,
            ip("203.0.113.9")
        );
        // Every hop trusted: the left-most is the client.
        let h = headers(&[("x-forwarded-for", "10.1.1.1, 10.0.0.5")]);
        assert_eq!(resolve(ip("10.0.0.2"), &h, &proxies).client, ip("10.1.1.1"));
        // No header: the proxy itself.
        assert_eq!(
            resolve(ip("10.0.0.2"), &HeaderMap::new(), &proxies).client,
            ip("10.0.0.2")
        );
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let h = headers(&[
            (
                "forwarded",
                r#"for=1.1.1.1, for="[2001:db8::7]:4711";proto=https;host=keys.example.com"#,
            ),
            ("x-forwarded-for", "198.51.100.1"),
        ]);
        let r = resolve(
            ip("::1"),
            &h,
            &trusted_forwarded(&["10.0.0.0/8", "::1/128"]),
        );
        assert_eq!(r.client, ip("2001:db8::7"));
        assert_eq!(
            r.origin,
            Some(ForwardedOrigin {
                scheme: Some("https"),
                host: Some("keys.example.com".into()),
            })
        );
        // A proxy that writes X-Forwarded-For passes the client's own Forwarded on.
        let r = resolve(ip("::1"), &h, &trusted(&["10.0.0.0/8", "::1/128"]));
        assert_eq!(r.client, ip("198.51.100.1"));
        assert_eq!(r.origin, Some(ForwardedOrigin::default()));
    }

    #[test]
    fn x_forwarded_proto_and_host_take_the_nearest_value() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "http, https"),
            ("x-forwarded-host", "keys.example.com:8443"),
        ]);
        let origin = resolve(ip("10.0.0.2"), &h, &proxies)
            .origin
            .expect("trusted");
        assert_eq!(origin.scheme, Some("https"));
        assert_eq!(origin.host.as_deref(), Some("keys.example.com:8443"));
        let h = headers(&[("x-forwarded-host", "a.example/evil?x")]);
        let origin = resolve(ip("10.0.0.2"), &h, &proxies)
            .origin
            .expect("trusted");
        assert_eq!(origin.host, None, "not a host");
    }

    #[test]
    fn an_unknown_hop_stops_the_walk_and_garbage_is_ignored() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let h = headers(&[("forwarded", "for=203.0.113.9, for=unknown, for=10.0.0.5")]);
        assert_eq!(
            resolve(ip("10.0.0.2"), &h, &trusted_forwarded(&["10.0.0.0/8"])).client,
            ip("10.0.0.5")
        );
        let h = headers(&[("x-forwarded-for", "not an address at all")]);
        assert_eq!(resolve(ip("10.0.0.2"), &h, &proxies).client, ip("10.0.0.2"));
        // Garbage the client prepended does not hide the address the proxy appended.
        let h = headers(&[("x-forwarded-for", "zzz, \"x, 203.0.113.9")]);
        assert_eq!(
            resolve(ip("10.0.0.2"), &h, &proxies).client,
            ip("203.0.113.9")
        );
        let h = headers(&[("forwarded", "for=<script>, for=203.0.113.9;proto=https")]);
        let r = resolve(ip("10.0.0.2"), &h, &trusted_forwarded(&["10.0.0.0/8"]));
        assert_eq!(r.client, ip("203.0.113.9"));
        assert_eq!(r.origin.and_then(|o| o.scheme), Some("https"));
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_networks() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "::ffff:203.0.113.9")]);
        let r = resolve(ip("::ffff:10.0.0.2"), &h, &proxies);
        assert_eq!(r.client, ip("203.0.113.9"));
    }
}
