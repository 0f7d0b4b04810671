//! Process tracking against the real kernel: our own `sleep` children, found by a distinctive
//! argument or a name of their own, counted, killed and reported. Every test runs twice: in the
//! initial network namespace, where the process connector serves us, and in a test namespace,
//! where it refuses us and /proc scans with pidfds take over (the runner must say so). Needs
//! root (CAP_NET_ADMIN for the connector, CAP_SYS_ADMIN for the namespace); no network traffic,
//! no other process touched.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{spawn, ProcessSpec};
use crate::track::{Report, TrackId, TrackUpdate, TrackerHandle};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A sleep duration nobody else uses: `4000.<pid><n>` seconds.
fn distinctive_argument() -> String {
    format!(
        "4000.{}{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn id() -> TrackId {
    TrackId {
        index: 0,
        generation: 0,
    }
}

fn require_root() {
    assert!(
        unsafe { libc::geteuid() } == 0,
        "process tracking tests need root (CAP_NET_ADMIN for the process connector, \
         CAP_SYS_ADMIN for a test namespace): sudo -E cargo test --release --lib track::"
    );
}

/// How the runner is expected to observe processes where the test runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    /// The initial network namespace: the process connector.
    Connector,
    /// Another network namespace: /proc scans and pidfds, announced with a `Fallback` report.
    Scans,
}

/// Starts a runner for `spec`, checks that it says how it observes (a `Fallback` note, naming
/// the connector's refusal, before anything else, or nothing), and returns it with the first
/// count it reports.
async fn start(
    spec: &ProcessSpec,
    way: Way,
) -> (TrackerHandle, mpsc::Receiver<TrackUpdate>, (u32, bool)) {
    let (tx, mut rx) = mpsc::channel(16);
    let tracker = spawn(id(), spec, tx).expect("a way to follow processes");
    let mut first = next_report(&mut rx).await;
    match (way, &first) {
        (Way::Scans, Report::Fallback(note)) => {
            assert!(
                note.contains("initial network namespace") && note.contains("pidfd"),
                "{note}"
            );
            first = next_report(&mut rx).await;
        }
        (Way::Scans, other) => panic!("no fallback note in a namespace: {other:?}"),
        (Way::Connector, Report::Fallback(note)) => panic!("the connector refused us: {note}"),
        (Way::Connector, _) => {}
    }
    match first {
        Report::Processes { count, quorum } => (tracker, rx, (count, quorum)),
        other => panic!("not a process report: {other:?}"),
    }
}

async fn next_report(rx: &mut mpsc::Receiver<TrackUpdate>) -> Report {
    tokio::time::timeout(Duration::from_secs(3), rx.recv())
        .await
        .expect("a report within 3 s")
        .expect("the runner is alive")
        .report
}

/// Defines each test body twice: as `connector::NAME` in the initial network namespace, and as
/// `namespace::NAME` on a thread inside a test network namespace.
macro_rules! in_both_namespaces {
    ($($name:ident),* $(,)?) => {
        mod connector {
            $(
                #[tokio::test(flavor = "current_thread")]
                async fn $name() {
                    super::require_root();
                    super::$name(super::Way::Connector).await;
                }
            )*
        }
        mod namespace {
            $(
                #[test]
                fn $name() {
                    super::require_root();
                    let ns = crate::system::testns::TestNs::create();
                    ns.run(|| super::$name(super::Way::Scans));
                }
            )*
        }
    };
}

in_both_namespaces!(
    a_counted_sleep_is_seen_and_its_death_reported_within_100_ms,
    processes_running_at_start_are_found_by_the_scan,
    a_fork_of_a_counted_process_is_counted,
    a_name_change_is_followed_for_comm_matching,
    terminate_delay_holds_the_loss,
    fork_delay_holds_a_gain_by_fork,
    a_uniquely_named_copy_of_sleep_is_counted_and_its_death_reported_at_once,
);

/// A child killed (and reaped) on drop, whatever the test did.
struct Sleeper(Child);

impl Sleeper {
    fn start(argument: &str) -> Sleeper {
        Sleeper(
            Command::new("sleep")
                .arg(argument)
                .spawn()
                .expect("sleep runs"),
        )
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn next_count(rx: &mut mpsc::Receiver<TrackUpdate>) -> (u32, bool) {
    match next_report(rx).await {
        Report::Processes { count, quorum } => (count, quorum),
        other => panic!("not a process report: {other:?}"),
    }
}

/// Reads reports until one satisfies `wanted` (the intermediate ones may come in any batching).
async fn wait_for(
    rx: &mut mpsc::Receiver<TrackUpdate>,
    wanted: impl Fn(u32, bool) -> bool,
) -> (u32, bool) {
    let mut seen = Vec::new();
    loop {
        let (count, quorum) = next_count(rx).await;
        seen.push((count, quorum));
        if wanted(count, quorum) {
            return (count, quorum);
        }
        assert!(seen.len() < 20, "never came: {seen:?}");
    }
}

async fn a_counted_sleep_is_seen_and_its_death_reported_within_100_ms(way: Way) {
    let argument = distinctive_argument();
    let spec = ProcessSpec::new("sleep").with_params(vec![argument.clone()], None);
    let (_tracker, mut rx, first) = start(&spec, way).await;
    assert_eq!(first, (0, false), "none at start");

    let mut sleeper = Sleeper::start(&argument);
    assert_eq!(next_count(&mut rx).await, (1, true), "seen by its exec");
    let _other = Sleeper::start(&format!("{argument}1"));

    let killed = Instant::now();
    sleeper.kill();
    assert_eq!(next_count(&mut rx).await, (0, false));
    let took = killed.elapsed();
    assert!(took < Duration::from_millis(100), "reported after {took:?}");
    let quiet = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await;
    assert!(quiet.is_err(), "the longer argument is not ours: {quiet:?}");
}

async fn processes_running_at_start_are_found_by_the_scan(way: Way) {
    let argument = distinctive_argument();
    let _a = Sleeper::start(&argument);
    let _b = Sleeper::start(&argument);
    // Give both time to exec.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut spec = ProcessSpec::new("sleep").with_params(vec![argument.clone()], None);
    spec.quorum = 3;
    let (_tracker, mut rx, first) = start(&spec, way).await;
    assert_eq!(first, (2, false), "two, below a quorum of 3");
    let _c = Sleeper::start(&argument);
    assert_eq!(next_count(&mut rx).await, (3, true));
}

async fn a_fork_of_a_counted_process_is_counted(way: Way) {
    let marker = distinctive_argument();
    // dash keeps a subshell with two commands as a forked copy of itself.
    let script = format!(": {marker}; (sleep 30; true) & wait");
    let spec = ProcessSpec::new("sh").with_params(vec!["-c".into(), script.clone()], None);
    let (_tracker, mut rx, first) = start(&spec, way).await;
    assert_eq!(first, (0, false));
    let mut shell = Sleeper(
        Command::new("sh")
            .args(["-c", &script])
            .spawn()
            .expect("sh runs"),
    );
    // The shell (by its exec), its subshell (by the fork), and briefly the subshell's own fork
    // until it execs sleep and stops matching.
    wait_for(&mut rx, |count, _| count == 2).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut last = 2;
    while let Ok(update) = rx.try_recv() {
        if let Report::Processes { count, .. } = update.report {
            last = count;
        }
    }
    assert_eq!(last, 2, "settles at the shell and its subshell");
    // Kill the subshell and its sleep (our grandchildren), then the shell.
    let shell_pid = shell.0.id() as i32;
    for child in children_of(shell_pid) {
        for grandchild in children_of(child) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(grandchild),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    // The shell's `wait` returns when its subshell dies, so it may leave on its own too.
    let after = wait_for(&mut rx, |count, _| count <= 1).await;
    shell.kill();
    if after != (0, false) {
        wait_for(&mut rx, |count, quorum| (count, quorum) == (0, false)).await;
    }
}

/// The pids whose parent is `parent` (from /proc/PID/stat's fourth field).
fn children_of(parent: i32) -> Vec<i32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(after) = stat.rfind(')') else {
            continue;
        };
        let ppid = stat[after + 1..].split_whitespace().nth(1);
        if ppid.and_then(|p| p.parse::<i32>().ok()) == Some(parent) {
            children.push(pid);
        }
    }
    children
}

/// A forked copy of this test process that renames itself (only a process may set its own
/// comm), waits, renames itself away, then sleeps until killed. Killed and reaped on drop.
struct Renamer(libc::pid_t);

impl Renamer {
    fn start(name: &str, hold: Duration) -> Renamer {
        let name = std::ffi::CString::new(name).unwrap();
        let away = std::ffi::CString::new("vipd-away").unwrap();
        let hold = libc::timespec {
            tv_sec: hold.as_secs() as libc::time_t,
            tv_nsec: hold.subsec_nanos() as libc::c_long,
        };
        let long = libc::timespec {
            tv_sec: 60,
            tv_nsec: 0,
        };
        // SAFETY: the child only makes async-signal-safe system calls before _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            unsafe {
                libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0);
                libc::nanosleep(&hold, std::ptr::null_mut());
                libc::prctl(libc::PR_SET_NAME, away.as_ptr() as libc::c_ulong, 0, 0, 0);
                libc::nanosleep(&long, std::ptr::null_mut());
                libc::_exit(0);
            }
        }
        Renamer(pid)
    }
}

impl Drop for Renamer {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
            libc::waitpid(self.0, std::ptr::null_mut(), 0);
        }
    }
}

async fn a_name_change_is_followed_for_comm_matching(way: Way) {
    let name = format!(
        "vp{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    assert!(name.len() <= 15, "comm keeps 15 bytes: {name}");
    let spec = ProcessSpec::new(name.clone());
    let (_tracker, mut rx, first) = start(&spec, way).await;
    assert_eq!(first, (0, false));
    let _renamer = Renamer::start(&name, Duration::from_millis(300));
    assert_eq!(next_count(&mut rx).await, (1, true), "renamed to ours");
    assert_eq!(
        next_count(&mut rx).await,
        (0, false),
        "renamed away, at once"
    );
}

async fn terminate_delay_holds_the_loss(way: Way) {
    let argument = distinctive_argument();
    let mut spec = ProcessSpec::new("sleep").with_params(vec![argument.clone()], None);
    spec.terminate_delay = Duration::from_millis(400);
    let (_tracker, mut rx, first) = start(&spec, way).await;
    assert_eq!(first, (0, false));
    let mut sleeper = Sleeper::start(&argument);
    assert_eq!(next_count(&mut rx).await, (1, true));
    let killed = Instant::now();
    sleeper.kill();
    assert_eq!(
        next_count(&mut rx).await,
        (0, true),
        "the count at once, the verdict held"
    );
    assert_eq!(next_count(&mut rx).await, (0, false));
    let took = killed.elapsed();
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < Duration::from_millis(900), "{took:?}");
}

async fn fork_delay_holds_a_gain_by_fork(way: Way) {
    let marker = distinctive_argument();
    // As above: the shell, then its subshell, a fork of it, which makes the quorum of 2.
    let script = format!(": {marker}; (sleep 30; true) & wait");
    let mut spec = ProcessSpec::new("sh").with_params(vec!["-c".into(), script.clone()], None);
    spec.quorum = 2;
    spec.fork_delay = Duration::from_millis(500);
    let (_tracker, mut rx, first) = start(&spec, way).await;
    assert_eq!(first, (0, false));
    let _shell = Sleeper(
        Command::new("sh")
            .args(["-c", &script])
            .spawn()
            .expect("sh runs"),
    );
    wait_for(&mut rx, |count, _| count >= 2).await;
    let counted = Instant::now();
    let (count, quorum) = wait_for(&mut rx, |_, quorum| quorum).await;
    let took = counted.elapsed();
    assert_eq!(count, 2, "the shell and its subshell");
    assert!(
        took >= Duration::from_millis(450),
        "the fork's gain came after {took:?}"
    );
    assert!(took < Duration::from_millis(900), "{took:?}");
    assert!(quorum);
    // Our grandchildren go with their process group.
    let group = nix::unistd::Pid::from_raw(-(_shell.0.id() as i32));
    let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
}

/// A copy of /bin/sleep under a name of its own in a scratch directory, removed on drop.
struct SleepCopy {
    dir: PathBuf,
    name: String,
}

impl SleepCopy {
    fn new() -> SleepCopy {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("vt{}s{n}", std::process::id());
        assert!(name.len() <= 15, "comm keeps 15 bytes: {name}");
        let dir = std::env::temp_dir().join(format!("vipd-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy("/bin/sleep", dir.join(&name)).expect("copy /bin/sleep");
        SleepCopy { dir, name }
    }

    fn start(&self) -> Sleeper {
        Sleeper(
            Command::new(self.dir.join(&self.name))
                .arg("1000")
                .spawn()
                .expect("the copy of sleep runs"),
        )
    }
}

impl Drop for SleepCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn a_uniquely_named_copy_of_sleep_is_counted_and_its_death_reported_at_once(way: Way) {
    let copy = SleepCopy::new();
    let spec = ProcessSpec::new(copy.name.clone());
    let (_tracker, mut rx, first) = start(&spec, way).await;
    assert_eq!(first, (0, false));
    let mut took = Vec::new();
    for _ in 0..5 {
        let mut sleeper = copy.start();
        let started = Instant::now();
        assert_eq!(next_count(&mut rx).await, (1, true), "counted");
        let seen = started.elapsed();
        let killed = Instant::now();
        sleeper.kill();
        assert_eq!(next_count(&mut rx).await, (0, false), "its death");
        took.push((seen, killed.elapsed()));
    }
    // Figures for the record (cargo test -- --nocapture).
    eprintln!("{way:?}: (start -> counted, kill -> reported): {took:?}");
    for (_, death) in &took {
        assert!(
            *death < Duration::from_millis(100),
            "reported after {death:?}"
        );
    }
}
