//! `vipd_conntrackd_*` and `vipd_link_actions_total`: what the transition hooks did, with the
//! subject (`INSTANCE NAME` / `GROUP NAME`) or interface as label.

use super::{Exposition, Snapshot};

pub(super) fn render(x: &mut Exposition, snapshot: &Snapshot) {
    let hooks = &snapshot.hooks;
    if !hooks.conntrackd.is_empty() {
        x.header(
            "vipd_conntrackd_sequences_total",
            "counter",
            "conntrackd primary-backup sequences finished (one per transition with steps)",
        );
        for c in &hooks.conntrackd {
            x.start("vipd_conntrackd_sequences_total", "")
                .label("subject", &c.subject)
                .value(c.sequences);
        }
        x.header(
            "vipd_conntrackd_steps_total",
            "counter",
            "conntrackd steps run (commit, flush, resync, bulk_send, check, start, reset_timers, request_resync), by result: ok, or failed (exit status, timeout, no answer on the control socket)",
        );
        for c in &hooks.conntrackd {
            for s in &c.steps {
                for (result, n) in [("ok", s.succeeded), ("failed", s.failed)] {
                    x.start("vipd_conntrackd_steps_total", "")
                        .label("subject", &c.subject)
                        .label("step", &s.step)
                        .label_raw("result", result)
                        .value(n);
                }
            }
        }
    }
    if !hooks.link_actions.is_empty() {
        x.header(
            "vipd_link_actions_total",
            "counter",
            "Link actions (link_up / link_down of on_master, on_backup, on_fault, on_stop) by interface and result: ok or failed",
        );
        for l in &hooks.link_actions {
            for (result, n) in [("ok", l.applied), ("failed", l.failed)] {
                x.start("vipd_link_actions_total", "")
                    .label("interface", &l.interface)
                    .label_raw("result", result)
                    .value(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::observe::hooks::{ConntrackdStatus, HooksStatus, LinkActionStatus, StepCount};
    use crate::observe::metrics::{render, Families};
    use crate::observe::Snapshot;

    #[test]
    fn steps_and_link_actions_come_out_by_result() {
        let snapshot = Snapshot {
            hooks: HooksStatus {
                conntrackd: vec![ConntrackdStatus {
                    subject: "INSTANCE VI_gateway".into(),
                    mode: "ftfw".into(),
                    sequences: 2,
                    steps: vec![StepCount {
                        step: "commit".into(),
                        succeeded: 1,
                        failed: 1,
                    }],
                    ..ConntrackdStatus::default()
                }],
                link_actions: vec![LinkActionStatus {
                    interface: "wan".into(),
                    applied: 3,
                    failed: 0,
                    ..LinkActionStatus::default()
                }],
            },
            ..Snapshot::default()
        };
        let text = render(&snapshot, Families::default());
        for line in [
            "vipd_conntrackd_sequences_total{subject=\"INSTANCE VI_gateway\"} 2",
            "vipd_conntrackd_steps_total{subject=\"INSTANCE VI_gateway\",step=\"commit\",result=\"ok\"} 1",
            "vipd_conntrackd_steps_total{subject=\"INSTANCE VI_gateway\",step=\"commit\",result=\"failed\"} 1",
            "vipd_link_actions_total{interface=\"wan\",result=\"ok\"} 3",
            "vipd_link_actions_total{interface=\"wan\",result=\"failed\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
        }
        let quiet = render(&Snapshot::default(), Families::default());
        assert!(!quiet.contains("vipd_conntrackd") && !quiet.contains("vipd_link_actions"));
    }
}
