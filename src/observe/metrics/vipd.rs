//! vipd's own family (`vipd_*`): what no keepalived exporter could see. Labels are `iname`,
//! `intf` (the instance interface) and `vrid` unless a metric says otherwise.

use super::{
    first_of_its_kind, reason_name, unix_micros, Exposition, InstanceLabels, Snapshot, TrackEffect,
    WireError, STATES,
};
use crate::observe::snapshot::{state_name, InstanceSnapshot, TrackerSnapshot};
use crate::observe::stats::FAILOVER_BUCKETS_US;

/// A gauge or counter with one series per instance.
struct PerInstance {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&InstanceSnapshot) -> u64,
}

const PER_INSTANCE: [PerInstance; 6] = [
    PerInstance {
        name: "vipd_instance_priority",
        kind: "gauge",
        help: "Configured priority (1-255; 255 is the address owner)",
        value: |i| u64::from(i.priority),
    },
    PerInstance {
        name: "vipd_instance_effective_priority",
        kind: "gauge",
        help: "Priority advertised now: the configured one moved by tracker weights, clamped to 1-254 (255 for the owner)",
        value: |i| u64::from(i.effective_priority),
    },
    PerInstance {
        name: "vipd_instance_rival_master_adverts_total",
        kind: "counter",
        help: "Lower-priority adverts heard from another master while we are master (two masters that do not hear each other one way)",
        value: |i| i.stats.rival_master_adverts,
    },
    PerInstance {
        name: "vipd_instance_announcements_total",
        kind: "counter",
        help: "Gratuitous ARP (IPv4) and unsolicited neighbour advertisement (IPv6) frames sent for the VIPs",
        value: |i| i.stats.announcements,
    },
    PerInstance {
        name: "vipd_instance_maintenance",
        kind: "gauge",
        help: "1 while `vipd maintenance on` holds the instance out of the election (BACKUP, never master), else 0; with vipd_instance_master_info{master=\"\"} nobody serves its VIPs",
        value: |i| u64::from(i.maintenance),
    },
    PerInstance {
        name: "vipd_instance_error",
        kind: "gauge",
        help: "1 while the instance shows a system error (vipd status says which), else 0",
        value: |i| u64::from(i.last_error.is_some()),
    },
];

/// `vipd_tracker_status`: 1 passing/up, 0 failing/down, -1 unknown, a tracked file's number.
fn tracker_status(t: &TrackerSnapshot) -> i64 {
    match t.state.as_str() {
        "up" | "passing" => 1,
        "down" | "failing" => 0,
        other => other.parse().unwrap_or(-1),
    }
}

pub(super) fn render(x: &mut Exposition, snapshot: &Snapshot, labels: &[InstanceLabels]) {
    let instances = || snapshot.instances.iter().zip(labels);
    x.header(
        "vipd_build_info",
        "gauge",
        "A constant 1 labelled with the version of vipd serving these metrics",
    );
    x.start("vipd_build_info", "")
        .label_raw("version", env!("CARGO_PKG_VERSION"))
        .value(1);
    reload(x, snapshot);
    super::hooks::render(x, snapshot);
    if snapshot.instances.is_empty() {
        return;
    }
    for metric in &PER_INSTANCE {
        x.header(metric.name, metric.kind, metric.help);
        for (i, l) in instances() {
            x.start(metric.name, &l.base).value((metric.value)(i));
        }
    }

    x.header(
        "vipd_instance_state",
        "gauge",
        "State set: 1 on the series of the current state (INIT, BACKUP, MASTER, FAULT), 0 on the others",
    );
    for (i, l) in instances() {
        for state in STATES {
            x.start("vipd_instance_state", &l.base)
                .label_raw("state", state_name(state))
                .value(u64::from(i.state == state));
        }
    }

    x.header(
        "vipd_instance_master_info",
        "gauge",
        "A constant 1 labelled with the master's address as last heard (ours while master; \"\" when unknown)",
    );
    for (i, l) in instances() {
        let master = i.master.map(|a| a.to_string()).unwrap_or_default();
        x.start("vipd_instance_master_info", &l.base)
            .label_raw("master", &master)
            .value(1);
    }

    x.header(
        "vipd_instance_last_transition_timestamp_seconds",
        "gauge",
        "When the instance last changed state, in seconds since the Unix epoch (0: never)",
    );
    for (i, l) in instances() {
        let at = i.stats.last_transition.map_or(0, unix_micros);
        x.start("vipd_instance_last_transition_timestamp_seconds", &l.base)
            .value_seconds(at);
    }

    transitions(x, snapshot, labels);
    failovers(x, snapshot, labels);

    x.header(
        "vipd_instance_master_advert_interval_seconds",
        "gauge",
        "Master_Adver_Interval in seconds: the master's advert interval as learned from its adverts (VRRPv3 backups), else ours",
    );
    for (i, l) in instances() {
        x.start("vipd_instance_master_advert_interval_seconds", &l.base)
            .value_seconds(i.master_advert_interval_us);
    }

    x.header(
        "vipd_instance_adverts_checksum_total",
        "counter",
        "IPv4 VRRPv3 adverts accepted by checksum flavour: pseudo_header (keepalived, FRR) or plain (RFC 9568 as Cisco and Juniper read it, v3_checksum_as_v2)",
    );
    for (i, l) in instances() {
        let checksums = &i.stats.checksums;
        for (flavour, n) in [
            ("pseudo_header", checksums.pseudo_header),
            ("plain", checksums.plain),
        ] {
            x.start("vipd_instance_adverts_checksum_total", &l.base)
                .label_raw("flavour", flavour)
                .value(n);
        }
    }

    x.header(
        "vipd_instance_adverts_rejected_total",
        "counter",
        "Adverts naming this VRID that were rejected, by reason: checksum, version, vrid, ttl, length, type, address_list, adver_interval, auth_type_invalid, auth_type_mismatch, auth_failure, truncated, not_vrrp",
    );
    for (i, l) in instances() {
        for error in WireError::ALL {
            x.start("vipd_instance_adverts_rejected_total", &l.base)
                .label_raw("reason", error.short_name())
                .value(i.stats.rejected.get(error));
        }
    }

    x.header(
        "vipd_vip_present",
        "gauge",
        "1 when the kernel has the virtual (or excluded) address on its device (dev) now, 0 when not; ip_address with /len unless /32 or /128",
    );
    for (i, l) in instances() {
        for (k, vip) in i.vips.iter().enumerate() {
            if !first_of_its_kind(&i.vips, k, |_| true) {
                continue;
            }
            x.start("vipd_vip_present", &l.base)
                .ip_address(vip)
                .label("dev", &vip.dev)
                .value(u64::from(vip.present));
        }
    }
    super::vip::render(x, snapshot, labels);

    trackers(x, snapshot, labels);
}

fn reload(x: &mut Exposition, snapshot: &Snapshot) {
    let report = snapshot.last_reload.as_ref();
    x.header(
        "vipd_reload_success",
        "gauge",
        "1 when the last reload was applied (or there was none yet), 0 when it was rejected and the running configuration kept",
    );
    x.plain(
        "vipd_reload_success",
        u64::from(report.is_none_or(|r| r.applied)),
    );
    x.header(
        "vipd_reload_timestamp_seconds",
        "gauge",
        "When the last reload (applied or rejected) happened, in seconds since the Unix epoch (0: none yet)",
    );
    x.plain(
        "vipd_reload_timestamp_seconds",
        report.map_or(0, |r| r.at_unix),
    );
}

fn transitions(x: &mut Exposition, snapshot: &Snapshot, labels: &[InstanceLabels]) {
    if snapshot
        .instances
        .iter()
        .all(|i| i.stats.transitions.is_empty())
    {
        return;
    }
    x.header(
        "vipd_instance_transitions_total",
        "counter",
        "State changes by from and to state (INIT, BACKUP, MASTER, FAULT) and reason (startup, shutdown, master_down_timer_expired, priority_zero_received, higher_priority_advert_received, preempted, interface_down, interface_up, track_failed, track_recovered, sync_group, maintenance)",
    );
    for (i, l) in snapshot.instances.iter().zip(labels) {
        for t in &i.stats.transitions {
            x.start("vipd_instance_transitions_total", &l.base)
                .label_raw("from", state_name(t.from))
                .label_raw("to", state_name(t.to))
                .label_raw("reason", reason_name(t.reason))
                .value(t.count);
        }
    }
}

fn failovers(x: &mut Exposition, snapshot: &Snapshot, labels: &[InstanceLabels]) {
    let mut bounds: [String; FAILOVER_BUCKETS_US.len()] = Default::default();
    for (text, &us) in bounds.iter_mut().zip(FAILOVER_BUCKETS_US.iter()) {
        super::push_seconds(text, us);
    }
    x.header(
        "vipd_instance_failover_duration_seconds",
        "histogram",
        "Backup to Master failovers, in seconds: from the last advert heard from the old master (when Master_Down_Interval started) or its priority-0 advert, to our first advert as master",
    );
    for (i, l) in snapshot.instances.iter().zip(labels) {
        let histogram = &i.stats.failovers;
        for ((_, count), bound) in histogram.cumulative().zip(&bounds) {
            x.start("vipd_instance_failover_duration_seconds_bucket", &l.base)
                .label_raw("le", bound)
                .value(count);
        }
        x.start("vipd_instance_failover_duration_seconds_bucket", &l.base)
            .label_raw("le", "+Inf")
            .value(histogram.count);
        x.start("vipd_instance_failover_duration_seconds_sum", &l.base)
            .value_seconds(histogram.sum_us);
        x.start("vipd_instance_failover_duration_seconds_count", &l.base)
            .value(histogram.count);
    }
}

/// Each instance's trackers once by (name, kind).
fn trackers(x: &mut Exposition, snapshot: &Snapshot, labels: &[InstanceLabels]) {
    if snapshot.instances.iter().all(|i| i.trackers.is_empty()) {
        return;
    }
    type Value = fn(&TrackerSnapshot) -> i64;
    let metrics: [(&str, &str, Value); 3] = [
        (
            "vipd_tracker_status",
            "Tracked object per instance: 1 passing (or interface up), 0 failing (or down), -1 no verdict yet; a tracked file's number for kind=\"file\"",
            tracker_status,
        ),
        (
            "vipd_tracker_weight_applied",
            "What the tracked object adds to the instance's priority now (negative: subtracts; 0 when its weight does not apply)",
            |t| match t.effect {
                TrackEffect::Adjust(n) => i64::from(n),
                TrackEffect::Fault | TrackEffect::Pending => 0,
            },
        ),
        (
            "vipd_tracker_fault",
            "1 while the tracked object (weight 0) holds the instance in FAULT, else 0",
            |t| i64::from(t.effect == TrackEffect::Fault),
        ),
    ];
    for (name, help, value) in metrics {
        x.header(name, "gauge", help);
        for (i, l) in snapshot.instances.iter().zip(labels) {
            for (k, t) in i.trackers.iter().enumerate() {
                let repeated = i.trackers[..k]
                    .iter()
                    .any(|o| o.name == t.name && o.kind == t.kind);
                if repeated {
                    continue;
                }
                x.start(name, "")
                    .label_raw("iname", &l.iname)
                    .label_raw("vrid", &l.vrid)
                    .label("tracker", &t.name)
                    .label_raw("kind", t.kind)
                    .value_signed(value(t));
            }
        }
    }
}
