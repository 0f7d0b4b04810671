//! The event loop's table of trackers: the [`TrackId`] space (slots with generations), each
//! tracker's verdict and what status shows about it, and the pure step from a runner's
//! [`TrackUpdate`] to a [`Change`]. Running a tracker is [`super::spawn`]'s job; the registry only
//! keeps the handle so that removing a tracker stops it.

use std::time::SystemTime;

use super::{
    spawn, Change, FileReading, Hysteresis, Report, RunReport, SpawnContext, TrackId, TrackUpdate,
    TrackerHandle, TrackerKind, TrackerSpec, Verdict,
};

/// What `vipd status` shows about one tracker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackerStatus {
    /// The verdict the router was last told (or will start from).
    pub verdict: Verdict,
    /// When the verdict last changed (None: never, it is the starting one).
    pub verdict_since: Option<SystemTime>,
    /// The last run of a periodic check: when, how long, how it ended, its last stderr line.
    pub last_run: Option<RunReport>,
    /// Successes since the last failure (periodic checks).
    pub passes_in_a_row: u32,
    /// Failures since the last success (periodic checks).
    pub failures_in_a_row: u32,
    /// Runs finished (periodic checks).
    pub runs: u64,
    /// Intervals skipped because the previous run was still going.
    pub skipped_intervals: u64,
    /// The last reading of a tracked file.
    pub file: Option<FileReading>,
    /// How many matching processes run now.
    pub processes: Option<u32>,
    /// Why the runner stopped observing, or could not start, if it did.
    pub stopped: Option<String>,
    /// How the runner observes instead of its usual way, and why (see [`Report::Fallback`]).
    pub fallback: Option<String>,
}

impl TrackerStatus {
    fn new(verdict: Verdict) -> TrackerStatus {
        TrackerStatus {
            verdict,
            verdict_since: None,
            last_run: None,
            passes_in_a_row: 0,
            failures_in_a_row: 0,
            runs: 0,
            skipped_intervals: 0,
            file: None,
            processes: None,
            stopped: None,
            fallback: None,
        }
    }
}

struct Entry {
    spec: TrackerSpec,
    status: TrackerStatus,
    /// Rise/fall for scripts and probes; None for files and processes (no hysteresis there).
    hysteresis: Option<Hysteresis>,
    handle: Option<TrackerHandle>,
}

struct Slot {
    generation: u32,
    entry: Option<Entry>,
}

/// Every tracker of the running configuration.
#[derive(Default)]
pub struct Trackers {
    slots: Vec<Slot>,
}

impl Trackers {
    pub fn new() -> Trackers {
        Trackers::default()
    }

    /// Registers a tracker; nothing runs until [`Trackers::run`]. Its verdict starts as
    /// [`Verdict::Unknown`], or [`Verdict::Failing`] for a periodic check with `init_fail`.
    pub fn add(&mut self, spec: TrackerSpec) -> TrackId {
        let hysteresis = match spec.kind {
            TrackerKind::Script { .. } | TrackerKind::Probe(_) => {
                Some(Hysteresis::new(spec.rise, spec.fall, spec.init_fail))
            }
            TrackerKind::File { .. } | TrackerKind::Process(_) => None,
        };
        let verdict = hysteresis.map_or(Verdict::Unknown, |h| h.verdict().into());
        let entry = Entry {
            spec,
            status: TrackerStatus::new(verdict),
            hysteresis,
            handle: None,
        };
        let free = self.slots.iter().position(|slot| slot.entry.is_none());
        let index = match free {
            Some(index) => {
                let slot = &mut self.slots[index];
                slot.generation = slot.generation.wrapping_add(1);
                slot.entry = Some(entry);
                index
            }
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    entry: Some(entry),
                });
                self.slots.len() - 1
            }
        };
        TrackId {
            index: index as u32,
            generation: self.slots[index].generation,
        }
    }

    /// Starts (or restarts) the tracker's runner. Inside the tokio runtime only.
    pub fn run(&mut self, id: TrackId, context: &SpawnContext) -> Result<(), String> {
        let entry = self
            .entry_mut(id)
            .ok_or_else(|| format!("{id}: no such tracker"))?;
        entry.handle = None;
        entry.status.stopped = None;
        entry.status.fallback = None;
        match spawn(id, &entry.spec, context) {
            Ok(handle) => {
                entry.handle = Some(handle);
                Ok(())
            }
            Err(e) => {
                // Status must say why nothing observes it, not only the log.
                entry.status.stopped = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Unregisters a tracker and stops its runner; later updates with this id are ignored.
    pub fn remove(&mut self, id: TrackId) -> Option<TrackerSpec> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.entry.take().map(|entry| entry.spec)
    }

    /// Applies one runner report; returns the new verdict when it changed. Stale updates (from
    /// a removed tracker) are ignored.
    pub fn on_update(&mut self, update: TrackUpdate) -> Option<Change> {
        let id = update.id;
        let entry = self.entry_mut(id)?;
        let status = &mut entry.status;
        let verdict = match update.report {
            Report::Run(run) => {
                let hysteresis = entry.hysteresis.as_mut()?;
                let moved = hysteresis.record(run.outcome.passed());
                status.passes_in_a_row = hysteresis.passes_in_a_row();
                status.failures_in_a_row = hysteresis.failures_in_a_row();
                status.runs += 1;
                status.skipped_intervals += u64::from(run.skipped_intervals);
                status.last_run = Some(run);
                moved.map(Verdict::from)
            }
            Report::File(reading) => {
                let value = reading.value();
                status.file = Some(reading);
                value.map(Verdict::Value)
            }
            Report::Processes { count, quorum } => {
                status.processes = Some(count);
                Some(if quorum {
                    Verdict::Passing
                } else {
                    Verdict::Failing
                })
            }
            Report::Stopped(reason) => {
                status.stopped = Some(reason);
                None
            }
            Report::Fallback(how) => {
                status.fallback = Some(how);
                None
            }
        }?;
        if verdict == status.verdict {
            return None;
        }
        status.verdict = verdict;
        status.verdict_since = Some(SystemTime::now());
        Some(Change { id, verdict })
    }

    /// The tracker's verdict now.
    pub fn verdict(&self, id: TrackId) -> Option<Verdict> {
        self.entry(id).map(|entry| entry.status.verdict)
    }

    /// What status shows about the tracker.
    pub fn status(&self, id: TrackId) -> Option<&TrackerStatus> {
        self.entry(id).map(|entry| &entry.status)
    }

    /// The tracker's spec.
    pub fn spec(&self, id: TrackId) -> Option<&TrackerSpec> {
        self.entry(id).map(|entry| &entry.spec)
    }

    /// The live tracker with this name.
    pub fn find(&self, name: &str) -> Option<TrackId> {
        self.iter()
            .find(|(_, spec, _)| spec.name == name)
            .map(|(id, _, _)| id)
    }

    /// Every live tracker, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (TrackId, &TrackerSpec, &TrackerStatus)> {
        self.slots.iter().enumerate().filter_map(|(index, slot)| {
            let entry = slot.entry.as_ref()?;
            let id = TrackId {
                index: index as u32,
                generation: slot.generation,
            };
            Some((id, &entry.spec, &entry.status))
        })
    }

    /// How many trackers are registered.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entry(&self, id: TrackId) -> Option<&Entry> {
        let slot = self.slots.get(id.index as usize)?;
        (slot.generation == id.generation)
            .then_some(slot.entry.as_ref())
            .flatten()
    }

    fn entry_mut(&mut self, id: TrackId) -> Option<&mut Entry> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.entry.as_mut()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::{Duration, SystemTime};

    use super::Trackers;
    use crate::track::{
        FileReading, ProcessSpec, Report, RunOutcome, RunReport, TrackUpdate, TrackerKind,
        TrackerSpec, Verdict,
    };

    fn script(name: &str, rise: u32, fall: u32, init_fail: bool) -> TrackerSpec {
        TrackerSpec {
            name: name.to_string(),
            kind: TrackerKind::Script {
                command: "true".to_string(),
                user: None,
            },
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            rise,
            fall,
            init_fail,
        }
    }

    fn file(name: &str) -> TrackerSpec {
        TrackerSpec {
            kind: TrackerKind::File {
                path: PathBuf::from("/run/vipd/none"),
                init: None,
            },
            ..script(name, 1, 1, false)
        }
    }

    fn run(passed: bool) -> Report {
        Report::Run(RunReport {
            finished_at: SystemTime::now(),
            duration: Duration::from_millis(3),
            outcome: if passed {
                RunOutcome::Passed
            } else {
                RunOutcome::Exited(1)
            },
            last_stderr_line: (!passed).then(|| "no backend".to_string()),
            skipped_intervals: 1,
        })
    }

    #[test]
    fn a_script_starts_unknown_or_failing_and_changes_only_when_hysteresis_flips() {
        let mut trackers = Trackers::new();
        let a = trackers.add(script("a", 2, 2, false));
        let b = trackers.add(script("b", 2, 2, true));
        assert_eq!(trackers.verdict(a), Some(Verdict::Unknown));
        assert_eq!(trackers.verdict(b), Some(Verdict::Failing));
        let change = trackers.on_update(TrackUpdate {
            id: a,
            report: run(true),
        });
        assert_eq!(
            change.map(|c| (c.id, c.verdict)),
            Some((a, Verdict::Passing))
        );
        assert_eq!(
            trackers.on_update(TrackUpdate {
                id: a,
                report: run(false)
            }),
            None
        );
        let change = trackers.on_update(TrackUpdate {
            id: a,
            report: run(false),
        });
        assert_eq!(change.map(|c| c.verdict), Some(Verdict::Failing));
        let status = trackers.status(a).unwrap();
        assert_eq!((status.passes_in_a_row, status.failures_in_a_row), (0, 2));
        assert_eq!((status.runs, status.skipped_intervals), (3, 3));
        let last = status.last_run.as_ref().unwrap();
        assert_eq!(last.outcome, RunOutcome::Exited(1));
        assert_eq!(last.last_stderr_line.as_deref(), Some("no backend"));
        assert!(status.verdict_since.is_some());
        assert_eq!(
            trackers.on_update(TrackUpdate {
                id: b,
                report: run(true)
            }),
            None
        );
        let change = trackers.on_update(TrackUpdate {
            id: b,
            report: run(true),
        });
        assert_eq!(change.map(|c| c.verdict), Some(Verdict::Passing));
    }

    #[test]
    fn file_readings_change_the_value_and_invalid_numbers_keep_it() {
        let mut trackers = Trackers::new();
        let f = trackers.add(file("f"));
        assert_eq!(trackers.verdict(f), Some(Verdict::Unknown));
        let update = |reading| TrackUpdate {
            id: f,
            report: Report::File(reading),
        };
        let change = trackers.on_update(update(FileReading::Absent));
        assert_eq!(
            change.map(|c| c.verdict),
            Some(Verdict::Value(0)),
            "missing is 0"
        );
        assert_eq!(trackers.on_update(update(FileReading::Number(0))), None);
        let change = trackers.on_update(update(FileReading::Number(-7)));
        assert_eq!(change.map(|c| c.verdict), Some(Verdict::Value(-7)));
        let invalid = FileReading::Invalid("99999999999".to_string());
        assert_eq!(trackers.on_update(update(invalid.clone())), None);
        assert_eq!(trackers.verdict(f), Some(Verdict::Value(-7)), "kept");
        assert_eq!(trackers.status(f).unwrap().file, Some(invalid));
    }

    #[test]
    fn process_reports_set_the_quorum_verdict_and_the_count() {
        let mut trackers = Trackers::new();
        let p = trackers.add(TrackerSpec {
            kind: TrackerKind::Process(ProcessSpec::new("haproxy")),
            ..script("p", 1, 1, true)
        });
        assert_eq!(
            trackers.verdict(p),
            Some(Verdict::Unknown),
            "init_fail is for checks"
        );
        let report = |count, quorum| TrackUpdate {
            id: p,
            report: Report::Processes { count, quorum },
        };
        let change = trackers.on_update(report(2, true));
        assert_eq!(change.map(|c| c.verdict), Some(Verdict::Passing));
        assert_eq!(trackers.on_update(report(3, true)), None);
        assert_eq!(trackers.status(p).unwrap().processes, Some(3));
        let change = trackers.on_update(report(0, false));
        assert_eq!(change.map(|c| c.verdict), Some(Verdict::Failing));
    }

    #[test]
    fn a_fallback_note_is_status_not_an_error_and_a_stop_is_an_error() {
        let mut trackers = Trackers::new();
        let p = trackers.add(TrackerSpec {
            kind: TrackerKind::Process(ProcessSpec::new("haproxy")),
            ..script("p", 1, 1, false)
        });
        let note = TrackUpdate {
            id: p,
            report: Report::Fallback("scanning /proc".into()),
        };
        assert_eq!(trackers.on_update(note), None);
        let status = trackers.status(p).unwrap();
        assert_eq!(status.fallback.as_deref(), Some("scanning /proc"));
        assert_eq!(status.stopped, None, "it still observes");
        let stop = TrackUpdate {
            id: p,
            report: Report::Stopped("gone".into()),
        };
        assert_eq!(trackers.on_update(stop), None, "the verdict stays");
        assert_eq!(trackers.status(p).unwrap().stopped.as_deref(), Some("gone"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_tracker_that_cannot_start_says_why_in_status() {
        let mut trackers = Trackers::new();
        let id = trackers.add(TrackerSpec {
            kind: TrackerKind::Script {
                command: "true".into(),
                user: Some(vipd_config::ScriptUser {
                    user: "vipd-no-such-user-y".into(),
                    group: None,
                }),
            },
            ..script("s", 1, 1, false)
        });
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let context = crate::track::SpawnContext {
            updates: tx,
            policy: std::sync::Arc::new(crate::system::exec::ScriptPolicy::root()),
            reload: false,
        };
        let error = trackers.run(id, &context).unwrap_err();
        assert!(error.contains("vipd-no-such-user-y"), "{error}");
        assert_eq!(trackers.status(id).unwrap().stopped, Some(error));
    }

    #[test]
    fn removed_ids_are_stale_even_when_their_slot_is_reused() {
        let mut trackers = Trackers::new();
        let old = trackers.add(script("old", 1, 1, false));
        assert_eq!(
            trackers.remove(old).map(|s| s.name),
            Some("old".to_string())
        );
        let new = trackers.add(script("new", 1, 1, false));
        assert_eq!(new.index(), old.index(), "the slot is reused");
        assert_ne!(new, old);
        assert_eq!(
            trackers.on_update(TrackUpdate {
                id: old,
                report: run(true)
            }),
            None
        );
        assert_eq!(trackers.verdict(old), None);
        assert_eq!(trackers.remove(old), None);
        assert_eq!(trackers.find("new"), Some(new));
        assert_eq!(trackers.find("old"), None);
        assert_eq!(trackers.len(), 1);
        let change = trackers.on_update(TrackUpdate {
            id: new,
            report: run(true),
        });
        assert_eq!(change.map(|c| c.id), Some(new));
    }

    #[test]
    fn verdicts_map_to_router_inputs_and_statuses() {
        use vipd_router::{Input, TrackStatus};
        assert_eq!(Verdict::Unknown.router_input(3), None);
        assert_eq!(
            Verdict::Failing.router_input(3),
            Some(Input::TrackedObjectChanged { id: 3, up: false })
        );
        assert_eq!(
            Verdict::Value(-4).router_input(3),
            Some(Input::TrackedValueChanged { id: 3, value: -4 })
        );
        assert_eq!(TrackStatus::from(Verdict::Passing), TrackStatus::Up);
        assert_eq!(TrackStatus::from(Verdict::Unknown), TrackStatus::Unknown);
    }
}
