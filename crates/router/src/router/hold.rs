//! Maintenance ([`super::Input::Hold`]): what a hold does to the router in each state. The rest of the
//! rule lives where the router would otherwise take over: a held Backup arms no down timer and
//! ignores priority-0 adverts and sync-group Master commands, and `start` brings a held router up
//! as a Backup without a down timer.

use super::{Action, Reason, Router, State};
use crate::time::Micros;

impl Router {
    /// [`super::Input::Hold`].
    pub(super) fn on_hold(&mut self, on: bool, now: Micros, out: &mut Vec<Action>) {
        if self.held == on {
            return;
        }
        self.held = on;
        match (on, self.state) {
            (true, State::Master) => {
                // As on shutdown: priority 0 lets the best Backup take over after its Skew_Time.
                self.send_advert(0, out);
                self.master_adver_interval_us = self.own_interval_us();
                self.master_address = None;
                self.enter_backup(now, Reason::Maintenance, 0, out);
                self.deadline = None;
            }
            (true, State::Backup) => {
                self.deadline = None;
                self.preempt_allowed_at = None;
            }
            (false, State::Backup) => {
                self.deadline = Some(now + self.master_down_interval_us());
                self.down_timer_reason = Reason::MasterDownTimerExpired;
            }
            // Initialize and Fault: `start` reads the hold when the router comes up.
            _ => {}
        }
    }
}
