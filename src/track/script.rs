//! `vrrp_script`: one run of a check command through [`crate::system::exec::spawn_check`] (own
//! process group, the policy's user, the timeout killing the whole group; a command without shell
//! syntax exec'd directly, as keepalived does, anything else through `/bin/sh -c`), turned into a
//! [`CheckResult`]. [`super::periodic`] schedules the runs.

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use super::periodic::CheckResult;
use super::RunOutcome;
use crate::system::exec::{self, Command, Outcome, ScriptPolicy, Verdict};

/// A script check: the command, who runs it, how long it may take.
pub(super) struct ScriptCheck {
    command: String,
    policy: Arc<ScriptPolicy>,
    timeout: Duration,
}

impl ScriptCheck {
    /// A check that warns once, here, when the policy finds the script insecure but lets it run.
    pub(super) fn new(
        command: String,
        policy: Arc<ScriptPolicy>,
        timeout: Duration,
    ) -> ScriptCheck {
        if let Verdict::RunInsecure(why) = policy.verdict(&command) {
            tracing::warn!("vrrp_script {command:?}: {why}");
        }
        ScriptCheck {
            command,
            policy,
            timeout,
        }
    }

    /// Starts one run now; the future resolves once the script has been reaped (or killed).
    pub(super) fn run(&self) -> impl Future<Output = CheckResult> + Send + 'static {
        let running = exec::spawn_check(
            &self.policy,
            Command {
                shell_command: self.command.clone(),
                args: Vec::new(),
                timeout: Some(self.timeout),
                keep_stderr: true,
            },
        );
        async move {
            let finished = running.await;
            CheckResult {
                outcome: match finished.outcome {
                    Outcome::Exited(0) => RunOutcome::Passed,
                    Outcome::Exited(code) => RunOutcome::Exited(code),
                    Outcome::Signalled(signal) => RunOutcome::Signalled(signal),
                    Outcome::TimedOut => RunOutcome::TimedOut,
                    Outcome::Refused(why) => RunOutcome::Failed(format!("refused: {why}")),
                    Outcome::SpawnFailed(why) => RunOutcome::Failed(why),
                },
                last_stderr_line: finished.last_stderr_line,
            }
        }
    }
}

/// Shell builtins and keywords a command may start with (such a command runs through `sh -c`).
const SHELL_WORDS: &[&str] = &[
    "!", ":", ".", "[", "case", "cd", "command", "echo", "eval", "exec", "exit", "false", "for",
    "if", "printf", "read", "set", "test", "true", "until", "while", "{", "(",
];

/// Why keepalived would disable this `vrrp_script` when the configuration is loaded, if it
/// would: `enable_script_security` refuses it, or its program is not found or not executable.
/// keepalived then removes the script from every instance and sync group, as if it were not
/// tracked (a weight-0 script with a typo does not hold the instance in Fault); the daemon should
/// do the same, with this reason in the log.
pub fn disabled_script_reason(command: &str, policy: &ScriptPolicy) -> Option<String> {
    if let Verdict::Refuse(why) = policy.verdict(command) {
        return Some(format!("insecure: {why}"));
    }
    let program = command.split_whitespace().next()?;
    let program = program.trim_matches(|c| c == '\'' || c == '"');
    let found = if program.contains('/') {
        Some(std::path::PathBuf::from(program))
    } else if SHELL_WORDS.contains(&program) {
        return None;
    } else {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(program))
                .find(|candidate| candidate.is_file())
        })
    };
    let Some(path) = found else {
        return Some(format!("{program}: not found"));
    };
    match std::fs::metadata(&path) {
        Err(e) => Some(format!("{}: {e}", path.display())),
        Ok(meta) if !meta.is_file() => Some(format!("{}: not a file", path.display())),
        Ok(meta) if meta.permissions().mode() & 0o111 == 0 => {
            Some(format!("{}: not executable", path.display()))
        }
        Ok(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use tokio::sync::mpsc;

    use super::ScriptCheck;
    use crate::system::exec::ScriptPolicy;
    use crate::track::{Report, RunOutcome, SpawnContext, TrackId, TrackUpdate, TrackerKind};
    use crate::track::{TrackerSpec, Trackers, Verdict};

    fn check(command: &str, timeout_ms: u64) -> ScriptCheck {
        ScriptCheck::new(
            command.to_string(),
            Arc::new(ScriptPolicy::root()),
            Duration::from_millis(timeout_ms),
        )
    }

    /// A scratch directory under the system temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("vipd-script-{tag}-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The processes whose command line (arguments joined by spaces) contains `marker`, waiting
    /// up to 1 s for them to go (a killed process needs a moment to die).
    async fn left_with(marker: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let found = processes_with(marker);
            if found.is_empty() || Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The processes whose command line (arguments joined by spaces) contains `marker`.
    fn processes_with(marker: &str) -> Vec<String> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) {
                found.push(format!("{:?}: {cmdline}", entry.file_name()));
            }
        }
        found
    }

    #[tokio::test(flavor = "current_thread")]
    async fn exit_zero_passes_and_non_zero_fails_with_its_status_and_stderr() {
        assert_eq!(
            check("exit 0", 2_000).run().await.outcome,
            RunOutcome::Passed
        );
        let result = check("echo 'backend down' >&2; exit 3", 2_000).run().await;
        assert_eq!(result.outcome, RunOutcome::Exited(3));
        assert_eq!(result.last_stderr_line.as_deref(), Some("backend down"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_timeout_kills_the_whole_process_group_and_counts_as_failure() {
        // The script leaves a child in the background in its process group; both must die.
        let pid = std::process::id();
        let command = format!("sleep 30.{pid} & sleep 31.{pid}; exit 0");
        let started = Instant::now();
        let result = check(&command, 300).run().await;
        assert_eq!(result.outcome, RunOutcome::TimedOut);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let mut left = left_with(&format!("sleep 30.{pid}")).await;
        left.extend(left_with(&format!("sleep 31.{pid}")).await);
        assert!(left.is_empty(), "processes left behind: {left:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_missing_or_not_executable_script_fails_with_the_reason() {
        let scratch = Scratch::new("exec");
        let missing = scratch.0.join("missing.sh");
        let result = check(missing.to_str().unwrap(), 2_000).run().await;
        assert_eq!(
            result.outcome,
            RunOutcome::Exited(127),
            "127, as the shell's 'not found'"
        );
        let stderr = result.last_stderr_line.unwrap_or_default();
        assert!(
            stderr.contains("not found") || stderr.contains("No such file"),
            "{stderr}"
        );

        let script = scratch.0.join("plain.sh");
        std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
        let result = check(script.to_str().unwrap(), 2_000).run().await;
        assert_eq!(
            result.outcome,
            RunOutcome::Exited(126),
            "126, as the shell's 'not executable'"
        );
        assert!(result.last_stderr_line.is_some());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_script_slower_than_its_interval_runs_one_at_a_time() {
        let scratch = Scratch::new("overlap");
        let lock = scratch.0.join("running");
        let overlaps = scratch.0.join("overlaps");
        let slow = scratch.0.join("slow");
        // Each run holds `running` for about 250 ms; a second run finding it there records an
        // overlap. Once `slow` exists a run sleeps long, with our pid in the sleep's argument, so
        // the test can find it in flight.
        let long_sleep = format!("29.{}", std::process::id());
        let command = format!(
            "if [ -e {lock} ]; then echo x >> {overlaps}; fi; touch {lock}; \
             if [ -e {slow} ]; then sleep {long_sleep}; else sleep 0.25; fi; rm -f {lock}",
            lock = lock.display(),
            overlaps = overlaps.display(),
            slow = slow.display(),
        );
        let spec = TrackerSpec {
            name: "slow".into(),
            kind: TrackerKind::Script {
                command,
                user: None,
            },
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(2),
            rise: 1,
            fall: 1,
            init_fail: false,
        };
        let (tx, mut rx) = mpsc::channel(16);
        let context = SpawnContext {
            updates: tx,
            policy: Arc::new(ScriptPolicy::root()),
            reload: false,
        };
        let mut trackers = Trackers::new();
        let id = trackers.add(spec);
        trackers.run(id, &context).unwrap();
        let mut skipped = 0;
        for _ in 0..3 {
            let update: TrackUpdate = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("a run within 5 s")
                .unwrap();
            assert_eq!(update.id, id);
            if let Report::Run(run) = &update.report {
                assert_eq!(run.outcome, RunOutcome::Passed);
                assert!(run.duration >= Duration::from_millis(250));
                skipped += run.skipped_intervals;
            }
            trackers.on_update(update);
        }
        assert!(!overlaps.exists(), "two runs overlapped");
        assert!(
            skipped >= 3,
            "intervals during a run are skipped: {skipped}"
        );
        assert_eq!(trackers.verdict(id), Some(Verdict::Passing));
        assert_eq!(trackers.status(id).unwrap().runs, 3);
        // Remove the tracker while a (now long) run is in flight: the run dies with it.
        std::fs::write(&slow, "").unwrap();
        // The sleep itself, not the shell whose command line mentions it.
        let in_flight = format!("sleep {long_sleep}");
        let sleeping = || {
            processes_with(&in_flight)
                .iter()
                .any(|p| p.contains(&format!(": {in_flight} ")))
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        while !sleeping() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(sleeping(), "a long run is going");
        trackers.remove(id);
        assert_eq!(
            left_with(&in_flight).await,
            Vec::<String>::new(),
            "the run in flight was killed"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(lock.exists(), "the killed run never got to its `rm`");
        assert!(
            processes_with(&in_flight).is_empty(),
            "and no new run started"
        );
    }

    #[test]
    fn scripts_keepalived_would_disable_are_named_with_the_reason() {
        let policy = ScriptPolicy::root();
        let scratch = Scratch::new("disable");
        let reason = |command: &str| super::disabled_script_reason(command, &policy);
        assert_eq!(reason("true"), None, "found on PATH");
        assert_eq!(reason("/bin/sh -c 'exit 1'"), None);
        assert_eq!(reason("[ -e /run/flag ]"), None, "a shell word");
        let missing = scratch.0.join("nope.sh");
        let why = reason(&format!("{} --quick", missing.display())).unwrap();
        assert!(
            why.contains("not found") || why.contains("No such file"),
            "{why}"
        );
        assert!(reason("vipd-no-such-program-x")
            .unwrap()
            .contains("not found"));
        let plain = scratch.0.join("plain.sh");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(reason(plain.to_str().unwrap())
            .unwrap()
            .contains("not executable"));
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(reason(plain.to_str().unwrap()), None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_unknown_script_user_is_a_spawn_error() {
        let spec = TrackerSpec {
            name: "as-nobody-known".into(),
            kind: TrackerKind::Script {
                command: "true".into(),
                user: Some(vipd_config::ScriptUser {
                    user: "vipd-no-such-user-x".into(),
                    group: None,
                }),
            },
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            rise: 1,
            fall: 1,
            init_fail: false,
        };
        let (tx, _rx) = mpsc::channel(1);
        let context = SpawnContext {
            updates: tx,
            policy: Arc::new(ScriptPolicy::root()),
            reload: false,
        };
        let id = TrackId {
            index: 0,
            generation: 0,
        };
        let error = crate::track::spawn(id, &spec, &context).unwrap_err();
        assert!(error.contains("vipd-no-such-user-x"), "{error}");
    }
}
