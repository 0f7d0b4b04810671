//! One virtual router's RFC 9568 / RFC 3768 logic as a sans-IO state machine: time comes in,
//! actions and deadlines go out.
//!
//! The caller (the daemon) owns every clock, socket and timer. It feeds a [`Router`] with
//! [`Input`]s stamped with a monotonic [`Micros`] value and applies the [`Action`]s pushed into a
//! buffer it owns; [`Router::next_deadline`] says when to call back with [`Input::Timer`].
//! Adverts arrive already decoded and validated by the wire layer (checksum, TTL/hop limit, length,
//! VRID, authentication), so this crate only holds protocol decisions.
//!
//! [`SyncGroup`] makes several routers follow each other like keepalived's `vrrp_sync_group`.

mod config;
mod heard;
mod router;
mod sync_group;
mod time;
pub mod timing;

pub use config::{
    ConfigError, InitialState, RouterConfig, Track, TrackEffect, TrackStatus, TrackedObject,
    Version,
};
pub use heard::HeardAdvert;
pub use router::{
    Action, Anomaly, Counters, GroupCommand, Input, Reason, ReceivedAdvert, Router, State,
};
pub use sync_group::{MemberAction, SyncGroup};
pub use time::Micros;
