//! Attaching instances to the system: the interface, its VMAC (with keepalived's sysctls), the
//! address adverts leave from, the sockets; and detaching when the interface goes away. The
//! kernel round trips are worker requests; their answers are applied here when they come back.

use std::net::IpAddr;

use super::instance::{virtual_mac, AttachError, Attachment, Reattach};
use super::main_loop::Daemon;
use super::registry::InstanceId;
use super::worker::{AttachFacts, AttachPlan, Request, VmacPlan};
use crate::system::netlink::LinkInfo;
use crate::system::socket::{Carrier, Family};
use crate::system::sysctl::Sysctl;

/// `arp_ignore` 1 on a VMAC: reply only for addresses configured on it.
pub(super) const VMAC_ARP_IGNORE: &str = "1";

impl Daemon {
    /// What attaching `id` needs from the kernel.
    pub(super) fn attach_plan(&self, id: InstanceId) -> Option<AttachPlan> {
        let instance = self.registry.instance(id)?;
        let vmac = instance.cfg.vmac.as_ref();
        Some(AttachPlan {
            interface: instance.cfg.interface.clone(),
            family: instance.family,
            vmac: vmac.map(|v| VmacPlan {
                name: v.name.clone(),
                mac: virtual_mac(instance.family, instance.cfg.vrid),
            }),
            want_addresses: instance.cfg.unicast_src_ip.is_none(),
            // IPv6 adverts come from the link-local of the interface they leave from.
            addresses_on_vmac: instance.family == Family::V6 && vmac.is_some_and(|v| !v.xmit_base),
        })
    }

    /// Asks the worker to attach `id`; a request already in flight is followed by another.
    pub(super) fn request_attach(&mut self, id: InstanceId) {
        let Some(plan) = self.attach_plan(id) else {
            return;
        };
        let Some(instance) = self.registry.instance_mut(id) else {
            return;
        };
        match &mut instance.attaching {
            Some(pending) => pending.again = true,
            None => {
                instance.attaching = Some(Reattach::default());
                let _ = self.worker.send(Request::Attach { instance: id, plan });
            }
        }
    }

    /// Asks the worker for the current state of `id`'s tracked interfaces.
    pub(super) fn request_tracked_links(&mut self, id: InstanceId) {
        let Some(instance) = self.registry.instance_mut(id) else {
            return;
        };
        if instance.tracked.is_empty() {
            return;
        }
        let names = instance.tracked.iter().map(|t| t.name.clone()).collect();
        instance.looking_up_links = true;
        let _ = self.worker.send(Request::LookupLinks {
            instance: id,
            names,
        });
    }

    /// An attach answer came back: applies it, then tells the router what changed.
    pub(super) fn on_attached(&mut self, id: InstanceId, facts: AttachFacts) {
        let Some(instance) = self.registry.instance_mut(id) else {
            return;
        };
        let again = instance.attaching.take().is_some_and(|p| p.again);
        self.apply_attach(id, facts);
        if again {
            self.request_attach(id);
            return;
        }
        self.after_attach(id);
    }

    /// Applies the kernel's answer for `id`: records the interface, sets the VMAC's sysctls,
    /// picks the advert source address, opens (or joins) the sockets.
    pub(super) fn apply_attach(&mut self, id: InstanceId, facts: AttachFacts) {
        let Some(instance) = self.registry.instance_mut(id) else {
            return;
        };
        let link = match facts.link {
            Ok(link) => link,
            Err(e) => {
                self.unroute(id);
                let instance = self.registry.instance_mut(id).expect("checked above");
                instance.attachment = None;
                instance.set_attach_error(Some(AttachError::Interface(e)));
                return;
            }
        };
        let family = instance.family;
        let vrid = instance.cfg.vrid;
        let ifname = instance.cfg.interface.clone();
        let vmac_cfg = instance.cfg.vmac.clone();
        let old_frame_sender = instance.attachment.take().and_then(|a| a.frame_sender);
        let mut attachment = Attachment {
            ifindex: link.ifindex,
            vip_ifindex: link.ifindex,
            mac: link.mac,
            link_up: link.oper_up,
            src: None,
            send_socket: None,
            sockets: Vec::new(),
            last_advert: None,
            frame_sender: old_frame_sender,
        };
        let mut listen_on = vec![(link.ifindex, ifname.clone())];
        if let (Some(vmac), Some(made)) = (&vmac_cfg, facts.vmac) {
            match made {
                Ok(vmac_ifindex) => {
                    attachment.vip_ifindex = vmac_ifindex;
                    attachment.mac = Some(virtual_mac(family, vrid));
                    if !self.vmacs.contains(&vmac_ifindex) {
                        self.vmacs.push(vmac_ifindex);
                    }
                    self.set_vmac_sysctls(id, &vmac.name, &ifname);
                    if family == Family::V4 {
                        self.silence_ipv4_vmac(id, &vmac.name);
                    }
                    // A private-mode macvlan is handed every multicast frame of the link, and it
                    // is the only one handed frames whose source MAC is its own (RFC-compliant
                    // peers of the same VRID): so listening on it hears everyone. With
                    // vmac_xmit_base adverts leave from the parent, which keeps listening as well.
                    if vmac.xmit_base {
                        listen_on.push((vmac_ifindex, vmac.name.clone()));
                    } else {
                        listen_on = vec![(vmac_ifindex, vmac.name.clone())];
                    }
                }
                Err(e) => {
                    self.unroute(id);
                    let instance = self.registry.instance_mut(id).expect("checked above");
                    instance.attachment = Some(attachment);
                    instance.set_attach_error(Some(AttachError::Vmac(e)));
                    return;
                }
            }
        }
        let instance = self.registry.instance(id).expect("checked above");
        let carrier = if instance.ah.is_some() {
            Carrier::Ah
        } else {
            Carrier::Vrrp
        };
        let src = instance
            .cfg
            .unicast_src_ip
            .or_else(|| primary_address(instance, &facts.addresses));
        let dad_pending = src.is_none() && primary_address(instance, &facts.tentative).is_some();
        attachment.src = src;
        // Routers are built after the first attach; a later one may bring a new address.
        if let Some(src) = src {
            let (group, member) = (instance.group, instance.member);
            if let Some(group) = self.registry.group_mut(group) {
                if member < group.routers.members().len() {
                    group.routers.set_primary_address(member, src);
                }
            }
        }
        self.unroute(id);
        let src_name = listen_on.first().map_or(ifname.clone(), |(_, n)| n.clone());
        let mut error = src.is_none().then(|| {
            if dad_pending {
                AttachError::Tentative {
                    interface: src_name,
                }
            } else {
                AttachError::NoAddress {
                    interface: ifname.clone(),
                    family,
                }
            }
        });
        for (ifindex, name) in &listen_on {
            match self.sockets.open(*ifindex, name, family, carrier) {
                Ok(socket) => {
                    self.sockets.route(socket, vrid, Some(id));
                    attachment.sockets.push(socket);
                }
                Err(e) => {
                    error = Some(AttachError::Socket {
                        interface: name.clone(),
                        error: e,
                    });
                    break;
                }
            }
        }
        if !matches!(error, Some(AttachError::Socket { .. })) {
            // Adverts leave from the first: the VMAC, or the parent with vmac_xmit_base.
            attachment.send_socket = attachment.sockets.first().copied();
        }
        let instance = self.registry.instance_mut(id).expect("checked above");
        instance.attachment = Some(attachment);
        instance.set_attach_error(error);
    }

    /// keepalived's sysctls on a VMAC and its parent (restored on exit or when the VMAC goes).
    /// The VMAC's `arp_ignore` is [`VMAC_ARP_IGNORE`], which a handover also puts back.
    fn set_vmac_sysctls(&mut self, id: InstanceId, vmac: &str, parent: &str) {
        let settings = [
            (Sysctl::ipv4_conf(vmac, "arp_ignore"), VMAC_ARP_IGNORE),
            (Sysctl::ipv4_conf(vmac, "accept_local"), "1"),
            (Sysctl::ipv4_conf(vmac, "rp_filter"), "0"),
            (Sysctl::ipv4_conf(parent, "arp_ignore"), "1"),
            (Sysctl::ipv4_conf(parent, "arp_filter"), "1"),
        ];
        for (sysctl, value) in settings {
            if let Err(e) = self.sysctls.set(sysctl, value) {
                let name = self.registry.instance(id).map(|i| i.cfg.name.clone());
                tracing::warn!(instance = ?name, "use_vmac: {e}");
            }
        }
    }

    /// Keeps a BACKUP's IPv4 VMAC off the wire: joining 224.0.0.18 on it made the kernel send
    /// IGMP reports with the virtual MAC as source, and IPv6 on it would add MLD and router
    /// solicitations; the LAN switch then learnt the virtual MAC on the backup's port. Reports
    /// for 224.0.0.0/24 are needless (RFC 4541: switches flood them); this is the per-namespace
    /// switch keepalived's `disable_local_igmp` sets. Both are restored on exit.
    fn silence_ipv4_vmac(&mut self, id: InstanceId, vmac: &str) {
        let settings = [
            (
                Sysctl::from_dotted("net.ipv4.igmp_link_local_mcast_reports"),
                "0",
            ),
            (Sysctl::ipv6_conf(vmac, "disable_ipv6"), "1"),
        ];
        for (sysctl, value) in settings {
            if let Err(e) = self.sysctls.set(sysctl, value) {
                let name = self.registry.instance(id).map(|i| i.cfg.name.clone());
                tracing::warn!(instance = ?name, "use_vmac: {e}");
            }
        }
    }

    /// Takes `id` off every socket it was heard on.
    fn unroute(&mut self, id: InstanceId) {
        let Some(instance) = self.registry.instance_mut(id) else {
            return;
        };
        let vrid = instance.cfg.vrid;
        if let Some(attachment) = instance.attachment.as_mut() {
            for socket in attachment.sockets.drain(..) {
                self.sockets.unroute(socket, vrid, id);
            }
            attachment.send_socket = None;
        }
    }

    /// After a (re)attach: a master whose VMAC was made again gets its resources back, and the
    /// router learns whether the instance is usable; a group still starting may now start.
    fn after_attach(&mut self, id: InstanceId) {
        let Some(instance) = self.registry.instance_mut(id) else {
            return;
        };
        let usable = instance.usable();
        if let Some(resources) = instance.restore_after_attach.take() {
            if usable {
                self.serve(id, resources);
                self.reinstall(id);
            }
        }
        if self.group_starting(id) {
            self.maybe_start_group(id);
        } else {
            self.link_changed(id, usable);
        }
    }

    /// The tracked interfaces' state came back from the worker.
    pub(super) fn on_links(&mut self, id: InstanceId, links: Vec<(String, Option<LinkInfo>)>) {
        let Some(instance) = self.registry.instance_mut(id) else {
            return;
        };
        instance.looking_up_links = false;
        let before: Vec<bool> = (0..instance.tracked.len())
            .map(|k| instance.tracked_ok(k))
            .collect();
        apply_links(instance, &links);
        if std::mem::take(&mut instance.reconfigure_after_lookup) {
            self.reconfigure_after_lookup(id);
        } else if self.group_starting(id) {
            self.maybe_start_group(id);
        } else {
            self.feed_tracked_changes(id, before);
        }
    }

    /// Forgets the instance's interface after it went away. What it installed as master is
    /// taken back: the VIPs went with the interface, but rules and firewall entries did not.
    pub(super) fn detach(&mut self, id: InstanceId) {
        self.stop_serving(id);
        self.unroute(id);
        let Some(instance) = self.registry.instance_mut(id) else {
            return;
        };
        instance.attachment = None;
        let interface = instance.cfg.interface.clone();
        instance.set_attach_error(Some(AttachError::Removed { interface }));
    }
}

/// Records each tracked interface's index and state from a lookup.
pub(super) fn apply_links(
    instance: &mut super::instance::Instance,
    links: &[(String, Option<LinkInfo>)],
) {
    for tracked in &mut instance.tracked {
        if let Some((_, link)) = links.iter().find(|(name, _)| *name == tracked.name) {
            tracked.ifindex = link.as_ref().map(|l| l.ifindex);
            tracked.up = link.as_ref().is_some_and(|l| l.oper_up);
        }
    }
}

/// The interface's own address of the instance's family: the first IPv4 address that is not one
/// of our VIPs, or the IPv6 link-local (RFC 9568 §5.1.2.1).
fn primary_address(instance: &super::instance::Instance, addresses: &[IpAddr]) -> Option<IpAddr> {
    addresses
        .iter()
        .copied()
        .filter(|a| Family::of(a) == instance.family)
        .filter(|a| !instance.template.vips.iter().any(|v| v.addr == *a))
        .find(|a| match a {
            IpAddr::V4(_) => true,
            IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
        })
}
