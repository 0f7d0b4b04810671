//! The per-virtual-router state machine of RFC 9568 §6.4 (Initialize, Backup, Master) plus
//! keepalived's Fault state, tracking weights, preempt delay and sync-group commands.

use std::net::IpAddr;

use crate::config::{
    ConfigError, InitialState, RouterConfig, Track, TrackEffect, TrackStatus, Version,
};
use crate::heard::{self, HeardAdvert};
use crate::time::Micros;
use crate::timing::{advert_field_to_us, master_down_interval_us, skew_time_us};

mod cadence;
mod hold;
mod io;

pub use io::{Action, Anomaly, Counters, GroupCommand, Input, Reason, ReceivedAdvert, State};

/// One virtual router. See the crate documentation for the calling convention.
#[derive(Clone, Debug)]
pub struct Router {
    config: RouterConfig,
    state: State,
    state_since: Micros,
    deadline: Option<Micros>,
    master_adver_interval_us: u64,
    master_address: Option<IpAddr>,
    /// The last valid advert from another router since we last started.
    last_heard: Option<HeardAdvert>,
    effective_priority: u8,
    /// Every tracked object of both config lists, with its current status.
    tracks: Vec<Track>,
    /// Startup arrived while a weight-0 object was still unknown: start once it is known.
    start_pending: bool,
    interface_up: bool,
    group_fault: bool,
    /// While a preempt delay runs, lower-priority adverts are still accepted until this instant.
    preempt_allowed_at: Option<Micros>,
    /// The reason to report if the Backup down timer fires.
    down_timer_reason: Reason,
    /// In maintenance ([`Input::Hold`]).
    held: bool,
    counters: Counters,
}

impl Router {
    /// Builds a router in Initialize. Nothing happens until [`Input::Startup`].
    pub fn new(config: RouterConfig) -> Result<Router, ConfigError> {
        config.validate()?;
        let tracks = merged_tracks(&config);
        let mut router = Router {
            master_adver_interval_us: config.advert_interval_us,
            effective_priority: config.priority,
            config,
            state: State::Initialize,
            state_since: Micros::ZERO,
            deadline: None,
            master_address: None,
            last_heard: None,
            tracks,
            start_pending: false,
            interface_up: true,
            group_fault: false,
            preempt_allowed_at: None,
            down_timer_reason: Reason::MasterDownTimerExpired,
            held: false,
            counters: Counters::default(),
        };
        router.effective_priority = router.compute_effective_priority();
        Ok(router)
    }

    /// Feeds one input stamped with the caller's monotonic time; actions are appended to `out`.
    pub fn handle(&mut self, input: Input, now: Micros, out: &mut Vec<Action>) {
        match input {
            Input::Startup => {
                if self.state == State::Initialize {
                    self.start_pending = true;
                    self.resume_pending_start(now, out);
                }
            }
            Input::Shutdown => self.shutdown(now, out),
            Input::Advert(advert) => self.on_advert(advert, now, out),
            Input::Timer => self.on_timer(now, out),
            Input::TrackedObjectChanged { id, up } => {
                let status = if up {
                    TrackStatus::Up
                } else {
                    TrackStatus::Down
                };
                self.on_tracked(id, status, now, out);
            }
            Input::TrackedValueChanged { id, value } => {
                self.on_tracked(id, TrackStatus::Value(value), now, out);
            }
            Input::InterfaceDown => {
                self.interface_up = false;
                if self.is_running() {
                    self.enter_fault(now, Reason::InterfaceDown, out);
                }
                self.resume_pending_start(now, out);
            }
            Input::InterfaceUp => {
                self.interface_up = true;
                self.try_leave_fault(now, Reason::InterfaceUp, out);
            }
            Input::SyncGroup(command) => self.on_group_command(command, now, out),
            Input::Hold { on } => self.on_hold(on, now, out),
        }
    }

    /// Applies a changed configuration of the same virtual router without restarting it
    /// (keepalived's reload): the state, its deadline, the master heard and the counters are
    /// kept. Only the VRID and the version identify the router; when either differs the caller must
    /// build a new router instead, and [`ConfigError::IdentityChanged`] says so.
    ///
    /// Nothing is sent at once: a Master advertises its new priority and interval with its next
    /// scheduled advert, and the RFC rules then decide (a Backup that now out-ranks the master and
    /// may preempt discards its adverts and takes over when its down timer runs out; a Master that
    /// now ranks below a Backup hears it take over). Only a change of the tracked objects' verdict
    /// can move the router at once, as [`Input::TrackedObjectChanged`] would (Fault in or out).
    pub fn reconfigure(
        &mut self,
        config: RouterConfig,
        now: Micros,
        out: &mut Vec<Action>,
    ) -> Result<(), ConfigError> {
        config.validate()?;
        if config.vrid != self.config.vrid || config.version != self.config.version {
            return Err(ConfigError::IdentityChanged);
        }
        let was_tracked_fault = self.tracked_fault();
        if config.preempt_delay_us != self.config.preempt_delay_us || !config.preempt {
            self.preempt_allowed_at = None;
        }
        self.tracks = merged_tracks(&config);
        self.config = config;
        self.effective_priority = self.compute_effective_priority();
        if self.state == State::Master {
            self.master_address = Some(self.config.primary_address);
        }
        // A v3 Backup keeps the interval it learned from the master; everyone else uses its own.
        if self.state == State::Master || self.config.version == Version::V2 {
            self.master_adver_interval_us = self.own_interval_us();
        }
        let tracked_fault = self.tracked_fault();
        if tracked_fault && !was_tracked_fault && self.is_running() {
            self.enter_fault(now, Reason::TrackFailed, out);
        } else if !tracked_fault && self.state == State::Fault {
            self.try_leave_fault(now, Reason::TrackRecovered, out);
        }
        self.resume_pending_start(now, out);
        Ok(())
    }

    /// When the caller must next deliver [`Input::Timer`], if ever.
    pub fn next_deadline(&self) -> Option<Micros> {
        self.deadline
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// When the current state was entered.
    pub fn state_since(&self) -> Micros {
        self.state_since
    }

    /// The priority we advertise: 255 for the owner, otherwise the base priority moved by the
    /// tracked objects' weights and clamped to 1–254.
    pub fn effective_priority(&self) -> u8 {
        self.effective_priority
    }

    /// The master we last accepted an advert from, or our own address while we are Master.
    pub fn master_address(&self) -> Option<IpAddr> {
        self.master_address
    }

    /// The last valid advert another router sent us since we last started (its source,
    /// priority and arrival time).
    pub fn last_heard(&self) -> Option<HeardAdvert> {
        self.last_heard
    }

    /// The other router that is master now, as we see it: while Backup, the last router that
    /// advertised with a non-zero priority; None while we are Master (we are) or not listening.
    pub fn peer_master(&self) -> Option<HeardAdvert> {
        heard::peer_master(self.state, self.last_heard)
    }

    /// Master_Adver_Interval: learned from the master's adverts in v3 Backup, ours otherwise.
    pub fn master_adver_interval_us(&self) -> u64 {
        self.master_adver_interval_us
    }

    /// Skew_Time with the current effective priority and Master_Adver_Interval.
    pub fn skew_time_us(&self) -> u64 {
        skew_time_us(
            self.config.version,
            self.effective_priority,
            self.master_adver_interval_us,
        )
    }

    /// Master_Down_Interval with the current effective priority and Master_Adver_Interval.
    pub fn master_down_interval_us(&self) -> u64 {
        master_down_interval_us(
            self.config.version,
            self.effective_priority,
            self.master_adver_interval_us,
            self.config.down_timer_adverts,
        )
    }

    /// The configuration the router was built with (and the primary address it has now).
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// Our primary address changed (the interface got its first address, or another one after
    /// coming back): later tie-breaks and own-advert checks use it, and a Master reports it as
    /// the master's address.
    pub fn set_primary_address(&mut self, address: IpAddr) {
        self.config.primary_address = address;
        if self.state == State::Master {
            self.master_address = Some(address);
        }
    }

    /// Cumulative counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Every tracked object with its current status, in config order ([`RouterConfig::tracked`]
    /// first); [`Track::effect`] says what each does to the router.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// True while a weight-0 object's status is still [`TrackStatus::Unknown`]: the router does not
    /// start (it stays in Initialize after [`Input::Startup`]) nor leave Fault until it is known.
    pub fn awaiting_tracks(&self) -> bool {
        self.tracks
            .iter()
            .any(|track| track.effect() == TrackEffect::Pending)
    }

    /// True when this router itself (not its sync group) cannot serve: link down or a weight-0
    /// tracked object failed.
    pub fn has_own_fault(&self) -> bool {
        !self.interface_up || self.tracked_fault()
    }

    /// True while the router is in maintenance ([`Input::Hold`]).
    pub fn is_held(&self) -> bool {
        self.held
    }

    /// True while a sync-group fault holds this router in Fault.
    pub fn held_by_group_fault(&self) -> bool {
        self.group_fault
    }

    /// Whether traffic to the virtual addresses may be accepted now (RFC 9568 §6.4.3: Master and
    /// either the owner or Accept_Mode).
    pub fn accepts_virtual_address_traffic(&self) -> bool {
        self.state == State::Master && (self.config.is_address_owner() || self.config.accept)
    }

    fn is_running(&self) -> bool {
        matches!(self.state, State::Backup | State::Master)
    }

    fn tracked_fault(&self) -> bool {
        self.tracks
            .iter()
            .any(|track| track.effect() == TrackEffect::Fault)
    }

    fn compute_effective_priority(&self) -> u8 {
        if self.config.is_address_owner() {
            return 255;
        }
        let adjustment: i64 = self
            .tracks
            .iter()
            .map(|track| match track.effect() {
                TrackEffect::Adjust(value) => i64::from(value),
                TrackEffect::Fault | TrackEffect::Pending => 0,
            })
            .sum();
        (i64::from(self.config.priority) + adjustment).clamp(1, 254) as u8
    }

    fn own_interval_us(&self) -> u64 {
        self.config.advert_interval_us
    }

    fn start(&mut self, now: Micros, reason: Reason, out: &mut Vec<Action>) {
        self.master_adver_interval_us = self.own_interval_us();
        self.preempt_allowed_at = None;
        if !self.interface_up {
            self.enter_fault(now, Reason::InterfaceDown, out);
        } else if self.tracked_fault() {
            self.enter_fault(now, Reason::TrackFailed, out);
        } else if self.group_fault {
            self.enter_fault(now, Reason::SyncGroup, out);
        } else if self.held {
            self.master_address = None;
            self.enter_backup(now, reason, 0, out);
            self.deadline = None;
        } else if self.config.is_address_owner() {
            self.enter_master(now, reason, out);
        } else {
            let wait_us =
                if reason == Reason::Startup && self.config.initial_state == InitialState::Master {
                    // keepalived's `state MASTER`: one interval for a better master to speak up.
                    self.master_adver_interval_us + self.skew_time_us()
                } else {
                    self.master_down_interval_us()
                };
            self.master_address = None;
            self.last_heard = None;
            self.enter_backup(now, reason, wait_us, out);
        }
    }

    fn shutdown(&mut self, now: Micros, out: &mut Vec<Action>) {
        self.start_pending = false;
        if self.state == State::Initialize {
            return;
        }
        if self.state == State::Master {
            self.send_advert(0, out);
            self.counters.release_master += 1;
        }
        self.deadline = None;
        self.master_address = None;
        out.push(Action::BecomeInitialize);
        self.transition(State::Initialize, Reason::Shutdown, now, out);
    }

    fn on_timer(&mut self, now: Micros, out: &mut Vec<Action>) {
        let Some(deadline) = self.deadline else {
            self.counters.spurious_timers += 1;
            return;
        };
        if self.acts_from().is_some_and(|from| now < from) {
            self.counters.spurious_timers += 1;
            return;
        }
        match self.state {
            State::Backup => {
                let reason = self.down_timer_reason;
                self.enter_master(now, reason, out);
            }
            State::Master => {
                self.send_advert(self.effective_priority, out);
                self.deadline = Some(self.next_advert_deadline(deadline, now));
            }
            State::Initialize | State::Fault => {
                self.deadline = None;
                self.counters.spurious_timers += 1;
            }
        }
    }

    fn on_advert(&mut self, advert: ReceivedAdvert, now: Micros, out: &mut Vec<Action>) {
        if !self.is_running() {
            return;
        }
        self.counters.adverts_received += 1;
        let src = advert.src;
        if src == self.config.primary_address {
            self.drop_advert(Anomaly::OwnAddress { src }, out);
            return;
        }
        if src.is_ipv4() != self.config.primary_address.is_ipv4() {
            self.drop_advert(Anomaly::AddressFamilyMismatch { src }, out);
            return;
        }
        let received_us = advert_field_to_us(self.config.version, advert.max_adver_int);
        if received_us == 0 {
            self.drop_advert(Anomaly::ZeroAdvertInterval { src }, out);
            return;
        }
        if received_us != self.own_interval_us() {
            self.counters.advert_interval_errors += 1;
            out.push(Action::Anomaly(Anomaly::AdvertIntervalMismatch {
                src,
                received_us,
            }));
            if self.config.version == Version::V2 {
                return;
            }
        }
        self.last_heard = Some(HeardAdvert {
            src,
            priority: advert.priority,
            at: now,
        });
        if advert.priority == 0 {
            self.counters.priority_zero_received += 1;
        } else if advert.priority == self.effective_priority {
            out.push(Action::Anomaly(if self.effective_priority == 255 {
                Anomaly::OwnerConflict { src }
            } else {
                Anomaly::EqualPriority { src }
            }));
        }
        match self.state {
            State::Backup => self.backup_on_advert(advert, received_us, now),
            State::Master => self.master_on_advert(advert, received_us, now, out),
            State::Initialize | State::Fault => {}
        }
    }

    fn drop_advert(&mut self, anomaly: Anomaly, out: &mut Vec<Action>) {
        self.counters.adverts_dropped += 1;
        out.push(Action::Anomaly(anomaly));
    }

    /// RFC 9568 §6.4.2, with keepalived's preempt delay.
    fn backup_on_advert(&mut self, advert: ReceivedAdvert, received_us: u64, now: Micros) {
        if self.held {
            // Out of the election: learn who serves, never arm the down timer.
            if advert.priority > 0 {
                self.accept_master(advert, received_us);
            } else if self.master_address == Some(advert.src) {
                self.master_address = None;
            }
            return;
        }
        if advert.priority == 0 {
            self.deadline = Some(now + self.skew_time_us());
            self.down_timer_reason = Reason::PriorityZeroReceived;
            return;
        }
        let owner = self.config.is_address_owner();
        // RFC 9568 §6.1: the address owner always preempts, whatever Preempt_Mode says.
        let preempt = self.config.preempt || owner;
        let lower = advert.priority < self.effective_priority;
        let delaying = lower
            && preempt
            && !owner
            && self.config.preempt_delay_us > 0
            && match self.preempt_allowed_at {
                None => true,
                Some(at) => now < at,
            };
        if !preempt || !lower || delaying {
            if delaying && self.preempt_allowed_at.is_none() {
                self.preempt_allowed_at = Some(now + self.config.preempt_delay_us);
            } else if !lower {
                self.preempt_allowed_at = None;
            }
            self.accept_master(advert, received_us);
            self.deadline = Some(now + self.master_down_interval_us());
            self.down_timer_reason = Reason::MasterDownTimerExpired;
        } else {
            // Discard: the down timer keeps running and we take over when it fires.
            self.counters.lower_priority_discarded += 1;
            self.down_timer_reason = Reason::Preempted;
        }
    }

    /// RFC 9568 §6.4.3.
    fn master_on_advert(
        &mut self,
        advert: ReceivedAdvert,
        received_us: u64,
        now: Micros,
        out: &mut Vec<Action>,
    ) {
        if advert.priority == 0 {
            self.send_advert(self.effective_priority, out);
            self.deadline = Some(now + self.own_interval_us());
            return;
        }
        let higher = advert.priority > self.effective_priority
            || (advert.priority == self.effective_priority
                && address_is_greater(advert.src, self.config.primary_address));
        if higher {
            self.accept_master(advert, received_us);
            let wait_us = self.master_down_interval_us();
            self.enter_backup(now, Reason::HigherPriorityAdvertReceived, wait_us, out);
        } else {
            out.push(Action::Anomaly(Anomaly::RivalMaster { src: advert.src }));
            // Assert mastership at once so a returning peer (and learning bridges) hear who rules.
            self.send_advert(self.effective_priority, out);
        }
    }

    fn accept_master(&mut self, advert: ReceivedAdvert, received_us: u64) {
        if self.config.version == Version::V3 {
            self.master_adver_interval_us = received_us;
        }
        self.master_address = Some(advert.src);
    }

    fn on_tracked(&mut self, id: u32, status: TrackStatus, now: Micros, out: &mut Vec<Action>) {
        let Some(track) = self.tracks.iter_mut().find(|t| t.id == id) else {
            return;
        };
        if track.status == status {
            return;
        }
        track.status = status;
        let previous = self.effective_priority;
        self.effective_priority = self.compute_effective_priority();
        if self.state == State::Initialize {
            self.resume_pending_start(now, out);
        } else if self.tracked_fault() {
            if self.is_running() {
                self.enter_fault(now, Reason::TrackFailed, out);
            }
        } else if self.state == State::Fault {
            self.try_leave_fault(now, Reason::TrackRecovered, out);
        } else if self.state == State::Master && previous != self.effective_priority {
            // Tell the backups at once: a lowered priority lets a preempting backup take over
            // one Master_Down_Interval sooner.
            self.send_advert(self.effective_priority, out);
        }
    }

    fn on_group_command(&mut self, command: GroupCommand, now: Micros, out: &mut Vec<Action>) {
        match command {
            GroupCommand::Fault => {
                self.group_fault = true;
                if self.is_running() {
                    self.enter_fault(now, Reason::SyncGroup, out);
                }
                self.resume_pending_start(now, out);
            }
            GroupCommand::FaultCleared => {
                self.group_fault = false;
                self.try_leave_fault(now, Reason::SyncGroup, out);
            }
            GroupCommand::Master => {
                if self.state == State::Backup && !self.held {
                    self.enter_master(now, Reason::SyncGroup, out);
                }
            }
            GroupCommand::Backup => {
                if self.state == State::Master {
                    self.master_adver_interval_us = self.own_interval_us();
                    let wait_us = self.master_down_interval_us();
                    self.enter_backup(now, Reason::SyncGroup, wait_us, out);
                }
            }
        }
    }

    fn try_leave_fault(&mut self, now: Micros, reason: Reason, out: &mut Vec<Action>) {
        if self.state == State::Fault
            && !self.has_own_fault()
            && !self.group_fault
            && !self.awaiting_tracks()
        {
            self.start(now, reason, out);
        }
    }

    /// Starts a router whose Startup waited for an unknown weight-0 object, once that object is
    /// known or a fault makes the wait moot (keepalived leaves INIT for FAULT at once).
    fn resume_pending_start(&mut self, now: Micros, out: &mut Vec<Action>) {
        let decided = self.has_own_fault() || self.group_fault || !self.awaiting_tracks();
        if self.state == State::Initialize && self.start_pending && decided {
            self.start_pending = false;
            self.start(now, Reason::Startup, out);
        }
    }

    fn send_advert(&mut self, priority: u8, out: &mut Vec<Action>) {
        self.counters.adverts_sent += 1;
        if priority == 0 {
            self.counters.priority_zero_sent += 1;
        }
        out.push(Action::SendAdvert { priority });
    }

    fn enter_master(&mut self, now: Micros, reason: Reason, out: &mut Vec<Action>) {
        // The advert goes first so the old master drops the addresses before our GARPs.
        self.send_advert(self.effective_priority, out);
        out.push(Action::BecomeMaster);
        self.master_adver_interval_us = self.own_interval_us();
        self.master_address = Some(self.config.primary_address);
        self.deadline = Some(now + self.own_interval_us());
        self.preempt_allowed_at = None;
        self.counters.become_master += 1;
        self.transition(State::Master, reason, now, out);
    }

    fn enter_backup(&mut self, now: Micros, reason: Reason, wait_us: u64, out: &mut Vec<Action>) {
        if self.state == State::Master {
            self.counters.release_master += 1;
        }
        out.push(Action::BecomeBackup);
        self.deadline = Some(now + wait_us);
        self.down_timer_reason = Reason::MasterDownTimerExpired;
        self.transition(State::Backup, reason, now, out);
    }

    fn enter_fault(&mut self, now: Micros, reason: Reason, out: &mut Vec<Action>) {
        if self.state == State::Master {
            // Like keepalived: hand over at once rather than after Master_Down_Interval. Pointless
            // when the link itself is gone.
            if reason != Reason::InterfaceDown {
                self.send_advert(0, out);
            }
            self.counters.release_master += 1;
        }
        out.push(Action::BecomeFault);
        self.deadline = None;
        self.master_address = None;
        self.master_adver_interval_us = self.own_interval_us();
        self.transition(State::Fault, reason, now, out);
    }

    fn transition(&mut self, to: State, reason: Reason, now: Micros, out: &mut Vec<Action>) {
        let from = self.state;
        self.state = to;
        self.state_since = now;
        out.push(Action::Transition { from, to, reason });
    }
}

/// Both tracked lists of a configuration as one list of full rules.
fn merged_tracks(config: &RouterConfig) -> Vec<Track> {
    config
        .tracked
        .iter()
        .map(|&object| Track::from(object))
        .chain(config.tracks.iter().copied())
        .collect()
}

/// RFC 9568 §6.4.3 tie-break: unsigned integer comparison of the addresses in network byte order.
/// Addresses of different families never compare greater (such adverts are dropped earlier).
pub(crate) fn address_is_greater(theirs: IpAddr, ours: IpAddr) -> bool {
    match (theirs, ours) {
        (IpAddr::V4(a), IpAddr::V4(b)) => u32::from(a) > u32::from(b),
        (IpAddr::V6(a), IpAddr::V6(b)) => u128::from(a) > u128::from(b),
        _ => false,
    }
}
