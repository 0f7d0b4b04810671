//! The status page at `/`: plain server-rendered HTML from one [`Snapshot`], for people without
//! a Grafana stack. No script and no outside asset (inline CSS only; the listener's
//! Content-Security-Policy forbids anything else), every text HTML-escaped, and it reloads
//! itself every two seconds. Per instance: state, priority with the tracker breakdown, master,
//! VIPs held and present, trackers, and the recent transitions.

use std::fmt::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vipd_router::{State, TrackEffect};

use super::snapshot::{state_name, InstanceSnapshot, TrackerSnapshot};
use super::status::utc_timestamp;
use super::Snapshot;

/// The page for `snapshot`, its relative times counted from now.
pub fn render(snapshot: &Snapshot) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    render_at(snapshot, now)
}

/// The page with relative times counted from `now` (seconds since the epoch).
pub fn render_at(snapshot: &Snapshot, now: f64) -> String {
    let mut out = String::with_capacity(4096 + 3072 * snapshot.instances.len());
    let _ = write_page(&mut out, snapshot, now);
    out
}

fn write_page(out: &mut String, s: &Snapshot, now: f64) -> fmt::Result {
    let masters = s
        .instances
        .iter()
        .filter(|i| i.state == State::Master)
        .count();
    out.push_str(HEAD);
    writeln!(
        out,
        "<header><h1>vipd</h1><p>pid {} · up {} · {} instance{} · {masters} master</p></header>",
        s.pid,
        human(s.uptime_ms as f64 / 1000.0),
        s.instances.len(),
        if s.instances.len() == 1 { "" } else { "s" },
    )?;
    for error in &s.errors {
        writeln!(out, "<p class=\"error\">{}</p>", Esc(error))?;
    }
    if let Some(reload) = &s.last_reload {
        let verdict = if reload.applied {
            "applied"
        } else {
            "rejected, nothing changed"
        };
        writeln!(
            out,
            "<p class=\"{}\">Last reload {}: {} {verdict}</p>",
            if reload.applied { "note" } else { "error" },
            Esc(&reload.at),
            Esc(&reload.file)
        )?;
        for e in &reload.errors {
            writeln!(out, "<p class=\"error\">{}</p>", Esc(e))?;
        }
    }
    if s.instances.is_empty() {
        out.push_str("<p class=\"note\">No instance is configured.</p>\n");
    }
    for instance in &s.instances {
        write_instance(out, instance, now)?;
    }
    writeln!(
        out,
        "<footer>Rendered {} · refreshes every 2 s · <a href=\"/metrics\">/metrics</a> · \
         <a href=\"/status\">/status</a></footer>\n</body>\n</html>",
        utc(now)
    )
}

fn write_instance(out: &mut String, i: &InstanceSnapshot, now: f64) -> fmt::Result {
    let state = state_name(i.state);
    writeln!(
        out,
        "<section class=\"instance\">\n<div class=\"title\"><h2>{}</h2>\
         <span class=\"state {state}\">{state}{}</span>\
         <span class=\"meta\">{} · VRID {} · VRRPv{} · IPv{}</span></div>",
        Esc(&i.name),
        if i.maintenance { " · maintenance" } else { "" },
        Esc(&i.interface),
        i.vrid,
        i.version,
        i.family
    )?;
    out.push_str("<dl>");
    write!(out, "<div><dt>Priority</dt><dd>{}", i.effective_priority)?;
    if i.effective_priority != i.priority {
        write!(
            out,
            " <span class=\"muted\">(configured {})</span>",
            i.priority
        )?;
    }
    if let Some(breakdown) = i.priority_breakdown() {
        write!(out, "<br><span class=\"muted\">{}</span>", Esc(&breakdown))?;
    }
    out.push_str("</dd></div>");
    let master = match (i.state, i.peer_master, i.master) {
        (State::Master, _, _) => "this router".to_owned(),
        (_, Some(peer), _) => format!(
            "{} (priority {}, heard {} ago)",
            peer.address,
            peer.priority,
            human(peer.last_heard_ms as f64 / 1000.0)
        ),
        (_, None, Some(address)) => address.to_string(),
        (_, None, None) => "unknown".to_owned(),
    };
    write!(out, "<div><dt>Master</dt><dd>{}</dd></div>", Esc(&master))?;
    write!(
        out,
        "<div><dt>In state for</dt><dd>{}</dd></div>",
        human(i.in_state_ms as f64 / 1000.0)
    )?;
    write!(
        out,
        "<div><dt>Advert interval</dt><dd>{}",
        millis(i.advert_interval_us)
    )?;
    if i.master_advert_interval_us != i.advert_interval_us {
        write!(
            out,
            " <span class=\"muted\">(master's {})</span>",
            millis(i.master_advert_interval_us)
        )?;
    }
    out.push_str("</dd></div></dl>\n");
    if let Some(error) = &i.last_error {
        writeln!(out, "<p class=\"error\">{}</p>", Esc(error))?;
    }
    if let Some((address, ago_ms)) = i.rival_master {
        writeln!(
            out,
            "<p class=\"warn\">{address} also advertises as master (last heard {} ago)</p>",
            human(ago_ms as f64 / 1000.0)
        )?;
    }
    write_vips(out, i)?;
    write_trackers(out, &i.trackers, now)?;
    write_transitions(out, i, now)?;
    out.push_str("</section>\n");
    Ok(())
}

fn write_vips(out: &mut String, i: &InstanceSnapshot) -> fmt::Result {
    if i.vips.is_empty() {
        return Ok(());
    }
    out.push_str(
        "<h3>Virtual addresses</h3>\n<table><tr><th>Address</th><th>Device</th>\
         <th>Held</th><th>Present</th><th>Acquired</th><th>GARP/NA sent</th><th>Error</th></tr>\n",
    );
    for v in &i.vips {
        let (class, present) = match (v.held, v.present) {
            (true, true) => ("ok", "yes"),
            (true, false) => ("bad", "missing"),
            (false, true) => ("warn", "yes (not held)"),
            (false, false) => ("", "no"),
        };
        writeln!(
            out,
            "<tr><td>{}/{}{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{present}</td>\
             <td>{}</td><td>{}</td><td class=\"error\">{}</td></tr>",
            v.addr,
            v.prefix_len,
            if v.excluded {
                " <span class=\"muted\">excluded</span>"
            } else {
                ""
            },
            Esc(&v.dev),
            if v.held { "yes" } else { "no" },
            v.acquired_at.map(utc_timestamp).unwrap_or_default(),
            v.announcements,
            Esc(v.error.as_deref().unwrap_or("")),
        )?;
    }
    out.push_str("</table>\n");
    if let Some(note) = &i.garp_note {
        writeln!(out, "<p class=\"note\">{}</p>", Esc(note))?;
    }
    Ok(())
}

fn write_trackers(out: &mut String, trackers: &[TrackerSnapshot], now: f64) -> fmt::Result {
    if trackers.is_empty() {
        return Ok(());
    }
    out.push_str(
        "<h3>Trackers</h3>\n<table><tr><th>Name</th><th>Kind</th><th>State</th>\
         <th>Effect</th><th>Last run</th></tr>\n",
    );
    for t in trackers {
        let class = match t.state.as_str() {
            "up" | "passing" => "ok",
            "down" | "failing" => "bad",
            _ => "",
        };
        write!(out, "<tr><td>{}</td><td>{}", Esc(&t.name), Esc(t.kind))?;
        if let Some(check) = &t.check {
            write!(out, "<br><span class=\"muted\">{}</span>", Esc(check))?;
        }
        write!(out, "</td><td class=\"{class}\">{}</td>", Esc(&t.state))?;
        let effect = match t.effect {
            TrackEffect::Adjust(0) => "none".to_owned(),
            TrackEffect::Adjust(n) => format!("{n:+}"),
            TrackEffect::Fault => "holds the instance in FAULT".to_owned(),
            TrackEffect::Pending => "waiting for a first result".to_owned(),
        };
        write!(
            out,
            "<td{}>{effect}<br><span class=\"muted\">weight {}{}</span></td><td>",
            if t.effect == TrackEffect::Fault {
                " class=\"bad\""
            } else {
                ""
            },
            t.weight,
            if t.reverse { ", reverse" } else { "" }
        )?;
        match &t.last_run {
            Some(run) => {
                write!(
                    out,
                    "{} <span class=\"muted\">({:.0} ms, {} ago)</span>",
                    Esc(&run.result),
                    run.duration_ms,
                    human(now - run.at)
                )?;
                if let Some(stderr) = &run.stderr {
                    write!(out, "<br><code>{}</code>", Esc(stderr))?;
                }
            }
            None if t.kind == "interface" => out.push_str("<span class=\"muted\">—</span>"),
            None => out.push_str("<span class=\"muted\">not yet</span>"),
        }
        if let Some(processes) = t.processes {
            write!(out, "<br>{processes} running")?;
        }
        if let Some(error) = &t.error {
            write!(out, "<br><span class=\"bad\">{}</span>", Esc(error))?;
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</table>\n");
    Ok(())
}

fn write_transitions(out: &mut String, i: &InstanceSnapshot, now: f64) -> fmt::Result {
    out.push_str("<h3>Recent transitions</h3>\n");
    if i.recent_transitions.is_empty() {
        out.push_str("<p class=\"muted\">none yet</p>\n");
        return Ok(());
    }
    out.push_str("<table><tr><th>When</th><th>Change</th><th>Reason</th></tr>\n");
    for t in i.recent_transitions.iter().rev() {
        let to = state_name(t.to);
        writeln!(
            out,
            "<tr><td>{} <span class=\"muted\">({} ago)</span></td>\
             <td>{} → <span class=\"state {to}\">{to}</span></td><td>{}</td></tr>",
            utc(t.at),
            human(now - t.at),
            state_name(t.from),
            Esc(&t.reason.replace('_', " "))
        )?;
    }
    out.push_str("</table>\n");
    Ok(())
}

/// HTML-escapes its text when displayed.
struct Esc<'a>(&'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let mut rest = self.0;
        while let Some(k) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..k])?;
            f.write_str(match rest.as_bytes()[k] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[k + 1..];
        }
        f.write_str(rest)
    }
}

fn utc(unix_seconds: f64) -> String {
    utc_timestamp(UNIX_EPOCH + Duration::from_secs_f64(unix_seconds.max(0.0)))
}

/// `450 ms`, `12.3 s`, `4 min 5 s`, `3 h 2 min`, `2 d 4 h`.
fn human(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else if s < 60.0 {
        format!("{s:.1} s")
    } else {
        let whole = s as u64;
        match whole {
            0..3600 => format!("{} min {} s", whole / 60, whole % 60),
            3600..86_400 => format!("{} h {} min", whole / 3600, whole % 3600 / 60),
            _ => format!("{} d {} h", whole / 86_400, whole % 86_400 / 3600),
        }
    }
}

fn millis(us: u64) -> String {
    format!("{} ms", us as f64 / 1000.0)
}

const HEAD: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="2">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vipd status</title>
<style>
:root{--fg:#1d2330;--muted:#687086;--bg:#f4f5f8;--card:#fff;--line:#e2e5ec;--ok:#137a3a;--bad:#b3261e;--warn:#9a6400}
@media (prefers-color-scheme:dark){:root{--fg:#e6e8ee;--muted:#9aa1b4;--bg:#15181e;--card:#1e222a;--line:#2e333d;--ok:#5cc98a;--bad:#ff8a80;--warn:#f2c14e}}
*{box-sizing:border-box}
body{margin:0;padding:16px 24px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;align-items:baseline;gap:16px;margin-bottom:12px}
h1{font-size:22px;margin:0}
header p{margin:0;color:var(--muted)}
h2{font-size:18px;margin:0}
h3{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);margin:14px 0 4px}
.instance{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 18px;margin:0 0 14px}
.title{display:flex;align-items:center;gap:12px;flex-wrap:wrap}
.meta,.muted{color:var(--muted)}
.state{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;background:#687086}
.state.MASTER{background:#137a3a}.state.BACKUP{background:#2f5fb3}.state.FAULT{background:#b3261e}.state.INIT{background:#9a6400}
dl{display:flex;flex-wrap:wrap;gap:8px 32px;margin:10px 0 0}
dl div{min-width:120px}
dt{font-size:12px;color:var(--muted)}
dd{margin:0;font-weight:500}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 10px 4px 0;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;font-weight:600;color:var(--muted)}
td .state{font-size:11px}
.ok{color:var(--ok)}.bad{color:var(--bad)}.warn{color:var(--warn)}
p.error{color:var(--bad);background:var(--card);border:1px solid var(--bad);border-radius:6px;padding:6px 10px;margin:6px 0}
p.warn{margin:6px 0}
p.note{margin:6px 0;color:var(--muted)}
code{font-size:12px}
footer{color:var(--muted);font-size:12px;margin-top:8px}
a{color:inherit}
</style>
</head>
<body>
"#;

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::observe::history::TransitionRecord;
    use crate::observe::snapshot::{LastRun, VipSnapshot};
    use crate::observe::stats::InstanceStats;
    use vipd_router::Counters;

    pub(crate) fn sample() -> Snapshot {
        Snapshot {
            pid: 42,
            uptime_ms: 3_723_000,
            errors: vec!["metrics_listen 127.0.0.1:9165: <taken>".into()],
            last_reload: None,
            scripts: Vec::new(),
            hooks: Default::default(),
            instances: vec![InstanceSnapshot {
                name: "VI_<1>".into(),
                interface: "eth0".into(),
                vrid: 51,
                family: 4,
                version: 3,
                state: State::Master,
                maintenance: false,
                priority: 150,
                effective_priority: 100,
                master: Some("192.0.2.1".parse().unwrap()),
                advert_interval_us: 100_000,
                garp_master_delay_s: 5,
                master_advert_interval_us: 100_000,
                in_state_ms: 12_300,
                vips: vec![
                    VipSnapshot {
                        addr: "192.0.2.100".parse().unwrap(),
                        prefix_len: 24,
                        dev: "eth0".into(),
                        excluded: false,
                        present: true,
                        held: true,
                        acquired_at: Some(UNIX_EPOCH + Duration::from_secs(1_706_019_900)),
                        error: None,
                        announcements: 5,
                    },
                    VipSnapshot {
                        addr: "2001:db8::100".parse().unwrap(),
                        prefix_len: 64,
                        dev: "eth0".into(),
                        excluded: true,
                        present: false,
                        held: true,
                        acquired_at: None,
                        error: Some("add address 2001:db8::100/64: <denied>".into()),
                        announcements: 0,
                    },
                ],
                counters: Counters::default(),
                stats: InstanceStats::default(),
                last_error: None,
                rival_master: None,
                peer_master: None,
                garp_note: Some("garp: not sent — <unicast>".into()),
                trackers: vec![TrackerSnapshot {
                    name: "chk_\"haproxy\"".into(),
                    kind: "script",
                    check: None,
                    state: "failing".into(),
                    weight: -50,
                    reverse: false,
                    effect: TrackEffect::Adjust(-50),
                    last_run: Some(LastRun {
                        at: 1_000.0,
                        duration_ms: 12.0,
                        result: "exit status: 1".into(),
                        exit_code: Some(1),
                        stderr: Some("connect: <refused> & gone".into()),
                    }),
                    processes: None,
                    error: None,
                    fallback: None,
                }],
                recent_transitions: vec![
                    TransitionRecord {
                        at: 900.0,
                        from: State::Initialize,
                        to: State::Backup,
                        reason: "startup".into(),
                    },
                    TransitionRecord {
                        at: 903.5,
                        from: State::Backup,
                        to: State::Master,
                        reason: "master_down_timer_expired".into(),
                    },
                ],
            }],
        }
    }

    #[test]
    fn the_page_shows_each_instance_escaped_and_refreshing() {
        let page = render_at(&sample(), 1_003.0);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains(r#"<meta http-equiv="refresh" content="2">"#));
        assert!(page.contains("<h2>VI_&lt;1&gt;</h2>"), "{page}");
        assert!(page.contains("<span class=\"state MASTER\">MASTER</span>"));
        assert!(page.contains("150 → 100: chk_&quot;haproxy&quot; failing (-50)"));
        assert!(page.contains("(configured 150)"));
        assert!(page.contains("this router"));
        assert!(page.contains("192.0.2.100/24"));
        assert!(page.contains("2001:db8::100/64 <span class=\"muted\">excluded</span>"));
        assert!(page.contains("<td class=\"bad\">missing</td>"));
        assert!(
            page.contains("<td>2024-01-23T14:25:00Z</td><td>5</td>"),
            "{page}"
        );
        assert!(page.contains("&lt;denied&gt;"), "a VIP's error, escaped");
        assert!(page.contains("garp: not sent — &lt;unicast&gt;"));
        assert!(page.contains("exit status: 1"));
        assert!(page.contains("connect: &lt;refused&gt; &amp; gone"));
        assert!(page.contains("3.0 s ago"), "the last run, 3 s before now");
        assert!(
            page.contains("&lt;taken&gt;"),
            "daemon errors shown, escaped"
        );
        assert!(!page.contains("<taken>") && !page.contains("<refused>"));
        assert!(page.contains("1 h 2 min"), "uptime");
        // Newest transition first.
        let newest = page.find("master down timer expired").unwrap();
        let oldest = page.find(">startup<").unwrap();
        assert!(newest < oldest);
        assert!(!page.contains("<script"), "no script");
        assert!(!page.contains("src="), "no outside asset");
    }

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(Esc("a<b>&\"c'").to_string(), "a&lt;b&gt;&amp;&quot;c&#39;");
        assert_eq!(Esc("plain").to_string(), "plain");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(0.45), "450 ms");
        assert_eq!(human(12.34), "12.3 s");
        assert_eq!(human(245.0), "4 min 5 s");
        assert_eq!(human(3.0 * 3600.0 + 120.0), "3 h 2 min");
        assert_eq!(human(2.0 * 86_400.0 + 4.0 * 3600.0), "2 d 4 h");
        assert_eq!(human(-1.0), "0 ms");
    }
}
