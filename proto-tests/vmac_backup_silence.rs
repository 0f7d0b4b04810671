//! The backup's VMAC stays silent: with `use_vmac`, no frame with the virtual MAC as source
//! (IGMP/MLD reports, DAD, router solicitations) leaves the BACKUP's switch port while it starts
//! up and settles, so the LAN bridge never learns the virtual MAC on the backup's port.

use crate::gateway_support::*;
use crate::lab::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long after the backup's start its port is watched: covers IGMP/MLD unsolicited report
/// retransmissions (1 s apart), DAD (1 s) and the first router solicitations (up to 4 s).
const WINDOW: Duration = Duration::from_secs(6);

/// Starts gw-a (MASTER), then gw-b while capturing on gw-b's switch port every frame whose
/// source is `vmac`; returns the capture's lines and the fdb ports seen for `vmac`.
fn frames_from_backup_port(
    gw: &GatewayLab,
    a_yaml: &str,
    b_yaml: &str,
    vmac: &str,
) -> (Vec<String>, Vec<String>) {
    let vipd_a = gw.a.start_vipd(a_yaml);
    wait_gw_state(&vipd_a, "gw-a", "MASTER", Duration::from_secs(5));
    let switch = gw.lab.switch_netns().to_owned();
    let port = gw.b.switch_port().to_owned();
    let out_path = gw.lab.dir().join("backup-port.txt");
    let err_path = gw.lab.dir().join("backup-port.err");
    let secs = (WINDOW.as_secs() + 3).to_string();
    let mut tcpdump = Command::new("ip")
        .args([
            "netns", "exec", &switch, "timeout", &secs, "tcpdump", "-i", &port, "-Q", "in",
        ])
        .args(["-e", "-n", "-l", "-c", "50", "ether", "src", vmac])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("capture file"))
        .stderr(std::fs::File::create(&err_path).expect("capture log"))
        .spawn()
        .expect("spawn tcpdump");
    wait_for(
        Duration::from_secs(5),
        "tcpdump listening on the backup's port",
        || std::fs::read_to_string(&err_path).is_ok_and(|t| t.contains("listening on")),
    );
    let vipd_b = gw.b.start_vipd(b_yaml);
    let start = Instant::now();
    let mut fdb_ports = Vec::new();
    while start.elapsed() < WINDOW {
        let fdb = Command::new("ip")
            .args([
                "netns", "exec", &switch, "bridge", "fdb", "show", "br", "br0",
            ])
            .output()
            .expect("bridge fdb");
        for line in String::from_utf8_lossy(&fdb.stdout).lines() {
            if line.starts_with(vmac) {
                fdb_ports.push(line.to_owned());
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        vipd_b.state_of(GW_INSTANCE).as_deref(),
        Some("BACKUP"),
        "gw-b's state"
    );
    let _ = tcpdump.wait();
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    let frames = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    let on_backup = fdb_ports
        .into_iter()
        .filter(|l| l.contains(&format!("dev {port} ")))
        .collect();
    (frames, on_backup)
}

fn assert_silent(frames: &[String], fdb_on_backup: &[String], what: &str) {
    println!("{what}: frames from the VMAC on the backup's port: {frames:#?}");
    assert!(
        frames.is_empty(),
        "{what}: the backup's VMAC sent {frames:#?}"
    );
    assert!(
        fdb_on_backup.is_empty(),
        "{what}: the bridge learned the VMAC on the backup's port: {fdb_on_backup:#?}"
    );
}

#[test]
fn vmac_backup_silent_ipv4() {
    let gw = gateway_lab("vmac_backup_silent_v4");
    let options = GatewayOptions {
        vmac_xmit_base: false,
        ..GatewayOptions::default()
    };
    let (frames, fdb) = frames_from_backup_port(
        &gw,
        &gateway_config(false, options),
        &gateway_config(true, options),
        VMAC4,
    );
    assert_silent(&frames, &fdb, "IPv4 VMAC");
}

#[test]
fn vmac_backup_silent_ipv4_xmit_base() {
    let gw = gateway_lab("vmac_backup_silent_v4_base");
    let options = GatewayOptions::default();
    let (frames, fdb) = frames_from_backup_port(
        &gw,
        &gateway_config(false, options),
        &gateway_config(true, options),
        VMAC4,
    );
    assert_silent(&frames, &fdb, "IPv4 VMAC, vmac_xmit_base");
}

#[test]
fn vmac_backup_silent_ipv6() {
    let gw = gateway_lab("vmac_backup_silent_v6");
    gw.a.add_addr("2001:db8::1/64");
    gw.b.add_addr("2001:db8::2/64");
    let (frames, fdb) = frames_from_backup_port(
        &gw,
        &gateway_config_v6(false),
        &gateway_config_v6(true),
        VMAC6,
    );
    assert_silent(&frames, &fdb, "IPv6 VMAC, vmac_xmit_base");
}

/// Adverts from the VMAC's own (random) link-local: the backup's VMAC has one too, and its DAD,
/// MLD reports and router solicitations must not leave from the virtual MAC either.
#[test]
fn vmac_backup_silent_ipv6_own_link_local() {
    let gw = gateway_lab("vmac_silent_v6_ll");
    gw.a.add_addr("2001:db8::1/64");
    gw.b.add_addr("2001:db8::2/64");
    let config = |b: bool| {
        let yaml = gateway_config_v6(b);
        assert_eq!(yaml.matches("vmac_xmit_base: true").count(), 1, "{yaml}");
        yaml.replace("vmac_xmit_base: true", "vmac_xmit_base: false")
    };
    let (frames, fdb) = frames_from_backup_port(&gw, &config(false), &config(true), VMAC6);
    assert_silent(&frames, &fdb, "IPv6 VMAC, adverts from its link-local");
}
