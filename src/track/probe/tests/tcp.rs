//! The TCP connect probe against a listener in the namespace, a closed port, a blackhole and an
//! unrouted address, over IPv4 and IPv6.

use std::net::SocketAddr;
use std::time::Duration;

use super::*;

#[test]
fn tcp_probe_passes_on_a_listener_and_names_each_failure() {
    let python = tool("python3", "apt-get install python3");
    let ns = lab();
    let scratch = Scratch::new();
    let _v4 = Server::start(
        &ns,
        &scratch,
        "v4.log",
        &python,
        &["-c", SILENT_LISTENER, "127.0.0.1", "7001"],
    );
    let _v6 = Server::start(
        &ns,
        &scratch,
        "v6.log",
        &python,
        &["-c", SILENT_LISTENER, "::1", "7001"],
    );
    within(&ns, Duration::from_secs(30), || async {
        let tcp = |addr: &str| ProbeSpec::TcpConnect(addr.parse().unwrap());
        wait_until_passes(&tcp("127.0.0.1:7001")).await;
        wait_until_passes(&tcp("[::1]:7001")).await;
        assert_eq!(run(&tcp("127.0.0.1:7001"), AMPLE).await, Ok(()));
        assert_eq!(run(&tcp("[::1]:7001"), AMPLE).await, Ok(()));

        let refused = Err("connection refused".to_owned());
        assert_eq!(run(&tcp("127.0.0.1:7002"), AMPLE).await, refused);
        assert_eq!(run(&tcp("[::1]:7002"), AMPLE).await, refused);

        let timed_out = Err("timed out after 0.3 s".to_owned());
        let blackhole_v4 = ProbeSpec::TcpConnect(SocketAddr::new(BLACKHOLE_V4, 7001));
        let blackhole_v6 = ProbeSpec::TcpConnect(SocketAddr::new(BLACKHOLE_V6, 7001));
        assert_eq!(run(&blackhole_v4, SHORT).await, timed_out);
        assert_eq!(run(&blackhole_v6, SHORT).await, timed_out);

        let unrouted = ProbeSpec::TcpConnect(SocketAddr::new(UNROUTED_V4, 7001));
        assert_eq!(
            run(&unrouted, AMPLE).await,
            Err("network unreachable".to_owned())
        );
    });
}
