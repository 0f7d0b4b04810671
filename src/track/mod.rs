//! Trackers: what the virtual routers' priorities follow (interfaces, scripts, files, processes, built-in probes).
pub mod probe;
