//! Starting up: the daemon's parts are made, every instance is attached before the loop runs
//! (so these kernel round trips delay no advert), and groups start, at start or when a reload
//! adds them once their members have attached.

use tokio::sync::mpsc;
use tokio::time::Instant;

use vipd_config as config;
use vipd_router::Input;

use super::attach::apply_links;
use super::control::ControlRequest;
use super::instance::Instance;
use super::main_loop::Daemon;
use super::receive::SocketTable;
use super::registry::{groupings, GroupId, InstanceId, Registry};
use super::worker;
use crate::hooks::Hooks;
use crate::system::netlink::Netlink;
use crate::system::nft::NftTable;
use crate::system::readiness::Readiness;
use crate::system::realtime::AutoPriority;
use crate::system::socket::RecvBatch;
use crate::system::sysctl::SysctlRegistry;
use crate::system::vmac_silence::VmacSilence;

impl Daemon {
    /// Sets up everything that does not depend on a particular instance, then attaches each
    /// instance (before the loop runs, so these round trips delay no advert).
    pub async fn start(
        config: config::Config,
        config_source: super::ConfigSource,
        control_rx: mpsc::Receiver<ControlRequest>,
        hooks: Hooks,
        auto_priority: AutoPriority,
    ) -> Result<Daemon, String> {
        let netlink = Netlink::new().map_err(|e| e.to_string())?;
        let mut errors = Vec::new();
        let net_events = match netlink.subscribe() {
            Ok(rx) => Some(rx),
            Err(e) => {
                errors.push(format!("no interface events: {e}"));
                None
            }
        };
        let nft = if config.needs_nftables() {
            let table = NftTable::new(&config.global.nftables_table);
            // A table of ours left by a crash is replaced, so no stale VIP stays blocked.
            match table.ensure_table().await {
                Ok(()) => Some(table),
                Err(e) => {
                    errors.push(format!("no_accept cannot be enforced: {e}"));
                    None
                }
            }
        } else {
            None
        };
        let vmac_silence = VmacSilence::new();
        let (worker, reports) = worker::spawn(netlink.clone(), nft.clone(), vmac_silence.clone());
        let mut tracking = super::tracking::Tracking::new();
        let track_updates = tracking
            .updates_rx
            .take()
            .expect("a new Tracking has its receiver");
        let readiness = std::sync::Arc::new(
            Readiness::new().map_err(|e| format!("cannot create an epoll set: {e}"))?,
        );
        let mut daemon = Daemon {
            start: Instant::now(),
            start_us: super::main_loop::monotonic_micros(),
            step_now: None,
            auto_priority,
            config_source,
            last_reload: None,
            registry: Registry::new(),
            sockets: SocketTable::new(readiness.clone()),
            readiness,
            http_settings: None,
            batch: Some(RecvBatch::default()),
            netlink,
            worker,
            sources: Some(super::sources::QuietSources::new(
                net_events,
                reports,
                control_rx,
                track_updates,
            )),
            errors,
            sysctls: SysctlRegistry::new(),
            nft_table: nft.as_ref().map(|t| t.name().to_owned()),
            nft,
            vmacs: Vec::new(),
            vmac_silence,
            actions: Vec::new(),
            due_groups: Vec::new(),
            encode_buf: bytes::BytesMut::with_capacity(1500),
            hooks,
            tracking,
            departures: Vec::new(),
            next_ticket: 0,
            pending_reload: None,
            queued_reloads: Vec::new(),
            shutting_down: false,
            watchdog: super::watchdog::Watchdog::from_env(),
            maintenance: Default::default(),
            silenced_vmacs: Vec::new(),
            config,
        };
        daemon.sync_trackers(false);
        let mut groups = Vec::new();
        for (cfg, members) in groupings(&daemon.config) {
            let members = members
                .iter()
                .filter_map(|m| daemon.config.instance(m).cloned())
                .collect();
            groups.push(daemon.registry.add_group(cfg, members, Instance::new));
        }
        for id in daemon.registry.ids() {
            if let Some(plan) = daemon.attach_plan(id) {
                let facts = worker::attach(&daemon.netlink, &daemon.vmac_silence, &plan).await;
                daemon.apply_attach(id, facts);
            }
            let names: Vec<String> = daemon
                .registry
                .instance(id)
                .map(|i| i.tracked.iter().map(|t| t.name.clone()).collect())
                .unwrap_or_default();
            let links = worker::lookup_links(&daemon.netlink, &names).await;
            if let Some(instance) = daemon.registry.instance_mut(id) {
                apply_links(instance, &links);
            }
            daemon.remove_stale(id);
        }
        daemon.refresh_instance_tracks();
        for group in groups {
            daemon.registry.build_routers(group);
        }
        Ok(daemon)
    }

    /// Starts one group's routers; a member without a usable interface goes to Fault at once.
    pub(super) fn start_group(&mut self, group: GroupId) {
        self.hold_if_in_maintenance(group);
        self.drive(group, |routers, now, out| routers.startup(now, out));
        let members = self
            .registry
            .group(group)
            .map(|g| g.members.clone())
            .unwrap_or_default();
        for id in members {
            let usable = self.registry.instance(id).is_some_and(Instance::usable);
            if !usable {
                if let Some(instance) = self.registry.instance_mut(id) {
                    instance.router_sees_link_up = false;
                }
                self.feed(id, Input::InterfaceDown);
            }
        }
    }

    /// Whether `id` belongs to a group a reload added that has not started yet.
    pub(super) fn group_starting(&self, id: InstanceId) -> bool {
        self.registry
            .instance(id)
            .and_then(|i| self.registry.group(i.group))
            .is_some_and(|g| g.starting)
    }

    /// Starts the (reload-added) group of `id` once every member has attached.
    pub(super) fn maybe_start_group(&mut self, id: InstanceId) {
        let Some(group) = self.registry.instance(id).map(|i| i.group) else {
            return;
        };
        let members = self
            .registry
            .group(group)
            .map(|g| g.members.clone())
            .unwrap_or_default();
        let ready = members.iter().all(|&m| {
            self.registry
                .instance(m)
                .is_some_and(|i| i.attaching.is_none() && !i.looking_up_links)
        });
        if !ready {
            return;
        }
        for &m in &members {
            self.remove_stale(m);
        }
        self.registry.build_routers(group);
        if let Some(g) = self.registry.group_mut(group) {
            g.starting = false;
        }
        self.start_group(group);
        self.reload_group_started(group);
    }
}
