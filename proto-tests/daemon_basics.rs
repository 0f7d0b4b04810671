//! vipd elections in the namespace lab: by priority, by primary address on equal priority,
//! preemption by a later higher-priority router, and nopreempt keeping the incumbent.

use crate::daemon_support::*;
use crate::lab::*;
use std::time::Duration;

const VIP: &str = "192.0.2.100/24";

#[test]
fn daemon_election_by_priority_and_client_reaches_vip() {
    let lab = Lab::new("daemon_election_by_priority");
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    let client = lab.add_node("client");
    a.add_addr("192.0.2.1/24");
    b.add_addr("192.0.2.2/24");
    client.add_addr("192.0.2.10/24");
    // The lower-priority router has the higher address, so only priority can make gw-a win.
    let vipd_a = a.start_vipd(&v3_config(51, 150, VIP, ""));
    let vipd_b = b.start_vipd(&v3_config(51, 100, VIP, ""));

    wait_state(&vipd_a, "gw-a", "MASTER", Duration::from_secs(5));
    wait_state(&vipd_b, "gw-b", "BACKUP", Duration::from_secs(5));
    let routers = pair(&a, &vipd_a, &b, &vipd_b);
    assert_sole_master(&routers, 0, VIP);
    wait_for(Duration::from_secs(3), "client pinging the VIP", || {
        client.ping_once(vip_addr(VIP))
    });
    assert_eq!(
        client.neigh_mac(vip_addr(VIP)),
        Some(a.mac("eth0")),
        "the client's ARP entry for the VIP points at the master"
    );
    let status_b = vipd_b.instance(INSTANCE).expect("gw-b status");
    assert_eq!(
        status_b["master"].as_str(),
        Some("192.0.2.1"),
        "gw-b's master: {status_b}"
    );
    assert!(counter(&vipd_b, "adverts_received") > 0, "{status_b}");
}

#[test]
fn daemon_equal_priority_higher_primary_address_wins() {
    let lab = Lab::new("daemon_equal_priority");
    let low = lab.add_node("gw-low");
    let high = lab.add_node("gw-high");
    low.add_addr("192.0.2.1/24");
    high.add_addr("192.0.2.2/24");
    // Both become master while deaf to each other; once they hear each other, only the
    // address tie-break can settle it.
    low.set_vrrp_loss(100, Direction::Both);
    high.set_vrrp_loss(100, Direction::Both);
    let vipd_low = low.start_vipd(&v3_config(52, 120, VIP, ""));
    let vipd_high = high.start_vipd(&v3_config(52, 120, VIP, ""));
    wait_state(&vipd_low, "gw-low (deaf)", "MASTER", Duration::from_secs(5));
    wait_state(
        &vipd_high,
        "gw-high (deaf)",
        "MASTER",
        Duration::from_secs(5),
    );

    low.clear_vrrp_loss();
    high.clear_vrrp_loss();
    wait_state(&vipd_low, "gw-low", "BACKUP", Duration::from_secs(3));
    wait_state(&vipd_high, "gw-high", "MASTER", Duration::from_secs(3));
    let routers = pair(&low, &vipd_low, &high, &vipd_high);
    assert_sole_master(&routers, 1, VIP);
}

#[test]
fn daemon_preemption_by_later_higher_priority_router() {
    let lab = Lab::new("daemon_preemption");
    let (a, b) = two_gateways(&lab);
    let vipd_b = b.start_vipd(&v3_config(53, 100, VIP, ""));
    wait_state(&vipd_b, "gw-b alone", "MASTER", Duration::from_secs(5));
    assert!(b.has_addr("eth0", vip_addr(VIP)), "gw-b alone holds no VIP");

    let vipd_a = a.start_vipd(&v3_config(53, 150, VIP, ""));
    wait_state(&vipd_a, "gw-a preempting", "MASTER", Duration::from_secs(5));
    wait_state(
        &vipd_b,
        "gw-b stepping down",
        "BACKUP",
        Duration::from_secs(3),
    );
    let routers = pair(&a, &vipd_a, &b, &vipd_b);
    assert_sole_master(&routers, 0, VIP);
    assert!(
        counter(&vipd_b, "release_master") >= 1,
        "gw-b never released mastership"
    );
}

#[test]
fn daemon_nopreempt_keeps_lower_priority_incumbent() {
    let lab = Lab::new("daemon_nopreempt");
    let (a, b) = two_gateways(&lab);
    let extra = "state: BACKUP, nopreempt: true, ";
    let vipd_b = b.start_vipd(&v3_config(54, 100, VIP, extra));
    wait_state(&vipd_b, "gw-b alone", "MASTER", Duration::from_secs(5));

    let vipd_a = a.start_vipd(&v3_config(54, 150, VIP, extra));
    wait_state(&vipd_a, "gw-a", "BACKUP", Duration::from_secs(5));
    // Several Master_Down_Intervals (≈ 0.34 s for priority 150): a preempting router would
    // have taken over by now.
    std::thread::sleep(Duration::from_millis(1500));
    let routers = pair(&a, &vipd_a, &b, &vipd_b);
    assert_sole_master(&routers, 1, VIP);
    assert_eq!(
        counter(&vipd_a, "become_master"),
        0,
        "gw-a was master at some point"
    );
    assert!(counter(&vipd_a, "adverts_received") > 5, "gw-a hears gw-b");
}
