//! What a master puts in place (its VIPs, virtual routes, virtual rules and no_accept firewall
//! entries), in the system layer's terms, and how the worker installs and removes it through
//! rtnetlink and nftables, in order.

use std::net::IpAddr;

use vipd_config as config;

use crate::system::error::SystemError;
use crate::system::netlink::{
    AddressOptions, IpFamily, Netlink, RouteKind, RouteSpec, RuleSpec, RuleTarget, Scope,
};
use crate::system::nft::NftTable;

/// One virtual address as the system layer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipSpec {
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub label: Option<String>,
    /// keepalived's `dev`: another interface than the instance's.
    pub dev: Option<String>,
    /// `label`, `brd`, `scope`, `noprefixroute`.
    pub options: AddressOptions,
}

impl From<&config::Vip> for VipSpec {
    fn from(vip: &config::Vip) -> Self {
        VipSpec {
            addr: vip.addr,
            prefix_len: vip.prefix_len,
            label: vip.label.clone(),
            dev: vip.dev.clone(),
            options: address_options(vip),
        }
    }
}

impl VipSpec {
    /// How the address is added (label, and the defaults for what VipSpec does not carry).
    pub fn address_options(&self) -> AddressOptions {
        self.options.clone()
    }
}

/// keepalived's address options of a configured VIP, as rtnetlink takes them.
pub fn address_options(vip: &config::Vip) -> AddressOptions {
    AddressOptions {
        label: vip.label.clone(),
        broadcast: match vip.broadcast {
            Some(IpAddr::V4(broadcast)) => Some(broadcast),
            // The configuration refuses a broadcast on an IPv6 address.
            _ => None,
        },
        scope: vip.scope.map(scope),
        no_prefix_route: vip.no_prefix_route,
    }
}

fn scope(scope: config::Scope) -> Scope {
    match scope {
        config::Scope::Global => Scope::Global,
        config::Scope::Site => Scope::Site,
        config::Scope::Link => Scope::Link,
        config::Scope::Host => Scope::Host,
        config::Scope::Nowhere => Scope::Nowhere,
    }
}

/// Everything an instance puts in place while it is master.
#[derive(Debug, Clone, Default)]
pub struct MasterResources {
    pub vips: Vec<VipSpec>,
    pub routes: Vec<config::VirtualRoute>,
    pub rules: Vec<config::VirtualRule>,
    /// Addresses to put in the no_accept drop set (empty in accept mode).
    pub drop_set: Vec<IpAddr>,
}

/// Addresses first (routes may use them as source or gateway), then routes, then rules, then the
/// firewall: the reverse of `remove`.
pub(super) async fn install(
    netlink: &Netlink,
    nft: Option<&NftTable>,
    ifindex: u32,
    resources: &MasterResources,
) -> Vec<SystemError> {
    let mut errors = Vec::new();
    for vip in &resources.vips {
        let on = vip_interface(netlink, vip, ifindex).await;
        if let Err(e) = netlink
            .add_address(on, vip.addr, vip.prefix_len, &vip.address_options())
            .await
        {
            errors.push(e);
        }
    }
    for route in &resources.routes {
        match route_spec(netlink, route).await {
            Ok(spec) => {
                if let Err(e) = netlink.add_route(&spec).await {
                    errors.push(e);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    for rule in &resources.rules {
        match rule_spec(rule) {
            Ok(spec) => {
                if let Err(e) = netlink.add_rule(&spec).await {
                    errors.push(e);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if let Some(nft) = nft {
        for addr in &resources.drop_set {
            if let Err(e) = nft.add_vip(*addr).await {
                errors.push(e);
            }
        }
    }
    errors
}

pub(super) async fn remove(
    netlink: &Netlink,
    nft: Option<&NftTable>,
    ifindex: u32,
    resources: &MasterResources,
) -> Vec<SystemError> {
    let mut errors = Vec::new();
    if let Some(nft) = nft {
        for addr in &resources.drop_set {
            if let Err(e) = nft.remove_vip(*addr).await {
                errors.push(e);
            }
        }
    }
    for rule in &resources.rules {
        if let Ok(spec) = rule_spec(rule) {
            if let Err(e) = netlink.delete_rule(&spec).await {
                errors.push(e);
            }
        }
    }
    for route in &resources.routes {
        // A route over an interface that is gone went with it.
        if let Ok(spec) = route_spec(netlink, route).await {
            if let Err(e) = netlink.delete_route(&spec).await {
                if !is_gone(&e) {
                    errors.push(e);
                }
            }
        }
    }
    for vip in &resources.vips {
        let on = vip_interface(netlink, vip, ifindex).await;
        if let Err(e) = netlink.delete_address(on, vip.addr, vip.prefix_len).await {
            if !is_gone(&e) {
                errors.push(e);
            }
        }
    }
    errors
}

fn is_gone(error: &SystemError) -> bool {
    matches!(
        error.errno(),
        Some(libc::ENODEV) | Some(libc::ESRCH) | Some(libc::ENOENT)
    )
}

/// A VIP goes on the instance's interface (or VMAC) unless its own `dev` names another one.
async fn vip_interface(netlink: &Netlink, vip: &VipSpec, default: u32) -> u32 {
    match &vip.dev {
        Some(dev) => netlink
            .link_by_name(dev)
            .await
            .map(|link| link.ifindex)
            .unwrap_or(default),
        None => default,
    }
}

async fn route_spec(
    netlink: &Netlink,
    route: &config::VirtualRoute,
) -> Result<RouteSpec, SystemError> {
    let mut spec = RouteSpec::new(route.to.addr, route.to.len);
    spec.via = route.via;
    spec.src = route.src;
    spec.metric = route.metric;
    if let Some(table) = route.table {
        spec.table = table;
    }
    spec.kind = route_kind(route.kind);
    spec.scope = route.scope.map(scope);
    spec.onlink = route.onlink;
    if let Some(dev) = &route.dev {
        spec.dev = Some(netlink.link_by_name(dev).await?.ifindex);
    }
    Ok(spec)
}

fn route_kind(kind: config::RouteKind) -> RouteKind {
    match kind {
        config::RouteKind::Unicast => RouteKind::Unicast,
        config::RouteKind::Blackhole => RouteKind::Blackhole,
        config::RouteKind::Unreachable => RouteKind::Unreachable,
        config::RouteKind::Prohibit => RouteKind::Prohibit,
        config::RouteKind::Throw => RouteKind::Throw,
    }
}

/// The system layer's name for a configured address family.
pub fn family(family: config::Family) -> IpFamily {
    match family {
        config::Family::V4 => IpFamily::V4,
        config::Family::V6 => IpFamily::V6,
    }
}

fn rule_spec(rule: &config::VirtualRule) -> Result<RuleSpec, SystemError> {
    let family = family(rule.family);
    let target = match rule.action {
        config::RuleAction::Lookup(table) => RuleTarget::Lookup(table),
        config::RuleAction::Blackhole => RuleTarget::Blackhole,
        config::RuleAction::Unreachable => RuleTarget::Unreachable,
        config::RuleAction::Prohibit => RuleTarget::Prohibit,
    };
    let mut spec = RuleSpec::new(family, target);
    spec.from = rule.from.map(|p| (p.addr, p.len));
    spec.to = rule.to.map(|p| (p.addr, p.len));
    spec.priority = rule.priority;
    spec.iif = rule.iif.clone();
    spec.oif = rule.oif.clone();
    spec.fwmark = rule
        .fwmark
        .map(|(mark, mask)| (mark, (mask != u32::MAX).then_some(mask)));
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(yaml_lines: &str) -> config::Instance {
        let yaml = format!(
            "vrrp_instance:\n  VI_1:\n    interface: eth0\n    virtual_router_id: 60\n{yaml_lines}"
        );
        let loaded = config::parse_str(&yaml, "test.yaml").unwrap();
        (*loaded.config.instances[0]).clone()
    }

    #[test]
    fn keepalived_vip_options_reach_the_address_request() {
        let i = instance(
            "    virtual_ipaddress:\n      - 192.0.2.3/24 brd 192.0.2.255 dev eth0 scope link label eth0:1 noprefixroute\n      - 192.0.2.4/24\n",
        );
        let options = address_options(&i.vips[0]);
        assert_eq!(options.broadcast, Some("192.0.2.255".parse().unwrap()));
        assert_eq!(options.scope, Some(Scope::Link));
        assert_eq!(options.label.as_deref(), Some("eth0:1"));
        assert!(options.no_prefix_route);
        assert_eq!(address_options(&i.vips[1]), AddressOptions::default());
        let spec = VipSpec::from(&i.vips[0]);
        assert_eq!((spec.prefix_len, spec.dev.as_deref()), (24, Some("eth0")));
    }

    #[test]
    fn every_rule_action_maps_to_a_netlink_target() {
        let i = instance(
            "    virtual_ipaddress: [192.0.2.3/24]\n    virtual_rules:\n      - from 192.0.2.0/24 blackhole\n      - to 198.51.100.0/24 unreachable priority 7\n      - fwmark 3 prohibit\n      - to all lookup 250\n",
        );
        let targets: Vec<RuleTarget> = i
            .rules
            .iter()
            .map(|r| rule_spec(r).unwrap().target)
            .collect();
        assert_eq!(
            targets,
            [
                RuleTarget::Blackhole,
                RuleTarget::Unreachable,
                RuleTarget::Prohibit,
                RuleTarget::Lookup(250)
            ]
        );
        assert_eq!(rule_spec(&i.rules[1]).unwrap().priority, Some(7));
        for (kind, expected) in [
            (config::RouteKind::Unreachable, RouteKind::Unreachable),
            (config::RouteKind::Prohibit, RouteKind::Prohibit),
            (config::RouteKind::Throw, RouteKind::Throw),
            (config::RouteKind::Blackhole, RouteKind::Blackhole),
        ] {
            assert_eq!(route_kind(kind), expected);
        }
    }
}
