//! The HTTP listener at `global_defs.metrics_listen`: `/metrics` (Prometheus text format 0.0.4,
//! [`super::metrics`]), `/status` (the JSON of `vipd status --json`) and `/` (the status page,
//! [`super::page`]). GET and HEAD only, one request per connection (`Connection: close`).
//!
//! It never touches the event loop's state. A request asks the loop for a [`Snapshot`] through
//! the control channel ([`LoopRequest`]), has it rendered on a thread of its own, one render at
//! a time (so scrapes in a tight loop take at most one core, never the thread the routers run
//! on), and writes it; requests for the same page arriving together share one snapshot and one
//! body. A client only ever holds its own task: at most [`MAX_CONNECTIONS`] at once (more are
//! answered 503 and closed), a request head of at most [`MAX_HEAD_BYTES`] (431), [`READ_TIMEOUT`]
//! to send it (slowloris: 408), [`WRITE_TIMEOUT`] to take the answer. Nothing is kept between
//! requests: a body lives as long as the requests sending it.
//!
//! Binding is retried every [`RETRY_INTERVAL`]: a port in use or an address not (yet) on the
//! machine is logged, handed to the loop for `vipd status` ([`LoopRequest::ListenerError`]) and
//! never stops VRRP. The loop sends the settings of each configuration it applies through a
//! `watch` channel, so a reload that changes `metrics_listen` or `metrics_families` applies at
//! once, and a listener that is bound wakes nobody between requests (it polled the loop every
//! 5 s before: two wake-ups of each thread).
//!
//! Hand-written on `httparse` (already linked for the HTTP probes) rather than hyper 1.x: the
//! server needs a request line, a few headers and a bounded read. Measured on one minimal tokio
//! program (release, stripped), hyper's http1 server with hyper-util's `TokioIo` added 270 KiB of
//! binary and 340 KiB of RSS at rest over the same server on httparse, before any of the limits
//! above. Measured in vipd with 255 instances (a 255 KB page, a 235 KB `/status`): rendering
//! and sending a page takes 1.2 ms (median, curl's total); after 800 scrapes, 320 of them in
//! bursts of 16, RSS is 0.2–0.6 MiB above the idle daemon's. The whole listener with the page
//! adds 200 KiB to the stripped binary and no dependency.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared, WeakShared};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::time::Instant;

use super::metrics::Families;
use super::Snapshot;

/// Connections served at once; one more is answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 16;
/// The request line and headers; a longer head is answered 431.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
const MAX_HEADERS: usize = 32;
/// Time a client has to send its whole request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a client has to take the whole answer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Between two binding attempts.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// A request arriving while a snapshot asked for less than this long ago is still on its way
/// waits for that one instead of asking the loop again.
const SHARE_WINDOW: Duration = Duration::from_millis(20);
/// After answering, what the client still sends is read (up to this much, this long) so that
/// closing with unread data does not reset the connection before the answer is read.
const DRAIN_BYTES: usize = 64 * 1024;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a request waits for the loop (which is busy starting, or stuck) before a 503.
const LOOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Every error message the listener hands to the loop starts with this.
pub const ERROR_PREFIX: &str = "metrics_listen ";

pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const STATUS_CONTENT_TYPE: &str = "application/json";
const PAGE_CONTENT_TYPE: &str = "text/html; charset=utf-8";
const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// What the configuration says about the listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// None: `metrics_listen: off`.
    pub listen: Option<SocketAddr>,
    pub families: Families,
}

impl Settings {
    pub fn from_config(global: &vipd_config::GlobalDefs) -> Settings {
        let f = global.metrics_families;
        Settings {
            listen: global.metrics_listen,
            families: Families {
                mehdy: f.keepalived_exporter,
                gen2brain: f.keepalived_exporter_gen2brain,
                vipd: f.vipd,
            },
        }
    }
}

/// What the listener asks of the event loop.
#[derive(Debug)]
pub enum LoopRequest {
    /// The daemon's state now, to render one answer from.
    Snapshot(oneshot::Sender<Snapshot>),
    /// The listener cannot bind (the message starts with [`ERROR_PREFIX`]), or, None, it
    /// listens again or is turned off: a system error for `vipd status`.
    ListenerError(Option<String>),
}

/// The listener's way to the event loop: the daemon's control channel (or a test's).
pub trait LoopHandle: Clone + Send + Sync + 'static {
    /// Queues the request; false once the loop is gone.
    fn ask(&self, request: LoopRequest) -> impl Future<Output = bool> + Send;
}

impl LoopHandle for mpsc::Sender<LoopRequest> {
    async fn ask(&self, request: LoopRequest) -> bool {
        self.send(request).await.is_ok()
    }
}

/// Starts the listener task on the current runtime; it ends when the loop is gone.
pub fn spawn(
    settings: watch::Receiver<Settings>,
    handle: impl LoopHandle,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(settings, handle))
}

async fn run<L: LoopHandle>(mut updates: watch::Receiver<Settings>, handle: L) {
    let server = Arc::new(Server::new(handle.clone()));
    let mut settings = *updates.borrow_and_update();
    // The error the loop was last told of.
    let mut told: Option<String> = None;
    loop {
        let (listener, error) = match settings.listen {
            None => (None, None),
            Some(addr) => match bind(addr) {
                Ok(listener) => {
                    tracing::info!("serving /metrics, /status and / on http://{addr}/");
                    (Some(listener), None)
                }
                Err(message) => (None, Some(message)),
            },
        };
        if error != told {
            if let Some(message) = &error {
                tracing::warn!("{message}");
            }
            if !handle.ask(LoopRequest::ListenerError(error.clone())).await {
                return;
            }
            told = error;
        }
        let retrying = listener.is_none() && settings.listen.is_some();
        let retry = tokio::time::sleep(RETRY_INTERVAL);
        tokio::pin!(retry);
        loop {
            tokio::select! {
                accepted = accept(listener.as_ref()) => {
                    if let Some(stream) = accepted {
                        server.clone().start_connection(stream, settings.families);
                    }
                }
                changed = updates.changed() => {
                    if changed.is_err() {
                        return; // the loop is gone
                    }
                    let new = *updates.borrow_and_update();
                    let rebind = new.listen != settings.listen;
                    settings = new;
                    if rebind {
                        break;
                    }
                }
                _ = &mut retry, if retrying => break,
            }
        }
    }
}

/// Binds `addr` (std sets SO_REUSEADDR, so a restarted vipd finds its port free at once).
fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(TcpListener::from_std);
    listener.map_err(|e| {
        let hint = match e.kind() {
            io::ErrorKind::AddrInUse => " (another program listens on that port)",
            io::ErrorKind::AddrNotAvailable => " (the address is not on this machine)",
            io::ErrorKind::PermissionDenied => " (a port below 1024 needs CAP_NET_BIND_SERVICE)",
            _ => "",
        };
        format!(
            "{ERROR_PREFIX}{addr}: cannot listen: {e}{hint}; retrying every {} s",
            RETRY_INTERVAL.as_secs()
        )
    })
}

/// The next connection; never, without a listener.
async fn accept(listener: Option<&TcpListener>) -> Option<TcpStream> {
    let Some(listener) = listener else {
        return std::future::pending().await;
    };
    match listener.accept().await {
        Ok((stream, _)) => Some(stream),
        Err(e) => {
            // Out of file descriptors and the like: do not spin on it.
            tracing::debug!("metrics listener: accept: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}

/// What every connection shares.
struct Server<L> {
    connections: Arc<Semaphore>,
    refusals: Arc<Semaphore>,
    handle: L,
    renderer: Arc<RenderThread>,
    /// The render last started for each page.
    recent: Mutex<[Option<RecentRender>; Page::COUNT]>,
}

/// A render started for a page: when, with which families, and the render itself, weak, so
/// that a body lives only as long as the requests sending it.
struct RecentRender {
    started: Instant,
    families: Families,
    render: WeakShared<RenderFuture>,
}

/// A page being rendered, awaited by every request that shares it.
type RenderFuture = BoxFuture<'static, Result<Arc<String>, (u16, &'static str)>>;
type SharedRender = Shared<RenderFuture>;

impl<L: LoopHandle> Server<L> {
    fn new(handle: L) -> Server<L> {
        Server {
            connections: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            refusals: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            handle,
            renderer: Arc::new(RenderThread::default()),
            recent: Mutex::new(Default::default()),
        }
    }

    /// Serves `stream` on a task of its own. Beyond [`MAX_CONNECTIONS`] it is answered 503 (by
    /// as many tasks again, for at most [`DRAIN_TIMEOUT`] each), beyond that just closed.
    fn start_connection(self: Arc<Self>, mut stream: TcpStream, families: Families) {
        if let Ok(permit) = self.connections.clone().try_acquire_owned() {
            tokio::spawn(async move {
                self.serve(stream, families).await;
                drop(permit);
            });
        } else if let Ok(permit) = self.refusals.clone().try_acquire_owned() {
            tokio::spawn(async move {
                let refuse = async {
                    stream.write_all(BUSY).await?;
                    close(&mut stream).await
                };
                let _ = tokio::time::timeout(DRAIN_TIMEOUT, refuse).await;
                drop(permit);
            });
        }
    }

    /// Reads one request, answers it and closes.
    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&self, mut stream: S, families: Families) {
        let answer = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
            Err(_) => Answer::error(408, "request head not received in time"),
            Ok(None) => return,
            Ok(Some(Err(answer))) => answer,
            Ok(Some(Ok(request))) => self.answer(request, families).await,
        };
        let _ = tokio::time::timeout(WRITE_TIMEOUT, write_and_close(&mut stream, &answer)).await;
        let large = answer.body.len() >= TRIM_AFTER_BYTES;
        drop(answer);
        if large {
            self.renderer.release_memory();
        }
    }

    async fn answer(&self, request: Request, families: Families) -> Answer {
        let Some(page) = Page::at(&request.path) else {
            return Answer::error(404, "not found; vipd serves /metrics, /status and /");
        };
        match tokio::time::timeout(LOOP_TIMEOUT, self.rendered(page, families)).await {
            Ok(Ok(body)) => Answer {
                status: 200,
                content_type: page.content_type(),
                body,
                head_only: request.method == Method::Head,
            },
            Ok(Err((status, why))) => Answer::error(status, why),
            Err(_) => Answer::error(503, "vipd is busy; try again"),
        }
    }

    /// `page` rendered from a snapshot asked for now. Requests for the same page arriving while
    /// one is on its way, within [`SHARE_WINDOW`] of its start, share it: it is as fresh as a
    /// new one would be, and a burst costs the loop one snapshot and the server one body.
    fn rendered(&self, page: Page, families: Families) -> SharedRender {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut recent[page as usize];
        if let Some(recent) = slot.as_ref() {
            if recent.families == families && recent.started.elapsed() < SHARE_WINDOW {
                if let Some(pending) = recent.render.upgrade().filter(|p| p.peek().is_none()) {
                    return pending;
                }
            }
        }
        let (handle, renderer) = (self.handle.clone(), self.renderer.clone());
        let pending = async move {
            const GONE: (u16, &str) = (503, "vipd is shutting down");
            let (tx, rx) = oneshot::channel();
            if !handle.ask(LoopRequest::Snapshot(tx)).await {
                return Err(GONE);
            }
            let snapshot = rx.await.map_err(|_| GONE)?;
            renderer
                .run(move || Arc::new(page.render(&snapshot, families)))
                .await
                .ok_or((500, "rendering failed"))
        }
        .boxed()
        .shared();
        *slot = pending.downgrade().map(|render| RecentRender {
            started: Instant::now(),
            families,
            render,
        });
        pending
    }
}

/// Renders run here, one at a time, on one thread started on first use: never on the thread
/// the routers run on, at most one core, and one thread's worth of allocator memory (on a
/// blocking pool, each thread's malloc arena would keep the last page it rendered: measured
/// +5 MiB RSS after 16 parallel page loads at 255 instances).
#[derive(Default)]
struct RenderThread {
    jobs: Mutex<Option<std::sync::mpsc::Sender<RenderJob>>>,
    /// A [`RenderThread::release_memory`] is queued.
    trim_queued: Arc<std::sync::atomic::AtomicBool>,
}

type RenderJob = Box<dyn FnOnce() + Send>;

/// Rendering recurses little; the default 2 MiB would only be address space, but say so.
const RENDER_STACK_BYTES: usize = 256 * 1024;

/// A body at least this large is followed by [`RenderThread::release_memory`].
const TRIM_AFTER_BYTES: usize = 64 * 1024;

impl RenderThread {
    /// Hands the memory of the pages rendered and sent back to the system. glibc keeps freed
    /// memory in the arena it came from (and, once a large block is freed, raises the size
    /// below which blocks come from arenas rather than their own mapping): without this, RSS
    /// keeps the largest burst of bodies ever sent. One trim at a time, on the render thread.
    fn release_memory(&self) {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            if self
                .trim_queued
                .swap(true, std::sync::atomic::Ordering::AcqRel)
            {
                return;
            }
            let queued = self.trim_queued.clone();
            let job: RenderJob = Box::new(move || {
                queued.store(false, std::sync::atomic::Ordering::Release);
                // SAFETY: malloc_trim only returns free memory to the system.
                unsafe { libc::malloc_trim(0) };
            });
            let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(jobs) = jobs.as_ref() {
                let _ = jobs.send(job);
            }
        }
    }

    /// `work`'s result, None when it panicked or no thread could be started.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        let job: RenderJob = Box::new(move || {
            let _ = tx.send(work());
        });
        {
            let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
            if jobs.is_none() {
                match start_render_thread() {
                    Ok(sender) => *jobs = Some(sender),
                    Err(e) => {
                        tracing::error!("cannot start the page rendering thread: {e}");
                        return None;
                    }
                }
            }
            jobs.as_ref()?.send(job).ok()?;
        }
        rx.await.ok()
    }
}

fn start_render_thread() -> io::Result<std::sync::mpsc::Sender<RenderJob>> {
    let (tx, rx) = std::sync::mpsc::channel::<RenderJob>();
    std::thread::Builder::new()
        .name("vipd-render".into())
        .stack_size(RENDER_STACK_BYTES)
        .spawn(move || {
            for job in rx {
                // A bug in a renderer fails that request (500), not every later one.
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                    tracing::error!("rendering a page panicked");
                }
            }
        })?;
    Ok(tx)
}

/// The pages served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Page {
    Metrics,
    Status,
    Html,
}

impl Page {
    const COUNT: usize = 3;

    fn at(path: &str) -> Option<Page> {
        match path {
            "/metrics" => Some(Page::Metrics),
            "/status" => Some(Page::Status),
            "/" => Some(Page::Html),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Page::Metrics => METRICS_CONTENT_TYPE,
            Page::Status => STATUS_CONTENT_TYPE,
            Page::Html => PAGE_CONTENT_TYPE,
        }
    }

    fn render(self, snapshot: &Snapshot, families: Families) -> String {
        match self {
            Page::Metrics => super::metrics::render(snapshot, families),
            Page::Status => {
                let mut json = serde_json::to_string_pretty(&snapshot.status_report())
                    .expect("the status report serialises");
                json.push('\n');
                json
            }
            Page::Html => super::page::render(snapshot),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Get,
    Head,
}

/// A request this server answers (GET or HEAD, no body).
#[derive(Debug, PartialEq, Eq)]
struct Request {
    method: Method,
    /// Without the query string.
    path: String,
}

/// Reads until the head is complete: the request, an error to answer, or None when the client
/// closed (or failed) before sending anything.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Result<Request, Answer>> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let room = (MAX_HEAD_BYTES - head.len()).min(chunk.len());
        let n = match stream.read(&mut chunk[..room]).await {
            Ok(n) => n,
            Err(_) => return None,
        };
        if n == 0 {
            return (!head.is_empty()).then(|| Err(Answer::error(400, "incomplete request")));
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(parsed) = parse_head(&head) {
            return Some(parsed);
        }
    }
}

/// The request in `head`, an error to answer, or None while it is incomplete (and may grow).
fn parse_head(head: &[u8]) -> Option<Result<Request, Answer>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Partial) if head.len() < MAX_HEAD_BYTES => None,
        Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
            Some(Err(Answer::error(431, "request head too large")))
        }
        Err(_) => Some(Err(Answer::error(400, "malformed request"))),
        Ok(httparse::Status::Complete(_)) => Some(check(&request)),
    }
}

/// The method, the body and the path of a complete head.
fn check(request: &httparse::Request) -> Result<Request, Answer> {
    let method = match request.method {
        Some("GET") => Method::Get,
        Some("HEAD") => Method::Head,
        _ => return Err(Answer::error(405, "only GET and HEAD")),
    };
    for header in request.headers.iter() {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Answer::error(413, "a request body is not accepted"));
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            let length = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            match length {
                Some(0) => {}
                Some(_) => return Err(Answer::error(413, "a request body is not accepted")),
                None => return Err(Answer::error(400, "malformed Content-Length")),
            }
        }
    }
    let target = request.path.unwrap_or_default();
    if !target.starts_with('/') {
        return Err(Answer::error(400, "the request target must be a path"));
    }
    let path = target.split(['?', '#']).next().unwrap_or_default();
    Ok(Request {
        method,
        path: path.to_owned(),
    })
}

/// What is written back.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    content_type: &'static str,
    body: Arc<String>,
    /// HEAD: the headers of the GET answer, no body.
    head_only: bool,
}

/// The answer to a connection beyond [`MAX_CONNECTIONS`].
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Length: 21\r\nRetry-After: 1\r\nConnection: close\r\n\r\ntoo many connections\n";

impl Answer {
    fn error(status: u16, text: &str) -> Answer {
        Answer {
            status,
            content_type: TEXT_CONTENT_TYPE,
            body: Arc::new(format!("{text}\n")),
            head_only: false,
        }
    }

    fn head(&self) -> String {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            413 => "Content Too Large",
            431 => "Request Header Fields Too Large",
            500 => "Internal Server Error",
            _ => "Service Unavailable",
        };
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nConnection: close\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        if self.status == 405 {
            head.push_str("Allow: GET, HEAD\r\n");
        }
        if self.content_type == PAGE_CONTENT_TYPE {
            // The page has no script and no outside asset: say so to the browser.
            head.push_str(
                "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n\
                 X-Content-Type-Options: nosniff\r\n",
            );
        }
        head.push_str("\r\n");
        head
    }
}

async fn write_and_close<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    answer: &Answer,
) -> io::Result<()> {
    stream.write_all(answer.head().as_bytes()).await?;
    if !answer.head_only {
        stream.write_all(answer.body.as_bytes()).await?;
    }
    close(stream).await
}

/// Ends our side, then reads what the client still sends until it closes (or for at most
/// [`DRAIN_BYTES`] / [`DRAIN_TIMEOUT`]): closing with unread data would reset the connection,
/// and the client could lose the answer.
async fn close<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> io::Result<()> {
    stream.shutdown().await?;
    let mut sink = [0u8; 1024];
    let mut drained = 0;
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while drained < DRAIN_BYTES {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
    Ok(())
}

#[cfg(test)]
mod tests;
