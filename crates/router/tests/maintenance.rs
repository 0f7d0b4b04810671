//! Maintenance holds ([`Input::Hold`]) in virtual time: a held Master hands over with a
//! priority-0 advert and stays out of the election, a held Backup never takes over, and the
//! usual preempt rules decide what happens when the hold ends.

use vipd_router::{Action, Input, Micros, Reason, Router, State, SyncGroup};

mod common;
use common::*;

fn backup(priority: u8, preempt: bool) -> Router {
    let mut config = config(priority);
    config.preempt = preempt;
    let mut router = Router::new(config).expect("valid config");
    step(&mut router, Input::Startup, 0);
    assert_eq!(router.state(), State::Backup);
    router
}

#[test]
fn held_master_sends_priority_zero_and_steps_down_for_maintenance() {
    let mut router = master(config(200));
    let actions = step(&mut router, Input::Hold { on: true }, 5_000_000);
    assert_eq!(sent_priorities(&actions), vec![0]);
    assert!(actions.contains(&Action::BecomeBackup));
    assert_eq!(
        transition_of(&actions),
        Some((State::Master, State::Backup, Reason::Maintenance))
    );
    assert!(router.is_held());
    assert_eq!(
        router.next_deadline(),
        None,
        "a held backup never takes over"
    );
    assert_eq!(router.counters().priority_zero_sent, 1);
}

#[test]
fn held_backup_ignores_priority_zero_and_silence() {
    let mut router = backup(200, true);
    step(&mut router, advert(LOWER_PEER, 100), 1_000_000);
    let actions = step(&mut router, Input::Hold { on: true }, 1_500_000);
    assert!(actions.is_empty(), "already BACKUP: {actions:?}");
    assert_eq!(router.next_deadline(), None);
    let actions = step(&mut router, advert(LOWER_PEER, 0), 2_000_000);
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(router.next_deadline(), None);
    assert_eq!(router.state(), State::Backup);
    // It still learns who serves.
    step(&mut router, advert(HIGHER_PEER, 50), 3_000_000);
    assert_eq!(router.master_address(), Some(ip(HIGHER_PEER)));
}

#[test]
fn held_backup_forgets_a_master_that_leaves() {
    let mut router = backup(100, true);
    step(&mut router, Input::Hold { on: true }, 0);
    step(&mut router, advert(HIGHER_PEER, 200), 1_000_000);
    step(&mut router, advert(HIGHER_PEER, 0), 2_000_000);
    assert_eq!(router.master_address(), None, "nobody serves now");
    assert_eq!(router.state(), State::Backup);
}

#[test]
fn release_with_preempt_takes_the_role_back_from_a_lower_master() {
    let mut router = master(config(200));
    step(&mut router, Input::Hold { on: true }, 5_000_000);
    step(&mut router, advert(LOWER_PEER, 100), 5_100_000);
    let actions = step(&mut router, Input::Hold { on: false }, 6_000_000);
    assert!(actions.is_empty(), "{actions:?}");
    assert!(!router.is_held());
    let deadline = router.next_deadline().expect("down timer armed again");
    assert_eq!(deadline.0, 6_000_000 + router.master_down_interval_us());
    // The lower master's adverts are discarded, so the down timer fires: preemption.
    step(&mut router, advert(LOWER_PEER, 100), 6_500_000);
    let actions = step(&mut router, Input::Timer, deadline.0);
    assert_eq!(
        transition_of(&actions),
        Some((State::Backup, State::Master, Reason::Preempted))
    );
}

#[test]
fn release_with_nopreempt_stays_backup_while_the_master_speaks() {
    let mut config = config(200);
    config.preempt = false;
    let mut router = master(config);
    step(&mut router, Input::Hold { on: true }, 5_000_000);
    step(&mut router, Input::Hold { on: false }, 6_000_000);
    for k in 1..=10u64 {
        let actions = step(
            &mut router,
            advert(LOWER_PEER, 100),
            6_000_000 + k * 1_000_000,
        );
        assert!(transition_of(&actions).is_none(), "{actions:?}");
    }
    assert_eq!(router.state(), State::Backup);
}

#[test]
fn released_backup_takes_over_when_nobody_serves() {
    let mut router = backup(100, true);
    step(&mut router, Input::Hold { on: true }, 0);
    step(&mut router, Input::Hold { on: false }, 10_000_000);
    let deadline = router.next_deadline().expect("down timer armed");
    let actions = step(&mut router, Input::Timer, deadline.0);
    assert_eq!(
        transition_of(&actions),
        Some((State::Backup, State::Master, Reason::MasterDownTimerExpired))
    );
}

#[test]
fn held_owner_stays_out_too() {
    let mut router = master(config(255));
    let actions = step(&mut router, Input::Hold { on: true }, 1_000_000);
    assert_eq!(sent_priorities(&actions), vec![0]);
    assert_eq!(router.state(), State::Backup);
    assert_eq!(router.next_deadline(), None);
}

#[test]
fn held_router_leaving_fault_or_starting_comes_up_as_held_backup() {
    let mut router = Router::new(config(255)).expect("valid config");
    step(&mut router, Input::Hold { on: true }, 0);
    let actions = step(&mut router, Input::Startup, 0);
    assert_eq!(router.state(), State::Backup, "an owner held at start");
    assert!(sent_priorities(&actions).is_empty());
    assert_eq!(router.next_deadline(), None);

    step(&mut router, Input::InterfaceDown, 1_000_000);
    assert_eq!(router.state(), State::Fault);
    step(&mut router, Input::InterfaceUp, 2_000_000);
    assert_eq!(router.state(), State::Backup);
    assert_eq!(router.next_deadline(), None);
}

#[test]
fn hold_twice_is_one_hold() {
    let mut router = master(config(200));
    step(&mut router, Input::Hold { on: true }, 1_000_000);
    let again = step(&mut router, Input::Hold { on: true }, 2_000_000);
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(router.counters().priority_zero_sent, 1);
}

fn group_of_masters(n: usize) -> SyncGroup {
    let mut group = SyncGroup::new(
        (0..n)
            .map(|i| {
                let mut config = config(150);
                config.vrid = 10 + i as u8;
                Router::new(config).expect("valid config")
            })
            .collect(),
    );
    let mut out = Vec::new();
    group.startup(Micros::ZERO, &mut out);
    group.handle_timers(group.next_deadline().unwrap(), &mut out);
    assert!(group.members().iter().all(|r| r.state() == State::Master));
    group
}

#[test]
fn sync_group_hold_moves_every_member_and_each_master_sends_priority_zero() {
    let mut group = group_of_masters(3);
    let mut out = Vec::new();
    group.hold(true, Micros(5_000_000), &mut out);
    assert!(group.is_held());
    for member in 0..3 {
        assert_eq!(group.member(member).state(), State::Backup);
        assert_eq!(group.member(member).next_deadline(), None);
        assert!(
            out.iter()
                .any(|a| a.member == member && a.action == Action::SendAdvert { priority: 0 }),
            "member {member} sent priority 0: {out:?}"
        );
    }
    // A peer group taking over does not pull a held member back to Master.
    out.clear();
    group.handle(0, advert(HIGHER_PEER, 200), Micros(5_100_000), &mut out);
    assert!(group.members().iter().all(|r| r.state() == State::Backup));

    group.hold(false, Micros(6_000_000), &mut out);
    assert!(!group.is_held());
    assert!(group.members().iter().all(|r| r.next_deadline().is_some()));
}
