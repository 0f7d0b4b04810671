//! VRRP v2/v3 wire codec: decode (fixed offsets) and encode (bytes) of adverts, IPv4 header views,
//! checksums in every flavour keepalived, FRR and RFC 9568 use, validation errors that map onto
//! the VRRP MIB counters, and GARP / unsolicited NA frames. Pure: no sockets, clocks or logging.
//!
//! Receive path: [`decode_ipv4_packet`] / [`decode_ipv6_payload`] (context-free rules), then
//! [`check_against`] (rules needing the virtual router's configuration). Send path: [`encode`].
//! Diagnostics (`vipd sniff`): [`inspect_ipv4_packet`] / [`inspect_message`], which keep the
//! fields of an invalid packet and name the rule it breaks. keepalived's `auth_type AH` (IPsec AH
//! with HMAC-MD5-96 in front of VRRPv2): [`ah`].

mod advert;
pub mod ah;
mod announce;
mod checksum;
mod decode;
mod encode;
mod error;
mod link;
mod validate;

pub use advert::{
    Addresses, Advert, Auth, Family, Ipv4List, Ipv6List, Version, TYPE_ADVERTISEMENT,
};
pub use announce::{gratuitous_arp_frame, unsolicited_na_frame, ALL_NODES};
pub use checksum::{ipv4_header_checksum, vrrp_checksum, ChecksumFlavour, IPPROTO_VRRP};
pub use decode::{
    decode_ipv4_packet, decode_ipv4_packet_with, decode_ipv6_payload, decode_ipv6_payload_with,
    inspect_ipv4_packet, inspect_message, split_ipv4_packet, ChecksumVerdict, DecodeOptions,
    HeaderFields, Inspection, Ipv4HeaderView, Ipv4Received, Ipv6Received, AUTH_DATA_LEN,
    HEADER_LEN, IPPROTO_AH, REQUIRED_TTL,
};
pub use encode::{effective_flavour, encode, encode_into, encode_ipv4_packet};
pub use error::{EncodeError, WireError};
pub use link::{vrrp_in_frame, Ipv6HeaderView, LinkType, VrrpInFrame};
pub use validate::{check_against, Expected};

/// IPv4 multicast group of VRRP.
pub const VRRP_GROUP_V4: std::net::Ipv4Addr = std::net::Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast group of VRRP.
pub const VRRP_GROUP_V6: std::net::Ipv6Addr =
    std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
