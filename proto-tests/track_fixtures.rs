//! What the health-tracking lab tests act on and measure with: the services the checks look at
//! (python's http.server, dnsmasq, an address to ping) started and killed in a router's
//! namespace, check scripts, a watcher that times a VIP move at 1 ms resolution from a thread
//! inside the node's namespace, and /proc scans for the processes a check leaves behind.

use crate::interop_util::vip_addr;
use crate::lab::*;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The system python, not a pyenv shim on PATH: the shim is a shell script that costs a fork or
/// two per call and may pick another interpreter.
pub const PYTHON: &str = "/usr/bin/python3";

fn path_str(path: &Path) -> &str {
    path.to_str().expect("lab paths are UTF-8")
}

// ------------------------------------------------------------------ timing a VIP move

/// Watches one address on one device from a thread that has entered the node's network
/// namespace (setns moves only that thread), polling `getifaddrs` every millisecond: much finer
/// than `ip netns exec … ip addr`, which costs several milliseconds a call.
pub struct AddrWatch {
    thread: Option<std::thread::JoinHandle<Result<Instant, String>>>,
}

impl AddrWatch {
    /// Starts watching for `addr` to appear on (`present`) or vanish from `dev` of `node`.
    /// Returns once the thread runs in the namespace and has seen the opposite; fails the test
    /// when the address is already in the awaited state.
    pub fn start(node: &Node, dev: &str, addr: &str, present: bool, timeout: Duration) -> Self {
        let netns_path = format!("/run/netns/{}", node.netns());
        let dev = dev.to_owned();
        let wanted: IpAddr = vip_addr(addr)
            .parse()
            .unwrap_or_else(|e| panic!("{addr}: {e}"));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let thread = std::thread::spawn(move || {
            let file = match std::fs::File::open(&netns_path) {
                Ok(file) => file,
                Err(e) => {
                    let why = format!("open {netns_path}: {e}");
                    let _ = ready_tx.send(Err(why.clone()));
                    return Err(why);
                }
            };
            // SAFETY: setns(2) on this thread only, with a namespace fd we hold open.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                let why = format!("setns {netns_path}: {}", std::io::Error::last_os_error());
                let _ = ready_tx.send(Err(why.clone()));
                return Err(why);
            }
            let holds = || has_address(&dev, wanted);
            if holds() == present {
                let why = format!(
                    "{wanted} on {dev} is already {} when the watch starts",
                    if present { "present" } else { "absent" }
                );
                let _ = ready_tx.send(Err(why.clone()));
                return Err(why);
            }
            let _ = ready_tx.send(Ok(()));
            let deadline = Instant::now() + timeout;
            loop {
                if holds() == present {
                    return Ok(Instant::now());
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "{wanted} not {} on {dev} within {timeout:?}",
                        if present { "present" } else { "gone" }
                    ));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(why)) => panic!("address watch on {}: {why}", node.name()),
            Err(_) => panic!("address watch thread on {} died", node.name()),
        }
        AddrWatch {
            thread: Some(thread),
        }
    }

    /// When the address reached the awaited state, or why it did not.
    pub fn wait(mut self) -> Result<Instant, String> {
        self.thread
            .take()
            .expect("waited once")
            .join()
            .unwrap_or_else(|_| Err("address watch thread panicked".into()))
    }
}

fn has_address(dev: &str, wanted: IpAddr) -> bool {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return false;
    };
    addrs.into_iter().any(|a| {
        a.interface_name == dev
            && a.address.as_ref().and_then(|s| {
                s.as_sockaddr_in()
                    .map(|v4| IpAddr::V4(v4.ip()))
                    .or_else(|| s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
            }) == Some(wanted)
    })
}

/// Runs `trigger` and returns how long after it the VIP `vip` appeared on `to`'s eth0 (polled
/// every millisecond); fails the test, naming `what`, when it does not within `timeout`.
pub fn time_vip_arrival(
    to: &Node,
    vip: &str,
    timeout: Duration,
    what: &str,
    trigger: impl FnOnce(),
) -> Duration {
    let watch = AddrWatch::start(to, "eth0", vip, true, timeout);
    let start = Instant::now();
    trigger();
    match watch.wait() {
        Ok(at) => at.saturating_duration_since(start),
        Err(why) => panic!("{what}: {why} (timed from the trigger)"),
    }
}

/// Fails the test unless `took` lies in `[min, max]`; prints the figure either way.
pub fn assert_within(what: &str, took: Duration, min: Duration, max: Duration) {
    println!(
        "{what}: {:.1} ms (bounds {:.0}-{:.0} ms)",
        took.as_secs_f64() * 1000.0,
        min.as_secs_f64() * 1000.0,
        max.as_secs_f64() * 1000.0
    );
    assert!(
        took >= min && took <= max,
        "{what}: took {took:?}, expected between {min:?} and {max:?}"
    );
}

// ------------------------------------------------------------------ services

/// What a router's check looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceKind {
    /// python3 -m http.server on port 80, serving `health` ("ok").
    Http,
    /// dnsmasq answering `vipd.test` with 192.0.2.53.
    Dns,
    /// Only the address itself, on `lo`, to ping.
    IcmpTarget,
}

/// The address `A` record dnsmasq answers for `vipd.test`.
pub const DNS_ANSWER: &str = "192.0.2.53";

/// A service on its own address (a /32 on `lo`) in a router's namespace, which the test kills
/// and brings back.
pub struct Service<'a> {
    node: &'a Node,
    lab_dir: PathBuf,
    pub kind: ServiceKind,
    pub addr: String,
    proc: Option<Proc>,
}

impl<'a> Service<'a> {
    /// Creates the service on `addr` (its address added to `lo`, except for [`ServiceKind::IcmpTarget`],
    /// whose address *is* the service) and starts it.
    pub fn start(lab: &Lab, node: &'a Node, kind: ServiceKind, addr: &str) -> Service<'a> {
        if kind != ServiceKind::IcmpTarget {
            node.add_addr_on("lo", &format!("{addr}/32"));
        }
        if kind == ServiceKind::Dns {
            ensure_dnsmasq();
        }
        let mut service = Service {
            node,
            lab_dir: lab.dir().to_owned(),
            kind,
            addr: addr.to_owned(),
            proc: None,
        };
        std::fs::create_dir_all(service.www_dir()).expect("create www dir");
        service.set_health_body("ok\n");
        service.up();
        service
    }

    fn www_dir(&self) -> PathBuf {
        self.lab_dir.join(format!("{}-www", self.node.name()))
    }

    /// Replaces what `GET /health` returns (the server stays up).
    pub fn set_health_body(&self, body: &str) {
        std::fs::write(self.www_dir().join("health"), body).expect("write health file");
    }

    /// `http://<addr>/health`.
    pub fn health_url(&self) -> String {
        format!("http://{}/health", self.addr)
    }

    /// Whether the service answers right now, asked from inside its node.
    pub fn answers(&self) -> bool {
        let argv: Vec<String> = match self.kind {
            ServiceKind::Http => ["curl", "-sf", "-m", "1", "-o", "/dev/null"]
                .iter()
                .map(|s| s.to_string())
                .chain([self.health_url()])
                .collect(),
            ServiceKind::Dns => vec![
                PYTHON.into(),
                path_str(&dns_client(&self.lab_dir)).into(),
                self.addr.clone(),
                "vipd.test".into(),
            ],
            ServiceKind::IcmpTarget => ["ping", "-n", "-q", "-c", "1", "-W", "1"]
                .iter()
                .map(|s| s.to_string())
                .chain([self.addr.clone()])
                .collect(),
        };
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.node.try_exec(&argv).status.success()
    }

    /// Starts the service and waits until it answers; returns the moment it first did.
    pub fn up(&mut self) -> Instant {
        assert!(self.proc.is_none(), "service already up");
        match self.kind {
            ServiceKind::Http => {
                let dir = self.www_dir();
                self.proc = Some(self.node.spawn_labelled(
                    "http",
                    &[
                        PYTHON,
                        "-m",
                        "http.server",
                        "80",
                        "--bind",
                        &self.addr,
                        "--directory",
                        path_str(&dir),
                    ],
                ));
            }
            ServiceKind::Dns => {
                let listen = format!("--listen-address={}", self.addr);
                let answer = format!("--address=/vipd.test/{DNS_ANSWER}");
                self.proc = Some(self.node.spawn_labelled(
                    "dnsmasq",
                    &[
                        "dnsmasq",
                        "--no-daemon",
                        "--conf-file=/dev/null",
                        "--no-resolv",
                        "--no-hosts",
                        "--bind-interfaces",
                        &listen,
                        &answer,
                        "--port=53",
                        "--pid-file=",
                        "--user=root",
                    ],
                ));
            }
            ServiceKind::IcmpTarget => {
                self.node.add_addr_on("lo", &format!("{}/32", self.addr));
            }
        }
        wait_for(
            Duration::from_secs(10),
            &format!(
                "{} {:?} on {} answering",
                self.node.name(),
                self.kind,
                self.addr
            ),
            || self.answers(),
        );
        Instant::now()
    }

    /// Kills the service (SIGKILL; for the ping target, the address goes away).
    pub fn down(&mut self) {
        match self.kind {
            ServiceKind::IcmpTarget => {
                self.node.exec(&[
                    "ip",
                    "addr",
                    "del",
                    &format!("{}/32", self.addr),
                    "dev",
                    "lo",
                ]);
            }
            _ => {
                let mut proc = self.proc.take().expect("service not up");
                proc.kill();
            }
        }
    }
}

/// Installs dnsmasq (the binary only: `dnsmasq-base`, no system service) when it is missing.
fn ensure_dnsmasq() {
    let present = || {
        std::process::Command::new("sh")
            .args(["-c", "command -v dnsmasq"])
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if present() {
        return;
    }
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap();
    if !present() {
        let ok = std::process::Command::new("apt-get")
            .args(["install", "-y", "dnsmasq-base"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok && present(),
            "dnsmasq is missing and apt-get could not install it"
        );
    }
}

/// A DNS client (a UDP `A` query; exit 0 on an answer with at least one record), written to the
/// lab dir: the lab has no dig, and keepalived's reference check needs one too.
pub fn dns_client(lab_dir: &Path) -> PathBuf {
    let path = lab_dir.join("dnsq.py");
    if !path.exists() {
        std::fs::write(&path, DNS_CLIENT).expect("write dns client");
    }
    path
}

const DNS_CLIENT: &str = r#"import socket, struct, sys
server, name = sys.argv[1], sys.argv[2]
query = struct.pack(">HHHHHH", 0x1d1d, 0x0100, 1, 0, 0, 0)
for label in name.rstrip(".").split("."):
    query += bytes([len(label)]) + label.encode()
query += b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
try:
    s.sendto(query, (server, 53))
    reply = s.recv(512)
except OSError:
    sys.exit(1)
ident, flags, _, answers = struct.unpack(">HHHH", reply[:8])
sys.exit(0 if ident == 0x1d1d and flags & 0xf == 0 and answers > 0 else 1)
"#;

/// Writes an executable `#!/bin/sh` script `name` with `body` into the lab dir.
pub fn write_script(lab: &Lab, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = lab.dir().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod script");
    path
}

/// A script that checks `service` the way a keepalived user does without built-in checks.
pub fn script_check_for(lab: &Lab, node: &Node, service: &Service) -> PathBuf {
    let addr = &service.addr;
    let body = match service.kind {
        ServiceKind::Http => format!("curl -sf -m 1 {} | grep -q ok", service.health_url()),
        ServiceKind::Dns => format!(
            "exec {PYTHON} {} {addr} vipd.test",
            path_str(&dns_client(lab.dir()))
        ),
        ServiceKind::IcmpTarget => format!("exec ping -n -q -c 1 -W 1 {addr}"),
    };
    write_script(lab, &format!("{}-check.sh", node.name()), &body)
}

/// A name unique to this lab, short enough (≤ 15 bytes) to be a process's whole `comm`.
pub fn unique_comm(lab: &Lab, tag: &str) -> String {
    let id: String = lab
        .prefix()
        .trim_start_matches(NETNS_PREFIX)
        .trim_end_matches('-')
        .replace('-', "n");
    let name = format!("{tag}{id}");
    assert!(name.len() <= 15, "{name}: longer than a comm (15 bytes)");
    name
}

/// Copies `/bin/sleep` into the lab dir as `name`, so a process of it has `name` as its comm and
/// argv[0] basename (GNU sleep rejects extra arguments, so `sleep 1000 <tag>` cannot be used).
pub fn sleep_copy(lab: &Lab, name: &str) -> PathBuf {
    let path = lab.dir().join(name);
    std::fs::copy("/bin/sleep", &path).expect("copy /bin/sleep");
    path
}

// ------------------------------------------------------------------ /proc

/// A live (not zombie) process.
#[derive(Clone, Debug)]
pub struct ProcInfo {
    pub pid: u32,
    pub age: Duration,
    pub cmdline: String,
}

/// Every live process whose command line contains `needle`, with its age.
pub fn live_processes_matching(needle: &str) -> Vec<ProcInfo> {
    // SAFETY: sysconf has no preconditions.
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let raw = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            if !cmdline.contains(needle) {
                return None;
            }
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
            // stat(5): state is field 3 and starttime field 22, i.e. 0 and 19 after comm.
            if fields.first() == Some(&"Z") {
                return None;
            }
            let started = fields.get(19)?.parse::<f64>().ok()? / ticks_per_sec;
            Some(ProcInfo {
                pid,
                age: Duration::from_secs_f64((uptime - started).max(0.0)),
                cmdline: cmdline.trim().to_owned(),
            })
        })
        .collect()
}
