//! Fuzz target for the IPv4 receive path: raw socket bytes (IP header, options, optional AH,
//! VRRP) through inspection and decoding. A decoded advert must re-encode to a message that
//! decodes to the same advert and, when the input carried no field the codec drops (v3 reserved
//! bits, v2 authentication bytes not holding a password), to the very same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vipd_wire::{
    decode_ipv4_packet, encode, inspect_ipv4_packet, inspect_message, split_ipv4_packet, Auth, DecodeOptions, Version,
};

fuzz_target!(|packet: &[u8]| {
    let _ = inspect_ipv4_packet(packet, DecodeOptions::UNICAST);
    let Ok(received) = decode_ipv4_packet(packet) else { return };
    let (header, message) = split_ipv4_packet(packet).expect("a decoded packet splits");
    let (src, dst) = (header.src.into(), header.dst.into());
    let reencoded = encode(&received.advert, received.checksum, src, dst).expect("a decoded advert encodes");
    let again = inspect_message(&reencoded, src, dst, 255, DecodeOptions::MULTICAST)
        .expect("re-encoded message inspects")
        .into_advert()
        .expect("re-encoded message is valid");
    assert_eq!(again.0, received.advert);

    let dropped_reserved = received.advert.version == Version::V3 && message[4] & 0xf0 != 0;
    let dropped_auth = received.advert.version == Version::V2
        && !matches!(received.advert.auth, Auth::SimplePassword(_))
        && message[message.len() - 8..].iter().any(|b| *b != 0);
    if !dropped_reserved && !dropped_auth {
        assert_eq!(without_checksum(&reencoded), without_checksum(message));
        assert!(same_ones_complement(&reencoded[6..8], &message[6..8]));
    }
});

/// The message with its checksum field cut out.
fn without_checksum(message: &[u8]) -> Vec<u8> {
    [&message[..6], &message[8..]].concat()
}

/// Equal as one's complement numbers: 0x0000 and 0xffff are both zero, and a sender may write
/// either (the fuzzer found such a packet; the encoder writes 0x0000 as keepalived does).
fn same_ones_complement(a: &[u8], b: &[u8]) -> bool {
    let zero = |x: &[u8]| x == [0, 0] || x == [0xff, 0xff];
    a == b || (zero(a) && zero(b))
}
