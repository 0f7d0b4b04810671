//! Reading a burst of adverts in one wake-up: when adverts arrive back to back (a sender's
//! Masters send together, see the router's `acts_from`), the loop rests its sockets for a short
//! window after a read and then reads everything queued at once, instead of waking for each
//! packet while the sender is still sending. A lone advert, with nothing heard just before it,
//! is read as soon as it arrives.
//!
//! While the sockets rest the loop waits on a set of its own that holds only the mailbox, with
//! the rest's end as a deadline; whatever wakes it, it then reads every socket with something
//! queued before it acts on any timer: a down timer never fires over an advert already queued.

use std::io;
use std::os::fd::RawFd;

use vipd_router::Micros;

use crate::system::readiness::Readiness;

/// How long the sockets rest after a read that followed another within this time. A sender's
/// burst of 100 adverts takes about 0.3 ms to leave it here; an advert read this much later moves
/// a Backup's down timer (three intervals and more, 30 ms at the shortest) by as much.
pub(super) const REST_US: u64 = 500;

pub(super) struct RxHoldoff {
    /// The mailbox alone: what the loop waits on while the sockets rest.
    quiet: Readiness,
    /// When a wake-up last read a packet.
    last_read: Option<Micros>,
    /// Until when the sockets rest (None: the loop waits on them).
    resting_until: Option<Micros>,
}

impl RxHoldoff {
    pub(super) fn new(mailbox: RawFd, mailbox_token: u64) -> io::Result<RxHoldoff> {
        let quiet = Readiness::new()?;
        quiet.watch(mailbox, mailbox_token)?;
        Ok(RxHoldoff {
            quiet,
            last_read: None,
            resting_until: None,
        })
    }

    /// Until when the sockets rest, if they do: the next wait is on [`RxHoldoff::quiet`] and ends
    /// by then, and the wake-up then reads every socket with something queued.
    pub(super) fn resting_until(&self) -> Option<Micros> {
        self.resting_until
    }

    pub(super) fn quiet(&self) -> &Readiness {
        &self.quiet
    }

    /// What a wake-up at `now` read: `packets` from the sockets.
    pub(super) fn after_wake_up(&mut self, now: Micros, packets: usize) {
        let was_resting = self.resting_until.is_some();
        if packets == 0 {
            // A mailbox event during the rest leaves it running; its end, with nothing more
            // queued, ends it.
            if self.resting_until.is_some_and(|until| now >= until) {
                self.resting_until = None;
            }
            return;
        }
        let in_a_burst = was_resting
            || self
                .last_read
                .is_some_and(|at| now.0.saturating_sub(at.0) <= REST_US);
        self.last_read = Some(now);
        self.resting_until = in_a_burst.then_some(Micros(now.0 + REST_US));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holdoff() -> RxHoldoff {
        let (_postman, mailbox) = crate::daemon::mailbox::mailbox().unwrap();
        RxHoldoff::new(mailbox.fd(), 1).unwrap()
    }

    #[test]
    fn a_lone_advert_is_read_at_once_and_rests_nothing() {
        let mut h = holdoff();
        h.after_wake_up(Micros(1_000_000), 1);
        assert_eq!(h.resting_until(), None);
        h.after_wake_up(Micros(1_100_000), 1);
        assert_eq!(h.resting_until(), None);
    }

    #[test]
    fn a_second_read_soon_after_the_first_rests_the_sockets_until_the_burst_is_read() {
        let mut h = holdoff();
        h.after_wake_up(Micros(1_000_000), 1);
        h.after_wake_up(Micros(1_000_010), 1);
        assert_eq!(h.resting_until(), Some(Micros(1_000_010 + REST_US)));
        // A mailbox event during the rest keeps it.
        h.after_wake_up(Micros(1_000_100), 0);
        assert_eq!(h.resting_until(), Some(Micros(1_000_010 + REST_US)));
        // The rest's end reads the burst's remainder and rests again while it goes on.
        h.after_wake_up(Micros(1_000_510), 40);
        assert_eq!(h.resting_until(), Some(Micros(1_000_510 + REST_US)));
        // Nothing more: the loop waits on its sockets again.
        h.after_wake_up(Micros(1_001_010), 0);
        assert_eq!(h.resting_until(), None);
        // Long after, one advert is read at once again.
        h.after_wake_up(Micros(1_100_000), 1);
        assert_eq!(h.resting_until(), None);
    }
}
