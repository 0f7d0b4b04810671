//! rtnetlink access for the daemon: link lookup, VIP addresses, macvlans (VMACs), routes, rules,
//! and a typed stream of link/address/route/rule events. Every call makes the kernel match what
//! it is told (idempotently) or reports what the kernel holds; nothing here knows about VRRP.
//!
//! Each kernel object has its file, with its types and its own `impl Netlink` block:
//! - `link.rs`: links and macvlans (lookup, create/ensure/find, address generation mode);
//! - `addr.rs`: addresses and their options (label, broadcast, scope, noprefixroute);
//! - `route.rs`: routes and policy rules, and the messages that carry them;
//! - `events.rs`: the event subscription and the decoding of its messages into [`NetEvent`]s.
//!
//! This file holds the [`Netlink`] handle and what the objects share: [`IpFamily`], [`Scope`],
//! prefix checks and the translation of rtnetlink errors into [`SystemError`].

use std::net::IpAddr;

use netlink_packet_route::address::AddressScope;
use netlink_packet_route::route::RouteScope;
use netlink_packet_route::AddressFamily;

use crate::system::error::SystemError;

mod addr;
mod events;
mod link;
mod route;
#[cfg(test)]
mod tests;

pub use addr::{AddressInfo, AddressOptions};
pub use events::{subscribe_events, AddressEvent, LinkEvent, NetEvent, RouteEvent, RuleEvent};
pub use link::{AddrGenMode, LinkInfo, MacvlanOutcome, MacvlanSpec, VmacMode};
pub use route::{RouteKind, RouteSpec, RuleSpec, RuleTarget};

/// Handle on one rtnetlink socket; cheap to clone.
#[derive(Clone)]
pub struct Netlink {
    handle: rtnetlink::Handle,
}

impl Netlink {
    /// Opens an rtnetlink socket in the calling thread's network namespace and spawns its driver
    /// on the current tokio runtime.
    pub fn new() -> Result<Self, SystemError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| SystemError::NoRuntime {
                op: "open rtnetlink".into(),
            })?;
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(|source| SystemError::Io {
                op: "open rtnetlink socket".into(),
                source,
            })?;
        runtime.spawn(connection);
        Ok(Netlink { handle })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    pub fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => IpFamily::V4,
            IpAddr::V6(_) => IpFamily::V6,
        }
    }
    fn netlink(self) -> AddressFamily {
        match self {
            IpFamily::V4 => AddressFamily::Inet,
            IpFamily::V6 => AddressFamily::Inet6,
        }
    }
}

/// Address or route scope, as `ip` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Site,
    Link,
    Host,
    Nowhere,
}

impl Scope {
    fn address_scope(self) -> AddressScope {
        match self {
            Scope::Global => AddressScope::Universe,
            Scope::Site => AddressScope::Site,
            Scope::Link => AddressScope::Link,
            Scope::Host => AddressScope::Host,
            Scope::Nowhere => AddressScope::Nowhere,
        }
    }
    fn route_scope(self) -> RouteScope {
        match self {
            Scope::Global => RouteScope::Universe,
            Scope::Site => RouteScope::Site,
            Scope::Link => RouteScope::Link,
            Scope::Host => RouteScope::Host,
            Scope::Nowhere => RouteScope::NoWhere,
        }
    }
}

/// The errno carried by an rtnetlink error (positive), if it is a kernel NACK.
fn nl_errno(err: &rtnetlink::Error) -> Option<i32> {
    match err {
        rtnetlink::Error::NetlinkError(msg) => msg.code.map(|c| c.get().abs()),
        _ => None,
    }
}

fn map_nl(op: &str, subject: &str, err: rtnetlink::Error) -> SystemError {
    match nl_errno(&err) {
        Some(errno) => SystemError::from_errno(op, subject, errno),
        None => SystemError::Kernel {
            op: op.to_string(),
            errno: 0,
            message: nl_message(&err),
        },
    }
}

/// What an rtnetlink error says, as rtnetlink's `Display` writes it except for an unexpected
/// message, which is named by its type: that `Display` dumps the message with `{:?}`, and calling
/// it links the derived `Debug` of every netlink-packet-route type into the binary (~400 KB of
/// code, which the kernel maps into vipd's RSS whole).
fn nl_message(err: &rtnetlink::Error) -> String {
    use rtnetlink::Error as E;
    match err {
        E::UnexpectedMessage(msg) => format!(
            "Received an unexpected message (netlink message type {})",
            msg.header.message_type
        ),
        E::NetlinkError(msg) => format!("Received a netlink error message {msg}"),
        E::RequestFailed => "A netlink request failed".to_owned(),
        E::NamespaceError(why) => format!("Namespace error {why}"),
        E::InvalidHardwareAddress(addr) => {
            format!(
                "Received a link message with an invalid hardware address attribute: {addr:02x?}"
            )
        }
        E::InvalidIp(addr) => format!("Failed to parse an IP address: {addr:?}"),
        E::InvalidAddress(ip, mask) => {
            format!("Failed to parse a network address (IP and mask): {ip:?}/{mask:?}")
        }
        E::InvalidNla(nla) => format!("Attempting to set an invalid NLA: {nla}"),
    }
}

fn check_prefix(op: &str, addr: &IpAddr, prefix_len: u8) -> Result<(), SystemError> {
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if prefix_len > max {
        return Err(SystemError::Invalid {
            op: op.into(),
            why: format!("prefix length {prefix_len} exceeds {max}"),
        });
    }
    Ok(())
}
