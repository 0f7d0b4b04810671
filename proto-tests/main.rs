//! Namespace-lab integration tests: real vipd (and keepalived / FRR) processes on a bridged lab. Needs root.

mod daemon_basics;
mod daemon_failover;
mod daemon_notify;
mod daemon_reload;
mod daemon_support;
mod daemon_v2_v6_unicast;
mod gateway_dynamic;
mod gateway_failover;
mod gateway_support;
mod gateway_vmac;
mod interop_checksum;
mod interop_frr;
mod interop_keepalived;
mod interop_util;
mod interop_vmac;
mod ipv6_dad;
mod lab;
mod lab_selftest;
mod metrics_http;
mod metrics_prometheus;
mod track_fixtures;
mod track_lab;
mod track_support;
