//! Observation: one statistics source per instance ([`stats`]), the read-only [`Snapshot`] the
//! event loop hands out, and what is rendered from it: `vipd status` text and JSON ([`status`]),
//! and `/metrics` ([`metrics`]). Nothing here locks or waits on the event loop.

pub mod metrics;
pub mod snapshot;
pub mod stats;
pub mod status;

pub use snapshot::Snapshot;
