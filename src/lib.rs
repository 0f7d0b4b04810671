//! vipd: a VRRP daemon for Linux. The library holds the parts the `vipd` binary is made of.

pub mod cli;
pub mod daemon;
pub mod hooks;
pub mod import;
pub mod observe;
pub mod operate;
pub mod sniff;
pub mod system;
pub mod track;
