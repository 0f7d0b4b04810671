//! The last few state transitions of one instance, kept by the daemon for the status page: a
//! fixed-size ring of small `Copy` records (no allocation per transition; at most
//! [`RecentTransitions::CAPACITY`] × 24 bytes per instance).

use std::collections::VecDeque;
use std::time::SystemTime;

use vipd_router::{Reason, State};

/// One transition as the snapshot carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionRecord {
    /// Wall-clock time, seconds since the epoch.
    pub at: f64,
    pub from: State,
    pub to: State,
    /// [`reason_name`] of the router's reason.
    pub reason: String,
}

/// The most recent transitions of an instance, oldest first.
#[derive(Debug, Clone, Default)]
pub struct RecentTransitions(VecDeque<(f64, State, State, Reason)>);

impl RecentTransitions {
    pub const CAPACITY: usize = 10;

    /// Records a transition that happens now.
    pub fn record(&mut self, from: State, to: State, reason: Reason) {
        let at = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.record_at(at, from, to, reason);
    }

    pub fn record_at(&mut self, at: f64, from: State, to: State, reason: Reason) {
        if self.0.len() == Self::CAPACITY {
            self.0.pop_front();
        }
        self.0.push_back((at, from, to, reason));
    }

    /// Oldest first.
    pub fn records(&self) -> Vec<TransitionRecord> {
        self.0
            .iter()
            .map(|&(at, from, to, reason)| TransitionRecord {
                at,
                from,
                to,
                reason: reason_name(reason).to_owned(),
            })
            .collect()
    }
}

/// The router's reason in snake_case, as the status page (and metric labels) write it.
pub fn reason_name(reason: Reason) -> &'static str {
    match reason {
        Reason::Startup => "startup",
        Reason::Shutdown => "shutdown",
        Reason::MasterDownTimerExpired => "master_down_timer_expired",
        Reason::PriorityZeroReceived => "priority_zero_received",
        Reason::HigherPriorityAdvertReceived => "higher_priority_advert_received",
        Reason::Preempted => "preempted",
        Reason::InterfaceDown => "interface_down",
        Reason::InterfaceUp => "interface_up",
        Reason::TrackFailed => "track_failed",
        Reason::TrackRecovered => "track_recovered",
        Reason::SyncGroup => "sync_group",
        Reason::Maintenance => "maintenance",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_ten_oldest_first() {
        let mut recent = RecentTransitions::default();
        for k in 0..12 {
            recent.record_at(
                f64::from(k),
                State::Backup,
                State::Master,
                Reason::MasterDownTimerExpired,
            );
        }
        let records = recent.records();
        assert_eq!(records.len(), RecentTransitions::CAPACITY);
        assert_eq!(records[0].at, 2.0);
        assert_eq!(records[9].at, 11.0);
        assert_eq!(records[9].reason, "master_down_timer_expired");
    }
}
