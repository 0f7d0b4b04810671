//! Real-kernel tests, each in its own network namespace (they need root), one file per object.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::system::testns::TestNs;

use super::AddressOptions;

mod addr;
mod events;
mod link;
mod route;

fn v4(s: &str) -> IpAddr {
    IpAddr::V4(s.parse::<Ipv4Addr>().unwrap())
}
fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
}

fn labelled(label: &str) -> AddressOptions {
    AddressOptions {
        label: Some(label.into()),
        ..AddressOptions::default()
    }
}

/// The `ip -j addr show dev <dev>` entry for `local`, if present.
fn ip_addr_entry(ns: &TestNs, dev: &str, local: &str) -> Option<serde_json::Value> {
    let json = ns.ip_json(&["addr", "show", "dev", dev]);
    json[0]["addr_info"]
        .as_array()?
        .iter()
        .find(|a| a["local"] == local)
        .cloned()
}
