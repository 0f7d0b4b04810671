//! `vipd maintenance` and `vipd handover` in the daemon: which groups an operation names, the
//! hold itself (the router's `Input::Hold`, for a whole sync group at once), the handover as a
//! departure of `release.rs` (priority 0, the VIPs kept until the successor's first advert,
//! bounded as on shutdown) that ends with the instances still there, and the state file that
//! keeps the hold across restarts.
//!
//! The state file is `<runtime dir>/maintenance`, one instance name per line, written whole
//! (temporary file, then rename) whenever the set changes. `/run` survives a restart of vipd but
//! not a reboot: a rebooted node comes back into service. An instance named there that the
//! configuration no longer has is kept, so that it is held again if it returns.

use std::collections::BTreeSet;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use tokio::sync::oneshot;
use vipd_router::{Micros, State};

use super::main_loop::Daemon;
use super::registry::{GroupId, InstanceId};
use super::release::Purpose;
use crate::observe::snapshot::state_name;
use crate::operate::{Operation, OperationReply, Outcome, Targets};

pub const STATE_FILE: &str = "maintenance";

/// The held instances and the operations waiting for their successors.
#[derive(Debug, Default)]
pub struct Maintenance {
    state_file: Option<PathBuf>,
    held: BTreeSet<String>,
    pending: Vec<Pending>,
    next_operation: u64,
    /// Successors heard by releasing instances: (instance, its address, when).
    successors: Vec<(InstanceId, IpAddr, Micros)>,
}

#[derive(Debug)]
struct Pending {
    id: u64,
    handover: bool,
    groups: Vec<GroupId>,
    /// Every member named, with its state before.
    before: Vec<(InstanceId, String, State, bool)>,
    started: Micros,
    reply: oneshot::Sender<OperationReply>,
}

impl Maintenance {
    /// Reads the held instances from `runtime_dir`'s state file (none when it does not exist).
    pub fn load(runtime_dir: &Path) -> Result<Maintenance, String> {
        let path = runtime_dir.join(STATE_FILE);
        let held = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned)
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeSet::new(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Ok(Maintenance {
            state_file: Some(path),
            held,
            ..Maintenance::default()
        })
    }

    /// Whether `name` is held.
    pub fn holds(&self, name: &str) -> bool {
        self.held.contains(name)
    }

    fn save(&self) -> Result<(), String> {
        let Some(path) = &self.state_file else {
            return Ok(());
        };
        let mut text = String::from("# instances in maintenance (vipd maintenance on|off)\n");
        for name in &self.held {
            text.push_str(name);
            text.push('\n');
        }
        let temporary = path.with_extension("new");
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, path))
            .map_err(|e| {
                format!(
                    "cannot keep the maintenance state in {}: {e}",
                    path.display()
                )
            })
    }
}

impl Daemon {
    /// Loads the maintenance state before the groups start (see `start_group`).
    pub fn load_maintenance(&mut self, runtime_dir: &Path) {
        match Maintenance::load(runtime_dir) {
            Ok(maintenance) => {
                for name in &maintenance.held {
                    tracing::info!(instance = %name, "in maintenance (from the state file)");
                }
                self.maintenance = maintenance;
            }
            Err(e) => {
                tracing::error!("{e}; starting with no instance in maintenance");
                self.errors.push(e);
            }
        }
    }

    /// Holds a starting group when the state file names one of its members.
    pub(super) fn hold_if_in_maintenance(&mut self, group: GroupId) {
        let held = self.members_of(group).iter().any(|&id| {
            self.registry
                .instance(id)
                .is_some_and(|i| self.maintenance.holds(&i.cfg.name))
        });
        if held {
            self.drive(group, |routers, now, out| routers.hold(true, now, out));
        }
    }

    fn members_of(&self, group: GroupId) -> Vec<InstanceId> {
        self.registry
            .group(group)
            .map(|g| g.members.clone())
            .unwrap_or_default()
    }

    /// A control request: `vipd maintenance on|off` or `vipd handover`.
    pub(super) fn on_operate(
        &mut self,
        operation: Operation,
        reply: oneshot::Sender<OperationReply>,
    ) {
        if self.shutting_down {
            let _ = reply.send(OperationReply::refused("vipd is shutting down"));
            return;
        }
        let targets = match &operation {
            Operation::Maintenance { targets, .. } | Operation::Handover { targets } => targets,
        };
        let groups = match self.groups_named(targets) {
            Ok(groups) => groups,
            Err(e) => {
                let _ = reply.send(OperationReply::refused(e));
                return;
            }
        };
        match operation {
            Operation::Maintenance { on: false, .. } => {
                let _ = reply.send(self.end_maintenance(&groups));
            }
            Operation::Maintenance { on: true, .. } => self.hand_over(groups, false, reply),
            Operation::Handover { .. } => self.hand_over(groups, true, reply),
        }
    }

    /// The groups `targets` names, each once; an unknown name refuses the whole request.
    fn groups_named(&self, targets: &Targets) -> Result<Vec<GroupId>, String> {
        let mut groups = Vec::new();
        match targets {
            Targets::All => groups = self.registry.group_ids(),
            Targets::Group(name) => {
                let found = self.registry.group_ids().into_iter().find(|&g| {
                    self.registry
                        .group(g)
                        .and_then(|g| g.cfg.as_ref())
                        .is_some_and(|cfg| &cfg.name == name)
                });
                match found {
                    Some(g) => groups.push(g),
                    None => {
                        let known: Vec<String> = self
                            .registry
                            .groups()
                            .filter_map(|g| g.cfg.as_ref().map(|c| c.name.clone()))
                            .collect();
                        return Err(format!(
                            "unknown sync group {name:?} (sync groups: {})",
                            list_or_none(&known)
                        ));
                    }
                }
            }
            Targets::Instances(names) => {
                for name in names {
                    let Some(group) = self
                        .registry
                        .named(name)
                        .and_then(|id| self.registry.instance(id))
                        .map(|i| i.group)
                    else {
                        let known: Vec<String> = self
                            .registry
                            .instances()
                            .map(|i| i.cfg.name.clone())
                            .collect();
                        return Err(format!(
                            "unknown instance {name:?} (instances: {})",
                            list_or_none(&known)
                        ));
                    };
                    if !groups.contains(&group) {
                        groups.push(group);
                    }
                }
            }
        }
        if groups.is_empty() {
            return Err("no instance is configured".into());
        }
        Ok(groups)
    }

    /// `maintenance on` (`handover` false) or `handover`: holds the groups; masters leave through
    /// the departure path and the reply waits for their successors.
    fn hand_over(
        &mut self,
        groups: Vec<GroupId>,
        handover: bool,
        reply: oneshot::Sender<OperationReply>,
    ) {
        let mut before = Vec::new();
        let mut masters = Vec::new();
        for &group in &groups {
            for id in self.members_of(group) {
                let Some((name, state, held)) = self.registry.instance(id).and_then(|i| {
                    let router = self.registry.router(id)?;
                    Some((i.cfg.name.clone(), router.state(), router.is_held()))
                }) else {
                    continue;
                };
                if state == State::Master && !masters.contains(&group) {
                    masters.push(group);
                }
                if !handover {
                    self.maintenance.held.insert(name.clone());
                }
                before.push((id, name, state, held));
            }
        }
        if !handover {
            if let Err(e) = self.maintenance.save() {
                tracing::error!("{e}");
                self.errors.retain(|x| !x.contains("maintenance state"));
                self.errors.push(e);
            }
            for &group in groups.iter().filter(|g| !masters.contains(g)) {
                self.drive(group, |routers, now, out| routers.hold(true, now, out));
            }
        }
        self.maintenance.next_operation += 1;
        let id = self.maintenance.next_operation;
        self.maintenance.pending.push(Pending {
            id,
            handover,
            groups: masters.clone(),
            before,
            started: self.now(),
            reply,
        });
        if masters.is_empty() {
            self.finish_operation(id);
        } else {
            self.depart(masters, Purpose::Hold(id));
        }
    }

    /// A releasing instance heard the router that takes over.
    pub(super) fn note_successor(&mut self, id: InstanceId, src: IpAddr) {
        if !self.maintenance.pending.is_empty() {
            let now = self.now();
            self.maintenance.successors.push((id, src, now));
        }
    }

    /// The departure of operation `id` is over: its masters heard their successors (or gave up).
    pub(super) fn finish_operation(&mut self, id: u64) {
        let Some(k) = self.maintenance.pending.iter().position(|p| p.id == id) else {
            return;
        };
        let pending = self.maintenance.pending.remove(k);
        if pending.handover {
            for &group in &pending.groups {
                self.drive(group, |routers, now, out| routers.hold(false, now, out));
            }
        }
        let outcomes = pending
            .before
            .iter()
            .map(|(instance, name, from, was_held)| {
                self.outcome(&pending, *instance, name, *from, *was_held)
            })
            .collect();
        let successors = &mut self.maintenance.successors;
        successors.retain(|(i, _, _)| !pending.before.iter().any(|(b, ..)| b == i));
        if self.maintenance.pending.is_empty() {
            self.maintenance.successors.clear();
        }
        let _ = pending.reply.send(OperationReply {
            error: None,
            outcomes,
        });
    }

    fn outcome(
        &self,
        pending: &Pending,
        id: InstanceId,
        name: &str,
        from: State,
        was_held: bool,
    ) -> Outcome {
        let router = self.registry.router(id);
        let to = router.map_or(from, |r| r.state());
        let maintenance = router.is_some_and(|r| r.is_held());
        let successor = self
            .maintenance
            .successors
            .iter()
            .find(|(i, _, _)| *i == id)
            .map(|&(_, src, at)| {
                (
                    src,
                    (at.0.saturating_sub(pending.started.0)) as f64 / 1000.0,
                )
            });
        let held_note = if maintenance { "; in maintenance" } else { "" };
        let (ok, message) = match (from, successor) {
            (State::Master, Some((src, ms))) => (
                true,
                format!(
                    "{name}: MASTER → {}, {src} took over after {ms:.1} ms{held_note}",
                    state_name(to)
                ),
            ),
            (State::Master, None) if pending.handover => (
                false,
                format!(
                    "{name}: no router took over; {name} is {} and back in the election",
                    state_name(to)
                ),
            ),
            (State::Master, None) => (
                true,
                format!(
                    "{name}: MASTER → {}, no router took over: NOBODY SERVES ITS ADDRESSES{held_note}",
                    state_name(to)
                ),
            ),
            (_, _) if was_held && maintenance => (
                true,
                format!("{name}: already in maintenance ({})", state_name(to)),
            ),
            (_, _) => (
                true,
                format!("{name}: already {}{held_note}", state_name(to)),
            ),
        };
        Outcome {
            instance: name.to_owned(),
            from: state_name(from).to_owned(),
            to: state_name(to).to_owned(),
            maintenance,
            successor: successor.map(|(src, _)| src.to_string()),
            after_ms: successor.map(|(_, ms)| ms),
            ok,
            message,
        }
    }

    /// `maintenance off`: every member back in the election under the usual preempt rules.
    fn end_maintenance(&mut self, groups: &[GroupId]) -> OperationReply {
        let mut outcomes = Vec::new();
        for &group in groups {
            let members = self.members_of(group);
            let held = self
                .registry
                .group(group)
                .is_some_and(|g| g.routers.members().iter().any(vipd_router::Router::is_held));
            for &id in &members {
                if let Some(i) = self.registry.instance(id) {
                    self.maintenance.held.remove(&i.cfg.name);
                }
            }
            if held {
                self.drive(group, |routers, now, out| routers.hold(false, now, out));
            }
            for id in members {
                let Some((name, state)) = self
                    .registry
                    .instance(id)
                    .and_then(|i| Some((i.cfg.name.clone(), self.registry.router(id)?.state())))
                else {
                    continue;
                };
                let state = state_name(state);
                outcomes.push(Outcome {
                    message: if held {
                        format!("{name}: maintenance off; {state}, back in the election")
                    } else {
                        format!("{name}: not in maintenance ({state})")
                    },
                    instance: name,
                    from: state.to_owned(),
                    to: state.to_owned(),
                    maintenance: false,
                    successor: None,
                    after_ms: None,
                    ok: true,
                });
            }
        }
        if let Err(e) = self.maintenance.save() {
            tracing::error!("{e}");
        }
        OperationReply {
            error: None,
            outcomes,
        }
    }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_file_round_trips_and_a_missing_one_holds_nothing() {
        let dir = std::env::temp_dir().join(format!("vipd-maint-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::remove_file(dir.join(STATE_FILE));
        let mut maintenance = Maintenance::load(&dir).unwrap();
        assert!(!maintenance.holds("VI_gw"));
        maintenance.held.insert("VI_gw".into());
        maintenance.held.insert("VI_2".into());
        maintenance.save().unwrap();
        let text = std::fs::read_to_string(dir.join(STATE_FILE)).unwrap();
        assert!(text.lines().any(|l| l == "VI_gw"), "{text}");
        let again = Maintenance::load(&dir).unwrap();
        assert!(again.holds("VI_gw") && again.holds("VI_2") && !again.holds("VI_3"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unreadable_state_file_is_an_error_naming_it() {
        let dir = std::env::temp_dir().join(format!("vipd-maint-dir-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(STATE_FILE)).unwrap();
        let e = Maintenance::load(&dir).unwrap_err();
        assert!(e.contains(STATE_FILE), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
