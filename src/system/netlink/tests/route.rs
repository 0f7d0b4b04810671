//! Routes and policy rules.

use super::{v4, v6};
use crate::system::error::SystemError;
use crate::system::netlink::*;
use crate::system::testns::TestNs;

#[test]
fn routes_and_rules_of_both_families_are_added_and_deleted() {
    let ns = TestNs::create();
    ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
    ns.ip(&["link", "set", "d0p", "up"]);
    ns.ip(&["link", "set", "d0", "up"]);
    ns.ip(&["addr", "add", "203.0.113.2/24", "dev", "d0"]);
    ns.ip(&["addr", "add", "2001:db8::2/64", "dev", "d0", "nodad"]);
    let dev = ns.ip_json(&["link", "show", "d0"])[0]["ifindex"]
        .as_u64()
        .unwrap() as u32;
    let routes = vec![
        RouteSpec {
            via: Some(v4("203.0.113.1")),
            table: 250,
            ..RouteSpec::new(v4("0.0.0.0"), 0)
        },
        RouteSpec {
            kind: RouteKind::Blackhole,
            table: 250,
            metric: Some(7),
            ..RouteSpec::new(v4("198.51.100.0"), 24)
        },
        RouteSpec {
            dev: Some(dev),
            src: Some(v4("203.0.113.2")),
            table: 1000,
            ..RouteSpec::new(v4("192.0.2.0"), 24)
        },
        RouteSpec {
            via: Some(v6("2001:db8::1")),
            dev: Some(dev),
            table: 250,
            ..RouteSpec::new(v6("2001:db8:1::"), 48)
        },
    ];
    let rules = vec![
        RuleSpec {
            priority: Some(32770),
            ..RuleSpec::lookup(IpFamily::V4, 250)
        },
        RuleSpec {
            priority: Some(32770),
            ..RuleSpec::lookup(IpFamily::V6, 250)
        },
        RuleSpec {
            from: Some((v4("192.0.2.0"), 24)),
            to: Some((v4("198.51.100.0"), 24)),
            iif: Some("d0".into()),
            fwmark: Some((0x10, Some(0xff))),
            priority: Some(100),
            ..RuleSpec::lookup(IpFamily::V4, 1000)
        },
        RuleSpec {
            oif: Some("d0".into()),
            priority: Some(101),
            ..RuleSpec::lookup(IpFamily::V6, 251)
        },
    ];
    let (r, u) = (routes.clone(), rules.clone());
    ns.run(move || async move {
        let nl = Netlink::new().unwrap();
        for _ in 0..2 {
            for route in &r {
                nl.add_route(route)
                    .await
                    .unwrap_or_else(|e| panic!("{route:?}: {e}"));
            }
            for rule in &u {
                nl.add_rule(rule)
                    .await
                    .unwrap_or_else(|e| panic!("{rule:?}: {e}"));
            }
        }
    });
    let t250 = ns.ip_json(&["route", "show", "table", "250"]);
    let default = t250
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["dst"] == "default")
        .unwrap();
    assert_eq!(default["gateway"], "203.0.113.1");
    let blackhole = t250
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["dst"] == "198.51.100.0/24")
        .unwrap();
    assert_eq!(blackhole["type"], "blackhole");
    assert_eq!(blackhole["metric"], 7);
    let t1000 = ns.ip_json(&["route", "show", "table", "1000"]);
    assert_eq!(t1000[0]["dst"], "192.0.2.0/24");
    assert_eq!(t1000[0]["prefsrc"], "203.0.113.2");
    assert_eq!(t1000[0]["scope"], "link");
    let six = ns.ip_json(&["-6", "route", "show", "table", "250"]);
    assert_eq!(six[0]["dst"], "2001:db8:1::/48");
    assert_eq!(six[0]["gateway"], "2001:db8::1");
    let rules4 = ns.ip_json(&["rule", "show"]);
    let added_twice = rules4
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["priority"] == 32770)
        .count();
    assert_eq!(added_twice, 1, "adding a rule twice leaves one: {rules4}");
    let lookup250 = rules4
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["priority"] == 32770)
        .unwrap();
    assert_eq!(lookup250["table"], "250");
    assert!(lookup250.get("src").is_none() || lookup250["src"] == "all");
    let selective = rules4
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["priority"] == 100)
        .unwrap();
    assert_eq!(selective["src"], "192.0.2.0");
    assert_eq!(selective["srclen"], 24);
    assert_eq!(selective["dst"], "198.51.100.0");
    assert_eq!(selective["iif"], "d0");
    assert_eq!(selective["fwmark"], "0x10");
    assert_eq!(selective["fwmask"], "0xff");
    assert_eq!(selective["table"], "1000");
    let rules6 = ns.ip_json(&["-6", "rule", "show"]);
    assert!(rules6
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["priority"] == 32770 && r["table"] == "250"));
    assert!(rules6
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["priority"] == 101 && r["oif"] == "d0"));

    ns.run(move || async move {
        let nl = Netlink::new().unwrap();
        for _ in 0..2 {
            for route in &routes {
                nl.delete_route(route)
                    .await
                    .unwrap_or_else(|e| panic!("{route:?}: {e}"));
            }
            for rule in &rules {
                nl.delete_rule(rule)
                    .await
                    .unwrap_or_else(|e| panic!("{rule:?}: {e}"));
            }
        }
    });
    assert_eq!(
        ns.ip_json(&["route", "show", "table", "250"]),
        serde_json::json!([])
    );
    assert_eq!(
        ns.ip_json(&["route", "show", "table", "1000"]),
        serde_json::json!([])
    );
    assert_eq!(
        ns.ip_json(&["-6", "route", "show", "table", "250"]),
        serde_json::json!([])
    );
    let left: Vec<_> = ns
        .ip_json(&["rule", "show"])
        .as_array()
        .unwrap()
        .iter()
        .chain(
            ns.ip_json(&["-6", "rule", "show"])
                .as_array()
                .unwrap()
                .iter(),
        )
        .filter(|r| [100, 101, 32770].contains(&r["priority"].as_u64().unwrap()))
        .cloned()
        .collect();
    assert!(left.is_empty(), "rules left: {left:?}");
}

#[test]
fn reject_routes_scope_onlink_and_rule_actions_are_added_and_deleted() {
    let ns = TestNs::create();
    ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
    ns.ip(&["link", "set", "d0p", "up"]);
    ns.ip(&["link", "set", "d0", "up"]);
    ns.ip(&["addr", "add", "203.0.113.2/24", "dev", "d0"]);
    let dev = ns.ip_json(&["link", "show", "d0"])[0]["ifindex"]
        .as_u64()
        .unwrap() as u32;
    let routes = vec![
        RouteSpec {
            kind: RouteKind::Unreachable,
            table: 250,
            ..RouteSpec::new(v4("198.51.100.0"), 25)
        },
        RouteSpec {
            kind: RouteKind::Prohibit,
            table: 250,
            ..RouteSpec::new(v4("198.51.100.128"), 25)
        },
        RouteSpec {
            kind: RouteKind::Throw,
            table: 250,
            ..RouteSpec::new(v4("192.0.2.0"), 24)
        },
        RouteSpec {
            kind: RouteKind::Unreachable,
            table: 250,
            ..RouteSpec::new(v6("2001:db8:5::"), 48)
        },
        RouteSpec {
            kind: RouteKind::Prohibit,
            table: 250,
            ..RouteSpec::new(v6("2001:db8:6::"), 48)
        },
        RouteSpec {
            kind: RouteKind::Throw,
            table: 250,
            ..RouteSpec::new(v6("2001:db8:7::"), 48)
        },
        // The gateway is outside every prefix of d0: only onlink makes it acceptable.
        RouteSpec {
            via: Some(v4("198.51.100.1")),
            dev: Some(dev),
            onlink: true,
            table: 251,
            ..RouteSpec::new(v4("0.0.0.0"), 0)
        },
        RouteSpec {
            dev: Some(dev),
            scope: Some(Scope::Host),
            table: 251,
            ..RouteSpec::new(v4("192.0.2.77"), 32)
        },
        RouteSpec {
            src: Some(v4("203.0.113.2")),
            dev: Some(dev),
            scope: Some(Scope::Global),
            table: 251,
            ..RouteSpec::new(v4("192.0.2.0"), 25)
        },
    ];
    let rules = vec![
        RuleSpec {
            from: Some((v4("192.0.2.0"), 24)),
            priority: Some(200),
            ..RuleSpec::new(IpFamily::V4, RuleTarget::Blackhole)
        },
        RuleSpec {
            to: Some((v4("198.51.100.0"), 24)),
            priority: Some(201),
            ..RuleSpec::new(IpFamily::V4, RuleTarget::Unreachable)
        },
        RuleSpec {
            priority: Some(202),
            fwmark: Some((7, None)),
            ..RuleSpec::new(IpFamily::V4, RuleTarget::Prohibit)
        },
        RuleSpec {
            from: Some((v6("2001:db8:9::"), 48)),
            priority: Some(200),
            ..RuleSpec::new(IpFamily::V6, RuleTarget::Blackhole)
        },
        RuleSpec {
            priority: Some(201),
            iif: Some("d0".into()),
            ..RuleSpec::new(IpFamily::V6, RuleTarget::Unreachable)
        },
        RuleSpec {
            priority: Some(202),
            ..RuleSpec::new(IpFamily::V6, RuleTarget::Prohibit)
        },
    ];
    let (r, u) = (routes.clone(), rules.clone());
    ns.run(move || async move {
        let nl = Netlink::new().unwrap();
        for _ in 0..2 {
            for route in &r {
                nl.add_route(route)
                    .await
                    .unwrap_or_else(|e| panic!("{route:?}: {e}"));
            }
            for rule in &u {
                nl.add_rule(rule)
                    .await
                    .unwrap_or_else(|e| panic!("{rule:?}: {e}"));
            }
        }
        let without_gateway = RouteSpec {
            onlink: true,
            dev: Some(dev),
            ..RouteSpec::new(v4("192.0.2.0"), 24)
        };
        assert!(matches!(
            nl.add_route(&without_gateway).await,
            Err(SystemError::Invalid { .. })
        ));
    });
    let find = |table: &serde_json::Value, dst: &str| {
        table
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["dst"] == dst)
            .cloned()
            .unwrap_or_else(|| panic!("no route to {dst} in {table}"))
    };
    let t250 = ns.ip_json(&["route", "show", "table", "250"]);
    assert_eq!(find(&t250, "198.51.100.0/25")["type"], "unreachable");
    assert_eq!(find(&t250, "198.51.100.128/25")["type"], "prohibit");
    assert_eq!(find(&t250, "192.0.2.0/24")["type"], "throw");
    let t250v6 = ns.ip_json(&["-6", "route", "show", "table", "250"]);
    assert_eq!(find(&t250v6, "2001:db8:5::/48")["type"], "unreachable");
    assert_eq!(find(&t250v6, "2001:db8:6::/48")["type"], "prohibit");
    assert_eq!(find(&t250v6, "2001:db8:7::/48")["type"], "throw");
    let t251 = ns.ip_json(&["route", "show", "table", "251"]);
    let onlink = find(&t251, "default");
    assert_eq!(onlink["gateway"], "198.51.100.1");
    assert!(
        onlink["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "onlink")),
        "{onlink}"
    );
    assert_eq!(find(&t251, "192.0.2.77")["scope"], "host");
    // Without `scope global` a gatewayless route with a device would be scope link.
    assert!(find(&t251, "192.0.2.0/25")
        .get("scope")
        .is_none_or(|s| s == "global"));
    let rules4 = ns.ip_json(&["rule", "show"]);
    let rule = |list: &serde_json::Value, priority: u64| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|r| r["priority"] == priority)
            .cloned()
            .unwrap_or_else(|| panic!("no rule {priority} in {list}"))
    };
    assert_eq!(rule(&rules4, 200)["action"], "blackhole");
    assert_eq!(rule(&rules4, 200)["src"], "192.0.2.0");
    assert_eq!(rule(&rules4, 201)["action"], "unreachable");
    assert_eq!(rule(&rules4, 202)["action"], "prohibit");
    let rules6 = ns.ip_json(&["-6", "rule", "show"]);
    assert_eq!(rule(&rules6, 200)["action"], "blackhole");
    assert_eq!(rule(&rules6, 201)["action"], "unreachable");
    assert_eq!(rule(&rules6, 202)["action"], "prohibit");
    for list in [&rules4, &rules6] {
        let count = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["priority"] == 200)
            .count();
        assert_eq!(count, 1, "adding twice leaves one: {list}");
    }

    ns.run(move || async move {
        let nl = Netlink::new().unwrap();
        for _ in 0..2 {
            for route in &routes {
                nl.delete_route(route)
                    .await
                    .unwrap_or_else(|e| panic!("{route:?}: {e}"));
            }
            for rule in &rules {
                nl.delete_rule(rule)
                    .await
                    .unwrap_or_else(|e| panic!("{rule:?}: {e}"));
            }
        }
    });
    for args in [
        &["route", "show", "table", "250"][..],
        &["-6", "route", "show", "table", "250"],
        &["route", "show", "table", "251"],
    ] {
        assert_eq!(ns.ip_json(args), serde_json::json!([]), "{args:?}");
    }
    let left: Vec<_> = ns
        .ip_json(&["rule", "show"])
        .as_array()
        .unwrap()
        .iter()
        .chain(
            ns.ip_json(&["-6", "rule", "show"])
                .as_array()
                .unwrap()
                .iter(),
        )
        .filter(|r| [200, 201, 202].contains(&r["priority"].as_u64().unwrap()))
        .cloned()
        .collect();
    assert!(left.is_empty(), "rules left: {left:?}");
}
