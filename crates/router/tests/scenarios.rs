//! Scenario tests in virtual time: one test per protocol rule, named after the rule. Time is a
//! plain microsecond counter; nothing sleeps.

use vipd_router::timing::{master_down_interval_us, skew_time_us};
use vipd_router::{
    Action, Anomaly, ConfigError, InitialState, Input, Micros, Reason, ReceivedAdvert, Router,
    RouterConfig, State, SyncGroup, TrackedObject, Version,
};

mod common;
use common::*;

fn router(config: RouterConfig) -> Router {
    Router::new(config).expect("valid config")
}

fn advert(src: &str, priority: u8, max_adver_int: u16) -> Input {
    Input::Advert(ReceivedAdvert {
        src: ip(src),
        priority,
        max_adver_int,
    })
}

/// Starts the router at t=0 and returns it with the actions of the start.
fn started(config: RouterConfig) -> (Router, Vec<Action>) {
    let mut router = router(config);
    let mut out = Vec::new();
    router.handle(Input::Startup, Micros::ZERO, &mut out);
    (router, out)
}

// ---- timers ---------------------------------------------------------------------------------

#[test]
fn skew_time_is_computed_in_microseconds_without_truncation() {
    // 10 ms adverts, priority 100: (156 × 10 000 µs) / 256 = 6 093.75 µs. A millisecond clock
    // would make it 6 ms (or 0 with centiseconds).
    let mut config = config(100);
    config.advert_interval_us = 10_000;
    let (router, _) = started(config);
    assert_eq!(router.skew_time_us(), 6_093);
    assert_eq!(router.master_down_interval_us(), 36_093);
    assert_eq!(router.next_deadline(), Some(Micros(36_093)));
    // Priority 254 at 10 ms: 78 µs, below one millisecond but not zero.
    assert_eq!(skew_time_us(Version::V3, 254, 10_000), 78);
}

#[test]
fn master_down_interval_is_down_timer_adverts_intervals_plus_skew() {
    assert_eq!(
        master_down_interval_us(Version::V3, 200, 1_000_000, 3),
        3_000_000 + 218_750
    );
    let mut config = config(200);
    config.down_timer_adverts = 5;
    let (router, _) = started(config);
    assert_eq!(router.master_down_interval_us(), 5_000_000 + 218_750);
    assert_eq!(router.next_deadline(), Some(Micros(5_218_750)));
}

#[test]
fn v3_advert_interval_range_is_10ms_to_40_95s_in_10ms_steps() {
    for (interval, ok) in [
        (10_000, true),
        (40_950_000, true),
        (100_000, true),
        (0, false),
        (9_999, false),
        (15_000, false),
        (40_960_000, false),
    ] {
        let mut config = config(100);
        config.advert_interval_us = interval;
        assert_eq!(Router::new(config).is_ok(), ok, "interval {interval}");
    }
}

#[test]
fn v2_uses_whole_second_intervals_and_rfc3768_skew() {
    let mut config = config(100);
    config.version = Version::V2;
    config.advert_interval_us = 2_000_000;
    let (router, _) = started(config.clone());
    // RFC 3768: Skew_Time = (256 − 100) / 256 s, independent of the advert interval.
    assert_eq!(router.skew_time_us(), 609_375);
    assert_eq!(router.next_deadline(), Some(Micros(6_609_375)));
    config.advert_interval_us = 1_500_000;
    assert!(matches!(
        Router::new(config),
        Err(ConfigError::AdvertInterval { .. })
    ));
}

#[test]
fn master_sends_advert_every_advert_interval() {
    let mut router = master(config(100));
    let first = router.next_deadline().unwrap();
    let out = step(&mut router, Input::Timer, first.0);
    assert_eq!(sent_priorities(&out), vec![100]);
    assert_eq!(router.next_deadline(), Some(first + 1_000_000));
}

#[test]
fn master_timer_keeps_cadence_when_woken_late_without_bursting() {
    let mut router = master(config(100));
    let first = router.next_deadline().unwrap();
    step(&mut router, Input::Timer, first.0 + 300);
    assert_eq!(
        router.next_deadline(),
        Some(first + 1_000_000),
        "cadence kept"
    );
    let second = router.next_deadline().unwrap();
    let out = step(&mut router, Input::Timer, second.0 + 5_000_000);
    assert_eq!(sent_priorities(&out), vec![100], "one advert, not a burst");
    assert_eq!(router.next_deadline(), Some(Micros(second.0 + 6_000_000)));
}

#[test]
fn early_or_unarmed_timer_is_ignored() {
    let (mut router, _) = started(config(100));
    let deadline = router.next_deadline().unwrap();
    assert!(step(&mut router, Input::Timer, deadline.0 - 1).is_empty());
    assert_eq!(router.state(), State::Backup);
    let mut stopped = self::router(config(100));
    assert!(step(&mut stopped, Input::Timer, 10).is_empty());
    assert_eq!(
        router.counters().spurious_timers + stopped.counters().spurious_timers,
        2
    );
}

// ---- startup, shutdown, initial state -------------------------------------------------------

#[test]
fn startup_non_owner_enters_backup_with_master_down_timer() {
    let (router, out) = started(config(100));
    assert_eq!(router.state(), State::Backup);
    assert_eq!(
        out,
        vec![
            Action::BecomeBackup,
            Action::Transition {
                from: State::Initialize,
                to: State::Backup,
                reason: Reason::Startup
            }
        ]
    );
    assert_eq!(router.next_deadline(), Some(Micros(3_000_000 + 609_375)));
    assert_eq!(router.master_adver_interval_us(), 1_000_000);
}

#[test]
fn startup_owner_becomes_master_at_once_and_sends_advert() {
    let (router, out) = started(config(255));
    assert_eq!(router.state(), State::Master);
    assert_eq!(
        out,
        vec![
            Action::SendAdvert { priority: 255 },
            Action::BecomeMaster,
            Action::Transition {
                from: State::Initialize,
                to: State::Master,
                reason: Reason::Startup
            }
        ]
    );
    assert_eq!(router.next_deadline(), Some(Micros(1_000_000)));
    assert_eq!(router.master_address(), Some(ip(OURS)));
}

#[test]
fn initial_state_master_waits_one_interval_plus_skew() {
    let mut config = config(100);
    config.initial_state = InitialState::Master;
    let (mut router, out) = started(config);
    assert_eq!(
        router.state(),
        State::Backup,
        "state MASTER is a wish, not a command"
    );
    assert_eq!(transition_of(&out).unwrap().1, State::Backup);
    assert_eq!(router.next_deadline(), Some(Micros(1_000_000 + 609_375)));
    let out = step(&mut router, Input::Timer, 1_609_375);
    assert_eq!(router.state(), State::Master);
    assert_eq!(sent_priorities(&out), vec![100]);
}

#[test]
fn backup_becomes_master_when_master_down_timer_expires() {
    let (mut router, _) = started(config(100));
    let deadline = router.next_deadline().unwrap();
    let out = step(&mut router, Input::Timer, deadline.0);
    assert_eq!(
        out,
        vec![
            Action::SendAdvert { priority: 100 },
            Action::BecomeMaster,
            Action::Transition {
                from: State::Backup,
                to: State::Master,
                reason: Reason::MasterDownTimerExpired
            }
        ]
    );
    assert_eq!(router.next_deadline(), Some(deadline + 1_000_000));
    assert_eq!(router.state_since(), deadline);
}

#[test]
fn shutdown_from_master_sends_priority_zero_and_returns_to_initialize() {
    let mut router = master(config(100));
    let out = step(&mut router, Input::Shutdown, 5_000_000);
    assert_eq!(
        out,
        vec![
            Action::SendAdvert { priority: 0 },
            Action::BecomeInitialize,
            Action::Transition {
                from: State::Master,
                to: State::Initialize,
                reason: Reason::Shutdown
            }
        ]
    );
    assert_eq!(router.next_deadline(), None);
    assert_eq!(router.counters().priority_zero_sent, 1);
    // And it can start again.
    step(&mut router, Input::Startup, 6_000_000);
    assert_eq!(router.state(), State::Backup);
}

#[test]
fn shutdown_from_backup_cancels_timer_and_returns_to_initialize() {
    let (mut router, _) = started(config(100));
    let out = step(&mut router, Input::Shutdown, 1_000);
    assert!(
        sent_priorities(&out).is_empty(),
        "only a Master sends priority 0"
    );
    assert_eq!(
        transition_of(&out),
        Some((State::Backup, State::Initialize, Reason::Shutdown))
    );
    assert_eq!(router.next_deadline(), None);
}

#[test]
fn adverts_are_ignored_in_initialize_and_fault() {
    let mut stopped = router(config(100));
    assert!(step(&mut stopped, advert(HIGHER_PEER, 200, 100), 0).is_empty());
    let (mut faulty, _) = started(config(100));
    step(&mut faulty, Input::InterfaceDown, 10);
    assert!(step(&mut faulty, advert(HIGHER_PEER, 0, 100), 20).is_empty());
    assert_eq!(faulty.state(), State::Fault);
    assert_eq!(faulty.next_deadline(), None);
}

// ---- Backup receiving adverts ---------------------------------------------------------------

#[test]
fn backup_accepts_equal_or_higher_priority_advert_and_resets_down_timer() {
    let (mut router, _) = started(config(100));
    step(&mut router, advert(HIGHER_PEER, 150, 100), 2_000_000);
    assert_eq!(router.next_deadline(), Some(Micros(2_000_000 + 3_609_375)));
    assert_eq!(router.master_address(), Some(ip(HIGHER_PEER)));
    step(&mut router, advert(LOWER_PEER, 100, 100), 3_000_000);
    assert_eq!(router.next_deadline(), Some(Micros(3_000_000 + 3_609_375)));
    assert_eq!(router.state(), State::Backup);
}

#[test]
fn backup_learns_master_adver_interval_from_each_accepted_v3_advert() {
    let (mut router, _) = started(config(100));
    step(&mut router, advert(HIGHER_PEER, 200, 50), 1_000_000);
    assert_eq!(router.master_adver_interval_us(), 500_000);
    let down = 3 * 500_000 + 156 * 500_000 / 256;
    assert_eq!(router.next_deadline(), Some(Micros(1_000_000 + down)));
    step(&mut router, advert(HIGHER_PEER, 200, 7), 1_100_000);
    assert_eq!(router.master_adver_interval_us(), 70_000);
    assert_eq!(
        router.master_down_interval_us(),
        210_000 + 156 * 70_000 / 256
    );
}

#[test]
fn v3_advert_with_different_interval_is_learned_and_reported() {
    let (mut router, _) = started(config(100));
    let out = step(&mut router, advert(HIGHER_PEER, 200, 20), 10);
    assert!(
        out.contains(&Action::Anomaly(Anomaly::AdvertIntervalMismatch {
            src: ip(HIGHER_PEER),
            received_us: 200_000
        }))
    );
    assert_eq!(router.master_adver_interval_us(), 200_000);
    assert_eq!(router.counters().advert_interval_errors, 1);
}

#[test]
fn v2_advert_with_different_interval_is_dropped_and_counted() {
    let mut config = config(100);
    config.version = Version::V2;
    let (mut router, _) = started(config);
    let before = router.next_deadline();
    let out = step(&mut router, advert(HIGHER_PEER, 200, 2), 1_000_000);
    assert!(matches!(
        out.as_slice(),
        [Action::Anomaly(Anomaly::AdvertIntervalMismatch { .. })]
    ));
    assert_eq!(
        router.next_deadline(),
        before,
        "dropped: the down timer was not reset"
    );
    assert_eq!(router.master_adver_interval_us(), 1_000_000);
    assert_eq!(router.counters().advert_interval_errors, 1);
    // The same advert at our interval is accepted.
    step(&mut router, advert(HIGHER_PEER, 200, 1), 1_000_000);
    assert_eq!(router.next_deadline(), Some(Micros(1_000_000 + 3_609_375)));
}

#[test]
fn v2_backup_never_learns_the_advert_interval() {
    let mut config = config(100);
    config.version = Version::V2;
    config.advert_interval_us = 3_000_000;
    let (mut router, _) = started(config);
    step(&mut router, advert(HIGHER_PEER, 200, 3), 10);
    assert_eq!(router.master_adver_interval_us(), 3_000_000);
}

#[test]
fn backup_hearing_priority_zero_takes_over_after_skew_time() {
    let (mut router, _) = started(config(100));
    step(&mut router, advert(HIGHER_PEER, 200, 100), 1_000_000);
    step(&mut router, advert(HIGHER_PEER, 0, 100), 1_500_000);
    assert_eq!(router.next_deadline(), Some(Micros(1_500_000 + 609_375)));
    assert_eq!(router.counters().priority_zero_received, 1);
    let out = step(&mut router, Input::Timer, 2_109_375);
    assert_eq!(
        transition_of(&out),
        Some((State::Backup, State::Master, Reason::PriorityZeroReceived))
    );
}

#[test]
fn preempting_backup_discards_lower_priority_advert() {
    let (mut router, _) = started(config(200));
    let deadline = router.next_deadline();
    let out = step(&mut router, advert(LOWER_PEER, 100, 100), 1_000_000);
    assert!(out.is_empty());
    assert_eq!(
        router.next_deadline(),
        deadline,
        "discarded: the down timer keeps running"
    );
    assert_eq!(router.counters().lower_priority_discarded, 1);
    let out = step(&mut router, Input::Timer, deadline.unwrap().0);
    assert_eq!(
        transition_of(&out),
        Some((State::Backup, State::Master, Reason::Preempted))
    );
}

#[test]
fn backup_with_nopreempt_accepts_lower_priority_master() {
    let mut config = config(200);
    config.preempt = false;
    let (mut router, _) = started(config);
    for second in 1..10 {
        step(
            &mut router,
            advert(LOWER_PEER, 100, 100),
            second * 1_000_000,
        );
        assert_eq!(router.state(), State::Backup);
    }
    assert_eq!(router.master_address(), Some(ip(LOWER_PEER)));
    assert_eq!(router.counters().lower_priority_discarded, 0);
}

#[test]
fn preempt_delay_holds_off_preemption_then_preempts() {
    let mut config = config(200);
    config.preempt_delay_us = 5_000_000;
    let (mut router, _) = started(config);
    // The first lower-priority advert starts the delay; until it ends they are accepted.
    for second in 1..=5 {
        step(
            &mut router,
            advert(LOWER_PEER, 100, 100),
            second * 1_000_000,
        );
        assert_eq!(
            router.counters().lower_priority_discarded,
            0,
            "second {second}"
        );
    }
    // From 6 s (1 s + 5 s delay) on they are discarded and the down timer runs out.
    step(&mut router, advert(LOWER_PEER, 100, 100), 6_000_000);
    assert_eq!(router.counters().lower_priority_discarded, 1);
    let deadline = router.next_deadline().unwrap();
    assert_eq!(
        deadline,
        Micros(5_000_000 + 3_000_000 + 56 * 1_000_000 / 256)
    );
    let out = step(&mut router, Input::Timer, deadline.0);
    assert_eq!(
        transition_of(&out),
        Some((State::Backup, State::Master, Reason::Preempted))
    );
}

#[test]
fn owner_always_preempts_even_with_nopreempt() {
    let mut config = config(255);
    config.preempt = false;
    let (mut router, _) = started(config);
    // Pushed to Backup by a (misconfigured) second owner with a higher address.
    step(&mut router, advert(HIGHER_PEER, 255, 100), 10);
    assert_eq!(router.state(), State::Backup);
    let deadline = router.next_deadline();
    step(&mut router, advert(LOWER_PEER, 254, 100), 20);
    assert_eq!(
        router.next_deadline(),
        deadline,
        "the owner discards lower priority adverts"
    );
    assert_eq!(router.counters().lower_priority_discarded, 1);
}

// ---- Master receiving adverts ---------------------------------------------------------------

#[test]
fn master_hearing_priority_zero_sends_advert_at_once() {
    let mut router = master(config(100));
    let out = step(&mut router, advert(LOWER_PEER, 0, 100), 4_000_000);
    assert_eq!(sent_priorities(&out), vec![100]);
    assert_eq!(
        router.next_deadline(),
        Some(Micros(5_000_000)),
        "Adver_Timer reset"
    );
    assert_eq!(router.state(), State::Master);
}

#[test]
fn master_steps_down_on_higher_priority_advert() {
    let mut router = master(config(100));
    let out = step(&mut router, advert(LOWER_PEER, 101, 50), 4_000_000);
    assert_eq!(
        out,
        vec![
            Action::Anomaly(Anomaly::AdvertIntervalMismatch {
                src: ip(LOWER_PEER),
                received_us: 500_000
            }),
            Action::BecomeBackup,
            Action::Transition {
                from: State::Master,
                to: State::Backup,
                reason: Reason::HigherPriorityAdvertReceived
            }
        ]
    );
    assert_eq!(router.master_adver_interval_us(), 500_000);
    assert_eq!(
        router.next_deadline(),
        Some(Micros(4_000_000 + 1_500_000 + 156 * 500_000 / 256))
    );
    assert_eq!(router.master_address(), Some(ip(LOWER_PEER)));
}

#[test]
fn master_steps_down_on_equal_priority_from_higher_address() {
    let mut router = master(config(100));
    let out = step(&mut router, advert(HIGHER_PEER, 100, 100), 4_000_000);
    assert_eq!(router.state(), State::Backup);
    assert!(out.contains(&Action::Anomaly(Anomaly::EqualPriority {
        src: ip(HIGHER_PEER)
    })));
}

#[test]
fn unknown_primary_address_loses_ties_until_the_interface_gets_one() {
    let mut unknown = config(100);
    unknown.primary_address = ip("0.0.0.0");
    let mut router = master(unknown.clone());
    step(&mut router, advert(LOWER_PEER, 100, 100), 4_000_000);
    assert_eq!(
        router.state(),
        State::Backup,
        "0.0.0.0 loses a tie even to the lowest peer"
    );

    let mut router = master(unknown);
    router.set_primary_address(ip(OURS));
    assert_eq!(router.master_address(), Some(ip(OURS)));
    let out = step(&mut router, advert(LOWER_PEER, 100, 100), 4_000_000);
    assert_eq!(router.state(), State::Master);
    assert_eq!(sent_priorities(&out), vec![100]);
    let out = step(&mut router, advert(OURS, 100, 100), 4_100_000);
    assert!(
        out.contains(&Action::Anomaly(Anomaly::OwnAddress { src: ip(OURS) })),
        "an advert from the new address is our own: {out:?}"
    );
}

#[test]
fn master_keeps_role_on_equal_priority_from_lower_address_and_asserts() {
    let mut router = master(config(100));
    let out = step(&mut router, advert(LOWER_PEER, 100, 100), 4_000_000);
    assert_eq!(router.state(), State::Master);
    assert_eq!(sent_priorities(&out), vec![100]);
}

#[test]
fn master_hearing_lower_priority_sends_advert_at_once() {
    let mut router = master(config(100));
    let deadline = router.next_deadline();
    let out = step(&mut router, advert(HIGHER_PEER, 50, 100), 4_000_000);
    assert_eq!(router.state(), State::Master);
    assert_eq!(sent_priorities(&out), vec![100]);
    assert_eq!(
        router.next_deadline(),
        deadline,
        "the regular cadence is kept"
    );
}

#[test]
fn master_hearing_lower_priority_reports_a_rival_master() {
    let mut router = master(config(100));
    let out = step(&mut router, advert(HIGHER_PEER, 50, 100), 4_000_000);
    assert!(out.contains(&Action::Anomaly(Anomaly::RivalMaster {
        src: ip(HIGHER_PEER)
    })));
    let out = step(&mut router, advert(HIGHER_PEER, 0, 100), 4_100_000);
    assert!(
        !out.iter()
            .any(|a| matches!(a, Action::Anomaly(Anomaly::RivalMaster { .. }))),
        "a priority-0 advert is a master leaving, not a rival"
    );
}

#[test]
fn tie_break_compares_ipv4_addresses_as_unsigned_network_order() {
    // 192.0.2.128 > 192.0.2.127 as an unsigned integer; a signed byte compare says the opposite.
    let mut config = config(100);
    config.primary_address = ip("192.0.2.127");
    let mut router = master(config);
    step(&mut router, advert("192.0.2.128", 100, 100), 4_000_000);
    assert_eq!(router.state(), State::Backup);

    let mut config = self::config(100);
    config.primary_address = ip("192.0.2.128");
    let mut router = master(config);
    step(&mut router, advert("192.0.2.127", 100, 100), 4_000_000);
    assert_eq!(router.state(), State::Master);
}

#[test]
fn tie_break_compares_ipv6_addresses_as_unsigned_network_order() {
    let mut config = config(100);
    config.primary_address = ip("fe80::7fff");
    let mut router = master(config);
    step(&mut router, advert("fe80::8000", 100, 100), 4_000_000);
    assert_eq!(router.state(), State::Backup);

    let mut config = self::config(100);
    config.primary_address = ip("2001:db8::8000");
    let mut router = master(config);
    step(&mut router, advert("2001:db8::7fff", 100, 100), 4_000_000);
    assert_eq!(router.state(), State::Master);
}

#[test]
fn advert_with_own_address_is_dropped() {
    let mut router = master(config(100));
    let out = step(&mut router, advert(OURS, 200, 100), 4_000_000);
    assert_eq!(
        out,
        vec![Action::Anomaly(Anomaly::OwnAddress { src: ip(OURS) })]
    );
    assert_eq!(router.state(), State::Master);
}

#[test]
fn advert_from_other_address_family_is_dropped() {
    let (mut router, _) = started(config(100));
    let deadline = router.next_deadline();
    let out = step(&mut router, advert("2001:db8::1", 200, 100), 10);
    assert!(matches!(
        out.as_slice(),
        [Action::Anomaly(Anomaly::AddressFamilyMismatch { .. })]
    ));
    assert_eq!(router.next_deadline(), deadline);
}

#[test]
fn zero_max_advert_interval_is_dropped() {
    let (mut router, _) = started(config(100));
    let deadline = router.next_deadline();
    let out = step(&mut router, advert(HIGHER_PEER, 200, 0), 10);
    assert!(matches!(
        out.as_slice(),
        [Action::Anomaly(Anomaly::ZeroAdvertInterval { .. })]
    ));
    assert_eq!(router.next_deadline(), deadline);
    assert_eq!(router.master_adver_interval_us(), 1_000_000);
}

#[test]
fn owner_conflict_is_reported() {
    let (mut router, _) = started(config(255));
    let out = step(&mut router, advert(LOWER_PEER, 255, 100), 10);
    assert!(out.contains(&Action::Anomaly(Anomaly::OwnerConflict {
        src: ip(LOWER_PEER)
    })));
    assert_eq!(router.state(), State::Master, "lower address: we stay");
}

// ---- priority, tracking, fault --------------------------------------------------------------

fn tracked_config(priority: u8, tracked: &[(u32, i16)]) -> RouterConfig {
    let mut config = config(priority);
    config.tracked = tracked
        .iter()
        .map(|&(id, weight)| TrackedObject {
            id,
            weight,
            up: true,
        })
        .collect();
    config
}

#[test]
fn effective_priority_adds_weights_of_failed_tracked_objects() {
    let (mut router, _) = started(tracked_config(100, &[(1, -20), (2, -30), (3, 15)]));
    assert_eq!(
        router.effective_priority(),
        115,
        "positive weight applies while up"
    );
    step(
        &mut router,
        Input::TrackedObjectChanged { id: 1, up: false },
        10,
    );
    assert_eq!(router.effective_priority(), 95);
    step(
        &mut router,
        Input::TrackedObjectChanged { id: 2, up: false },
        20,
    );
    assert_eq!(router.effective_priority(), 65);
    step(
        &mut router,
        Input::TrackedObjectChanged { id: 3, up: false },
        30,
    );
    assert_eq!(router.effective_priority(), 50);
    step(
        &mut router,
        Input::TrackedObjectChanged { id: 1, up: true },
        40,
    );
    assert_eq!(router.effective_priority(), 70);
    // The skew follows the effective priority.
    assert_eq!(router.skew_time_us(), (256 - 70) * 1_000_000 / 256);
}

#[test]
fn effective_priority_is_clamped_to_1_254() {
    let (mut router, _) = started(tracked_config(10, &[(1, -100), (2, 120)]));
    assert_eq!(router.effective_priority(), 130);
    step(
        &mut router,
        Input::TrackedObjectChanged { id: 2, up: false },
        10,
    );
    step(
        &mut router,
        Input::TrackedObjectChanged { id: 1, up: false },
        20,
    );
    assert_eq!(router.effective_priority(), 1);
    let (router, _) = started(tracked_config(250, &[(1, 100)]));
    assert_eq!(
        router.effective_priority(),
        254,
        "only the owner may advertise 255"
    );
}

#[test]
fn owner_priority_stays_255_whatever_tracking_says() {
    let (mut router, _) = started(tracked_config(255, &[(1, -100)]));
    step(
        &mut router,
        Input::TrackedObjectChanged { id: 1, up: false },
        10,
    );
    assert_eq!(router.effective_priority(), 255);
    assert_eq!(router.state(), State::Master);
}

#[test]
fn weight_zero_tracked_object_failure_enters_fault_and_recovery_leaves_it() {
    let (mut router, _) = started(tracked_config(100, &[(7, 0)]));
    let out = step(
        &mut router,
        Input::TrackedObjectChanged { id: 7, up: false },
        10,
    );
    assert_eq!(out[0], Action::BecomeFault);
    assert_eq!(
        transition_of(&out),
        Some((State::Backup, State::Fault, Reason::TrackFailed))
    );
    assert_eq!(router.next_deadline(), None);
    let out = step(
        &mut router,
        Input::TrackedObjectChanged { id: 7, up: true },
        20,
    );
    assert_eq!(
        transition_of(&out),
        Some((State::Fault, State::Backup, Reason::TrackRecovered))
    );
    assert_eq!(router.next_deadline(), Some(Micros(20 + 3_609_375)));
}

#[test]
fn interface_down_enters_fault_and_interface_up_returns_to_backup() {
    let mut router = master(config(100));
    let out = step(&mut router, Input::InterfaceDown, 5_000_000);
    assert!(sent_priorities(&out).is_empty(), "no advert on a dead link");
    assert_eq!(
        transition_of(&out),
        Some((State::Master, State::Fault, Reason::InterfaceDown))
    );
    let out = step(&mut router, Input::InterfaceUp, 6_000_000);
    assert_eq!(
        transition_of(&out),
        Some((State::Fault, State::Backup, Reason::InterfaceUp))
    );
    assert_eq!(router.state(), State::Backup);
}

#[test]
fn startup_with_interface_down_enters_fault() {
    let mut router = router(config(255));
    step(&mut router, Input::InterfaceDown, 0);
    let out = step(&mut router, Input::Startup, 10);
    assert_eq!(
        transition_of(&out),
        Some((State::Initialize, State::Fault, Reason::InterfaceDown))
    );
    let out = step(&mut router, Input::InterfaceUp, 20);
    assert_eq!(
        transition_of(&out),
        Some((State::Fault, State::Master, Reason::InterfaceUp))
    );
}

#[test]
fn fault_needs_every_cause_cleared() {
    let (mut router, _) = started(tracked_config(100, &[(7, 0)]));
    step(&mut router, Input::InterfaceDown, 10);
    step(
        &mut router,
        Input::TrackedObjectChanged { id: 7, up: false },
        20,
    );
    step(&mut router, Input::InterfaceUp, 30);
    assert_eq!(
        router.state(),
        State::Fault,
        "the tracked object is still down"
    );
    step(
        &mut router,
        Input::TrackedObjectChanged { id: 7, up: true },
        40,
    );
    assert_eq!(router.state(), State::Backup);
}

#[test]
fn master_entering_fault_by_tracking_sends_priority_zero() {
    let mut router = master(tracked_config(100, &[(7, 0)]));
    let out = step(
        &mut router,
        Input::TrackedObjectChanged { id: 7, up: false },
        5_000_000,
    );
    assert_eq!(sent_priorities(&out), vec![0]);
    assert_eq!(router.state(), State::Fault);
}

#[test]
fn master_lowering_effective_priority_advertises_at_once() {
    let mut router = master(tracked_config(100, &[(1, -50)]));
    let out = step(
        &mut router,
        Input::TrackedObjectChanged { id: 1, up: false },
        5_000_000,
    );
    assert_eq!(sent_priorities(&out), vec![50]);
    assert_eq!(router.state(), State::Master);
}

#[test]
fn config_validation_rejects_out_of_range_values() {
    assert_eq!(
        Router::new(config(0)).unwrap_err(),
        ConfigError::PriorityZero
    );
    let mut bad = config(100);
    bad.vrid = 0;
    assert_eq!(Router::new(bad).unwrap_err(), ConfigError::VridZero);
    let mut bad = config(100);
    bad.down_timer_adverts = 0;
    assert_eq!(
        Router::new(bad).unwrap_err(),
        ConfigError::DownTimerAdverts(0)
    );
    let mut bad = config(100);
    bad.preempt_delay_us = 1_001_000_000;
    assert!(Router::new(bad).is_err());
}

#[test]
fn accepts_virtual_address_traffic_only_as_master_with_accept_or_owner() {
    let mut no_accept = config(100);
    no_accept.accept = false;
    let (backup, _) = started(no_accept.clone());
    assert!(!backup.accepts_virtual_address_traffic());
    assert!(!master(no_accept.clone()).accepts_virtual_address_traffic());
    let mut accept = no_accept.clone();
    accept.accept = true;
    assert!(master(accept).accepts_virtual_address_traffic());
    let mut owner = no_accept;
    owner.priority = 255;
    let (owner, _) = started(owner);
    assert!(
        owner.accepts_virtual_address_traffic(),
        "the owner always accepts"
    );
}

// ---- sync groups ----------------------------------------------------------------------------

fn group(priorities: &[u8]) -> SyncGroup {
    SyncGroup::new(
        priorities
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let mut config = config(p);
                config.vrid = 10 + i as u8;
                router(config)
            })
            .collect(),
    )
}

fn states(group: &SyncGroup) -> Vec<State> {
    group.members().iter().map(Router::state).collect()
}

#[test]
fn sync_group_members_follow_a_member_that_becomes_master() {
    let mut group = group(&[100, 150, 200]);
    let mut out = Vec::new();
    group.startup(Micros::ZERO, &mut out);
    // Member 1 keeps hearing a master; member 2's down timer fires first.
    group.handle(
        1,
        advert(HIGHER_PEER, 250, 100),
        Micros(1_000_000),
        &mut out,
    );
    out.clear();
    let deadline = group.member(2).next_deadline().unwrap();
    group.handle_timers(deadline, &mut out);
    assert_eq!(states(&group), vec![State::Master; 3]);
    assert!(out.iter().any(|a| a.member == 1
        && a.action
            == Action::Transition {
                from: State::Backup,
                to: State::Master,
                reason: Reason::SyncGroup
            }));
}

#[test]
fn sync_group_members_follow_a_member_that_steps_down_to_backup() {
    let mut group = group(&[100, 150]);
    let mut out = Vec::new();
    group.startup(Micros::ZERO, &mut out);
    group.handle_timers(group.next_deadline().unwrap(), &mut out);
    assert_eq!(states(&group), vec![State::Master; 2]);
    group.handle(
        0,
        advert(HIGHER_PEER, 200, 100),
        Micros(5_000_000),
        &mut out,
    );
    assert_eq!(states(&group), vec![State::Backup; 2]);
}

#[test]
fn sync_group_fault_holds_all_members_until_the_last_fault_clears() {
    let mut group = group(&[100, 150, 200]);
    let mut out = Vec::new();
    group.startup(Micros::ZERO, &mut out);
    group.handle_timers(group.next_deadline().unwrap(), &mut out);
    group.handle(0, Input::InterfaceDown, Micros(5_000_000), &mut out);
    group.handle(2, Input::InterfaceDown, Micros(5_100_000), &mut out);
    assert_eq!(states(&group), vec![State::Fault; 3]);
    group.handle(0, Input::InterfaceUp, Micros(6_000_000), &mut out);
    assert_eq!(
        states(&group),
        vec![State::Fault; 3],
        "member 2 is still down"
    );
    group.handle(2, Input::InterfaceUp, Micros(7_000_000), &mut out);
    assert_eq!(states(&group), vec![State::Backup; 3]);
}

#[test]
fn sync_group_startup_with_an_owner_pulls_members_to_master() {
    let mut group = group(&[100, 255]);
    let mut out = Vec::new();
    group.startup(Micros::ZERO, &mut out);
    assert_eq!(states(&group), vec![State::Master; 2]);
}

#[test]
fn sync_group_member_leaving_its_own_fault_reports_its_own_reason() {
    let mut group = group(&[100]);
    let mut out = Vec::new();
    group.startup(Micros::ZERO, &mut out);
    group.handle(0, Input::InterfaceDown, Micros(1_000_000), &mut out);
    out.clear();
    group.handle(0, Input::InterfaceUp, Micros(2_000_000), &mut out);
    assert_eq!(states(&group), vec![State::Backup]);
    assert!(
        out.iter().any(|a| a.action
            == Action::Transition {
                from: State::Fault,
                to: State::Backup,
                reason: Reason::InterfaceUp
            }),
        "a lone member's return from Fault is its own, not the group's: {out:?}"
    );
}
