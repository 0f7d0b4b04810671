//! Seed-003 gateway in the lab, virtual MAC side (issue 5): the master holds the VIP on
//! `vrrp.60` with the virtual MAC and the rule `lookup 250` at 32770, the backup has neither,
//! failover moves both (with `vmac_xmit_base` on and off, and over IPv6), and the client's ARP
//! entry for the VIP keeps the virtual MAC across failover.

use crate::gateway_support::*;
use crate::lab::*;
use std::time::Duration;

/// The source MACs of the first few VRRP adverts the client sees.
fn advert_source_macs(client: &Node, count: u32) -> Vec<String> {
    let out = client.exec_stdout(&[
        "timeout",
        "5",
        "tcpdump",
        "-i",
        "eth0",
        "-n",
        "-e",
        "-t",
        "-l",
        "-c",
        &count.to_string(),
        "vrrp",
    ]);
    out.lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}

fn master_holds_vip_on_vmac_with_rule(test_name: &str, vmac_xmit_base: bool) {
    let gw = gateway_lab(test_name);
    let options = GatewayOptions {
        vmac_xmit_base,
        ..GatewayOptions::default()
    };
    let (vipd_a, vipd_b) = gw.start_pair(
        &gateway_config(false, options),
        &gateway_config(true, options),
    );
    let gateways = gw.gateways(&vipd_a, &vipd_b);
    for node in [&gw.a, &gw.b] {
        // The backup has its VMAC too, idle, so that taking over only moves addresses.
        assert_vmac_link(node, VMAC4);
        assert_vmac_sysctls(node);
    }
    assert_sole_gateway_master(&gateways, 0, VIP, true);
    assert!(
        !has_any_rule_at_gateway_priority(&gw.b),
        "backup has a rule at 32770: {:?}",
        rules(&gw.b, false)
    );

    let expected_source = if vmac_xmit_base {
        gw.a.mac("eth0")
    } else {
        VMAC4.to_owned()
    };
    let sources = advert_source_macs(&gw.client, 3);
    assert_eq!(
        sources,
        vec![expected_source; 3],
        "source MACs of gw-a's adverts (vmac_xmit_base {vmac_xmit_base})"
    );

    gw.a.link_down();
    wait_gw_state(
        &vipd_b,
        "gw-b after gw-a's cable cut",
        "MASTER",
        Duration::from_secs(3),
    );
    wait_gw_state(&vipd_a, "gw-a cut off", "FAULT", Duration::from_secs(3));
    assert_sole_gateway_master(&gateways, 1, VIP, true);
    assert!(
        !has_any_rule_at_gateway_priority(&gw.a),
        "gw-a in FAULT kept a rule at 32770"
    );

    gw.a.link_up();
    // nopreempt: gw-a comes back as BACKUP and leaves gw-b in charge.
    wait_gw_state(&vipd_a, "gw-a back", "BACKUP", Duration::from_secs(3));
    assert_sole_gateway_master(&gateways, 1, VIP, true);
}

#[test]
fn gateway_master_holds_vip_on_vmac_with_rule() {
    master_holds_vip_on_vmac_with_rule("gateway_vmac_xmit_base", true);
}

#[test]
fn gateway_master_holds_vip_on_vmac_with_rule_adverts_from_vmac() {
    master_holds_vip_on_vmac_with_rule("gateway_vmac_no_xmit_base", false);
}

/// Client reaching [`INTERNET`] through the VIP (no_accept: the VIP itself does not answer).
fn wait_forwarding(gw: &GatewayLab, through: &str, timeout: Duration) -> Duration {
    let start = std::time::Instant::now();
    wait_for(
        timeout,
        &format!("client reaching {INTERNET} through the VIP on {through}"),
        || gw.client.ping_once(INTERNET),
    );
    start.elapsed()
}

#[test]
fn gateway_client_arp_keeps_virtual_mac_across_failover() {
    let gw = gateway_lab("gateway_client_arp");
    let (vipd_a, vipd_b) = gw.start_pair(
        &gateway_config(false, GatewayOptions::default()),
        &gateway_config(true, GatewayOptions::default()),
    );
    wait_forwarding(&gw, "gw-a", Duration::from_secs(3));
    assert_eq!(gw.client.neigh_mac(VIP).as_deref(), Some(VMAC4));

    gw.a.link_down();
    wait_gw_state(
        &vipd_b,
        "gw-b after gw-a's cable cut",
        "MASTER",
        Duration::from_secs(3),
    );
    // The switch learns the VMAC's new port from gw-b's gratuitous ARPs.
    let resumed = wait_forwarding(&gw, "gw-b", Duration::from_secs(3));
    println!("gateway_client_arp: forwarding through gw-b {resumed:?} after it became MASTER");
    assert_eq!(
        gw.client.neigh_mac(VIP).as_deref(),
        Some(VMAC4),
        "the client's ARP entry for the VIP after failover"
    );
    assert!(gw.b.has_addr(VMAC_DEV, VIP) && has_gateway_rule(&gw.b));
    assert_eq!(vipd_a.state_of(GW_INSTANCE).as_deref(), Some("FAULT"));
    assert!(!gw.a.has_addr(VMAC_DEV, VIP) && !has_gateway_rule(&gw.a));
}

#[test]
fn gateway_sigterm_handover_keeps_forwarding_through_vmac() {
    let gw = gateway_lab("gateway_sigterm_forwarding");
    let (mut vipd_a, vipd_b) = gw.start_pair(
        &gateway_config(false, GatewayOptions::default()),
        &gateway_config(true, GatewayOptions::default()),
    );
    wait_forwarding(&gw, "gw-a", Duration::from_secs(3));
    sigterm_and_wait(&mut vipd_a, Duration::from_secs(5));
    wait_gw_state(&vipd_b, "gw-b", "MASTER", Duration::from_secs(3));
    // A link-cut failover recovers in well under a second; 2 s leaves room for a loaded machine
    // and stays below the 5 s second GARP burst that masks the bug.
    let resumed = wait_forwarding(&gw, "gw-b", Duration::from_secs(2));
    println!("gateway_sigterm_forwarding: forwarding through gw-b after {resumed:?}");
    assert_eq!(gw.client.neigh_mac(VIP).as_deref(), Some(VMAC4));
}

#[test]
fn gateway_ipv6_vmac_holds_vip_without_mac_derived_link_local() {
    let gw = gateway_lab("gateway_ipv6_vmac");
    gw.a.add_addr("2001:db8::1/64");
    gw.b.add_addr("2001:db8::2/64");
    gw.client.add_addr("2001:db8::10/64");
    let (mut vipd_a, vipd_b) = gw.start_pair(&gateway_config_v6(false), &gateway_config_v6(true));
    let gateways = gw.gateways(&vipd_a, &vipd_b);
    // The EUI-64 link-local of 00:00:5e:00:02:3c, which two VMACs on one LAN would share.
    const SHARED_LINK_LOCAL: &str = "fe80::200:5eff:fe00:23c";
    for node in [&gw.a, &gw.b] {
        assert_vmac_link(node, VMAC6);
        let link = link_details(node, VMAC_DEV).expect("VMAC link");
        assert_eq!(
            link["inet6_addr_gen_mode"].as_str(),
            Some("random"),
            "{}: addrgenmode of {VMAC_DEV}: {link}",
            node.name()
        );
        let link_locals: Vec<String> = node
            .addrs(VMAC_DEV)
            .iter()
            .filter_map(|a| a["local"].as_str())
            .filter(|a| a.starts_with("fe80:"))
            .map(str::to_owned)
            .collect();
        assert!(
            !link_locals.iter().any(|a| a == SHARED_LINK_LOCAL),
            "{}: {VMAC_DEV} has the MAC-derived link-local: {link_locals:?}",
            node.name()
        );
    }
    assert_sole_gateway_master(&gateways, 0, "2001:db8::3", false);
    wait_for(Duration::from_secs(3), "client pinging 2001:db8::3", || {
        gw.client.ping_once("2001:db8::3")
    });
    assert_eq!(gw.client.neigh_mac("2001:db8::3").as_deref(), Some(VMAC6));

    sigterm_and_wait(&mut vipd_a, Duration::from_secs(5));
    wait_gw_state(&vipd_b, "gw-b", "MASTER", Duration::from_secs(3));
    assert!(gw.b.has_addr(VMAC_DEV, "2001:db8::3/64"));
    assert!(!gw.a.has_addr(VMAC_DEV, "2001:db8::3"));
    wait_for(
        Duration::from_secs(3),
        "client pinging 2001:db8::3 on gw-b",
        || gw.client.ping_once("2001:db8::3"),
    );
    assert_eq!(gw.client.neigh_mac("2001:db8::3").as_deref(), Some(VMAC6));
}
