//! The control socket: a Unix stream socket (mode 0600) in the runtime directory. A client writes one
//! command line (`status`, `reload`, or a `maintenance` / `handover` command of
//! [`crate::operate`]), the daemon answers with one JSON document and closes the
//! connection. The HTTP listener's requests travel on the same channel to the loop.

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};

use super::main_loop::Daemon;
use crate::observe::http::{LoopHandle, LoopRequest, Settings};
use crate::observe::status::{ReloadReport, StatusReport};
use crate::operate::{Operation, OperationReply};

pub const SOCKET_NAME: &str = "vipd.sock";

/// A request from a control client or the HTTP listener, answered by the event loop.
pub enum ControlRequest {
    Status(oneshot::Sender<StatusReport>),
    /// Re-read the configuration file and apply it.
    Reload(oneshot::Sender<ReloadReport>),
    /// `vipd maintenance` / `vipd handover`: see `maintenance.rs`.
    Operate(Operation, oneshot::Sender<OperationReply>),
    /// From the HTTP listener (`/metrics`, `/status`, `/`): see [`Daemon::on_http_request`].
    Http(LoopRequest),
}

/// The HTTP listener reaches the loop through the control channel.
impl LoopHandle for mpsc::Sender<ControlRequest> {
    async fn ask(&self, request: LoopRequest) -> bool {
        self.send(ControlRequest::Http(request)).await.is_ok()
    }
}

impl Daemon {
    /// Tells the HTTP listener the settings of the configuration now in force, if they changed.
    pub(super) fn publish_http_settings(&self) {
        let Some(sender) = &self.http_settings else {
            return;
        };
        let new = Settings::from_config(&self.config.global);
        sender.send_if_modified(|current| {
            let changed = *current != new;
            *current = new;
            changed
        });
    }

    /// Hands the HTTP listener a snapshot, or records its binding error among the daemon's
    /// errors (those `vipd status` shows).
    pub(super) fn on_http_request(&mut self, request: LoopRequest) {
        match request {
            LoopRequest::Snapshot(reply) => {
                let _ = reply.send(self.snapshot());
            }
            LoopRequest::ListenerError(error) => {
                self.errors
                    .retain(|e| !e.starts_with(crate::observe::http::ERROR_PREFIX));
                self.errors.extend(error);
            }
        }
    }
}

/// How long a client waits for the daemon's answer: a reload may wait for the reconciler to
/// remove the addresses of removed instances before their priority-0 adverts leave.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

pub fn socket_path(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join(SOCKET_NAME)
}

/// Binds the control socket (replacing a stale one, mode 0600 before it is reachable) and serves
/// it until the runtime ends.
pub fn serve(runtime_dir: &Path, requests: mpsc::Sender<ControlRequest>) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(runtime_dir)?;
    let path = socket_path(runtime_dir);
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("another vipd is already serving {}", path.display()),
            ));
        }
        std::fs::remove_file(&path)?;
    }
    let listener = std::sync::Arc::new(super::control_socket::bind_private(&path)?);
    tokio::spawn(super::control_socket::accept_loop(
        move || {
            let listener = listener.clone();
            async move { listener.accept().await.map(|(stream, _)| stream) }
        },
        move |stream| {
            let requests = requests.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(ANSWER_TIMEOUT, answer(stream, requests)).await;
            });
        },
    ));
    Ok(())
}

async fn answer(stream: UnixStream, requests: mpsc::Sender<ControlRequest>) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    // Room for a maintenance command naming many instances.
    BufReader::new(read.take(16 * 1024))
        .read_line(&mut line)
        .await?;
    let reply = match line.trim() {
        "status" => {
            let (tx, rx) = oneshot::channel();
            if requests.send(ControlRequest::Status(tx)).await.is_err() {
                return Ok(());
            }
            match rx.await {
                Ok(report) => serde_json::to_string(&report).map_err(io::Error::other)?,
                Err(_) => return Ok(()),
            }
        }
        "reload" => {
            let (tx, rx) = oneshot::channel();
            if requests.send(ControlRequest::Reload(tx)).await.is_err() {
                return Ok(());
            }
            match rx.await {
                Ok(report) => serde_json::to_string(&report).map_err(io::Error::other)?,
                Err(_) => return Ok(()),
            }
        }
        other => match Operation::parse_line(other) {
            Some(Ok(operation)) => {
                let (tx, rx) = oneshot::channel();
                if requests
                    .send(ControlRequest::Operate(operation, tx))
                    .await
                    .is_err()
                {
                    return Ok(());
                }
                match rx.await {
                    Ok(reply) => serde_json::to_string(&reply).map_err(io::Error::other)?,
                    Err(_) => return Ok(()),
                }
            }
            Some(Err(e)) => {
                serde_json::to_string(&OperationReply::refused(e)).map_err(io::Error::other)?
            }
            None => {
                serde_json::json!({ "error": format!("unknown command {other:?}") }).to_string()
            }
        },
    };
    write.write_all(reply.as_bytes()).await?;
    write.write_all(b"\n").await?;
    write.shutdown().await
}

/// Client side, used by `vipd status`: sends `status` and returns the report.
pub fn query_status(runtime_dir: &Path) -> Result<StatusReport, String> {
    let text = request(runtime_dir, "status", Duration::from_secs(5))?;
    serde_json::from_str(&text).map_err(|e| unreadable(runtime_dir, e))
}

/// Client side, used by `vipd reload`: asks the daemon to reload and returns what it did.
pub fn request_reload(runtime_dir: &Path) -> Result<ReloadReport, String> {
    let text = request(runtime_dir, "reload", ANSWER_TIMEOUT)?;
    serde_json::from_str(&text).map_err(|e| unreadable(runtime_dir, e))
}

fn unreadable(runtime_dir: &Path, e: serde_json::Error) -> String {
    format!(
        "{}: unreadable answer: {e}",
        socket_path(runtime_dir).display()
    )
}

/// Sends one command line and returns the whole answer.
pub(crate) fn request(
    runtime_dir: &Path,
    command: &str,
    timeout: Duration,
) -> Result<String, String> {
    use std::io::{Read, Write};
    let path = socket_path(runtime_dir);
    let mut stream = std::os::unix::net::UnixStream::connect(&path).map_err(|e| {
        format!(
            "cannot reach vipd at {}: {e} (is `vipd run` running with this --runtime-dir?)",
            path.display()
        )
    })?;
    stream.set_read_timeout(Some(timeout)).ok();
    stream
        .write_all(format!("{command}\n").as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if text.is_empty() {
        return Err(format!("{}: vipd closed without answering", path.display()));
    }
    Ok(text)
}
