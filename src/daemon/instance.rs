//! One configured virtual router at run time: its configuration, where it lives on the system
//! (interface, source address, socket), the advert it sends, and what status reports about it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vipd_config as config;
use vipd_router as router;
use vipd_wire as wire;

use std::sync::Arc;

use super::effects::{MasterResources, VipSpec};
use super::status::{ChecksumCounts, Counters};
use crate::system::announce;
use crate::system::socket::Family;

/// Run-time state of one `vrrp_instance`.
pub struct Instance {
    pub cfg: config::Instance,
    /// Index of its sync group (every instance has one; a lone instance is a group of one).
    pub group: usize,
    /// Its index inside that group.
    pub member: usize,
    pub family: Family,
    /// The configured `interface`.
    pub ifindex: Option<u32>,
    /// Where the VIPs live: the VMAC with `use_vmac`, else `interface`.
    pub vip_ifindex: Option<u32>,
    /// The MAC our announcements carry (the virtual MAC with `use_vmac`).
    pub mac: Option<[u8; 6]>,
    /// The interface's operational state as last seen.
    pub link_up: bool,
    /// What the router was last told (usable or not): starts true, as the router assumes.
    pub router_sees_link_up: bool,
    /// The source address of our adverts (unicast_src_ip, else the interface's primary address).
    pub src: Option<IpAddr>,
    /// Index into the daemon's socket table of the socket adverts leave from.
    pub send_socket: Option<usize>,
    /// Every socket this instance hears on (with `vmac_xmit_base`: the parent and the VMAC).
    pub sockets: Vec<usize>,
    /// The last advert accepted, to drop the second copy when it is heard on two sockets.
    pub last_advert: Option<(IpAddr, wire::Advert, u64)>,
    /// `track_interface` entries: name, the interface index if it exists, and whether it is up.
    pub tracked: Vec<TrackedInterface>,
    /// The advert we send, built once; only its priority changes from one send to the next.
    pub advert: wire::Advert,
    /// Where adverts go: the unicast peers, else the VRRP group.
    pub destinations: Vec<IpAddr>,
    pub vips: Vec<VipSpec>,
    pub flavour: wire::ChecksumFlavour,
    pub auth: wire::Auth,
    /// What we told the reconciler to install (and have not taken back yet).
    pub installed: Option<Arc<MasterResources>>,
    pub counters: Counters,
    pub checksums: ChecksumCounts,
    pub last_error: Option<String>,
    /// When a rejected advert was last logged (daemon microseconds), and how many since then.
    pub reject_log: (Option<u64>, u64),
    /// `last_error` came from the reconciler (so its next successful report clears it).
    pub error_from_effects: bool,
    /// The last rival master heard (address, daemon microseconds).
    pub rival_master: Option<(IpAddr, u64)>,
    /// The announcement schedule while master.
    pub garp: Option<announce::GarpPlan>,
    /// Became master; announcements start once the reconciler has put the VIPs in place, so
    /// that the first gratuitous ARP / NA never precedes the address it announces.
    pub announce_after_install: bool,
    /// Opened on first use, reopened when the interface changes.
    pub frame_sender: Option<announce::FrameSender>,
    /// Removed by a reload. Its slot stays, so that indices held elsewhere (reconciler reports
    /// still in flight) never land on another instance; nothing refers to it any more.
    pub retired: bool,
}

/// One `track_interface` entry as last seen.
#[derive(Debug, Clone)]
pub struct TrackedInterface {
    pub name: String,
    pub ifindex: Option<u32>,
    pub up: bool,
}

fn wire_version(version: config::Version) -> wire::Version {
    match version {
        config::Version::V2 => wire::Version::V2,
        config::Version::V3 => wire::Version::V3,
    }
}

/// The advert interval field as sent: seconds in v2, centiseconds in v3.
fn interval_field(version: config::Version, interval_us: u64) -> u16 {
    match version {
        config::Version::V2 => (interval_us / 1_000_000) as u16,
        config::Version::V3 => (interval_us / 10_000) as u16,
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

impl Instance {
    pub fn new(cfg: config::Instance, group: usize, member: usize) -> Instance {
        let family = super::effects::family(cfg.family);
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
            Some(config::Authentication::Ah) => wire::Auth::Ah,
            None => wire::Auth::None,
        };
        let (cfg_version, cfg_vrid, cfg_priority, cfg_interval_us) =
            (cfg.version, cfg.vrid, cfg.priority, cfg.advert_interval_us);
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
            cfg,
            group,
            member,
            family,
            ifindex: None,
            vip_ifindex: None,
            mac: None,
            link_up: false,
            router_sees_link_up: true,
            src: None,
            send_socket: None,
            sockets: Vec::new(),
            last_advert: None,
            tracked,
            advert: wire::Advert {
                version: wire_version(cfg_version),
                vrid: cfg_vrid,
                priority: cfg_priority,
                max_adver_int: interval_field(cfg_version, cfg_interval_us),
                addresses: advert_addresses,
                auth: if cfg_version == config::Version::V2 {
                    auth
                } else {
                    wire::Auth::None
                },
            },
            destinations,
            vips,
            flavour,
            auth,
            installed: None,
            counters: Counters::default(),
            checksums: ChecksumCounts::default(),
            last_error: None,
            error_from_effects: false,
            reject_log: (None, 0),
            rival_master: None,
            garp: None,
            announce_after_install: false,
            frame_sender: None,
            retired: false,
        }
    }

    /// Takes a changed configuration of the same virtual router (same interface, VRID, family,
    /// version, VMAC and peers, which a reload checks): what is derived from the configuration
    /// is rebuilt; where the instance lives on the system, what it installed, its counters and
    /// what was last seen of each tracked interface (by name) are kept.
    pub fn adopt_config(&mut self, cfg: config::Instance) {
        let fresh = Instance::new(cfg, self.group, self.member);
        self.tracked = fresh
            .tracked
            .into_iter()
            .map(|new| {
                self.tracked
                    .iter()
                    .find(|old| old.name == new.name)
                    .cloned()
                    .unwrap_or(new)
            })
            .collect();
        self.advert = fresh.advert;
        self.destinations = fresh.destinations;
        self.vips = fresh.vips;
        self.flavour = fresh.flavour;
        self.auth = fresh.auth;
        self.cfg = fresh.cfg;
    }

    /// What received adverts are checked against.
    pub fn expected(&self) -> wire::Expected {
        wire::Expected {
            version: self.advert.version,
            vrid: self.cfg.vrid,
            auth: self.auth,
            max_adver_int: self.advert.max_adver_int,
        }
    }

    /// Whether adverts can be sent and heard: the link is up and the socket open.
    /// Whether the instance can take part: its link is up, and it has a socket and an address
    /// to send adverts from.
    pub fn usable(&self) -> bool {
        self.link_up && self.send_socket.is_some() && self.src.is_some()
    }

    /// Whether `tracked[id]` counts as failed for the router: down, or up with `reverse`.
    pub fn tracked_ok(&self, id: usize) -> bool {
        self.tracked[id].up != self.cfg.track_interfaces[id].reverse
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
            vips: self.vips.clone(),
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
        let mut rc = router::RouterConfig::new(self.cfg.vrid, self.src.unwrap_or(unspecified));
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
            .map(|(id, t)| router::TrackedObject {
                id: id as u32,
                weight: t.weight,
                up: self.tracked_ok(id),
            })
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
        *self
            .counters
            .rejected
            .entry(error.short_name().to_owned())
            .or_insert(0) += 1;
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

    pub fn set_error(&mut self, error: Option<String>) {
        if let Some(e) = &error {
            if self.last_error.as_deref() != Some(e) {
                tracing::warn!(instance = %self.cfg.name, vrid = self.cfg.vrid, "{e}");
            }
        }
        self.last_error = error;
        self.error_from_effects = false;
    }
}
