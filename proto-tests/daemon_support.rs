//! Shared helpers of the `daemon_*` lab tests: config snippets, the "exactly one master" check
//! over status JSON and interface addresses, status counters, the event loop's wake-ups, and pcap
//! packet counting.

use crate::lab::*;
use std::time::{Duration, Instant};

/// The instance every `daemon_*` test configures.
pub const INSTANCE: &str = "VI_1";

/// One VRRPv3 instance `VI_1` on eth0 with advert_int 0.1 and `extra` keys (`"nopreempt: true, "`).
pub fn v3_config(vrid: u8, priority: u8, vip: &str, extra: &str) -> String {
    format!(
        "global_defs: {{vrrp_version: 3}}\nvrrp_instance:\n  {INSTANCE}: {{interface: eth0, \
         virtual_router_id: {vrid}, priority: {priority}, advert_int: 0.1, {extra}\
         virtual_ipaddress: [\"{vip}\"]}}\n"
    )
}

/// A router of the lab: its node and the vipd running in it.
pub struct Router<'a> {
    pub node: &'a Node,
    pub vipd: &'a VipdProc,
}

/// Starts vipd on gw-a and gw-b and waits until gw-a is MASTER and gw-b BACKUP.
/// Two gateways on the lab's switch: gw-a at 192.0.2.1/24, gw-b at 192.0.2.2/24.
pub fn two_gateways(lab: &Lab) -> (Node, Node) {
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    a.add_addr("192.0.2.1/24");
    b.add_addr("192.0.2.2/24");
    (a, b)
}

pub fn start_elected(a: &Node, config_a: &str, b: &Node, config_b: &str) -> (VipdProc, VipdProc) {
    let vipd_a = a.start_vipd(config_a);
    let vipd_b = b.start_vipd(config_b);
    wait_state(&vipd_a, "gw-a", "MASTER", Duration::from_secs(5));
    wait_state(&vipd_b, "gw-b", "BACKUP", Duration::from_secs(5));
    (vipd_a, vipd_b)
}

/// The two routers of a pair lab, in the order [`assert_sole_master`] indexes them.
pub fn pair<'a>(
    a: &'a Node,
    vipd_a: &'a VipdProc,
    b: &'a Node,
    vipd_b: &'a VipdProc,
) -> [Router<'a>; 2] {
    [
        Router {
            node: a,
            vipd: vipd_a,
        },
        Router {
            node: b,
            vipd: vipd_b,
        },
    ]
}

/// The address part of a VIP in CIDR notation.
pub fn vip_addr(vip_cidr: &str) -> &str {
    vip_cidr.split('/').next().unwrap_or(vip_cidr)
}

/// Waits until `vipd` reports `state` for [`INSTANCE`], failing the test after `timeout`.
pub fn wait_state(vipd: &VipdProc, who: &str, state: &str, timeout: Duration) {
    wait_for(timeout, &format!("{who} {state}"), || {
        vipd.state_of(INSTANCE).as_deref() == Some(state)
    });
}

/// Asserts, over several samples spread across ~600 ms, that `routers[master]` is the only
/// MASTER (by both status JSONs), the only one holding `vip` on eth0, and reports it present.
pub fn assert_sole_master(routers: &[Router], master: usize, vip: &str) {
    let addr = vip_addr(vip);
    // Converged first (the samples below then fail with the whole picture if it never is).
    wait_stable(Duration::from_secs(5), Duration::from_millis(400), || {
        routers.iter().enumerate().all(|(i, r)| {
            (r.vipd.state_of(INSTANCE).as_deref() == Some("MASTER")) == (i == master)
                && r.node.has_addr("eth0", addr) == (i == master)
        })
    });
    for sample in 0..6 {
        if sample > 0 {
            std::thread::sleep(Duration::from_millis(120));
        }
        let states: Vec<Option<String>> =
            routers.iter().map(|r| r.vipd.state_of(INSTANCE)).collect();
        let holders: Vec<bool> = routers
            .iter()
            .map(|r| r.node.has_addr("eth0", addr))
            .collect();
        let masters: Vec<&str> = routers
            .iter()
            .zip(&states)
            .filter(|(_, s)| s.as_deref() == Some("MASTER"))
            .map(|(r, _)| r.node.name())
            .collect();
        let summary = || {
            routers
                .iter()
                .zip(states.iter().zip(&holders))
                .map(|(r, (s, h))| format!("{}={s:?} vip={h}", r.node.name()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        assert_eq!(
            masters,
            vec![routers[master].node.name()],
            "sample {sample}: masters by status: {}",
            summary()
        );
        for (i, holds) in holders.iter().enumerate() {
            assert_eq!(
                *holds,
                i == master,
                "sample {sample}: VIP {addr} on eth0 of {}: {}",
                routers[i].node.name(),
                summary()
            );
        }
        let master_status = routers[master]
            .vipd
            .instance(INSTANCE)
            .expect("master status");
        let reported_present = master_status["vips"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|v| v["address"].as_str().map(vip_addr) == Some(addr) && v["present"] == true);
        assert!(
            reported_present,
            "master's status does not report {addr} present: {master_status}"
        );
    }
}

/// A counter of [`INSTANCE`] from status (`counters.<name>`), 0 when absent or unreadable.
pub fn counter(vipd: &VipdProc, name: &str) -> u64 {
    vipd.instance(INSTANCE)
        .and_then(|i| i["counters"][name].as_u64())
        .unwrap_or(0)
}

/// `counters.rejected.<error>` of [`INSTANCE`], 0 when absent.
pub fn rejected(vipd: &VipdProc, error: &str) -> u64 {
    vipd.instance(INSTANCE)
        .and_then(|i| i["counters"]["rejected"][error].as_u64())
        .unwrap_or(0)
}

/// Sends `signal` and waits up to `timeout` for exit; fails the test if it does not exit.
pub fn stop_with(
    vipd: &mut VipdProc,
    signal: libc::c_int,
    timeout: Duration,
) -> std::process::ExitStatus {
    vipd.signal(signal);
    vipd.wait_exit(timeout)
        .unwrap_or_else(|| panic!("{} did not exit within {timeout:?}", vipd.label()))
}

/// Time until `cond` holds, polled as fast as `vipd status` answers; None after `timeout`.
pub fn time_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    wait_until(timeout, &mut cond).then(|| start.elapsed())
}

/// Packets in a classic pcap file (what tcpdump -w writes), by walking its record headers.
pub fn pcap_packet_count(path: &std::path::Path) -> usize {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(data.len() >= 24, "{}: no pcap header", path.display());
    let magic = u32::from_le_bytes(data[0..4].try_into().unwrap());
    let little_endian = matches!(magic, 0xa1b2_c3d4 | 0xa1b2_3c4d);
    let mut offset = 24;
    let mut count = 0;
    while offset + 16 <= data.len() {
        let field: [u8; 4] = data[offset + 8..offset + 12].try_into().unwrap();
        let captured = if little_endian {
            u32::from_le_bytes(field)
        } else {
            u32::from_be_bytes(field)
        } as usize;
        offset += 16 + captured;
        if offset > data.len() {
            break; // a record cut short by the writer being stopped
        }
        count += 1;
    }
    count
}

/// A tcpdump writing to a pcap file in the lab dir, started by [`start_immediate_capture`].
pub struct ImmediateCapture {
    proc: Proc,
    path: std::path::PathBuf,
}

impl ImmediateCapture {
    /// Stops tcpdump (SIGINT, SIGKILL after 3 s) and returns the pcap file's path.
    pub fn stop(mut self) -> std::path::PathBuf {
        self.proc.signal(SIGINT);
        if self.proc.wait_exit(Duration::from_secs(3)).is_none() {
            self.proc.kill();
        }
        self.path
    }
}

/// Like `Node::start_capture`, but with `--immediate-mode`: without it libpcap hands packets
/// over in blocks up to a second late, and those still in the ring at SIGINT are never written,
/// so the last second of traffic (e.g. a priority-0 advert at shutdown) would go uncounted.
pub fn start_immediate_capture(
    lab: &Lab,
    node: &Node,
    dev: &str,
    filter: &str,
    max_packets: u32,
) -> ImmediateCapture {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = lab
        .dir()
        .join(format!("{}-{dev}-immediate-{id}.pcap", node.name()));
    let path_text = path.to_str().expect("lab paths are UTF-8").to_owned();
    let count = max_packets.to_string();
    let mut argv = vec![
        "tcpdump",
        "--immediate-mode",
        "-i",
        dev,
        "-n",
        "-U",
        "-w",
        &path_text,
        "-c",
        &count,
    ];
    argv.extend(filter.split_whitespace());
    let proc = node.spawn_labelled("tcpdump", &argv);
    wait_for(
        Duration::from_secs(5),
        &format!("{}: tcpdump listening on {dev}", node.name()),
        || proc.log().contains("listening on"),
    );
    ImmediateCapture { proc, path }
}

/// `count` VRRPv3 instances `VI_1`.. on eth0 (VRIDs 1.., advert_int 0.1), one /32 VIP each from
/// 198.51.100.0/24.
pub fn many_instances_yaml(count: u8, priority: u8) -> String {
    let mut yaml = String::from("global_defs: {vrrp_version: 3}\nvrrp_instance:\n");
    for i in 1..=count {
        yaml.push_str(&format!(
            "  VI_{i}: {{interface: eth0, virtual_router_id: {i}, priority: {priority}, \
             advert_int: 0.1, virtual_ipaddress: [\"198.51.100.{i}/32\"]}}\n"
        ));
    }
    yaml
}

/// Summed over every instance of one daemon, from its status.
#[derive(Clone, Copy, Debug)]
pub struct InstanceTotals {
    /// Instances in the state asked about.
    pub in_state: usize,
    pub become_master: u64,
    pub adverts_received: u64,
}

/// [`InstanceTotals`] with `state` counted; None while the daemon does not answer.
pub fn instance_totals(vipd: &VipdProc, state: &str) -> Option<InstanceTotals> {
    let status = vipd.try_status().ok()?;
    let instances = status["instances"].as_array()?;
    let sum = |key: &str| {
        instances
            .iter()
            .filter_map(|i| i["counters"][key].as_u64())
            .sum::<u64>()
    };
    Some(InstanceTotals {
        in_state: instances.iter().filter(|i| i["state"] == state).count(),
        become_master: sum("become_master"),
        adverts_received: sum("adverts_received"),
    })
}

/// Voluntary context switches of the `vipd-loop` thread of process `pid`: its wake-ups.
pub fn loop_wake_ups(pid: u32) -> u64 {
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).expect("the task list") {
        let dir = entry.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == "vipd-loop" {
            let status = std::fs::read_to_string(dir.join("status")).expect("status");
            return status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .map(|v| v.trim().parse().unwrap())
                .expect("voluntary_ctxt_switches");
        }
    }
    panic!("no vipd-loop thread in {pid}");
}
