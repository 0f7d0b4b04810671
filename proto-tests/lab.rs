//! The namespace lab: network namespaces, a bridge switch, veth links and the processes run inside them.
//!
//! A [`Lab`] owns one switch namespace (bridge `br0`, multicast snooping off) and any number of
//! [`Node`] namespaces, each cabled to the switch with a veth pair (`eth0` in the node, `p<N>` on the
//! bridge). Nothing is ever created in the machine's root namespace: veth pairs are made inside the
//! switch namespace with their peer placed straight into the node namespace.
//!
//! Processes run in nodes through `ip netns exec` as [`Proc`]s: their output goes to a log file in
//! the lab's temp dir, they are killed (by pid) when dropped, and every log is printed when the test
//! panics. Dropping the lab kills whatever still runs in its namespaces (by pid, from
//! `ip netns pids`) and deletes them, on success and on panic alike. Namespaces are named
//! `vt<pid>-<lab>-<node>` so that [`reap_stale`] can delete those of test runs that were SIGKILLed.
//!
//! The tests need root; [`Lab::new`] panics (never skips) without it.

// The harness is shared by many test modules; each uses only part of it.
#![allow(dead_code, unused_imports)]

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use libc::{SIGHUP, SIGINT, SIGKILL, SIGTERM};

/// Every lab namespace starts with this, followed by the creating process's pid.
pub const NETNS_PREFIX: &str = "vt";

/// Every lab dir in `$TMPDIR` starts with this, followed by the creating process's pid.
const LAB_DIR_PREFIX: &str = "vipd-lab-";

/// How long [`Node::exec`] lets a command run before killing it.
pub const EXEC_TIMEOUT_SECS: u32 = 60;

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// The vipd binary built by cargo for this test binary.
pub fn vipd_binary() -> &'static str {
    env!("CARGO_BIN_EXE_vipd")
}

/// Polls `cond` every 10 ms until it holds (true) or `timeout` passes (false).
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `cond` has held at every poll for `window` without a break; false when that has
/// not happened within `timeout`. "After convergence" checks start with it: a router that has
/// just stepped down removes its VIP a moment later, and one just started is BACKUP only
/// until its first Master_Down_Interval runs out.
pub fn wait_stable(timeout: Duration, window: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let mut held_since: Option<Instant> = None;
    wait_until(timeout, || {
        if cond() {
            let since = *held_since.get_or_insert_with(Instant::now);
            since.elapsed() >= window
        } else {
            held_since = None;
            false
        }
    })
}

/// Like [`wait_until`] but fails the test, naming `what`, when the condition never holds.
pub fn wait_for(timeout: Duration, what: &str, cond: impl FnMut() -> bool) {
    assert!(
        wait_until(timeout, cond),
        "timed out after {timeout:?} waiting for {what}"
    );
}

fn run_ip(args: &[&str]) -> Output {
    Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip {}`: {e}", args.join(" ")))
}

fn must_succeed(what: &str, out: Output) -> Output {
    if !out.status.success() {
        panic!(
            "`{what}` failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn ip_ok(args: &[&str]) -> Output {
    must_succeed(&format!("ip {}", args.join(" ")), run_ip(args))
}

/// All network namespaces of the machine (`ip netns list`, names only).
pub fn list_netns() -> Vec<String> {
    let out = run_ip(&["netns", "list"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Kills (SIGKILL, by pid) every process in `netns` and deletes it. Bounded: a few rounds only.
fn kill_and_delete_netns(netns: &str) {
    for _ in 0..5 {
        let out = run_ip(&["netns", "pids", netns]);
        let pids: Vec<i32> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if pids.is_empty() {
            break;
        }
        for pid in &pids {
            // SAFETY: kill(2) with a pid read from the namespace's own process list.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = run_ip(&["netns", "del", netns]);
}

/// The pid encoded in `name` after `prefix` (`<prefix><pid>-…`), if it has that shape.
fn owner_pid(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || !rest[digits..].starts_with('-') {
        return None;
    }
    rest[..digits].parse().ok()
}

/// Deletes lab namespaces (`vt<pid>-…`) whose creating process no longer exists, killing what
/// still runs inside them, so an earlier run that was SIGKILLed does not leak forever; also the
/// lab dirs (`$TMPDIR/vipd-lab-<pid>-…`) such runs left.
pub fn reap_stale() {
    for netns in list_netns() {
        if owner_pid(&netns, NETNS_PREFIX).is_some_and(|pid| !pid_alive(pid)) {
            kill_and_delete_netns(&netns);
        }
    }
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if owner_pid(name, LAB_DIR_PREFIX).is_some_and(|pid| !pid_alive(pid)) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn assert_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "the proto tests build network namespaces and must run as root \
         (e.g. `sudo -E cargo test --test proto`); euid is {euid}"
    );
}

/// One captured log: printed when the test fails.
struct LogEntry {
    label: String,
    path: PathBuf,
}

/// What a lab and its nodes share.
struct LabShared {
    test_name: String,
    prefix: String,
    dir: PathBuf,
    switch_ns: String,
    namespaces: Mutex<Vec<String>>,
    logs: Mutex<Vec<LogEntry>>,
    spawn_counter: AtomicU32,
}

impl LabShared {
    fn next_id(&self) -> u32 {
        self.spawn_counter.fetch_add(1, Ordering::Relaxed)
    }
}

/// A set of namespaces cabled to one bridge, removed on drop.
pub struct Lab {
    shared: Arc<LabShared>,
    nodes: Mutex<Vec<String>>,
}

impl Lab {
    /// Creates the switch namespace with `br0`. Panics unless run as root.
    pub fn new(test_name: &str) -> Lab {
        assert_root();
        remember_panics();
        reap_stale();
        let n = LAB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("{NETNS_PREFIX}{}-{n}-", std::process::id());
        let safe_name: String = test_name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(60)
            .collect();
        let dir = std::env::temp_dir().join(format!(
            "{LAB_DIR_PREFIX}{}-{n}-{safe_name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let switch_ns = format!("{prefix}sw");
        let lab = Lab {
            shared: Arc::new(LabShared {
                test_name: test_name.to_owned(),
                prefix,
                dir,
                switch_ns: switch_ns.clone(),
                namespaces: Mutex::new(Vec::new()),
                logs: Mutex::new(Vec::new()),
                spawn_counter: AtomicU32::new(0),
            }),
            nodes: Mutex::new(Vec::new()),
        };
        lab.create_netns(&switch_ns);
        ip_ok(&["-n", &switch_ns, "link", "set", "lo", "up"]);
        ip_ok(&[
            "-n",
            &switch_ns,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
            "stp_state",
            "0",
        ]);
        ip_ok(&["-n", &switch_ns, "link", "set", "br0", "up"]);
        lab
    }

    fn create_netns(&self, netns: &str) {
        // Recorded first, so a failure half-way still gets cleaned up by Drop.
        self.shared
            .namespaces
            .lock()
            .unwrap()
            .push(netns.to_owned());
        ip_ok(&["netns", "add", netns]);
    }

    /// Every namespace names starts with this (`vt<pid>-<n>-`).
    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// The namespace holding the bridge `br0`.
    pub fn switch_netns(&self) -> &str {
        &self.shared.switch_ns
    }

    /// The namespaces this lab created (switch first).
    pub fn namespaces(&self) -> Vec<String> {
        self.shared.namespaces.lock().unwrap().clone()
    }

    /// The per-lab temp dir (configs, runtime dirs, logs). Kept when the test fails.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// A new namespace `name` cabled to the bridge: `eth0` up with an IPv6 link-local address
    /// ready for use (DAD disabled), `lo` up. `name` must be unique in the lab.
    pub fn add_node(&self, name: &str) -> Node {
        let node = self.add_node_with_dad(name, false);
        wait_for(
            Duration::from_secs(5),
            &format!("{name}: usable IPv6 link-local on eth0"),
            || node.link_local("eth0").is_some(),
        );
        node
    }

    /// As [`Lab::add_node`], but with `dad` the kernel's duplicate address detection stays on
    /// (its default: link-locals, and a VMAC's, are tentative for a second or two after the link
    /// comes up) and nothing waits for eth0's link-local.
    pub fn add_node_with_dad(&self, name: &str, dad: bool) -> Node {
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !name.is_empty(),
            "node name {name:?}: use letters, digits, '-' and '_'"
        );
        let port_index = {
            let mut nodes = self.nodes.lock().unwrap();
            assert!(
                !nodes.iter().any(|n| n == name),
                "node {name} already exists in this lab"
            );
            nodes.push(name.to_owned());
            nodes.len()
        };
        let netns = format!("{}{name}", self.shared.prefix);
        self.create_netns(&netns);
        let node = Node {
            shared: self.shared.clone(),
            name: name.to_owned(),
            netns: netns.clone(),
            port: format!("p{port_index}"),
        };
        // Before eth0 exists, so its own sysctls inherit "no DAD" from `default`.
        let (accept_dad, dad_transmits) = if dad { ("1", "1") } else { ("0", "0") };
        for key in ["all", "default"] {
            node.sysctl(&format!("net.ipv6.conf.{key}.accept_dad"), accept_dad);
            node.sysctl(&format!("net.ipv6.conf.{key}.dad_transmits"), dad_transmits);
        }
        node.exec(&["ip", "link", "set", "lo", "up"]);
        let sw = &self.shared.switch_ns;
        ip_ok(&[
            "-n", sw, "link", "add", &node.port, "type", "veth", "peer", "name", "eth0", "netns",
            &netns,
        ]);
        ip_ok(&["-n", sw, "link", "set", &node.port, "master", "br0"]);
        ip_ok(&["-n", sw, "link", "set", &node.port, "up"]);
        node.sysctl("net.ipv6.conf.eth0.accept_dad", accept_dad);
        node.exec(&["ip", "link", "set", "eth0", "up"]);
        node
    }

    /// Prints the captured logs of every process started in this lab.
    pub fn print_logs(&self) {
        print_logs(&self.shared);
    }
}

fn print_logs(shared: &LabShared) {
    let logs = shared.logs.lock().unwrap();
    for entry in logs.iter() {
        let text = fs::read_to_string(&entry.path).unwrap_or_default();
        eprintln!(
            "----- [{}] {} ({}) -----",
            shared.test_name,
            entry.label,
            entry.path.display()
        );
        // The tail is what explains a failure; long logs are cut from the front.
        const KEEP: usize = 6_000;
        let start = text.len().saturating_sub(KEEP);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        if start > 0 {
            eprintln!("[… {start} bytes cut …]");
        }
        eprintln!("{}", &text[start..]);
    }
}

thread_local! {
    /// The message of the last panic on this test's thread, for the lab's failure summary.
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Installs (once) a panic hook that also keeps the message for [`Lab`]'s drop.
fn remember_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = match info.location() {
                Some(at) => format!("{} (at {at})", panic_text(info.payload())),
                None => panic_text(info.payload()),
            };
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(message));
            default_hook(info)
        }));
    });
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        if failed {
            print_logs(&self.shared);
        }
        // Nodes first, switch last: cutting the cables before the switch goes away.
        let namespaces = self.shared.namespaces.lock().unwrap().clone();
        for netns in namespaces.iter().rev() {
            kill_and_delete_netns(netns);
        }
        if failed {
            eprintln!(
                "[{}] lab files kept in {}",
                self.shared.test_name,
                self.shared.dir.display()
            );
            // Again after the logs: a CI excerpt that keeps only the tail still says why.
            if let Some(why) = LAST_PANIC.with(|p| p.borrow_mut().take()) {
                eprintln!("[{}] FAILED: {why}", self.shared.test_name);
            }
        } else {
            let _ = fs::remove_dir_all(&self.shared.dir);
        }
    }
}

/// Which packets a loss rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// VRRP packets the node receives.
    Ingress,
    /// VRRP packets the node sends.
    Egress,
    Both,
}

/// One namespace of the lab, cabled to the bridge with `eth0`.
pub struct Node {
    shared: Arc<LabShared>,
    name: String,
    netns: String,
    port: String,
}

impl Node {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// The bridge-side end of this node's cable (in the switch namespace).
    pub fn switch_port(&self) -> &str {
        &self.port
    }

    fn command(&self, argv: &[&str]) -> Command {
        assert!(!argv.is_empty(), "empty command");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns])
            .args(argv)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `argv` in the node and returns its output, whatever its exit status. Bounded: a command
    /// that hangs is killed after [`EXEC_TIMEOUT_SECS`] (coreutils `timeout`, exit status 124).
    pub fn try_exec(&self, argv: &[&str]) -> Output {
        let limit = EXEC_TIMEOUT_SECS.to_string();
        let mut bounded = vec!["timeout", "-k", "2", limit.as_str()];
        bounded.extend_from_slice(argv);
        self.command(&bounded)
            .output()
            .unwrap_or_else(|e| panic!("{}: cannot run {argv:?}: {e}", self.name))
    }

    /// Runs `argv` in the node; fails the test with its output unless it exits 0.
    pub fn exec(&self, argv: &[&str]) -> Output {
        must_succeed(
            &format!("{}: {}", self.name, argv.join(" ")),
            self.try_exec(argv),
        )
    }

    /// Runs `argv` in the node and returns its stdout; fails the test unless it exits 0.
    pub fn exec_stdout(&self, argv: &[&str]) -> String {
        String::from_utf8_lossy(&self.exec(argv).stdout).into_owned()
    }

    /// Sets a sysctl inside the node's namespace.
    pub fn sysctl(&self, key: &str, value: &str) {
        self.exec(&["sysctl", "-q", "-w", &format!("{key}={value}")]);
    }

    /// Adds an address (`192.0.2.1/24`, `2001:db8::1/64`) to the node's `eth0`.
    pub fn add_addr(&self, cidr: &str) {
        self.add_addr_on("eth0", cidr);
    }

    /// Adds an address to `dev` in the node (IPv6 without DAD, so it is usable at once).
    pub fn add_addr_on(&self, dev: &str, cidr: &str) {
        if cidr.contains(':') {
            self.exec(&["ip", "addr", "add", cidr, "dev", dev, "nodad"]);
        } else {
            self.exec(&["ip", "addr", "add", cidr, "dev", dev]);
        }
    }

    /// The addresses on `dev` as `ip -j addr` reports them (`local`, `prefixlen`, `scope`, flags).
    pub fn addrs(&self, dev: &str) -> Vec<serde_json::Value> {
        let out = self.try_exec(&["ip", "-j", "addr", "show", "dev", dev]);
        if !out.status.success() {
            return Vec::new();
        }
        let links: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        links
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|link| link["addr_info"].as_array())
            .flatten()
            .cloned()
            .collect()
    }

    /// Whether `dev` holds `addr` (`192.0.2.100` or, to check the prefix too, `192.0.2.100/24`).
    pub fn has_addr(&self, dev: &str, addr: &str) -> bool {
        let (ip, prefix) = match addr.split_once('/') {
            Some((ip, len)) => (ip, Some(len.parse::<u64>().expect("prefix length"))),
            None => (addr, None),
        };
        let wanted: std::net::IpAddr = ip.parse().unwrap_or_else(|e| panic!("{addr:?}: {e}"));
        self.addrs(dev).iter().any(|info| {
            info["local"]
                .as_str()
                .and_then(|s| s.parse::<std::net::IpAddr>().ok())
                == Some(wanted)
                && (prefix.is_none() || info["prefixlen"].as_u64() == prefix)
        })
    }

    /// The usable (not tentative) IPv6 link-local address of `dev`, if any.
    pub fn link_local(&self, dev: &str) -> Option<String> {
        self.addrs(dev).iter().find_map(|info| {
            let local = info["local"].as_str()?;
            let tentative = info["tentative"].as_bool().unwrap_or(false);
            (info["family"] == "inet6" && local.starts_with("fe80:") && !tentative)
                .then(|| local.to_owned())
        })
    }

    /// The MAC address of `dev` in the node.
    pub fn mac(&self, dev: &str) -> String {
        let out = self.exec(&["ip", "-j", "link", "show", "dev", dev]);
        let links: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip -j link");
        links[0]["address"]
            .as_str()
            .expect("link address")
            .to_owned()
    }

    /// The MAC address the node's neighbour table holds for `ip`, unless absent or failed.
    pub fn neigh_mac(&self, ip: &str) -> Option<String> {
        let out = self.try_exec(&["ip", "-j", "neigh", "show", "to", ip]);
        let entries: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        entries
            .as_array()?
            .iter()
            .find_map(|e| e["lladdr"].as_str().map(str::to_owned))
    }

    /// Cuts this node's cable: its port on the bridge goes down (the node's `eth0` loses carrier).
    pub fn link_down(&self) {
        ip_ok(&[
            "-n",
            &self.shared.switch_ns,
            "link",
            "set",
            &self.port,
            "down",
        ]);
    }

    /// Plugs the cable back in.
    pub fn link_up(&self) {
        ip_ok(&[
            "-n",
            &self.shared.switch_ns,
            "link",
            "set",
            &self.port,
            "up",
        ]);
    }

    /// Whether `ping -c 1` to `addr` gets an answer within a second.
    pub fn ping_once(&self, addr: &str) -> bool {
        self.try_exec(&["ping", "-n", "-q", "-c", "1", "-W", "1", addr])
            .status
            .success()
    }

    /// Drops `percent`% of VRRP packets (IPv4 and IPv6) in `direction`, at random, with nft.
    /// Replaces an earlier loss rule of this node.
    pub fn set_vrrp_loss(&self, percent: u32, direction: Direction) {
        assert!(percent <= 100, "loss {percent}% > 100%");
        self.clear_vrrp_loss();
        let mut script = String::from("table inet vtloss {\n");
        // nft refuses `< 100` against a `mod 100` value (range 0-99): total loss is a plain drop.
        let rule = if percent == 100 {
            "meta l4proto 112 drop".to_owned()
        } else {
            format!("meta l4proto 112 numgen random mod 100 < {percent} drop")
        };
        if matches!(direction, Direction::Ingress | Direction::Both) {
            script += &format!("  chain in {{ type filter hook input priority -300; {rule}; }}\n");
        }
        if matches!(direction, Direction::Egress | Direction::Both) {
            script +=
                &format!("  chain out {{ type filter hook output priority -300; {rule}; }}\n");
        }
        script += "}\n";
        let path =
            self.shared
                .dir
                .join(format!("{}-loss-{}.nft", self.name, self.shared.next_id()));
        fs::write(&path, script).expect("write nft script");
        self.exec(&["nft", "-f", path.to_str().expect("utf-8 path")]);
    }

    /// Removes the loss rule, if any.
    pub fn clear_vrrp_loss(&self) {
        let _ = self.try_exec(&["nft", "delete", "table", "inet", "vtloss"]);
    }

    /// Starts `argv` in the node. Its stdout and stderr go to a log file (printed when the test
    /// fails); it is killed and reaped when the [`Proc`] is dropped. The child also gets SIGKILL
    /// when the thread that spawned it ends, so spawn from the test's own thread.
    pub fn spawn(&self, argv: &[&str]) -> Proc {
        let label = Path::new(argv[0])
            .file_name()
            .and_then(OsStr::to_str)
            .unwrap_or("proc")
            .to_owned();
        self.spawn_labelled(&label, argv)
    }

    /// [`Node::spawn`] with a label of your choice in the log file's name.
    pub fn spawn_labelled(&self, label: &str, argv: &[&str]) -> Proc {
        let id = self.shared.next_id();
        let label = format!("{}-{label}-{id}", self.name);
        let log_path = self.shared.dir.join(format!("{label}.log"));
        let log = File::create(&log_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", log_path.display()));
        let log2 = log.try_clone().expect("dup log file");
        let mut cmd = self.command(argv);
        cmd.stdout(log).stderr(log2);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{}: cannot start {argv:?}: {e}", self.name));
        self.shared.logs.lock().unwrap().push(LogEntry {
            label: label.clone(),
            path: log_path.clone(),
        });
        Proc {
            child,
            label,
            log_path,
            extra_pidfiles: Vec::new(),
            exited: None,
        }
    }

    /// Starts tcpdump on `dev` writing packets that match `filter` (e.g. `"vrrp"`) to a pcap file
    /// in the lab dir; it stops by itself after `max_packets`. Waits until tcpdump listens.
    pub fn start_capture(&self, dev: &str, filter: &str, max_packets: u32) -> Capture {
        let id = self.shared.next_id();
        let path = self
            .shared
            .dir
            .join(format!("{}-{dev}-{id}.pcap", self.name));
        let mut argv = vec![
            "tcpdump",
            "-i",
            dev,
            "-n",
            "-U",
            "--immediate-mode",
            "-w",
            path_str(&path),
        ];
        let count = max_packets.to_string();
        argv.extend(["-c", &count]);
        argv.extend(filter.split_whitespace());
        let proc = self.spawn_labelled("tcpdump", &argv);
        wait_for(
            Duration::from_secs(5),
            &format!("{}: tcpdump listening on {dev}", self.name),
            || proc.log().contains("listening on"),
        );
        Capture { proc, path }
    }

    /// Writes `yaml` to the lab dir and starts `vipd run` with its own runtime dir.
    pub fn start_vipd(&self, yaml: &str) -> VipdProc {
        self.start_vipd_wrapped(yaml, &[], None)
    }

    /// [`Node::start_vipd`] with `wrapper` (e.g. `env …` or `setpriv …`) in front of the vipd
    /// command, and the runtime dir given to `runtime_owner` (uid, gid) when there is one.
    pub fn start_vipd_wrapped(
        &self,
        yaml: &str,
        wrapper: &[&str],
        runtime_owner: Option<(u32, u32)>,
    ) -> VipdProc {
        let id = self.shared.next_id();
        let runtime_dir = self.shared.dir.join(format!("{}-run-{id}", self.name));
        self.launch_vipd(yaml, runtime_dir, wrapper, runtime_owner)
    }

    /// Like [`Node::start_vipd`] with a given runtime dir (a restart that keeps its state).
    pub fn start_vipd_in(&self, yaml: &str, runtime_dir: PathBuf) -> VipdProc {
        self.launch_vipd(yaml, runtime_dir, &[], None)
    }

    fn launch_vipd(
        &self,
        yaml: &str,
        runtime_dir: PathBuf,
        wrapper: &[&str],
        runtime_owner: Option<(u32, u32)>,
    ) -> VipdProc {
        let id = self.shared.next_id();
        let config = self
            .shared
            .dir
            .join(format!("{}-vipd-{id}.yaml", self.name));
        fs::write(&config, yaml).expect("write vipd config");
        fs::create_dir_all(&runtime_dir).expect("create runtime dir");
        if let Some((uid, gid)) = runtime_owner {
            std::os::unix::fs::chown(&runtime_dir, Some(uid), Some(gid))
                .expect("chown runtime dir");
        }
        let mut argv: Vec<&str> = wrapper.to_vec();
        argv.extend([
            vipd_binary(),
            "run",
            "-c",
            path_str(&config),
            "--runtime-dir",
            path_str(&runtime_dir),
        ]);
        let proc = self.spawn_labelled("vipd", &argv);
        VipdProc {
            proc,
            netns: self.netns.clone(),
            node: self.name.clone(),
            config,
            runtime_dir,
        }
    }

    /// Writes `conf` to the lab dir and starts keepalived (VRRP only, foreground, logging to the
    /// console) with pid files of its own, so several run side by side on one machine.
    pub fn start_keepalived(&self, conf: &str) -> Proc {
        let id = self.shared.next_id();
        let base = self
            .shared
            .dir
            .join(format!("{}-keepalived-{id}", self.name));
        let config = base.with_extension("conf");
        fs::write(&config, conf).expect("write keepalived config");
        let pid = base.with_extension("pid");
        let vrrp_pid = base.with_extension("vrrp.pid");
        let checkers_pid = base.with_extension("checkers.pid");
        let bfd_pid = base.with_extension("bfd.pid");
        let mut proc = self.spawn_labelled(
            "keepalived",
            &[
                "keepalived",
                "--dont-fork",
                "--log-console",
                "--log-detail",
                "--no-syslog",
                "--vrrp",
                "--dont-respawn",
                "-f",
                path_str(&config),
                "-p",
                path_str(&pid),
                "-r",
                path_str(&vrrp_pid),
                "-c",
                path_str(&checkers_pid),
                "-b",
                path_str(&bfd_pid),
            ],
        );
        // keepalived forks its VRRP child, which the parent's death does not always take along.
        proc.extra_pidfiles.push(vrrp_pid);
        proc
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("lab paths are UTF-8")
}

/// A process running in a node. Killed (SIGKILL, by pid) and reaped on drop.
pub struct Proc {
    child: Child,
    label: String,
    log_path: PathBuf,
    /// Pid files of processes it forked that must die with it.
    extra_pidfiles: Vec<PathBuf>,
    exited: Option<ExitStatus>,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// What the process has written to stdout and stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends `signal` (e.g. [`SIGTERM`]) to the process, unless it has already been reaped.
    pub fn signal(&mut self, signal: libc::c_int) {
        if self.try_wait().is_none() {
            // SAFETY: the child is ours and not reaped yet, so its pid cannot have been reused.
            unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        }
    }

    /// The exit status, if the process has exited (reaps it).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().expect("waitpid");
        }
        self.exited
    }

    /// Waits up to `timeout` for the process to exit; its status, or None if still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_until(timeout, || self.try_wait().is_some());
        self.try_wait()
    }

    /// Pids of forked helpers (read from their pid files) that are still alive.
    fn extra_pids(&self) -> Vec<i32> {
        self.extra_pidfiles
            .iter()
            .filter_map(|path| fs::read_to_string(path).ok())
            .filter_map(|text| text.trim().parse::<i32>().ok())
            .filter(|&pid| pid > 1 && pid_alive(pid as u32))
            .collect()
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill(&mut self) {
        let extra = self.extra_pids();
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
        }
        for pid in extra {
            // SAFETY: kill(2); the pid came from the process's own pid file a moment ago.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `vipd run` process with its config and runtime dir.
pub struct VipdProc {
    pub proc: Proc,
    netns: String,
    node: String,
    pub config: PathBuf,
    pub runtime_dir: PathBuf,
}

impl std::ops::Deref for VipdProc {
    type Target = Proc;
    fn deref(&self) -> &Proc {
        &self.proc
    }
}

impl std::ops::DerefMut for VipdProc {
    fn deref_mut(&mut self) -> &mut Proc {
        &mut self.proc
    }
}

impl VipdProc {
    /// `vipd status --json` run in the node, parsed; Err with its output when it fails.
    pub fn try_status(&self) -> Result<serde_json::Value, String> {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.netns,
                vipd_binary(),
                "status",
                "--runtime-dir",
            ])
            .arg(&self.runtime_dir)
            .arg("--json")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run vipd status: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{}: vipd status failed ({}): {}{}",
                self.node,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("{}: vipd status --json: {e}", self.node))
    }

    /// `vipd status --json`, parsed; fails the test when it cannot be had.
    pub fn status(&self) -> serde_json::Value {
        self.try_status().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The status object of `instance`, if the daemon answers and knows it.
    pub fn instance(&self, instance: &str) -> Option<serde_json::Value> {
        let status = self.try_status().ok()?;
        status["instances"]
            .as_array()?
            .iter()
            .find(|i| i["name"] == instance)
            .cloned()
    }

    /// The state (`MASTER`, `BACKUP`, `FAULT`, `INIT`) of `instance`, if the daemon answers.
    pub fn state_of(&self, instance: &str) -> Option<String> {
        self.instance(instance)?["state"]
            .as_str()
            .map(str::to_owned)
    }
}

/// A running tcpdump (see [`Node::start_capture`]).
pub struct Capture {
    proc: Proc,
    path: PathBuf,
}

impl Capture {
    /// Stops the capture (SIGINT, so the file is complete) and returns the pcap file's path.
    pub fn stop(mut self) -> PathBuf {
        self.proc.signal(SIGINT);
        if self.proc.wait_exit(Duration::from_secs(3)).is_none() {
            self.proc.kill();
        }
        self.path.clone()
    }
}

/// What a [`Pinger`] measured.
#[derive(Clone, Debug, PartialEq)]
pub struct PingReport {
    /// Echo requests sent (highest sequence number seen or the summary's count).
    pub transmitted: u64,
    pub received: u64,
    /// The longest time between two consecutive replies, in milliseconds: the outage.
    pub longest_gap_ms: f64,
    /// Unix time (seconds) of the reply that opened the longest gap.
    pub longest_gap_after: f64,
}

/// Now as Unix time in seconds, the clock `ping -D` stamps replies with.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl PingReport {
    /// Fails the test unless the longest gap opened around `cut` (Unix seconds: the moment the
    /// path broke) and replies came back after it: an outage that was really measured, not a
    /// stretch of jitter while the replies never resumed.
    pub fn assert_outage_at(&self, cut: f64, what: &str) {
        let opened = self.longest_gap_after - cut;
        assert!(
            (-0.25..0.25).contains(&opened),
            "{what}: the longest gap ({:.0} ms) opened {:.0} ms from the cut, not at it: {self:?}",
            self.longest_gap_ms,
            opened * 1000.0
        );
        assert!(
            self.longest_gap_ms > 100.0 && self.longest_gap_ms < 1500.0,
            "{what}: outage {:.0} ms, expected a Master_Down_Interval (0.1 to 1.5 s): {self:?}",
            self.longest_gap_ms
        );
    }
}

/// A client pinging an address at a fixed interval (iputils `ping -D`), for outage measurement.
pub struct Pinger {
    proc: Proc,
}

impl Pinger {
    /// Starts pinging `target` from `node` every `interval`, for at most `duration` (and at most
    /// `duration / interval` requests). Each reply is waited for up to one second.
    pub fn start(node: &Node, target: &str, interval: Duration, duration: Duration) -> Pinger {
        assert!(interval >= Duration::from_millis(1), "interval below 1 ms");
        let count = (duration.as_secs_f64() / interval.as_secs_f64() - 1e-9)
            .ceil()
            .max(1.0) as u64;
        // Slack beyond `duration`: on a loaded machine the requests go out late, and a deadline
        // that cuts off the last reply in flight counts it as lost.
        let deadline = duration.as_secs().max(1) + 2 + duration.as_secs() / 4;
        let interval_s = format!("{:.3}", interval.as_secs_f64());
        let proc = node.spawn_labelled(
            "ping",
            &[
                "ping",
                "-n",
                "-D",
                "-i",
                &interval_s,
                "-W",
                "1",
                "-c",
                &count.to_string(),
                "-w",
                &deadline.to_string(),
                target,
            ],
        );
        Pinger { proc }
    }

    /// Waits until at least one reply has arrived, up to `timeout`.
    pub fn wait_first_reply(&self, timeout: Duration) -> bool {
        wait_until(timeout, || parse_ping_log(&self.proc.log()).received > 0)
    }

    /// Stops pinging (SIGINT, so ping flushes its output) and reports.
    pub fn stop(mut self) -> PingReport {
        self.proc.signal(SIGINT);
        if self.proc.wait_exit(Duration::from_secs(3)).is_none() {
            self.proc.kill();
        }
        parse_ping_log(&self.proc.log())
    }

    /// Waits for ping to finish its count or deadline (bounded by its own `-w`), then reports.
    pub fn finish(mut self) -> PingReport {
        if self.proc.wait_exit(Duration::from_secs(3600)).is_none() {
            self.proc.kill();
        }
        parse_ping_log(&self.proc.log())
    }
}

/// Reads iputils `ping -D` output: `[1700000000.123456] 64 bytes from …: icmp_seq=1 …` lines and
/// the `N packets transmitted, M received` summary.
pub fn parse_ping_log(text: &str) -> PingReport {
    let mut previous: Option<f64> = None;
    let mut received = 0;
    let mut max_seq = 0;
    let mut transmitted = None;
    let mut longest_gap = 0.0f64;
    let mut longest_gap_after = 0.0;
    for line in text.lines() {
        if let Some((sent, _)) = line.split_once(" packets transmitted") {
            transmitted = sent.trim().parse::<u64>().ok();
            continue;
        }
        if !line.contains(" bytes from ") {
            continue;
        }
        let Some(stamp) = line
            .strip_prefix('[')
            .and_then(|l| l.split_once(']'))
            .and_then(|(t, _)| t.parse::<f64>().ok())
        else {
            continue;
        };
        if let Some(seq) = line
            .split("icmp_seq=")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
        {
            max_seq = max_seq.max(seq.parse::<u64>().unwrap_or(0));
        }
        received += 1;
        if let Some(prev) = previous {
            let gap = (stamp - prev) * 1000.0;
            if gap > longest_gap {
                longest_gap = gap;
                longest_gap_after = prev;
            }
        }
        previous = Some(stamp);
    }
    PingReport {
        transmitted: transmitted.unwrap_or(max_seq),
        received,
        longest_gap_ms: longest_gap,
        longest_gap_after,
    }
}

/// Master_Down_Interval of RFC 9568 in milliseconds: 3 × interval + (256 − priority) × interval / 256.
pub fn master_down_interval_ms(advert_interval_ms: f64, backup_priority: u8) -> f64 {
    3.0 * advert_interval_ms + (256.0 - f64::from(backup_priority)) * advert_interval_ms / 256.0
}

/// A two-router VRRPv3 keepalived configuration (no VMAC) for one IPv4 instance `VI_1`.
pub fn keepalived_v3_conf(
    router_id: &str,
    vrid: u8,
    priority: u8,
    advert_int: &str,
    vips: &[&str],
) -> String {
    let vips: String = vips.iter().map(|v| format!("    {v}\n")).collect();
    format!(
        "global_defs {{\n  router_id {router_id}\n  vrrp_version 3\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {vrid}\n  \
         priority {priority}\n  advert_int {advert_int}\n  virtual_ipaddress {{\n{vips}  }}\n}}\n"
    )
}
