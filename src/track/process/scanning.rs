//! Following processes without the process connector (which the kernel serves only in the
//! initial network namespace): /proc is scanned at start and every [`SCAN_EVERY`] for processes
//! that start to match (a new process, an exec, a new name) or stop matching, and every counted
//! process is held by a pidfd, readable the instant it exits, so a death is reported at once and
//! not at the next scan.
//!
//! A scan costs one read per process (`/proc/PID/comm`, or the first bytes of `/proc/PID/cmdline`
//! with `full_command`), plus, only for a process that newly matches, a pidfd, a second read and
//! its parent from `/proc/PID/stat`: about 2.5 µs of CPU per process per scan (measured: 190 µs
//! for 79 processes), so 1 % of one core for 1000 processes.
//!
//! The causes keepalived's delays depend on are kept: a new process whose parent is counted joined
//! by a fork (`fork_delay`), any other by an exec or a name change (no delay); an exit (the pidfd)
//! is an exit (`terminate_delay`), a counted process that stops matching but still runs was
//! renamed (no delay).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tokio::time::MissedTickBehavior;

use super::matching;
use super::pidfd::{self, Exits, PidFd};
use super::quorum::Cause;
use super::{sleep_until, Count, ProcessSpec, Report, Reporter};

/// How often /proc is scanned for processes that start or stop matching.
pub(super) const SCAN_EVERY: Duration = Duration::from_millis(250);

/// The counted processes and a handle on each.
struct Watcher {
    count: Count,
    exits: Exits,
}

impl Watcher {
    /// The start-up scan: every matching process counted, no delay applied.
    fn start(spec: &ProcessSpec) -> std::io::Result<Watcher> {
        let mut exits = Exits::default();
        let mut counted = HashSet::new();
        for pid in proc_pids() {
            if let Some(handle) = confirm(spec, pid) {
                exits.watch(pid, handle)?;
                counted.insert(pid);
            }
        }
        Ok(Watcher {
            count: Count::new(spec.clone(), counted),
            exits,
        })
    }

    /// One scan: processes that started to match join, counted ones that stopped matching leave.
    fn scan(&mut self, now: Instant) -> std::io::Result<()> {
        let spec = &self.count.spec;
        let mut joined = Vec::new();
        let mut left = Vec::new();
        for pid in proc_pids() {
            let seen = matching::look_at(spec, pid, false);
            let matches = seen.as_ref().is_some_and(|seen| spec.matches(seen));
            if self.count.contains(pid) {
                // Gone (unreadable) is the pidfd's to report; readable and not matching is a
                // rename, or an exit the pidfd has not been asked about yet.
                if seen.is_some() && !matches {
                    let cause = match self.exits.has_exited(pid) {
                        true => Cause::ForkOrExit,
                        false => Cause::Renamed,
                    };
                    left.push((pid, cause));
                }
            } else if matches {
                if let Some(handle) = confirm(spec, pid) {
                    joined.push((pid, handle));
                }
            }
        }
        for (pid, cause) in left {
            self.exits.forget(pid);
            self.count.leave(pid, cause, now);
        }
        // A child of a process counted before, or found in this same scan, was forked; the
        // others exec'd or were renamed into matching. The connector would have seen the parent
        // join first: so here too.
        let new: HashSet<i32> = joined.iter().map(|(pid, _)| *pid).collect();
        let (forked, others): (Vec<_>, Vec<_>) = joined.into_iter().partition(|(pid, _)| {
            matching::parent_of(*pid)
                .is_some_and(|parent| self.count.contains(parent) || new.contains(&parent))
        });
        for (joined, cause) in [(others, Cause::Renamed), (forked, Cause::ForkOrExit)] {
            for (pid, handle) in joined {
                self.exits.watch(pid, handle)?;
                self.count.join(pid, cause, now);
            }
        }
        Ok(())
    }

    fn exited(&mut self, pid: i32, now: Instant) {
        self.exits.forget(pid);
        self.count.leave(pid, Cause::ForkOrExit, now);
    }
}

/// A handle on `pid` if it is a live process that matches `spec`. The handle is opened after a
/// first look, so the process is looked at again: once the handle is held the pid cannot be
/// reused, and a process that has not exited is the one the handle names.
fn confirm(spec: &ProcessSpec, pid: i32) -> Option<PidFd> {
    let handle = PidFd::open(pid).ok()?;
    if handle.has_exited() {
        // A zombie: it still has a name in /proc but is not running.
        return None;
    }
    let seen = matching::look_at(spec, pid, false)?;
    spec.matches(&seen).then_some(handle)
}

/// The processes (thread-group leaders) /proc lists now.
fn proc_pids() -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .collect()
}

/// Follows `spec` by scans and pidfds, after the connector could not be had (`why`): says so in
/// the log and in status, reports, then reports every change until the event loop is gone. A
/// failure of this way too is reported as [`Report::Stopped`].
pub(super) async fn watch(spec: &ProcessSpec, why: String, reporter: &mut Reporter) {
    if let Err(e) = pidfd::supported() {
        reporter
            .stop(format!(
                "{why}; and no pidfd_open for watching /proc instead: {e}"
            ))
            .await;
        return;
    }
    let note = format!(
        "{why}; following processes by scanning /proc every {} ms, exits through pidfds",
        SCAN_EVERY.as_millis()
    );
    tracing::warn!(tracker = %reporter.id, "track_process: {note}");
    if reporter.send(Report::Fallback(note.clone())).await.is_err() {
        return;
    }
    let mut watcher = match Watcher::start(spec) {
        Ok(watcher) => watcher,
        Err(e) => return reporter.stop(format!("{note}: {e}")).await,
    };
    if reporter.count(&watcher.count).await.is_err() {
        return;
    }
    let mut scans = tokio::time::interval_at(tokio::time::Instant::now() + SCAN_EVERY, SCAN_EVERY);
    scans.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let timer = watcher.count.deadline();
        tokio::select! {
            // Exits first: a scan must not find a dead process's zombie before its exit is in.
            biased;
            exit = watcher.exits.next_exit() => match exit {
                Ok(pid) => watcher.exited(pid, Instant::now()),
                Err(e) => return reporter.stop(format!("{note}: pidfd: {e}")).await,
            },
            _ = sleep_until(timer), if timer.is_some() => watcher.count.on_timer(Instant::now()),
            _ = scans.tick() => {
                if let Err(e) = watcher.scan(Instant::now()) {
                    return reporter.stop(format!("{note}: pidfd: {e}")).await;
                }
            }
        }
        if reporter.count(&watcher.count).await.is_err() {
            return;
        }
    }
}
