//! Seed 000's VIP fields in the lab: `held`, `present` (a live check), `acquired_at`, the last
//! `error` and the gratuitous ARPs sent, per VIP, and the peer master a backup names. The VIP
//! is removed behind vipd's back (`present` false, then put back by vipd), vipd runs without
//! CAP_NET_ADMIN (`error` names the capability, the daemon keeps answering), and the backup
//! names the master's address.

use crate::daemon_support::*;
use crate::lab::*;
use std::path::Path;
use std::time::Duration;

const VIP: &str = "192.0.2.100/24";

/// The status of [`INSTANCE`]'s only VIP, if the daemon answers.
fn vip_status(vipd: &VipdProc) -> Option<serde_json::Value> {
    vipd.instance(INSTANCE)?["vips"].get(0).cloned()
}

/// `vipd status` (text) of the daemon with this runtime dir, run in `node`.
fn status_text(node: &Node, runtime_dir: &Path) -> String {
    node.exec_stdout(&[
        vipd_binary(),
        "status",
        "--runtime-dir",
        runtime_dir.to_str().expect("UTF-8 lab path"),
    ])
}

#[test]
fn vip_status_held_present_acquired_and_the_peer_master() {
    let lab = Lab::new("vip_status_fields");
    let (a, b) = two_gateways(&lab);
    let (vipd_a, vipd_b) = start_elected(
        &a,
        &v3_config(61, 150, VIP, ""),
        &b,
        &v3_config(61, 100, VIP, ""),
    );
    let addr = vip_addr(VIP);

    // The master holds it, the kernel has it, vipd says since when and announced it.
    wait_for(
        Duration::from_secs(5),
        "gw-a: VIP held and announced",
        || {
            vip_status(&vipd_a).is_some_and(|v| {
                v["held"] == true && v["present"] == true && v["announcements"].as_u64() > Some(0)
            })
        },
    );
    let before = vip_status(&vipd_a).expect("gw-a VIP status");
    assert_eq!(before["interface"], "eth0", "{before}");
    assert!(before["error"].is_null(), "{before}");
    let acquired = before["acquired_at_unix"].as_f64().expect("acquired_at");
    assert!(
        (unix_now() - acquired).abs() < 30.0,
        "acquired_at {acquired} is not about now: {before}"
    );
    assert!(before["acquired_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));

    // The backup does not hold it and names the master: its address, heard within a second.
    let backup_vip = vip_status(&vipd_b).expect("gw-b VIP status");
    assert_eq!(
        (&backup_vip["held"], &backup_vip["present"]),
        (&false.into(), &false.into()),
        "{backup_vip}"
    );
    assert!(backup_vip["acquired_at"].is_null(), "{backup_vip}");
    let peer = vipd_b.instance(INSTANCE).expect("gw-b status")["peer_master"].clone();
    assert_eq!(peer["address"], "192.0.2.1", "gw-b's peer master: {peer}");
    assert_eq!(peer["priority"], 150, "{peer}");
    assert!(peer["last_heard_ms"].as_u64() < Some(1_000), "{peer}");
    let text_b = status_text(&b, &vipd_b.runtime_dir);
    assert!(
        text_b.contains("master now: 192.0.2.1 (priority 150, heard "),
        "gw-b's vipd status:\n{text_b}"
    );
    let text_a = status_text(&a, &vipd_a.runtime_dir);
    assert!(
        text_a.contains("master now: this node (192.0.2.1)")
            && text_a.contains("vip 192.0.2.100/24 on eth0: held, present, acquired "),
        "gw-a's vipd status:\n{text_a}"
    );
    assert!(vipd_a.instance(INSTANCE).expect("gw-a")["peer_master"].is_null());

    // The same fields over HTTP: /metrics, /status and the page (default 127.0.0.1:9165).
    let get = |node: &Node, path: &str| {
        node.exec_stdout(&["curl", "-sf", &format!("http://127.0.0.1:9165{path}")])
    };
    let labels =
        "iname=\"VI_1\",intf=\"eth0\",vrid=\"61\",ip_address=\"192.0.2.100/24\",dev=\"eth0\"";
    let metrics_a = get(&a, "/metrics");
    for line in [
        format!("vipd_vip_held{{{labels}}} 1"),
        format!("vipd_vip_present{{{labels}}} 1"),
        format!("vipd_vip_error{{{labels}}} 0"),
    ] {
        assert!(
            metrics_a.lines().any(|l| l == line),
            "gw-a /metrics lacks {line}"
        );
    }
    let metrics_b = get(&b, "/metrics");
    assert!(
        metrics_b.lines().any(|l| l.starts_with(
            "vipd_instance_peer_master_last_heard_seconds{iname=\"VI_1\",intf=\"eth0\",vrid=\"61\",master=\"192.0.2.1\"} "
        )),
        "gw-b /metrics names no peer master"
    );
    let http_status: serde_json::Value =
        serde_json::from_str(&get(&b, "/status")).expect("/status is JSON");
    assert_eq!(
        http_status["instances"][0]["peer_master"]["address"],
        "192.0.2.1"
    );
    let page = get(&a, "/");
    assert!(
        page.contains("<th>Acquired</th>") && page.contains("<td class=\"ok\">yes</td>"),
        "gw-a's status page"
    );

    // Someone deletes the VIP over and over (ip -force -batch, thousands of deletions back to
    // back): vipd puts it back each time, so a status taken meanwhile mostly finds it absent,
    // and always still held (vipd believes it owns it and is restoring it).
    let batch = lab.dir().join("delete-vip.batch");
    std::fs::write(
        &batch,
        format!("address del {VIP} dev eth0\n").repeat(20_000),
    )
    .expect("write the batch file");
    let mut deleter = a.spawn_labelled(
        "deleter",
        &["ip", "-force", "-batch", batch.to_str().expect("UTF-8")],
    );
    let mut seen_absent = None;
    for _ in 0..40 {
        let Some(v) = vip_status(&vipd_a) else {
            continue;
        };
        if v["present"] == false {
            seen_absent = Some(v);
            break;
        }
        if deleter.try_wait().is_some() {
            break;
        }
    }
    let _ = deleter.wait_exit(Duration::from_secs(20));
    deleter.kill();
    let seen_absent = seen_absent.expect("no status showed the deleted VIP absent");
    assert_eq!(seen_absent["held"], true, "{seen_absent}");
    assert!(
        vipd_a
            .log()
            .contains("was removed by someone else; putting it back"),
        "vipd did not notice the deletion"
    );

    // Once the deleting stops, vipd has it back: present again, a later acquired_at.
    wait_for(Duration::from_secs(5), "gw-a: VIP put back", || {
        vip_status(&vipd_a).is_some_and(|v| v["present"] == true && v["held"] == true)
            && a.has_addr("eth0", addr)
    });
    let after = vip_status(&vipd_a).expect("gw-a VIP status");
    assert!(
        after["acquired_at_unix"].as_f64() > Some(acquired),
        "acquired_at not renewed by the restore: before {before}, after {after}"
    );
    assert!(after["error"].is_null(), "{after}");
    assert_eq!(vipd_a.state_of(INSTANCE).as_deref(), Some("MASTER"));
}

#[test]
fn vip_status_without_cap_net_admin_reports_the_error_and_keeps_running() {
    let lab = Lab::new("vip_status_no_net_admin");
    let a = lab.add_node("gw-a");
    a.add_addr("192.0.2.1/24");
    let config = lab.dir().join("no-net-admin.yaml");
    std::fs::write(&config, v3_config(62, 150, VIP, "")).expect("write config");
    let runtime_dir = lab.dir().join("no-net-admin-run");
    std::fs::create_dir_all(&runtime_dir).expect("runtime dir");
    // Root, but CAP_NET_ADMIN gone from the bounding set (so from every set after exec);
    // CAP_NET_RAW stays, so adverts still go out.
    let mut vipd = a.spawn_labelled(
        "vipd-no-net-admin",
        &[
            "setpriv",
            "--bounding-set",
            "-net_admin",
            "--inh-caps",
            "-net_admin",
            vipd_binary(),
            "run",
            "-c",
            config.to_str().expect("UTF-8"),
            "--runtime-dir",
            runtime_dir.to_str().expect("UTF-8"),
        ],
    );
    let status = || -> Option<serde_json::Value> {
        let out = a.try_exec(&[
            vipd_binary(),
            "status",
            "--json",
            "--runtime-dir",
            runtime_dir.to_str().expect("UTF-8"),
        ]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        json["instances"].get(0).cloned()
    };
    // ip netns exec, then setpriv, exec into vipd under the same pid.
    wait_for(Duration::from_secs(5), "setpriv exec'ing vipd", || {
        std::fs::read_to_string(format!("/proc/{}/comm", vipd.pid()))
            .is_ok_and(|comm| comm.trim() == "vipd")
    });
    let caps = std::fs::read_to_string(format!("/proc/{}/status", vipd.pid()))
        .expect("the daemon's /proc status");
    let effective = caps
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .expect("CapEff");
    const CAP_NET_ADMIN: u32 = 12;
    assert_eq!(
        effective & (1 << CAP_NET_ADMIN),
        0,
        "vipd still has CAP_NET_ADMIN (CapEff {effective:x})"
    );

    // At start the leftover sweep's deletion fails already; as master, the addition does.
    wait_for(
        Duration::from_secs(10),
        "MASTER, with the VIP's addition failing for want of CAP_NET_ADMIN",
        || {
            status().is_some_and(|i| {
                i["state"] == "MASTER"
                    && i["vips"][0]["error"].as_str().is_some_and(|e| {
                        e.starts_with("add address 192.0.2.100/24") && e.contains("CAP_NET_ADMIN")
                    })
            })
        },
    );
    let instance = status().expect("status");
    let vip = &instance["vips"][0];
    assert_eq!(instance["state"], "MASTER", "{instance}");
    assert_eq!(
        vip["held"], false,
        "an address that failed is not held: {vip}"
    );
    assert_eq!(vip["present"], false, "{vip}");
    assert!(vip["acquired_at"].is_null(), "{vip}");
    assert!(
        vip["error"]
            .as_str()
            .is_some_and(|e| e.contains("permission denied") && e.contains("192.0.2.100/24")),
        "the error says what failed and what to do: {vip}"
    );
    assert!(!a.has_addr("eth0", vip_addr(VIP)));

    // Still running and answering: adverts keep going out, status keeps answering.
    let sent = instance["counters"]["adverts_sent"].as_u64().unwrap_or(0);
    wait_for(Duration::from_secs(3), "adverts still sent", || {
        status().is_some_and(|i| i["counters"]["adverts_sent"].as_u64() > Some(sent + 5))
    });
    assert!(vipd.try_wait().is_none(), "vipd exited:\n{}", vipd.log());
    let text = a.exec_stdout(&[
        vipd_binary(),
        "status",
        "--runtime-dir",
        runtime_dir.to_str().expect("UTF-8"),
    ]);
    assert!(
        text.contains("vip 192.0.2.100/24 on eth0: not held, absent")
            && text.contains("CAP_NET_ADMIN"),
        "vipd status:\n{text}"
    );
    vipd.signal(SIGTERM);
    assert!(
        vipd.wait_exit(Duration::from_secs(5)).is_some(),
        "vipd did not stop on SIGTERM"
    );
}
