//! The VRRP advertisement as a plain value: what the router logic reads and writes, independent of
//! how it travels.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;
use smallvec::SmallVec;

/// The only VRRP message type (RFC 9568 §5.2.2, RFC 3768 §5.3.2).
pub const TYPE_ADVERTISEMENT: u8 = 1;

/// VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Version {
    /// RFC 3768: IPv4 only, interval in seconds, optional simple password.
    V2,
    /// RFC 9568: IPv4 and IPv6, interval in centiseconds, no authentication.
    V3,
}

impl Version {
    /// The value of the version field.
    pub const fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }

    /// Microseconds per unit of the advertisement interval field.
    pub const fn interval_unit_micros(self) -> u64 {
        match self {
            Version::V2 => 1_000_000,
            Version::V3 => 10_000,
        }
    }

    /// The largest value the interval field can carry (8 bits of seconds / 12 bits of
    /// centiseconds).
    pub const fn max_interval_field(self) -> u16 {
        match self {
            Version::V2 => 0xff,
            Version::V3 => 0x0fff,
        }
    }
}

/// Address family of an advert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// Bytes per address on the wire.
    pub const fn address_len(self) -> usize {
        match self {
            Family::V4 => 4,
            Family::V6 => 16,
        }
    }

    /// `4` or `6`.
    pub const fn number(self) -> u8 {
        match self {
            Family::V4 => 4,
            Family::V6 => 6,
        }
    }

    /// The family of `addr`.
    pub const fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// IPv4 virtual addresses of one advert. Held inline up to four: every advert heard is decoded
/// into one, and a heap allocation and free per packet were a seventh of a 100-instance backup's
/// user-space instructions.
pub type Ipv4List = SmallVec<[Ipv4Addr; 4]>;

/// IPv6 virtual addresses of one advert, inline up to two (see [`Ipv4List`]).
pub type Ipv6List = SmallVec<[Ipv6Addr; 2]>;

/// The virtual addresses an advert carries; one family per advert by construction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Addresses {
    /// IPv4 virtual addresses.
    V4(Ipv4List),
    /// IPv6 virtual addresses.
    V6(Ipv6List),
}

impl Addresses {
    /// The address family.
    pub fn family(&self) -> Family {
        match self {
            Addresses::V4(_) => Family::V4,
            Addresses::V6(_) => Family::V6,
        }
    }

    /// Number of addresses.
    pub fn len(&self) -> usize {
        match self {
            Addresses::V4(list) => list.len(),
            Addresses::V6(list) => list.len(),
        }
    }

    /// Whether there is no address.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The addresses as [`IpAddr`]s, in wire order.
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let (v4, v6): (&[Ipv4Addr], &[Ipv6Addr]) = match self {
            Addresses::V4(list) => (list, &[]),
            Addresses::V6(list) => (&[], list),
        };
        v4.iter()
            .map(|a| IpAddr::V4(*a))
            .chain(v6.iter().map(|a| IpAddr::V6(*a)))
    }

    /// Whether these are the same addresses as `expected`, ignoring order (RFC 9568 §7.1 lets a
    /// receiver compare the list with its configuration and log a mismatch, not drop the advert).
    pub fn same_set_as(&self, expected: &[IpAddr]) -> bool {
        self.len() == expected.len() && self.iter().all(|a| expected.contains(&a))
    }
}

/// VRRPv2 authentication (RFC 3768 §5.3.6; types 1 and 2 are deprecated there but keepalived
/// still speaks them). VRRPv3 adverts always carry [`Auth::None`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Auth {
    /// Type 0. The 8 authentication bytes are sent as zeros.
    None,
    /// Type 1: keepalived's `auth_type PASS`, a password of up to 8 bytes, zero-padded.
    SimplePassword([u8; 8]),
    /// Type 2: IPsec AH (keepalived's `auth_type AH`). Decoded so it can be reported; vipd
    /// neither sends nor verifies it.
    Ah,
    /// Any other type value; decoded only for display, rejected as
    /// [`crate::WireError::AuthTypeInvalid`].
    Other(u8),
}

impl Auth {
    /// The value of the authentication type field.
    pub const fn type_number(&self) -> u8 {
        match self {
            Auth::None => 0,
            Auth::SimplePassword(_) => 1,
            Auth::Ah => 2,
            Auth::Other(n) => *n,
        }
    }

    /// A simple password from configuration text: the first 8 bytes, zero-padded, as keepalived
    /// truncates and pads `auth_pass`.
    pub fn password(text: &str) -> Auth {
        let mut bytes = [0u8; 8];
        let len = text.len().min(8);
        bytes[..len].copy_from_slice(&text.as_bytes()[..len]);
        Auth::SimplePassword(bytes)
    }
}

/// A VRRP advertisement (type 1, the only type).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Advert {
    /// Protocol version.
    pub version: Version,
    /// Virtual router identifier, 1..=255 on the wire.
    pub vrid: u8,
    /// Sender's priority: 0 = master is leaving, 255 = address owner.
    pub priority: u8,
    /// The raw interval field: seconds in VRRPv2 (8 bits), centiseconds in VRRPv3 (12 bits).
    /// Use [`Advert::interval_micros`] for a duration.
    pub max_adver_int: u16,
    /// The virtual addresses.
    pub addresses: Addresses,
    /// Authentication; always [`Auth::None`] in VRRPv3.
    pub auth: Auth,
}

impl Advert {
    /// A VRRPv3 advert; `centiseconds` is the raw 12-bit interval field.
    pub fn v3(vrid: u8, priority: u8, centiseconds: u16, addresses: Addresses) -> Advert {
        Advert {
            version: Version::V3,
            vrid,
            priority,
            max_adver_int: centiseconds,
            addresses,
            auth: Auth::None,
        }
    }

    /// A VRRPv2 advert over IPv4; `seconds` is the raw 8-bit interval field.
    pub fn v2(vrid: u8, priority: u8, seconds: u8, addresses: Vec<Ipv4Addr>, auth: Auth) -> Advert {
        Advert {
            version: Version::V2,
            vrid,
            priority,
            max_adver_int: u16::from(seconds),
            addresses: Addresses::V4(Ipv4List::from_vec(addresses)),
            auth,
        }
    }

    /// The advertisement interval in microseconds.
    pub fn interval_micros(&self) -> u64 {
        u64::from(self.max_adver_int) * self.version.interval_unit_micros()
    }

    /// The advertisement interval in milliseconds (exact: both units are whole milliseconds).
    pub fn interval_millis(&self) -> u64 {
        self.interval_micros() / 1000
    }

    /// Length of this advert's VRRP message on the wire.
    pub fn wire_len(&self) -> usize {
        let auth_len = if self.version == Version::V2 { 8 } else { 0 };
        8 + self.addresses.len() * self.addresses.family().address_len() + auth_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_convert_from_the_unit_of_each_version() {
        let v3 = Advert::v3(
            1,
            100,
            10,
            Addresses::V4([Ipv4Addr::new(192, 0, 2, 1)].into_iter().collect()),
        );
        assert_eq!(v3.interval_micros(), 100_000);
        assert_eq!(v3.interval_millis(), 100);
        let v2 = Advert::v2(1, 100, 3, vec![Ipv4Addr::new(192, 0, 2, 1)], Auth::None);
        assert_eq!(v2.interval_micros(), 3_000_000);
    }

    #[test]
    fn password_is_truncated_and_zero_padded_like_keepalived() {
        assert_eq!(
            Auth::password("secret"),
            Auth::SimplePassword(*b"secret\0\0")
        );
        assert_eq!(
            Auth::password("longpassword"),
            Auth::SimplePassword(*b"longpass")
        );
    }

    #[test]
    fn address_set_comparison_ignores_order_but_not_content() {
        let a = Addresses::V4(Ipv4List::from_slice(&[
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::new(192, 0, 2, 2),
        ]));
        let same: Vec<IpAddr> = vec![
            Ipv4Addr::new(192, 0, 2, 2).into(),
            Ipv4Addr::new(192, 0, 2, 1).into(),
        ];
        let other: Vec<IpAddr> = vec![Ipv4Addr::new(192, 0, 2, 2).into()];
        assert!(a.same_set_as(&same));
        assert!(!a.same_set_as(&other));
    }

    #[test]
    fn wire_len_counts_auth_data_only_in_v2() {
        let v6 = Advert::v3(
            1,
            1,
            1,
            Addresses::V6(Ipv6List::from_elem(Ipv6Addr::LOCALHOST, 2)),
        );
        assert_eq!(v6.wire_len(), 8 + 32);
        let v2 = Advert::v2(1, 1, 1, vec![Ipv4Addr::LOCALHOST], Auth::None);
        assert_eq!(v2.wire_len(), 8 + 4 + 8);
    }
}
