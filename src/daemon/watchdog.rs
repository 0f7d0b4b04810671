//! systemd's watchdog (`WatchdogSec=` in the unit): the event loop itself sends `WATCHDOG=1` at
//! half the interval systemd announces in `WATCHDOG_USEC`, as one more event it dispatches, so a
//! loop wedged in a step stops feeding it and systemd restarts vipd. Off when not asked for.

use std::pin::Pin;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// When the next `WATCHDOG=1` is due. One timer kept across loop steps, reset only when fed.
pub struct Watchdog {
    period: Duration,
    due: Pin<Box<Sleep>>,
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
            due: Box::pin(tokio::time::sleep_until(Instant::now())),
        }
    }

    /// Completes when the next feed is due.
    pub async fn due(&mut self) {
        self.due.as_mut().await
    }

    /// Tells systemd the loop is alive and schedules the next feed.
    pub fn feed(&mut self) {
        if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]) {
            tracing::warn!("systemd watchdog: cannot notify: {e}");
        }
        self.due.as_mut().reset(Instant::now() + self.period);
    }
}

/// Completes when `watchdog` is due; never without one.
pub async fn due(watchdog: &mut Option<Watchdog>) {
    match watchdog {
        Some(watchdog) => watchdog.due().await,
        None => std::future::pending().await,
    }
}
