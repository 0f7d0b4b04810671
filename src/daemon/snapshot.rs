//! The daemon's side of observation: building the read-only [`Snapshot`] from the registry and
//! the routers, plus a look at which VIPs the kernel really has.

use vipd_config as config;

use vipd_router::{Track, TrackStatus};

use super::instance::{Instance, INTERFACE_TRACK_ID};
use super::main_loop::Daemon;
use super::tracking::{verdict_word, TrackedKind};
use super::vip_ledger;
use crate::observe::hooks::{ConntrackdStatus, HooksStatus, LinkActionStatus, StepCount};
use crate::observe::snapshot::state_name;
use crate::observe::snapshot::{
    InstanceSnapshot, LastRun, PeerMasterSnapshot, ScriptSnapshot, Snapshot, TrackerSnapshot,
    VipSnapshot,
};
use crate::system::ifaddrs;
use crate::system::socket::Family;
use crate::track::probe::ProbeSpec;
use crate::track::{RunOutcome, TrackerKind};

impl Daemon {
    pub(super) fn snapshot(&self) -> Snapshot {
        let now = self.now();
        let present = ifaddrs::all();
        let instances = self
            .registry
            .instances()
            .filter_map(|i| {
                let r = self.registry.router(i.id)?;
                let advertised = i.cfg.vips.len();
                Some(InstanceSnapshot {
                    name: i.cfg.name.clone(),
                    interface: i.cfg.interface.clone(),
                    vrid: i.cfg.vrid,
                    family: match i.family {
                        Family::V4 => 4,
                        Family::V6 => 6,
                    },
                    version: match i.cfg.version {
                        config::Version::V2 => 2,
                        config::Version::V3 => 3,
                    },
                    state: r.state(),
                    maintenance: r.is_held(),
                    priority: i.cfg.priority,
                    effective_priority: r.effective_priority(),
                    master: r.master_address(),
                    advert_interval_us: i.cfg.advert_interval_us,
                    master_advert_interval_us: r.master_adver_interval_us(),
                    garp_master_delay_s: i.cfg.garp_master_delay,
                    in_state_ms: now.0.saturating_sub(r.state_since().0) / 1000,
                    vips: i
                        .template
                        .vips
                        .iter()
                        .enumerate()
                        .map(|(k, v)| {
                            let dev = i.vip_interface_name(v);
                            let error =
                                vip_ledger::vip_error(&i.errors.reconcile, v.addr, v.prefix_len);
                            let served = i
                                .serving
                                .as_ref()
                                .is_some_and(|s| s.resources.vips.iter().any(|r| r.addr == v.addr));
                            let held = served && error.is_none();
                            VipSnapshot {
                                addr: v.addr,
                                prefix_len: v.prefix_len,
                                dev: dev.to_owned(),
                                excluded: k >= advertised,
                                present: ifaddrs::is_on(&present, dev, v.addr),
                                held,
                                acquired_at: held
                                    .then(|| i.vip_ledger.acquired_at(v.addr))
                                    .flatten(),
                                error,
                                announcements: i.vip_ledger.announcements(v.addr),
                            }
                        })
                        .collect(),
                    counters: *r.counters(),
                    stats: i.stats.clone(),
                    last_error: i.errors.summary(),
                    rival_master: i
                        .rival_master
                        .map(|(address, at)| (address, now.0.saturating_sub(at) / 1000)),
                    peer_master: r.peer_master().map(|heard| PeerMasterSnapshot {
                        address: heard.src,
                        priority: heard.priority,
                        last_heard_ms: now.0.saturating_sub(heard.at.0) / 1000,
                    }),
                    garp_note: vip_ledger::garp_note(&i.cfg, &i.template.vips),
                    trackers: self.tracker_snapshots(i),
                    recent_transitions: i.recent_transitions.records(),
                })
            })
            .collect();
        Snapshot {
            pid: std::process::id(),
            uptime_ms: now.0 / 1000,
            errors: self.errors.clone(),
            last_reload: self.last_reload.clone(),
            instances,
            scripts: self.script_snapshots(),
            hooks: self.hooks_status(),
        }
    }

    /// What conntrackd integrations and link actions did.
    fn hooks_status(&self) -> HooksStatus {
        let conntrackd = self
            .hooks
            .conntrackd()
            .iter()
            .map(|hook| {
                let record = hook.record();
                ConntrackdStatus {
                    subject: hook.subject.clone(),
                    mode: hook.settings.mode.name().to_owned(),
                    sequences: record.sequences,
                    steps: record
                        .steps
                        .iter()
                        .map(|(step, succeeded, failed)| StepCount {
                            step: step.name().to_owned(),
                            succeeded: *succeeded,
                            failed: *failed,
                        })
                        .collect(),
                    last_state: record.last_sequence.map(|(s, _)| state_name(s).to_owned()),
                    last_duration_ms: record.last_sequence.map(|(_, d)| d.as_secs_f64() * 1000.0),
                    last_error_at: record.last_error.as_ref().map(|(_, at)| *at),
                    last_error: record.last_error.map(|(e, _)| e),
                }
            })
            .collect();
        let link_actions = self
            .hooks
            .links
            .interfaces
            .iter()
            .map(|(interface, c)| LinkActionStatus {
                interface: interface.clone(),
                applied: c.applied,
                failed: c.failed,
                last: c
                    .last_up
                    .map(|up| if up { "up" } else { "down" }.to_owned()),
                last_error: c.last_error.as_ref().map(|(e, _)| e.clone()),
                last_error_at: c.last_error.as_ref().map(|(_, at)| *at),
            })
            .collect();
        HooksStatus {
            conntrackd,
            link_actions,
        }
    }

    /// The `vrrp_script`s that run, once each, by name.
    fn script_snapshots(&self) -> Vec<ScriptSnapshot> {
        let mut scripts: Vec<ScriptSnapshot> = self
            .tracking
            .trackers
            .iter()
            .filter(|(_, spec, _)| {
                matches!(
                    spec.kind,
                    TrackerKind::Script { .. } | TrackerKind::Probe(_)
                )
            })
            .map(|(_, spec, status)| ScriptSnapshot {
                name: spec.name.clone(),
                state: verdict_word(status.verdict),
                running: None,
            })
            .collect();
        scripts.sort_by(|a, b| a.name.cmp(&b.name));
        scripts.dedup_by(|a, b| a.name == b.name);
        scripts
    }

    /// The instance's tracked objects with what each does to its priority now.
    fn tracker_snapshots(&self, i: &Instance) -> Vec<TrackerSnapshot> {
        let mut out = Vec::new();
        for (k, t) in i.cfg.track_interfaces.iter().enumerate() {
            let up = i.tracked[k].up;
            let track = Track {
                id: INTERFACE_TRACK_ID | k as u32,
                weight: t.weight,
                reverse: false,
                status: if i.tracked_ok(k) {
                    TrackStatus::Up
                } else {
                    TrackStatus::Down
                },
            };
            out.push(TrackerSnapshot {
                name: t.name.clone(),
                kind: "interface",
                check: None,
                state: if up { "up" } else { "down" }.to_owned(),
                weight: t.weight,
                reverse: t.reverse,
                effect: track.effect(),
                last_run: None,
                processes: None,
                error: None,
                fallback: None,
            });
        }
        let router_tracks = self.registry.router(i.id).map(|r| r.tracks());
        for t in &i.tracks {
            let track = router_tracks
                .and_then(|all| all.iter().find(|r| r.id == t.id.index()).copied())
                .unwrap_or_else(|| t.router_track());
            let spec = self.tracking.trackers.spec(t.id);
            let status = self.tracking.trackers.status(t.id);
            let (kind, check) = match (t.kind, spec.map(|s| &s.kind)) {
                (TrackedKind::Script, Some(TrackerKind::Probe(probe))) => (
                    match probe {
                        ProbeSpec::TcpConnect(_) => "tcp_connect",
                        ProbeSpec::HttpGet(_) => "http_get",
                        ProbeSpec::IcmpEcho(_) => "icmp_echo",
                        ProbeSpec::DnsQuery(_) => "dns_query",
                    },
                    Some(probe.describe()),
                ),
                (TrackedKind::File, Some(TrackerKind::File { path, .. })) => {
                    ("file", Some(path.display().to_string()))
                }
                (TrackedKind::Process, _) => ("process", None),
                _ => ("script", None),
            };
            out.push(TrackerSnapshot {
                name: t.name.clone(),
                kind,
                check,
                state: verdict_word(
                    self.tracking
                        .trackers
                        .verdict(t.id)
                        .unwrap_or(crate::track::Verdict::Unknown),
                ),
                weight: t.weight,
                reverse: t.reverse,
                effect: track.effect(),
                last_run: status.and_then(|s| s.last_run.as_ref()).map(|run| LastRun {
                    at: run
                        .finished_at
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0.0, |d| d.as_secs_f64()),
                    duration_ms: run.duration.as_secs_f64() * 1000.0,
                    result: run.outcome.to_string(),
                    exit_code: match run.outcome {
                        RunOutcome::Passed => Some(0),
                        RunOutcome::Exited(code) => Some(code),
                        _ => None,
                    },
                    stderr: run.last_stderr_line.clone(),
                }),
                processes: status.and_then(|s| s.processes),
                error: status.and_then(|s| s.stopped.clone()),
                fallback: status.and_then(|s| s.fallback.clone()),
            });
        }
        out
    }
}
