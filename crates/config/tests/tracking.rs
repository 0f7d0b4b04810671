//! Health tracking: `vrrp_script` (keepalived's scripts and vipd's own checks), `track_file`,
//! `vrrp_track_process`, and the `track_*` lists of instances and sync groups that reference
//! them. Every default, both reference forms, every error with its position, the warnings, and
//! a realistic HAProxy pair.

use std::net::SocketAddr;
use std::path::PathBuf;

use vipd_config::*;

fn load(yaml: &str) -> Loaded {
    parse_str(yaml, "vipd.yaml").unwrap_or_else(|e| panic!("rejected:\n{e}"))
}

fn errors(yaml: &str) -> Vec<String> {
    match parse_str(yaml, "vipd.yaml") {
        Err(LoadError::Invalid { errors, .. }) => errors.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("unexpected error kind: {other}"),
        Ok(loaded) => panic!("accepted: {:#?}", loaded.config),
    }
}

fn warnings(yaml: &str) -> Vec<String> {
    load(yaml)
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Asserts that some error starts with `prefix` (file:line:col: key:) and contains `text`.
fn assert_error(yaml: &str, prefix: &str, text: &str) {
    let errs = errors(yaml);
    assert!(
        errs.iter()
            .any(|e| e.starts_with(prefix) && e.contains(text)),
        "no error starting with {prefix:?} containing {text:?} in:\n{}",
        errs.join("\n")
    );
}

fn assert_warning(yaml: &str, prefix: &str, text: &str) {
    let warns = warnings(yaml);
    assert!(
        warns
            .iter()
            .any(|w| w.starts_with(prefix) && w.contains(text)),
        "no warning starting with {prefix:?} containing {text:?} in:\n{}",
        warns.join("\n")
    );
}

/// An instance on lines 1–5 whose line 6 onwards is `extra` (indented by 4 already), then
/// `defs` (top-level blocks) after it.
fn with(extra: &str, defs: &str) -> String {
    format!(
        "vrrp_instance:\n  VI:\n    interface: eth0\n    virtual_router_id: 60\n    virtual_ipaddress: [192.0.2.3/24]\n{extra}{defs}"
    )
}

/// A script `S` tracked by the instance: lines 1–6 are the instance, line 7 `vrrp_script:`,
/// line 8 `  S:`, line 9 onwards `body` (indented by 4 already).
fn script(body: &str) -> String {
    with(
        "    track_script: [S]\n",
        &format!("vrrp_script:\n  S:\n{body}"),
    )
}

fn only_script(body: &str) -> VrrpScript {
    load(&script(body)).config.scripts.remove(0)
}

fn track_ref(name: &str, weight: i16, reverse: bool) -> TrackRef {
    TrackRef {
        name: name.into(),
        weight,
        reverse,
    }
}

#[test]
fn vrrp_script_defaults_are_keepalived_s() {
    let loaded = load(&script("    script: \"/bin/sh -c true\"\n"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let s = &loaded.config.scripts[0];
    assert_eq!(
        *s,
        VrrpScript {
            name: "S".into(),
            check: Check::Script {
                command: "/bin/sh -c true".into()
            },
            interval_us: 1_000_000,
            timeout_us: 1_000_000,
            weight: 0,
            reverse: false,
            rise: 1,
            fall: 1,
            user: None,
            init_fail: false,
        }
    );
    // An unset timeout is the interval, as keepalived runs it.
    let s = only_script("    script: /bin/true\n    interval: 3\n");
    assert_eq!((s.interval_us, s.timeout_us), (3_000_000, 3_000_000));
    // The reference takes the definition's weight and reverse.
    let loaded = load(&script(
        "    script: /bin/true\n    weight: \"-20 reverse\"\n",
    ));
    assert_eq!(
        loaded.config.instances[0].track_scripts,
        [track_ref("S", -20, true)]
    );
}

#[test]
fn every_vrrp_script_keyword_is_read() {
    let s = only_script(
        "    script: /bin/true
    interval: 2.5
    timeout: 1
    weight: 30
    rise: 3
    fall: 4
    user: nobody nogroup
    init_fail: true
",
    );
    assert_eq!(s.interval_us, 2_500_000);
    assert_eq!(s.timeout_us, 1_000_000);
    assert_eq!((s.weight, s.reverse), (30, false));
    assert_eq!((s.rise, s.fall), (3, 4));
    assert_eq!(
        s.user,
        Some(ScriptUser {
            user: "nobody".into(),
            group: Some("nogroup".into())
        })
    );
    assert!(s.init_fail);
}

#[test]
fn weight_and_reverse_in_both_spellings() {
    for body in [
        "    weight: \"-20 reverse\"\n",
        "    weight: -20\n    reverse: true\n",
        "    reverse: true\n    weight: \"-20 reverse\"\n",
    ] {
        let s = only_script(&format!("    tcp_connect: 127.0.0.1:80\n{body}"));
        assert_eq!((s.weight, s.reverse), (-20, true), "{body}");
    }
    let s = only_script("    tcp_connect: 127.0.0.1:80\n    weight: -20\n");
    assert_eq!((s.weight, s.reverse), (-20, false));
}

#[test]
fn built_in_checks_and_their_defaults() {
    let s = only_script("    tcp_connect: \"[2001:db8::1]:443\"\n");
    assert_eq!(
        s.check,
        Check::TcpConnect("[2001:db8::1]:443".parse().unwrap())
    );
    let s = only_script("    icmp_echo: 192.0.2.1\n");
    assert_eq!(s.check, Check::IcmpEcho("192.0.2.1".parse().unwrap()));

    let s = only_script("    http_get: {url: \"https://localhost:6443/healthz\"}\n");
    assert_eq!(
        s.check,
        Check::HttpGet(HttpGet {
            url: "https://localhost:6443/healthz".into(),
            tls: true,
            host: "localhost".into(),
            addr: "127.0.0.1:6443".parse().unwrap(),
            path: "/healthz".into(),
            status: vec![200..=200],
            body_contains: None,
            tls_verify: true,
        })
    );
    // The URL alone is the short form.
    let Check::HttpGet(get) = only_script("    http_get: http://192.0.2.1\n").check else {
        panic!()
    };
    assert_eq!(get.addr, "192.0.2.1:80".parse::<SocketAddr>().unwrap());
    assert_eq!(get.path, "/");
    assert!(get.accepts_status(200) && !get.accepts_status(204));

    let s = only_script("    dns_query: {server: 192.0.2.53, name: example.org}\n");
    assert_eq!(
        s.check,
        Check::DnsQuery(DnsQuery {
            server: "192.0.2.53:53".parse().unwrap(),
            name: "example.org.".into(),
            record_type: DnsRecordType::A,
            expect_answer: true,
        })
    );
}

#[test]
fn every_built_in_check_keyword_is_read() {
    let Check::HttpGet(get) = only_script(
        "    http_get:
      url: https://[2001:db8::1]/ready?full=1
      status: [200, \"300-399\", 204]
      body_contains: ok
      tls_verify: false
",
    )
    .check
    else {
        panic!()
    };
    assert_eq!(get.host, "[2001:db8::1]");
    assert_eq!(get.addr, "[2001:db8::1]:443".parse::<SocketAddr>().unwrap());
    assert_eq!(get.path, "/ready?full=1");
    assert_eq!(get.status, vec![200..=200, 300..=399, 204..=204]);
    assert!(get.accepts_status(302) && get.accepts_status(204) && !get.accepts_status(201));
    assert_eq!(get.body_contains.as_deref(), Some("ok"));
    assert!(!get.tls_verify);
    let Check::HttpGet(get) =
        only_script("    http_get: {url: \"http://192.0.2.1:8080/\", status: 200-299}\n").check
    else {
        panic!()
    };
    assert_eq!(get.status, vec![200..=299]);
    assert_eq!(get.addr.port(), 8080);

    let Check::DnsQuery(q) = only_script(
        "    dns_query: {server: \"[2001:db8::53]:5353\", name: \"_sip._udp.example.org.\", type: srv, expect_answer: false}\n",
    )
    .check
    else {
        panic!()
    };
    assert_eq!(
        q.server,
        "[2001:db8::53]:5353".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(q.name, "_sip._udp.example.org.");
    assert_eq!(
        (q.record_type, q.record_type.code()),
        (DnsRecordType::Srv, 33)
    );
    assert!(!q.expect_answer);
}

#[test]
fn track_file_defaults_and_keywords() {
    let yaml = with(
        "    track_file: [F, G]\n",
        "track_file:
  F:
    file: /run/vipd/f
  G:
    file: /run/vipd/g
    weight: \"-10 reverse\"
    init_file: 5 overwrite
",
    );
    let loaded = load(&yaml);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let config = loaded.config;
    assert_eq!(
        config.track_files,
        vec![
            TrackFileDef {
                name: "F".into(),
                path: PathBuf::from("/run/vipd/f"),
                weight: 1,
                reverse: false,
                init_file: None,
            },
            TrackFileDef {
                name: "G".into(),
                path: PathBuf::from("/run/vipd/g"),
                weight: -10,
                reverse: true,
                init_file: Some(TrackFileInit {
                    value: 5,
                    overwrite: true
                }),
            },
        ]
    );
    assert_eq!(
        config.instances[0].track_files,
        [track_ref("F", 1, false), track_ref("G", -10, true)]
    );
    let init = |spelling: &str| {
        let yaml = with(
            "    track_file: [F]\n",
            &format!("track_file:\n  F:\n    file: /run/f\n    init_file: {spelling}\n"),
        );
        load(&yaml).config.track_files[0].init_file
    };
    let value = |value, overwrite| Some(TrackFileInit { value, overwrite });
    assert_eq!(init("true"), value(0, false));
    assert_eq!(
        init(""),
        value(0, false),
        "a bare init_file, as keepalived's"
    );
    assert_eq!(init("false"), None);
    assert_eq!(init("-3"), value(-3, false));
    assert_eq!(init("overwrite"), value(0, true));
    assert_eq!(init("{value: 7, overwrite: true}"), value(7, true));
}

#[test]
fn vrrp_track_file_is_the_deprecated_spelling() {
    let yaml = with(
        "    track_file: [F]\n",
        "vrrp_track_file:\n  F:\n    file: /run/f\n",
    );
    let loaded = load(&yaml);
    assert_eq!(loaded.config.track_files[0].name, "F");
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(
        loaded.warnings[0].to_string(),
        "vipd.yaml:7:1: vrrp_track_file: vrrp_track_file is keepalived's deprecated spelling of track_file (both are read)"
    );
    let both = with(
        "    track_file: [F]\n",
        "track_file:\n  F:\n    file: /run/f\nvrrp_track_file:\n  F:\n    file: /run/g\n",
    );
    assert_error(
        &both,
        "vipd.yaml:11:3: vrrp_track_file.F: ",
        "track_file F is already defined at line 8",
    );
}

#[test]
fn track_process_defaults_and_keywords() {
    let yaml = with(
        "    track_process: [P, Q]\n",
        "vrrp_track_process:
  P:
    process: haproxy
  Q:
    process: /usr/sbin/haproxy -f /etc/haproxy/haproxy.cfg
    param_match: partial
    weight: 10 reverse
    quorum: 2
    quorum_max: 4
    delay: 0.5
    fork_delay: 2
",
    );
    let loaded = load(&yaml);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let config = loaded.config;
    assert_eq!(
        config.track_processes[0],
        TrackProcessDef {
            name: "P".into(),
            process: "haproxy".into(),
            params: vec![],
            param_match: None,
            full_command: false,
            weight: 0,
            reverse: false,
            quorum: 1,
            quorum_max: None,
            fork_delay_us: 0,
            terminate_delay_us: 0,
        }
    );
    assert_eq!(
        config.track_processes[1],
        TrackProcessDef {
            name: "Q".into(),
            process: "/usr/sbin/haproxy".into(),
            params: vec!["-f".into(), "/etc/haproxy/haproxy.cfg".into()],
            param_match: Some(ParamMatch::Partial),
            full_command: true,
            weight: 10,
            reverse: true,
            quorum: 2,
            quorum_max: Some(4),
            // `delay` sets both, then `fork_delay` (later in the file) overrides one.
            fork_delay_us: 2_000_000,
            terminate_delay_us: 500_000,
        }
    );
    assert_eq!(
        config.instances[0].track_processes,
        [track_ref("P", 0, false), track_ref("Q", 10, true)]
    );
    let process = |body: &str| {
        let yaml = with(
            "    track_process: [P]\n",
            &format!("vrrp_track_process:\n  P:\n{body}"),
        );
        load(&yaml).config.track_processes.remove(0)
    };
    // Parameters imply an exact match on the command line; a list keeps spaces in a parameter.
    let p = process("    process: [nginx, \"-g\", \"daemon off;\"]\n");
    assert_eq!(p.params, ["-g", "daemon off;"]);
    assert_eq!(p.param_match, Some(ParamMatch::Exact));
    assert!(p.full_command);
    // A bare param_match is keepalived's "no parameters at all".
    let p = process("    process: keepalived\n    param_match:\n");
    assert_eq!(
        (p.param_match, p.full_command),
        (Some(ParamMatch::Exact), true)
    );
    let p = process("    process: /usr/bin/python3\n    full_command: true\n");
    assert_eq!((p.param_match, p.full_command), (None, true));
    // quorum_max 0: passing only while none runs.
    let p = process("    process: telnetd\n    quorum_max: 0\n");
    assert_eq!((p.quorum, p.quorum_max), (0, Some(0)));
    assert_eq!(
        process("    process: x\n    param_match: initial\n").param_match,
        Some(ParamMatch::Initial)
    );
}

#[test]
fn references_in_both_forms_override_the_definition() {
    let yaml = "\
vrrp_instance:
  VI:
    interface: eth0
    virtual_router_id: 60
    virtual_ipaddress: [192.0.2.3/24]
    track_script:
      - S
      - T weight 5
      - U weight -7 noreverse
      - {name: V, weight: 9, reverse: true}
      - {name: W, reverse: false}
vrrp_script:
  S: {tcp_connect: \"127.0.0.1:1\", weight: -2}
  T: {tcp_connect: \"127.0.0.1:2\", weight: \"-3 reverse\"}
  U: {tcp_connect: \"127.0.0.1:3\", weight: \"-4 reverse\"}
  V: {tcp_connect: \"127.0.0.1:4\"}
  W: {tcp_connect: \"127.0.0.1:5\", weight: 8, reverse: true}
";
    let loaded = load(yaml);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(
        loaded.config.instances[0].track_scripts,
        [
            track_ref("S", -2, false),
            // A written weight replaces the definition's; reverse stays the definition's...
            track_ref("T", 5, true),
            // ...unless the entry says noreverse (or reverse).
            track_ref("U", -7, false),
            track_ref("V", 9, true),
            track_ref("W", 8, false),
        ]
    );
}

#[test]
fn sync_groups_track_everything_instances_do() {
    let yaml = "\
vrrp_instance:
  A: {interface: eth0, virtual_router_id: 1, virtual_ipaddress: [192.0.2.1]}
  B: {interface: eth1, virtual_router_id: 2, virtual_ipaddress: [198.51.100.1]}
vrrp_sync_group:
  G:
    group: [A, B]
    track_interface: [eth2 weight -10, {name: eth3, reverse: true}]
    track_script: [S weight 20]
    track_file: [{name: F, weight: 0}]
    track_process: [P]
vrrp_script:
  S: {icmp_echo: 192.0.2.254}
track_file:
  F: {file: /run/f}
vrrp_track_process:
  P: {process: conntrackd}
";
    let loaded = load(yaml);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let g = &loaded.config.sync_groups[0];
    assert_eq!(
        g.track_interfaces,
        [
            TrackInterface {
                name: "eth2".into(),
                weight: -10,
                reverse: false
            },
            TrackInterface {
                name: "eth3".into(),
                weight: 0,
                reverse: true
            },
        ]
    );
    assert_eq!(g.track_scripts, [track_ref("S", 20, false)]);
    assert_eq!(g.track_files, [track_ref("F", 0, false)]);
    assert_eq!(g.track_processes, [track_ref("P", 0, false)]);
    let config = &loaded.config;
    assert_eq!(
        config.script("S").unwrap().check,
        Check::IcmpEcho("192.0.2.254".parse().unwrap())
    );
    assert_eq!(
        config.track_file("F").unwrap().path,
        PathBuf::from("/run/f")
    );
    assert_eq!(config.track_process("P").unwrap().process, "conntrackd");
    assert!(config.script("nope").is_none());
}

#[test]
fn undefined_and_repeated_references() {
    assert_error(
        &with("    track_script: [chk_x]\n", ""),
        "vipd.yaml:6:20: vrrp_instance.VI.track_script[0]: ",
        "there is no vrrp_script named chk_x",
    );
    assert_error(
        &with("    track_file:\n      - nofile weight 2\n", ""),
        "vipd.yaml:7:9: vrrp_instance.VI.track_file[0]: ",
        "there is no track_file named nofile",
    );
    assert_error(
        &with("    track_process: [{name: noproc}]\n", ""),
        "vipd.yaml:6:21: vrrp_instance.VI.track_process[0]: ",
        "there is no vrrp_track_process named noproc",
    );
    let group = with(
        "",
        "vrrp_sync_group:\n  G:\n    group: [VI]\n    track_script: [S, T]\nvrrp_script:\n  S: {icmp_echo: 192.0.2.1}\n",
    );
    assert_error(
        &group,
        "vipd.yaml:9:23: vrrp_sync_group.G.track_script[1]: ",
        "there is no vrrp_script named T",
    );
    assert_error(
        &script("    icmp_echo: 192.0.2.1\n").replace("[S]", "[S, S weight 3]"),
        "vipd.yaml:6:23: vrrp_instance.VI.track_script[1]: ",
        "S is listed twice",
    );
    assert_error(
        &with("    track_interface: [eth1, eth1 weight 2]\n", ""),
        "vipd.yaml:6:29: vrrp_instance.VI.track_interface[1]: ",
        "eth1 is listed twice",
    );
}

#[test]
fn weights_and_counts_out_of_range() {
    let checked = "    icmp_echo: 192.0.2.1\n";
    assert_error(
        &script(&format!("{checked}    weight: 254\n")),
        "vipd.yaml:10:5: vrrp_script.S.weight: ",
        "weight \"254\" is not a number from -253 to 253",
    );
    assert_error(
        &script(&format!("{checked}    weight: \"-20 backwards\"\n")),
        "vipd.yaml:10:5: vrrp_script.S.weight: ",
        "optionally followed by reverse, found \"-20 backwards\"",
    );
    assert_error(
        &script(checked).replace("[S]", "[S weight -254]"),
        "vipd.yaml:6:20: vrrp_instance.VI.track_script[0]: ",
        "weight \"-254\" is not a number from -253 to 253",
    );
    assert_error(
        &script(checked).replace("[S]", "[{name: S, weight: 300}]"),
        "vipd.yaml:6:20: vrrp_instance.VI.track_script[0]: ",
        "weight \"300\" is not a number from -253 to 253",
    );
    assert_error(
        &script(checked).replace("[S]", "[S weight]"),
        "vipd.yaml:6:20: vrrp_instance.VI.track_script[0]: ",
        "\"weight\" needs a value after it",
    );
    assert_error(
        &script(checked).replace("[S]", "[S heavy]"),
        "vipd.yaml:6:20: vrrp_instance.VI.track_script[0]: ",
        "unexpected \"heavy\" (expected weight or reverse)",
    );
    assert_error(
        &script(&format!("{checked}    rise: 0\n")),
        "vipd.yaml:10:5: vrrp_script.S.rise: ",
        "0 is out of range 1–2147483647",
    );
    assert_error(
        &script(&format!("{checked}    fall: -1\n")),
        "vipd.yaml:10:5: vrrp_script.S.fall: ",
        "-1 is out of range 1–2147483647",
    );
    assert_error(
        &script(&format!("{checked}    interval: 0\n")),
        "vipd.yaml:10:5: vrrp_script.S.interval: ",
        "0 is out of range 0.01–4294 seconds",
    );
    assert_error(
        &script(&format!("{checked}    timeout: 5000\n")),
        "vipd.yaml:10:5: vrrp_script.S.timeout: ",
        "5000 is out of range 0.01–4294 seconds",
    );
    assert_error(
        &script(&format!(
            "{checked}    weight: -20 reverse\n    reverse: false\n"
        )),
        "vipd.yaml:11:5: vrrp_script.S.reverse: ",
        "contradicts the weight's \"reverse\" (line 10)",
    );

    let file = |body: &str| {
        with(
            "    track_file: [F]\n",
            &format!("track_file:\n  F:\n    file: /run/f\n{body}"),
        )
    };
    assert_error(
        &file("    weight: 255\n"),
        "vipd.yaml:10:5: track_file.F.weight: ",
        "weight \"255\" is not a number from -254 to 254",
    );
    assert_error(
        &file("").replace("[F]", "[F weight -255]"),
        "vipd.yaml:6:18: vrrp_instance.VI.track_file[0]: ",
        "weight \"-255\" is not a number from -254 to 254",
    );
    let process = |body: &str| {
        with(
            "    track_process: [P]\n",
            &format!("vrrp_track_process:\n  P:\n    process: haproxy\n{body}"),
        )
    };
    assert_error(
        &process("    weight: -255\n"),
        "vipd.yaml:10:5: vrrp_track_process.P.weight: ",
        "weight \"-255\" is not a number from -254 to 254",
    );
    assert_error(
        &process("    quorum: 0\n"),
        "vipd.yaml:10:5: vrrp_track_process.P.quorum: ",
        "0 is out of range 1–65535",
    );
    assert_error(
        &process("    quorum_max: 65536\n"),
        "vipd.yaml:10:5: vrrp_track_process.P.quorum_max: ",
        "65536 is out of range 0–65535",
    );
    assert_error(
        &process("    quorum: 3\n    quorum_max: 2\n"),
        "vipd.yaml:11:5: vrrp_track_process.P.quorum_max: ",
        "quorum_max 2 is below quorum 3 (line 10)",
    );
    assert_error(
        &process("    delay: 0\n"),
        "vipd.yaml:10:5: vrrp_track_process.P.delay: ",
        "0 is out of range 0.000001–3600 seconds",
    );
    assert_error(
        &process("    terminate_delay: 3601\n"),
        "vipd.yaml:10:5: vrrp_track_process.P.terminate_delay: ",
        "3601 is out of range",
    );
    assert_error(
        &process("    param_match: fuzzy\n"),
        "vipd.yaml:10:5: vrrp_track_process.P.param_match: ",
        "\"fuzzy\" is not exact, partial or initial",
    );
}

#[test]
fn malformed_check_targets_are_errors_at_their_position() {
    let cases = [
        ("    tcp_connect: 192.0.2.1\n", "9:5: vrrp_script.S.tcp_connect: ", "\"192.0.2.1\" is not ADDRESS:PORT"),
        ("    tcp_connect: \"192.0.2.1:0\"\n", "9:5: vrrp_script.S.tcp_connect: ", "port 0"),
        ("    icmp_echo: gateway\n", "9:5: vrrp_script.S.icmp_echo: ", "gateway"),
        (
            "    http_get: {url: \"http://example.org/\"}\n",
            "9:16: vrrp_script.S.http_get.url: ",
            "the host \"example.org\" is not an IP address or localhost (a check must not depend on DNS",
        ),
        (
            "    http_get: \"ftp://192.0.2.1/\"\n",
            "9:5: vrrp_script.S.http_get: ",
            "is not a URL starting with http:// or https://",
        ),
        (
            "    http_get:\n      url: http://192.0.2.1/\n      status: [200, 700]\n",
            "11:21: vrrp_script.S.http_get.status[1]: ",
            "700 is not an HTTP status code (100–599)",
        ),
        (
            "    http_get:\n      url: http://192.0.2.1/\n      status: 299-200\n",
            "11:15: vrrp_script.S.http_get.status: ",
            "the range is empty (299 > 200)",
        ),
        ("    http_get: {status: 200}\n", "9:5: vrrp_script.S.http_get: ", "url is required"),
        (
            "    http_get: {url: \"http://192.0.2.1/\", verify: false}\n",
            "9:42: vrrp_script.S.http_get.verify: ",
            "unknown key verify in the http_get check of a vrrp_script",
        ),
        (
            "    dns_query: {server: ns1.example.org, name: example.org}\n",
            "9:17: vrrp_script.S.dns_query.server: ",
            "\"ns1.example.org\" is not ADDRESS[:PORT]",
        ),
        (
            "    dns_query: {server: 192.0.2.53, name: \"a..b\"}\n",
            "9:37: vrrp_script.S.dns_query.name: ",
            "\"a..b\" has an empty label",
        ),
        (
            "    dns_query: {server: 192.0.2.53, name: a.b, type: AXFR}\n",
            "9:48: vrrp_script.S.dns_query.type: ",
            "\"AXFR\" is not a record type vipd asks for",
        ),
        ("    dns_query: {name: a.b}\n", "9:5: vrrp_script.S.dns_query: ", "server is required"),
        ("    dns_query: {server: 192.0.2.53}\n", "9:5: vrrp_script.S.dns_query: ", "name is required"),
    ];
    for (body, position, text) in cases {
        assert_error(&script(body), &format!("vipd.yaml:{position}"), text);
    }
}

#[test]
fn one_check_per_script() {
    assert_error(
        &script("    script: /bin/true\n    tcp_connect: 127.0.0.1:80\n"),
        "vipd.yaml:10:5: vrrp_script.S.tcp_connect: ",
        "a vrrp_script has exactly one check, and script is already given (line 9)",
    );
    assert_error(
        &script("    weight: 2\n"),
        "vipd.yaml:8:3: vrrp_script.S: ",
        "a vrrp_script needs what it checks: script (a command), or one of vipd's own tcp_connect, http_get, icmp_echo, dns_query",
    );
}

#[test]
fn definition_errors() {
    assert_error(
        &script("    icmp_echo: 192.0.2.1\n    intervall: 2\n"),
        "vipd.yaml:10:5: vrrp_script.S.intervall: ",
        "unknown key intervall in a vrrp_script (did you mean interval?)",
    );
    assert_error(
        &script("    icmp_echo: 192.0.2.1\n    user: \"a b c\"\n"),
        "vipd.yaml:10:5: vrrp_script.S.user: ",
        "is not `USER [GROUP]`",
    );
    assert_error(
        &with(
            "    track_file: [F]\n",
            "track_file:\n  F:\n    file: run/f\n",
        ),
        "vipd.yaml:9:5: track_file.F.file: ",
        "\"run/f\" is not an absolute path",
    );
    assert_error(
        &with(
            "    track_file: [F]\n",
            "track_file:\n  F:\n    weight: 2\n",
        ),
        "vipd.yaml:8:3: track_file.F: ",
        "file is required",
    );
    assert_error(
        &with(
            "    track_file: [F]\n",
            "track_file:\n  F:\n    file: /run/f\n    init_file: \"5 always\"\n",
        ),
        "vipd.yaml:10:5: track_file.F.init_file: ",
        "unexpected \"always\" (expected a value and/or overwrite)",
    );
    assert_error(
        &with(
            "    track_process: [P]\n",
            "vrrp_track_process:\n  P:\n    weight: 2\n",
        ),
        "vipd.yaml:8:3: vrrp_track_process.P: ",
        "process is required",
    );
    // keepalived's spelling of a named block is explained, as for instances.
    assert_error(
        &with("", "vrrp_script chk:\n  script: /bin/true\n"),
        "vipd.yaml:6:1: vrrp_script chk: ",
        "keepalived's \"vrrp_script chk\" is written as `vrrp_script:` with `chk:` under it",
    );
    // A definition keyword in an instance says where it belongs.
    assert_error(
        &with("    script: /bin/true\n", ""),
        "vipd.yaml:6:5: vrrp_instance.VI.script: ",
        "script belongs in a vrrp_script",
    );
}

#[test]
fn a_broken_definition_is_not_reported_again_by_its_references() {
    let errs = errors(&script("    tcp_connect: nowhere\n"));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].starts_with("vipd.yaml:9:5: vrrp_script.S.tcp_connect: "));
}

#[test]
fn untracked_definitions_are_warned_about() {
    let yaml = with(
        "",
        "vrrp_script:\n  S: {icmp_echo: 192.0.2.1}\ntrack_file:\n  F: {file: /run/f}\nvrrp_track_process:\n  P: {process: haproxy}\n",
    );
    let warns = warnings(&yaml);
    assert_eq!(
        warns,
        [
            "vipd.yaml:7:3: vrrp_script.S: no vrrp_instance or vrrp_sync_group lists S in its track_script; it is not run (keepalived runs only tracked scripts too)",
            "vipd.yaml:9:3: track_file.F: no vrrp_instance or vrrp_sync_group lists F in its track_file; it is not read (keepalived reads only tracked files too)",
            "vipd.yaml:11:3: vrrp_track_process.P: no vrrp_instance or vrrp_sync_group lists P in its track_process; it is not watched (keepalived watches only tracked processes too)",
        ]
    );
    // Tracked by a sync group counts.
    let grouped = yaml.replace(
        "vrrp_script:",
        "vrrp_sync_group:\n  G: {group: [VI], track_script: [S], track_file: [F], track_process: [P]}\nvrrp_script:",
    );
    assert!(warnings(&grouped).is_empty());
}

/// A scratch directory of this test process, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("vipd-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_script_program_that_is_missing_or_not_executable_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new("programs");
    let missing = scratch.0.join("missing.sh");
    let plain = scratch.0.join("plain.sh");
    let runnable = scratch.0.join("runnable.sh");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    std::fs::write(&runnable, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&runnable, std::fs::Permissions::from_mode(0o755)).unwrap();

    let body = |program: &PathBuf| format!("    script: \"{} --quick\"\n", program.display());
    assert_warning(
        &script(&body(&missing)),
        "vipd.yaml:9:5: vrrp_script.S.script: ",
        &format!(
            "{} does not exist: the check fails on every run until it is fixed",
            missing.display()
        ),
    );
    assert_warning(
        &script(&body(&plain)),
        "vipd.yaml:9:5: vrrp_script.S.script: ",
        "is not executable",
    );
    assert_warning(
        &script(&body(&scratch.0)),
        "vipd.yaml:9:5: vrrp_script.S.script: ",
        "is not a regular file",
    );
    assert!(warnings(&script(&body(&runnable))).is_empty());
    // A command found through PATH is not looked for.
    assert!(warnings(&script("    script: \"killall -0 haproxy\"\n")).is_empty());
}

#[test]
fn other_warnings() {
    assert_warning(
        &script("    icmp_echo: 192.0.2.1\n    interval: 2\n    timeout: 5\n"),
        "vipd.yaml:11:5: vrrp_script.S.timeout: ",
        "a run may take up to 5 s but one starts every 2 s, so runs can overlap (keepalived accepts this too)",
    );
    assert_warning(
        &script("    icmp_echo: 192.0.2.1\n    user: nobody\n"),
        "vipd.yaml:10:5: vrrp_script.S.user: ",
        "has no effect: vipd runs its own checks itself",
    );
    assert_warning(
        &script("    http_get: {url: \"http://192.0.2.1/\", tls_verify: false}\n"),
        "vipd.yaml:9:42: vrrp_script.S.http_get.tls_verify: ",
        "has no effect with an http:// URL",
    );
    let process = |name: &str| {
        with(
            "    track_process: [P]\n",
            &format!("vrrp_track_process:\n  P:\n    process: {name}\n"),
        )
    };
    assert_warning(
        &process("/usr/sbin/haproxy"),
        "vipd.yaml:9:5: vrrp_track_process.P.process: ",
        "\"/usr/sbin/haproxy\" never matches: a process name has no '/'; add full_command: true",
    );
    assert_warning(
        &process("prometheus-node-exporter"),
        "vipd.yaml:9:5: vrrp_track_process.P.process: ",
        "the kernel keeps only the first 15 characters of a process name",
    );
    assert!(warnings(&process("node_exporter")).is_empty());
    assert_warning(
        &with(
            "    track_file: [F]\n",
            "track_file:\n  F:\n    file: /run/f\n    init_file: 300\n",
        ),
        "vipd.yaml:10:5: track_file.F.init_file: ",
        "300 is outside -254–254",
    );
}

/// Two HAProxy load balancers sharing a VIP, as keepalived users write them: the master role
/// follows HAProxy (a process check that faults the instance) and its health endpoint (a
/// weighted HTTP check), plus a file an operator can write to drain a node.
const HAPROXY_A: &str = "\
global_defs:
  router_id: lb-a
  vrrp_version: 3
  enable_script_security: true
  script_user: keepalived_script
vrrp_script:
  chk_haproxy_stats:
    http_get:
      url: http://127.0.0.1:8404/stats
      status: 200-299
    interval: 2
    timeout: 1
    weight: -30
    fall: 2
    rise: 3
  chk_backend:
    script: \"/bin/sh -c 'exit 0'\"
    interval: 5
    weight: 10
    user: nobody
vrrp_track_process:
  haproxy:
    process: haproxy
    quorum: 1
    delay: 0.5
track_file:
  drain:
    file: /run/vipd/drain
    weight: -50
    init_file: 0
vrrp_instance:
  VI_lb:
    state: BACKUP
    interface: eth0
    virtual_router_id: 51
    priority: 150
    advert_int: 1
    virtual_ipaddress:
      - 192.0.2.10/24
    track_interface: [eth0]
    track_process: [haproxy]
    track_script:
      - chk_haproxy_stats
      - chk_backend weight 5
    track_file:
      - {name: drain, weight: -100}
";

#[test]
fn haproxy_pair_round_trip() {
    let b = HAPROXY_A
        .replace("router_id: lb-a", "router_id: lb-b")
        .replace("priority: 150", "priority: 100");
    let a = load(HAPROXY_A);
    let b = load(&b);
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    let (a, b) = (a.config, b.config);
    assert_eq!(a.scripts, b.scripts);
    assert_eq!(a.track_files, b.track_files);
    assert_eq!(a.track_processes, b.track_processes);
    assert_eq!(
        a.scripts,
        [
            VrrpScript {
                name: "chk_haproxy_stats".into(),
                check: Check::HttpGet(HttpGet {
                    url: "http://127.0.0.1:8404/stats".into(),
                    tls: false,
                    host: "127.0.0.1".into(),
                    addr: "127.0.0.1:8404".parse().unwrap(),
                    path: "/stats".into(),
                    status: vec![200..=299],
                    body_contains: None,
                    tls_verify: true,
                }),
                interval_us: 2_000_000,
                timeout_us: 1_000_000,
                weight: -30,
                reverse: false,
                rise: 3,
                fall: 2,
                user: None,
                init_fail: false,
            },
            VrrpScript {
                name: "chk_backend".into(),
                check: Check::Script {
                    command: "/bin/sh -c 'exit 0'".into()
                },
                interval_us: 5_000_000,
                timeout_us: 5_000_000,
                weight: 10,
                reverse: false,
                rise: 1,
                fall: 1,
                user: Some(ScriptUser {
                    user: "nobody".into(),
                    group: None
                }),
                init_fail: false,
            },
        ]
    );
    assert_eq!(
        a.track_processes,
        [TrackProcessDef {
            name: "haproxy".into(),
            process: "haproxy".into(),
            params: vec![],
            param_match: None,
            full_command: false,
            weight: 0,
            reverse: false,
            quorum: 1,
            quorum_max: None,
            fork_delay_us: 500_000,
            terminate_delay_us: 500_000,
        }]
    );
    assert_eq!(
        a.track_files,
        [TrackFileDef {
            name: "drain".into(),
            path: PathBuf::from("/run/vipd/drain"),
            weight: -50,
            reverse: false,
            init_file: Some(TrackFileInit {
                value: 0,
                overwrite: false
            }),
        }]
    );
    let (ia, ib) = (&a.instances[0], &b.instances[0]);
    assert_eq!((ia.priority, ib.priority), (150, 100));
    for i in [ia, ib] {
        assert_eq!(i.track_processes, [track_ref("haproxy", 0, false)]);
        assert_eq!(
            i.track_scripts,
            [
                track_ref("chk_haproxy_stats", -30, false),
                track_ref("chk_backend", 5, false)
            ]
        );
        assert_eq!(i.track_files, [track_ref("drain", -100, false)]);
        assert_eq!(i.track_interfaces.len(), 1);
    }
    // Every reference resolves to a definition of its kind.
    for r in &ia.track_scripts {
        assert!(a.script(&r.name).is_some());
    }
}

#[test]
fn readme_documents_every_tracking_keyword() {
    let doc = include_str!("../../../README.md");
    let blocks = [
        keywords::ROOT,
        keywords::SCRIPT,
        keywords::HTTP_GET,
        keywords::DNS_QUERY,
        keywords::TRACK_FILE,
        keywords::TRACK_PROCESS,
    ];
    for keyword in blocks.concat() {
        assert!(
            doc.contains(&format!("`{keyword}`")),
            "README.md lacks `{keyword}`"
        );
    }
}
