//! What a router remembers of the last advert another router sent it, so a backup can say who
//! is master now and when it last spoke (`vipd status` answers "which node holds the IP" on
//! either node).

use std::net::IpAddr;

use crate::router::State;
use crate::time::Micros;

/// The last valid advert from another router (not our own, of our family, a non-zero interval).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeardAdvert {
    /// Its source address: the sender's primary address.
    pub src: IpAddr,
    /// The priority it advertised (0: it was leaving Master).
    pub priority: u8,
    /// When it arrived, on the caller's clock.
    pub at: Micros,
}

/// The peer that is master now as a router in `state` sees it: while Backup, whoever last
/// advertised with a non-zero priority (only a master advertises, and a Backup believes it alive
/// until its down timer fires, whether it accepted that advert or is preempting it). A Master is
/// itself the master; Initialize and Fault do not listen.
pub(crate) fn peer_master(state: State, last: Option<HeardAdvert>) -> Option<HeardAdvert> {
    match (state, last) {
        (State::Backup, Some(heard)) if heard.priority > 0 => Some(heard),
        _ => None,
    }
}
