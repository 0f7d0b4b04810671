//! The event loop's own epoll(7) set: the VRRP sockets and the mailbox's eventfd, waited on by
//! the loop's thread. An advert then touches no code of tokio's scheduler, reactor or time
//! driver, whose pages a wake-up after 100 ms of other processes had to bring back into the
//! caches, and which cost 2,300 of a single-instance master's 3,700 user-space instructions per
//! advert. Level-triggered: a socket left with queued datagrams is simply reported again. The wait's own
//! timeout is the deadline timer (epoll_pwait2(2), nanoseconds): a master's advert is then a wait
//! and a send, a backup's a wait and a read, two system calls where a timerfd made four (its
//! read, and a re-arm at each deadline that moved).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// An epoll instance with level-triggered read interest in each descriptor it watches.
pub struct Readiness {
    epoll: OwnedFd,
    /// epoll_pwait2 is missing (kernels before 5.11) or filtered: timeouts are then whole
    /// milliseconds, rounded up.
    millisecond_timeouts: std::sync::atomic::AtomicBool,
}

/// The tokens of the descriptors that became readable in one [`Readiness::wait`].
pub struct ReadyTokens {
    events: Vec<libc::epoll_event>,
    len: usize,
}

impl ReadyTokens {
    /// Room for this many descriptors per wait; more ready ones are reported by the next wait.
    pub const CAPACITY: usize = 64;

    pub fn new() -> ReadyTokens {
        ReadyTokens {
            events: vec![libc::epoll_event { events: 0, u64: 0 }; Self::CAPACITY],
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `i`-th ready token of the last wait.
    pub fn token(&self, i: usize) -> u64 {
        self.events[..self.len][i].u64
    }
}

impl Default for ReadyTokens {
    fn default() -> Self {
        Self::new()
    }
}

impl Readiness {
    pub fn new() -> io::Result<Readiness> {
        // SAFETY: plain epoll_create1(2); the result is checked before use.
        let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh descriptor we own.
        let epoll = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Readiness {
            epoll,
            millisecond_timeouts: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Reports `fd` as `token` whenever it is readable, until it is closed or unwatched.
    pub fn watch(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: epoll_ctl(2) with a valid event; the kernel copies it.
        let ret =
            unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Stops reporting `fd` (a descriptor never watched, or already closed, is no error).
    pub fn unwatch(&self, fd: RawFd) {
        // SAFETY: epoll_ctl(2) EPOLL_CTL_DEL; the event argument may be null since Linux 2.6.9.
        unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        };
    }

    /// Waits until a watched descriptor is readable or `timeout` passes (`None`: no limit),
    /// filling `ready`; a signal's interruption returns with nothing ready.
    pub fn wait(&self, ready: &mut ReadyTokens, timeout: Option<Duration>) -> io::Result<()> {
        use std::sync::atomic::Ordering::Relaxed;
        let n = if self.millisecond_timeouts.load(Relaxed) {
            self.wait_ms(ready, timeout)
        } else {
            match self.wait_ns(ready, timeout) {
                // ENOSYS: a kernel before 5.11; EPERM: a seccomp filter that predates it (the
                // unit's SystemCallErrorNumber=EPERM).
                -1 if matches!(
                    io::Error::last_os_error().raw_os_error(),
                    Some(libc::ENOSYS | libc::EPERM)
                ) =>
                {
                    self.millisecond_timeouts.store(true, Relaxed);
                    self.wait_ms(ready, timeout)
                }
                n => n,
            }
        };
        if n < 0 {
            ready.len = 0;
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EINTR) => Ok(()),
                _ => Err(e),
            };
        }
        ready.len = n as usize;
        Ok(())
    }

    fn wait_ns(&self, ready: &mut ReadyTokens, timeout: Option<Duration>) -> libc::c_long {
        let spec = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: t.subsec_nanos() as libc::c_long,
        });
        let spec_ptr = spec
            .as_ref()
            .map_or(std::ptr::null(), |s| s as *const libc::timespec);
        // SAFETY: epoll_pwait2(2) with room for CAPACITY events in `ready.events` (which outlives
        // the call), a timespec that outlives it or null (no limit), and no signal mask.
        unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                self.epoll.as_raw_fd(),
                ready.events.as_mut_ptr(),
                ReadyTokens::CAPACITY as libc::c_int,
                spec_ptr,
                std::ptr::null::<libc::sigset_t>(),
                0usize,
            )
        }
    }

    fn wait_ms(&self, ready: &mut ReadyTokens, timeout: Option<Duration>) -> libc::c_long {
        // Rounded up: a wait that ends a little early only makes the caller wait again.
        let timeout_ms = match timeout {
            None => -1,
            Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int,
        };
        // SAFETY: `ready.events` has room for CAPACITY events and outlives the call.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                ready.events.as_mut_ptr(),
                ReadyTokens::CAPACITY as libc::c_int,
                timeout_ms,
            )
        };
        libc::c_long::from(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: pipe2(2) into a two-element array.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: fresh descriptors we own.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    fn write_byte(fd: &OwnedFd) {
        // SAFETY: writes one byte from a local.
        assert_eq!(
            unsafe { libc::write(fd.as_raw_fd(), b"x".as_ptr().cast(), 1) },
            1
        );
    }

    #[test]
    fn reports_the_token_of_each_readable_descriptor_until_it_is_drained() {
        let readiness = Readiness::new().unwrap();
        let (r1, w1) = pipe();
        let (r2, _w2) = pipe();
        readiness.watch(r1.as_raw_fd(), 7).unwrap();
        readiness.watch(r2.as_raw_fd(), 9).unwrap();
        let mut ready = ReadyTokens::new();
        readiness
            .wait(&mut ready, Some(Duration::from_millis(20)))
            .unwrap();
        assert!(ready.is_empty(), "nothing written, nothing ready");
        write_byte(&w1);
        readiness
            .wait(&mut ready, Some(Duration::from_secs(2)))
            .unwrap();
        assert_eq!((ready.len(), ready.token(0)), (1, 7));
        // Level-triggered: still readable, so reported again.
        readiness
            .wait(&mut ready, Some(Duration::from_secs(2)))
            .unwrap();
        assert_eq!((ready.len(), ready.token(0)), (1, 7));
        let mut byte = [0u8; 1];
        // SAFETY: reads one byte into a local.
        assert_eq!(
            unsafe { libc::read(r1.as_raw_fd(), byte.as_mut_ptr().cast(), 1) },
            1
        );
        readiness
            .wait(&mut ready, Some(Duration::from_millis(20)))
            .unwrap();
        assert!(ready.is_empty(), "drained: {} ready", ready.len());
    }

    #[test]
    fn a_closed_descriptor_is_no_longer_reported() {
        let readiness = Readiness::new().unwrap();
        let (r, w) = pipe();
        readiness.watch(r.as_raw_fd(), 1).unwrap();
        write_byte(&w);
        drop(r);
        let mut ready = ReadyTokens::new();
        readiness
            .wait(&mut ready, Some(Duration::from_millis(20)))
            .unwrap();
        assert!(ready.is_empty());
    }

    #[test]
    fn a_timeout_is_waited_out_to_the_microsecond_and_none_waits_for_readiness() {
        let readiness = Readiness::new().unwrap();
        let mut ready = ReadyTokens::new();
        for micros in [300, 1500, 20_000] {
            let start = std::time::Instant::now();
            readiness
                .wait(&mut ready, Some(Duration::from_micros(micros)))
                .unwrap();
            let waited = start.elapsed();
            assert!(
                waited >= Duration::from_micros(micros),
                "{micros} µs: {waited:?}"
            );
            assert!(waited < Duration::from_secs(1), "{micros} µs: {waited:?}");
        }
        // The kernels vipd is built and tested on have epoll_pwait2 (5.11+).
        assert!(!readiness
            .millisecond_timeouts
            .load(std::sync::atomic::Ordering::Relaxed));
        let (r, w) = pipe();
        readiness.watch(r.as_raw_fd(), 5).unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            write_byte(&w);
            w
        });
        readiness.wait(&mut ready, None).unwrap();
        assert_eq!((ready.len(), ready.token(0)), (1, 5));
        drop(writer.join().unwrap());
    }

    #[test]
    fn without_epoll_pwait2_timeouts_are_rounded_up_to_the_millisecond() {
        let readiness = Readiness::new().unwrap();
        readiness
            .millisecond_timeouts
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let mut ready = ReadyTokens::new();
        let start = std::time::Instant::now();
        readiness
            .wait(&mut ready, Some(Duration::from_micros(300)))
            .unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(1),
            "{:?}",
            start.elapsed()
        );
        let (r, w) = pipe();
        readiness.watch(r.as_raw_fd(), 2).unwrap();
        write_byte(&w);
        readiness
            .wait(&mut ready, Some(Duration::from_secs(2)))
            .unwrap();
        assert_eq!((ready.len(), ready.token(0)), (1, 2));
    }
}
