//! The event loop: one task owns every router. Each source (sockets, the deadline timer, netlink
//! events, worker reports, control requests, signals) becomes one [`Event`], dispatched to the
//! file of its concern; nothing is awaited inside a step.

use std::path::PathBuf;
use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::Instant;

use vipd_config as config;
use vipd_router::{Input, MemberAction, Micros};

use super::attach::apply_links;
use super::control::ControlRequest;
use super::event::Event;
use super::instance::Instance;
use super::receive::SocketTable;
use super::registry::{groupings, GroupId, InstanceId, Registry};
use super::release::{Departure, Purpose};
use super::reload::PendingReload;
use super::worker::{self, Report, Request};
use crate::hooks::Hooks;
use crate::observe::status::ReloadReport;
use crate::system::netlink::{NetEvent, Netlink};
use crate::system::nft::NftTable;
use crate::system::socket::RecvBatch;
use crate::system::sysctl::SysctlRegistry;
use crate::system::timer::DeadlineTimer;

pub struct Daemon {
    pub(super) start: Instant,
    pub(super) config: config::Config,
    /// The file given to `vipd run -c`, read again on reload.
    pub(super) config_path: PathBuf,
    pub(super) last_reload: Option<ReloadReport>,
    pub(super) registry: Registry,
    pub(super) sockets: SocketTable,
    pub(super) batch: RecvBatch,
    pub(super) netlink: Netlink,
    pub(super) worker: mpsc::UnboundedSender<Request>,
    reports: mpsc::UnboundedReceiver<Report>,
    control_rx: mpsc::Receiver<ControlRequest>,
    net_events: Option<mpsc::Receiver<NetEvent>>,
    /// System errors not tied to one instance.
    pub(super) errors: Vec<String>,
    timer: DeadlineTimer,
    pub(super) sysctls: SysctlRegistry,
    pub(super) nft: Option<NftTable>,
    /// The name of the nftables table this run uses, if it has one.
    pub(super) nft_table: Option<String>,
    /// VMACs this run created or adopted (ifindex), deleted when their instance leaves.
    pub(super) vmacs: Vec<u32>,
    pub(super) actions: Vec<MemberAction>,
    pub(super) encode_buf: bytes::BytesMut,
    pub(super) hooks: Hooks,
    pub(super) departures: Vec<Departure>,
    pub(super) next_ticket: u64,
    pub(super) pending_reload: Option<PendingReload>,
    pub(super) queued_reloads: Vec<Option<tokio::sync::oneshot::Sender<ReloadReport>>>,
    pub(super) shutting_down: bool,
}

struct Signals {
    terminate: Signal,
    interrupt: Signal,
    hangup: Signal,
}

impl Daemon {
    /// Sets up everything that does not depend on a particular instance, then attaches each
    /// instance (before the loop runs, so these round trips delay no advert).
    pub async fn start(
        config: config::Config,
        config_path: PathBuf,
        control_rx: mpsc::Receiver<ControlRequest>,
        hooks: Hooks,
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
        let (worker, reports) = worker::spawn(netlink.clone(), nft.clone());
        let mut daemon = Daemon {
            start: Instant::now(),
            config_path,
            last_reload: None,
            registry: Registry::new(),
            sockets: SocketTable::default(),
            batch: RecvBatch::default(),
            netlink,
            worker,
            reports,
            control_rx,
            net_events,
            errors,
            timer: DeadlineTimer::new().map_err(|e| format!("cannot create a timerfd: {e}"))?,
            sysctls: SysctlRegistry::new(),
            nft_table: nft.as_ref().map(|t| t.name().to_owned()),
            nft,
            vmacs: Vec::new(),
            actions: Vec::new(),
            encode_buf: bytes::BytesMut::with_capacity(1500),
            hooks,
            departures: Vec::new(),
            next_ticket: 0,
            pending_reload: None,
            queued_reloads: Vec::new(),
            shutting_down: false,
            config,
        };
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
                let facts = worker::attach(&daemon.netlink, &plan).await;
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
        for group in groups {
            daemon.registry.build_routers(group);
        }
        Ok(daemon)
    }

    pub(super) fn now(&self) -> Micros {
        Micros(self.start.elapsed().as_micros() as u64)
    }

    fn instant(&self, at: Micros) -> Instant {
        self.start + Duration::from_micros(at.0)
    }

    /// Starts one group's routers; a member without a usable interface goes to Fault at once.
    pub(super) fn start_group(&mut self, group: GroupId) {
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

    fn next_wakeup(&self) -> Option<Micros> {
        let routers = self
            .registry
            .groups()
            .filter_map(|g| g.routers.next_deadline());
        let garps = self
            .registry
            .instances()
            .filter_map(|i| i.serving.as_ref()?.garp.as_ref()?.next())
            .map(|at| Micros(at.saturating_duration_since(self.start).as_micros() as u64));
        routers.chain(garps).chain(self.departure_deadline()).min()
    }

    fn on_timers(&mut self) {
        let now = self.now();
        for group in self.registry.group_ids() {
            let due = self
                .registry
                .group(group)
                .and_then(|g| g.routers.next_deadline())
                .is_some_and(|d| d <= now);
            if due {
                self.drive(group, |routers, now, out| routers.handle_timers(now, out));
            }
        }
        self.announce_due();
        self.on_departure_timers();
    }

    fn on_report(&mut self, report: Report) {
        match report {
            Report::Master {
                instance,
                present,
                errors,
            } => self.on_master_report(instance, present, errors),
            Report::Attached { instance, facts } => self.on_attached(instance, facts),
            Report::Links { instance, links } => self.on_links(instance, links),
            Report::LinkDeleted {
                ifindex,
                name,
                error,
            } => {
                if let Some(e) = error {
                    tracing::warn!("removing VMAC {name}: {e}");
                }
                self.on_link_deleted(ifindex);
            }
            Report::Barrier { ticket } => self.on_barrier(ticket),
        }
    }

    /// A departure finished.
    pub(super) fn departed(&mut self, purpose: Purpose) {
        if purpose == Purpose::Reload {
            self.reload_after_departure();
        }
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Packets { socket, result } => self.on_read(socket, result),
            Event::Deadline => self.on_timers(),
            Event::Net(event) => self.on_net_event(event),
            Event::System(report) => self.on_report(report),
            Event::Control(ControlRequest::Status(reply)) => {
                let _ = reply.send(self.snapshot().status_report());
            }
            Event::Control(ControlRequest::Reload(reply)) => self.reload(Some(reply)),
            Event::Reload => {
                tracing::info!("SIGHUP: reloading {}", self.config_path.display());
                self.reload(None);
            }
            Event::Terminate => self.begin_shutdown(),
        }
    }

    /// Waits for the next event.
    async fn next_event(&mut self, signals: &mut Signals) -> Option<Event> {
        let wake = self.next_wakeup().map(|m| self.instant(m));
        if let Err(e) = self.timer.arm(wake) {
            tracing::error!("cannot arm the deadline timer: {e}");
            return None;
        }
        let net_event = async {
            match self.net_events.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        let (sockets, batch) = (&self.sockets, &mut self.batch);
        let packets = std::future::poll_fn(move |cx| sockets.poll_read(cx, batch));
        let terminating = self.shutting_down;
        Some(tokio::select! {
            biased;
            _ = signals.terminate.recv(), if !terminating => Event::Terminate,
            _ = signals.interrupt.recv(), if !terminating => Event::Terminate,
            _ = signals.hangup.recv() => Event::Reload,
            (socket, result) = packets => Event::Packets { socket, result },
            _ = self.timer.expired() => Event::Deadline,
            Some(event) = net_event => Event::Net(event),
            Some(report) = self.reports.recv() => Event::System(report),
            Some(request) = self.control_rx.recv() => Event::Control(request),
        })
    }

    /// Runs until SIGTERM or SIGINT, then hands over (priority 0) and removes what it added.
    pub async fn run(mut self) -> i32 {
        let mut signals = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(terminate), Ok(interrupt), Ok(hangup)) => Signals {
                terminate,
                interrupt,
                hangup,
            },
            _ => {
                tracing::error!("cannot watch SIGTERM, SIGINT and SIGHUP");
                return 1;
            }
        };
        for group in self.registry.group_ids() {
            self.start_group(group);
        }
        super::notify_ready();
        while !self.shutting_down || self.departing() {
            let Some(event) = self.next_event(&mut signals).await else {
                break;
            };
            self.dispatch(event);
        }
        self.finish_shutdown().await;
        0
    }

    /// The tracked interfaces' state changed under a running router: tell it.
    pub(super) fn feed_tracked_changes(&mut self, id: InstanceId, before: Vec<bool>) {
        let Some(instance) = self.registry.instance(id) else {
            return;
        };
        let changed: Vec<(usize, bool)> = (0..instance.tracked.len())
            .filter_map(|k| {
                let now = instance.tracked_ok(k);
                (before.get(k) != Some(&now)).then_some((k, now))
            })
            .collect();
        for (k, up) in changed {
            self.feed(
                id,
                Input::TrackedObjectChanged {
                    id: super::instance::INTERFACE_TRACK_ID | k as u32,
                    up,
                },
            );
        }
    }
}
