//! Checks that need the receiving virtual router's configuration (RFC 9568 §7.1, RFC 3768 §7.1):
//! version, VRID, authentication and, in VRRPv2 only, the advertisement interval.

use crate::advert::{Advert, Auth, Version};
use crate::error::WireError;

/// What the receiving virtual router is configured for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// Configured protocol version.
    pub version: Version,
    /// Configured VRID.
    pub vrid: u8,
    /// Configured VRRPv2 authentication ([`Auth::None`] for VRRPv3).
    pub auth: Auth,
    /// Configured interval field. RFC 3768 requires VRRPv2 adverts to match it; VRRPv3 backups
    /// learn the master's interval instead, so it is not compared there.
    pub max_adver_int: u16,
}

/// Checks `advert` against the configuration of the virtual router it is meant for, in the
/// order keepalived counts them: version, VRID, authentication type, password, interval.
pub fn check_against(advert: &Advert, expected: &Expected) -> Result<(), WireError> {
    if advert.version != expected.version {
        return Err(WireError::Version);
    }
    if advert.vrid != expected.vrid {
        return Err(WireError::VrId);
    }
    if advert.version == Version::V2 {
        if let Auth::Other(_) = advert.auth {
            return Err(WireError::AuthTypeInvalid);
        }
        if advert.auth.type_number() != expected.auth.type_number() {
            return Err(WireError::AuthTypeMismatch);
        }
        if let (Auth::SimplePassword(received), Auth::SimplePassword(configured)) =
            (advert.auth, expected.auth)
        {
            if !constant_time_eq(&received, &configured) {
                return Err(WireError::AuthFailure);
            }
        }
        if advert.max_adver_int != expected.max_adver_int {
            return Err(WireError::AdverInterval);
        }
    }
    Ok(())
}

/// Compares without an early exit, so response timing does not reveal how much of a guessed
/// password was right.
fn constant_time_eq(a: &[u8; 8], b: &[u8; 8]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advert::Addresses;
    use std::net::Ipv4Addr;

    fn v2(auth: Auth, seconds: u8) -> Advert {
        Advert::v2(7, 100, seconds, vec![Ipv4Addr::new(192, 0, 2, 7)], auth)
    }

    fn expected_v2(auth: Auth) -> Expected {
        Expected {
            version: Version::V2,
            vrid: 7,
            auth,
            max_adver_int: 1,
        }
    }

    #[test]
    fn matching_v2_advert_with_password_passes() {
        let auth = Auth::password("s3cret");
        assert_eq!(check_against(&v2(auth, 1), &expected_v2(auth)), Ok(()));
    }

    #[test]
    fn each_configuration_mismatch_has_its_own_error() {
        let pass = Auth::password("s3cret");
        let cases = [
            (
                v2(pass, 1),
                Expected {
                    version: Version::V3,
                    ..expected_v2(pass)
                },
                WireError::Version,
            ),
            (
                v2(pass, 1),
                Expected {
                    vrid: 8,
                    ..expected_v2(pass)
                },
                WireError::VrId,
            ),
            (
                v2(Auth::Other(9), 1),
                expected_v2(pass),
                WireError::AuthTypeInvalid,
            ),
            (
                v2(Auth::None, 1),
                expected_v2(pass),
                WireError::AuthTypeMismatch,
            ),
            (
                v2(Auth::Ah, 1),
                expected_v2(Auth::None),
                WireError::AuthTypeMismatch,
            ),
            (
                v2(Auth::password("guess"), 1),
                expected_v2(pass),
                WireError::AuthFailure,
            ),
            (v2(pass, 2), expected_v2(pass), WireError::AdverInterval),
        ];
        for (advert, expected, error) in cases {
            assert_eq!(
                check_against(&advert, &expected),
                Err(error),
                "{advert:?} vs {expected:?}"
            );
        }
    }

    #[test]
    fn v3_interval_is_learned_not_compared() {
        let advert = Advert::v3(
            7,
            100,
            50,
            Addresses::V4(vec![Ipv4Addr::new(192, 0, 2, 7)].into()),
        );
        let expected = Expected {
            version: Version::V3,
            vrid: 7,
            auth: Auth::None,
            max_adver_int: 100,
        };
        assert_eq!(check_against(&advert, &expected), Ok(()));
    }
}
