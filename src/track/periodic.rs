//! The periodic runner shared by scripts and built-in probes: a first run soon after the start,
//! then one per interval, never two at once (an interval that comes while the previous run is
//! still going is skipped and counted), each run reported when it ends. The check itself enforces
//! its timeout.
//!
//! The first runs are staggered: a hundred instances' checks with the same interval, all started
//! in the same millisecond, would hit one backend together every interval (and overflow its
//! listen backlog). Each tracker's first run waits [`first_run_offset`]: its slot's place in a
//! golden-ratio sequence, which spreads any number of slots evenly and deterministically, scaled
//! to the interval, at most [`SPREAD_WITHIN`] so that a long interval does not delay the first
//! result (which an instance may be waiting for) by more than that.

use std::future::Future;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::{Report, RunOutcome, RunReport, TrackId, TrackUpdate, TrackerHandle};

/// How one run ended, as the check reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    pub outcome: RunOutcome,
    pub last_stderr_line: Option<String>,
}

/// The longest wait for a tracker's first run.
pub(super) const SPREAD_WITHIN: Duration = Duration::from_secs(1);

/// When, after its start, the tracker in slot `id` first runs a check of this `interval`: the
/// fractional part of `slot × golden ratio` (Fibonacci hashing: any run of slots is spread
/// evenly, and a new slot never moves the others) of `min(interval, SPREAD_WITHIN)`. Slot 0
/// runs at once.
pub(super) fn first_run_offset(id: TrackId, interval: Duration) -> Duration {
    // 2^32 / golden ratio.
    const GOLDEN: u32 = 0x9E37_79B9;
    let fraction = u128::from(id.index().wrapping_mul(GOLDEN));
    let window = interval.min(SPREAD_WITHIN).as_nanos();
    Duration::from_nanos(((window * fraction) >> 32) as u64)
}

/// Runs `check` every `interval` (the first run after [`first_run_offset`]) and reports each run
/// as `id`. The task ends when the receiver is gone; dropping the handle aborts it together with
/// a run in flight.
pub(super) fn spawn<F, Fut>(
    id: TrackId,
    interval: Duration,
    mut check: F,
    updates: mpsc::Sender<TrackUpdate>,
) -> TrackerHandle
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = CheckResult> + Send + 'static,
{
    let interval = interval.max(Duration::from_millis(1));
    let task = tokio::spawn(async move {
        let first = Instant::now() + first_run_offset(id, interval);
        let mut ticks = tokio::time::interval_at(first, interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut running: Option<(Instant, std::pin::Pin<Box<Fut>>)> = None;
        let mut skipped = 0u32;
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    if running.is_some() {
                        skipped = skipped.saturating_add(1);
                        tracing::debug!(tracker = %id, "previous run still going: interval skipped");
                    } else {
                        running = Some((Instant::now(), Box::pin(check())));
                    }
                }
                result = async { running.as_mut().expect("guarded").1.as_mut().await },
                    if running.is_some() =>
                {
                    let (started, _) = running.take().expect("guarded");
                    let report = RunReport {
                        finished_at: SystemTime::now(),
                        duration: started.elapsed(),
                        outcome: result.outcome,
                        last_stderr_line: result.last_stderr_line,
                        skipped_intervals: std::mem::take(&mut skipped),
                    };
                    let update = TrackUpdate { id, report: Report::Run(report) };
                    if updates.send(update).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    TrackerHandle::new(task)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio::sync::mpsc;

    use super::{first_run_offset, spawn, CheckResult, SPREAD_WITHIN};
    use crate::track::{Report, RunOutcome, TrackId};

    fn id() -> TrackId {
        slot(0)
    }

    fn slot(index: u32) -> TrackId {
        TrackId {
            index,
            generation: 0,
        }
    }

    fn passed() -> CheckResult {
        CheckResult {
            outcome: RunOutcome::Passed,
            last_stderr_line: None,
        }
    }

    /// Starts `count` trackers in slots 0.. with `interval`, all at the same instant, and returns
    /// when each ran its first and second check, from the start, by slot.
    async fn first_two_runs(count: u32, interval: Duration) -> Vec<(Duration, Duration)> {
        let started = tokio::time::Instant::now();
        let (tx, mut rx) = mpsc::channel(1024);
        let runs: Arc<Mutex<Vec<Vec<Duration>>>> =
            Arc::new(Mutex::new(vec![Vec::new(); count as usize]));
        let mut handles = Vec::new();
        for index in 0..count {
            let runs = Arc::clone(&runs);
            handles.push(spawn(
                slot(index),
                interval,
                move || {
                    runs.lock().unwrap()[index as usize].push(started.elapsed());
                    async { passed() }
                },
                tx.clone(),
            ));
        }
        for _ in 0..count * 2 {
            rx.recv().await.unwrap();
        }
        let runs = runs.lock().unwrap();
        runs.iter().map(|at| (at[0], at[1])).collect()
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn checks_with_one_interval_are_spread_across_it_and_keep_their_phase() {
        let interval = Duration::from_secs(1);
        let runs = first_two_runs(100, interval).await;
        let mut firsts: Vec<Duration> = runs.iter().map(|(first, _)| *first).collect();
        assert_eq!(firsts[0], Duration::ZERO, "slot 0 runs at once");
        for (first, second) in &runs {
            assert!(*first < interval, "{first:?}");
            assert_eq!(*second, *first + interval, "one interval apart");
        }
        firsts.sort();
        let gaps: Vec<Duration> = firsts.windows(2).map(|w| w[1] - w[0]).collect();
        let (smallest, largest) = (gaps.iter().min().unwrap(), gaps.iter().max().unwrap());
        // Evenly: 100 runs in 1 s are 10 ms apart on average; the golden-ratio sequence keeps
        // every gap within a small factor of that.
        assert!(*smallest >= Duration::from_millis(3), "{smallest:?}");
        assert!(*largest <= Duration::from_millis(25), "{largest:?}");
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_long_interval_still_gives_a_first_result_within_a_second() {
        let runs = first_two_runs(20, Duration::from_secs(60)).await;
        let mut firsts: Vec<Duration> = runs.iter().map(|(first, _)| *first).collect();
        assert!(
            firsts.iter().all(|first| *first < SPREAD_WITHIN),
            "{firsts:?}"
        );
        firsts.sort();
        firsts.dedup();
        assert_eq!(firsts.len(), 20, "no two in the same instant");
        // A short interval is spread over itself only.
        let short = first_two_runs(20, Duration::from_millis(100)).await;
        assert!(short
            .iter()
            .all(|(first, _)| *first < Duration::from_millis(100)));
    }

    #[test]
    fn offsets_are_deterministic_and_within_the_window() {
        let interval = Duration::from_millis(500);
        for index in [0, 1, 2, 7, 1000, u32::MAX] {
            let offset = first_run_offset(slot(index), interval);
            assert_eq!(offset, first_run_offset(slot(index), interval));
            assert!(offset < interval, "{index}: {offset:?}");
        }
        assert_eq!(first_run_offset(slot(0), interval), Duration::ZERO);
        // The second slot lands at 1/golden ratio of the window: 0.618.
        let second = first_run_offset(slot(1), Duration::from_secs(1));
        assert_eq!(second.as_millis(), 618);
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_slow_check_is_never_run_twice_at_once_and_skips_are_counted() {
        let in_flight = Arc::new(AtomicU32::new(0));
        let most = Arc::new(AtomicU32::new(0));
        let (tx, mut rx) = mpsc::channel(16);
        let (flight, peak) = (Arc::clone(&in_flight), Arc::clone(&most));
        let _handle = spawn(
            id(),
            Duration::from_millis(100),
            move || {
                let (flight, peak) = (Arc::clone(&flight), Arc::clone(&peak));
                async move {
                    let now = flight.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(350)).await;
                    flight.fetch_sub(1, Ordering::SeqCst);
                    CheckResult {
                        outcome: RunOutcome::Passed,
                        last_stderr_line: None,
                    }
                }
            },
            tx,
        );
        let mut skipped = Vec::new();
        for _ in 0..3 {
            let update = rx.recv().await.unwrap();
            let Report::Run(run) = update.report else {
                panic!("a run report");
            };
            assert!(run.duration >= Duration::from_millis(350));
            skipped.push(run.skipped_intervals);
        }
        assert_eq!(most.load(Ordering::SeqCst), 1, "one run at a time");
        assert_eq!(
            skipped,
            vec![3, 3, 3],
            "ticks at +100, +200, +300 ms of each run"
        );
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn the_first_run_is_at_once_then_one_per_interval() {
        let started = tokio::time::Instant::now();
        let (tx, mut rx) = mpsc::channel(16);
        let _handle = spawn(
            id(),
            Duration::from_secs(2),
            || async {
                CheckResult {
                    outcome: RunOutcome::Exited(3),
                    last_stderr_line: Some("why".into()),
                }
            },
            tx,
        );
        let mut at = Vec::new();
        for _ in 0..3 {
            let update = rx.recv().await.unwrap();
            let Report::Run(run) = update.report else {
                panic!("a run report");
            };
            assert_eq!(run.outcome, RunOutcome::Exited(3));
            assert_eq!(run.last_stderr_line.as_deref(), Some("why"));
            at.push(started.elapsed().as_secs());
        }
        assert_eq!(at, vec![0, 2, 4]);
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn dropping_the_handle_stops_the_runs() {
        let runs = Arc::new(AtomicU32::new(0));
        let (tx, mut rx) = mpsc::channel(16);
        let counter = Arc::clone(&runs);
        let handle = spawn(
            id(),
            Duration::from_millis(10),
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async {
                    CheckResult {
                        outcome: RunOutcome::Passed,
                        last_stderr_line: None,
                    }
                }
            },
            tx,
        );
        rx.recv().await.unwrap();
        drop(handle);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let after_drop = runs.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(runs.load(Ordering::SeqCst), after_drop);
        assert!(after_drop <= 2, "{after_drop}");
    }
}
