//! Which addresses are on which interface right now (getifaddrs), for "is this VIP really
//! present" in status: a read of the kernel's view, independent of what vipd believes it did.

use std::net::IpAddr;

/// Every (interface name or label, address) pair the kernel reports; empty if it cannot say.
pub fn all() -> Vec<(String, IpAddr)> {
    nix::ifaddrs::getifaddrs()
        .map(|addrs| {
            addrs
                .filter_map(|a| {
                    let ip = a.address.as_ref().and_then(|s| {
                        s.as_sockaddr_in()
                            .map(|v4| IpAddr::V4(v4.ip()))
                            .or_else(|| s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
                    })?;
                    Some((a.interface_name, ip))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `addr` is on `dev` (or on one of its `dev:label` aliases) in `present`.
pub fn is_on(present: &[(String, IpAddr)], dev: &str, addr: IpAddr) -> bool {
    present.iter().any(|(name, a)| {
        *a == addr
            && (name == dev
                || name
                    .strip_prefix(dev)
                    .is_some_and(|rest| rest.starts_with(':')))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_counts_on_its_device_and_its_labels_only() {
        let vip: IpAddr = "192.0.2.3".parse().unwrap();
        let present = vec![("eth0:dns".to_owned(), vip)];
        assert!(is_on(&present, "eth0", vip));
        assert!(!is_on(&present, "eth", vip));
        assert!(!is_on(&present, "eth1", vip));
        assert!(!is_on(&present, "eth0", "192.0.2.4".parse().unwrap()));
    }
}
