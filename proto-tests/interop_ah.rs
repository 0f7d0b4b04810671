//! vipd beside Debian's keepalived 2.2.7 with `auth_type AH` (IPsec AH, HMAC-MD5-96, VRRPv2):
//! the common failover scenario both ways round (and with unicast peers, whose ICV leaves the
//! TTL out), then a restart of the router that stopped,
//! which must be heard again (its sequence counter starts over, and keepalived's rule that an
//! AH instance starts as BACKUP lets it learn the current number first); and a pair whose
//! `auth_pass` differs, where each side refuses the other's adverts (vipd counts
//! `auth_failure`, keepalived logs an invalid HMAC) and both end up master.

use std::time::Duration;

use crate::interop_util::*;
use crate::lab::*;

const HIGH: u8 = 150;
const LOW: u8 = 100;
const VRID: u8 = 2;
const VIP: &str = "192.0.2.100/24";
const ADDRS: [&str; 2] = ["192.0.2.1/24", "192.0.2.2/24"];
const KEY: &str = "SECUREUN";

/// How the adverts travel. With unicast peers keepalived leaves the TTL out of the ICV.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Delivery {
    Multicast,
    Unicast,
}

fn vipd_ah(pass: &str, priority: u8, delivery: Delivery) -> String {
    let peers = match delivery {
        Delivery::Multicast => "",
        Delivery::Unicast => "unicast_src_ip: \"192.0.2.1\", unicast_peer: [\"192.0.2.2\"], ",
    };
    vipd_conf(
        2,
        VRID,
        priority,
        "1",
        VIP,
        &format!("{peers}authentication: {{auth_type: AH, auth_pass: {pass}}}, "),
    )
}

fn keepalived_ah(pass: &str, priority: u8, delivery: Delivery) -> String {
    let peers = match delivery {
        Delivery::Multicast => "",
        Delivery::Unicast => "  unicast_src_ip 192.0.2.2\n  unicast_peer {\n    192.0.2.1\n  }\n",
    };
    keepalived_conf(
        2,
        VRID,
        priority,
        "1",
        VIP,
        &format!("{peers}  authentication {{\n    auth_type AH\n    auth_pass {pass}\n  }}\n"),
    )
}

/// `counters.rejected` of vipd's instance, as (error, count) pairs with a count above 0.
fn rejections(vipd: &VipdProc) -> Vec<(String, u64)> {
    let status = vipd.instance(INSTANCE).expect("vipd status");
    status["counters"]["rejected"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_u64().filter(|n| *n > 0).map(|n| (k.clone(), n)))
        .collect()
}

fn run(vipd_high: bool, delivery: Delivery) {
    let unicast = if delivery == Delivery::Unicast {
        "unicast_"
    } else {
        ""
    };
    let order = if vipd_high { "vipd_high" } else { "vipd_low" };
    let label = format!("interop_ah_{unicast}{order}");
    let lab = Lab::new(&label);
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    a.add_addr(ADDRS[0]);
    b.add_addr(ADDRS[1]);
    let (vipd_priority, ka_priority) = if vipd_high { (HIGH, LOW) } else { (LOW, HIGH) };
    let vipd = a.start_vipd(&vipd_ah(KEY, vipd_priority, delivery));
    let keepalived = b.start_keepalived(&keepalived_ah(KEY, ka_priority, delivery));
    let mut routers = [
        Router::on_eth0(&a, Daemon::Vipd(vipd), vipd_priority),
        Router::on_eth0(&b, Daemon::Keepalived(keepalived), ka_priority),
    ];
    let high = if vipd_high { 0 } else { 1 };
    let low = 1 - high;
    let times = run_failover_scenario(&lab, &mut routers, high, VIP, 1000.0, &label);
    assert!(
        times.priority_zero.iter().all(|a| a.ah_sequence.is_some()),
        "{label}: priority-0 adverts without AH: {:?}",
        times.priority_zero
    );

    // The stopped router comes back with a fresh counter: it starts as BACKUP, takes the
    // survivor's numbers, and its own adverts (above them) make the survivor step down.
    let capture = VrrpCapture::start(&lab, routers[low].node, "eth0", 200);
    routers[high].daemon = if vipd_high {
        Daemon::Vipd(a.start_vipd(&vipd_ah(KEY, vipd_priority, delivery)))
    } else {
        Daemon::Keepalived(b.start_keepalived(&keepalived_ah(KEY, ka_priority, delivery)))
    };
    let mdi = master_down_interval_ms(1000.0, routers[high].priority);
    wait_router(
        &routers[high],
        State::Master,
        VIP,
        Duration::from_millis(2 * mdi as u64) + Duration::from_secs(6),
        &format!("{label}: preemption after the restart"),
    );
    wait_converged(
        &routers,
        high,
        VIP,
        Duration::from_secs(2),
        Duration::from_secs(6),
        &format!("{label}: after the restart"),
    );
    let adverts = capture.stop();
    let numbers: Vec<(u8, u32)> = adverts
        .iter()
        .map(|a| {
            let seq = a
                .ah_sequence
                .unwrap_or_else(|| panic!("{label}: advert without AH: {a:?}"));
            (a.priority, seq)
        })
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[0].1 < w[1].1),
        "{label}: AH sequence numbers on the wire do not rise across both routers: {numbers:?}"
    );
    assert!(
        numbers.iter().any(|(p, _)| *p == routers[high].priority),
        "{label}: no advert of the restarted router captured: {numbers:?}"
    );
    for router in &routers {
        if let Some(vipd) = router.vipd() {
            assert!(
                rejections(vipd).is_empty(),
                "{label}: {} rejected adverts: {:?}",
                router.who(),
                rejections(vipd)
            );
        }
    }
    println!("{label}: restart heard again; AH sequence on the wire: {numbers:?}");
}

#[test]
fn interop_ah_vipd_high() {
    run(true, Delivery::Multicast);
}

#[test]
fn interop_ah_vipd_low() {
    run(false, Delivery::Multicast);
}

#[test]
fn interop_ah_unicast_vipd_high() {
    run(true, Delivery::Unicast);
}

#[test]
fn interop_ah_wrong_auth_pass_is_rejected_on_both_sides() {
    let label = "interop_ah_wrong_auth_pass";
    let lab = Lab::new(label);
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    a.add_addr(ADDRS[0]);
    b.add_addr(ADDRS[1]);
    let vipd = a.start_vipd(&vipd_ah(KEY, HIGH, Delivery::Multicast));
    let keepalived = b.start_keepalived(&keepalived_ah("WRONGKEY", LOW, Delivery::Multicast));
    let routers = [
        Router::on_eth0(&a, Daemon::Vipd(vipd), HIGH),
        Router::on_eth0(&b, Daemon::Keepalived(keepalived), LOW),
    ];
    let vipd = routers[0].vipd().unwrap();
    let Daemon::Keepalived(keepalived) = &routers[1].daemon else {
        unreachable!()
    };
    let capture = VrrpCapture::start(&lab, &a, "eth0", 200);
    // Neither hears the other: both become master, and stay so.
    let both_master = wait_stable(Duration::from_secs(15), Duration::from_secs(3), || {
        routers.iter().all(|r| r.state() == State::Master)
    });
    assert!(
        both_master,
        "{label}: with different keys both should be master: {} / {}",
        routers[0].describe(VIP),
        routers[1].describe(VIP)
    );
    let heard: Vec<(String, u8, Option<u32>)> = capture
        .stop()
        .iter()
        .map(|a| (a.src.to_string(), a.priority, a.ah_sequence))
        .collect();
    let from_keepalived = heard.iter().filter(|(src, ..)| src == "192.0.2.2").count() as u64;
    // Read after the capture stopped, so every advert captured has been counted by then.
    let failures = rejections(vipd)
        .into_iter()
        .find(|(k, _)| k == "auth_failure")
        .map_or(0, |(_, n)| n);
    // keepalived 2.2.7 as master restarts its advert timer on every packet it receives, refused
    // or not (vrrp_scheduler.c), so with vipd advertising at the same interval it sends about
    // one advert and then stays quiet: each one it sends must be refused and counted.
    assert!(
        from_keepalived >= 1 && failures >= from_keepalived,
        "{label}: vipd counted {failures} auth failures for {from_keepalived} keepalived adverts: \
         {:?}; on gw-a's wire: {heard:?}",
        vipd.instance(INSTANCE)
    );
    let refused = keepalived
        .log()
        .matches("IPSEC-AH : invalid IPSEC HMAC-MD5")
        .count();
    assert!(
        refused >= 2,
        "{label}: keepalived refused {refused} of vipd's adverts:\n{}",
        keepalived.log()
    );
    assert!(
        !vipd.log().contains("panicked"),
        "{label}: vipd log: {}",
        vipd.log()
    );
    println!(
        "{label}: vipd counted {failures} auth failures ({from_keepalived} keepalived adverts \
         heard); keepalived refused {refused} of vipd's"
    );
}
