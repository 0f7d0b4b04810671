//! The DNS probe: one query over UDP to a connected socket (so only the server's datagrams
//! arrive), the reply matched on id and question, then judged on its rcode and, when asked, on
//! having at least one answer record. Records are counted from the header, never decoded.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use simple_dns::{header_buffer, Name, Packet, PacketFlag, Question, CLASS, QCLASS, QTYPE, RCODE};
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
    // "vipd.test." and "vipd.test" are the same name; the encoder wants it without the root dot.
    let text = probe.name.strip_suffix('.').unwrap_or(&probe.name);
    let name = Name::new(text).map_err(|error| format!("DNS name {:?}: {error}", probe.name))?;
    let qtype = match QTYPE::try_from(probe.qtype) {
        Ok(known) => known,
        Err(_) => QTYPE::TYPE(simple_dns::TYPE::Unknown(probe.qtype)),
    };
    let mut packet = Packet::new_query(id);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    packet
        .questions
        .push(Question::new(name, qtype, QCLASS::CLASS(CLASS::IN), false));
    packet
        .build_bytes_vec()
        .map_err(|error| format!("DNS name {:?}: {error}", probe.name))
}

/// `None` for a datagram that is not the reply to `query` (wrong id, not a response, another
/// question); else the verdict.
fn judge(reply: &[u8], query: &[u8], expect_answer: bool) -> Option<Result<(), String>> {
    if reply.len() < HEADER_LEN
        || header_buffer::id_unchecked(reply) != header_buffer::id_unchecked(query)
        || !header_buffer::has_flags_unchecked(reply, PacketFlag::RESPONSE)
    {
        return None;
    }
    let rcode = header_buffer::rcode_unchecked(reply);
    let question = &query[HEADER_LEN..];
    // Servers echo the question; some answer errors (FORMERR, REFUSED) without one.
    let echoed = match header_buffer::questions_unchecked(reply) {
        0 => rcode != RCODE::NoError,
        1 => reply
            .get(HEADER_LEN..HEADER_LEN + question.len())
            // Names compare case-insensitively; length octets (< 64) are never letters.
            .is_some_and(|echo| echo.eq_ignore_ascii_case(question)),
        _ => false,
    };
    if !echoed {
        return None;
    }
    if rcode != RCODE::NoError {
        return Some(Err(format!("DNS rcode {}", rcode_name(reply))));
    }
    if expect_answer && header_buffer::answers_unchecked(reply) == 0 {
        let truncated = header_buffer::has_flags_unchecked(reply, PacketFlag::TRUNCATION);
        return Some(Err(if truncated {
            "no answer (reply truncated)".to_owned()
        } else {
            "no answer".to_owned()
        }));
    }
    Some(Ok(()))
}

/// The rcode's mnemonic as dig prints it.
fn rcode_name(reply: &[u8]) -> String {
    let code = u16::from_be_bytes([reply[2], reply[3]]) & 0x000f;
    let name = match code {
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
