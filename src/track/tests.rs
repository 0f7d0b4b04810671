//! The registry and a runner together: a built-in TCP probe inside a fresh network namespace
//! (loopback only), passing while a listener is up and failing once it is gone.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::probe::ProbeSpec;
use super::{Report, RunOutcome, SpawnContext, TrackerKind, TrackerSpec, Trackers, Verdict};
use crate::system::exec::ScriptPolicy;
use crate::system::testns::TestNs;

#[test]
fn a_tcp_probe_tracker_passes_with_a_listener_and_fails_without() {
    let ns = TestNs::create();
    ns.run(|| async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let spec = TrackerSpec {
            name: "api".into(),
            kind: TrackerKind::Probe(ProbeSpec::TcpConnect(address)),
            interval: Duration::from_millis(50),
            timeout: Duration::from_millis(500),
            rise: 2,
            fall: 1,
            init_fail: true,
        };
        let (tx, mut rx) = mpsc::channel(16);
        let context = SpawnContext {
            updates: tx,
            policy: Arc::new(ScriptPolicy::root()),
            reload: false,
        };
        let mut trackers = Trackers::new();
        let id = trackers.add(spec);
        assert_eq!(trackers.verdict(id), Some(Verdict::Failing), "init_fail");
        trackers.run(id, &context).unwrap();
        let mut changes = Vec::new();
        let mut listener = Some(listener);
        while changes.len() < 2 {
            let update = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("a run within 5 s")
                .unwrap();
            let outcome = match &update.report {
                Report::Run(run) => run.outcome.clone(),
                other => panic!("not a run: {other:?}"),
            };
            if let Some(change) = trackers.on_update(update) {
                changes.push((change.verdict, outcome.clone()));
                // Passing after `rise` successes: take the listener away.
                listener = None;
            }
        }
        drop(listener);
        assert_eq!(
            changes,
            vec![
                (Verdict::Passing, RunOutcome::Passed),
                (
                    Verdict::Failing,
                    RunOutcome::Failed("connection refused".into())
                ),
            ]
        );
        let status = trackers.status(id).unwrap();
        assert_eq!((status.passes_in_a_row, status.failures_in_a_row), (0, 1));
        assert!(
            status.runs >= 3,
            "two to rise, one to fall: {}",
            status.runs
        );
    });
}
