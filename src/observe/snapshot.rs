//! The one read-only projection of the daemon's state, built by the event loop on request and
//! handed out by value: `vipd status` (text and JSON) renders from it, and so will `/metrics`.
//! Building it reads no socket and waits for nothing.

use std::net::IpAddr;
use std::time::SystemTime;

use vipd_router::{Counters, State, TrackEffect};

use super::history::TransitionRecord;
use super::stats::InstanceStats;
use super::status::{
    utc_timestamp, ChecksumCounts, Counters as StatusCounters, InstanceStatus, LastRunStatus,
    PeerMaster, ReloadReport, RivalMaster, StatusReport, TrackerStatus, VipStatus,
};

/// The daemon as it is at one instant.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub pid: u32,
    pub uptime_ms: u64,
    /// System errors not tied to one instance.
    pub errors: Vec<String>,
    pub last_reload: Option<ReloadReport>,
    pub instances: Vec<InstanceSnapshot>,
    /// Every `vrrp_script` that runs (those some instance or sync group tracks), once however
    /// many instances track it, by name.
    pub scripts: Vec<ScriptSnapshot>,
    /// What conntrackd integrations and link actions did.
    pub hooks: super::hooks::HooksStatus,
}

/// One running `vrrp_script` (a command or a built-in check), daemon-wide.
#[derive(Debug, Clone)]
pub struct ScriptSnapshot {
    pub name: String,
    /// `passing`, `failing` or `unknown` (no verdict yet).
    pub state: String,
    /// Whether a run is in flight now; None when vipd cannot tell (the runners report finished
    /// runs only).
    pub running: Option<bool>,
}

/// One virtual router.
#[derive(Debug, Clone)]
pub struct InstanceSnapshot {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    /// 4 or 6.
    pub family: u8,
    /// 2 or 3.
    pub version: u8,
    pub state: State,
    /// Held out of the election by `vipd maintenance on`.
    pub maintenance: bool,
    pub priority: u8,
    pub effective_priority: u8,
    pub master: Option<IpAddr>,
    pub advert_interval_us: u64,
    pub master_advert_interval_us: u64,
    /// `garp_master_delay`: seconds between the first and the second announcement burst.
    pub garp_master_delay_s: u32,
    pub in_state_ms: u64,
    /// The advertised VIPs, then the excluded ones.
    pub vips: Vec<VipSnapshot>,
    pub counters: Counters,
    pub stats: InstanceStats,
    pub last_error: Option<String>,
    /// The last rival master heard, and how long ago (ms).
    pub rival_master: Option<(IpAddr, u64)>,
    /// The other router that is master now, as this backup hears it (None while we are master
    /// or hear nobody).
    pub peer_master: Option<PeerMasterSnapshot>,
    /// Why no gratuitous ARP / NA is ever sent, when that is by design (unicast-only).
    pub garp_note: Option<String>,
    /// Every tracked object (interfaces, scripts, probes, files, processes).
    pub trackers: Vec<TrackerSnapshot>,
    /// The last few transitions, oldest first (the status page shows them).
    pub recent_transitions: Vec<TransitionRecord>,
}

/// One tracked object of an instance.
#[derive(Debug, Clone)]
pub struct TrackerSnapshot {
    pub name: String,
    /// `interface`, `script`, `tcp_connect`, `http_get`, `icmp_echo`, `dns_query`, `file` or
    /// `process`.
    pub kind: &'static str,
    /// What it checks, e.g. `tcp 127.0.0.1:6443` (none for interfaces and scripts).
    pub check: Option<String>,
    /// `up`/`down` (interfaces), `passing`/`failing`/`unknown`, or a file's number.
    pub state: String,
    pub weight: i16,
    pub reverse: bool,
    /// What it does to the priority now.
    pub effect: TrackEffect,
    pub last_run: Option<LastRun>,
    /// Processes matching now (track_process).
    pub processes: Option<u32>,
    /// Why its runner stopped observing, or why it does not run.
    pub error: Option<String>,
    /// How it observes instead of its usual way, and why (track_process outside the initial
    /// network namespace: /proc scans and pidfds instead of the process connector).
    pub fallback: Option<String>,
}

/// The last run of a periodic check.
#[derive(Debug, Clone)]
pub struct LastRun {
    /// Wall-clock end of the run, seconds since the epoch.
    pub at: f64,
    pub duration_ms: f64,
    /// `passed`, `exit status: 1`, `timed out`, `failed: connection refused`…
    pub result: String,
    pub exit_code: Option<i32>,
    pub stderr: Option<String>,
}

#[derive(Debug, Clone)]
pub struct VipSnapshot {
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// The interface it lives on (its `dev`, the VMAC, or the instance's interface).
    pub dev: String,
    /// `virtual_ipaddress_excluded`: installed but not advertised.
    pub excluded: bool,
    /// Whether the kernel has it on `dev` right now.
    pub present: bool,
    /// Whether vipd believes it owns the address (master, or handing over, and installed
    /// without error).
    pub held: bool,
    /// When vipd last installed it while master (wall clock); None while not held.
    pub acquired_at: Option<SystemTime>,
    /// The last system error about this address (e.g. CAP_NET_ADMIN missing), with what to do.
    pub error: Option<String>,
    /// Gratuitous ARPs (IPv4) or unsolicited NAs (IPv6) sent for it.
    pub announcements: u64,
}

/// The peer a backup hears as master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerMasterSnapshot {
    pub address: IpAddr,
    pub priority: u8,
    /// How long ago its last advert arrived.
    pub last_heard_ms: u64,
}

/// Seconds since the Unix epoch (0 before it).
pub fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// keepalived's state names, as status, logs and notify use them.
pub fn state_name(state: State) -> &'static str {
    match state {
        State::Initialize => "INIT",
        State::Backup => "BACKUP",
        State::Master => "MASTER",
        State::Fault => "FAULT",
    }
}

impl Snapshot {
    /// The form `vipd status --json` prints and the control socket carries.
    pub fn status_report(&self) -> StatusReport {
        StatusReport {
            pid: self.pid,
            uptime_ms: self.uptime_ms,
            instances: self
                .instances
                .iter()
                .map(InstanceSnapshot::status)
                .collect(),
            errors: self.errors.clone(),
            last_reload: self.last_reload.clone(),
            hooks: self.hooks.clone(),
        }
    }
}

impl Snapshot {
    /// A made-up daemon of `instances` virtual routers with every kind of series (VIPs and an
    /// excluded one, trackers, transitions, rejects, failovers, scripts), for tests and the
    /// render benchmark. Documentation addresses only.
    #[doc(hidden)]
    pub fn synthetic(instances: usize) -> Snapshot {
        let states = [
            State::Master,
            State::Backup,
            State::Fault,
            State::Initialize,
        ];
        let instances = (0..instances)
            .map(|k| {
                let vrid = (k % 255) as u8 + 1;
                let state = states[k % states.len()];
                let mut stats = InstanceStats::default();
                for (n, error) in [vipd_wire::WireError::Ttl, vipd_wire::WireError::AuthFailure]
                    .into_iter()
                    .enumerate()
                    .take(k % 3)
                {
                    for _ in 0..=n {
                        stats.rejected.count(error);
                    }
                }
                stats.checksums.pseudo_header = 1000 + k as u64;
                stats.announcements = 10;
                let epoch = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
                stats.on_transition(
                    State::Initialize,
                    State::Backup,
                    vipd_router::Reason::Startup,
                    0,
                    epoch,
                );
                stats.on_advert_heard(1_000_000);
                stats.on_advert_sent(1_035_000 + 1_000 * k as u64);
                stats.on_transition(
                    State::Backup,
                    State::Master,
                    vipd_router::Reason::MasterDownTimerExpired,
                    1_035_000 + 1_000 * k as u64,
                    epoch,
                );
                let v4 = |host: usize| IpAddr::from([192, 0, 2, (host % 254) as u8 + 1]);
                let mut vips = vec![
                    VipSnapshot {
                        addr: v4(k),
                        prefix_len: 24,
                        dev: format!("vrrp.{vrid}"),
                        excluded: false,
                        present: state == State::Master,
                        held: state == State::Master,
                        acquired_at: (state == State::Master).then_some(epoch),
                        error: None,
                        announcements: 5,
                    },
                    VipSnapshot {
                        addr: IpAddr::from([198, 51, 100, (k % 254) as u8 + 1]),
                        prefix_len: 32,
                        dev: format!("vrrp.{vrid}"),
                        excluded: false,
                        present: state == State::Master,
                        held: state == State::Master,
                        acquired_at: (state == State::Master).then_some(epoch),
                        error: None,
                        announcements: 5,
                    },
                ];
                if k % 4 == 0 {
                    vips.push(VipSnapshot {
                        addr: format!("2001:db8::{k:x}").parse().expect("valid"),
                        prefix_len: 64,
                        dev: "eth0".into(),
                        excluded: true,
                        present: false,
                        held: false,
                        acquired_at: None,
                        error: None,
                        announcements: 0,
                    });
                }
                InstanceSnapshot {
                    name: format!("VI_{k}"),
                    interface: format!("eth{}", k / 255),
                    vrid,
                    family: 4,
                    version: 3,
                    state,
                    maintenance: false,
                    priority: 100,
                    effective_priority: 90,
                    master: Some(v4(k + 100)),
                    advert_interval_us: 10_000,
                    master_advert_interval_us: 10_000,
                    garp_master_delay_s: 5,
                    in_state_ms: 60_000,
                    vips,
                    counters: Counters {
                        adverts_received: 123_456 + k as u64,
                        adverts_sent: 654_321,
                        become_master: 3,
                        release_master: 2,
                        priority_zero_received: 1,
                        priority_zero_sent: 1,
                        ..Counters::default()
                    },
                    stats,
                    last_error: (k % 50 == 7).then(|| "cannot add 192.0.2.9/24".to_owned()),
                    rival_master: None,
                    peer_master: (state == State::Backup).then(|| PeerMasterSnapshot {
                        address: v4(k + 100),
                        priority: 200,
                        last_heard_ms: 40,
                    }),
                    garp_note: None,
                    recent_transitions: Vec::new(),
                    trackers: vec![
                        TrackerSnapshot {
                            name: "eth9".into(),
                            kind: "interface",
                            check: None,
                            state: "up".into(),
                            weight: 0,
                            reverse: false,
                            effect: TrackEffect::Adjust(0),
                            last_run: None,
                            processes: None,
                            error: None,
                            fallback: None,
                        },
                        TrackerSnapshot {
                            name: format!("chk_{}", k % 8),
                            kind: "script",
                            check: None,
                            state: "failing".into(),
                            weight: -10,
                            reverse: false,
                            effect: TrackEffect::Adjust(-10),
                            last_run: None,
                            processes: None,
                            error: None,
                            fallback: None,
                        },
                    ],
                }
            })
            .collect::<Vec<_>>();
        let scripts = (0..8.min(instances.len()))
            .map(|k| ScriptSnapshot {
                name: format!("chk_{k}"),
                state: "failing".into(),
                running: None,
            })
            .collect();
        Snapshot {
            pid: 1,
            uptime_ms: 3_600_000,
            errors: vec![],
            last_reload: None,
            instances,
            scripts,
            hooks: Default::default(),
        }
    }
}

impl InstanceSnapshot {
    /// `200 → 100: chk_haproxy failing (−100)`, or None when nothing moves the priority.
    pub fn priority_breakdown(&self) -> Option<String> {
        let parts: Vec<String> = self
            .trackers
            .iter()
            .filter_map(|t| match t.effect {
                TrackEffect::Adjust(0) => None,
                TrackEffect::Adjust(n) => Some(format!("{} {} ({n:+})", t.name, t.state)),
                TrackEffect::Fault => Some(format!("{} {} (fault)", t.name, t.state)),
                TrackEffect::Pending => Some(format!("{} {} (waiting)", t.name, t.state)),
            })
            .collect();
        (!parts.is_empty()).then(|| {
            format!(
                "{} → {}: {}",
                self.priority,
                self.effective_priority,
                parts.join(", ")
            )
        })
    }

    fn status(&self) -> InstanceStatus {
        InstanceStatus {
            name: self.name.clone(),
            interface: self.interface.clone(),
            vrid: self.vrid,
            family: self.family,
            version: self.version,
            state: state_name(self.state).to_owned(),
            maintenance: self.maintenance,
            priority: self.priority,
            effective_priority: self.effective_priority,
            master: self.master.map(|a| a.to_string()),
            advert_interval_ms: self.advert_interval_us as f64 / 1000.0,
            master_advert_interval_ms: self.master_advert_interval_us as f64 / 1000.0,
            vips: self
                .vips
                .iter()
                .map(|v| VipStatus {
                    address: format!("{}/{}", v.addr, v.prefix_len),
                    present: v.present,
                    interface: v.dev.clone(),
                    held: v.held,
                    acquired_at: v.acquired_at.map(utc_timestamp),
                    acquired_at_unix: v.acquired_at.map(unix_seconds),
                    error: v.error.clone(),
                    announcements: v.announcements,
                })
                .collect(),
            in_state_ms: self.in_state_ms,
            checksums_received: ChecksumCounts {
                pseudo_header: self.stats.checksums.pseudo_header,
                plain: self.stats.checksums.plain,
            },
            last_error: self.last_error.clone(),
            rival_master: self.rival_master.map(|(address, ago)| RivalMaster {
                address: address.to_string(),
                last_heard_ms: ago,
            }),
            peer_master: self.peer_master.map(|p| PeerMaster {
                address: p.address.to_string(),
                priority: p.priority,
                last_heard_ms: p.last_heard_ms,
            }),
            garp_note: self.garp_note.clone(),
            counters: StatusCounters {
                adverts_received: self.counters.adverts_received,
                adverts_sent: self.counters.adverts_sent,
                become_master: self.counters.become_master,
                release_master: self.counters.release_master,
                priority_zero_received: self.counters.priority_zero_received,
                priority_zero_sent: self.counters.priority_zero_sent,
                rival_master_adverts: self.stats.rival_master_adverts,
                rejected: self
                    .stats
                    .rejected
                    .nonzero()
                    .map(|(e, n)| (e.short_name().to_owned(), n))
                    .collect(),
            },
            priority_breakdown: self.priority_breakdown(),
            trackers: self.trackers.iter().map(TrackerSnapshot::status).collect(),
        }
    }
}

impl TrackerSnapshot {
    fn status(&self) -> TrackerStatus {
        TrackerStatus {
            name: self.name.clone(),
            kind: self.kind.to_owned(),
            check: self.check.clone(),
            state: self.state.clone(),
            weight: self.weight,
            reverse: self.reverse,
            applied: match self.effect {
                TrackEffect::Adjust(n) => Some(n),
                TrackEffect::Fault | TrackEffect::Pending => None,
            },
            fault: self.effect == TrackEffect::Fault,
            last_run: self.last_run.as_ref().map(|r| LastRunStatus {
                at: r.at,
                duration_ms: r.duration_ms,
                result: r.result.clone(),
                exit_code: r.exit_code,
                stderr: r.stderr.clone(),
            }),
            processes: self.processes,
            error: self.error.clone(),
            fallback: self.fallback.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_report_carries_router_counters_and_rejects_by_name() {
        let mut stats = InstanceStats::default();
        stats.rejected.count(vipd_wire::WireError::AuthFailure);
        stats.checksums.plain = 4;
        let counters = Counters {
            adverts_sent: 7,
            become_master: 1,
            ..Counters::default()
        };
        let snapshot = Snapshot {
            pid: 1,
            uptime_ms: 2,
            errors: vec![],
            last_reload: None,
            scripts: vec![],
            hooks: Default::default(),
            instances: vec![InstanceSnapshot {
                name: "VI_1".into(),
                interface: "eth0".into(),
                vrid: 51,
                family: 4,
                version: 3,
                state: State::Master,
                maintenance: false,
                priority: 150,
                effective_priority: 150,
                master: Some("192.0.2.1".parse().unwrap()),
                advert_interval_us: 100_000,
                master_advert_interval_us: 100_000,
                garp_master_delay_s: 5,
                in_state_ms: 5,
                vips: vec![VipSnapshot {
                    addr: "192.0.2.3".parse().unwrap(),
                    prefix_len: 24,
                    dev: "eth0".into(),
                    excluded: false,
                    present: true,
                    held: true,
                    acquired_at: Some(
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_706_019_900),
                    ),
                    error: None,
                    announcements: 5,
                }],
                counters,
                stats,
                last_error: None,
                rival_master: None,
                peer_master: None,
                garp_note: None,
                trackers: vec![TrackerSnapshot {
                    name: "chk_haproxy".into(),
                    kind: "script",
                    check: None,
                    state: "failing".into(),
                    weight: -100,
                    reverse: false,
                    effect: TrackEffect::Adjust(-100),
                    last_run: None,
                    processes: None,
                    error: None,
                    fallback: None,
                }],
                recent_transitions: vec![],
            }],
        };
        let json = serde_json::to_value(snapshot.status_report()).unwrap();
        let i = &json["instances"][0];
        assert_eq!(i["state"], "MASTER");
        assert_eq!(i["counters"]["adverts_sent"], 7);
        assert_eq!(i["counters"]["become_master"], 1);
        assert_eq!(i["counters"]["rejected"]["auth_failure"], 1);
        assert_eq!(i["checksums_received"]["plain"], 4);
        assert_eq!(i["vips"][0]["address"], "192.0.2.3/24");
        assert_eq!(i["vips"][0]["held"], true);
        assert_eq!(i["vips"][0]["acquired_at"], "2024-01-23T14:25:00Z");
        assert_eq!(i["vips"][0]["announcements"], 5);
        assert!(i["vips"][0]["error"].is_null());
        assert!(i["peer_master"].is_null());
        assert_eq!(i["advert_interval_ms"], 100.0);
        assert_eq!(i["trackers"][0]["applied"], -100);
        assert_eq!(
            i["priority_breakdown"],
            "150 → 150: chk_haproxy failing (-100)"
        );
    }
}
