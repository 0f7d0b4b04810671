//! Scenario tests in virtual time for `Router::reconfigure` and `SyncGroup::reconfigure` (the
//! daemon's configuration reload): what a changed configuration keeps (state, deadline, master
//! heard) and how the RFC rules then settle a changed priority. Nothing sleeps.

use vipd_router::{
    Action, ConfigError, Input, Micros, Reason, Router, RouterConfig, State, SyncGroup,
    TrackedObject, Version,
};

mod common;
use common::*;

fn reconfigure(router: &mut Router, config: RouterConfig, at: u64) -> Vec<Action> {
    let mut out = Vec::new();
    router
        .reconfigure(config, Micros(at), &mut out)
        .expect("same virtual router");
    out
}

/// Started at t=0 and following a master at `master_priority` heard at t=1 s.
fn backup_of(config: RouterConfig, master_priority: u8) -> Router {
    let mut router = Router::new(config).unwrap();
    step(&mut router, Input::Startup, 0);
    step(&mut router, advert(HIGHER_PEER, master_priority), 1_000_000);
    assert_eq!(router.state(), State::Backup);
    router
}

#[test]
fn reconfigure_keeps_a_master_master_and_sends_the_new_priority_with_the_next_advert() {
    let mut router = master(config(150));
    let since = router.state_since();
    let deadline = router.next_deadline();
    let mut changed = config(120);
    changed.advert_interval_us = 500_000;
    changed.preempt = false;
    let actions = reconfigure(&mut router, changed, 3_500_000);
    assert_eq!(actions, vec![], "no transition and no advert burst");
    assert_eq!(router.state(), State::Master);
    assert_eq!(router.state_since(), since);
    assert_eq!(
        router.next_deadline(),
        deadline,
        "the advert cadence is kept"
    );
    assert_eq!(router.effective_priority(), 120);
    let at = deadline.unwrap().0;
    let actions = step(&mut router, Input::Timer, at);
    assert_eq!(sent_priorities(&actions), vec![120]);
    assert_eq!(
        router.next_deadline(),
        Some(Micros(at + 500_000)),
        "the new advert interval is used from the next advert on"
    );
    assert_eq!(router.counters().become_master, 1);
}

#[test]
fn reconfigure_keeps_a_backup_backup_with_its_master_and_down_timer() {
    let mut router = backup_of(config(100), 150);
    let deadline = router.next_deadline();
    let actions = reconfigure(&mut router, config(120), 1_200_000);
    assert_eq!(actions, vec![]);
    assert_eq!(router.state(), State::Backup);
    assert_eq!(router.master_address(), Some(ip(HIGHER_PEER)));
    assert_eq!(router.next_deadline(), deadline);
}

#[test]
fn reconfigure_to_a_higher_priority_lets_a_backup_preempt_by_the_rfc_rules() {
    let mut router = backup_of(config(100), 150);
    let down_timer = router.next_deadline().unwrap();
    reconfigure(&mut router, config(200), 1_500_000);
    // The master's next advert now ranks lower: discarded, so the down timer started by the last
    // accepted advert (t = 1 s) runs out and we preempt.
    let actions = step(&mut router, advert(HIGHER_PEER, 150), 2_000_000);
    assert_eq!(transition_of(&actions), None);
    let deadline = router.next_deadline().unwrap();
    assert_eq!(
        deadline, down_timer,
        "the discarded advert did not restart the down timer"
    );
    let actions = step(&mut router, Input::Timer, deadline.0);
    assert_eq!(
        transition_of(&actions),
        Some((State::Backup, State::Master, Reason::Preempted))
    );
    assert_eq!(sent_priorities(&actions), vec![200]);
}

#[test]
fn reconfigure_to_a_higher_priority_without_preempt_keeps_following_the_master() {
    let mut router = backup_of(config(100), 150);
    let mut changed = config(200);
    changed.preempt = false;
    reconfigure(&mut router, changed, 1_500_000);
    for at in [2_000_000, 3_000_000, 4_000_000, 5_000_000] {
        let actions = step(&mut router, advert(HIGHER_PEER, 150), at);
        assert_eq!(transition_of(&actions), None);
        assert!(router.next_deadline().unwrap().0 > at + 3_000_000);
    }
    assert_eq!(router.state(), State::Backup);
}

#[test]
fn reconfigure_to_a_lower_priority_makes_a_master_yield_to_a_higher_advert() {
    let mut router = master(config(200));
    reconfigure(&mut router, config(50), 4_000_000);
    // Before the change this advert would have been a rival below us.
    let actions = step(&mut router, advert(LOWER_PEER, 100), 4_100_000);
    assert_eq!(
        transition_of(&actions),
        Some((
            State::Master,
            State::Backup,
            Reason::HigherPriorityAdvertReceived
        ))
    );
}

#[test]
fn reconfigure_refuses_another_vrid_or_version() {
    let mut router = master(config(150));
    let mut other_vrid = config(150);
    other_vrid.vrid = 52;
    let mut other_version = config(150);
    other_version.version = Version::V2;
    for changed in [other_vrid, other_version] {
        let mut out = Vec::new();
        assert_eq!(
            router.reconfigure(changed, Micros(4_000_000), &mut out),
            Err(ConfigError::IdentityChanged)
        );
        assert!(out.is_empty());
        assert_eq!(router.config().vrid, 51);
        assert_eq!(router.config().version, Version::V3);
    }
    let mut invalid = config(150);
    invalid.advert_interval_us = 15_000;
    assert!(matches!(
        router.reconfigure(invalid, Micros(4_000_000), &mut Vec::new()),
        Err(ConfigError::AdvertInterval { .. })
    ));
    assert_eq!(router.state(), State::Master);
}

#[test]
fn reconfigure_dropping_a_failed_weight_zero_track_leaves_fault() {
    let mut tracked = config(100);
    tracked.tracked = vec![TrackedObject {
        id: 0,
        weight: 0,
        up: false,
    }];
    let mut router = Router::new(tracked).unwrap();
    step(&mut router, Input::Startup, 0);
    assert_eq!(router.state(), State::Fault);
    let actions = reconfigure(&mut router, config(100), 1_000_000);
    assert_eq!(
        transition_of(&actions),
        Some((State::Fault, State::Backup, Reason::TrackRecovered))
    );
}

#[test]
fn reconfigure_adding_a_failed_weight_zero_track_sends_a_master_to_fault_with_priority_zero() {
    let mut router = master(config(150));
    let mut tracked = config(150);
    tracked.tracked = vec![TrackedObject {
        id: 0,
        weight: 0,
        up: false,
    }];
    let actions = reconfigure(&mut router, tracked, 4_000_000);
    assert_eq!(sent_priorities(&actions), vec![0]);
    assert_eq!(
        transition_of(&actions),
        Some((State::Master, State::Fault, Reason::TrackFailed))
    );
}

#[test]
fn reconfigure_with_a_negative_weight_track_down_lowers_the_effective_priority() {
    let mut router = master(config(150));
    let mut tracked = config(150);
    tracked.tracked = vec![TrackedObject {
        id: 7,
        weight: -60,
        up: false,
    }];
    assert_eq!(reconfigure(&mut router, tracked, 4_000_000), vec![]);
    assert_eq!(router.effective_priority(), 90);
    assert_eq!(router.state(), State::Master);
}

#[test]
fn sync_group_reconfigure_keeps_every_member_state() {
    let routers = [100, 150]
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let mut config = config(p);
            config.vrid = 10 + i as u8;
            Router::new(config).unwrap()
        })
        .collect();
    let mut group = SyncGroup::new(routers);
    let mut out = Vec::new();
    group.startup(Micros::ZERO, &mut out);
    group.handle_timers(group.next_deadline().unwrap(), &mut out);
    assert!(group.members().iter().all(|r| r.state() == State::Master));
    out.clear();
    let mut changed = config(180);
    changed.vrid = 11;
    group
        .reconfigure(1, changed, Micros(5_000_000), &mut out)
        .unwrap();
    assert_eq!(out, vec![]);
    assert!(group.members().iter().all(|r| r.state() == State::Master));
    assert_eq!(group.member(1).effective_priority(), 180);
    let mut wrong = config(180);
    wrong.vrid = 99;
    assert_eq!(
        group.reconfigure(1, wrong, Micros(5_000_000), &mut out),
        Err(ConfigError::IdentityChanged)
    );
}
