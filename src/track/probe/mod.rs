//! Built-in health probes: the checks vipd runs itself, without forking a script — a TCP connect,
//! an HTTP(S) GET, an ICMP echo and a DNS query. Each is an `async fn` on the daemon's
//! current-thread tokio runtime: nothing blocks, no thread or blocking task per probe, one socket
//! per run, closed when the run ends. [`run`] bounds a whole run (connect, request, response) by
//! one timeout and says why a probe failed in a few words, for the status output and the logs.
//!
//! Crates, chosen for memory and size (vipd's whole RSS is ~6.5 MiB):
//! - TLS: `rustls` + `tokio-rustls` with the `ring` provider (aws-lc-rs would need cmake and a C
//!   build of its own) and `webpki-roots`: Mozilla's roots compiled in as `'static` data, so a
//!   verifying probe reads no file on the event loop and the root store costs only the pages it
//!   touches. One `ClientConfig` per mode (verify or not) is shared by every probe.
//! - HTTP: `httparse` for the response head and chunk sizes; the request line is written here (a
//!   client crate such as hyper or reqwest would bring its connection pool, its executor glue and
//!   several hundred KiB of code for one GET with `Connection: close`).
//! - URL: parsed here, because the accepted grammar is tiny (scheme, an IP literal or `localhost`,
//!   a port, a path); the `url` crate would bring IDNA and its Unicode tables for names vipd
//!   never resolves (resolving would block the loop).
//! - DNS: written here (see `dns.rs` for why not `simple-dns`): a query is a 12-byte header and
//!   one question, and the reply is matched on id and question bytes and judged on three header
//!   fields without decoding its records, so no record type can fail a healthy server.
//! - ICMP: `socket2` (already a dependency) and tokio's `AsyncFd`: a ping socket (`SOCK_DGRAM`,
//!   where `net.ipv4.ping_group_range` allows it), else a raw socket with a kernel ICMP filter.
//!   `surge-ping` would add rand, parking_lot, pnet_packet and a receive task per client for what
//!   is one 16-byte request and one reply here.
//!
//! Measured cost (release build, x86_64; `tests/memory.rs` repeats the RSS part):
//! - binary: +1.75 MB of text (6.13 → 7.89 MB) with all four kinds called, nearly all of it
//!   TLS: ring 0.49 MB (0.15 MB of it the P-256 table), rustls 0.35 MB, ~0.3 MB of generic code
//!   instantiated for them, webpki 39 KB; the probes themselves ~40 KB, httparse 6 KB.
//! - RSS, paid once on a kind's first run: ICMP ~0.1 MiB, TCP and HTTP up to 0.25 and 0.5 MiB
//!   of tokio and probe code in a process that had run no socket code yet (less in a running
//!   daemon), DNS nothing more; HTTPS 1.0–1.5 MiB of code pages (clean, file-backed) and
//!   ~60 KiB of heap for the two shared configurations. So HTTPS alone is over the 1 MiB budget
//!   for the checks; the other kinds are well within it.
//! - heap for 100 instances: ~0.1 MiB with their probes spread out, ~0.6 MiB left behind by
//!   100 probes started at the same instant (a TLS probe needs ~10 KiB while it runs): trackers
//!   should stagger their first runs.

mod dns;
mod http;
mod icmp;
mod tcp;
mod tls;

#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

/// What one built-in probe checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeSpec {
    /// Passes when a TCP connection to the address is established.
    TcpConnect(SocketAddr),
    /// Passes on an expected HTTP status (and body substring, when asked).
    HttpGet(HttpProbe),
    /// Passes when the address answers an ICMP (or ICMPv6) echo request.
    IcmpEcho(IpAddr),
    /// Passes when a DNS server answers a query with NOERROR (and an answer, when asked).
    DnsQuery(DnsProbe),
}

/// An HTTP/1.1 GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProbe {
    /// `http://` or `https://`; the host is an IP literal (`[v6]` in brackets) or `localhost`
    /// (connected as 127.0.0.1), an optional port, a path: no name is resolved.
    pub url: String,
    /// Statuses that pass; [`HttpProbe::new`] sets `[200..=200]`.
    pub expect_status: Vec<RangeInclusive<u16>>,
    /// When set, the body (its first [`MAX_BODY`] bytes) must contain this text.
    pub body_contains: Option<String>,
    /// Verify the server's certificate chain and name against Mozilla's roots (`https` only).
    /// `false` accepts any certificate, e.g. the kube-apiserver's self-signed one (and then
    /// checks no handshake signature either: without a trusted certificate it proves nothing).
    pub tls_verify: bool,
}

/// How much of a body [`HttpProbe::body_contains`] looks at.
pub const MAX_BODY: usize = 64 * 1024;

impl HttpProbe {
    /// A GET of `url` that passes on status 200 with any body, verifying certificates.
    pub fn new(url: impl Into<String>) -> HttpProbe {
        HttpProbe {
            url: url.into(),
            expect_status: vec![200..=200],
            body_contains: None,
            tls_verify: true,
        }
    }
}

/// A DNS query over UDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsProbe {
    /// The server to ask.
    pub server: SocketAddr,
    /// The name to ask about, e.g. `vipd.test`.
    pub name: String,
    /// The query type as its number (see [`dns_type_from_name`]): 1 for A, 28 for AAAA, …
    pub qtype: u16,
    /// Also require at least one answer record (of any type): NOERROR with an empty answer
    /// section ("NODATA") then fails with "no answer".
    pub expect_answer: bool,
}

impl DnsProbe {
    /// An A query for `name` that expects an answer.
    pub fn new(server: SocketAddr, name: impl Into<String>) -> DnsProbe {
        DnsProbe {
            server,
            name: name.into(),
            qtype: dns::TYPE_A,
            expect_answer: true,
        }
    }
}

/// The number of a DNS type mnemonic (`"A"`, `"aaaa"`, `"TXT"`, …, or `"TYPE65"`).
pub fn dns_type_from_name(name: &str) -> Option<u16> {
    dns::type_from_name(name)
}

impl ProbeSpec {
    /// A one-line description for status and logs, e.g. `tcp 127.0.0.1:6443`.
    pub fn describe(&self) -> String {
        match self {
            ProbeSpec::TcpConnect(addr) => format!("tcp {addr}"),
            ProbeSpec::HttpGet(probe) => {
                let mut text = format!("http {}", probe.url);
                if probe.url.starts_with("https") && !probe.tls_verify {
                    text.push_str(" (no TLS verification)");
                }
                text
            }
            ProbeSpec::IcmpEcho(addr) => format!("icmp {addr}"),
            ProbeSpec::DnsQuery(probe) => format!(
                "dns {} {} @{}",
                probe.name,
                dns::type_name(probe.qtype),
                probe.server
            ),
        }
    }

    /// Checks what can be checked before a run (URL grammar, DNS name, status ranges), so a
    /// configuration can be rejected when it is loaded rather than fail at every run.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            ProbeSpec::TcpConnect(_) | ProbeSpec::IcmpEcho(_) => Ok(()),
            ProbeSpec::HttpGet(probe) => http::validate(probe),
            ProbeSpec::DnsQuery(probe) => dns::build_query(0, probe).map(drop),
        }
    }
}

/// One probe run, bounded by `timeout` (connect + request + response). `Ok` on pass;
/// `Err(reason)` with a short human reason ("connection refused", "HTTP 503",
/// "timed out after 1.0 s", "body does not contain \"ok\"", "DNS rcode NXDOMAIN", "no answer",
/// "no echo reply within 1.0 s") on failure.
pub async fn run(spec: &ProbeSpec, timeout: Duration) -> Result<(), String> {
    let attempt = async {
        match spec {
            ProbeSpec::TcpConnect(addr) => tcp::connect(*addr).await,
            ProbeSpec::HttpGet(probe) => http::get(probe).await,
            ProbeSpec::IcmpEcho(addr) => icmp::echo(*addr).await,
            ProbeSpec::DnsQuery(probe) => dns::query(probe).await,
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(verdict) => verdict,
        Err(_) if matches!(spec, ProbeSpec::IcmpEcho(_)) => {
            Err(format!("no echo reply within {}", seconds(timeout)))
        }
        Err(_) => Err(format!("timed out after {}", seconds(timeout))),
    }
}

/// `1.0 s`, `0.25 s`, `2.5 s`: at least one decimal, at most three (milliseconds).
fn seconds(duration: Duration) -> String {
    let millis = duration.as_millis();
    let mut text = format!("{}.{:03}", millis / 1000, millis % 1000);
    while text.ends_with('0') && !text.ends_with(".0") {
        text.pop();
    }
    text.push_str(" s");
    text
}

/// 64 unpredictable bits for query ids and echo tokens: std's hasher keys come from the OS's
/// random source once per process, and differ for every `RandomState`.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// An I/O error as a short lower-case reason: "connection refused", "network unreachable", …
fn io_reason(error: &io::Error) -> String {
    let known = match error.kind() {
        io::ErrorKind::ConnectionRefused => Some("connection refused"),
        io::ErrorKind::ConnectionReset => Some("connection reset"),
        io::ErrorKind::ConnectionAborted => Some("connection aborted"),
        io::ErrorKind::HostUnreachable => Some("host unreachable"),
        io::ErrorKind::NetworkUnreachable => Some("network unreachable"),
        io::ErrorKind::AddrNotAvailable => Some("address not available"),
        io::ErrorKind::PermissionDenied => Some("permission denied"),
        io::ErrorKind::UnexpectedEof => Some("connection closed early"),
        _ => None,
    };
    if let Some(reason) = known {
        return reason.to_owned();
    }
    // std's text for an OS error ends in " (os error N)"; the number says nothing to a reader.
    let mut text = error.to_string();
    if let Some(at) = text.find(" (os error") {
        text.truncate(at);
    }
    let mut lowered = String::with_capacity(text.len());
    let mut chars = text.chars();
    if let Some(first) = chars.next() {
        let _ = write!(lowered, "{}", first.to_lowercase());
    }
    lowered.extend(chars);
    lowered
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn seconds_keep_one_to_three_decimals() {
        assert_eq!(seconds(Duration::from_secs(1)), "1.0 s");
        assert_eq!(seconds(Duration::from_millis(250)), "0.25 s");
        assert_eq!(seconds(Duration::from_millis(2500)), "2.5 s");
        assert_eq!(seconds(Duration::from_micros(1_234_567)), "1.234 s");
        assert_eq!(seconds(Duration::from_secs(10)), "10.0 s");
    }

    #[test]
    fn io_reasons_are_short_and_lower_case() {
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(io_reason(&refused), "connection refused");
        let unreachable = io::Error::from_raw_os_error(libc::ENETUNREACH);
        assert_eq!(io_reason(&unreachable), "network unreachable");
        let busy = io::Error::from_raw_os_error(libc::EBUSY);
        assert_eq!(io_reason(&busy), "device or resource busy");
    }

    #[test]
    fn describe_names_kind_and_target() {
        let tcp = ProbeSpec::TcpConnect("127.0.0.1:6443".parse().unwrap());
        assert_eq!(tcp.describe(), "tcp 127.0.0.1:6443");
        let mut get = HttpProbe::new("https://127.0.0.1:6443/healthz");
        get.tls_verify = false;
        assert_eq!(
            ProbeSpec::HttpGet(get).describe(),
            "http https://127.0.0.1:6443/healthz (no TLS verification)"
        );
        let icmp = ProbeSpec::IcmpEcho("2001:db8::1".parse().unwrap());
        assert_eq!(icmp.describe(), "icmp 2001:db8::1");
        let mut dns = DnsProbe::new("127.0.0.1:5353".parse().unwrap(), "vipd.test");
        dns.qtype = 28;
        assert_eq!(
            ProbeSpec::DnsQuery(dns).describe(),
            "dns vipd.test AAAA @127.0.0.1:5353"
        );
    }

    #[test]
    fn validate_rejects_bad_urls_and_names() {
        let bad_url = ProbeSpec::HttpGet(HttpProbe::new("ftp://127.0.0.1/"));
        assert!(bad_url
            .validate()
            .unwrap_err()
            .contains("http:// or https://"));
        let label = "a".repeat(64);
        let bad_name = ProbeSpec::DnsQuery(DnsProbe::new("127.0.0.1:53".parse().unwrap(), label));
        assert!(bad_name.validate().is_err());
        let good = ProbeSpec::HttpGet(HttpProbe::new("http://localhost:8080/healthz"));
        assert_eq!(good.validate(), Ok(()));
    }
}
