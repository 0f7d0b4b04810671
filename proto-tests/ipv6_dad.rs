//! IPv6 at boot with duplicate address detection on (the kernel's default; the rest of the lab
//! turns it off): both routers start while eth0's link-local is still tentative, one instance
//! plain and one with `use_vmac`, whose VMAC gets a link-local of its own that is tentative for
//! about a second, longer than the 0.36 s Master_Down_Interval. A router must not send from a
//! tentative address (the kernel refuses: keepalived 2.2.7 logs "send advert error 22" and both
//! stay master), so each instance waits in FAULT for DAD to finish: no send error, and no lasting
//! dual master. DAD ends at a random moment on each router (the kernel delays its first probe up
//! to a second), so the two enter BACKUP apart like two routers started apart: the lower priority
//! one may win the first election by Master_Down_Interval and is preempted at its first advert
//! (RFC 9568 §6.4.2), a two-holder episode shorter than one advert interval plus a little.

use crate::lab::*;
use std::time::{Duration, Instant};

const PLAIN_VIP: &str = "2001:db8::100";
const VMAC_VIP: &str = "2001:db8::200";

fn config(priority: u8) -> String {
    format!(
        "global_defs: {{vrrp_version: 3}}\nvrrp_instance:\n  \
         VI_plain: {{interface: eth0, virtual_router_id: 81, priority: {priority}, advert_int: 0.1, \
         virtual_ipaddress: [\"{PLAIN_VIP}/64\"]}}\n  \
         VI_vmac: {{interface: eth0, virtual_router_id: 82, priority: {priority}, advert_int: 0.1, \
         use_vmac: true, virtual_ipaddress: [\"{VMAC_VIP}/64\"]}}\n"
    )
}

/// Whether any interface of `node` carries `addr`.
fn holds(node: &Node, addr: &str) -> bool {
    node.exec_stdout(&["ip", "-6", "-o", "addr", "show", "to", addr])
        .contains(addr)
}

fn all_addresses(node: &Node) -> String {
    node.exec_stdout(&["ip", "-6", "-o", "addr", "show"])
}

fn tentative_link_locals(node: &Node) -> String {
    node.exec_stdout(&[
        "ip",
        "-6",
        "-o",
        "addr",
        "show",
        "scope",
        "link",
        "tentative",
    ])
}

#[test]
fn ipv6_dad_boot_waits_for_the_link_local_no_dual_master_no_send_error() {
    let lab = Lab::new("ipv6_dad");
    let a = lab.add_node_with_dad("gw-a", true);
    let b = lab.add_node_with_dad("gw-b", true);
    let vipd_a = a.start_vipd(&config(150));
    let vipd_b = b.start_vipd(&config(100));
    // The point of the test: the routers came up before DAD finished.
    let early_a = tentative_link_locals(&a);
    let early_b = tentative_link_locals(&b);
    assert!(
        early_a.contains("eth0") && early_b.contains("eth0"),
        "eth0's link-local was no longer tentative when vipd started (gw-a: {early_a:?}, gw-b: {early_b:?})"
    );

    // Sample every 20 ms for 6 s: DAD (1-2 s, then ~1 s on the VMAC) and the election after it.
    let start = Instant::now();
    // (instance VIP, start, end) of each run of samples with both routers holding the VIP.
    let mut both_hold: Vec<(&str, f64, f64)> = Vec::new();
    let mut open: [Option<f64>; 2] = [None, None];
    let mut vmac_tentative_seen = false;
    let mut samples = 0;
    while start.elapsed() < Duration::from_secs(6) {
        samples += 1;
        // One `ip` per node and sample: on a loaded machine each takes tens of ms.
        let (addrs_a, addrs_b) = (all_addresses(&a), all_addresses(&b));
        for (k, vip) in [PLAIN_VIP, VMAC_VIP].into_iter().enumerate() {
            let now = start.elapsed().as_secs_f64();
            let both =
                addrs_a.contains(&format!(" {vip}/")) && addrs_b.contains(&format!(" {vip}/"));
            match (both, open[k]) {
                (true, None) => open[k] = Some(now),
                (false, Some(since)) => {
                    both_hold.push((vip, since, now));
                    open[k] = None;
                }
                _ => {}
            }
        }
        vmac_tentative_seen |= addrs_b
            .lines()
            .any(|l| l.contains("vrrp.82") && l.contains("fe80:") && l.contains("tentative"));
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(samples > 30, "only {samples} samples in 6 s");
    for (k, vip) in [PLAIN_VIP, VMAC_VIP].into_iter().enumerate() {
        if let Some(since) = open[k] {
            both_hold.push((vip, since, f64::INFINITY));
        }
    }
    println!("ipv6_dad: two-holder episodes (VIP, from s, to s): {both_hold:?}");
    assert!(
        both_hold.iter().all(|(_, from, to)| to - from < 0.25),
        "two holders for longer than an election takes: {both_hold:?}"
    );
    assert!(
        vmac_tentative_seen,
        "gw-b's VMAC link-local was never seen tentative: the VMAC case was not exercised"
    );

    for (name, node, vipd, state) in [
        ("gw-a", &a, &vipd_a, "MASTER"),
        ("gw-b", &b, &vipd_b, "BACKUP"),
    ] {
        for instance in ["VI_plain", "VI_vmac"] {
            assert_eq!(
                vipd.state_of(instance).as_deref(),
                Some(state),
                "{name} {instance}: {}",
                vipd.log()
            );
            let status = vipd.instance(instance).expect("status");
            let times = status["counters"]["become_master"].as_u64();
            let allowed = if state == "MASTER" { 1..=1 } else { 0..=1 };
            assert!(
                times.is_some_and(|t| allowed.contains(&t)),
                "{name} {instance} became master {times:?} times: {status}"
            );
        }
        let log = vipd.log();
        assert!(
            !log.contains("sending advert to"),
            "{name} failed to send an advert:\n{log}"
        );
        let expected = state == "MASTER";
        assert_eq!(holds(node, PLAIN_VIP), expected, "{name} {PLAIN_VIP}");
        assert_eq!(holds(node, VMAC_VIP), expected, "{name} {VMAC_VIP}");
    }
    // The VMAC's adverts come from its own link-local, now past DAD.
    let status_b = vipd_b.instance("VI_vmac").expect("status");
    let master = status_b["master"].as_str().unwrap_or_default().to_owned();
    assert!(
        master.starts_with("fe80:"),
        "gw-b's master for VI_vmac: {status_b}"
    );
}
