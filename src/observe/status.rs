//! The status report: what `vipd status` prints, as the daemon builds it and as the control socket carries it.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The whole daemon's state, as reported on the control socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusReport {
    pub pid: u32,
    pub uptime_ms: u64,
    pub instances: Vec<InstanceStatus>,
    /// System errors not tied to one instance (e.g. a failed netlink subscription).
    pub errors: Vec<String>,
    /// The outcome of the last configuration reload (SIGHUP or `vipd reload`), if one happened.
    /// A rejected reload stays here until a later one is applied.
    #[serde(default)]
    pub last_reload: Option<ReloadReport>,
    /// conntrackd steps and link actions: counts and last failures.
    #[serde(default)]
    pub hooks: crate::observe::hooks::HooksStatus,
}

/// What a configuration reload did, as `vipd reload` prints it and status shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReloadReport {
    /// When it happened (UTC, `2024-05-01T12:00:00Z`).
    pub at: String,
    /// The same instant in seconds since the epoch (for `vipd_reload_timestamp_seconds`).
    #[serde(default)]
    pub at_unix: u64,
    /// The configuration file that was read.
    pub file: String,
    /// Whether the new configuration was applied; false when it was rejected and nothing changed.
    pub applied: bool,
    /// Why it was rejected: each error as `vipd check` prints it (`file:line:col: key: message`).
    pub errors: Vec<String>,
    /// Warnings about the new file (non-fatal).
    pub warnings: Vec<String>,
    /// What changed, one line per instance (`VI_1: changed, state kept`, `VI_2: added`, …).
    pub changes: Vec<String>,
    /// Changes that were not applied because they need vipd restarted.
    pub needs_restart: Vec<String>,
}

impl ReloadReport {
    /// The lines `vipd reload` and `vipd status` print.
    pub fn render_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        if self.applied {
            let _ = writeln!(out, "reload at {}: {} applied", self.at, self.file);
        } else {
            let _ = writeln!(
                out,
                "reload at {}: {} rejected, nothing changed",
                self.at, self.file
            );
        }
        for e in &self.errors {
            let _ = writeln!(out, "    error: {e}");
        }
        for w in &self.warnings {
            let _ = writeln!(out, "    warning: {w}");
        }
        for c in &self.changes {
            let _ = writeln!(out, "    {c}");
        }
        for r in &self.needs_restart {
            let _ = writeln!(out, "    needs a restart: {r}");
        }
        out
    }
}

/// One virtual router.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub family: u8,
    pub version: u8,
    /// INIT, BACKUP, MASTER or FAULT.
    pub state: String,
    /// Held out of the election by `vipd maintenance on` (state BACKUP, reason maintenance).
    #[serde(default)]
    pub maintenance: bool,
    pub priority: u8,
    pub effective_priority: u8,
    /// The master's address as last heard (ours when we are master).
    pub master: Option<String>,
    pub advert_interval_ms: f64,
    /// The master's advert interval as learned from its adverts (VRRPv3).
    pub master_advert_interval_ms: f64,
    pub vips: Vec<VipStatus>,
    pub in_state_ms: u64,
    /// The checksum flavours of the adverts this instance accepted.
    pub checksums_received: ChecksumCounts,
    /// The last system error met by this instance (cleared when the operation later succeeds).
    pub last_error: Option<String>,
    /// The last router heard advertising as master while we were master, if one was.
    pub rival_master: Option<RivalMaster>,
    /// The other router that is master now, as this backup hears it.
    #[serde(default)]
    pub peer_master: Option<PeerMaster>,
    /// Why no gratuitous ARP / NA is sent, when that is by design (unicast peers only).
    #[serde(default)]
    pub garp_note: Option<String>,
    pub counters: Counters,
    /// How tracked objects move the priority: `200 → 100: chk_haproxy failing (-100)`.
    #[serde(default)]
    pub priority_breakdown: Option<String>,
    /// Every tracked object.
    #[serde(default)]
    pub trackers: Vec<TrackerStatus>,
}

/// One tracked object (interface, script, built-in check, file, process).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrackerStatus {
    pub name: String,
    /// `interface`, `script`, `tcp_connect`, `http_get`, `icmp_echo`, `dns_query`, `file`, `process`.
    pub kind: String,
    /// What a built-in check or a file/process tracker looks at.
    pub check: Option<String>,
    /// `up`/`down`, `passing`/`failing`/`unknown`, or a file's number.
    pub state: String,
    pub weight: i16,
    pub reverse: bool,
    /// What it adds to the priority now; null when it holds the instance in FAULT (`fault`) or
    /// keeps it waiting for a first result.
    pub applied: Option<i32>,
    pub fault: bool,
    pub last_run: Option<LastRunStatus>,
    pub processes: Option<u32>,
    pub error: Option<String>,
    /// How it observes instead of its usual way, and why (null: the usual way).
    #[serde(default)]
    pub fallback: Option<String>,
}

/// The last run of a script or built-in check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastRunStatus {
    /// When it ended, seconds since the epoch.
    pub at: f64,
    pub duration_ms: f64,
    /// `passed`, `exit status: 1`, `timed out`, `failed: connection refused`, …
    pub result: String,
    pub exit_code: Option<i32>,
    /// The last line it wrote to stderr.
    pub stderr: Option<String>,
}

/// Another master, heard while we were master.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RivalMaster {
    pub address: String,
    /// How long ago its last advert was heard.
    pub last_heard_ms: u64,
}

/// The other router that is master now, heard by a backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerMaster {
    pub address: String,
    /// The priority of its last advert.
    pub priority: u8,
    /// How long ago its last advert was heard.
    pub last_heard_ms: u64,
}

/// Accepted IPv4 VRRPv3 adverts by checksum flavour.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChecksumCounts {
    pub pseudo_header: u64,
    pub plain: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VipStatus {
    pub address: String,
    /// Whether the address is really on the interface right now (a live check).
    pub present: bool,
    /// The device it goes on.
    #[serde(default)]
    pub interface: String,
    /// Whether vipd believes it owns the address (master, installed without error).
    #[serde(default)]
    pub held: bool,
    /// When vipd last installed it (UTC, `2024-01-23T14:25:00Z`); null while not held.
    #[serde(default)]
    pub acquired_at: Option<String>,
    /// The same instant in seconds since the epoch.
    #[serde(default)]
    pub acquired_at_unix: Option<f64>,
    /// The last system error about this address, with what to do.
    #[serde(default)]
    pub error: Option<String>,
    /// Gratuitous ARPs (IPv4) or unsolicited NAs (IPv6) sent for it.
    #[serde(default)]
    pub announcements: u64,
}

/// Per-instance counters (also exported as metrics).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counters {
    pub adverts_received: u64,
    pub adverts_sent: u64,
    pub become_master: u64,
    pub release_master: u64,
    pub priority_zero_received: u64,
    pub priority_zero_sent: u64,
    /// Lower-priority adverts heard while master: another router believes it is master too and
    /// does not hear us (see `rival_master` in the instance status).
    pub rival_master_adverts: u64,
    /// Received packets rejected by validation, by error name (e.g. `checksum`, `ttl`, `auth_failure`).
    pub rejected: std::collections::BTreeMap<String, u64>,
}

impl StatusReport {
    /// The human-readable table `vipd status` prints.
    pub fn render_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "vipd pid {} up {:.1}s",
            self.pid,
            self.uptime_ms as f64 / 1000.0
        );
        for e in &self.errors {
            let _ = writeln!(out, "error: {e}");
        }
        if let Some(reload) = &self.last_reload {
            out.push_str(&reload.render_text());
        }
        self.hooks.render_text(&mut out);
        for i in &self.instances {
            let _ = writeln!(
                out,
                "{} {} vrid {} v{} IPv{}: {} for {:.1}s, priority {} (effective {}), master {}, advert {} ms (master's {} ms)",
                i.name,
                i.interface,
                i.vrid,
                i.version,
                i.family,
                i.state,
                i.in_state_ms as f64 / 1000.0,
                i.priority,
                i.effective_priority,
                i.master.as_deref().unwrap_or("unknown"),
                i.advert_interval_ms,
                i.master_advert_interval_ms,
            );
            write_master_now(&mut out, i);
            if i.maintenance {
                let _ = writeln!(
                    out,
                    "    maintenance: held out of the election until `vipd maintenance off {}`",
                    i.name
                );
                if i.master.is_none() {
                    let _ = writeln!(
                        out,
                        "    NOBODY SERVES the VIPs: no master heard while this router is in maintenance"
                    );
                }
            }
            for v in &i.vips {
                write_vip(&mut out, v);
            }
            if let Some(note) = &i.garp_note {
                let _ = writeln!(out, "    {note}");
            }
            if let Some(r) = &i.rival_master {
                let _ = writeln!(
                    out,
                    "    another master: {} (heard {:.1}s ago) does not hear us",
                    r.address,
                    r.last_heard_ms as f64 / 1000.0
                );
            }
            if let Some(b) = &i.priority_breakdown {
                let _ = writeln!(out, "    priority {b}");
            }
            for t in &i.trackers {
                let mut line = match &t.check {
                    Some(check) => {
                        format!("    track {} {} ({check}): {}", t.kind, t.name, t.state)
                    }
                    None => format!("    track {} {}: {}", t.kind, t.name, t.state),
                };
                match (t.fault, t.applied) {
                    (true, _) => line.push_str(", FAULT"),
                    (false, Some(n)) if n != 0 => line.push_str(&format!(", {n:+}")),
                    (false, None) => line.push_str(", waiting for a first result"),
                    _ => {}
                }
                if let Some(run) = &t.last_run {
                    line.push_str(&format!(
                        "; last run {} ({:.1} ms){}",
                        run.result,
                        run.duration_ms,
                        run.stderr
                            .as_deref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    ));
                }
                if let Some(n) = t.processes {
                    line.push_str(&format!("; {n} running"));
                }
                if let Some(e) = &t.error {
                    line.push_str(&format!("; {e}"));
                }
                if let Some(how) = &t.fallback {
                    line.push_str(&format!("; fallback: {how}"));
                }
                let _ = writeln!(out, "{line}");
            }
            if let Some(e) = &i.last_error {
                let _ = writeln!(out, "    error: {e}");
            }
        }
        out
    }
}

/// `    master now: 192.0.2.2 (priority 200, heard 0.1s ago)`: who holds the VIPs, on either node.
fn write_master_now(out: &mut String, i: &InstanceStatus) {
    use std::fmt::Write;
    let line = match (&i.peer_master, i.state.as_str()) {
        (_, "MASTER") => format!(
            "this node ({})",
            i.master.as_deref().unwrap_or("no address yet")
        ),
        (Some(p), _) => format!(
            "{} (priority {}, heard {:.1}s ago)",
            p.address,
            p.priority,
            p.last_heard_ms as f64 / 1000.0
        ),
        (None, "BACKUP") => "none heard (this node takes over when its down timer runs out)".into(),
        (None, _) => "unknown (this node is not listening)".into(),
    };
    let _ = writeln!(out, "    master now: {line}");
}

/// `    vip 192.0.2.3/24 on eth0: held, present, acquired 2024-01-23T14:25:00Z, 5 GARP/NA sent`.
fn write_vip(out: &mut String, v: &VipStatus) {
    use std::fmt::Write;
    let mut line = format!(
        "    vip {}{}: {}, {}",
        v.address,
        if v.interface.is_empty() {
            String::new()
        } else {
            format!(" on {}", v.interface)
        },
        if v.held { "held" } else { "not held" },
        if v.present { "present" } else { "absent" },
    );
    if let Some(at) = &v.acquired_at {
        let _ = write!(line, ", acquired {at}");
    }
    let _ = write!(line, ", {} GARP/NA sent", v.announcements);
    if v.held != v.present {
        line.push_str(if v.held {
            " (missing: being put back)"
        } else {
            " (on the interface but not ours)"
        });
    }
    if let Some(e) = &v.error {
        let _ = write!(line, "; error: {e}");
    }
    let _ = writeln!(out, "{line}");
}

/// `2024-05-01T12:00:00Z` for a time after the Unix epoch.
pub fn utc_timestamp(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's days_from_civil, inverted).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_names_the_master_and_each_vip_as_seed_000_does() {
        let mut snapshot = crate::observe::snapshot::Snapshot::synthetic(2);
        snapshot.instances[0].vips[1].held = false;
        snapshot.instances[0].vips[1].acquired_at = None;
        snapshot.instances[0].vips[1].error = Some("add address: needs CAP_NET_ADMIN".into());
        snapshot.instances[1].garp_note = Some("garp: not sent — unicast peers only".into());
        let report = snapshot.status_report();
        let text = report.render_text();
        assert!(
            text.contains("    master now: this node (192.0.2.101)"),
            "{text}"
        );
        assert!(
            text.contains("    master now: 192.0.2.102 (priority 200, heard 0.0s ago)"),
            "{text}"
        );
        assert!(
            text.contains(
                "    vip 192.0.2.1/24 on vrrp.1: held, present, acquired 2023-11-14T22:13:20Z, 5 GARP/NA sent\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("    vip 198.51.100.1/32 on vrrp.1: not held, present, 5 GARP/NA sent (on the interface but not ours); error: add address: needs CAP_NET_ADMIN"),
            "{text}"
        );
        assert!(
            text.contains("    garp: not sent — unicast peers only\n"),
            "{text}"
        );
        // The JSON form carries the same, and reads back.
        let json = serde_json::to_string(&report).unwrap();
        let back: StatusReport = serde_json::from_str(&json).unwrap();
        let peer = back.instances[1].peer_master.as_ref().expect("peer master");
        assert_eq!((peer.address.as_str(), peer.priority), ("192.0.2.102", 200));
        assert_eq!(
            back.instances[0].vips[0].acquired_at_unix,
            Some(1_700_000_000.0)
        );
        assert!(back.instances[0].vips[1].error.is_some());
    }

    #[test]
    fn utc_timestamp_formats_civil_dates() {
        let at = |s: u64| utc_timestamp(UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_714_564_800 + 3_723), "2024-05-01T13:02:03Z");
    }
}
