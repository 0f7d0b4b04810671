//! `track_process`: how many processes match, event-driven through the kernel's process
//! connector (fork, exec, comm, exit), after a /proc scan at start, with keepalived's quorum and
//! delays. A counted process that dies is reported as soon as its exit event is read.

mod connector;
mod matching;
mod quorum;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;

use self::connector::{Connector, ProcEvent};
use self::quorum::{Cause, Quorum};
use super::{Report, TrackId, TrackUpdate, TrackerHandle};

/// keepalived's `param_match`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ParamMatch {
    /// Parameters are not looked at (no `param_match`, no parameters).
    #[default]
    None,
    /// The parameters are exactly the configured ones (the default once parameters are given;
    /// `param_match` with no parameters means "no parameters at all").
    Exact,
    /// The first parameters are exactly the configured ones; more may follow.
    Partial,
    /// Like `Partial`, but the last configured parameter may be a prefix of the process's.
    Initial,
}

/// One `vrrp_track_process` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessSpec {
    /// The process name (`/proc/PID/comm`, at most 15 bytes), or argv\[0\] with `full_command`.
    pub name: String,
    /// The parameters after the name in the `process` keyword.
    pub params: Vec<String>,
    pub param_match: ParamMatch,
    /// Match the command line instead of the name (implied by parameters or `param_match`).
    pub full_command: bool,
    /// Fewest matching processes for success (keepalived default 1).
    pub quorum: u32,
    /// Most matching processes for success (keepalived default: no limit).
    pub quorum_max: u32,
    /// A gain (or a loss by too many) caused by a fork counts only after this long.
    pub fork_delay: Duration,
    /// A loss caused by an exit counts only after this long.
    pub terminate_delay: Duration,
}

impl ProcessSpec {
    /// keepalived's defaults: match the name against comm, quorum 1, no maximum, no delays.
    pub fn new(name: impl Into<String>) -> ProcessSpec {
        ProcessSpec {
            name: name.into(),
            params: Vec::new(),
            param_match: ParamMatch::None,
            full_command: false,
            quorum: 1,
            quorum_max: u32::MAX,
            fork_delay: Duration::ZERO,
            terminate_delay: Duration::ZERO,
        }
    }

    /// keepalived's `process NAME PARAMS...` with an optional `param_match`: parameters or a
    /// `param_match` switch to matching the command line; parameters alone match exactly.
    pub fn with_params(
        mut self,
        params: Vec<String>,
        param_match: Option<ParamMatch>,
    ) -> ProcessSpec {
        if !params.is_empty() || param_match.is_some() {
            self.full_command = true;
        }
        self.param_match = match param_match {
            Some(param_match) => param_match,
            None if !params.is_empty() => ParamMatch::Exact,
            None => self.param_match,
        };
        self.params = params;
        self
    }
}

/// How long to let a burst settle after the kernel dropped events before rescanning /proc
/// (keepalived waits 1 s too).
const RESCAN_AFTER: Duration = Duration::from_secs(1);

/// Subscribes to process events, scans /proc, reports the count and verdict, then follows
/// every fork, exec, name change and exit. Fails when the kernel has no process connector.
pub(super) fn spawn(
    id: TrackId,
    spec: &ProcessSpec,
    updates: mpsc::Sender<TrackUpdate>,
) -> Result<TrackerHandle, String> {
    let connector = Connector::subscribe().map_err(|e| {
        if e.raw_os_error() == Some(libc::EPROTONOSUPPORT) {
            "track_process: the kernel has no process events connector (CONFIG_PROC_EVENTS)"
                .to_string()
        } else {
            format!("track_process: process events connector: {e}")
        }
    })?;
    // SAFETY: the netlink descriptor is owned by the Connector and neither closed nor replaced
    // while the AsyncFd lives.
    let socket = unsafe { AsyncFd::register_with_interest(connector, Interest::READABLE) }
        .map_err(|e| format!("track_process: {e}"))?;
    let task = tokio::spawn(follow(id, spec.clone(), socket, updates));
    Ok(TrackerHandle::new(task))
}

struct Follower {
    id: TrackId,
    spec: ProcessSpec,
    counted: HashSet<i32>,
    quorum: Quorum,
}

impl Follower {
    fn new(id: TrackId, spec: ProcessSpec) -> Follower {
        // Subscribed before scanning, so nothing that happens during the scan is missed.
        let counted: HashSet<i32> = matching::scan(&spec).into_iter().collect();
        let quorum = Quorum::new(
            spec.quorum,
            spec.quorum_max,
            spec.fork_delay,
            spec.terminate_delay,
            counted.len() as u32,
        );
        Follower {
            id,
            spec,
            counted,
            quorum,
        }
    }

    fn report(&self) -> TrackUpdate {
        TrackUpdate {
            id: self.id,
            report: Report::Processes {
                count: self.quorum.count(),
                quorum: self.quorum.have_quorum(),
            },
        }
    }

    fn join(&mut self, pid: i32, cause: Cause, now: Instant) {
        if self.counted.insert(pid) {
            self.quorum.joined(cause, now);
        }
    }

    fn leave(&mut self, pid: i32, cause: Cause, now: Instant) {
        if self.counted.remove(&pid) {
            self.quorum.left(cause, now);
        }
    }

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
                if child_pid == child_tgid && self.counted.contains(&parent_tgid) {
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

    fn rescan(&mut self) {
        self.counted = matching::scan(&self.spec).into_iter().collect();
        self.quorum.rescanned(self.counted.len() as u32);
    }
}

async fn follow(
    id: TrackId,
    spec: ProcessSpec,
    socket: AsyncFd<Connector>,
    updates: mpsc::Sender<TrackUpdate>,
) {
    let mut follower = Follower::new(id, spec);
    let mut last = follower.report();
    if updates.send(last.clone()).await.is_err() {
        return;
    }
    let mut buf = Vec::with_capacity(8192);
    let mut rescan_at: Option<tokio::time::Instant> = None;
    loop {
        let timer = follower
            .quorum
            .deadline()
            .map(tokio::time::Instant::from_std);
        let wake = match (timer, rescan_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            ready = socket.readable() => {
                let mut ready = match ready {
                    Ok(ready) => ready,
                    Err(e) => {
                        stop(&updates, id, format!("process connector: {e}")).await;
                        return;
                    }
                };
                loop {
                    match ready.get_inner().receive(&mut buf) {
                        Ok(events) => {
                            let now = Instant::now();
                            for event in events {
                                if let ProcEvent::Ack { seq, error } = event {
                                    if seq == ready.get_inner().seq() && error != 0 {
                                        let why = std::io::Error::from_raw_os_error(error as i32);
                                        let reason = format!(
                                            "the process connector refused us: {why} (it needs \
                                             CAP_NET_ADMIN in the initial user and PID namespaces)"
                                        );
                                        stop(&updates, id, reason).await;
                                        return;
                                    }
                                }
                                follower.on_event(event, now);
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            ready.clear_ready();
                            break;
                        }
                        Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                            tracing::warn!(tracker = %id, "process events were dropped; rescanning /proc in {RESCAN_AFTER:?}");
                            ready.get_inner().grow_buffer();
                            rescan_at = Some(tokio::time::Instant::now() + RESCAN_AFTER);
                        }
                        Err(e) => {
                            stop(&updates, id, format!("process connector: {e}")).await;
                            return;
                        }
                    }
                }
            }
            _ = sleep_until(wake), if wake.is_some() => {
                let now = tokio::time::Instant::now();
                if rescan_at.is_some_and(|at| at <= now) {
                    rescan_at = None;
                    follower.rescan();
                }
                follower.quorum.on_timer(now.into_std());
            }
        }
        let report = follower.report();
        if report != last {
            if updates.send(report.clone()).await.is_err() {
                return;
            }
            last = report;
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

async fn stop(updates: &mpsc::Sender<TrackUpdate>, id: TrackId, reason: String) {
    tracing::warn!(tracker = %id, "track_process stopped: {reason}");
    let _ = updates
        .send(TrackUpdate {
            id,
            report: Report::Stopped(reason),
        })
        .await;
}

#[cfg(test)]
mod tests;
