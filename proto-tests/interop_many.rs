//! Many instances between vipd and keepalived 2.2.7, and between vipd and FRR 8.4's vrrpd.
//! vipd's Masters send their adverts in groups, some up to a quarter interval early (the router's
//! `acts_from`), and a vipd Backup reads each group's burst at once (`rx_holdoff.rs`). The peer
//! must keep seeing a live master for every instance in both directions, and vipd must keep its
//! Backups quiet behind the peer's Masters.

use std::time::Duration;

use crate::daemon_support::{instance_totals, loop_wake_ups, many_instances_yaml, two_gateways};
use crate::lab::*;

const COUNT: u8 = 20;

fn keepalived_many(priority: u8) -> String {
    let mut conf = String::from("global_defs {\n  router_id many\n  vrrp_version 3\n}\n");
    for i in 1..=COUNT {
        conf.push_str(&format!(
            "vrrp_instance VI_{i} {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {i}\n  \
             priority {priority}\n  advert_int 0.1\n  virtual_ipaddress {{\n    198.51.100.{i}/32\n  }}\n}}\n"
        ));
    }
    conf
}

/// Instances in `state`, MASTER transitions and adverts heard, over vipd's instances.
fn totals(vipd: &VipdProc, state: &str) -> (usize, u64, u64) {
    let t = instance_totals(vipd, state).expect("vipd's status");
    (t.in_state, t.become_master, t.adverts_received)
}

fn count_in(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn interop_many_vipd_masters_keepalived_backups() {
    let lab = Lab::new("interop_many_vipd_high");
    let (a, b) = two_gateways(&lab);
    let vipd = a.start_vipd(&many_instances_yaml(COUNT, 150));
    wait_for(Duration::from_secs(10), "20 vipd Masters", || {
        instance_totals(&vipd, "MASTER").is_some_and(|t| t.in_state == usize::from(COUNT))
    });
    let keepalived = b.start_keepalived(&keepalived_many(100));
    wait_for(Duration::from_secs(10), "20 keepalived Backups", || {
        count_in(&keepalived.log(), "Entering BACKUP STATE") >= usize::from(COUNT)
    });
    // The groups settle within a few intervals of the last Master's start.
    std::thread::sleep(Duration::from_secs(1));
    let (_, masters_before, _) = totals(&vipd, "MASTER");
    let woke_before = loop_wake_ups(vipd.pid());
    std::thread::sleep(Duration::from_secs(3));
    let woke = loop_wake_ups(vipd.pid()) - woke_before;
    let (masters_now, masters_after, _) = totals(&vipd, "MASTER");
    let log = keepalived.log();
    assert_eq!(
        count_in(&log, "Entering MASTER STATE"),
        0,
        "keepalived took over from vipd's grouped adverts:\n{log}"
    );
    assert_eq!(masters_now, usize::from(COUNT), "vipd lost a Master");
    assert_eq!(masters_after, masters_before, "vipd re-entered Master");
    // 600 adverts in 3 s; grouped, the sender wakes a few times per interval.
    assert!(
        woke <= 200,
        "vipd's loop woke {woke} times in 3 s: its adverts are not grouped"
    );
    for i in 1..=COUNT {
        let vip = format!("198.51.100.{i}");
        assert!(a.has_addr("eth0", &vip), "vipd does not hold {vip}");
        assert!(!b.has_addr("eth0", &vip), "keepalived holds {vip}");
    }
}

#[test]
fn interop_many_keepalived_masters_vipd_backups() {
    let lab = Lab::new("interop_many_vipd_low");
    let (a, b) = two_gateways(&lab);
    let keepalived = a.start_keepalived(&keepalived_many(150));
    wait_for(Duration::from_secs(10), "20 keepalived Masters", || {
        count_in(&keepalived.log(), "Entering MASTER STATE") >= usize::from(COUNT)
    });
    let vipd = b.start_vipd(&many_instances_yaml(COUNT, 100));
    wait_for(Duration::from_secs(10), "20 vipd Backups", || {
        instance_totals(&vipd, "BACKUP").is_some_and(|t| t.in_state == usize::from(COUNT))
    });
    std::thread::sleep(Duration::from_millis(500));
    let (_, masters_before, heard_before) = totals(&vipd, "BACKUP");
    let backups_before = count_in(&keepalived.log(), "Entering BACKUP STATE");
    std::thread::sleep(Duration::from_secs(3));
    let (backups, masters_after, heard_after) = totals(&vipd, "BACKUP");
    let heard = heard_after - heard_before;
    assert_eq!(backups, usize::from(COUNT), "a vipd Backup left Backup");
    assert_eq!(
        masters_after, masters_before,
        "vipd took over from keepalived"
    );
    assert!(
        (500..=700).contains(&heard),
        "vipd heard {heard} of keepalived's ~600 adverts in 3 s"
    );
    assert_eq!(
        count_in(&keepalived.log(), "Entering BACKUP STATE"),
        backups_before,
        "a keepalived Master stepped down"
    );
    for i in 1..=COUNT {
        let vip = format!("198.51.100.{i}");
        assert!(a.has_addr("eth0", &vip), "keepalived does not hold {vip}");
        assert!(!b.has_addr("eth0", &vip), "vipd holds {vip}");
    }
}

const FRR_COUNT: u8 = 8;

/// FRR's vrrpd with VRIDs 1..=FRR_COUNT on eth0, one macvlan each (as `interop_frr.rs`).
fn start_frr_many(
    lab: &Lab,
    node: &Node,
    priority: u8,
) -> (crate::interop_util::FrrProc, Vec<String>) {
    let mut conf = String::from("debug vrrp\ninterface eth0\n");
    let mut macvlans = Vec::new();
    for i in 1..=FRR_COUNT {
        macvlans.push(crate::interop_util::frr_macvlan(
            node,
            4,
            i,
            &format!("198.51.100.{i}/32"),
        ));
        conf.push_str(&format!(
            " vrrp {i} version 3\n vrrp {i} priority {priority}\n \
             vrrp {i} advertisement-interval 100\n vrrp {i} ip 198.51.100.{i}\n"
        ));
    }
    (
        crate::interop_util::start_frr(node, lab, 1, 4, &conf),
        macvlans,
    )
}

/// The IPv4 status ("Master", "Backup", ...) of each of FRR's virtual routers.
fn frr_statuses(frr: &crate::interop_util::FrrProc) -> Vec<String> {
    let text = frr.vtysh("show vrrp json");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    json.as_array()
        .map(|routers| {
            routers
                .iter()
                .filter_map(|r| r["v4"]["status"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn all_are(statuses: &[String], status: &str) -> bool {
    statuses.len() == usize::from(FRR_COUNT) && statuses.iter().all(|s| s == status)
}

#[test]
fn interop_many_vipd_masters_frr_backups() {
    let lab = Lab::new("interop_many_frr_vipd_high");
    let (a, b) = two_gateways(&lab);
    let vipd = a.start_vipd(&many_instances_yaml(FRR_COUNT, 150));
    wait_for(Duration::from_secs(10), "8 vipd Masters", || {
        instance_totals(&vipd, "MASTER").is_some_and(|t| t.in_state == usize::from(FRR_COUNT))
    });
    let (frr, macvlans) = start_frr_many(&lab, &b, 100);
    wait_for(Duration::from_secs(20), "8 FRR Backups", || {
        all_are(&frr_statuses(&frr), "Backup")
    });
    std::thread::sleep(Duration::from_secs(1));
    let (_, masters_before, _) = totals(&vipd, "MASTER");
    for sample in 0..6 {
        std::thread::sleep(Duration::from_millis(500));
        let statuses = frr_statuses(&frr);
        assert!(
            all_are(&statuses, "Backup"),
            "sample {sample}: FRR's routers {statuses:?}"
        );
        for dev in &macvlans {
            assert!(
                !crate::interop_util::link_usable(&b, dev),
                "sample {sample}: FRR's {dev} is up: FRR took over"
            );
        }
    }
    let (masters_now, masters_after, _) = totals(&vipd, "MASTER");
    assert_eq!(masters_now, usize::from(FRR_COUNT), "vipd lost a Master");
    assert_eq!(masters_after, masters_before, "vipd re-entered Master");
}

#[test]
fn interop_many_frr_masters_vipd_backups() {
    let lab = Lab::new("interop_many_frr_vipd_low");
    let (a, b) = two_gateways(&lab);
    let (frr, _macvlans) = start_frr_many(&lab, &a, 150);
    wait_for(Duration::from_secs(20), "8 FRR Masters", || {
        all_are(&frr_statuses(&frr), "Master")
    });
    let vipd = b.start_vipd(&many_instances_yaml(FRR_COUNT, 100));
    wait_for(Duration::from_secs(10), "8 vipd Backups", || {
        instance_totals(&vipd, "BACKUP").is_some_and(|t| t.in_state == usize::from(FRR_COUNT))
    });
    std::thread::sleep(Duration::from_millis(500));
    let (_, masters_before, heard_before) = totals(&vipd, "BACKUP");
    std::thread::sleep(Duration::from_secs(3));
    let (backups, masters_after, heard_after) = totals(&vipd, "BACKUP");
    let heard = heard_after - heard_before;
    assert_eq!(backups, usize::from(FRR_COUNT), "a vipd Backup left Backup");
    assert_eq!(masters_after, masters_before, "vipd took over from FRR");
    assert!(
        (200..=280).contains(&heard),
        "vipd heard {heard} of FRR's ~240 adverts in 3 s"
    );
    let statuses = frr_statuses(&frr);
    assert!(all_are(&statuses, "Master"), "FRR's routers {statuses:?}");
}
