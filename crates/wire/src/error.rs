//! Errors of the codec: [`WireError`] for received packets (one variant per VRRP MIB counter, so the
//! daemon can count each one where operators already look for it) and [`EncodeError`] for adverts
//! that cannot be put on the wire.

use thiserror::Error;

/// Why a received packet was rejected.
///
/// Each protocol variant corresponds to exactly one statistics counter of the VRRPv3-MIB
/// (RFC 6527) or, for authentication, of the VRRP-MIB (RFC 2787), which keepalived's SNMP
/// agent and its Prometheus exporter expose too. [`WireError::Truncated`] and
/// [`WireError::NotVrrp`] describe input that is not a VRRP packet at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum WireError {
    /// The VRRP checksum is wrong in every flavour allowed for this version and family
    /// (`vrrpv3StatisticsChecksumErrors`).
    #[error("bad VRRP checksum")]
    Checksum,
    /// The version field is neither 2 nor 3, is 2 over IPv6, or differs from the configured
    /// version (`vrrpv3StatisticsVersionErrors`).
    #[error("unsupported or unexpected VRRP version")]
    Version,
    /// VRID 0, or a VRID no virtual router here is configured for (`vrrpv3StatisticsVrIdErrors`).
    #[error("invalid or unknown VRID")]
    VrId,
    /// IPv4 TTL or IPv6 hop limit is not 255 (`vrrpv3StatisticsIpTtlErrors`).
    #[error("IP TTL / hop limit is not 255")]
    Ttl,
    /// The VRRP message is not exactly 8 bytes + the declared addresses (+ 8 bytes of
    /// authentication data in VRRPv2) (`vrrpv3StatisticsPacketLengthErrors`).
    #[error("VRRP packet length does not match its address count")]
    Length,
    /// The type field is not 1 (ADVERTISEMENT) (`vrrpv3StatisticsRcvdInvalidTypePackets`).
    #[error("VRRP type is not ADVERTISEMENT")]
    InvalidType,
    /// The advert carries no address (`vrrpv3StatisticsAddressListErrors`).
    #[error("VRRP address count is 0")]
    AddressList,
    /// The advertisement interval is 0, or (VRRPv2 only, RFC 3768 §7.1) differs from the
    /// configured one (`vrrpv3StatisticsAdvIntervalErrors`).
    #[error("invalid advertisement interval")]
    AdverInterval,
    /// VRRPv2 authentication type outside 0..=2 (`vrrpStatsInvalidAuthType`).
    #[error("unknown VRRPv2 authentication type")]
    AuthTypeInvalid,
    /// VRRPv2 authentication type differs from the configured one (`vrrpStatsAuthTypeMismatch`).
    #[error("VRRPv2 authentication type differs from the configured one")]
    AuthTypeMismatch,
    /// VRRPv2 simple password differs from the configured one (`vrrpStatsAuthFailures`).
    #[error("VRRPv2 authentication failure")]
    AuthFailure,
    /// The input ends before the IP header or the length the IP header declares.
    #[error("truncated packet")]
    Truncated,
    /// The input is not an IPv4 packet carrying VRRP (protocol 112, possibly behind an AH header).
    #[error("not a VRRP packet")]
    NotVrrp,
}

impl WireError {
    /// Every variant, in declaration order (for metrics registration and tests).
    pub const ALL: [WireError; 13] = [
        WireError::Checksum,
        WireError::Version,
        WireError::VrId,
        WireError::Ttl,
        WireError::Length,
        WireError::InvalidType,
        WireError::AddressList,
        WireError::AdverInterval,
        WireError::AuthTypeInvalid,
        WireError::AuthTypeMismatch,
        WireError::AuthFailure,
        WireError::Truncated,
        WireError::NotVrrp,
    ];

    /// A stable, short, snake_case name for JSON output and metric labels. These names are part
    /// of vipd's interface: never change one.
    pub const fn short_name(self) -> &'static str {
        match self {
            WireError::Checksum => "checksum",
            WireError::Version => "version",
            WireError::VrId => "vrid",
            WireError::Ttl => "ttl",
            WireError::Length => "length",
            WireError::InvalidType => "type",
            WireError::AddressList => "address_list",
            WireError::AdverInterval => "adver_interval",
            WireError::AuthTypeInvalid => "auth_type_invalid",
            WireError::AuthTypeMismatch => "auth_type_mismatch",
            WireError::AuthFailure => "auth_failure",
            WireError::Truncated => "truncated",
            WireError::NotVrrp => "not_vrrp",
        }
    }
}

/// Why an [`crate::Advert`] cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// The interval does not fit the field: 8 bits of seconds in VRRPv2, 12 bits of
    /// centiseconds in VRRPv3.
    #[error("advertisement interval {0} does not fit the field of this VRRP version")]
    IntervalTooLarge(u16),
    /// More than 255 addresses.
    #[error("{0} addresses; an advert carries at most 255")]
    TooManyAddresses(usize),
    /// The addresses, source and destination are not all of one family.
    #[error("addresses, source and destination must all be IPv4 or all IPv6")]
    FamilyMismatch,
    /// VRRPv2 exists only over IPv4 (RFC 3768).
    #[error("VRRPv2 is defined over IPv4 only")]
    Version2OverIpv6,
    /// VRRPv3 has no authentication.
    #[error("VRRPv3 adverts carry no authentication")]
    AuthInVersion3,
}
