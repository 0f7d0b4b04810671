//! keepalived's `auth_type AH`: an IPsec Authentication Header (RFC 2402 layout) between the
//! IPv4 header (protocol 51) and a VRRPv2 advert, with an HMAC-MD5-96 integrity check value
//! keyed by `auth_pass` (its first 8 bytes, zero-padded), the SPI set to the sender's address
//! and a sequence number against replays. Pure: building and verifying packets, and the
//! sequence counter as a value; the daemon owns the counter and the socket.
//!
//! What keepalived 2.2.7 does, and this module reproduces:
//! - The ICV is HMAC-MD5 over the IPv4 header (options included), the AH header and the VRRP
//!   message, truncated to 12 bytes. Before hashing, the mutable IP fields (TOS, flags and
//!   fragment offset, header checksum) and the ICV field are zeroed; with unicast peers the TTL
//!   is zeroed too (routers may decrement it), with multicast it is covered (always 255).
//! - The sender fills the IP header itself (ID, total length, TTL) so the kernel changes only
//!   the header checksum, which the ICV does not cover.
//! - One sequence counter per instance serves both directions: every advert sent takes the
//!   next number; an advert received must carry a number above the counter and moves it up to
//!   that number. A backup therefore continues the master's sequence when it takes over. A
//!   master hearing a lower-priority advert sets its counter to that advert's number + 1, so
//!   its next advert is accepted by the other side again.

use std::net::Ipv4Addr;

use bytes::{BufMut, BytesMut};
use hmac::{Hmac, Mac};
use md5::Md5;
use thiserror::Error;

use crate::advert::{Advert, Auth, Version};
use crate::checksum::{ipv4_header_checksum, ChecksumFlavour, IPPROTO_VRRP};
use crate::decode::IPPROTO_AH;
use crate::encode::encode_into;
use crate::error::{EncodeError, WireError};

/// Length of the AH header keepalived sends: 12 fixed bytes and a 96-bit ICV.
pub const AH_HEADER_LEN: usize = 24;

/// Length of the truncated HMAC-MD5 (HMAC-MD5-96, RFC 2403).
pub const ICV_LEN: usize = 12;

/// The payload length field of that header: its length in 32-bit words minus 2.
pub const AH_PAYLOAD_LEN_FIELD: u8 = (AH_HEADER_LEN / 4 - 2) as u8;

/// The TOS keepalived sends VRRP with (precedence "internetwork control").
pub const TOS_NETWORK_CONTROL: u8 = 0xc0;

/// The highest sequence number keepalived sends; past it the counter stops ("cycled") until the
/// instance next becomes master.
pub const LAST_SEQUENCE: u32 = 0xffff_fffe;

const IPV4_HEADER_LEN: usize = 20;

/// The HMAC key: `auth_pass` cut to 8 bytes and zero-padded, as keepalived stores it.
#[derive(Clone, PartialEq, Eq)]
pub struct AhKey([u8; 8]);

impl AhKey {
    /// The key for an `auth_pass` (longer ones are cut to 8 bytes, as keepalived does).
    pub fn from_auth_pass(pass: &[u8]) -> AhKey {
        let mut key = [0u8; 8];
        let len = pass.len().min(8);
        key[..len].copy_from_slice(&pass[..len]);
        AhKey(key)
    }
}

impl std::fmt::Debug for AhKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AhKey(..)")
    }
}

/// The AH header as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct AhHeader {
    /// Protocol of what follows (112 for VRRP).
    pub next_header: u8,
    /// Length in 32-bit words minus 2 (4 for a 96-bit ICV).
    pub payload_len: u8,
    /// Security parameter index: keepalived puts the sender's IPv4 address here.
    pub spi: u32,
    /// Sequence number.
    pub sequence: u32,
    /// The integrity check value.
    pub icv: [u8; ICV_LEN],
}

impl AhHeader {
    /// Reads the header at the start of `bytes` (the IP payload).
    pub fn parse(bytes: &[u8]) -> Result<AhHeader, AhError> {
        let header = bytes.get(..AH_HEADER_LEN).ok_or(AhError::Truncated)?;
        let word = |at: usize| u32::from_be_bytes(header[at..at + 4].try_into().expect("4 bytes"));
        let mut icv = [0u8; ICV_LEN];
        icv.copy_from_slice(&header[12..AH_HEADER_LEN]);
        Ok(AhHeader {
            next_header: header[0],
            payload_len: header[1],
            spi: word(4),
            sequence: word(8),
            icv,
        })
    }
}

/// Why an AH-protected advert is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AhError {
    /// The packet ends inside its IPv4 or AH header.
    #[error("truncated IPv4/AH header")]
    Truncated,
    /// Not IPv4 with protocol 51, or the AH protects something other than VRRP.
    #[error("not an AH-protected VRRP packet")]
    NotAhVrrp,
    /// An AH header of another length than keepalived's 24 bytes (HMAC-MD5-96).
    #[error("AH payload length {0}, expected {AH_PAYLOAD_LEN_FIELD} (HMAC-MD5-96)")]
    Layout(u8),
    /// The ICV does not match: another `auth_pass`, or the packet was changed on the way.
    #[error("AH ICV mismatch (another auth_pass, or a changed packet)")]
    Icv,
    /// The SPI is not the source address, as keepalived requires.
    #[error("AH SPI {spi:#010x} is not the source address {src}")]
    Spi { spi: u32, src: Ipv4Addr },
    /// The sequence number is not above the last one accepted or sent.
    #[error("AH sequence number {sequence} already seen (last {last})")]
    Replay { sequence: u32, last: u32 },
}

impl AhError {
    /// The VRRP statistics counter keepalived increments for it.
    pub const fn counted_as(self) -> WireError {
        match self {
            AhError::Truncated => WireError::Truncated,
            AhError::NotAhVrrp => WireError::NotVrrp,
            AhError::Layout(_) | AhError::Icv | AhError::Spi { .. } | AhError::Replay { .. } => {
                WireError::AuthFailure
            }
        }
    }
}

/// The IPv4 header length and total length of `packet`, checked against its size.
fn ipv4_lengths(packet: &[u8]) -> Result<(usize, usize), AhError> {
    let first = *packet.first().ok_or(AhError::Truncated)?;
    if first >> 4 != 4 {
        return Err(AhError::NotAhVrrp);
    }
    let header_len = usize::from(first & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([
        *packet.get(2).ok_or(AhError::Truncated)?,
        *packet.get(3).ok_or(AhError::Truncated)?,
    ]));
    if header_len < IPV4_HEADER_LEN || total < header_len + AH_HEADER_LEN || packet.len() < total {
        return Err(AhError::Truncated);
    }
    Ok((header_len, total))
}

/// The ICV of a whole IPv4 packet (IP header with options, AH header, VRRP message; bytes past
/// the total length are ignored), computed as keepalived does: mutable fields and the ICV field
/// zeroed, and the TTL too when the instance uses `unicast` peers.
pub fn icv(key: &AhKey, packet: &[u8], unicast: bool) -> Result<[u8; ICV_LEN], AhError> {
    let (header_len, total) = ipv4_lengths(packet)?;
    let covered_headers = header_len + AH_HEADER_LEN;
    // IHL is at most 15 words.
    let mut headers = [0u8; 60 + AH_HEADER_LEN];
    let headers = &mut headers[..covered_headers];
    headers.copy_from_slice(&packet[..covered_headers]);
    headers[1] = 0; // TOS
    headers[6] = 0; // flags, fragment offset
    headers[7] = 0;
    if unicast {
        headers[8] = 0;
    }
    headers[10] = 0; // header checksum
    headers[11] = 0;
    headers[header_len + 12..].fill(0);
    let mut mac = Hmac::<Md5>::new_from_slice(&key.0).expect("HMAC takes keys of any length");
    mac.update(headers);
    mac.update(&packet[covered_headers..total]);
    let digest = mac.finalize().into_bytes();
    let mut truncated = [0u8; ICV_LEN];
    truncated.copy_from_slice(&digest[..ICV_LEN]);
    Ok(truncated)
}

/// Verifies the AH of a received IPv4 packet in keepalived's order: layout, ICV (in constant
/// time), then SPI = source address. The sequence number is left to [`AhSequence`].
pub fn verify_ipv4_packet(key: &AhKey, packet: &[u8], unicast: bool) -> Result<AhHeader, AhError> {
    let (header_len, _) = ipv4_lengths(packet)?;
    if packet[9] != IPPROTO_AH {
        return Err(AhError::NotAhVrrp);
    }
    let ah = AhHeader::parse(&packet[header_len..])?;
    if ah.next_header != IPPROTO_VRRP {
        return Err(AhError::NotAhVrrp);
    }
    if ah.payload_len != AH_PAYLOAD_LEN_FIELD {
        return Err(AhError::Layout(ah.payload_len));
    }
    let expected = icv(key, packet, unicast)?;
    let difference = expected
        .iter()
        .zip(&ah.icv)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if difference != 0 {
        return Err(AhError::Icv);
    }
    let src = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    if ah.spi != u32::from(src) {
        return Err(AhError::Spi { spi: ah.spi, src });
    }
    Ok(ah)
}

/// The IP-level facts of one AH advert to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AhSend {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    /// The IPv4 identification; never 0, which the kernel would replace after the ICV is made.
    pub ip_id: u16,
    /// From [`AhSequence::next_outgoing`].
    pub sequence: u32,
    /// Whether the ICV leaves the TTL out (unicast peers), see [`icv`].
    pub unicast: bool,
}

/// Appends a whole IPv4 packet to `out`: a 20-byte header (TOS 0xc0, no fragmentation flags,
/// protocol 51, header checksum set), the AH header with its ICV, and the VRRPv2 message of
/// `advert` (authentication type 2, its 8 authentication bytes zero). For a raw socket with
/// `IP_HDRINCL`. Nothing is appended on error.
pub fn encode_ipv4_ah_packet(
    advert: &Advert,
    key: &AhKey,
    send: &AhSend,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if advert.version != Version::V2 {
        return Err(EncodeError::AuthInVersion3);
    }
    let advert = Advert {
        auth: Auth::Ah,
        ..advert.clone()
    };
    let start = out.len();
    out.put_bytes(0, IPV4_HEADER_LEN + AH_HEADER_LEN);
    if let Err(e) = encode_into(
        &advert,
        ChecksumFlavour::Plain,
        send.src.into(),
        send.dst.into(),
        out,
    ) {
        out.truncate(start);
        return Err(e);
    }
    let packet = &mut out[start..];
    // An advert is at most 20 + 24 + 8 + 255 × 4 + 8 bytes.
    let total_len = packet.len() as u16;
    let header = &mut packet[..IPV4_HEADER_LEN];
    header[0] = 0x45;
    header[1] = TOS_NETWORK_CONTROL;
    header[2..4].copy_from_slice(&total_len.to_be_bytes());
    header[4..6].copy_from_slice(&send.ip_id.to_be_bytes());
    header[8] = send.ttl;
    header[9] = IPPROTO_AH;
    header[12..16].copy_from_slice(&send.src.octets());
    header[16..20].copy_from_slice(&send.dst.octets());
    let ah = &mut packet[IPV4_HEADER_LEN..IPV4_HEADER_LEN + AH_HEADER_LEN];
    ah[0] = IPPROTO_VRRP;
    ah[1] = AH_PAYLOAD_LEN_FIELD;
    ah[4..8].copy_from_slice(&send.src.octets());
    ah[8..12].copy_from_slice(&send.sequence.to_be_bytes());
    let icv = icv(key, packet, send.unicast).expect("a packet built here is well formed");
    packet[IPV4_HEADER_LEN + 12..IPV4_HEADER_LEN + AH_HEADER_LEN].copy_from_slice(&icv);
    let checksum = ipv4_header_checksum(&packet[..IPV4_HEADER_LEN]);
    packet[10..12].copy_from_slice(&checksum.to_be_bytes());
    Ok(())
}

/// keepalived's per-instance AH sequence counter, shared by what is sent and what is heard.
/// Starts at 0 on start (kept across a reload); the first advert sent carries 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AhSequence {
    last: u32,
    cycled: bool,
}

impl AhSequence {
    /// A fresh counter, as after a start.
    pub const fn new() -> AhSequence {
        AhSequence {
            last: 0,
            cycled: false,
        }
    }

    /// The last number sent or accepted.
    pub const fn last(&self) -> u32 {
        self.last
    }

    /// The number of the next advert to send. Past [`LAST_SEQUENCE`] the number stays there
    /// (keepalived's "cycled" state) until [`AhSequence::on_become_master`].
    pub fn next_outgoing(&mut self) -> u32 {
        if self.last >= LAST_SEQUENCE {
            self.cycled = true;
        } else {
            self.last += 1;
        }
        self.last
    }

    /// Checks a verified advert's number: above the counter it is accepted and becomes the
    /// counter; otherwise it is a replay (keepalived logs "already processed" and counts an
    /// authentication failure).
    pub fn check_received(&mut self, sequence: u32) -> Result<(), AhError> {
        if sequence > self.last {
            self.last = sequence;
            self.cycled = false;
            Ok(())
        } else {
            Err(AhError::Replay {
                sequence,
                last: self.last,
            })
        }
    }

    /// A master heard an accepted advert of lower priority (a peer that became master while cut
    /// off): continue above its number, so that peer accepts the adverts that make it back off.
    pub fn master_heard_lower(&mut self, sequence: u32) {
        self.last = sequence.saturating_add(1);
        self.cycled = false;
    }

    /// Becoming master after the counter ran out starts it again from 0.
    pub fn on_become_master(&mut self) {
        if self.cycled {
            self.cycled = false;
            self.last = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_ipv4_packet;

    const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const R1: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
    const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

    fn advert(priority: u8) -> Advert {
        Advert::v2(1, priority, 1, vec![VIP], Auth::Ah)
    }

    fn send(sequence: u32) -> AhSend {
        AhSend {
            src: R1,
            dst: GROUP,
            ttl: 255,
            ip_id: 7,
            sequence,
            unicast: false,
        }
    }

    fn packet(priority: u8, key: &AhKey, send: &AhSend) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_ipv4_ah_packet(&advert(priority), key, send, &mut out).unwrap();
        out.to_vec()
    }

    #[test]
    fn a_built_packet_verifies_and_decodes_as_the_advert() {
        let key = AhKey::from_auth_pass(b"SECUREUN");
        let bytes = packet(200, &key, &send(1));
        assert_eq!(bytes.len(), 20 + 24 + 8 + 4 + 8);
        assert_eq!((bytes[9], bytes[20], bytes[21]), (IPPROTO_AH, 112, 4));
        let ah = verify_ipv4_packet(&key, &bytes, false).unwrap();
        assert_eq!((ah.spi, ah.sequence), (u32::from(R1), 1));
        let received = decode_ipv4_packet(&bytes).unwrap();
        assert_eq!(received.advert, advert(200));
        assert!(received.header.authentication_header);
    }

    #[test]
    fn another_password_fails_the_icv() {
        let bytes = packet(200, &AhKey::from_auth_pass(b"SECUREUN"), &send(1));
        let wrong = AhKey::from_auth_pass(b"SECUREUM");
        assert_eq!(verify_ipv4_packet(&wrong, &bytes, false), Err(AhError::Icv));
        assert_eq!(AhError::Icv.counted_as(), WireError::AuthFailure);
    }

    #[test]
    fn the_key_is_the_first_eight_bytes_of_auth_pass() {
        assert_eq!(
            AhKey::from_auth_pass(b"SECUREUNIQUEPASSWORD"),
            AhKey::from_auth_pass(b"SECUREUN")
        );
        let short = AhKey::from_auth_pass(b"abc");
        assert_eq!(short.0, *b"abc\0\0\0\0\0");
    }

    #[test]
    fn mutable_fields_are_not_covered_but_everything_else_is() {
        let key = AhKey::from_auth_pass(b"pw");
        let bytes = packet(100, &key, &send(3));
        let mut changed = bytes.clone();
        changed[1] = 0x00; // TOS
        changed[6] = 0x40; // DF
        changed[10] ^= 0xff; // header checksum
        assert!(verify_ipv4_packet(&key, &changed, false).is_ok());
        for (offset, what) in [
            (8, "TTL"),
            (4, "IP ID"),
            (16, "destination"),
            (50, "priority"),
        ] {
            let mut changed = bytes.clone();
            changed[offset] ^= 1;
            assert_eq!(
                verify_ipv4_packet(&key, &changed, false),
                Err(AhError::Icv),
                "{what} is covered"
            );
        }
    }

    #[test]
    fn unicast_leaves_the_ttl_out_of_the_icv() {
        let key = AhKey::from_auth_pass(b"pw");
        let unicast = AhSend {
            dst: Ipv4Addr::new(192, 0, 2, 12),
            unicast: true,
            ..send(1)
        };
        let mut bytes = packet(100, &key, &unicast);
        bytes[8] = 17;
        assert!(verify_ipv4_packet(&key, &bytes, true).is_ok());
        assert_eq!(verify_ipv4_packet(&key, &bytes, false), Err(AhError::Icv));
    }

    #[test]
    fn the_spi_must_be_the_source_address() {
        // A packet whose SPI and ICV were made for another source address than it carries.
        let key = AhKey::from_auth_pass(b"pw");
        let mut bytes = packet(100, &key, &send(1));
        bytes[24..28].copy_from_slice(&[192, 0, 2, 99]);
        let icv = icv(&key, &bytes, false).unwrap();
        bytes[32..44].copy_from_slice(&icv);
        assert!(matches!(
            verify_ipv4_packet(&key, &bytes, false),
            Err(AhError::Spi { .. })
        ));
    }

    #[test]
    fn malformed_headers_are_named() {
        let key = AhKey::from_auth_pass(b"pw");
        let bytes = packet(100, &key, &send(1));
        assert_eq!(
            verify_ipv4_packet(&key, &bytes[..30], false),
            Err(AhError::Truncated)
        );
        let mut other = bytes.clone();
        other[20] = 6;
        assert_eq!(
            verify_ipv4_packet(&key, &other, false),
            Err(AhError::NotAhVrrp)
        );
        let mut longer = bytes.clone();
        longer[21] = 5;
        assert_eq!(
            verify_ipv4_packet(&key, &longer, false),
            Err(AhError::Layout(5))
        );
    }

    #[test]
    fn only_v2_adverts_travel_with_ah() {
        let v3 = Advert::v3(1, 100, 100, crate::Addresses::V4(vec![VIP].into()));
        let mut out = BytesMut::new();
        let key = AhKey::from_auth_pass(b"pw");
        assert!(encode_ipv4_ah_packet(&v3, &key, &send(1), &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn sequence_numbers_rise_and_are_shared_by_both_directions() {
        let mut counter = AhSequence::new();
        assert_eq!(counter.next_outgoing(), 1);
        assert_eq!(counter.next_outgoing(), 2);
        // A backup follows the master's numbers; an old or repeated one is a replay.
        assert_eq!(counter.check_received(40), Ok(()));
        assert_eq!(
            counter.check_received(40),
            Err(AhError::Replay {
                sequence: 40,
                last: 40
            })
        );
        assert!(counter.check_received(39).is_err());
        // Taking over continues the master's sequence.
        assert_eq!(counter.next_outgoing(), 41);
    }

    #[test]
    fn a_restarted_peer_is_refused_until_it_continues_above_the_counter() {
        let mut survivor = AhSequence::new();
        survivor.check_received(500).unwrap();
        let mut restarted = AhSequence::new();
        let first = restarted.next_outgoing();
        assert!(survivor.check_received(first).is_err());
        // The restarted peer hears the survivor, follows its numbers, and is heard again.
        restarted.check_received(survivor.next_outgoing()).unwrap();
        assert_eq!(survivor.check_received(restarted.next_outgoing()), Ok(()));
    }

    #[test]
    fn a_master_hearing_a_lower_priority_advert_jumps_above_it() {
        let mut master = AhSequence::new();
        master.next_outgoing();
        master.master_heard_lower(900);
        assert_eq!(master.next_outgoing(), 902);
    }

    #[test]
    fn an_exhausted_counter_stops_and_restarts_on_becoming_master() {
        let mut counter = AhSequence::new();
        counter.check_received(LAST_SEQUENCE).unwrap();
        assert_eq!(counter.next_outgoing(), LAST_SEQUENCE);
        assert_eq!(counter.next_outgoing(), LAST_SEQUENCE);
        counter.on_become_master();
        assert_eq!(counter.next_outgoing(), 1);
        let mut fresh = AhSequence::new();
        fresh.next_outgoing();
        fresh.on_become_master();
        assert_eq!(fresh.last(), 1, "a counter that did not run out is kept");
    }
}
