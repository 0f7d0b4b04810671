//! Following processes through the kernel's process connector: every fork of a counted process,
//! every exec and name change, every exit, as the kernel sends them; a /proc rescan when it
//! dropped some. Ends (for [`super::scanning`] to take over) when the connector fails.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;

use super::connector::{Connector, ProcEvent};
use super::matching;
use super::quorum::Cause;
use super::{sleep_until, Count, Ended, ProcessSpec, Reporter};

/// How long to let a burst settle after the kernel dropped events before rescanning /proc
/// (keepalived waits 1 s too).
const RESCAN_AFTER: Duration = Duration::from_secs(1);

impl Count {
    /// Looks at `pid` again (after an exec, or a name change) and counts it or not.
    fn recheck(&mut self, pid: i32, seen: Option<matching::Seen>, now: Instant) {
        let matches = seen.is_some_and(|seen| self.spec.matches(&seen));
        if matches {
            self.join(pid, Cause::Renamed, now);
        } else {
            self.leave(pid, Cause::Renamed, now);
        }
    }

    fn on_event(&mut self, event: ProcEvent, now: Instant) {
        match event {
            ProcEvent::Ack { .. } => {}
            // Threads are not processes: only events where pid == tgid count.
            ProcEvent::Fork {
                parent_tgid,
                child_pid,
                child_tgid,
            } => {
                if child_pid == child_tgid && self.contains(parent_tgid) {
                    self.join(child_tgid, Cause::ForkOrExit, now);
                }
            }
            ProcEvent::Exec { pid, tgid } if pid == tgid => {
                let seen = matching::look_at(&self.spec, tgid, false);
                self.recheck(tgid, seen, now);
            }
            ProcEvent::Comm { pid, tgid, comm } if pid == tgid && !self.spec.full_command => {
                let seen = matching::Seen {
                    comm: Some(comm),
                    cmdline: None,
                };
                self.recheck(tgid, Some(seen), now);
            }
            ProcEvent::Exit { pid, tgid } if pid == tgid => {
                self.leave(tgid, Cause::ForkOrExit, now);
            }
            ProcEvent::Exec { .. } | ProcEvent::Comm { .. } | ProcEvent::Exit { .. } => {}
        }
    }
}

/// Every matching process on the system now (zombies excluded).
fn scan(spec: &ProcessSpec) -> HashSet<i32> {
    matching::scan(spec).into_iter().collect()
}

/// Scans /proc (subscribed before, so nothing that happens during the scan is missed), reports,
/// then follows the connector's events until it fails ([`Ended::Broken`], with the reason) or
/// the event loop is gone.
pub(super) async fn follow(
    spec: &ProcessSpec,
    socket: AsyncFd<Connector>,
    reporter: &mut Reporter,
) -> Ended {
    let mut count = Count::new(spec.clone(), scan(spec));
    if reporter.count(&count).await.is_err() {
        return Ended::Closed;
    }
    let mut buf = Vec::with_capacity(8192);
    let mut rescan_at: Option<tokio::time::Instant> = None;
    loop {
        let wake = match (count.deadline(), rescan_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            ready = socket.readable() => {
                let mut ready = match ready {
                    Ok(ready) => ready,
                    Err(e) => return Ended::Broken(format!("process events connector: {e}")),
                };
                loop {
                    match ready.get_inner().receive(&mut buf) {
                        Ok(events) => {
                            let now = Instant::now();
                            for event in events {
                                if let ProcEvent::Ack { seq, error } = event {
                                    if seq == ready.get_inner().seq() && error != 0 {
                                        let why = std::io::Error::from_raw_os_error(error as i32);
                                        return Ended::Broken(format!(
                                            "the process events connector refused us: {why} (it \
                                             needs CAP_NET_ADMIN in the initial user and PID \
                                             namespaces)"
                                        ));
                                    }
                                }
                                count.on_event(event, now);
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            ready.clear_ready();
                            break;
                        }
                        Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                            tracing::warn!(tracker = %reporter.id, "process events were dropped; rescanning /proc in {RESCAN_AFTER:?}");
                            ready.get_inner().grow_buffer();
                            rescan_at = Some(tokio::time::Instant::now() + RESCAN_AFTER);
                        }
                        Err(e) => return Ended::Broken(format!("process events connector: {e}")),
                    }
                }
            }
            _ = sleep_until(wake), if wake.is_some() => {
                let now = tokio::time::Instant::now();
                if rescan_at.is_some_and(|at| at <= now) {
                    rescan_at = None;
                    count.rescanned(scan(spec));
                }
                count.on_timer(now.into_std());
            }
        }
        if reporter.count(&count).await.is_err() {
            return Ended::Closed;
        }
    }
}
