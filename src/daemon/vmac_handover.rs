//! Make-before-break with a shared virtual MAC (IPv4 `use_vmac`). Both routers own the same MAC,
//! so the switch sends the VIP's traffic to whichever port last sent a frame from it. The old
//! master must keep serving until its successor speaks, yet never send from the VMAC again after
//! that: its kernel's answer to one of the successor's gratuitous ARPs (a GARP is an ARP request
//! for the VIP, which the old master still holds) would pull the switch back to it, and the
//! traffic would follow it just as it removes the VIPs.
//!
//! So before its priority-0 advert a departing VMAC master stops answering ARP on its VMAC
//! (`arp_ignore` 8 there: reply to nothing; clients already hold the virtual MAC, none needs an
//! answer for the few milliseconds until the successor announces itself), keeps its VIPs and
//! forwarding, and removes the VIPs once the successor's first advert is heard (`release.rs`).
//! Its VMAC answers ARP again (`arp_ignore` 1) when it next becomes master. This costs one
//! sysctl write, not a kernel round trip, so the priority-0 advert leaves at once.
//!
//! IPv6 has no such switch for neighbour advertisements, so an IPv6 VMAC master still removes
//! its VIPs before its priority-0 advert.

use vipd_router::State;

use super::main_loop::Daemon;
use super::registry::InstanceId;
use crate::system::socket::Family;
use crate::system::sysctl::Sysctl;

/// `arp_ignore` 8: do not reply for local addresses (Documentation/networking/ip-sysctl).
const ARP_REPLY_NOTHING: &str = "8";

impl Daemon {
    /// For a departing IPv4 VMAC master: stops its VMAC answering ARP and returns true, so it may
    /// keep its VIPs until the successor speaks. False when it must remove them first (IPv6, not
    /// serving, or the sysctl cannot be written).
    pub(super) fn silence_vmac(&mut self, id: InstanceId) -> bool {
        let Some(instance) = self.registry.instance(id) else {
            return false;
        };
        let (Some(vmac), Some(_)) = (&instance.cfg.vmac, &instance.serving) else {
            return false;
        };
        if instance.family != Family::V4 {
            return false;
        }
        let name = vmac.name.clone();
        match self
            .sysctls
            .set(Sysctl::ipv4_conf(&name, "arp_ignore"), ARP_REPLY_NOTHING)
        {
            Ok(()) => {
                if !self.silenced_vmacs.contains(&name) {
                    self.silenced_vmacs.push(name);
                }
                true
            }
            Err(e) => {
                tracing::warn!(vmac = %name, "cannot stop ARP answers before handing over ({e}); removing the VIPs first");
                false
            }
        }
    }

    /// Before an instance serves as master again: its VMAC answers ARP once more.
    pub(super) fn unsilence_vmac(&mut self, id: InstanceId) {
        if self.silenced_vmacs.is_empty() {
            return;
        }
        let Some(name) = self
            .registry
            .instance(id)
            .and_then(|i| i.cfg.vmac.as_ref())
            .map(|v| v.name.clone())
        else {
            return;
        };
        let still_releasing = self.registry.instances().any(|i| {
            i.id != id
                && i.cfg.vmac.as_ref().is_some_and(|v| v.name == name)
                && i.serving
                    .as_ref()
                    .is_some_and(|s| s.releasing_until.is_some())
        });
        let master = self.registry.router(id).map(|r| r.state()) == Some(State::Master);
        if !master || still_releasing || !self.silenced_vmacs.contains(&name) {
            return;
        }
        self.silenced_vmacs.retain(|n| *n != name);
        if let Err(e) = self.sysctls.set(
            Sysctl::ipv4_conf(&name, "arp_ignore"),
            super::attach::VMAC_ARP_IGNORE,
        ) {
            tracing::warn!(vmac = %name, "cannot let the VMAC answer ARP again: {e}");
        }
    }
}
