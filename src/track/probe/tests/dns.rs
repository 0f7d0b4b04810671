//! The DNS probe against dnsmasq: an answer, NODATA, NXDOMAIN, REFUSED, no server, a blackhole.

use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::track::probe::{dns_type_from_name, DnsProbe};

fn query(server: &str, name: &str, qtype: &str) -> ProbeSpec {
    ProbeSpec::DnsQuery(DnsProbe {
        qtype: dns_type_from_name(qtype).unwrap(),
        ..DnsProbe::new(server.parse().unwrap(), name)
    })
}

/// dnsmasq on 127.0.0.1 and ::1 port 5353: `vipd.test` has the A record 192.0.2.53 and no
/// other, `*.nx.test` does not exist, anything else is refused (no upstream servers).
pub(super) fn start_dnsmasq(ns: &TestNs, scratch: &Scratch) -> Server {
    let dnsmasq = tool("dnsmasq", "apt-get install dnsmasq-base");
    let pid_file = format!("--pid-file={}", scratch.file("dnsmasq.pid"));
    Server::start(
        ns,
        scratch,
        "dnsmasq.log",
        &dnsmasq,
        &[
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            &pid_file,
            "--user=root",
            "--group=root",
            "--port=5353",
            "--listen-address=127.0.0.1",
            "--listen-address=::1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--address=/vipd.test/192.0.2.53",
            "--local=/vipd.test/",
            "--local=/nx.test/",
        ],
    )
}

#[test]
fn dns_probe_passes_on_an_answer_and_names_each_failure() {
    let ns = lab();
    let scratch = Scratch::new();
    let _dnsmasq = start_dnsmasq(&ns, &scratch);
    within(&ns, Duration::from_secs(30), || async {
        wait_until_passes(&query("127.0.0.1:5353", "vipd.test", "A")).await;
        assert_eq!(
            run(&query("127.0.0.1:5353", "vipd.test", "A"), AMPLE).await,
            Ok(())
        );
        assert_eq!(
            run(&query("[::1]:5353", "VIPD.test.", "a"), AMPLE).await,
            Ok(())
        );

        // dnsmasq knows only an IPv4 address for the name: NOERROR without answers (NODATA).
        let nodata = query("127.0.0.1:5353", "vipd.test", "AAAA");
        assert_eq!(run(&nodata, AMPLE).await, Err("no answer".to_owned()));
        let ProbeSpec::DnsQuery(mut any_reply) = nodata else {
            unreachable!()
        };
        any_reply.expect_answer = false;
        assert_eq!(run(&ProbeSpec::DnsQuery(any_reply), AMPLE).await, Ok(()));

        assert_eq!(
            run(&query("127.0.0.1:5353", "gone.nx.test", "A"), AMPLE).await,
            Err("DNS rcode NXDOMAIN".to_owned())
        );
        // Outside its domains, with no upstream server, dnsmasq refuses.
        assert_eq!(
            run(&query("127.0.0.1:5353", "example.org", "A"), AMPLE).await,
            Err("DNS rcode REFUSED".to_owned())
        );
        assert_eq!(
            run(&query("127.0.0.1:5354", "vipd.test", "A"), AMPLE).await,
            Err("connection refused".to_owned())
        );
        let blackhole = ProbeSpec::DnsQuery(DnsProbe::new(
            SocketAddr::new(BLACKHOLE_V4, 53),
            "vipd.test",
        ));
        assert_eq!(
            run(&blackhole, SHORT).await,
            Err("timed out after 0.3 s".to_owned())
        );
    });
}
