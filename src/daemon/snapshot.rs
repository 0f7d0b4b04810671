//! The daemon's side of observation: building the read-only [`Snapshot`] from the registry and
//! the routers, plus a look at which VIPs the kernel really has.

use vipd_config as config;

use super::main_loop::Daemon;
use crate::observe::snapshot::{InstanceSnapshot, Snapshot, VipSnapshot};
use crate::system::ifaddrs;
use crate::system::socket::Family;

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
                    priority: i.cfg.priority,
                    effective_priority: r.effective_priority(),
                    master: r.master_address(),
                    advert_interval_us: i.cfg.advert_interval_us,
                    master_advert_interval_us: r.master_adver_interval_us(),
                    in_state_ms: now.0.saturating_sub(r.state_since().0) / 1000,
                    vips: i
                        .template
                        .vips
                        .iter()
                        .enumerate()
                        .map(|(k, v)| {
                            let dev = i.vip_interface_name(v);
                            VipSnapshot {
                                addr: v.addr,
                                prefix_len: v.prefix_len,
                                dev: dev.to_owned(),
                                excluded: k >= advertised,
                                present: ifaddrs::is_on(&present, dev, v.addr),
                            }
                        })
                        .collect(),
                    counters: *r.counters(),
                    stats: i.stats,
                    last_error: i.errors.summary(),
                    rival_master: i
                        .rival_master
                        .map(|(address, at)| (address, now.0.saturating_sub(at) / 1000)),
                })
            })
            .collect();
        Snapshot {
            pid: std::process::id(),
            uptime_ms: now.0 / 1000,
            errors: self.errors.clone(),
            last_reload: self.last_reload.clone(),
            instances,
        }
    }
}
