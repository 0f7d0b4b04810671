//! Who the router says is master now ([`Router::peer_master`]) and what it last heard
//! ([`Router::last_heard`]), in virtual time: the data behind `vipd status`'s "master now" line.

use vipd_router::{HeardAdvert, Input, Micros, Router, State};

mod common;
use common::*;

fn backup(priority: u8) -> Router {
    let mut router = Router::new(config(priority)).expect("valid config");
    step(&mut router, Input::Startup, 0);
    assert_eq!(router.state(), State::Backup);
    router
}

#[test]
fn a_backup_names_the_master_it_hears_and_when() {
    let mut router = backup(100);
    assert_eq!(router.peer_master(), None, "nothing heard yet");
    step(&mut router, advert(HIGHER_PEER, 200), 1_000);
    step(&mut router, advert(HIGHER_PEER, 200), 2_000);
    assert_eq!(
        router.peer_master(),
        Some(HeardAdvert {
            src: ip(HIGHER_PEER),
            priority: 200,
            at: Micros(2_000),
        })
    );
}

#[test]
fn a_preempting_backup_still_names_the_lower_master() {
    // We out-rank it and discard its adverts, but until our down timer fires it is the master.
    let mut router = backup(200);
    step(&mut router, advert(LOWER_PEER, 100), 5_000);
    assert_eq!(router.state(), State::Backup);
    assert_eq!(router.peer_master().map(|h| h.src), Some(ip(LOWER_PEER)));
    assert_eq!(router.peer_master().map(|h| h.priority), Some(100));
}

#[test]
fn a_leaving_master_is_no_longer_named_but_stays_the_last_heard() {
    let mut router = backup(100);
    step(&mut router, advert(HIGHER_PEER, 200), 1_000);
    step(&mut router, advert(HIGHER_PEER, 0), 2_000);
    assert_eq!(router.peer_master(), None);
    assert_eq!(
        router.last_heard().map(|h| (h.priority, h.at)),
        Some((0, Micros(2_000)))
    );
}

#[test]
fn a_master_names_no_peer_and_a_higher_advert_makes_its_sender_the_master() {
    let mut router = master(config(100));
    assert_eq!(router.peer_master(), None);
    let at = router.next_deadline().expect("advert timer").0;
    step(&mut router, advert(HIGHER_PEER, 200), at);
    assert_eq!(router.state(), State::Backup);
    assert_eq!(router.peer_master().map(|h| h.src), Some(ip(HIGHER_PEER)));
}

#[test]
fn our_own_looped_advert_is_not_remembered() {
    let mut router = backup(100);
    step(&mut router, advert(OURS, 200), 1_000);
    assert_eq!(router.last_heard(), None);
}

#[test]
fn a_restart_forgets_what_was_heard_before() {
    let mut router = backup(100);
    step(&mut router, advert(HIGHER_PEER, 200), 1_000);
    step(&mut router, Input::InterfaceDown, 2_000);
    assert_eq!(router.state(), State::Fault);
    assert_eq!(router.peer_master(), None);
    step(&mut router, Input::InterfaceUp, 3_000);
    assert_eq!(router.state(), State::Backup);
    assert_eq!(router.last_heard(), None);
}
