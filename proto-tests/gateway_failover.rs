//! Seed-003 gateway in the lab, filtering and failure side (issue 5): no_accept drops pings to
//! the VIP while forwarding through it works (and the owner answers), the LAN interface deleted
//! and recreated under a running vipd, the WAN link dying through `track_interface`, and SIGTERM
//! leaving no macvlan, rule, nft table or sysctl change behind.

use crate::gateway_support::*;
use crate::lab::*;
use std::time::Duration;

#[test]
fn gateway_no_accept_drops_pings_to_vip_but_forwards() {
    let gw = gateway_lab("gateway_no_accept");
    let (vipd_a, vipd_b) = gw.start_pair(
        &gateway_config(false, GatewayOptions::default()),
        &gateway_config(true, GatewayOptions::default()),
    );
    wait_for(
        Duration::from_secs(3),
        "client reaching 198.51.100.1 through the VIP on gw-a",
        || gw.client.ping_once(INTERNET),
    );
    // The path works (ARP for the VIP is answered, gw-a's own address answers), only the VIP's
    // own traffic is dropped.
    assert!(gw.client.ping_once("192.0.2.1"), "gw-a's own address");
    assert_eq!(gw.client.neigh_mac(VIP).as_deref(), Some(VMAC4));
    for _ in 0..2 {
        assert!(
            !gw.client.ping_once(VIP),
            "the master answers pings to the VIP despite no_accept"
        );
    }
    assert_eq!(nft_set_elements(&gw.a, "vips"), vec![VIP.to_owned()]);
    assert!(has_nft_table(&gw.b), "gw-b has no table keepalived");
    assert_eq!(nft_set_elements(&gw.b, "vips"), Vec::<String>::new());
    let gateways = gw.gateways(&vipd_a, &vipd_b);
    assert_sole_gateway_master(&gateways, 0, VIP, true);

    // The VIP leaves gw-a's set on leaving MASTER and enters gw-b's.
    gw.a.link_down();
    wait_gw_state(&vipd_b, "gw-b", "MASTER", Duration::from_secs(3));
    wait_for(Duration::from_secs(2), "VIP in gw-b's nft set", || {
        nft_set_elements(&gw.b, "vips") == vec![VIP.to_owned()]
    });
    assert_eq!(nft_set_elements(&gw.a, "vips"), Vec::<String>::new());
    wait_for(
        Duration::from_secs(3),
        "client reaching 198.51.100.1 through the VIP on gw-b",
        || gw.client.ping_once(INTERNET),
    );
    assert!(!gw.client.ping_once(VIP), "gw-b answers pings to the VIP");
}

#[test]
fn gateway_no_accept_owner_priority_255_answers_pings() {
    let gw = gateway_lab("gateway_no_accept_owner");
    let owner_yaml = gateway_config(false, GatewayOptions::default());
    let owner_yaml = owner_yaml.replacen("priority: 250 ", "priority: 255 ", 1);
    assert!(owner_yaml.contains("priority: 255 "), "{owner_yaml}");
    let vipd_a = gw.a.start_vipd(&owner_yaml);
    wait_gw_state(&vipd_a, "gw-a (owner)", "MASTER", Duration::from_secs(5));
    assert!(gw.a.has_addr(VMAC_DEV, VIP));
    wait_for(
        Duration::from_secs(3),
        "client pinging the owner's VIP",
        || gw.client.ping_once(VIP),
    );
}

#[test]
fn gateway_lan_interface_deleted_and_recreated_recovers() {
    let gw = gateway_lab("gateway_lan_recreated");
    let (mut vipd_a, vipd_b) = gw.start_pair(
        &gateway_config(false, GatewayOptions::default()),
        &gateway_config(true, GatewayOptions::default()),
    );
    let old_parent = ifindex(&gw.a, "eth0").expect("gw-a eth0");

    // Deleting one end of the veth removes the other, the bridge port, and the VMAC on top.
    gw.a.exec(&["ip", "link", "del", "eth0"]);
    wait_gw_state(
        &vipd_a,
        "gw-a without eth0",
        "FAULT",
        Duration::from_secs(3),
    );
    wait_gw_state(&vipd_b, "gw-b", "MASTER", Duration::from_secs(3));
    assert!(
        link_details(&gw.a, VMAC_DEV).is_none(),
        "VMAC survived its parent"
    );
    assert!(!has_gateway_rule(&gw.a), "gw-a in FAULT kept the rule");

    switch_ip(
        &gw.lab,
        &[
            "link",
            "add",
            "p1new",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            gw.a.netns(),
        ],
    );
    switch_ip(&gw.lab, &["link", "set", "p1new", "master", "br0"]);
    switch_ip(&gw.lab, &["link", "set", "p1new", "up"]);
    gw.a.add_addr("192.0.2.1/24");
    gw.a.exec(&["ip", "link", "set", "eth0", "up"]);
    let new_parent = ifindex(&gw.a, "eth0").expect("new eth0");
    assert_ne!(old_parent, new_parent, "precondition: a new eth0");

    // nopreempt: the recovered gw-a is BACKUP under gw-b.
    wait_gw_state(
        &vipd_a,
        "gw-a on the new eth0",
        "BACKUP",
        Duration::from_secs(5),
    );
    assert!(
        vipd_a.try_wait().is_none(),
        "vipd exited instead of recovering in place"
    );
    wait_for(Duration::from_secs(3), "VMAC on the new eth0", || {
        link_details(&gw.a, VMAC_DEV).is_some()
    });
    assert_vmac_link(&gw.a, VMAC4);
    let iflink =
        gw.a.exec_stdout(&["cat", &format!("/sys/class/net/{VMAC_DEV}/iflink")]);
    assert_eq!(
        iflink.trim().parse::<u64>().ok(),
        Some(new_parent),
        "parent ifindex of the recreated VMAC"
    );
    assert_vmac_sysctls(&gw.a);
    let gateways = gw.gateways(&vipd_a, &vipd_b);
    assert_sole_gateway_master(&gateways, 1, VIP, true);
}

#[test]
fn gateway_wan_down_via_track_interface_hands_over() {
    let gw = gateway_lab("gateway_wan_track");
    let options = GatewayOptions {
        track_wan: true,
        ..GatewayOptions::default()
    };
    let (vipd_a, vipd_b) = gw.start_pair(
        &gateway_config(false, options),
        &gateway_config(true, options),
    );
    let gateways = gw.gateways(&vipd_a, &vipd_b);
    assert_sole_gateway_master(&gateways, 0, VIP, true);

    gw.a.exec(&["ip", "link", "set", "wan", "down"]);
    wait_gw_state(
        &vipd_a,
        "gw-a with its WAN down",
        "FAULT",
        Duration::from_secs(3),
    );
    wait_gw_state(&vipd_b, "gw-b", "MASTER", Duration::from_secs(3));
    assert_sole_gateway_master(&gateways, 1, VIP, true);
    // gw-b's own WAN carries the client now.
    wait_for(
        Duration::from_secs(3),
        "client reaching 198.51.100.1 through gw-b",
        || gw.client.ping_once(INTERNET),
    );

    gw.a.exec(&["ip", "link", "set", "wan", "up"]);
    // nopreempt: back as BACKUP, gw-b keeps the address.
    wait_gw_state(
        &vipd_a,
        "gw-a with its WAN up",
        "BACKUP",
        Duration::from_secs(3),
    );
    assert_sole_gateway_master(&gateways, 1, VIP, true);
}

/// The parent sysctls vipd changes, as they are now on `node`'s eth0.
fn parent_sysctls(node: &Node) -> Vec<(String, Option<String>)> {
    PARENT_SYSCTLS
        .iter()
        .map(|(key, _)| (key.to_string(), dev_sysctl(node, "eth0", key)))
        .collect()
}

#[test]
fn gateway_sigterm_leaves_nothing_behind() {
    let gw = gateway_lab("gateway_sigterm_cleanup");
    // A non-default value on gw-a tells "restored" apart from "reset to the kernel default".
    gw.a.sysctl("net.ipv4.conf.eth0.arp_ignore", "2");
    let before_a = parent_sysctls(&gw.a);
    let before_b = parent_sysctls(&gw.b);
    let (mut vipd_a, mut vipd_b) = gw.start_pair(
        &gateway_config(false, GatewayOptions::default()),
        &gateway_config(true, GatewayOptions::default()),
    );
    for node in [&gw.a, &gw.b] {
        assert!(
            link_details(node, VMAC_DEV).is_some(),
            "{}: no VMAC",
            node.name()
        );
        assert!(has_nft_table(node), "{}: no nft table", node.name());
        assert_vmac_sysctls(node);
    }
    assert!(has_gateway_rule(&gw.a), "precondition: the master's rule");

    sigterm_and_wait(&mut vipd_a, Duration::from_secs(5));
    wait_gw_state(&vipd_b, "gw-b", "MASTER", Duration::from_secs(3));
    assert!(has_gateway_rule(&gw.b), "precondition: gw-b's rule");
    sigterm_and_wait(&mut vipd_b, Duration::from_secs(5));

    for (node, before) in [(&gw.a, &before_a), (&gw.b, &before_b)] {
        let name = node.name();
        assert!(
            link_details(node, VMAC_DEV).is_none(),
            "{name}: {VMAC_DEV} left behind"
        );
        assert!(
            !has_any_rule_at_gateway_priority(node),
            "{name}: rule at 32770 left behind: {:?}",
            rules(node, false)
        );
        assert!(
            !has_nft_table(node),
            "{name}: nft table keepalived left behind"
        );
        assert_eq!(&parent_sysctls(node), before, "{name}: eth0 sysctls");
        assert!(!node.has_addr("eth0", VIP), "{name}: VIP on eth0");
    }
}
