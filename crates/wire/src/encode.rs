//! Encoding adverts: the VRRP message the daemon hands to a raw socket (the kernel adds the IP
//! header), and a whole IPv4 packet for tests and fixtures.

use std::net::{IpAddr, Ipv4Addr};

use bytes::{BufMut, Bytes, BytesMut};

use crate::advert::{Addresses, Advert, Auth, Family, Version, TYPE_ADVERTISEMENT};
use crate::checksum::{ipv4_header_checksum, vrrp_checksum, ChecksumFlavour, IPPROTO_VRRP};
use crate::decode::AUTH_DATA_LEN;
use crate::error::EncodeError;

/// The flavour the protocol imposes, whatever was asked: VRRPv2 sums the message only and
/// VRRPv3 over IPv6 always includes the pseudo-header. Only VRRPv3 over IPv4 takes the caller's
/// choice.
pub fn effective_flavour(
    version: Version,
    family: Family,
    requested: ChecksumFlavour,
) -> ChecksumFlavour {
    match (version, family) {
        (Version::V2, _) => ChecksumFlavour::Plain,
        (Version::V3, Family::V6) => ChecksumFlavour::PseudoHeader,
        (Version::V3, Family::V4) => requested,
    }
}

fn check_encodable(advert: &Advert, src: IpAddr, dst: IpAddr) -> Result<(), EncodeError> {
    let family = advert.addresses.family();
    if Family::of(&src) != family || Family::of(&dst) != family {
        return Err(EncodeError::FamilyMismatch);
    }
    if advert.version == Version::V2 && family == Family::V6 {
        return Err(EncodeError::Version2OverIpv6);
    }
    if advert.version == Version::V3 && advert.auth != Auth::None {
        return Err(EncodeError::AuthInVersion3);
    }
    if advert.max_adver_int > advert.version.max_interval_field() {
        return Err(EncodeError::IntervalTooLarge(advert.max_adver_int));
    }
    if advert.addresses.len() > usize::from(u8::MAX) {
        return Err(EncodeError::TooManyAddresses(advert.addresses.len()));
    }
    Ok(())
}

/// Appends the VRRP message of `advert` sent from `src` to `dst` to `out`, checksum included
/// (in `flavour` where the protocol allows a choice, see [`effective_flavour`]). Nothing is
/// appended on error.
pub fn encode_into(
    advert: &Advert,
    flavour: ChecksumFlavour,
    src: IpAddr,
    dst: IpAddr,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    check_encodable(advert, src, dst)?;
    let start = out.len();
    out.reserve(advert.wire_len());
    out.put_u8((advert.version.number() << 4) | TYPE_ADVERTISEMENT);
    out.put_u8(advert.vrid);
    out.put_u8(advert.priority);
    // Cannot truncate: check_encodable bounded the count by 255.
    out.put_u8(advert.addresses.len() as u8);
    match advert.version {
        Version::V2 => {
            out.put_u8(advert.auth.type_number());
            out.put_u8(advert.max_adver_int as u8);
        }
        // The upper 4 bits are reserved and sent as zero.
        Version::V3 => out.put_u16(advert.max_adver_int),
    }
    out.put_u16(0);
    match &advert.addresses {
        Addresses::V4(list) => list.iter().for_each(|a| out.put_slice(&a.octets())),
        Addresses::V6(list) => list.iter().for_each(|a| out.put_slice(&a.octets())),
    }
    if advert.version == Version::V2 {
        match advert.auth {
            Auth::SimplePassword(password) => out.put_slice(&password),
            _ => out.put_bytes(0, AUTH_DATA_LEN),
        }
    }
    let flavour = effective_flavour(advert.version, advert.addresses.family(), flavour);
    let checksum = vrrp_checksum(&out[start..], flavour, src, dst);
    out[start + 6..start + 8].copy_from_slice(&checksum.to_be_bytes());
    Ok(())
}

/// The VRRP message of `advert` sent from `src` to `dst`, checksum included.
pub fn encode(
    advert: &Advert,
    flavour: ChecksumFlavour,
    src: IpAddr,
    dst: IpAddr,
) -> Result<Bytes, EncodeError> {
    let mut out = BytesMut::with_capacity(advert.wire_len());
    encode_into(advert, flavour, src, dst, &mut out)?;
    Ok(out.freeze())
}

/// A whole IPv4 packet (20-byte header without options, TOS 0xc0 as keepalived sends, ID 0, no
/// fragmentation, header checksum set) carrying `advert` — for tests, fixtures and fuzz seeds;
/// the daemon lets the kernel build headers.
pub fn encode_ipv4_packet(
    advert: &Advert,
    flavour: ChecksumFlavour,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
) -> Result<Bytes, EncodeError> {
    const HEADER_LEN: usize = 20;
    let mut out = BytesMut::with_capacity(HEADER_LEN + advert.wire_len());
    out.put_bytes(0, HEADER_LEN);
    encode_into(advert, flavour, src.into(), dst.into(), &mut out)?;
    let total_len = out.len() as u16;
    let header = &mut out[..HEADER_LEN];
    header[0] = 0x45;
    header[1] = 0xc0;
    header[2..4].copy_from_slice(&total_len.to_be_bytes());
    header[8] = ttl;
    header[9] = IPPROTO_VRRP;
    header[12..16].copy_from_slice(&src.octets());
    header[16..20].copy_from_slice(&dst.octets());
    let checksum = ipv4_header_checksum(header);
    header[10..12].copy_from_slice(&checksum.to_be_bytes());
    Ok(out.freeze())
}
