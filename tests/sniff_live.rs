//! `vipd sniff -i` on a live interface: a veth pair inside a network namespace made for the test
//! (removed on every exit path), VRRP frames from a fixture injected on the peer end. Needs root
//! (CAP_SYS_ADMIN for the namespace, CAP_NET_RAW for the capture); without it the tests fail
//! saying so, never skip.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pcap_file::pcap::PcapReader;

/// A network namespace deleted on drop.
struct Namespace(String);

impl Namespace {
    /// A namespace unique to this process and test (`suffix`); `None` without the privilege.
    fn create(suffix: &str) -> Option<Namespace> {
        let name = format!("vipd-sniff-{}-{suffix}", std::process::id());
        let created = Command::new("ip")
            .args(["netns", "add", &name])
            .stderr(Stdio::null())
            .status()
            .ok()?;
        created.success().then(|| Namespace(name))
    }

    fn run(&self, args: &[&str]) {
        let status = Command::new("ip")
            .args(["-n", &self.0])
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "ip -n {} {args:?}", self.0);
    }

    fn exec(&self) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.0]);
        command
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn first_vrrp_frames(count: usize) -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pcap-fixtures/keepalived-v3-vmac.pcap");
    let mut reader = PcapReader::new(File::open(path).unwrap()).unwrap();
    let mut frames = Vec::new();
    while let Some(packet) = reader.next_packet() {
        frames.push(packet.unwrap().data.into_owned());
        if frames.len() == count {
            break;
        }
    }
    frames
}

/// Sends each frame on `interface` inside the namespace through a one-shot Python AF_PACKET
/// socket (the test's traffic generator; vipd itself never sends in sniff mode).
fn inject(namespace: &Namespace, interface: &str, frames: &[Vec<u8>]) {
    let hex: Vec<String> = frames
        .iter()
        .map(|f| f.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let script = format!(
        "import socket\ns=socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\ns.bind(('{interface}', 0))\n\
         for h in {hex:?}:\n    s.send(bytes.fromhex(h))\n"
    );
    let status = namespace
        .exec()
        .args(["python3", "-c", &script])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn live_capture_prints_injected_adverts_and_stops_at_count() {
    let namespace = Namespace::create("c").expect(
        "cannot create a network namespace: this test needs root (CAP_SYS_ADMIN, CAP_NET_RAW)",
    );
    namespace.run(&[
        "link", "add", "cap0", "type", "veth", "peer", "name", "inj0",
    ]);
    namespace.run(&["link", "set", "cap0", "up"]);
    namespace.run(&["link", "set", "inj0", "up"]);

    let sniffer = namespace
        .exec()
        .args([
            env!("CARGO_BIN_EXE_vipd"),
            "sniff",
            "-i",
            "cap0",
            "--json",
            "-c",
            "2",
            "--timeout",
            "10",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // Non-VRRP first (an ARP-typed junk frame), then three VRRP frames: only two may be printed.
    let mut frames = vec![{
        let mut junk = vec![0xff; 12];
        junk.extend_from_slice(&[0x08, 0x06]);
        junk.extend_from_slice(&[0u8; 46]);
        junk
    }];
    frames.extend(first_vrrp_frames(3));
    // The sniffer's socket may not be open yet on a loaded machine: inject again until it has
    // seen its two (bounded; the same frames each round).
    let mut sniffer = sniffer;
    for _ in 0..30 {
        inject(&namespace, "inj0", &frames);
        std::thread::sleep(Duration::from_millis(200));
        if sniffer.try_wait().unwrap().is_some() {
            break;
        }
    }
    let output = sniffer.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "-c 2 should stop before the timeout"
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for line in &lines {
        assert_eq!(line["version"], 3);
        assert_eq!(line["dst"], "224.0.0.18");
        assert_eq!(line["checksum"], "pseudo-header");
        assert_eq!(line["error"], serde_json::Value::Null);
    }
}

#[test]
fn live_capture_ends_at_the_timeout_without_traffic() {
    let namespace = Namespace::create("t").expect(
        "cannot create a network namespace: this test needs root (CAP_SYS_ADMIN, CAP_NET_RAW)",
    );
    namespace.run(&["link", "set", "lo", "up"]);
    let started = Instant::now();
    let output = namespace
        .exec()
        .args([
            env!("CARGO_BIN_EXE_vipd"),
            "sniff",
            "-i",
            "lo",
            "--timeout",
            "1",
        ])
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stdout.is_empty());
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}
