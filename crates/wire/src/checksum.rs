//! The Internet checksum (RFC 1071) and the pseudo-headers VRRP may include in it.

use std::net::{IpAddr, Ipv6Addr};

/// IP protocol number of VRRP.
pub const IPPROTO_VRRP: u8 = 112;

/// How a VRRP checksum covers its packet.
///
/// VRRPv2 always uses [`ChecksumFlavour::Plain`] and VRRPv3 over IPv6 always uses
/// [`ChecksumFlavour::PseudoHeader`]; only VRRPv3 over IPv4 comes in both flavours: keepalived
/// and FRR include the IPv4 pseudo-header by default, RFC 9568 §5.2.8 (and Cisco, Juniper,
/// keepalived's `v3_checksum_as_v2`) do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChecksumFlavour {
    /// The sum covers the IP pseudo-header and the VRRP message.
    PseudoHeader,
    /// The sum covers the VRRP message only.
    Plain,
}

impl ChecksumFlavour {
    /// `"pseudo-header"` or `"plain"`, as `vipd sniff` prints it.
    pub const fn name(self) -> &'static str {
        match self {
            ChecksumFlavour::PseudoHeader => "pseudo-header",
            ChecksumFlavour::Plain => "plain",
        }
    }
}

/// One's complement sum of `data` as big-endian 16-bit words (odd tail padded with zero),
/// added to `initial`, not yet folded. The accumulator is 64 bits wide so no input a VRRP
/// packet can hold overflows it. Read four bytes at a time: 2^16 is 1 modulo 0xffff, so a 32-bit
/// word adds the same as its two halves once [`fold`]ed, in half the steps.
pub(crate) fn sum_words(data: &[u8], initial: u64) -> u64 {
    let mut sum = initial;
    let mut quads = data.chunks_exact(4);
    for quad in &mut quads {
        sum += u64::from(u32::from_be_bytes([quad[0], quad[1], quad[2], quad[3]]));
    }
    match *quads.remainder() {
        [a, b, c] => sum += u64::from(u16::from_be_bytes([a, b])) + (u64::from(c) << 8),
        [a, b] => sum += u64::from(u16::from_be_bytes([a, b])),
        [a] => sum += u64::from(a) << 8,
        _ => {}
    }
    sum
}

/// Folds a wide sum into 16 bits with end-around carry.
pub(crate) fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Sum of the pseudo-header for an upper-layer message of `length` bytes of protocol
/// `next_header` between `src` and `dst` (RFC 768 layout for IPv4, RFC 8200 §8.1 for IPv6).
/// Mixed families cannot occur on the wire; they sum the addresses as given.
pub(crate) fn pseudo_header_sum(src: IpAddr, dst: IpAddr, next_header: u8, length: usize) -> u64 {
    let address_sum = |addr: IpAddr| match addr {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            (0..4).map(|i| (bits >> (32 * i)) as u32 as u64).sum()
        }
    };
    let sum = address_sum(src) + address_sum(dst);
    // The length is 16 bits in the IPv4 pseudo-header and 32 bits in the IPv6 one; summing it as
    // 32-bit value split into two words is correct for both.
    let length = length as u64;
    sum + (length >> 16) + (length & 0xffff) + u64::from(next_header)
}

/// The checksum to write into a message whose checksum field is zero, given the message's sum
/// (and the pseudo-header's, when included).
pub(crate) fn finish(sum: u64) -> u16 {
    !fold(sum)
}

/// Internet checksum of an IPv4 header (checksum field zeroed by the caller).
pub fn ipv4_header_checksum(header: &[u8]) -> u16 {
    finish(sum_words(header, 0))
}

/// VRRP checksum of `message` (whose checksum field must be zero) in `flavour`.
pub fn vrrp_checksum(message: &[u8], flavour: ChecksumFlavour, src: IpAddr, dst: IpAddr) -> u16 {
    let body = sum_words(message, 0);
    match flavour {
        ChecksumFlavour::Plain => finish(body),
        ChecksumFlavour::PseudoHeader => {
            finish(body + pseudo_header_sum(src, dst, IPPROTO_VRRP, message.len()))
        }
    }
}

/// Whether `message` (checksum field as received) verifies in `flavour`.
pub(crate) fn verifies(
    message_sum: u64,
    flavour: ChecksumFlavour,
    src: IpAddr,
    dst: IpAddr,
    len: usize,
) -> bool {
    let total = match flavour {
        ChecksumFlavour::Plain => message_sum,
        ChecksumFlavour::PseudoHeader => {
            message_sum + pseudo_header_sum(src, dst, IPPROTO_VRRP, len)
        }
    };
    fold(total) == 0xffff
}

/// ICMPv6 checksum of `message` (checksum field zero) between `src` and `dst`.
pub(crate) fn icmpv6_checksum(message: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> u16 {
    const IPPROTO_ICMPV6: u8 = 58;
    finish(sum_words(
        message,
        pseudo_header_sum(src.into(), dst.into(), IPPROTO_ICMPV6, message.len()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn rfc1071_example_sums_to_the_published_value() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 after folding.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum_words(&data, 0)), 0xddf2);
        assert_eq!(finish(sum_words(&data, 0)), !0xddf2);
    }

    /// The RFC 1071 definition, one 16-bit word at a time.
    fn reference_sum(data: &[u8]) -> u16 {
        let mut sum = 0u64;
        for pair in data.chunks(2) {
            sum += u64::from(pair[0]) << 8 | u64::from(pair.get(1).copied().unwrap_or(0));
        }
        fold(sum)
    }

    #[test]
    fn four_bytes_at_a_time_folds_to_the_word_by_word_sum() {
        // Lengths 0..=40 cover every remainder; the bytes make carries out of each half likely.
        let data: Vec<u8> = (0..40u32)
            .map(|i| (i.wrapping_mul(0x9e) ^ 0xf7) as u8)
            .collect();
        for len in 0..=data.len() {
            assert_eq!(
                fold(sum_words(&data[..len], 0)),
                reference_sum(&data[..len]),
                "{len} bytes"
            );
        }
        assert_eq!(fold(sum_words(&[0xff; 37], 0)), reference_sum(&[0xff; 37]));
    }

    #[test]
    fn pseudo_header_sum_folds_like_summing_its_bytes() {
        for (src, dst) in [
            (
                IpAddr::from(Ipv4Addr::new(192, 0, 2, 1)),
                IpAddr::from(Ipv4Addr::new(224, 0, 0, 18)),
            ),
            (
                "2001:db8::ffff:1".parse().unwrap(),
                "ff02::12".parse().unwrap(),
            ),
        ] {
            let mut bytes = Vec::new();
            for addr in [src, dst] {
                match addr {
                    IpAddr::V4(a) => bytes.extend_from_slice(&a.octets()),
                    IpAddr::V6(a) => bytes.extend_from_slice(&a.octets()),
                }
            }
            bytes.extend_from_slice(&[0, 0, 0, 40, 0, 0, 0, IPPROTO_VRRP]);
            assert_eq!(
                fold(pseudo_header_sum(src, dst, IPPROTO_VRRP, 40)),
                reference_sum(&bytes)
            );
        }
    }

    #[test]
    fn odd_length_is_padded_with_a_zero_byte() {
        assert_eq!(fold(sum_words(&[0x12, 0x34, 0x56], 0)), 0x1234 + 0x5600);
    }

    #[test]
    fn ipv4_header_checksum_matches_a_known_header() {
        // A classic example header (checksum field zeroed); the correct checksum is 0xb861.
        let header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(ipv4_header_checksum(&header), 0xb861);
    }

    #[test]
    fn pseudo_header_changes_the_checksum_and_both_verify() {
        let src: IpAddr = Ipv4Addr::new(192, 0, 2, 1).into();
        let dst: IpAddr = Ipv4Addr::new(224, 0, 0, 18).into();
        let mut msg = [
            0x31, 0x0a, 0x64, 0x01, 0x00, 0x64, 0x00, 0x00, 0xc0, 0x00, 0x02, 0x0a,
        ];
        let msg = &mut msg[..];
        let plain = vrrp_checksum(msg, ChecksumFlavour::Plain, src, dst);
        let pseudo = vrrp_checksum(msg, ChecksumFlavour::PseudoHeader, src, dst);
        assert_ne!(plain, pseudo);
        msg[6..8].copy_from_slice(&pseudo.to_be_bytes());
        let sum = sum_words(msg, 0);
        assert!(verifies(
            sum,
            ChecksumFlavour::PseudoHeader,
            src,
            dst,
            msg.len()
        ));
        assert!(!verifies(sum, ChecksumFlavour::Plain, src, dst, msg.len()));
    }
}
