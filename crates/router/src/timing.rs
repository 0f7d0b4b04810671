//! RFC 9568 §6.1 / RFC 3768 §6.1 timer arithmetic, in microseconds with no rounding to
//! milliseconds: at a 10 ms advert interval the skew is below one millisecond and must survive.

use crate::config::Version;

/// Microseconds in one centisecond, the unit of VRRPv3's Max Advertise Interval field.
pub const CENTISECOND_US: u64 = 10_000;
/// Microseconds in one second, the unit of VRRPv2's Adver Int field.
pub const SECOND_US: u64 = 1_000_000;

/// Skew_Time for a router of `priority` given the Master_Adver_Interval it uses.
///
/// VRRPv3 (RFC 9568 §6.1): `((256 − Priority) × Master_Adver_Interval) / 256`.
/// VRRPv2 (RFC 3768 §6.1): `(256 − Priority) / 256` seconds, whatever the advert interval.
pub const fn skew_time_us(version: Version, priority: u8, master_adver_interval_us: u64) -> u64 {
    let weight = 256 - priority as u64;
    match version {
        Version::V3 => weight * master_adver_interval_us / 256,
        Version::V2 => weight * SECOND_US / 256,
    }
}

/// Master_Down_Interval: `down_timer_adverts × Master_Adver_Interval + Skew_Time`
/// (RFC 9568 §6.1 fixes the multiplier at 3; keepalived's `down_timer_adverts` makes it
/// configurable, default 3).
pub const fn master_down_interval_us(
    version: Version,
    priority: u8,
    master_adver_interval_us: u64,
    down_timer_adverts: u32,
) -> u64 {
    down_timer_adverts as u64 * master_adver_interval_us
        + skew_time_us(version, priority, master_adver_interval_us)
}

/// The advert interval field of a received advert in microseconds: centiseconds for v3,
/// seconds for v2.
pub const fn advert_field_to_us(version: Version, raw: u16) -> u64 {
    match version {
        Version::V3 => raw as u64 * CENTISECOND_US,
        Version::V2 => raw as u64 * SECOND_US,
    }
}

/// The advert interval field to put in our own adverts (the daemon's encoder uses this):
/// centiseconds for v3, seconds for v2.
pub const fn advert_us_to_field(version: Version, interval_us: u64) -> u16 {
    match version {
        Version::V3 => (interval_us / CENTISECOND_US) as u16,
        Version::V2 => (interval_us / SECOND_US) as u16,
    }
}
