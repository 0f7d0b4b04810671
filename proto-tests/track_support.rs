//! Shared helpers of the health-tracking lab tests (issue 10): check, track_file and
//! track_process definitions rendered both as vipd YAML and as keepalived.conf, starting either
//! daemon with them, and reading back what each reports (effective priority, vipd's trackers).
//! The services, scripts and stopwatches the tests act with are in `track_fixtures`.

use crate::interop_util::{wait_converged, Daemon, Router, State, INSTANCE};
use crate::lab::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Slack on every timing bound of these tests: the 1 ms address poll, process start-up, and a
/// 2-core machine shared with builds.
pub const TOLERANCE: Duration = Duration::from_millis(250);

/// Which daemon runs on a router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    Vipd,
    Keepalived,
}

/// What a `vrrp_script` entry does.
#[derive(Clone, Debug)]
pub enum Probe {
    /// A program (a file with a shebang: keepalived execs it, vipd runs it via `/bin/sh -c`).
    Script(PathBuf),
    /// vipd built-in: `host:port`.
    TcpConnect(String),
    /// vipd built-in.
    HttpGet {
        url: String,
        status: u16,
        body_contains: String,
    },
    /// vipd built-in: an address to ping.
    IcmpEcho(String),
    /// vipd built-in: `server` is `host:port`, `rtype` e.g. `A`.
    DnsQuery {
        server: String,
        name: String,
        rtype: String,
    },
}

/// One `vrrp_script` definition.
#[derive(Clone, Debug)]
pub struct Check {
    pub name: String,
    pub probe: Probe,
    /// Seconds; keepalived 2.2.7 takes whole seconds only ("invalid number '0.5'", then 1).
    pub interval: f64,
    pub timeout: Option<f64>,
    pub weight: i32,
    pub rise: u32,
    pub fall: u32,
}

impl Check {
    /// A check with weight -60, rise 1 and fall 1.
    pub fn new(name: &str, probe: Probe, interval: f64) -> Check {
        Check {
            name: name.to_owned(),
            probe,
            interval,
            timeout: None,
            weight: -60,
            rise: 1,
            fall: 1,
        }
    }

    fn vipd_entry(&self) -> String {
        let probe = match &self.probe {
            Probe::Script(path) => format!("script: {}", quoted(path_str(path))),
            Probe::TcpConnect(target) => format!("tcp_connect: {}", quoted(target)),
            Probe::HttpGet {
                url,
                status,
                body_contains,
            } => format!(
                "http_get: {{url: {}, status: {status}, body_contains: {}}}",
                quoted(url),
                quoted(body_contains)
            ),
            Probe::IcmpEcho(target) => format!("icmp_echo: {}", quoted(target)),
            Probe::DnsQuery {
                server,
                name,
                rtype,
            } => format!(
                "dns_query: {{server: {}, name: {}, type: {rtype}}}",
                quoted(server),
                quoted(name)
            ),
        };
        let mut entry = format!(
            "  {}: {{{probe}, interval: {}, weight: {}, rise: {}, fall: {}",
            self.name, self.interval, self.weight, self.rise, self.fall
        );
        if let Some(timeout) = self.timeout {
            let _ = write!(entry, ", timeout: {timeout}");
        }
        entry + "}\n"
    }

    fn keepalived_block(&self) -> String {
        let Probe::Script(path) = &self.probe else {
            panic!(
                "{}: keepalived has no built-in {:?} check in vrrp_script; use a script",
                self.name, self.probe
            );
        };
        let mut block = format!(
            "vrrp_script {} {{\n  script \"{}\"\n  interval {}\n  weight {}\n  rise {}\n  fall {}\n",
            self.name,
            path_str(path),
            whole_seconds(self.interval, "interval"),
            self.weight,
            self.rise,
            self.fall
        );
        if let Some(timeout) = self.timeout {
            let _ = writeln!(block, "  timeout {}", whole_seconds(timeout, "timeout"));
        }
        block + "}\n"
    }
}

fn whole_seconds(value: f64, what: &str) -> u64 {
    assert!(
        value >= 1.0 && value.fract() == 0.0,
        "keepalived 2.2.7 takes a whole number of seconds for {what}, not {value}"
    );
    value as u64
}

/// A JSON string literal, which is also a valid YAML flow scalar.
fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("lab paths are UTF-8")
}

/// One `track_file` definition (keepalived 2.2.7 calls `vrrp_track_file` deprecated; vipd reads both).
#[derive(Clone, Debug)]
pub struct TrackFile {
    pub name: String,
    pub file: PathBuf,
    pub weight: i32,
}

/// One `vrrp_track_process` definition (quorum 1, no delay: keepalived refuses `delay 0`,
/// "must be between [0.000001..3600]", and 0 is its default anyway).
#[derive(Clone, Debug)]
pub struct TrackProcess {
    pub name: String,
    pub process: String,
    pub weight: i32,
}

/// How an instance refers to one `vrrp_script` in vipd's YAML, in the three forms the YAML takes.
#[derive(Clone, Debug)]
pub enum ScriptRef {
    /// `chk_web`: the script's own weight.
    Name(String),
    /// `"chk_web weight -30"`: keepalived's inline override.
    Inline(String, i32),
    /// `{name: chk_web, weight: -30}`.
    Map(String, i32),
}

impl ScriptRef {
    fn vipd_item(&self) -> String {
        match self {
            ScriptRef::Name(name) => name.clone(),
            ScriptRef::Inline(name, weight) => quoted(&format!("{name} weight {weight}")),
            ScriptRef::Map(name, weight) => format!("{{name: {name}, weight: {weight}}}"),
        }
    }

    fn keepalived_line(&self) -> String {
        match self {
            ScriptRef::Name(name) => format!("    {name}\n"),
            ScriptRef::Inline(name, weight) | ScriptRef::Map(name, weight) => {
                format!("    {name} weight {weight}\n")
            }
        }
    }
}

/// One router's VRRPv3 instance `VI_1` on eth0 with what it tracks.
#[derive(Clone, Debug)]
pub struct RouterSpec {
    pub vrid: u8,
    pub priority: u8,
    /// Seconds, as the config writes it.
    pub advert_int: &'static str,
    pub vip: &'static str,
    pub scripts: Vec<Check>,
    /// How the instance refers to `scripts`; empty means each by its plain name.
    pub script_refs: Vec<ScriptRef>,
    pub files: Vec<TrackFile>,
    pub processes: Vec<TrackProcess>,
}

impl RouterSpec {
    /// An instance tracking nothing yet.
    pub fn new(vrid: u8, priority: u8, vip: &'static str) -> RouterSpec {
        RouterSpec {
            vrid,
            priority,
            advert_int: "0.1",
            vip,
            scripts: Vec::new(),
            script_refs: Vec::new(),
            files: Vec::new(),
            processes: Vec::new(),
        }
    }

    fn refs(&self) -> Vec<ScriptRef> {
        if self.script_refs.is_empty() {
            self.scripts
                .iter()
                .map(|c| ScriptRef::Name(c.name.clone()))
                .collect()
        } else {
            self.script_refs.clone()
        }
    }

    /// Master_Down_Interval of this router as a backup (at its configured priority).
    pub fn master_down(&self) -> Duration {
        let advert_ms = self.advert_int.parse::<f64>().expect("advert_int") * 1000.0;
        Duration::from_secs_f64(master_down_interval_ms(advert_ms, self.priority) / 1000.0)
    }

    /// vipd's YAML: keepalived's `vrrp_*` blocks as maps.
    pub fn vipd_yaml(&self) -> String {
        let mut yaml = String::from("global_defs: {vrrp_version: 3}\n");
        if !self.scripts.is_empty() {
            yaml += "vrrp_script:\n";
            for check in &self.scripts {
                yaml += &check.vipd_entry();
            }
        }
        if !self.files.is_empty() {
            yaml += "track_file:\n";
            for tf in &self.files {
                let _ = writeln!(
                    yaml,
                    "  {}: {{file: {}, weight: {}}}",
                    tf.name,
                    quoted(path_str(&tf.file)),
                    tf.weight
                );
            }
        }
        if !self.processes.is_empty() {
            yaml += "vrrp_track_process:\n";
            for tp in &self.processes {
                let _ = writeln!(
                    yaml,
                    "  {}: {{process: {}, weight: {}, quorum: 1}}",
                    tp.name,
                    quoted(&tp.process),
                    tp.weight
                );
            }
        }
        let _ = write!(
            yaml,
            "vrrp_instance:\n  {INSTANCE}: {{interface: eth0, virtual_router_id: {}, priority: {}, \
             advert_int: {}, ",
            self.vrid, self.priority, self.advert_int
        );
        let list = |items: Vec<String>| format!("[{}]", items.join(", "));
        let refs = self.refs();
        if !refs.is_empty() {
            let _ = write!(
                yaml,
                "track_script: {}, ",
                list(refs.iter().map(ScriptRef::vipd_item).collect())
            );
        }
        if !self.files.is_empty() {
            let _ = write!(
                yaml,
                "track_file: {}, ",
                list(self.files.iter().map(|f| f.name.clone()).collect())
            );
        }
        if !self.processes.is_empty() {
            let _ = write!(
                yaml,
                "track_process: {}, ",
                list(self.processes.iter().map(|p| p.name.clone()).collect())
            );
        }
        let _ = writeln!(yaml, "virtual_ipaddress: [{}]}}", quoted(self.vip));
        yaml
    }

    /// The same instance as a keepalived.conf (`track_file`: 2.2.7 calls `vrrp_track_file`
    /// deprecated).
    pub fn keepalived_conf(&self, router_id: &str) -> String {
        let mut conf = format!("global_defs {{\n  router_id {router_id}\n  vrrp_version 3\n}}\n");
        for check in &self.scripts {
            conf += &check.keepalived_block();
        }
        for tf in &self.files {
            let _ = writeln!(
                conf,
                "track_file {} {{\n  file \"{}\"\n  weight {}\n}}",
                tf.name,
                path_str(&tf.file),
                tf.weight
            );
        }
        for tp in &self.processes {
            let _ = writeln!(
                conf,
                "vrrp_track_process {} {{\n  process {}\n  weight {}\n  quorum 1\n}}",
                tp.name, tp.process, tp.weight
            );
        }
        let _ = write!(
            conf,
            "vrrp_instance {INSTANCE} {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {}\n  \
             priority {}\n  advert_int {}\n",
            self.vrid, self.priority, self.advert_int
        );
        let refs = self.refs();
        if !refs.is_empty() {
            conf += "  track_script {\n";
            for r in &refs {
                conf += &r.keepalived_line();
            }
            conf += "  }\n";
        }
        for (keyword, names) in [
            (
                "track_file",
                self.files.iter().map(|f| &f.name).collect::<Vec<_>>(),
            ),
            (
                "track_process",
                self.processes.iter().map(|p| &p.name).collect(),
            ),
        ] {
            if !names.is_empty() {
                let _ = writeln!(conf, "  {keyword} {{");
                for name in names {
                    let _ = writeln!(conf, "    {name}");
                }
                conf += "  }\n";
            }
        }
        let _ = write!(conf, "  virtual_ipaddress {{\n    {}\n  }}\n}}\n", self.vip);
        conf
    }
}

/// Starts `kind` on `node` with `spec` and wraps it as an interop [`Router`].
pub fn start_router<'a>(node: &'a Node, kind: Impl, spec: &RouterSpec) -> Router<'a> {
    let daemon = match kind {
        Impl::Vipd => Daemon::Vipd(node.start_vipd(&spec.vipd_yaml())),
        Impl::Keepalived => {
            Daemon::Keepalived(node.start_keepalived(&spec.keepalived_conf(node.name())))
        }
    };
    Router {
        node,
        daemon,
        vip_dev: "eth0".into(),
        priority: spec.priority,
    }
}

/// The router's effective priority as the daemon reports it: vipd's `effective_priority` in
/// `status --json`; keepalived's last "Changing effective priority from X to Y" (Y), else the
/// configured priority. None while vipd does not answer.
pub fn effective_priority(router: &Router) -> Option<u64> {
    match &router.daemon {
        Daemon::Vipd(vipd) => vipd.instance(INSTANCE)?["effective_priority"].as_u64(),
        Daemon::Keepalived(proc) => Some(
            proc.log()
                .lines()
                .rev()
                .filter_map(|line| line.split("Changing effective priority from ").nth(1))
                .find_map(|rest| rest.split(" to ").nth(1)?.trim().parse().ok())
                .unwrap_or(u64::from(router.priority)),
        ),
        Daemon::Frr(_) => None,
    }
}

/// Waits until the router reports effective priority `expected`; fails the test naming `what`.
pub fn wait_effective_priority(router: &Router, expected: u64, timeout: Duration, what: &str) {
    let reached = wait_until(timeout, || effective_priority(router) == Some(expected));
    assert!(
        reached,
        "{what}: {} effective priority {:?}, expected {expected} within {timeout:?}",
        router.who(),
        effective_priority(router)
    );
}

/// vipd's status of its tracked object `name` in [`INSTANCE`] (`trackers[]`); None for
/// keepalived, or while vipd does not answer or does not know it.
pub fn vipd_tracker(router: &Router, name: &str) -> Option<serde_json::Value> {
    let Daemon::Vipd(vipd) = &router.daemon else {
        return None;
    };
    vipd.instance(INSTANCE)?["trackers"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == name)
        .cloned()
}

/// For vipd: fails the test, naming `what`, unless tracker `name` is there, of `kind`, and
/// runs (no `error`, e.g. a watch it could not set up). Nothing for keepalived.
pub fn assert_tracker_runs(router: &Router, name: &str, kind: &str, what: &str) {
    if !matches!(router.daemon, Daemon::Vipd(_)) {
        return;
    }
    let tracker = vipd_tracker(router, name)
        .unwrap_or_else(|| panic!("{what}: {} reports no tracker {name}", router.who()));
    assert_eq!(tracker["kind"], kind, "{what}: {name}: {tracker}");
    assert!(
        tracker["error"].is_null(),
        "{what}: {} cannot run tracker {name}: {tracker}",
        router.who()
    );
}

/// For vipd: waits until tracker `name` reports `state` (`passing`, `failing`, a file's
/// number); fails the test naming `what`. Nothing for keepalived.
pub fn wait_tracker_state(router: &Router, name: &str, state: &str, timeout: Duration, what: &str) {
    if !matches!(router.daemon, Daemon::Vipd(_)) {
        return;
    }
    let reached = wait_until(timeout, || {
        vipd_tracker(router, name).is_some_and(|t| t["state"] == state)
    });
    assert!(
        reached,
        "{what}: {} tracker {name} not {state} within {timeout:?}: {:?}",
        router.who(),
        vipd_tracker(router, name)
    );
}

/// Whether the router's daemon process still runs (exited but unreaped counts as gone).
pub fn daemon_running(router: &Router) -> bool {
    let pid = match &router.daemon {
        Daemon::Vipd(vipd) => vipd.pid(),
        Daemon::Keepalived(proc) => proc.pid(),
        Daemon::Frr(frr) => frr.vrrpd.pid(),
    };
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| Some(stat.rsplit_once(") ")?.1.starts_with('Z')))
        == Some(false)
}

/// Waits (up to 10 s) until `routers[master]` has been the sole MASTER and VIP holder for
/// 400 ms; fails the test at once, with the daemon's last log lines, when a daemon exits (a
/// rejected config), and otherwise with [`wait_converged`]'s picture.
pub fn wait_elected(routers: &[Router], master: usize, vip: &str, what: &str) {
    let mut dead = None;
    wait_stable(Duration::from_secs(10), Duration::from_millis(400), || {
        dead = routers.iter().find(|r| !daemon_running(r));
        dead.is_some()
            || routers.iter().enumerate().all(|(i, r)| {
                (r.state() == State::Master) == (i == master) && r.holds_vip(vip) == (i == master)
            })
    });
    if let Some(router) = dead {
        let log = match &router.daemon {
            Daemon::Vipd(vipd) => vipd.log(),
            Daemon::Keepalived(proc) => proc.log(),
            Daemon::Frr(frr) => frr.vrrpd.log(),
        };
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!("{what}: {} exited:\n{}", router.who(), tail.join("\n"));
    }
    wait_converged(
        routers,
        master,
        vip,
        Duration::from_millis(400),
        Duration::from_secs(1),
        &format!("{what} (after 10 s)"),
    );
}
