//! conntrackd's primary-backup sequence, built in: what Debian's `primary-backup.sh` (shipped with
//! conntrackd) runs from keepalived's notify scripts, run by vipd itself on each transition of an
//! instance or sync group that has a `conntrackd` block.
//!
//! - MASTER: commit the external cache into the kernel (`-c`), flush the caches (`-f`), resync
//!   the internal cache with the kernel table (`-R`), send a bulk update to the backups (`-B`).
//! - BACKUP: ask whether conntrackd runs (`-s`) and, when it does not answer, start it (`-d`,
//!   after removing a stale lock file, as the script does); shorten the kernel's conntrack
//!   timers (`-t`); request a resync from the master (`-n`; not in `alarm` mode, where the script
//!   itself says it does nothing).
//! - FAULT: shorten the kernel timers (`-t`). STOP: nothing (the script has no such case).
//!
//! Each step runs `conntrackd -C CONFIG FLAG` through [`crate::system::exec`] (own process group,
//! killed at the step's timeout), or, when the binary is absent, sends the same request code on
//! conntrackd's UNIX control socket (the client's protocol: one native-endian `int`, then the
//! reply until the daemon closes). A failed step is logged and counted and the next step runs,
//! as in the script. Sequences of one subject run one after another on a task of their own; a
//! transition arriving while one runs replaces any sequence still waiting, so a flapping
//! instance never queues up stale work. Nothing here blocks the caller.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use vipd_config::{Conntrackd, ConntrackdMode};
use vipd_router::State;

use crate::system::exec::{self, ScriptPolicy};

/// One conntrackd client command of the primary-backup sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    Commit,
    Flush,
    Resync,
    BulkSend,
    CheckRunning,
    Start,
    ResetTimers,
    RequestResync,
}

impl Step {
    pub const ALL: [Step; 8] = [
        Step::Commit,
        Step::Flush,
        Step::Resync,
        Step::BulkSend,
        Step::CheckRunning,
        Step::Start,
        Step::ResetTimers,
        Step::RequestResync,
    ];

    /// The name in logs, status and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Step::Commit => "commit",
            Step::Flush => "flush",
            Step::Resync => "resync",
            Step::BulkSend => "bulk_send",
            Step::CheckRunning => "check",
            Step::Start => "start",
            Step::ResetTimers => "reset_timers",
            Step::RequestResync => "request_resync",
        }
    }

    /// The `conntrackd` option the script passes.
    pub fn flag(self) -> &'static str {
        match self {
            Step::Commit => "-c",
            Step::Flush => "-f",
            Step::Resync => "-R",
            Step::BulkSend => "-B",
            Step::CheckRunning => "-s",
            Step::Start => "-d",
            Step::ResetTimers => "-t",
            Step::RequestResync => "-n",
        }
    }

    /// The request code conntrackd's client sends for that option (conntrackd.h: ALL_COMMIT,
    /// ALL_FLUSH_CACHE, ALL_RESYNC_MASTER, SEND_BULK, STATS, RESET_TIMERS, REQUEST_DUMP);
    /// `None` for starting the daemon, which only the binary can do.
    pub fn request_code(self) -> Option<i32> {
        match self {
            Step::Commit => Some(46),
            Step::Flush => Some(45),
            Step::Resync => Some(44),
            Step::BulkSend => Some(22),
            Step::CheckRunning => Some(21),
            Step::Start => None,
            Step::ResetTimers => Some(26),
            Step::RequestResync => Some(23),
        }
    }
}

/// What the script's case is for a state: the steps in order (the start step is added only when
/// the check fails). Empty for STOP.
pub fn sequence(mode: ConntrackdMode, state: State) -> &'static [Step] {
    match (state, mode) {
        (State::Master, _) => &[Step::Commit, Step::Flush, Step::Resync, Step::BulkSend],
        (State::Backup, ConntrackdMode::Alarm) => &[Step::CheckRunning, Step::ResetTimers],
        (State::Backup, _) => &[Step::CheckRunning, Step::ResetTimers, Step::RequestResync],
        (State::Fault, _) => &[Step::ResetTimers],
        (State::Initialize, _) => &[],
    }
}

/// How each step went, for status and metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConntrackdRecord {
    /// `(step, succeeded, failed)` for each step that ran at least once.
    pub steps: Vec<(Step, u64, u64)>,
    pub sequences: u64,
    /// The last failure: `step: why`, and when (seconds since the epoch).
    pub last_error: Option<(String, f64)>,
    /// The state of the last sequence finished, and how long it took.
    pub last_sequence: Option<(State, Duration)>,
}

impl ConntrackdRecord {
    fn count(&mut self, step: Step, ok: bool) {
        let entry = match self.steps.iter().position(|(s, ..)| *s == step) {
            Some(k) => &mut self.steps[k],
            None => {
                self.steps.push((step, 0, 0));
                self.steps.last_mut().expect("just pushed")
            }
        };
        if ok {
            entry.1 += 1;
        } else {
            entry.2 += 1;
        }
    }

    /// Failed steps, all kinds together.
    pub fn failures(&self) -> u64 {
        self.steps.iter().map(|(_, _, failed)| failed).sum()
    }
}

/// The conntrackd integration of one instance or sync group: a queue into its own task, which
/// starts with the first transition (inside the runtime).
#[derive(Debug)]
pub struct ConntrackdHook {
    /// `INSTANCE NAME` or `GROUP NAME`, for logs and status.
    pub subject: String,
    pub settings: Conntrackd,
    jobs: mpsc::UnboundedSender<State>,
    /// The task's end of the queue until the task starts.
    idle: Mutex<Option<mpsc::UnboundedReceiver<State>>>,
    record: Arc<Mutex<ConntrackdRecord>>,
}

impl ConntrackdHook {
    pub fn new(subject: String, settings: Conntrackd) -> ConntrackdHook {
        let (jobs, queue) = mpsc::unbounded_channel();
        ConntrackdHook {
            subject,
            settings,
            jobs,
            idle: Mutex::new(Some(queue)),
            record: Arc::new(Mutex::new(ConntrackdRecord::default())),
        }
    }

    /// The subject entered `state`: its sequence is queued (replacing one still waiting). Must be
    /// called inside the tokio runtime.
    pub fn on_transition(&self, state: State) {
        if sequence(self.settings.mode, state).is_empty() {
            return;
        }
        if let Some(queue) = self.idle.lock().ok().and_then(|mut idle| idle.take()) {
            tokio::spawn(run_jobs(
                self.subject.clone(),
                self.settings.clone(),
                queue,
                self.record.clone(),
            ));
        }
        let _ = self.jobs.send(state);
    }

    /// How the steps went so far.
    pub fn record(&self) -> ConntrackdRecord {
        self.record.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

async fn run_jobs(
    subject: String,
    settings: Conntrackd,
    mut queue: mpsc::UnboundedReceiver<State>,
    record: Arc<Mutex<ConntrackdRecord>>,
) {
    while let Some(mut state) = queue.recv().await {
        // Only the latest state matters: a sequence for a state already left is skipped.
        while let Ok(later) = queue.try_recv() {
            state = later;
        }
        let started = Instant::now();
        for &step in sequence(settings.mode, state) {
            let result = run_step(&settings, step).await;
            note(&subject, &record, step, &result);
            if step == Step::CheckRunning && result.is_err() && settings.start {
                let started = start_daemon(&settings).await;
                note(&subject, &record, Step::Start, &started);
            }
        }
        if let Ok(mut r) = record.lock() {
            r.sequences += 1;
            r.last_sequence = Some((state, started.elapsed()));
        }
    }
}

fn note(subject: &str, record: &Mutex<ConntrackdRecord>, step: Step, result: &Result<(), String>) {
    match result {
        Ok(()) => tracing::debug!(
            "{subject}: conntrackd {} ({}) done",
            step.name(),
            step.flag()
        ),
        Err(why) => tracing::warn!(
            "{subject}: conntrackd {} ({}) failed: {why}; VRRP goes on",
            step.name(),
            step.flag()
        ),
    }
    if let Ok(mut r) = record.lock() {
        r.count(step, result.is_ok());
        if let Err(why) = result {
            let at = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            r.last_error = Some((format!("{}: {why}", step.name()), at));
        }
    }
}

/// Runs one step through the binary when it exists, else on the control socket.
pub async fn run_step(settings: &Conntrackd, step: Step) -> Result<(), String> {
    let timeout = Duration::from_micros(settings.timeout_us);
    if Path::new(&settings.binary).exists() {
        run_binary(settings, &[step.flag()], timeout).await
    } else if let Some(code) = step.request_code() {
        request(Path::new(&settings.control), code, timeout).await
    } else {
        Err(format!(
            "{} is absent: conntrackd cannot be started",
            settings.binary
        ))
    }
}

/// `conntrackd -C CONFIG ARGS...` as root, in its own process group, killed at `timeout`.
async fn run_binary(settings: &Conntrackd, args: &[&str], timeout: Duration) -> Result<(), String> {
    let mut words = vec![settings.binary.as_str(), "-C", settings.config.as_str()];
    words.extend_from_slice(args);
    let command = exec::Command {
        // Direct exec, no shell: each path is one argument whatever it holds.
        shell_command: "exec \"$@\"".to_owned(),
        args: words.iter().map(|w| (*w).to_owned()).collect(),
        timeout: Some(timeout),
        keep_stderr: true,
    };
    let finished = exec::spawn(&ScriptPolicy::root(), command).await;
    if finished.success() {
        return Ok(());
    }
    let stderr = finished
        .last_stderr_line
        .map(|line| format!(": {line}"))
        .unwrap_or_default();
    Err(format!("{}{stderr}", finished.outcome))
}

/// Sends request `code` on conntrackd's control socket and reads the reply to its end.
pub async fn request(control: &Path, code: i32, timeout: Duration) -> Result<(), String> {
    let exchange = async {
        let mut stream = tokio::net::UnixStream::connect(control)
            .await
            .map_err(|e| format!("{}: {e} (is conntrackd running?)", control.display()))?;
        stream
            .write_all(&code.to_ne_bytes())
            .await
            .map_err(|e| format!("{}: sending the request: {e}", control.display()))?;
        // The reply (statistics, or nothing) ends when conntrackd closes; for a commit that is
        // when the commit is done. At most 1 MiB is read.
        let mut reply = Vec::new();
        stream
            .take(1 << 20)
            .read_to_end(&mut reply)
            .await
            .map_err(|e| format!("{}: reading the reply: {e}", control.display()))?;
        Ok(())
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "{}: no answer within {timeout:?}",
            control.display()
        )),
    }
}

/// primary-backup.sh's recovery: a lock file left by a conntrackd that did not stop cleanly is
/// removed, then `conntrackd -d` starts it.
async fn start_daemon(settings: &Conntrackd) -> Result<(), String> {
    if !Path::new(&settings.binary).exists() {
        return Err(format!(
            "{} is absent: cannot start conntrackd",
            settings.binary
        ));
    }
    let lock = std::fs::read_to_string(&settings.config)
        .ok()
        .map_or_else(|| PathBuf::from(DEFAULT_LOCK_FILE), |text| lock_file(&text));
    if lock.exists() {
        tracing::warn!(
            "conntrackd was not cleanly stopped: removing its lock file {}",
            lock.display()
        );
        let _ = std::fs::remove_file(&lock);
    }
    run_binary(
        settings,
        &["-d"],
        Duration::from_micros(settings.timeout_us),
    )
    .await
}

/// What `vipd check` says about the conntrackd settings on this machine: a missing binary
/// (the control socket is used instead, and conntrackd cannot be started) or a missing
/// configuration file for it.
pub fn check_warnings(config: &vipd_config::Config) -> Vec<String> {
    let mut out = Vec::new();
    for (subject, actions) in super::links::subjects(config) {
        let Some(ct) = &actions.conntrackd else {
            continue;
        };
        if !Path::new(&ct.binary).exists() {
            out.push(format!(
                "{subject}: conntrackd binary {} is absent: vipd will speak to the control socket {} itself and cannot start conntrackd",
                ct.binary, ct.control
            ));
        } else if !Path::new(&ct.config).exists() {
            out.push(format!(
                "{subject}: conntrackd configuration {} does not exist (given to conntrackd as -C)",
                ct.config
            ));
        }
    }
    out
}

/// conntrackd's lock file when its configuration names none.
const DEFAULT_LOCK_FILE: &str = "/var/lock/conntrack.lock";

/// The `LockFile` a conntrackd configuration names (its `General` section), else the default.
pub fn lock_file(config_text: &str) -> PathBuf {
    config_text
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "LockFile").then(|| words.next().map(PathBuf::from))?
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_LOCK_FILE))
}

#[cfg(test)]
mod tests;
