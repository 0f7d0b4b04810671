//! A `track_process`'s count and quorum verdict with keepalived's delays, as pure logic (time is
//! passed in). From `track_process.c`:
//! - the verdict is `quorum <= count <= quorum_max`, and only a count crossing a bound can change
//!   it (reaching `quorum` or `quorum_max + 1` going up, leaving `quorum` or coming back to
//!   `quorum_max` going down);
//! - `fork_delay`: a crossing caused by a fork (a tracked process's child) takes effect only after
//!   the delay; a crossing caused by an exec or a name change takes effect at once;
//! - `terminate_delay`: a crossing caused by an exit takes effect only after the delay; a process
//!   that stops matching (exec, new name) takes effect at once;
//! - a crossing back while the other direction's timer runs cancels that timer and settles at
//!   once (for a pending loss that means nothing was ever reported).

use std::time::{Duration, Instant};

/// Why a process joined or left the count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cause {
    /// A fork of a counted process (joining) or an exit (leaving): the delays apply.
    ForkOrExit,
    /// An exec or a comm change: no delay.
    Renamed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Quorum {
    quorum: u32,
    quorum_max: u32,
    fork_delay: Duration,
    terminate_delay: Duration,
    count: u32,
    have_quorum: bool,
    fork_timer: Option<Instant>,
    terminate_timer: Option<Instant>,
}

impl Quorum {
    /// The state after the start-up scan found `count` processes (no delay applies).
    pub(super) fn new(
        quorum: u32,
        quorum_max: u32,
        fork_delay: Duration,
        terminate_delay: Duration,
        count: u32,
    ) -> Quorum {
        let mut state = Quorum {
            quorum,
            quorum_max,
            fork_delay,
            terminate_delay,
            count,
            have_quorum: false,
            fork_timer: None,
            terminate_timer: None,
        };
        state.have_quorum = state.in_range();
        state
    }

    pub(super) fn count(&self) -> u32 {
        self.count
    }

    /// The verdict reported to the router.
    pub(super) fn have_quorum(&self) -> bool {
        self.have_quorum
    }

    fn in_range(&self) -> bool {
        (self.quorum..=self.quorum_max).contains(&self.count)
    }

    /// When [`Quorum::on_timer`] is due.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match (self.fork_timer, self.terminate_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// One more matching process. True when the verdict changed.
    pub(super) fn joined(&mut self, cause: Cause, now: Instant) -> bool {
        self.count = self.count.saturating_add(1);
        let crossed =
            self.count == self.quorum || Some(self.count) == self.quorum_max.checked_add(1);
        if !crossed {
            return false;
        }
        let cancelled_loss = self.terminate_timer.take().is_some();
        if !cancelled_loss && cause == Cause::ForkOrExit && !self.fork_delay.is_zero() {
            self.fork_timer = Some(now + self.fork_delay);
            return false;
        }
        self.settle(self.count == self.quorum)
    }

    /// One matching process fewer. True when the verdict changed.
    pub(super) fn left(&mut self, cause: Cause, now: Instant) -> bool {
        let before = self.count;
        self.count = self.count.saturating_sub(1);
        let crossed = before == self.quorum || self.count == self.quorum_max;
        if before == 0 || !crossed {
            return false;
        }
        let cancelled_gain = self.fork_timer.take().is_some();
        if !cancelled_gain && cause == Cause::ForkOrExit && !self.terminate_delay.is_zero() {
            self.terminate_timer = Some(now + self.terminate_delay);
            return false;
        }
        self.settle(self.count == self.quorum_max)
    }

    /// A delay ran out. True when the verdict changed.
    pub(super) fn on_timer(&mut self, now: Instant) -> bool {
        let mut due = false;
        for timer in [&mut self.fork_timer, &mut self.terminate_timer] {
            if timer.is_some_and(|at| at <= now) {
                *timer = None;
                due = true;
            }
        }
        due && self.settle(self.in_range())
    }

    /// A rescan (after the kernel dropped events) found `count`: timers cancelled, the verdict
    /// follows the count at once. True when the verdict changed.
    pub(super) fn rescanned(&mut self, count: u32) -> bool {
        self.count = count;
        self.fork_timer = None;
        self.terminate_timer = None;
        self.settle(self.in_range())
    }

    fn settle(&mut self, have_quorum: bool) -> bool {
        let changed = have_quorum != self.have_quorum;
        self.have_quorum = have_quorum;
        changed
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Cause, Quorum};

    const NO_DELAY: Duration = Duration::ZERO;

    #[test]
    fn the_verdict_is_quorum_to_quorum_max_inclusive() {
        let now = Instant::now();
        let mut q = Quorum::new(2, 3, NO_DELAY, NO_DELAY, 0);
        assert!(!q.have_quorum());
        assert!(!q.joined(Cause::Renamed, now));
        assert!(q.joined(Cause::Renamed, now), "2 reaches quorum");
        assert!(!q.joined(Cause::Renamed, now), "3 is still fine");
        assert!(q.joined(Cause::Renamed, now), "4 is more than quorum_max");
        assert!(!q.have_quorum());
        assert!(q.left(Cause::ForkOrExit, now), "back to 3");
        assert!(!q.left(Cause::ForkOrExit, now));
        assert!(q.left(Cause::ForkOrExit, now), "1 is below quorum");
        assert_eq!(q.count(), 1);
    }

    #[test]
    fn quorum_max_zero_fails_while_any_process_runs() {
        let now = Instant::now();
        let mut q = Quorum::new(0, 0, NO_DELAY, NO_DELAY, 0);
        assert!(q.have_quorum());
        assert!(q.joined(Cause::Renamed, now));
        assert!(!q.have_quorum());
        assert!(q.left(Cause::ForkOrExit, now));
        assert!(q.have_quorum());
    }

    #[test]
    fn the_start_up_count_decides_at_once() {
        assert!(Quorum::new(1, u32::MAX, NO_DELAY, NO_DELAY, 5).have_quorum());
        assert!(!Quorum::new(6, u32::MAX, NO_DELAY, NO_DELAY, 5).have_quorum());
        let mut q = Quorum::new(1, u32::MAX, NO_DELAY, NO_DELAY, u32::MAX - 1);
        assert!(
            !q.joined(Cause::Renamed, Instant::now()),
            "no overflow at quorum_max + 1"
        );
    }

    #[test]
    fn fork_delay_holds_a_gain_by_fork_but_not_by_exec() {
        let t0 = Instant::now();
        let delay = Duration::from_millis(500);
        let mut q = Quorum::new(2, u32::MAX, delay, NO_DELAY, 1);
        assert!(!q.joined(Cause::ForkOrExit, t0), "held");
        assert_eq!(q.deadline(), Some(t0 + delay));
        assert!(!q.on_timer(t0 + delay / 2), "early");
        assert!(q.on_timer(t0 + delay), "gained after fork_delay");
        assert_eq!(q.deadline(), None);

        let mut q = Quorum::new(2, u32::MAX, delay, NO_DELAY, 1);
        assert!(q.joined(Cause::Renamed, t0), "an exec counts at once");
    }

    #[test]
    fn an_exit_cancels_a_pending_gain_and_the_verdict_stays() {
        let t0 = Instant::now();
        let mut q = Quorum::new(
            2,
            u32::MAX,
            Duration::from_secs(1),
            Duration::from_secs(1),
            1,
        );
        assert!(!q.joined(Cause::ForkOrExit, t0));
        assert!(
            !q.left(Cause::ForkOrExit, t0),
            "fork timer cancelled, no terminate timer"
        );
        assert_eq!(q.deadline(), None);
        assert!(!q.have_quorum());
    }

    #[test]
    fn terminate_delay_holds_a_loss_by_exit_but_not_by_exec() {
        let t0 = Instant::now();
        let delay = Duration::from_millis(300);
        let mut q = Quorum::new(1, u32::MAX, NO_DELAY, delay, 1);
        assert!(!q.left(Cause::ForkOrExit, t0), "held");
        assert!(q.have_quorum(), "not reported yet");
        assert!(q.on_timer(t0 + delay), "lost after terminate_delay");
        assert!(!q.have_quorum());

        let mut q = Quorum::new(1, u32::MAX, NO_DELAY, delay, 1);
        assert!(
            q.left(Cause::Renamed, t0),
            "a process that execs away counts at once"
        );
    }

    #[test]
    fn a_restart_within_terminate_delay_is_never_reported() {
        let t0 = Instant::now();
        let mut q = Quorum::new(1, u32::MAX, NO_DELAY, Duration::from_secs(2), 1);
        assert!(!q.left(Cause::ForkOrExit, t0));
        assert!(
            !q.joined(Cause::Renamed, t0 + Duration::from_millis(500)),
            "back in time"
        );
        assert_eq!(q.deadline(), None, "the loss timer is cancelled");
        assert!(!q.on_timer(t0 + Duration::from_secs(3)));
        assert!(q.have_quorum());
    }

    #[test]
    fn a_rescan_settles_at_once_and_cancels_timers() {
        let t0 = Instant::now();
        let mut q = Quorum::new(1, u32::MAX, NO_DELAY, Duration::from_secs(2), 1);
        q.left(Cause::ForkOrExit, t0);
        assert!(q.rescanned(0));
        assert_eq!(q.deadline(), None);
        assert!(!q.have_quorum());
    }
}
