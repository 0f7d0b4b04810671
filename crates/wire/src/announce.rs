//! Frames a new master sends so hosts and switches learn where a virtual address now lives:
//! gratuitous ARP for IPv4 (in the request form keepalived sends) and unsolicited Neighbor
//! Advertisements for IPv6 (RFC 9568 §8.2, RFC 4861 §7.2.6). Built with pnet_packet; the
//! caller sends them on an AF_PACKET socket.

use std::net::{Ipv4Addr, Ipv6Addr};

use pnet_base::MacAddr;
use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, MutableArpPacket};
use pnet_packet::ethernet::{EtherTypes, MutableEthernetPacket};
use pnet_packet::icmpv6::ndp::{MutableNdpOptionPacket, NdpOptionTypes, NeighborAdvertFlags};
use pnet_packet::icmpv6::{Icmpv6Code, Icmpv6Types};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv6::MutableIpv6Packet;

use crate::checksum::icmpv6_checksum;

const ETHERNET_HEADER_LEN: usize = 14;
const ARP_LEN: usize = 28;
const IPV6_HEADER_LEN: usize = 40;
/// Neighbor Advertisement (24 bytes) + one target link-layer address option (8 bytes).
const NA_LEN: usize = 24 + 8;

/// The all-nodes link-local multicast group.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

fn mac(bytes: [u8; 6]) -> MacAddr {
    MacAddr::new(bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5])
}

/// A 42-byte gratuitous ARP frame announcing that `ip` is at `src_mac`: Ethernet broadcast, ARP
/// request with sender and target protocol address both `ip` and target hardware address
/// ff:ff:ff:ff:ff:ff, as keepalived sends it. The NIC pads it to the Ethernet minimum.
pub fn gratuitous_arp_frame(src_mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    let mut frame = vec![0u8; ETHERNET_HEADER_LEN + ARP_LEN];
    {
        let mut ethernet =
            MutableEthernetPacket::new(&mut frame).expect("buffer sized for an Ethernet header");
        ethernet.set_destination(MacAddr::broadcast());
        ethernet.set_source(mac(src_mac));
        ethernet.set_ethertype(EtherTypes::Arp);
    }
    let mut arp =
        MutableArpPacket::new(&mut frame[ETHERNET_HEADER_LEN..]).expect("buffer sized for ARP");
    arp.set_hardware_type(ArpHardwareTypes::Ethernet);
    arp.set_protocol_type(EtherTypes::Ipv4);
    arp.set_hw_addr_len(6);
    arp.set_proto_addr_len(4);
    arp.set_operation(ArpOperations::Request);
    arp.set_sender_hw_addr(mac(src_mac));
    arp.set_sender_proto_addr(ip);
    arp.set_target_hw_addr(MacAddr::broadcast());
    arp.set_target_proto_addr(ip);
    frame
}

/// An unsolicited Neighbor Advertisement frame announcing that `ip` is at `src_mac`: Ethernet
/// to 33:33:00:00:00:01, IPv6 from `ip` to ff02::1 with hop limit 255, Router and Override
/// flags set, Solicited clear, a target link-layer address option, ICMPv6 checksum set.
/// The source is the virtual address itself, as keepalived sends it.
pub fn unsolicited_na_frame(src_mac: [u8; 6], ip: Ipv6Addr) -> Vec<u8> {
    let mut frame = vec![0u8; ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + NA_LEN];
    {
        let mut ethernet =
            MutableEthernetPacket::new(&mut frame).expect("buffer sized for an Ethernet header");
        ethernet.set_destination(MacAddr::new(0x33, 0x33, 0, 0, 0, 1));
        ethernet.set_source(mac(src_mac));
        ethernet.set_ethertype(EtherTypes::Ipv6);
    }
    {
        let mut ipv6 = MutableIpv6Packet::new(&mut frame[ETHERNET_HEADER_LEN..])
            .expect("buffer sized for IPv6");
        ipv6.set_version(6);
        ipv6.set_payload_length(NA_LEN as u16);
        ipv6.set_next_header(IpNextHeaderProtocols::Icmpv6);
        ipv6.set_hop_limit(255);
        ipv6.set_source(ip);
        ipv6.set_destination(ALL_NODES);
    }
    let icmp_start = ETHERNET_HEADER_LEN + IPV6_HEADER_LEN;
    {
        let message = &mut frame[icmp_start..];
        message[0] = Icmpv6Types::NeighborAdvert.0;
        message[1] = Icmpv6Code(0).0;
        message[4] = NeighborAdvertFlags::Router | NeighborAdvertFlags::Override;
        message[8..24].copy_from_slice(&ip.octets());
        let mut option =
            MutableNdpOptionPacket::new(&mut message[24..]).expect("buffer sized for one option");
        option.set_option_type(NdpOptionTypes::TargetLLAddr);
        // In units of 8 bytes: type, length and a 6-byte MAC.
        option.set_length(1);
        option.set_data(&src_mac);
    }
    let checksum = icmpv6_checksum(&frame[icmp_start..], ip, ALL_NODES);
    frame[icmp_start + 2..icmp_start + 4].copy_from_slice(&checksum.to_be_bytes());
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet_packet::arp::ArpPacket;
    use pnet_packet::ethernet::EthernetPacket;
    use pnet_packet::icmpv6::ndp::NeighborAdvertPacket;
    use pnet_packet::icmpv6::{self, Icmpv6Packet};
    use pnet_packet::ipv6::Ipv6Packet;
    use pnet_packet::Packet;

    const VMAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x33];

    #[test]
    fn gratuitous_arp_parses_back_as_keepalived_request() {
        let ip = Ipv4Addr::new(192, 0, 2, 254);
        let frame = gratuitous_arp_frame(VMAC, ip);
        assert_eq!(frame.len(), 42);
        let ethernet = EthernetPacket::new(&frame).unwrap();
        assert_eq!(ethernet.get_destination(), MacAddr::broadcast());
        assert_eq!(ethernet.get_source(), mac(VMAC));
        assert_eq!(ethernet.get_ethertype(), EtherTypes::Arp);
        let arp = ArpPacket::new(ethernet.payload()).unwrap();
        assert_eq!(arp.get_operation(), ArpOperations::Request);
        assert_eq!(arp.get_hardware_type(), ArpHardwareTypes::Ethernet);
        assert_eq!(arp.get_protocol_type(), EtherTypes::Ipv4);
        assert_eq!(arp.get_sender_hw_addr(), mac(VMAC));
        assert_eq!(arp.get_sender_proto_addr(), ip);
        assert_eq!(arp.get_target_hw_addr(), MacAddr::broadcast());
        assert_eq!(arp.get_target_proto_addr(), ip);
    }

    #[test]
    fn unsolicited_na_parses_back_with_valid_checksum_and_flags() {
        let ip: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let frame = unsolicited_na_frame(VMAC, ip);
        let ethernet = EthernetPacket::new(&frame).unwrap();
        assert_eq!(
            ethernet.get_destination(),
            MacAddr::new(0x33, 0x33, 0, 0, 0, 1)
        );
        assert_eq!(ethernet.get_ethertype(), EtherTypes::Ipv6);
        let ipv6 = Ipv6Packet::new(ethernet.payload()).unwrap();
        assert_eq!(ipv6.get_hop_limit(), 255);
        assert_eq!(ipv6.get_source(), ip);
        assert_eq!(ipv6.get_destination(), ALL_NODES);
        assert_eq!(usize::from(ipv6.get_payload_length()), ipv6.payload().len());
        let icmp = Icmpv6Packet::new(ipv6.payload()).unwrap();
        assert_eq!(
            icmp.get_checksum(),
            icmpv6::checksum(&icmp, &ip, &ALL_NODES),
            "pnet's own checksum agrees"
        );
        let na = NeighborAdvertPacket::new(ipv6.payload()).unwrap();
        assert_eq!(na.get_icmpv6_type(), Icmpv6Types::NeighborAdvert);
        assert_eq!(
            na.get_flags(),
            NeighborAdvertFlags::Router | NeighborAdvertFlags::Override
        );
        assert_eq!(na.get_target_addr(), ip);
        let options = na.get_options();
        assert_eq!(options.len(), 1);
        assert_eq!(options[0].option_type, NdpOptionTypes::TargetLLAddr);
        assert_eq!(options[0].data, VMAC.to_vec());
    }
}
