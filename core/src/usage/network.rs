//! The unit of "a network" in usage: what the hot path counts each key's verifications
//! by, beside their hour and outcome, and what unusual-use detection reads.

use std::net::IpAddr;

/// The network a client address belongs to: its /24 (IPv4) or /48 (IPv6), the unit of
/// "a network" in every rule. An IPv4 address mapped into IPv6 counts as IPv4.
pub fn network_of(ip: IpAddr) -> (IpAddr, u8) {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            (IpAddr::from([a, b, c, 0]), 24)
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network_of(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                (IpAddr::from([s[0], s[1], s[2], 0, 0, 0, 0, 0]), 48)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_slash_24_and_slash_48() {
        assert_eq!(
            network_of("203.0.113.77".parse().expect("ip")),
            ("203.0.113.0".parse().expect("ip"), 24)
        );
        assert_eq!(
            network_of("2001:db8:aa:bb::1".parse().expect("ip")),
            ("2001:db8:aa::".parse().expect("ip"), 48)
        );
        assert_eq!(
            network_of("::ffff:198.51.100.9".parse().expect("ip")),
            ("198.51.100.0".parse().expect("ip"), 24)
        );
    }
}
