//! Shared machinery of the `interop_*` lab tests: a router abstraction over vipd, keepalived and
//! FRR (zebra + vrrpd with its own pathspace and operator-made macvlan), a VRRP capture with
//! --immediate-mode and a small pcap reader, and the one failover scenario every pairing runs
//! (election, link cut, preemption on link return, graceful stop with a priority-0 handover, and
//! "exactly one router holds the VIP" after every convergence).

use crate::lab::*;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The vipd instance name every interop test configures.
pub const INSTANCE: &str = "VI_1";

pub use crate::daemon_support::vip_addr;

/// A VRRP state as the three daemons report it, folded onto RFC names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Master,
    Backup,
    /// vipd/keepalived FAULT, FRR Initialize: not taking part (cable cut, stopped).
    Down,
    Unknown,
}

/// FRR's zebra and vrrpd running in one node, with their pathspace (`-N`) named after the node's
/// namespace. Dropping it stops both and removes `/var/run/frr/<pathspace>`.
pub struct FrrProc {
    pub zebra: Proc,
    pub vrrpd: Proc,
    pathspace: String,
    pub vrid: u8,
    pub family: u8,
}

impl FrrProc {
    /// `vtysh -N <pathspace> -c <command>`'s stdout (vtysh talks to the daemons over their
    /// unix sockets, so it needs no namespace).
    pub fn vtysh(&self, command: &str) -> String {
        let out = std::process::Command::new("timeout")
            .args([
                "-k",
                "1",
                "10",
                "vtysh",
                "-N",
                &self.pathspace,
                "-c",
                command,
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run vtysh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `v4.status` / `v6.status` of `show vrrp <vrid> json`: "Master", "Backup", "Initialize".
    pub fn status(&self) -> Option<String> {
        let text = self.vtysh(&format!("show vrrp {} json", self.vrid));
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        let key = if self.family == 4 { "v4" } else { "v6" };
        json[0][key]["status"].as_str().map(str::to_owned)
    }
}

impl Drop for FrrProc {
    fn drop(&mut self) {
        self.vrrpd.kill();
        self.zebra.kill();
        let _ = std::fs::remove_dir_all(Path::new("/var/run/frr").join(&self.pathspace));
    }
}

/// FRR's VRRP macvlan for `vrid`, as FRR expects an operator to make it: `vrrp<family>-2-<vrid>`
/// on eth0, the virtual MAC, bridge mode, addrgenmode random (set in a second step: this
/// iproute2/kernel refuses it inside `link add`), the VIP on it, up.
pub fn frr_macvlan(node: &Node, family: u8, vrid: u8, vip: &str) -> String {
    let dev = format!("vrrp{family}-2-{vrid}");
    let mac = format!(
        "00:00:5e:00:0{}:{vrid:02x}",
        if family == 4 { 1 } else { 2 }
    );
    node.exec(&[
        "ip", "link", "add", &dev, "link", "eth0", "address", &mac, "type", "macvlan", "mode",
        "bridge",
    ]);
    node.exec(&["ip", "link", "set", &dev, "addrgenmode", "random"]);
    node.add_addr_on(&dev, vip);
    node.exec(&["ip", "link", "set", &dev, "up"]);
    dev
}

/// Starts zebra, waits until it answers on its vty (vrrpd connecting to a zebra that does not yet
/// listen retries only 10 s later), then vrrpd with `vrrpd_conf`. Both run in the foreground
/// (no `-d`) with TCP vty off, logging to stdout.
pub fn start_frr(node: &Node, lab: &Lab, vrid: u8, family: u8, vrrpd_conf: &str) -> FrrProc {
    let pathspace = node.netns().to_owned();
    let run_dir = Path::new("/var/run/frr").join(&pathspace);
    let dir = lab.dir().join(format!("{}-frr", node.name()));
    std::fs::create_dir_all(&dir).expect("frr config dir");
    std::fs::write(
        dir.join("zebra.conf"),
        format!("hostname {}\n", node.name()),
    )
    .unwrap();
    std::fs::write(dir.join("vrrpd.conf"), vrrpd_conf).unwrap();
    // The daemons drop to user frr before they read their configs and make their sockets.
    for path in [&dir, lab.dir()] {
        chmod_world_readable(path);
    }
    let chown = |path: &Path| {
        let ok = std::process::Command::new("chown")
            .args(["-R", "frr:frr"])
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "chown frr {}", path.display());
    };
    std::fs::create_dir_all(&run_dir).expect("frr run dir");
    chown(&run_dir);
    chown(&dir);
    let conf = |name: &str| dir.join(name).to_str().expect("utf-8").to_owned();
    let zebra_conf = conf("zebra.conf");
    let vrrpd_conf_path = conf("vrrpd.conf");
    let zebra = node.spawn_labelled(
        "zebra",
        &[
            "/usr/lib/frr/zebra",
            "-N",
            &pathspace,
            "-P",
            "0",
            "-f",
            &zebra_conf,
            "--log",
            "stdout",
        ],
    );
    let mut frr = FrrProc {
        zebra,
        // Replaced below; a placeholder process keeps the struct whole (and its Drop working)
        // if zebra never answers.
        vrrpd: node.spawn_labelled("placeholder", &["true"]),
        pathspace: pathspace.clone(),
        vrid,
        family,
    };
    wait_for(
        Duration::from_secs(10),
        &format!("{}: zebra answering on its vty", node.name()),
        || frr.vtysh("show version").contains("FRRouting"),
    );
    frr.vrrpd = node.spawn_labelled(
        "vrrpd",
        &[
            "/usr/lib/frr/vrrpd",
            "-N",
            &pathspace,
            "-P",
            "0",
            "-f",
            &vrrpd_conf_path,
            "--log",
            "stdout",
            "--log-level",
            "debug",
        ],
    );
    frr
}

fn chmod_world_readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
}

/// The vrrpd config of one FRR virtual router on eth0.
pub fn frr_vrrpd_conf(vrid: u8, family: u8, priority: u8, advert_ms: u32, vip: &str) -> String {
    let keyword = if family == 4 { "ip" } else { "ipv6" };
    format!(
        "debug vrrp\ninterface eth0\n vrrp {vrid} version 3\n vrrp {vrid} priority {priority}\n \
         vrrp {vrid} advertisement-interval {advert_ms}\n vrrp {vrid} {keyword} {}\n",
        vip_addr(vip)
    )
}

/// A keepalived config of one instance `VI_1` on eth0 (`version` 2 or 3), with `extra` lines
/// (already indented) inside the instance block.
pub fn keepalived_conf(
    version: u8,
    vrid: u8,
    priority: u8,
    advert_int: &str,
    vip: &str,
    extra: &str,
) -> String {
    format!(
        "global_defs {{\n  router_id interop\n  vrrp_version {version}\n}}\n\
         vrrp_instance {INSTANCE} {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {vrid}\n  \
         priority {priority}\n  advert_int {advert_int}\n{extra}  virtual_ipaddress {{\n    {vip}\n  }}\n}}\n"
    )
}

/// A vipd config of one instance `VI_1` on eth0, with `extra` YAML flow-mapping entries
/// (`"nopreempt: true, "`).
pub fn vipd_conf(
    version: u8,
    vrid: u8,
    priority: u8,
    advert_int: &str,
    vip: &str,
    extra: &str,
) -> String {
    format!(
        "global_defs: {{vrrp_version: {version}}}\nvrrp_instance:\n  {INSTANCE}: {{interface: eth0, \
         virtual_router_id: {vrid}, priority: {priority}, advert_int: {advert_int}, {extra}\
         virtual_ipaddress: [\"{vip}\"]}}\n"
    )
}

/// How a router puts its VIP behind a virtual MAC (keepalived's `use_vmac`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vmac {
    /// `use_vmac`: a private macvlan `vrrp.<VRID>` holds the VIP, adverts leave from it with the
    /// virtual MAC as source.
    On,
    /// `use_vmac` + `vmac_xmit_base`: the VIP on `vrrp.<VRID>`, adverts sent (and, for keepalived,
    /// only heard) on eth0 with eth0's MAC.
    XmitBase,
}

/// The VMAC that keepalived and vipd make for instance `vrid` unless named otherwise; it holds
/// the VIP on a master.
pub fn vmac_dev(vrid: u8) -> String {
    format!("vrrp.{vrid}")
}

impl Vmac {
    /// The lines for [`keepalived_conf`]'s `extra` (inside `vrrp_instance`, where keepalived
    /// 2.2.7 honours them; in `global_defs` it ignores them).
    pub fn keepalived_lines(self) -> &'static str {
        match self {
            Vmac::On => "  use_vmac\n",
            Vmac::XmitBase => "  use_vmac\n  vmac_xmit_base\n",
        }
    }

    /// The entries for [`vipd_conf`]'s `extra`.
    pub fn vipd_entries(self) -> &'static str {
        match self {
            Vmac::On => "use_vmac: true, ",
            Vmac::XmitBase => "use_vmac: true, vmac_xmit_base: true, ",
        }
    }
}

/// A counter of `counters` in vipd's status of [`INSTANCE`] (0 when absent or unreadable).
pub fn vipd_counter(vipd: &VipdProc, counter: &str) -> u64 {
    vipd.instance(INSTANCE)
        .and_then(|status| status["counters"][counter].as_u64())
        .unwrap_or(0)
}

/// Which daemon a [`Router`] runs.
pub enum Daemon {
    Vipd(VipdProc),
    Keepalived(Proc),
    Frr(FrrProc),
}

/// One router of a pairing: its node, its daemon, and where that daemon puts the VIP.
pub struct Router<'a> {
    pub node: &'a Node,
    pub daemon: Daemon,
    /// The device the VIP goes on when this router is master (eth0, FRR's macvlan, or
    /// `vrrp.<VRID>` with [`Vmac`]).
    pub vip_dev: String,
    pub priority: u8,
}

impl<'a> Router<'a> {
    /// A router whose VIP goes on its `eth0` (no VMAC, no macvlan).
    pub fn on_eth0(node: &'a Node, daemon: Daemon, priority: u8) -> Router<'a> {
        Router {
            node,
            daemon,
            vip_dev: "eth0".into(),
            priority,
        }
    }
}

impl Router<'_> {
    /// "vipd@gw-a", "keepalived@gw-b", "frr@gw-b".
    pub fn who(&self) -> String {
        let daemon = match self.daemon {
            Daemon::Vipd(_) => "vipd",
            Daemon::Keepalived(_) => "keepalived",
            Daemon::Frr(_) => "frr",
        };
        format!("{daemon}@{}", self.node.name())
    }

    pub fn vipd(&self) -> Option<&VipdProc> {
        match &self.daemon {
            Daemon::Vipd(v) => Some(v),
            _ => None,
        }
    }

    fn proc_mut(&mut self) -> &mut Proc {
        match &mut self.daemon {
            Daemon::Vipd(v) => &mut v.proc,
            Daemon::Keepalived(p) => p,
            Daemon::Frr(f) => &mut f.vrrpd,
        }
    }

    /// The daemon's own view of its state.
    pub fn state(&self) -> State {
        let raw = match &self.daemon {
            Daemon::Vipd(v) => v.state_of(INSTANCE),
            Daemon::Keepalived(p) => keepalived_state(&p.log()),
            Daemon::Frr(f) => f.status(),
        };
        match raw.as_deref().map(str::to_ascii_uppercase).as_deref() {
            Some("MASTER") => State::Master,
            Some("BACKUP") => State::Backup,
            Some("FAULT") | Some("INITIALIZE") | Some("INIT") | Some("STOP") => State::Down,
            _ => State::Unknown,
        }
    }

    /// Whether the VIP is usable on this router right now: on its device, and (FRR) that
    /// device not protodown, which is how vrrpd takes a backup's macvlan off the network.
    pub fn holds_vip(&self, vip: &str) -> bool {
        if !self.node.has_addr(&self.vip_dev, vip_addr(vip)) {
            return false;
        }
        match self.daemon {
            Daemon::Frr(_) => link_usable(self.node, &self.vip_dev),
            _ => true,
        }
    }

    /// A one-line picture for failure messages.
    pub fn describe(&self, vip: &str) -> String {
        format!(
            "{}: state {:?}, holds VIP {}",
            self.who(),
            self.state(),
            self.holds_vip(vip)
        )
    }
}

/// keepalived's current state from its log: the last `Entering <STATE> STATE` line, or STOP
/// once it logs that it is stopping.
pub fn keepalived_state(log: &str) -> Option<String> {
    let mut state = None;
    for line in log.lines() {
        if let Some(rest) = line.split("Entering ").nth(1) {
            if let Some(name) = rest.strip_suffix(" STATE").or_else(|| {
                rest.split_once(" STATE")
                    .map(|(name, _)| name)
                    .filter(|n| !n.contains(' '))
            }) {
                state = Some(name.to_owned());
            }
        }
        if line.contains("Stopping") || line.contains("Stopped") {
            state = Some("STOP".to_owned());
        }
    }
    state
}

/// Whether `dev` is operationally up and not protodown.
pub fn link_usable(node: &Node, dev: &str) -> bool {
    let out = node.try_exec(&["ip", "-d", "-j", "link", "show", "dev", dev]);
    let links: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let link = &links[0];
    link["operstate"] == "UP" && link["proto_down"] != true
}

/// Which routers hold the VIP, sampled `samples` times `gap` apart; fails the test unless
/// `routers[master]` is the only holder and the only MASTER in every sample.
pub fn assert_sole_master(routers: &[&Router], master: usize, vip: &str, what: &str) {
    const SAMPLES: usize = 5;
    // Converged first (the samples below then fail with the whole picture if it never is).
    wait_stable(Duration::from_secs(5), Duration::from_millis(400), || {
        routers.iter().enumerate().all(|(i, r)| {
            (r.state() == State::Master) == (i == master) && r.holds_vip(vip) == (i == master)
        })
    });
    for sample in 0..SAMPLES {
        if sample > 0 {
            std::thread::sleep(Duration::from_millis(120));
        }
        let picture: Vec<(State, bool)> = routers
            .iter()
            .map(|r| (r.state(), r.holds_vip(vip)))
            .collect();
        let summary = || {
            routers
                .iter()
                .zip(&picture)
                .map(|(r, (s, h))| format!("{}={s:?} vip={h}", r.who()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (i, (state, holds)) in picture.iter().enumerate() {
            let expected_master = i == master;
            assert_eq!(
                *holds,
                expected_master,
                "{what}, sample {sample}: VIP holders wrong: {}",
                summary()
            );
            assert_eq!(
                *state == State::Master,
                expected_master,
                "{what}, sample {sample}: masters wrong: {}",
                summary()
            );
        }
    }
    if let Some(vipd) = routers[master].vipd() {
        let status = vipd.instance(INSTANCE).expect("vipd status");
        let present = status["vips"].as_array().into_iter().flatten().any(|v| {
            v["address"].as_str().map(vip_addr) == Some(vip_addr(vip)) && v["present"] == true
        });
        assert!(
            present,
            "{what}: vipd master does not report the VIP present: {status}"
        );
    }
}

/// Waits until `router` reports `state` (and, for MASTER, holds the VIP; otherwise does not).
pub fn wait_router(
    router: &Router,
    state: State,
    vip: &str,
    timeout: Duration,
    what: &str,
) -> Duration {
    let start = Instant::now();
    let reached = wait_until(timeout, || {
        router.state() == state && router.holds_vip(vip) == (state == State::Master)
    });
    assert!(
        reached,
        "{what}: {} not {state:?} within {timeout:?} ({})",
        router.who(),
        router.describe(vip)
    );
    start.elapsed()
}

/// Waits until `routers[master]` has been the only MASTER and VIP holder without a break for
/// `window`; fails the test, naming `what`, when that does not happen within `timeout`.
pub fn wait_converged(
    routers: &[Router],
    master: usize,
    vip: &str,
    window: Duration,
    timeout: Duration,
    what: &str,
) {
    let start = Instant::now();
    let converged = wait_stable(timeout, window, || {
        routers.iter().enumerate().all(|(i, r)| {
            let is_master = i == master;
            (r.state() == State::Master) == is_master && r.holds_vip(vip) == is_master
        })
    });
    assert!(
        converged,
        "{what}: {} not the sole master for {window:?} within {:?}: {}",
        routers[master].who(),
        start.elapsed(),
        routers
            .iter()
            .map(|r| format!("{}: {}", r.who(), r.describe(vip)))
            .collect::<Vec<_>>()
            .join("; ")
    );
}

/// One VRRP packet seen in a capture.
#[derive(Clone, Debug)]
pub struct CapturedAdvert {
    /// Capture time, microseconds since the epoch.
    pub at_us: u64,
    pub src_mac: String,
    pub src: IpAddr,
    pub vrid: u8,
    pub priority: u8,
    pub dst: IpAddr,
    /// The VRRP message (as captured, up to the snap length).
    pub vrrp: Vec<u8>,
    /// The AH sequence number, when the advert came behind keepalived's IPsec AH header.
    pub ah_sequence: Option<u32>,
}

/// Which checksum flavour an IPv4 VRRPv3 advert's checksum verifies under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapturedChecksum {
    /// With the IPv4 pseudo-header (keepalived's and FRR's default).
    PseudoHeader,
    /// Over the VRRP message alone (RFC 9568 §5.2.8 for IPv4, Cisco, Juniper; VRRPv2).
    Plain,
    Neither,
}

impl CapturedAdvert {
    /// Verifies the advert's checksum both ways, independently of vipd's own decoder.
    pub fn checksum_flavour(&self) -> CapturedChecksum {
        let fold = |mut sum: u32| {
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            sum
        };
        let words = |bytes: &[u8]| -> u32 {
            bytes
                .chunks(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
                .sum()
        };
        let message = words(&self.vrrp);
        if fold(message) == 0xffff {
            return CapturedChecksum::Plain;
        }
        if let (IpAddr::V4(src), IpAddr::V4(dst)) = (self.src, self.dst) {
            let pseudo = words(&src.octets()) + words(&dst.octets()) + 112 + self.vrrp.len() as u32;
            if fold(message + pseudo) == 0xffff {
                return CapturedChecksum::PseudoHeader;
            }
        }
        CapturedChecksum::Neither
    }
}

/// tcpdump of VRRP (IPv4 and IPv6, and IPv4 VRRP behind AH) on `dev` with --immediate-mode, so the last packets before a
/// stop (the priority-0 advert) reach the file; bounded by `max_packets` and by the caller's stop.
pub struct VrrpCapture {
    proc: Proc,
    path: PathBuf,
}

impl VrrpCapture {
    pub fn start(lab: &Lab, node: &Node, dev: &str, max_packets: u32) -> VrrpCapture {
        let path = lab
            .dir()
            .join(format!("{}-{dev}-{}.pcap", node.name(), unique_suffix()));
        let count = max_packets.to_string();
        let proc = node.spawn_labelled(
            "tcpdump",
            &[
                "timeout",
                "120",
                "tcpdump",
                "-i",
                dev,
                "-n",
                "--immediate-mode",
                "-U",
                "-s",
                "256",
                "-c",
                &count,
                "-w",
                path.to_str().expect("utf-8"),
                "ip proto 112 or ip proto 51 or ip6 proto 112",
            ],
        );
        wait_for(Duration::from_secs(5), "tcpdump listening", || {
            proc.log().contains("listening on")
        });
        VrrpCapture { proc, path }
    }

    /// Stops tcpdump (SIGINT, via timeout which forwards it) and returns what it captured.
    pub fn stop(mut self) -> Vec<CapturedAdvert> {
        std::thread::sleep(Duration::from_millis(200));
        self.proc.signal(SIGINT);
        if self.proc.wait_exit(Duration::from_secs(3)).is_none() {
            self.proc.kill();
        }
        read_vrrp_pcap(&self.path)
    }
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed).to_string()
}

/// The VRRP packets of a classic Ethernet pcap (what tcpdump -w writes on eth0).
pub fn read_vrrp_pcap(path: &Path) -> Vec<CapturedAdvert> {
    let data = std::fs::read(path).unwrap_or_default();
    if data.len() < 24 {
        return Vec::new();
    }
    let magic = u32::from_le_bytes(data[0..4].try_into().unwrap());
    let le = matches!(magic, 0xa1b2_c3d4 | 0xa1b2_3c4d);
    let nanos = matches!(magic, 0xa1b2_3c4d | 0x4d3c_b2a1);
    let word = |b: &[u8]| {
        let a: [u8; 4] = b.try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut adverts = Vec::new();
    let mut offset = 24;
    while offset + 16 <= data.len() {
        let captured = word(&data[offset + 8..offset + 12]) as usize;
        let start = offset + 16;
        offset = start + captured;
        if offset > data.len() {
            break;
        }
        let frame = &data[start..offset];
        let seconds = u64::from(word(&data[start - 16..start - 12]));
        let fraction = u64::from(word(&data[start - 12..start - 8]));
        let at_us = seconds * 1_000_000 + if nanos { fraction / 1000 } else { fraction };
        if let Some(advert) = parse_vrrp_frame(frame, at_us) {
            adverts.push(advert);
        }
    }
    adverts
}

fn parse_vrrp_frame(frame: &[u8], at_us: u64) -> Option<CapturedAdvert> {
    let src_mac = frame
        .get(6..12)?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let ethertype = u16::from_be_bytes(frame.get(12..14)?.try_into().ok()?);
    let ip = frame.get(14..)?;
    let mut ah_sequence = None;
    let (src, dst, vrrp) = match ethertype {
        0x0800 => {
            let mut ihl = usize::from(ip.first()? & 0x0f) * 4;
            // keepalived's auth_type AH: a 24-byte AH header whose next header is VRRP.
            if *ip.get(9)? == 51 && *ip.get(ihl)? == 112 {
                ah_sequence = Some(u32::from_be_bytes(
                    ip.get(ihl + 8..ihl + 12)?.try_into().ok()?,
                ));
                ihl += 24;
            } else if *ip.get(9)? != 112 {
                return None;
            }
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            let total = usize::from(u16::from_be_bytes(ip.get(2..4)?.try_into().ok()?));
            (
                IpAddr::from(src),
                IpAddr::from(dst),
                ip.get(ihl..total.min(ip.len()))?,
            )
        }
        0x86dd => {
            if *ip.get(6)? != 112 {
                return None;
            }
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            let payload = usize::from(u16::from_be_bytes(ip.get(4..6)?.try_into().ok()?));
            (
                IpAddr::from(src),
                IpAddr::from(dst),
                ip.get(40..(40 + payload).min(ip.len()))?,
            )
        }
        _ => return None,
    };
    Some(CapturedAdvert {
        at_us,
        src_mac,
        src,
        vrid: *vrrp.get(1)?,
        priority: *vrrp.get(2)?,
        dst,
        vrrp: vrrp.to_vec(),
        ah_sequence,
    })
}

/// Timing of one pairing run, printed for the report.
#[derive(Debug, Default)]
pub struct ScenarioTimes {
    /// The priority-0 adverts the lower router's wire carried after SIGTERM to the higher one.
    pub priority_zero: Vec<CapturedAdvert>,
    pub elected: Duration,
    pub link_cut_takeover: Duration,
    pub preempt_back: Duration,
    pub graceful_takeover: Duration,
}

/// Master_Down_Interval of `router` as backup, in ms (RFC formula, v2 and v3 alike here).
fn mdi_ms(advert_ms: f64, priority: u8) -> f64 {
    master_down_interval_ms(advert_ms, priority)
}

/// The scenario every pairing runs. `routers[high]` has the higher priority, the other the lower;
/// both are already started. Checks, in order: the higher one is elected and is the only VIP
/// holder; its cable is cut and the lower one takes over (the cut one holds no VIP); the cable
/// comes back and the higher one preempts (default preempt); it is stopped with SIGTERM and the
/// lower one takes over faster than Master_Down_Interval, through a priority-0 advert seen on the
/// lower one's wire (and counted in vipd's status when vipd is the lower one).
pub fn run_failover_scenario(
    lab: &Lab,
    routers: &mut [Router; 2],
    high: usize,
    vip: &str,
    advert_ms: f64,
    label: &str,
) -> ScenarioTimes {
    run_failover_scenario_with(lab, routers, high, vip, advert_ms, label, |_| {})
}

/// [`run_failover_scenario`] with `before_stop` called after the preemption, while both routers
/// still run and each has been master once (so each has heard the other's adverts).
pub fn run_failover_scenario_with(
    lab: &Lab,
    routers: &mut [Router; 2],
    high: usize,
    vip: &str,
    advert_ms: f64,
    label: &str,
    before_stop: impl FnOnce(&[Router; 2]),
) -> ScenarioTimes {
    let low = 1 - high;
    let mut times = ScenarioTimes::default();
    let low_mdi = mdi_ms(advert_ms, routers[low].priority);
    // Daemon start-up (FRR: zebra first) plus a Master_Down_Interval or two.
    let settle =
        Duration::from_millis((3.0 * mdi_ms(advert_ms, 1)) as u64) + Duration::from_secs(6);
    let start = Instant::now();
    wait_router(
        &routers[high],
        State::Master,
        vip,
        settle,
        &format!("{label}: election"),
    );
    wait_router(
        &routers[low],
        State::Backup,
        vip,
        settle,
        &format!("{label}: election"),
    );
    // The lower router starts in Backup, so seeing it there proves nothing until it has stayed
    // there for a whole Master_Down_Interval with the higher one as master: a peer may report
    // Master before its first advert leaves (FRR's IPv6 macvlan waits for its link-local).
    wait_converged(
        routers,
        high,
        vip,
        Duration::from_millis(low_mdi as u64 + 100),
        settle,
        &format!("{label}: election"),
    );
    times.elected = start.elapsed();
    assert_sole_master(
        &[&routers[0], &routers[1]],
        high,
        vip,
        &format!("{label}: after election"),
    );
    if let Some(vipd) = routers[low].vipd() {
        let status = vipd.instance(INSTANCE).expect("vipd status");
        assert!(
            status["counters"]["adverts_received"].as_u64().unwrap_or(0) >= 1,
            "{label}: vipd backup counts no adverts from {}: {status}",
            routers[high].who()
        );
    }

    // Unplanned: the master's cable is cut.
    routers[high].node.link_down();
    let takeover_limit = Duration::from_millis(low_mdi as u64) + Duration::from_secs(3);
    times.link_cut_takeover = wait_router(
        &routers[low],
        State::Master,
        vip,
        takeover_limit,
        &format!("{label}: link cut of {}", routers[high].who()),
    );
    wait_until(Duration::from_secs(3), || !routers[high].holds_vip(vip));
    assert!(
        !routers[high].holds_vip(vip),
        "{label}: {} holds the VIP with its cable cut ({})",
        routers[high].who(),
        routers[high].describe(vip)
    );
    // The cut router cannot see the other one, so only the reachable side must be sole master.
    // FRR 8.4's vrrpd stays Master in `show vrrp` when only the carrier goes (measured here):
    // harmless, since its macvlan follows eth0's carrier and the VIP is unusable, which
    // holds_vip checked above.
    let cut_state = routers[high].state();
    if matches!(routers[high].daemon, Daemon::Frr(_)) {
        println!(
            "{label}: {} with its cable cut reports {cut_state:?}",
            routers[high].who()
        );
    } else {
        assert_ne!(
            cut_state,
            State::Master,
            "{label}: {} still MASTER with its cable cut",
            routers[high].who()
        );
    }

    // The cable comes back: default preempt, the higher priority takes back over.
    routers[high].node.link_up();
    let preempt_limit =
        Duration::from_millis((2.0 * mdi_ms(advert_ms, 1)) as u64) + Duration::from_secs(5);
    times.preempt_back = wait_router(
        &routers[high],
        State::Master,
        vip,
        preempt_limit,
        &format!("{label}: preemption after the link returned"),
    );
    wait_router(
        &routers[low],
        State::Backup,
        vip,
        Duration::from_secs(3),
        &format!("{label}: stepping down on preemption"),
    );
    assert_sole_master(
        &[&routers[0], &routers[1]],
        high,
        vip,
        &format!("{label}: after preemption"),
    );

    // Interop means vipd accepted every advert of its peer: nothing counted as rejected.
    for router in routers.iter() {
        if let Some(vipd) = router.vipd() {
            let status = vipd.instance(INSTANCE).expect("vipd status");
            let rejected = &status["counters"]["rejected"];
            assert!(
                rejected
                    .as_object()
                    .is_none_or(|r| r.values().all(|n| n.as_u64() == Some(0))),
                "{label}: {} rejected adverts: {rejected}",
                router.who()
            );
        }
    }

    before_stop(routers);

    // Planned: SIGTERM to the master, which must send priority 0 on its way out.
    let capture = VrrpCapture::start(lab, routers[low].node, "eth0", 2000);
    let zero_before = routers[low].vipd().map(|v| {
        v.instance(INSTANCE).expect("status")["counters"]["priority_zero_received"]
            .as_u64()
            .unwrap_or(0)
    });
    routers[high].proc_mut().signal(SIGTERM);
    times.graceful_takeover = wait_router(
        &routers[low],
        State::Master,
        vip,
        Duration::from_millis(low_mdi as u64) + Duration::from_secs(3),
        &format!("{label}: graceful stop of {}", routers[high].who()),
    );
    let exited = routers[high].proc_mut().wait_exit(Duration::from_secs(5));
    assert!(
        exited.is_some(),
        "{label}: {} did not exit after SIGTERM",
        routers[high].who()
    );
    if let Some(zero_before) = zero_before {
        let zero_after = routers[low]
            .vipd()
            .unwrap()
            .instance(INSTANCE)
            .expect("status")["counters"]["priority_zero_received"]
            .as_u64()
            .unwrap_or(0);
        assert!(
            zero_after > zero_before,
            "{label}: vipd backup counted no priority-0 advert ({zero_before} -> {zero_after})"
        );
    }
    let adverts = capture.stop();
    let zeros: Vec<&CapturedAdvert> = adverts.iter().filter(|a| a.priority == 0).collect();
    assert!(
        !zeros.is_empty(),
        "{label}: no priority-0 advert on {}'s wire after SIGTERM to {} ({} VRRP packets captured)",
        routers[low].who(),
        routers[high].who(),
        adverts.len()
    );
    // Without a priority-0 advert the backup would wait a whole Master_Down_Interval. Timed on
    // the wire (first priority-0 advert to the successor's first advert), not by polling status.
    let first_zero = zeros[0].at_us;
    let successor_first = adverts
        .iter()
        .find(|a| a.at_us >= first_zero && a.priority == routers[low].priority)
        .unwrap_or_else(|| {
            panic!(
                "{label}: no advert of {} (priority {}) after the priority-0 advert",
                routers[low].who(),
                routers[low].priority
            )
        });
    let wire_takeover_ms = (successor_first.at_us - first_zero) as f64 / 1000.0;
    assert!(
        wire_takeover_ms < low_mdi,
        "{label}: {} advertised {wire_takeover_ms:.1} ms after the priority-0 advert, not faster \
         than Master_Down_Interval {low_mdi:.0} ms",
        routers[low].who()
    );
    assert!(
        !routers[high].holds_vip(vip),
        "{label}: {} still holds the VIP after its graceful stop",
        routers[high].who()
    );
    for sample in 0..4 {
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            routers[low].holds_vip(vip) && !routers[high].holds_vip(vip),
            "{label}: after the graceful stop, sample {sample}: {} / {}",
            routers[low].describe(vip),
            routers[high].describe(vip)
        );
    }
    println!(
        "{label}: elected in {:?}; link-cut takeover {:?} (MDI {low_mdi:.0} ms); preempted back in {:?}; \
         SIGTERM takeover {:?} (on the wire {wire_takeover_ms:.1} ms); {} priority-0 adverts from {:?}",
        times.elected,
        times.link_cut_takeover,
        times.preempt_back,
        times.graceful_takeover,
        zeros.len(),
        zeros.first().map(|a| (a.src, a.src_mac.clone()))
    );
    times.priority_zero = zeros.into_iter().cloned().collect();
    times
}
