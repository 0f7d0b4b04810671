//! One timerfd for all of the daemon's deadlines: it wakes the event loop about once per deadline
//! (tokio's timer wheel wakes it again at each level cascade and on every new registration, which
//! tripled the wake-ups per advert). Re-armed at once when it must fire earlier than it is set to;
//! moved later at most once per [`LATER_REARM_GAP`]. A backup's Master_Down deadline moves later
//! with every advert heard: never moving the timer later cost one early wake-up per
//! Master_Down_Interval (3.3 a second beside 10 adverts at advert_int 0.1, a third of a
//! single-instance backup's wake-ups), moving it at every advert would cost a system call per
//! packet at 100 instances; once per 50 ms a wake-up already happening moves it (a system call of
//! about a microsecond), so a deadline that keeps moving later never fires early.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::task::{Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::time::Instant;

/// The least time between two moves of the timer to a later deadline.
pub const LATER_REARM_GAP: std::time::Duration = std::time::Duration::from_millis(50);

/// A CLOCK_MONOTONIC timerfd driven by tokio's reactor.
pub struct DeadlineTimer {
    fd: AsyncFd<OwnedFd>,
    armed: Option<Instant>,
    /// When the timer was last set.
    set_at: Instant,
    /// How long after its armed time the last expiry was seen.
    lateness: std::time::Duration,
}

impl DeadlineTimer {
    pub fn new() -> io::Result<DeadlineTimer> {
        // SAFETY: plain timerfd_create(2); the result is checked before use.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh descriptor we own.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the descriptor is owned by the AsyncFd and neither replaced nor closed behind it.
        let fd = unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE)? };
        Ok(DeadlineTimer {
            fd,
            armed: None,
            set_at: Instant::now(),
            lateness: std::time::Duration::ZERO,
        })
    }

    /// Makes the timer fire at `at` or earlier (never, for `None`, unless it is already set): a
    /// system call when `at` comes before the armed time, or after it once [`LATER_REARM_GAP`]
    /// has passed since the timer was last set. Waking early is harmless: the caller finds
    /// nothing due and arms again.
    pub fn arm(&mut self, at: Option<Instant>) -> io::Result<()> {
        let now = Instant::now();
        match (self.armed, at) {
            (Some(armed), Some(at)) if at == armed => return Ok(()),
            (Some(armed), Some(at))
                if at > armed && now.saturating_duration_since(self.set_at) < LATER_REARM_GAP =>
            {
                return Ok(())
            }
            (Some(_), None) | (None, None) => return Ok(()),
            _ => {}
        }
        let delay = at.map(|at| at.saturating_duration_since(now));
        let value = match delay {
            // A zero it_value disarms the timer: "now" is one nanosecond from now.
            Some(d) if d.is_zero() => libc::timespec {
                tv_sec: 0,
                tv_nsec: 1,
            },
            Some(d) => libc::timespec {
                tv_sec: d.as_secs() as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            },
            None => libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
        };
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: value,
        };
        // SAFETY: spec is a valid itimerspec; the old value is not asked for.
        let ret =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        self.armed = at;
        self.set_at = now;
        Ok(())
    }

    /// How late the last expiry woke the caller: from the armed time to the read.
    pub fn lateness(&self) -> std::time::Duration {
        self.lateness
    }

    /// Waits until the armed deadline passes, then disarms (the next `arm` always sets again).
    pub async fn expired(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_expired(cx)).await
    }

    /// [`Self::expired`] as a poll, through the descriptor's own reader slot: the event loop
    /// polls it at every wake-up, and a `readable()` future, made anew each time, registered
    /// in and left a waiter list under a lock.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut guard = match self.fd.poll_read_ready(cx) {
                Poll::Ready(Ok(guard)) => guard,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            let mut expirations = [0u8; 8];
            // SAFETY: reads at most 8 bytes into a local buffer of 8 bytes.
            let result = guard.try_io(|fd| {
                let n = unsafe {
                    libc::read(
                        fd.as_raw_fd(),
                        expirations.as_mut_ptr() as *mut libc::c_void,
                        expirations.len(),
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
            match result {
                Ok(Ok(())) => {
                    // One read takes every expiration: the next would only find it empty.
                    guard.clear_ready();
                    if let Some(armed) = self.armed.take() {
                        self.lateness = Instant::now().saturating_duration_since(armed);
                    }
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn fires_at_the_deadline_not_before_and_rearms() {
        let mut timer = DeadlineTimer::new().unwrap();
        for _ in 0..3 {
            let start = Instant::now();
            timer.arm(Some(start + Duration::from_millis(20))).unwrap();
            timer.expired().await.unwrap();
            let waited = start.elapsed();
            assert!(
                waited >= Duration::from_millis(20),
                "fired early: {waited:?}"
            );
            assert!(
                waited < Duration::from_secs(2),
                "fired far too late: {waited:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_past_deadline_fires_at_once_and_none_never_fires() {
        let mut timer = DeadlineTimer::new().unwrap();
        timer
            .arm(Some(Instant::now() - Duration::from_millis(5)))
            .unwrap();
        tokio::time::timeout(Duration::from_secs(1), timer.expired())
            .await
            .expect("a past deadline fires")
            .unwrap();
        timer.arm(None).unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(50), timer.expired())
                .await
                .is_err(),
            "a disarmed timer must not fire"
        );
    }

    #[tokio::test]
    async fn an_earlier_deadline_rearms_and_a_later_one_keeps_the_early_wake_up() {
        let mut timer = DeadlineTimer::new().unwrap();
        let start = Instant::now();
        timer.arm(Some(start + Duration::from_secs(5))).unwrap();
        timer.arm(Some(start + Duration::from_millis(20))).unwrap();
        tokio::time::timeout(Duration::from_secs(2), timer.expired())
            .await
            .expect("moving the deadline earlier re-arms the timer")
            .unwrap();
        let start = Instant::now();
        timer.arm(Some(start + Duration::from_millis(30))).unwrap();
        timer.arm(Some(start + Duration::from_secs(5))).unwrap();
        tokio::time::timeout(Duration::from_secs(2), timer.expired())
            .await
            .expect("a later deadline keeps the earlier wake-up")
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[tokio::test]
    async fn a_later_deadline_moves_the_timer_once_the_gap_has_passed() {
        let mut timer = DeadlineTimer::new().unwrap();
        let start = Instant::now();
        timer.arm(Some(start + Duration::from_millis(200))).unwrap();
        tokio::time::sleep(LATER_REARM_GAP + Duration::from_millis(10)).await;
        timer.arm(Some(start + Duration::from_secs(3))).unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(600), timer.expired())
                .await
                .is_err(),
            "moved later after the gap: no early wake-up at 200 ms"
        );
    }
}
