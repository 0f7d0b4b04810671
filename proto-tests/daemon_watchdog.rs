//! systemd's notify protocol as vipd speaks it, heard on a test NOTIFY_SOCKET: READY=1 once the
//! loop runs, then WATCHDOG=1 at half of WATCHDOG_USEC while the loop turns; none while the
//! process is stopped; none at all when no watchdog is asked for.

use crate::daemon_support::*;
use crate::lab::*;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// Datagrams received on `socket` during `window`, each with its arrival time.
fn receive_for(socket: &UnixDatagram, window: Duration) -> Vec<(Instant, String)> {
    let deadline = Instant::now() + window;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match socket.recv(&mut buf) {
            Ok(n) => received.push((
                Instant::now(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            )),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            // A signal meant for the test harness (a child exiting) may land in this thread.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("notify socket: {e}"),
        }
    }
    received
}

/// Datagrams received until one has the line `line`, at most for `timeout`.
fn receive_until(socket: &UnixDatagram, timeout: Duration, line: &str) -> Vec<(Instant, String)> {
    let deadline = Instant::now() + timeout;
    let mut received = Vec::new();
    while count(&received, line) == 0 && Instant::now() < deadline {
        received.extend(receive_for(socket, Duration::from_millis(50)));
    }
    received
}

/// Throws away what is queued.
fn drain(socket: &UnixDatagram) {
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    while socket.recv(&mut buf).is_ok() {}
    socket.set_nonblocking(false).unwrap();
}

fn count(messages: &[(Instant, String)], line: &str) -> usize {
    messages
        .iter()
        .filter(|(_, m)| m.lines().any(|l| l == line))
        .count()
}

fn notify_socket(lab: &Lab, name: &str) -> (UnixDatagram, String) {
    let path = lab.dir().join(name);
    let socket = UnixDatagram::bind(&path).expect("bind the test NOTIFY_SOCKET");
    (socket, path.to_str().unwrap().to_owned())
}

#[test]
fn daemon_feeds_the_systemd_watchdog_from_its_loop() {
    let lab = Lab::new("daemon_watchdog");
    let a = lab.add_node("gw-a");
    a.add_addr("192.0.2.1/24");
    let (socket, path) = notify_socket(&lab, "notify-watchdog.sock");
    let notify = format!("NOTIFY_SOCKET={path}");
    // 200 ms: fed every 100 ms.
    let mut vipd = a.start_vipd_wrapped(
        &v3_config(61, 150, "192.0.2.100/24", ""),
        &["env", &notify, "WATCHDOG_USEC=200000"],
        None,
    );
    let first = receive_until(&socket, Duration::from_secs(5), "READY=1");
    assert_eq!(count(&first, "READY=1"), 1, "no READY=1: {first:?}");
    let fed_at_start = receive_until(&socket, Duration::from_millis(150), "WATCHDOG=1");
    assert!(
        count(&first, "WATCHDOG=1") + count(&fed_at_start, "WATCHDOG=1") > 0,
        "not fed within 150 ms of READY=1"
    );
    wait_state(&vipd, "gw-a", "MASTER", Duration::from_secs(5));
    drain(&socket);

    let running = receive_for(&socket, Duration::from_secs(1));
    let fed = count(&running, "WATCHDOG=1");
    assert!(
        (7..=13).contains(&fed),
        "expected ~10 WATCHDOG=1 in 1 s at a 100 ms period, got {fed}: {running:?}"
    );
    let gaps: Vec<Duration> = running.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(
        gaps.iter().all(|g| *g < Duration::from_millis(190)),
        "a gap near the 200 ms timeout: {gaps:?}"
    );

    // A stopped process feeds nothing (what systemd would restart), and resumes when continued.
    vipd.signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(50));
    drain(&socket);
    let stopped = receive_for(&socket, Duration::from_millis(500));
    assert_eq!(count(&stopped, "WATCHDOG=1"), 0, "{stopped:?}");
    vipd.signal(libc::SIGCONT);
    drain(&socket);
    let resumed = receive_for(&socket, Duration::from_millis(500));
    assert!(count(&resumed, "WATCHDOG=1") >= 3, "{resumed:?}");
    assert!(vipd.try_wait().is_none(), "vipd exited");
}

#[test]
fn daemon_without_watchdog_usec_only_says_ready() {
    let lab = Lab::new("daemon_no_watchdog");
    let a = lab.add_node("gw-a");
    a.add_addr("192.0.2.1/24");
    let (socket, path) = notify_socket(&lab, "notify-plain.sock");
    let notify = format!("NOTIFY_SOCKET={path}");
    let vipd = a.start_vipd_wrapped(
        &v3_config(62, 150, "192.0.2.100/24", ""),
        &["env", "-u", "WATCHDOG_USEC", &notify],
        None,
    );
    wait_state(&vipd, "gw-a", "MASTER", Duration::from_secs(5));
    let messages = receive_for(&socket, Duration::from_millis(800));
    let ready_and_after: Vec<_> = messages.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(count(&messages, "READY=1"), 1, "{ready_and_after:?}");
    assert_eq!(
        count(&messages, "WATCHDOG=1"),
        0,
        "watchdog fed without being asked: {ready_and_after:?}"
    );
    assert!(
        ready_and_after.iter().all(|m| m.trim() == "READY=1"),
        "{ready_and_after:?}"
    );
}
