//! The HTTP listener at `global_defs.metrics_listen`: `/metrics` (Prometheus text format 0.0.4,
//! [`super::metrics`]), `/status` (the JSON of `vipd status --json`) and `/` (the status page,
//! [`super::page`]). GET and HEAD only, one request per connection (`Connection: close`).
//!
//! It never touches the event loop's state. A request asks the loop for a [`Snapshot`] through
//! the control channel ([`LoopRequest`]; requests arriving within a few milliseconds of each other
//! share one), renders it on a blocking-pool thread, one render at a time (so scrapes in a tight
//! loop take at most one core, never the thread the routers run on), and writes it. A client
//! only ever holds its own task: at most [`MAX_CONNECTIONS`] at once (more are answered 503 and
//! closed), a request head of at most [`MAX_HEAD_BYTES`] (431), [`READ_TIMEOUT`] to send it
//! (slowloris: 408), [`WRITE_TIMEOUT`] to take the answer.
//!
//! Binding is retried every [`RETRY_INTERVAL`]: a port in use or an address not (yet) on the
//! machine is logged, handed to the loop for `vipd status` ([`LoopRequest::ListenerError`]) and
//! never stops VRRP. The listener polls the loop's settings at the same interval, so a reload
//! that changes `metrics_listen` or `metrics_families` applies within it.
//!
//! Hand-written on `httparse` (already linked for the HTTP probes) rather than hyper 1.x: the
//! server needs a request line, a few headers and a bounded read; measured on the same tokio
//! program (release, stripped), hyper's http1 server with hyper-util's `TokioIo` adds 150 KiB of
//! binary against 5 KiB here, and brings per-connection buffers and a timer integration that the
//! limits above would have to configure anyway. This module adds no dependency.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
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
/// Between two binding attempts, and between two looks at the loop's settings.
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
    /// The settings of the configuration in force (it changes on reload).
    Settings(oneshot::Sender<Settings>),
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
pub fn spawn(settings: Settings, handle: impl LoopHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(settings, handle))
}

async fn run<L: LoopHandle>(mut settings: Settings, handle: L) {
    let server = Arc::new(Server::new(handle.clone()));
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
        let mut tick = tokio::time::interval_at(Instant::now() + RETRY_INTERVAL, RETRY_INTERVAL);
        loop {
            tokio::select! {
                accepted = accept(listener.as_ref()) => {
                    if let Some(stream) = accepted {
                        server.clone().start_connection(stream, settings.families);
                    }
                }
                _ = tick.tick() => {
                    let Some(new) = current_settings(&handle, settings).await else {
                        return;
                    };
                    let rebind = new.listen != settings.listen
                        || (listener.is_none() && new.listen.is_some());
                    settings = new;
                    if rebind {
                        break;
                    }
                }
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

/// The loop's settings (`current` while it is too busy to answer), None once it is gone.
async fn current_settings(handle: &impl LoopHandle, current: Settings) -> Option<Settings> {
    let (tx, rx) = oneshot::channel();
    if !handle.ask(LoopRequest::Settings(tx)).await {
        return None;
    }
    match tokio::time::timeout(LOOP_TIMEOUT, rx).await {
        Ok(answer) => answer.ok(),
        Err(_) => Some(current),
    }
}

/// What every connection shares.
struct Server<L> {
    connections: Arc<Semaphore>,
    refusals: Arc<Semaphore>,
    renders: Semaphore,
    snapshots: Snapshots<L>,
}

impl<L: LoopHandle> Server<L> {
    fn new(handle: L) -> Server<L> {
        Server {
            connections: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            refusals: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            renders: Semaphore::new(1),
            snapshots: Snapshots {
                handle,
                asked: Mutex::new(None),
            },
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
    }

    async fn answer(&self, request: Request, families: Families) -> Answer {
        let Some(page) = Page::at(&request.path) else {
            return Answer::error(404, "not found; vipd serves /metrics, /status and /");
        };
        let snapshot = match tokio::time::timeout(LOOP_TIMEOUT, self.snapshots.get()).await {
            Ok(Some(snapshot)) => snapshot,
            Ok(None) => return Answer::error(503, "vipd is shutting down"),
            Err(_) => return Answer::error(503, "vipd is busy; try again"),
        };
        let Ok(_one_at_a_time) = self.renders.acquire().await else {
            return Answer::error(503, "vipd is shutting down");
        };
        let rendered = tokio::task::spawn_blocking(move || page.render(&snapshot, families)).await;
        match rendered {
            Ok((content_type, body)) => Answer {
                status: 200,
                content_type,
                body,
                head_only: request.method == Method::Head,
            },
            Err(e) => {
                tracing::error!("rendering {}: {e}", request.path);
                Answer::error(500, "rendering failed")
            }
        }
    }
}

/// Snapshots from the loop; requests arriving together share one.
struct Snapshots<L> {
    handle: L,
    /// The last snapshot asked for, and when.
    asked: Mutex<Option<(Instant, SharedSnapshot)>>,
}

type SharedSnapshot = Shared<BoxFuture<'static, Option<Arc<Snapshot>>>>;

impl<L: LoopHandle> Snapshots<L> {
    /// The daemon's state now; None once the loop is gone.
    async fn get(&self) -> Option<Arc<Snapshot>> {
        let pending = {
            let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
            match &*asked {
                // Still on its way and asked for just now: as fresh as a new one would be.
                Some((at, pending)) if at.elapsed() < SHARE_WINDOW && pending.peek().is_none() => {
                    pending.clone()
                }
                _ => {
                    let handle = self.handle.clone();
                    let pending = async move {
                        let (tx, rx) = oneshot::channel();
                        if !handle.ask(LoopRequest::Snapshot(tx)).await {
                            return None;
                        }
                        rx.await.ok().map(Arc::new)
                    }
                    .boxed()
                    .shared();
                    *asked = Some((Instant::now(), pending.clone()));
                    pending
                }
            }
        };
        pending.await
    }
}

/// The pages served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Page {
    Metrics,
    Status,
    Html,
}

impl Page {
    fn at(path: &str) -> Option<Page> {
        match path {
            "/metrics" => Some(Page::Metrics),
            "/status" => Some(Page::Status),
            "/" => Some(Page::Html),
            _ => None,
        }
    }

    fn render(self, snapshot: &Snapshot, families: Families) -> (&'static str, String) {
        match self {
            Page::Metrics => (
                METRICS_CONTENT_TYPE,
                super::metrics::render(snapshot, families),
            ),
            Page::Status => {
                let mut json = serde_json::to_string_pretty(&snapshot.status_report())
                    .expect("the status report serialises");
                json.push('\n');
                (STATUS_CONTENT_TYPE, json)
            }
            Page::Html => (PAGE_CONTENT_TYPE, super::page::render(snapshot)),
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
    body: String,
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
            body: format!("{text}\n"),
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
