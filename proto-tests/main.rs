//! Namespace-lab integration tests: real vipd (and keepalived / FRR) processes on a bridged lab. Needs root.

mod lab;
mod lab_selftest;
