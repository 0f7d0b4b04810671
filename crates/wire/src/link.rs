//! Finding VRRP in captured link-layer frames (Ethernet with 802.1Q/802.1ad tags, Linux cooked
//! captures v1 and v2, raw IP), for `vipd sniff` and the fixture tests. Pure slicing: the VRRP
//! itself is decoded by [`crate::inspect_ipv4_packet`] / [`crate::inspect_message`].

use std::net::Ipv6Addr;

use crate::checksum::IPPROTO_VRRP;
use crate::decode::IPPROTO_AH;
use crate::error::WireError;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;

/// Link-layer header types vipd can read (pcap `LINKTYPE_*` values in the comments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// `LINKTYPE_ETHERNET` (1).
    Ethernet,
    /// `LINKTYPE_LINUX_SLL` (113), `tcpdump -i any` before libpcap 1.10.
    LinuxSll,
    /// `LINKTYPE_LINUX_SLL2` (276).
    LinuxSll2,
    /// `LINKTYPE_RAW` (101): the frame is an IP packet.
    RawIp,
}

impl LinkType {
    /// The link type of a pcap `LINKTYPE_*` number, if supported.
    pub fn from_pcap(linktype: u32) -> Option<LinkType> {
        match linktype {
            1 => Some(LinkType::Ethernet),
            113 => Some(LinkType::LinuxSll),
            276 => Some(LinkType::LinuxSll2),
            101 | 228 | 229 => Some(LinkType::RawIp),
            _ => None,
        }
    }
}

/// The IPv6 header fields a raw IPv6 socket would report beside the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6HeaderView {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Hop limit.
    pub hop_limit: u8,
}

/// VRRP found in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VrrpInFrame<'a> {
    /// A whole IPv4 packet (header included) with protocol VRRP or AH; give it to
    /// [`crate::inspect_ipv4_packet`].
    Ipv4(&'a [u8]),
    /// The VRRP message of an IPv6 packet, extension headers skipped and padding removed.
    Ipv6 {
        /// The IPv6 header.
        header: Ipv6HeaderView,
        /// The VRRP message.
        message: &'a [u8],
    },
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

/// The ethertype and network-layer bytes of a frame.
fn network_layer(link: LinkType, frame: &[u8]) -> Option<(u16, &[u8])> {
    let (mut ethertype, mut offset) = match link {
        LinkType::Ethernet => (be16(frame, 12)?, 14),
        LinkType::LinuxSll => (be16(frame, 14)?, 16),
        LinkType::LinuxSll2 => (be16(frame, 0)?, 20),
        LinkType::RawIp => {
            let ethertype = match frame.first()? >> 4 {
                4 => ETHERTYPE_IPV4,
                6 => ETHERTYPE_IPV6,
                _ => return None,
            };
            (ethertype, 0)
        }
    };
    // At most two tags (802.1ad outer + 802.1Q inner); deeper stacks are not VRRP we handle.
    for _ in 0..2 {
        if ethertype != ETHERTYPE_VLAN && ethertype != ETHERTYPE_QINQ {
            break;
        }
        ethertype = be16(frame, offset + 2)?;
        offset += 4;
    }
    Some((ethertype, frame.get(offset..)?))
}

/// Finds VRRP in a captured frame. `None` means the frame carries no VRRP (or too little of its
/// headers to tell); `Some(Err(Truncated))` means an IPv6 VRRP packet cut short.
pub fn vrrp_in_frame(link: LinkType, frame: &[u8]) -> Option<Result<VrrpInFrame<'_>, WireError>> {
    let (ethertype, network) = network_layer(link, frame)?;
    match ethertype {
        ETHERTYPE_IPV4 => {
            let protocol = *network.get(9)?;
            if network.first()? >> 4 != 4 || (protocol != IPPROTO_VRRP && protocol != IPPROTO_AH) {
                return None;
            }
            Some(Ok(VrrpInFrame::Ipv4(network)))
        }
        ETHERTYPE_IPV6 => ipv6_vrrp(network),
        _ => None,
    }
}

fn ipv6_vrrp(packet: &[u8]) -> Option<Result<VrrpInFrame<'_>, WireError>> {
    const HOP_BY_HOP: u8 = 0;
    const ROUTING: u8 = 43;
    const DESTINATION_OPTIONS: u8 = 60;
    if packet.len() < 40 || packet[0] >> 4 != 6 {
        return None;
    }
    let payload_len = usize::from(be16(packet, 4)?);
    let mut next_header = packet[6];
    let address =
        |at: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&packet[at..at + 16]).expect("16 bytes"));
    let header = Ipv6HeaderView {
        src: address(8),
        dst: address(24),
        hop_limit: packet[7],
    };
    let available = &packet[40..];
    let mut offset = 0;
    // Bounded: each extension header advances at least 8 bytes through a finite payload, and
    // at most 8 are followed.
    for _ in 0..8 {
        match next_header {
            IPPROTO_VRRP => {
                if payload_len > available.len() || offset > payload_len {
                    return Some(Err(WireError::Truncated));
                }
                return Some(Ok(VrrpInFrame::Ipv6 {
                    header,
                    message: &available[offset..payload_len],
                }));
            }
            HOP_BY_HOP | ROUTING | DESTINATION_OPTIONS | IPPROTO_AH => {
                let length_field = usize::from(*available.get(offset + 1)?);
                let length = if next_header == IPPROTO_AH {
                    (length_field + 2) * 4
                } else {
                    (length_field + 1) * 8
                };
                next_header = *available.get(offset)?;
                offset += length;
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_vrrp_packet() -> Vec<u8> {
        let mut packet = vec![
            0x45,
            0xc0,
            0,
            32,
            0,
            0,
            0,
            0,
            255,
            IPPROTO_VRRP,
            0,
            0,
            192,
            0,
            2,
            1,
            224,
            0,
            0,
            18,
        ];
        packet.extend_from_slice(&[0x31, 1, 100, 1, 0, 100, 0, 0, 192, 0, 2, 254]);
        packet
    }

    #[test]
    fn finds_ipv4_vrrp_behind_ethernet_vlan_and_cooked_headers() {
        let packet = ipv4_vrrp_packet();
        let mut ethernet = vec![0u8; 12];
        ethernet.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a, 0x08, 0x00]);
        ethernet.extend_from_slice(&packet);
        assert_eq!(
            vrrp_in_frame(LinkType::Ethernet, &ethernet),
            Some(Ok(VrrpInFrame::Ipv4(&packet)))
        );
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&packet);
        assert_eq!(
            vrrp_in_frame(LinkType::LinuxSll, &sll),
            Some(Ok(VrrpInFrame::Ipv4(&packet)))
        );
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.extend_from_slice(&packet);
        assert_eq!(
            vrrp_in_frame(LinkType::LinuxSll2, &sll2),
            Some(Ok(VrrpInFrame::Ipv4(&packet)))
        );
        assert_eq!(
            vrrp_in_frame(LinkType::RawIp, &packet),
            Some(Ok(VrrpInFrame::Ipv4(&packet)))
        );
    }

    #[test]
    fn skips_other_protocols_and_short_frames() {
        let mut udp = ipv4_vrrp_packet();
        udp[9] = 17;
        assert_eq!(vrrp_in_frame(LinkType::RawIp, &udp), None);
        assert_eq!(vrrp_in_frame(LinkType::Ethernet, &[0u8; 10]), None);
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0u8; 28]);
        assert_eq!(vrrp_in_frame(LinkType::Ethernet, &arp), None);
    }

    #[test]
    fn ipv6_extension_headers_are_walked_and_padding_dropped() {
        let mut packet = vec![0x60, 0, 0, 0, 0, 8 + 12, HOP_BY_HOP_FOR_TEST, 255];
        packet.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        packet.extend_from_slice(&[0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12]);
        packet.extend_from_slice(&[IPPROTO_VRRP, 0, 5, 2, 0, 0, 1, 0]);
        let message = [0x31, 1, 100, 0, 0, 100, 0, 0, 1, 2, 3, 4];
        packet.extend_from_slice(&message);
        packet.extend_from_slice(&[0xee; 6]);
        match vrrp_in_frame(LinkType::RawIp, &packet) {
            Some(Ok(VrrpInFrame::Ipv6 {
                header,
                message: found,
            })) => {
                assert_eq!(found, &message);
                assert_eq!(header.hop_limit, 255);
                assert_eq!(header.dst, "ff02::12".parse::<Ipv6Addr>().unwrap());
            }
            other => panic!("{other:?}"),
        }
        packet[5] = 200;
        assert_eq!(
            vrrp_in_frame(LinkType::RawIp, &packet),
            Some(Err(WireError::Truncated))
        );
    }

    const HOP_BY_HOP_FOR_TEST: u8 = 0;
}
