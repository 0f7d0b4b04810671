//! Everything the event loop reacts to, one variant per source.

use super::control::ControlRequest;
use super::receive::SocketId;
use super::worker::Report;
use crate::system::netlink::NetEvent;

pub enum Event {
    /// A batch of datagrams (or an error) was read from a VRRP socket into the daemon's batch.
    Packets {
        socket: SocketId,
        result: std::io::Result<usize>,
    },
    /// The earliest deadline (a router timer, an announcement, a departure wait) has passed.
    Deadline,
    /// A link, address, route or rule changed.
    Net(NetEvent),
    /// The system worker answered a request.
    System(Report),
    /// `vipd status` / `vipd reload` on the control socket.
    Control(ControlRequest),
    /// A tracker's runner observed something.
    Track(crate::track::TrackUpdate),
    /// SIGHUP.
    Reload,
    /// SIGTERM or SIGINT.
    Terminate,
    /// systemd's watchdog is due to be fed.
    Watchdog,
}
