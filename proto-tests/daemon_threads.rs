//! Where vipd's work runs: the event loop on a thread of its own, `vipd-loop`, at the realtime
//! priority `vrrp_rt_priority` asks for (the loop's thread is started after the setting, and
//! SCHED_RESET_ON_FORK would otherwise give it normal scheduling), waking about once per advert
//! while the runtime's thread, with nothing to do, stays asleep.

use crate::daemon_support::*;
use crate::lab::*;
use std::time::Duration;

/// One thread of a process, as /proc shows it.
struct Thread {
    comm: String,
    /// stat(5) fields 41 and 40.
    policy: u32,
    rt_priority: u32,
    voluntary_switches: u64,
}

fn threads(pid: u32) -> Vec<(u32, Thread)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).expect("the task list") {
        let tid: u32 = entry
            .unwrap()
            .file_name()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let dir = format!("/proc/{pid}/task/{tid}");
        let (Ok(stat), Ok(status), Ok(comm)) = (
            std::fs::read_to_string(format!("{dir}/stat")),
            std::fs::read_to_string(format!("{dir}/status")),
            std::fs::read_to_string(format!("{dir}/comm")),
        ) else {
            continue; // the thread ended while being read
        };
        // The fields after comm's ")": state is field 3, so field N is at index N - 3.
        let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
        let voluntary_switches = status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .map(|v| v.trim().parse().unwrap())
            .expect("voluntary_ctxt_switches in status");
        found.push((
            tid,
            Thread {
                comm: comm.trim().to_owned(),
                policy: fields[41 - 3].parse().unwrap(),
                rt_priority: fields[40 - 3].parse().unwrap(),
                voluntary_switches,
            },
        ));
    }
    found
}

fn switches(pid: u32, tid: u32) -> u64 {
    threads(pid)
        .into_iter()
        .find(|(t, _)| *t == tid)
        .map(|(_, t)| t.voluntary_switches)
        .expect("the thread is still there")
}

#[test]
fn daemon_loop_runs_on_its_own_realtime_thread_waking_once_per_advert() {
    let lab = Lab::new("daemon_threads");
    let (a, b) = two_gateways(&lab);
    let global = "global_defs: {vrrp_version: 3, vrrp_rt_priority: 10}\n";
    let config = |priority: u8| {
        v3_config(71, priority, "192.0.2.100/24", "").replacen(
            "global_defs: {vrrp_version: 3}\n",
            global,
            1,
        )
    };
    let (vipd_a, vipd_b) = start_elected(&a, &config(150), &b, &config(100));
    for (name, vipd) in [("gw-a", &vipd_a), ("gw-b", &vipd_b)] {
        let pid = vipd.pid();
        let all = threads(pid);
        let loops: Vec<&(u32, Thread)> =
            all.iter().filter(|(_, t)| t.comm == "vipd-loop").collect();
        assert_eq!(
            loops.len(),
            1,
            "{name}: threads {:?}",
            all.iter().map(|(_, t)| &t.comm).collect::<Vec<_>>()
        );
        let (loop_tid, looping) = loops[0];
        assert_eq!(
            (looping.policy, looping.rt_priority),
            (libc::SCHED_RR as u32, 10),
            "{name}: the loop's thread is not at SCHED_RR 10"
        );
        let main = all
            .iter()
            .find(|(t, _)| *t == pid)
            .map(|(t, _)| *t)
            .unwrap();
        let (loop_before, main_before) = (switches(pid, *loop_tid), switches(pid, main));
        std::thread::sleep(Duration::from_secs(2));
        let loop_woke = switches(pid, *loop_tid) - loop_before;
        let main_woke = switches(pid, main) - main_before;
        // 20 adverts in 2 s at advert_int 0.1, sent (gw-a) or heard (gw-b).
        assert!(
            (12..=80).contains(&loop_woke),
            "{name}: the loop's thread woke {loop_woke} times in 2 s"
        );
        assert!(
            main_woke * 4 <= loop_woke,
            "{name}: the runtime's thread woke {main_woke} times in 2 s, the loop's {loop_woke}"
        );
    }
    assert_sole_master(&pair(&a, &vipd_a, &b, &vipd_b), 0, "192.0.2.100/24");
}

#[test]
fn daemon_many_instances_share_wake_ups_on_both_sides() {
    // 40 instances that become Master at scattered times (each after its own down timer): the
    // Masters' adverts fall into a few groups sent together (the router's `acts_from`), and
    // the Backup reads each group's burst in a wake-up or two (`rx_holdoff.rs`), instead of
    // one wake-up of each side per advert.
    const COUNT: u8 = 40;
    let lab = Lab::new("daemon_shared_wake");
    let (a, b) = two_gateways(&lab);
    let vipd_a = a.start_vipd(&many_instances_yaml(COUNT, 150));
    let vipd_b = b.start_vipd(&many_instances_yaml(COUNT, 100));
    wait_for(Duration::from_secs(10), "40 Masters on gw-a", || {
        instance_totals(&vipd_a, "MASTER").is_some_and(|t| t.in_state == usize::from(COUNT))
            && instance_totals(&vipd_b, "BACKUP").is_some_and(|t| t.in_state == usize::from(COUNT))
    });
    // The groups settle within a few intervals.
    std::thread::sleep(Duration::from_secs(1));
    let before = instance_totals(&vipd_b, "BACKUP").expect("gw-b's status");
    let (woke_a, woke_b) = (loop_wake_ups(vipd_a.pid()), loop_wake_ups(vipd_b.pid()));
    std::thread::sleep(Duration::from_secs(2));
    let woke_a = loop_wake_ups(vipd_a.pid()) - woke_a;
    let woke_b = loop_wake_ups(vipd_b.pid()) - woke_b;
    let after = instance_totals(&vipd_b, "BACKUP").expect("gw-b's status");
    let heard = after.adverts_received - before.adverts_received;
    eprintln!(
        "in 2 s: gw-b heard {heard} adverts; gw-a's loop woke {woke_a} times, gw-b's {woke_b}"
    );
    // 40 instances x 10 adverts a second x 2 s.
    assert!(
        (700..=900).contains(&heard),
        "gw-b heard {heard} adverts in 2 s"
    );
    assert_eq!(after.in_state, usize::from(COUNT), "gw-b left Backup");
    assert_eq!(
        after.become_master, before.become_master,
        "gw-b took over meanwhile"
    );
    // At most four groups an interval: 80 wake-ups of the sender in 2 s; the reader two or
    // three per group. One per advert would be 800.
    assert!(
        woke_a <= 120,
        "gw-a's loop woke {woke_a} times to send {heard} adverts"
    );
    assert!(
        woke_b <= 300,
        "gw-b's loop woke {woke_b} times to read {heard} adverts"
    );
}
