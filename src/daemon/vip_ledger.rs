//! Per-VIP bookkeeping for status (seed 000's fields): since when vipd holds each address, how
//! many gratuitous ARPs / unsolicited NAs it sent for it, and which of the instance's system
//! errors concern it. Keyed by address, so a reload that keeps an address keeps its counts.

use std::net::IpAddr;
use std::time::SystemTime;

use vipd_config as config;

use super::effects::VipSpec;
use crate::system::error::SystemError;

#[derive(Debug, Default, Clone, Copy)]
struct VipRecord {
    /// When vipd last confirmed the address installed; None while not held.
    acquired_at: Option<SystemTime>,
    announcements: u64,
}

/// What an instance remembers of each of its VIPs: a few addresses per instance, so a list
/// searched in order, grown one at a time (a `BTreeMap`'s first node alone is 464 bytes).
#[derive(Debug, Default)]
pub struct VipLedger {
    records: Vec<(IpAddr, VipRecord)>,
}

impl VipLedger {
    /// The worker installed `addr` (again): it is held from now on unless it already was.
    pub fn acquired(&mut self, addr: IpAddr, at: SystemTime) {
        self.entry(addr).acquired_at.get_or_insert(at);
    }

    /// Someone removed `addr` behind our back: it is held again once it is put back.
    pub fn lost(&mut self, addr: IpAddr) {
        if let Some(record) = self.get_mut(addr) {
            record.acquired_at = None;
        }
    }

    /// The instance stopped serving: nothing is held.
    pub fn released(&mut self) {
        for (_, record) in &mut self.records {
            record.acquired_at = None;
        }
    }

    pub fn announced(&mut self, addr: IpAddr) {
        self.entry(addr).announcements += 1;
    }

    pub fn acquired_at(&self, addr: IpAddr) -> Option<SystemTime> {
        self.get(addr).and_then(|r| r.acquired_at)
    }

    pub fn announcements(&self, addr: IpAddr) -> u64 {
        self.get(addr).map_or(0, |r| r.announcements)
    }

    fn get(&self, addr: IpAddr) -> Option<&VipRecord> {
        self.records
            .iter()
            .find(|(a, _)| *a == addr)
            .map(|(_, r)| r)
    }

    fn get_mut(&mut self, addr: IpAddr) -> Option<&mut VipRecord> {
        self.records
            .iter_mut()
            .find(|(a, _)| *a == addr)
            .map(|(_, r)| r)
    }

    fn entry(&mut self, addr: IpAddr) -> &mut VipRecord {
        let index = match self.records.iter().position(|(a, _)| *a == addr) {
            Some(index) => index,
            None => {
                self.records.reserve_exact(1);
                self.records.push((addr, VipRecord::default()));
                self.records.len() - 1
            }
        };
        &mut self.records[index].1
    }
}

/// Whether a gratuitous ARP / unsolicited NA for `vip` can reach anyone: not for an address on
/// the loopback (keepalived announces a VIP on its own device, and `lo` has no segment).
pub fn announced_on_a_segment(vip: &VipSpec) -> bool {
    vip.dev.as_deref() != Some("lo")
}

/// Why an instance sends no gratuitous ARP / NA at all, when that is by design: it talks to
/// unicast peers only (no shared L2, e.g. a cloud VPC) and none of its VIPs is on a segment, so a
/// notify command moves the service instead (conf/dns-failover-notify.sh moves a DNS record).
pub fn garp_note(cfg: &config::Instance, vips: &[VipSpec]) -> Option<String> {
    let unicast_only = !cfg.unicast_peers.is_empty();
    (unicast_only && !vips.iter().any(announced_on_a_segment)).then(|| {
        "garp: not sent — unicast peers only and no virtual_ipaddress on a shared segment \
         (those on lo are not announced); a notify command must move the service"
            .to_owned()
    })
}

/// Whether a system error is about the address `addr/prefix_len` (the netlink layer names the
/// address in the operation: `add address 192.0.2.3/24 to interface #4`).
pub fn concerns_vip(error: &SystemError, addr: IpAddr, prefix_len: u8) -> bool {
    let needle = format!("address {addr}/{prefix_len} ");
    error.to_string().contains(&needle)
}

/// The errors among `errors` that concern `addr/prefix_len`, as one line.
pub fn vip_error(errors: &[SystemError], addr: IpAddr, prefix_len: u8) -> Option<String> {
    let lines: Vec<String> = errors
        .iter()
        .filter(|e| concerns_vip(e, addr, prefix_len))
        .map(ToString::to_string)
        .collect();
    (!lines.is_empty()).then(|| lines.join("; "))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn acquisition_time_is_kept_until_lost_or_released() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let t1 = t0 + Duration::from_secs(5);
        let mut ledger = VipLedger::default();
        ledger.acquired(ip("192.0.2.3"), t0);
        ledger.acquired(ip("192.0.2.3"), t1);
        assert_eq!(
            ledger.acquired_at(ip("192.0.2.3")),
            Some(t0),
            "a re-install keeps it"
        );
        ledger.lost(ip("192.0.2.3"));
        assert_eq!(ledger.acquired_at(ip("192.0.2.3")), None);
        ledger.acquired(ip("192.0.2.3"), t1);
        assert_eq!(
            ledger.acquired_at(ip("192.0.2.3")),
            Some(t1),
            "put back: a new time"
        );
        ledger.acquired(ip("192.0.2.4"), t1);
        ledger.released();
        assert_eq!(ledger.acquired_at(ip("192.0.2.3")), None);
        assert_eq!(ledger.acquired_at(ip("192.0.2.4")), None);
    }

    #[test]
    fn announcements_count_per_address_and_survive_a_release() {
        let mut ledger = VipLedger::default();
        for _ in 0..3 {
            ledger.announced(ip("2001:db8::3"));
        }
        ledger.announced(ip("192.0.2.3"));
        ledger.released();
        assert_eq!(ledger.announcements(ip("2001:db8::3")), 3);
        assert_eq!(ledger.announcements(ip("192.0.2.3")), 1);
        assert_eq!(ledger.announcements(ip("192.0.2.9")), 0);
    }

    #[test]
    fn errors_are_matched_to_their_address_and_prefix() {
        let eperm = SystemError::from_errno(
            "add address 192.0.2.3/24 to interface #4",
            "#4",
            libc::EPERM,
        );
        let other = SystemError::from_errno(
            "add address 192.0.2.30/24 to interface #4",
            "#4",
            libc::EEXIST,
        );
        let errors = [eperm, other];
        let line = vip_error(&errors, ip("192.0.2.3"), 24).expect("its error");
        assert!(line.contains("CAP_NET_ADMIN"), "{line}");
        assert!(!line.contains("192.0.2.30"), "{line}");
        assert!(vip_error(&errors, ip("192.0.2.3"), 32).is_none());
        assert!(vip_error(&errors, ip("192.0.2.30"), 24).is_some());
    }
}
