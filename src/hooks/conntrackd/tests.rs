//! The built-in primary-backup sequence against a stand-in conntrackd: a script that logs its
//! arguments (the binary path), and a UNIX socket server that logs the request codes (the
//! control socket path). Needs root, like the other exec tests.

use super::*;
use crate::system::exec::test_support::{runtime, TempDir};

fn settings(dir: &Path, binary: &Path) -> Conntrackd {
    Conntrackd {
        mode: ConntrackdMode::Ftfw,
        control: dir.join("ctl").display().to_string(),
        config: dir.join("conntrackd.conf").display().to_string(),
        binary: binary.display().to_string(),
        timeout_us: 2_000_000,
        start: true,
    }
}

/// Waits (at most 10 s) until `hook` has finished `n` sequences.
async fn sequences_done(hook: &ConntrackdHook, n: u64) -> ConntrackdRecord {
    for _ in 0..500 {
        let record = hook.record();
        if record.sequences >= n {
            return record;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{n} sequences not done within 10 s: {:?}", hook.record());
}

#[test]
fn the_script_s_cases_per_state_and_mode() {
    use Step::*;
    for mode in [
        ConntrackdMode::Ftfw,
        ConntrackdMode::Notrack,
        ConntrackdMode::Alarm,
    ] {
        assert_eq!(
            sequence(mode, State::Master),
            &[Commit, Flush, Resync, BulkSend]
        );
        assert_eq!(sequence(mode, State::Fault), &[ResetTimers]);
        assert!(sequence(mode, State::Initialize).is_empty());
    }
    assert_eq!(
        sequence(ConntrackdMode::Ftfw, State::Backup),
        &[CheckRunning, ResetTimers, RequestResync]
    );
    assert_eq!(
        sequence(ConntrackdMode::Notrack, State::Backup),
        &[CheckRunning, ResetTimers, RequestResync]
    );
    assert_eq!(
        sequence(ConntrackdMode::Alarm, State::Backup),
        &[CheckRunning, ResetTimers]
    );
    let flags: Vec<&str> = Step::ALL.iter().map(|s| s.flag()).collect();
    assert_eq!(flags, ["-c", "-f", "-R", "-B", "-s", "-d", "-t", "-n"]);
}

#[test]
fn the_binary_gets_the_script_s_arguments_in_order() {
    let dir = TempDir::new("ctd-bin");
    let log = dir.0.join("calls");
    let binary = dir.script("conntrackd", &format!("echo \"$*\" >> {}", log.display()));
    let s = settings(&dir.0, &binary);
    let conf = s.config.clone();
    runtime().block_on(async {
        let hook = ConntrackdHook::new("INSTANCE VI_1".into(), s);
        hook.on_transition(State::Master);
        sequences_done(&hook, 1).await;
        hook.on_transition(State::Backup);
        let record = sequences_done(&hook, 2).await;
        assert_eq!(record.failures(), 0, "{record:?}");
        assert_eq!(record.last_sequence.map(|(s, _)| s), Some(State::Backup));
    });
    let calls = std::fs::read_to_string(&log).unwrap();
    let expected: Vec<String> = ["-c", "-f", "-R", "-B", "-s", "-t", "-n"]
        .iter()
        .map(|flag| format!("-C {conf} {flag}"))
        .collect();
    assert_eq!(calls.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn a_failing_or_hanging_step_is_counted_and_the_next_one_still_runs() {
    let dir = TempDir::new("ctd-fail");
    let log = dir.0.join("calls");
    // -f fails with a message, -R hangs past the timeout, the rest succeed.
    let binary = dir.script(
        "conntrackd",
        &format!(
            "printf '%s\\n' \"$3\" >> {}\ncase \"$3\" in -f) echo 'flush refused' >&2; exit 1;; -R) sleep 30;; esac",
            log.display()
        ),
    );
    let mut s = settings(&dir.0, &binary);
    s.timeout_us = 300_000;
    runtime().block_on(async {
        let hook = ConntrackdHook::new("GROUP G1".into(), s);
        let started = Instant::now();
        hook.on_transition(State::Master);
        let record = sequences_done(&hook, 1).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the timeout did not hold"
        );
        assert_eq!(record.failures(), 2, "{record:?}");
        let of = |step| record.steps.iter().find(|(s, ..)| *s == step).copied();
        assert_eq!(of(Step::Flush), Some((Step::Flush, 0, 1)));
        assert_eq!(of(Step::Resync), Some((Step::Resync, 0, 1)));
        assert_eq!(of(Step::BulkSend), Some((Step::BulkSend, 1, 0)));
        let (error, _) = record.last_error.unwrap();
        assert!(error.starts_with("resync: timed out"), "{error}");
    });
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(calls.lines().collect::<Vec<_>>(), ["-c", "-f", "-R", "-B"]);
}

#[test]
fn without_the_binary_the_control_socket_gets_the_request_codes() {
    let dir = TempDir::new("ctd-sock");
    let s = settings(&dir.0, &dir.0.join("no-such-conntrackd"));
    let control = PathBuf::from(&s.control);
    runtime().block_on(async {
        let listener = tokio::net::UnixListener::bind(&control).unwrap();
        let codes = Arc::new(Mutex::new(Vec::new()));
        let seen = codes.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut code = [0u8; 4];
                if stream.read_exact(&mut code).await.is_ok() {
                    seen.lock().unwrap().push(i32::from_ne_bytes(code));
                    let _ = stream.write_all(b"ok\n").await;
                }
            }
        });
        let hook = ConntrackdHook::new("INSTANCE VI_1".into(), s);
        hook.on_transition(State::Master);
        sequences_done(&hook, 1).await;
        hook.on_transition(State::Fault);
        let record = sequences_done(&hook, 2).await;
        assert_eq!(record.failures(), 0, "{record:?}");
        assert_eq!(*codes.lock().unwrap(), [46, 45, 44, 22, 26]);
    });
}

#[test]
fn a_dead_daemon_fails_its_steps_and_cannot_be_started_without_the_binary() {
    let dir = TempDir::new("ctd-dead");
    let s = settings(&dir.0, &dir.0.join("no-such-conntrackd"));
    runtime().block_on(async {
        let hook = ConntrackdHook::new("INSTANCE VI_1".into(), s);
        hook.on_transition(State::Backup);
        let record = sequences_done(&hook, 1).await;
        let failed: Vec<Step> = record
            .steps
            .iter()
            .filter(|(.., failed)| *failed > 0)
            .map(|(s, ..)| *s)
            .collect();
        assert_eq!(
            failed,
            [
                Step::CheckRunning,
                Step::Start,
                Step::ResetTimers,
                Step::RequestResync
            ]
        );
        let (error, _) = record.last_error.unwrap();
        assert!(error.contains("is conntrackd running?"), "{error}");
    });
}

#[test]
fn a_stale_lock_is_removed_before_starting_the_daemon() {
    let dir = TempDir::new("ctd-start");
    let lock = dir.0.join("ct.lock");
    let log = dir.0.join("calls");
    std::fs::write(&lock, "").unwrap();
    std::fs::write(
        dir.0.join("conntrackd.conf"),
        format!("General {{\n  LockFile {} # ours\n}}\n", lock.display()),
    )
    .unwrap();
    // -s says the daemon is not there; -d "starts" it.
    let binary = dir.script(
        "conntrackd",
        &format!(
            "printf '%s\\n' \"$3\" >> {}\n[ \"$3\" != -s ]",
            log.display()
        ),
    );
    let s = settings(&dir.0, &binary);
    runtime().block_on(async {
        let hook = ConntrackdHook::new("INSTANCE VI_1".into(), s);
        hook.on_transition(State::Backup);
        let record = sequences_done(&hook, 1).await;
        assert_eq!(record.failures(), 1, "{record:?}");
    });
    assert!(!lock.exists(), "the stale lock file is still there");
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(calls.lines().collect::<Vec<_>>(), ["-s", "-d", "-t", "-n"]);
}

#[test]
fn a_waiting_sequence_is_replaced_by_a_later_transition() {
    let dir = TempDir::new("ctd-flap");
    let log = dir.0.join("calls");
    let binary = dir.script(
        "conntrackd",
        &format!(
            "printf '%s\\n' \"$3\" >> {}\n[ \"$3\" != -c ] || sleep 0.3",
            log.display()
        ),
    );
    let s = settings(&dir.0, &binary);
    runtime().block_on(async {
        let hook = ConntrackdHook::new("INSTANCE VI_1".into(), s);
        hook.on_transition(State::Master);
        tokio::time::sleep(Duration::from_millis(100)).await;
        // While MASTER's commit runs: BACKUP, then FAULT; only FAULT's sequence follows.
        hook.on_transition(State::Backup);
        hook.on_transition(State::Fault);
        let record = sequences_done(&hook, 2).await;
        assert_eq!(record.last_sequence.map(|(s, _)| s), Some(State::Fault));
    });
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        ["-c", "-f", "-R", "-B", "-t"]
    );
}

#[test]
fn the_lock_file_is_read_from_conntrackd_s_configuration() {
    assert_eq!(
        lock_file("General {\n # LockFile /nope\n\tLockFile /run/ct.lock\n}\n"),
        PathBuf::from("/run/ct.lock")
    );
    assert_eq!(lock_file("General {}\n"), PathBuf::from(DEFAULT_LOCK_FILE));
}
