//! vipd running a keepalived.conf as it is (`vipd run -c keepalived.conf`) beside Debian's
//! keepalived 2.2.7 running its partner file: the pair elects and fails over as two keepalived
//! do. Seed 001's pair (both ways round), the project's DNS VIP example (seed 000) written as
//! keepalived.conf, and seed 003's gateway, whose `use_vmac` sits in global_defs: keepalived
//! ignores it there and runs without a VMAC, and so must vipd, saying so.
//!
//! The fixtures are the seeds' files with documentation addresses, `eth0` for the lab's
//! interface and the instance named `VI_1` where the shared scenario needs it.

use std::time::Duration;

use crate::interop_util::*;
use crate::lab::*;

/// Seed 001, server 1 (the instance renamed VI_1; the seed's 20-character password kept: both
/// daemons send its first 8 characters).
const SEED_001_SERVER_1: &str = "vrrp_instance VI_1 {\n  state MASTER\n  interface eth0\n  virtual_router_id 1\n  advert_int 1\n  priority 200\n  authentication {\n    auth_type PASS\n    auth_pass SECUREUNIQUEPASSWORD\n  }\n  virtual_ipaddress {\n    192.0.2.1/24\n  }\n}\n";

/// Seed 001, server 2.
const SEED_001_SERVER_2: &str = "vrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 1\n  advert_int 1\n  priority 100\n  authentication {\n    auth_type PASS\n    auth_pass SECUREUNIQUEPASSWORD\n  }\n  virtual_ipaddress {\n    192.0.2.1/24\n  }\n}\n";

/// conf/dns-vip-{a,b}.yaml as keepalived.conf (seed 000), one file for both nodes: `@ID`
/// lines pick each node's router_id and priority (keepalived's `-i`, vipd's `--config-id`
/// default to the host name, which the lab's nodes share, so the file is given per node with
/// its lines chosen here instead).
fn dns_vip(node: &str, priority: u8) -> String {
    format!("! seed 000: a floating DNS address\nglobal_defs {{\n  router_id dns-{node}\n  vrrp_version 3\n}}\nvrrp_instance VI_1 {{\n  state BACKUP                 # the election picks A by priority\n  interface eth0\n  virtual_router_id 53\n  priority {priority}\n  advert_int 1\n  virtual_ipaddress {{\n    192.0.2.3/24 dev eth0 label eth0:dns\n  }}\n}}\n")
}

/// Seed 003's gateway, as its author wrote it (LAN ens6 → eth0, 192.168.1.3 → 192.0.2.3).
fn seed_003(priority: u8) -> String {
    format!("global_defs {{\n  vrrp_version 3\n  vrrp_iptables\n  use_vmac\n  vmac_xmit_base\n  vrrp_garp_master_refresh 60\n  nftables keepalived\n  dynamic_interfaces allow_if_changes\n  max_auto_priority -1\n}}\nvrrp_instance VI_gateway {{\n  no_accept\n  nopreempt\n  state BACKUP\n  advert_int 0.1\n  virtual_router_id 60\n  interface eth0\n  priority {priority}\n  virtual_rules {{\n    to all lookup 250 priority 32770\n  }}\n  virtual_ipaddress {{\n    192.0.2.3\n  }}\n}}\n")
}

fn pair(
    label: &str,
    vipd_conf: &str,
    keepalived_conf: &str,
    vipd_priority: u8,
    keepalived_priority: u8,
    vip: &str,
    advert_ms: f64,
) {
    let lab = Lab::new(label);
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    a.add_addr("192.0.2.11/24");
    b.add_addr("192.0.2.12/24");
    let vipd = a.start_vipd(vipd_conf);
    let keepalived = b.start_keepalived(keepalived_conf);
    let mut routers = [
        Router::on_eth0(&a, Daemon::Vipd(vipd), vipd_priority),
        Router::on_eth0(&b, Daemon::Keepalived(keepalived), keepalived_priority),
    ];
    let high = if vipd_priority > keepalived_priority {
        0
    } else {
        1
    };
    run_failover_scenario(&lab, &mut routers, high, vip, advert_ms, label);
}

#[test]
fn keepalived_conf_seed001_vipd_runs_server_1() {
    pair(
        "kconf_seed001_server1",
        SEED_001_SERVER_1,
        SEED_001_SERVER_2,
        200,
        100,
        "192.0.2.1/24",
        1000.0,
    );
}

#[test]
fn keepalived_conf_seed001_vipd_runs_server_2() {
    // Here vipd is gw-a with the lower priority: server 2's file.
    pair(
        "kconf_seed001_server2",
        SEED_001_SERVER_2,
        SEED_001_SERVER_1,
        100,
        200,
        "192.0.2.1/24",
        1000.0,
    );
}

#[test]
fn keepalived_conf_dns_vip_example() {
    pair(
        "kconf_dns_vip",
        &dns_vip("a", 150),
        &dns_vip("b", 100),
        150,
        100,
        "192.0.2.3/24",
        1000.0,
    );
}

/// Seed 003: no VMAC on either side (the VIP on eth0, no `vrrp.60`), vipd's warning in its log,
/// the backup taking over when the master's cable is cut, and nopreempt keeping it master when
/// the cable comes back, as keepalived does.
#[test]
fn keepalived_conf_seed003_runs_without_vmac_like_keepalived() {
    const VIP: &str = "192.0.2.3";
    let lab = Lab::new("kconf_seed003");
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    a.add_addr("192.0.2.1/24");
    b.add_addr("192.0.2.2/24");
    let vipd = a.start_vipd(&seed_003(250));
    // vipd first: with both in BACKUP and nopreempt, the first to time out becomes master.
    wait_for(Duration::from_secs(10), "vipd master", || {
        vipd.state_of("VI_gateway").as_deref() == Some("MASTER")
    });
    let keepalived = b.start_keepalived(&seed_003(240));
    let ka_state = || keepalived_state(&keepalived.log()).unwrap_or_default();
    wait_for(Duration::from_secs(10), "keepalived backup", || {
        ka_state() == "BACKUP"
    });
    let no_vmac = |node: &Node| {
        !node
            .try_exec(&["ip", "link", "show", "dev", "vrrp.60"])
            .status
            .success()
    };
    assert!(
        a.has_addr("eth0", VIP),
        "vipd master must hold the VIP on eth0"
    );
    assert!(no_vmac(&a) && no_vmac(&b), "neither side may make a VMAC");
    let log = vipd.proc.log();
    assert!(
        log.contains("keepalived ignores use_vmac in global_defs")
            && log.contains("runs without a VMAC"),
        "vipd must warn about use_vmac:\n{log}"
    );
    let ka_log = keepalived.log();
    assert!(
        ka_log.contains("use_vmac"),
        "keepalived 2.2.7 reports the unknown keyword too:\n{ka_log}"
    );

    a.link_down();
    wait_for(Duration::from_secs(5), "keepalived takes over", || {
        ka_state() == "MASTER" && b.has_addr("eth0", VIP)
    });
    assert!(no_vmac(&b));
    a.link_up();
    // nopreempt: the higher-priority vipd comes back as backup and stays there.
    wait_for(Duration::from_secs(10), "vipd back as backup", || {
        vipd.state_of("VI_gateway").as_deref() == Some("BACKUP")
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        vipd.state_of("VI_gateway").as_deref(),
        Some("BACKUP"),
        "nopreempt: vipd must not take the address back"
    );
    assert_eq!(ka_state(), "MASTER");
    assert!(b.has_addr("eth0", VIP) && !a.has_addr("eth0", VIP));
}

/// A reload re-reads the keepalived.conf as a keepalived.conf: a VIP added in keepalived's
/// syntax appears, and the reload reports keepalived's leniency warnings.
#[test]
fn keepalived_conf_reload_reads_the_keepalived_conf_again() {
    let conf = |extra_vip: &str, state: &str| {
        format!("global_defs {{\n  vrrp_version 3\n}}\nvrrp_instance VI_1 {{\n  state {state}\n  interface eth0\n  virtual_router_id 70\n  priority 150\n  advert_int 0.1\n  virtual_ipaddress {{\n    192.0.2.70/24\n{extra_vip}  }}\n}}\n")
    };
    let lab = Lab::new("kconf_reload");
    let a = lab.add_node("gw-a");
    a.add_addr("192.0.2.11/24");
    let vipd = a.start_vipd(&conf("", "MASTER"));
    wait_for(Duration::from_secs(10), "vipd master", || {
        vipd.state_of(INSTANCE).as_deref() == Some("MASTER")
    });
    std::fs::write(&vipd.config, conf("    192.0.2.71/24\n", "SLAVE"))
        .expect("rewrite the keepalived.conf");
    let dir = vipd.runtime_dir.to_str().expect("UTF-8 lab path");
    let out = a.try_exec(&[vipd_binary(), "reload", "--runtime-dir", dir]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "vipd reload: {text}");
    assert!(
        text.contains("state \"SLAVE\""),
        "the reload must report keepalived's leniency: {text}"
    );
    wait_for(Duration::from_secs(5), "the added VIP", || {
        a.has_addr("eth0", "192.0.2.71")
    });
    assert!(a.has_addr("eth0", "192.0.2.70"));
}
