//! What the probes cost in resident memory. One probe of each kind first (printing what each
//! kind's first run adds: its code and data pages, and heap such as the shared TLS
//! configuration), then 100 instances' worth of probes (HTTP, HTTPS unverified, HTTPS failing
//! verification, DNS, ICMP: 20 each) all at once, 10 rounds — the worst case, a tracker that
//! starts every instance's probe at the same instant. The heap they leave behind must stay within
//! vipd's 1 MiB budget for the checks of 100 instances. Code pages are printed, not asserted:
//! they are paid once whatever the number of instances, and what the kernel maps around each
//! fault depends on the binary's layout. Ignored by default (RSS is process-wide, so tests
//! running beside it would be counted); run it alone:
//! `cargo test --release --lib track::probe::tests::memory -- --ignored --nocapture`.

use std::time::Duration;

use super::dns::start_dnsmasq;
use super::http::{document_root, get, spec, start_tls_server, start_web_server};
use super::*;
use crate::track::probe::{DnsProbe, HttpProbe};

/// vipd's budget for the built-in checks of 100 instances.
const BUDGET_KIB: u64 = 1024;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// The five kinds, each with whether it should pass.
fn kinds() -> [(ProbeSpec, bool); 5] {
    let insecure = HttpProbe {
        tls_verify: false,
        body_contains: Some("ok".to_owned()),
        ..get("https://127.0.0.1:8443/healthz")
    };
    let plain = HttpProbe {
        body_contains: Some("ok".to_owned()),
        ..get("http://127.0.0.1:8080/healthz")
    };
    let dns = DnsProbe::new("127.0.0.1:5353".parse().unwrap(), "vipd.test");
    [
        (spec(plain), true),
        (ProbeSpec::DnsQuery(dns), true),
        (ProbeSpec::IcmpEcho(LOCAL_V4), true),
        (spec(insecure), true),
        (spec(get("https://localhost:8443/healthz")), false),
    ]
}

#[test]
#[ignore = "measures process-wide RSS: run alone with --ignored --nocapture"]
fn hundred_probes_leave_less_than_one_mib_of_heap() {
    let python = tool("python3", "apt-get install python3");
    let ns = lab();
    let root = document_root();
    let _web = start_web_server(&ns, &root, &python, "127.0.0.1", "web.log");
    let _tls = start_tls_server(&ns, &root, &python);
    let _dnsmasq = start_dnsmasq(&ns, &root);
    within(&ns, Duration::from_secs(120), || async {
        // Readiness by TCP connects and a DNS query only: no HTTP or TLS code has run yet.
        for port in [8080, 8443] {
            wait_until_passes(&ProbeSpec::TcpConnect(([127, 0, 0, 1], port).into())).await;
        }
        wait_until_passes(&kinds()[1].0).await;

        let (heap_before, pages_before) = (status_kib("RssAnon:"), status_kib("RssFile:"));
        for (spec, should_pass) in kinds() {
            let (heap, pages) = (status_kib("RssAnon:"), status_kib("RssFile:"));
            let verdict = run(&spec, AMPLE).await;
            assert_eq!(
                verdict.is_ok(),
                should_pass,
                "{}: {verdict:?}",
                spec.describe()
            );
            println!(
                "first {}: code and data +{} KiB, heap +{} KiB",
                spec.describe(),
                status_kib("RssFile:") - pages,
                status_kib("RssAnon:") - heap
            );
        }
        let heap_warm = status_kib("RssAnon:");

        let hundred: Vec<(ProbeSpec, bool)> = kinds().into_iter().cycle().take(100).collect();
        for round in 1..=10 {
            let runs = hundred
                .iter()
                .map(|(spec, _)| run(spec, Duration::from_secs(10)));
            let verdicts = futures::future::join_all(runs).await;
            for ((spec, should_pass), verdict) in hundred.iter().zip(&verdicts) {
                assert_eq!(
                    verdict.is_ok(),
                    *should_pass,
                    "{}: {verdict:?}",
                    spec.describe()
                );
            }
            if round == 1 || round == 10 {
                println!(
                    "after round {round} of 100 at once: heap +{} KiB since the first probe",
                    status_kib("RssAnon:") - heap_before
                );
            }
        }
        let heap = status_kib("RssAnon:") - heap_before;
        println!(
            "total: code and data +{} KiB, heap +{heap} KiB (+{} KiB after the first of each kind), peak RSS {} KiB",
            status_kib("RssFile:") - pages_before,
            heap - (heap_warm - heap_before),
            status_kib("VmHWM:")
        );
        assert!(
            heap <= BUDGET_KIB,
            "the probes of 100 instances keep {heap} KiB of heap, over the {BUDGET_KIB} KiB budget"
        );
    });
}
