//! A real Prometheus (Debian's `prometheus`) in the client namespace scrapes two vipd routers'
//! `/metrics` on their LAN addresses, with conf/prometheus/vipd-alerts.yml loaded (a copy with
//! every `for:` set to 0s, so alerts fire within one evaluation). Checked: the state gauges say
//! MASTER on one router and BACKUP on the other; every rule evaluates and none fires while the
//! pair is healthy; blocking VRRP between the routers with nft fires VipdSplitBrain; and, after
//! the pair heals, every expression of mehdy's bundled dashboard, of dashboard 18270's keepalived
//! panels (shared/notes/metrics-compat.md §2.1 and §2.4, verbatim below) and of
//! conf/grafana/vipd.json returns data; stopping one router's vipd fires VipdDown (the scrape
//! job is not named after vipd, so the rule's vipd_build_info arm is the one tested) and
//! nothing else once the other router has taken over.

use crate::daemon_support::*;
use crate::lab::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.100/24";
const VRID: u8 = 51;
/// The routers' metrics_listen addresses, which are also Prometheus's `instance` labels.
const TARGETS: [&str; 2] = ["192.0.2.1:9165", "192.0.2.2:9165"];
/// Inside the client namespace: its own loopback.
const PROMETHEUS_LISTEN: &str = "127.0.0.1:9090";

/// mehdy/keepalived-exporter's bundled dashboard (metrics-compat.md §2.1): (panel id, expr).
const MEHDY_DASHBOARD: [(u32, &str); 20] = [
    (2, r#"keepalived_up{instance="$instance"}"#),
    (10, r#"keepalived_script_status{instance="$instance"}"#),
    (
        4,
        r#"keepalived_exporter_check_script_status{instance="$instance"}"#,
    ),
    (8, r#"keepalived_script_state{instance="$instance"}"#),
    (6, r#"keepalived_vrrp_state{instance="$instance"}"#),
    (
        12,
        r#"rate(keepalived_become_master_total{instance="$instance"}[$__rate_interval])"#,
    ),
    (
        12,
        r#"rate(keepalived_release_master_total{instance="$instance"}[$__rate_interval])"#,
    ),
    (
        16,
        r#"rate(keepalived_advertisements_sent_total{instance="$instance"}[$__rate_interval])"#,
    ),
    (
        16,
        r#"rate(keepalived_advertisements_received_total{instance="$instance"}[$__rate_interval])"#,
    ),
    (
        18,
        r#"rate(keepalived_priority_zero_sent_total{instance="$instance"}[$__rate_interval])"#,
    ),
    (
        18,
        r#"rate(keepalived_priority_zero_received_total{instance="$instance"}[$__rate_interval])"#,
    ),
    (
        31,
        r#"rate(keepalived_gratuitous_arp_delay_total{instance="$instance"}[$__rate_interval])"#,
    ),
    (
        20,
        r#"rate(keepalived_advertisements_interval_errors_total{instance="$instance"}[$__rate_interval])"#,
    ),
    (
        20,
        r#"rate(keepalived_packet_length_errors_total{instance="$instance"}[$__rate_interval])"#,
    ),
    (
        20,
        r#"rate(keepalived_ip_ttl_errors_total{instance="$instance"}[$__rate_interval])"#,
    ),
    (
        20,
        r#"rate(keepalived_invalid_type_received_total{instance="$instance"}[$__rate_interval])"#,
    ),
    (
        20,
        r#"rate(keepalived_address_list_errors_total{instance="$instance"}[$__rate_interval])"#,
    ),
    (
        20,
        r#"rate(keepalived_authentication_invalid_total{instance="$instance"}[$__rate_interval])"#,
    ),
    (
        20,
        r#"rate(keepalived_authentication_failure_total{instance="$instance"}[$__rate_interval])"#,
    ),
    (
        20,
        r#"rate(keepalived_authentication_mismatch_total{instance="$instance"}[$__rate_interval])"#,
    ),
];

/// grafana.com dashboard 18270's keepalived queries (metrics-compat.md §2.4): (panel id, expr).
/// Its two `node_systemd_unit_state` queries (panels 4 and 227) read node_exporter's systemd
/// collector, not the daemon, and are left out.
const DASHBOARD_18270: [(u32, &str); 19] = [
    (4, r#"keepalived_up{instance=~"^$instance.*"}"#),
    (
        129,
        r#"keepalived_vrrp_become_master{instance=~"^$instance.*"}"#,
    ),
    (227, r#"keepalived_up{instance=~"^$instance.*"}"#),
    (
        130,
        r#"irate(keepalived_vrrp_advert_sent{instance=~"^$instance.*"}[5m])>0"#,
    ),
    (
        130,
        r#"irate(keepalived_vrrp_advert_rcvd{instance=~"^$instance.*"}[5m])>0"#,
    ),
    (
        127,
        r#"rate(keepalived_vrrp_release_master{instance=~"^$instance.*"}[$__interval])>0"#,
    ),
    (
        127,
        r#"rate(keepalived_vrrp_become_master{instance=~"^$instance.*"}[$__interval])>0"#,
    ),
    (
        115,
        r#"irate(keepalived_vrrp_addr_list_err{instance=~"^$instance.*"}[1m])"#,
    ),
    (
        118,
        r#"irate(keepalived_vrrp_advert_sent{instance=~"^$instance.*"}[1m])>0"#,
    ),
    (
        118,
        r#"irate(keepalived_vrrp_advert_rcvd{instance=~"^$instance.*"}[1m])>0"#,
    ),
    (
        123,
        r#"irate(keepalived_vrrp_ip_ttl_err{instance=~"^$instance.*"}[1m])"#,
    ),
    (
        125,
        r#"irate(keepalived_vrrp_pri_zero_sent{instance=~"^$instance.*"}[1m])"#,
    ),
    (
        116,
        r#"irate(keepalived_vrrp_advert_interval_err{instance=~"^$instance.*"}[1m])"#,
    ),
    (
        124,
        r#"irate(keepalived_vrrp_packet_len_err{instance=~"^$instance.*"}[1m])"#,
    ),
    (
        126,
        r#"irate(keepalived_vrrp_pri_zero_rcvd{instance=~"^$instance.*"}[1m])"#,
    ),
    (
        120,
        r#"irate(keepalived_vrrp_authtype_mismatch{instance=~"^$instance.*"}[1m])"#,
    ),
    (
        119,
        r#"irate(keepalived_vrrp_auth_failure{instance=~"^$instance.*"}[1m])"#,
    ),
    (
        121,
        r#"irate(keepalived_vrrp_invalid_authtype{instance=~"^$instance.*"}[1m])"#,
    ),
    (
        122,
        r#"irate(keepalived_vrrp_invalid_type_rcvd{instance=~"^$instance.*"}[1m])"#,
    ),
];

/// Metrics of the dashboards above that vipd does not serve, and why. The test checks they
/// really return nothing, so this list cannot go stale silently.
const NOT_SERVED: [(&str, &str); 1] = [(
    "keepalived_exporter_check_script_status",
    "the exporter's own `-cs` per-VIP check script; vipd has no such option",
)];

/// Grafana's interval variables as a 30 s rate window and a 5 min dashboard range.
fn substitute_intervals(expr: &str) -> String {
    expr.replace("$__rate_interval", "30s")
        .replace("$__interval", "30s")
        .replace("$__range", "5m")
}

/// vipd with metrics on `listen`, VI_1 tracking a script that always passes (weight 10), so
/// the script and tracker series exist.
fn router_config(listen: &str, priority: u8) -> String {
    format!(
        "global_defs: {{vrrp_version: 3, metrics_listen: \"{listen}\"}}\n\
         vrrp_script:\n  chk_true: {{script: /bin/true, interval: 1, weight: 10}}\n\
         vrrp_instance:\n  {INSTANCE}: {{interface: eth0, virtual_router_id: {VRID}, \
         priority: {priority}, advert_int: 0.1, track_script: [chk_true], \
         virtual_ipaddress: [\"{VIP}\"]}}\n"
    )
}

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// conf/prometheus/vipd-alerts.yml with every `for:` set to 0s, written to the lab dir.
fn lab_alert_rules(lab: &Lab) -> PathBuf {
    let source = repo_file("conf/prometheus/vipd-alerts.yml");
    let text = std::fs::read_to_string(&source).expect("read vipd-alerts.yml");
    let mut shortened = 0;
    let lines: Vec<String> = text
        .lines()
        .map(|line| match line.trim_start().strip_prefix("for:") {
            Some(_) => {
                shortened += 1;
                format!("{}for: 0s", &line[..line.len() - line.trim_start().len()])
            }
            None => line.to_owned(),
        })
        .collect();
    assert!(
        shortened >= 6,
        "only {shortened} `for:` lines in {source:?}"
    );
    let path = lab.dir().join("vipd-alerts-for-0s.yml");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write lab rules");
    path
}

/// Debian's Prometheus running in a lab node on the node's loopback; queried with curl inside
/// the node. Stopped (SIGTERM, then SIGKILL) when dropped; its TSDB lives in the lab dir.
struct Prometheus<'a> {
    node: &'a Node,
    proc: Proc,
}

impl<'a> Prometheus<'a> {
    /// Scrapes `targets` every second (job `routers`) and evaluates `rules` every second; waits
    /// until its HTTP API answers.
    fn start(lab: &Lab, node: &'a Node, targets: &[&str], rules: &Path) -> Prometheus<'a> {
        let config = lab.dir().join("prometheus.yml");
        let target_list: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  \
                 evaluation_interval: 1s\n\
                 rule_files:\n  - \"{}\"\n\
                 scrape_configs:\n  - job_name: routers\n    static_configs:\n      \
                 - targets: [{}]\n",
                rules.display(),
                target_list.join(", ")
            ),
        )
        .expect("write prometheus.yml");
        let storage = lab.dir().join("prometheus-data");
        let proc = node.spawn_labelled(
            "prometheus",
            &[
                "/usr/bin/prometheus",
                &format!("--config.file={}", config.display()),
                &format!("--storage.tsdb.path={}", storage.display()),
                &format!("--web.listen-address={PROMETHEUS_LISTEN}"),
            ],
        );
        let prometheus = Prometheus { node, proc };
        wait_for(
            Duration::from_secs(10),
            "Prometheus ready (/-/ready)",
            || prometheus.curl("/-/ready", &[]).is_ok(),
        );
        prometheus
    }

    /// GET `path` with `params` URL-encoded; the body, or Err with curl's complaint.
    fn curl(&self, path: &str, params: &[(&str, &str)]) -> Result<String, String> {
        let url = format!("http://{PROMETHEUS_LISTEN}{path}");
        let encoded: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut argv = vec![
            "curl",
            "-sS",
            "--fail",
            "--max-time",
            "5",
            "-G",
            url.as_str(),
        ];
        for p in &encoded {
            argv.extend(["--data-urlencode", p.as_str()]);
        }
        let out = self.node.try_exec(&argv);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "curl {url} {params:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// An API call's `data`, or Err when curl, the JSON or Prometheus says no.
    fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let body = self.curl(path, params)?;
        let reply: Value =
            serde_json::from_str(&body).map_err(|e| format!("{path}: {e}: {body}"))?;
        if reply["status"] != "success" {
            return Err(format!("{path} {params:?}: {reply}"));
        }
        Ok(reply["data"].clone())
    }

    /// The instant vector (or scalar, as one sample) `expr` evaluates to now.
    fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let data = self.api("/api/v1/query", &[("query", expr)])?;
        match data["resultType"].as_str() {
            Some("vector") => Ok(data["result"].as_array().cloned().unwrap_or_default()),
            Some("scalar") => Ok(vec![
                serde_json::json!({"metric": {}, "value": data["result"]}),
            ]),
            other => Err(format!("{expr}: result type {other:?}")),
        }
    }

    /// Label values of `label` over series matching `selector` (what Grafana's
    /// `label_values(selector, label)` asks).
    fn label_values(&self, label: &str, selector: &str) -> Result<Vec<String>, String> {
        let data = self.api(
            &format!("/api/v1/label/{label}/values"),
            &[("match[]", selector)],
        )?;
        Ok(data
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect())
    }

    /// (instance, health, last error) of every active target.
    fn targets(&self) -> Vec<(String, String, String)> {
        let Ok(data) = self.api("/api/v1/targets", &[]) else {
            return Vec::new();
        };
        data["activeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                (
                    t["labels"]["instance"].as_str().unwrap_or("").to_owned(),
                    t["health"].as_str().unwrap_or("").to_owned(),
                    t["lastError"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    /// Active alerts (pending or firing).
    fn alerts(&self) -> Vec<Value> {
        self.api("/api/v1/alerts", &[])
            .ok()
            .and_then(|d| d["alerts"].as_array().cloned())
            .unwrap_or_default()
    }

    /// Every loaded rule (name, health, last error, evaluated yet).
    fn rules(&self) -> Vec<(String, String, String, bool)> {
        let Ok(data) = self.api("/api/v1/rules", &[]) else {
            return Vec::new();
        };
        data["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .map(|r| {
                (
                    r["name"].as_str().unwrap_or("").to_owned(),
                    r["health"].as_str().unwrap_or("").to_owned(),
                    r["lastError"].as_str().unwrap_or("").to_owned(),
                    r["lastEvaluation"]
                        .as_str()
                        .is_some_and(|t| !t.starts_with("0001-")),
                )
            })
            .collect()
    }

    /// instance → the state whose vipd_instance_state series is 1, for VI_1.
    fn states(&self) -> BTreeMap<String, String> {
        let expr = format!("vipd_instance_state{{iname=\"{INSTANCE}\"}} == 1");
        self.query(&expr)
            .unwrap_or_default()
            .iter()
            .map(|s| {
                (
                    s["metric"]["instance"].as_str().unwrap_or("").to_owned(),
                    s["metric"]["state"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    /// Stops the server: SIGTERM, SIGKILL after 5 s.
    fn stop(&mut self) {
        self.proc.signal(SIGTERM);
        if self.proc.wait_exit(Duration::from_secs(5)).is_none() {
            self.proc.kill();
        }
    }
}

impl Drop for Prometheus<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The expected instance → state map, by target index.
fn expect_states(states: [&str; 2]) -> BTreeMap<String, String> {
    TARGETS
        .iter()
        .zip(states)
        .map(|(t, s)| (t.to_string(), s.to_owned()))
        .collect()
}

fn firing(alerts: &[Value], name: &str) -> bool {
    alerts
        .iter()
        .any(|a| a["labels"]["alertname"] == name && a["state"] == "firing")
}

/// Whether a query result holds a sample whose value is a number (not NaN).
fn has_number(samples: &[Value]) -> bool {
    samples.iter().any(|s| {
        s["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|v| !v.is_nan())
    })
}

/// Blocks VRRP input in `node` with nft (the split that makes both routers MASTER).
fn block_vrrp(lab: &Lab, node: &Node) {
    let script = lab.dir().join(format!("{}-block-vrrp.nft", node.name()));
    std::fs::write(
        &script,
        "add table inet vtsplit\n\
         add chain inet vtsplit in { type filter hook input priority 0 ; }\n\
         add rule inet vtsplit in ip protocol vrrp drop\n",
    )
    .expect("write nft script");
    node.exec(&["nft", "-f", script.to_str().expect("utf-8 path")]);
}

fn unblock_vrrp(node: &Node) {
    node.exec(&["nft", "delete", "table", "inet", "vtsplit"]);
}

/// The queries of conf/grafana/vipd.json.
struct DashboardQueries {
    /// (panel title and refId, expr).
    exprs: Vec<(String, String)>,
    /// (label, selector) of its `label_values(SELECTOR, LABEL)` variables.
    variables: Vec<(String, String)>,
}

fn vipd_dashboard() -> DashboardQueries {
    let path = repo_file("conf/grafana/vipd.json");
    let text = std::fs::read_to_string(&path).expect("read vipd.json");
    let dashboard: Value = serde_json::from_str(&text).expect("vipd.json is JSON");
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                let title = panel["title"].as_str().unwrap_or("?");
                exprs.push((format!("{title} {}", target["refId"]), expr.to_owned()));
            }
        }
    }
    let mut variables = Vec::new();
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        if let Some(query) = variable["query"]["query"].as_str() {
            let (selector, label) = query
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
                .and_then(|q| q.rsplit_once(','))
                .expect("label_values(SELECTOR, LABEL)");
            variables.push((label.trim().to_owned(), selector.trim().to_owned()));
        }
    }
    DashboardQueries { exprs, variables }
}

#[test]
fn metrics_prometheus_scrapes_both_routers_alerts_on_split_brain_and_feeds_the_dashboards() {
    let started = Instant::now();
    let lab = Lab::new("metrics_prometheus");
    let a = lab.add_node("gw-a");
    let b = lab.add_node("gw-b");
    let client = lab.add_node("client");
    a.add_addr("192.0.2.1/24");
    b.add_addr("192.0.2.2/24");
    client.add_addr("192.0.2.10/24");
    let (mut vipd_a, vipd_b) = start_elected(
        &a,
        &router_config(TARGETS[0], 150),
        &b,
        &router_config(TARGETS[1], 100),
    );
    for target in TARGETS {
        wait_for(
            Duration::from_secs(5),
            &format!("{target}/metrics answering the client"),
            || {
                client
                    .try_exec(&[
                        "curl",
                        "-sf",
                        "--max-time",
                        "2",
                        &format!("http://{target}/metrics"),
                    ])
                    .status
                    .success()
            },
        );
    }

    // Started once the pair has elected, so the startup (both BACKUP) raises no alert.
    let rules = lab_alert_rules(&lab);
    let mut prometheus = Prometheus::start(&lab, &client, &TARGETS, &rules);
    wait_for(Duration::from_secs(10), "both targets up", || {
        let targets = prometheus.targets();
        targets.len() == TARGETS.len() && targets.iter().all(|(_, health, _)| health == "up")
    });
    let healthy = expect_states(["MASTER", "BACKUP"]);
    wait_for(
        Duration::from_secs(10),
        "Prometheus: gw-a MASTER, gw-b BACKUP",
        || prometheus.states() == healthy,
    );
    let vrrp_state: BTreeMap<String, String> = prometheus
        .query(&format!("keepalived_vrrp_state{{iname=\"{INSTANCE}\"}}"))
        .expect("keepalived_vrrp_state")
        .iter()
        .map(|s| {
            (
                s["metric"]["instance"].as_str().unwrap_or("").to_owned(),
                s["value"][1].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        vrrp_state,
        TARGETS
            .iter()
            .zip(["2", "1"])
            .map(|(t, v)| (t.to_string(), v.to_owned()))
            .collect(),
        "keepalived_vrrp_state (2 MASTER, 1 BACKUP)"
    );

    // Every rule has evaluated cleanly against real data, and a healthy pair raises nothing.
    wait_for(Duration::from_secs(5), "every alert rule evaluated", || {
        let rules = prometheus.rules();
        rules.len() >= 6 && rules.iter().all(|(_, _, _, evaluated)| *evaluated)
    });
    std::thread::sleep(Duration::from_secs(2));
    for (name, health, error, _) in prometheus.rules() {
        assert_eq!(health, "ok", "rule {name}: {error}");
    }
    let quiet = prometheus.alerts();
    assert!(quiet.is_empty(), "alerts while healthy: {quiet:?}");

    // The split: neither router hears the other, both become MASTER.
    block_vrrp(&lab, &a);
    block_vrrp(&lab, &b);
    wait_for(Duration::from_secs(15), "VipdSplitBrain firing", || {
        firing(&prometheus.alerts(), "VipdSplitBrain")
    });
    let alerts = prometheus.alerts();
    let split = alerts
        .iter()
        .find(|a| a["labels"]["alertname"] == "VipdSplitBrain")
        .unwrap();
    assert_eq!(split["labels"]["iname"], INSTANCE, "{split}");
    assert_eq!(split["labels"]["vrid"], VRID.to_string(), "{split}");
    assert_eq!(split["labels"]["severity"], "critical", "{split}");
    assert_eq!(
        prometheus.states(),
        expect_states(["MASTER", "MASTER"]),
        "states during the split"
    );
    assert!(
        !firing(&alerts, "VipdNoMaster"),
        "VipdNoMaster during a split brain: {alerts:?}"
    );

    // Healed: gw-b hears gw-a's higher priority and steps down.
    unblock_vrrp(&a);
    unblock_vrrp(&b);
    wait_state(
        &vipd_b,
        "gw-b after the split",
        "BACKUP",
        Duration::from_secs(5),
    );
    wait_for(
        Duration::from_secs(10),
        "Prometheus: gw-a MASTER, gw-b BACKUP again",
        || prometheus.states() == healthy,
    );
    // Two scrapes of the healed pair, for irate() and rate() over the 30 s window.
    std::thread::sleep(Duration::from_millis(2500));

    let mut empty = Vec::new();
    let mut errors = Vec::new();
    let mut check = |what: String, expr: String| match prometheus.query(&expr) {
        Ok(samples) => {
            let not_served = NOT_SERVED.iter().find(|(m, _)| expr.contains(m));
            match (not_served, samples.is_empty()) {
                (None, false) | (Some(_), true) => {}
                (None, true) => empty.push(format!("{what}: {expr}")),
                (Some((m, _)), false) => errors.push(format!(
                    "{what}: {m} is served now; drop it from NOT_SERVED"
                )),
            }
        }
        Err(e) => errors.push(format!("{what}: {e}")),
    };
    // Dashboard 18270's master-change panel first: its 30 s window must still hold the samples
    // from before the split.
    let master_changes = DASHBOARD_18270.iter().filter(|(panel, _)| *panel == 127);
    let others = DASHBOARD_18270.iter().filter(|(panel, _)| *panel != 127);
    for (panel, expr) in master_changes.chain(others) {
        let expr = substitute_intervals(expr).replace("$instance", "(192.0.2.1|192.0.2.2)");
        check(format!("18270 panel {panel}"), expr);
    }
    for (panel, expr) in MEHDY_DASHBOARD {
        let expr = substitute_intervals(expr).replace(
            "instance=\"$instance\"",
            &format!("instance=~\"{}\"", TARGETS.join("|")),
        );
        check(format!("mehdy panel {panel}"), expr);
    }
    let DashboardQueries {
        exprs: vipd_exprs,
        variables: vipd_variables,
    } = vipd_dashboard();
    assert!(
        vipd_exprs.len() > 20,
        "{} vipd.json queries",
        vipd_exprs.len()
    );
    for (what, expr) in vipd_exprs {
        let expr = substitute_intervals(&expr)
            .replace("$instance", &TARGETS.join("|"))
            .replace("$iname", INSTANCE);
        check(format!("vipd.json {what}"), expr);
    }
    assert!(errors.is_empty(), "query errors:\n{}", errors.join("\n"));
    assert!(
        empty.is_empty(),
        "expressions without data:\n{}",
        empty.join("\n")
    );
    for (label, selector) in vipd_variables {
        let selector = selector
            .replace("$instance", &TARGETS.join("|"))
            .replace("$iname", INSTANCE);
        let values = prometheus
            .label_values(&label, &selector)
            .unwrap_or_else(|e| panic!("variable {label}: {e}"));
        let wanted: Vec<String> = match label.as_str() {
            "instance" => TARGETS.iter().map(|t| t.to_string()).collect(),
            _ => vec![INSTANCE.to_owned()],
        };
        assert_eq!(values, wanted, "label_values({selector}, {label})");
    }

    // gw-b's takeover during the split was a failover (missed adverts), with a duration.
    let failovers = prometheus
        .query(&format!(
            "vipd_instance_failover_duration_seconds_count{{instance=\"{}\"}}",
            TARGETS[1]
        ))
        .expect("failover count");
    assert!(
        failovers
            .iter()
            .any(|s| s["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()) >= Some(1.0)),
        "gw-b's failover was not counted: {failovers:?}"
    );
    let quantile = prometheus
        .query(
            "histogram_quantile(0.5, sum by (le) \
             (rate(vipd_instance_failover_duration_seconds_bucket[1h])))",
        )
        .expect("failover quantile");
    assert!(has_number(&quantile), "failover median: {quantile:?}");

    // gw-a stops (priority 0 first: gw-b takes over); its target goes down. The job is not named
    // after vipd, so VipdDown knows it by the vipd_build_info it served.
    stop_with(&mut vipd_a, SIGTERM, Duration::from_secs(5));
    wait_for(Duration::from_secs(15), "VipdDown firing for gw-a", || {
        prometheus.alerts().iter().any(|a| {
            a["labels"]["alertname"] == "VipdDown"
                && a["labels"]["instance"] == TARGETS[0]
                && a["state"] == "firing"
        })
    });
    wait_for(
        Duration::from_secs(10),
        "Prometheus: gw-b alone, MASTER",
        || prometheus.states() == BTreeMap::from([(TARGETS[1].to_owned(), "MASTER".to_owned())]),
    );
    // A NoMaster may flash between gw-a's priority 0 and gw-b's first advert; it must clear.
    let only_down = wait_until(Duration::from_secs(5), || {
        prometheus
            .alerts()
            .iter()
            .all(|a| a["labels"]["alertname"] == "VipdDown")
    });
    assert!(
        only_down,
        "alerts other than VipdDown after gw-b took over: {:?}",
        prometheus.alerts()
    );

    prometheus.stop();
    let elapsed = started.elapsed();
    eprintln!("metrics_prometheus: {elapsed:?}");
}
