//! The static description of one virtual router (keepalived's `vrrp_instance` keywords that the
//! protocol logic reads) and its validation.

use core::fmt;
use std::net::IpAddr;

use crate::timing::{CENTISECOND_US, SECOND_US};

/// Which VRRP the virtual router speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// RFC 3768: whole-second intervals, no learned interval.
    V2,
    /// RFC 9568: centisecond intervals learned from the master.
    V3,
}

/// keepalived's `state` keyword. It is a wish, not a command: only the address owner
/// (priority 255) starts as Master at once; any other router starts as Backup and, when it wished
/// to be Master, waits one advert interval plus its skew instead of a full Master_Down_Interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum InitialState {
    /// Wait a full Master_Down_Interval before claiming mastership (keepalived `state BACKUP`).
    #[default]
    Backup,
    /// Claim mastership after one advert interval plus skew if no better master speaks
    /// (keepalived `state MASTER`).
    Master,
}

/// Something the router's priority depends on, with the plain up/down rule and no `reverse`
/// (keepalived's `track_interface`). [`Track`] is the full form. The daemon watches it; the router
/// only learns `up`/`down` through [`crate::Input::TrackedObjectChanged`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrackedObject {
    /// The caller's identifier for the object.
    pub id: u32,
    /// keepalived's semantics: `0` sends the router to Fault while the object is down; a negative
    /// weight is added to the priority while the object is down; a positive weight is added while
    /// it is up.
    pub weight: i16,
    /// The object's state when the router is created.
    pub up: bool,
}

/// What a [`Track`] reports now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrackStatus {
    /// Not known yet: a `vrrp_script` without `init_fail` before its first result. It moves
    /// no priority; with weight 0 it keeps the router from starting (or from leaving Fault)
    /// until it is known, as keepalived keeps such an instance in INIT.
    Unknown,
    /// Passing: script succeeded, process quorum reached, interface up.
    Up,
    /// Failing.
    Down,
    /// A `track_file`'s number.
    Value(i64),
}

/// What one [`Track`] does to the router now (see [`Track::effect`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrackEffect {
    /// Added to the base priority (0 when the weight does not apply in this state).
    Adjust(i32),
    /// The router must be in Fault.
    Fault,
    /// A weight-0 object whose status is [`TrackStatus::Unknown`]: the router waits for it.
    Pending,
}

/// One tracked object with keepalived's full rule (`track_script`, `track_file`,
/// `track_process`, `track_interface` with `weight W [reverse]`). The daemon observes the
/// object; the router learns its status through [`crate::Input::TrackedObjectChanged`] (up or
/// down) or [`crate::Input::TrackedValueChanged`] (a file's number).
///
/// keepalived's rules, from `vrrp_track.c` and `track_file.c` (2.2.7):
/// - up/down, weight ≠ 0: a positive weight is added while up, a negative one while down;
///   `reverse` keeps *when* it applies and flips its sign (`weight 10 reverse` takes 10 off
///   while up, `weight -10 reverse` adds 10 while down).
/// - up/down, weight 0: Fault while down; with `reverse`, Fault while up.
/// - a value, weight ≠ 0: value × weight (× −1 with `reverse`) is added, at most 253; a
///   product of −254 or less means Fault.
/// - a value, weight 0: Fault while the value is not 0; with `reverse`, Fault while it is 0.
///
/// The effective priority is the base priority plus every adjustment, clamped to 1–254; the
/// address owner stays at 255 whatever the weights say, but Fault applies to it as to anyone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Track {
    /// The caller's identifier, unique across [`RouterConfig::tracked`] and
    /// [`RouterConfig::tracks`].
    pub id: u32,
    /// keepalived's `weight`, −254 to 254.
    pub weight: i16,
    /// keepalived's `reverse`.
    pub reverse: bool,
    /// The object's status when the router is built or reconfigured.
    pub status: TrackStatus,
}

/// The most a tracked file may add (keepalived caps the product at 253).
const FILE_ADJUST_MAX: i64 = 253;
/// A tracked file's product at or below this means Fault (keepalived's −254).
const FILE_FAULT_AT: i64 = -254;

impl Track {
    /// What the object does to the router in its current status.
    pub fn effect(&self) -> TrackEffect {
        let weight = i64::from(self.weight);
        let sign = if self.reverse { -1 } else { 1 };
        match self.status {
            TrackStatus::Unknown if weight == 0 => TrackEffect::Pending,
            TrackStatus::Unknown => TrackEffect::Adjust(0),
            TrackStatus::Up | TrackStatus::Down => {
                let up = self.status == TrackStatus::Up;
                if weight == 0 {
                    if up == self.reverse {
                        TrackEffect::Fault
                    } else {
                        TrackEffect::Adjust(0)
                    }
                } else if (weight > 0) == up {
                    TrackEffect::Adjust((weight * sign) as i32)
                } else {
                    TrackEffect::Adjust(0)
                }
            }
            TrackStatus::Value(value) => {
                if weight == 0 {
                    if (value != 0) != self.reverse {
                        TrackEffect::Fault
                    } else {
                        TrackEffect::Adjust(0)
                    }
                } else {
                    let product = value.saturating_mul(weight).saturating_mul(sign);
                    if product <= FILE_FAULT_AT {
                        TrackEffect::Fault
                    } else {
                        TrackEffect::Adjust(product.min(FILE_ADJUST_MAX) as i32)
                    }
                }
            }
        }
    }
}

impl From<TrackedObject> for Track {
    fn from(object: TrackedObject) -> Track {
        Track {
            id: object.id,
            weight: object.weight,
            reverse: false,
            status: if object.up {
                TrackStatus::Up
            } else {
                TrackStatus::Down
            },
        }
    }
}

/// Everything the state machine needs to know about one virtual router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterConfig {
    /// Virtual router identifier, 1–255.
    pub vrid: u8,
    /// VRRP version spoken.
    pub version: Version,
    /// Base priority 1–255; 255 means we own the virtual addresses.
    pub priority: u8,
    /// Advertisement_Interval in microseconds. v3: 10 ms to 40.95 s in 10 ms steps; v2: whole
    /// seconds, 1 to 255.
    pub advert_interval_us: u64,
    /// Preempt_Mode (keepalived default true; `nopreempt` makes it false).
    pub preempt: bool,
    /// keepalived's `preempt_delay`: how long a Backup keeps accepting a lower-priority master
    /// after first hearing it, before preempting. At most 1000 s.
    pub preempt_delay_us: u64,
    /// Accept_Mode: the daemon lets traffic to the virtual addresses in while Master
    /// (keepalived's default is true; RFC 9568's is false). The owner always accepts.
    pub accept: bool,
    /// Our own primary address on the link (the source of our adverts), used for tie-breaks.
    /// Unspecified (0.0.0.0 or `::`) while the interface has none yet: such a router takes no
    /// advert for its own and loses every tie on address until
    /// [`Router::set_primary_address`](crate::Router::set_primary_address) gives it one.
    pub primary_address: IpAddr,
    /// How many advert intervals make up Master_Down_Interval (keepalived `down_timer_adverts`,
    /// RFC value 3), 1–100.
    pub down_timer_adverts: u32,
    /// keepalived's `state`.
    pub initial_state: InitialState,
    /// Up/down objects with the plain rule (no `reverse`): interfaces.
    pub tracked: Vec<TrackedObject>,
    /// Objects with keepalived's full rule (scripts, files, processes, built-in probes). Their
    /// ids share one space with [`RouterConfig::tracked`].
    pub tracks: Vec<Track>,
}

impl RouterConfig {
    /// A configuration with keepalived's defaults for everything but the identity: v3, priority
    /// 100, 1 s adverts, preempt, no preempt delay, accept, 3 down-timer adverts, start as Backup,
    /// nothing tracked.
    pub fn new(vrid: u8, primary_address: IpAddr) -> RouterConfig {
        RouterConfig {
            vrid,
            version: Version::V3,
            priority: 100,
            advert_interval_us: SECOND_US,
            preempt: true,
            preempt_delay_us: 0,
            accept: true,
            primary_address,
            down_timer_adverts: 3,
            initial_state: InitialState::Backup,
            tracked: Vec::new(),
            tracks: Vec::new(),
        }
    }

    /// True when we own the virtual addresses (priority 255).
    pub fn is_address_owner(&self) -> bool {
        self.priority == 255
    }

    /// Checks every range the RFCs and keepalived impose.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.vrid == 0 {
            return Err(ConfigError::VridZero);
        }
        if self.priority == 0 {
            return Err(ConfigError::PriorityZero);
        }
        let interval = self.advert_interval_us;
        match self.version {
            Version::V3 => {
                if !(CENTISECOND_US..=4095 * CENTISECOND_US).contains(&interval)
                    || !interval.is_multiple_of(CENTISECOND_US)
                {
                    return Err(ConfigError::AdvertInterval {
                        version: self.version,
                        interval_us: interval,
                    });
                }
            }
            Version::V2 => {
                if !(SECOND_US..=255 * SECOND_US).contains(&interval)
                    || !interval.is_multiple_of(SECOND_US)
                {
                    return Err(ConfigError::AdvertInterval {
                        version: self.version,
                        interval_us: interval,
                    });
                }
            }
        }
        if !(1..=100).contains(&self.down_timer_adverts) {
            return Err(ConfigError::DownTimerAdverts(self.down_timer_adverts));
        }
        if self.preempt_delay_us > 1_000 * SECOND_US {
            return Err(ConfigError::PreemptDelay(self.preempt_delay_us));
        }
        let mut ids: Vec<u32> = self
            .tracked
            .iter()
            .map(|t| t.id)
            .chain(self.tracks.iter().map(|t| t.id))
            .collect();
        ids.sort_unstable();
        if let Some(pair) = ids.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(ConfigError::DuplicateTrackId(pair[0]));
        }
        Ok(())
    }
}

/// Why a [`RouterConfig`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// VRID 0 does not exist.
    VridZero,
    /// Priority 0 is reserved for the "master is leaving" advert.
    PriorityZero,
    /// The advert interval is outside the version's range or step.
    AdvertInterval { version: Version, interval_us: u64 },
    /// `down_timer_adverts` outside 1–100.
    DownTimerAdverts(u32),
    /// `preempt_delay` above 1000 s.
    PreemptDelay(u64),
    /// Two tracked objects share an id.
    DuplicateTrackId(u32),
    /// [`crate::Router::reconfigure`] was given another VRID or version: that is another virtual
    /// router, to be built anew.
    IdentityChanged,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::VridZero => write!(f, "virtual_router_id must be 1 to 255"),
            ConfigError::PriorityZero => write!(f, "priority must be 1 to 255 (0 is reserved)"),
            ConfigError::AdvertInterval {
                version: Version::V3,
                interval_us,
            } => write!(
                f,
                "advert_int {interval_us} us: VRRPv3 needs 0.01 s to 40.95 s in 0.01 s steps"
            ),
            ConfigError::AdvertInterval {
                version: Version::V2,
                interval_us,
            } => {
                write!(
                    f,
                    "advert_int {interval_us} us: VRRPv2 needs whole seconds, 1 to 255"
                )
            }
            ConfigError::DownTimerAdverts(n) => {
                write!(f, "down_timer_adverts {n}: must be 1 to 100")
            }
            ConfigError::PreemptDelay(us) => write!(f, "preempt_delay {us} us: at most 1000 s"),
            ConfigError::DuplicateTrackId(id) => {
                write!(f, "tracked object id {id} is used twice")
            }
            ConfigError::IdentityChanged => write!(
                f,
                "the VRID or the VRRP version changed: the virtual router must be rebuilt"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}
