//! systemd's watchdog (`WatchdogSec=` in the unit): the event loop itself sends `WATCHDOG=1` at
//! half the interval systemd announces in `WATCHDOG_USEC`, when its wait for readiness times out
//! at the due time or a step ends past it, so a loop wedged in a step stops feeding it and
//! systemd restarts vipd. Off when not asked for.

use std::time::{Duration, Instant};

/// When the next `WATCHDOG=1` is due.
pub struct Watchdog {
    period: Duration,
    due: Instant,
}

impl Watchdog {
    /// The watchdog systemd asked for (`WATCHDOG_USEC`, and `WATCHDOG_PID` naming this process
    /// if set); None otherwise.
    pub fn from_env() -> Option<Watchdog> {
        sd_notify::watchdog_enabled().map(|timeout| {
            tracing::info!("systemd watchdog: {timeout:?}, fed every {:?}", timeout / 2);
            Watchdog::every(timeout / 2)
        })
    }

    /// A watchdog fed every `period`, the first time at once.
    pub fn every(period: Duration) -> Watchdog {
        Watchdog {
            period: period.max(Duration::from_millis(1)),
            due: Instant::now(),
        }
    }

    /// How long the loop may wait before feeding it (zero once due).
    pub fn until_due(&self) -> Duration {
        self.due.saturating_duration_since(Instant::now())
    }

    /// Feeds it if it is due.
    pub fn feed_if_due(&mut self) {
        if self.until_due().is_zero() {
            self.feed();
        }
    }

    /// Tells systemd the loop is alive and schedules the next feed.
    pub fn feed(&mut self) {
        if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]) {
            tracing::warn!("systemd watchdog: cannot notify: {e}");
        }
        self.due = Instant::now() + self.period;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_at_once_then_a_period_after_each_feed() {
        let mut watchdog = Watchdog::every(Duration::from_secs(30));
        assert!(
            watchdog.until_due().is_zero(),
            "the first feed is due at once"
        );
        watchdog.feed_if_due();
        let left = watchdog.until_due();
        assert!(
            left > Duration::from_secs(29) && left <= Duration::from_secs(30),
            "{left:?}"
        );
        watchdog.feed_if_due();
        assert!(
            watchdog.until_due() <= left,
            "not due: feeding must not move it"
        );
    }
}
