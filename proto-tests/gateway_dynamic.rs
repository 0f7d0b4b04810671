//! Seed-003 gateway when its interfaces are not there to begin with or vanish under a master
//! (issue 5, dynamic_interfaces): an instance whose LAN interface is missing at start, then
//! present without an address, waits in FAULT and becomes master once it can, without a
//! restart; a VMAC deleted under a running master is made again with what went with it.

use crate::gateway_support::*;
use crate::lab::*;
use std::time::Duration;

#[test]
fn gateway_interface_missing_at_start_waits_in_fault_then_serves() {
    let gw = gateway_lab("gateway_missing_at_start");
    gw.a.exec(&["ip", "link", "del", "eth0"]);
    let mut vipd_a =
        gw.a.start_vipd(&gateway_config(false, GatewayOptions::default()));
    wait_gw_state(
        &vipd_a,
        "gw-a without eth0",
        "FAULT",
        Duration::from_secs(5),
    );
    let status = vipd_a.instance(GW_INSTANCE).expect("status");
    assert!(
        status["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("eth0")),
        "status does not say that eth0 is missing: {status}"
    );

    // The interface appears, up but without an address to send adverts from.
    recable_lan(&gw.lab, &gw.a, "p1late");
    gw.a.exec(&["ip", "link", "set", "eth0", "up"]);
    wait_for(
        Duration::from_secs(5),
        "the missing address reported",
        || {
            vipd_a
                .instance(GW_INSTANCE)
                .and_then(|s| s["last_error"].as_str().map(|e| e.contains("address")))
                .unwrap_or(false)
        },
    );
    assert_eq!(
        vipd_a.state_of(GW_INSTANCE).as_deref(),
        Some("FAULT"),
        "an instance with no address to send from must not run"
    );
    assert!(vipd_a.try_wait().is_none(), "vipd exited");

    gw.a.add_addr("192.0.2.1/24");
    wait_gw_state(&vipd_a, "gw-a with eth0", "MASTER", Duration::from_secs(5));
    wait_for(Duration::from_secs(3), "VIP and rule on gw-a", || {
        gw.a.has_addr(VMAC_DEV, VIP) && has_gateway_rule(&gw.a)
    });
    assert_vmac_link(&gw.a, VMAC4);
    let status = vipd_a.instance(GW_INSTANCE).expect("status");
    assert!(
        status["last_error"].is_null(),
        "an error is still shown: {status}"
    );
    wait_for(
        Duration::from_secs(3),
        "client reaching 198.51.100.1 through the VIP on gw-a",
        || gw.client.ping_once(INTERNET),
    );

    // Its peer joins: gw-a, with the address it learned late, is the master gw-b hears.
    let vipd_b =
        gw.b.start_vipd(&gateway_config(true, GatewayOptions::default()));
    wait_gw_state(&vipd_b, "gw-b", "BACKUP", Duration::from_secs(5));
    let gateways = gw.gateways(&vipd_a, &vipd_b);
    assert_sole_gateway_master(&gateways, 0, VIP, true);
    let heard = vipd_b.instance(GW_INSTANCE).expect("gw-b status");
    assert_eq!(
        heard["master"].as_str(),
        Some("192.0.2.1"),
        "gw-b hears gw-a's adverts from its late address: {heard}"
    );
}

#[test]
fn gateway_vmac_deleted_under_master_is_made_again_with_vip_and_rule() {
    let gw = gateway_lab("gateway_vmac_deleted");
    let (vipd_a, vipd_b) = gw.start_pair(
        &gateway_config(false, GatewayOptions::default()),
        &gateway_config(true, GatewayOptions::default()),
    );
    let old_vmac = ifindex(&gw.a, VMAC_DEV).expect("gw-a VMAC");
    gw.a.exec(&["ip", "link", "del", VMAC_DEV]);
    wait_for(Duration::from_secs(5), "a new VMAC on gw-a", || {
        ifindex(&gw.a, VMAC_DEV).is_some_and(|i| i != old_vmac)
    });
    wait_for(Duration::from_secs(5), "VIP back on the new VMAC", || {
        gw.a.has_addr(VMAC_DEV, VIP)
    });
    assert_vmac_link(&gw.a, VMAC4);
    assert_vmac_sysctls(&gw.a);
    let gateways = gw.gateways(&vipd_a, &vipd_b);
    assert_sole_gateway_master(&gateways, 0, VIP, true);
    wait_for(
        Duration::from_secs(3),
        "client reaching 198.51.100.1 through the VIP on gw-a",
        || gw.client.ping_once(INTERNET),
    );
    assert_eq!(
        vipd_b
            .instance(GW_INSTANCE)
            .and_then(|s| s["counters"]["become_master"].as_u64()),
        Some(0),
        "gw-b took over while gw-a rebuilt its VMAC"
    );
}

#[test]
fn gateway_vip_rule_and_route_removed_by_someone_else_are_put_back() {
    let gw = gateway_lab("gateway_put_back");
    let rule = "      - to all lookup 250 priority 32770\n";
    let yaml = gateway_config(false, GatewayOptions::default());
    assert_eq!(
        yaml.matches(rule).count(),
        1,
        "conf/gateway.yaml no longer has the instance's rule line; update this test"
    );
    let yaml = yaml.replace(
        rule,
        &format!("{rule}    virtual_routes:\n      - 203.0.113.128/25 dev wan table 251\n"),
    );
    let vipd_a = gw.a.start_vipd(&yaml);
    wait_gw_state(&vipd_a, "gw-a", "MASTER", Duration::from_secs(5));
    let route_present = || {
        gw.a.exec_stdout(&["ip", "route", "show", "table", "251"])
            .contains("203.0.113.128/25")
    };
    wait_for(
        Duration::from_secs(3),
        "VIP, rule and route on gw-a",
        || gw.a.has_addr(VMAC_DEV, VIP) && has_gateway_rule(&gw.a) && route_present(),
    );

    gw.a.exec(&["ip", "addr", "del", &format!("{VIP}/32"), "dev", VMAC_DEV]);
    wait_for(Duration::from_secs(3), "the VIP put back", || {
        gw.a.has_addr(VMAC_DEV, VIP)
    });
    gw.a.exec(&["ip", "rule", "del", "pref", "32770"]);
    wait_for(Duration::from_secs(3), "the rule put back", || {
        has_gateway_rule(&gw.a)
    });
    gw.a.exec(&["ip", "route", "del", "203.0.113.128/25", "table", "251"]);
    wait_for(Duration::from_secs(3), "the route put back", route_present);
    assert_eq!(vipd_a.state_of(GW_INSTANCE).as_deref(), Some("MASTER"));
    assert!(
        vipd_a.log().contains("putting it back"),
        "the put-back is not logged"
    );
}
