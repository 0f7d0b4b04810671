//! `/metrics`: the [`Snapshot`] written out in the Prometheus text exposition format 0.0.4 (what
//! Prometheus 2.x and 3.x scrape as `text/plain; version=0.0.4`), in three families:
//!
//! * **mehdy/keepalived-exporter** (`keepalived_up`, `keepalived_vrrp_state`,
//!   `keepalived_vrrp_excluded_state`, the 15 `keepalived_*_total{iname,intf,vrid}` counters,
//!   `keepalived_script_status` / `_state`, `keepalived_exporter_build_info`): its bundled
//!   dashboard and the alert rules people wrote for it work unchanged;
//! * **gen2brain/keepalived_exporter** (the 14 `keepalived_vrrp_*` counters with no `_total` and a
//!   `state` label), which grafana.com dashboard 18270 queries. gen2brain exports its
//!   `advert_interval_err` value under `keepalived_vrrp_ip_ttl_err`; that bug is not copied:
//!   `keepalived_vrrp_ip_ttl_err` here counts TTL / hop-limit errors;
//! * **vipd** (`vipd_*`): what no exporter could see (effective priority, a state set, the master,
//!   transitions by reason, failover durations, rejects by [`vipd_wire::WireError`] name, VIP
//!   presence, VIPs held / acquired / in error / announced, the peer master's last advert,
//!   tracker health, reloads).
//!
//! Names, labels and values follow `shared/notes/metrics-compat.md`. keepalived's counters map
//! onto the router's [`vipd_router::Counters`] and the wire layer's rejects: packet length ↔
//! `Length`, advertisement interval ↔ `AdverInterval` (keepalived counts only the VRRPv2 adverts
//! it drops; the router's count of VRRPv3 intervals it learns is not that), TTL ↔ `Ttl`, invalid
//! type ↔ `InvalidType`, address list ↔ `AddressList`, authentication invalid / mismatch /
//! failure ↔ `AuthTypeInvalid` / `AuthTypeMismatch` / `AuthFailure`; the gratuitous ARP "delay
//! counter" is the configured `garp_master_delay` in seconds, as keepalived-exporter reports it.
//! `keepalived_script_state` is 0 (idle): vipd's runners report finished runs only.
//!
//! Label sets never repeat
//! within a metric (a VIP listed twice, a script tracked by several instances) and every metric's
//! series follow its own `# HELP` / `# TYPE` lines, whose HELP states the value mapping.
//!
//! Counters are the daemon's own and never go backwards while an instance lives: a reload that
//! keeps an instance (unchanged, or changed in place) keeps its router and its statistics. An
//! instance whose identity changes on reload (interface, VRID, family, version, VMAC, peers) is
//! a new virtual router and starts from 0, as every counter does when vipd restarts, like
//! keepalived's (its counters live as long as its process); Prometheus' `rate()` and
//! `increase()` take such a reset in their stride, so no offsets are carried over.
//!
//! Why no crate: `prometheus-client` always appends `_total` to counters and so cannot produce
//! gen2brain's names; the `prometheus` crate emits names as given, but it would mean copying the
//! snapshot into a registry of metric objects on every scrape (or keeping a second, lock-shared
//! copy of every counter beside the daemon's) and it brings protobuf along. The snapshot already
//! holds every value, so one pass writes them into one String sized up front: no registry, no
//! locks, a few allocations per instance for its labels. 255 instances (21 000 series, 1.9 MB)
//! render in about 0.6 ms (`cargo run --release --example metrics_render` prints the figures).

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use vipd_router::{State, TrackEffect};
use vipd_wire::WireError;

use super::snapshot::{state_name, InstanceSnapshot, Snapshot, VipSnapshot};

mod hooks;
mod vip;
mod vipd;

#[cfg(test)]
mod tests;

/// The Content-Type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Which name families `/metrics` carries (`global_defs.metrics_families`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Families {
    /// mehdy/keepalived-exporter's names (`keepalived_exporter`).
    pub mehdy: bool,
    /// gen2brain/keepalived_exporter's names (`keepalived_exporter_gen2brain`).
    pub gen2brain: bool,
    /// vipd's own (`vipd`).
    pub vipd: bool,
}

impl Default for Families {
    fn default() -> Families {
        Families {
            mehdy: true,
            gen2brain: true,
            vipd: true,
        }
    }
}

/// The states in keepalived's numbering (`VRRP_STATE_*`), which both exporters use.
const STATES: [State; 4] = [
    State::Initialize,
    State::Backup,
    State::Master,
    State::Fault,
];

fn state_number(state: State) -> u64 {
    match state {
        State::Initialize => 0,
        State::Backup => 1,
        State::Master => 2,
        State::Fault => 3,
    }
}

/// A transition reason as the `reason` label spells it (the status page's word too).
pub use super::history::reason_name;

type Count = fn(&InstanceSnapshot) -> u64;

/// One of keepalived's per-instance statistics, under mehdy's name and (when gen2brain exports
/// it) gen2brain's.
struct KeepalivedCounter {
    mehdy: &'static str,
    gen2brain: Option<&'static str>,
    help: &'static str,
    value: Count,
}

fn rejected(i: &InstanceSnapshot, error: WireError) -> u64 {
    i.stats.rejected.get(error)
}

const KEEPALIVED_COUNTERS: [KeepalivedCounter; 15] = [
    KeepalivedCounter {
        mehdy: "keepalived_advertisements_received_total",
        gen2brain: Some("keepalived_vrrp_advert_rcvd"),
        help: "Advertisements received: adverts the router took in while BACKUP or MASTER",
        value: |i| i.counters.adverts_received,
    },
    KeepalivedCounter {
        mehdy: "keepalived_advertisements_sent_total",
        gen2brain: Some("keepalived_vrrp_advert_sent"),
        help: "Advertisements sent, priority 0 included",
        value: |i| i.counters.adverts_sent,
    },
    KeepalivedCounter {
        mehdy: "keepalived_become_master_total",
        gen2brain: Some("keepalived_vrrp_become_master"),
        help: "Became master: transitions into MASTER",
        value: |i| i.counters.become_master,
    },
    KeepalivedCounter {
        mehdy: "keepalived_release_master_total",
        gen2brain: Some("keepalived_vrrp_release_master"),
        help: "Released master: transitions out of MASTER",
        value: |i| i.counters.release_master,
    },
    KeepalivedCounter {
        mehdy: "keepalived_packet_length_errors_total",
        gen2brain: Some("keepalived_vrrp_packet_len_err"),
        help: "Packet length errors: adverts rejected as length (vipd_instance_adverts_rejected_total{reason=\"length\"})",
        value: |i| rejected(i, WireError::Length),
    },
    KeepalivedCounter {
        mehdy: "keepalived_advertisements_interval_errors_total",
        gen2brain: Some("keepalived_vrrp_advert_interval_err"),
        help: "Advertisement interval errors: adverts rejected as adver_interval (a VRRPv2 interval that differs from ours, or 0)",
        value: |i| rejected(i, WireError::AdverInterval),
    },
    KeepalivedCounter {
        mehdy: "keepalived_ip_ttl_errors_total",
        gen2brain: Some("keepalived_vrrp_ip_ttl_err"),
        help: "TTL errors: adverts rejected as ttl (IPv4 TTL or IPv6 hop limit not 255)",
        value: |i| rejected(i, WireError::Ttl),
    },
    KeepalivedCounter {
        mehdy: "keepalived_invalid_type_received_total",
        gen2brain: Some("keepalived_vrrp_invalid_type_rcvd"),
        help: "Invalid type errors: VRRP packets whose type is not ADVERTISEMENT",
        value: |i| rejected(i, WireError::InvalidType),
    },
    KeepalivedCounter {
        mehdy: "keepalived_address_list_errors_total",
        gen2brain: Some("keepalived_vrrp_addr_list_err"),
        help: "Address list errors: adverts carrying no address",
        value: |i| rejected(i, WireError::AddressList),
    },
    KeepalivedCounter {
        mehdy: "keepalived_authentication_invalid_total",
        gen2brain: Some("keepalived_vrrp_invalid_authtype"),
        help: "Authentication invalid: VRRPv2 adverts with an unknown authentication type",
        value: |i| rejected(i, WireError::AuthTypeInvalid),
    },
    KeepalivedCounter {
        mehdy: "keepalived_authentication_mismatch_total",
        gen2brain: Some("keepalived_vrrp_authtype_mismatch"),
        help: "Authentication mismatch: VRRPv2 adverts whose authentication type differs from ours",
        value: |i| rejected(i, WireError::AuthTypeMismatch),
    },
    KeepalivedCounter {
        mehdy: "keepalived_authentication_failure_total",
        gen2brain: Some("keepalived_vrrp_auth_failure"),
        help: "Authentication failure: VRRPv2 adverts with a wrong password",
        value: |i| rejected(i, WireError::AuthFailure),
    },
    KeepalivedCounter {
        mehdy: "keepalived_priority_zero_received_total",
        gen2brain: Some("keepalived_vrrp_pri_zero_rcvd"),
        help: "Priority zero received: the master announced it is leaving",
        value: |i| i.counters.priority_zero_received,
    },
    KeepalivedCounter {
        mehdy: "keepalived_priority_zero_sent_total",
        gen2brain: Some("keepalived_vrrp_pri_zero_sent"),
        help: "Priority zero sent: we left MASTER and told the others",
        value: |i| i.counters.priority_zero_sent,
    },
    KeepalivedCounter {
        mehdy: "keepalived_gratuitous_arp_delay_total",
        gen2brain: None,
        help: "Gratuitous ARP delay: garp_master_delay in seconds, a constant (typed counter as keepalived-exporter does)",
        value: |i| u64::from(i.garp_master_delay_s),
    },
];

/// What is written once per instance and reused on each of its series: the label values
/// escaped, and the label sets most metrics share.
struct InstanceLabels {
    iname: String,
    vrid: String,
    /// `iname="…",intf="…",vrid="…"` (the instance interface).
    base: String,
    /// `intf="…",name="…",state="…",vrid="…"`.
    gen2brain: String,
}

impl InstanceLabels {
    fn new(i: &InstanceSnapshot) -> InstanceLabels {
        let mut iname = String::with_capacity(i.name.len());
        push_escaped(&mut iname, &i.name);
        let mut intf = String::with_capacity(i.interface.len());
        push_escaped(&mut intf, &i.interface);
        let vrid = itoa::Buffer::new().format(i.vrid).to_owned();
        let state = state_name(i.state);
        let mut base = String::with_capacity(iname.len() + intf.len() + 32);
        for piece in [
            "iname=\"",
            &iname,
            "\",intf=\"",
            &intf,
            "\",vrid=\"",
            &vrid,
            "\"",
        ] {
            base.push_str(piece);
        }
        let mut gen2brain = String::with_capacity(base.len() + 24);
        for piece in [
            "intf=\"",
            &intf,
            "\",name=\"",
            &iname,
            "\",state=\"",
            state,
            "\",vrid=\"",
            &vrid,
            "\"",
        ] {
            gen2brain.push_str(piece);
        }
        InstanceLabels {
            iname,
            vrid,
            base,
            gen2brain,
        }
    }
}

/// Appends `value` with the escapes label values need (backslash, double quote, newline).
fn push_escaped(out: &mut String, value: &str) {
    if !value.contains(['\\', '"', '\n']) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `us` microseconds as exact decimal seconds (`0.005`, `2.5`, `10`): no float rounding.
fn push_seconds(out: &mut String, us: u64) {
    out.push_str(itoa::Buffer::new().format(us / 1_000_000));
    let fraction = us % 1_000_000;
    if fraction > 0 {
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(fraction);
        out.push('.');
        for _ in digits.len()..6 {
            out.push('0');
        }
        out.push_str(digits.trim_end_matches('0'));
    }
}

fn unix_micros(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Go's GOARCH spelling of the architecture vipd was built for.
fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// The exposition being written.
struct Exposition {
    out: String,
    /// Whether the series being written has no label yet (so the next one needs no comma).
    first_label: bool,
}

impl Exposition {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let out = &mut self.out;
        out.push_str("# HELP ");
        out.push_str(name);
        out.push(' ');
        // HELP text escapes backslash and newline only.
        for c in help.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push_str("\n# TYPE ");
        out.push_str(name);
        out.push(' ');
        out.push_str(kind);
        out.push('\n');
    }

    /// Starts a series with already escaped `labels` (possibly empty).
    fn start(&mut self, name: &str, labels: &str) -> &mut Exposition {
        self.out.push_str(name);
        self.out.push('{');
        self.out.push_str(labels);
        self.first_label = labels.is_empty();
        self
    }

    fn comma(&mut self) {
        if !self.first_label {
            self.out.push(',');
        }
        self.first_label = false;
    }

    /// Adds a label whose value still needs escaping.
    fn label(&mut self, key: &str, value: &str) -> &mut Exposition {
        self.comma();
        self.out.push_str(key);
        self.out.push_str("=\"");
        push_escaped(&mut self.out, value);
        self.out.push('"');
        self
    }

    /// Adds a label whose value is escaped already (or needs no escaping).
    fn label_raw(&mut self, key: &str, value: &str) -> &mut Exposition {
        self.comma();
        self.out.push_str(key);
        self.out.push_str("=\"");
        self.out.push_str(value);
        self.out.push('"');
        self
    }

    /// Adds `ip_address`: the address, with `/len` unless it is a host prefix (as keepalived
    /// prints it and mehdy's exporter passes it on).
    fn ip_address(&mut self, vip: &VipSnapshot) -> &mut Exposition {
        use std::fmt::Write as _;
        self.comma();
        self.out.push_str("ip_address=\"");
        let _ = write!(self.out, "{}", vip.addr);
        let host = match vip.addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        if vip.prefix_len != host {
            self.out.push('/');
            self.out
                .push_str(itoa::Buffer::new().format(vip.prefix_len));
        }
        self.out.push('"');
        self
    }

    fn value(&mut self, value: u64) {
        self.out.push_str("} ");
        self.out.push_str(itoa::Buffer::new().format(value));
        self.out.push('\n');
    }

    fn value_signed(&mut self, value: i64) {
        self.out.push_str("} ");
        self.out.push_str(itoa::Buffer::new().format(value));
        self.out.push('\n');
    }

    fn value_seconds(&mut self, us: u64) {
        self.out.push_str("} ");
        push_seconds(&mut self.out, us);
        self.out.push('\n');
    }

    /// A series without labels.
    fn plain(&mut self, name: &str, value: u64) {
        self.out.push_str(name);
        self.out.push(' ');
        self.out.push_str(itoa::Buffer::new().format(value));
        self.out.push('\n');
    }
}

/// Whether `vips[k]` is the first of its (address, prefix, device) among those `keep` selects:
/// the same VIP listed twice must not give the same label set twice.
fn first_of_its_kind(vips: &[VipSnapshot], k: usize, keep: impl Fn(&VipSnapshot) -> bool) -> bool {
    let v = &vips[k];
    !vips[..k]
        .iter()
        .any(|o| keep(o) && o.addr == v.addr && o.prefix_len == v.prefix_len && o.dev == v.dev)
}

/// Bytes a render of `snapshot` takes, give or take: what the String starts with, so that
/// writing never moves it.
fn estimated_len(snapshot: &Snapshot, labels: &[InstanceLabels], families: Families) -> usize {
    let mut total = 16_384 + snapshot.scripts.len() * 160;
    for (i, l) in snapshot.instances.iter().zip(labels) {
        let mut series = 0;
        if families.mehdy {
            series += 16 + i.vips.len();
        }
        if families.gen2brain {
            series += 14;
        }
        if families.vipd {
            series += 42 + i.stats.transitions.len() + i.vips.len() + 3 * i.trackers.len();
        }
        total += series * (l.base.len() + 64);
    }
    total
}

/// The Prometheus text exposition (format 0.0.4) of `snapshot`, with the chosen families.
pub fn render(snapshot: &Snapshot, families: Families) -> String {
    let labels: Vec<InstanceLabels> = snapshot.instances.iter().map(InstanceLabels::new).collect();
    let mut x = Exposition {
        out: String::with_capacity(estimated_len(snapshot, &labels, families)),
        first_label: true,
    };
    if families.mehdy || families.gen2brain {
        x.header(
            "keepalived_up",
            "gauge",
            "Status: 1 when the VRRP engine's state could be read; vipd serves its own state, so 1 whenever it answers",
        );
        x.plain("keepalived_up", 1);
    }
    if families.mehdy {
        mehdy(&mut x, snapshot, &labels);
    }
    if families.gen2brain {
        gen2brain(&mut x, snapshot, &labels);
    }
    if families.vipd {
        vipd::render(&mut x, snapshot, &labels);
    }
    x.out
}

/// mehdy/keepalived-exporter's family, but `keepalived_up`.
fn mehdy(x: &mut Exposition, snapshot: &Snapshot, labels: &[InstanceLabels]) {
    let instances = || snapshot.instances.iter().zip(labels);
    if !snapshot.instances.is_empty() {
        x.header(
            "keepalived_vrrp_state",
            "gauge",
            "State of vrrp: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT; one series per virtual IP (intf: its device; ip_address: with /len unless /32 or /128), or one with ip_address=\"\" for an instance without one",
        );
        for (i, l) in instances() {
            vip_states(x, "keepalived_vrrp_state", i, l, false);
        }
    }
    if snapshot
        .instances
        .iter()
        .any(|i| i.vips.iter().any(|v| v.excluded))
    {
        x.header(
            "keepalived_vrrp_excluded_state",
            "gauge",
            "State of vrrp with excluded VIP: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT; one series per virtual_ipaddress_excluded entry",
        );
        for (i, l) in instances() {
            vip_states(x, "keepalived_vrrp_excluded_state", i, l, true);
        }
    }
    if !snapshot.instances.is_empty() {
        for counter in &KEEPALIVED_COUNTERS {
            x.header(counter.mehdy, "counter", counter.help);
            for (i, l) in instances() {
                x.start(counter.mehdy, &l.base).value((counter.value)(i));
            }
        }
    }
    let scripts = || {
        snapshot
            .scripts
            .iter()
            .enumerate()
            .filter(|(k, s)| !snapshot.scripts[..*k].iter().any(|o| o.name == s.name))
            .map(|(_, s)| s)
    };
    if !snapshot.scripts.is_empty() {
        x.header(
            "keepalived_script_status",
            "gauge",
            "Tracker Script Status: 0 BAD (failing, or no verdict yet), 1 GOOD (passing); one series per vrrp_script however many instances track it",
        );
        for script in scripts() {
            x.start("keepalived_script_status", "")
                .label("name", &script.name)
                .value(u64::from(script.state == "passing"));
        }
        x.header(
            "keepalived_script_state",
            "gauge",
            "Tracker Script State: 0 idle, 1 running, 2 requested termination, 3 forcing termination; vipd's runners report finished runs only, so 0",
        );
        for script in scripts() {
            x.start("keepalived_script_state", "")
                .label("name", &script.name)
                .value(u64::from(script.running == Some(true)));
        }
    }
    x.header(
        "keepalived_exporter_build_info",
        "gauge",
        "A metric with a constant '1' value labeled by version, revision, branch, goversion from which keepalived_exporter was built, and the goos and goarch for the build (here: vipd's version and platform)",
    );
    x.start("keepalived_exporter_build_info", "")
        .label_raw("branch", "")
        .label_raw("goarch", goarch())
        .label_raw("goos", std::env::consts::OS)
        .label_raw("goversion", "")
        .label_raw("revision", "")
        .label_raw("tags", "vipd")
        .label_raw("version", env!("CARGO_PKG_VERSION"))
        .value(1);
}

/// One state series per (advertised or excluded) VIP of `i`, labels in client_golang's order.
fn vip_states(
    x: &mut Exposition,
    name: &str,
    i: &InstanceSnapshot,
    l: &InstanceLabels,
    excluded: bool,
) {
    let state = state_number(i.state);
    let selected = |v: &VipSnapshot| v.excluded == excluded;
    let mut any = false;
    for (k, vip) in i.vips.iter().enumerate() {
        if !selected(vip) || !first_of_its_kind(&i.vips, k, selected) {
            continue;
        }
        any = true;
        x.start(name, "")
            .label_raw("iname", &l.iname)
            .label("intf", &vip.dev)
            .ip_address(vip)
            .label_raw("vrid", &l.vrid)
            .value(state);
    }
    if !any && !excluded {
        x.start(name, "")
            .label_raw("iname", &l.iname)
            .label("intf", &i.interface)
            .label_raw("ip_address", "")
            .label_raw("vrid", &l.vrid)
            .value(state);
    }
}

/// gen2brain/keepalived_exporter's counters, but `keepalived_up`.
fn gen2brain(x: &mut Exposition, snapshot: &Snapshot, labels: &[InstanceLabels]) {
    if snapshot.instances.is_empty() {
        return;
    }
    for counter in &KEEPALIVED_COUNTERS {
        let Some(name) = counter.gen2brain else {
            continue;
        };
        x.header(name, "counter", counter.help);
        for (i, l) in snapshot.instances.iter().zip(labels) {
            x.start(name, &l.gen2brain).value((counter.value)(i));
        }
    }
}
