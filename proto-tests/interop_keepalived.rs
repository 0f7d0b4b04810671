//! vipd beside Debian's keepalived 2.2.7 in the namespace lab, in the migration pairings without a
//! virtual MAC: VRRPv3 IPv4 multicast, VRRPv3 IPv6, VRRPv3 unicast peers and VRRPv2 with PASS
//! authentication (seed 001). Each pairing runs the common failover scenario of
//! [`crate::interop_util::run_failover_scenario`] twice: vipd as the higher priority, then as the
//! lower.
//!
//! Not here yet: keepalived `use_vmac` and `use_vmac` + `vmac_xmit_base` (seed 003), which need
//! vipd's own `use_vmac` (being written).

use crate::interop_util::*;
use crate::lab::*;

const HIGH: u8 = 150;
const LOW: u8 = 100;

/// What differs between the keepalived pairings.
struct Pairing {
    name: &'static str,
    version: u8,
    vrid: u8,
    advert_int: &'static str,
    vip: &'static str,
    /// Addresses of gw-a (vipd) and gw-b (keepalived) on eth0.
    addrs: [&'static str; 2],
    /// vipd YAML entries for the instance, given (own address, peer address).
    vipd_extra: fn(&str, &str) -> String,
    /// keepalived lines for the instance, given (own address, peer address).
    keepalived_extra: fn(&str, &str) -> String,
}

fn none(_: &str, _: &str) -> String {
    String::new()
}

fn host(cidr: &str) -> &str {
    vip_addr(cidr)
}

fn run(pairing: &Pairing, vipd_high: bool) {
    let order = if vipd_high { "vipd_high" } else { "vipd_low" };
    let label = format!("{}_{order}", pairing.name);
    let lab = Lab::new(&label);
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    a.add_addr(pairing.addrs[0]);
    b.add_addr(pairing.addrs[1]);
    let (a_ip, b_ip) = (host(pairing.addrs[0]), host(pairing.addrs[1]));
    let (vipd_priority, ka_priority) = if vipd_high { (HIGH, LOW) } else { (LOW, HIGH) };
    let vipd = a.start_vipd(&vipd_conf(
        pairing.version,
        pairing.vrid,
        vipd_priority,
        pairing.advert_int,
        pairing.vip,
        &(pairing.vipd_extra)(a_ip, b_ip),
    ));
    let keepalived = b.start_keepalived(&keepalived_conf(
        pairing.version,
        pairing.vrid,
        ka_priority,
        pairing.advert_int,
        pairing.vip,
        &(pairing.keepalived_extra)(b_ip, a_ip),
    ));
    let mut routers = [
        Router::on_eth0(&a, Daemon::Vipd(vipd), vipd_priority),
        Router::on_eth0(&b, Daemon::Keepalived(keepalived), ka_priority),
    ];
    let advert_ms: f64 = pairing.advert_int.parse::<f64>().unwrap() * 1000.0;
    let high = if vipd_high { 0 } else { 1 };
    run_failover_scenario(&lab, &mut routers, high, pairing.vip, advert_ms, &label);
}

const V3_IPV4: Pairing = Pairing {
    name: "interop_keepalived_v3_ipv4",
    version: 3,
    vrid: 51,
    advert_int: "0.1",
    vip: "192.0.2.100/24",
    addrs: ["192.0.2.1/24", "192.0.2.2/24"],
    vipd_extra: none,
    keepalived_extra: none,
};

const V3_IPV6: Pairing = Pairing {
    name: "interop_keepalived_v3_ipv6",
    version: 3,
    vrid: 53,
    advert_int: "0.1",
    vip: "2001:db8::100/64",
    addrs: ["2001:db8::1/64", "2001:db8::2/64"],
    vipd_extra: none,
    keepalived_extra: none,
};

fn vipd_unicast(own: &str, peer: &str) -> String {
    format!("unicast_src_ip: \"{own}\", unicast_peer: [\"{peer}\"], ")
}

fn keepalived_unicast(own: &str, peer: &str) -> String {
    format!("  unicast_src_ip {own}\n  unicast_peer {{\n    {peer}\n  }}\n")
}

const V3_UNICAST: Pairing = Pairing {
    name: "interop_keepalived_v3_unicast",
    version: 3,
    vrid: 52,
    advert_int: "0.1",
    vip: "192.0.2.100/24",
    addrs: ["192.0.2.1/24", "192.0.2.2/24"],
    vipd_extra: vipd_unicast,
    keepalived_extra: keepalived_unicast,
};

fn vipd_pass(_: &str, _: &str) -> String {
    "authentication: {auth_type: PASS, auth_pass: SECUREUN}, ".into()
}

fn keepalived_pass(_: &str, _: &str) -> String {
    "  authentication {\n    auth_type PASS\n    auth_pass SECUREUN\n  }\n".into()
}

/// Seed 001: VRRPv2 (keepalived's default version), whole-second adverts, an 8-byte password.
const V2_PASS: Pairing = Pairing {
    name: "interop_keepalived_v2_pass",
    version: 2,
    vrid: 1,
    advert_int: "1",
    vip: "192.0.2.100/24",
    addrs: ["192.0.2.1/24", "192.0.2.2/24"],
    vipd_extra: vipd_pass,
    keepalived_extra: keepalived_pass,
};

#[test]
fn interop_keepalived_v3_ipv4_vipd_high() {
    run(&V3_IPV4, true);
}

#[test]
fn interop_keepalived_v3_ipv4_vipd_low() {
    run(&V3_IPV4, false);
}

#[test]
fn interop_keepalived_v3_ipv6_vipd_high() {
    run(&V3_IPV6, true);
}

#[test]
fn interop_keepalived_v3_ipv6_vipd_low() {
    run(&V3_IPV6, false);
}

#[test]
fn interop_keepalived_v3_unicast_vipd_high() {
    run(&V3_UNICAST, true);
}

#[test]
fn interop_keepalived_v3_unicast_vipd_low() {
    run(&V3_UNICAST, false);
}

#[test]
fn interop_keepalived_v2_pass_vipd_high() {
    run(&V2_PASS, true);
}

#[test]
fn interop_keepalived_v2_pass_vipd_low() {
    run(&V2_PASS, false);
}
