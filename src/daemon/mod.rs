//! The tokio event loop: feeds packets, timers, link events and signals to the routers and applies their
//! actions through `system`; the control socket and status.
