//! The HTTP listener of a real vipd in the lab: `/metrics`, `/status` (the same JSON as
//! `vipd status --json`), the status page (checked and photographed by headless Chromium),
//! 404/405, `metrics_listen: off`, the default address, and a port taken by another program
//! (logged, shown in status, retried) while VRRP runs on.

use crate::daemon_support::*;
use crate::lab::*;
use std::time::Duration;

const VIP: &str = "192.0.2.100/24";
const VIP2: &str = "192.0.2.101/24";
const URL: &str = "http://127.0.0.1:9165";

/// `VI_1` (VRRPv3, advert_int 0.1) with `global` keys in global_defs and two trackers that move
/// the priority: a script that passes (+10) and a TCP check nobody answers (−20).
fn config(global: &str, priority: u8) -> String {
    format!(
        "global_defs: {{vrrp_version: 3{global}}}\n\
         vrrp_script:\n  \
           chk_true: {{script: /bin/true, interval: 0.5, weight: 10}}\n  \
           chk_api: {{tcp_connect: \"127.0.0.1:6443\", interval: 0.5, timeout: 0.2, weight: -20}}\n\
         vrrp_instance:\n  \
           {INSTANCE}: {{interface: eth0, virtual_router_id: 61, priority: {priority}, advert_int: 0.1, \
         track_script: [chk_true, chk_api], virtual_ipaddress: [\"{VIP}\"]}}\n"
    )
}

/// [`config`] plus `VI_2` (VRID 62) at `second_priority`, so the page shows a backup too.
fn config_two(global: &str, priority: u8, second_priority: u8) -> String {
    format!(
        "{}  VI_2: {{interface: eth0, virtual_router_id: 62, priority: {second_priority}, \
         advert_int: 0.1, virtual_ipaddress: [\"{VIP2}\"]}}\n",
        config(global, priority)
    )
}

/// `curl` in `node`: the status code and the body (`-i`: headers first when `headers`).
fn curl(node: &Node, args: &[&str]) -> (String, String) {
    let mut argv = vec!["curl", "-sS", "-m", "5", "-w", "\n%{http_code}"];
    argv.extend_from_slice(args);
    let out = node.try_exec(&argv);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().to_owned(), body.to_owned())
}

/// Headless Chromium in `node` with a fresh profile in the lab dir.
fn chromium(node: &Node, lab: &Lab, extra: &[&str]) -> std::process::Output {
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let profile = lab.dir().join(format!("chromium-profile-{run}"));
    std::fs::create_dir_all(&profile).unwrap();
    let user_data = format!("--user-data-dir={}", profile.display());
    let mut argv = vec![
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        &user_data,
    ];
    argv.extend_from_slice(extra);
    node.try_exec(&argv)
}

#[test]
fn metrics_http_pages_in_curl_and_chromium() {
    let lab = Lab::new("metrics_http_pages");
    let (a, b) = two_gateways(&lab);
    let (vipd_a, vipd_b) = start_elected(
        &a,
        &config_two(", metrics_listen: \"127.0.0.1:9165\"", 150, 100),
        &b,
        &config_two(", metrics_listen: off", 100, 150),
    );
    wait_for(Duration::from_secs(5), "gw-a: VI_2 backup of gw-b", || {
        vipd_a
            .instance("VI_2")
            .is_some_and(|i| i["state"] == "BACKUP" && i["master"] == "192.0.2.2")
    });
    wait_for(Duration::from_secs(5), "gw-a: both trackers ran", || {
        vipd_a
            .instance(INSTANCE)
            .is_some_and(|i| i["effective_priority"] == 140)
    });

    let (code, metrics) = curl(&a, &["-i", &format!("{URL}/metrics")]);
    assert_eq!(code, "200", "{metrics}");
    assert!(
        metrics.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
        "{metrics}"
    );
    assert!(metrics.contains("\nkeepalived_up 1\n"), "{metrics}");

    let (code, body) = curl(&a, &[&format!("{URL}/status")]);
    assert_eq!(code, "200", "{body}");
    let http_status: serde_json::Value = serde_json::from_str(&body).expect("/status is JSON");
    let cli_status = vipd_a.status();
    let instance = &http_status["instances"][0];
    assert_eq!(instance["name"], INSTANCE);
    assert_eq!(instance["state"], "MASTER");
    assert_eq!(instance["effective_priority"], 140);
    assert_eq!(
        instance["priority_breakdown"],
        cli_status["instances"][0]["priority_breakdown"]
    );
    assert_eq!(http_status["pid"], cli_status["pid"]);
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&http_status), keys(&cli_status), "same JSON document");
    assert_eq!(keys(instance), keys(&cli_status["instances"][0]));

    let (code, page) = curl(&a, &[&format!("{URL}/")]);
    assert_eq!(code, "200");
    assert!(page.contains(r#"<meta http-equiv="refresh" content="2">"#));
    assert!(page.contains("<h2>VI_1</h2>"), "{page}");

    let (code, _) = curl(&a, &[&format!("{URL}/nope")]);
    assert_eq!(code, "404");
    let (code, _) = curl(&a, &["-X", "POST", &format!("{URL}/metrics")]);
    assert_eq!(code, "405");
    let (code, _) = curl(&a, &["-I", &format!("{URL}/metrics")]);
    assert_eq!(code, "200", "HEAD");

    // metrics_listen: off on gw-b: nothing listens.
    let (code, _) = curl(&b, &[&format!("{URL}/metrics")]);
    assert_eq!(code, "000", "gw-b has metrics_listen: off");
    assert!(vipd_b.status()["errors"].as_array().unwrap().is_empty());

    // The page in a real browser: its text, then a screenshot for the README.
    let dom = chromium(&a, &lab, &["--dump-dom", &format!("{URL}/")]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    for text in [
        "<h2>VI_1</h2>",
        ">MASTER<",
        "150 → 140: chk_true passing (+10), chk_api failing (-20)",
        "this router",
        "192.0.2.100/24",
        "chk_api",
        "tcp 127.0.0.1:6443",
        "Recent transitions",
        "BACKUP → ",
        "master down timer expired",
        "<h2>VI_2</h2>",
        ">BACKUP<",
        "192.0.2.2",
    ] {
        assert!(dom.contains(text), "chromium's DOM lacks {text:?}:\n{dom}");
    }
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&target).unwrap();
    let shot = target.join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    let out = chromium(
        &a,
        &lab,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,800",
            "--hide-scrollbars",
            &format!("{URL}/"),
        ],
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot at {}: {e}\n{}",
            shot.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(
        png.len() > 10_000,
        "a page, not a blank: {} bytes",
        png.len()
    );
    // VRRP never noticed: still exactly one master.
    assert_sole_master(&pair(&a, &vipd_a, &b, &vipd_b), 0, VIP);
}

#[test]
fn metrics_http_taken_port_is_reported_and_retried_while_vrrp_runs() {
    let lab = Lab::new("metrics_http_taken_port");
    let (a, b) = two_gateways(&lab);
    let mut squatter = a.spawn_labelled(
        "squatter",
        &[
            "python3",
            "-c",
            "import socket,time\n\
             s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('127.0.0.1', 9165)); s.listen()\n\
             print('listening', flush=True); time.sleep(600)",
        ],
    );
    wait_for(Duration::from_secs(5), "squatter on 9165", || {
        squatter.log().contains("listening")
    });
    // gw-b leaves metrics_listen out: the default, 127.0.0.1:9165.
    let (vipd_a, vipd_b) = start_elected(&a, &config("", 150), &b, &config("", 100));
    let (code, _) = curl(&b, &[&format!("{URL}/metrics")]);
    assert_eq!(code, "200", "the default listens on 127.0.0.1:9165");

    // The listener's errors among the daemon's.
    let errors = |v: &VipdProc| -> Vec<String> {
        v.status()["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .filter(|e| e.starts_with("metrics_listen "))
            .collect()
    };
    wait_for(
        Duration::from_secs(5),
        "gw-a reports the taken port",
        || {
            errors(&vipd_a)
                .iter()
                .any(|e| e.starts_with("metrics_listen 127.0.0.1:9165: cannot listen"))
        },
    );
    let error = errors(&vipd_a).remove(0);
    assert!(
        error.contains("another program listens on that port"),
        "{error}"
    );
    assert!(vipd_a.log().contains(&error), "logged: {}", vipd_a.log());
    let text = a.exec_stdout(&[
        vipd_binary(),
        "status",
        "--runtime-dir",
        vipd_a.runtime_dir.to_str().unwrap(),
    ]);
    assert!(text.contains(&format!("error: {error}")), "{text}");
    // VRRP runs on: adverts keep leaving, gw-b stays backup.
    let sent = counter(&vipd_a, "adverts_sent");
    std::thread::sleep(Duration::from_secs(1));
    assert!(counter(&vipd_a, "adverts_sent") >= sent + 8);
    assert_sole_master(&pair(&a, &vipd_a, &b, &vipd_b), 0, VIP);

    // The port frees: within the retry interval vipd listens and the error is gone.
    squatter.kill();
    wait_for(
        Duration::from_secs(8),
        "gw-a listening once the port is free",
        || curl(&a, &[&format!("{URL}/metrics")]).0 == "200",
    );
    assert!(errors(&vipd_a).is_empty(), "{:?}", errors(&vipd_a));
    assert!(vipd_a
        .log()
        .contains("serving /metrics, /status and / on http://127.0.0.1:9165/"));
}
