//! What netlink tells the daemon about the world: links that come, go, go up or down (attach,
//! detach, track_interface, Fault in and out), and our VIPs, routes and rules removed by someone
//! else (put back). Nothing here waits for the kernel: attaching is a worker request.

use vipd_config as config;
use vipd_router::Input;

use super::effects;
use super::instance::INTERFACE_TRACK_ID;
use super::main_loop::Daemon;
use super::registry::InstanceId;
use crate::system::netlink::{AddressEvent, LinkEvent, NetEvent, RouteEvent, RuleEvent};

impl Daemon {
    pub(super) fn on_net_event(&mut self, event: NetEvent) {
        match event {
            NetEvent::Link(link) => self.on_link(&link),
            NetEvent::Address(address) => self.on_address(&address),
            NetEvent::Route(change) if change.removed => self.on_route_removed(&change),
            NetEvent::Rule(change) if change.removed => self.on_rule_removed(&change),
            NetEvent::Route(_) | NetEvent::Rule(_) => {}
        }
    }

    fn on_link(&mut self, link: &LinkEvent) {
        if link.removed {
            self.sockets.close_on(link.ifindex);
        }
        for id in self.registry.ids() {
            self.track_link(id, link);
            let Some(instance) = self.registry.instance(id) else {
                continue;
            };
            let ifindex = instance.attachment.as_ref().map(|a| a.ifindex);
            let parent = ifindex == Some(link.ifindex)
                || (ifindex.is_none() && instance.cfg.interface == link.name);
            let own_vmac = instance.cfg.vmac.is_some()
                && instance.vip_ifindex() == Some(link.ifindex)
                && ifindex != Some(link.ifindex);
            if own_vmac && link.removed {
                // Someone deleted our VMAC under a live parent: make it again, and as master put
                // back what went with it (the VIPs; routes via it).
                tracing::warn!(instance = %instance.cfg.name, vrid = instance.cfg.vrid, "VMAC {} was deleted; recreating it", link.name);
                let was_serving = instance.serving.as_ref().map(|s| s.resources.clone());
                self.detach(id);
                self.vmacs.retain(|&v| v != link.ifindex);
                if let Some(instance) = self.registry.instance_mut(id) {
                    instance.restore_after_attach = was_serving;
                }
                self.request_attach(id);
                continue;
            }
            if !parent {
                continue;
            }
            if link.removed {
                self.detach(id);
                self.link_changed(id, false);
                continue;
            }
            let needs_attach = instance
                .attachment
                .as_ref()
                .is_none_or(|a| a.send_socket.is_none() || a.src.is_none());
            if needs_attach {
                self.request_attach(id);
                continue;
            }
            let instance = self.registry.instance_mut(id).expect("checked above");
            if let Some(attachment) = instance.attachment.as_mut() {
                attachment.link_up = link.up;
            }
            let usable = instance.usable();
            self.link_changed(id, usable);
        }
    }

    fn on_address(&mut self, address: &AddressEvent) {
        for id in self.registry.ids() {
            let Some(instance) = self.registry.instance(id) else {
                continue;
            };
            if address.removed
                && instance.vip_ifindex() == Some(address.ifindex)
                && instance
                    .serving
                    .as_ref()
                    .is_some_and(|s| s.resources.vips.iter().any(|v| v.addr == address.addr))
            {
                tracing::warn!(instance = %instance.cfg.name, vrid = instance.cfg.vrid, "VIP {} was removed by someone else; putting it back", address.addr);
                if let Some(instance) = self.registry.instance_mut(id) {
                    instance.vip_ledger.lost(address.addr);
                }
                self.reinstall(id);
            }
            let Some(instance) = self.registry.instance(id) else {
                continue;
            };
            let on_ours = instance
                .attachment
                .as_ref()
                .is_some_and(|a| a.ifindex == address.ifindex || a.vip_ifindex == address.ifindex);
            // A usable address may be the one to send from; the one we send from may have gone
            // or turned tentative again (IPv6 reruns DAD when the link comes back up): attach
            // again to pick another, or none (not usable until DAD finishes).
            let usable_now = !address.removed && !address.tentative;
            let lost_src = !usable_now && instance.src() == Some(address.addr);
            if on_ours && ((usable_now && instance.src().is_none()) || lost_src) {
                self.request_attach(id);
            }
        }
    }

    fn on_route_removed(&mut self, change: &RouteEvent) {
        for id in self.registry.ids() {
            let Some(instance) = self.registry.instance(id) else {
                continue;
            };
            let ours = instance.serving.as_ref().is_some_and(|s| {
                s.resources.routes.iter().any(|route| {
                    route.to.len == change.prefix
                        && route.table.unwrap_or(254) == change.table
                        && (change.dst == Some(route.to.addr)
                            || (change.dst.is_none() && route.to.addr.is_unspecified()))
                })
            });
            if ours {
                tracing::warn!(instance = %instance.cfg.name, "a virtual route was removed by someone else; putting it back");
                self.reinstall(id);
            }
        }
    }

    fn on_rule_removed(&mut self, change: &RuleEvent) {
        for id in self.registry.ids() {
            let Some(instance) = self.registry.instance(id) else {
                continue;
            };
            let ours = instance.serving.as_ref().is_some_and(|s| {
                s.resources.rules.iter().any(|rule| {
                    let family = effects::family(rule.family);
                    // Without a configured priority the kernel chose one: any of ours of that
                    // family and table may be it, and putting back is idempotent.
                    family == change.family
                        && rule.priority.is_none_or(|p| Some(p) == change.priority)
                        && match rule.action {
                            config::RuleAction::Lookup(table) => table == change.table,
                            _ => true,
                        }
                })
            });
            if ours {
                tracing::warn!(instance = %instance.cfg.name, "a virtual rule was removed by someone else; putting it back");
                self.reinstall(id);
            }
        }
    }

    /// Follows a `track_interface` entry and tells the router when its verdict changes.
    fn track_link(&mut self, id: InstanceId, link: &LinkEvent) {
        let Some(count) = self.registry.instance(id).map(|i| i.tracked.len()) else {
            return;
        };
        for index in 0..count {
            let instance = self.registry.instance_mut(id).expect("checked above");
            let tracked = &instance.tracked[index];
            if tracked.ifindex != Some(link.ifindex) && tracked.name != link.name {
                continue;
            }
            let before = instance.tracked_ok(index);
            let tracked = &mut instance.tracked[index];
            tracked.ifindex = (!link.removed).then_some(link.ifindex);
            tracked.up = link.up && !link.removed;
            let after = instance.tracked_ok(index);
            if before != after {
                tracing::info!(instance = %instance.cfg.name, vrid = instance.cfg.vrid, "tracked interface {} is {}", link.name, if link.up && !link.removed { "up" } else { "down" });
                self.feed(
                    id,
                    Input::TrackedObjectChanged {
                        id: INTERFACE_TRACK_ID | index as u32,
                        up: after,
                    },
                );
            }
        }
    }

    /// Tells the router when the instance becomes usable or stops being usable.
    pub(super) fn link_changed(&mut self, id: InstanceId, up: bool) {
        let Some(instance) = self.registry.instance_mut(id) else {
            return;
        };
        if instance.router_sees_link_up == up {
            return;
        }
        instance.router_sees_link_up = up;
        if instance.cfg.dont_track_primary {
            return;
        }
        self.feed(
            id,
            if up {
                Input::InterfaceUp
            } else {
                Input::InterfaceDown
            },
        );
    }

    /// The tracked interfaces' state changed under a running router: tell it.
    pub(super) fn feed_tracked_changes(&mut self, id: InstanceId, before: Vec<bool>) {
        let Some(instance) = self.registry.instance(id) else {
            return;
        };
        let changed: Vec<(usize, bool)> = (0..instance.tracked.len())
            .filter_map(|k| {
                let now = instance.tracked_ok(k);
                (before.get(k) != Some(&now)).then_some((k, now))
            })
            .collect();
        for (k, up) in changed {
            self.feed(
                id,
                Input::TrackedObjectChanged {
                    id: super::instance::INTERFACE_TRACK_ID | k as u32,
                    up,
                },
            );
        }
    }
}
