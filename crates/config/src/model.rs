//! The resolved, typed configuration: what the daemon runs from once the file has been read,
//! defaults filled in with keepalived's values and every cross-field rule checked.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::Arc;

/// The whole configuration file, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub global: GlobalDefs,
    /// The `vrrp_instance` entries in the order the file gives them. Shared: the daemon keeps
    /// this model for reloads and runs each instance from the same `Arc`, not from a copy.
    pub instances: Vec<Arc<Instance>>,
    /// The `vrrp_sync_group` entries in file order.
    pub sync_groups: Vec<SyncGroup>,
    /// The `vrrp_script` entries in file order, tracked or not: as in keepalived, only those an
    /// instance or a sync group tracks are to be run (an untracked one gets a warning).
    pub scripts: Vec<VrrpScript>,
    /// The `track_file` (or `vrrp_track_file`) entries in file order, tracked or not.
    pub track_files: Vec<TrackFileDef>,
    /// The `vrrp_track_process` entries in file order, tracked or not.
    pub track_processes: Vec<TrackProcessDef>,
}

impl Config {
    /// The instance called `name`, if there is one.
    pub fn instance(&self, name: &str) -> Option<&Arc<Instance>> {
        self.instances.iter().find(|i| i.name == name)
    }

    /// The `vrrp_script` called `name`, if there is one.
    pub fn script(&self, name: &str) -> Option<&VrrpScript> {
        self.scripts.iter().find(|s| s.name == name)
    }

    /// The `track_file` called `name`, if there is one.
    pub fn track_file(&self, name: &str) -> Option<&TrackFileDef> {
        self.track_files.iter().find(|f| f.name == name)
    }

    /// The `vrrp_track_process` called `name`, if there is one.
    pub fn track_process(&self, name: &str) -> Option<&TrackProcessDef> {
        self.track_processes.iter().find(|p| p.name == name)
    }

    /// Whether some instance drops traffic to its VIPs (no_accept), which needs `nft` at run time.
    /// `vipd check` uses it to say so when nft is missing; this crate never looks.
    pub fn needs_nftables(&self) -> bool {
        self.instances.iter().any(|i| !i.accept)
    }
}

/// VRRP protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// RFC 3768: IPv4 only, whole-second intervals, optional simple password.
    V2,
    /// RFC 9568: IPv4 and IPv6, centisecond intervals.
    V3,
}

/// Address family of an instance, derived from its virtual addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// "IPv4" or "IPv6", for messages.
    pub fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }
}

/// `global_defs`, with keepalived's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct GlobalDefs {
    /// keepalived defaults it to the host name; vipd leaves that to the daemon (no system access here).
    pub router_id: Option<String>,
    /// Default 2, as in keepalived.
    pub vrrp_version: Version,
    /// Whether `vrrp_version` was written in the file (an unset version lets IPv6 instances use v3).
    pub vrrp_version_explicit: bool,
    /// Seconds before the second GARP burst after becoming master; 0 = none. Default 5.
    pub vrrp_garp_master_delay: u32,
    /// GARPs/NAs per burst. Default 5.
    pub vrrp_garp_master_repeat: u32,
    /// Seconds between GARP refreshes while master; 0 = off (default).
    pub vrrp_garp_master_refresh: u32,
    /// GARPs/NAs per refresh. Default 1.
    pub vrrp_garp_master_refresh_repeat: u32,
    /// Gap between GARPs on one interface, microseconds. Default 0.
    pub vrrp_garp_interval_us: u64,
    /// Gap between unsolicited NAs on one interface, microseconds. Default 0.
    pub vrrp_gna_interval_us: u64,
    /// Default for each instance's `down_timer_adverts`. Default 3.
    pub vrrp_down_timer_adverts: u8,
    /// `vrrp_iptables` was given; vipd always uses nftables (a warning says so).
    pub vrrp_iptables: bool,
    /// The nftables table for no_accept. Default "keepalived".
    pub nftables_table: String,
    /// Whether `nftables` was written explicitly.
    pub nftables_explicit: bool,
    pub dynamic_interfaces: DynamicInterfaces,
    /// keepalived's cap on automatic realtime priority (-1..=99; 0, -1: no automatic steps).
    pub max_auto_priority: Option<i32>,
    /// How late a wake-up must be for an automatic priority step, microseconds (default 1 s).
    pub min_auto_priority_delay_us: Option<u64>,
    /// SCHED_RR priority of the event loop from the start (1..=99).
    pub vrrp_rt_priority: Option<u8>,
    /// Lock vipd's memory (mlockall).
    pub vrrp_no_swap: bool,
    /// The CPUs vipd runs on; empty: any.
    pub vrrp_cpu_affinity: Vec<u16>,
    /// keepalived's strict mode: default accept mode becomes no_accept, auth and unicast are refused.
    pub vrrp_strict: bool,
    /// Refuse to run a script as root when a non-root user could change it.
    pub enable_script_security: bool,
    /// `user [group]` notify scripts run as; unset: `keepalived_script` if it exists, else root.
    pub script_user: Option<ScriptUser>,
    /// FIFO receiving every notify event (keepalived's `notify_fifo`).
    pub notify_fifo: Option<String>,
    /// FIFO receiving VRRP notify events (keepalived's `vrrp_notify_fifo`).
    pub vrrp_notify_fifo: Option<String>,
    /// Default for each instance's `check_unicast_src`.
    pub vrrp_check_unicast_src: bool,
    /// vipd's own: where the HTTP listener (`/metrics`, `/status`, `/`) listens;
    /// [`DEFAULT_METRICS_LISTEN`] unless `metrics_listen: off` (None).
    pub metrics_listen: Option<SocketAddr>,
    /// vipd's own: which metric families `/metrics` carries. Default: all.
    pub metrics_families: MetricsFamilies,
}

/// Where `/metrics` listens by default: the keepalived exporters' port, on localhost only (a
/// remote Prometheus needs an address written explicitly).
pub const DEFAULT_METRICS_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    9165,
));

/// `global_defs.metrics_families`: the families of metrics `/metrics` renders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsFamilies {
    /// `keepalived_exporter`: mehdy/keepalived-exporter's `keepalived_*` names.
    pub keepalived_exporter: bool,
    /// `keepalived_exporter_gen2brain`: gen2brain/keepalived_exporter's names (no `_total`).
    pub keepalived_exporter_gen2brain: bool,
    /// `vipd`: vipd's own `vipd_*` family.
    pub vipd: bool,
}

impl MetricsFamilies {
    /// The names `metrics_families` accepts, in the order they are documented.
    pub const NAMES: [&'static str; 3] = [
        "keepalived_exporter",
        "keepalived_exporter_gen2brain",
        "vipd",
    ];

    /// No family; [`MetricsFamilies::enable`] then adds them by name.
    pub const NONE: MetricsFamilies = MetricsFamilies {
        keepalived_exporter: false,
        keepalived_exporter_gen2brain: false,
        vipd: false,
    };

    /// Turns on the family called `name`; false when no family has that name.
    pub fn enable(&mut self, name: &str) -> bool {
        match name {
            "keepalived_exporter" => self.keepalived_exporter = true,
            "keepalived_exporter_gen2brain" => self.keepalived_exporter_gen2brain = true,
            "vipd" => self.vipd = true,
            _ => return false,
        }
        true
    }
}

impl Default for MetricsFamilies {
    fn default() -> Self {
        MetricsFamilies {
            keepalived_exporter: true,
            keepalived_exporter_gen2brain: true,
            vipd: true,
        }
    }
}

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
            vrrp_version: Version::V2,
            vrrp_version_explicit: false,
            vrrp_garp_master_delay: 5,
            vrrp_garp_master_repeat: 5,
            vrrp_garp_master_refresh: 0,
            vrrp_garp_master_refresh_repeat: 1,
            vrrp_garp_interval_us: 0,
            vrrp_gna_interval_us: 0,
            vrrp_down_timer_adverts: 3,
            vrrp_iptables: false,
            nftables_table: "keepalived".to_owned(),
            nftables_explicit: false,
            dynamic_interfaces: DynamicInterfaces::Off,
            max_auto_priority: None,
            min_auto_priority_delay_us: None,
            vrrp_rt_priority: None,
            vrrp_no_swap: false,
            vrrp_cpu_affinity: Vec::new(),
            vrrp_strict: false,
            enable_script_security: false,
            script_user: None,
            notify_fifo: None,
            vrrp_notify_fifo: None,
            vrrp_check_unicast_src: false,
            metrics_listen: Some(DEFAULT_METRICS_LISTEN),
            metrics_families: MetricsFamilies::default(),
        }
    }
}

/// `script_user`: names only; the daemon looks them up (this crate never touches the system).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptUser {
    pub user: String,
    /// The user's own group when absent.
    pub group: Option<String>,
}

/// keepalived's `dynamic_interfaces [allow_if_changes]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DynamicInterfaces {
    /// An interface missing at start is an error of that instance (keepalived's default).
    #[default]
    Off,
    /// Interfaces may be missing at start and may come and go.
    On,
    /// As `On`, and a recreated interface may change type or parent.
    AllowIfChanges,
}

/// Initial state requested by `state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InitialState {
    Master,
    #[default]
    Backup,
}

/// One `vrrp_instance`.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub name: String,
    pub state: InitialState,
    pub interface: String,
    /// 1..=255.
    pub vrid: u8,
    /// 1..=255; 255 is the address owner.
    pub priority: u8,
    /// Instance `version`, else `vrrp_version`, else 3 for IPv6 instances, else 2.
    pub version: Version,
    pub family: Family,
    /// `advert_int` in microseconds: whole seconds in v2, 10 ms steps (10 ms to 40.95 s) in v3.
    pub advert_interval_us: u64,
    /// false with `nopreempt`.
    pub preempt: bool,
    /// `preempt_delay` in microseconds (0..=1000 s).
    pub preempt_delay_us: u64,
    /// Accept mode: `accept`/`no_accept` if given, else `!vrrp_strict`; always true at priority 255.
    pub accept: bool,
    pub unicast_src_ip: Option<IpAddr>,
    /// Unicast peers; empty means multicast.
    pub unicast_peers: Vec<IpAddr>,
    /// Check received unicast adverts come from a listed peer.
    pub check_unicast_src: bool,
    /// Only for v2 (a v3 instance's authentication block is ignored with a warning, as keepalived does).
    pub authentication: Option<Authentication>,
    /// Send the RFC 9568 IPv4 checksum (no pseudo-header) instead of keepalived's default.
    pub v3_checksum_as_v2: bool,
    pub vmac: Option<Vmac>,
    pub vips: Vec<Vip>,
    pub excluded_vips: Vec<Vip>,
    pub routes: Vec<VirtualRoute>,
    pub rules: Vec<VirtualRule>,
    pub track_interfaces: Vec<TrackInterface>,
    /// `track_script`: each names a [`VrrpScript`] of [`Config::scripts`].
    pub track_scripts: Vec<TrackRef>,
    /// `track_file`: each names a [`TrackFileDef`] of [`Config::track_files`].
    pub track_files: Vec<TrackRef>,
    /// `track_process`: each names a [`TrackProcessDef`] of [`Config::track_processes`].
    pub track_processes: Vec<TrackRef>,
    pub notify: Notify,
    pub garp_master_delay: u32,
    pub garp_master_repeat: u32,
    pub garp_master_refresh: u32,
    pub garp_master_refresh_repeat: u32,
    /// Master_Down_Interval = this many advert intervals plus skew. 1..=100, default 3.
    pub down_timer_adverts: u8,
    /// Do not go to Fault when `interface` goes down.
    pub dont_track_primary: bool,
    /// keepalived's debug level 0..=4; kept, unused.
    pub debug: u8,
    /// conntrackd and link actions on this instance's transitions.
    pub actions: crate::actions::StateActions,
}

/// `use_vmac` resolved: a macvlan with the VRRP virtual MAC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vmac {
    /// `vrrp.<VRID>` unless a name was given.
    pub name: String,
    /// `vmac_xmit_base`: adverts sent and heard on the parent interface.
    pub xmit_base: bool,
}

/// `authentication` (v2 only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authentication {
    /// Simple password, at most 8 bytes (longer ones are cut to 8, as keepalived does).
    Pass(Vec<u8>),
    /// keepalived's IPsec AH (HMAC-MD5-96, VRRPv2 over IPv4): the key is `auth_pass`, cut to
    /// 8 bytes like a password.
    Ah(Vec<u8>),
}

/// One virtual address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vip {
    pub addr: IpAddr,
    /// Default /32 or /128.
    pub prefix_len: u8,
    /// Interface to put it on; the instance's interface (or VMAC) when absent.
    pub dev: Option<String>,
    pub label: Option<String>,
    pub broadcast: Option<IpAddr>,
    pub scope: Option<Scope>,
    /// keepalived's `no_track`: its removal by someone else does not make the instance leave master.
    pub no_track: bool,
    /// `noprefixroute`.
    pub no_prefix_route: bool,
}

/// Route/address scope as `ip` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Global,
    Site,
    Link,
    Host,
    Nowhere,
}

/// An IP prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

/// Kind of a virtual route, as `ip route` types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RouteKind {
    #[default]
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
}

/// One `virtual_routes` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualRoute {
    pub kind: RouteKind,
    pub family: Family,
    pub to: Prefix,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    /// Preferred source address (`src`).
    pub src: Option<IpAddr>,
    /// Routing table number; main (254) when absent.
    pub table: Option<u32>,
    /// `metric` / `priority` / `preference`.
    pub metric: Option<u32>,
    pub scope: Option<Scope>,
    pub onlink: bool,
    pub no_track: bool,
}

/// What a policy rule does with matching packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleAction {
    /// `table N` / `lookup N`.
    Lookup(u32),
    Blackhole,
    Unreachable,
    Prohibit,
}

/// One `virtual_rules` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualRule {
    pub family: Family,
    /// None = all.
    pub from: Option<Prefix>,
    /// None = all.
    pub to: Option<Prefix>,
    pub action: RuleAction,
    /// `priority` / `preference` / `pref`.
    pub priority: Option<u32>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    /// (mark, mask); mask is u32::MAX when not given.
    pub fwmark: Option<(u32, u32)>,
    pub no_track: bool,
}

/// One `track_interface` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackInterface {
    pub name: String,
    /// -253..=253; 0 means the instance goes to Fault when the interface is down.
    pub weight: i16,
    /// keepalived's `reverse`: the weight applies when the interface is up instead.
    pub reverse: bool,
}

/// Notify commands for an instance or a sync group.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Notify {
    /// Run on every transition with `INSTANCE|GROUP NAME STATE PRIORITY` appended.
    pub notify: Option<String>,
    pub master: Option<String>,
    pub backup: Option<String>,
    pub fault: Option<String>,
    pub stop: Option<String>,
}

/// One `vrrp_sync_group`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncGroup {
    pub name: String,
    /// Member instance names, each an existing instance in no other group.
    pub members: Vec<String>,
    pub notify: Notify,
    /// Tracked objects of the group: each one's state counts for every member, as if each
    /// member tracked it (keepalived's sync group tracking).
    pub track_interfaces: Vec<TrackInterface>,
    pub track_scripts: Vec<TrackRef>,
    pub track_files: Vec<TrackRef>,
    pub track_processes: Vec<TrackRef>,
    /// conntrackd and link actions on the group's transitions.
    pub actions: crate::actions::StateActions,
}

/// One entry of a `track_script`, `track_file` or `track_process` list: the tracked object's
/// name and the weight this instance or group gives it. Both are resolved: a weight or
/// `reverse`/`noreverse` written in the entry wins, else the definition's own applies (as in
/// keepalived).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackRef {
    /// The name of a definition of the list's kind; always an existing one.
    pub name: String,
    /// Scripts −253..=253, files and processes −254..=254. What it does depends on the kind:
    /// see [`VrrpScript::weight`], [`TrackFileDef::weight`], [`TrackProcessDef::weight`].
    pub weight: i16,
    /// keepalived's `reverse`: the weight's effect is negated (a positive weight is subtracted
    /// while passing, a negative one added while failing; with weight 0, Fault while *passing*).
    pub reverse: bool,
}

/// One `vrrp_script`: a check run every `interval`, whose result is tracked with rise/fall
/// hysteresis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrrpScript {
    pub name: String,
    pub check: Check,
    /// Time between two starts of the check. Default 1 s.
    pub interval_us: u64,
    /// A run that takes longer has failed (a script is then killed). Default: the interval, as
    /// keepalived (which gives an unset timeout the interval).
    pub timeout_us: u64,
    /// −253..=253, default 0. Positive: added to the priority while the check passes; negative:
    /// added while it fails; 0: the tracking instances go to Fault while it fails.
    pub weight: i16,
    /// `weight W reverse`: the weight's effect is negated (see [`TrackRef::reverse`]).
    pub reverse: bool,
    /// Consecutive successes before a failed check counts as passing again. ≥ 1, default 1.
    pub rise: u32,
    /// Consecutive failures before a passing check counts as failed. ≥ 1, default 1.
    pub fall: u32,
    /// `user`: who a `Check::Script` runs as; `None`: `global_defs.script_user`.
    pub user: Option<ScriptUser>,
    /// `init_fail`: the check starts as failed (default: as passing, as in keepalived).
    pub init_fail: bool,
}

/// What a [`VrrpScript`] checks: keepalived's external script, or one of vipd's own checks,
/// which run inside the daemon (no process per run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// `script`: a command line, passing when it exits 0; run as [`VrrpScript::user`].
    Script { command: String },
    /// `tcp_connect`: passing when a TCP connection to the address is accepted.
    TcpConnect(SocketAddr),
    /// `http_get`: passing on an accepted status (and body).
    HttpGet(HttpGet),
    /// `icmp_echo`: passing when the address answers an ICMP (or ICMPv6) echo request.
    IcmpEcho(IpAddr),
    /// `dns_query`: passing on the expected answer from the server.
    DnsQuery(DnsQuery),
}

/// vipd's `http_get` check: one GET request per run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpGet {
    /// The URL as written.
    pub url: String,
    /// `https://`.
    pub tls: bool,
    /// The URL's host as written (`192.0.2.1`, `[2001:db8::1]`, `localhost`), for the Host
    /// header; with TLS, the name (or address) the certificate must be valid for.
    pub host: String,
    /// Where to connect: the URL's address, or 127.0.0.1 for `localhost`; the URL's port,
    /// else 80 (http) or 443 (https).
    pub addr: SocketAddr,
    /// Path and query as sent in the request line; `/` when the URL has none.
    pub path: String,
    /// Accepted status codes (each range inclusive). Default: 200 only.
    pub status: Vec<RangeInclusive<u16>>,
    /// The response body must contain this text.
    pub body_contains: Option<String>,
    /// Verify the server's certificate (https only). Default true; false accepts any
    /// certificate (e.g. the kube-apiserver's self-signed `/healthz`).
    pub tls_verify: bool,
}

impl HttpGet {
    /// Whether a response with this status code passes.
    pub fn accepts_status(&self, code: u16) -> bool {
        self.status.iter().any(|range| range.contains(&code))
    }
}

/// vipd's `dns_query` check: one query over UDP per run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsQuery {
    /// Default port 53.
    pub server: SocketAddr,
    /// The name asked for, absolute (it always ends in a dot: no search list is applied).
    pub name: String,
    /// Default A.
    pub record_type: DnsRecordType,
    /// true (default): passing needs rcode NOERROR and at least one answer record; false:
    /// rcode NOERROR is enough (the server answers, whether or not the name has such records).
    pub expect_answer: bool,
}

/// The record types a `dns_query` may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsRecordType {
    A,
    Aaaa,
    Cname,
    Mx,
    Ns,
    Ptr,
    Soa,
    Srv,
    Txt,
    Caa,
}

impl DnsRecordType {
    pub const ALL: [DnsRecordType; 10] = [
        DnsRecordType::A,
        DnsRecordType::Aaaa,
        DnsRecordType::Cname,
        DnsRecordType::Mx,
        DnsRecordType::Ns,
        DnsRecordType::Ptr,
        DnsRecordType::Soa,
        DnsRecordType::Srv,
        DnsRecordType::Txt,
        DnsRecordType::Caa,
    ];

    /// The type's number in a query (RFC 1035 §3.2.2 and later).
    pub fn code(self) -> u16 {
        match self {
            DnsRecordType::A => 1,
            DnsRecordType::Ns => 2,
            DnsRecordType::Cname => 5,
            DnsRecordType::Soa => 6,
            DnsRecordType::Ptr => 12,
            DnsRecordType::Mx => 15,
            DnsRecordType::Txt => 16,
            DnsRecordType::Aaaa => 28,
            DnsRecordType::Srv => 33,
            DnsRecordType::Caa => 257,
        }
    }

    /// The mnemonic, as written in the file (`AAAA`).
    pub fn name(self) -> &'static str {
        match self {
            DnsRecordType::A => "A",
            DnsRecordType::Aaaa => "AAAA",
            DnsRecordType::Cname => "CNAME",
            DnsRecordType::Mx => "MX",
            DnsRecordType::Ns => "NS",
            DnsRecordType::Ptr => "PTR",
            DnsRecordType::Soa => "SOA",
            DnsRecordType::Srv => "SRV",
            DnsRecordType::Txt => "TXT",
            DnsRecordType::Caa => "CAA",
        }
    }
}

/// One `track_file`: a file holding an integer, read whenever it changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackFileDef {
    pub name: String,
    /// `file`, an absolute path.
    pub path: PathBuf,
    /// −254..=254, default 1. Non-zero: the value read × weight is added to the priority (a
    /// result below −253 means Fault); 0: Fault while the value is not 0. A missing or empty
    /// file reads as 0.
    pub weight: i16,
    /// `weight W reverse`: the product is negated (with weight 0: Fault while the value is 0).
    pub reverse: bool,
    /// `init_file`: write a value at start.
    pub init_file: Option<TrackFileInit>,
}

/// keepalived's `init_file [VALUE] [overwrite]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackFileInit {
    /// Default 0.
    pub value: i32,
    /// Write it even when the file exists (keepalived does not on a reload); without it, only a
    /// missing file is created.
    pub overwrite: bool,
}

/// One `vrrp_track_process`: passing while the number of matching processes is within quorum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackProcessDef {
    pub name: String,
    /// The first word of `process`: compared with the process name (`/proc/PID/comm`, at most
    /// 15 characters), or with the command's first word when `full_command`.
    pub process: String,
    /// The words after it, compared as `param_match` says.
    pub params: Vec<String>,
    /// How `params` are compared; `None`: they are not (only when there are none and no
    /// `param_match` was written, keepalived's default).
    pub param_match: Option<ParamMatch>,
    /// Compare with `/proc/PID/cmdline` rather than comm: `full_command`, or implied by
    /// parameters or `param_match` (as in keepalived).
    pub full_command: bool,
    /// −254..=254, default 0 (keepalived's code; its manual says 1). Positive: added while the
    /// quorum is met; negative: added while it is not; 0: Fault while it is not.
    pub weight: i16,
    /// `weight W reverse`: the weight's effect is negated (see [`TrackRef::reverse`]).
    pub reverse: bool,
    /// Fewest matching processes that pass, 1..=65535, default 1; 0 when `quorum_max` is 0.
    pub quorum: u16,
    /// Most matching processes that pass; `None`: no limit (default). 0 means passing only
    /// while no such process runs.
    pub quorum_max: Option<u16>,
    /// Wait this long after the quorum is gained (a process forked) before passing.
    pub fork_delay_us: u64,
    /// Wait this long after the quorum is lost (a process ended) before failing.
    pub terminate_delay_us: u64,
}

/// keepalived's `param_match`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamMatch {
    /// The process has exactly these parameters (the default once parameters are given).
    Exact,
    /// The process's parameters start with these (more may follow).
    Partial,
    /// As `Partial`, and the last one given may be the start of the process's parameter.
    Initial,
}
