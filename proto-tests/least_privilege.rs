//! vipd as the systemd unit runs it: an unprivileged user (uid 65534) holding only CAP_NET_ADMIN
//! and CAP_NET_RAW (`setpriv`, ambient capabilities, bounding set cut to those two), through the
//! seed-003 gateway's whole feature set: election, the VMAC and its sysctls, nft `no_accept`, a
//! virtual route and rule, failover on SIGTERM and a clean exit. Without one of the two
//! capabilities it says which one it needs.

use crate::gateway_support::*;
use crate::lab::*;
use std::time::Duration;

/// `nobody` / `nogroup` on Debian.
const UNPRIVILEGED: u32 = 65534;
/// CAP_NET_ADMIN (12) and CAP_NET_RAW (13) as /proc/PID/status prints capability sets.
const NET_ADMIN_AND_RAW: &str = "0000000000003000";
const ROUTE_TABLE: &str = "251";
const ROUTE: &str = "203.0.113.128/25";

/// `setpriv` switching to uid/gid 65534 with only `caps` (e.g. `+net_admin,+net_raw`), kept
/// across exec as ambient capabilities, nothing else in the bounding set.
fn setpriv(caps: &str) -> Vec<String> {
    let id = UNPRIVILEGED.to_string();
    vec![
        "setpriv".into(),
        format!("--reuid={id}"),
        format!("--regid={id}"),
        "--clear-groups".into(),
        format!("--inh-caps=-all,{caps}"),
        format!("--ambient-caps=-all,{caps}"),
        format!("--bounding-set=-all,{caps}"),
    ]
}

fn start_unprivileged(node: &Node, yaml: &str, caps: &str) -> VipdProc {
    let wrapper = setpriv(caps);
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    node.start_vipd_wrapped(yaml, &wrapper, Some((UNPRIVILEGED, UNPRIVILEGED)))
}

/// A line of /proc/PID/status (`Uid`, `CapEff`, …) without its label.
fn proc_status(pid: u32, key: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
        .trim()
        .to_owned()
}

fn assert_unprivileged(vipd: &VipdProc) {
    let pid = vipd.pid();
    assert_eq!(
        proc_status(pid, "Uid")
            .split_whitespace()
            .collect::<Vec<_>>(),
        vec!["65534"; 4],
        "{}: not running as uid 65534",
        vipd.label()
    );
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(
            proc_status(pid, set),
            NET_ADMIN_AND_RAW,
            "{}: {set}",
            vipd.label()
        );
    }
}

/// Whether the virtual route is in its table (an empty table does not exist at all).
fn route_present(node: &Node) -> bool {
    let out = node.try_exec(&["ip", "route", "show", "table", ROUTE_TABLE]);
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains(ROUTE)
}

/// The daemon's errors and every instance's, as status reports them.
fn reported_errors(vipd: &VipdProc) -> Vec<String> {
    let status = vipd.status();
    let mut errors: Vec<String> = status["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e.to_string())
        .collect();
    for instance in status["instances"].as_array().into_iter().flatten() {
        errors.extend(
            instance["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| e.to_string()),
        );
    }
    errors
}

#[test]
fn least_privilege_gateway_pair_runs_with_net_admin_and_net_raw_only() {
    let gw = gateway_lab("least_privilege_gateway");
    let rule = "      - to all lookup 250 priority 32770\n";
    let with_route = |yaml: String| {
        assert_eq!(yaml.matches(rule).count(), 1, "the seed's rule line moved");
        yaml.replace(
            rule,
            &format!("{rule}    virtual_routes:\n      - {ROUTE} dev wan table {ROUTE_TABLE}\n"),
        )
    };
    let yaml_a = with_route(gateway_config(false, GatewayOptions::default()));
    let yaml_b = with_route(gateway_config(true, GatewayOptions::default()));
    let caps = "+net_admin,+net_raw";
    let mut vipd_a = start_unprivileged(&gw.a, &yaml_a, caps);
    wait_gw_state(&vipd_a, "gw-a", "MASTER", Duration::from_secs(5));
    let vipd_b = start_unprivileged(&gw.b, &yaml_b, caps);
    wait_gw_state(&vipd_b, "gw-b", "BACKUP", Duration::from_secs(5));
    assert_unprivileged(&vipd_a);
    assert_unprivileged(&vipd_b);

    let gateways = gw.gateways(&vipd_a, &vipd_b);
    assert_sole_gateway_master(&gateways, 0, VIP, true);
    for node in [&gw.a, &gw.b] {
        assert_vmac_link(node, VMAC4);
        assert_vmac_sysctls(node);
        assert!(has_nft_table(node), "{}: no nft table", node.name());
    }
    wait_for(Duration::from_secs(3), "the virtual route on gw-a", || {
        route_present(&gw.a)
    });
    assert!(!route_present(&gw.b), "the backup has the virtual route");
    assert_eq!(nft_set_elements(&gw.a, "vips"), vec![VIP.to_owned()]);
    wait_for(
        Duration::from_secs(3),
        "client reaching 198.51.100.1 through the VIP on gw-a",
        || gw.client.ping_once(INTERNET),
    );
    assert!(
        !gw.client.ping_once(VIP),
        "no_accept: the unprivileged master answers pings to the VIP"
    );
    for vipd in [&vipd_a, &vipd_b] {
        assert_eq!(
            reported_errors(vipd),
            Vec::<String>::new(),
            "{}",
            vipd.label()
        );
    }

    // Failover: gw-a leaves cleanly (priority 0, everything it added removed, as uid 65534).
    sigterm_and_wait(&mut vipd_a, Duration::from_secs(5));
    wait_gw_state(&vipd_b, "gw-b", "MASTER", Duration::from_secs(3));
    wait_for(
        Duration::from_secs(3),
        "VIP, rule, route and nft set entry on gw-b",
        || {
            gw.b.has_addr(VMAC_DEV, VIP)
                && has_gateway_rule(&gw.b)
                && route_present(&gw.b)
                && nft_set_elements(&gw.b, "vips") == vec![VIP.to_owned()]
        },
    );
    wait_for(
        Duration::from_secs(3),
        "client reaching 198.51.100.1 through the VIP on gw-b",
        || gw.client.ping_once(INTERNET),
    );
    assert!(
        link_details(&gw.a, VMAC_DEV).is_none(),
        "gw-a left its VMAC"
    );
    assert!(!has_nft_table(&gw.a), "gw-a left its nft table");
    assert!(
        !has_any_rule_at_gateway_priority(&gw.a),
        "gw-a left its rule"
    );
    assert!(!route_present(&gw.a), "gw-a left its route");
    for (key, _) in PARENT_SYSCTLS {
        assert_eq!(
            dev_sysctl(&gw.a, "eth0", key).as_deref(),
            Some("0"),
            "gw-a eth0 {key} not restored"
        );
    }
}

/// Starts vipd with `caps` only and waits for a log line or reported error naming `needed`.
fn assert_names_missing_capability(test: &str, caps: &str, needed: &str) {
    let lab = Lab::new(test);
    let a = lab.add_node("gw-a");
    a.add_addr("192.0.2.1/24");
    let yaml = gateway_config(false, GatewayOptions::default());
    let vipd = start_unprivileged(&a, &yaml, caps);
    let mut seen = String::new();
    let named = wait_until(Duration::from_secs(5), || {
        seen = vipd.log();
        if let Ok(status) = vipd.try_status() {
            seen.push_str(&status.to_string());
        }
        seen.contains(needed)
    });
    assert!(
        named,
        "vipd without {needed} never said it needs {needed}:\n{seen}"
    );
}

#[test]
fn least_privilege_without_net_admin_names_it() {
    assert_names_missing_capability("least_privilege_no_admin", "+net_raw", "CAP_NET_ADMIN");
}

#[test]
fn least_privilege_without_net_raw_names_it() {
    assert_names_missing_capability("least_privilege_no_raw", "+net_admin", "CAP_NET_RAW");
}

#[test]
fn least_privilege_script_user_switch_without_cap_setuid_names_it() {
    let lab = Lab::new("least_privilege_script_user");
    let a = lab.add_node("gw-a");
    a.add_addr("192.0.2.1/24");
    let yaml = gateway_config(false, GatewayOptions::default());
    assert_eq!(yaml.matches("    virtual_router_id: 60\n").count(), 1);
    let yaml = yaml
        .replacen("global_defs:\n", "global_defs:\n  script_user: root\n", 1)
        .replacen(
            "    virtual_router_id: 60\n",
            "    virtual_router_id: 60\n    notify_master: /bin/true\n",
            1,
        );
    let vipd = start_unprivileged(&a, &yaml, "+net_admin,+net_raw");
    wait_gw_state(&vipd, "gw-a", "MASTER", Duration::from_secs(5));
    wait_for(
        Duration::from_secs(3),
        "a notify failure naming CAP_SETUID",
        || vipd.log().contains("CAP_SETUID"),
    );
    assert!(vipd.log().contains("as root"), "{}", vipd.log());
}
