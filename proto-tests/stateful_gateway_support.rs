//! The stateful gateway lab of issue 14 (seed 003 with conntrackd): two gateways with the LAN
//! VIP, nft masquerade to one WAN segment, a sync link for conntrackd, a LAN client streaming
//! to a WAN server through the VIP; and the measurement of what a failover does to that TCP
//! connection.
//!
//! ```text
//! client 192.0.2.10 ──LAN br0──┬── gw-a eth0 192.0.2.1 ─┐ sync 198.51.100.1/30 ─┐
//!   default via VIP 192.0.2.3  └── gw-b eth0 192.0.2.2 ─┤ sync 198.51.100.2/30 ─┘ (veth)
//!                                                       │ wan 203.0.113.2/24, one shared MAC
//!                                       server: br-wan 203.0.113.100 (both `wan`s plugged in)
//! ```
//!
//! As in the seed, both gateways own the same WAN address and MAC, and only the master's `wan`
//! is up (vipd's link actions). Source NAT maps the client to 203.0.113.2 on either gateway, so
//! a connection tracked on one can continue on the other, if the other knows it. It is `snat to
//! 203.0.113.2`, not `masquerade`: the kernel deletes every masqueraded connection of an
//! interface that goes down, so the old master's `link_down wan` would make its conntrackd send
//! the deletions to the backup, whose external cache is then empty when it commits (measured
//! here: "Committed 0 new entries"). The gateways
//! run a stateful ruleset as hardening guides write it: forwarded traffic is accepted when it
//! belongs to a known connection, a new connection only from a SYN; new traffic from the WAN to
//! the gateway itself is dropped. A gateway that does not know the connection drops the client's
//! segments and the server's (the stream stalls): exactly what conntrackd's commit prevents.

use crate::lab::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const SERVER: &str = "203.0.113.100";
pub const PORT: u16 = 5001;
const WAN_MAC: &str = "02:00:5e:00:53:02";

const GATEWAY_A_YAML: &str = include_str!("../conf/gateway.yaml");
const GATEWAY_B_YAML: &str = include_str!("../conf/gateway-b.yaml");

/// Forwarding that needs conntrack state, and masquerade to the WAN address.
const RULESET: &str = "\
table inet gw {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    ct state invalid drop
    oifname \"wan\" tcp flags & (fin|syn|rst|ack) == syn ct state new accept
  }
  chain input {
    type filter hook input priority 0; policy accept;
    ct state established,related accept
    iifname \"wan\" drop
  }
}
table ip gwnat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname \"wan\" snat ip to 203.0.113.2
  }
}
";

/// The lab, with nothing running yet.
pub struct StatefulLab {
    pub a: Node,
    pub b: Node,
    pub client: Node,
    pub server: Node,
    pub lab: Lab,
}

pub fn stateful_lab(test_name: &str) -> StatefulLab {
    let lab = Lab::new(test_name);
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    let client = lab.add_node("client");
    let server = lab.add_node("server");
    a.add_addr("192.0.2.1/24");
    b.add_addr("192.0.2.2/24");
    client.add_addr("192.0.2.10/24");
    client.exec(&["ip", "route", "add", "default", "via", "192.0.2.3"]);
    // The server is on the WAN only: a bridge of its own with both gateways' `wan` plugged in.
    server.exec(&["ip", "link", "del", "eth0"]);
    server.exec(&[
        "ip",
        "link",
        "add",
        "br-wan",
        "type",
        "bridge",
        "stp_state",
        "0",
    ]);
    server.add_addr_on("br-wan", &format!("{SERVER}/24"));
    server.exec(&["ip", "link", "set", "br-wan", "up"]);
    for (gw, port) in [(&a, "wa"), (&b, "wb")] {
        gw.exec(&[
            "ip",
            "link",
            "add",
            "wan",
            "address",
            WAN_MAC,
            "type",
            "veth",
            "peer",
            "name",
            port,
            "netns",
            server.netns(),
        ]);
        server.exec(&["ip", "link", "set", port, "master", "br-wan"]);
        server.exec(&["ip", "link", "set", port, "up"]);
        // Down until vipd's on_master brings it up: the found state that on_stop restores.
        gw.add_addr_on("wan", "203.0.113.2/24");
        gw.sysctl("net.ipv4.ip_forward", "1");
        let rules = lab.dir().join(format!("{}-ruleset.nft", gw.name()));
        std::fs::write(&rules, RULESET).expect("write ruleset");
        gw.exec(&["nft", "-f", rules.to_str().expect("utf-8 path")]);
    }
    a.exec(&[
        "ip",
        "link",
        "add",
        "sync",
        "type",
        "veth",
        "peer",
        "name",
        "sync",
        "netns",
        b.netns(),
    ]);
    for (gw, addr) in [(&a, "198.51.100.1/30"), (&b, "198.51.100.2/30")] {
        gw.add_addr_on("sync", addr);
        gw.exec(&["ip", "link", "set", "sync", "up"]);
    }
    StatefulLab {
        a,
        b,
        client,
        server,
        lab,
    }
}

/// A conntrackd configuration for one gateway: FTFW over UDP on the sync link, its socket,
/// lock and log in the lab dir. Returns (config path, control socket path).
pub fn write_conntrackd_conf(lab: &Lab, gw: &Node, own: &str, peer: &str) -> (PathBuf, PathBuf) {
    let dir = lab.dir();
    let name = gw.name();
    let control = dir.join(format!("{name}-conntrackd.ctl"));
    let conf = dir.join(format!("{name}-conntrackd.conf"));
    let text = format!(
        "Sync {{\n  Mode FTFW {{\n  }}\n  UDP {{\n    IPv4_address {own}\n    IPv4_Destination_Address {peer}\n    Port 3780\n    Interface sync\n    SndSocketBuffer 1249280\n    RcvSocketBuffer 1249280\n    Checksum on\n  }}\n}}\n\
         General {{\n  HashSize 8192\n  HashLimit 65535\n  LogFile {log}\n  Syslog off\n  LockFile {lock}\n  UNIX {{\n    Path {control}\n  }}\n  NetlinkBufferSize 2097152\n  NetlinkBufferSizeMaxGrowth 8388608\n  Filter From Userspace {{\n    Protocol Accept {{\n      TCP\n      UDP\n      ICMP\n    }}\n    Address Ignore {{\n      IPv4_address 127.0.0.1\n      IPv4_address 198.51.100.1\n      IPv4_address 198.51.100.2\n      IPv4_address 192.0.2.1\n      IPv4_address 192.0.2.2\n      IPv4_address 192.0.2.3\n    }}\n  }}\n}}\n",
        log = dir.join(format!("{name}-conntrackd.log")).display(),
        lock = dir.join(format!("{name}-conntrackd.lock")).display(),
        control = control.display(),
    );
    std::fs::write(&conf, text).expect("write conntrackd.conf");
    (conf, control)
}

/// Starts Debian's conntrackd in the gateway (console mode, killed with the test) and waits
/// until it answers on its control socket.
pub fn start_conntrackd(gw: &Node, conf: &Path) -> Proc {
    assert!(
        Path::new("/usr/sbin/conntrackd").exists(),
        "conntrackd is not installed: run scripts/setup.sh (Debian package conntrackd)"
    );
    let conf = conf.to_str().expect("utf-8 path");
    let proc = gw.spawn_labelled("conntrackd", &["/usr/sbin/conntrackd", "-C", conf]);
    wait_for(
        Duration::from_secs(5),
        &format!("{}: conntrackd answering", gw.name()),
        || {
            gw.try_exec(&["/usr/sbin/conntrackd", "-C", conf, "-s"])
                .status
                .success()
        },
    );
    proc
}

/// How vipd on a gateway is configured.
#[derive(Clone, Debug)]
pub enum Sync {
    /// No conntrackd integration.
    None,
    /// conntrackd through its binary.
    Binary { conf: PathBuf, control: PathBuf },
    /// conntrackd through its control socket only (the binary named is absent).
    Socket { conf: PathBuf, control: PathBuf },
}

/// conf/gateway*.yaml adapted to the lab: `ens6` → `eth0`, `ens7` → `wan`, and the conntrackd
/// block of the file uncommented with the lab's paths (FTFW) unless `sync` is [`Sync::None`].
pub fn gateway_yaml(b: bool, sync: &Sync) -> String {
    let mut yaml = if b { GATEWAY_B_YAML } else { GATEWAY_A_YAML }.to_owned();
    yaml = once(&yaml, "interface: ens6", "interface: eth0");
    yaml = yaml.replace("link_up ens7", "link_up wan");
    yaml = yaml.replace("link_down ens7", "link_down wan");
    let commented = "    # conntrackd:\n    #   mode: notrack              # the author's Sync Mode; ftfw is the reliable one\n    #   control: /var/run/conntrackd.ctl\n    #   config: /etc/conntrackd/conntrackd.conf\n    #   timeout: 5                 # seconds per step\n";
    let block = match sync {
        Sync::None => String::new(),
        Sync::Binary { conf, control } => format!(
            "    conntrackd:\n      mode: ftfw\n      control: {}\n      config: {}\n      timeout: 5\n",
            control.display(),
            conf.display()
        ),
        Sync::Socket { conf, control } => format!(
            "    conntrackd:\n      mode: ftfw\n      control: {}\n      config: {}\n      binary: /nonexistent/conntrackd\n      timeout: 5\n",
            control.display(),
            conf.display()
        ),
    };
    once(&yaml, commented, &block)
}

fn once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "conf/gateway*.yaml no longer contains {from:?} exactly once; update stateful_gateway_support.rs"
    );
    text.replacen(from, to, 1)
}

/// The stream's two ends: a client sending 1000 bytes every 10 ms for `seconds`, a server
/// recording when each chunk arrived. Both write a JSON summary when they end.
const STREAM_PY: &str = r#"
import json, os, socket, sys, time
role, host, port, seconds, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
deadline = time.time() + seconds
result = {"error": None, "reset": False}
if role == "server":
    ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port)); ls.listen(1); ls.settimeout(seconds)
    open(out + ".ready", "w").close()
    arrivals = []
    received, reported = 0, 0.0
    try:
        conn, _ = ls.accept(); conn.settimeout(0.2)
        while time.time() < deadline + 2:
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            if not data:
                break
            now = time.time()
            arrivals.append([now, len(data)])
            received += len(data)
            if now - reported > 0.05:
                with open(out + ".progress.tmp", "w") as f:
                    f.write(str(received))
                os.rename(out + ".progress.tmp", out + ".progress")
                reported = now
    except ConnectionResetError as e:
        result["reset"] = True; result["error"] = str(e)
    except Exception as e:
        result["error"] = repr(e)
    result["arrivals"] = arrivals
else:
    s = socket.create_connection((host, port), timeout=3)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(0.05)
    sent = 0
    chunk = b"x" * 1000
    try:
        while time.time() < deadline:
            try:
                sent += s.send(chunk)
            except socket.timeout:
                pass
            time.sleep(0.01)
    except (ConnectionResetError, BrokenPipeError) as e:
        result["reset"] = True; result["error"] = str(e)
    except Exception as e:
        result["error"] = repr(e)
    result["sent"] = sent
    s.close()
with open(out, "w") as f:
    json.dump(result, f)
"#;

/// A running stream.
pub struct Stream {
    server: Proc,
    client: Proc,
    server_out: PathBuf,
    client_out: PathBuf,
}

/// Starts the server, then the client streaming for `seconds`.
pub fn start_stream(lab: &StatefulLab, seconds: f64) -> Stream {
    let dir = lab.lab.dir();
    let script = dir.join("stream.py");
    std::fs::write(&script, STREAM_PY).expect("write stream.py");
    let script = script.to_str().expect("utf-8 path").to_owned();
    let server_out = dir.join("server.json");
    let client_out = dir.join("client.json");
    let secs = seconds.to_string();
    let port = PORT.to_string();
    let server = lab.server.spawn_labelled(
        "stream-server",
        &[
            "/usr/bin/python3",
            &script,
            "server",
            SERVER,
            &port,
            &format!("{}", seconds + 5.0),
            server_out.to_str().unwrap(),
        ],
    );
    let ready = PathBuf::from(format!("{}.ready", server_out.display()));
    wait_for(Duration::from_secs(5), "stream server listening", || {
        ready.exists()
    });
    let client = lab.client.spawn_labelled(
        "stream-client",
        &[
            "/usr/bin/python3",
            &script,
            "client",
            SERVER,
            &port,
            &secs,
            client_out.to_str().unwrap(),
        ],
    );
    Stream {
        server,
        client,
        server_out,
        client_out,
    }
}

impl Stream {
    /// Bytes the server has received so far (updated every 50 ms while data arrives).
    pub fn received_now(&self) -> u64 {
        std::fs::read_to_string(format!("{}.progress", self.server_out.display()))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Waits (at most 12 s) until bytes have kept arriving for 1.5 s without a pause of 200 ms:
    /// the connection is in its steady state before anything fails.
    pub fn wait_flowing(&self) {
        let mut last = self.received_now();
        let mut steady = 0;
        let deadline = Instant::now() + Duration::from_secs(12);
        while steady < 8 {
            assert!(
                Instant::now() < deadline,
                "the stream never flowed steadily for 1.5 s ({last} bytes received)"
            );
            std::thread::sleep(Duration::from_millis(200));
            let now = self.received_now();
            steady = if now > last { steady + 1 } else { 0 };
            last = now;
        }
    }
}

/// What the stream saw.
#[derive(Debug)]
pub struct StreamReport {
    /// The longest time without a byte arriving at the server, from `since` on (s).
    pub longest_gap: f64,
    /// When that gap started (seconds after `since`).
    pub gap_at: f64,
    /// Bytes that arrived more than `longest_gap` after `since`... i.e. after the gap.
    pub bytes_after_gap: u64,
    /// Seconds from the last arrival to the end of the stream (large when it stalled).
    pub silent_at_end: f64,
    pub reset: bool,
    pub errors: Vec<String>,
    pub sent: u64,
    pub received: u64,
}

impl Stream {
    /// Waits for both ends to finish (bounded) and measures from `since` (a unix time).
    pub fn finish(mut self, since: f64, timeout: Duration) -> StreamReport {
        let until = Instant::now() + timeout;
        for proc in [&mut self.client, &mut self.server] {
            let left = until.saturating_duration_since(Instant::now());
            if proc.wait_exit(left).is_none() {
                proc.kill();
            }
        }
        let read = |path: &Path| -> serde_json::Value {
            let text =
                std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        let server = read(&self.server_out);
        let client = read(&self.client_out);
        let arrivals: Vec<(f64, u64)> = server["arrivals"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| (a[0].as_f64().unwrap_or(0.0), a[1].as_u64().unwrap_or(0)))
            .collect();
        let received = arrivals.iter().map(|(_, n)| n).sum();
        let client_end = client_end_time(&self, &arrivals);
        let mut longest_gap = 0.0;
        let mut gap_at = 0.0;
        let mut previous = since;
        for &(t, _) in arrivals.iter().filter(|(t, _)| *t >= since) {
            if t - previous > longest_gap {
                longest_gap = t - previous;
                gap_at = previous - since;
            }
            previous = t;
        }
        let silent_at_end = (client_end - previous).max(0.0);
        if silent_at_end > longest_gap {
            longest_gap = silent_at_end;
            gap_at = previous - since;
        }
        let gap_end = since + gap_at + longest_gap;
        let bytes_after_gap = arrivals
            .iter()
            .filter(|(t, _)| *t >= gap_end)
            .map(|(_, n)| n)
            .sum();
        let errors = [&server, &client]
            .iter()
            .filter_map(|v| v["error"].as_str().map(str::to_owned))
            .collect();
        StreamReport {
            longest_gap,
            gap_at,
            bytes_after_gap,
            silent_at_end,
            reset: server["reset"].as_bool() == Some(true)
                || client["reset"].as_bool() == Some(true),
            errors,
            sent: client["sent"].as_u64().unwrap_or(0),
            received,
        }
    }
}

/// When the client stopped sending: its planned end (the stream's start plus its length, read
/// back from the last arrival when the client ended early).
fn client_end_time(stream: &Stream, arrivals: &[(f64, u64)]) -> f64 {
    let planned = std::fs::metadata(&stream.client_out)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    planned.max(arrivals.last().map_or(0.0, |a| a.0))
}

/// Waits until the backup's conntrackd holds the stream in its external cache (what the
/// master's conntrackd sent it over the sync link).
pub fn wait_synchronised(backup: &Node, conf: &Path) {
    let conf = conf.to_str().expect("utf-8 path");
    let mut last = String::new();
    let synced = wait_until(Duration::from_secs(10), || {
        last = backup.exec_stdout(&["/usr/sbin/conntrackd", "-C", conf, "-e", "ct"]);
        last.contains(&format!("dport={PORT}")) && last.contains("ESTABLISHED")
    });
    assert!(
        synced,
        "{}: the stream never reached conntrackd's external cache: {last}",
        backup.name()
    );
}

/// Whether the node's kernel tracks the stream now.
pub fn kernel_tracks_stream(node: &Node) -> bool {
    let out = node.try_exec(&["conntrack", "-L", "-p", "tcp", "--dport", &PORT.to_string()]);
    String::from_utf8_lossy(&out.stdout).contains("ESTABLISHED")
}

/// How the master fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Its LAN cable is cut.
    LinkCut,
    /// Its VRRP daemon gets SIGTERM.
    Sigterm,
}

impl Failure {
    pub fn name(self) -> &'static str {
        match self {
            Failure::LinkCut => "LAN link cut",
            Failure::Sigterm => "SIGTERM",
        }
    }
}

/// Prints one figure line (collected by the README's table).
pub fn print_figure(who: &str, failure: Failure, report: &StreamReport) {
    println!(
        "FIGURE stateful_gateway: {who}, {}: longest gap {:.2} s (at +{:.2} s), {} bytes after it, reset {}, silent at end {:.2} s, sent {} received {}",
        failure.name(),
        report.longest_gap,
        report.gap_at,
        report.bytes_after_gap,
        report.reset,
        report.silent_at_end,
        report.sent,
        report.received
    );
}
