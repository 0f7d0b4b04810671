//! The event stream.

use std::time::Duration;

use tokio::sync::mpsc;

use super::v4;
use crate::system::netlink::*;
use crate::system::testns::TestNs;

async fn next_event(
    events: &mut mpsc::Receiver<NetEvent>,
    what: &str,
    mut wanted: impl FnMut(&NetEvent) -> bool,
) -> NetEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) if wanted(&event) => return event,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("event stream closed while waiting for {what}"),
            Err(_) => panic!("no {what} event within 5 s"),
        }
    }
}

#[test]
fn link_and_address_events_follow_down_delete_recreate() {
    let ns = TestNs::create();
    let name = ns.name().to_string();
    ns.run(move || async move {
        let nl = Netlink::new().unwrap();
        let mut events = nl.subscribe().unwrap();
        let ip = |args: &[&str]| {
            let status = std::process::Command::new("ip")
                .args(["-n", &name])
                .args(args)
                .status()
                .unwrap();
            assert!(status.success(), "ip {args:?}");
        };
        let is_link = |up: bool, removed: bool| {
            move |e: &NetEvent| {
                matches!(e, NetEvent::Link(l) if l.name == "d0" && l.up == up && l.removed == removed)
            }
        };
        ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
        ip(&["link", "set", "d0p", "up"]);
        let NetEvent::Link(first) = next_event(&mut events, "d0 created", is_link(false, false)).await
        else {
            unreachable!()
        };
        ip(&["link", "set", "d0", "up"]);
        next_event(&mut events, "d0 up", is_link(true, false)).await;
        ip(&["addr", "add", "192.0.2.9/24", "dev", "d0"]);
        let added = next_event(&mut events, "address added", |e| {
            matches!(e, NetEvent::Address(a) if a.addr == v4("192.0.2.9") && !a.removed)
        })
        .await;
        assert_eq!(
            added,
            NetEvent::Address(AddressEvent {
                ifindex: first.ifindex,
                addr: v4("192.0.2.9"),
                prefix: 24,
                removed: false,
                tentative: false,
            })
        );
        ip(&["link", "set", "d0", "down"]);
        next_event(&mut events, "d0 down", is_link(false, false)).await;
        ip(&["link", "del", "d0"]);
        next_event(&mut events, "d0 removed", is_link(false, true)).await;
        ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
        ip(&["link", "set", "d0p", "up"]);
        ip(&["link", "set", "d0", "up"]);
        let NetEvent::Link(again) = next_event(&mut events, "d0 back up", is_link(true, false)).await
        else {
            unreachable!()
        };
        assert_ne!(again.ifindex, first.ifindex, "a recreated link gets a new index");
        ip(&["route", "add", "198.51.100.0/24", "dev", "d0", "table", "250"]);
        next_event(&mut events, "route added", |e| {
            matches!(e, NetEvent::Route(r) if r.table == 250 && r.dst == Some(v4("198.51.100.0")) && r.prefix == 24 && !r.removed)
        })
        .await;
        ip(&["rule", "add", "to", "all", "lookup", "250", "priority", "32770"]);
        next_event(&mut events, "rule added", |e| {
            matches!(e, NetEvent::Rule(r) if r.table == 250 && r.priority == Some(32770) && !r.removed)
        })
        .await;
    });
}
