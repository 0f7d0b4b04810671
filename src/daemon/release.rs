//! Leaving, as one path for shutdown and for instances a reload removes: a departure takes whole
//! sync groups out of service in phases that run inside the normal event loop, so every other
//! instance keeps advertising meanwhile.
//!
//! 1. An IPv4 VMAC master stops answering ARP on its VMAC (`vmac_handover.rs`); an IPv6 one
//!    removes its VIPs first (the routers share the virtual MAC, and its answers to the
//!    successor's announcements would pull the switch back to its port), and the priority-0
//!    adverts wait until the worker reports them gone (bounded).
//! 2. The routers shut down (or are held, for maintenance): priority-0 adverts. A master that
//!    still has its VIPs keeps serving them (make-before-break) until a successor's advert is
//!    heard (and, without VMAC, a short grace after it for the successor's gratuitous ARP) or
//!    its wait runs out: two advert intervals, at least 1 s (a loaded machine), at most 3 s. A
//!    maintenance departure ends here, its instances held.
//! 3. Everything of ours is removed whatever the state, and once the worker confirms, the
//!    instances are dropped, unused sockets closed, VMACs this run made deleted and their
//!    sysctls restored.

use std::time::Duration;

use vipd_router::Micros;

use super::main_loop::Daemon;
use super::registry::{GroupId, InstanceId};
use super::worker::Request;

/// Why groups leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Reload,
    Shutdown,
    /// Maintenance or handover operation `n` (`maintenance.rs`): the routers are held instead
    /// of shut down, and the instances stay once their successors have spoken.
    Hold(u64),
}

#[derive(Debug)]
enum Phase {
    /// Waiting for the worker to remove VMAC instances' VIPs before the priority-0 adverts.
    Clearing { ticket: u64, until: Micros },
    /// Priority-0 adverts sent; held masters wait for their successor.
    Releasing,
    /// Final removals sent; waiting for the worker to confirm them.
    Cleaning { ticket: u64, until: Micros },
    /// Waiting for VMAC deletions.
    DeletingLinks { pending: Vec<u32> },
}

/// Groups on their way out.
#[derive(Debug)]
pub struct Departure {
    pub purpose: Purpose,
    groups: Vec<GroupId>,
    phase: Phase,
}

/// How long a master without VMAC keeps its VIPs once its successor advertises: half an advert
/// interval, 30-200 ms. Long enough for the successor's gratuitous ARP to reach the clients on a
/// loaded machine (seen: 10 ms), short enough that hardly any client ARPs for the VIP meanwhile
/// (both would answer).
pub(super) fn successor_grace(advert_interval: Duration) -> Duration {
    (advert_interval / 2).clamp(Duration::from_millis(30), Duration::from_millis(200))
}

/// How long a phase waits for the worker before going on regardless.
const WORKER_WAIT_US: u64 = 5_000_000;

impl Daemon {
    /// Starts taking `groups` out of service.
    pub(super) fn depart(&mut self, groups: Vec<GroupId>, purpose: Purpose) {
        let mut removing = false;
        for &group in &groups {
            for id in self.members(group) {
                let Some(instance) = self.registry.instance(id) else {
                    continue;
                };
                if instance.cfg.vmac.is_some() && !self.silence_vmac(id) {
                    removing |= self.stop_serving(id);
                }
            }
        }
        let phase = if removing {
            Phase::Clearing {
                ticket: self.barrier(),
                until: Micros(self.now().0 + WORKER_WAIT_US),
            }
        } else {
            Phase::Releasing
        };
        let released_now = matches!(phase, Phase::Releasing);
        self.departures.push(Departure {
            purpose,
            groups: groups.clone(),
            phase,
        });
        if released_now {
            self.send_priority_zero(&groups, purpose);
        }
        self.advance_departures();
    }

    fn members(&self, group: GroupId) -> Vec<InstanceId> {
        self.registry
            .group(group)
            .map(|g| g.members.clone())
            .unwrap_or_default()
    }

    /// A barrier request: its report comes back once the worker has done everything before it.
    pub(super) fn barrier(&mut self) -> u64 {
        self.next_ticket += 1;
        let _ = self.worker.send(Request::Barrier {
            ticket: self.next_ticket,
        });
        self.next_ticket
    }

    /// Phase 2: masters without VMAC keep their VIPs, then every router shuts down.
    fn send_priority_zero(&mut self, groups: &[GroupId], purpose: Purpose) {
        let now = self.now();
        for &group in groups {
            for id in self.members(group) {
                let Some(instance) = self.registry.instance_mut(id) else {
                    continue;
                };
                let interval = Duration::from_micros(instance.cfg.advert_interval_us);
                let wait = (interval * 2 + Duration::from_millis(20))
                    .clamp(Duration::from_secs(1), Duration::from_secs(3));
                if let Some(serving) = instance.serving.as_mut() {
                    serving.releasing_until = Some(Micros(now.0 + wait.as_micros() as u64));
                    serving.garp = None;
                }
            }
            self.drive(group, |routers, now, out| match purpose {
                Purpose::Hold(_) => routers.hold(true, now, out),
                Purpose::Reload | Purpose::Shutdown => routers.shutdown(now, out),
            });
        }
    }

    /// A valid advert with a priority above zero for a releasing instance: a router that is (or
    /// is becoming) master in our place. Without a VMAC the VIPs stay a moment longer
    /// ([`successor_grace`]): the successor's advert precedes its gratuitous ARP, and a client
    /// that still has our MAC for the VIP would lose what it sends in between. With a VMAC the
    /// MAC moves with the successor's advert, so they go now.
    #[inline]
    pub(super) fn successor_heard(&mut self, id: InstanceId, src: std::net::IpAddr) {
        // Every advert heard comes here; only a master handing over goes further (the same
        // invariant as `departure_deadline`).
        if !self.departures.is_empty() {
            self.successor_heard_while_departing(id, src);
        }
    }

    fn successor_heard_while_departing(&mut self, id: InstanceId, src: std::net::IpAddr) {
        let now = self.now();
        let Some(instance) = self.registry.instance_mut(id) else {
            return;
        };
        let Some(serving) = instance.serving.as_mut() else {
            return;
        };
        let Some(until) = serving.releasing_until else {
            return;
        };
        if serving.successor_heard {
            return;
        }
        let grace = match instance.cfg.vmac {
            Some(_) => Duration::ZERO,
            None => successor_grace(Duration::from_micros(instance.cfg.advert_interval_us)),
        };
        serving.successor_heard = true;
        serving.releasing_until = Some(until.min(Micros(now.0 + grace.as_micros() as u64)));
        self.note_successor(id, src);
        if grace.is_zero() {
            self.release(id, "the successor advertises");
            self.advance_departures();
        }
    }

    fn release(&mut self, id: InstanceId, why: &str) {
        if let Some(instance) = self.registry.instance(id) {
            tracing::info!(
                instance = %instance.cfg.name,
                vrid = instance.cfg.vrid,
                "releasing the virtual addresses ({why})"
            );
        }
        self.stop_serving(id);
    }

    /// The earliest instant a departure waits for.
    pub(super) fn departure_deadline(&self) -> Option<Micros> {
        // Only a departure makes an instance release (as `on_departure_timers` relies on too):
        // without one there is nothing to wait for, and no scan of every instance at every
        // wake-up.
        if self.departures.is_empty() {
            return None;
        }
        let phases = self.departures.iter().filter_map(|d| match d.phase {
            Phase::Clearing { until, .. } | Phase::Cleaning { until, .. } => Some(until),
            _ => None,
        });
        let releases = self
            .registry
            .instances()
            .filter_map(|i| i.serving.as_ref().and_then(|s| s.releasing_until));
        phases.chain(releases).min()
    }

    /// Ends the waits that ran out.
    pub(super) fn on_departure_timers(&mut self) {
        // Only a departure makes an instance release or wait for the worker.
        if self.departures.is_empty() {
            return;
        }
        let now = self.now();
        for id in self.registry.ids() {
            let Some(serving) = self.registry.instance(id).and_then(|i| i.serving.as_ref()) else {
                continue;
            };
            if serving.releasing_until.is_some_and(|until| until <= now) {
                let why = match serving.successor_heard {
                    true => "the successor advertises",
                    false => "no successor heard",
                };
                self.release(id, why);
            }
        }
        for departure in &mut self.departures {
            match &mut departure.phase {
                Phase::Clearing { until, ticket } | Phase::Cleaning { until, ticket }
                    if *until <= now =>
                {
                    tracing::warn!("the system worker did not answer in time; going on");
                    *ticket = 0;
                }
                _ => {}
            }
        }
        self.advance_departures();
    }

    /// The worker passed barrier `ticket`.
    pub(super) fn on_barrier(&mut self, ticket: u64) {
        for departure in &mut self.departures {
            match &mut departure.phase {
                Phase::Clearing { ticket: t, .. } | Phase::Cleaning { ticket: t, .. }
                    if *t == ticket =>
                {
                    *t = 0;
                }
                _ => {}
            }
        }
        self.advance_departures();
    }

    /// A VMAC deletion came back.
    pub(super) fn on_link_deleted(&mut self, ifindex: u32) {
        for departure in &mut self.departures {
            if let Phase::DeletingLinks { pending } = &mut departure.phase {
                pending.retain(|&i| i != ifindex);
            }
        }
        self.advance_departures();
    }

    /// Moves every departure as far as it can go; finished ones are handed to their purpose.
    fn advance_departures(&mut self) {
        let mut k = 0;
        while k < self.departures.len() {
            let groups = self.departures[k].groups.clone();
            match &self.departures[k].phase {
                Phase::Clearing { ticket: 0, .. } => {
                    self.departures[k].phase = Phase::Releasing;
                    let purpose = self.departures[k].purpose;
                    self.send_priority_zero(&groups, purpose);
                    continue;
                }
                Phase::Releasing => {
                    let holding = groups.iter().any(|&g| {
                        self.members(g).iter().any(|&id| {
                            self.registry
                                .instance(id)
                                .and_then(|i| i.serving.as_ref())
                                .is_some_and(|s| s.releasing_until.is_some())
                        })
                    });
                    if holding {
                        k += 1;
                        continue;
                    }
                    if let Purpose::Hold(_) = self.departures[k].purpose {
                        let departure = self.departures.remove(k);
                        self.departed(departure.purpose);
                        continue;
                    }
                    // Whatever state each instance was in, nothing of ours stays behind.
                    for &g in &groups {
                        for id in self.members(g) {
                            self.stop_serving(id);
                            self.remove_stale(id);
                        }
                    }
                    self.departures[k].phase = Phase::Cleaning {
                        ticket: self.barrier(),
                        until: Micros(self.now().0 + WORKER_WAIT_US),
                    };
                }
                Phase::Cleaning { ticket: 0, .. } => {
                    let pending = self.drop_groups(&groups);
                    self.departures[k].phase = Phase::DeletingLinks { pending };
                    continue;
                }
                Phase::DeletingLinks { pending } if pending.is_empty() => {
                    let departure = self.departures.remove(k);
                    self.departed(departure.purpose);
                    continue;
                }
                _ => {}
            }
            k += 1;
        }
    }

    /// Drops the groups' instances, closes the sockets nobody uses, and deletes the VMACs this
    /// run made that no live instance uses (restoring their sysctls); returns the deletions
    /// asked of the worker.
    fn drop_groups(&mut self, groups: &[GroupId]) -> Vec<u32> {
        let mut vmacs = Vec::new();
        for &group in groups {
            for instance in self.registry.remove_group(group) {
                if let (Some(vmac), Some(attachment)) = (&instance.cfg.vmac, &instance.attachment) {
                    if attachment.vip_ifindex != attachment.ifindex {
                        vmacs.push((
                            attachment.vip_ifindex,
                            vmac.name.clone(),
                            instance.cfg.interface.clone(),
                        ));
                    }
                }
                if let Some(attachment) = &instance.attachment {
                    for &socket in &attachment.sockets {
                        self.sockets.unroute(socket, instance.cfg.vrid, instance.id);
                    }
                }
            }
        }
        self.sockets.close_unused();
        let mut pending = Vec::new();
        for (ifindex, name, parent) in vmacs {
            let used = self
                .registry
                .instances()
                .any(|i| i.vip_ifindex() == Some(ifindex));
            if used {
                continue;
            }
            if self.vmacs.contains(&ifindex) {
                self.vmacs.retain(|&v| v != ifindex);
                let _ = self.worker.send(Request::DeleteLink {
                    ifindex,
                    name: name.clone(),
                });
                pending.push(ifindex);
            }
            let parent_still_used = self
                .registry
                .instances()
                .any(|i| i.cfg.vmac.is_some() && i.cfg.interface == parent);
            let mut failures = self.sysctls.restore_interface(&name);
            if !parent_still_used {
                failures.extend(self.sysctls.restore_interface(&parent));
            }
            for e in failures {
                tracing::warn!("restoring sysctl: {e}");
            }
        }
        pending
    }

    /// Whether any departure is still under way.
    pub(super) fn departing(&self) -> bool {
        !self.departures.is_empty()
    }
}
