//! Helpers shared by the router's scenario test files: addresses, a default configuration,
//! driving a router one input at a time, and reading its actions.
#![allow(dead_code)] // each test file uses its own subset

use std::net::IpAddr;

use vipd_router::{Action, Input, Micros, Reason, ReceivedAdvert, Router, RouterConfig, State};

pub const OURS: &str = "192.0.2.10";
pub const LOWER_PEER: &str = "192.0.2.5";
pub const HIGHER_PEER: &str = "192.0.2.20";

pub fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// v3, 1 s adverts, our address 192.0.2.10.
pub fn config(priority: u8) -> RouterConfig {
    let mut config = RouterConfig::new(51, ip(OURS));
    config.priority = priority;
    config
}

/// An advert from `src` at `priority` with the default config's interval (1 s, v3).
pub fn advert(src: &str, priority: u8) -> Input {
    Input::Advert(ReceivedAdvert {
        src: ip(src),
        priority,
        max_adver_int: 100,
    })
}

pub fn step(router: &mut Router, input: Input, at: u64) -> Vec<Action> {
    let mut out = Vec::new();
    router.handle(input, Micros(at), &mut out);
    out
}

pub fn sent_priorities(actions: &[Action]) -> Vec<u8> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendAdvert { priority } => Some(*priority),
            _ => None,
        })
        .collect()
}

pub fn transition_of(actions: &[Action]) -> Option<(State, State, Reason)> {
    actions.iter().find_map(|a| match a {
        Action::Transition { from, to, reason } => Some((*from, *to, *reason)),
        _ => None,
    })
}

/// Started at t=0 and made Master by its own down timer.
pub fn master(config: RouterConfig) -> Router {
    let mut router = Router::new(config).expect("valid config");
    step(&mut router, Input::Startup, 0);
    let deadline = router.next_deadline().expect("a master-down deadline");
    step(&mut router, Input::Timer, deadline.0);
    assert_eq!(router.state(), State::Master);
    router
}
