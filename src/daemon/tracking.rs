//! Health tracking in the daemon: which `vrrp_script`, `track_file` and `track_process`
//! definitions run (only tracked ones, as in keepalived), each instance's tracked objects after
//! keepalived's rules for sync-group members, and a tracker's verdict changing → the routers that
//! track it. The runners and their registry live in `src/track`; weights live in the router.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use vipd_config as config;
use vipd_router::{Track, TrackStatus};

use super::main_loop::Daemon;
use super::registry::InstanceId;
use crate::track::probe::{DnsProbe, HttpProbe, ProbeSpec};
use crate::track::{
    disabled_script_reason, FileInit, ParamMatch, ProcessSpec, SpawnContext, TrackId, TrackUpdate,
    TrackerKind, TrackerSpec, Trackers, Verdict,
};

/// The three kinds of named tracked objects (their names are separate namespaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackedKind {
    Script,
    File,
    Process,
}

impl TrackedKind {
    pub fn word(self) -> &'static str {
        match self {
            TrackedKind::Script => "script",
            TrackedKind::File => "file",
            TrackedKind::Process => "process",
        }
    }
}

/// One object an instance tracks, as its router knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceTrack {
    pub id: TrackId,
    pub kind: TrackedKind,
    pub name: String,
    pub weight: i16,
    pub reverse: bool,
    /// The status the router was last told.
    pub status: TrackStatus,
}

impl InstanceTrack {
    pub fn router_track(&self) -> Track {
        Track {
            id: self.id.index(),
            weight: self.weight,
            reverse: self.reverse,
            status: self.status,
        }
    }
}

/// The daemon's trackers and the channel their runners report on.
pub struct Tracking {
    pub trackers: Trackers,
    by_name: HashMap<(TrackedKind, String), TrackId>,
    /// Tracked scripts that do not run (insecure, missing, not executable), with the reason.
    disabled: HashMap<String, String>,
    updates_tx: mpsc::Sender<TrackUpdate>,
    /// Taken by the event loop's sources when the daemon starts.
    pub updates_rx: Option<mpsc::Receiver<TrackUpdate>>,
}

impl Tracking {
    pub fn new() -> Tracking {
        let (updates_tx, updates_rx) = mpsc::channel(1024);
        Tracking {
            trackers: Trackers::new(),
            by_name: HashMap::new(),
            disabled: HashMap::new(),
            updates_tx,
            updates_rx: Some(updates_rx),
        }
    }

    pub fn id(&self, kind: TrackedKind, name: &str) -> Option<TrackId> {
        self.by_name.get(&(kind, name.to_owned())).copied()
    }

    fn kind_of(&self, id: TrackId) -> Option<(TrackedKind, &str)> {
        self.by_name
            .iter()
            .find(|(_, &v)| v == id)
            .map(|((k, n), _)| (*k, n.as_str()))
    }
}

fn seconds(us: u64) -> Duration {
    Duration::from_micros(us)
}

/// What a `vrrp_script` runs.
fn script_spec(script: &config::VrrpScript) -> TrackerSpec {
    let kind = match &script.check {
        config::Check::Script { command } => TrackerKind::Script {
            command: command.clone(),
            user: script.user.clone(),
        },
        config::Check::TcpConnect(addr) => TrackerKind::Probe(ProbeSpec::TcpConnect(*addr)),
        config::Check::HttpGet(http) => TrackerKind::Probe(ProbeSpec::HttpGet(HttpProbe {
            url: http.url.clone(),
            expect_status: http.status.clone(),
            body_contains: http.body_contains.clone(),
            tls_verify: http.tls_verify,
        })),
        config::Check::IcmpEcho(addr) => TrackerKind::Probe(ProbeSpec::IcmpEcho(*addr)),
        config::Check::DnsQuery(dns) => TrackerKind::Probe(ProbeSpec::DnsQuery(DnsProbe {
            server: dns.server,
            name: dns.name.clone(),
            qtype: dns.record_type.code(),
            expect_answer: dns.expect_answer,
        })),
    };
    TrackerSpec {
        name: script.name.clone(),
        kind,
        interval: seconds(script.interval_us),
        timeout: seconds(script.timeout_us),
        rise: script.rise,
        fall: script.fall,
        init_fail: script.init_fail,
    }
}

fn file_spec(file: &config::TrackFileDef) -> TrackerSpec {
    TrackerSpec {
        name: file.name.clone(),
        kind: TrackerKind::File {
            path: file.path.clone(),
            init: file.init_file.as_ref().map(|i| FileInit {
                value: i64::from(i.value),
                overwrite: i.overwrite,
            }),
        },
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        rise: 1,
        fall: 1,
        init_fail: false,
    }
}

fn process_spec(process: &config::TrackProcessDef) -> TrackerSpec {
    let mut spec = ProcessSpec::new(process.process.clone()).with_params(
        process.params.clone(),
        process.param_match.map(|m| match m {
            config::ParamMatch::Exact => ParamMatch::Exact,
            config::ParamMatch::Partial => ParamMatch::Partial,
            config::ParamMatch::Initial => ParamMatch::Initial,
        }),
    );
    spec.full_command |= process.full_command;
    spec.quorum = u32::from(process.quorum);
    spec.quorum_max = process.quorum_max.map_or(u32::MAX, u32::from);
    spec.fork_delay = seconds(process.fork_delay_us);
    spec.terminate_delay = seconds(process.terminate_delay_us);
    TrackerSpec {
        name: process.name.clone(),
        kind: TrackerKind::Process(spec),
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        rise: 1,
        fall: 1,
        init_fail: false,
    }
}

/// Every instance's and group's references, by kind.
fn references(config: &config::Config) -> Vec<(TrackedKind, &config::TrackRef)> {
    let mut out = Vec::new();
    let lists = config
        .instances
        .iter()
        .map(|i| (&i.track_scripts, &i.track_files, &i.track_processes))
        .chain(
            config
                .sync_groups
                .iter()
                .map(|g| (&g.track_scripts, &g.track_files, &g.track_processes)),
        );
    for (scripts, files, processes) in lists {
        out.extend(scripts.iter().map(|r| (TrackedKind::Script, r)));
        out.extend(files.iter().map(|r| (TrackedKind::File, r)));
        out.extend(processes.iter().map(|r| (TrackedKind::Process, r)));
    }
    out
}

/// The trackers `config` runs: each definition some instance or group tracks, once.
fn wanted(config: &config::Config) -> Vec<(TrackedKind, TrackerSpec)> {
    let mut out: Vec<(TrackedKind, TrackerSpec)> = Vec::new();
    for (kind, reference) in references(config) {
        if out
            .iter()
            .any(|(k, s)| *k == kind && s.name == reference.name)
        {
            continue;
        }
        let spec = match kind {
            TrackedKind::Script => config.script(&reference.name).map(script_spec),
            TrackedKind::File => config.track_file(&reference.name).map(file_spec),
            TrackedKind::Process => config.track_process(&reference.name).map(process_spec),
        };
        if let Some(spec) = spec {
            out.push((kind, spec));
        }
    }
    out
}

impl Daemon {
    /// Brings the running trackers in line with the configuration: unchanged ones keep running
    /// (and their verdict), changed and new ones start, removed ones stop.
    pub(super) fn sync_trackers(&mut self, reload: bool) {
        let wanted = wanted(&self.config);
        let policy = Arc::new(self.hooks.script_policy().clone());
        let tracking = &mut self.tracking;
        // Stop what is gone or changed.
        let current: Vec<((TrackedKind, String), TrackId)> = tracking
            .by_name
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for ((kind, name), id) in current {
            let keep = wanted.iter().any(|(k, spec)| {
                *k == kind && spec.name == name && tracking.trackers.spec(id) == Some(spec)
            });
            if !keep {
                tracking.trackers.remove(id);
                tracking.by_name.remove(&(kind, name));
            }
        }
        tracking.disabled.clear();
        let context = SpawnContext {
            updates: tracking.updates_tx.clone(),
            policy: policy.clone(),
            reload,
        };
        for (kind, spec) in wanted {
            if let TrackerKind::Script { command, .. } = &spec.kind {
                if let Some(why) = disabled_script_reason(command, &policy) {
                    tracing::warn!(
                        "vrrp_script {}: not run, and not tracked by any instance ({why}), as keepalived does",
                        spec.name
                    );
                    tracking.disabled.insert(spec.name.clone(), why);
                    continue;
                }
            }
            let key = (kind, spec.name.clone());
            if tracking.by_name.contains_key(&key) {
                continue;
            }
            let name = spec.name.clone();
            let id = tracking.trackers.add(spec);
            if let Err(e) = tracking.trackers.run(id, &context) {
                tracing::error!("{} {name}: cannot run: {e}", kind.word());
            }
            tracking.by_name.insert(key, id);
        }
    }

    /// The objects an instance tracks (its own, then its sync group's), after keepalived's
    /// rules: a sync-group member ignores its own weighted scripts, files and processes (logged),
    /// and a group with an address owner tracks its objects with weight 0.
    pub(super) fn instance_tracks(&self, cfg: &config::Instance) -> Vec<InstanceTrack> {
        let group = self
            .config
            .sync_groups
            .iter()
            .find(|g| g.members.contains(&cfg.name));
        let owner_in_group = group.is_some_and(|g| {
            g.members
                .iter()
                .filter_map(|m| self.config.instance(m))
                .any(|i| i.priority == 255)
        });
        let mut out = Vec::new();
        let own = [
            (TrackedKind::Script, &cfg.track_scripts),
            (TrackedKind::File, &cfg.track_files),
            (TrackedKind::Process, &cfg.track_processes),
        ];
        for (kind, refs) in own {
            for r in refs {
                if group.is_some() && r.weight != 0 {
                    tracing::warn!(
                        instance = %cfg.name,
                        "ignoring tracked {} {} with weight {} in a sync group member (keepalived does the same; track it in the vrrp_sync_group, or use weight 0)",
                        kind.word(),
                        r.name,
                        r.weight
                    );
                    continue;
                }
                self.push_track(&mut out, kind, r, r.weight);
            }
        }
        if let Some(group) = group {
            let shared = [
                (TrackedKind::Script, &group.track_scripts),
                (TrackedKind::File, &group.track_files),
                (TrackedKind::Process, &group.track_processes),
            ];
            for (kind, refs) in shared {
                for r in refs {
                    let weight = if owner_in_group { 0 } else { r.weight };
                    self.push_track(&mut out, kind, r, weight);
                }
            }
        }
        // Kept for the instance's life: not the four slots the first push reserves.
        out.shrink_to_fit();
        out
    }

    fn push_track(
        &self,
        out: &mut Vec<InstanceTrack>,
        kind: TrackedKind,
        reference: &config::TrackRef,
        weight: i16,
    ) {
        let Some(id) = self.tracking.id(kind, &reference.name) else {
            // A disabled script: keepalived drops it from every instance.
            return;
        };
        if out.iter().any(|t| t.id == id) {
            return;
        }
        let status = self
            .tracking
            .trackers
            .verdict(id)
            .map_or(TrackStatus::Unknown, TrackStatus::from);
        out.push(InstanceTrack {
            id,
            kind,
            name: reference.name.clone(),
            weight,
            reverse: reference.reverse,
            status,
        });
    }

    /// Gives every live instance its current tracked objects; returns those whose list changed.
    pub(super) fn refresh_instance_tracks(&mut self) -> Vec<InstanceId> {
        let mut changed = Vec::new();
        for id in self.registry.ids() {
            let Some(cfg) = self.registry.instance(id).map(|i| i.cfg.clone()) else {
                continue;
            };
            let tracks = self.instance_tracks(&cfg);
            let instance = self.registry.instance_mut(id).expect("listed");
            if instance.tracks != tracks {
                instance.tracks = tracks;
                changed.push(id);
            }
        }
        changed
    }

    /// A runner reported: when the tracker's verdict moves, every router tracking it learns.
    pub(super) fn on_track_update(&mut self, update: TrackUpdate) {
        let Some(change) = self.tracking.trackers.on_update(update) else {
            return;
        };
        let (kind, name) = self
            .tracking
            .kind_of(change.id)
            .map_or(("tracker", String::new()), |(k, n)| {
                (k.word(), n.to_owned())
            });
        let detail = self
            .tracking
            .trackers
            .status(change.id)
            .and_then(|s| s.last_run.as_ref())
            .map(|run| match &run.last_stderr_line {
                Some(line) => format!(" ({}: {line})", run.outcome),
                None => format!(" ({})", run.outcome),
            })
            .unwrap_or_default();
        tracing::info!("{kind} {name} is {}{detail}", verdict_word(change.verdict));
        let status = TrackStatus::from(change.verdict);
        let Some(input) = change.verdict.router_input(change.id.index()) else {
            return;
        };
        for id in self.registry.ids() {
            let Some(instance) = self.registry.instance_mut(id) else {
                continue;
            };
            let mut tracks_it = false;
            for track in instance.tracks.iter_mut().filter(|t| t.id == change.id) {
                track.status = status;
                tracks_it = true;
            }
            if tracks_it {
                self.feed(id, input);
            }
        }
    }
}

/// How status and logs name a verdict.
pub fn verdict_word(verdict: Verdict) -> String {
    match verdict {
        Verdict::Unknown => "unknown".to_owned(),
        Verdict::Passing => "passing".to_owned(),
        Verdict::Failing => "failing".to_owned(),
        Verdict::Value(v) => format!("{v}"),
    }
}
