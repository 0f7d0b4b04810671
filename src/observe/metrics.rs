//! TEMPORARY STAND-IN for the metrics helper's `metrics.rs` (branch wip-metrics), so that the
//! HTTP listener can be built and tested before it lands: same `Families` and `render` signature,
//! renders only `keepalived_up 1`. The lead deletes this file when merging wip-metrics.

use super::Snapshot;

/// Which metric families `/metrics` renders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Families {
    pub mehdy: bool,
    pub gen2brain: bool,
    pub vipd: bool,
}

impl Default for Families {
    fn default() -> Self {
        Families {
            mehdy: true,
            gen2brain: true,
            vipd: true,
        }
    }
}

/// Prometheus text format 0.0.4 (stand-in: `keepalived_up` only).
pub fn render(_snapshot: &Snapshot, _families: Families) -> String {
    "# HELP keepalived_up Status\n# TYPE keepalived_up gauge\nkeepalived_up 1\n".to_owned()
}
