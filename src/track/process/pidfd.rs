//! Process handles (`pidfd_open`, Linux 5.3+): a descriptor that names one process, not a pid
//! number that may be reused, and that polls readable the moment that process exits. [`Exits`]
//! keeps one per counted process, registered with tokio, and yields the pids as they die.
//!
//! Through `libc::syscall`: nix has no `pidfd_open`, and the call is one line; rustix has it but
//! is not otherwise a dependency of vipd.

use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::task::Poll;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A handle on one live (or exited, not yet reaped) process.
#[derive(Debug)]
pub(super) struct PidFd(OwnedFd);

impl PidFd {
    /// Opens a handle on process `pid` (a thread-group leader); `ESRCH` when there is none,
    /// `ENOSYS` on kernels before 5.3.
    pub(super) fn open(pid: i32) -> io::Result<PidFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the descriptor was just created and nobody else owns it.
        Ok(PidFd(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }))
    }

    /// Whether the process has exited (a zombie counts as exited).
    pub(super) fn has_exited(&self) -> bool {
        let mut poll = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no waiting.
        let ready = unsafe { libc::poll(&mut poll, 1, 0) };
        ready > 0 && poll.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
    }
}

impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Whether this kernel (and seccomp profile) lets us open process handles: tried on ourselves.
pub(super) fn supported() -> io::Result<()> {
    PidFd::open(std::process::id() as i32).map(drop)
}

/// The handles of the processes being counted, each registered with the tokio reactor.
#[derive(Debug, Default)]
pub(super) struct Exits {
    watched: HashMap<i32, AsyncFd<PidFd>>,
}

impl Exits {
    /// Watches `pid` through `handle` (replacing an older handle on the same pid).
    pub(super) fn watch(&mut self, pid: i32, handle: PidFd) -> io::Result<()> {
        // SAFETY: the descriptor is owned by the PidFd inside the AsyncFd, never closed or
        // replaced while registered.
        let registered = unsafe { AsyncFd::register_with_interest(handle, Interest::READABLE) }?;
        self.watched.insert(pid, registered);
        Ok(())
    }

    /// Stops watching `pid` (it stopped matching, or its exit was seen).
    pub(super) fn forget(&mut self, pid: i32) {
        self.watched.remove(&pid);
    }

    /// Whether watched process `pid` has exited (false when it is not watched).
    pub(super) fn has_exited(&self, pid: i32) -> bool {
        self.watched
            .get(&pid)
            .is_some_and(|handle| handle.get_ref().has_exited())
    }

    /// Waits until a watched process exits and returns its pid (still watched: the caller
    /// forgets it). Pending for ever while nothing is watched.
    pub(super) async fn next_exit(&self) -> io::Result<i32> {
        poll_fn(|cx| {
            for (&pid, handle) in &self.watched {
                match handle.poll_read_ready(cx) {
                    Poll::Ready(Ok(_)) => return Poll::Ready(Ok(pid)),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::{Duration, Instant};

    use super::{Exits, PidFd};

    #[test]
    fn a_handle_tells_a_running_process_from_an_exited_one() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let handle = PidFd::open(child.id() as i32).unwrap();
        assert!(!handle.has_exited());
        child.kill().unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while !handle.has_exited() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(handle.has_exited(), "a zombie counts as exited");
        child.wait().unwrap();
        assert!(handle.has_exited(), "and so does a reaped process");
    }

    #[test]
    fn no_process_no_handle() {
        // Pids above pid_max (at most 2^22) are never used.
        let error = PidFd::open(1 << 23).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ESRCH));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_exit_of_a_watched_process_is_yielded_at_once() {
        let mut exits = Exits::default();
        let mut first = Command::new("sleep").arg("30").spawn().unwrap();
        let mut second = Command::new("sleep").arg("30").spawn().unwrap();
        for child in [&first, &second] {
            let pid = child.id() as i32;
            exits.watch(pid, PidFd::open(pid).unwrap()).unwrap();
        }
        let quiet = tokio::time::timeout(Duration::from_millis(50), exits.next_exit()).await;
        assert!(quiet.is_err(), "nothing exited yet: {quiet:?}");
        let killed = Instant::now();
        second.kill().unwrap();
        let pid = tokio::time::timeout(Duration::from_secs(2), exits.next_exit())
            .await
            .expect("an exit")
            .unwrap();
        assert_eq!(pid, second.id() as i32);
        assert!(
            killed.elapsed() < Duration::from_millis(100),
            "{:?}",
            killed.elapsed()
        );
        exits.forget(pid);
        let quiet = tokio::time::timeout(Duration::from_millis(50), exits.next_exit()).await;
        assert!(quiet.is_err(), "the forgotten one is not yielded again");
        first.kill().unwrap();
        for child in [&mut first, &mut second] {
            child.wait().unwrap();
        }
    }
}
