//! Decoding received packets: the IPv4 header as a raw socket delivers it, the VRRP message, and
//! every context-free validation of RFC 9568 §7.1 / RFC 3768 §7.1, in that order.
//!
//! Two levels: [`inspect_message`] reads every field it can with nom's combinators and names the
//! first rule the packet breaks (what `vipd sniff` prints); the `decode_*` functions, which the
//! daemon runs for every packet heard, read the same fields by offset, stop at the first broken
//! rule and return an [`Advert`] or the error the daemon counts. Property tests
//! (`tests/decode_agrees.rs`) hold the two readings to the same verdict for any packet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::advert::{Addresses, Advert, Auth, Family, Version, TYPE_ADVERTISEMENT};
use nom::bytes::complete::take;
use nom::multi::count;
use nom::number::complete::{be_u16, be_u8};
use nom::{IResult, Parser};

use crate::checksum::{sum_words, verifies, ChecksumFlavour, IPPROTO_VRRP};
use crate::error::WireError;

/// IP protocol number of the IPsec Authentication Header (keepalived's `auth_type AH`).
pub const IPPROTO_AH: u8 = 51;

/// TTL / hop limit every VRRP packet must arrive with (RFC 9568 §5.1.1.3).
pub const REQUIRED_TTL: u8 = 255;

/// Length of the fixed VRRP header.
pub const HEADER_LEN: usize = 8;

/// Length of the VRRPv2 authentication data.
pub const AUTH_DATA_LEN: usize = 8;

/// Receive-side choices that depend on how the virtual router is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Reject packets whose TTL / hop limit is not 255. RFC 9568 requires it; keepalived skips
    /// the check for unicast peers, whose adverts may cross routers.
    pub require_ttl_255: bool,
}

impl DecodeOptions {
    /// The RFC's rules, for multicast adverts.
    pub const MULTICAST: DecodeOptions = DecodeOptions {
        require_ttl_255: true,
    };
    /// keepalived's rules for unicast peers: any TTL.
    pub const UNICAST: DecodeOptions = DecodeOptions {
        require_ttl_255: false,
    };
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions::MULTICAST
    }
}

/// The fixed VRRP header fields exactly as received, before interpretation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderFields {
    /// Version field (upper nibble of byte 0).
    pub version: u8,
    /// Type field (lower nibble of byte 0).
    pub kind: u8,
    /// Virtual router ID.
    pub vrid: u8,
    /// Priority.
    pub priority: u8,
    /// Count of addresses declared.
    pub count: u8,
    /// VRRPv2 authentication type; `None` for other versions.
    pub auth_type: Option<u8>,
    /// The interval field: 8 bits (v2) or the low 12 bits (v3 and unknown versions).
    pub adver_int: u16,
    /// Checksum field.
    pub checksum: u16,
}

/// The outcome of checking a received checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumVerdict {
    /// The checksum verifies in this flavour.
    Good(ChecksumFlavour),
    /// The checksum verifies in no flavour allowed for this version and family.
    Bad,
}

impl ChecksumVerdict {
    /// `"pseudo-header"`, `"plain"` or `"bad"`, as `vipd sniff` prints it.
    pub const fn name(self) -> &'static str {
        match self {
            ChecksumVerdict::Good(flavour) => flavour.name(),
            ChecksumVerdict::Bad => "bad",
        }
    }
}

/// Everything readable from a VRRP message, plus the first validation rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// Fixed header fields as received.
    pub fields: HeaderFields,
    /// The complete addresses present, at most as many as declared (a short packet yields
    /// fewer).
    pub addresses: Addresses,
    /// VRRPv2 authentication data, when the packet is v2 and long enough to hold it.
    pub auth_data: Option<[u8; AUTH_DATA_LEN]>,
    /// Checksum verification outcome.
    pub checksum: ChecksumVerdict,
    /// The first context-free rule broken, in RFC 9568 §7.1 order; `None` for a valid advert.
    pub error: Option<WireError>,
}

impl Inspection {
    /// The advert, if the packet broke no rule.
    pub fn into_advert(self) -> Result<(Advert, ChecksumFlavour), WireError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let flavour = match self.checksum {
            ChecksumVerdict::Good(flavour) => flavour,
            ChecksumVerdict::Bad => return Err(WireError::Checksum),
        };
        let version = match self.fields.version {
            2 => Version::V2,
            3 => Version::V3,
            _ => return Err(WireError::Version),
        };
        let auth = match (version, self.fields.auth_type) {
            (Version::V2, Some(0)) => Auth::None,
            (Version::V2, Some(1)) => Auth::SimplePassword(self.auth_data.unwrap_or_default()),
            (Version::V2, Some(2)) => Auth::Ah,
            (Version::V2, Some(other)) => Auth::Other(other),
            _ => Auth::None,
        };
        let advert = Advert {
            version,
            vrid: self.fields.vrid,
            priority: self.fields.priority,
            max_adver_int: self.fields.adver_int,
            addresses: self.addresses,
            auth,
        };
        Ok((advert, flavour))
    }
}

/// The IPv4 header of a received packet, as far as VRRP cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4HeaderView {
    /// Type of service / DSCP+ECN byte.
    pub tos: u8,
    /// Time to live.
    pub ttl: u8,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Header length in bytes (IHL × 4); above 20 when options are present.
    pub header_len: usize,
    /// Total length field.
    pub total_len: u16,
    /// Whether an IPsec AH header sat between the IP header and the VRRP message.
    pub authentication_header: bool,
}

impl Ipv4HeaderView {
    /// Whether the header carries options.
    pub fn has_options(&self) -> bool {
        self.header_len > 20
    }
}

/// A valid advert received over IPv4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Received {
    /// The IP header it came with.
    pub header: Ipv4HeaderView,
    /// The advert.
    pub advert: Advert,
    /// The checksum flavour the sender used.
    pub checksum: ChecksumFlavour,
}

/// A valid advert received over IPv6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Received {
    /// Source address (from the socket).
    pub src: Ipv6Addr,
    /// Destination address (from the socket).
    pub dst: Ipv6Addr,
    /// Hop limit (from `IPV6_RECVHOPLIMIT`).
    pub hop_limit: u8,
    /// The advert.
    pub advert: Advert,
    /// Always [`ChecksumFlavour::PseudoHeader`]; kept for symmetry with IPv4.
    pub checksum: ChecksumFlavour,
}

type ParseResult<'a, T> = IResult<&'a [u8], T, nom::error::Error<&'a [u8]>>;

/// The 8-byte fixed header through nom: the inspection's reading, which `vipd sniff` shows and
/// which the daemon's reading by offset ([`read_fixed_header`]) is held to by property tests.
fn parse_fixed_header(input: &[u8]) -> ParseResult<'_, HeaderFields> {
    let (rest, (version_type, vrid, priority, count, interval_word, checksum)) =
        (be_u8, be_u8, be_u8, be_u8, be_u16, be_u16).parse(input)?;
    Ok((
        rest,
        header_fields(version_type, vrid, priority, count, interval_word, checksum),
    ))
}

fn header_fields(
    version_type: u8,
    vrid: u8,
    priority: u8,
    count: u8,
    interval_word: u16,
    checksum: u16,
) -> HeaderFields {
    let version = version_type >> 4;
    let (auth_type, adver_int) = if version == 2 {
        (Some((interval_word >> 8) as u8), interval_word & 0x00ff)
    } else {
        (None, interval_word & 0x0fff)
    };
    HeaderFields {
        version,
        kind: version_type & 0x0f,
        vrid,
        priority,
        count,
        auth_type,
        adver_int,
        checksum,
    }
}

/// The addresses through nom, as many of `declared` as `input` really holds: the allocation is
/// bounded by the bytes received, never by the count the packet claims.
fn parse_addresses(input: &[u8], family: Family, declared: usize) -> (&[u8], Addresses) {
    let present = declared.min(input.len() / family.address_len());
    let parsed: ParseResult<'_, Vec<&[u8]>> =
        count(take(family.address_len()), present).parse(input);
    let (rest, list) = parsed.expect("no more addresses than the bytes hold");
    let list: Vec<u8> = list.concat();
    (rest, read_addresses(&list, family))
}

/// Reads the 8-byte fixed header by offset (it runs for every packet heard; nom's combinators
/// over six fields cost a 100-instance backup about a twentieth of its user-space instructions).
fn read_fixed_header(input: &[u8]) -> Option<(&[u8], HeaderFields)> {
    let (header, rest) = input.split_first_chunk::<HEADER_LEN>()?;
    let [version_type, vrid, priority, count, interval_hi, interval_lo, sum_hi, sum_lo] = *header;
    let fields = header_fields(
        version_type,
        vrid,
        priority,
        count,
        u16::from_be_bytes([interval_hi, interval_lo]),
        u16::from_be_bytes([sum_hi, sum_lo]),
    );
    Some((rest, fields))
}

/// The addresses in `list` (a whole number of them). Filled in place when they fit inline:
/// `SmallVec`'s `collect` cost a 100-instance backup a twentieth of its instructions.
fn read_addresses(list: &[u8], family: Family) -> Addresses {
    match family {
        Family::V4 => Addresses::V4(inline_list(list, Ipv4Addr::UNSPECIFIED, |a: [u8; 4]| {
            Ipv4Addr::from(a)
        })),
        Family::V6 => Addresses::V6(inline_list(list, Ipv6Addr::UNSPECIFIED, |a: [u8; 16]| {
            Ipv6Addr::from(a)
        })),
    }
}

/// `list` read as `W`-byte addresses into a list of inline capacity `N`: filled in a stack array
/// when they fit, collected otherwise.
fn inline_list<A: Copy, const N: usize, const W: usize>(
    list: &[u8],
    unspecified: A,
    address: impl Fn([u8; W]) -> A,
) -> smallvec::SmallVec<[A; N]>
where
    [A; N]: smallvec::Array<Item = A>,
{
    let read = |bytes: &[u8]| address(bytes.try_into().expect("chunks of W"));
    let count = list.len() / W;
    if count > N {
        return list.chunks_exact(W).map(read).collect();
    }
    let mut inline = [unspecified; N];
    for (slot, bytes) in inline.iter_mut().zip(list.chunks_exact(W)) {
        *slot = read(bytes);
    }
    smallvec::SmallVec::from_buf_and_len(inline, count)
}

/// Checksum flavours a sender may legitimately use, most common first.
fn allowed_flavours(version: u8, family: Family) -> &'static [ChecksumFlavour] {
    match (version, family) {
        (2, _) => &[ChecksumFlavour::Plain],
        (_, Family::V4) => &[ChecksumFlavour::PseudoHeader, ChecksumFlavour::Plain],
        (_, Family::V6) => &[ChecksumFlavour::PseudoHeader],
    }
}

/// Reads a VRRP message that arrived from `src` to `dst` with `ttl`, verifies its checksum and
/// names the first rule it breaks. Fails only when not even the 8-byte fixed header is there.
///
/// `src` and `dst` must be of one family; it selects the address length and pseudo-header.
pub fn inspect_message(
    message: &[u8],
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    options: DecodeOptions,
) -> Result<Inspection, WireError> {
    let family = Family::of(&src);
    let (after_header, fields) = parse_fixed_header(message).map_err(|_| WireError::Length)?;
    let (after_addresses, addresses) =
        parse_addresses(after_header, family, usize::from(fields.count));
    let auth_data = if fields.version == 2 {
        after_addresses.get(..AUTH_DATA_LEN).map(|bytes| {
            let mut data = [0u8; AUTH_DATA_LEN];
            data.copy_from_slice(bytes);
            data
        })
    } else {
        None
    };

    let message_sum = sum_words(message, 0);
    let checksum = allowed_flavours(fields.version, family)
        .iter()
        .copied()
        .find(|flavour| verifies(message_sum, *flavour, src, dst, message.len()))
        .map_or(ChecksumVerdict::Bad, ChecksumVerdict::Good);

    let version_ok = match family {
        Family::V4 => fields.version == 2 || fields.version == 3,
        Family::V6 => fields.version == 3,
    };
    let auth_len = if fields.version == 2 {
        AUTH_DATA_LEN
    } else {
        0
    };
    let expected_len = HEADER_LEN + usize::from(fields.count) * family.address_len() + auth_len;

    let error = if options.require_ttl_255 && ttl != REQUIRED_TTL {
        Some(WireError::Ttl)
    } else if !version_ok {
        Some(WireError::Version)
    } else if message.len() != expected_len {
        Some(WireError::Length)
    } else if checksum == ChecksumVerdict::Bad {
        Some(WireError::Checksum)
    } else if fields.vrid == 0 {
        Some(WireError::VrId)
    } else if fields.kind != TYPE_ADVERTISEMENT {
        Some(WireError::InvalidType)
    } else if matches!(fields.auth_type, Some(auth_type) if auth_type > 2) {
        Some(WireError::AuthTypeInvalid)
    } else if fields.count == 0 {
        Some(WireError::AddressList)
    } else if fields.adver_int == 0 {
        Some(WireError::AdverInterval)
    } else {
        None
    };

    Ok(Inspection {
        fields,
        addresses,
        auth_data,
        checksum,
        error,
    })
}

/// What the daemon runs for every packet heard: the rules of [`inspect_message`] in the same
/// order, returning at the first one broken, and the addresses read only once all have passed
/// (building an [`Inspection`] first and converting it cost as much again in copies).
/// `vipd sniff` keeps the inspection, which reads every field whatever the verdict; a property
/// test holds the two to the same answer for any packet.
fn decode_message(
    message: &[u8],
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    options: DecodeOptions,
) -> Result<(Advert, ChecksumFlavour), WireError> {
    let family = Family::of(&src);
    let (after_header, fields) = read_fixed_header(message).ok_or(WireError::Length)?;
    if options.require_ttl_255 && ttl != REQUIRED_TTL {
        return Err(WireError::Ttl);
    }
    let version = match (fields.version, family) {
        (2, Family::V4) => Version::V2,
        (3, _) => Version::V3,
        _ => return Err(WireError::Version),
    };
    let auth_len = if version == Version::V2 {
        AUTH_DATA_LEN
    } else {
        0
    };
    let addresses_len = usize::from(fields.count) * family.address_len();
    if message.len() != HEADER_LEN + addresses_len + auth_len {
        return Err(WireError::Length);
    }
    let message_sum = sum_words(message, 0);
    let checksum = allowed_flavours(fields.version, family)
        .iter()
        .copied()
        .find(|flavour| verifies(message_sum, *flavour, src, dst, message.len()))
        .ok_or(WireError::Checksum)?;
    if fields.vrid == 0 {
        return Err(WireError::VrId);
    }
    if fields.kind != TYPE_ADVERTISEMENT {
        return Err(WireError::InvalidType);
    }
    let auth = match fields.auth_type {
        None | Some(0) => Auth::None,
        Some(1) => {
            let data = &after_header[addresses_len..];
            Auth::SimplePassword(data.try_into().expect("length checked above"))
        }
        Some(2) => Auth::Ah,
        Some(_) => return Err(WireError::AuthTypeInvalid),
    };
    if fields.count == 0 {
        return Err(WireError::AddressList);
    }
    if fields.adver_int == 0 {
        return Err(WireError::AdverInterval);
    }
    let advert = Advert {
        version,
        vrid: fields.vrid,
        priority: fields.priority,
        max_adver_int: fields.adver_int,
        addresses: read_addresses(&after_header[..addresses_len], family),
        auth,
    };
    Ok((advert, checksum))
}

/// Reads the IPv4 header a raw socket delivers (or a capture holds) and returns it with the
/// VRRP message it carries, skipping IP options and an AH header. Trailing bytes beyond the
/// total length (Ethernet padding) are dropped.
pub fn split_ipv4_packet(packet: &[u8]) -> Result<(Ipv4HeaderView, &[u8]), WireError> {
    // Fixed offsets read directly: this runs for every packet heard, and a parser combinator
    // over ten fields cost a backup of 100 instances an eighth of its user-space instructions.
    let Some(fixed) = packet.get(..20) else {
        return Err(WireError::Truncated);
    };
    let word = |at: usize| u16::from_be_bytes([fixed[at], fixed[at + 1]]);
    let quad =
        |at: usize| u32::from_be_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]]);
    let (version_ihl, tos, total_len, ttl, protocol) =
        (fixed[0], fixed[1], word(2), fixed[8], fixed[9]);
    let (src, dst) = (quad(12), quad(16));
    if version_ihl >> 4 != 4 {
        return Err(WireError::NotVrrp);
    }
    let header_len = usize::from(version_ihl & 0x0f) * 4;
    let total = usize::from(total_len);
    if header_len < 20 || total < header_len || packet.len() < total {
        return Err(WireError::Truncated);
    }
    let mut payload = &packet[header_len..total];
    let authentication_header = protocol == IPPROTO_AH;
    if authentication_header {
        payload = skip_authentication_header(payload)?;
    } else if protocol != IPPROTO_VRRP {
        return Err(WireError::NotVrrp);
    }
    let header = Ipv4HeaderView {
        tos,
        ttl,
        src: Ipv4Addr::from(src),
        dst: Ipv4Addr::from(dst),
        header_len,
        total_len,
        authentication_header,
    };
    Ok((header, payload))
}

/// Skips an RFC 4302 AH header whose next header is VRRP.
fn skip_authentication_header(payload: &[u8]) -> Result<&[u8], WireError> {
    let (next_header, length_words) = match payload {
        [next, len, ..] => (*next, *len),
        _ => return Err(WireError::Truncated),
    };
    if next_header != IPPROTO_VRRP {
        return Err(WireError::NotVrrp);
    }
    let ah_len = (usize::from(length_words) + 2) * 4;
    payload.get(ah_len..).ok_or(WireError::Truncated)
}

/// Inspects an IPv4 packet: IP-level problems fail, VRRP-level ones land in
/// [`Inspection::error`].
pub fn inspect_ipv4_packet(
    packet: &[u8],
    options: DecodeOptions,
) -> Result<(Ipv4HeaderView, Inspection), WireError> {
    let (header, message) = split_ipv4_packet(packet)?;
    let inspection = inspect_message(
        message,
        header.src.into(),
        header.dst.into(),
        header.ttl,
        options,
    )?;
    Ok((header, inspection))
}

/// Decodes and validates an IPv4 packet as a raw `IPPROTO_VRRP` socket delivers it (IP header
/// included), with the RFC's multicast rules.
pub fn decode_ipv4_packet(packet: &[u8]) -> Result<Ipv4Received, WireError> {
    decode_ipv4_packet_with(packet, DecodeOptions::MULTICAST)
}

/// [`decode_ipv4_packet`] with explicit [`DecodeOptions`].
pub fn decode_ipv4_packet_with(
    packet: &[u8],
    options: DecodeOptions,
) -> Result<Ipv4Received, WireError> {
    let (header, message) = split_ipv4_packet(packet)?;
    let (advert, checksum) = decode_message(
        message,
        header.src.into(),
        header.dst.into(),
        header.ttl,
        options,
    )?;
    Ok(Ipv4Received {
        header,
        advert,
        checksum,
    })
}

/// Decodes and validates the VRRP payload of an IPv6 packet; a raw IPv6 socket delivers no IP
/// header, so addresses and hop limit come from the socket (`recvmsg` name and
/// `IPV6_HOPLIMIT` control message).
pub fn decode_ipv6_payload(
    payload: &[u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
) -> Result<Ipv6Received, WireError> {
    decode_ipv6_payload_with(payload, src, dst, hop_limit, DecodeOptions::MULTICAST)
}

/// [`decode_ipv6_payload`] with explicit [`DecodeOptions`].
pub fn decode_ipv6_payload_with(
    payload: &[u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    options: DecodeOptions,
) -> Result<Ipv6Received, WireError> {
    let (advert, checksum) = decode_message(payload, src.into(), dst.into(), hop_limit, options)?;
    Ok(Ipv6Received {
        src,
        dst,
        hop_limit,
        advert,
        checksum,
    })
}
