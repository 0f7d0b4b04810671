//! Trackers: their own id space, rise/fall hysteresis as pure logic, and the runners that
//! observe scripts, files, processes and built-in probes.
//!
//! The event loop owns a [`Trackers`] registry: [`Trackers::add`] gives each [`TrackerSpec`] a
//! [`TrackId`], [`Trackers::run`] (or the free [`spawn`]) starts its runner as a tokio task that
//! sends [`TrackUpdate`]s over an mpsc channel, and [`Trackers::on_update`] turns those into a
//! [`Change`] of [`Verdict`] when the tracker's verdict moves (after rise/fall for periodic checks).
//! The daemon maps a change to the router's `Input::TrackedObjectChanged` (passing/failing) or
//! `Input::TrackedValueChanged` (a file's number) with [`Verdict::router_input`]; the weights and
//! `reverse` live in the router (`vipd_router::Track`), not here.
//!
//! Runners never block the loop; dropping a [`TrackerHandle`] stops its runner (the task is
//! aborted and a script still running is killed with its process group).

mod file;
mod hysteresis;
mod periodic;
pub mod probe;
mod process;
mod registry;
mod script;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

pub use file::{parse_track_file, FileInit, FileReading};
pub use hysteresis::{CheckVerdict, Hysteresis};
pub use process::{ParamMatch, ProcessSpec};
pub use registry::{TrackerStatus, Trackers};
pub use script::disabled_script_reason;

use crate::system::exec::ScriptPolicy;

/// A tracker's identity: a slot in [`Trackers`] plus a generation, so an update from a runner
/// that was removed (or whose slot was reused) is recognised as stale. Not shared with interfaces
/// or instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackId {
    index: u32,
    generation: u32,
}

impl TrackId {
    /// The slot number; unique among live trackers (a removed tracker's slot may be reused with
    /// the next generation).
    pub fn index(self) -> u32 {
        self.index
    }
}

impl fmt::Display for TrackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "track#{}.{}", self.index, self.generation)
    }
}

/// One tracker to run: keepalived's `vrrp_script`, `track_file`, `track_process` or a built-in
/// probe. Weights are not here: they belong to each instance's reference (the router's `Track`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackerSpec {
    /// The configuration's name for it (`vrrp_script NAME`…), for logs and status.
    pub name: String,
    /// What to observe.
    pub kind: TrackerKind,
    /// How often a periodic check runs (scripts, probes; keepalived default 1 s).
    pub interval: Duration,
    /// How long one run may take before it is killed and counted as a failure (keepalived's
    /// default is the interval).
    pub timeout: Duration,
    /// Successes in a row that make a failing check pass (keepalived default 1).
    pub rise: u32,
    /// Failures in a row that make a passing check fail (keepalived default 1).
    pub fall: u32,
    /// keepalived's `init_fail`: a periodic check starts as failing instead of unknown.
    pub init_fail: bool,
}

/// What a tracker observes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackerKind {
    /// A command run every interval; exit status 0 passes.
    Script {
        /// Exec'd directly when it has no shell syntax (split into words as keepalived splits
        /// it), else run as `/bin/sh -c COMMAND`.
        command: String,
        /// The script's own `user USER [GROUP]`, overriding the global script policy's user.
        user: Option<vipd_config::ScriptUser>,
    },
    /// A built-in check (TCP connect, HTTP(S) GET, ICMP echo, DNS query) run every interval.
    Probe(probe::ProbeSpec),
    /// A file holding a number, watched with inotify.
    File {
        /// The file; a symlink is resolved once, when the tracker starts.
        path: PathBuf,
        /// keepalived's `init_file [VALUE] [overwrite]`.
        init: Option<FileInit>,
    },
    /// A count of running processes, watched with the kernel's process connector (or, where the
    /// kernel refuses it, with /proc scans and pidfds).
    Process(ProcessSpec),
}

/// What a tracker says now, as the router will see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// No observation yet.
    Unknown,
    /// The check passes / the process quorum is met.
    Passing,
    /// The check fails / the quorum is not met.
    Failing,
    /// A tracked file's number.
    Value(i64),
}

impl Verdict {
    /// The router input for an object with the router id `router_id`; `None` for Unknown (the
    /// router learns "unknown" only through its configuration).
    pub fn router_input(self, router_id: u32) -> Option<vipd_router::Input> {
        use vipd_router::Input;
        match self {
            Verdict::Unknown => None,
            Verdict::Passing => Some(Input::TrackedObjectChanged {
                id: router_id,
                up: true,
            }),
            Verdict::Failing => Some(Input::TrackedObjectChanged {
                id: router_id,
                up: false,
            }),
            Verdict::Value(value) => Some(Input::TrackedValueChanged {
                id: router_id,
                value,
            }),
        }
    }
}

impl From<Verdict> for vipd_router::TrackStatus {
    fn from(verdict: Verdict) -> vipd_router::TrackStatus {
        match verdict {
            Verdict::Unknown => vipd_router::TrackStatus::Unknown,
            Verdict::Passing => vipd_router::TrackStatus::Up,
            Verdict::Failing => vipd_router::TrackStatus::Down,
            Verdict::Value(value) => vipd_router::TrackStatus::Value(value),
        }
    }
}

impl From<CheckVerdict> for Verdict {
    fn from(verdict: CheckVerdict) -> Verdict {
        match verdict {
            CheckVerdict::Unknown => Verdict::Unknown,
            CheckVerdict::Passing => Verdict::Passing,
            CheckVerdict::Failing => Verdict::Failing,
        }
    }
}

/// A tracker's verdict moved (returned by [`Trackers::on_update`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    pub id: TrackId,
    pub verdict: Verdict,
}

/// What a runner sends to the event loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackUpdate {
    pub id: TrackId,
    pub report: Report,
}

/// One observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// A periodic check (script or probe) finished one run.
    Run(RunReport),
    /// A tracked file was read (at start, or after inotify saw it written, moved or deleted).
    File(FileReading),
    /// The number of matching processes changed, or the quorum verdict did (after keepalived's
    /// `fork_delay` / `terminate_delay`).
    Processes { count: u32, quorum: bool },
    /// The runner cannot observe any more; the verdict is left as it was and the reason shown in
    /// status (as its error).
    Stopped(String),
    /// The runner observes in a lesser way than it was built for, and why (track_process without
    /// the process connector: /proc scans and pidfds); shown in status, the verdict unchanged.
    Fallback(String),
}

/// One finished run of a periodic check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunReport {
    /// When the run ended (wall clock, for status).
    pub finished_at: SystemTime,
    /// How long it ran.
    pub duration: Duration,
    pub outcome: RunOutcome,
    /// The last non-empty line the script wrote to stderr, if any.
    pub last_stderr_line: Option<String>,
    /// Intervals that came while this run was still going and were skipped (keepalived 2.2.7
    /// logs "skipping run" but starts a second copy anyway; 2.3.3 and vipd skip it).
    pub skipped_intervals: u32,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RunOutcome {
    /// Exit status 0, or a probe that succeeded.
    Passed,
    /// A non-zero exit status.
    Exited(i32),
    /// Killed by this signal (not by our timeout).
    Signalled(i32),
    /// Ran past its timeout; its process group was killed.
    TimedOut,
    /// Could not run, or the probe failed: the reason.
    Failed(String),
}

impl RunOutcome {
    /// Whether the run counts as a success.
    pub fn passed(&self) -> bool {
        matches!(self, RunOutcome::Passed)
    }
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunOutcome::Passed => write!(f, "passed"),
            RunOutcome::Exited(code) => write!(f, "exited with status {code}"),
            RunOutcome::Signalled(signal) => write!(f, "killed by signal {signal}"),
            RunOutcome::TimedOut => write!(f, "timed out"),
            RunOutcome::Failed(reason) => write!(f, "failed: {reason}"),
        }
    }
}

/// What a runner needs besides its spec.
#[derive(Clone)]
pub struct SpawnContext {
    /// Where runners send their observations.
    pub updates: mpsc::Sender<TrackUpdate>,
    /// Who scripts run as (`script_user`, `enable_script_security`).
    pub policy: Arc<ScriptPolicy>,
    /// True while reloading: `init_file ... overwrite` does not overwrite then (keepalived).
    pub reload: bool,
}

/// A running tracker; dropping it stops the runner.
#[derive(Debug)]
pub struct TrackerHandle {
    task: tokio::task::JoinHandle<()>,
}

impl TrackerHandle {
    fn new(task: tokio::task::JoinHandle<()>) -> TrackerHandle {
        TrackerHandle { task }
    }

    /// True once the runner has ended on its own (its channel closed, or it could not go on).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for TrackerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the runner for `spec`, reporting as `id`. Must be called inside the tokio runtime.
/// Errors are configuration problems found before anything runs (an unknown script user, a
/// track file's directory that does not exist, neither a process connector nor pidfds).
pub fn spawn(
    id: TrackId,
    spec: &TrackerSpec,
    context: &SpawnContext,
) -> Result<TrackerHandle, String> {
    match &spec.kind {
        TrackerKind::Script { command, user } => {
            let policy = match user {
                Some(user) => Arc::new(context.policy.for_user(user)?),
                None => Arc::clone(&context.policy),
            };
            let check = script::ScriptCheck::new(command.clone(), policy, spec.timeout);
            Ok(periodic::spawn(
                id,
                spec.interval,
                move || check.run(),
                context.updates.clone(),
            ))
        }
        TrackerKind::Probe(probe) => {
            let (probe, timeout) = (probe.clone(), spec.timeout);
            Ok(periodic::spawn(
                id,
                spec.interval,
                move || probe_run(probe.clone(), timeout),
                context.updates.clone(),
            ))
        }
        TrackerKind::File { path, init } => {
            file::spawn(id, path, *init, context.reload, context.updates.clone())
        }
        TrackerKind::Process(process) => process::spawn(id, process, context.updates.clone()),
    }
}

/// One probe run as a periodic check.
async fn probe_run(spec: probe::ProbeSpec, timeout: Duration) -> periodic::CheckResult {
    periodic::CheckResult {
        outcome: match probe::run(&spec, timeout).await {
            Ok(()) => RunOutcome::Passed,
            Err(reason) if reason.starts_with("timed out") => RunOutcome::TimedOut,
            Err(reason) => RunOutcome::Failed(reason),
        },
        last_stderr_line: None,
    }
}
