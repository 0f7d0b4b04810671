//! Hand-made test vectors (checksums computed by an independent Python implementation of RFC
//! 1071) and one test per validation rule of the decoder.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vipd_wire::*;

const SRC4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const VIP4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// An IPv4 header (20 bytes, TTL `ttl`, protocol VRRP) in front of `message`.
fn ipv4_packet(message: &[u8], src: Ipv4Addr, dst: Ipv4Addr, ttl: u8) -> Vec<u8> {
    let total = 20 + message.len();
    let mut packet = vec![0x45, 0xc0];
    packet.extend_from_slice(&(total as u16).to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0, 0, ttl, IPPROTO_VRRP, 0, 0]);
    packet.extend_from_slice(&src.octets());
    packet.extend_from_slice(&dst.octets());
    let checksum = ipv4_header_checksum(&packet);
    packet[10..12].copy_from_slice(&checksum.to_be_bytes());
    packet.extend_from_slice(message);
    packet
}

/// Recomputes the VRRP checksum of `message` after a test edited it.
fn refresh_checksum(message: &mut [u8], flavour: ChecksumFlavour, src: IpAddr, dst: IpAddr) {
    message[6..8].fill(0);
    let checksum = vrrp_checksum(message, flavour, src, dst);
    message[6..8].copy_from_slice(&checksum.to_be_bytes());
}

fn v3_ipv4_advert() -> Advert {
    Advert::v3(51, 100, 100, Addresses::V4(vec![VIP4].into()))
}

#[test]
fn v3_ipv4_pseudo_header_vector_decodes_and_reencodes() {
    let message = unhex("31336401006404d8c00002fe");
    let packet = ipv4_packet(&message, SRC4, VRRP_GROUP_V4, 255);
    let received = decode_ipv4_packet(&packet).unwrap();
    assert_eq!(received.advert, v3_ipv4_advert());
    assert_eq!(received.checksum, ChecksumFlavour::PseudoHeader);
    assert_eq!(received.header.ttl, 255);
    assert_eq!(received.header.src, SRC4);
    assert_eq!(received.header.dst, VRRP_GROUP_V4);
    assert_eq!(received.advert.interval_micros(), 1_000_000);
    let encoded = encode(
        &received.advert,
        received.checksum,
        SRC4.into(),
        VRRP_GROUP_V4.into(),
    )
    .unwrap();
    assert_eq!(&encoded[..], &message[..]);
}

#[test]
fn v3_ipv4_plain_vector_is_recognised_as_plain() {
    let message = unhex("313364010064a768c00002fe");
    let packet = ipv4_packet(&message, SRC4, VRRP_GROUP_V4, 255);
    let received = decode_ipv4_packet(&packet).unwrap();
    assert_eq!(received.checksum, ChecksumFlavour::Plain);
    let encoded = encode(
        &received.advert,
        ChecksumFlavour::Plain,
        SRC4.into(),
        VRRP_GROUP_V4.into(),
    )
    .unwrap();
    assert_eq!(&encoded[..], &message[..]);
}

#[test]
fn v2_password_vector_decodes_with_auth_data() {
    let message = unhex("2133960201018580c00002fec00002fd7365637265740000");
    let packet = ipv4_packet(&message, SRC4, VRRP_GROUP_V4, 255);
    let received = decode_ipv4_packet(&packet).unwrap();
    let expected = Advert::v2(
        51,
        150,
        1,
        vec![VIP4, Ipv4Addr::new(192, 0, 2, 253)],
        Auth::password("secret"),
    );
    assert_eq!(received.advert, expected);
    assert_eq!(received.checksum, ChecksumFlavour::Plain);
    assert_eq!(received.advert.interval_micros(), 1_000_000);
    // v2 ignores the requested flavour: it is always plain.
    let encoded = encode(
        &expected,
        ChecksumFlavour::PseudoHeader,
        SRC4.into(),
        VRRP_GROUP_V4.into(),
    )
    .unwrap();
    assert_eq!(&encoded[..], &message[..]);
}

#[test]
fn v3_ipv6_vector_decodes_and_reencodes() {
    let message =
        unhex("3133640200643d58fe80000000000000000000000000005120010db8000000000000000000000254");
    let src: Ipv6Addr = "fe80::1".parse().unwrap();
    let received = decode_ipv6_payload(&message, src, VRRP_GROUP_V6, 255).unwrap();
    let addresses = vec![
        "fe80::51".parse().unwrap(),
        "2001:db8::254".parse().unwrap(),
    ];
    assert_eq!(
        received.advert,
        Advert::v3(51, 100, 100, Addresses::V6(addresses.into()))
    );
    assert_eq!(received.checksum, ChecksumFlavour::PseudoHeader);
    let encoded = encode(
        &received.advert,
        ChecksumFlavour::Plain,
        src.into(),
        VRRP_GROUP_V6.into(),
    )
    .unwrap();
    assert_eq!(
        &encoded[..],
        &message[..],
        "IPv6 always uses the pseudo-header"
    );
}

#[test]
fn ipv6_with_a_plain_checksum_is_a_checksum_error() {
    let src: Ipv6Addr = "fe80::1".parse().unwrap();
    let mut message =
        unhex("3133640200643d58fe80000000000000000000000000005120010db8000000000000000000000254");
    refresh_checksum(
        &mut message,
        ChecksumFlavour::Plain,
        src.into(),
        VRRP_GROUP_V6.into(),
    );
    assert_eq!(
        decode_ipv6_payload(&message, src, VRRP_GROUP_V6, 255).unwrap_err(),
        WireError::Checksum
    );
}

#[test]
fn encode_ipv4_packet_round_trips_through_the_decoder() {
    let advert = v3_ipv4_advert();
    let packet = encode_ipv4_packet(
        &advert,
        ChecksumFlavour::PseudoHeader,
        SRC4,
        VRRP_GROUP_V4,
        255,
    )
    .unwrap();
    assert_eq!(
        ipv4_header_checksum(&packet[..20]),
        0,
        "header checksum verifies"
    );
    assert_eq!(decode_ipv4_packet(&packet).unwrap().advert, advert);
}

/// A valid v3 IPv4 message and a function that wraps an edited copy in an IPv4 packet.
fn edited_v3(edit: impl FnOnce(&mut Vec<u8>)) -> Result<Ipv4Received, WireError> {
    let mut message = encode(
        &v3_ipv4_advert(),
        ChecksumFlavour::PseudoHeader,
        SRC4.into(),
        VRRP_GROUP_V4.into(),
    )
    .unwrap()
    .to_vec();
    edit(&mut message);
    if message.len() < HEADER_LEN {
        return decode_ipv4_packet(&ipv4_packet(&message, SRC4, VRRP_GROUP_V4, 255));
    }
    refresh_checksum(
        &mut message,
        ChecksumFlavour::PseudoHeader,
        SRC4.into(),
        VRRP_GROUP_V4.into(),
    );
    decode_ipv4_packet(&ipv4_packet(&message, SRC4, VRRP_GROUP_V4, 255))
}

#[test]
fn each_context_free_rule_yields_its_own_error() {
    assert_eq!(edited_v3(|m| m[0] = 0x11).unwrap_err(), WireError::Version);
    assert_eq!(edited_v3(|m| m[0] = 0x41).unwrap_err(), WireError::Version);
    assert_eq!(
        edited_v3(|m| m[0] = 0x32).unwrap_err(),
        WireError::InvalidType
    );
    assert_eq!(edited_v3(|m| m[1] = 0).unwrap_err(), WireError::VrId);
    assert_eq!(edited_v3(|m| m[3] = 2).unwrap_err(), WireError::Length);
    assert_eq!(edited_v3(|m| m.push(0)).unwrap_err(), WireError::Length);
    assert_eq!(edited_v3(|m| m.truncate(7)).unwrap_err(), WireError::Length);
    assert_eq!(
        edited_v3(|m| m[4..6].fill(0)).unwrap_err(),
        WireError::AdverInterval
    );
    assert_eq!(
        edited_v3(|m| {
            m[3] = 0;
            m.truncate(8);
        })
        .unwrap_err(),
        WireError::AddressList
    );
    assert!(
        edited_v3(|m| m[2] = 0).is_ok(),
        "priority 0 (master leaving) is valid"
    );
}

#[test]
fn reserved_bits_of_v3_do_not_change_the_interval() {
    let received = edited_v3(|m| m[4] |= 0xf0).unwrap();
    assert_eq!(received.advert.max_adver_int, 100);
}

#[test]
fn corrupted_checksum_is_reported_with_the_fields_intact() {
    let mut message = encode(
        &v3_ipv4_advert(),
        ChecksumFlavour::PseudoHeader,
        SRC4.into(),
        VRRP_GROUP_V4.into(),
    )
    .unwrap()
    .to_vec();
    message[7] ^= 0x01;
    let packet = ipv4_packet(&message, SRC4, VRRP_GROUP_V4, 255);
    assert_eq!(
        decode_ipv4_packet(&packet).unwrap_err(),
        WireError::Checksum
    );
    let (_, inspection) = inspect_ipv4_packet(&packet, DecodeOptions::MULTICAST).unwrap();
    assert_eq!(inspection.checksum, ChecksumVerdict::Bad);
    assert_eq!(inspection.fields.vrid, 51);
    assert_eq!(inspection.error, Some(WireError::Checksum));
}

#[test]
fn v2_unknown_auth_type_is_invalid() {
    let advert = Advert::v2(9, 100, 1, vec![VIP4], Auth::None);
    let mut message = encode(
        &advert,
        ChecksumFlavour::Plain,
        SRC4.into(),
        VRRP_GROUP_V4.into(),
    )
    .unwrap()
    .to_vec();
    message[4] = 7;
    refresh_checksum(
        &mut message,
        ChecksumFlavour::Plain,
        SRC4.into(),
        VRRP_GROUP_V4.into(),
    );
    let packet = ipv4_packet(&message, SRC4, VRRP_GROUP_V4, 255);
    assert_eq!(
        decode_ipv4_packet(&packet).unwrap_err(),
        WireError::AuthTypeInvalid
    );
}

#[test]
fn v2_with_a_pseudo_header_checksum_is_a_checksum_error() {
    let advert = Advert::v2(9, 100, 1, vec![VIP4], Auth::None);
    let mut message = encode(
        &advert,
        ChecksumFlavour::Plain,
        SRC4.into(),
        VRRP_GROUP_V4.into(),
    )
    .unwrap()
    .to_vec();
    refresh_checksum(
        &mut message,
        ChecksumFlavour::PseudoHeader,
        SRC4.into(),
        VRRP_GROUP_V4.into(),
    );
    let packet = ipv4_packet(&message, SRC4, VRRP_GROUP_V4, 255);
    assert_eq!(
        decode_ipv4_packet(&packet).unwrap_err(),
        WireError::Checksum
    );
}

#[test]
fn v2_over_ipv6_is_a_version_error() {
    let src: Ipv6Addr = "fe80::1".parse().unwrap();
    let mut message = vec![0x21, 1, 100, 1, 0, 1, 0, 0];
    message.extend_from_slice(&src.octets());
    message.extend_from_slice(&[0; 8]);
    refresh_checksum(
        &mut message,
        ChecksumFlavour::PseudoHeader,
        src.into(),
        VRRP_GROUP_V6.into(),
    );
    assert_eq!(
        decode_ipv6_payload(&message, src, VRRP_GROUP_V6, 255).unwrap_err(),
        WireError::Version
    );
}

#[test]
fn ttl_and_hop_limit_must_be_255_unless_unicast_rules_apply() {
    let message = unhex("31336401006404d8c00002fe");
    let packet = ipv4_packet(&message, SRC4, VRRP_GROUP_V4, 64);
    assert_eq!(decode_ipv4_packet(&packet).unwrap_err(), WireError::Ttl);
    assert!(decode_ipv4_packet_with(&packet, DecodeOptions::UNICAST).is_ok());

    let v6 =
        unhex("3133640200643d58fe80000000000000000000000000005120010db8000000000000000000000254");
    let src: Ipv6Addr = "fe80::1".parse().unwrap();
    assert_eq!(
        decode_ipv6_payload(&v6, src, VRRP_GROUP_V6, 1).unwrap_err(),
        WireError::Ttl
    );
}

#[test]
fn ip_options_are_skipped_and_ethernet_padding_ignored() {
    let message = unhex("31336401006404d8c00002fe");
    let plain = ipv4_packet(&message, SRC4, VRRP_GROUP_V4, 255);
    // Same packet with IHL 6 and a 4-byte option (router alert), then 14 bytes of padding.
    let mut with_options = plain[..20].to_vec();
    with_options[0] = 0x46;
    with_options[2..4].copy_from_slice(&((24 + message.len()) as u16).to_be_bytes());
    with_options.extend_from_slice(&[0x94, 0x04, 0x00, 0x00]);
    with_options.extend_from_slice(&message);
    with_options.extend_from_slice(&[0u8; 14]);
    let received = decode_ipv4_packet(&with_options).unwrap();
    assert_eq!(received.header.header_len, 24);
    assert!(received.header.has_options());
    assert_eq!(received.advert, v3_ipv4_advert());
}

#[test]
fn malformed_ip_input_is_truncated_or_not_vrrp() {
    let message = unhex("31336401006404d8c00002fe");
    let packet = ipv4_packet(&message, SRC4, VRRP_GROUP_V4, 255);
    assert_eq!(
        decode_ipv4_packet(&packet[..19]).unwrap_err(),
        WireError::Truncated
    );
    assert_eq!(
        decode_ipv4_packet(&packet[..packet.len() - 1]).unwrap_err(),
        WireError::Truncated
    );
    let mut bad_ihl = packet.clone();
    bad_ihl[0] = 0x44;
    assert_eq!(
        decode_ipv4_packet(&bad_ihl).unwrap_err(),
        WireError::Truncated
    );
    let mut huge_ihl = packet.clone();
    huge_ihl[0] = 0x4f;
    assert_eq!(
        decode_ipv4_packet(&huge_ihl).unwrap_err(),
        WireError::Truncated
    );
    let mut udp = packet.clone();
    udp[9] = 17;
    assert_eq!(decode_ipv4_packet(&udp).unwrap_err(), WireError::NotVrrp);
    let mut v6 = packet.clone();
    v6[0] = 0x65;
    assert_eq!(decode_ipv4_packet(&v6).unwrap_err(), WireError::NotVrrp);
    assert_eq!(decode_ipv4_packet(&[]).unwrap_err(), WireError::Truncated);
}

#[test]
fn ah_wrapped_v2_advert_decodes_as_ah() {
    let advert = Advert::v2(9, 100, 1, vec![VIP4], Auth::Ah);
    let message = encode(
        &advert,
        ChecksumFlavour::Plain,
        SRC4.into(),
        VRRP_GROUP_V4.into(),
    )
    .unwrap();
    // AH: next header 112, payload length 4 (=> 24 bytes), reserved, SPI, sequence, 12-byte ICV.
    let mut ah = vec![IPPROTO_VRRP, 4, 0, 0];
    ah.extend_from_slice(&[0xc0, 0x00, 0x02, 0x01, 0, 0, 0, 1]);
    ah.extend_from_slice(&[0xaa; 12]);
    let mut payload = ah;
    payload.extend_from_slice(&message);
    let mut packet = ipv4_packet(&payload, SRC4, VRRP_GROUP_V4, 255);
    packet[9] = IPPROTO_AH;
    let received = decode_ipv4_packet(&packet).unwrap();
    assert!(received.header.authentication_header);
    assert_eq!(received.advert.auth, Auth::Ah);
    let expected = Expected {
        version: Version::V2,
        vrid: 9,
        auth: Auth::None,
        max_adver_int: 1,
    };
    assert_eq!(
        check_against(&received.advert, &expected),
        Err(WireError::AuthTypeMismatch)
    );
}

#[test]
fn declared_count_beyond_the_bytes_present_reads_only_what_is_there() {
    let mut message = encode(
        &v3_ipv4_advert(),
        ChecksumFlavour::PseudoHeader,
        SRC4.into(),
        VRRP_GROUP_V4.into(),
    )
    .unwrap()
    .to_vec();
    message[3] = 255;
    let (_, inspection) = inspect_ipv4_packet(
        &ipv4_packet(&message, SRC4, VRRP_GROUP_V4, 255),
        DecodeOptions::MULTICAST,
    )
    .unwrap();
    assert_eq!(inspection.error, Some(WireError::Length));
    assert_eq!(inspection.addresses, Addresses::V4(vec![VIP4].into()));
}

#[test]
fn encoder_refuses_what_the_wire_cannot_carry() {
    let v6: IpAddr = "fe80::1".parse::<Ipv6Addr>().unwrap().into();
    let g4: IpAddr = VRRP_GROUP_V4.into();
    let mut advert = v3_ipv4_advert();
    advert.max_adver_int = 4096;
    assert_eq!(
        encode(&advert, ChecksumFlavour::Plain, SRC4.into(), g4),
        Err(EncodeError::IntervalTooLarge(4096))
    );
    let v2 = Advert {
        max_adver_int: 256,
        ..Advert::v2(1, 1, 1, vec![VIP4], Auth::None)
    };
    assert_eq!(
        encode(&v2, ChecksumFlavour::Plain, SRC4.into(), g4),
        Err(EncodeError::IntervalTooLarge(256))
    );
    assert_eq!(
        encode(&v3_ipv4_advert(), ChecksumFlavour::Plain, v6, g4),
        Err(EncodeError::FamilyMismatch)
    );
    let many = Advert::v3(1, 1, 1, Addresses::V4(vec![VIP4; 256].into()));
    assert_eq!(
        encode(&many, ChecksumFlavour::Plain, SRC4.into(), g4),
        Err(EncodeError::TooManyAddresses(256))
    );
    let v3_with_auth = Advert {
        auth: Auth::password("x"),
        ..v3_ipv4_advert()
    };
    assert_eq!(
        encode(&v3_with_auth, ChecksumFlavour::Plain, SRC4.into(), g4),
        Err(EncodeError::AuthInVersion3)
    );
    let v2_v6 = Advert {
        version: Version::V2,
        ..Advert::v3(1, 1, 1, Addresses::V6(vec![Ipv6Addr::LOCALHOST].into()))
    };
    assert_eq!(
        encode(&v2_v6, ChecksumFlavour::Plain, v6, VRRP_GROUP_V6.into()),
        Err(EncodeError::Version2OverIpv6)
    );
}

#[test]
fn error_short_names_are_unique_snake_case() {
    let names: std::collections::HashSet<_> =
        WireError::ALL.iter().map(|e| e.short_name()).collect();
    assert_eq!(names.len(), WireError::ALL.len());
    for name in names {
        assert!(
            name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{name}"
        );
    }
}

/// Found by fuzzing: a sender may write a zero checksum as 0xffff (negative zero in one's
/// complement). It verifies; re-encoding writes 0x0000, as keepalived's and FRR's code does.
#[test]
fn negative_zero_checksum_is_accepted() {
    let packet = unhex(
        "45c0002000000000ff70003102000201410000123133640100 64ffff04d8200000"
            .replace(' ', "")
            .as_str(),
    );
    let received = decode_ipv4_packet(&packet).unwrap();
    let reencoded = encode(
        &received.advert,
        received.checksum,
        received.header.src.into(),
        received.header.dst.into(),
    )
    .unwrap();
    assert_eq!(&reencoded[6..8], &[0, 0]);
    assert_eq!(reencoded[8..], packet[28..32]);
}
