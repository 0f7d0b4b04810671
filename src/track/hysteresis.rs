//! keepalived's `rise`/`fall`/`init_fail` for periodic checks (scripts and built-in probes) as a
//! pure state machine: results in, a verdict out when it changes. No clock, no I/O.
//!
//! keepalived (vrrp_scheduler.c, `vrrp_script_child_thread`) keeps one counter per script in
//! `0 ..= rise + fall - 1`; the script is passing while the counter is at least `rise`:
//! - a success below `rise - 1` counts up; a success at `rise - 1` or above jumps to the top
//!   (`rise + fall - 1`), so a passing check needs `fall` failures in a row to fail;
//! - a failure above `rise` counts down; a failure at `rise` or below drops to 0, so a failing
//!   check needs `rise` successes in a row to pass;
//! - the start: without `init_fail` the counter starts at `rise - 1` and the state is unknown,
//!   so the first result decides either way; with `init_fail` it starts at 0, failing.
//!
//! A single contrary result therefore resets the run towards the other verdict.

/// What a check's results add up to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CheckVerdict {
    /// No result yet (keepalived's script init state, without `init_fail`).
    Unknown,
    /// Passing: `rise` successes in a row (or the first result, from Unknown).
    Passing,
    /// Failing: `fall` failures in a row, the first result from Unknown, or `init_fail`.
    Failing,
}

/// The rise/fall counter of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hysteresis {
    rise: u32,
    fall: u32,
    counter: u32,
    known: bool,
    passes_in_a_row: u32,
    failures_in_a_row: u32,
}

impl Hysteresis {
    /// A counter for `rise` and `fall` (each at least 1; 0 is taken as 1, keepalived's minimum).
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> Hysteresis {
        let rise = rise.max(1);
        let fall = fall.max(1);
        Hysteresis {
            rise,
            fall,
            counter: if init_fail { 0 } else { rise - 1 },
            known: init_fail,
            passes_in_a_row: 0,
            failures_in_a_row: 0,
        }
    }

    /// The verdict now.
    pub fn verdict(&self) -> CheckVerdict {
        if !self.known {
            CheckVerdict::Unknown
        } else if self.counter >= self.rise {
            CheckVerdict::Passing
        } else {
            CheckVerdict::Failing
        }
    }

    /// Records one result; returns the new verdict when it changed.
    pub fn record(&mut self, passed: bool) -> Option<CheckVerdict> {
        let before = self.verdict();
        let top = self.rise + self.fall - 1;
        if passed {
            self.passes_in_a_row = self.passes_in_a_row.saturating_add(1);
            self.failures_in_a_row = 0;
            if self.counter + 1 < self.rise {
                self.counter += 1;
            } else {
                self.counter = top;
            }
        } else {
            self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
            self.passes_in_a_row = 0;
            if self.counter > self.rise {
                self.counter -= 1;
            } else {
                self.counter = 0;
            }
        }
        // From Unknown (counter at rise - 1) the first result decides either way, and keepalived
        // reports it whichever it is.
        self.known = true;
        let after = self.verdict();
        (after != before).then_some(after)
    }

    /// Successes since the last failure.
    pub fn passes_in_a_row(&self) -> u32 {
        self.passes_in_a_row
    }

    /// Failures since the last success.
    pub fn failures_in_a_row(&self) -> u32 {
        self.failures_in_a_row
    }
}

#[cfg(test)]
mod tests {
    use super::{CheckVerdict, Hysteresis};

    fn feed(h: &mut Hysteresis, results: &[bool]) -> Vec<Option<CheckVerdict>> {
        results.iter().map(|&r| h.record(r)).collect()
    }

    #[test]
    fn without_init_fail_the_start_is_unknown_and_the_first_result_decides() {
        let mut h = Hysteresis::new(3, 3, false);
        assert_eq!(h.verdict(), CheckVerdict::Unknown);
        assert_eq!(
            h.record(true),
            Some(CheckVerdict::Passing),
            "one success is enough"
        );
        let mut h = Hysteresis::new(3, 3, false);
        assert_eq!(
            h.record(false),
            Some(CheckVerdict::Failing),
            "one failure too"
        );
    }

    #[test]
    fn with_init_fail_the_start_is_failing_and_needs_rise_successes() {
        let mut h = Hysteresis::new(3, 2, true);
        assert_eq!(h.verdict(), CheckVerdict::Failing);
        assert_eq!(
            feed(&mut h, &[true, true, true]),
            vec![None, None, Some(CheckVerdict::Passing)]
        );
        assert_eq!(
            h.record(false),
            None,
            "an init_fail start already failed: no report"
        );
    }

    #[test]
    fn init_fail_with_a_failure_first_reports_nothing() {
        let mut h = Hysteresis::new(2, 2, true);
        assert_eq!(h.record(false), None);
        assert_eq!(h.verdict(), CheckVerdict::Failing);
    }

    #[test]
    fn passing_needs_fall_failures_in_a_row_to_fail() {
        let mut h = Hysteresis::new(2, 3, false);
        h.record(true);
        assert_eq!(
            feed(&mut h, &[false, false, false]),
            vec![None, None, Some(CheckVerdict::Failing)]
        );
    }

    #[test]
    fn failing_needs_rise_successes_in_a_row_to_pass() {
        let mut h = Hysteresis::new(4, 1, false);
        h.record(false);
        assert_eq!(
            feed(&mut h, &[true, true, true, true]),
            vec![None, None, None, Some(CheckVerdict::Passing)]
        );
    }

    #[test]
    fn one_contrary_result_resets_the_count() {
        let mut h = Hysteresis::new(3, 3, false);
        h.record(true);
        // Two failures, a success (back to the top), then it takes three failures again.
        assert_eq!(
            feed(&mut h, &[false, false, true, false, false]),
            vec![None, None, None, None, None]
        );
        assert_eq!(h.verdict(), CheckVerdict::Passing);
        assert_eq!(h.record(false), Some(CheckVerdict::Failing));
        // Two successes, a failure (back to 0), then it takes three successes again.
        assert_eq!(
            feed(&mut h, &[true, true, false, true, true]),
            vec![None, None, None, None, None]
        );
        assert_eq!(h.record(true), Some(CheckVerdict::Passing));
    }

    #[test]
    fn rise_and_fall_of_one_flip_on_every_change() {
        let mut h = Hysteresis::new(1, 1, true);
        assert_eq!(
            feed(&mut h, &[true, true, false, false, true]),
            vec![
                Some(CheckVerdict::Passing),
                None,
                Some(CheckVerdict::Failing),
                None,
                Some(CheckVerdict::Passing)
            ]
        );
    }

    #[test]
    fn zero_rise_or_fall_count_as_one() {
        let mut h = Hysteresis::new(0, 0, true);
        assert_eq!(h.record(true), Some(CheckVerdict::Passing));
        assert_eq!(h.record(false), Some(CheckVerdict::Failing));
    }

    #[test]
    fn streaks_count_results_since_the_last_contrary_one() {
        let mut h = Hysteresis::new(2, 2, false);
        feed(&mut h, &[true, true, true]);
        assert_eq!((h.passes_in_a_row(), h.failures_in_a_row()), (3, 0));
        feed(&mut h, &[false, false]);
        assert_eq!((h.passes_in_a_row(), h.failures_in_a_row()), (0, 2));
    }
}
