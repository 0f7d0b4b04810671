//! Configuration reload in the namespace lab (SIGHUP and `vipd reload`): a rejected file changes
//! nothing, a VIP added to a running master needs no transition, a removed instance hands over
//! through priority 0, an added instance starts, and a raised priority lets the backup preempt.

use crate::daemon_support::*;
use crate::lab::*;
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.100/24";
const SECOND_VIP: &str = "192.0.2.101/24";
const OTHER_VIP: &str = "192.0.2.110/24";

/// One VRRPv3 instance line under `vrrp_instance:` (advert_int in seconds as written).
fn instance_line(name: &str, vrid: u8, priority: u8, advert_int: &str, vips: &[&str]) -> String {
    let vips: Vec<String> = vips.iter().map(|v| format!("\"{v}\"")).collect();
    format!(
        "  {name}: {{interface: eth0, virtual_router_id: {vrid}, priority: {priority}, \
         advert_int: {advert_int}, virtual_ipaddress: [{}]}}\n",
        vips.join(", ")
    )
}

fn config_of(instances: &[String]) -> String {
    format!(
        "global_defs: {{vrrp_version: 3}}\nvrrp_instance:\n{}",
        instances.concat()
    )
}

/// Runs `vipd reload` for `vipd` inside `node`; returns its exit code and stdout+stderr.
fn vipd_reload(node: &Node, vipd: &VipdProc) -> (i32, String) {
    let dir = vipd.runtime_dir.to_str().expect("UTF-8 lab path");
    let output = node.try_exec(&[vipd_binary(), "reload", "--runtime-dir", dir]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// Rewrites `vipd`'s configuration file and reloads through `vipd reload`, which must succeed.
fn reload_with(node: &Node, vipd: &VipdProc, yaml: &str) -> String {
    std::fs::write(&vipd.config, yaml).expect("rewrite config");
    let (code, text) = vipd_reload(node, vipd);
    assert_eq!(code, 0, "vipd reload on {}: {text}", node.name());
    text
}

/// `counters.<name>` of instance `name`, 0 when absent.
fn counter_of(vipd: &VipdProc, instance: &str, name: &str) -> u64 {
    vipd.instance(instance)
        .and_then(|i| i["counters"][name].as_u64())
        .unwrap_or(0)
}

/// Asserts over ~1 s that `vipd`'s `instance` stays in `state` without a new transition.
fn assert_stays(vipd: &VipdProc, who: &str, instance: &str, state: &str) {
    let become_master = counter_of(vipd, instance, "become_master");
    let release_master = counter_of(vipd, instance, "release_master");
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        assert_eq!(
            vipd.state_of(instance).as_deref(),
            Some(state),
            "{who} {instance}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        counter_of(vipd, instance, "become_master"),
        become_master,
        "{who} {instance}: a transition into MASTER"
    );
    assert_eq!(
        counter_of(vipd, instance, "release_master"),
        release_master,
        "{who} {instance}: a transition out of MASTER"
    );
}

#[test]
fn daemon_reload_invalid_config_on_sighup_changes_nothing() {
    let lab = Lab::new("daemon_reload_invalid");
    let (a, b) = two_gateways(&lab);
    let config_a = v3_config(81, 150, VIP, "");
    let (mut vipd_a, vipd_b) = start_elected(&a, &config_a, &b, &v3_config(81, 100, VIP, ""));
    assert_sole_master(&pair(&a, &vipd_a, &b, &vipd_b), 0, VIP);
    let since = vipd_a.instance(INSTANCE).unwrap()["in_state_ms"]
        .as_u64()
        .unwrap();

    // priority 300 is out of range, and the VIP list changed: nothing of it may apply.
    let invalid = v3_config(81, 150, SECOND_VIP, "").replace("priority: 150", "priority: 300");
    std::fs::write(&vipd_a.config, &invalid).unwrap();
    vipd_a.signal(SIGHUP);
    wait_for(Duration::from_secs(5), "gw-a reports the reload", || {
        vipd_a.status()["last_reload"].is_object()
    });
    let reload = vipd_a.status()["last_reload"].clone();
    assert_eq!(reload["applied"], false, "{reload}");
    let config_path = vipd_a.config.to_str().unwrap();
    let errors: Vec<String> = reload["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&format!("{config_path}:"))
                && e.contains("priority")
                && e.split(':')
                    .nth(1)
                    .is_some_and(|l| l.parse::<u32>().is_ok())),
        "errors with file:line:col: {errors:?}"
    );
    assert!(
        vipd_a.log().contains(&errors[0]),
        "the error is logged: {}",
        vipd_a.log()
    );
    assert!(vipd_a.try_wait().is_none(), "vipd exited on a bad reload");
    assert_stays(&vipd_a, "gw-a", INSTANCE, "MASTER");
    assert_sole_master(&pair(&a, &vipd_a, &b, &vipd_b), 0, VIP);
    assert!(!a.has_addr("eth0", vip_addr(SECOND_VIP)));
    let status = vipd_a.instance(INSTANCE).unwrap();
    assert_eq!(status["priority"], 150, "{status}");
    assert!(status["in_state_ms"].as_u64().unwrap() > since);
    assert_eq!(counter(&vipd_a, "become_master"), 1);
    assert_eq!(counter(&vipd_b, "become_master"), 0);

    // The same file through `vipd reload`: exit 1, and text status shows the failed reload.
    let (code, text) = vipd_reload(&a, &vipd_a);
    assert_eq!(code, 1, "vipd reload of an invalid file: {text}");
    assert!(text.contains("rejected"), "{text}");
    let dir = vipd_a.runtime_dir.to_str().unwrap();
    let status_text = String::from_utf8_lossy(
        &a.exec(&[vipd_binary(), "status", "--runtime-dir", dir])
            .stdout,
    )
    .into_owned();
    assert!(
        status_text.contains("rejected") && status_text.contains(&errors[0]),
        "text status: {status_text}"
    );

    // A later valid reload clears it.
    let text = reload_with(&a, &vipd_a, &config_a);
    assert!(text.contains("applied"), "{text}");
    assert_eq!(vipd_a.status()["last_reload"]["applied"], true);
    assert_stays(&vipd_a, "gw-a", INSTANCE, "MASTER");

    // No daemon behind the runtime dir: exit 2.
    stop_with(&mut vipd_a, SIGTERM, Duration::from_secs(5));
    let (code, text) = vipd_reload(&a, &vipd_a);
    assert_eq!(code, 2, "vipd reload without a daemon: {text}");
}

#[test]
fn daemon_reload_adding_a_vip_to_the_master_needs_no_transition() {
    let lab = Lab::new("daemon_reload_add_vip");
    let (a, b) = two_gateways(&lab);
    let (vipd_a, vipd_b) = start_elected(
        &a,
        &config_of(&[instance_line(INSTANCE, 82, 150, "0.1", &[VIP])]),
        &b,
        &config_of(&[instance_line(INSTANCE, 82, 100, "0.1", &[VIP])]),
    );
    let routers = pair(&a, &vipd_a, &b, &vipd_b);
    assert_sole_master(&routers, 0, VIP);
    let sent_before = counter(&vipd_a, "adverts_sent");

    for (node, vipd, priority) in [(&b, &vipd_b, 100), (&a, &vipd_a, 150)] {
        let text = reload_with(
            node,
            vipd,
            &config_of(&[instance_line(
                INSTANCE,
                82,
                priority,
                "0.1",
                &[VIP, SECOND_VIP],
            )]),
        );
        assert!(text.contains("VI_1: changed, state kept"), "{text}");
    }
    wait_for(Duration::from_secs(3), "gw-a holds the new VIP", || {
        a.has_addr("eth0", vip_addr(SECOND_VIP))
    });
    assert_stays(&vipd_a, "gw-a", INSTANCE, "MASTER");
    assert_stays(&vipd_b, "gw-b", INSTANCE, "BACKUP");
    assert_eq!(counter(&vipd_a, "become_master"), 1, "gw-a");
    assert_eq!(
        counter(&vipd_b, "become_master"),
        0,
        "gw-b never became master"
    );
    assert_sole_master(&routers, 0, SECOND_VIP);
    assert_sole_master(&routers, 0, VIP);
    // About 10 adverts a second, no burst: the ~2.5 s since the first sample would allow 25.
    let sent = counter(&vipd_a, "adverts_sent") - sent_before;
    assert!(sent < 60, "{sent} adverts sent across the reload");
}

#[test]
fn daemon_reload_removing_an_instance_hands_over_through_priority_zero() {
    let lab = Lab::new("daemon_reload_remove");
    let (a, b) = two_gateways(&lab);
    // VI_2 has 1 s adverts: without the priority-0 advert gw-b would wait ~3.6 s to take over.
    let keep = instance_line(INSTANCE, 83, 150, "0.1", &[VIP]);
    let (vipd_a, vipd_b) = start_elected(
        &a,
        &config_of(&[
            keep.clone(),
            instance_line("VI_2", 84, 150, "1", &[OTHER_VIP]),
        ]),
        &b,
        &config_of(&[
            instance_line(INSTANCE, 83, 100, "0.1", &[VIP]),
            instance_line("VI_2", 84, 100, "1", &[OTHER_VIP]),
        ]),
    );
    wait_for(Duration::from_secs(8), "gw-a VI_2 MASTER", || {
        vipd_a.state_of("VI_2").as_deref() == Some("MASTER") && a.has_addr("eth0", "192.0.2.110")
    });
    wait_for(Duration::from_secs(8), "gw-b VI_2 BACKUP", || {
        vipd_b.state_of("VI_2").as_deref() == Some("BACKUP")
    });

    let text = reload_with(&a, &vipd_a, &config_of(&[keep]));
    assert!(text.contains("VI_2: removed"), "{text}");
    let took = time_until(Duration::from_secs(5), || {
        vipd_b.state_of("VI_2").as_deref() == Some("MASTER")
    })
    .expect("gw-b takes VI_2 over");
    println!(
        "daemon_reload_remove: gw-b master of VI_2 {:.0} ms after the reload returned",
        took.as_secs_f64() * 1000.0
    );
    assert!(
        counter_of(&vipd_b, "VI_2", "priority_zero_received") >= 1,
        "gw-b heard no priority-0 advert: {:?}",
        vipd_b.instance("VI_2")
    );
    assert!(
        took < Duration::from_secs(2),
        "takeover took {took:?}: Master_Down_Interval (~3.6 s), not Skew_Time (~0.6 s) after a priority-0 advert"
    );
    assert!(!a.has_addr("eth0", "192.0.2.110"), "gw-a kept VI_2's VIP");
    wait_for(Duration::from_secs(3), "gw-b holds VI_2's VIP", || {
        b.has_addr("eth0", "192.0.2.110")
    });
    assert!(vipd_a.instance("VI_2").is_none(), "gw-a still reports VI_2");
    // VI_1 was not touched.
    assert_stays(&vipd_a, "gw-a", INSTANCE, "MASTER");
    assert_eq!(counter(&vipd_a, "become_master"), 1);
    assert_sole_master(&pair(&a, &vipd_a, &b, &vipd_b), 0, VIP);
}

#[test]
fn daemon_reload_adding_an_instance_starts_it() {
    let lab = Lab::new("daemon_reload_add_instance");
    let a = lab.add_node("gw-a");
    a.add_addr("192.0.2.1/24");
    let first = instance_line(INSTANCE, 85, 150, "0.1", &[VIP]);
    let vipd_a = a.start_vipd(&config_of(std::slice::from_ref(&first)));
    wait_state(&vipd_a, "gw-a", "MASTER", Duration::from_secs(5));
    assert!(vipd_a.instance("VI_2").is_none());

    let text = reload_with(
        &a,
        &vipd_a,
        &config_of(&[first, instance_line("VI_2", 86, 150, "0.1", &[OTHER_VIP])]),
    );
    assert!(text.contains("VI_2: added"), "{text}");
    wait_for(
        Duration::from_secs(5),
        "gw-a VI_2 MASTER with its VIP",
        || {
            vipd_a.state_of("VI_2").as_deref() == Some("MASTER")
                && a.has_addr("eth0", "192.0.2.110")
        },
    );
    assert!(counter_of(&vipd_a, "VI_2", "adverts_sent") > 0);
    assert_stays(&vipd_a, "gw-a", INSTANCE, "MASTER");
    assert_eq!(counter(&vipd_a, "become_master"), 1);
    assert!(a.has_addr("eth0", vip_addr(VIP)));
}

#[test]
fn daemon_reload_raising_the_backup_priority_lets_it_preempt() {
    let lab = Lab::new("daemon_reload_preempt");
    let (a, b) = two_gateways(&lab);
    let (vipd_a, vipd_b) = start_elected(
        &a,
        &v3_config(87, 150, VIP, ""),
        &b,
        &v3_config(87, 100, VIP, ""),
    );
    let routers = pair(&a, &vipd_a, &b, &vipd_b);
    assert_sole_master(&routers, 0, VIP);

    let text = reload_with(&b, &vipd_b, &v3_config(87, 200, VIP, ""));
    assert!(
        text.contains("VI_1: changed, state kept (BACKUP)"),
        "{text}"
    );
    wait_state(&vipd_b, "gw-b preempting", "MASTER", Duration::from_secs(3));
    wait_state(&vipd_a, "gw-a yielding", "BACKUP", Duration::from_secs(3));
    assert_sole_master(&routers, 1, VIP);
    let status_b = vipd_b.instance(INSTANCE).unwrap();
    assert_eq!(status_b["priority"], 200, "{status_b}");
    assert_eq!(counter(&vipd_b, "become_master"), 1);
    assert_eq!(counter(&vipd_a, "release_master"), 1);
    assert_stays(&vipd_b, "gw-b", INSTANCE, "MASTER");
}

#[test]
fn daemon_reload_removing_a_vmac_instance_deletes_its_vmac_and_restores_sysctls() {
    let lab = Lab::new("daemon_reload_remove_vmac");
    let a = lab.add_node("gw-a");
    a.add_addr("192.0.2.1/24");
    let arp_ignore = || {
        a.exec_stdout(&["sysctl", "-n", "net.ipv4.conf.eth0.arp_ignore"])
            .trim()
            .to_owned()
    };
    let original = arp_ignore();
    let keep = instance_line(INSTANCE, 89, 150, "0.1", &[VIP]);
    let vmac = instance_line("VI_2", 88, 150, "0.1", &[OTHER_VIP])
        .replace("interface: eth0,", "interface: eth0, use_vmac: true,");
    let vipd_a = a.start_vipd(&config_of(&[keep.clone(), vmac]));
    wait_for(Duration::from_secs(5), "VI_2 MASTER on vrrp.88", || {
        vipd_a.state_of("VI_2").as_deref() == Some("MASTER") && a.has_addr("vrrp.88", "192.0.2.110")
    });
    assert_ne!(
        arp_ignore(),
        original,
        "use_vmac sets arp_ignore on the parent"
    );

    let text = reload_with(&a, &vipd_a, &config_of(&[keep]));
    assert!(text.contains("VI_2: removed"), "{text}");
    wait_for(Duration::from_secs(3), "vrrp.88 deleted", || {
        !a.try_exec(&["ip", "link", "show", "vrrp.88"])
            .status
            .success()
    });
    assert_eq!(arp_ignore(), original, "eth0 arp_ignore restored");
    assert!(vipd_a.instance("VI_2").is_none());
    assert_stays(&vipd_a, "gw-a", INSTANCE, "MASTER");
    assert!(a.has_addr("eth0", vip_addr(VIP)));
}

/// `v3_config` with `vrrp_script` definitions (`name: {script, weight}`) and a `track_script` list.
fn tracked_config(vrid: u8, priority: u8, scripts: &[(&str, &str, i16)]) -> String {
    let defs: Vec<String> = scripts
        .iter()
        .map(|(name, script, weight)| {
            format!("  {name}: {{script: \"{script}\", interval: 0.1, weight: {weight}}}\n")
        })
        .collect();
    let names: Vec<&str> = scripts.iter().map(|(name, _, _)| *name).collect();
    let base = v3_config(
        vrid,
        priority,
        VIP,
        &format!("track_script: [{}], ", names.join(", ")),
    );
    format!("vrrp_script:\n{}{base}", defs.concat())
}

/// The names of the tracked objects `vipd status` lists for [`INSTANCE`].
fn tracker_names(vipd: &VipdProc) -> Vec<String> {
    vipd.instance(INSTANCE)
        .and_then(|i| {
            i["trackers"].as_array().map(|all| {
                all.iter()
                    .filter_map(|t| t["name"].as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}

#[test]
fn daemon_reload_adds_and_removes_a_tracked_script_without_a_restart() {
    let lab = Lab::new("daemon_reload_track");
    let (a, b) = two_gateways(&lab);
    let healthy = tracked_config(91, 200, &[("chk_ok", "true", -100)]);
    let (vipd_a, vipd_b) = start_elected(&a, &healthy, &b, &v3_config(91, 150, VIP, ""));
    let routers = pair(&a, &vipd_a, &b, &vipd_b);
    assert_sole_master(&routers, 0, VIP);
    assert_eq!(tracker_names(&vipd_a), vec!["chk_ok".to_owned()]);

    // A failing check with weight -100 added by a reload: 200 - 100 < 150, gw-b takes over.
    let failing = tracked_config(
        91,
        200,
        &[("chk_ok", "true", -100), ("chk_bad", "false", -100)],
    );
    let text = reload_with(&a, &vipd_a, &failing);
    assert!(
        text.contains("VI_1: changed, state kept (MASTER)"),
        "{text}"
    );
    wait_state(&vipd_b, "gw-b preempting", "MASTER", Duration::from_secs(3));
    wait_state(&vipd_a, "gw-a yielding", "BACKUP", Duration::from_secs(3));
    assert_sole_master(&routers, 1, VIP);
    let status_a = vipd_a.instance(INSTANCE).unwrap();
    assert_eq!(status_a["effective_priority"], 100, "{status_a}");
    assert_eq!(
        tracker_names(&vipd_a),
        vec!["chk_ok".to_owned(), "chk_bad".to_owned()]
    );
    assert!(
        status_a["priority_breakdown"]
            .as_str()
            .is_some_and(|b| b.contains("chk_bad failing (-100)")),
        "{status_a}"
    );

    // Removed again: gw-a preempts back; the instance was never restarted.
    let text = reload_with(&a, &vipd_a, &healthy);
    assert!(
        text.contains("VI_1: changed, state kept (BACKUP)"),
        "{text}"
    );
    wait_state(
        &vipd_a,
        "gw-a preempting back",
        "MASTER",
        Duration::from_secs(3),
    );
    assert_sole_master(&routers, 0, VIP);
    assert_eq!(tracker_names(&vipd_a), vec!["chk_ok".to_owned()]);
    assert_eq!(
        counter(&vipd_a, "become_master"),
        2,
        "one restart would reset this"
    );
    assert_eq!(counter(&vipd_a, "release_master"), 1);
}
