//! The DNS probe: one query over UDP to a connected socket (so only the server's datagrams
//! arrive), the reply matched on id and question, then judged on its rcode and, when asked, on
//! having at least one answer record. Records are counted from the header, never decoded.
//!
//! The query (a 12-byte header and one question) and the header fields read back are written
//! here, not with a DNS crate: `simple-dns` was tried, but its only public encoder is `Packet`,
//! which links every record type's writer (25 KB of code measured) for this one message, and
//! `hickory-proto` is larger still. What is hand-written is the name encoding of RFC 1035 §3.1
//! with its limits, and four header fields.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::net::UdpSocket;

use super::{io_reason, DnsProbe};

pub(super) const TYPE_A: u16 = 1;

/// Mnemonics a configuration is likely to use; any other type is written `TYPE<n>` (RFC 3597).
const TYPE_NAMES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("PTR", 12),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("SRV", 33),
    ("NAPTR", 35),
    ("DS", 43),
    ("DNSKEY", 48),
    ("SVCB", 64),
    ("HTTPS", 65),
    ("CAA", 257),
    ("ANY", 255),
];

const HEADER_LEN: usize = 12;
const MAX_LABEL: usize = 63;
/// Of the encoded name, length octets and final zero included (RFC 1035 §2.3.4).
const MAX_NAME: usize = 255;
const CLASS_IN: u16 = 1;
const FLAG_RESPONSE: u16 = 0x8000;
const FLAG_TRUNCATED: u16 = 0x0200;
const FLAG_RECURSION_DESIRED: u16 = 0x0100;
const RCODE_MASK: u16 = 0x000f;
/// Without EDNS a server's UDP reply fits in 512 bytes; only its header and question are read.
const MAX_REPLY: usize = 512;

pub(super) fn type_from_name(name: &str) -> Option<u16> {
    if let Some(number) = name
        .get(..4)
        .filter(|prefix| prefix.eq_ignore_ascii_case("TYPE"))
        .and_then(|_| name[4..].parse().ok())
    {
        return Some(number);
    }
    TYPE_NAMES
        .iter()
        .find(|(mnemonic, _)| mnemonic.eq_ignore_ascii_case(name))
        .map(|&(_, number)| number)
}

pub(super) fn type_name(qtype: u16) -> String {
    TYPE_NAMES
        .iter()
        .find(|&&(_, number)| number == qtype)
        .map(|(mnemonic, _)| (*mnemonic).to_owned())
        .unwrap_or_else(|| format!("TYPE{qtype}"))
}

pub(super) async fn query(probe: &DnsProbe) -> Result<(), String> {
    let id = super::random_u64() as u16;
    let query = build_query(id, probe)?;
    let local: SocketAddr = if probe.server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|error| io_reason(&error))?;
    socket
        .connect(probe.server)
        .await
        .map_err(|error| io_reason(&error))?;
    socket
        .send(&query)
        .await
        .map_err(|error| io_reason(&error))?;
    let mut reply = [0u8; MAX_REPLY];
    loop {
        // A port unreachable from the server comes back here as "connection refused".
        let length = socket
            .recv(&mut reply)
            .await
            .map_err(|error| io_reason(&error))?;
        if let Some(verdict) = judge(&reply[..length], &query, probe.expect_answer) {
            return verdict;
        }
    }
}

/// The query in wire format: recursion desired, one question of class IN, no EDNS.
pub(super) fn build_query(id: u16, probe: &DnsProbe) -> Result<Vec<u8>, String> {
    let bad = |why: &str| format!("DNS name {:?}: {why}", probe.name);
    // "vipd.test." and "vipd.test" are the same name; "." alone is the root.
    let text = probe.name.strip_suffix('.').unwrap_or(&probe.name);
    let mut query = Vec::with_capacity(HEADER_LEN + text.len() + 6);
    query.extend_from_slice(&id.to_be_bytes());
    query.extend_from_slice(&FLAG_RECURSION_DESIRED.to_be_bytes());
    query.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // one question, no records
    if !text.is_empty() {
        for label in text.split('.') {
            if label.is_empty() {
                return Err(bad("empty label"));
            }
            if label.len() > MAX_LABEL {
                return Err(bad("label longer than 63 bytes"));
            }
            if label.bytes().any(|byte| byte <= b' ' || byte == 0x7f) {
                return Err(bad("spaces or control characters"));
            }
            query.push(label.len() as u8);
            query.extend_from_slice(label.as_bytes());
        }
    }
    query.push(0);
    if query.len() - HEADER_LEN > MAX_NAME {
        return Err(bad("longer than 255 bytes"));
    }
    query.extend_from_slice(&probe.qtype.to_be_bytes());
    query.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(query)
}

/// `None` for a datagram that is not the reply to `query` (wrong id, not a response, another
/// question); else the verdict.
fn judge(reply: &[u8], query: &[u8], expect_answer: bool) -> Option<Result<(), String>> {
    let field = |at: usize| u16::from_be_bytes([reply[at], reply[at + 1]]);
    if reply.len() < HEADER_LEN || reply[..2] != query[..2] || field(2) & FLAG_RESPONSE == 0 {
        return None;
    }
    let (flags, questions, answers) = (field(2), field(4), field(6));
    let rcode = flags & RCODE_MASK;
    let question = &query[HEADER_LEN..];
    // Servers echo the question; some answer errors (FORMERR, REFUSED) without one.
    let echoed = match questions {
        0 => rcode != 0,
        1 => reply
            .get(HEADER_LEN..HEADER_LEN + question.len())
            // Names compare case-insensitively; length octets (< 64) are never letters.
            .is_some_and(|echo| echo.eq_ignore_ascii_case(question)),
        _ => false,
    };
    if !echoed {
        return None;
    }
    if rcode != 0 {
        return Some(Err(format!("DNS rcode {}", rcode_name(rcode))));
    }
    if expect_answer && answers == 0 {
        return Some(Err(if flags & FLAG_TRUNCATED != 0 {
            "no answer (reply truncated)".to_owned()
        } else {
            "no answer".to_owned()
        }));
    }
    Some(Ok(()))
}

/// The rcode's mnemonic as dig prints it.
fn rcode_name(rcode: u16) -> String {
    let name = match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        other => return format!("{other}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(name: &str, qtype: u16) -> DnsProbe {
        DnsProbe {
            server: "127.0.0.1:53".parse().unwrap(),
            name: name.to_owned(),
            qtype,
            expect_answer: true,
        }
    }

    /// The reply a server would send: the query's header with QR, `rcode` and `answers`, the
    /// question echoed, answers left out (only the count is read).
    fn reply_to(query: &[u8], rcode: u8, answers: u16) -> Vec<u8> {
        let mut reply = query.to_vec();
        reply[2] |= 0x80;
        reply[3] = (reply[3] & 0xf0) | rcode;
        reply[6..8].copy_from_slice(&answers.to_be_bytes());
        reply
    }

    #[test]
    fn queries_are_wire_format() {
        let query = build_query(0x1234, &probe("vipd.test.", 28)).unwrap();
        let mut expected = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        expected.extend_from_slice(b"\x04vipd\x04test\x00\x00\x1c\x00\x01");
        assert_eq!(query, expected);
        let unusual = build_query(1, &probe("vipd.test", 65280)).unwrap();
        assert_eq!(&unusual[unusual.len() - 4..], &[0xff, 0x00, 0, 1]);
        assert!(build_query(1, &probe(&"x".repeat(64), 1)).is_err());
        assert!(build_query(1, &probe(&"x".repeat(63), 1)).is_ok());
        let long = ["x".repeat(63).as_str(); 4].join(".");
        assert!(
            build_query(1, &probe(&long, 1)).is_err(),
            "257 bytes encoded"
        );
        assert!(
            build_query(1, &probe(&long[2..], 1)).is_ok(),
            "255 bytes encoded"
        );
        assert!(build_query(1, &probe("a..b", 1)).is_err());
        assert!(build_query(1, &probe("a b", 1)).is_err());
        let root = build_query(1, &probe(".", 2)).unwrap();
        assert_eq!(&root[HEADER_LEN..], &[0, 0, 2, 0, 1]);
    }

    #[test]
    fn replies_are_matched_and_judged() {
        let query = build_query(7, &probe("vipd.test", 1)).unwrap();
        assert_eq!(judge(&reply_to(&query, 0, 1), &query, true), Some(Ok(())));
        assert_eq!(
            judge(&reply_to(&query, 3, 0), &query, true),
            Some(Err("DNS rcode NXDOMAIN".to_owned()))
        );
        assert_eq!(
            judge(&reply_to(&query, 0, 0), &query, true),
            Some(Err("no answer".to_owned()))
        );
        assert_eq!(judge(&reply_to(&query, 0, 0), &query, false), Some(Ok(())));
        let mut upper = reply_to(&query, 0, 1);
        upper[13..17].copy_from_slice(b"VIPD");
        assert_eq!(judge(&upper, &query, true), Some(Ok(())));
    }

    #[test]
    fn strangers_are_ignored() {
        let query = build_query(7, &probe("vipd.test", 1)).unwrap();
        assert_eq!(judge(&query, &query, true), None, "not a response");
        let mut other_id = reply_to(&query, 0, 1);
        other_id[1] = 8;
        assert_eq!(judge(&other_id, &query, true), None);
        let mut other_name = reply_to(&query, 0, 1);
        other_name[13] = b'x';
        assert_eq!(judge(&other_name, &query, true), None);
        assert_eq!(judge(&query[..5], &query, true), None);
        let mut refused_bare = reply_to(&query, 5, 0)[..HEADER_LEN].to_vec();
        refused_bare[4..6].copy_from_slice(&[0, 0]);
        assert_eq!(
            judge(&refused_bare, &query, true),
            Some(Err("DNS rcode REFUSED".to_owned()))
        );
    }

    #[test]
    fn type_names_round_trip() {
        assert_eq!(type_from_name("aaaa"), Some(28));
        assert_eq!(type_from_name("TYPE65280"), Some(65280));
        assert_eq!(type_from_name("BOGUS"), None);
        assert_eq!(type_name(1), "A");
        assert_eq!(type_name(65280), "TYPE65280");
    }
}
