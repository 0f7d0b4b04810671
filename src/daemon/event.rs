//! What reaches the event loop through its mailbox, one variant per quiet source (the sockets and
//! the deadline timer are read by the loop itself).

use super::control::ControlRequest;
use super::worker::Report;
use crate::system::netlink::NetEvent;

pub enum Event {
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
}
