//! The periodic runner shared by scripts and built-in probes: one run at the start and one per
//! interval, never two at once (an interval that comes while the previous run is still going is
//! skipped and counted), each run reported when it ends. The check itself enforces its timeout.

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

/// Runs `check` every `interval` (the first run at once) and reports each run as `id`. The task
/// ends when the receiver is gone; dropping the handle aborts it together with a run in flight.
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
        let mut ticks = tokio::time::interval(interval);
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
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::mpsc;

    use super::{spawn, CheckResult};
    use crate::track::{Report, RunOutcome, TrackId};

    fn id() -> TrackId {
        TrackId {
            index: 0,
            generation: 0,
        }
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
