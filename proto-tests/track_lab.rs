//! Health tracking (issue 10) in the namespace lab: a pair of routers, each checking a real
//! service in its own namespace (python's http.server, dnsmasq, an address to ping), with
//! vipd's script check and its built-in `tcp_connect`, `http_get`, `icmp_echo` and `dns_query`;
//! a vipd/keepalived pair tracking the same script; a hung script killed at its timeout;
//! `track_process` and `track_file`.
//!
//! Every VIP move is timed from the trigger (service killed, file written) to the VIP on the
//! other router's eth0, polled every millisecond from inside its namespace, and held to the
//! bound VRRP allows: the failing router notices within fall × interval (plus the timeout for a
//! check that fails by not answering), then advertises its lower priority, which the backup
//! discards (RFC 9568 §6.4.2: lower priority with preempt), so the backup takes over one
//! Master_Down_Interval after the last advert it accepted, plus [`TOLERANCE`].
//!
//! The `keepalived` tests are the reference (keepalived 2.2.7 with the same scenario and
//! equivalent scripts) and pass today; the vipd ones need issue 10's integration. keepalived's
//! `vrrp_track_process` cannot be the reference for `track_process`: in a network namespace
//! other than the initial one it cannot listen to process events (the proc connector exists only
//! there; it logs "Failed to set/clear process event listen - errno 111") and never sees the
//! process, so that test runs vipd only.

use crate::interop_util::{assert_sole_master, Daemon, Router};
use crate::lab::*;
use crate::track_fixtures::*;
use crate::track_support::*;
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.100/24";
/// The addresses of gw-a's and gw-b's own services (on their `lo`).
const SERVICE_ADDRS: [&str; 2] = ["192.0.2.11", "192.0.2.12"];
const HIGH: u8 = 150;
const LOW: u8 = 100;
const WEIGHT: i32 = -60;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Which kind of check a scenario runs (what vipd configures; keepalived gets a script that
/// does the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CheckKind {
    /// A script: curl against the local http.server.
    Script,
    TcpConnect,
    HttpGet,
    IcmpEcho,
    DnsQuery,
}

impl CheckKind {
    fn service(self) -> ServiceKind {
        match self {
            CheckKind::Script | CheckKind::TcpConnect | CheckKind::HttpGet => ServiceKind::Http,
            CheckKind::IcmpEcho => ServiceKind::IcmpTarget,
            CheckKind::DnsQuery => ServiceKind::Dns,
        }
    }

    /// The tracker kind vipd's status reports for it.
    fn status_kind(self) -> &'static str {
        match self {
            CheckKind::Script => "script",
            CheckKind::TcpConnect => "tcp_connect",
            CheckKind::HttpGet => "http_get",
            CheckKind::IcmpEcho => "icmp_echo",
            CheckKind::DnsQuery => "dns_query",
        }
    }

    /// Whether a dead service makes this check wait for its timeout (no answer at all) rather
    /// than fail at once (connection refused).
    fn fails_by_timeout(self) -> bool {
        matches!(self, CheckKind::IcmpEcho | CheckKind::DnsQuery)
    }
}

/// The check `router` runs against its own `service`, every `interval` seconds.
fn check_for(
    kind: CheckKind,
    daemon: Impl,
    lab: &Lab,
    node: &Node,
    service: &Service,
    interval: f64,
) -> Check {
    let name = format!("chk_{}", node.name().replace('-', "_"));
    let addr = service.addr.clone();
    let probe = match (kind, daemon) {
        (CheckKind::Script, _) => Probe::Script(write_script(
            lab,
            &format!("{}-curl.sh", node.name()),
            &format!("exec curl -sf -m 1 -o /dev/null {}", service.health_url()),
        )),
        (CheckKind::TcpConnect, Impl::Vipd) => Probe::TcpConnect(format!("{addr}:80")),
        (CheckKind::TcpConnect, Impl::Keepalived) => Probe::Script(write_script(
            lab,
            &format!("{}-tcp.sh", node.name()),
            &format!("exec timeout 1 bash -c '</dev/tcp/{addr}/80'"),
        )),
        (CheckKind::HttpGet, Impl::Vipd) => Probe::HttpGet {
            url: service.health_url(),
            status: 200,
            body_contains: "ok".into(),
        },
        (CheckKind::IcmpEcho, Impl::Vipd) => Probe::IcmpEcho(addr),
        (CheckKind::DnsQuery, Impl::Vipd) => Probe::DnsQuery {
            server: format!("{addr}:53"),
            name: "vipd.test.".into(),
            rtype: "A".into(),
        },
        (_, Impl::Keepalived) => Probe::Script(script_check_for(lab, node, service)),
    };
    let mut check = Check::new(&name, probe, interval);
    if kind.fails_by_timeout() {
        check.timeout = Some(interval);
    }
    check
}

/// One service-failover scenario: both routers check their own service with `kind`; gw-a
/// (priority 150, weight -60) is master until its service dies, then gw-b (100) is; when the
/// service is back, gw-a preempts.
struct ServiceScenario {
    label: &'static str,
    vrid: u8,
    kind: CheckKind,
    daemon: Impl,
    fall: u32,
    rise: u32,
    /// The script's own weight, overridden in each instance's `track_script` (gw-a with the
    /// map form, gw-b with keepalived's inline form) by [`WEIGHT`]; None: no override.
    overridden_weight: Option<i32>,
    /// http_get: also turn the body to "maintenance" while the server stays up.
    body_cycle: bool,
}

fn run_service_scenario(s: &ServiceScenario) {
    let lab = Lab::new(s.label);
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    a.add_addr("192.0.2.1/24");
    b.add_addr("192.0.2.2/24");
    let mut service_a = Service::start(&lab, &a, s.kind.service(), SERVICE_ADDRS[0]);
    let service_b = Service::start(&lab, &b, s.kind.service(), SERVICE_ADDRS[1]);
    // keepalived 2.2.7 takes whole seconds only.
    let interval = if s.daemon == Impl::Keepalived {
        1.0
    } else {
        0.5
    };
    let spec = |node: &Node, service: &Service, priority: u8, inline: bool| {
        let mut check = check_for(s.kind, s.daemon, &lab, node, service, interval);
        check.fall = s.fall;
        check.rise = s.rise;
        let mut spec = RouterSpec::new(s.vrid, priority, VIP);
        if let Some(own) = s.overridden_weight {
            check.weight = own;
            spec.script_refs.push(if inline {
                ScriptRef::Inline(check.name.clone(), WEIGHT)
            } else {
                ScriptRef::Map(check.name.clone(), WEIGHT)
            });
        } else {
            check.weight = WEIGHT;
        }
        spec.scripts.push(check);
        spec
    };
    let spec_a = spec(&a, &service_a, HIGH, false);
    let spec_b = spec(&b, &service_b, LOW, true);
    let check = spec_a.scripts[0].clone();
    let routers = [
        start_router(&a, s.daemon, &spec_a),
        start_router(&b, s.daemon, &spec_b),
    ];
    let both = [&routers[0], &routers[1]];
    wait_elected(
        &routers,
        0,
        VIP,
        &format!("{}: election with both services up", s.label),
    );
    wait_effective_priority(&routers[0], 150, secs(2.0), s.label);
    for (router, spec) in routers.iter().zip([&spec_a, &spec_b]) {
        let name = &spec.scripts[0].name;
        assert_tracker_runs(router, name, s.kind.status_kind(), s.label);
        wait_tracker_state(router, name, "passing", secs(2.0), s.label);
    }

    let timeout = if s.kind.fails_by_timeout() {
        interval
    } else {
        0.0
    };
    let notice = |runs: u32| secs(f64::from(runs) * interval + timeout);
    let took = time_vip_arrival(
        &b,
        VIP,
        Duration::from_secs(10),
        &format!("{}: gw-a's service killed", s.label),
        || service_a.down(),
    );
    assert_within(
        &format!("{}: service dead -> VIP on gw-b", s.label),
        took,
        secs(f64::from(s.fall - 1) * interval),
        notice(s.fall) + spec_b.master_down() + TOLERANCE,
    );
    assert_sole_master(
        &both,
        1,
        VIP,
        &format!("{}: after gw-a's service died", s.label),
    );
    wait_effective_priority(&routers[0], 90, secs(1.0), s.label);
    wait_tracker_state(&routers[0], &check.name, "failing", secs(1.0), s.label);
    assert_eq!(
        effective_priority(&routers[1]),
        Some(100),
        "{}: gw-b",
        s.label
    );

    let watch = AddrWatch::start(&a, "eth0", VIP, true, Duration::from_secs(10));
    let answering = service_a.up();
    let back = watch
        .wait()
        .unwrap_or_else(|e| panic!("{}: gw-a's service back: {e}", s.label));
    // Timed from the first answer the test saw; the check may have seen it a little earlier.
    assert_within(
        &format!("{}: service answering -> VIP back on gw-a", s.label),
        back.saturating_duration_since(answering),
        secs(f64::from(s.rise - 1) * interval).saturating_sub(Duration::from_millis(100)),
        notice(s.rise) + spec_a.master_down() + TOLERANCE,
    );
    assert_sole_master(
        &both,
        0,
        VIP,
        &format!("{}: after the service came back", s.label),
    );
    wait_effective_priority(&routers[0], 150, secs(1.0), s.label);
    wait_tracker_state(&routers[0], &check.name, "passing", secs(1.0), s.label);

    if s.body_cycle {
        // The server stays up and answers 200; only the body lacks "ok".
        let took = time_vip_arrival(
            &b,
            VIP,
            Duration::from_secs(10),
            &format!("{}: health body 'maintenance'", s.label),
            || service_a.set_health_body("maintenance\n"),
        );
        assert_within(
            &format!("{}: body without 'ok' -> VIP on gw-b", s.label),
            took,
            Duration::ZERO,
            notice(check.fall) + spec_b.master_down() + TOLERANCE,
        );
        // gw-a lets the VIP go only when it hears gw-b's first advert: wait for that.
        assert_sole_master(&both, 1, VIP, &format!("{}: body without 'ok'", s.label));
        let took = time_vip_arrival(
            &a,
            VIP,
            Duration::from_secs(10),
            &format!("{}: health body 'ok' again", s.label),
            || service_a.set_health_body("ok\n"),
        );
        assert_within(
            &format!("{}: body 'ok' -> VIP back on gw-a", s.label),
            took,
            Duration::ZERO,
            notice(check.rise) + spec_a.master_down() + TOLERANCE,
        );
        assert_sole_master(&both, 0, VIP, &format!("{}: after the body cycle", s.label));
    }
}

#[test]
fn track_script_vipd_pair_follows_local_service() {
    run_service_scenario(&ServiceScenario {
        label: "track_script_vipd",
        vrid: 81,
        kind: CheckKind::Script,
        daemon: Impl::Vipd,
        fall: 2,
        rise: 2,
        overridden_weight: Some(-10),
        body_cycle: false,
    });
}

#[test]
fn track_tcp_connect_vipd_pair_follows_local_service() {
    run_service_scenario(&ServiceScenario {
        label: "track_tcp_connect_vipd",
        vrid: 82,
        kind: CheckKind::TcpConnect,
        daemon: Impl::Vipd,
        fall: 1,
        rise: 1,
        overridden_weight: None,
        body_cycle: false,
    });
}

#[test]
fn track_http_get_vipd_pair_follows_local_service_and_body() {
    run_service_scenario(&ServiceScenario {
        label: "track_http_get_vipd",
        vrid: 83,
        kind: CheckKind::HttpGet,
        daemon: Impl::Vipd,
        fall: 1,
        rise: 1,
        overridden_weight: None,
        body_cycle: true,
    });
}

#[test]
fn track_icmp_echo_vipd_pair_follows_local_address() {
    run_service_scenario(&ServiceScenario {
        label: "track_icmp_echo_vipd",
        vrid: 84,
        kind: CheckKind::IcmpEcho,
        daemon: Impl::Vipd,
        fall: 1,
        rise: 1,
        overridden_weight: None,
        body_cycle: false,
    });
}

#[test]
fn track_dns_query_vipd_pair_follows_local_dnsmasq() {
    run_service_scenario(&ServiceScenario {
        label: "track_dns_query_vipd",
        vrid: 85,
        kind: CheckKind::DnsQuery,
        daemon: Impl::Vipd,
        fall: 1,
        rise: 1,
        overridden_weight: None,
        body_cycle: false,
    });
}

/// The keepalived reference of the service scenarios, with scripts doing what vipd's built-in
/// checks do (curl, bash's /dev/tcp, ping, a small DNS client). Ignored by default: it tests
/// keepalived and the lab, not vipd (`cargo test --test proto track_reference -- --ignored`).
fn reference(label: &'static str, kind: CheckKind, fall: u32, body_cycle: bool) {
    run_service_scenario(&ServiceScenario {
        label,
        vrid: 86,
        kind,
        daemon: Impl::Keepalived,
        fall,
        rise: fall,
        overridden_weight: (kind == CheckKind::Script).then_some(-10),
        body_cycle,
    });
}

#[test]
#[ignore = "keepalived reference; run with --ignored"]
fn track_reference_keepalived_script_pair() {
    reference("track_reference_script", CheckKind::Script, 2, false);
}

#[test]
#[ignore = "keepalived reference; run with --ignored"]
fn track_reference_keepalived_tcp_pair() {
    reference("track_reference_tcp", CheckKind::TcpConnect, 1, false);
}

#[test]
#[ignore = "keepalived reference; run with --ignored"]
fn track_reference_keepalived_http_pair() {
    reference("track_reference_http", CheckKind::HttpGet, 1, true);
}

#[test]
#[ignore = "keepalived reference; run with --ignored"]
fn track_reference_keepalived_icmp_pair() {
    reference("track_reference_icmp", CheckKind::IcmpEcho, 1, false);
}

#[test]
#[ignore = "keepalived reference; run with --ignored"]
fn track_reference_keepalived_dns_pair() {
    reference("track_reference_dns", CheckKind::DnsQuery, 1, false);
}

// ------------------------------------------------------------------ mixed pair

/// vipd and keepalived (or two keepalived, the reference) tracking the same script on their
/// own http.server, with weights of both signs: gw-a priority 100 and weight +60 (160 while its
/// service answers), gw-b priority 150 and weight -60 (90 while its service is dead). Expected,
/// as two keepalived do it: gw-a master; gw-a's service dies (100 < 150): gw-b; it comes back
/// (160 > 150): gw-a; gw-b's service dies (90): gw-a stays.
fn run_mixed(label: &str, daemons: [Impl; 2]) {
    let lab = Lab::new(label);
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    a.add_addr("192.0.2.1/24");
    b.add_addr("192.0.2.2/24");
    let mut service_a = Service::start(&lab, &a, ServiceKind::Http, SERVICE_ADDRS[0]);
    let mut service_b = Service::start(&lab, &b, ServiceKind::Http, SERVICE_ADDRS[1]);
    let interval = 1.0;
    let spec = |node: &Node, service: &Service, priority: u8, weight: i32| {
        let mut check = check_for(
            CheckKind::Script,
            Impl::Keepalived,
            &lab,
            node,
            service,
            interval,
        );
        // The same name on both, as a pair sharing one config template has it.
        check.name = "chk_web".into();
        check.weight = weight;
        let mut spec = RouterSpec::new(87, priority, VIP);
        spec.scripts.push(check);
        spec
    };
    let spec_a = spec(&a, &service_a, 100, 60);
    let spec_b = spec(&b, &service_b, 150, -60);
    let routers = [
        start_router(&a, daemons[0], &spec_a),
        start_router(&b, daemons[1], &spec_b),
    ];
    let both = [&routers[0], &routers[1]];
    let step = |what: &str| format!("{label}: {what}");
    wait_elected(
        &routers,
        0,
        VIP,
        &step("election, both services up (160 vs 150)"),
    );
    wait_effective_priority(&routers[0], 160, secs(2.0), &step("gw-a"));
    wait_effective_priority(&routers[1], 150, secs(2.0), &step("gw-b"));
    for router in &routers {
        assert_tracker_runs(router, "chk_web", "script", label);
    }

    let took = time_vip_arrival(
        &b,
        VIP,
        Duration::from_secs(10),
        &step("gw-a's service killed"),
        || service_a.down(),
    );
    assert_within(
        &step("gw-a's service dead (100 vs 150) -> VIP on gw-b"),
        took,
        Duration::ZERO,
        secs(interval) + spec_b.master_down() + TOLERANCE,
    );
    assert_sole_master(&both, 1, VIP, &step("after gw-a's service died"));
    wait_effective_priority(&routers[0], 100, secs(1.0), &step("gw-a"));

    let watch = AddrWatch::start(&a, "eth0", VIP, true, Duration::from_secs(10));
    let answering = service_a.up();
    let back = watch
        .wait()
        .unwrap_or_else(|e| panic!("{}: {e}", step("gw-a's service back")));
    assert_within(
        &step("gw-a's service back (160 vs 150) -> VIP on gw-a"),
        back.saturating_duration_since(answering),
        Duration::ZERO,
        secs(interval) + RouterSpec::new(87, 160, VIP).master_down() + TOLERANCE,
    );
    assert_sole_master(&both, 0, VIP, &step("after gw-a's service came back"));

    service_b.down();
    wait_effective_priority(&routers[1], 90, secs(interval) + secs(1.0), &step("gw-b"));
    let stayed = wait_stable(Duration::from_secs(3), Duration::from_millis(1500), || {
        routers[0].holds_vip(VIP) && !routers[1].holds_vip(VIP)
    });
    assert!(
        stayed,
        "{}",
        step("gw-a did not stay the sole master while gw-b is at 90")
    );
    assert_sole_master(&both, 0, VIP, &step("gw-b's service dead (160 vs 90)"));
}

#[test]
fn track_mixed_vipd_a_keepalived_b_elect_as_keepalived_does() {
    run_mixed("track_mixed_vipd_a", [Impl::Vipd, Impl::Keepalived]);
}

#[test]
fn track_mixed_keepalived_a_vipd_b_elect_as_keepalived_does() {
    run_mixed("track_mixed_vipd_b", [Impl::Keepalived, Impl::Vipd]);
}

/// The reference the mixed pairs are held to.
#[test]
fn track_mixed_keepalived_pair_reference() {
    run_mixed(
        "track_mixed_keepalived",
        [Impl::Keepalived, Impl::Keepalived],
    );
}

// ------------------------------------------------------------------ hung script

/// gw-a tracks a script that hangs (a shell running a copy of sleep named after the lab, so
/// /proc tells its processes from every other test's) with interval 1 and timeout 1. Each run
/// must be killed at its timeout with everything it started, count as a failure (gw-a at 90,
/// gw-b master), and nothing may outlive the daemon.
fn run_hung_script(label: &str, daemon: Impl) {
    let lab = Lab::new(label);
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    a.add_addr("192.0.2.1/24");
    b.add_addr("192.0.2.2/24");
    let needle = unique_comm(&lab, "vhung");
    let sleeper = sleep_copy(&lab, &needle);
    let script = write_script(
        &lab,
        &format!("{needle}.sh"),
        &format!("{} 60", sleeper.display()),
    );
    let timeout = 1.0;
    let mut check = Check::new("chk_hung", Probe::Script(script), 1.0);
    check.timeout = Some(timeout);
    let mut spec_a = RouterSpec::new(88, HIGH, VIP);
    spec_a.scripts.push(check);
    let mut routers = [
        start_router(&a, daemon, &spec_a),
        start_router(&b, daemon, &RouterSpec::new(88, LOW, VIP)),
    ];
    wait_elected(
        &routers,
        1,
        VIP,
        &format!("{label}: gw-b master while gw-a's script hangs"),
    );
    wait_effective_priority(&routers[0], 90, secs(1.0), label);
    wait_tracker_state(&routers[0], "chk_hung", "failing", secs(1.0), label);
    if let Some(tracker) = vipd_tracker(&routers[0], "chk_hung") {
        let run = &tracker["last_run"];
        let took = run["duration_ms"].as_f64().unwrap_or(0.0);
        assert!(
            run["result"] == "timed out" && (900.0..1500.0).contains(&took),
            "{label}: the hung run should end at its 1 s timeout: {tracker}"
        );
    }

    // Runs keep coming, each gone by its timeout (plus the time to kill and reap it).
    let limit = secs(timeout) + Duration::from_millis(500);
    let mut seen = std::collections::BTreeSet::new();
    let sampling = Instant::now();
    while sampling.elapsed() < Duration::from_secs(3) {
        for p in live_processes_matching(&needle) {
            assert!(
                p.age <= limit,
                "{label}: pid {} ({}) runs for {:?}, past the 1 s timeout",
                p.pid,
                p.cmdline,
                p.age
            );
            seen.insert(p.pid);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        seen.len() >= 2,
        "{label}: saw {} hung-script processes in 3 s; expected a run each second: {seen:?}",
        seen.len()
    );
    println!(
        "{label}: {} script processes seen in 3 s, none older than {limit:?}",
        seen.len()
    );

    let proc = daemon_proc(&mut routers[0]);
    proc.signal(SIGTERM);
    assert!(
        proc.wait_exit(Duration::from_secs(5)).is_some(),
        "{label}: gw-a did not exit on SIGTERM"
    );
    let gone = wait_until(Duration::from_secs(2), || {
        live_processes_matching(&needle).is_empty()
    });
    assert!(
        gone,
        "{label}: processes of the hung script outlived the daemon: {:?}",
        live_processes_matching(&needle)
    );
}

/// The daemon process of `router` (vipd, or keepalived's parent).
fn daemon_proc<'r>(router: &'r mut Router) -> &'r mut Proc {
    match &mut router.daemon {
        Daemon::Vipd(vipd) => &mut vipd.proc,
        Daemon::Keepalived(proc) => proc,
        Daemon::Frr(frr) => &mut frr.vrrpd,
    }
}

#[test]
fn track_hung_script_vipd_killed_at_timeout() {
    run_hung_script("track_hung_vipd", Impl::Vipd);
}

#[test]
fn track_hung_script_keepalived_reference() {
    run_hung_script("track_hung_keepalived", Impl::Keepalived);
}

// ------------------------------------------------------------------ track_process

/// gw-a tracks a process (a copy of sleep with a name of this lab's as its comm) with weight
/// -60; killing it moves the VIP within gw-b's Master_Down_Interval + 50 ms.
#[test]
fn track_process_vipd_kill_moves_vip() {
    let label = "track_process_vipd";
    let lab = Lab::new(label);
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    a.add_addr("192.0.2.1/24");
    b.add_addr("192.0.2.2/24");
    let comm = unique_comm(&lab, "vtp");
    sleep_copy(&lab, &comm);
    let path = format!("PATH={}:/usr/bin:/bin", lab.dir().display());
    // Through env's PATH search, so argv[0] is the bare name as well as the comm.
    let start_tracked = || a.spawn_labelled("tracked", &["env", &path, &comm, "1000"]);
    let mut tracked = start_tracked();
    wait_for(
        Duration::from_secs(2),
        "the tracked process running",
        || !live_processes_matching(&comm).is_empty(),
    );
    let mut spec_a = RouterSpec::new(89, HIGH, VIP);
    spec_a.processes.push(TrackProcess {
        name: "tp_sleep".into(),
        process: comm.clone(),
        weight: WEIGHT,
    });
    let spec_b = RouterSpec::new(89, LOW, VIP);
    let routers = [
        start_router(&a, Impl::Vipd, &spec_a),
        start_router(&b, Impl::Vipd, &spec_b),
    ];
    let both = [&routers[0], &routers[1]];
    wait_elected(
        &routers,
        0,
        VIP,
        &format!("{label}: election with the process running"),
    );
    wait_effective_priority(&routers[0], 150, secs(1.0), label);
    assert_tracker_runs(&routers[0], "tp_sleep", "process", label);
    wait_tracker_state(&routers[0], "tp_sleep", "passing", secs(1.0), label);
    // A lab node is not the initial network namespace: no process connector, and status says
    // how vipd watches instead.
    let tracker = vipd_tracker(&routers[0], "tp_sleep").expect("the tracker");
    assert!(
        tracker["fallback"]
            .as_str()
            .is_some_and(|how| how.contains("pidfd")),
        "{label}: the /proc fallback not shown: {tracker}"
    );

    let took = time_vip_arrival(&b, VIP, Duration::from_secs(5), label, || tracked.kill());
    assert_within(
        &format!("{label}: process killed -> VIP on gw-b"),
        took,
        Duration::ZERO,
        spec_b.master_down() + Duration::from_millis(50),
    );
    assert_sole_master(&both, 1, VIP, &format!("{label}: after the kill"));
    wait_effective_priority(&routers[0], 90, secs(1.0), label);

    let took = time_vip_arrival(&a, VIP, Duration::from_secs(5), label, || {
        tracked = start_tracked();
    });
    assert_within(
        &format!("{label}: process started again -> VIP on gw-a"),
        took,
        Duration::ZERO,
        spec_a.master_down() + Duration::from_secs(1),
    );
    assert_sole_master(&both, 0, VIP, &format!("{label}: after the restart"));
    wait_effective_priority(&routers[0], 150, secs(1.0), label);
}

// ------------------------------------------------------------------ track_file

/// gw-a (150) tracks a file with weight -1: the number in it, times -1, is added to its
/// priority. 30 → 120 (still master over 100); 60 → 90 (gw-b master); 0 → 150 (back).
fn run_track_file(label: &str, daemon: Impl) {
    let lab = Lab::new(label);
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    a.add_addr("192.0.2.1/24");
    b.add_addr("192.0.2.2/24");
    let file = lab.dir().join("gw-a-maint");
    std::fs::write(&file, "0\n").expect("write track file");
    let mut spec_a = RouterSpec::new(90, HIGH, VIP);
    spec_a.files.push(TrackFile {
        name: "tf_maint".into(),
        file: file.clone(),
        weight: -1,
    });
    let spec_b = RouterSpec::new(90, LOW, VIP);
    let routers = [
        start_router(&a, daemon, &spec_a),
        start_router(&b, daemon, &spec_b),
    ];
    let both = [&routers[0], &routers[1]];
    wait_elected(
        &routers,
        0,
        VIP,
        &format!("{label}: election with 0 in the file"),
    );
    wait_effective_priority(&routers[0], 150, secs(1.0), label);
    let write =
        |value: &str| std::fs::write(&file, format!("{value}\n")).expect("write track file");

    write("30");
    wait_effective_priority(
        &routers[0],
        120,
        secs(2.0),
        &format!("{label}: 30 in the file"),
    );
    assert_tracker_runs(&routers[0], "tf_maint", "file", label);
    wait_tracker_state(&routers[0], "tf_maint", "30", secs(1.0), label);
    assert_sole_master(&both, 0, VIP, &format!("{label}: gw-a at 120 over 100"));

    let took = time_vip_arrival(&b, VIP, Duration::from_secs(5), label, || write("60"));
    assert_within(
        &format!("{label}: 60 in the file -> VIP on gw-b"),
        took,
        Duration::ZERO,
        spec_b.master_down() + Duration::from_secs(1),
    );
    wait_effective_priority(
        &routers[0],
        90,
        secs(1.0),
        &format!("{label}: 60 in the file"),
    );
    assert_sole_master(&both, 1, VIP, &format!("{label}: gw-a at 90 under 100"));

    let took = time_vip_arrival(&a, VIP, Duration::from_secs(5), label, || write("0"));
    assert_within(
        &format!("{label}: 0 in the file -> VIP back on gw-a"),
        took,
        Duration::ZERO,
        spec_a.master_down() + Duration::from_secs(1),
    );
    wait_effective_priority(
        &routers[0],
        150,
        secs(1.0),
        &format!("{label}: 0 in the file"),
    );
    assert_sole_master(&both, 0, VIP, &format!("{label}: back at 150"));
}

#[test]
fn track_file_vipd_value_sets_effective_priority() {
    run_track_file("track_file_vipd", Impl::Vipd);
}

#[test]
fn track_file_keepalived_reference() {
    run_track_file("track_file_keepalived", Impl::Keepalived);
}
