//! Helpers of the `gateway_*` lab tests (issue 5): the seed-003 gateway pair built from
//! `conf/gateway.yaml` / `conf/gateway-b.yaml`, a WAN namespace per gateway holding the
//! "table 250" upstream, and readers for the VMAC link, `ip rule`, sysctls and the nft set.
//!
//! Lab shape: LAN bridge with gw-a (192.0.2.1), gw-b (192.0.2.2) and a client (192.0.2.10,
//! default route via the VIP 192.0.2.3). Each gateway has a veth `wan` (203.0.113.2/24) into
//! its own upstream namespace (203.0.113.1, plus 198.51.100.1 on lo as "the internet"); the
//! gateway's only route there is `default via 203.0.113.1 table 250`, so forwarding from the
//! client to 198.51.100.1 works only through the gateway holding the rule `lookup 250`.

use crate::lab::*;
use std::process::Command;
use std::time::Duration;

/// The instance name of the seed's config.
pub const GW_INSTANCE: &str = "VI_gateway";
pub const VMAC_DEV: &str = "vrrp.60";
pub const VMAC4: &str = "00:00:5e:00:01:3c";
pub const VMAC6: &str = "00:00:5e:00:02:3c";
pub const VIP: &str = "192.0.2.3";
pub const RULE_PRIORITY: u64 = 32770;
pub const RULE_TABLE: &str = "250";
/// An address behind the WAN router, reachable only through table 250.
pub const INTERNET: &str = "198.51.100.1";

const GATEWAY_A_YAML: &str = include_str!("../conf/gateway.yaml");
const GATEWAY_B_YAML: &str = include_str!("../conf/gateway-b.yaml");

/// The link actions of `conf/gateway*.yaml` (the backup's WAN down, up on master).
pub const SEED_LINK_ACTIONS: &str = "    on_master:\n      - link_up ens7\n    on_backup:\n      - link_down ens7\n    on_fault:\n      - link_down ens7\n";

/// Which of the seed's settings a test changes.
#[derive(Clone, Copy, Debug)]
pub struct GatewayOptions {
    pub vmac_xmit_base: bool,
    pub no_accept: bool,
    pub track_wan: bool,
}

impl Default for GatewayOptions {
    /// The seed as written, plus nothing.
    fn default() -> Self {
        GatewayOptions {
            vmac_xmit_base: true,
            no_accept: true,
            track_wan: false,
        }
    }
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "conf/gateway*.yaml no longer contains {from:?} exactly once; update gateway_support.rs"
    );
    text.replacen(from, to, 1)
}

/// The shipped config of gateway A (`b == false`) or B, adapted to the lab: `ens6` → `eth0`,
/// and the options applied by substituting the seed's own lines.
pub fn gateway_config(b: bool, options: GatewayOptions) -> String {
    let mut yaml = if b { GATEWAY_B_YAML } else { GATEWAY_A_YAML }.to_owned();
    yaml = replace_once(&yaml, "interface: ens6", "interface: eth0");
    // These labs keep each gateway's own WAN up (their table 250 route lives on it); the link
    // actions are the stateful gateway lab's business.
    yaml = replace_once(&yaml, SEED_LINK_ACTIONS, "");
    if !options.vmac_xmit_base {
        yaml = replace_once(&yaml, "vmac_xmit_base: true", "vmac_xmit_base: false");
    }
    if !options.no_accept {
        yaml = replace_once(&yaml, "no_accept: true", "no_accept: false");
    }
    if options.track_wan {
        yaml = replace_once(
            &yaml,
            "    # track_interface:\n    #   - ens7",
            "    track_interface:\n      - wan",
        );
    }
    yaml
}

/// The seed's config turned into an IPv6 instance with the VIP 2001:db8::3/64 (no rule).
pub fn gateway_config_v6(b: bool) -> String {
    let yaml = gateway_config(
        b,
        GatewayOptions {
            no_accept: false,
            ..GatewayOptions::default()
        },
    );
    let yaml = replace_once(&yaml, "      - 192.0.2.3 ", "      - 2001:db8::3/64 ");
    replace_once(
        &yaml,
        "    virtual_rules:\n      - to all lookup 250 priority 32770\n",
        "",
    )
}

/// The lab of the seed-003 gateway pair (no daemons yet).
pub struct GatewayLab {
    pub a: Node,
    pub b: Node,
    pub client: Node,
    /// Last: dropped after the nodes, deleting every namespace.
    pub lab: Lab,
}

/// Builds the LAN, the two WANs and the client's default route via the VIP; IPv4 forwarding on.
pub fn gateway_lab(test_name: &str) -> GatewayLab {
    let lab = Lab::new(test_name);
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    let client = lab.add_node("client");
    let wan_a = lab.add_node("wan-a");
    let wan_b = lab.add_node("wan-b");
    a.add_addr("192.0.2.1/24");
    b.add_addr("192.0.2.2/24");
    client.add_addr("192.0.2.10/24");
    client.exec(&["ip", "route", "add", "default", "via", VIP]);
    cable_wan(&a, &wan_a);
    cable_wan(&b, &wan_b);
    GatewayLab { a, b, client, lab }
}

/// Replaces `upstream`'s LAN cable with a veth `wan` (gateway) ↔ `up0` (upstream).
fn cable_wan(gateway: &Node, upstream: &Node) {
    // The lab cables every node to the LAN bridge; the upstream must not be on the LAN.
    upstream.exec(&["ip", "link", "del", "eth0"]);
    gateway.exec(&[
        "ip",
        "link",
        "add",
        "wan",
        "type",
        "veth",
        "peer",
        "name",
        "up0",
        "netns",
        upstream.netns(),
    ]);
    upstream.add_addr_on("up0", "203.0.113.1/24");
    upstream.add_addr_on("lo", &format!("{INTERNET}/32"));
    upstream.exec(&["ip", "link", "set", "up0", "up"]);
    upstream.exec(&["ip", "route", "add", "192.0.2.0/24", "via", "203.0.113.2"]);
    gateway.add_addr_on("wan", "203.0.113.2/24");
    gateway.exec(&["ip", "link", "set", "wan", "up"]);
    gateway.exec(&[
        "ip",
        "route",
        "add",
        "default",
        "via",
        "203.0.113.1",
        "dev",
        "wan",
        "table",
        RULE_TABLE,
    ]);
    gateway.sysctl("net.ipv4.ip_forward", "1");
}

impl GatewayLab {
    /// Starts gw-a, waits for it to be MASTER, then gw-b and waits for BACKUP (nopreempt makes
    /// a simultaneous start a race of 4 ms between the two master-down timers).
    pub fn start_pair(&self, a_yaml: &str, b_yaml: &str) -> (VipdProc, VipdProc) {
        let vipd_a = self.a.start_vipd(a_yaml);
        wait_gw_state(&vipd_a, "gw-a", "MASTER", Duration::from_secs(5));
        let vipd_b = self.b.start_vipd(b_yaml);
        wait_gw_state(&vipd_b, "gw-b", "BACKUP", Duration::from_secs(5));
        (vipd_a, vipd_b)
    }
}

/// Waits until `vipd` reports `state` for [`GW_INSTANCE`], failing after `timeout`.
pub fn wait_gw_state(vipd: &VipdProc, who: &str, state: &str, timeout: Duration) {
    let mut last = None;
    let reached = wait_until(timeout, || {
        last = vipd.state_of(GW_INSTANCE);
        last.as_deref() == Some(state)
    });
    assert!(
        reached,
        "timed out after {timeout:?} waiting for {who} {state}; last state {last:?}"
    );
}

/// `ip -j -d link show dev` of `dev`, if it exists.
pub fn link_details(node: &Node, dev: &str) -> Option<serde_json::Value> {
    let out = node.try_exec(&["ip", "-j", "-d", "link", "show", "dev", dev]);
    if !out.status.success() {
        return None;
    }
    let links: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    links.as_array()?.first().cloned()
}

/// The ifindex of `dev`, if it exists.
pub fn ifindex(node: &Node, dev: &str) -> Option<u64> {
    link_details(node, dev)?["ifindex"].as_u64()
}

/// Asserts that `vrrp.60` is a private-mode macvlan on `eth0` with the virtual MAC `mac`.
pub fn assert_vmac_link(node: &Node, mac: &str) {
    let link = link_details(node, VMAC_DEV)
        .unwrap_or_else(|| panic!("{}: no {VMAC_DEV} link", node.name()));
    assert_eq!(
        link["address"].as_str(),
        Some(mac),
        "{}: MAC of {VMAC_DEV}: {link}",
        node.name()
    );
    assert_eq!(
        link["linkinfo"]["info_kind"].as_str(),
        Some("macvlan"),
        "{}: {VMAC_DEV} kind: {link}",
        node.name()
    );
    assert_eq!(
        link["linkinfo"]["info_data"]["mode"].as_str(),
        Some("private"),
        "{}: {VMAC_DEV} mode: {link}",
        node.name()
    );
    assert_eq!(
        link["link"].as_str(),
        Some("eth0"),
        "{}: {VMAC_DEV} parent: {link}",
        node.name()
    );
}

/// The rules `ip -j rule show` lists (IPv4, or IPv6 with `v6`).
pub fn rules(node: &Node, v6: bool) -> Vec<serde_json::Value> {
    let family = if v6 { "-6" } else { "-4" };
    let out = node.exec_stdout(&["ip", family, "-j", "rule", "show"]);
    serde_json::from_str::<serde_json::Value>(&out)
        .unwrap_or_else(|e| panic!("ip -j rule: {e}: {out}"))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Whether the node has the seed's rule `to all lookup 250 priority 32770`.
pub fn has_gateway_rule(node: &Node) -> bool {
    rules(node, false).iter().any(|r| {
        r["priority"].as_u64() == Some(RULE_PRIORITY)
            && r["table"].as_str() == Some(RULE_TABLE)
            && r["src"].as_str() == Some("all")
            && r.get("dst").is_none()
    })
}

/// Whether any rule sits at priority 32770 (whatever it says).
pub fn has_any_rule_at_gateway_priority(node: &Node) -> bool {
    rules(node, false)
        .iter()
        .any(|r| r["priority"].as_u64() == Some(RULE_PRIORITY))
}

/// A sysctl of `dev` (`net.ipv4.conf.<dev>.<key>`) read inside the node; None if absent.
pub fn dev_sysctl(node: &Node, dev: &str, key: &str) -> Option<String> {
    let path = format!("/proc/sys/net/ipv4/conf/{dev}/{key}");
    let out = node.try_exec(&["cat", &path]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The sysctls vipd sets on the VMAC (keepalived's set).
pub const VMAC_SYSCTLS: [(&str, &str); 3] = [
    ("arp_ignore", "1"),
    ("accept_local", "1"),
    ("rp_filter", "0"),
];
/// The sysctls vipd sets on the VMAC's parent.
pub const PARENT_SYSCTLS: [(&str, &str); 2] = [("arp_ignore", "1"), ("arp_filter", "1")];

/// Asserts keepalived's sysctls on `vrrp.60` and on its parent `eth0`.
pub fn assert_vmac_sysctls(node: &Node) {
    for (key, value) in VMAC_SYSCTLS {
        assert_eq!(
            dev_sysctl(node, VMAC_DEV, key).as_deref(),
            Some(value),
            "{}: {VMAC_DEV} {key}",
            node.name()
        );
    }
    for (key, value) in PARENT_SYSCTLS {
        assert_eq!(
            dev_sysctl(node, "eth0", key).as_deref(),
            Some(value),
            "{}: eth0 {key}",
            node.name()
        );
    }
}

/// Whether the nft table `inet keepalived` exists in the node.
pub fn has_nft_table(node: &Node) -> bool {
    node.try_exec(&["nft", "list", "table", "inet", "keepalived"])
        .status
        .success()
}

/// The elements of the set `set` of `inet keepalived` as text (empty if there is no such set).
pub fn nft_set_elements(node: &Node, set: &str) -> Vec<String> {
    let out = node.try_exec(&["nft", "-j", "list", "set", "inet", "keepalived", set]);
    if !out.status.success() {
        return Vec::new();
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    json["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["set"]["elem"].as_array())
        .flatten()
        .map(|e| match e.as_str() {
            Some(s) => s.to_owned(),
            None => e.to_string(),
        })
        .collect()
}

/// One gateway as the one-master check sees it.
pub struct Gateway<'a> {
    pub node: &'a Node,
    pub vipd: &'a VipdProc,
}

impl GatewayLab {
    /// gw-a and gw-b with their daemons, in the order the `assert_sole_gateway_master` index uses.
    pub fn gateways<'a>(&'a self, vipd_a: &'a VipdProc, vipd_b: &'a VipdProc) -> [Gateway<'a>; 2] {
        [
            Gateway {
                node: &self.a,
                vipd: vipd_a,
            },
            Gateway {
                node: &self.b,
                vipd: vipd_b,
            },
        ]
    }
}

/// Asserts over ~600 ms that `gateways[master]` is the only MASTER, the only one with the VIP on
/// `vrrp.60` and (IPv4) the only one with the rule; `vip` is the address without prefix.
pub fn assert_sole_gateway_master(gateways: &[Gateway], master: usize, vip: &str, rule: bool) {
    // Converged first (the samples below then fail with the whole picture if it never is).
    wait_stable(Duration::from_secs(5), Duration::from_millis(400), || {
        gateways.iter().enumerate().all(|(i, g)| {
            (g.vipd.state_of(GW_INSTANCE).as_deref() == Some("MASTER")) == (i == master)
                && g.node.has_addr(VMAC_DEV, vip) == (i == master)
                && (!rule || has_gateway_rule(g.node) == (i == master))
        })
    });
    for sample in 0..5 {
        if sample > 0 {
            std::thread::sleep(Duration::from_millis(120));
        }
        let states: Vec<Option<String>> = gateways
            .iter()
            .map(|g| g.vipd.state_of(GW_INSTANCE))
            .collect();
        let vip_holders: Vec<bool> = gateways
            .iter()
            .map(|g| g.node.has_addr(VMAC_DEV, vip))
            .collect();
        let rule_holders: Vec<bool> = gateways
            .iter()
            .map(|g| rule && has_gateway_rule(g.node))
            .collect();
        let summary = format!(
            "sample {sample}: {}",
            gateways
                .iter()
                .enumerate()
                .map(|(i, g)| format!(
                    "{}={:?} vip={} rule={}",
                    g.node.name(),
                    states[i],
                    vip_holders[i],
                    rule_holders[i]
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let masters = states
            .iter()
            .filter(|s| s.as_deref() == Some("MASTER"))
            .count();
        assert_eq!(masters, 1, "{summary}");
        assert_eq!(
            states[master].as_deref(),
            Some("MASTER"),
            "{summary}: wrong master"
        );
        for i in 0..gateways.len() {
            assert_eq!(vip_holders[i], i == master, "VIP holders: {summary}");
            if rule {
                assert_eq!(rule_holders[i], i == master, "rule holders: {summary}");
            }
            // The VIP lives on the VMAC, never on the parent.
            assert!(
                !gateways[i].node.has_addr("eth0", vip),
                "{}: VIP on eth0: {summary}",
                gateways[i].node.name()
            );
        }
    }
}

/// Sends SIGTERM and waits up to `timeout` for a clean exit.
pub fn sigterm_and_wait(vipd: &mut VipdProc, timeout: Duration) {
    vipd.signal(SIGTERM);
    let status = vipd
        .wait_exit(timeout)
        .unwrap_or_else(|| panic!("{} did not exit within {timeout:?}", vipd.label()));
    assert!(status.success(), "{} exit status {status}", vipd.label());
}

/// Runs `ip -n <switch namespace> ARGS`, failing the test unless it succeeds.
pub fn switch_ip(lab: &Lab, args: &[&str]) {
    let out = Command::new("ip")
        .args(["-n", lab.switch_netns()])
        .args(args)
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip -n {} {}: {}",
        lab.switch_netns(),
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Cables `node` to the LAN bridge again with a new veth: `eth0` in the node (down, no
/// address), `port` on the switch (up, a bridge port).
pub fn recable_lan(lab: &Lab, node: &Node, port: &str) {
    switch_ip(
        lab,
        &[
            "link",
            "add",
            port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            node.netns(),
        ],
    );
    switch_ip(lab, &["link", "set", port, "master", "br0"]);
    switch_ip(lab, &["link", "set", port, "up"]);
}
