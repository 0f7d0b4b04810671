//! Sharing wake-ups between Masters: a Master's advert may go out a little before its deadline
//! when the caller is awake anyway for another one, and keeps the phase it went out at. Instances
//! that became Master at scattered times (each after its own down timer and skew) then fall into
//! a few groups that send together, instead of one wake-up of the sender, and of every Backup,
//! per advert.
//!
//! Early is safe where late is not: a Backup's Master_Down_Timer restarts at every advert it
//! hears (RFC 9568 §6.4.2), so an advert sent up to a quarter of an interval early only shortens
//! one gap, and the adverts after it keep the interval from there. No Backup deadline is ever
//! taken early.

use super::{Router, State};
use crate::time::Micros;

/// A Master's advert may go out this fraction of its interval before the deadline: at most four
/// groups of Masters per interval of the same length wake the sender.
const EARLY_ADVERT_DIVISOR: u64 = 4;

impl Router {
    /// The earliest time an [`super::Input::Timer`] is acted on: a Master's next advert a quarter
    /// of its interval before [`Router::next_deadline`], any other deadline at the deadline. The
    /// caller waits for the deadline itself; this only says what else a wake-up may take along.
    pub fn acts_from(&self) -> Option<Micros> {
        let deadline = self.deadline?;
        Some(match self.state {
            State::Master => Micros(deadline.0.saturating_sub(self.early_advert_us())),
            _ => deadline,
        })
    }

    fn early_advert_us(&self) -> u64 {
        self.own_interval_us() / EARLY_ADVERT_DIVISOR
    }

    /// The deadline after a Master's advert sent at `now` for `deadline`: on time or late, the
    /// cadence is kept (never a burst to catch up); early, the new phase is kept, so the advert
    /// stays with the ones it went out with.
    pub(super) fn next_advert_deadline(&self, deadline: Micros, now: Micros) -> Micros {
        let interval = self.own_interval_us();
        if now < deadline {
            return now + interval;
        }
        let next = deadline + interval;
        if next <= now {
            now + interval
        } else {
            next
        }
    }
}
