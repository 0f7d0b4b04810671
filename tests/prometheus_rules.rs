//! The shipped monitoring files, checked with Debian's `promtool` (package `prometheus`, installed
//! by scripts/setup.sh): `conf/prometheus/vipd-alerts.yml` passes `promtool check rules` and its
//! unit tests `vipd-alerts.test.yml` pass `promtool test rules`, every alert is tested firing and
//! quiet; `conf/grafana/vipd.json` is an importable dashboard whose every PromQL expression
//! parses (promtool has no expression checker, so each one becomes a recording rule of a
//! scratch rule file that `promtool check rules` parses). A missing promtool fails the tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use vipd::observe::metrics::{render, Families};
use vipd::observe::Snapshot;

const RULES: &str = "conf/prometheus/vipd-alerts.yml";
const RULE_TESTS: &str = "conf/prometheus/vipd-alerts.test.yml";
const DASHBOARD: &str = "conf/grafana/vipd.json";

/// What Grafana puts in for its built-in variables when the tests parse the expressions.
const GRAFANA_INTERVALS: [(&str, &str); 3] = [
    ("$__rate_interval", "1m"),
    ("$__interval", "1m"),
    ("$__range", "1h"),
];

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    let path = repo_path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn yaml(relative: &str) -> Value {
    serde_saphyr::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Runs promtool; fails the test (never skips it) when the binary is missing.
fn promtool(args: &[&str], dir: &Path) -> Output {
    Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}): install Debian's `prometheus` package \
                 (bash scripts/setup.sh does)"
            )
        })
}

fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "vipd-prometheus-rules-{}-{tag}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn alert_rules() -> Vec<Value> {
    let rules = yaml(RULES);
    rules["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").clone())
        .collect()
}

#[test]
fn alert_rules_pass_promtool_check() {
    let out = promtool(&["check", "rules", RULES], &repo_path(""));
    let text = output_text(&out);
    assert!(
        out.status.success(),
        "promtool check rules {RULES}:\n{text}"
    );
    let expected = format!("SUCCESS: {} rules found", alert_rules().len());
    assert!(text.contains(&expected), "expected {expected:?}:\n{text}");
}

#[test]
fn alert_rules_pass_their_promtool_unit_tests() {
    let out = promtool(&["test", "rules", RULE_TESTS], &repo_path(""));
    let text = output_text(&out);
    assert!(
        out.status.success(),
        "promtool test rules {RULE_TESTS}:\n{text}"
    );
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn every_alert_has_for_severity_annotations_and_firing_and_quiet_tests() {
    let rules = alert_rules();
    let alerts: BTreeSet<String> = rules
        .iter()
        .map(|r| r["alert"].as_str().expect("only alerting rules").to_owned())
        .collect();
    for required in [
        "VipdNoMaster",
        "VipdSplitBrain",
        "VipdFlapping",
        "VipdInstanceFault",
        "VipdTrackerFailing",
        "VipdDown",
    ] {
        assert!(alerts.contains(required), "no alert {required}");
    }
    for rule in &rules {
        let name = rule["alert"].as_str().unwrap();
        assert!(
            rule["for"].as_str().is_some_and(|f| !f.is_empty()),
            "{name}: no `for`"
        );
        assert!(
            matches!(
                rule["labels"]["severity"].as_str(),
                Some("critical" | "warning")
            ),
            "{name}: severity {}",
            rule["labels"]["severity"]
        );
        for annotation in ["summary", "description"] {
            assert!(
                rule["annotations"][annotation]
                    .as_str()
                    .is_some_and(|t| t.len() > 10),
                "{name}: no {annotation}"
            );
        }
    }
    // The cluster-wide alerts sum over the routers of one LAN, which share iname and vrid.
    for name in ["VipdNoMaster", "VipdSplitBrain"] {
        let rule = rules.iter().find(|r| r["alert"] == name).unwrap();
        let expr = rule["expr"].as_str().unwrap();
        assert!(
            expr.contains("by (iname, vrid)"),
            "{name} does not group by iname and vrid: {expr}"
        );
    }

    // (fires somewhere, is quiet somewhere) per alert, over every promtool test case.
    let mut tested: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    let tests = yaml(RULE_TESTS);
    for case in tests["tests"].as_array().expect("tests") {
        for check in case["alert_rule_test"].as_array().into_iter().flatten() {
            let name = check["alertname"].as_str().expect("alertname").to_owned();
            assert!(alerts.contains(&name), "a test checks unknown alert {name}");
            let fires = check["exp_alerts"]
                .as_array()
                .is_some_and(|a| !a.is_empty());
            let entry = tested.entry(name).or_default();
            if fires {
                entry.0 = true;
            } else {
                entry.1 = true;
            }
        }
    }
    for alert in &alerts {
        assert_eq!(
            tested.get(alert),
            Some(&(true, true)),
            "{alert}: (tested firing, tested quiet)"
        );
    }
}

fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD)).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"))
}

/// Every panel, rows' collapsed children included.
fn panels(dashboard: &Value) -> Vec<Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        all.push(panel.clone());
        all.extend(panel["panels"].as_array().into_iter().flatten().cloned());
    }
    all
}

/// (panel title, refId, expr) of every query of the dashboard.
fn dashboard_exprs(dashboard: &Value) -> Vec<(String, String, String)> {
    panels(dashboard)
        .iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or("").to_owned();
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |t| {
                    (
                        title.clone(),
                        t["refId"].as_str().unwrap_or("").to_owned(),
                        t["expr"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `expr` with the dashboard's variables and Grafana's interval variables filled in.
fn substitute(expr: &str) -> String {
    let mut text = expr.to_owned();
    for (variable, value) in GRAFANA_INTERVALS {
        text = text.replace(variable, value);
    }
    text.replace("$instance", ".*").replace("$iname", ".*")
}

#[test]
fn dashboard_is_importable_grafana_json() {
    let d = dashboard();
    assert!(
        d["schemaVersion"].as_u64().is_some_and(|v| v >= 38),
        "schemaVersion {}",
        d["schemaVersion"]
    );
    assert!(d["uid"]
        .as_str()
        .is_some_and(|u| !u.is_empty() && u.len() <= 40));
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(d["id"].is_null(), "an exported dashboard has id null");

    let variables = d["templating"]["list"].as_array().expect("templating");
    let variable = |name: &str| {
        variables
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no variable {name}"))
    };
    let datasource = variable("datasource");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");
    for name in ["instance", "iname"] {
        let v = variable(name);
        assert_eq!(v["type"], "query", "{name}");
        assert_eq!(v["datasource"]["uid"], "${datasource}", "{name}");
        let query = v["query"]["query"].as_str().expect("variable query");
        assert!(query.starts_with("label_values("), "{name}: {query}");
    }

    let all = panels(&d);
    let mut ids = BTreeSet::new();
    let mut cells: BTreeSet<(u64, u64)> = BTreeSet::new();
    for panel in &all {
        let title = panel["title"].as_str().unwrap_or("?");
        assert!(
            ids.insert(panel["id"].as_u64().expect("panel id")),
            "duplicate panel id: {title}"
        );
        let grid = &panel["gridPos"];
        let (x, y, w, h) = (
            grid["x"].as_u64().expect("x"),
            grid["y"].as_u64().expect("y"),
            grid["w"].as_u64().expect("w"),
            grid["h"].as_u64().expect("h"),
        );
        assert!(w > 0 && h > 0 && x + w <= 24, "{title}: gridPos {grid}");
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(cells.insert((cx, cy)), "{title} overlaps another panel");
            }
        }
        let kind = panel["type"].as_str().expect("panel type");
        assert!(
            matches!(
                kind,
                "row" | "stat" | "timeseries" | "state-timeline" | "table"
            ),
            "{title}: panel type {kind} (core panels only)"
        );
        if kind == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        assert_eq!(panel["datasource"]["type"], "prometheus", "{title}");
        assert!(
            panel["description"].as_str().is_some_and(|t| t.len() > 20),
            "{title}: no description"
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{title}");
            assert!(target["refId"].as_str().is_some(), "{title}: no refId");
            assert!(
                target["expr"]
                    .as_str()
                    .is_some_and(|e| !e.trim().is_empty()),
                "{title}: empty expr"
            );
        }
    }

    // What the issue asks the dashboard to show, by the metric behind it.
    let exprs: String = dashboard_exprs(&d)
        .into_iter()
        .map(|(_, _, e)| e + "\n")
        .collect();
    for metric in [
        "vipd_instance_state{state=\"MASTER\"",
        "vipd_instance_effective_priority",
        "vipd_tracker_weight_applied",
        "vipd_instance_transitions_total",
        "histogram_quantile(0.9, sum by (le, iname, vrid) (rate(vipd_instance_failover_duration_seconds_bucket",
        "keepalived_advertisements_sent_total",
        "keepalived_advertisements_received_total",
        "vipd_instance_adverts_rejected_total",
        "vipd_vip_present",
        "vipd_tracker_status",
    ] {
        assert!(exprs.contains(metric), "no panel queries {metric}");
    }
    assert!(
        all.iter().any(|p| p["type"] == "state-timeline"
            && p["targets"][0]["expr"]
                .as_str()
                .is_some_and(|e| e.contains("state=\"MASTER\""))),
        "no state timeline of who is master"
    );
}

/// Writes each expression as a recording rule of a scratch file and runs `promtool check rules`.
fn promtool_parses(exprs: &[(String, String)], tag: &str) -> Result<String, String> {
    let scratch = Scratch::new(tag);
    let mut file = String::from("groups:\n  - name: dashboard_exprs\n    rules:\n");
    for (i, (what, expr)) in exprs.iter().enumerate() {
        // A JSON string is a YAML double-quoted scalar.
        file += &format!(
            "      # {}\n      - record: dashboard:expr_{i}\n        expr: {}\n",
            what.replace('\n', " "),
            serde_json::to_string(expr).unwrap()
        );
    }
    std::fs::write(scratch.0.join("exprs.yml"), &file).unwrap();
    let out = promtool(&["check", "rules", "exprs.yml"], &scratch.0);
    let text = output_text(&out);
    if out.status.success() && text.contains(&format!("SUCCESS: {} rules found", exprs.len())) {
        Ok(text)
    } else {
        Err(format!("{text}\n--- exprs.yml ---\n{file}"))
    }
}

#[test]
fn every_dashboard_expression_parses() {
    let d = dashboard();
    let mut exprs: Vec<(String, String)> = dashboard_exprs(&d)
        .into_iter()
        .map(|(title, ref_id, expr)| (format!("{title} {ref_id}"), substitute(&expr)))
        .collect();
    // The selectors inside the query variables' label_values(SELECTOR, label).
    for variable in d["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"]["query"].as_str() {
            let inner = query
                .strip_prefix("label_values(")
                .and_then(|q| q.rsplit_once(','))
                .map(|(selector, _)| selector)
                .expect("label_values(SELECTOR, LABEL)");
            exprs.push((format!("variable {}", variable["name"]), substitute(inner)));
        }
    }
    assert!(exprs.len() > 20, "only {} expressions", exprs.len());
    for (what, expr) in &exprs {
        assert!(!expr.contains('$'), "{what}: unknown variable in {expr}");
    }
    if let Err(report) = promtool_parses(&exprs, "dashboard") {
        panic!("promtool rejects a dashboard expression:\n{report}");
    }
}

/// The `vipd_*` and `keepalived_*` metric names `text` mentions.
fn metric_names(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|word| word.starts_with("vipd_") || word.starts_with("keepalived_"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_metric_the_dashboard_and_rules_query_is_served() {
    let exposition = render(&Snapshot::synthetic(8), Families::default());
    let served: BTreeSet<String> = exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| line.split(['{', ' ']).next().unwrap().to_owned())
        .collect();
    let d = dashboard();
    let mut queried: Vec<(String, String)> = dashboard_exprs(&d)
        .into_iter()
        .map(|(title, ref_id, expr)| (format!("{DASHBOARD} {title} {ref_id}"), expr))
        .collect();
    for variable in d["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"]["query"].as_str() {
            queried.push((
                format!("{DASHBOARD} variable {}", variable["name"]),
                query.into(),
            ));
        }
    }
    for rule in alert_rules() {
        let expr = rule["expr"].as_str().unwrap().to_owned();
        queried.push((format!("{RULES} {}", rule["alert"]), expr));
    }
    let mut names = 0;
    for (what, expr) in &queried {
        for name in metric_names(expr) {
            names += 1;
            assert!(served.contains(&name), "{what}: {name} is not in /metrics");
        }
    }
    assert!(names > 30, "only {names} metric names found");
}

#[test]
fn the_expression_check_rejects_a_broken_expression() {
    let broken = vec![
        (
            "fine".to_owned(),
            "sum by (iname) (vipd_vip_present)".to_owned(),
        ),
        (
            "broken".to_owned(),
            "sum by (iname (vipd_vip_present)".to_owned(),
        ),
    ];
    assert!(promtool_parses(&broken, "broken").is_err());
}
