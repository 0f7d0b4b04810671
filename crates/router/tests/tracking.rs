//! keepalived's tracking rules in virtual time: `reverse`, value-carrying objects (track_file),
//! weight-0 Fault in and out, the address owner, clamping, and objects not known yet.

mod common;

use common::{config, master, sent_priorities, step, transition_of};
use vipd_router::{
    ConfigError, Input, Micros, Reason, Router, RouterConfig, State, Track, TrackEffect,
    TrackStatus, TrackedObject,
};

fn track(id: u32, weight: i16, reverse: bool, status: TrackStatus) -> Track {
    Track {
        id,
        weight,
        reverse,
        status,
    }
}

fn with_tracks(priority: u8, tracks: &[Track]) -> RouterConfig {
    let mut config = config(priority);
    config.tracks = tracks.to_vec();
    config
}

fn started(config: RouterConfig) -> Router {
    let mut router = Router::new(config).expect("valid config");
    step(&mut router, Input::Startup, 0);
    router
}

fn set_up(router: &mut Router, id: u32, up: bool, at: u64) -> Vec<vipd_router::Action> {
    step(router, Input::TrackedObjectChanged { id, up }, at)
}

fn set_value(router: &mut Router, id: u32, value: i64, at: u64) -> Vec<vipd_router::Action> {
    step(router, Input::TrackedValueChanged { id, value }, at)
}

#[test]
fn positive_weight_with_reverse_subtracts_while_up() {
    let mut router = started(with_tracks(100, &[track(1, 10, true, TrackStatus::Up)]));
    assert_eq!(
        router.effective_priority(),
        90,
        "weight 10 reverse: -10 while up"
    );
    set_up(&mut router, 1, false, 10);
    assert_eq!(router.effective_priority(), 100, "nothing while down");
    set_up(&mut router, 1, true, 20);
    assert_eq!(router.effective_priority(), 90);
}

#[test]
fn negative_weight_with_reverse_adds_while_down() {
    let mut router = started(with_tracks(100, &[track(1, -10, true, TrackStatus::Up)]));
    assert_eq!(router.effective_priority(), 100, "nothing while up");
    set_up(&mut router, 1, false, 10);
    assert_eq!(
        router.effective_priority(),
        110,
        "weight -10 reverse: +10 while down"
    );
    set_up(&mut router, 1, true, 20);
    assert_eq!(router.effective_priority(), 100);
}

#[test]
fn weight_zero_with_reverse_faults_while_up_and_recovers_when_down() {
    let mut router = started(with_tracks(100, &[track(4, 0, true, TrackStatus::Down)]));
    assert_eq!(router.state(), State::Backup, "reverse: down is healthy");
    let out = set_up(&mut router, 4, true, 10);
    assert_eq!(
        transition_of(&out),
        Some((State::Backup, State::Fault, Reason::TrackFailed))
    );
    let out = set_up(&mut router, 4, false, 20);
    assert_eq!(
        transition_of(&out),
        Some((State::Fault, State::Backup, Reason::TrackRecovered))
    );
}

#[test]
fn file_value_times_weight_moves_the_priority_and_reverse_flips_its_sign() {
    let mut router = started(with_tracks(
        100,
        &[
            track(1, 5, false, TrackStatus::Value(0)),
            track(2, 5, true, TrackStatus::Value(0)),
        ],
    ));
    assert_eq!(router.effective_priority(), 100, "value 0 moves nothing");
    set_value(&mut router, 1, 3, 10);
    assert_eq!(router.effective_priority(), 115, "3 × 5");
    set_value(&mut router, 1, -2, 20);
    assert_eq!(router.effective_priority(), 90, "-2 × 5");
    set_value(&mut router, 2, 3, 30);
    assert_eq!(router.effective_priority(), 75, "3 × 5 reversed is -15");
    set_value(&mut router, 2, -4, 40);
    assert_eq!(router.effective_priority(), 110, "-4 × 5 reversed is +20");
    assert_eq!(router.state(), State::Backup);
}

#[test]
fn file_product_above_253_adds_only_253() {
    let mut router = started(with_tracks(
        100,
        &[
            track(1, 1, false, TrackStatus::Value(0)),
            track(2, -200, false, TrackStatus::Down),
        ],
    ));
    assert_eq!(router.effective_priority(), 1, "100 - 200 clamps to 1");
    set_value(&mut router, 1, 1_000, 10);
    assert_eq!(
        router.effective_priority(),
        153,
        "100 + 253 - 200: the product is capped at 253 before the sum"
    );
    assert_eq!(
        router.tracks()[0].effect(),
        TrackEffect::Adjust(253),
        "the cap is visible per object"
    );
}

#[test]
fn file_product_of_minus_254_or_less_is_fault_and_above_it_a_weight() {
    let mut router = started(with_tracks(
        100,
        &[track(1, 1, false, TrackStatus::Value(0))],
    ));
    let out = set_value(&mut router, 1, -254, 10);
    assert_eq!(
        transition_of(&out),
        Some((State::Backup, State::Fault, Reason::TrackFailed))
    );
    let out = set_value(&mut router, 1, -253, 20);
    assert_eq!(
        transition_of(&out),
        Some((State::Fault, State::Backup, Reason::TrackRecovered))
    );
    assert_eq!(router.effective_priority(), 1, "100 - 253 clamps to 1");
    let mut router = started(with_tracks(
        100,
        &[track(1, -2, false, TrackStatus::Value(0))],
    ));
    set_value(&mut router, 1, 127, 10);
    assert_eq!(router.state(), State::Fault, "127 × -2 = -254");
    set_value(&mut router, 1, i64::MAX, 20);
    assert_eq!(
        router.state(),
        State::Fault,
        "a huge product saturates, still Fault"
    );
    set_value(&mut router, 1, i64::MIN, 30);
    assert_eq!(
        router.state(),
        State::Backup,
        "a huge positive product is capped"
    );
    assert_eq!(router.effective_priority(), 254);
}

#[test]
fn file_weight_zero_faults_on_a_nonzero_value_and_recovers_on_zero() {
    let mut router = started(with_tracks(
        100,
        &[track(3, 0, false, TrackStatus::Value(0))],
    ));
    assert_eq!(router.state(), State::Backup);
    let out = set_value(&mut router, 3, 7, 10);
    assert_eq!(
        transition_of(&out),
        Some((State::Backup, State::Fault, Reason::TrackFailed))
    );
    set_value(&mut router, 3, -1, 20);
    assert_eq!(router.state(), State::Fault, "any non-zero value");
    let out = set_value(&mut router, 3, 0, 30);
    assert_eq!(
        transition_of(&out),
        Some((State::Fault, State::Backup, Reason::TrackRecovered))
    );
    assert_eq!(
        router.effective_priority(),
        100,
        "weight 0 moves no priority"
    );
}

#[test]
fn file_weight_zero_with_reverse_faults_on_zero() {
    let mut router = started(with_tracks(
        100,
        &[track(3, 0, true, TrackStatus::Value(0))],
    ));
    assert_eq!(router.state(), State::Fault);
    let out = set_value(&mut router, 3, 1, 10);
    assert_eq!(
        transition_of(&out),
        Some((State::Fault, State::Backup, Reason::TrackRecovered))
    );
}

#[test]
fn master_entering_fault_by_a_file_value_sends_priority_zero() {
    let mut router = master(with_tracks(
        100,
        &[track(1, 10, false, TrackStatus::Value(0))],
    ));
    let out = set_value(&mut router, 1, 2, 5_000_000);
    assert_eq!(
        sent_priorities(&out),
        vec![120],
        "a changed priority is advertised at once"
    );
    let out = set_value(&mut router, 1, -30, 5_100_000);
    assert_eq!(sent_priorities(&out), vec![0]);
    assert_eq!(
        transition_of(&out),
        Some((State::Master, State::Fault, Reason::TrackFailed))
    );
}

#[test]
fn owner_ignores_every_weight_and_value() {
    let mut router = started(with_tracks(
        255,
        &[
            track(1, 50, true, TrackStatus::Up),
            track(2, 10, false, TrackStatus::Value(-20)),
            track(3, -100, false, TrackStatus::Down),
        ],
    ));
    assert_eq!(router.state(), State::Master);
    assert_eq!(router.effective_priority(), 255);
    set_value(&mut router, 2, 20, 10);
    set_up(&mut router, 3, true, 20);
    assert_eq!(router.effective_priority(), 255);
    assert_eq!(router.state(), State::Master);
}

#[test]
fn owner_still_enters_fault_on_a_weight_zero_failure_and_returns_as_master() {
    // keepalived's down_instance() has no owner exception: weights are ignored, Fault is not.
    let mut router = started(with_tracks(
        255,
        &[
            track(1, 0, false, TrackStatus::Up),
            track(2, 1, false, TrackStatus::Value(0)),
        ],
    ));
    assert_eq!(router.state(), State::Master);
    let out = set_up(&mut router, 1, false, 10);
    assert_eq!(sent_priorities(&out), vec![0]);
    assert_eq!(
        transition_of(&out),
        Some((State::Master, State::Fault, Reason::TrackFailed))
    );
    let out = set_up(&mut router, 1, true, 20);
    assert_eq!(
        transition_of(&out),
        Some((State::Fault, State::Master, Reason::TrackRecovered))
    );
    assert_eq!(router.effective_priority(), 255);
    set_value(&mut router, 2, -300, 30);
    assert_eq!(
        router.state(),
        State::Fault,
        "a file at -254 or less faults the owner too"
    );
    set_value(&mut router, 2, 0, 40);
    assert_eq!(router.state(), State::Master);
    assert_eq!(router.effective_priority(), 255);
}

#[test]
fn effective_priority_is_clamped_to_1_254_with_values_and_reverse() {
    let mut router = started(with_tracks(
        200,
        &[
            track(1, 40, false, TrackStatus::Up),
            track(2, 3, false, TrackStatus::Value(10)),
            track(3, -100, true, TrackStatus::Up),
        ],
    ));
    assert_eq!(
        router.effective_priority(),
        254,
        "200 + 40 + 30 clamps to 254"
    );
    set_up(&mut router, 3, false, 10);
    assert_eq!(router.effective_priority(), 254, "+100 more, still 254");
    set_up(&mut router, 1, false, 20);
    set_up(&mut router, 3, true, 30);
    set_value(&mut router, 2, -84, 40);
    assert_eq!(router.effective_priority(), 1, "200 - 252 clamps to 1");
    assert_eq!(
        router.state(),
        State::Backup,
        "a low priority is not a fault"
    );
}

#[test]
fn unknown_weight_zero_track_holds_startup_until_it_is_known() {
    let mut router = Router::new(with_tracks(
        100,
        &[track(9, 0, false, TrackStatus::Unknown)],
    ))
    .expect("valid config");
    assert!(router.awaiting_tracks());
    let out = step(&mut router, Input::Startup, 0);
    assert!(
        out.is_empty(),
        "keepalived keeps the instance in INIT: {out:?}"
    );
    assert_eq!(router.state(), State::Initialize);
    assert_eq!(router.next_deadline(), None);
    let out = set_up(&mut router, 9, true, 2_000);
    assert_eq!(
        transition_of(&out),
        Some((State::Initialize, State::Backup, Reason::Startup))
    );
    assert_eq!(router.next_deadline(), Some(Micros(2_000 + 3_609_375)));

    let mut router = Router::new(with_tracks(
        100,
        &[track(9, 0, false, TrackStatus::Unknown)],
    ))
    .expect("valid config");
    step(&mut router, Input::Startup, 0);
    let out = set_up(&mut router, 9, false, 2_000);
    assert_eq!(
        transition_of(&out),
        Some((State::Initialize, State::Fault, Reason::TrackFailed))
    );
}

#[test]
fn unknown_weight_zero_track_keeps_a_router_in_fault_until_it_is_known() {
    let mut router = Router::new(with_tracks(
        100,
        &[track(9, 0, false, TrackStatus::Unknown)],
    ))
    .expect("valid config");
    step(&mut router, Input::InterfaceDown, 0);
    let out = step(&mut router, Input::Startup, 10);
    assert_eq!(
        transition_of(&out),
        Some((State::Initialize, State::Fault, Reason::InterfaceDown)),
        "a known fault does not wait"
    );
    let out = step(&mut router, Input::InterfaceUp, 20);
    assert_eq!(transition_of(&out), None, "still waiting for the script");
    assert_eq!(router.state(), State::Fault);
    let out = set_up(&mut router, 9, true, 30);
    assert_eq!(
        transition_of(&out),
        Some((State::Fault, State::Backup, Reason::TrackRecovered))
    );
}

#[test]
fn unknown_weighted_track_moves_no_priority_until_it_is_known() {
    let mut router = started(with_tracks(
        100,
        &[
            track(1, 20, false, TrackStatus::Unknown),
            track(2, -30, false, TrackStatus::Unknown),
            track(3, 15, true, TrackStatus::Unknown),
        ],
    ));
    assert_eq!(
        router.state(),
        State::Backup,
        "weighted unknowns do not hold startup"
    );
    assert_eq!(router.effective_priority(), 100);
    set_up(&mut router, 1, true, 10);
    assert_eq!(router.effective_priority(), 120);
    set_up(&mut router, 2, false, 20);
    assert_eq!(router.effective_priority(), 90);
    set_up(&mut router, 3, true, 30);
    assert_eq!(router.effective_priority(), 75);
}

#[test]
fn plain_and_full_tracked_objects_share_one_id_space() {
    let mut duplicate = with_tracks(100, &[track(1, 10, false, TrackStatus::Up)]);
    duplicate.tracked = vec![TrackedObject {
        id: 1,
        weight: 0,
        up: true,
    }];
    assert_eq!(
        Router::new(duplicate).unwrap_err(),
        ConfigError::DuplicateTrackId(1)
    );
    let mut both = with_tracks(100, &[track(2, 10, true, TrackStatus::Up)]);
    both.tracked = vec![TrackedObject {
        id: 1,
        weight: -20,
        up: true,
    }];
    let mut router = started(both);
    assert_eq!(router.effective_priority(), 90);
    set_up(&mut router, 1, false, 10);
    assert_eq!(router.effective_priority(), 70);
    assert_eq!(router.tracks().len(), 2);
}

#[test]
fn reconfigure_with_a_file_at_minus_254_sends_a_master_to_fault() {
    let mut router = master(config(150));
    let mut out = Vec::new();
    router
        .reconfigure(
            with_tracks(150, &[track(5, 2, false, TrackStatus::Value(-127))]),
            Micros(4_000_000),
            &mut out,
        )
        .unwrap();
    assert_eq!(sent_priorities(&out), vec![0]);
    assert_eq!(
        transition_of(&out),
        Some((State::Master, State::Fault, Reason::TrackFailed))
    );
}
