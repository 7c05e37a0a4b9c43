//! The unit of "a network" in usage: what the hot path counts each key's verifications
//! by, beside their hour and outcome, and what unusual-use detection reads.

use std::net::IpAddr;

use ipnet::IpNet;

/// The network a client address belongs to: its /24 (IPv4) or /48 (IPv6), the unit of
/// "a network" in every rule. An IPv4 address mapped into IPv6 counts as IPv4.
pub fn network_of(ip: IpAddr) -> IpNet {
    match ip.to_canonical() {
        v4 @ IpAddr::V4(_) => IpNet::new_assert(v4, 24).trunc(),
        v6 @ IpAddr::V6(_) => IpNet::new_assert(v6, 48).trunc(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_slash_24_and_slash_48() {
        assert_eq!(
            network_of("203.0.113.77".parse().expect("ip")),
            "203.0.113.0/24".parse::<IpNet>().expect("net")
        );
        assert_eq!(
            network_of("2001:db8:aa:bb::1".parse().expect("ip")),
            "2001:db8:aa::/48".parse::<IpNet>().expect("net")
        );
        assert_eq!(
            network_of("::ffff:198.51.100.9".parse().expect("ip")),
            "198.51.100.0/24".parse::<IpNet>().expect("net")
        );
    }
}
