//! The one read-only projection of the daemon's state, built by the event loop on request and
//! handed out by value: `vipd status` (text and JSON) renders from it, and so will `/metrics`.
//! Building it reads no socket and waits for nothing.

use std::net::IpAddr;

use vipd_router::{Counters, State};

use super::stats::InstanceStats;
use super::status::{
    ChecksumCounts, Counters as StatusCounters, InstanceStatus, ReloadReport, RivalMaster,
    StatusReport, VipStatus,
};

/// The daemon as it is at one instant.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub pid: u32,
    pub uptime_ms: u64,
    /// System errors not tied to one instance.
    pub errors: Vec<String>,
    pub last_reload: Option<ReloadReport>,
    pub instances: Vec<InstanceSnapshot>,
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
    pub priority: u8,
    pub effective_priority: u8,
    pub master: Option<IpAddr>,
    pub advert_interval_us: u64,
    pub master_advert_interval_us: u64,
    pub in_state_ms: u64,
    /// The advertised VIPs, then the excluded ones.
    pub vips: Vec<VipSnapshot>,
    pub counters: Counters,
    pub stats: InstanceStats,
    pub last_error: Option<String>,
    /// The last rival master heard, and how long ago (ms).
    pub rival_master: Option<(IpAddr, u64)>,
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
        }
    }
}

impl InstanceSnapshot {
    fn status(&self) -> InstanceStatus {
        InstanceStatus {
            name: self.name.clone(),
            interface: self.interface.clone(),
            vrid: self.vrid,
            family: self.family,
            version: self.version,
            state: state_name(self.state).to_owned(),
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
            instances: vec![InstanceSnapshot {
                name: "VI_1".into(),
                interface: "eth0".into(),
                vrid: 51,
                family: 4,
                version: 3,
                state: State::Master,
                priority: 150,
                effective_priority: 150,
                master: Some("192.0.2.1".parse().unwrap()),
                advert_interval_us: 100_000,
                master_advert_interval_us: 100_000,
                in_state_ms: 5,
                vips: vec![VipSnapshot {
                    addr: "192.0.2.3".parse().unwrap(),
                    prefix_len: 24,
                    dev: "eth0".into(),
                    excluded: false,
                    present: true,
                }],
                counters,
                stats,
                last_error: None,
                rival_master: None,
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
        assert_eq!(i["advert_interval_ms"], 100.0);
    }
}
