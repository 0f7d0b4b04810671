//! Proof that the lab harness works: cabling, cleanup on panic, stale-namespace reaping, the ping
//! parser, a keepalived pair standing in for vipd (election, link cut, measured outage), and the
//! vipd helpers (config, status JSON, SIGTERM) on a lone router.

use crate::lab::{
    keepalived_v3_conf, list_netns, master_down_interval_ms, parse_ping_log, wait_for, wait_until,
    Direction, Lab, Pinger, NETNS_PREFIX, SIGTERM,
};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.100";

/// True when `pid` no longer runs (absent, or a zombie nobody reaped).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state letter follows the command name's closing parenthesis.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

#[test]
fn lab_selftest_nodes_ping_and_everything_goes_when_the_test_panics() {
    let created: Arc<Mutex<Vec<String>>> = Arc::default();
    let leaked_pid: Arc<Mutex<Option<u32>>> = Arc::default();
    let lab_dir: Arc<Mutex<Option<std::path::PathBuf>>> = Arc::default();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let lab = Lab::new("selftest_panic");
        let a = lab.add_node("a");
        let b = lab.add_node("b");
        *created.lock().unwrap() = lab.namespaces();
        *lab_dir.lock().unwrap() = Some(lab.dir().to_owned());
        a.add_addr("192.0.2.1/24");
        b.add_addr("192.0.2.2/24");
        a.add_addr("2001:db8::1/64");
        b.add_addr("2001:db8::2/64");
        assert!(a.ping_once("192.0.2.2"), "a cannot ping b over IPv4");
        assert!(b.ping_once("192.0.2.1"), "b cannot ping a over IPv4");
        assert!(a.ping_once("2001:db8::2"), "a cannot ping b over IPv6");
        let b_link_local = b.link_local("eth0").expect("b has a link-local address");
        assert!(
            a.ping_once(&format!("{b_link_local}%eth0")),
            "a cannot ping b's link-local"
        );
        assert_eq!(
            a.neigh_mac("192.0.2.2"),
            Some(b.mac("eth0")),
            "a's ARP entry for b"
        );
        assert!(a.has_addr("eth0", "192.0.2.1/24") && !a.has_addr("eth0", "192.0.2.1/25"));
        assert!(!a.has_addr("eth0", "192.0.2.2"));

        // The cable cut isolates a; plugging it back reconnects.
        a.link_down();
        assert!(
            !a.ping_once("192.0.2.2"),
            "a still reaches b with its cable cut"
        );
        a.link_up();
        wait_for(Duration::from_secs(5), "a reaching b after link_up", || {
            a.ping_once("192.0.2.2")
        });

        // A process the test forgets about must still be killed by the lab.
        let sleeper = a.spawn(&["sleep", "300"]);
        *leaked_pid.lock().unwrap() = Some(sleeper.pid());
        std::mem::forget(sleeper);
        panic!("deliberate panic inside the lab");
    }));
    assert!(result.is_err(), "the test body was meant to panic");
    // A failing lab keeps its files for a post-mortem; this failure was staged.
    if let Some(dir) = lab_dir.lock().unwrap().take() {
        let _ = std::fs::remove_dir_all(dir);
    }
    let namespaces = created.lock().unwrap().clone();
    assert_eq!(namespaces.len(), 3, "switch + 2 nodes: {namespaces:?}");
    let left: Vec<String> = list_netns()
        .into_iter()
        .filter(|ns| namespaces.contains(ns))
        .collect();
    assert!(left.is_empty(), "namespaces left after a panic: {left:?}");
    let pid = leaked_pid.lock().unwrap().expect("sleeper started");
    assert!(
        wait_until(Duration::from_secs(2), || process_gone(pid)),
        "the forgotten process {pid} still runs"
    );
}

#[test]
fn lab_selftest_namespaces_go_on_a_normal_drop() {
    let lab = Lab::new("selftest_drop");
    let _node = lab.add_node("only");
    let namespaces = lab.namespaces();
    assert!(
        namespaces.iter().all(|ns| list_netns().contains(ns)),
        "namespaces exist while the lab lives"
    );
    drop(lab);
    let left: Vec<String> = list_netns()
        .into_iter()
        .filter(|ns| namespaces.contains(ns))
        .collect();
    assert!(left.is_empty(), "namespaces left after drop: {left:?}");
}

/// A namespace made by hand in a test, deleted however the test ends.
struct NetnsGuard(String);

impl NetnsGuard {
    fn add(name: String) -> NetnsGuard {
        let out = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ip netns add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        NetnsGuard(name)
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .output();
    }
}

#[test]
fn lab_selftest_stale_namespaces_of_dead_runs_are_reaped() {
    // A pid that runs nothing stands for a test run that was SIGKILLed. Our own pid in the rest of
    // the name keeps two concurrent runs of this test from picking the same name.
    let dead_pid = (3_000_000u32..3_100_000)
        .find(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        .expect("a free pid");
    let me = std::process::id();
    let stale = NetnsGuard::add(format!("{NETNS_PREFIX}{dead_pid}-stale{me}"));
    let alive = NetnsGuard::add(format!("{NETNS_PREFIX}{me}-alive"));
    let lab = Lab::new("selftest_reap");
    let netns = list_netns();
    assert!(
        !netns.contains(&stale.0),
        "stale namespace {} survived Lab::new",
        stale.0
    );
    assert!(
        netns.contains(&alive.0),
        "Lab::new reaped {} of a live process",
        alive.0
    );
    drop(lab);
}

#[test]
fn lab_selftest_ping_log_parser_finds_the_longest_gap() {
    let log = "PING 192.0.2.100 (192.0.2.100) 56(84) bytes of data.\n\
        [1700000000.000000] 64 bytes from 192.0.2.100: icmp_seq=1 ttl=64 time=0.05 ms\n\
        [1700000000.002000] 64 bytes from 192.0.2.100: icmp_seq=2 ttl=64 time=0.05 ms\n\
        [1700000000.364000] 64 bytes from 192.0.2.100: icmp_seq=183 ttl=64 time=0.05 ms\n\
        [1700000000.366000] 64 bytes from 192.0.2.100: icmp_seq=184 ttl=64 time=0.05 ms\n\
        \n--- 192.0.2.100 ping statistics ---\n\
        190 packets transmitted, 4 received, 97.8947% packet loss, time 380ms\n";
    let report = parse_ping_log(log);
    assert_eq!(report.received, 4);
    assert_eq!(report.transmitted, 190);
    assert!((report.longest_gap_ms - 362.0).abs() < 0.01, "{report:?}");
    assert!(
        (report.longest_gap_after - 1_700_000_000.002).abs() < 1e-6,
        "{report:?}"
    );
    assert!((master_down_interval_ms(100.0, 100) - 360.9375).abs() < 1e-9);
}

/// Which of the routers hold the VIP right now.
fn vip_holders(routers: &[&crate::lab::Node]) -> Vec<String> {
    routers
        .iter()
        .filter(|r| r.has_addr("eth0", VIP))
        .map(|r| r.name().to_owned())
        .collect()
}

#[test]
fn lab_selftest_keepalived_pair_elects_and_fails_over_on_link_cut() {
    let lab = Lab::new("selftest_keepalived");
    let gw_a = lab.add_node("gw-a");
    let gw_b = lab.add_node("gw-b");
    let client = lab.add_node("client");
    gw_a.add_addr("192.0.2.1/24");
    gw_b.add_addr("192.0.2.2/24");
    client.add_addr("192.0.2.10/24");
    let _ka = gw_a.start_keepalived(&keepalived_v3_conf(
        "gw-a",
        51,
        150,
        "0.1",
        &["192.0.2.100/24"],
    ));
    let _kb = gw_b.start_keepalived(&keepalived_v3_conf(
        "gw-b",
        51,
        100,
        "0.1",
        &["192.0.2.100/24"],
    ));
    let routers = [&gw_a, &gw_b];
    let capture = client.start_capture("eth0", "vrrp", 20);

    wait_for(
        Duration::from_secs(10),
        "gw-a (priority 150) alone holding the VIP",
        || vip_holders(&routers) == ["gw-a"],
    );
    // Converged means it stays so: sample for a second, never two holders.
    let settle_until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < settle_until {
        assert_eq!(
            vip_holders(&routers),
            ["gw-a"],
            "VIP holders after convergence"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let pcap = capture.stop();
    let decoded = client.exec_stdout(&["tcpdump", "-n", "-r", pcap.to_str().unwrap()]);
    assert!(
        decoded.contains("192.0.2.1 > 224.0.0.18: VRRPv3, Advertisement, vrid 51, prio 150"),
        "the client saw no advert of gw-a:\n{decoded}"
    );

    let pinger = Pinger::start(
        &client,
        VIP,
        Duration::from_millis(2),
        Duration::from_secs(10),
    );
    assert!(
        pinger.wait_first_reply(Duration::from_secs(3)),
        "client gets no reply from the VIP"
    );
    std::thread::sleep(Duration::from_millis(500));
    let cut_at = Instant::now();
    gw_a.link_down();
    wait_for(Duration::from_secs(5), "gw-b taking the VIP over", || {
        gw_b.has_addr("eth0", VIP)
    });
    let takeover = cut_at.elapsed();
    wait_for(
        Duration::from_secs(3),
        "the client's pings to resume",
        || client.ping_once(VIP),
    );
    std::thread::sleep(Duration::from_millis(300));
    let report = pinger.stop();
    let expected = master_down_interval_ms(100.0, 100);
    println!(
        "keepalived link-cut failover: outage (longest reply gap) {:.1} ms, VIP on gw-b after {:.1} ms, \
         Master_Down_Interval {expected:.1} ms; {} of {} echo requests answered",
        report.longest_gap_ms,
        takeover.as_secs_f64() * 1000.0,
        report.received,
        report.transmitted
    );
    assert!(
        report.received > 100,
        "too few replies to measure: {report:?}"
    );
    assert!(
        report.longest_gap_ms > 100.0 && report.longest_gap_ms < 3000.0,
        "an outage of {:.1} ms is not a link-cut failover",
        report.longest_gap_ms
    );

    // The cable comes back: keepalived preempts by default, so gw-a takes the VIP back.
    gw_a.link_up();
    wait_for(
        Duration::from_secs(10),
        "gw-a alone holding the VIP again",
        || vip_holders(&routers) == ["gw-a"],
    );

    // The loss helper: gw-b deaf to every advert takes the VIP too; hearing again, it yields.
    gw_b.set_vrrp_loss(100, Direction::Ingress);
    wait_for(Duration::from_secs(5), "a deaf gw-b taking the VIP", || {
        gw_b.has_addr("eth0", VIP)
    });
    gw_b.clear_vrrp_loss();
    wait_for(
        Duration::from_secs(5),
        "gw-b yielding once it hears gw-a",
        || vip_holders(&routers) == ["gw-a"],
    );
}

#[test]
fn lab_selftest_vipd_helpers_drive_a_lone_router() {
    let lab = Lab::new("selftest_vipd");
    let gw = lab.add_node("gw");
    gw.add_addr("192.0.2.1/24");
    let mut vipd = gw.start_vipd(
        "global_defs:\n  vrrp_version: 3\nvrrp_instance:\n  VI_1:\n    interface: eth0\n    \
         virtual_router_id: 51\n    priority: 150\n    advert_int: 0.1\n    \
         virtual_ipaddress: [\"192.0.2.100/24\"]\n",
    );
    wait_for(
        Duration::from_secs(10),
        "the lone vipd becoming MASTER",
        || vipd.state_of("VI_1").as_deref() == Some("MASTER"),
    );
    let instance = vipd.instance("VI_1").expect("VI_1 in vipd status");
    assert_eq!(instance["vrid"], 51, "{instance}");
    assert_eq!(
        instance["vips"][0]["address"], "192.0.2.100/24",
        "{instance}"
    );
    assert_eq!(instance["vips"][0]["present"], true, "{instance}");
    assert!(gw.has_addr("eth0", "192.0.2.100/24"));
    assert!(
        vipd.state_of("VI_2").is_none(),
        "an instance that does not exist"
    );

    vipd.signal(SIGTERM);
    let status = vipd
        .wait_exit(Duration::from_secs(5))
        .expect("vipd exits on SIGTERM");
    assert!(status.success(), "vipd exit status after SIGTERM: {status}");
    assert!(!gw.has_addr("eth0", VIP), "VIP left behind after SIGTERM");
    assert!(vipd.try_status().is_err(), "status answers after exit");
}
