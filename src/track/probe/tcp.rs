//! The TCP connect probe: passes once the three-way handshake completes; the connection is
//! closed at once.

use std::net::SocketAddr;

use tokio::net::TcpStream;

use super::io_reason;

pub(super) async fn connect(addr: SocketAddr) -> Result<(), String> {
    open(addr).await.map(drop)
}

/// A connected stream, for the HTTP probe too.
pub(super) async fn open(addr: SocketAddr) -> Result<TcpStream, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|error| io_reason(&error))?;
    // The probes write one small request and wait: Nagle would only delay it.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
