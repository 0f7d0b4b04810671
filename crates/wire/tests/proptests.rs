//! Property tests: every valid advert of every version, family and checksum flavour survives
//! encode → decode unchanged, and no input makes the decoder panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use vipd_wire::*;

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn ipv6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

fn flavour() -> impl Strategy<Value = ChecksumFlavour> {
    prop_oneof![
        Just(ChecksumFlavour::PseudoHeader),
        Just(ChecksumFlavour::Plain)
    ]
}

fn v2_advert() -> impl Strategy<Value = Advert> {
    let auth = prop_oneof![
        Just(Auth::None),
        any::<[u8; 8]>().prop_map(Auth::SimplePassword),
        Just(Auth::Ah)
    ];
    (
        1..=255u8,
        any::<u8>(),
        1..=255u8,
        prop::collection::vec(ipv4(), 1..=20),
        auth,
    )
        .prop_map(|(vrid, priority, seconds, addresses, auth)| {
            Advert::v2(vrid, priority, seconds, addresses, auth)
        })
}

fn v3_ipv4_advert() -> impl Strategy<Value = Advert> {
    (
        1..=255u8,
        any::<u8>(),
        1..=4095u16,
        prop::collection::vec(ipv4(), 1..=255),
    )
        .prop_map(|(vrid, priority, cs, addresses)| {
            Advert::v3(vrid, priority, cs, Addresses::V4(addresses.into()))
        })
}

fn v3_ipv6_advert() -> impl Strategy<Value = Advert> {
    (
        1..=255u8,
        any::<u8>(),
        1..=4095u16,
        prop::collection::vec(ipv6(), 1..=40),
    )
        .prop_map(|(vrid, priority, cs, addresses)| {
            Advert::v3(vrid, priority, cs, Addresses::V6(addresses.into()))
        })
}

proptest! {
    #[test]
    fn ipv4_adverts_round_trip(
        advert in prop_oneof![v2_advert(), v3_ipv4_advert()],
        flavour in flavour(),
        src in ipv4(),
        dst in ipv4(),
    ) {
        let packet = encode_ipv4_packet(&advert, flavour, src, dst, 255).unwrap();
        let received = decode_ipv4_packet(&packet).unwrap();
        prop_assert_eq!(&received.advert, &advert);
        prop_assert_eq!(received.header.src, src);
        prop_assert_eq!(received.header.dst, dst);
        let expected_flavour = effective_flavour(advert.version, Family::V4, flavour);
        // A plain checksum can also verify with the pseudo-header only when the pseudo-header
        // sums to zero (one's complement), which these addresses may produce; accept either then.
        if received.checksum != expected_flavour {
            let message = &packet[20..];
            let other = vrrp_checksum(&[&message[..6], &[0, 0], &message[8..]].concat(), received.checksum, src.into(), dst.into());
            prop_assert_eq!(other.to_be_bytes(), [message[6], message[7]]);
        }
        let reencoded = encode(&received.advert, received.checksum, src.into(), dst.into()).unwrap();
        prop_assert_eq!(&reencoded[..], &packet[20..]);
    }

    #[test]
    fn ipv6_adverts_round_trip(advert in v3_ipv6_advert(), src in ipv6(), dst in ipv6(), flavour in flavour()) {
        let message = encode(&advert, flavour, src.into(), dst.into()).unwrap();
        let received = decode_ipv6_payload(&message, src, dst, 255).unwrap();
        prop_assert_eq!(&received.advert, &advert);
        prop_assert_eq!(received.checksum, ChecksumFlavour::PseudoHeader);
        let reencoded = encode(&received.advert, received.checksum, src.into(), dst.into()).unwrap();
        prop_assert_eq!(reencoded, message);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_ipv4_path(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode_ipv4_packet(&bytes);
        let _ = inspect_ipv4_packet(&bytes, DecodeOptions::UNICAST);
    }

    #[test]
    fn arbitrary_vrrp_behind_a_valid_ip_header_never_panics(
        message in prop::collection::vec(any::<u8>(), 0..300),
        version_type in any::<u8>(),
        count in any::<u8>(),
    ) {
        let mut message = message;
        if message.len() >= 4 {
            message[0] = version_type;
            message[3] = count;
        }
        let src = Ipv4Addr::new(192, 0, 2, 1);
        let mut packet = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 255, IPPROTO_VRRP, 0, 0];
        packet.extend_from_slice(&src.octets());
        packet.extend_from_slice(&VRRP_GROUP_V4.octets());
        packet.extend_from_slice(&message);
        let total = packet.len() as u16;
        packet[2..4].copy_from_slice(&total.to_be_bytes());
        let _ = decode_ipv4_packet(&packet);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_ipv6_path(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        src in ipv6(),
        dst in ipv6(),
        hop_limit in any::<u8>(),
    ) {
        let _ = decode_ipv6_payload(&bytes, src, dst, hop_limit);
        let _ = inspect_message(&bytes, IpAddr::V6(src), IpAddr::V6(dst), hop_limit, DecodeOptions::MULTICAST);
    }
}
