//! keepalived's `vrrp_sync_group`: members that change state together. When one member becomes
//! Master or Backup on its own, the others follow; while any member has a fault of its own, every
//! member is held in Fault, and they all come back together.

use crate::config::{ConfigError, RouterConfig};
use crate::router::{Action, GroupCommand, Input, Reason, Router, State};
use crate::time::Micros;

/// An action together with the member (index into the group) that must carry it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberAction {
    /// Index of the member in the group, as given to [`SyncGroup::new`].
    pub member: usize,
    /// What to do.
    pub action: Action,
}

/// A set of routers that change state together. It owns its members; feed every input for a
/// member through [`SyncGroup::handle`] so the others can follow.
#[derive(Clone, Debug)]
pub struct SyncGroup {
    members: Vec<Router>,
    scratch: Vec<Action>,
    commands: Vec<(usize, GroupCommand)>,
}

impl SyncGroup {
    /// Groups routers that are still in Initialize.
    pub fn new(members: Vec<Router>) -> SyncGroup {
        SyncGroup {
            members,
            scratch: Vec::new(),
            commands: Vec::new(),
        }
    }

    /// The members, in the order given to [`SyncGroup::new`].
    pub fn members(&self) -> &[Router] {
        &self.members
    }

    /// One member.
    pub fn member(&self, index: usize) -> &Router {
        &self.members[index]
    }

    /// Gives member `index` its (new) primary address; see [`Router::set_primary_address`].
    pub fn set_primary_address(&mut self, index: usize, address: std::net::IpAddr) {
        self.members[index].set_primary_address(address);
    }

    /// The earliest deadline of any member.
    pub fn next_deadline(&self) -> Option<Micros> {
        // The caller asks every group at every wake-up; most groups are one instance alone.
        if let [only] = self.members.as_slice() {
            return only.next_deadline();
        }
        self.members.iter().filter_map(Router::next_deadline).min()
    }

    /// The earliest time any member acts on a timer ([`Router::acts_from`]): a wake-up for
    /// another deadline at or after it takes this group's adverts along.
    pub fn acts_from(&self) -> Option<Micros> {
        if let [only] = self.members.as_slice() {
            return only.acts_from();
        }
        self.members.iter().filter_map(Router::acts_from).min()
    }

    /// Starts every member, then lines the group up behind any member that came up as Master
    /// (an address owner does).
    pub fn startup(&mut self, now: Micros, out: &mut Vec<MemberAction>) {
        for index in 0..self.members.len() {
            self.handle(index, Input::Startup, now, out);
        }
    }

    /// Stops every member (Masters send their priority-0 adverts).
    pub fn shutdown(&mut self, now: Micros, out: &mut Vec<MemberAction>) {
        for index in 0..self.members.len() {
            self.handle(index, Input::Shutdown, now, out);
        }
    }

    /// Puts every member in maintenance, or takes them all out of it ([`Input::Hold`]): a sync
    /// group moves together. Each Master sends its own priority-0 advert before any member
    /// follows another, so no member is left waiting for a down timer.
    pub fn hold(&mut self, on: bool, now: Micros, out: &mut Vec<MemberAction>) {
        for index in 0..self.members.len() {
            self.deliver(index, Input::Hold { on }, now, out);
        }
        while let Some((index, command)) = self.commands.pop() {
            self.deliver(index, Input::SyncGroup(command), now, out);
        }
        self.settle_faults(now, out);
    }

    /// True when every member is in maintenance.
    pub fn is_held(&self) -> bool {
        !self.members.is_empty() && self.members.iter().all(Router::is_held)
    }

    /// Delivers [`Input::Timer`] to every member that acts on it by `now`
    /// ([`Router::acts_from`]: its deadline, or a Master's advert a little before).
    pub fn handle_timers(&mut self, now: Micros, out: &mut Vec<MemberAction>) {
        for index in 0..self.members.len() {
            if self.members[index].acts_from().is_some_and(|d| d <= now) {
                self.handle(index, Input::Timer, now, out);
            }
        }
    }

    /// Feeds one input to one member, then makes the others follow.
    pub fn handle(
        &mut self,
        member: usize,
        input: Input,
        now: Micros,
        out: &mut Vec<MemberAction>,
    ) {
        self.deliver(member, input, now, out);
        // A lone member (every instance outside a vrrp_sync_group) has no one to follow it and
        // cannot be held by a group fault; this runs for every advert heard.
        if self.members.len() == 1 {
            return;
        }
        while let Some((index, command)) = self.commands.pop() {
            self.deliver(index, Input::SyncGroup(command), now, out);
        }
        self.settle_faults(now, out);
    }

    /// Applies a changed configuration to one member with [`Router::reconfigure`] (state kept),
    /// then lets the others follow whatever that changed (e.g. a member leaving Fault because a
    /// tracked interface it no longer tracks was down).
    pub fn reconfigure(
        &mut self,
        member: usize,
        config: RouterConfig,
        now: Micros,
        out: &mut Vec<MemberAction>,
    ) -> Result<(), ConfigError> {
        let mut result = Ok(());
        self.deliver_with(member, out, |router, actions| {
            result = router.reconfigure(config, now, actions);
        });
        result?;
        while let Some((index, command)) = self.commands.pop() {
            self.deliver(index, Input::SyncGroup(command), now, out);
        }
        self.settle_faults(now, out);
        Ok(())
    }

    fn deliver(&mut self, member: usize, input: Input, now: Micros, out: &mut Vec<MemberAction>) {
        self.deliver_with(member, out, |router, actions| {
            router.handle(input, now, actions)
        });
    }

    /// Runs `step` on one member and queues the commands that make the others follow it.
    fn deliver_with(
        &mut self,
        member: usize,
        out: &mut Vec<MemberAction>,
        step: impl FnOnce(&mut Router, &mut Vec<Action>),
    ) {
        self.scratch.clear();
        step(&mut self.members[member], &mut self.scratch);
        let mut follow = None;
        for &action in &self.scratch {
            if let Action::Transition { to, reason, from } = action {
                // Transitions we caused ourselves are not echoed back, or the group would loop.
                if reason != Reason::SyncGroup && from != to {
                    follow = match to {
                        State::Master => Some(GroupCommand::Master),
                        State::Backup => Some(GroupCommand::Backup),
                        State::Fault | State::Initialize => None,
                    };
                }
            }
            out.push(MemberAction { member, action });
        }
        if let Some(command) = follow {
            for index in (0..self.members.len()).filter(|&i| i != member) {
                self.commands.push((index, command));
            }
        }
    }

    /// Holds every member in Fault while any member has a fault of its own, and releases them
    /// all together when the last one clears.
    fn settle_faults(&mut self, now: Micros, out: &mut Vec<MemberAction>) {
        let any_fault = self.members.iter().any(Router::has_own_fault);
        for index in 0..self.members.len() {
            let held = self.members[index].held_by_group_fault();
            // A member in Fault for a reason of its own is not also held by the group, so that it
            // leaves Fault with its own reason (e.g. InterfaceUp) once that clears.
            if any_fault && !held && !self.members[index].has_own_fault() {
                self.deliver(index, Input::SyncGroup(GroupCommand::Fault), now, out);
            } else if !any_fault && held {
                self.deliver(
                    index,
                    Input::SyncGroup(GroupCommand::FaultCleared),
                    now,
                    out,
                );
            }
        }
        // Members released from Fault come back as Backup (or Master for an owner); a Master
        // among them pulls the rest along.
        self.commands.clear();
        if !any_fault {
            if let Some(master) = self.members.iter().position(|r| r.state() == State::Master) {
                for index in 0..self.members.len() {
                    if index != master && self.members[index].state() == State::Backup {
                        self.deliver(index, Input::SyncGroup(GroupCommand::Master), now, out);
                    }
                }
            }
        }
        self.commands.clear();
    }
}
