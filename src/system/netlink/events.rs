//! The event subscription: link, address, route and rule changes, decoded into [`NetEvent`]s.

use std::net::IpAddr;

use futures::StreamExt;
use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::rule::{RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::sys::AsyncSocket;
use rtnetlink::MulticastGroup;
use tokio::sync::mpsc;

use super::addr::address_info;
use super::link::link_info;
use super::{IpFamily, Netlink};
use crate::system::error::SystemError;

/// A link appeared, changed or disappeared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEvent {
    pub ifindex: u32,
    pub name: String,
    /// IFF_UP and IFF_RUNNING: usable for VRRP.
    pub up: bool,
    pub removed: bool,
}

/// An address was added to or removed from an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressEvent {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub prefix: u8,
    pub removed: bool,
    /// IPv6 duplicate address detection has not finished (or failed): not usable yet.
    pub tentative: bool,
}

/// A route was added or removed (only what a reconciler needs to spot its own routes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEvent {
    pub table: u32,
    /// `None` for a default route.
    pub dst: Option<IpAddr>,
    pub prefix: u8,
    pub removed: bool,
}

/// A policy rule was added or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleEvent {
    pub family: IpFamily,
    pub table: u32,
    pub priority: Option<u32>,
    pub removed: bool,
}

/// What the event stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    Link(LinkEvent),
    Address(AddressEvent),
    Route(RouteEvent),
    Rule(RuleEvent),
}

impl Netlink {
    /// Subscribes to link, IPv4/IPv6 address, route and rule changes. Each change arrives as a
    /// [`NetEvent`] on the returned channel; the subscription ends when the receiver is dropped.
    /// Uses its own netlink socket in the calling thread's network namespace.
    pub fn subscribe(&self) -> Result<mpsc::Receiver<NetEvent>, SystemError> {
        subscribe_events()
    }
}

const EVENT_SOCKET_BUFFER: i32 = 4 * 1024 * 1024;

/// See [`Netlink::subscribe`].
pub fn subscribe_events() -> Result<mpsc::Receiver<NetEvent>, SystemError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| SystemError::NoRuntime {
        op: "subscribe to netlink events".into(),
    })?;
    let groups = [
        MulticastGroup::Link,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
        MulticastGroup::Ipv4Route,
        MulticastGroup::Ipv6Route,
        MulticastGroup::Ipv4Rule,
        MulticastGroup::Ipv6Rule,
    ];
    let (mut connection, _handle, mut messages) = rtnetlink::new_multicast_connection(&groups)
        .map_err(|source| SystemError::Io {
            op: "subscribe to netlink events".into(),
            source,
        })?;
    // Link flaps come in bursts; a large buffer makes a kernel-side overrun (lost events) rare.
    // Best effort: the kernel caps it at net.core.rmem_max.
    if let Err(e) = connection
        .socket_mut()
        .socket_mut()
        .set_rx_buf_sz(EVENT_SOCKET_BUFFER)
    {
        tracing::debug!(error = %e, "could not enlarge the netlink event socket buffer");
    }
    let (sender, receiver) = mpsc::channel(1024);
    runtime.spawn(async move {
        // The connection lives inside this task so that it is dropped, closing the socket,
        // once nobody listens any more.
        let forward = async {
            while let Some((message, _)) = messages.next().await {
                let inner = match message.payload {
                    NetlinkPayload::InnerMessage(inner) => inner,
                    NetlinkPayload::Overrun(_) => {
                        tracing::warn!(
                            "netlink event socket overran: some link/address events were lost"
                        );
                        continue;
                    }
                    _ => continue,
                };
                if let Some(event) = net_event(inner) {
                    if sender.send(event).await.is_err() {
                        return;
                    }
                }
            }
        };
        tokio::select! {
            _ = connection => {}
            _ = forward => {}
        }
    });
    Ok(receiver)
}

fn net_event(message: RouteNetlinkMessage) -> Option<NetEvent> {
    match message {
        RouteNetlinkMessage::NewLink(link) => Some(NetEvent::Link(link_event(&link, false))),
        RouteNetlinkMessage::DelLink(link) => Some(NetEvent::Link(link_event(&link, true))),
        RouteNetlinkMessage::NewAddress(addr) => address_event(&addr, false),
        RouteNetlinkMessage::DelAddress(addr) => address_event(&addr, true),
        RouteNetlinkMessage::NewRoute(route) => Some(route_event(&route, false)),
        RouteNetlinkMessage::DelRoute(route) => Some(route_event(&route, true)),
        RouteNetlinkMessage::NewRule(rule) => rule_event(&rule, false),
        RouteNetlinkMessage::DelRule(rule) => rule_event(&rule, true),
        _ => None,
    }
}

fn link_event(message: &LinkMessage, removed: bool) -> LinkEvent {
    let info = link_info(message);
    LinkEvent {
        ifindex: info.ifindex,
        name: info.name,
        up: info.oper_up && !removed,
        removed,
    }
}

fn address_event(message: &AddressMessage, removed: bool) -> Option<NetEvent> {
    let info = address_info(message)?;
    Some(NetEvent::Address(AddressEvent {
        ifindex: info.ifindex,
        addr: info.addr,
        prefix: info.prefix_len,
        removed,
        tentative: info.tentative || info.dad_failed,
    }))
}

fn route_event(message: &RouteMessage, removed: bool) -> NetEvent {
    let mut table = u32::from(message.header.table);
    let mut dst = None;
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(RouteAddress::Inet(a)) => dst = Some(IpAddr::V4(*a)),
            RouteAttribute::Destination(RouteAddress::Inet6(a)) => dst = Some(IpAddr::V6(*a)),
            _ => {}
        }
    }
    NetEvent::Route(RouteEvent {
        table,
        dst,
        prefix: message.header.destination_prefix_length,
        removed,
    })
}

fn rule_event(message: &RuleMessage, removed: bool) -> Option<NetEvent> {
    let family = match message.header.family {
        AddressFamily::Inet => IpFamily::V4,
        AddressFamily::Inet6 => IpFamily::V6,
        _ => return None,
    };
    let mut table = u32::from(message.header.table);
    let mut priority = None;
    for attribute in &message.attributes {
        match attribute {
            RuleAttribute::Table(t) => table = *t,
            RuleAttribute::Priority(p) => priority = Some(*p),
            _ => {}
        }
    }
    Some(NetEvent::Rule(RuleEvent {
        family,
        table,
        priority,
        removed,
    }))
}
