//! A simulated LAN: 2–5 routers on a virtual multicast wire with configurable loss, delay, crash,
//! graceful shutdown, restart and tracking failures, driven event by event in virtual time, and
//! the proptest properties the RFC promises about it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use vipd_router::timing::advert_us_to_field;
use vipd_router::{
    Action, Input, Micros, ReceivedAdvert, Router, RouterConfig, State, TrackedObject, Version,
};

/// A small deterministic generator so a proptest seed replays the same wire.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.next() % bound
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Event {
    Deliver { to: usize, advert: ReceivedAdvert },
    Timer { node: usize, generation: u64 },
    Crash(usize),
    Shutdown(usize),
    Restart(usize),
    Track { node: usize, up: bool },
}

struct Node {
    config: RouterConfig,
    router: Router,
    alive: bool,
    timer_generation: u64,
    armed: Option<Micros>,
}

/// The wire and the routers on it.
struct Lan {
    now: u64,
    nodes: Vec<Node>,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: Vec<Option<Event>>,
    rng: Rng,
    /// Percentage of adverts lost per receiver.
    loss_percent: u64,
    /// Fixed propagation delay plus uniform jitter, microseconds.
    delay_us: u64,
    jitter_us: u64,
    actions: Vec<Action>,
    /// Since when two or more routers are Master, if they are.
    multi_master_since: Option<u64>,
    longest_multi_master_us: u64,
    /// Times at which some router entered Master.
    master_entries: Vec<(u64, usize)>,
    /// Latest delivery time per (sender, receiver): one link never reorders its own frames.
    last_delivery: Vec<Vec<u64>>,
}

const TRACK_ID: u32 = 1;

impl Lan {
    fn new(configs: Vec<RouterConfig>, seed: u64, delay_us: u64, jitter_us: u64) -> Lan {
        let count = configs.len();
        let nodes = configs
            .into_iter()
            .map(|config| Node {
                router: Router::new(config.clone()).expect("valid config"),
                config,
                alive: false,
                timer_generation: 0,
                armed: None,
            })
            .collect();
        Lan {
            now: 0,
            nodes,
            queue: BinaryHeap::new(),
            events: Vec::new(),
            rng: Rng(seed | 1),
            loss_percent: 0,
            delay_us,
            jitter_us,
            actions: Vec::new(),
            multi_master_since: None,
            longest_multi_master_us: 0,
            master_entries: Vec::new(),
            last_delivery: vec![vec![0; count]; count],
        }
    }

    fn schedule(&mut self, at: u64, event: Event) {
        let seq = self.events.len() as u64;
        self.events.push(Some(event));
        self.queue.push(Reverse((at, seq)));
    }

    /// Runs every event up to and including `until`.
    fn run_until(&mut self, until: u64) {
        while let Some(&Reverse((at, seq))) = self.queue.peek() {
            if at > until {
                break;
            }
            self.queue.pop();
            self.now = at;
            if let Some(event) = self.events[seq as usize].take() {
                self.apply(event);
            }
            self.observe();
        }
        self.now = until;
        self.observe();
    }

    fn apply(&mut self, event: Event) {
        match event {
            Event::Deliver { to, advert } => {
                if self.nodes[to].alive {
                    self.input(to, Input::Advert(advert));
                }
            }
            Event::Timer { node, generation } => {
                if self.nodes[node].alive && self.nodes[node].timer_generation == generation {
                    self.nodes[node].armed = None;
                    self.input(node, Input::Timer);
                }
            }
            Event::Crash(node) => {
                self.nodes[node].alive = false;
                self.nodes[node].armed = None;
                self.nodes[node].timer_generation += 1;
            }
            Event::Shutdown(node) => {
                if self.nodes[node].alive {
                    self.input(node, Input::Shutdown);
                    self.nodes[node].alive = false;
                }
            }
            Event::Restart(node) => {
                if !self.nodes[node].alive {
                    let config = self.nodes[node].config.clone();
                    self.nodes[node].router = Router::new(config).expect("valid config");
                    self.nodes[node].alive = true;
                    self.input(node, Input::Startup);
                }
            }
            Event::Track { node, up } => {
                if self.nodes[node].alive {
                    self.input(node, Input::TrackedObjectChanged { id: TRACK_ID, up });
                }
            }
        }
    }

    fn input(&mut self, node: usize, input: Input) {
        let mut actions = std::mem::take(&mut self.actions);
        actions.clear();
        self.nodes[node]
            .router
            .handle(input, Micros(self.now), &mut actions);
        for action in &actions {
            match *action {
                Action::SendAdvert { priority } => self.transmit(node, priority),
                Action::Transition {
                    to: State::Master, ..
                } => self.master_entries.push((self.now, node)),
                _ => {}
            }
        }
        self.actions = actions;
        let deadline = self.nodes[node].router.next_deadline();
        if deadline != self.nodes[node].armed {
            self.nodes[node].timer_generation += 1;
            self.nodes[node].armed = deadline;
            if let Some(at) = deadline {
                let generation = self.nodes[node].timer_generation;
                self.schedule(at.0.max(self.now), Event::Timer { node, generation });
            }
        }
    }

    fn transmit(&mut self, from: usize, priority: u8) {
        let config = &self.nodes[from].config;
        let advert = ReceivedAdvert {
            src: config.primary_address,
            priority,
            max_adver_int: advert_us_to_field(config.version, config.advert_interval_us),
        };
        for to in 0..self.nodes.len() {
            if to == from || self.rng.below(100) < self.loss_percent {
                continue;
            }
            let jittered = self.now + self.delay_us + self.rng.below(self.jitter_us + 1);
            let at = jittered.max(self.last_delivery[from][to]);
            self.last_delivery[from][to] = at;
            self.schedule(at, Event::Deliver { to, advert });
        }
    }

    fn masters(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive && self.nodes[i].router.state() == State::Master)
            .collect()
    }

    fn observe(&mut self) {
        let count = self.masters().len();
        match (count >= 2, self.multi_master_since) {
            (true, None) => self.multi_master_since = Some(self.now),
            (false, Some(since)) => {
                self.longest_multi_master_us = self.longest_multi_master_us.max(self.now - since);
                self.multi_master_since = None;
            }
            _ => {}
        }
    }

    /// The alive router that must win: highest effective priority, then highest address.
    fn expected_master(&self) -> usize {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive)
            .max_by_key(|&i| {
                let router = &self.nodes[i].router;
                (
                    router.effective_priority(),
                    address_key(router.config().primary_address),
                )
            })
            .expect("someone alive")
    }

    fn max_effective_priority(&self) -> u8 {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive)
            .map(|i| self.nodes[i].router.effective_priority())
            .max()
            .expect("someone alive")
    }
}

fn address_key(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// One router on the wire, as a proptest draws it.
#[derive(Clone, Debug)]
struct Spec {
    priority: u8,
    address_octet: u8,
    track_weight: i16,
}

fn specs(
    count: std::ops::RangeInclusive<usize>,
    priorities: std::ops::RangeInclusive<u8>,
) -> impl Strategy<Value = Vec<Spec>> {
    prop::collection::vec((priorities, -60i16..=-1), count).prop_flat_map(|raw| {
        let n = raw.len();
        // Distinct addresses in a random order, so address ranking is independent of priority.
        (
            Just(raw),
            Just((1u8..=250).collect::<Vec<_>>()).prop_shuffle(),
        )
            .prop_map(move |(raw, octets)| {
                raw.iter()
                    .zip(&octets[..n])
                    .map(|(&(priority, track_weight), &address_octet)| Spec {
                        priority,
                        address_octet,
                        track_weight,
                    })
                    .collect()
            })
    })
}

/// The advert interval (µs) and version of a LAN.
fn timing() -> impl Strategy<Value = (Version, u64)> {
    prop_oneof![
        4 => (1u64..=100).prop_map(|centis| (Version::V3, centis * 10_000)),
        1 => (1u64..=3).prop_map(|secs| (Version::V2, secs * 1_000_000)),
    ]
}

fn configs(specs: &[Spec], version: Version, interval_us: u64, preempt: bool) -> Vec<RouterConfig> {
    specs
        .iter()
        .map(|spec| {
            let mut config =
                RouterConfig::new(51, IpAddr::V4(Ipv4Addr::new(192, 0, 2, spec.address_octet)));
            config.version = version;
            config.advert_interval_us = interval_us;
            config.priority = spec.priority;
            config.preempt = preempt;
            config.tracked = vec![TrackedObject {
                id: TRACK_ID,
                weight: spec.track_weight,
                up: true,
            }];
            config
        })
        .collect()
}

/// The longest Master_Down_Interval any router of the LAN can compute.
fn max_down_interval_us(version: Version, interval_us: u64) -> u64 {
    vipd_router::timing::master_down_interval_us(version, 1, interval_us, 3)
}

fn start_all(lan: &mut Lan, at: u64) {
    for node in 0..lan.nodes.len() {
        lan.schedule(at, Event::Restart(node));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// After chaos (loss, crashes, restarts, tracking failures) stops, exactly one router is
    /// Master and it has the highest effective priority.
    #[test]
    fn after_convergence_exactly_one_master_with_the_highest_priority(
        specs in specs(2..=5, 1..=255),
        (version, interval_us) in timing(),
        loss_percent in 0u64..=40,
        seed in any::<u64>(),
        chaos in prop::collection::vec((0usize..5, 0u8..4, 0u64..1000), 0..8),
    ) {
        let n = specs.len();
        let delay_us = (interval_us / 20).min(2_000);
        let mut lan = Lan::new(configs(&specs, version, interval_us, true), seed, delay_us, delay_us);
        lan.loss_percent = loss_percent;
        start_all(&mut lan, 0);
        let down = max_down_interval_us(version, interval_us);
        let chaos_end = 10 * down;
        for &(node, kind, permille) in &chaos {
            let node = node % n;
            let at = chaos_end * permille / 1000;
            let event = match kind {
                0 => Event::Crash(node),
                1 => Event::Shutdown(node),
                2 => Event::Restart(node),
                _ => Event::Track { node, up: permille % 2 == 0 },
            };
            lan.schedule(at, event);
        }
        lan.run_until(chaos_end);
        lan.loss_percent = 0;
        // Everyone back up, tracking settled as it is.
        for node in 0..n {
            lan.schedule(chaos_end, Event::Restart(node));
        }
        lan.run_until(chaos_end + (2 * n as u64 + 2) * down + 4 * interval_us);
        let masters = lan.masters();
        prop_assert_eq!(masters.len(), 1, "masters {:?}", masters);
        let winner = &lan.nodes[masters[0]].router;
        prop_assert_eq!(winner.effective_priority(), lan.max_effective_priority());
    }

    /// Routers started together on a clean wire elect the highest priority, ties going to the
    /// highest address.
    #[test]
    fn simultaneous_start_elects_highest_priority_then_highest_address(
        specs in specs(2..=5, 1..=254),
        (version, interval_us) in timing(),
        seed in any::<u64>(),
        tie in any::<bool>(),
    ) {
        let mut specs = specs;
        if tie {
            let top = specs.iter().map(|s| s.priority).max().unwrap();
            for spec in specs.iter_mut().take(2) {
                spec.priority = top;
            }
        }
        let delay_us = (interval_us / 20).min(1_000);
        let mut lan = Lan::new(configs(&specs, version, interval_us, true), seed, delay_us, delay_us);
        start_all(&mut lan, 0);
        lan.run_until(4 * max_down_interval_us(version, interval_us));
        prop_assert_eq!(lan.masters(), vec![lan.expected_master()]);
    }

    /// With nopreempt, a master that is already serving keeps the role when higher-priority
    /// routers join.
    #[test]
    fn with_nopreempt_the_incumbent_master_stays(
        specs in specs(2..=5, 1..=254),
        (version, interval_us) in timing(),
        seed in any::<u64>(),
    ) {
        let delay_us = (interval_us / 20).min(1_000);
        let mut lan = Lan::new(configs(&specs, version, interval_us, false), seed, delay_us, delay_us);
        let down = max_down_interval_us(version, interval_us);
        lan.schedule(0, Event::Restart(0));
        lan.run_until(down + interval_us);
        prop_assert_eq!(lan.masters(), vec![0]);
        for node in 1..lan.nodes.len() {
            lan.schedule(lan.now + node as u64 * 1_000, Event::Restart(node));
        }
        lan.run_until(lan.now + 20 * down);
        prop_assert_eq!(lan.masters(), vec![0]);
        prop_assert_eq!(lan.master_entries.len(), 1, "nobody else was ever Master");
    }

    /// When the master crashes (or shuts down), a new master appears within Master_Down_Interval
    /// plus one advert interval (Skew_Time plus the wire delay after a priority-0 advert).
    #[test]
    fn when_the_master_stops_a_new_master_appears_within_down_interval_plus_one_advert(
        specs in specs(2..=5, 1..=254),
        (version, interval_us) in timing(),
        seed in any::<u64>(),
        graceful in any::<bool>(),
        offset_permille in 0u64..1000,
    ) {
        let delay_us = (interval_us / 20).min(1_000);
        let mut lan = Lan::new(configs(&specs, version, interval_us, true), seed, delay_us, delay_us);
        start_all(&mut lan, 0);
        let down = max_down_interval_us(version, interval_us);
        lan.run_until(4 * down + interval_us * offset_permille / 1000);
        let masters = lan.masters();
        prop_assert_eq!(masters.len(), 1);
        let old = masters[0];
        let stop_at = lan.now;
        lan.schedule(stop_at, if graceful { Event::Shutdown(old) } else { Event::Crash(old) });
        lan.run_until(stop_at + 3 * down);
        let takeover = lan
            .master_entries
            .iter()
            .find(|&&(at, node)| at >= stop_at && node != old)
            .map(|&(at, _)| at - stop_at);
        // The slowest backup's Master_Down_Interval is computed at its own priority.
        let survivors_down = (0..lan.nodes.len())
            .filter(|&i| i != old)
            .map(|i| lan.nodes[i].router.master_down_interval_us())
            .max()
            .unwrap();
        let bound = if graceful {
            vipd_router::timing::skew_time_us(version, 1, interval_us) + 2 * delay_us
        } else {
            survivors_down + interval_us
        };
        prop_assert!(takeover.is_some(), "no new master");
        prop_assert!(takeover.unwrap() <= bound, "took {:?} > {}", takeover, bound);
    }

    /// Without loss, two masters never coexist for longer than one Master_Down_Interval, whatever
    /// crashes, shutdowns, restarts and tracking changes happen.
    #[test]
    fn without_loss_never_two_masters_longer_than_one_down_interval(
        specs in specs(2..=5, 1..=255),
        (version, interval_us) in timing(),
        seed in any::<u64>(),
        chaos in prop::collection::vec((0usize..5, 0u8..4, 0u64..1000), 0..10),
    ) {
        let n = specs.len();
        let delay_us = (interval_us / 20).min(2_000);
        let mut lan = Lan::new(configs(&specs, version, interval_us, true), seed, delay_us, delay_us);
        start_all(&mut lan, 0);
        let shortest_down = vipd_router::timing::master_down_interval_us(version, 255, interval_us, 3);
        let span = 15 * max_down_interval_us(version, interval_us);
        for &(node, kind, permille) in &chaos {
            let node = node % n;
            let event = match kind {
                0 => Event::Crash(node),
                1 => Event::Shutdown(node),
                2 => Event::Restart(node),
                _ => Event::Track { node, up: permille % 2 == 0 },
            };
            lan.schedule(span * permille / 1000, event);
        }
        lan.run_until(span);
        prop_assert!(
            lan.longest_multi_master_us <= shortest_down,
            "two masters for {} us (> {} us)",
            lan.longest_multi_master_us,
            shortest_down
        );
    }
}

#[test]
fn simulated_lan_loses_adverts_at_the_configured_rate() {
    // The wire itself: with 100 % loss nobody hears anybody and every router becomes Master.
    let specs: Vec<Spec> = (0..3)
        .map(|i| Spec {
            priority: 100 + i,
            address_octet: 10 + i,
            track_weight: -10,
        })
        .collect();
    let mut lan = Lan::new(configs(&specs, Version::V3, 100_000, true), 7, 100, 0);
    lan.loss_percent = 100;
    start_all(&mut lan, 0);
    lan.run_until(2_000_000);
    assert_eq!(lan.masters().len(), 3);
    lan.loss_percent = 0;
    lan.run_until(4_000_000);
    assert_eq!(lan.masters(), vec![2]);
}
