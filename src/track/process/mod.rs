//! `track_process`: how many processes match, with keepalived's quorum and delays, after a /proc
//! scan at start. Event-driven through the kernel's process connector (fork, exec, comm, exit;
//! [`events`]) where the kernel allows it; elsewhere (another network namespace: a container, a
//! lab) by scanning /proc every 250 ms with a pidfd held on every counted process ([`scanning`]),
//! which the status and the log say. Either way a counted process that dies is reported at once.

mod connector;
mod events;
mod matching;
mod pidfd;
mod quorum;
mod scanning;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;

use self::connector::Connector;
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

/// Subscribes to process events, or, where the kernel refuses that (outside the initial network
/// namespace, without CAP_NET_ADMIN there, without CONFIG_PROC_EVENTS), falls back to scanning
/// /proc with a pidfd on every counted process; then reports the count and verdict and follows
/// every change. Fails only when neither way can work.
pub(super) fn spawn(
    id: TrackId,
    spec: &ProcessSpec,
    updates: mpsc::Sender<TrackUpdate>,
) -> Result<TrackerHandle, String> {
    let connector = Connector::subscribe()
        .map_err(|e| subscribe_error(&e))
        .and_then(|connector| {
            // SAFETY: the netlink descriptor is owned by the Connector and neither closed nor
            // replaced while the AsyncFd lives.
            unsafe { AsyncFd::register_with_interest(connector, Interest::READABLE) }
                .map_err(|e| format!("process events connector: {e}"))
        });
    if let Err(why) = &connector {
        pidfd::supported().map_err(|e| {
            format!("track_process: {why}; and no pidfd_open for watching /proc instead: {e}")
        })?;
    }
    let task = tokio::spawn(track(spec.clone(), connector, Reporter::new(id, updates)));
    Ok(TrackerHandle::new(task))
}

/// Why the connector could not be had, for the log and status.
fn subscribe_error(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(libc::EPROTONOSUPPORT) => {
            "the kernel has no process events connector (CONFIG_PROC_EVENTS)".to_string()
        }
        Some(libc::ECONNREFUSED) => format!(
            "the process events connector refused us ({error}): it works only in the initial \
             network namespace"
        ),
        _ => format!("process events connector: {error}"),
    }
}

/// The runner: the connector while it works, then /proc scans.
async fn track(
    spec: ProcessSpec,
    connector: Result<AsyncFd<Connector>, String>,
    mut reporter: Reporter,
) {
    let why = match connector {
        Ok(socket) => match events::follow(&spec, socket, &mut reporter).await {
            Ended::Closed => return,
            Ended::Broken(why) => why,
        },
        Err(why) => why,
    };
    scanning::watch(&spec, why, &mut reporter).await;
}

/// How a way of following processes ended.
enum Ended {
    /// The event loop is gone.
    Closed,
    /// It cannot observe any more, for this reason.
    Broken(String),
}

/// The counted processes and their quorum: what both ways of following processes update.
struct Count {
    spec: ProcessSpec,
    counted: HashSet<i32>,
    quorum: Quorum,
}

impl Count {
    /// The state after a start-up scan found `counted` (no delay applies).
    fn new(spec: ProcessSpec, counted: HashSet<i32>) -> Count {
        let quorum = Quorum::new(
            spec.quorum,
            spec.quorum_max,
            spec.fork_delay,
            spec.terminate_delay,
            counted.len() as u32,
        );
        Count {
            spec,
            counted,
            quorum,
        }
    }

    fn report(&self) -> Report {
        Report::Processes {
            count: self.quorum.count(),
            quorum: self.quorum.have_quorum(),
        }
    }

    fn contains(&self, pid: i32) -> bool {
        self.counted.contains(&pid)
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

    /// When [`Count::on_timer`] is due (a fork or terminate delay).
    fn deadline(&self) -> Option<tokio::time::Instant> {
        self.quorum.deadline().map(tokio::time::Instant::from_std)
    }

    fn on_timer(&mut self, now: Instant) {
        self.quorum.on_timer(now);
    }

    /// Replaces the count with a fresh scan's (after the kernel dropped events).
    fn rescanned(&mut self, counted: HashSet<i32>) {
        self.counted = counted;
        self.quorum.rescanned(self.counted.len() as u32);
    }
}

/// Sends the runner's reports, a process count only when it differs from the last one sent.
struct Reporter {
    id: TrackId,
    updates: mpsc::Sender<TrackUpdate>,
    last: Option<Report>,
}

/// The event loop has gone away.
struct Closed;

impl Reporter {
    fn new(id: TrackId, updates: mpsc::Sender<TrackUpdate>) -> Reporter {
        Reporter {
            id,
            updates,
            last: None,
        }
    }

    async fn count(&mut self, count: &Count) -> Result<(), Closed> {
        let report = count.report();
        if self.last.as_ref() == Some(&report) {
            return Ok(());
        }
        self.send(report.clone()).await?;
        self.last = Some(report);
        Ok(())
    }

    async fn send(&self, report: Report) -> Result<(), Closed> {
        let update = TrackUpdate {
            id: self.id,
            report,
        };
        self.updates.send(update).await.map_err(|_| Closed)
    }

    /// The runner cannot observe any more: logged, and shown in status.
    async fn stop(&self, reason: String) {
        tracing::warn!(tracker = %self.id, "track_process stopped: {reason}");
        let _ = self.send(Report::Stopped(reason)).await;
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests;
