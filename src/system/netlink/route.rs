//! Routes and policy rules as keepalived's `virtual_routes` and `virtual_rules` describe them,
//! and the rtnetlink messages that add or delete them.

use std::net::IpAddr;

use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};

use super::{check_prefix, map_nl, nl_errno, IpFamily, Netlink, Scope};
use crate::system::error::SystemError;

/// A route's type, as `ip route` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
    /// Ends the lookup in this table; policy routing goes on with the next rule.
    Throw,
}

/// A route as keepalived's `virtual_routes` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub dst: IpAddr,
    pub prefix_len: u8,
    pub via: Option<IpAddr>,
    pub dev: Option<u32>,
    /// 254 is `main`.
    pub table: u32,
    pub metric: Option<u32>,
    pub src: Option<IpAddr>,
    pub kind: RouteKind,
    /// `None`: link for a gatewayless unicast route with a device, else global (as `ip route`).
    pub scope: Option<Scope>,
    /// RTNH_F_ONLINK: the gateway is on the link even if no prefix of the device covers it.
    pub onlink: bool,
}

impl RouteSpec {
    /// A unicast route in table main with nothing else set.
    pub fn new(dst: IpAddr, prefix_len: u8) -> Self {
        RouteSpec {
            dst,
            prefix_len,
            via: None,
            dev: None,
            table: 254,
            metric: None,
            src: None,
            kind: RouteKind::Unicast,
            scope: None,
            onlink: false,
        }
    }
}

/// What a policy rule does with the packets it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleTarget {
    /// Look the packet up in this routing table.
    Lookup(u32),
    Blackhole,
    Unreachable,
    Prohibit,
}

impl std::fmt::Display for RuleTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuleTarget::Lookup(table) => write!(f, "lookup {table}"),
            RuleTarget::Blackhole => f.write_str("blackhole"),
            RuleTarget::Unreachable => f.write_str("unreachable"),
            RuleTarget::Prohibit => f.write_str("prohibit"),
        }
    }
}

/// A policy rule as keepalived's `virtual_rules` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub family: IpFamily,
    pub from: Option<(IpAddr, u8)>,
    pub to: Option<(IpAddr, u8)>,
    pub target: RuleTarget,
    pub priority: Option<u32>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    /// fwmark and optional mask.
    pub fwmark: Option<(u32, Option<u32>)>,
}

impl RuleSpec {
    /// `<family> lookup <table>` with no selector.
    pub fn lookup(family: IpFamily, table: u32) -> Self {
        Self::new(family, RuleTarget::Lookup(table))
    }

    /// `<family> <target>` with no selector.
    pub fn new(family: IpFamily, target: RuleTarget) -> Self {
        RuleSpec {
            family,
            from: None,
            to: None,
            target,
            priority: None,
            iif: None,
            oif: None,
            fwmark: None,
        }
    }
}

impl Netlink {
    /// Adds a route; already present is success.
    pub async fn add_route(&self, spec: &RouteSpec) -> Result<(), SystemError> {
        let op = format!(
            "add route {}/{} table {}",
            spec.dst, spec.prefix_len, spec.table
        );
        let message = route_message(&op, spec, false)?;
        match self.handle.route().add(message).execute().await {
            Ok(()) => Ok(()),
            Err(e) if nl_errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(map_nl(&op, &route_dev(spec), e)),
        }
    }

    /// Deletes a route; already absent is success.
    pub async fn delete_route(&self, spec: &RouteSpec) -> Result<(), SystemError> {
        let op = format!(
            "delete route {}/{} table {}",
            spec.dst, spec.prefix_len, spec.table
        );
        let message = route_message(&op, spec, true)?;
        match self.handle.route().del(message).execute().await {
            Ok(()) => Ok(()),
            Err(e) if matches!(nl_errno(&e), Some(libc::ESRCH) | Some(libc::ENOENT)) => Ok(()),
            Err(e) => Err(map_nl(&op, &route_dev(spec), e)),
        }
    }

    /// Adds a policy rule; already present is success.
    pub async fn add_rule(&self, spec: &RuleSpec) -> Result<(), SystemError> {
        let op = format!("add rule {}", spec.target);
        let message = rule_message(&op, spec)?;
        let mut request = self.handle.rule().add();
        *request.message_mut() = message;
        match request.execute().await {
            Ok(()) => Ok(()),
            Err(e) if nl_errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(map_nl(&op, "", e)),
        }
    }

    /// Deletes a policy rule; already absent is success.
    pub async fn delete_rule(&self, spec: &RuleSpec) -> Result<(), SystemError> {
        let op = format!("delete rule {}", spec.target);
        let message = rule_message(&op, spec)?;
        match self.handle.rule().del(message).execute().await {
            Ok(()) => Ok(()),
            Err(e) if nl_errno(&e) == Some(libc::ENOENT) => Ok(()),
            Err(e) => Err(map_nl(&op, "", e)),
        }
    }
}

fn route_dev(spec: &RouteSpec) -> String {
    spec.dev.map(|d| format!("#{d}")).unwrap_or_default()
}

fn route_message(
    op: &str,
    spec: &RouteSpec,
    for_delete: bool,
) -> Result<RouteMessage, SystemError> {
    check_prefix(op, &spec.dst, spec.prefix_len)?;
    let family = IpFamily::of(&spec.dst);
    for other in [spec.via, spec.src].into_iter().flatten() {
        if IpFamily::of(&other) != family {
            return Err(SystemError::Invalid {
                op: op.into(),
                why: format!("{other} is not of the same family as {}", spec.dst),
            });
        }
    }
    let mut message = RouteMessage::default();
    let header = &mut message.header;
    header.address_family = family.netlink();
    header.destination_prefix_length = spec.prefix_len;
    header.protocol = RouteProtocol::Static;
    header.kind = match spec.kind {
        RouteKind::Unicast => RouteType::Unicast,
        RouteKind::Blackhole => RouteType::BlackHole,
        RouteKind::Unreachable => RouteType::Unreachable,
        RouteKind::Prohibit => RouteType::Prohibit,
        RouteKind::Throw => RouteType::Throw,
    };
    if spec.kind != RouteKind::Unicast && (spec.via.is_some() || spec.dev.is_some()) {
        return Err(SystemError::Invalid {
            op: op.into(),
            why: "a blackhole, unreachable, prohibit or throw route takes no gateway or device"
                .into(),
        });
    }
    if spec.onlink && spec.via.is_none() {
        return Err(SystemError::Invalid {
            op: op.into(),
            why: "onlink needs a gateway (via)".into(),
        });
    }
    header.scope = if for_delete {
        // RT_SCOPE_NOWHERE matches a route of any scope on delete, as `ip route del` does.
        RouteScope::NoWhere
    } else if let Some(scope) = spec.scope {
        scope.route_scope()
    } else if spec.kind == RouteKind::Unicast && spec.via.is_none() && spec.dev.is_some() {
        RouteScope::Link
    } else {
        RouteScope::Universe
    };
    if spec.onlink {
        header.flags |= RouteFlags::Onlink;
    }
    if spec.table > 255 {
        header.table = RouteHeader::RT_TABLE_UNSPEC;
        message.attributes.push(RouteAttribute::Table(spec.table));
    } else {
        header.table = spec.table as u8;
    }
    if spec.prefix_len > 0 {
        message
            .attributes
            .push(RouteAttribute::Destination(RouteAddress::from(spec.dst)));
    }
    if let Some(via) = spec.via {
        message
            .attributes
            .push(RouteAttribute::Gateway(RouteAddress::from(via)));
    }
    if let Some(dev) = spec.dev {
        message.attributes.push(RouteAttribute::Oif(dev));
    }
    if let Some(metric) = spec.metric {
        message.attributes.push(RouteAttribute::Priority(metric));
    }
    if let Some(src) = spec.src {
        message
            .attributes
            .push(RouteAttribute::PrefSource(RouteAddress::from(src)));
    }
    Ok(message)
}

fn rule_message(op: &str, spec: &RuleSpec) -> Result<RuleMessage, SystemError> {
    let mut message = RuleMessage::default();
    message.header.family = spec.family.netlink();
    message.header.action = match spec.target {
        RuleTarget::Lookup(_) => RuleAction::ToTable,
        RuleTarget::Blackhole => RuleAction::Blackhole,
        RuleTarget::Unreachable => RuleAction::Unreachable,
        RuleTarget::Prohibit => RuleAction::Prohibit,
    };
    for (selector, is_src) in [(spec.from, true), (spec.to, false)] {
        let Some((addr, len)) = selector else {
            continue;
        };
        check_prefix(op, &addr, len)?;
        if IpFamily::of(&addr) != spec.family {
            return Err(SystemError::Invalid {
                op: op.into(),
                why: format!("{addr} is not of the rule's family"),
            });
        }
        if is_src {
            message.header.src_len = len;
            message.attributes.push(RuleAttribute::Source(addr));
        } else {
            message.header.dst_len = len;
            message.attributes.push(RuleAttribute::Destination(addr));
        }
    }
    // A rule that is not a lookup has no table (RT_TABLE_UNSPEC, as `ip rule` sends it).
    if let RuleTarget::Lookup(table) = spec.target {
        message.header.table = if table > 255 {
            RouteHeader::RT_TABLE_UNSPEC
        } else {
            table as u8
        };
        message.attributes.push(RuleAttribute::Table(table));
    }
    if let Some(priority) = spec.priority {
        message.attributes.push(RuleAttribute::Priority(priority));
    }
    if let Some(iif) = &spec.iif {
        message.attributes.push(RuleAttribute::Iifname(iif.clone()));
    }
    if let Some(oif) = &spec.oif {
        message.attributes.push(RuleAttribute::Oifname(oif.clone()));
    }
    if let Some((mark, mask)) = spec.fwmark {
        message.attributes.push(RuleAttribute::FwMark(mark));
        if let Some(mask) = mask {
            message.attributes.push(RuleAttribute::FwMask(mask));
        }
    }
    Ok(message)
}
