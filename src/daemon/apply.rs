//! Carrying out what the routers decide: each `Action` goes to the transmitter (adverts), the
//! worker (a master's resources), the hooks (notify scripts, FIFOs) and the log. `feed` and
//! `drive` are the only ways input reaches a router.

use std::sync::Arc;

use vipd_router::{self as router, Action, Input, MemberAction, Micros, SyncGroup};

use super::effects::MasterResources;
use super::instance::Serving;
use super::main_loop::Daemon;
use super::registry::{GroupId, InstanceId};
use super::vip_ledger;
use super::worker::Request;
use crate::observe::snapshot::state_name;

impl Daemon {
    /// Hands one input to an instance's router and carries out what it decides.
    pub(super) fn feed(&mut self, id: InstanceId, input: Input) {
        let Some((group, member)) = self.registry.instance(id).map(|i| (i.group, i.member)) else {
            return;
        };
        self.drive(group, |routers, now, out| {
            routers.handle(member, input, now, out)
        });
    }

    /// Runs `step` on a group's routers (once they are built) and carries out the actions.
    pub(super) fn drive(
        &mut self,
        group: GroupId,
        step: impl FnOnce(&mut SyncGroup, Micros, &mut Vec<MemberAction>),
    ) {
        let now = self.now();
        let Some(g) = self.registry.group_mut(group) else {
            return;
        };
        if g.routers.members().len() != g.members.len() {
            return;
        }
        let mut out = std::mem::take(&mut self.actions);
        step(&mut g.routers, now, &mut out);
        // Empty (no allocation) unless a member becomes master in this step.
        let becoming_master: Vec<usize> = out
            .iter()
            .filter(|a| matches!(a.action, Action::BecomeMaster))
            .map(|a| a.member)
            .collect();
        for MemberAction { member, action } in out.drain(..) {
            let Some(id) = self.registry.group(group).map(|g| g.members[member]) else {
                break;
            };
            let transition_advert = becoming_master.contains(&member);
            self.apply_one(id, action, transition_advert);
        }
        self.actions = out;
    }

    /// `becoming_master`: the same step also made this member master.
    fn apply_one(&mut self, id: InstanceId, action: Action, becoming_master: bool) {
        match action {
            Action::SendAdvert { priority } if becoming_master && self.first_advert_waits(id) => {
                if let Some(instance) = self.registry.instance_mut(id) {
                    instance.held_first_advert = Some(priority);
                }
            }
            Action::SendAdvert { priority } => self.send_advert(id, priority),
            Action::BecomeMaster => {
                let Some(instance) = self.registry.instance(id) else {
                    return;
                };
                let accepts = self
                    .registry
                    .router(id)
                    .is_some_and(|r| r.accepts_virtual_address_traffic());
                let resources = Arc::new(instance.master_resources(accepts));
                self.unsilence_vmac(id);
                if self.serve(id, resources) {
                    self.reinstall(id);
                } else {
                    self.send_held_advert(id);
                }
            }
            Action::BecomeBackup | Action::BecomeFault | Action::BecomeInitialize => {
                // A master handing over keeps its VIPs until its successor speaks (release.rs).
                let releasing = self
                    .registry
                    .instance(id)
                    .and_then(|i| i.serving.as_ref())
                    .is_some_and(|s| s.releasing_until.is_some());
                if !releasing {
                    self.stop_serving(id);
                }
            }
            Action::Transition { from, to, reason } => {
                self.ah_on_transition(id, to);
                self.on_transition(id, from, to, reason)
            }
            Action::Anomaly(router::Anomaly::RivalMaster { src }) => {
                let now = self.now().0;
                let Some(instance) = self.registry.instance_mut(id) else {
                    return;
                };
                instance.stats.rival_master_adverts += 1;
                // One warning per episode: a new rival, or the same one after 10 s of quiet.
                let fresh = instance
                    .rival_master
                    .is_none_or(|(last, at)| last != src || now.saturating_sub(at) > 10_000_000);
                if fresh {
                    tracing::warn!(instance = %instance.cfg.name, vrid = instance.cfg.vrid, "{src} advertises as master too and does not hear us (two masters); with use_vmac, check that both sides agree on vmac_xmit_base");
                }
                instance.rival_master = Some((src, now));
            }
            Action::Anomaly(anomaly) => {
                if let Some(instance) = self.registry.instance(id) {
                    tracing::debug!(instance = %instance.cfg.name, vrid = instance.cfg.vrid, "{anomaly:?}");
                }
            }
        }
    }

    fn on_transition(
        &mut self,
        id: InstanceId,
        from: router::State,
        to: router::State,
        reason: router::Reason,
    ) {
        let priority = self
            .registry
            .router(id)
            .map_or(0, |r| r.effective_priority());
        let now = self.now().0;
        let Some(instance) = self.registry.instance_mut(id) else {
            return;
        };
        instance
            .stats
            .on_transition(from, to, reason, now, std::time::SystemTime::now());
        instance.recent_transitions.record(from, to, reason);
        let Some(instance) = self.registry.instance(id) else {
            return;
        };
        tracing::info!(
            instance = %instance.cfg.name,
            vrid = instance.cfg.vrid,
            "{} -> {} ({:?})",
            state_name(from),
            state_name(to),
            reason
        );
        let links = if reason == router::Reason::Maintenance {
            self.hooks.on_instance_maintenance(&instance.cfg, priority)
        } else {
            self.hooks
                .on_instance_transition(&instance.cfg, to, priority)
        };
        let origin = format!("INSTANCE {}", instance.cfg.name);
        let group = instance.group;
        self.set_links(origin, links);
        self.notify_sync_group(group, to);
    }

    /// Runs a `vrrp_sync_group`'s notify scripts once all its members are in `state` (the group
    /// moves together, so this is once per group transition, as keepalived does).
    fn notify_sync_group(&mut self, group: GroupId, state: router::State) {
        let Some(g) = self.registry.group(group) else {
            return;
        };
        let Some(cfg) = &g.cfg else {
            return;
        };
        let all_there = g.members.len() == g.routers.members().len()
            && g.routers.members().iter().all(|r| r.state() == state);
        if !all_there || g.announced == Some(state) {
            return;
        }
        tracing::info!(sync_group = %cfg.name, "sync group is {}", state_name(state));
        let links = self.hooks.on_group_transition(cfg, state);
        let origin = format!("GROUP {}", cfg.name);
        self.set_links(origin, links);
        if let Some(g) = self.registry.group_mut(group) {
            g.announced = Some(state);
        }
    }

    /// Whether a new master's first advert waits for its VIPs: with `use_vmac` (adverts sent from
    /// the VMAC) that advert moves the virtual MAC to this router in every switch, so a client's
    /// packet sent after it and before the VIPs are on the VMAC would be lost. keepalived adds
    /// the VIPs before it sends. The VIPs are added by the worker on the runtime's thread, which a
    /// loaded machine may schedule milliseconds later: the lab lost 1 of 1501 probes at 2 ms.
    /// Only the advert sent with the transition waits (until the worker's report, or the router's
    /// next advert if that comes first).
    fn first_advert_waits(&self, id: InstanceId) -> bool {
        self.registry.instance(id).is_some_and(|instance| {
            instance.cfg.vmac.as_ref().is_some_and(|v| !v.xmit_base) && instance.serving.is_none()
        })
    }

    /// Sends the first advert [`Self::first_advert_waits`] held back, if there is one.
    pub(super) fn send_held_advert(&mut self, id: InstanceId) {
        let held = self
            .registry
            .instance_mut(id)
            .and_then(|i| i.held_first_advert.take());
        if let Some(priority) = held {
            self.send_advert(id, priority);
        }
    }

    /// Records what the instance serves as master; returns whether it has an interface to
    /// serve on (the caller then asks the worker to install it).
    pub(super) fn serve(&mut self, id: InstanceId, resources: Arc<MasterResources>) -> bool {
        let Some(instance) = self.registry.instance_mut(id) else {
            return false;
        };
        let Some(vip_ifindex) = instance.vip_ifindex() else {
            return false;
        };
        instance.serving = Some(Serving {
            vip_ifindex,
            resources,
            garp: None,
            announce_after_install: true,
            releasing_until: None,
            successor_heard: false,
        });
        true
    }

    /// Asks the worker (again) for what the instance serves as master.
    pub(super) fn reinstall(&mut self, id: InstanceId) {
        let Some(serving) = self.registry.instance(id).and_then(|i| i.serving.as_ref()) else {
            return;
        };
        let _ = self.worker.send(Request::Master {
            instance: id,
            ifindex: serving.vip_ifindex,
            present: true,
            resources: serving.resources.clone(),
        });
    }

    /// Stops announcing and asks the worker to take back what the instance installed as master,
    /// if anything; returns whether there was something to take back.
    pub(super) fn stop_serving(&mut self, id: InstanceId) -> bool {
        if let Some(instance) = self.registry.instance_mut(id) {
            instance.held_first_advert = None;
        }
        let Some(serving) = self
            .registry
            .instance_mut(id)
            .and_then(|i| i.serving.take())
        else {
            return false;
        };
        if let Some(instance) = self.registry.instance_mut(id) {
            instance.vip_ledger.released();
        }
        let _ = self.worker.send(Request::Master {
            instance: id,
            ifindex: serving.vip_ifindex,
            present: false,
            resources: serving.resources,
        });
        true
    }

    /// Whatever an earlier run that did not clean up left of ours (VIPs, routes, rules, firewall
    /// entries) is removed: at start before the routers run, and when an instance leaves.
    pub(super) fn remove_stale(&mut self, id: InstanceId) {
        let Some(instance) = self.registry.instance(id) else {
            return;
        };
        let Some(ifindex) = instance.vip_ifindex() else {
            return;
        };
        let _ = self.worker.send(Request::Master {
            instance: id,
            ifindex,
            present: false,
            resources: Arc::new(instance.master_resources(false)),
        });
    }

    /// A worker report on a master's resources: errors for status, and the first announcements
    /// once the VIPs are in place.
    pub(super) fn on_master_report(
        &mut self,
        id: InstanceId,
        present: bool,
        errors: Vec<crate::system::error::SystemError>,
    ) {
        let policy = self.garp_policy(id);
        let Some(instance) = self.registry.instance_mut(id) else {
            return;
        };
        if !errors.is_empty() {
            let line = errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            let same = instance.errors.reconcile.len() == errors.len()
                && instance
                    .errors
                    .reconcile
                    .iter()
                    .zip(&errors)
                    .all(|(a, b)| a.to_string() == b.to_string());
            if !same {
                tracing::warn!(instance = %instance.cfg.name, vrid = instance.cfg.vrid, "{line}");
            }
        }
        if let Some(serving) = instance.serving.as_ref().filter(|_| present) {
            let at = std::time::SystemTime::now();
            for vip in &serving.resources.vips {
                if vip_ledger::vip_error(&errors, vip.addr, vip.prefix_len).is_none() {
                    instance.vip_ledger.acquired(vip.addr, at);
                }
            }
        }
        instance.errors.reconcile = errors;
        if let Some(serving) = instance.serving.as_mut() {
            if present && serving.announce_after_install && serving.releasing_until.is_none() {
                serving.announce_after_install = false;
                serving.garp = Some(crate::system::announce::GarpPlan::start(
                    policy,
                    tokio::time::Instant::now(),
                ));
            }
        }
        if present && instance.serving.is_some() {
            self.send_held_advert(id);
        }
    }
}
