//! vipd failover in the namespace lab: the master's cable cut (client outage measured, preempt
//! back on reconnect), SIGTERM handing over through priority 0, and SIGKILL + restart removing
//! the stale VIP before the state recovers.

use crate::daemon_support::*;
use crate::lab::*;
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.100/24";

#[test]
fn daemon_link_cut_fails_over_and_client_pings_resume() {
    let lab = Lab::new("daemon_link_cut");
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    let client = lab.add_node("client");
    a.add_addr("192.0.2.1/24");
    b.add_addr("192.0.2.2/24");
    client.add_addr("192.0.2.10/24");
    let (vipd_a, vipd_b) = start_elected(
        &a,
        &v3_config(61, 150, VIP, ""),
        &b,
        &v3_config(61, 100, VIP, ""),
    );
    let routers = pair(&a, &vipd_a, &b, &vipd_b);
    assert_sole_master(&routers, 0, VIP);

    let pinger = Pinger::start(
        &client,
        vip_addr(VIP),
        Duration::from_millis(10),
        Duration::from_secs(8),
    );
    assert!(
        pinger.wait_first_reply(Duration::from_secs(3)),
        "the client never reached the VIP"
    );
    std::thread::sleep(Duration::from_millis(300));
    let cut = unix_now();
    a.link_down();
    wait_state(
        &vipd_b,
        "gw-b taking over",
        "MASTER",
        Duration::from_secs(3),
    );
    // The pings must come back through gw-b.
    std::thread::sleep(Duration::from_millis(1200));
    let report = pinger.stop();
    println!(
        "daemon_link_cut: outage {:.0} ms (Master_Down_Interval {:.0} ms), {} of {} replies",
        report.longest_gap_ms,
        master_down_interval_ms(100.0, 100),
        report.received,
        report.transmitted
    );
    report.assert_outage_at(cut, "daemon_link_cut");
    let lost = report.transmitted.saturating_sub(report.received);
    assert!(
        client.ping_once(vip_addr(VIP)),
        "the client does not reach the VIP after failover ({lost} echo requests lost)"
    );
    assert_eq!(client.neigh_mac(vip_addr(VIP)), Some(b.mac("eth0")));
    let state_a = vipd_a.state_of(INSTANCE);
    println!("daemon_link_cut: gw-a with its cable cut is {state_a:?}");
    // keepalived's behaviour: carrier lost → FAULT, and a router in FAULT holds no VIP.
    assert_eq!(state_a.as_deref(), Some("FAULT"), "gw-a with its cable cut");
    assert!(
        !a.has_addr("eth0", vip_addr(VIP)),
        "gw-a in FAULT still holds the VIP"
    );
    assert!(b.has_addr("eth0", vip_addr(VIP)));

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
    assert_sole_master(&routers, 0, VIP);
    wait_for(
        Duration::from_secs(3),
        "client pinging the VIP on gw-a",
        || {
            client.ping_once(vip_addr(VIP))
                && client.neigh_mac(vip_addr(VIP)) == Some(a.mac("eth0"))
        },
    );
}

#[test]
fn daemon_sigterm_hands_over_through_priority_zero() {
    let lab = Lab::new("daemon_sigterm");
    let (a, b) = two_gateways(&lab);
    let (mut vipd_a, vipd_b) = start_elected(
        &a,
        &v3_config(62, 150, VIP, ""),
        &b,
        &v3_config(62, 100, VIP, ""),
    );
    assert_sole_master(&pair(&a, &vipd_a, &b, &vipd_b), 0, VIP);
    assert_eq!(counter(&vipd_b, "priority_zero_received"), 0);

    let sent = Instant::now();
    vipd_a.signal(SIGTERM);
    let takeover = time_until(Duration::from_secs(3), || {
        vipd_b.state_of(INSTANCE).as_deref() == Some("MASTER")
    })
    .expect("gw-b never became MASTER after gw-a's SIGTERM");
    let exit = vipd_a
        .wait_exit(Duration::from_secs(5))
        .expect("gw-a did not exit within 5 s of SIGTERM");
    println!(
        "daemon_sigterm: gw-b MASTER {:.0} ms after SIGTERM (Master_Down_Interval {:.0} ms), gw-a exited after {:?}: {exit}",
        takeover.as_secs_f64() * 1000.0,
        master_down_interval_ms(100.0, 100),
        sent.elapsed()
    );
    assert!(exit.success(), "gw-a exit status after SIGTERM: {exit}");
    // Make before break: gw-a served the VIP until gw-b advertised as its successor.
    let log_a = vipd_a.log();
    assert!(
        log_a.contains("releasing the virtual addresses")
            && log_a.contains("the successor advertises"),
        "gw-a did not hold its VIP until gw-b advertised:\n{log_a}"
    );
    assert!(
        counter(&vipd_b, "priority_zero_received") >= 1,
        "gw-b never counted a priority-0 advert: {}",
        vipd_b.status()
    );
    assert!(
        takeover < Duration::from_secs(1),
        "takeover after SIGTERM took {takeover:?}"
    );
    assert!(
        !a.has_addr("eth0", vip_addr(VIP)),
        "gw-a still holds the VIP after exit"
    );
    for _ in 0..5 {
        assert_eq!(vipd_b.state_of(INSTANCE).as_deref(), Some("MASTER"));
        assert!(b.has_addr("eth0", vip_addr(VIP)), "gw-b lacks the VIP");
        assert!(
            !a.has_addr("eth0", vip_addr(VIP)),
            "gw-a holds the VIP again"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn daemon_sigkill_restart_removes_stale_vip_and_recovers() {
    let lab = Lab::new("daemon_sigkill_restart");
    let (a, b) = two_gateways(&lab);
    // preempt_delay keeps the restarted gw-a BACKUP for a second: long enough to see whether it
    // still carries the VIP its killed predecessor left behind.
    let config_a = v3_config(63, 150, VIP, "preempt_delay: 1, ");
    let (mut vipd_a, vipd_b) = start_elected(&a, &config_a, &b, &v3_config(63, 100, VIP, ""));

    vipd_a.kill();
    wait_state(
        &vipd_b,
        "gw-b after gw-a's SIGKILL",
        "MASTER",
        Duration::from_secs(3),
    );
    assert!(
        a.has_addr("eth0", vip_addr(VIP)),
        "precondition: a SIGKILLed master leaves its VIP behind"
    );

    let vipd_a = a.start_vipd(&config_a);
    wait_for(
        Duration::from_secs(3),
        "restarted gw-a answering status",
        || vipd_a.state_of(INSTANCE).is_some(),
    );
    // While gw-b is master, the restarted gw-a must not hold the VIP.
    let mut backup_samples = 0;
    for _ in 0..5 {
        let before = vipd_a.state_of(INSTANCE);
        let holds = a.has_addr("eth0", vip_addr(VIP));
        let after = vipd_a.state_of(INSTANCE);
        if before.as_deref() != Some("MASTER") && after.as_deref() != Some("MASTER") {
            backup_samples += 1;
            assert!(
                !holds,
                "restarted gw-a ({after:?}) still holds the stale VIP while gw-b is master"
            );
        }
        std::thread::sleep(Duration::from_millis(60));
    }
    assert!(
        backup_samples > 0,
        "restarted gw-a was never seen outside MASTER (preempt_delay ignored?)"
    );

    wait_state(
        &vipd_a,
        "restarted gw-a preempting",
        "MASTER",
        Duration::from_secs(5),
    );
    wait_state(
        &vipd_b,
        "gw-b stepping down",
        "BACKUP",
        Duration::from_secs(3),
    );
    assert_sole_master(&pair(&a, &vipd_a, &b, &vipd_b), 0, VIP);
}
