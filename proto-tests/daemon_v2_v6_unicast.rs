//! vipd beyond the IPv4 VRRPv3 multicast default, in the namespace lab: VRRPv2 with PASS
//! authentication (and a router with the wrong password ignored), IPv6 VRRPv3, and unicast peers
//! (election, failover, nothing sent to 224.0.0.18).

use crate::daemon_support::*;
use crate::lab::*;
use std::time::Duration;

const VIP4: &str = "192.0.2.100/24";
const VIP6: &str = "2001:db8::100/64";

fn v2_pass_config(priority: u8, password: &str) -> String {
    format!(
        "global_defs: {{vrrp_version: 2}}\nvrrp_instance:\n  {INSTANCE}: {{interface: eth0, \
         virtual_router_id: 71, priority: {priority}, advert_int: 1, \
         authentication: {{auth_type: PASS, auth_pass: {password}}}, \
         virtual_ipaddress: [\"{VIP4}\"]}}\n"
    )
}

#[test]
fn daemon_v2_pass_auth_elects_and_ignores_wrong_password() {
    let lab = Lab::new("daemon_v2_pass_auth");
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    let intruder = lab.add_node("gw-wrongpw");
    a.add_addr("192.0.2.1/24");
    b.add_addr("192.0.2.2/24");
    intruder.add_addr("192.0.2.3/24");
    let vipd_a = a.start_vipd(&v2_pass_config(150, "secret12"));
    let vipd_b = b.start_vipd(&v2_pass_config(100, "secret12"));
    // Highest priority and highest address: obeyed, it would win every election.
    let vipd_intruder = intruder.start_vipd(&v2_pass_config(200, "wrong999"));

    // Master_Down_Interval with advert_int 1 is ≈ 3.4 s for priority 150.
    wait_state(&vipd_a, "gw-a", "MASTER", Duration::from_secs(8));
    wait_state(&vipd_b, "gw-b", "BACKUP", Duration::from_secs(3));
    wait_for(
        Duration::from_secs(5),
        "the intruder's adverts counted as auth_failure on gw-a and gw-b",
        || rejected(&vipd_a, "auth_failure") >= 1 && rejected(&vipd_b, "auth_failure") >= 1,
    );
    let routers = pair(&a, &vipd_a, &b, &vipd_b);
    assert_sole_master(&routers, 0, VIP4);
    let status_b = vipd_b.instance(INSTANCE).expect("gw-b status");
    assert_eq!(status_b["version"].as_u64(), Some(2), "{status_b}");
    assert_eq!(status_b["master"].as_str(), Some("192.0.2.1"), "{status_b}");
    assert_eq!(
        counter(&vipd_a, "release_master"),
        0,
        "gw-a stepped down once"
    );
    // Rejected, and said so in the log with the sender and the reason.
    let log_b = vipd_b.log();
    assert!(
        log_b.contains("advert from 192.0.2.3 rejected"),
        "gw-b's log does not report the intruder's adverts:\n{log_b}"
    );
    // The intruder rejects the others' adverts just the same.
    wait_for(
        Duration::from_secs(3),
        "gw-a's adverts counted as auth_failure on the intruder",
        || rejected(&vipd_intruder, "auth_failure") >= 1,
    );
}

#[test]
fn daemon_ipv6_v3_election_and_failover() {
    let lab = Lab::new("daemon_ipv6");
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    let client = lab.add_node("client");
    // add_node disables DAD and waits for the link-local; add_addr adds with nodad.
    a.add_addr("2001:db8::1/64");
    b.add_addr("2001:db8::2/64");
    client.add_addr("2001:db8::10/64");
    let (vipd_a, vipd_b) = start_elected(
        &a,
        &v3_config(81, 150, VIP6, ""),
        &b,
        &v3_config(81, 100, VIP6, ""),
    );
    let routers = pair(&a, &vipd_a, &b, &vipd_b);
    assert_sole_master(&routers, 0, VIP6);
    let status_b = vipd_b.instance(INSTANCE).expect("gw-b status");
    let family = &status_b["family"];
    assert!(
        family.as_u64() == Some(6) || family.as_str().is_some_and(|f| f.contains('6')),
        "gw-b's family: {status_b}"
    );
    assert_eq!(
        status_b["master"].as_str(),
        a.link_local("eth0").as_deref(),
        "gw-b should name gw-a's link-local as master: {status_b}"
    );
    wait_for(
        Duration::from_secs(3),
        "client pinging the IPv6 VIP",
        || client.ping_once(vip_addr(VIP6)),
    );

    let pinger = Pinger::start(
        &client,
        vip_addr(VIP6),
        Duration::from_millis(10),
        Duration::from_secs(8),
    );
    assert!(pinger.wait_first_reply(Duration::from_secs(3)));
    std::thread::sleep(Duration::from_millis(300));
    let cut = unix_now();
    a.link_down();
    wait_state(
        &vipd_b,
        "gw-b taking over",
        "MASTER",
        Duration::from_secs(3),
    );
    std::thread::sleep(Duration::from_millis(1200));
    let report = pinger.stop();
    println!(
        "daemon_ipv6: outage {:.0} ms, {} of {} replies",
        report.longest_gap_ms, report.received, report.transmitted
    );
    report.assert_outage_at(cut, "daemon_ipv6");
    assert!(b.has_addr("eth0", vip_addr(VIP6)));
    assert_eq!(vipd_a.state_of(INSTANCE).as_deref(), Some("FAULT"));
    assert!(
        !a.has_addr("eth0", vip_addr(VIP6)),
        "gw-a in FAULT still holds the IPv6 VIP"
    );

    a.link_up();
    wait_state(
        &vipd_a,
        "gw-a preempting back",
        "MASTER",
        Duration::from_secs(5),
    );
    wait_state(
        &vipd_b,
        "gw-b stepping down",
        "BACKUP",
        Duration::from_secs(3),
    );
    assert_sole_master(&routers, 0, VIP6);
}

fn unicast_config(priority: u8, src: &str, peer: &str) -> String {
    v3_config(
        91,
        priority,
        VIP4,
        &format!("unicast_src_ip: \"{src}\", unicast_peer: [\"{peer}\"], "),
    )
}

#[test]
fn daemon_unicast_peers_elect_fail_over_and_send_no_multicast() {
    let lab = Lab::new("daemon_unicast");
    let (a, b) = two_gateways(&lab);
    // On gw-b, whose cable stays in: it sees all it sends and receives, and every flooded
    // multicast frame of gw-a.
    let multicast = start_immediate_capture(&lab, &b, "eth0", "dst host 224.0.0.18", 100);
    let vrrp = start_immediate_capture(&lab, &b, "eth0", "ip proto 112", 1000);
    let (mut vipd_a, vipd_b) = start_elected(
        &a,
        &unicast_config(150, "192.0.2.1", "192.0.2.2"),
        &b,
        &unicast_config(100, "192.0.2.2", "192.0.2.1"),
    );
    let routers = pair(&a, &vipd_a, &b, &vipd_b);
    assert_sole_master(&routers, 0, VIP4);
    let status_b = vipd_b.instance(INSTANCE).expect("gw-b status");
    assert_eq!(status_b["master"].as_str(), Some("192.0.2.1"), "{status_b}");

    a.link_down();
    wait_state(
        &vipd_b,
        "gw-b taking over",
        "MASTER",
        Duration::from_secs(3),
    );
    assert!(b.has_addr("eth0", vip_addr(VIP4)));
    a.link_up();
    wait_state(
        &vipd_a,
        "gw-a preempting back",
        "MASTER",
        Duration::from_secs(5),
    );
    wait_state(
        &vipd_b,
        "gw-b stepping down",
        "BACKUP",
        Duration::from_secs(3),
    );
    assert_sole_master(&routers, 0, VIP4);
    // The priority-0 advert on shutdown must go unicast too, and still hand over at once.
    std::thread::sleep(Duration::from_millis(200));
    let sent_by_a = counter(&vipd_a, "adverts_sent");
    let exit = stop_with(&mut vipd_a, SIGTERM, Duration::from_secs(5));
    assert!(exit.success(), "gw-a exit after SIGTERM: {exit}");
    let takeover = time_until(Duration::from_secs(3), || {
        vipd_b.state_of(INSTANCE).as_deref() == Some("MASTER")
    })
    .expect("gw-b never became MASTER after gw-a's SIGTERM");
    assert!(
        counter(&vipd_b, "priority_zero_received") >= 1,
        "gw-b got no unicast priority-0 advert: {}",
        vipd_b.status()
    );
    assert!(!a.has_addr("eth0", vip_addr(VIP4)));
    println!(
        "daemon_unicast: gw-b MASTER {takeover:?} after gw-a exited; gw-a sent {sent_by_a} adverts"
    );

    let seen_by_b = counter(&vipd_b, "adverts_received") + counter(&vipd_b, "adverts_sent");
    let multicast_pcap = multicast.stop();
    let vrrp_pcap = vrrp.stop();
    let multicast_packets = pcap_packet_count(&multicast_pcap);
    let vrrp_packets = pcap_packet_count(&vrrp_pcap);
    println!(
        "daemon_unicast: {vrrp_packets} VRRP packets on gw-b's eth0 (gw-b counted {seen_by_b}), \
         {multicast_packets} to 224.0.0.18"
    );
    // The capture demonstrably saw the VRRP traffic, so its silence on 224.0.0.18 means something.
    assert!(
        vrrp_packets as u64 >= seen_by_b && seen_by_b > 10,
        "the capture saw {vrrp_packets} VRRP packets, gw-b counted {seen_by_b} sent and received"
    );
    assert_eq!(multicast_packets, 0, "unicast routers sent to 224.0.0.18");
}
