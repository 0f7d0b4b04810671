//! The event loop: one thread owns every router and waits on its own epoll set (the VRRP
//! sockets and the mailbox, `system::readiness`), with the earliest deadline as the wait's
//! timeout, so an advert costs a wait and a read or a send, without a pass through tokio. The
//! quiet sources (netlink events, worker reports, control requests, tracker updates, signals)
//! stay tokio streams on the runtime's thread and arrive through the mailbox as [`Event`]s; each
//! is dispatched to the file of its concern. Nothing is awaited inside a step.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use vipd_config as config;
use vipd_router::{MemberAction, Micros};

use super::control::ControlRequest;
use super::event::Event;
use super::mailbox::Mailbox;
use super::receive::{SocketId, SocketTable};
use super::registry::Registry;
use super::release::{Departure, Purpose};
use super::reload::PendingReload;
use super::rx_holdoff::RxHoldoff;
use super::sources::QuietSources;
use super::worker::{Report, Request};
use crate::hooks::Hooks;
use crate::observe::status::ReloadReport;
use crate::system::netlink::Netlink;
use crate::system::nft::NftTable;
use crate::system::readiness::{Readiness, ReadyTokens};
use crate::system::realtime::AutoPriority;
use crate::system::socket::RecvBatch;
use crate::system::sysctl::SysctlRegistry;

pub struct Daemon {
    pub(super) start: Instant,
    /// `start` on CLOCK_MONOTONIC in microseconds (the clock `Instant` reads): the loop's clock
    /// is read twice per wake-up, and `Instant::elapsed`'s checked arithmetic cost twice the
    /// read itself.
    pub(super) start_us: u64,
    /// When the loop woke, while its packets and deadlines are handled (None otherwise): one
    /// clock read per wake-up instead of one per use; a single-instance master read it three
    /// times per advert. A reload or a control request reads the clock as it goes.
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
    /// Signals, netlink events, worker reports, control requests and tracker updates, until
    /// [`Daemon::run`] hands them to the mailbox's forwarder.
    pub(super) sources: Option<QuietSources>,
    /// The HTTP listener's settings, sent again when a reload changes them.
    pub(super) http_settings: Option<tokio::sync::watch::Sender<crate::observe::http::Settings>>,
    /// What the loop waits on: the sockets and the mailbox.
    pub(super) readiness: Arc<Readiness>,
    /// System errors not tied to one instance.
    pub(super) errors: Vec<String>,
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
        Micros(monotonic_micros().saturating_sub(self.start_us))
    }

    /// What the next wait is for: the earliest deadline, and the earliest time a wake-up takes
    /// timers along (a Master's advert may go out early to share a wake-up, see
    /// `Router::acts_from`).
    fn next_wakeup(&self) -> Wakeup {
        let mut wakeup = Wakeup::default();
        for group in self.registry.groups() {
            wakeup.deadline = earliest(wakeup.deadline, group.routers.next_deadline());
            wakeup.timers_from = earliest(wakeup.timers_from, group.routers.acts_from());
        }
        let garps = self
            .registry
            .instances()
            .filter_map(|i| i.serving.as_ref()?.garp.as_ref()?.next())
            .map(|at| Micros(at.saturating_duration_since(self.start).as_micros() as u64));
        for at in garps.chain(self.departure_deadline()) {
            wakeup.deadline = earliest(wakeup.deadline, Some(at));
            wakeup.timers_from = earliest(wakeup.timers_from, Some(at));
        }
        wakeup
    }

    /// `lateness`: how late the earliest deadline was met, when it was (not when the wake-up
    /// came for a packet and only takes early adverts along).
    fn on_timers(&mut self, lateness: Option<Duration>) {
        if let Some(late) = lateness {
            self.auto_priority.on_wake_up(late);
        }
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
        }
    }

    /// Whether the loop goes on: until shut down and every departure has finished.
    fn running(&self) -> bool {
        !self.shutting_down || self.departing()
    }

    /// One wake-up: waits until a socket or the mailbox is readable or the earliest deadline
    /// (or the watchdog's feed) is due, then handles each once, the mailbox first (it carries
    /// the signals; a flood of adverts must not delay a SIGTERM), the deadlines last. While the
    /// sockets rest after a burst (`rx_holdoff.rs`) the wait leaves them out and ends with the
    /// rest, and then every socket with something queued is read. False when the loop must stop.
    fn wake_up(
        &mut self,
        mailbox: &Mailbox,
        holdoff: &mut RxHoldoff,
        ready: &mut ReadyTokens,
    ) -> bool {
        let Wakeup {
            deadline,
            timers_from,
        } = self.next_wakeup();
        let resting_until = holdoff.resting_until();
        let now = self.clock();
        let mut timeout = earliest(deadline, resting_until)
            .map(|at| Duration::from_micros(at.0.saturating_sub(now.0)));
        if let Some(watchdog) = &self.watchdog {
            let due = watchdog.until_due();
            timeout = Some(timeout.map_or(due, |t| t.min(due)));
        }
        let readiness = match resting_until {
            Some(_) => holdoff.quiet(),
            None => &*self.readiness,
        };
        if let Err(e) = readiness.wait(ready, timeout) {
            tracing::error!("waiting for events: {e}");
            return false;
        }
        // Ahead of the packets: a flood must not starve it into a restart.
        if let Some(watchdog) = self.watchdog.as_mut() {
            watchdog.feed_if_due();
        }
        if (0..ready.len()).any(|i| ready.token(i) == MAILBOX_TOKEN) {
            mailbox.answer();
            while let Some(event) = mailbox.next() {
                self.dispatch(event);
                if !self.running() {
                    return false;
                }
            }
        }
        if resting_until.is_some() {
            // Which sockets have something queued after their rest (none of them woke the wait):
            // one look at the whole set, instead of a read of each socket.
            if let Err(e) = self.readiness.wait(ready, Some(Duration::ZERO)) {
                tracing::error!("polling the VRRP sockets: {e}");
                return false;
            }
        }
        // One clock read for the sockets and the deadlines of this wake-up: they take
        // microseconds, and a deadline passing meanwhile is met by the next wait, which then
        // returns at once.
        let woke = self.clock();
        self.step_now = Some(woke);
        let mut packets = 0;
        for i in 0..ready.len() {
            let token = ready.token(i);
            // Handled above, or (after a rest) at the next wake-up.
            if token != MAILBOX_TOKEN {
                packets += self.read_socket(SocketId::from_token(token));
            }
        }
        if self.running() {
            holdoff.after_wake_up(woke, packets);
            if timers_from.is_some_and(|from| woke >= from) {
                let lateness = deadline
                    .filter(|&d| woke >= d)
                    .map(|d| Duration::from_micros(woke.0 - d.0));
                self.on_timers(lateness);
            }
        }
        self.step_now = None;
        self.running()
    }

    /// Runs until SIGTERM or SIGINT, then hands over (priority 0) and removes what it added.
    /// The loop runs on a thread of its own (tokio's blocking pool); this task's runtime keeps
    /// running the quiet sources, the workers, the control socket and the HTTP listener.
    pub async fn run(mut self) -> i32 {
        let Some(mut sources) = self.sources.take() else {
            tracing::error!("the event sources were already taken");
            return 1;
        };
        if let Err(e) = sources.watch_signals() {
            tracing::error!("cannot watch SIGTERM, SIGINT and SIGHUP: {e}");
            return 1;
        }
        let (postman, mailbox) = match super::mailbox::mailbox() {
            Ok(pair) => pair,
            Err(e) => {
                tracing::error!("cannot create the event loop's eventfd: {e}");
                return 1;
            }
        };
        if let Err(e) = self.readiness.watch(mailbox.fd(), MAILBOX_TOKEN) {
            tracing::error!("cannot watch the event loop's eventfd: {e}");
            return 1;
        }
        let mut holdoff = match RxHoldoff::new(mailbox.fd(), MAILBOX_TOKEN) {
            Ok(holdoff) => holdoff,
            Err(e) => {
                tracing::error!("cannot create the event loop's second epoll set: {e}");
                return 1;
            }
        };
        let forwarder = tokio::spawn(super::mailbox::forward(sources, postman));
        let runtime = tokio::runtime::Handle::current();
        let looped =
            tokio::task::spawn_blocking(move || self.run_loop(&mailbox, &mut holdoff, &runtime))
                .await;
        forwarder.abort();
        match looped {
            Ok(code) => code,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => {
                tracing::error!("the event loop's thread: {e}");
                1
            }
        }
    }

    fn run_loop(
        mut self,
        mailbox: &Mailbox,
        holdoff: &mut RxHoldoff,
        runtime: &tokio::runtime::Handle,
    ) -> i32 {
        name_this_thread(c"vipd-loop");
        self.auto_priority.enter_loop_thread();
        for group in self.registry.group_ids() {
            self.start_group(group);
        }
        super::notify_ready();
        crate::system::startup_code::release_startup_code_logged("start-up");
        let mut ready = ReadyTokens::new();
        while self.running() && self.wake_up(mailbox, holdoff, &mut ready) {}
        // The loop has stopped, so waiting on the kernel here delays no advert.
        runtime.block_on(self.finish_shutdown());
        0
    }
}

/// What [`Daemon::next_wakeup`] found.
#[derive(Default)]
struct Wakeup {
    /// The wait's timeout.
    deadline: Option<Micros>,
    /// From when a wake-up handles timers: at or before `deadline`.
    timers_from: Option<Micros>,
}

fn earliest(a: Option<Micros>, b: Option<Micros>) -> Option<Micros> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// CLOCK_MONOTONIC in microseconds.
pub(super) fn monotonic_micros() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime(2) into a local timespec; CLOCK_MONOTONIC cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1_000
}

/// Names the calling thread as `ps -L` and `/proc/PID/task/*/comm` show it (at most 15 bytes).
fn name_this_thread(name: &std::ffi::CStr) {
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
}

/// The epoll token of the mailbox; sockets use [`SocketId::token`], whose generation (the high
/// half) never reaches it.
const MAILBOX_TOKEN: u64 = u64::MAX;
