//! Addresses and their options.

use super::{ip_addr_entry, labelled, v4, v6};
use crate::system::error::SystemError;
use crate::system::netlink::*;
use crate::system::testns::TestNs;

#[test]
fn addresses_are_added_idempotently_with_label_and_nodad_then_removed() {
    let ns = TestNs::create();
    ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
    ns.ip(&["link", "set", "d0p", "up"]);
    ns.ip(&["link", "set", "d0", "up"]);
    let index = ns.ip_json(&["link", "show", "d0"])[0]["ifindex"]
        .as_u64()
        .unwrap() as u32;
    ns.run(move || async move {
        let nl = Netlink::new().unwrap();
        for _ in 0..2 {
            nl.add_address(index, v4("192.0.2.3"), 24, &labelled("d0:vip"))
                .await
                .unwrap();
            nl.add_address(index, v6("2001:db8::3"), 64, &AddressOptions::default())
                .await
                .unwrap();
        }
        assert!(nl.has_address(index, v4("192.0.2.3")).await.unwrap());
        assert!(nl.has_address(index, v6("2001:db8::3")).await.unwrap());
        let listed = nl.addresses(Some(index)).await.unwrap();
        let vip = listed.iter().find(|a| a.addr == v4("192.0.2.3")).unwrap();
        assert_eq!((vip.prefix_len, vip.label.as_deref()), (24, Some("d0:vip")));
    });
    let four = ip_addr_entry(&ns, "d0", "192.0.2.3").expect("IPv4 VIP on d0");
    assert_eq!(four["prefixlen"], 24);
    assert_eq!(four["label"], "d0:vip");
    let six = ip_addr_entry(&ns, "d0", "2001:db8::3").expect("IPv6 VIP on d0");
    assert_eq!(six["prefixlen"], 64);
    assert_eq!(six["scope"], "global");
    assert_eq!(six["nodad"], true, "{six}");
    assert!(six.get("tentative").is_none(), "no DAD wait: {six}");

    ns.run(move || async move {
        let nl = Netlink::new().unwrap();
        for _ in 0..2 {
            nl.delete_address(index, v4("192.0.2.3"), 24).await.unwrap();
            nl.delete_address(index, v6("2001:db8::3"), 64)
                .await
                .unwrap();
        }
        assert!(!nl.has_address(index, v4("192.0.2.3")).await.unwrap());
        assert!(!nl.has_address(index, v6("2001:db8::3")).await.unwrap());
        let gone = nl
            .add_address(999_999, v4("192.0.2.4"), 24, &AddressOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(gone, SystemError::NoSuchInterface { .. }),
            "{gone:?}"
        );
    });
    assert!(ip_addr_entry(&ns, "d0", "192.0.2.3").is_none());
    assert!(ip_addr_entry(&ns, "d0", "2001:db8::3").is_none());
}

#[test]
fn address_options_set_broadcast_scope_and_noprefixroute() {
    let ns = TestNs::create();
    ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
    ns.ip(&["link", "set", "d0p", "up"]);
    ns.ip(&["link", "set", "d0", "up"]);
    let index = ns.ip_json(&["link", "show", "d0"])[0]["ifindex"]
        .as_u64()
        .unwrap() as u32;
    ns.run(move || async move {
        let nl = Netlink::new().unwrap();
        let keepalived_style = AddressOptions {
            label: Some("d0:1".into()),
            broadcast: Some("192.0.2.127".parse().unwrap()),
            scope: Some(Scope::Link),
            no_prefix_route: true,
        };
        nl.add_address(index, v4("192.0.2.3"), 24, &keepalived_style)
            .await
            .unwrap();
        nl.add_address(index, v4("198.51.100.3"), 24, &AddressOptions::default())
            .await
            .unwrap();
        let six = AddressOptions {
            no_prefix_route: true,
            ..AddressOptions::default()
        };
        nl.add_address(index, v6("2001:db8::3"), 64, &six)
            .await
            .unwrap();
        let refused = nl
            .add_address(
                index,
                v6("2001:db8::4"),
                64,
                &AddressOptions {
                    broadcast: Some("192.0.2.255".parse().unwrap()),
                    ..AddressOptions::default()
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(refused, SystemError::Invalid { .. }),
            "{refused:?}"
        );
    });
    let vip = ip_addr_entry(&ns, "d0", "192.0.2.3").expect("VIP on d0");
    assert_eq!(vip["broadcast"], "192.0.2.127", "{vip}");
    assert_eq!(vip["scope"], "link", "{vip}");
    assert_eq!(vip["label"], "d0:1", "{vip}");
    assert_eq!(vip["noprefixroute"], true, "{vip}");
    let plain = ip_addr_entry(&ns, "d0", "198.51.100.3").expect("plain address on d0");
    assert_eq!(plain["broadcast"], "198.51.100.255", "{plain}");
    assert_eq!(plain["scope"], "global", "{plain}");
    assert!(plain.get("noprefixroute").is_none(), "{plain}");
    let six = ip_addr_entry(&ns, "d0", "2001:db8::3").expect("IPv6 VIP on d0");
    assert_eq!(six["noprefixroute"], true, "{six}");
    assert_eq!(six["nodad"], true, "{six}");
    assert!(ip_addr_entry(&ns, "d0", "2001:db8::4").is_none());
    // noprefixroute: no kernel route for 192.0.2.0/24, but one for the plain address.
    let routes = ns.ip_json(&["route", "show", "dev", "d0"]);
    let dsts: Vec<_> = routes
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["dst"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(!dsts.contains(&"192.0.2.0/24".to_owned()), "{routes}");
    assert!(dsts.contains(&"198.51.100.0/24".to_owned()), "{routes}");
    let routes6 = ns.ip_json(&["-6", "route", "show", "dev", "d0"]);
    assert!(
        !routes6
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["dst"] == "2001:db8::/64"),
        "{routes6}"
    );
}

#[test]
fn an_address_in_duplicate_address_detection_is_listed_as_tentative_until_it_finishes() {
    let ns = TestNs::create();
    ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
    ns.exec("sysctl", &["-q", "-w", "net.ipv6.conf.d0.accept_dad=1"]);
    ns.exec("sysctl", &["-q", "-w", "net.ipv6.conf.d0.dad_transmits=1"]);
    ns.ip(&["link", "set", "d0p", "up"]);
    ns.ip(&["link", "set", "d0", "up"]);
    // Added without nodad by `ip`, so the kernel runs DAD on it (about 1 s).
    ns.ip(&["addr", "add", "2001:db8::7/64", "dev", "d0"]);
    let index = ns.ip_json(&["link", "show", "d0"])[0]["ifindex"]
        .as_u64()
        .unwrap() as u32;
    ns.run(move || async move {
        let nl = Netlink::new().unwrap();
        let find = |all: Vec<AddressInfo>| all.into_iter().find(|a| a.addr == v6("2001:db8::7"));
        let first = find(nl.addresses(Some(index)).await.unwrap()).expect("listed");
        assert!(first.tentative && !first.dad_failed, "{first:?}");
        let start = std::time::Instant::now();
        loop {
            let now = find(nl.addresses(Some(index)).await.unwrap()).expect("listed");
            if !now.tentative {
                break;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "DAD never finished"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    });
}
