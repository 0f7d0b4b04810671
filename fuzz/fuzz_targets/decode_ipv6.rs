//! Fuzz target for the IPv6 receive path: the first 33 bytes choose source, destination and hop
//! limit (which a raw IPv6 socket reports beside the payload), the rest is the VRRP payload.
//! A decoded advert must re-encode to the same bytes unless the input set v3 reserved bits.
#![no_main]

use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use vipd_wire::{decode_ipv6_payload, encode, inspect_message, DecodeOptions};

fuzz_target!(|data: &[u8]| {
    if data.len() < 33 {
        return;
    }
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&data[..16]).expect("16 bytes"));
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&data[16..32]).expect("16 bytes"));
    let hop_limit = data[32];
    let payload = &data[33..];
    let _ = inspect_message(payload, src.into(), dst.into(), hop_limit, DecodeOptions::UNICAST);
    let Ok(received) = decode_ipv6_payload(payload, src, dst, hop_limit) else { return };
    let reencoded = encode(&received.advert, received.checksum, src.into(), dst.into()).expect("a decoded advert encodes");
    if payload[4] & 0xf0 == 0 {
        assert_eq!(without_checksum(&reencoded), without_checksum(payload));
        assert!(same_ones_complement(&reencoded[6..8], &payload[6..8]));
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
