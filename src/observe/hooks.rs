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
