//! vipd's per-VIP families beside `vipd_vip_present` (seed 000's fields: held, acquired at,
//! error, gratuitous ARPs / NAs sent) and who a backup hears as master. Labels: the instance's
//! `iname`, `intf`, `vrid`, then `ip_address` (with `/len` unless host-length) and `dev`.

use super::{first_of_its_kind, unix_micros, Exposition, InstanceLabels, Snapshot};
use crate::observe::snapshot::VipSnapshot;

/// A gauge or counter with one series per distinct VIP.
struct PerVip {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&VipSnapshot) -> u64,
}

const PER_VIP: [PerVip; 4] = [
    PerVip {
        name: "vipd_vip_held",
        kind: "gauge",
        help: "1 when vipd believes it owns the address (master or handing over, installed without error), 0 when not; compare vipd_vip_present, the live check",
        value: |v| u64::from(v.held),
    },
    PerVip {
        name: "vipd_vip_acquired_timestamp_seconds",
        kind: "gauge",
        help: "When vipd last installed the address while master (again after someone removed it), in seconds since the Unix epoch; 0 while not held",
        value: |v| v.acquired_at.map_or(0, unix_micros),
    },
    PerVip {
        name: "vipd_vip_announcements_total",
        kind: "counter",
        help: "Gratuitous ARPs (IPv4) or unsolicited neighbour advertisements (IPv6) sent for the address",
        value: |v| v.announcements,
    },
    PerVip {
        name: "vipd_vip_error",
        kind: "gauge",
        help: "1 while the last system operation on the address failed (vipd status says why and what to do, e.g. grant CAP_NET_ADMIN), else 0",
        value: |v| u64::from(v.error.is_some()),
    },
];

pub(super) fn render(x: &mut Exposition, snapshot: &Snapshot, labels: &[InstanceLabels]) {
    let instances = || snapshot.instances.iter().zip(labels);
    for metric in &PER_VIP {
        x.header(metric.name, metric.kind, metric.help);
        for (i, l) in instances() {
            for (k, vip) in i.vips.iter().enumerate() {
                if !first_of_its_kind(&i.vips, k, |_| true) {
                    continue;
                }
                let series = x
                    .start(metric.name, &l.base)
                    .ip_address(vip)
                    .label("dev", &vip.dev);
                if metric.name == "vipd_vip_acquired_timestamp_seconds" {
                    series.value_seconds((metric.value)(vip));
                } else {
                    series.value((metric.value)(vip));
                }
            }
        }
    }

    x.header(
        "vipd_instance_peer_master_last_heard_seconds",
        "gauge",
        "Seconds since a backup last heard the peer that is master now (its address in the master label); no series while this node is master or hears no master",
    );
    for (i, l) in instances() {
        if let Some(peer) = i.peer_master {
            x.start("vipd_instance_peer_master_last_heard_seconds", &l.base)
                .label_raw("master", &peer.address.to_string())
                .value_seconds(peer.last_heard_ms * 1000);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use vipd_router::State;

    use super::super::{render, Families};
    use crate::observe::snapshot::{PeerMasterSnapshot, Snapshot};

    fn lines_of<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
            .collect()
    }

    #[test]
    fn each_vip_shows_held_acquired_announcements_and_error() {
        let mut snapshot = Snapshot::synthetic(2);
        let master = &mut snapshot.instances[0];
        assert_eq!(master.state, State::Master);
        master.vips.truncate(2);
        master.vips[0].acquired_at = Some(UNIX_EPOCH + Duration::from_millis(1_706_019_900_500));
        master.vips[0].announcements = 7;
        master.vips[1].held = false;
        master.vips[1].acquired_at = None;
        master.vips[1].error = Some("add address: permission denied; CAP_NET_ADMIN".into());
        let backup = &mut snapshot.instances[1];
        backup.vips.clear();
        backup.peer_master = Some(PeerMasterSnapshot {
            address: "192.0.2.200".parse().unwrap(),
            priority: 200,
            last_heard_ms: 250,
        });
        let text = render(&snapshot, Families::default());
        let b = "iname=\"VI_0\",intf=\"eth0\",vrid=\"1\"";
        for line in [
            format!("vipd_vip_held{{{b},ip_address=\"192.0.2.1/24\",dev=\"vrrp.1\"}} 1"),
            format!("vipd_vip_held{{{b},ip_address=\"198.51.100.1\",dev=\"vrrp.1\"}} 0"),
            format!("vipd_vip_acquired_timestamp_seconds{{{b},ip_address=\"192.0.2.1/24\",dev=\"vrrp.1\"}} 1706019900.5"),
            format!("vipd_vip_acquired_timestamp_seconds{{{b},ip_address=\"198.51.100.1\",dev=\"vrrp.1\"}} 0"),
            format!("vipd_vip_announcements_total{{{b},ip_address=\"192.0.2.1/24\",dev=\"vrrp.1\"}} 7"),
            format!("vipd_vip_error{{{b},ip_address=\"192.0.2.1/24\",dev=\"vrrp.1\"}} 0"),
            format!("vipd_vip_error{{{b},ip_address=\"198.51.100.1\",dev=\"vrrp.1\"}} 1"),
            "vipd_instance_peer_master_last_heard_seconds{iname=\"VI_1\",intf=\"eth0\",vrid=\"2\",master=\"192.0.2.200\"} 0.25".to_owned(),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        assert_eq!(lines_of(&text, "vipd_vip_held").len(), 2);
        assert_eq!(
            lines_of(&text, "vipd_instance_peer_master_last_heard_seconds").len(),
            1,
            "only the backup that hears a master"
        );
    }
}
