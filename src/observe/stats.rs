//! Per-instance statistics kept by the daemon: what the router cannot see (adverts rejected by the
//! wire layer, by [`WireError`]; checksum flavours; rival masters; announcements sent;
//! transitions by reason; how long failovers take). Protocol counters are the router's own
//! ([`vipd_router::Counters`]); together they are the single source that status and metrics read.
//! Everything here lives as long as the instance: a reload that keeps the instance keeps it.

use std::time::SystemTime;

use vipd_router::{Reason, State};
use vipd_wire::WireError;

/// Rejected adverts, one counter per [`WireError`] variant (in [`WireError::ALL`] order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RejectCounts([u64; WireError::ALL.len()]);

impl RejectCounts {
    pub fn count(&mut self, error: WireError) {
        self.0[Self::slot(error)] += 1;
    }

    pub fn get(&self, error: WireError) -> u64 {
        self.0[Self::slot(error)]
    }

    /// The non-zero counters with their error.
    pub fn nonzero(&self) -> impl Iterator<Item = (WireError, u64)> + '_ {
        WireError::ALL
            .iter()
            .zip(self.0.iter())
            .filter(|(_, &n)| n > 0)
            .map(|(&e, &n)| (e, n))
    }

    fn slot(error: WireError) -> usize {
        WireError::ALL
            .iter()
            .position(|&e| e == error)
            .expect("WireError::ALL lists every variant")
    }
}

/// Accepted IPv4 VRRPv3 adverts by checksum flavour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChecksumFlavours {
    pub pseudo_header: u64,
    pub plain: u64,
}

/// What the daemon counts about one instance beside the router's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceStats {
    pub rejected: RejectCounts,
    pub checksums: ChecksumFlavours,
    /// Lower-priority adverts heard while master (the router's `RivalMaster` anomaly).
    pub rival_master_adverts: u64,
    /// Gratuitous ARP / unsolicited NA frames sent.
    pub announcements: u64,
    /// Transitions by (from, to, reason), in the order first seen.
    pub transitions: Vec<TransitionCount>,
    /// Wall-clock time of the last transition.
    pub last_transition: Option<SystemTime>,
    /// Backup → Master failovers: from the old master last heard to our first advert.
    pub failovers: DurationHistogram,
    pub failover_clock: FailoverClock,
}

/// How often the instance went `from` → `to` for `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitionCount {
    pub from: State,
    pub to: State,
    pub reason: Reason,
    pub count: u64,
}

/// The failover histogram's upper bounds, in microseconds (0.005 s to 10 s).
pub const FAILOVER_BUCKETS_US: [u64; 11] = [
    5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000,
];

/// Durations counted into [`FAILOVER_BUCKETS_US`] (plus the implicit +Inf bucket).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DurationHistogram {
    /// Observations per bucket, not cumulative; the last slot is above the largest bound.
    per_bucket: [u64; FAILOVER_BUCKETS_US.len() + 1],
    pub count: u64,
    pub sum_us: u64,
}

impl DurationHistogram {
    pub fn observe(&mut self, us: u64) {
        let slot = FAILOVER_BUCKETS_US.partition_point(|&bound| bound < us);
        self.per_bucket[slot] += 1;
        self.count += 1;
        self.sum_us = self.sum_us.saturating_add(us);
    }

    /// (upper bound in µs, observations at or below it) for each finite bucket, as Prometheus
    /// wants them (cumulative); the +Inf bucket is [`DurationHistogram::count`].
    pub fn cumulative(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        FAILOVER_BUCKETS_US
            .iter()
            .zip(self.per_bucket.iter())
            .scan(0u64, |total, (&bound, &n)| {
                *total += n;
                Some((bound, *total))
            })
    }
}

/// What the daemon needs to time a failover: the last advert accepted from another router while
/// not master (when the Master_Down timer last started, or the priority-0 that ended it), and a
/// failover whose first advert could not be sent yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailoverClock {
    /// Daemon microseconds of the last advert accepted since the last transition.
    last_heard_us: Option<u64>,
    /// Daemon microseconds of our last advert sent.
    last_sent_us: Option<u64>,
    /// Became master after a failover but no advert has gone out yet: when the old master was
    /// last heard.
    pending_since_us: Option<u64>,
}

impl InstanceStats {
    /// An advert from another router passed every check (priority 0 included).
    pub fn on_advert_heard(&mut self, now_us: u64) {
        self.failover_clock.last_heard_us = Some(now_us);
    }

    /// One of our adverts left on at least one destination.
    pub fn on_advert_sent(&mut self, now_us: u64) {
        let clock = &mut self.failover_clock;
        clock.last_sent_us = Some(now_us);
        if let Some(since) = clock.pending_since_us.take() {
            self.failovers.observe(now_us.saturating_sub(since));
        }
    }

    /// Counts a transition and, for a failover (a Backup taking over because the master went
    /// quiet or said priority 0), observes its duration. The router emits the new master's
    /// first advert before the transition itself, so that advert has normally been sent already;
    /// if its send failed, the next advert sent closes the measurement. Preemption, sync-group
    /// moves and startup are not failovers: the old master, if any, is still there.
    pub fn on_transition(
        &mut self,
        from: State,
        to: State,
        reason: Reason,
        now_us: u64,
        wall: SystemTime,
    ) {
        match self
            .transitions
            .iter_mut()
            .find(|t| t.from == from && t.to == to && t.reason == reason)
        {
            Some(t) => t.count += 1,
            None => self.transitions.push(TransitionCount {
                from,
                to,
                reason,
                count: 1,
            }),
        }
        self.last_transition = Some(wall);
        let clock = &mut self.failover_clock;
        let heard = clock.last_heard_us.take();
        clock.pending_since_us = None;
        let failover = from == State::Backup
            && to == State::Master
            && matches!(
                reason,
                Reason::MasterDownTimerExpired | Reason::PriorityZeroReceived
            );
        if let (true, Some(heard)) = (failover, heard) {
            match clock.last_sent_us {
                // A Backup sends nothing: an advert after the last one heard is our first as
                // master.
                Some(sent) if sent >= heard && sent <= now_us => {
                    self.failovers.observe(sent - heard);
                }
                _ => clock.pending_since_us = Some(heard),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_counts_are_kept_per_error() {
        let mut counts = RejectCounts::default();
        counts.count(WireError::Ttl);
        counts.count(WireError::Ttl);
        counts.count(WireError::NotVrrp);
        assert_eq!(counts.get(WireError::Ttl), 2);
        assert_eq!(counts.get(WireError::Checksum), 0);
        let nonzero: Vec<_> = counts.nonzero().collect();
        assert_eq!(
            nonzero,
            vec![(WireError::Ttl, 2), (WireError::NotVrrp, 1)],
            "in WireError::ALL order"
        );
    }

    #[test]
    fn histogram_buckets_are_upper_bounds_and_cumulative() {
        let mut h = DurationHistogram::default();
        for us in [5_000, 5_001, 900_000, 60_000_000] {
            h.observe(us);
        }
        let buckets: Vec<_> = h.cumulative().collect();
        assert_eq!(buckets[0], (5_000, 1), "le is inclusive");
        assert_eq!(buckets[1], (10_000, 2));
        assert_eq!(buckets[7], (1_000_000, 3));
        assert_eq!(buckets[10], (10_000_000, 3), "60 s is only in +Inf");
        assert_eq!((h.count, h.sum_us), (4, 60_910_001));
    }

    fn epoch() -> SystemTime {
        SystemTime::UNIX_EPOCH
    }

    #[test]
    fn a_failover_runs_from_the_last_advert_heard_to_our_first_advert() {
        let mut stats = InstanceStats::default();
        stats.on_transition(
            State::Initialize,
            State::Backup,
            Reason::Startup,
            0,
            epoch(),
        );
        stats.on_advert_heard(1_000_000);
        stats.on_advert_heard(2_000_000);
        // The router's advert comes before its Transition action.
        stats.on_advert_sent(2_350_000);
        stats.on_transition(
            State::Backup,
            State::Master,
            Reason::MasterDownTimerExpired,
            2_350_000,
            epoch(),
        );
        assert_eq!(stats.failovers.count, 1);
        assert_eq!(stats.failovers.sum_us, 350_000);
        stats.on_advert_sent(3_350_000);
        assert_eq!(stats.failovers.count, 1, "only the first advert closes it");
        assert_eq!(
            stats.transitions,
            vec![
                TransitionCount {
                    from: State::Initialize,
                    to: State::Backup,
                    reason: Reason::Startup,
                    count: 1
                },
                TransitionCount {
                    from: State::Backup,
                    to: State::Master,
                    reason: Reason::MasterDownTimerExpired,
                    count: 1
                },
            ]
        );
    }

    #[test]
    fn a_failover_whose_first_send_failed_ends_at_the_next_advert_sent() {
        let mut stats = InstanceStats::default();
        stats.on_advert_sent(500);
        stats.on_advert_heard(1_000);
        stats.on_transition(
            State::Backup,
            State::Master,
            Reason::PriorityZeroReceived,
            1_400,
            epoch(),
        );
        assert_eq!(stats.failovers.count, 0, "no advert as master yet");
        stats.on_advert_sent(2_000);
        assert_eq!((stats.failovers.count, stats.failovers.sum_us), (1, 1_000));
    }

    #[test]
    fn preemption_and_stale_adverts_are_not_failovers() {
        let mut stats = InstanceStats::default();
        stats.on_advert_heard(1_000);
        stats.on_advert_sent(2_000);
        stats.on_transition(
            State::Backup,
            State::Master,
            Reason::Preempted,
            2_000,
            epoch(),
        );
        // Heard before leaving Master for Fault: stale once back in Backup.
        stats.on_advert_heard(3_000);
        stats.on_transition(
            State::Master,
            State::Fault,
            Reason::InterfaceDown,
            4_000,
            epoch(),
        );
        stats.on_transition(
            State::Fault,
            State::Backup,
            Reason::InterfaceUp,
            5_000,
            epoch(),
        );
        stats.on_advert_sent(9_000);
        stats.on_transition(
            State::Backup,
            State::Master,
            Reason::MasterDownTimerExpired,
            9_000,
            epoch(),
        );
        assert_eq!(stats.failovers.count, 0);
        assert_eq!(stats.transitions.len(), 4);
    }
}
