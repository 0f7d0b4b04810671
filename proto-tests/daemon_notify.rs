//! Notify scripts and keepalived's VIP options in the lab: a `vrrp_sync_group`'s notify scripts
//! run once per group transition (not once per member), with keepalived's arguments, beside the
//! instances' own; `brd`, `scope` and `noprefixroute` reach the kernel.

use crate::lab::*;
use std::time::Duration;

fn config(priority: u8, notify_log: &str, script: &str) -> String {
    format!(
        r#"global_defs: {{vrrp_version: 3}}
vrrp_sync_group:
  G1:
    group: [VI_1, VI_2]
    notify: "{script} group"
vrrp_instance:
  VI_1:
    interface: eth0
    virtual_router_id: 70
    priority: {priority}
    advert_int: 0.1
    notify: "{script} instance"
    virtual_ipaddress:
      - 192.0.2.70/24 brd 192.0.2.127 noprefixroute
  VI_2:
    interface: eth0
    virtual_router_id: 71
    priority: {priority}
    advert_int: 0.1
    virtual_ipaddress:
      - 198.51.100.71/24 scope link
# notify log: {notify_log}
"#
    )
}

fn lines_with(log: &str, needle: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

#[test]
fn daemon_sync_group_notify_runs_once_per_group_transition_and_vip_options_apply() {
    let lab = Lab::new("daemon_notify");
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    a.add_addr("192.0.2.1/24");
    b.add_addr("192.0.2.2/24");
    let log = lab.dir().join("notify.log");
    let log = log.to_str().expect("utf-8 path").to_owned();
    let script = lab.dir().join("notify.sh");
    std::fs::write(&script, format!("#!/bin/sh\necho \"$@\" >> {log}\n")).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let script = script.to_str().unwrap().to_owned();

    let vipd_a = a.start_vipd(&config(100, &log, &script));
    wait_for(
        Duration::from_secs(5),
        "both instances MASTER on gw-a",
        || {
            vipd_a.state_of("VI_1").as_deref() == Some("MASTER")
                && vipd_a.state_of("VI_2").as_deref() == Some("MASTER")
        },
    );
    wait_for(Duration::from_secs(3), "the group's MASTER notify", || {
        lines_with(&log, "group GROUP G1 MASTER 0") == 1
    });
    wait_for(Duration::from_secs(3), "VI_1's MASTER notify", || {
        lines_with(&log, "instance INSTANCE VI_1 MASTER 100") == 1
    });

    let addrs = a.addrs("eth0");
    let find = |ip: &str| {
        addrs
            .iter()
            .find(|x| x["local"] == ip)
            .cloned()
            .unwrap_or_else(|| panic!("{ip} not on gw-a's eth0: {addrs:?}"))
    };
    let vip1 = find("192.0.2.70");
    assert_eq!(vip1["broadcast"], "192.0.2.127", "brd: {vip1}");
    let flags = vip1.to_string();
    assert!(flags.contains("noprefixroute"), "noprefixroute: {vip1}");
    let vip2 = find("198.51.100.71");
    assert_eq!(vip2["scope"], "link", "scope: {vip2}");

    // Start-up is BACKUP first, announced as keepalived does.
    let backups_before = lines_with(&log, "group GROUP G1 BACKUP 0");
    assert_eq!(backups_before, 1, "the start-up BACKUP, once");

    // A higher-priority peer takes both over: the group goes BACKUP, announced once.
    let vipd_b = b.start_vipd(&config(200, &log, "/bin/true"));
    wait_for(
        Duration::from_secs(5),
        "both instances MASTER on gw-b",
        || {
            vipd_b.state_of("VI_1").as_deref() == Some("MASTER")
                && vipd_b.state_of("VI_2").as_deref() == Some("MASTER")
        },
    );
    wait_for(Duration::from_secs(3), "the group's BACKUP notify", || {
        lines_with(&log, "group GROUP G1 BACKUP 0") > backups_before
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        lines_with(&log, "group GROUP G1 BACKUP 0"),
        backups_before + 1,
        "one group notify per group transition:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(lines_with(&log, "group GROUP G1 MASTER 0"), 1);
}
