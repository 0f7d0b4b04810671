//! Events per second through the state machine on one core: a Backup accepting its master's
//! adverts, a Master answering timers and lower-priority adverts, with priority-0 handovers mixed
//! in. Prints the figure; run with `cargo bench -p vipd-router --bench events_per_second`.

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Instant;

use vipd_router::{Action, Input, Micros, ReceivedAdvert, Router, RouterConfig};

const EVENTS: u64 = 20_000_000;

fn config(priority: u8, address: &str) -> RouterConfig {
    let mut config = RouterConfig::new(51, address.parse::<IpAddr>().unwrap());
    config.priority = priority;
    config.advert_interval_us = 10_000;
    config
}

fn main() {
    let mut backup = Router::new(config(100, "192.0.2.10")).unwrap();
    let mut master = Router::new(config(200, "192.0.2.20")).unwrap();
    let mut out: Vec<Action> = Vec::with_capacity(16);
    backup.handle(Input::Startup, Micros::ZERO, &mut out);
    master.handle(Input::Startup, Micros::ZERO, &mut out);
    let from_master = ReceivedAdvert {
        src: "192.0.2.20".parse().unwrap(),
        priority: 200,
        max_adver_int: 1,
    };
    let from_backup = ReceivedAdvert {
        src: "192.0.2.10".parse().unwrap(),
        priority: 100,
        max_adver_int: 1,
    };
    let leaving = ReceivedAdvert {
        priority: 0,
        ..from_master
    };

    let started = Instant::now();
    let mut now = 0u64;
    let mut actions = 0usize;
    for i in 0..EVENTS / 4 {
        now += 2_500;
        out.clear();
        backup.handle(
            Input::Advert(if i % 1000 == 999 {
                leaving
            } else {
                from_master
            }),
            Micros(now),
            &mut out,
        );
        master.handle(Input::Advert(from_backup), Micros(now), &mut out);
        let backup_deadline = backup.next_deadline().unwrap_or(Micros(u64::MAX));
        backup.handle(
            Input::Timer,
            black_box(backup_deadline.min(Micros(now))),
            &mut out,
        );
        let master_deadline = master.next_deadline().unwrap_or(Micros(now));
        master.handle(Input::Timer, master_deadline.max(Micros(now)), &mut out);
        actions += out.len();
    }
    let elapsed = started.elapsed();
    black_box(actions);
    let rate = EVENTS as f64 / elapsed.as_secs_f64();
    println!(
        "vipd-router: {EVENTS} events in {:.3} s = {:.1} million events/s on one core ({} actions)",
        elapsed.as_secs_f64(),
        rate / 1e6,
        actions
    );
}
