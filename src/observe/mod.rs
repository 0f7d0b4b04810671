//! Observation: one statistics source per instance ([`stats`]), the last transitions
//! ([`history`]), the read-only [`Snapshot`] the event loop hands out, and what is rendered from
//! it: `vipd status` text and JSON ([`status`]), Prometheus families ([`metrics`]), the status
//! page ([`page`]), and the HTTP listener serving them ([`http`]); which log records are written
//! ([`logging`]). Nothing here locks or waits on the event loop.

pub mod history;
pub mod hooks;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod page;
pub mod snapshot;
pub mod stats;
pub mod status;

pub use snapshot::Snapshot;
