//! Process tracking against the real kernel: our own `sleep` children, found by a distinctive
//! argument, counted, killed and reported. Needs root (CAP_NET_ADMIN) in the initial PID
//! namespace, as the process connector does; no network traffic, no other process touched.

use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{spawn, ProcessSpec};
use crate::track::{Report, TrackId, TrackUpdate};

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
        "process tracking tests need root (CAP_NET_ADMIN for the process connector): \
         sudo -E cargo test --release --lib track::"
    );
}

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
    let update = tokio::time::timeout(Duration::from_secs(3), rx.recv())
        .await
        .expect("a report within 3 s")
        .expect("the runner is alive");
    match update.report {
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

#[tokio::test(flavor = "current_thread")]
async fn a_counted_sleep_is_seen_and_its_death_reported_within_100_ms() {
    require_root();
    let argument = distinctive_argument();
    let spec = ProcessSpec::new("sleep").with_params(vec![argument.clone()], None);
    let (tx, mut rx) = mpsc::channel(16);
    let _tracker = spawn(id(), &spec, tx).expect("process connector");
    assert_eq!(next_count(&mut rx).await, (0, false), "none at start");

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

#[tokio::test(flavor = "current_thread")]
async fn processes_running_at_start_are_found_by_the_scan() {
    require_root();
    let argument = distinctive_argument();
    let _a = Sleeper::start(&argument);
    let _b = Sleeper::start(&argument);
    // Give both time to exec.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut spec = ProcessSpec::new("sleep").with_params(vec![argument.clone()], None);
    spec.quorum = 3;
    let (tx, mut rx) = mpsc::channel(16);
    let _tracker = spawn(id(), &spec, tx).expect("process connector");
    assert_eq!(
        next_count(&mut rx).await,
        (2, false),
        "two, below a quorum of 3"
    );
    let _c = Sleeper::start(&argument);
    assert_eq!(next_count(&mut rx).await, (3, true));
}

#[tokio::test(flavor = "current_thread")]
async fn a_fork_of_a_counted_process_is_counted() {
    require_root();
    let marker = distinctive_argument();
    // dash keeps a subshell with two commands as a forked copy of itself.
    let script = format!(": {marker}; (sleep 30; true) & wait");
    let spec = ProcessSpec::new("sh").with_params(vec!["-c".into(), script.clone()], None);
    let (tx, mut rx) = mpsc::channel(16);
    let _tracker = spawn(id(), &spec, tx).expect("process connector");
    assert_eq!(next_count(&mut rx).await, (0, false));
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

#[tokio::test(flavor = "current_thread")]
async fn a_name_change_is_followed_for_comm_matching() {
    require_root();
    let name = format!(
        "vp{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    assert!(name.len() <= 15, "comm keeps 15 bytes: {name}");
    let spec = ProcessSpec::new(name.clone());
    let (tx, mut rx) = mpsc::channel(16);
    let _tracker = spawn(id(), &spec, tx).expect("process connector");
    assert_eq!(next_count(&mut rx).await, (0, false));
    let _renamer = Renamer::start(&name, Duration::from_millis(300));
    assert_eq!(next_count(&mut rx).await, (1, true), "renamed to ours");
    assert_eq!(
        next_count(&mut rx).await,
        (0, false),
        "renamed away, at once"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn terminate_delay_holds_the_loss() {
    require_root();
    let argument = distinctive_argument();
    let mut spec = ProcessSpec::new("sleep").with_params(vec![argument.clone()], None);
    spec.terminate_delay = Duration::from_millis(400);
    let (tx, mut rx) = mpsc::channel(16);
    let _tracker = spawn(id(), &spec, tx).expect("process connector");
    assert_eq!(next_count(&mut rx).await, (0, false));
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
