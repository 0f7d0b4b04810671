//! The router's only notion of time: microseconds of a monotonic clock the caller reads.

use core::fmt;
use core::ops::{Add, Sub};

/// A point on (or a span of) the caller's monotonic clock, in microseconds.
///
/// The router never reads a clock itself; every input carries one of these.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Micros(pub u64);

impl Micros {
    /// The origin of the caller's clock.
    pub const ZERO: Micros = Micros(0);

    /// Whole milliseconds as microseconds.
    pub const fn from_millis(ms: u64) -> Micros {
        Micros(ms * 1_000)
    }

    /// Whole seconds as microseconds.
    pub const fn from_secs(secs: u64) -> Micros {
        Micros(secs * 1_000_000)
    }

    /// The raw microsecond count.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Adds a span in microseconds, saturating instead of wrapping at the end of the clock.
    pub const fn plus_us(self, us: u64) -> Micros {
        Micros(self.0.saturating_add(us))
    }
}

impl Add<u64> for Micros {
    type Output = Micros;
    fn add(self, us: u64) -> Micros {
        self.plus_us(us)
    }
}

impl Sub for Micros {
    type Output = u64;
    /// The span between two instants, zero when `rhs` is later.
    fn sub(self, rhs: Micros) -> u64 {
        self.0.saturating_sub(rhs.0)
    }
}

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}
