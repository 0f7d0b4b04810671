//! The exposition of known snapshots, line by line, read back by a strict reader of the text
//! format (and by `promtool check metrics` where Debian's `prometheus` package is installed).
//!
//! The reader is written here because the Rust parsers at hand do not check what matters:
//! `prometheus-parse` splits label sets on `,` and `=` (an escaped quote or a comma in a value
//! breaks it) and accepts duplicate series; promtool parses with the reference Go parser but
//! does not flag a repeated series or a family split in two either.

use std::collections::HashSet;
use std::time::{Duration, UNIX_EPOCH};

use vipd_router::{Counters, Reason, State, TrackEffect};
use vipd_wire::WireError;

use super::*;
use crate::observe::snapshot::{PeerMasterSnapshot, ScriptSnapshot, TrackerSnapshot, VipSnapshot};
use crate::observe::stats::InstanceStats;
use crate::observe::status::ReloadReport;

const MEHDY_NAMES: [&str; 20] = [
    "keepalived_up",
    "keepalived_vrrp_state",
    "keepalived_vrrp_excluded_state",
    "keepalived_advertisements_received_total",
    "keepalived_advertisements_sent_total",
    "keepalived_become_master_total",
    "keepalived_release_master_total",
    "keepalived_packet_length_errors_total",
    "keepalived_advertisements_interval_errors_total",
    "keepalived_ip_ttl_errors_total",
    "keepalived_invalid_type_received_total",
    "keepalived_address_list_errors_total",
    "keepalived_authentication_invalid_total",
    "keepalived_authentication_mismatch_total",
    "keepalived_authentication_failure_total",
    "keepalived_priority_zero_received_total",
    "keepalived_priority_zero_sent_total",
    "keepalived_gratuitous_arp_delay_total",
    "keepalived_script_status",
    "keepalived_script_state",
];

const GEN2BRAIN_NAMES: [&str; 14] = [
    "keepalived_vrrp_advert_rcvd",
    "keepalived_vrrp_advert_sent",
    "keepalived_vrrp_become_master",
    "keepalived_vrrp_release_master",
    "keepalived_vrrp_packet_len_err",
    "keepalived_vrrp_advert_interval_err",
    "keepalived_vrrp_ip_ttl_err",
    "keepalived_vrrp_invalid_type_rcvd",
    "keepalived_vrrp_addr_list_err",
    "keepalived_vrrp_invalid_authtype",
    "keepalived_vrrp_authtype_mismatch",
    "keepalived_vrrp_auth_failure",
    "keepalived_vrrp_pri_zero_rcvd",
    "keepalived_vrrp_pri_zero_sent",
];

const VIPD_NAMES: [&str; 28] = [
    "vipd_build_info",
    "vipd_reload_success",
    "vipd_reload_timestamp_seconds",
    "vipd_instance_priority",
    "vipd_instance_effective_priority",
    "vipd_instance_rival_master_adverts_total",
    "vipd_instance_announcements_total",
    "vipd_instance_maintenance",
    "vipd_instance_error",
    "vipd_instance_state",
    "vipd_instance_master_info",
    "vipd_instance_last_transition_timestamp_seconds",
    "vipd_instance_transitions_total",
    "vipd_instance_failover_duration_seconds",
    "vipd_instance_master_advert_interval_seconds",
    "vipd_instance_adverts_checksum_total",
    "vipd_instance_adverts_rejected_total",
    "vipd_vip_present",
    "vipd_vip_held",
    "vipd_vip_acquired_timestamp_seconds",
    "vipd_vip_announcements_total",
    "vipd_vip_error",
    "vipd_instance_peer_master_last_heard_seconds",
    "vipd_tracker_status",
    "vipd_tracker_weight_applied",
    "vipd_tracker_fault",
    // Not per instance, listed last for the mehdy-only check below.
    "keepalived_exporter_build_info",
    "keepalived_up",
];

fn vip(addr: &str, prefix_len: u8, dev: &str, excluded: bool, present: bool) -> VipSnapshot {
    VipSnapshot {
        addr: addr.parse().unwrap(),
        prefix_len,
        dev: dev.into(),
        excluded,
        present,
        held: present,
        acquired_at: None,
        error: None,
        announcements: 0,
    }
}

fn tracker(name: &str, kind: &'static str, state: &str, effect: TrackEffect) -> TrackerSnapshot {
    TrackerSnapshot {
        name: name.into(),
        kind,
        check: None,
        state: state.into(),
        weight: -20,
        reverse: false,
        effect,
        last_run: None,
        processes: None,
        error: None,
        fallback: None,
    }
}

/// Two routers: a master with two VIPs (one listed twice), an excluded one, trackers, rejects
/// and one failover; a backup without VIPs whose name needs escaping.
fn known() -> Snapshot {
    let mut stats = InstanceStats::default();
    for _ in 0..3 {
        stats.rejected.count(WireError::Ttl);
    }
    stats.rejected.count(WireError::AdverInterval);
    stats.rejected.count(WireError::Length);
    stats.rejected.count(WireError::AuthFailure);
    stats.checksums.pseudo_header = 40;
    stats.checksums.plain = 2;
    stats.rival_master_adverts = 1;
    stats.announcements = 10;
    let at = UNIX_EPOCH + Duration::from_millis(1_714_564_800_250);
    stats.on_transition(State::Initialize, State::Backup, Reason::Startup, 0, at);
    stats.on_advert_heard(5_000_000);
    stats.on_advert_sent(5_035_000);
    stats.on_transition(
        State::Backup,
        State::Master,
        Reason::MasterDownTimerExpired,
        5_035_000,
        at,
    );
    let master = InstanceSnapshot {
        name: "VI_1".into(),
        interface: "eth0".into(),
        vrid: 51,
        family: 4,
        version: 3,
        state: State::Master,
        maintenance: false,
        priority: 150,
        effective_priority: 130,
        master: Some("192.0.2.1".parse().unwrap()),
        advert_interval_us: 100_000,
        master_advert_interval_us: 100_000,
        garp_master_delay_s: 5,
        in_state_ms: 1_000,
        vips: vec![
            vip("192.0.2.10", 24, "vrrp.51", false, true),
            vip("192.0.2.11", 32, "eth1", false, false),
            vip("192.0.2.10", 24, "vrrp.51", false, true),
            vip("2001:db8::1", 128, "eth0", true, true),
        ],
        counters: Counters {
            adverts_received: 100,
            adverts_sent: 200,
            become_master: 1,
            release_master: 0,
            priority_zero_received: 4,
            priority_zero_sent: 5,
            // The router's own interval counter is not keepalived's: not exported.
            advert_interval_errors: 99,
            ..Counters::default()
        },
        stats,
        last_error: Some("cannot add 192.0.2.11/32".into()),
        rival_master: None,
        peer_master: None,
        garp_note: None,
        recent_transitions: Vec::new(),
        trackers: vec![
            tracker("eth2", "interface", "up", TrackEffect::Adjust(0)),
            tracker("chk_web", "script", "failing", TrackEffect::Adjust(-20)),
            tracker("chk_web", "script", "failing", TrackEffect::Adjust(-20)),
            tracker("chk_db", "script", "unknown", TrackEffect::Pending),
            tracker("maint", "file", "-5", TrackEffect::Adjust(-5)),
            tracker("gate", "process", "failing", TrackEffect::Fault),
        ],
    };
    let backup = InstanceSnapshot {
        name: "VI \"two\"\\b\nx".into(),
        interface: "eth3".into(),
        vrid: 7,
        state: State::Backup,
        maintenance: false,
        priority: 100,
        effective_priority: 100,
        master: None,
        master_advert_interval_us: 1_000_000,
        vips: vec![],
        counters: Counters::default(),
        stats: InstanceStats::default(),
        last_error: None,
        trackers: vec![],
        peer_master: Some(PeerMasterSnapshot {
            address: "192.0.2.1".parse().unwrap(),
            priority: 150,
            last_heard_ms: 30,
        }),
        ..master.clone()
    };
    Snapshot {
        pid: 1,
        uptime_ms: 1,
        errors: vec![],
        last_reload: Some(ReloadReport {
            at: "2024-05-01T13:02:03Z".into(),
            at_unix: 1_714_568_523,
            file: "/etc/vipd/vipd.yaml".into(),
            applied: false,
            errors: vec!["x".into()],
            warnings: vec![],
            changes: vec![],
            needs_restart: vec![],
        }),
        instances: vec![master, backup],
        scripts: vec![
            ScriptSnapshot {
                name: "chk_web".into(),
                state: "failing".into(),
                running: None,
            },
            ScriptSnapshot {
                name: "chk_db".into(),
                state: "passing".into(),
                running: None,
            },
            ScriptSnapshot {
                name: "chk_web".into(),
                state: "failing".into(),
                running: None,
            },
        ],
        hooks: Default::default(),
    }
}

fn assert_lines(text: &str, expected: &[&str]) {
    let lines: HashSet<&str> = text.lines().collect();
    let missing: Vec<&&str> = expected.iter().filter(|l| !lines.contains(**l)).collect();
    assert!(missing.is_empty(), "missing lines {missing:#?} in\n{text}");
}

fn series_of<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .collect()
}

#[test]
fn mehdy_family_exact_lines() {
    let text = render(&known(), Families::default());
    let b = "iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"";
    let mut expected = vec![
        "# TYPE keepalived_up gauge".to_owned(),
        "keepalived_up 1".to_owned(),
        "# TYPE keepalived_vrrp_state gauge".to_owned(),
        "keepalived_vrrp_state{iname=\"VI_1\",intf=\"vrrp.51\",ip_address=\"192.0.2.10/24\",vrid=\"51\"} 2".to_owned(),
        "keepalived_vrrp_state{iname=\"VI_1\",intf=\"eth1\",ip_address=\"192.0.2.11\",vrid=\"51\"} 2".to_owned(),
        "keepalived_vrrp_state{iname=\"VI \\\"two\\\"\\\\b\\nx\",intf=\"eth3\",ip_address=\"\",vrid=\"7\"} 1".to_owned(),
        "keepalived_vrrp_excluded_state{iname=\"VI_1\",intf=\"eth0\",ip_address=\"2001:db8::1\",vrid=\"51\"} 2".to_owned(),
        "# TYPE keepalived_advertisements_received_total counter".to_owned(),
        "keepalived_script_status{name=\"chk_web\"} 0".to_owned(),
        "keepalived_script_status{name=\"chk_db\"} 1".to_owned(),
        "keepalived_script_state{name=\"chk_web\"} 0".to_owned(),
        "keepalived_script_state{name=\"chk_db\"} 0".to_owned(),
        format!("keepalived_exporter_build_info{{branch=\"\",goarch=\"{}\",goos=\"linux\",goversion=\"\",revision=\"\",tags=\"vipd\",version=\"{}\"}} 1", goarch(), env!("CARGO_PKG_VERSION")),
    ];
    for (name, value) in [
        ("advertisements_received", 100),
        ("advertisements_sent", 200),
        ("become_master", 1),
        ("release_master", 0),
        ("packet_length_errors", 1),
        ("advertisements_interval_errors", 1),
        ("ip_ttl_errors", 3),
        ("invalid_type_received", 0),
        ("address_list_errors", 0),
        ("authentication_invalid", 0),
        ("authentication_mismatch", 0),
        ("authentication_failure", 1),
        ("priority_zero_received", 4),
        ("priority_zero_sent", 5),
        ("gratuitous_arp_delay", 5),
    ] {
        expected.push(format!("keepalived_{name}_total{{{b}}} {value}"));
    }
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_lines(&text, &expected);
    assert_eq!(
        series_of(&text, "keepalived_vrrp_state").len(),
        3,
        "a VIP listed twice is one series, an instance without VIPs still has one"
    );
    assert_eq!(series_of(&text, "keepalived_vrrp_excluded_state").len(), 1);
    assert_eq!(series_of(&text, "keepalived_script_status").len(), 2);
}

#[test]
fn gen2brain_family_exact_lines_without_its_ttl_bug() {
    let text = render(&known(), Families::default());
    let b = "intf=\"eth0\",name=\"VI_1\",state=\"MASTER\",vrid=\"51\"";
    let mut expected = Vec::new();
    for (name, value) in [
        ("advert_rcvd", 100),
        ("advert_sent", 200),
        ("become_master", 1),
        ("release_master", 0),
        ("packet_len_err", 1),
        ("advert_interval_err", 1),
        // gen2brain exports advert_interval_err (1) here; the TTL errors are 3.
        ("ip_ttl_err", 3),
        ("invalid_type_rcvd", 0),
        ("addr_list_err", 0),
        ("invalid_authtype", 0),
        ("authtype_mismatch", 0),
        ("auth_failure", 1),
        ("pri_zero_rcvd", 4),
        ("pri_zero_sent", 5),
    ] {
        expected.push(format!("# TYPE keepalived_vrrp_{name} counter"));
        expected.push(format!("keepalived_vrrp_{name}{{{b}}} {value}"));
    }
    expected.push(
        "keepalived_vrrp_advert_rcvd{intf=\"eth3\",name=\"VI \\\"two\\\"\\\\b\\nx\",state=\"BACKUP\",vrid=\"7\"} 0"
            .to_owned(),
    );
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_lines(&text, &expected);
    assert!(
        !text.contains("keepalived_vrrp_gratuitous")
            && !text.contains("keepalived_vrrp_advert_rcvd_total"),
        "gen2brain has no garp delay and no _total"
    );
}

#[test]
fn vipd_family_exact_lines() {
    let text = render(&known(), Families::default());
    let b = "iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"";
    let t = "iname=\"VI_1\",vrid=\"51\"";
    let mut expected = vec![
        format!("vipd_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION")),
        "vipd_reload_success 0".to_owned(),
        "vipd_reload_timestamp_seconds 1714568523".to_owned(),
        format!("vipd_instance_priority{{{b}}} 150"),
        format!("vipd_instance_effective_priority{{{b}}} 130"),
        format!("vipd_instance_rival_master_adverts_total{{{b}}} 1"),
        format!("vipd_instance_announcements_total{{{b}}} 10"),
        format!("vipd_instance_error{{{b}}} 1"),
        "vipd_instance_error{iname=\"VI \\\"two\\\"\\\\b\\nx\",intf=\"eth3\",vrid=\"7\"} 0".to_owned(),
        format!("vipd_instance_state{{{b},state=\"INIT\"}} 0"),
        format!("vipd_instance_state{{{b},state=\"BACKUP\"}} 0"),
        format!("vipd_instance_state{{{b},state=\"MASTER\"}} 1"),
        format!("vipd_instance_state{{{b},state=\"FAULT\"}} 0"),
        format!("vipd_instance_master_info{{{b},master=\"192.0.2.1\"}} 1"),
        "vipd_instance_master_info{iname=\"VI \\\"two\\\"\\\\b\\nx\",intf=\"eth3\",vrid=\"7\",master=\"\"} 1".to_owned(),
        format!("vipd_instance_last_transition_timestamp_seconds{{{b}}} 1714564800.25"),
        "vipd_instance_last_transition_timestamp_seconds{iname=\"VI \\\"two\\\"\\\\b\\nx\",intf=\"eth3\",vrid=\"7\"} 0".to_owned(),
        format!("vipd_instance_transitions_total{{{b},from=\"INIT\",to=\"BACKUP\",reason=\"startup\"}} 1"),
        format!("vipd_instance_transitions_total{{{b},from=\"BACKUP\",to=\"MASTER\",reason=\"master_down_timer_expired\"}} 1"),
        "# TYPE vipd_instance_failover_duration_seconds histogram".to_owned(),
        format!("vipd_instance_failover_duration_seconds_bucket{{{b},le=\"0.025\"}} 0"),
        format!("vipd_instance_failover_duration_seconds_bucket{{{b},le=\"0.05\"}} 1"),
        format!("vipd_instance_failover_duration_seconds_bucket{{{b},le=\"10\"}} 1"),
        format!("vipd_instance_failover_duration_seconds_bucket{{{b},le=\"+Inf\"}} 1"),
        format!("vipd_instance_failover_duration_seconds_sum{{{b}}} 0.035"),
        format!("vipd_instance_failover_duration_seconds_count{{{b}}} 1"),
        format!("vipd_instance_master_advert_interval_seconds{{{b}}} 0.1"),
        "vipd_instance_master_advert_interval_seconds{iname=\"VI \\\"two\\\"\\\\b\\nx\",intf=\"eth3\",vrid=\"7\"} 1".to_owned(),
        format!("vipd_instance_adverts_checksum_total{{{b},flavour=\"pseudo_header\"}} 40"),
        format!("vipd_instance_adverts_checksum_total{{{b},flavour=\"plain\"}} 2"),
        format!("vipd_instance_adverts_rejected_total{{{b},reason=\"ttl\"}} 3"),
        format!("vipd_instance_adverts_rejected_total{{{b},reason=\"auth_failure\"}} 1"),
        format!("vipd_instance_adverts_rejected_total{{{b},reason=\"checksum\"}} 0"),
        format!("vipd_vip_present{{{b},ip_address=\"192.0.2.10/24\",dev=\"vrrp.51\"}} 1"),
        format!("vipd_vip_present{{{b},ip_address=\"192.0.2.11\",dev=\"eth1\"}} 0"),
        format!("vipd_vip_present{{{b},ip_address=\"2001:db8::1\",dev=\"eth0\"}} 1"),
        format!("vipd_tracker_status{{{t},tracker=\"eth2\",kind=\"interface\"}} 1"),
        format!("vipd_tracker_status{{{t},tracker=\"chk_web\",kind=\"script\"}} 0"),
        format!("vipd_tracker_status{{{t},tracker=\"chk_db\",kind=\"script\"}} -1"),
        format!("vipd_tracker_status{{{t},tracker=\"maint\",kind=\"file\"}} -5"),
        format!("vipd_tracker_weight_applied{{{t},tracker=\"chk_web\",kind=\"script\"}} -20"),
        format!("vipd_tracker_weight_applied{{{t},tracker=\"chk_db\",kind=\"script\"}} 0"),
        format!("vipd_tracker_weight_applied{{{t},tracker=\"gate\",kind=\"process\"}} 0"),
        format!("vipd_tracker_fault{{{t},tracker=\"gate\",kind=\"process\"}} 1"),
        format!("vipd_tracker_fault{{{t},tracker=\"chk_web\",kind=\"script\"}} 0"),
    ];
    expected.push(format!(
        "vipd_instance_adverts_rejected_total{{{b},reason=\"adver_interval\"}} 1"
    ));
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_lines(&text, &expected);
    assert_eq!(series_of(&text, "vipd_vip_present").len(), 3);
    assert_eq!(series_of(&text, "vipd_tracker_status").len(), 5);
    assert_eq!(
        series_of(&text, "vipd_instance_adverts_rejected_total").len(),
        2 * WireError::ALL.len()
    );
}

#[test]
fn families_can_be_left_out() {
    let snapshot = known();
    let names = |families| {
        let parsed = read(&render(&snapshot, families)).unwrap();
        parsed
            .families
            .iter()
            .map(|f| f.name.clone())
            .collect::<Vec<_>>()
    };
    let only_vipd = names(Families {
        mehdy: false,
        gen2brain: false,
        vipd: true,
    });
    assert!(
        only_vipd.iter().all(|n| n.starts_with("vipd_")),
        "{only_vipd:?}"
    );
    let only_gen2brain = names(Families {
        mehdy: false,
        gen2brain: true,
        vipd: false,
    });
    let mut expected: Vec<&str> = GEN2BRAIN_NAMES.to_vec();
    expected.insert(0, "keepalived_up");
    assert_eq!(only_gen2brain, expected);
    let only_mehdy = names(Families {
        mehdy: true,
        gen2brain: false,
        vipd: false,
    });
    let mut expected: Vec<&str> = MEHDY_NAMES.to_vec();
    expected.push("keepalived_exporter_build_info");
    assert_eq!(only_mehdy, expected);
    assert!(render(
        &snapshot,
        Families {
            mehdy: false,
            gen2brain: false,
            vipd: false
        }
    )
    .is_empty());
}

#[test]
fn the_whole_exposition_reads_back_with_every_name_as_agreed() {
    let parsed = read(&render(&known(), Families::default())).unwrap();
    let got: HashSet<&str> = parsed.families.iter().map(|f| f.name.as_str()).collect();
    let expected: HashSet<&str> = MEHDY_NAMES
        .iter()
        .chain(GEN2BRAIN_NAMES.iter())
        .chain(VIPD_NAMES.iter())
        .copied()
        .collect();
    assert_eq!(got, expected);
    for f in &parsed.families {
        assert!(!f.help.is_empty(), "{} has no HELP text", f.name);
        let expected_kind =
            if f.name.ends_with("_total") || GEN2BRAIN_NAMES.contains(&f.name.as_str()) {
                "counter"
            } else if f.name == "vipd_instance_failover_duration_seconds" {
                "histogram"
            } else {
                "gauge"
            };
        assert_eq!(f.kind, expected_kind, "{}", f.name);
    }
    let escaped = parsed
        .series
        .iter()
        .find(|s| s.name == "keepalived_vrrp_state" && s.label("vrid") == Some("7"))
        .unwrap();
    assert_eq!(escaped.label("iname"), Some("VI \"two\"\\b\nx"));
    assert_eq!(escaped.label("ip_address"), Some(""));
}

#[test]
fn an_empty_daemon_still_says_it_is_up() {
    let parsed = read(&render(&Snapshot::default(), Families::default())).unwrap();
    let names: Vec<&str> = parsed.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "keepalived_up",
            "keepalived_exporter_build_info",
            "vipd_build_info",
            "vipd_reload_success",
            "vipd_reload_timestamp_seconds"
        ]
    );
}

#[test]
fn rendering_255_instances_fits_the_first_allocation() {
    let snapshot = Snapshot::synthetic(255);
    let labels: Vec<InstanceLabels> = snapshot.instances.iter().map(InstanceLabels::new).collect();
    let estimate = estimated_len(&snapshot, &labels, Families::default());
    let text = render(&snapshot, Families::default());
    assert_eq!(
        text.capacity(),
        estimate,
        "the String grew: raise estimated_len ({} bytes written)",
        text.len()
    );
    assert!(text.len() * 10 > estimate * 7, "estimate far too large");
    let parsed = read(&text).unwrap();
    assert_eq!(
        parsed
            .series
            .iter()
            .filter(|s| s.name == "keepalived_become_master_total")
            .count(),
        255
    );
    assert_eq!(
        parsed
            .series
            .iter()
            .filter(|s| s.name == "vipd_instance_state" && s.value == 1.0)
            .count(),
        255
    );
}

/// `promtool check metrics` on `text`: None when promtool is not installed, else its exit code
/// and report.
fn promtool(text: &str) -> Option<(Option<i32>, String)> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Some((out.status.code(), report))
}

#[test]
fn promtool_accepts_the_exposition() {
    let mut expected: Vec<String> = GEN2BRAIN_NAMES
        .iter()
        .map(|n| format!("{n} counter metrics should have \"_total\" suffix"))
        .collect();
    expected.sort();
    for snapshot in [known(), Snapshot::synthetic(20)] {
        let (code, report) = promtool(&render(&snapshot, Families::default())).expect(
            "promtool is not installed: scripts/setup.sh installs Debian's prometheus package",
        );
        // Exit 3 is "lint problems found"; the only ones allowed are gen2brain's names.
        assert!(
            matches!(code, Some(0 | 3)),
            "promtool failed to parse:\n{report}"
        );
        let problems: Vec<&str> = report.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(problems, expected);
    }
}

#[test]
fn label_values_and_help_are_escaped() {
    let mut out = String::new();
    push_escaped(&mut out, "a\\b\"c\nd");
    assert_eq!(out, "a\\\\b\\\"c\\nd");
    let mut x = Exposition {
        out: String::new(),
        first_label: true,
    };
    x.header("m", "gauge", "a \\ b\nc \"q\"");
    assert_eq!(x.out, "# HELP m a \\\\ b\\nc \"q\"\n# TYPE m gauge\n");
}

#[test]
fn seconds_are_exact_decimals() {
    let text = |us| {
        let mut s = String::new();
        push_seconds(&mut s, us);
        s
    };
    assert_eq!(text(0), "0");
    assert_eq!(text(5_000), "0.005");
    assert_eq!(text(2_500_000), "2.5");
    assert_eq!(text(10_000_000), "10");
    assert_eq!(text(1_714_564_800_000_001), "1714564800.000001");
}

// --- A strict reader of the text format 0.0.4 -------------------------------------------------

#[derive(Debug)]
struct Family {
    name: String,
    kind: String,
    help: String,
}

#[derive(Debug)]
struct Series {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

impl Series {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct Parsed {
    families: Vec<Family>,
    series: Vec<Series>,
}

fn is_name(s: &str, colon: bool) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
}

/// Reads `text` as Prometheus 2.x does and checks what a scrape would reject or mangle: every
/// series under its own HELP and TYPE, families in one piece, no label twice in a series, no
/// series twice, histograms whole.
fn read(text: &str) -> Result<Parsed, String> {
    let mut families: Vec<Family> = Vec::new();
    let mut series: Vec<Series> = Vec::new();
    let mut seen = HashSet::new();
    let mut pending_help: Option<(String, String)> = None;
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the last line has no newline".into());
    }
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest
                .split_once(' ')
                .ok_or_else(|| at("HELP without text".into()))?;
            if help.contains('\\') && help.replace("\\\\", "").replace("\\n", "").contains('\\') {
                return Err(at("bad escape in HELP".into()));
            }
            pending_help = Some((name.to_owned(), help.to_owned()));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| at("TYPE without type".into()))?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(at(format!("unknown type {kind}")));
            }
            let help = match pending_help.take() {
                Some((h, text)) if h == name => text,
                _ => return Err(at("TYPE not right after its HELP".into())),
            };
            if families.iter().any(|f| f.name == name) {
                return Err(at("family declared twice".into()));
            }
            if !is_name(name, true) {
                return Err(at("bad metric name".into()));
            }
            families.push(Family {
                name: name.to_owned(),
                kind: kind.to_owned(),
                help,
            });
        } else if line.starts_with('#') {
            return Err(at("a comment that is neither HELP nor TYPE".into()));
        } else {
            let family = families
                .last()
                .ok_or_else(|| at("series before any TYPE".into()))?;
            let s = read_series(line).map_err(at)?;
            let belongs = if family.kind == "histogram" {
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|suffix| s.name == format!("{}{suffix}", family.name))
            } else {
                s.name == family.name
            };
            if !belongs {
                return Err(at(format!("series outside its family ({})", family.name)));
            }
            let mut key: Vec<(String, String)> = s.labels.clone();
            key.sort();
            if !seen.insert((s.name.clone(), key)) {
                return Err(at("series repeated".into()));
            }
            series.push(s);
        }
    }
    check_histograms(&families, &series)?;
    Ok(Parsed { families, series })
}

fn read_series(line: &str) -> Result<Series, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !is_name(name, true) {
        return Err("bad metric name".into());
    }
    let mut rest = &line[name_end..];
    let mut labels: Vec<(String, String)> = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        loop {
            let (start, c) = chars.next().ok_or("unterminated label set")?;
            if c == '}' {
                rest = &body[start + 1..];
                break;
            }
            let eq = body[start..].find('=').ok_or("label without =")? + start;
            let key = &body[start..eq];
            if !is_name(key, false) {
                return Err(format!("bad label name {key:?}"));
            }
            if labels.iter().any(|(k, _)| k == key) {
                return Err(format!("label {key} twice"));
            }
            while chars.peek().is_some_and(|&(i, _)| i <= eq) {
                chars.next();
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err("label value not quoted".into());
            }
            let mut value = String::new();
            loop {
                match chars.next().ok_or("unterminated label value")?.1 {
                    '"' => break,
                    '\\' => match chars.next().ok_or("dangling backslash")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        other => return Err(format!("bad escape \\{other}")),
                    },
                    c => value.push(c),
                }
            }
            labels.push((key.to_owned(), value));
            match chars.peek().map(|&(_, c)| c) {
                Some(',') => {
                    chars.next();
                }
                Some('}') => {}
                _ => return Err("labels not separated by a comma".into()),
            }
        }
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
    };
    Ok(Series {
        name: name.to_owned(),
        labels,
        value,
    })
}

type Labels = Vec<(String, String)>;

/// Buckets non-decreasing and ending in +Inf, which equals _count; a _sum for each.
fn check_histograms(families: &[Family], series: &[Series]) -> Result<(), String> {
    for f in families.iter().filter(|f| f.kind == "histogram") {
        let bucket = format!("{}_bucket", f.name);
        // The last bucket read: its other labels, its bound and its count.
        let mut last: Option<(Labels, f64, f64)> = None;
        let mut finished = 0;
        for s in series.iter().filter(|s| s.name.starts_with(&f.name)) {
            let others: Vec<(String, String)> = s
                .labels
                .iter()
                .filter(|(k, _)| k != "le")
                .cloned()
                .collect();
            if s.name == bucket {
                let le: f64 = match s.label("le").ok_or("bucket without le")? {
                    "+Inf" => f64::INFINITY,
                    v => v.parse().map_err(|_| "bad le")?,
                };
                if let Some((labels, bound, count)) = &last {
                    if *labels == others && (le <= *bound || s.value < *count) {
                        return Err(format!("{bucket}: buckets out of order"));
                    }
                }
                last = Some((others, le, s.value));
            } else if s.name.ends_with("_count") {
                match &last {
                    Some((labels, bound, count))
                        if *labels == others && bound.is_infinite() && *count == s.value =>
                    {
                        finished += 1
                    }
                    _ => return Err(format!("{}: _count is not the +Inf bucket", f.name)),
                }
            }
        }
        let sums = series
            .iter()
            .filter(|s| s.name == format!("{}_sum", f.name))
            .count();
        if sums != finished {
            return Err(format!("{}: {sums} sums for {finished} histograms", f.name));
        }
    }
    Ok(())
}

#[test]
fn the_reader_rejects_what_a_scrape_would() {
    let ok = "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 1\n";
    assert!(read(ok).is_ok());
    for bad in [
        "a 1\n",
        "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n",
        "# HELP a A.\n# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n",
        "# HELP a A.\n# TYPE a gauge\na{x=\"\\q\"} 1\n",
        "# HELP a A.\n# TYPE a gauge\n# HELP b B.\n# TYPE b gauge\na 1\n",
        "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} one\n",
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
    ] {
        assert!(read(bad).is_err(), "accepted {bad:?}");
    }
}
