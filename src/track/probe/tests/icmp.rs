//! The ICMP echo probe over a raw socket (a new namespace's ping_group_range admits no group)
//! and over a ping socket (once the namespace's ping_group_range admits root's group).

use std::time::Duration;

use super::*;
use crate::track::probe::icmp::{open, SocketKind};

fn echo(to: IpAddr) -> ProbeSpec {
    ProbeSpec::IcmpEcho(to)
}

async fn check_all_cases() {
    for target in [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        LOCAL_V4,
        LOCAL_V6,
    ] {
        assert_eq!(run(&echo(target), AMPLE).await, Ok(()), "{target}");
    }
    let no_reply = Err("no echo reply within 0.3 s".to_owned());
    assert_eq!(run(&echo(BLACKHOLE_V4), SHORT).await, no_reply);
    assert_eq!(run(&echo(BLACKHOLE_V6), SHORT).await, no_reply);
    assert_eq!(
        run(&echo(UNROUTED_V4), AMPLE).await,
        Err("network unreachable".to_owned())
    );
}

#[test]
fn icmp_probe_over_raw_sockets() {
    let ns = lab();
    within(&ns, Duration::from_secs(20), || async {
        for target in [LOCAL_V4, LOCAL_V6] {
            assert_eq!(open(target).unwrap().1, SocketKind::Raw, "{target}");
        }
        check_all_cases().await;
    });
}

#[test]
fn icmp_probe_over_ping_sockets() {
    let ns = lab();
    let set = ns.exec("sysctl", &["-q", "-w", "net.ipv4.ping_group_range=0 0"]);
    assert!(
        set.status.success(),
        "sysctl: {}",
        String::from_utf8_lossy(&set.stderr)
    );
    within(&ns, Duration::from_secs(20), || async {
        for target in [LOCAL_V4, LOCAL_V6] {
            assert_eq!(open(target).unwrap().1, SocketKind::Ping, "{target}");
        }
        check_all_cases().await;
    });
}
