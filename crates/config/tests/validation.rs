//! Every validation error `vipd check` reports: each test asserts the message names the file,
//! line, column and key path, and says what is wrong.

use vipd_config::{parse_str, LoadError};

/// The rendered errors for `yaml`; panics if it was accepted.
fn errors(yaml: &str) -> Vec<String> {
    match parse_str(yaml, "vipd.yaml") {
        Err(LoadError::Invalid { errors, .. }) => errors.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("unexpected error kind: {other}"),
        Ok(loaded) => panic!("accepted: {:#?}", loaded.config),
    }
}

fn warnings(yaml: &str) -> Vec<String> {
    match parse_str(yaml, "vipd.yaml") {
        Ok(loaded) => loaded.warnings.iter().map(ToString::to_string).collect(),
        Err(e) => panic!("rejected: {e}"),
    }
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

/// A valid instance whose line 6 onwards is `extra` (indented by 4 already).
fn instance_with(extra: &str) -> String {
    format!(
        "vrrp_instance:\n  VI_gw:\n    interface: eth0\n    virtual_router_id: 60\n    virtual_ipaddress: [192.0.2.3/24]\n{extra}"
    )
}

#[test]
fn the_issue_example_is_valid() {
    let yaml = "\
global_defs:
  router_id: gw-a
  vrrp_version: 3
vrrp_instance:
  VI_gw:
    state: BACKUP
    interface: eth0
    virtual_router_id: 60
    priority: 200
    advert_int: 0.1
    nopreempt: true
    virtual_ipaddress:
      - 192.0.2.3/24
      - 198.51.100.3/24 dev eth0 label eth0:dns
";
    let loaded = parse_str(yaml, "vipd.yaml").unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let i = &loaded.config.instances[0];
    assert_eq!(i.advert_interval_us, 100_000);
    assert!(!i.preempt);
    assert_eq!(i.vips.len(), 2);
    assert_eq!(i.vips[1].label.as_deref(), Some("eth0:dns"));
}

#[test]
fn vrid_out_of_range() {
    let yaml = "vrrp_instance:\n  VI_gw:\n    interface: eth0\n    virtual_ipaddress: [192.0.2.3]\n    state: BACKUP\n    priority: 100\n    virtual_router_id: 300\n";
    assert_error(
        yaml,
        "vipd.yaml:7:5: vrrp_instance.VI_gw.virtual_router_id: ",
        "300 is out of range 1–255",
    );
    let yaml = yaml.replace("300", "0");
    assert_error(
        &yaml,
        "vipd.yaml:7:5: vrrp_instance.VI_gw.virtual_router_id: ",
        "0 is out of range",
    );
}

#[test]
fn priority_out_of_range() {
    assert_error(
        &instance_with("    priority: 256\n"),
        "vipd.yaml:6:5: vrrp_instance.VI_gw.priority: ",
        "256 is out of range 1–255",
    );
    assert_error(
        &instance_with("    priority: 0\n"),
        "vipd.yaml:6:5: vrrp_instance.VI_gw.priority: ",
        "out of range",
    );
}

#[test]
fn wrong_types() {
    assert_error(
        &instance_with("    priority: high\n"),
        "vipd.yaml:6:5: vrrp_instance.VI_gw.priority: ",
        "expected an integer from 1 to 255, found a string (\"high\")",
    );
    assert_error(
        &instance_with("    nopreempt: 1\n"),
        "vipd.yaml:6:5: vrrp_instance.VI_gw.nopreempt: ",
        "expected true or false",
    );
    assert_error(
        &instance_with("    virtual_rules: {to: all}\n    advert_int: [1]\n"),
        "vipd.yaml:7:5: vrrp_instance.VI_gw.advert_int: ",
        "expected a number of seconds, found a list",
    );
    assert_error(
        "vrrp_instance: [a, b]\n",
        "vipd.yaml:1:1: vrrp_instance: ",
        "expected a mapping",
    );
}

#[test]
fn unknown_keys_everywhere() {
    assert_error(
        &instance_with("    virtual_routerid: 5\n"),
        "vipd.yaml:6:5: vrrp_instance.VI_gw.virtual_routerid: ",
        "did you mean virtual_router_id",
    );
    assert_error(
        &format!("global_defs:\n  colour: red\n{}", instance_with("")),
        "vipd.yaml:2:3: global_defs.colour: ",
        "unknown key colour in global_defs",
    );
    assert_error(
        &format!("{}foo: 1\n", instance_with("")),
        "vipd.yaml:6:1: foo: ",
        "unknown key foo",
    );
    assert_error(
        &instance_with("    authentication: {auth_type: PASS, auth_pass: x, auth_colour: y}\n"),
        "vipd.yaml:6:53: vrrp_instance.VI_gw.authentication.auth_colour: ",
        "unknown key",
    );
}

#[test]
fn misplaced_keywords_say_where_they_belong() {
    let yaml = format!(
        "global_defs:\n  use_vmac: true\n  vmac_xmit_base: true\n{}",
        instance_with("")
    );
    assert_error(
        &yaml,
        "vipd.yaml:2:3: global_defs.use_vmac: ",
        "use_vmac belongs in a vrrp_instance; keepalived 2.2.7 ignores it in global_defs",
    );
    assert_error(
        &yaml,
        "vipd.yaml:3:3: global_defs.vmac_xmit_base: ",
        "vmac_xmit_base belongs in a vrrp_instance",
    );
    assert_error(
        &instance_with("    vrrp_strict: true\n"),
        "vipd.yaml:6:5: vrrp_instance.VI_gw.vrrp_strict: ",
        "vrrp_strict belongs in global_defs",
    );
    assert_error(
        &instance_with("    auth_pass: secret\n"),
        "vipd.yaml:6:5: vrrp_instance.VI_gw.auth_pass: ",
        "belongs in the authentication block",
    );
    assert_error(
        &format!("virtual_router_id: 5\n{}", instance_with("")),
        "vipd.yaml:1:1: virtual_router_id: ",
        "belongs in a vrrp_instance",
    );
    assert_error(
        "vrrp_instance VI_1:\n  interface: eth0\n",
        "vipd.yaml:1:1: vrrp_instance VI_1: ",
        "`vrrp_instance:` with `VI_1:` under it",
    );
}

#[test]
fn unsupported_keepalived_keywords_are_named() {
    assert_error(
        &instance_with("    mcast_dst_ip: 224.0.0.19\n"),
        "vipd.yaml:6:5: vrrp_instance.VI_gw.mcast_dst_ip: ",
        "keepalived's mcast_dst_ip is not supported by vipd",
    );
}

#[test]
fn advert_int_rules_v3() {
    let v3 = |value: &str| instance_with(&format!("    version: 3\n    advert_int: {value}\n"));
    assert_error(
        &v3("0.005"),
        "vipd.yaml:7:5: vrrp_instance.VI_gw.advert_int: ",
        "below the VRRPv3 minimum of 0.01 s",
    );
    assert_error(
        &v3("0.105"),
        "vipd.yaml:7:5: vrrp_instance.VI_gw.advert_int: ",
        "0.105 s is not a multiple of 10 ms",
    );
    assert_error(
        &v3("41"),
        "vipd.yaml:7:5: vrrp_instance.VI_gw.advert_int: ",
        "above the VRRPv3 maximum",
    );
    for (text, us) in [
        ("0.01", 10_000),
        ("0.1", 100_000),
        ("0.37", 370_000),
        ("40.95", 40_950_000),
        ("2", 2_000_000),
    ] {
        let loaded = parse_str(&v3(text), "vipd.yaml").unwrap();
        assert_eq!(loaded.config.instances[0].advert_interval_us, us, "{text}");
    }
}

#[test]
fn advert_int_rules_v2() {
    let v2 = |value: &str| instance_with(&format!("    advert_int: {value}\n"));
    assert_error(
        &v2("0.1"),
        "vipd.yaml:6:5: vrrp_instance.VI_gw.advert_int: ",
        "not a whole number of seconds",
    );
    assert_error(
        &v2("1.5"),
        "vipd.yaml:6:5: vrrp_instance.VI_gw.advert_int: ",
        "VRRPv2",
    );
    let loaded = parse_str(&v2("3"), "vipd.yaml").unwrap();
    assert_eq!(loaded.config.instances[0].advert_interval_us, 3_000_000);
}

#[test]
fn ipv6_vip_in_a_v2_instance() {
    let yaml = "vrrp_instance:\n  VI_6:\n    interface: eth0\n    virtual_router_id: 6\n    version: 2\n    virtual_ipaddress:\n      - 2001:db8::6\n";
    assert_error(
        yaml,
        "vipd.yaml:7:9: vrrp_instance.VI_6.virtual_ipaddress[0]: ",
        "IPv6 address 2001:db8::6 in a VRRPv2 instance",
    );
    let global = format!(
        "global_defs:\n  vrrp_version: 2\n{}",
        yaml.replace("    version: 2\n", "")
    );
    assert_error(
        &global,
        "vipd.yaml:8:9: vrrp_instance.VI_6.virtual_ipaddress[0]: ",
        "global_defs.vrrp_version is 2",
    );
}

#[test]
fn ipv6_instance_without_any_version_uses_v3_like_keepalived() {
    let yaml = "vrrp_instance:\n  VI_6:\n    interface: eth0\n    virtual_router_id: 6\n    advert_int: 0.5\n    virtual_ipaddress: [2001:db8::6/64]\n";
    let i = parse_str(yaml, "vipd.yaml")
        .unwrap()
        .config
        .instances
        .remove(0);
    assert_eq!(i.version, vipd_config::Version::V3);
    assert_eq!(i.family, vipd_config::Family::V6);
    assert_eq!(i.advert_interval_us, 500_000);
}

#[test]
fn mixed_families_in_one_instance() {
    let yaml = "vrrp_instance:\n  VI_gw:\n    interface: eth0\n    virtual_router_id: 60\n    version: 3\n    virtual_ipaddress:\n      - 192.0.2.3/24\n      - 2001:db8::3/64\n";
    assert_error(
        yaml,
        "vipd.yaml:8:9: vrrp_instance.VI_gw.virtual_ipaddress[1]: ",
        "mixed address families",
    );
    // The excluded list may mix families, as in keepalived.
    let ok = format!("{yaml}    virtual_ipaddress_excluded: [2001:db8::9]\n")
        .replace("      - 2001:db8::3/64\n", "");
    assert!(parse_str(&ok, "vipd.yaml").is_ok());
}

#[test]
fn duplicate_vrid_family_and_interface() {
    let yaml = "\
vrrp_instance:
  VI_a:
    interface: eth0
    virtual_router_id: 60
    virtual_ipaddress: [192.0.2.3]
  VI_b:
    interface: eth0
    virtual_router_id: 60
    virtual_ipaddress: [192.0.2.4]
";
    assert_error(
        yaml,
        "vipd.yaml:8:5: vrrp_instance.VI_b.virtual_router_id: ",
        "virtual_router_id 60 on eth0 (IPv4) is already used by VI_a (line 4)",
    );
    // Another interface, or another family, is a different virtual router.
    assert!(parse_str(
        &yaml.replacen("interface: eth0", "interface: eth1", 1),
        "vipd.yaml"
    )
    .is_ok());
    let v6 = yaml.replace("[192.0.2.4]", "[2001:db8::4]");
    assert!(parse_str(&v6, "vipd.yaml").is_ok());
}

#[test]
fn sync_group_naming_an_unknown_instance() {
    let yaml = format!(
        "{}vrrp_sync_group:\n  G:\n    group: [VI_gw, VI_typo]\n",
        instance_with("")
    );
    assert_error(
        &yaml,
        "vipd.yaml:8:20: vrrp_sync_group.G.group[1]: ",
        "there is no vrrp_instance named VI_typo",
    );
    let twice = format!(
        "{}vrrp_sync_group:\n  G:\n    group: [VI_gw]\n  H:\n    group: [VI_gw]\n",
        instance_with("")
    );
    assert_error(
        &twice,
        "vipd.yaml:10:13: vrrp_sync_group.H.group[0]: ",
        "already in sync group G",
    );
}

#[test]
fn unicast_src_ip_and_peer_family_mismatch() {
    assert_error(
        &instance_with("    unicast_src_ip: 2001:db8::1\n"),
        "vipd.yaml:6:5: vrrp_instance.VI_gw.unicast_src_ip: ",
        "2001:db8::1 is IPv6 but the instance's addresses are IPv4",
    );
    assert_error(
        &instance_with("    unicast_peer:\n      - 192.0.2.2\n      - 2001:db8::2\n"),
        "vipd.yaml:8:9: vrrp_instance.VI_gw.unicast_peer[1]: ",
        "peer 2001:db8::2 is IPv6",
    );
    assert_error(
        &instance_with("    unicast_peer: [192.0.2.256]\n"),
        "vipd.yaml:6:20: vrrp_instance.VI_gw.unicast_peer[0]: ",
        "\"192.0.2.256\" is not an IPv4 or IPv6 address",
    );
}

#[test]
fn authentication_in_v3_is_ignored_with_a_warning() {
    let yaml = instance_with(
        "    version: 3\n    authentication:\n      auth_type: PASS\n      auth_pass: abc\n",
    );
    let loaded = parse_str(&yaml, "vipd.yaml").unwrap();
    assert_eq!(loaded.config.instances[0].authentication, None);
    let w = loaded
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>();
    assert!(
        w.iter().any(
            |w| w.starts_with("vipd.yaml:7:5: vrrp_instance.VI_gw.authentication: ")
                && w.contains("VRRPv3 has no authentication")
        ),
        "{w:?}"
    );
}

#[test]
fn authentication_errors_and_truncation() {
    assert_error(
        &instance_with("    authentication:\n      auth_type: HMAC\n      auth_pass: x\n"),
        "vipd.yaml:7:7: vrrp_instance.VI_gw.authentication.auth_type: ",
        "is not PASS or AH",
    );
    assert_error(
        &instance_with("    authentication:\n      auth_type: AH\n"),
        "vipd.yaml:6:5: vrrp_instance.VI_gw.authentication: ",
        "auth_type AH needs auth_pass",
    );
    assert_error(
        &instance_with("    authentication:\n      auth_type: PASS\n"),
        "vipd.yaml:6:5: vrrp_instance.VI_gw.authentication: ",
        "needs auth_pass",
    );
    let long = instance_with(
        "    authentication:\n      auth_type: PASS\n      auth_pass: SECUREUNIQUEPASSWORD\n",
    );
    let loaded = parse_str(&long, "vipd.yaml").unwrap();
    assert_eq!(
        loaded.config.instances[0].authentication,
        Some(vipd_config::Authentication::Pass(b"SECUREUN".to_vec()))
    );
    assert!(loaded.warnings[0].to_string().starts_with(
        "vipd.yaml:8:7: vrrp_instance.VI_gw.authentication.auth_pass: only the first 8"
    ));
    // A numeric password keeps its spelling.
    let numeric = instance_with("    authentication: {auth_type: PASS, auth_pass: 001234}\n");
    let auth = parse_str(&numeric, "vipd.yaml")
        .unwrap()
        .config
        .instances
        .remove(0)
        .authentication
        .clone();
    assert_eq!(
        auth,
        Some(vipd_config::Authentication::Pass(b"001234".to_vec()))
    );
}

#[test]
fn malformed_address_route_and_rule_strings_name_the_token() {
    assert_error(
        &instance_with("    virtual_ipaddress_excluded:\n      - 192.0.2.9/24 dev eth0 lable x\n"),
        "vipd.yaml:7:9: vrrp_instance.VI_gw.virtual_ipaddress_excluded[0]: ",
        "unexpected \"lable\"",
    );
    assert_error(
        &instance_with("    virtual_routes:\n      - 0.0.0.0/0 via 203.0.113.999\n"),
        "vipd.yaml:7:9: vrrp_instance.VI_gw.virtual_routes[0]: ",
        "\"203.0.113.999\" is not an IPv4 or IPv6 address",
    );
    assert_error(
        &instance_with("    virtual_rules:\n      - to all lookup 250 priority 32770\n      - to all lookup 250 prio 1\n"),
        "vipd.yaml:8:9: vrrp_instance.VI_gw.virtual_rules[1]: ",
        "unexpected \"prio\"",
    );
}

#[test]
fn required_keys() {
    let yaml = "vrrp_instance:\n  VI_x:\n    priority: 100\n";
    let errs = errors(yaml);
    assert!(
        errs.iter()
            .any(|e| e == "vipd.yaml:2:3: vrrp_instance.VI_x: interface is required"),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e
                .starts_with("vipd.yaml:2:3: vrrp_instance.VI_x: virtual_router_id is required"))
    );
    assert!(errs
        .iter()
        .any(|e| e.contains("at least one address in virtual_ipaddress")));
    assert_error(
        "global_defs:\n  router_id: a\n",
        "vipd.yaml:1:1: vrrp_instance: ",
        "no vrrp_instance",
    );
}

#[test]
fn all_errors_are_reported_not_only_the_first() {
    let yaml = "\
global_defs:
  use_vmac: true
vrrp_instance:
  VI_gw:
    interface: eth0
    virtual_router_id: 300
    priority: 0
    advert_int: 0.1
    virtual_ipaddress: [192.0.2.3/24, 192.0.2.4 bogus]
";
    let errs = errors(yaml);
    assert_eq!(errs.len(), 5, "{}", errs.join("\n"));
    let lines: Vec<&str> = errs.iter().map(|e| e.split(':').nth(1).unwrap()).collect();
    assert_eq!(lines, ["2", "6", "7", "8", "9"], "sorted by position");
}

#[test]
fn preempt_and_accept_conflicts() {
    assert_error(
        &instance_with("    nopreempt: true\n    preempt: true\n"),
        "vipd.yaml:7:5: vrrp_instance.VI_gw.preempt: ",
        "conflicts with nopreempt",
    );
    assert_error(
        &instance_with("    accept: true\n    no_accept: true\n"),
        "vipd.yaml:7:5: vrrp_instance.VI_gw.no_accept: ",
        "contradicts accept",
    );
}

#[test]
fn vrrp_strict_rules() {
    let yaml = format!(
        "global_defs:\n  vrrp_strict: true\n{}",
        instance_with("    state: MASTER\n    unicast_peer: [192.0.2.2]\n")
    );
    assert_error(
        &yaml,
        "vipd.yaml:8:5: vrrp_instance.VI_gw.state: ",
        "vrrp_strict allows state MASTER only with priority 255",
    );
    assert_error(
        &yaml,
        "vipd.yaml:9:20: vrrp_instance.VI_gw.unicast_peer[0]: ",
        "vrrp_strict forbids unicast peers",
    );
    // Strict mode turns the default accept mode off.
    let ok = format!("global_defs:\n  vrrp_strict: true\n{}", instance_with(""));
    assert!(!parse_str(&ok, "vipd.yaml").unwrap().config.instances[0].accept);
}

#[test]
fn vmac_with_unicast_needs_xmit_base() {
    assert_error(
        &instance_with("    use_vmac: true\n    unicast_peer: [192.0.2.2]\n"),
        "vipd.yaml:6:5: vrrp_instance.VI_gw.use_vmac: ",
        "needs vmac_xmit_base",
    );
    let w = warnings(&instance_with("    vmac_xmit_base: true\n"));
    assert!(w[0].starts_with(
        "vipd.yaml:6:5: vrrp_instance.VI_gw.vmac_xmit_base: has no effect without use_vmac"
    ));
}

#[test]
fn state_master_without_priority_says_what_keepalived_would_do() {
    let w = warnings(&instance_with("    state: MASTER\n"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("vipd.yaml:6:5: vrrp_instance.VI_gw.state: state MASTER without a priority: vipd's YAML uses priority 100")
            && w[0].contains("address owner (priority 255)"),
        "{w:?}"
    );
    let loaded =
        vipd_config::parse_str(&instance_with("    state: MASTER\n"), "vipd.yaml").unwrap();
    assert_eq!(loaded.config.instances[0].priority, 100);
    assert!(warnings(&instance_with("    state: MASTER\n    priority: 100\n")).is_empty());
    assert!(warnings(&instance_with("    state: BACKUP\n")).is_empty());
}

#[test]
fn global_defs_errors() {
    let base = instance_with("");
    for (line, text) in [
        ("  vrrp_version: 4", "vipd.yaml:2:3: global_defs.vrrp_version: expected 2 or 3"),
        ("  dynamic_interfaces: sometimes", "vipd.yaml:2:3: global_defs.dynamic_interfaces: expected true, false or allow_if_changes"),
        ("  max_auto_priority: 100", "vipd.yaml:2:3: global_defs.max_auto_priority: 100 is out of range -1–99"),
        ("  vrrp_rt_priority: 0", "vipd.yaml:2:3: global_defs.vrrp_rt_priority: 0 is out of range 1–99"),
        ("  vrrp_no_swap: yes please", "vipd.yaml:2:3: global_defs.vrrp_no_swap: expected true or false"),
        ("  vrrp_cpu_affinity: 0 x", "vipd.yaml:2:22: global_defs.vrrp_cpu_affinity: \"x\" is not a CPU number (0–1023)"),
        ("  vrrp_cpu_affinity: [0, 1024]", "vipd.yaml:2:26: global_defs.vrrp_cpu_affinity[1]: \"1024\" is not a CPU number"),
        ("  min_auto_priority_delay: 0", "vipd.yaml:2:3: global_defs.min_auto_priority_delay: 0 is out of range 1–10000000"),
        ("  metrics_listen: localhost", "vipd.yaml:2:3: global_defs.metrics_listen: \"localhost\" is not ADDRESS:PORT"),
        ("  metrics_listen: 127.0.0.1:0", "vipd.yaml:2:3: global_defs.metrics_listen: \"127.0.0.1:0\": port 0"),
        ("  metrics_families: [vipd, mehdy]", "vipd.yaml:2:28: global_defs.metrics_families[1]: \"mehdy\" is not a metrics family; the families are keepalived_exporter, keepalived_exporter_gen2brain, vipd"),
        ("  metrics_families: []", "vipd.yaml:2:3: global_defs.metrics_families: lists no family"),
        ("  nftables: \"bad name\"", "vipd.yaml:2:3: global_defs.nftables: \"bad name\" is not an nftables table name"),
    ] {
        let errs = errors(&format!("global_defs:\n{line}\n{base}"));
        assert!(errs.iter().any(|e| e.starts_with(text)), "{text}: {errs:?}");
    }
}

#[test]
fn track_interface_weights() {
    assert_error(
        &instance_with("    track_interface:\n      - eth1\n      - {name: eth2, weight: 254}\n"),
        "vipd.yaml:8:9: vrrp_instance.VI_gw.track_interface[1]: ",
        "weight \"254\" is not a number from -253 to 253",
    );
}

#[test]
fn yaml_syntax_errors_have_a_position() {
    let errs = errors("vrrp_instance:\n  VI_gw:\n    interface: [eth0\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("vipd.yaml:"), "{errs:?}");
    let dup = errors("vrrp_instance:\n  VI_gw:\n    interface: eth0\n    interface: eth1\n");
    assert!(dup[0].starts_with("vipd.yaml:4:"), "{dup:?}");
    assert!(dup[0].contains("uplicate"), "{dup:?}");
}

#[test]
fn unreadable_file_is_its_own_error() {
    let err = vipd_config::load_file(std::path::Path::new("/nonexistent/vipd.yaml")).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(matches!(err, LoadError::Unreadable { .. }));
    assert!(err
        .to_string()
        .starts_with("/nonexistent/vipd.yaml: cannot read"));
    let invalid = parse_str("foo: 1\n", "x.yaml").unwrap_err();
    assert_eq!(invalid.exit_code(), 1);
}

#[test]
fn script_user_and_fifos_are_checked() {
    let with_global = |line: &str| format!("global_defs:\n  {line}\n{}", instance_with(""));
    assert_error(
        &with_global("script_user: alice staff extra"),
        "vipd.yaml:2:3: global_defs.script_user:",
        "is not `USER [GROUP]`",
    );
    assert_error(
        &with_global("notify_fifo: relative.fifo"),
        "vipd.yaml:2:3: global_defs.notify_fifo:",
        "not an absolute path",
    );
    assert_error(
        &with_global("vrrp_notify_fifo: /run/vrrp.fifo keepalived_script"),
        "vipd.yaml:2:3: global_defs.vrrp_notify_fifo:",
        "not supported by vipd",
    );
    let same = format!(
        "global_defs:\n  notify_fifo: /run/k.fifo\n  vrrp_notify_fifo: /run/k.fifo\n{}",
        instance_with("")
    );
    assert_error(
        &same,
        "vipd.yaml:3:3: global_defs.vrrp_notify_fifo:",
        "same FIFO as notify_fifo",
    );
    let loaded = parse_str(
        &format!(
            "global_defs:\n  script_user: alice\n  vrrp_notify_fifo: /run/vrrp.fifo\n{}",
            instance_with("")
        ),
        "vipd.yaml",
    )
    .unwrap();
    let global = &loaded.config.global;
    assert_eq!(global.script_user.as_ref().unwrap().user, "alice");
    assert_eq!(global.script_user.as_ref().unwrap().group, None);
    assert_eq!(global.vrrp_notify_fifo.as_deref(), Some("/run/vrrp.fifo"));
}

#[test]
fn routes_the_kernel_would_refuse_are_errors_at_check_time() {
    assert_error(
        &instance_with("    virtual_routes:\n      - 0.0.0.0/0 via 192.0.2.1 scope link\n"),
        "vipd.yaml:7:9: vrrp_instance.VI_gw.virtual_routes[0]:",
        "scope link with via",
    );
    assert_error(
        &instance_with("    virtual_routes:\n      - 198.51.100.0/24 dev eth0 onlink\n"),
        "vipd.yaml:7:9: vrrp_instance.VI_gw.virtual_routes[0]:",
        "onlink needs a gateway",
    );
    assert_error(
        &instance_with(
            "    virtual_ipaddress_excluded:\n      - 2001:db8::5/64 brd 2001:db8::ffff\n",
        ),
        "vipd.yaml:7:9:",
        "IPv6 has no broadcast",
    );
}

#[test]
fn ah_takes_its_key_from_auth_pass() {
    let ah = instance_with("    authentication: {auth_type: ah, auth_pass: SECUREUNIQUE}\n");
    let loaded = parse_str(&ah, "vipd.yaml").unwrap();
    assert_eq!(
        loaded.config.instances[0].authentication,
        Some(vipd_config::Authentication::Ah(b"SECUREUN".to_vec()))
    );
    assert!(
        loaded.warnings[0]
            .to_string()
            .contains("the first 8 characters are the key"),
        "{:?}",
        loaded.warnings
    );
    // IPv6 instances are VRRPv3, which drops authentication with a warning (AH is IPv4 only).
    let v6 = "vrrp_instance:\n  VI_6:\n    interface: eth0\n    virtual_router_id: 60\n    virtual_ipaddress: [2001:db8::3/64]\n    authentication: {auth_type: AH, auth_pass: x}\n";
    assert!(
        warnings(v6)
            .iter()
            .any(|w| w.contains("VRRPv3 has no authentication")),
        "{:?}",
        warnings(v6)
    );
}

#[test]
fn ah_instances_start_as_backup_unless_they_own_the_addresses() {
    let master = instance_with(
        "    state: MASTER\n    priority: 200\n    authentication: {auth_type: AH, auth_pass: x}\n",
    );
    let loaded = parse_str(&master, "vipd.yaml").unwrap();
    assert_eq!(
        loaded.config.instances[0].state,
        vipd_config::InitialState::Backup
    );
    assert!(loaded.warnings[0]
        .to_string()
        .starts_with("vipd.yaml:6:5: vrrp_instance.VI_gw.state: starting as BACKUP"));
    let owner = master.replace("priority: 200", "priority: 255");
    let loaded = parse_str(&owner, "vipd.yaml").unwrap();
    assert_eq!(
        loaded.config.instances[0].state,
        vipd_config::InitialState::Master
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}
