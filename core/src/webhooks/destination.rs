//! Where a delivery may go. A webhook URL is chosen by whoever subscribes, so without a
//! check it would let them make Locksmith call its own network: the database's host, a
//! cloud's metadata service (169.254.169.254), an admin interface on localhost. The check
//! runs on the address actually connected to, after resolution, so a name that resolves
//! to a public address when subscribed and to a private one when delivered (DNS
//! rebinding) is refused too. Installations whose receivers live on their own network
//! will lift it with a setting (`LOCKSMITH_WEBHOOK_ALLOW_PRIVATE`, read by the delivery
//! worker when it comes).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why deliveries to `ip` are refused, or `None` when it is a public address.
pub fn refused(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            // `::ffff:127.0.0.1` reaches 127.0.0.1.
            Some(v4) => refused_v4(v4),
            None => refused_v6(v6),
        },
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if ip.is_link_local() {
        // 169.254.0.0/16 holds the metadata service of most clouds.
        Some("a link-local address (cloud metadata lives there)")
    } else if ip.is_private() {
        Some("a private address")
    } else if a == 100 && (64..128).contains(&b) {
        // Carrier-grade NAT (RFC 6598); also Alibaba Cloud's metadata at 100.100.100.200.
        Some("a shared address space (RFC 6598) address")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("a multicast, broadcast or reserved address")
    } else {
        None
    }
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if ip.is_unicast_link_local() {
        Some("a link-local address")
    } else if ip.is_unique_local() {
        // fc00::/7, which holds AWS's IPv6 metadata address fd00:ec2::254.
        Some("a unique local (private) address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn internal_and_metadata_addresses_are_refused() {
        for internal in [
            "127.0.0.1",
            "127.8.9.10",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.100.100.200",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "fc00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
        ] {
            assert!(refused(ip(internal)).is_some(), "{internal}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:93.184.216.34",
        ] {
            assert_eq!(refused(ip(public)), None, "{public}");
        }
    }
}
