//! The event loop: one task owns every router. Each source (sockets, the deadline timer, netlink
//! events, worker reports, control requests, signals) becomes one [`Event`], dispatched to the
//! file of its concern; nothing is awaited inside a step.

use std::time::Duration;

use futures::StreamExt;

use tokio::sync::mpsc;
use tokio::time::Instant;

use vipd_config as config;
use vipd_router::{MemberAction, Micros};

use super::control::ControlRequest;
use super::event::Event;
use super::receive::SocketTable;
use super::registry::Registry;
use super::release::{Departure, Purpose};
use super::reload::PendingReload;
use super::sources::QuietSources;
use super::worker::{Report, Request};
use crate::hooks::Hooks;
use crate::observe::status::ReloadReport;
use crate::system::netlink::Netlink;
use crate::system::nft::NftTable;
use crate::system::realtime::AutoPriority;
use crate::system::socket::RecvBatch;
use crate::system::sysctl::SysctlRegistry;
use crate::system::timer::DeadlineTimer;

pub struct Daemon {
    pub(super) start: Instant,
    /// The time of the packet or timer step being dispatched (None otherwise): one clock read
    /// per step instead of one per use; a single-instance master read it three times per advert.
    pub(super) step_now: Option<Micros>,
    pub(super) config: config::Config,
    /// The file given to `vipd run -c` and how it is read, again on reload.
    pub(super) config_source: super::ConfigSource,
    pub(super) last_reload: Option<ReloadReport>,
    pub(super) registry: Registry,
    pub(super) sockets: SocketTable,
    /// The receive buffers, lent out (None) while their packets are handled: taking them by
    /// `mem::take` built a new zeroed 70 KiB batch for every read (a calloc and memset that were
    /// a tenth of a single-instance backup's CPU).
    pub(super) batch: Option<RecvBatch>,
    pub(super) netlink: Netlink,
    pub(super) worker: mpsc::UnboundedSender<Request>,
    /// Signals, netlink events, worker reports, control requests and tracker updates.
    pub(super) sources: QuietSources,
    /// System errors not tied to one instance.
    pub(super) errors: Vec<String>,
    pub(super) timer: DeadlineTimer,
    /// `max_auto_priority`: steps to realtime when the timer wakes the loop late.
    pub(super) auto_priority: AutoPriority,
    pub(super) sysctls: SysctlRegistry,
    pub(super) nft: Option<NftTable>,
    /// The name of the nftables table this run uses, if it has one.
    pub(super) nft_table: Option<String>,
    /// VMACs this run created or adopted (ifindex), deleted when their instance leaves.
    pub(super) vmacs: Vec<u32>,
    /// Drops what the kernel sends by itself from IPv6 VMACs (made on first use).
    pub(super) vmac_silence: crate::system::vmac_silence::VmacSilence,
    pub(super) actions: Vec<MemberAction>,
    /// Reused by the timer handler.
    pub(super) due_groups: Vec<super::registry::GroupId>,
    pub(super) encode_buf: bytes::BytesMut,
    pub(super) hooks: Hooks,
    pub(super) tracking: super::tracking::Tracking,
    pub(super) departures: Vec<Departure>,
    pub(super) next_ticket: u64,
    pub(super) pending_reload: Option<PendingReload>,
    pub(super) queued_reloads: Vec<Option<tokio::sync::oneshot::Sender<ReloadReport>>>,
    pub(super) shutting_down: bool,
    /// systemd's watchdog, fed from this loop (None unless the unit sets WatchdogSec=).
    pub(super) watchdog: Option<super::watchdog::Watchdog>,
    pub(super) maintenance: super::maintenance::Maintenance,
    /// VMACs told to answer no ARP while their master hands over (`vmac_handover.rs`).
    pub(super) silenced_vmacs: Vec<String>,
}

impl Daemon {
    pub(super) fn now(&self) -> Micros {
        self.step_now.unwrap_or_else(|| self.clock())
    }

    fn clock(&self) -> Micros {
        Micros(self.start.elapsed().as_micros() as u64)
    }

    fn instant(&self, at: Micros) -> Instant {
        self.start + Duration::from_micros(at.0)
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
        self.auto_priority.on_wake_up(self.timer.lateness());
        let now = self.now();
        let mut due = std::mem::take(&mut self.due_groups);
        due.clear();
        self.registry.due_groups(now, &mut due);
        for &group in &due {
            self.drive(group, |routers, now, out| routers.handle_timers(now, out));
        }
        self.due_groups = due;
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
            Report::LinksSet { origin, outcomes } => {
                self.hooks.links.on_outcomes(&origin, &outcomes)
            }
        }
    }

    /// A departure finished.
    pub(super) fn departed(&mut self, purpose: Purpose) {
        match purpose {
            Purpose::Reload => self.reload_after_departure(),
            Purpose::Hold(operation) => self.finish_operation(operation),
            Purpose::Shutdown => {}
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
            Event::Control(ControlRequest::Http(request)) => self.on_http_request(request),
            Event::Control(ControlRequest::Operate(operation, reply)) => {
                self.on_operate(operation, reply)
            }
            Event::Reload => {
                tracing::info!("SIGHUP: reloading {}", self.config_source.path.display());
                self.reload(None);
            }
            Event::Track(update) => self.on_track_update(update),
            // A second SIGTERM or SIGINT changes nothing: the departure already runs.
            Event::Terminate if self.shutting_down => {}
            Event::Terminate => self.begin_shutdown(),
            Event::Watchdog => {
                if let Some(watchdog) = self.watchdog.as_mut() {
                    watchdog.feed();
                }
            }
        }
    }

    /// Waits for the next event. The hot sources (the sockets, the deadline timer) are polled
    /// here at every wake-up; the quiet ones only when one of them woke the loop.
    async fn next_event(&mut self) -> Option<Event> {
        let wake = self.next_wakeup().map(|m| self.instant(m));
        if let Err(e) = self.timer.arm(wake) {
            tracing::error!("cannot arm the deadline timer: {e}");
            return None;
        }
        let (sockets, batch) = (
            &self.sockets,
            self.batch.get_or_insert_with(RecvBatch::default),
        );
        let packets = std::future::poll_fn(move |cx| sockets.poll_read(cx, batch));
        let timer = &mut self.timer;
        let deadline = std::future::poll_fn(move |cx| timer.poll_expired(cx));
        let (signals, others) = (&mut self.sources.signals, &mut self.sources.others);
        let watchdog = &mut self.watchdog;
        let watched = watchdog.is_some();
        Some(tokio::select! {
            biased;
            Some(event) = signals.next() => event,
            // Ahead of the packets: a flood must not starve it into a restart.
            _ = super::watchdog::due(watchdog), if watched => Event::Watchdog,
            (socket, result) = packets => Event::Packets { socket, result },
            _ = deadline => Event::Deadline,
            Some(event) = others.next() => event,
        })
    }

    /// Runs until SIGTERM or SIGINT, then hands over (priority 0) and removes what it added.
    pub async fn run(mut self) -> i32 {
        if let Err(e) = self.sources.watch_signals() {
            tracing::error!("cannot watch SIGTERM, SIGINT and SIGHUP: {e}");
            return 1;
        }
        for group in self.registry.group_ids() {
            self.start_group(group);
        }
        super::notify_ready();
        while !self.shutting_down || self.departing() {
            let Some(event) = self.next_event().await else {
                break;
            };
            // The hot steps (adverts heard, timers) take microseconds and await nothing, so their
            // time may stand still; a reload or a control request reads the clock as it goes.
            if matches!(event, Event::Packets { .. } | Event::Deadline) {
                self.step_now = Some(self.clock());
            }
            self.dispatch(event);
            self.step_now = None;
        }
        self.finish_shutdown().await;
        0
    }
}
