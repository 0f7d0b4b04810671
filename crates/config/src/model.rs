//! The resolved, typed configuration: what the daemon runs from once the file has been read,
//! defaults filled in with keepalived's values and every cross-field rule checked.

use std::net::{IpAddr, SocketAddr};

/// The whole configuration file, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub global: GlobalDefs,
    /// The `vrrp_instance` entries in the order the file gives them.
    pub instances: Vec<Instance>,
    /// The `vrrp_sync_group` entries in file order.
    pub sync_groups: Vec<SyncGroup>,
}

impl Config {
    /// The instance called `name`, if there is one.
    pub fn instance(&self, name: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.name == name)
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
    /// keepalived's realtime-priority cap (-1..=99); accepted and kept, vipd does not use it.
    pub max_auto_priority: Option<i32>,
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
    /// vipd's own: where the Prometheus endpoint listens; none by default.
    pub metrics_listen: Option<SocketAddr>,
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
            vrrp_strict: false,
            enable_script_security: false,
            script_user: None,
            notify_fifo: None,
            vrrp_notify_fifo: None,
            vrrp_check_unicast_src: false,
            metrics_listen: None,
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
    /// Names only; vipd does not run track scripts yet (a warning says so).
    pub track_scripts: Vec<String>,
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
    /// IPsec AH: accepted by keepalived, not implemented by vipd (refused at check time).
    Ah,
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
}
