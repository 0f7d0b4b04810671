//! What the transition hooks did, as the snapshot, `vipd status` and `/metrics` show it: each
//! conntrackd integration's steps (succeeded and failed, the last failure) and each link
//! action's interface (applied and failed, the last failure).

use serde::{Deserialize, Serialize};

/// One instance's or sync group's conntrackd integration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConntrackdStatus {
    /// `INSTANCE NAME` or `GROUP NAME`.
    pub subject: String,
    /// `ftfw`, `notrack` or `alarm`.
    pub mode: String,
    /// Sequences finished (one per transition that had steps).
    pub sequences: u64,
    pub steps: Vec<StepCount>,
    /// The state of the last sequence finished, and how long it took.
    pub last_state: Option<String>,
    pub last_duration_ms: Option<f64>,
    /// `step: why` of the last failed step, and when (seconds since the epoch).
    pub last_error: Option<String>,
    pub last_error_at: Option<f64>,
}

/// How often one step succeeded and failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepCount {
    /// `commit`, `flush`, `resync`, `bulk_send`, `check`, `start`, `reset_timers`,
    /// `request_resync`.
    pub step: String,
    pub succeeded: u64,
    pub failed: u64,
}

/// The link actions on one interface.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkActionStatus {
    pub interface: String,
    pub applied: u64,
    pub failed: u64,
    /// What the last action asked: `up` or `down`.
    pub last: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<f64>,
}

/// Every hook's record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HooksStatus {
    #[serde(default)]
    pub conntrackd: Vec<ConntrackdStatus>,
    #[serde(default)]
    pub link_actions: Vec<LinkActionStatus>,
}

impl HooksStatus {
    /// `vipd status` lines: one per conntrackd integration and one per interface with actions.
    pub fn render_text(&self, out: &mut String) {
        use std::fmt::Write;
        for c in &self.conntrackd {
            let steps: Vec<String> = c
                .steps
                .iter()
                .map(|s| format!("{} {}/{}", s.step, s.succeeded, s.succeeded + s.failed))
                .collect();
            let _ = write!(
                out,
                "conntrackd ({}) for {}: {} sequence(s)",
                c.mode, c.subject, c.sequences
            );
            if let (Some(state), Some(ms)) = (&c.last_state, c.last_duration_ms) {
                let _ = write!(out, ", last {state} in {ms:.0} ms");
            }
            if !steps.is_empty() {
                let _ = write!(out, "; steps ok/run: {}", steps.join(", "));
            }
            out.push('\n');
            if let Some(e) = &c.last_error {
                let _ = writeln!(out, "  last failure: {e}");
            }
        }
        for l in &self.link_actions {
            let _ = writeln!(
                out,
                "link action {}: {} applied, {} failed{}{}",
                l.interface,
                l.applied,
                l.failed,
                l.last
                    .as_deref()
                    .map(|s| format!(", last set {s}"))
                    .unwrap_or_default(),
                l.last_error
                    .as_deref()
                    .map(|e| format!("; last failure: {e}"))
                    .unwrap_or_default(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_names_each_integration_its_steps_and_the_last_failure() {
        let hooks = HooksStatus {
            conntrackd: vec![ConntrackdStatus {
                subject: "INSTANCE VI_gateway".into(),
                mode: "ftfw".into(),
                sequences: 2,
                steps: vec![StepCount {
                    step: "commit".into(),
                    succeeded: 1,
                    failed: 1,
                }],
                last_state: Some("MASTER".into()),
                last_duration_ms: Some(12.0),
                last_error: Some("commit: timed out".into()),
                last_error_at: Some(1.0),
            }],
            link_actions: vec![LinkActionStatus {
                interface: "wan".into(),
                applied: 3,
                failed: 1,
                last: Some("up".into()),
                last_error: Some("no such interface".into()),
                last_error_at: Some(1.0),
            }],
        };
        let mut text = String::new();
        hooks.render_text(&mut text);
        assert_eq!(
            text,
            "conntrackd (ftfw) for INSTANCE VI_gateway: 2 sequence(s), last MASTER in 12 ms; steps ok/run: commit 1/2\n  last failure: commit: timed out\nlink action wan: 3 applied, 1 failed, last set up; last failure: no such interface\n"
        );
        let mut quiet = String::new();
        HooksStatus::default().render_text(&mut quiet);
        assert!(quiet.is_empty());
    }
}
