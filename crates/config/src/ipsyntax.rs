//! keepalived's one-line syntax for virtual addresses, routes and rules
//! (`192.0.2.3/24 dev eth0 label eth0:1`, `0.0.0.0/0 via 203.0.113.1 table 250`,
//! `to all lookup 250 priority 32770`), parsed into typed values.
//!
//! Errors are plain sentences naming the offending token; the caller adds file, line and key.

use std::net::IpAddr;

use crate::model::{Family, Prefix, RouteKind, RuleAction, Scope, Vip, VirtualRoute, VirtualRule};

/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// Checks a Linux interface name without looking at the system.
pub fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("interface name is empty".into());
    }
    if name.len() > MAX_IFNAME_LEN {
        return Err(format!(
            "interface name \"{name}\" is longer than Linux's {MAX_IFNAME_LEN} characters"
        ));
    }
    if name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c == ':')
    {
        return Err(format!(
            "\"{name}\" is not a valid interface name (no '/', ':' or spaces)"
        ));
    }
    Ok(())
}

/// Parses an address (no prefix length).
pub fn parse_ip(token: &str) -> Result<IpAddr, String> {
    token
        .parse::<IpAddr>()
        .map_err(|_| format!("\"{token}\" is not an IPv4 or IPv6 address"))
}

/// Parses `ADDR[/LEN]`; a missing length means a host prefix.
pub fn parse_addr_len(token: &str) -> Result<(IpAddr, u8), String> {
    let (addr_text, len_text) = match token.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (token, None),
    };
    let addr = parse_ip(addr_text)?;
    let max = max_len(&addr);
    let len = match len_text {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => {
                return Err(format!(
                    "\"{token}\": prefix length \"{l}\" is not a number from 0 to {max}"
                ))
            }
        },
    };
    Ok((addr, len))
}

fn max_len(addr: &IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// Parses a network prefix; host bits must be clear, as the kernel demands for routes and rules.
pub fn parse_prefix(token: &str) -> Result<Prefix, String> {
    let (addr, len) = parse_addr_len(token)?;
    let network = mask(addr, len);
    if network != addr {
        return Err(format!(
            "\"{token}\" has host bits set; the network is {network}/{len}"
        ));
    }
    Ok(Prefix { addr, len })
}

fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// Parses a number in decimal or `0x` hex.
pub fn parse_u32(token: &str) -> Option<u32> {
    match token
        .strip_prefix("0x")
        .or_else(|| token.strip_prefix("0X"))
    {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => token.parse().ok(),
    }
}

/// Parses a routing table: a number 1..=2^32-1 or `main`, `local`, `default`.
/// Names from /etc/iproute2/rt_tables are not read: parsing never touches the system.
pub fn parse_table(token: &str) -> Result<u32, String> {
    match token {
        "main" => Ok(254),
        "local" => Ok(255),
        "default" => Ok(253),
        _ => match parse_u32(token) {
            Some(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "table \"{token}\" is not a number from 1 to 4294967295 (or main, local, default)"
            )),
        },
    }
}

pub fn parse_scope(token: &str) -> Result<Scope, String> {
    match token {
        "global" | "universe" => Ok(Scope::Global),
        "site" => Ok(Scope::Site),
        "link" => Ok(Scope::Link),
        "host" => Ok(Scope::Host),
        "nowhere" => Ok(Scope::Nowhere),
        _ => Err(format!(
            "scope \"{token}\" is not one of global, site, link, host, nowhere"
        )),
    }
}

/// A cursor over the words of one entry, for "keyword needs a value" messages.
struct Words<'a> {
    words: std::iter::Peekable<std::str::SplitWhitespace<'a>>,
}

impl<'a> Words<'a> {
    fn new(text: &'a str) -> Self {
        Words {
            words: text.split_whitespace().peekable(),
        }
    }
    fn next(&mut self) -> Option<&'a str> {
        self.words.next()
    }
    fn value_of(&mut self, keyword: &str) -> Result<&'a str, String> {
        self.words
            .next()
            .ok_or_else(|| format!("\"{keyword}\" needs a value after it"))
    }
}

fn unsupported(token: &str, what: &str) -> String {
    format!("\"{token}\" (keepalived's {what} option) is not supported by vipd")
}

/// Parses a `virtual_ipaddress` line:
/// `<addr>[/len] [dev X] [label L] [brd B] [scope S] [no_track] [noprefixroute] [-nodad] [preferred_lft N|forever]`.
pub fn parse_vip(text: &str) -> Result<Vip, String> {
    let mut words = Words::new(text);
    let first = words.next().ok_or("empty address entry")?;
    let (addr, prefix_len) = parse_addr_len(first)?;
    let mut vip = Vip {
        addr,
        prefix_len,
        dev: None,
        label: None,
        broadcast: None,
        scope: None,
        no_track: false,
        no_prefix_route: false,
    };
    while let Some(token) = words.next() {
        match token {
            "dev" => {
                let dev = words.value_of(token)?;
                check_ifname(dev)?;
                vip.dev = Some(dev.to_owned());
            }
            "label" => {
                let label = words.value_of(token)?;
                if label.len() > MAX_IFNAME_LEN {
                    return Err(format!(
                        "label \"{label}\" is longer than Linux's {MAX_IFNAME_LEN} characters"
                    ));
                }
                vip.label = Some(label.to_owned());
            }
            "brd" | "broadcast" => {
                let brd = parse_ip(words.value_of(token)?)?;
                if addr.is_ipv6() {
                    return Err(format!(
                        "\"{token}\": IPv6 has no broadcast address (brd applies to IPv4 addresses only)"
                    ));
                }
                if Family::of(&brd) != Family::of(&addr) {
                    return Err(format!("broadcast {brd} is not of the address's family"));
                }
                vip.broadcast = Some(brd);
            }
            "scope" => vip.scope = Some(parse_scope(words.value_of(token)?)?),
            "no_track" => vip.no_track = true,
            "noprefixroute" => vip.no_prefix_route = true,
            // vipd always adds VIPs without duplicate address detection.
            "-nodad" | "nodad" => {}
            "preferred_lft" => {
                let lft = words.value_of(token)?;
                if lft != "forever" && lft.parse::<u32>().is_err() {
                    return Err(format!("preferred_lft \"{lft}\" is not a number or forever"));
                }
            }
            "peer" | "home" | "mngtmpaddr" | "autojoin" | "use_vmac" | "track_group" => {
                return Err(unsupported(token, "virtual_ipaddress"))
            }
            _ => {
                return Err(format!(
                    "unexpected \"{token}\" (expected dev, label, brd, scope, no_track, noprefixroute, -nodad or preferred_lft)"
                ))
            }
        }
    }
    Ok(vip)
}

/// Parses a `virtual_routes` line:
/// `[blackhole|unreachable|prohibit|throw] [src IP] [to] PREFIX [via|gw IP] [dev X] [table T]
///  [metric|priority|preference N] [scope S] [onlink] [no_track]`.
/// `instance_family` is used for `default` when nothing else says the family.
pub fn parse_route(text: &str, instance_family: Family) -> Result<VirtualRoute, String> {
    let mut words = Words::new(text);
    let mut kind = None;
    let mut to: Option<Result<Prefix, ()>> = None; // Err(()) = "default", family still open
    let mut route = VirtualRoute {
        kind: RouteKind::Unicast,
        family: instance_family,
        to: Prefix {
            addr: IpAddr::from([0, 0, 0, 0]),
            len: 0,
        },
        via: None,
        dev: None,
        src: None,
        table: None,
        metric: None,
        scope: None,
        onlink: false,
        no_track: false,
    };
    let set_to = |token: &str, to: &mut Option<Result<Prefix, ()>>| -> Result<(), String> {
        if to.is_some() {
            return Err(format!("a second destination \"{token}\""));
        }
        *to = Some(if token == "default" {
            Err(())
        } else {
            Ok(parse_prefix(token)?)
        });
        Ok(())
    };
    while let Some(token) = words.next() {
        match token {
            "unicast" | "blackhole" | "unreachable" | "prohibit" | "throw" => {
                if kind.is_some() || to.is_some() {
                    return Err(format!("route type \"{token}\" must come first, and once"));
                }
                kind = Some(match token {
                    "blackhole" => RouteKind::Blackhole,
                    "unreachable" => RouteKind::Unreachable,
                    "prohibit" => RouteKind::Prohibit,
                    "throw" => RouteKind::Throw,
                    _ => RouteKind::Unicast,
                });
            }
            "src" => route.src = Some(parse_ip(words.value_of(token)?)?),
            "to" => set_to(words.value_of(token)?, &mut to)?,
            "via" | "gw" => {
                if route.via.is_some() {
                    return Err(format!("a second gateway \"{token}\""));
                }
                route.via = Some(parse_ip(words.value_of(token)?)?)
            }
            "dev" | "oif" => {
                let dev = words.value_of(token)?;
                check_ifname(dev)?;
                route.dev = Some(dev.to_owned());
            }
            "table" => route.table = Some(parse_table(words.value_of(token)?)?),
            "metric" | "priority" | "preference" => {
                let value = words.value_of(token)?;
                route.metric = Some(
                    parse_u32(value)
                        .ok_or_else(|| format!("{token} \"{value}\" is not a number"))?,
                );
            }
            "scope" => route.scope = Some(parse_scope(words.value_of(token)?)?),
            "onlink" => route.onlink = true,
            "no_track" => route.no_track = true,
            "or" | "nexthop" | "protocol" | "proto" | "tos" | "dsfield" | "mtu" | "advmss"
            | "realms" | "realm" | "encap" | "track_group" | "vrf" | "features" | "expires"
            | "pref" | "rtt" | "rttvar" | "window" | "cwnd" | "initcwnd" | "initrwnd"
            | "hoplimit" | "ssthresh" | "reordering" | "rto_min" | "quickack"
            | "fastopen_no_cookie" | "congctl" | "append" | "lock" => {
                return Err(unsupported(token, "virtual_routes"))
            }
            _ if to.is_none() && (token == "default" || token.contains(['.', ':'])) => {
                set_to(token, &mut to)?
            }
            _ => {
                return Err(format!(
                    "unexpected \"{token}\" (expected a destination prefix, src, via, dev, table, metric, scope, onlink or no_track)"
                ))
            }
        }
    }
    route.kind = kind.unwrap_or_default();
    let hint_family = route
        .via
        .as_ref()
        .or(route.src.as_ref())
        .map(Family::of)
        .unwrap_or(instance_family);
    route.to = match to {
        None => return Err("no destination prefix (write e.g. 0.0.0.0/0 or ::/0)".into()),
        Some(Ok(prefix)) => prefix,
        Some(Err(())) => match hint_family {
            Family::V4 => Prefix {
                addr: IpAddr::from([0, 0, 0, 0]),
                len: 0,
            },
            Family::V6 => Prefix {
                addr: IpAddr::from([0u16; 8]),
                len: 0,
            },
        },
    };
    route.family = Family::of(&route.to.addr);
    for (what, addr) in [("via", route.via), ("src", route.src)] {
        if let Some(addr) = addr {
            if Family::of(&addr) != route.family {
                return Err(format!(
                    "{what} {addr} is {} but the destination {}/{} is {}",
                    Family::of(&addr).name(),
                    route.to.addr,
                    route.to.len,
                    route.family.name()
                ));
            }
        }
    }
    if route.kind != RouteKind::Unicast && (route.via.is_some() || route.dev.is_some()) {
        return Err("a blackhole, unreachable, prohibit or throw route takes no via or dev".into());
    }
    if route.onlink && route.via.is_none() {
        return Err("onlink needs a gateway (via): it says the gateway is on the link".into());
    }
    // The IPv6 kernel ignores a route's scope; the IPv4 one refuses these (checked on Linux 6.x).
    if route.family == Family::V4 {
        match (route.scope, route.via) {
            (Some(Scope::Nowhere), _) => {
                return Err("scope nowhere: Linux refuses IPv4 routes of that scope".into())
            }
            (Some(scope @ (Scope::Link | Scope::Host)), Some(via)) => {
                let name = if scope == Scope::Link { "link" } else { "host" };
                return Err(format!(
                    "scope {name} with via {via}: Linux refuses a gateway route narrower than scope site (use global, the default)"
                ));
            }
            _ => {}
        }
    }
    Ok(route)
}

/// Parses a `virtual_rules` line:
/// `[from PREFIX|all] [to PREFIX|all] (table|lookup T | blackhole | unreachable | prohibit)
///  [priority|preference|pref N] [iif X] [oif X] [fwmark M[/MASK]] [no_track]`.
/// `instance_family` is the rule's family when no address says otherwise (`to all`).
pub fn parse_rule(text: &str, instance_family: Family) -> Result<VirtualRule, String> {
    let mut words = Words::new(text);
    let mut rule = VirtualRule {
        family: instance_family,
        from: None,
        to: None,
        action: RuleAction::Blackhole,
        priority: None,
        iif: None,
        oif: None,
        fwmark: None,
        no_track: false,
    };
    let mut action = None;
    let mut set_action = |a: RuleAction, token: &str| -> Result<(), String> {
        if action.is_some() {
            return Err(format!(
                "a second action \"{token}\" (a rule has one table or type)"
            ));
        }
        action = Some(a);
        Ok(())
    };
    if text.trim().is_empty() {
        return Err("empty rule".into());
    }
    while let Some(token) = words.next() {
        match token {
            "from" | "to" => {
                let value = words.value_of(token)?;
                let prefix = if value == "all" {
                    None
                } else {
                    Some(parse_prefix(value)?)
                };
                let slot = if token == "from" { &mut rule.from } else { &mut rule.to };
                *slot = prefix;
            }
            "table" | "lookup" => set_action(RuleAction::Lookup(parse_table(words.value_of(token)?)?), token)?,
            "blackhole" => set_action(RuleAction::Blackhole, token)?,
            "unreachable" => set_action(RuleAction::Unreachable, token)?,
            "prohibit" => set_action(RuleAction::Prohibit, token)?,
            "priority" | "preference" | "pref" => {
                let value = words.value_of(token)?;
                rule.priority = Some(
                    parse_u32(value)
                        .ok_or_else(|| format!("{token} \"{value}\" is not a number"))?,
                );
            }
            "iif" | "dev" | "oif" => {
                let name = words.value_of(token)?;
                check_ifname(name)?;
                if token == "oif" {
                    rule.oif = Some(name.to_owned());
                } else {
                    rule.iif = Some(name.to_owned());
                }
            }
            "fwmark" => {
                let value = words.value_of(token)?;
                let (mark, mask) = match value.split_once('/') {
                    Some((m, k)) => (parse_u32(m), parse_u32(k)),
                    None => (parse_u32(value), Some(u32::MAX)),
                };
                match (mark, mask) {
                    (Some(mark), Some(mask)) => rule.fwmark = Some((mark, mask)),
                    _ => return Err(format!("fwmark \"{value}\" is not NUMBER[/MASK]")),
                }
            }
            "no_track" => rule.no_track = true,
            "not" | "tos" | "dsfield" | "realms" | "goto" | "suppress_prefixlength"
            | "suppress_ifgroup" | "uidrange" | "ipproto" | "ip_proto" | "sport" | "dport"
            | "l3mdev" | "protocol" | "track_group" | "nat" => {
                return Err(unsupported(token, "virtual_rules"))
            }
            _ => {
                return Err(format!(
                    "unexpected \"{token}\" (expected from, to, table/lookup, priority, iif, oif, fwmark, blackhole, unreachable, prohibit or no_track)"
                ))
            }
        }
    }
    rule.action = action.ok_or(
        "the rule has no action: add table/lookup N, or blackhole, unreachable or prohibit",
    )?;
    let families: Vec<Family> = [rule.from, rule.to]
        .iter()
        .flatten()
        .map(|p| Family::of(&p.addr))
        .collect();
    if let Some(first) = families.first() {
        if families.iter().any(|f| f != first) {
            return Err("from and to are of different address families".into());
        }
        rule.family = *first;
    }
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vip_plain_and_with_options() {
        let v = parse_vip("192.0.2.3/24").unwrap();
        assert_eq!(v.addr, "192.0.2.3".parse::<IpAddr>().unwrap());
        assert_eq!(v.prefix_len, 24);
        assert_eq!(v.dev, None);
        let v = parse_vip("198.51.100.3/24 dev eth0 label eth0:dns").unwrap();
        assert_eq!(v.dev.as_deref(), Some("eth0"));
        assert_eq!(v.label.as_deref(), Some("eth0:dns"));
        let v = parse_vip("2001:db8::3").unwrap();
        assert_eq!(v.prefix_len, 128);
        let v = parse_vip("192.0.2.4 brd 192.0.2.255 scope link no_track -nodad").unwrap();
        assert_eq!(v.prefix_len, 32);
        assert_eq!(v.broadcast, Some("192.0.2.255".parse().unwrap()));
        assert_eq!(v.scope, Some(Scope::Link));
        assert!(v.no_track);
    }

    #[test]
    fn vip_errors_name_the_token() {
        assert!(parse_vip("192.0.2.3/33").unwrap_err().contains("\"33\""));
        assert!(parse_vip("192.0.2.300")
            .unwrap_err()
            .contains("192.0.2.300"));
        assert!(parse_vip("192.0.2.3 frobnicate")
            .unwrap_err()
            .contains("\"frobnicate\""));
        assert!(parse_vip("192.0.2.3 dev")
            .unwrap_err()
            .contains("\"dev\" needs a value"));
        assert!(parse_vip("192.0.2.3 peer 192.0.2.9")
            .unwrap_err()
            .contains("not supported"));
        assert!(parse_vip("192.0.2.3 dev averyveryverylongname")
            .unwrap_err()
            .contains("15"));
        assert!(parse_vip("2001:db8::3/64 brd 2001:db8::ffff")
            .unwrap_err()
            .contains("IPv6 has no broadcast"));
    }

    #[test]
    fn keepalived_vip_line_keeps_every_option() {
        let v = parse_vip(
            "192.0.2.3/24 brd 192.0.2.255 dev eth0 scope link label eth0:1 noprefixroute",
        )
        .unwrap();
        assert_eq!(v.broadcast, Some("192.0.2.255".parse().unwrap()));
        assert_eq!(v.scope, Some(Scope::Link));
        assert_eq!(v.label.as_deref(), Some("eth0:1"));
        assert_eq!(v.dev.as_deref(), Some("eth0"));
        assert!(v.no_prefix_route);
        assert!(!parse_vip("192.0.2.3/24").unwrap().no_prefix_route);
    }

    #[test]
    fn route_forms() {
        let r = parse_route("0.0.0.0/0 via 203.0.113.1 table 250", Family::V4).unwrap();
        assert_eq!(
            r.to,
            Prefix {
                addr: "0.0.0.0".parse().unwrap(),
                len: 0
            }
        );
        assert_eq!(r.via, Some("203.0.113.1".parse().unwrap()));
        assert_eq!(r.table, Some(250));
        assert_eq!(r.kind, RouteKind::Unicast);

        let r = parse_route("blackhole 198.51.100.0/24", Family::V4).unwrap();
        assert_eq!(r.kind, RouteKind::Blackhole);
        assert_eq!(r.to.len, 24);

        let r = parse_route("src 192.0.2.3 to 198.51.100.0/24 dev eth0", Family::V4).unwrap();
        assert_eq!(r.src, Some("192.0.2.3".parse().unwrap()));
        assert_eq!(r.dev.as_deref(), Some("eth0"));

        let r = parse_route("2001:db8:1::/48 via 2001:db8::1 metric 10", Family::V4).unwrap();
        assert_eq!(r.family, Family::V6);
        assert_eq!(r.metric, Some(10));

        let r = parse_route("default gw 2001:db8::1 table main", Family::V4).unwrap();
        assert_eq!(r.to.addr, "::".parse::<IpAddr>().unwrap());
        assert_eq!(r.table, Some(254));
    }

    #[test]
    fn route_errors() {
        assert!(parse_route("198.51.100.1/24 via 192.0.2.1", Family::V4)
            .unwrap_err()
            .contains("host bits"));
        assert!(parse_route("0.0.0.0/0 via 2001:db8::1", Family::V4)
            .unwrap_err()
            .contains("IPv6"));
        assert!(parse_route("via 192.0.2.1", Family::V4)
            .unwrap_err()
            .contains("no destination"));
        assert!(
            parse_route("0.0.0.0/0 via 192.0.2.1 table banana", Family::V4)
                .unwrap_err()
                .contains("\"banana\"")
        );
        assert!(parse_route("0.0.0.0/0 wibble", Family::V4)
            .unwrap_err()
            .contains("\"wibble\""));
        assert!(parse_route("blackhole 0.0.0.0/0 via 192.0.2.1", Family::V4)
            .unwrap_err()
            .contains("no via"));
        assert!(parse_route("198.51.100.0/24 dev eth0 onlink", Family::V4)
            .unwrap_err()
            .contains("onlink needs a gateway"));
        assert!(
            parse_route("198.51.100.0/24 dev eth0 scope nowhere", Family::V4)
                .unwrap_err()
                .contains("scope nowhere")
        );
        for scope in ["link", "host"] {
            let line = format!("0.0.0.0/0 via 192.0.2.1 scope {scope}");
            let error = parse_route(&line, Family::V4).unwrap_err();
            assert!(
                error.contains(&format!("scope {scope} with via")),
                "{error}"
            );
        }
    }

    #[test]
    fn route_types_scope_and_onlink_are_kept() {
        for (word, kind) in [
            ("unreachable", RouteKind::Unreachable),
            ("prohibit", RouteKind::Prohibit),
            ("throw", RouteKind::Throw),
        ] {
            let r = parse_route(&format!("{word} 198.51.100.0/24 table 250"), Family::V4).unwrap();
            assert_eq!(r.kind, kind);
        }
        let r = parse_route(
            "0.0.0.0/0 via 198.51.100.1 dev eth0 onlink scope site",
            Family::V4,
        )
        .unwrap();
        assert!(r.onlink);
        assert_eq!(r.scope, Some(Scope::Site));
        let r = parse_route("192.0.2.77/32 dev eth0 scope host", Family::V4).unwrap();
        assert_eq!(r.scope, Some(Scope::Host));
        // IPv6 routes take any scope word (the kernel ignores it), as with `ip -6 route`.
        assert!(parse_route("2001:db8:1::/48 via 2001:db8::1 scope link", Family::V6).is_ok());
    }

    #[test]
    fn rule_forms() {
        let r = parse_rule("to all lookup 250 priority 32770", Family::V4).unwrap();
        assert_eq!(r.action, RuleAction::Lookup(250));
        assert_eq!(r.priority, Some(32770));
        assert_eq!(r.to, None);
        assert_eq!(r.family, Family::V4);

        let r = parse_rule("from 192.0.2.0/24 table 100 priority 100", Family::V6).unwrap();
        assert_eq!(r.family, Family::V4);
        assert_eq!(r.from.unwrap().len, 24);

        let r = parse_rule(
            "from 2001:db8::/32 iif eth0 fwmark 0x10/0xff unreachable",
            Family::V4,
        )
        .unwrap();
        assert_eq!(r.family, Family::V6);
        assert_eq!(r.fwmark, Some((16, 255)));
        assert_eq!(r.action, RuleAction::Unreachable);
        assert_eq!(r.iif.as_deref(), Some("eth0"));

        let r = parse_rule("to all lookup 250", Family::V6).unwrap();
        assert_eq!(r.family, Family::V6);
    }

    #[test]
    fn rule_errors() {
        assert!(parse_rule("to all priority 5", Family::V4)
            .unwrap_err()
            .contains("no action"));
        assert!(parse_rule("to all lookup 250 priority x", Family::V4)
            .unwrap_err()
            .contains("\"x\""));
        assert!(
            parse_rule("from 192.0.2.0/24 to 2001:db8::/32 table 1", Family::V4)
                .unwrap_err()
                .contains("families")
        );
        assert!(parse_rule("to all lookup 1 bogus", Family::V4)
            .unwrap_err()
            .contains("\"bogus\""));
        assert!(parse_rule("to all lookup 1 table 2", Family::V4)
            .unwrap_err()
            .contains("second action"));
    }
}
