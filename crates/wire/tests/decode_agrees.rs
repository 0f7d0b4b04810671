//! The daemon's decoder (`decode_*`, which returns at the first broken rule and reads the
//! addresses last) and the inspection `vipd sniff` prints (which reads everything first) must
//! give every packet the same verdict: the same advert, or the same first error.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use vipd_wire::*;

/// A packet's verdict through the inspection, in the decoder's shape.
fn inspected_ipv4(packet: &[u8], options: DecodeOptions) -> Result<Ipv4Received, WireError> {
    let (header, inspection) = inspect_ipv4_packet(packet, options)?;
    let (advert, checksum) = inspection.into_advert()?;
    Ok(Ipv4Received {
        header,
        advert,
        checksum,
    })
}

fn inspected_ipv6(
    message: &[u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    options: DecodeOptions,
) -> Result<Ipv6Received, WireError> {
    let inspection = inspect_message(message, src.into(), dst.into(), hop_limit, options)?;
    let (advert, checksum) = inspection.into_advert()?;
    Ok(Ipv6Received {
        src,
        dst,
        hop_limit,
        advert,
        checksum,
    })
}

/// A VRRP message that starts valid, then has some bytes overwritten, its length changed, and
/// (usually) its checksum made right again, so that the later rules are reached too.
#[derive(Debug, Clone)]
struct Mutation {
    writes: Vec<(usize, u8)>,
    resize: Option<usize>,
    fix_checksum: Option<ChecksumFlavour>,
}

fn value() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(0u8),
        0..4u8,
        (2..4u8, 0..16u8).prop_map(|(version, kind)| version << 4 | kind),
        any::<u8>(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    (
        // Mostly the fixed header, with values that make several rules break at once.
        prop::collection::vec(
            (prop_oneof![3 => 0..8usize, 1 => 0..48usize], value()),
            0..5,
        ),
        prop::option::weighted(0.2, 0..48usize),
        prop::option::weighted(
            0.8,
            prop_oneof![
                Just(ChecksumFlavour::PseudoHeader),
                Just(ChecksumFlavour::Plain)
            ],
        ),
    )
        .prop_map(|(writes, resize, fix_checksum)| Mutation {
            writes,
            resize,
            fix_checksum,
        })
}

fn mutate(message: &[u8], m: &Mutation, src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let mut message = message.to_vec();
    if let Some(len) = m.resize {
        message.resize(len, 0);
    }
    for &(at, value) in &m.writes {
        if let Some(byte) = message.get_mut(at) {
            *byte = value;
        }
    }
    if let (Some(flavour), true) = (m.fix_checksum, message.len() >= 8) {
        message[6..8].fill(0);
        let sum = vrrp_checksum(&message, flavour, src, dst);
        message[6..8].copy_from_slice(&sum.to_be_bytes());
    }
    message
}

fn options() -> impl Strategy<Value = DecodeOptions> {
    prop_oneof![Just(DecodeOptions::MULTICAST), Just(DecodeOptions::UNICAST)]
}

fn ipv4_advert() -> impl Strategy<Value = Advert> {
    let auth = prop_oneof![
        Just(Auth::None),
        any::<[u8; 8]>().prop_map(Auth::SimplePassword),
        Just(Auth::Ah)
    ];
    let addresses = prop::collection::vec(any::<u32>().prop_map(Ipv4Addr::from), 1..=6);
    (
        any::<bool>(),
        1..=255u8,
        any::<u8>(),
        1..=255u8,
        addresses,
        auth,
    )
        .prop_map(|(v2, vrid, priority, interval, addresses, auth)| {
            if v2 {
                Advert::v2(vrid, priority, interval, addresses, auth)
            } else {
                Advert::v3(
                    vrid,
                    priority,
                    u16::from(interval),
                    Addresses::V4(addresses.into()),
                )
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn ipv4_decoder_and_inspection_agree(
        advert in ipv4_advert(),
        m in mutation(),
        ttl in prop_oneof![Just(255u8), any::<u8>()],
        options in options(),
    ) {
        let (src, dst) = (Ipv4Addr::new(192, 0, 2, 1), VRRP_GROUP_V4);
        let flavour = ChecksumFlavour::PseudoHeader;
        let packet = encode_ipv4_packet(&advert, flavour, src, dst, ttl).unwrap();
        let message = mutate(&packet[20..], &m, src.into(), dst.into());
        let mut packet = packet[..20].to_vec();
        packet.extend_from_slice(&message);
        let total = packet.len() as u16;
        packet[2..4].copy_from_slice(&total.to_be_bytes());
        prop_assert_eq!(decode_ipv4_packet_with(&packet, options), inspected_ipv4(&packet, options));
    }

    #[test]
    fn ipv6_decoder_and_inspection_agree(
        addresses in prop::collection::vec(any::<u128>().prop_map(Ipv6Addr::from), 1..=3),
        vrid in 1..=255u8,
        priority in any::<u8>(),
        m in mutation(),
        hop_limit in prop_oneof![Just(255u8), any::<u8>()],
        options in options(),
    ) {
        let (src, dst): (Ipv6Addr, Ipv6Addr) = ("fe80::1".parse().unwrap(), VRRP_GROUP_V6);
        let advert = Advert::v3(vrid, priority, 100, Addresses::V6(addresses.into()));
        let message = encode(&advert, ChecksumFlavour::PseudoHeader, src.into(), dst.into()).unwrap();
        let message = mutate(&message, &m, src.into(), dst.into());
        prop_assert_eq!(
            decode_ipv6_payload_with(&message, src, dst, hop_limit, options),
            inspected_ipv6(&message, src, dst, hop_limit, options)
        );
    }
}

#[test]
fn the_mutations_reach_every_rule() {
    // The agreement above only covers the rules the mutated packets actually break.
    let (src, dst) = (Ipv4Addr::new(192, 0, 2, 1), VRRP_GROUP_V4);
    let base = Advert::v2(7, 100, 1, vec![Ipv4Addr::new(192, 0, 2, 7)], Auth::None);
    let packet = encode_ipv4_packet(&base, ChecksumFlavour::Plain, src, dst, 255).unwrap();
    let plain = Some(ChecksumFlavour::Plain);
    let cases: [(Mutation, u8, WireError); 9] = [
        (
            Mutation {
                writes: vec![(0, 0x41)],
                resize: None,
                fix_checksum: plain,
            },
            255,
            WireError::Version,
        ),
        (
            Mutation {
                writes: vec![],
                resize: Some(19),
                fix_checksum: plain,
            },
            255,
            WireError::Length,
        ),
        (
            Mutation {
                writes: vec![(2, 99)],
                resize: None,
                fix_checksum: None,
            },
            255,
            WireError::Checksum,
        ),
        (
            Mutation {
                writes: vec![(1, 0)],
                resize: None,
                fix_checksum: plain,
            },
            255,
            WireError::VrId,
        ),
        (
            Mutation {
                writes: vec![(0, 0x22)],
                resize: None,
                fix_checksum: plain,
            },
            255,
            WireError::InvalidType,
        ),
        (
            Mutation {
                writes: vec![(4, 3)],
                resize: None,
                fix_checksum: plain,
            },
            255,
            WireError::AuthTypeInvalid,
        ),
        (
            Mutation {
                writes: vec![(3, 0)],
                resize: Some(16),
                fix_checksum: plain,
            },
            255,
            WireError::AddressList,
        ),
        (
            Mutation {
                writes: vec![(5, 0)],
                resize: None,
                fix_checksum: plain,
            },
            255,
            WireError::AdverInterval,
        ),
        (
            Mutation {
                writes: vec![],
                resize: None,
                fix_checksum: plain,
            },
            64,
            WireError::Ttl,
        ),
    ];
    for (m, ttl, error) in cases {
        let message = mutate(&packet[20..], &m, src.into(), dst.into());
        let mut p = packet[..20].to_vec();
        p[8] = ttl;
        p.extend_from_slice(&message);
        let total = p.len() as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        assert_eq!(
            decode_ipv4_packet_with(&p, DecodeOptions::MULTICAST),
            Err(error),
            "{m:?}"
        );
        assert_eq!(
            inspected_ipv4(&p, DecodeOptions::MULTICAST),
            Err(error),
            "{m:?}"
        );
    }
}
