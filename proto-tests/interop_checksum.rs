//! The RFC 9568 IPv4 VRRPv3 checksum without pseudo-header (`v3_checksum_as_v2`, what Cisco and
//! Juniper send) against the pseudo-header flavour keepalived and FRR send. Debian's keepalived
//! 2.2.7 and FRR 8.4 cannot send the plain flavour, so vipd is paired with vipd: the option on one
//! side (that side higher, then lower) and on both. Each run is the common failover scenario, so
//! each side is master once and hears the other; then the wire (checksums verified here,
//! independently of vipd's decoder) and `vipd status --json` (`checksums_received`) must agree
//! that each side accepted the other's flavour and rejected nothing.

use crate::interop_util::*;
use crate::lab::*;
use std::net::IpAddr;

const VIP: &str = "192.0.2.100/24";
const VRID: u8 = 61;

/// gw-a and gw-b: whether each sends the plain checksum, and which one has the higher priority.
fn run(label: &str, plain: [bool; 2], high: usize) {
    let lab = Lab::new(label);
    let nodes = [lab.add_node("gw-a"), lab.add_node("gw-b")];
    let addrs = ["192.0.2.1", "192.0.2.2"];
    for (node, addr) in nodes.iter().zip(addrs) {
        node.add_addr(&format!("{addr}/24"));
    }
    // On gw-b, whose cable is never cut: it carries both routers' adverts.
    let capture = VrrpCapture::start(&lab, &nodes[1], "eth0", 5000);
    let priority = |i: usize| if i == high { 150 } else { 100 };
    let mut routers = [0, 1].map(|i| {
        let extra = if plain[i] {
            "v3_checksum_as_v2: true, "
        } else {
            ""
        };
        Router {
            node: &nodes[i],
            daemon: Daemon::Vipd(nodes[i].start_vipd(&vipd_conf(
                3,
                VRID,
                priority(i),
                "0.1",
                VIP,
                extra,
            ))),
            vip_dev: "eth0".into(),
            priority: priority(i),
        }
    });
    let flavour = |i: usize| {
        if plain[i] {
            CapturedChecksum::Plain
        } else {
            CapturedChecksum::PseudoHeader
        }
    };
    let mut statuses = Vec::new();
    run_failover_scenario_with(&lab, &mut routers, high, VIP, 100.0, label, |routers| {
        statuses = routers
            .iter()
            .map(|r| r.vipd().unwrap().instance(INSTANCE).expect("status"))
            .collect();
    });
    let adverts = capture.stop();
    for i in 0..2 {
        let sender: IpAddr = addrs[i].parse().unwrap();
        let sent: Vec<CapturedChecksum> = adverts
            .iter()
            .filter(|x| x.src == sender && x.vrid == VRID)
            .map(CapturedAdvert::checksum_flavour)
            .collect();
        assert!(
            !sent.is_empty() && sent.iter().all(|f| *f == flavour(i)),
            "{label}: {} adverts of {} on the wire: {sent:?}, expected all {:?}",
            sent.len(),
            addrs[i],
            flavour(i)
        );
        // What the other side (`1 - i`) accepted from this one.
        let receiver = &statuses[1 - i];
        let counts = &receiver["checksums_received"];
        let (matching, other) = match flavour(i) {
            CapturedChecksum::Plain => ("plain", "pseudo_header"),
            _ => ("pseudo_header", "plain"),
        };
        assert!(
            counts[matching].as_u64().unwrap_or(0) >= 1 && counts[other].as_u64() == Some(0),
            "{label}: {} accepted from {} ({:?} sender): {counts}",
            addrs[1 - i],
            addrs[i],
            flavour(i)
        );
        println!(
            "{label}: {} sent {} adverts ({:?}); {} accepted them: checksums_received {counts}",
            addrs[i],
            sent.len(),
            flavour(i),
            addrs[1 - i]
        );
    }
}

#[test]
fn interop_checksum_plain_on_the_higher_side() {
    run("interop_checksum_plain_higher", [true, false], 0);
}

#[test]
fn interop_checksum_plain_on_the_lower_side() {
    run("interop_checksum_plain_lower", [true, false], 1);
}

#[test]
fn interop_checksum_plain_on_both_sides() {
    run("interop_checksum_plain_both", [true, true], 0);
}
