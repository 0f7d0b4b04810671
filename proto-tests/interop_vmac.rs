//! vipd with `use_vmac` beside keepalived 2.2.7 and FRR 8.4's vrrpd in the namespace lab, advert
//! interval 100 ms, in every VMAC migration pairing of issue 6: keepalived `use_vmac` on both
//! sides, `use_vmac` + `vmac_xmit_base` on both sides (seed 003), the two mixed combinations, and
//! FRR (bridge-mode macvlans) beside vipd's private-mode VMAC with and without `vmac_xmit_base`,
//! plus IPv6 with `use_vmac` against keepalived. Each working pairing runs the common failover
//! scenario twice (vipd higher, then lower) and checks that vipd, as backup, counts every advert
//! of its master exactly once, although a private-mode VMAC hands some frames to the VMAC only and
//! `vmac_xmit_base` hears most of them twice.
//!
//! One combination cannot work because of keepalived: with `vmac_xmit_base` keepalived listens on
//! its parent only, and a multicast frame whose source MAC is its own private VMAC's (what vipd
//! sends without `vmac_xmit_base`) is handed to that VMAC alone, so keepalived never hears vipd.
//! With vipd the higher priority both become master; the test proves it and shows what vipd's
//! status gives away (master = itself while it keeps counting the peer's adverts).

use crate::interop_util::*;
use crate::lab::*;
use std::time::Duration;

const HIGH: u8 = 150;
const LOW: u8 = 100;
const ADVERT_MS: f64 = 100.0;

/// The daemon on gw-b.
#[derive(Clone, Copy)]
enum Peer {
    Keepalived(Vmac),
    /// FRR vrrpd with its operator-made bridge-mode macvlan (it has no VMAC choice).
    Frr,
}

/// What differs between the pairings. gw-a runs vipd, gw-b the peer.
struct Pairing {
    name: &'static str,
    vrid: u8,
    vip: &'static str,
    /// Addresses of gw-a and gw-b on eth0.
    addrs: [&'static str; 2],
    vipd_vmac: Vmac,
    peer: Peer,
}

impl Pairing {
    fn family(&self) -> u8 {
        if self.vip.contains(':') {
            6
        } else {
            4
        }
    }
}

/// The two lab nodes and the daemons of a pairing, started, vipd on gw-a.
fn start_routers<'a>(
    lab: &Lab,
    pairing: &Pairing,
    nodes: (&'a Node, &'a Node),
    vipd_priority: u8,
    peer_priority: u8,
) -> [Router<'a>; 2] {
    let (a, b) = nodes;
    a.add_addr(pairing.addrs[0]);
    b.add_addr(pairing.addrs[1]);
    let (peer, peer_dev) = match pairing.peer {
        Peer::Keepalived(vmac) => (
            Daemon::Keepalived(b.start_keepalived(&keepalived_conf(
                3,
                pairing.vrid,
                peer_priority,
                "0.1",
                pairing.vip,
                vmac.keepalived_lines(),
            ))),
            vmac_dev(pairing.vrid),
        ),
        Peer::Frr => {
            let family = pairing.family();
            let macvlan = frr_macvlan(b, family, pairing.vrid, pairing.vip);
            let conf = frr_vrrpd_conf(
                pairing.vrid,
                family,
                peer_priority,
                ADVERT_MS as u32,
                pairing.vip,
            );
            (
                Daemon::Frr(start_frr(b, lab, pairing.vrid, family, &conf)),
                macvlan,
            )
        }
    };
    let vipd = a.start_vipd(&vipd_conf(
        3,
        pairing.vrid,
        vipd_priority,
        "0.1",
        pairing.vip,
        pairing.vipd_vmac.vipd_entries(),
    ));
    [
        Router {
            node: a,
            daemon: Daemon::Vipd(vipd),
            vip_dev: vmac_dev(pairing.vrid),
            priority: vipd_priority,
        },
        Router {
            node: b,
            daemon: peer,
            vip_dev: peer_dev,
            priority: peer_priority,
        },
    ]
}

/// Over one second, vipd's `adverts_received` grows by at least 5 and by no more than the adverts
/// of priority `peer_priority` that gw-a's eth0 carried (a capture on the parent sees every frame,
/// including those a private VMAC takes for itself): every advert heard, none counted twice.
fn assert_hears_each_advert_once(
    lab: &Lab,
    node: &Node,
    vipd: &VipdProc,
    vrid: u8,
    peer_priority: u8,
    label: &str,
) -> (u64, usize) {
    let capture = VrrpCapture::start(lab, node, "eth0", 2000);
    let before = vipd_counter(vipd, "adverts_received");
    std::thread::sleep(Duration::from_secs(1));
    let counted = vipd_counter(vipd, "adverts_received") - before;
    let on_wire = capture
        .stop()
        .iter()
        .filter(|advert| advert.vrid == vrid && advert.priority == peer_priority)
        .count();
    println!("{label}: vipd counted {counted} adverts in 1 s; its eth0 carried {on_wire}");
    assert!(
        counted >= 5 && counted <= on_wire as u64,
        "{label}: vipd counted {counted} adverts of its peer in 1 s, while its eth0 carried \
         {on_wire} (the capture window covers the counting one): adverts lost or counted twice"
    );
    (counted, on_wire)
}

fn run(pairing: &Pairing, vipd_high: bool) {
    let order = if vipd_high { "vipd_high" } else { "vipd_low" };
    let label = format!("{}_{order}", pairing.name);
    let lab = Lab::new(&label);
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    let (vipd_priority, peer_priority) = if vipd_high { (HIGH, LOW) } else { (LOW, HIGH) };
    let mut routers = start_routers(&lab, pairing, (&a, &b), vipd_priority, peer_priority);
    let high = if vipd_high { 0 } else { 1 };
    run_failover_scenario_with(
        &lab,
        &mut routers,
        high,
        pairing.vip,
        ADVERT_MS,
        &label,
        |routers| {
            let vipd = routers[0].vipd().expect("gw-a runs vipd");
            let received = vipd_counter(vipd, "adverts_received");
            // The higher vipd hears its peer only between the link's return and its preemption
            // (a Master_Down_Interval, ~3 adverts); the lower one has been its backup since the
            // election.
            let least = if vipd_high { 1 } else { 5 };
            assert!(
                received >= least,
                "{label}: vipd heard only {received} adverts from {}",
                routers[1].who()
            );
            if !vipd_high {
                assert_hears_each_advert_once(&lab, &a, vipd, pairing.vrid, peer_priority, &label);
            }
        },
    );
}

/// keepalived `use_vmac` + `vmac_xmit_base` (lower) beside vipd `use_vmac` alone (higher).
/// keepalived is deaf to vipd (see the module comment), so both end up MASTER holding the VIP:
/// the test proves that this is keepalived's side (vipd's adverts reach gw-b's wire from the
/// virtual MAC, keepalived stays MASTER at the lower priority) and that vipd's status shows it:
/// MASTER, master address its own, and adverts from the lower-priority peer counted all along
/// (only a master sends adverts, so a master that keeps hearing them has a rival).
fn run_keepalived_deaf_to_vipd(pairing: &Pairing) {
    let label = format!("{}_vipd_high", pairing.name);
    let lab = Lab::new(&label);
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    let routers = start_routers(&lab, pairing, (&a, &b), HIGH, LOW);
    let vip = pairing.vip;
    let settle = Duration::from_millis(master_down_interval_ms(ADVERT_MS, 1) as u64 * 3)
        + Duration::from_secs(6);
    wait_router(&routers[0], State::Master, vip, settle, &label);
    let wire_b = VrrpCapture::start(&lab, &b, "eth0", 2000);
    wait_router(
        &routers[1],
        State::Master,
        vip,
        settle,
        &format!("{label}: keepalived (vmac_xmit_base) cannot hear vipd's VMAC-sourced adverts"),
    );
    let vipd = routers[0].vipd().expect("gw-a runs vipd");
    let (counted, _) = assert_hears_each_advert_once(&lab, &a, vipd, pairing.vrid, LOW, &label);
    let adverts_at_b = wire_b.stop();
    let vmac = format!("00:00:5e:00:01:{:02x}", pairing.vrid);
    let from_vipd = adverts_at_b
        .iter()
        .filter(|advert| advert.priority == HIGH && advert.src_mac == vmac)
        .count();
    assert!(
        from_vipd >= 5,
        "{label}: gw-b's wire carried only {from_vipd} adverts of vipd from {vmac}: the two \
         masters would then not be keepalived's fault"
    );
    for router in &routers {
        assert!(
            router.state() == State::Master && router.holds_vip(vip),
            "{label}: expected both MASTER with the VIP: {}",
            router.describe(vip)
        );
    }
    let status = vipd.instance(INSTANCE).expect("vipd status");
    let own = vip_addr(pairing.addrs[0]);
    assert_eq!(
        status["master"].as_str(),
        Some(own),
        "{label}: vipd's status should name itself master: {status}"
    );
    // The two masters are reported, not silent: vipd names the rival it hears.
    let peer = vip_addr(pairing.addrs[1]);
    assert_eq!(
        status["rival_master"]["address"].as_str(),
        Some(peer),
        "{label}: vipd's status should name keepalived as a rival master: {status}"
    );
    assert!(
        status["counters"]["rival_master_adverts"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "{label}: rival_master_adverts should count keepalived's adverts: {status}"
    );
    println!(
        "{label}: both MASTER; keepalived's wire carried {from_vipd} adverts of vipd from {vmac} \
         that keepalived never heard; vipd as master counted {counted} adverts of priority {LOW} \
         in 1 s; vipd status: state {}, master {}, adverts_received {}",
        status["state"], status["master"], status["counters"]["adverts_received"]
    );
}

/// Both sides `use_vmac`: each router's adverts come from the MAC of the other's private VMAC.
const KEEPALIVED_VMAC: Pairing = Pairing {
    name: "interop_vmac_keepalived_vmac",
    vrid: 71,
    vip: "192.0.2.100/24",
    addrs: ["192.0.2.1/24", "192.0.2.2/24"],
    vipd_vmac: Vmac::On,
    peer: Peer::Keepalived(Vmac::On),
};

/// Seed 003 on both sides: `use_vmac` + `vmac_xmit_base`.
const KEEPALIVED_XMIT_BASE: Pairing = Pairing {
    name: "interop_vmac_keepalived_xmit_base",
    vrid: 72,
    vip: "192.0.2.100/24",
    addrs: ["192.0.2.1/24", "192.0.2.2/24"],
    vipd_vmac: Vmac::XmitBase,
    peer: Peer::Keepalived(Vmac::XmitBase),
};

/// keepalived sends from the virtual MAC, which gw-a's VMAC takes for itself: vipd with
/// `vmac_xmit_base` must listen on its VMAC as well as on eth0.
const KEEPALIVED_VMAC_VIPD_XMIT_BASE: Pairing = Pairing {
    name: "interop_vmac_keepalived_vmac_vipd_xmit_base",
    vrid: 73,
    vip: "192.0.2.100/24",
    addrs: ["192.0.2.1/24", "192.0.2.2/24"],
    vipd_vmac: Vmac::XmitBase,
    peer: Peer::Keepalived(Vmac::On),
};

/// keepalived hears only its parent, vipd sends from the virtual MAC: works while keepalived is
/// the higher priority, two masters otherwise (keepalived's limitation).
const KEEPALIVED_XMIT_BASE_VIPD_VMAC: Pairing = Pairing {
    name: "interop_vmac_keepalived_xmit_base_vipd_vmac",
    vrid: 74,
    vip: "192.0.2.100/24",
    addrs: ["192.0.2.1/24", "192.0.2.2/24"],
    vipd_vmac: Vmac::On,
    peer: Peer::Keepalived(Vmac::XmitBase),
};

/// IPv6 with `use_vmac` on both sides (virtual MAC 00:00:5e:00:02:<VRID>).
const KEEPALIVED_VMAC_V6: Pairing = Pairing {
    name: "interop_vmac_keepalived_vmac_ipv6",
    vrid: 75,
    vip: "2001:db8::100/64",
    addrs: ["2001:db8::1/64", "2001:db8::2/64"],
    vipd_vmac: Vmac::On,
    peer: Peer::Keepalived(Vmac::On),
};

/// FRR sends from its bridge-mode macvlan with the virtual MAC, which on gw-a is vipd's private
/// VMAC's: only that VMAC is handed FRR's adverts.
const FRR_VIPD_VMAC: Pairing = Pairing {
    name: "interop_vmac_frr_vipd_vmac",
    vrid: 76,
    vip: "192.0.2.100/24",
    addrs: ["192.0.2.1/24", "192.0.2.2/24"],
    vipd_vmac: Vmac::On,
    peer: Peer::Frr,
};

const FRR_VIPD_XMIT_BASE: Pairing = Pairing {
    name: "interop_vmac_frr_vipd_xmit_base",
    vrid: 77,
    vip: "192.0.2.100/24",
    addrs: ["192.0.2.1/24", "192.0.2.2/24"],
    vipd_vmac: Vmac::XmitBase,
    peer: Peer::Frr,
};

#[test]
fn interop_vmac_keepalived_vmac_vipd_high() {
    run(&KEEPALIVED_VMAC, true);
}

#[test]
fn interop_vmac_keepalived_vmac_vipd_low() {
    run(&KEEPALIVED_VMAC, false);
}

#[test]
fn interop_vmac_keepalived_xmit_base_vipd_high() {
    run(&KEEPALIVED_XMIT_BASE, true);
}

#[test]
fn interop_vmac_keepalived_xmit_base_vipd_low() {
    run(&KEEPALIVED_XMIT_BASE, false);
}

#[test]
fn interop_vmac_keepalived_vmac_vipd_xmit_base_vipd_high() {
    run(&KEEPALIVED_VMAC_VIPD_XMIT_BASE, true);
}

#[test]
fn interop_vmac_keepalived_vmac_vipd_xmit_base_vipd_low() {
    run(&KEEPALIVED_VMAC_VIPD_XMIT_BASE, false);
}

/// Two masters, by keepalived's deafness; vipd shows it.
#[test]
fn interop_vmac_keepalived_xmit_base_vipd_vmac_vipd_high() {
    run_keepalived_deaf_to_vipd(&KEEPALIVED_XMIT_BASE_VIPD_VMAC);
}

#[test]
fn interop_vmac_keepalived_xmit_base_vipd_vmac_vipd_low() {
    run(&KEEPALIVED_XMIT_BASE_VIPD_VMAC, false);
}

#[test]
fn interop_vmac_keepalived_vmac_ipv6_vipd_high() {
    run(&KEEPALIVED_VMAC_V6, true);
}

#[test]
fn interop_vmac_keepalived_vmac_ipv6_vipd_low() {
    run(&KEEPALIVED_VMAC_V6, false);
}

#[test]
fn interop_vmac_frr_vipd_vmac_vipd_high() {
    run(&FRR_VIPD_VMAC, true);
}

#[test]
fn interop_vmac_frr_vipd_vmac_vipd_low() {
    run(&FRR_VIPD_VMAC, false);
}

#[test]
fn interop_vmac_frr_vipd_xmit_base_vipd_high() {
    run(&FRR_VIPD_XMIT_BASE, true);
}

#[test]
fn interop_vmac_frr_vipd_xmit_base_vipd_low() {
    run(&FRR_VIPD_XMIT_BASE, false);
}
