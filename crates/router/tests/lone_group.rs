//! A sync group of one member (every instance outside a `vrrp_sync_group` is driven through one)
//! must do exactly what its router alone does: the group's fast path for lone members skips the
//! follow and fault-settling steps, and these tests hold it to the router's own behaviour.

use vipd_router::{
    Action, Input, MemberAction, Micros, Router, RouterConfig, State, SyncGroup, TrackedObject,
};

mod common;
use common::*;

/// A router with a weight-0 tracked object (id 1) and a weighted one (id 2, -60).
fn tracked_config(priority: u8) -> RouterConfig {
    let mut config = config(priority);
    config.tracked = vec![
        TrackedObject {
            id: 1,
            weight: 0,
            up: true,
        },
        TrackedObject {
            id: 2,
            weight: -60,
            up: true,
        },
    ];
    config
}

/// Feeds `script` to a bare router and to a group holding the same router, through
/// `SyncGroup::handle` and (for timers) `SyncGroup::handle_timers`, and checks after each step
/// that both took the same actions, reached the same state and want the same deadline.
fn same_as_the_router_alone(config: RouterConfig, script: &[(u64, Input)]) {
    let mut alone = Router::new(config.clone()).expect("valid config");
    let mut group = SyncGroup::new(vec![Router::new(config).expect("valid config")]);
    for (step, &(at, input)) in script.iter().enumerate() {
        let now = Micros(at);
        let mut expected = Vec::new();
        let mut got: Vec<MemberAction> = Vec::new();
        if input == Input::Timer {
            // As the daemon does: timers go to the group only once it acts on them.
            if alone.acts_from().is_some_and(|d| d <= now) {
                alone.handle(input, now, &mut expected);
            }
            group.handle_timers(now, &mut got);
        } else {
            alone.handle(input, now, &mut expected);
            group.handle(0, input, now, &mut got);
        }
        let got: Vec<Action> = got
            .iter()
            .map(|a| {
                assert_eq!(a.member, 0, "step {step}: only member 0 exists");
                a.action
            })
            .collect();
        assert_eq!(got, expected, "step {step} ({input:?} at {at})");
        assert_eq!(group.member(0).state(), alone.state(), "step {step}");
        assert_eq!(group.next_deadline(), alone.next_deadline(), "step {step}");
    }
}

#[test]
fn a_lone_backup_hearing_adverts_and_taking_over_acts_as_its_router() {
    same_as_the_router_alone(
        config(100),
        &[
            (0, Input::Startup),
            (100_000, advert(HIGHER_PEER, 200)),
            (200_000, advert(HIGHER_PEER, 200)),
            (300_000, advert(LOWER_PEER, 50)),
            (400_000, advert(HIGHER_PEER, 0)),
            (5_000_000, Input::Timer),
            (5_100_000, advert(LOWER_PEER, 50)),
            (5_200_000, advert(HIGHER_PEER, 200)),
            (9_000_000, Input::Timer),
            (9_100_000, Input::Timer),
            (9_200_000, Input::Shutdown),
        ],
    );
}

#[test]
fn a_lone_member_through_faults_tracks_and_maintenance_acts_as_its_router() {
    same_as_the_router_alone(
        tracked_config(150),
        &[
            (0, Input::Startup),
            (4_000_000, Input::Timer),
            (4_100_000, Input::InterfaceDown),
            (4_200_000, advert(HIGHER_PEER, 200)),
            (4_300_000, Input::InterfaceUp),
            (4_400_000, Input::TrackedObjectChanged { id: 2, up: false }),
            (4_500_000, Input::TrackedObjectChanged { id: 1, up: false }),
            (4_600_000, Input::TrackedObjectChanged { id: 1, up: true }),
            (9_000_000, Input::Timer),
            (9_100_000, Input::Hold { on: true }),
            (9_200_000, advert(LOWER_PEER, 50)),
            (9_300_000, Input::Hold { on: false }),
            (14_000_000, Input::Timer),
            (14_100_000, Input::TrackedObjectChanged { id: 2, up: true }),
            (14_200_000, Input::Shutdown),
        ],
    );
}

#[test]
fn the_script_moves_the_lone_member_through_every_state() {
    // The comparison above is only worth something if the script really visits each state.
    let mut group = SyncGroup::new(vec![Router::new(tracked_config(150)).unwrap()]);
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for (at, input) in [
        (0, Input::Startup),
        (4_100_000, Input::InterfaceDown),
        (4_300_000, Input::InterfaceUp),
    ] {
        group.handle(0, input, Micros(at), &mut out);
        seen.push(group.member(0).state());
        let due = group.next_deadline().unwrap_or(Micros(at));
        group.handle_timers(due, &mut out);
        seen.push(group.member(0).state());
    }
    for state in [State::Backup, State::Master, State::Fault] {
        assert!(seen.contains(&state), "{state:?} not reached: {seen:?}");
    }
}
