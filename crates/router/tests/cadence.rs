//! A Master's advert may go out up to a quarter interval early to share a wake-up
//! (`Router::acts_from`), and keeps the phase it went out at; Backup deadlines are never taken
//! early. The last test plays the daemon's loop over many Masters started at scattered times and
//! counts the wake-ups they settle into.

use vipd_router::{Action, Input, Micros, Router, State, SyncGroup};

mod common;
use common::*;

const INTERVAL: u64 = 1_000_000;

#[test]
fn a_masters_advert_goes_out_a_quarter_interval_early_and_keeps_that_phase() {
    let mut router = master(config(100));
    let deadline = router.next_deadline().unwrap().0;
    assert_eq!(router.acts_from(), Some(Micros(deadline - INTERVAL / 4)));

    let too_early = step(&mut router, Input::Timer, deadline - INTERVAL / 4 - 1);
    assert!(sent_priorities(&too_early).is_empty(), "{too_early:?}");
    assert_eq!(router.next_deadline(), Some(Micros(deadline)));

    let early = deadline - INTERVAL / 5;
    assert_eq!(
        sent_priorities(&step(&mut router, Input::Timer, early)),
        vec![100]
    );
    assert_eq!(router.next_deadline(), Some(Micros(early + INTERVAL)));
}

#[test]
fn a_late_master_keeps_its_cadence_and_never_bursts() {
    let mut router = master(config(100));
    let deadline = router.next_deadline().unwrap().0;
    step(&mut router, Input::Timer, deadline + 300_000);
    assert_eq!(router.next_deadline(), Some(Micros(deadline + INTERVAL)));
    // More than an interval late: one advert, and the next a whole interval on.
    let deadline = deadline + INTERVAL;
    let sent = step(&mut router, Input::Timer, deadline + 2 * INTERVAL);
    assert_eq!(sent_priorities(&sent), vec![100]);
    assert_eq!(
        router.next_deadline(),
        Some(Micros(deadline + 3 * INTERVAL))
    );
}

#[test]
fn a_backup_never_takes_over_before_its_down_timer() {
    let mut router = Router::new(config(100)).unwrap();
    step(&mut router, Input::Startup, 0);
    let deadline = router.next_deadline().unwrap();
    assert_eq!(router.acts_from(), Some(deadline));
    let early = step(&mut router, Input::Timer, deadline.0 - 1);
    assert!(early.is_empty(), "{early:?}");
    assert_eq!(router.state(), State::Backup);
    step(&mut router, Input::Timer, deadline.0);
    assert_eq!(router.state(), State::Master);
}

/// The daemon's loop in miniature: wait for the earliest deadline, then hand every group whose
/// `acts_from` has come its timers.
fn run_loop(groups: &mut [SyncGroup], from: u64, until: u64) -> (Vec<u64>, Vec<Vec<u64>>) {
    let mut wake_ups = Vec::new();
    let mut sent_at = vec![Vec::new(); groups.len()];
    let mut now = from;
    while now < until {
        let next = groups
            .iter()
            .filter_map(|g| g.next_deadline())
            .min()
            .expect("every Master has a deadline");
        now = next.0;
        wake_ups.push(now);
        for (index, group) in groups.iter_mut().enumerate() {
            if group.acts_from().is_some_and(|d| d.0 <= now) {
                let mut out = Vec::new();
                group.handle_timers(Micros(now), &mut out);
                if out
                    .iter()
                    .any(|a| matches!(a.action, Action::SendAdvert { .. }))
                {
                    sent_at[index].push(now);
                }
            }
        }
    }
    (wake_ups, sent_at)
}

#[test]
fn masters_started_at_scattered_times_settle_into_at_most_four_wake_ups_an_interval() {
    // 100 Masters whose first adverts are spread over one interval, 10 ms apart (each came up
    // after its own down timer), as one instance per group, as the daemon keeps them.
    let mut groups: Vec<SyncGroup> = (0..100u64)
        .map(|i| {
            let mut router = Router::new(config(100)).unwrap();
            step(&mut router, Input::Startup, i * 10_000);
            let deadline = router.next_deadline().unwrap().0;
            step(&mut router, Input::Timer, deadline);
            assert_eq!(router.state(), State::Master);
            SyncGroup::new(vec![router])
        })
        .collect();
    let start = 4 * INTERVAL;
    let (wake_ups, sent_at) = run_loop(&mut groups, start, start + 10 * INTERVAL);
    let last_interval = wake_ups
        .iter()
        .filter(|&&t| t >= start + 9 * INTERVAL)
        .count();
    assert!(
        (1..=4).contains(&last_interval),
        "{last_interval} wake-ups in the last interval: {:?}",
        &wake_ups[wake_ups.len().saturating_sub(10)..]
    );
    for (index, times) in sent_at.iter().enumerate() {
        assert!(times.len() >= 9, "master {index} sent only {times:?}");
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                (INTERVAL * 3 / 4..=INTERVAL).contains(&gap),
                "master {index}: {gap} us between adverts ({times:?})"
            );
        }
    }
}
