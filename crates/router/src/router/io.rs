//! What goes into a router and what comes out: its states and their reasons, the inputs, the
//! actions and anomalies it pushes, and its counters.

use std::net::IpAddr;

/// The protocol state (keepalived's INIT, BACKUP, MASTER, FAULT).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Not running: before Startup or after Shutdown.
    Initialize,
    /// Listening for the master, ready to take over when it goes quiet.
    Backup,
    /// Forwarding for the virtual addresses and advertising.
    Master,
    /// Unable to serve: the interface is down, a weight-0 tracked object failed, or the sync group
    /// is in fault.
    Fault,
}

/// Why a transition happened, for notify scripts, logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The caller started the router.
    Startup,
    /// The caller stopped the router.
    Shutdown,
    /// The master went quiet for Master_Down_Interval.
    MasterDownTimerExpired,
    /// The master announced it is leaving (priority 0) and our Skew_Time ran out.
    PriorityZeroReceived,
    /// A master with a higher priority (or the same priority and a higher address) spoke.
    HigherPriorityAdvertReceived,
    /// We out-ranked the master: its lower-priority adverts were discarded until our down timer
    /// ran out.
    Preempted,
    /// The link went down.
    InterfaceDown,
    /// The link came back and nothing else holds us in Fault.
    InterfaceUp,
    /// A tracked object with weight 0 failed.
    TrackFailed,
    /// The last failed weight-0 tracked object recovered.
    TrackRecovered,
    /// Another member of our sync group moved and we followed.
    SyncGroup,
    /// The operator put the router in maintenance ([`Input::Hold`]): a Master handed over.
    Maintenance,
}

/// An advert as the wire layer hands it over: decoded, checksummed, TTL/hop-limit checked,
/// authenticated (v2) and matched to our VRID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceivedAdvert {
    /// Source address of the IP packet (the sender's primary address).
    pub src: IpAddr,
    /// Priority field, 0–255.
    pub priority: u8,
    /// The raw interval field: centiseconds for v3 (Max Advertise Interval), seconds for v2.
    pub max_adver_int: u16,
}

/// What the sync-group coordinator tells a member to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupCommand {
    /// Another member became Master: a Backup member follows.
    Master,
    /// Another member left Master for Backup: a Master member follows.
    Backup,
    /// A member is in fault: every member goes to (and stays in) Fault.
    Fault,
    /// No member is in fault any more: members may leave Fault.
    FaultCleared,
}

/// Something that happened to a router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Leave Initialize (RFC 9568 §6.4.1 Startup event).
    Startup,
    /// Return to Initialize; a Master sends a priority-0 advert first.
    Shutdown,
    /// A validated advert for our VRID.
    Advert(ReceivedAdvert),
    /// The caller's clock reached [`Router::next_deadline`], or for a Master's advert
    /// [`Router::acts_from`]. Earlier or stale calls are ignored.
    Timer,
    /// A tracked object ([`crate::TrackedObject`] or [`crate::Track`]) is now up or down.
    TrackedObjectChanged { id: u32, up: bool },
    /// A tracked object ([`crate::Track`], a `track_file`) now holds this number.
    TrackedValueChanged { id: u32, value: i64 },
    /// The interface carrying the virtual router lost its link.
    InterfaceDown,
    /// The interface carrying the virtual router regained its link.
    InterfaceUp,
    /// A command from the [`crate::SyncGroup`] coordinator.
    SyncGroup(GroupCommand),
    /// Maintenance (an operator's hold): while `on`, the router stays out of the election: a
    /// Master sends a priority-0 advert and steps down to Backup, a Backup never takes over
    /// (its down timer is off and priority-0 adverts are ignored), and a router leaving Fault
    /// or starting comes up as a held Backup. When the hold ends a Backup starts its
    /// Master_Down_Timer again, so the usual preempt rules decide whether it returns.
    Hold { on: bool },
}

/// A condition worth a (rate-limited) log line or a metric; the router has already decided what
/// to do with the advert that caused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anomaly {
    /// The advert's interval differs from ours. v2: the advert was dropped (RFC 3768 §7.1);
    /// v3: it was processed and the interval learned, as RFC 9568 §7.1 only asks to log.
    AdvertIntervalMismatch { src: IpAddr, received_us: u64 },
    /// A v3 advert with a Max Advertise Interval of 0 (erratum 8301); dropped.
    ZeroAdvertInterval { src: IpAddr },
    /// We own the addresses and someone else claims priority 255 too (RFC 9568 §7.1, §8.3.2).
    OwnerConflict { src: IpAddr },
    /// Another router advertises our own effective priority (RFC 9568 §8.3.2 MAY log).
    EqualPriority { src: IpAddr },
    /// We are Master and another router advertises too, at a lower priority: only a master sends
    /// adverts, so there is a rival master that does not hear us (e.g. keepalived with
    /// `vmac_xmit_base` beside a peer sending from the virtual MAC). We answer each one.
    RivalMaster { src: IpAddr },
    /// An advert carrying our own source address (looped back, or a duplicate address); dropped.
    OwnAddress { src: IpAddr },
    /// An advert whose source is of the other address family; dropped.
    AddressFamilyMismatch { src: IpAddr },
}

/// What the caller must do, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send an advert now with this priority (0 = we are leaving Master).
    SendAdvert { priority: u8 },
    /// Install the virtual addresses, routes and rules; announce them (GARP / unsolicited NA);
    /// apply the accept/no_accept firewall choice.
    BecomeMaster,
    /// Make sure the virtual addresses, routes and rules are absent.
    BecomeBackup,
    /// Make sure the virtual addresses, routes and rules are absent; we cannot serve.
    BecomeFault,
    /// Make sure the virtual addresses, routes and rules are absent; the router is stopped.
    BecomeInitialize,
    /// A state change, for notify scripts, logs and metrics. Always follows the `Become*` action.
    Transition {
        from: State,
        to: State,
        reason: Reason,
    },
    /// A condition worth logging (rate-limited) or counting.
    Anomaly(Anomaly),
}

/// Cumulative counters for metrics (names follow keepalived-exporter where one exists).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Adverts handed to the router while it was running (Backup or Master).
    pub adverts_received: u64,
    /// `SendAdvert` actions emitted (including priority 0).
    pub adverts_sent: u64,
    /// Priority-0 adverts received while running.
    pub priority_zero_received: u64,
    /// Priority-0 adverts sent.
    pub priority_zero_sent: u64,
    /// Adverts whose interval differs from ours (v2: dropped; v3: learned).
    pub advert_interval_errors: u64,
    /// Adverts dropped for another reason (own address, address family, zero interval).
    pub adverts_dropped: u64,
    /// Lower-priority adverts a preempting Backup discarded.
    pub lower_priority_discarded: u64,
    /// Transitions into Master.
    pub become_master: u64,
    /// Transitions out of Master.
    pub release_master: u64,
    /// Timer inputs that arrived before the deadline or with none armed.
    pub spurious_timers: u64,
}
