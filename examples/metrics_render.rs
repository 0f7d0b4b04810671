//! Prints how long `/metrics` takes to render for a synthetic daemon of 255 instances (median,
//! p99 and worst of 200 renders, in wall-clock time and in the thread's CPU time, which leaves
//! out the time other processes held the core) and how large the exposition is; `--dump N`
//! prints the exposition of N instances instead. A program that prints figures, not a timed
//! test: `cargo run --release --example metrics_render`.

use std::time::{Duration, Instant};

use vipd::observe::metrics::{render, Families};
use vipd::observe::Snapshot;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, n] = args.as_slice() {
        if flag == "--dump" {
            let n = n.parse().expect("--dump takes a number of instances");
            print!("{}", render(&Snapshot::synthetic(n), Families::default()));
            return;
        }
    }
    const INSTANCES: usize = 255;
    const RENDERS: usize = 200;
    let snapshot = Snapshot::synthetic(INSTANCES);
    for (label, families) in [
        ("all families", Families::default()),
        (
            "keepalived_exporter only",
            Families {
                mehdy: true,
                gen2brain: false,
                vipd: false,
            },
        ),
    ] {
        // Warm up the allocator and caches once.
        let first = render(&snapshot, families);
        let (mut wall, mut cpu): (Vec<Duration>, Vec<Duration>) = (0..RENDERS)
            .map(|_| {
                let (start, start_cpu) = (Instant::now(), thread_cpu_time());
                let text = render(&snapshot, families);
                let took = (start.elapsed(), thread_cpu_time() - start_cpu);
                std::hint::black_box(text);
                took
            })
            .unzip();
        wall.sort();
        cpu.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{INSTANCES} instances, {label}: {} series, {} bytes",
            first.lines().filter(|l| !l.starts_with('#')).count(),
            first.len(),
        );
        for (clock, times) in [("wall", &wall), ("cpu", &cpu)] {
            println!(
                "  {clock:>4} over {RENDERS} renders: median {:.3} ms, p99 {:.3} ms, max {:.3} ms",
                ms(times[RENDERS / 2]),
                ms(times[RENDERS * 99 / 100]),
                ms(times[RENDERS - 1]),
            );
        }
    }
}

fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}
