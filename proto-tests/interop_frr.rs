//! vipd beside FRR 8.4's vrrpd (with zebra, each FRR pair in its own `-N` pathspace) in the
//! namespace lab, VRRPv3 IPv4 and IPv6, advertisement-interval 100 ms. FRR sends from its
//! operator-made macvlan `vrrp<4|6>-2-<VRID>` (bridge mode, addrgenmode random, virtual MAC as
//! source) and takes a backup's macvlan off the network with protodown; vipd, without a VMAC,
//! holds the VIP on eth0. Each family runs the common failover scenario twice: vipd as the higher
//! priority, then as the lower.

use crate::interop_util::*;
use crate::lab::*;

const HIGH: u8 = 150;
const LOW: u8 = 100;

fn run(family: u8, vipd_high: bool) {
    let (vrid, vip, addrs) = if family == 4 {
        (5u8, "192.0.2.100/24", ["192.0.2.1/24", "192.0.2.2/24"])
    } else {
        (
            6u8,
            "2001:db8::100/64",
            ["2001:db8::1/64", "2001:db8::2/64"],
        )
    };
    let order = if vipd_high { "vipd_high" } else { "vipd_low" };
    let label = format!("interop_frr_v3_ipv{family}_{order}");
    let lab = Lab::new(&label);
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    a.add_addr(addrs[0]);
    b.add_addr(addrs[1]);
    let (vipd_priority, frr_priority) = if vipd_high { (HIGH, LOW) } else { (LOW, HIGH) };
    let macvlan = frr_macvlan(&b, family, vrid, vip);
    let frr = start_frr(
        &b,
        &lab,
        vrid,
        family,
        &frr_vrrpd_conf(vrid, family, frr_priority, 100, vip),
    );
    // Hears what vipd hears: FRR's adverts as they reach gw-a's eth0.
    let heard_by_vipd = VrrpCapture::start(&lab, &a, "eth0", 5000);
    let vipd = a.start_vipd(&vipd_conf(3, vrid, vipd_priority, "0.1", vip, ""));
    let mut routers = [
        Router::on_eth0(&a, Daemon::Vipd(vipd), vipd_priority),
        Router {
            node: &b,
            daemon: Daemon::Frr(frr),
            vip_dev: macvlan.clone(),
            priority: frr_priority,
        },
    ];
    let high = if vipd_high { 0 } else { 1 };
    let report = run_failover_scenario(&lab, &mut routers, high, vip, 100.0, &label);
    let adverts = heard_by_vipd.stop();
    let frr_mac = b.mac(&macvlan);
    let from_frr: Vec<&CapturedAdvert> = adverts.iter().filter(|x| x.src_mac == frr_mac).collect();
    println!(
        "{label}: gw-a's eth0 carried {} VRRP packets, {} from FRR's macvlan MAC {frr_mac} \
         (sources {:?})",
        adverts.len(),
        from_frr.len(),
        from_frr.first().map(|x| x.src)
    );
    // FRR is RFC 9568 §7.2-compliant: its adverts leave with the virtual MAC as source.
    assert!(
        !from_frr.is_empty()
            && adverts
                .iter()
                .filter(|x| x.vrid == vrid)
                .all(|x| x.src_mac == frr_mac || x.src_mac == a.mac("eth0")),
        "{label}: VRRP sources seen by vipd: {:?}",
        adverts
            .iter()
            .map(|x| &x.src_mac)
            .collect::<std::collections::BTreeSet<_>>()
    );
    if !vipd_high {
        assert!(
            report.priority_zero.iter().all(|x| x.src_mac == frr_mac),
            "{label}: FRR's priority-0 advert not from its virtual MAC: {:?}",
            report.priority_zero
        );
    }
}

#[test]
fn interop_frr_v3_ipv4_vipd_high() {
    run(4, true);
}

#[test]
fn interop_frr_v3_ipv4_vipd_low() {
    run(4, false);
}

#[test]
fn interop_frr_v3_ipv6_vipd_high() {
    run(6, true);
}

#[test]
fn interop_frr_v3_ipv6_vipd_low() {
    run(6, false);
}
