//! Link lookup and macvlans.

use super::v6;
use crate::system::error::SystemError;
use crate::system::netlink::*;
use crate::system::testns::TestNs;

#[test]
fn link_lookup_reports_index_mac_state_and_mtu() {
    let ns = TestNs::create();
    ns.ip(&[
        "link", "add", "d0", "mtu", "1400", "type", "veth", "peer", "name", "d0p",
    ]);
    ns.ip(&["link", "set", "d0p", "up"]);
    let shown = ns.ip_json(&["link", "show", "d0"]);
    let index = shown[0]["ifindex"].as_u64().unwrap() as u32;
    let mac = shown[0]["address"].as_str().unwrap().to_string();
    ns.run(move || async move {
        let nl = Netlink::new().unwrap();
        let link = nl.link_by_name("d0").await.unwrap();
        assert_eq!(link.ifindex, index);
        assert_eq!(link.mtu, 1400);
        assert_eq!(link.kind.as_deref(), Some("veth"));
        let mac_text = link
            .mac
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(mac_text, mac);
        assert!(!link.admin_up && !link.oper_up);
        nl.set_link_up(index, true).await.unwrap();
        let link = nl.link_by_index(index).await.unwrap();
        assert!(link.admin_up && link.oper_up, "{link:?}");
        assert!(nl.links().await.unwrap().iter().any(|l| l.name == "lo"));
        let missing = nl.link_by_name("nosuch0").await.unwrap_err();
        assert!(
            matches!(missing, SystemError::NoSuchInterface { ref name, .. } if name == "nosuch0"),
            "{missing:?}"
        );
        assert!(missing.to_string().contains("does not exist (yet)"));
    });
}

fn vmac(vrid: u8) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, 0x01, vrid]
}

#[test]
fn macvlan_is_created_with_mac_mode_and_addrgenmode_then_reused_and_deleted() {
    let ns = TestNs::create();
    ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
    ns.ip(&["link", "set", "d0p", "up"]);
    ns.ip(&["link", "set", "d0", "up"]);
    ns.ip(&["link", "add", "vrrp.61", "type", "bridge"]);
    let parent = ns.ip_json(&["link", "show", "d0"])[0]["ifindex"]
        .as_u64()
        .unwrap() as u32;
    let created = ns.run(move || async move {
        let nl = Netlink::new().unwrap();
        let spec = MacvlanSpec {
            parent,
            name: "vrrp.60".into(),
            mac: vmac(60),
            mode: VmacMode::Private,
            addr_gen_mode: AddrGenMode::None,
        };
        let first = nl.ensure_macvlan(&spec).await.unwrap();
        assert!(first.created);
        // A VIP already on the reused macvlan survives: reuse must not cycle the link down
        // (that would flush IPv6 addresses).
        nl.add_address(
            first.ifindex,
            v6("2001:db8::60"),
            64,
            &AddressOptions::default(),
        )
        .await
        .unwrap();
        let again = nl.ensure_macvlan(&spec).await.unwrap();
        assert!(nl
            .has_address(first.ifindex, v6("2001:db8::60"))
            .await
            .unwrap());
        assert_eq!(
            again,
            MacvlanOutcome {
                ifindex: first.ifindex,
                created: false
            }
        );
        let found = nl.find_macvlan(&spec).await.unwrap().unwrap();
        assert_eq!(found.macvlan_mode, Some(VmacMode::Private));
        assert_eq!(found.addr_gen_mode, Some(AddrGenMode::None));
        assert!(found.admin_up);
        assert_eq!(found.parent, Some(parent));

        let six = MacvlanSpec {
            name: "vrrp6.60".into(),
            mac: [0x00, 0x00, 0x5e, 0x00, 0x02, 60],
            mode: VmacMode::Bridge,
            addr_gen_mode: AddrGenMode::Random,
            ..spec.clone()
        };
        nl.create_macvlan(&six).await.unwrap();

        let foreign = MacvlanSpec {
            name: "vrrp.61".into(),
            mac: vmac(61),
            ..spec.clone()
        };
        let taken = nl.ensure_macvlan(&foreign).await.unwrap_err();
        assert!(matches!(taken, SystemError::NameTaken { .. }), "{taken:?}");
        let wrong_mac = MacvlanSpec {
            mac: vmac(99),
            ..spec.clone()
        };
        assert!(matches!(
            nl.find_macvlan(&wrong_mac).await,
            Err(SystemError::NameTaken { .. })
        ));
        first.ifindex
    });
    let shown = &ns.ip_json(&["-d", "link", "show", "vrrp.60"])[0];
    assert_eq!(shown["address"], "00:00:5e:00:01:3c");
    assert_eq!(shown["linkinfo"]["info_kind"], "macvlan");
    assert_eq!(shown["linkinfo"]["info_data"]["mode"], "private");
    assert_eq!(shown["inet6_addr_gen_mode"], "none");
    assert!(shown["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
    assert_eq!(shown["ifindex"].as_u64().unwrap() as u32, created);
    let no_link_local = ns.ip_json(&["-6", "addr", "show", "dev", "vrrp.60"]);
    assert!(
        no_link_local
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .all(|a| a["scope"] != "link"),
        "addrgenmode none leaves no link-local: {no_link_local}"
    );
    let six_addresses = ns.ip_json(&["-6", "addr", "show", "dev", "vrrp6.60"]);
    let link_locals: Vec<String> = six_addresses
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["scope"] == "link")
        .map(|a| a["local"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        link_locals.len(),
        1,
        "random mode makes one link-local: {six_addresses}"
    );
    assert_ne!(
        link_locals[0], "fe80::200:5eff:fe00:23c",
        "the link-local must not be derived from the shared virtual MAC"
    );
    let six = &ns.ip_json(&["-d", "link", "show", "vrrp6.60"])[0];
    assert_eq!(six["address"], "00:00:5e:00:02:3c");
    assert_eq!(six["linkinfo"]["info_data"]["mode"], "bridge");
    assert_eq!(six["inet6_addr_gen_mode"], "random");
    let foreign = &ns.ip_json(&["-d", "link", "show", "vrrp.61"])[0];
    assert_eq!(
        foreign["linkinfo"]["info_kind"], "bridge",
        "someone else's link untouched"
    );

    ns.run(move || async move {
        let nl = Netlink::new().unwrap();
        nl.delete_link(created).await.unwrap();
        nl.delete_link(created).await.unwrap();
        assert!(matches!(
            nl.link_by_name("vrrp.60").await,
            Err(SystemError::NoSuchInterface { .. })
        ));
    });
}
