//! One configured virtual router at run time, in parts that live and die separately: the
//! configuration and what is derived from it ([`Template`]), where it is attached on the system
//! ([`Attachment`], only while its interface exists), what it serves as master ([`Serving`],
//! only while master or releasing), its statistics and its errors (one slot per kind).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use vipd_config as config;
use vipd_router as router;
use vipd_wire as wire;

use super::ah::AhState;
use super::effects::{MasterResources, VipSpec};
use super::receive::SocketId;
use super::registry::{GroupId, InstanceId};
use super::tracking::InstanceTrack;
use super::vip_ledger::VipLedger;
use crate::observe::history::RecentTransitions;
use crate::observe::stats::InstanceStats;
use crate::system::announce;
use crate::system::error::SystemError;
use crate::system::socket::Family;

/// Bit set in the router's tracked-object ids of `track_interface` entries, so that interface
/// trackers never share an id with the trackers of `src/track` (which use the low bits alone).
pub const INTERFACE_TRACK_ID: u32 = 1 << 31;

/// Run-time state of one `vrrp_instance`.
pub struct Instance {
    pub id: InstanceId,
    /// Shared with the daemon's configuration model (the same `Arc`, not a copy).
    pub cfg: Arc<config::Instance>,
    /// Its sync group (every instance has one; a lone instance is a group of one).
    pub group: GroupId,
    /// Its index inside that group.
    pub member: usize,
    pub family: Family,
    pub template: Template,
    /// With `auth_type AH`: key, sequence counter, IPv4 ID.
    pub ah: Option<AhState>,
    /// `None` while the interface is missing (or before the first attach).
    pub attachment: Option<Attachment>,
    /// An attach request is with the worker; `again` when another was wanted meanwhile.
    pub attaching: Option<Reattach>,
    /// A `track_interface` lookup is with the worker.
    pub looking_up_links: bool,
    /// A reload changed its tracked interfaces: the router is reconfigured once they are known.
    pub reconfigure_after_lookup: bool,
    /// What it put in place as master, while it has anything in place.
    pub serving: Option<Serving>,
    /// A new master's first advert, held until its VIPs are in place (`apply.rs`).
    pub held_first_advert: Option<u8>,
    /// Its VMAC was deleted under it while master: what to put back once it is made again.
    pub restore_after_attach: Option<Arc<MasterResources>>,
    /// `track_interface` entries: name, the interface index if it exists, and whether it is up.
    pub tracked: Vec<TrackedInterface>,
    /// Tracked scripts, files and processes (its own and its sync group's), set by the daemon.
    pub tracks: Vec<InstanceTrack>,
    /// What the router was last told (usable or not): starts true, as the router assumes.
    pub router_sees_link_up: bool,
    pub stats: InstanceStats,
    pub errors: InstanceErrors,
    /// When a rejected advert was last logged (daemon microseconds), and how many since then.
    pub reject_log: (Option<u64>, u64),
    /// The last rival master heard (address, daemon microseconds).
    pub rival_master: Option<(IpAddr, u64)>,
    pub recent_transitions: RecentTransitions,
    /// Since when each VIP is held, its announcements (status and metrics).
    pub vip_ledger: VipLedger,
}

/// An attach request in flight.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reattach {
    pub again: bool,
}

/// What is derived from the configuration once: the advert we send (only its priority changes
/// from one send to the next), where it goes, the VIPs as the system layer takes them.
pub struct Template {
    pub advert: wire::Advert,
    /// The unicast peers, else the VRRP group.
    pub destinations: Vec<IpAddr>,
    /// The VIPs, then the excluded ones.
    pub vips: Vec<VipSpec>,
    pub flavour: wire::ChecksumFlavour,
    pub auth: wire::Auth,
    /// The messages last encoded from this template, reused while nothing they depend on moves.
    pub encoded: super::transmit::EncodedAdverts,
}

/// Where the instance lives on the system while its interface exists.
pub struct Attachment {
    /// The configured `interface`.
    pub ifindex: u32,
    /// Where the VIPs live: the VMAC with `use_vmac`, else `interface`.
    pub vip_ifindex: u32,
    /// The MAC our announcements carry (the virtual MAC with `use_vmac`).
    pub mac: Option<[u8; 6]>,
    /// The interface's operational state as last seen.
    pub link_up: bool,
    /// The source address of our adverts (unicast_src_ip, else the interface's primary address).
    pub src: Option<IpAddr>,
    /// The socket adverts leave from.
    pub send_socket: Option<SocketId>,
    /// Every socket this instance hears on (with `vmac_xmit_base`: the parent and the VMAC).
    pub sockets: Vec<SocketId>,
    /// The last advert accepted, to drop the second copy when it is heard on two sockets.
    pub last_advert: Option<(IpAddr, wire::Advert, u64)>,
    /// Opened on first use.
    pub frame_sender: Option<announce::FrameSender>,
}

/// What a master (or a master handing over) has asked the worker to put in place.
pub struct Serving {
    pub vip_ifindex: u32,
    pub resources: Arc<MasterResources>,
    /// The announcement schedule, once the VIPs are in place.
    pub garp: Option<announce::GarpPlan>,
    /// Announcements start once the worker reports the VIPs in place, so that the first
    /// gratuitous ARP / NA never precedes the address it announces.
    pub announce_after_install: bool,
    /// Make-before-break: the router has left Master, the VIPs stay until a successor
    /// advertises or this deadline (daemon microseconds) passes.
    pub releasing_until: Option<router::Micros>,
    /// While releasing: a successor's advert was heard, and the VIPs go at `releasing_until`
    /// (a short grace, so that its gratuitous ARP reaches the clients first).
    pub successor_heard: bool,
}

/// One `track_interface` entry as last seen.
#[derive(Debug, Clone)]
pub struct TrackedInterface {
    pub name: String,
    pub ifindex: Option<u32>,
    pub up: bool,
}

/// Why the instance cannot (fully) attach to its interface.
#[derive(Debug)]
pub enum AttachError {
    Interface(SystemError),
    Vmac(SystemError),
    NoAddress {
        interface: String,
        family: Family,
    },
    /// The link-local exists but duplicate address detection has not finished with it.
    Tentative {
        interface: String,
    },
    Socket {
        interface: String,
        error: std::io::Error,
    },
    Removed {
        interface: String,
    },
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachError::Interface(e) => write!(f, "{e}"),
            AttachError::Vmac(e) => write!(f, "use_vmac: {e}"),
            AttachError::NoAddress { interface, family } => write!(
                f,
                "interface {interface} has no {} address to send adverts from",
                match family {
                    Family::V4 => "IPv4",
                    Family::V6 => "IPv6 link-local",
                }
            ),
            AttachError::Tentative { interface } => write!(
                f,
                "interface {interface}'s IPv6 link-local is tentative (duplicate address detection running); waiting for it before sending adverts"
            ),
            AttachError::Socket { interface, error } => write!(
                f,
                "cannot open the VRRP socket on {interface}: {error}{}",
                if error.raw_os_error() == Some(libc::EPERM) {
                    " (vipd needs CAP_NET_RAW)"
                } else {
                    ""
                }
            ),
            AttachError::Removed { interface } => write!(
                f,
                "interface {interface} was removed; waiting for it to come back"
            ),
        }
    }
}

/// The instance's current errors, one slot per kind: each is cleared when that kind of
/// operation next succeeds.
#[derive(Debug, Default)]
pub struct InstanceErrors {
    pub attach: Option<AttachError>,
    /// What failed in the worker's last report on this instance's master resources.
    pub reconcile: Vec<SystemError>,
    /// The last advert send, when it failed.
    pub send: Option<String>,
    pub announce: Option<String>,
}

impl InstanceErrors {
    /// The one line status shows: what stops the instance first, then what degrades it.
    pub fn summary(&self) -> Option<String> {
        self.attach
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| {
                (!self.reconcile.is_empty()).then(|| {
                    self.reconcile
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
            })
            .or_else(|| self.send.clone())
            .or_else(|| self.announce.clone())
    }
}

fn wire_version(version: config::Version) -> wire::Version {
    match version {
        config::Version::V2 => wire::Version::V2,
        config::Version::V3 => wire::Version::V3,
    }
}

/// The virtual MAC of a VRID (RFC 9568 §7.3): 00-00-5E-00-01-{VRID} for IPv4, 00-00-5E-00-02-{VRID}
/// for IPv6.
pub fn virtual_mac(family: Family, vrid: u8) -> [u8; 6] {
    let kind = match family {
        Family::V4 => 1,
        Family::V6 => 2,
    };
    [0x00, 0x00, 0x5e, 0x00, kind, vrid]
}

impl Template {
    pub fn new(cfg: &config::Instance, family: Family) -> Template {
        let advert_addresses = match family {
            Family::V4 => wire::Addresses::V4(
                cfg.vips
                    .iter()
                    .filter_map(|v| match v.addr {
                        IpAddr::V4(v4) => Some(v4),
                        IpAddr::V6(_) => None,
                    })
                    .collect(),
            ),
            Family::V6 => wire::Addresses::V6(
                cfg.vips
                    .iter()
                    .filter_map(|v| match v.addr {
                        IpAddr::V6(v6) => Some(v6),
                        IpAddr::V4(_) => None,
                    })
                    .collect(),
            ),
        };
        let destinations = if cfg.unicast_peers.is_empty() {
            vec![family.group()]
        } else {
            cfg.unicast_peers.clone()
        };
        let vips = cfg
            .vips
            .iter()
            .chain(cfg.excluded_vips.iter())
            .map(VipSpec::from)
            .collect();
        let flavour = if cfg.v3_checksum_as_v2 {
            wire::ChecksumFlavour::Plain
        } else {
            wire::ChecksumFlavour::PseudoHeader
        };
        let auth = match &cfg.authentication {
            Some(config::Authentication::Pass(bytes)) => {
                let mut password = [0u8; 8];
                let len = bytes.len().min(8);
                password[..len].copy_from_slice(&bytes[..len]);
                wire::Auth::SimplePassword(password)
            }
            Some(config::Authentication::Ah(_)) => wire::Auth::Ah,
            None => wire::Auth::None,
        };
        let version = wire_version(cfg.version);
        let router_version = match cfg.version {
            config::Version::V2 => router::Version::V2,
            config::Version::V3 => router::Version::V3,
        };
        Template {
            advert: wire::Advert {
                version,
                vrid: cfg.vrid,
                priority: cfg.priority,
                max_adver_int: router::timing::advert_us_to_field(
                    router_version,
                    cfg.advert_interval_us,
                ),
                addresses: advert_addresses,
                auth: if version == wire::Version::V2 {
                    auth
                } else {
                    wire::Auth::None
                },
            },
            destinations,
            vips,
            flavour,
            auth,
            encoded: Default::default(),
        }
    }
}

impl Instance {
    pub fn new(
        id: InstanceId,
        group: GroupId,
        member: usize,
        cfg: Arc<config::Instance>,
    ) -> Instance {
        let family = super::effects::family(cfg.family);
        let template = Template::new(&cfg, family);
        let ah = AhState::for_config(&cfg);
        let tracked = cfg
            .track_interfaces
            .iter()
            .map(|t| TrackedInterface {
                name: t.name.clone(),
                ifindex: None,
                up: false,
            })
            .collect();
        Instance {
            id,
            cfg,
            group,
            member,
            family,
            template,
            ah,
            attachment: None,
            attaching: None,
            looking_up_links: false,
            reconfigure_after_lookup: false,
            serving: None,
            held_first_advert: None,
            restore_after_attach: None,
            tracked,
            tracks: Vec::new(),
            router_sees_link_up: true,
            stats: InstanceStats::default(),
            errors: InstanceErrors::default(),
            reject_log: (None, 0),
            rival_master: None,
            recent_transitions: RecentTransitions::default(),
            vip_ledger: VipLedger::default(),
        }
    }

    /// Takes a changed configuration of the same virtual router (same interface, VRID, family,
    /// version, VMAC and peers, which a reload checks): what is derived from the configuration
    /// is rebuilt; where the instance lives on the system, what it installed, its counters and
    /// what was last seen of each tracked interface (by name) are kept.
    pub fn adopt_config(&mut self, cfg: Arc<config::Instance>) {
        self.template = Template::new(&cfg, self.family);
        self.ah = AhState::adopt(self.ah.take(), &cfg);
        let old = std::mem::take(&mut self.tracked);
        self.tracked = cfg
            .track_interfaces
            .iter()
            .map(|t| {
                old.iter()
                    .find(|o| o.name == t.name)
                    .cloned()
                    .unwrap_or(TrackedInterface {
                        name: t.name.clone(),
                        ifindex: None,
                        up: false,
                    })
            })
            .collect();
        self.cfg = cfg;
    }

    /// What received adverts are checked against.
    pub fn expected(&self) -> wire::Expected {
        wire::Expected {
            version: self.template.advert.version,
            vrid: self.cfg.vrid,
            auth: self.template.auth,
            max_adver_int: self.template.advert.max_adver_int,
        }
    }

    /// Our advert source address, while attached with one.
    pub fn src(&self) -> Option<IpAddr> {
        self.attachment.as_ref().and_then(|a| a.src)
    }

    /// Where the VIPs go, while attached.
    pub fn vip_ifindex(&self) -> Option<u32> {
        self.attachment.as_ref().map(|a| a.vip_ifindex)
    }

    /// Whether the instance can take part: its link is up, and it has a socket and an address
    /// to send adverts from.
    pub fn usable(&self) -> bool {
        self.attachment
            .as_ref()
            .is_some_and(|a| a.link_up && a.send_socket.is_some() && a.src.is_some())
    }

    /// Whether `tracked[index]` counts as up for the router (`reverse` flips it).
    pub fn tracked_ok(&self, index: usize) -> bool {
        self.tracked[index].up != self.cfg.track_interfaces[index].reverse
    }

    /// The name of the interface a VIP lives on.
    pub fn vip_interface_name<'a>(&'a self, vip: &'a VipSpec) -> &'a str {
        if let Some(dev) = &vip.dev {
            return dev;
        }
        match &self.cfg.vmac {
            Some(vmac) => &vmac.name,
            None => &self.cfg.interface,
        }
    }

    /// What becoming master puts in place; `accepts` is the router's accept mode verdict.
    pub fn master_resources(&self, accepts: bool) -> MasterResources {
        MasterResources {
            vips: self.template.vips.clone(),
            routes: self.cfg.routes.clone(),
            rules: self.cfg.rules.clone(),
            drop_set: if accepts {
                Vec::new()
            } else {
                self.cfg.vips.iter().map(|v| v.addr).collect()
            },
        }
    }

    pub fn router_config(&self) -> router::RouterConfig {
        let unspecified = match self.family {
            Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let mut rc = router::RouterConfig::new(self.cfg.vrid, self.src().unwrap_or(unspecified));
        rc.version = match self.cfg.version {
            config::Version::V2 => router::Version::V2,
            config::Version::V3 => router::Version::V3,
        };
        rc.priority = self.cfg.priority;
        rc.advert_interval_us = self.cfg.advert_interval_us;
        rc.preempt = self.cfg.preempt;
        rc.preempt_delay_us = self.cfg.preempt_delay_us;
        rc.accept = self.cfg.accept;
        rc.down_timer_adverts = u32::from(self.cfg.down_timer_adverts);
        rc.tracked = self
            .cfg
            .track_interfaces
            .iter()
            .enumerate()
            .map(|(index, t)| router::TrackedObject {
                id: INTERFACE_TRACK_ID | index as u32,
                weight: t.weight,
                up: self.tracked_ok(index),
            })
            .collect();
        rc.tracks = self
            .tracks
            .iter()
            .map(InstanceTrack::router_track)
            .collect();
        rc.initial_state = match self.cfg.state {
            config::InitialState::Master => router::InitialState::Master,
            config::InitialState::Backup => router::InitialState::Backup,
        };
        rc
    }

    /// Counts an advert from `src` that failed validation, and logs it: the first at once, then
    /// at most one warning per 10 s (with how many were rejected in between), as a misconfigured
    /// peer sends ten a second.
    pub fn reject(&mut self, error: wire::WireError, src: IpAddr, now_us: u64) {
        self.stats.rejected.count(error);
        const QUIET_US: u64 = 10_000_000;
        let (last_logged, unlogged) = &mut self.reject_log;
        if last_logged.is_some_and(|at| now_us.saturating_sub(at) < QUIET_US) {
            *unlogged += 1;
            return;
        }
        let since = std::mem::take(unlogged);
        *last_logged = Some(now_us);
        tracing::warn!(
            instance = %self.cfg.name,
            vrid = self.cfg.vrid,
            "advert from {src} rejected: {error}{}",
            if since > 0 {
                format!(" ({since} more rejected since the last warning)")
            } else {
                String::new()
            }
        );
    }

    /// Records (and logs when new) why attaching failed, or clears it.
    pub fn set_attach_error(&mut self, error: Option<AttachError>) {
        if let Some(e) = &error {
            let line = e.to_string();
            if self.errors.attach.as_ref().map(ToString::to_string) != Some(line.clone()) {
                tracing::warn!(instance = %self.cfg.name, vrid = self.cfg.vrid, "{line}");
            }
        }
        self.errors.attach = error;
    }

    /// Records (and logs when new) an error of one of the string-valued kinds, or clears it.
    pub fn set_error(slot: &mut Option<String>, name: &str, vrid: u8, error: Option<String>) {
        if let Some(e) = &error {
            if slot.as_deref() != Some(e) {
                tracing::warn!(instance = %name, vrid, "{e}");
            }
        }
        *slot = error;
    }
}
