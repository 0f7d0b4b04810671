//! keepalived's defaults, both spellings of addresses/routes/rules (keepalived strings and YAML
//! mappings), the seed gateway's keepalived configuration, and the example files in `conf/`.

use std::net::IpAddr;

use vipd_config::*;

fn load(yaml: &str) -> Loaded {
    parse_str(yaml, "vipd.yaml").unwrap_or_else(|e| panic!("rejected:\n{e}"))
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

const MINIMAL: &str = "\
vrrp_instance:
  VI_1:
    interface: eth0
    virtual_router_id: 51
    virtual_ipaddress: [192.0.2.1/24]
";

#[test]
fn keepalived_defaults() {
    let loaded = load(MINIMAL);
    assert!(loaded.warnings.is_empty());
    let g = &loaded.config.global;
    assert_eq!(g.vrrp_version, Version::V2);
    assert_eq!(g.vrrp_garp_master_delay, 5);
    assert_eq!(g.vrrp_garp_master_repeat, 5);
    assert_eq!(g.vrrp_garp_master_refresh, 0);
    assert_eq!(g.vrrp_garp_master_refresh_repeat, 1);
    assert_eq!(g.vrrp_garp_interval_us, 0);
    assert_eq!(g.nftables_table, "keepalived");
    assert_eq!(g.dynamic_interfaces, DynamicInterfaces::Off);
    assert_eq!(g.metrics_listen, Some("127.0.0.1:9165".parse().unwrap()));
    assert_eq!(g.metrics_families, MetricsFamilies::default());
    assert!(g.metrics_families.keepalived_exporter);
    assert!(g.metrics_families.keepalived_exporter_gen2brain);
    assert!(g.metrics_families.vipd);
    assert!(!g.vrrp_strict);

    let i = &loaded.config.instances[0];
    assert_eq!(i.name, "VI_1");
    assert_eq!(i.state, InitialState::Backup);
    assert_eq!(i.priority, 100);
    assert_eq!(i.version, Version::V2);
    assert_eq!(i.family, Family::V4);
    assert_eq!(i.advert_interval_us, 1_000_000);
    assert!(i.preempt);
    assert_eq!(i.preempt_delay_us, 0);
    assert!(i.accept, "keepalived accepts unless vrrp_strict");
    assert_eq!(i.down_timer_adverts, 3);
    assert_eq!(i.garp_master_delay, 5);
    assert_eq!(i.garp_master_repeat, 5);
    assert_eq!(i.garp_master_refresh, 0);
    assert_eq!(i.garp_master_refresh_repeat, 1);
    assert_eq!(i.vmac, None);
    assert!(!i.v3_checksum_as_v2);
    assert!(i.unicast_peers.is_empty());
    assert_eq!(i.vips[0].prefix_len, 24);
}

#[test]
fn metrics_listen_and_families() {
    let global = |lines: &str| {
        load(&format!("global_defs:\n{lines}{MINIMAL}"))
            .config
            .global
    };
    for off in ["off", "false", "\"off\""] {
        assert_eq!(
            global(&format!("  metrics_listen: {off}\n")).metrics_listen,
            None,
            "{off}"
        );
    }
    assert_eq!(
        global("  metrics_listen: \"[2001:db8::1]:9100\"\n").metrics_listen,
        Some("[2001:db8::1]:9100".parse().unwrap())
    );
    assert_eq!(
        global("  metrics_listen: 0.0.0.0:9165\n").metrics_listen,
        Some("0.0.0.0:9165".parse().unwrap())
    );
    let families = global("  metrics_families: [vipd, keepalived_exporter]\n").metrics_families;
    assert_eq!(
        families,
        MetricsFamilies {
            keepalived_exporter: true,
            keepalived_exporter_gen2brain: false,
            vipd: true,
        }
    );
    let one = global("  metrics_families: keepalived_exporter_gen2brain\n").metrics_families;
    assert!(one.keepalived_exporter_gen2brain && !one.keepalived_exporter && !one.vipd);
}

#[test]
fn global_values_become_instance_defaults() {
    let yaml = format!(
        "global_defs:\n  vrrp_garp_master_refresh: 60\n  vrrp_garp_master_repeat: 2\n  vrrp_down_timer_adverts: 4\n  vrrp_check_unicast_src: true\n{MINIMAL}    garp_master_repeat: 3\n"
    );
    let i = load(&yaml).config.instances.remove(0);
    assert_eq!(i.garp_master_refresh, 60);
    assert_eq!(i.garp_master_repeat, 3, "the instance's own value wins");
    assert_eq!(i.down_timer_adverts, 4);
    assert!(i.check_unicast_src);
}

#[test]
fn every_instance_keyword_is_read() {
    let yaml = "\
global_defs:
  router_id: gw-a
  vrrp_version: 3
  nftables: vipd_fw
  dynamic_interfaces: true
  metrics_listen: 127.0.0.1:9165
  script_user: nobody nogroup
  enable_script_security: true
  vrrp_garp_interval: 0.001
  vrrp_gna_interval: 0.000001
vrrp_instance:
  VI_gw:
    state: MASTER
    interface: eth0
    virtual_router_id: 60
    priority: 200
    advert_int: 0.37
    preempt_delay: 2.5
    no_accept: true
    unicast_src_ip: 192.0.2.1
    unicast_peer:
      - 192.0.2.2
    v3_checksum_as_v2: true
    use_vmac: vrrp-lan
    vmac_xmit_base: true
    virtual_ipaddress:
      - 192.0.2.3/24
    virtual_ipaddress_excluded:
      - 2001:db8::3/64 dev eth1
    track_interface:
      - eth1 weight -20 reverse
      - {name: eth2, weight: 10}
      - eth3
    track_script: [chk_dns, {name: chk_web, weight: 5}]
    notify: /usr/local/bin/notify.sh
    notify_master: /usr/local/bin/master.sh
    notify_backup: \"/usr/local/bin/backup.sh arg\"
    notify_fault: /usr/local/bin/fault.sh
    notify_stop: /usr/local/bin/stop.sh
    garp_master_delay: 1
    garp_master_refresh: 30
    garp_master_refresh_repeat: 2
    down_timer_adverts: 5
    dont_track_primary: true
    debug: 2
vrrp_script:
  chk_dns:
    dns_query: {server: 192.0.2.53, name: example.org}
  chk_web:
    http_get: http://127.0.0.1/
    weight: 2
";
    let loaded = load(yaml);
    let g = &loaded.config.global;
    assert_eq!(g.router_id.as_deref(), Some("gw-a"));
    assert_eq!(g.nftables_table, "vipd_fw");
    assert_eq!(g.dynamic_interfaces, DynamicInterfaces::On);
    assert_eq!(g.metrics_listen, Some("127.0.0.1:9165".parse().unwrap()));
    let script_user = g.script_user.as_ref().unwrap();
    assert_eq!(script_user.user, "nobody");
    assert_eq!(script_user.group.as_deref(), Some("nogroup"));
    assert_eq!(g.vrrp_garp_interval_us, 1000);
    assert_eq!(g.vrrp_gna_interval_us, 1);
    let i = &loaded.config.instances[0];
    assert_eq!(i.state, InitialState::Master);
    assert_eq!(i.advert_interval_us, 370_000);
    assert_eq!(i.preempt_delay_us, 2_500_000);
    assert!(!i.accept);
    assert_eq!(i.unicast_src_ip, Some(ip("192.0.2.1")));
    assert_eq!(i.unicast_peers, vec![ip("192.0.2.2")]);
    assert!(i.v3_checksum_as_v2);
    assert_eq!(
        i.vmac,
        Some(Vmac {
            name: "vrrp-lan".into(),
            xmit_base: true
        })
    );
    assert_eq!(i.excluded_vips[0].addr, ip("2001:db8::3"));
    assert_eq!(i.excluded_vips[0].dev.as_deref(), Some("eth1"));
    assert_eq!(
        i.track_interfaces,
        vec![
            TrackInterface {
                name: "eth1".into(),
                weight: -20,
                reverse: true
            },
            TrackInterface {
                name: "eth2".into(),
                weight: 10,
                reverse: false
            },
            TrackInterface {
                name: "eth3".into(),
                weight: 0,
                reverse: false
            },
        ]
    );
    assert_eq!(
        i.track_scripts,
        vec![
            TrackRef {
                name: "chk_dns".into(),
                weight: 0,
                reverse: false
            },
            TrackRef {
                name: "chk_web".into(),
                weight: 5,
                reverse: false
            },
        ]
    );
    assert_eq!(
        i.notify.backup.as_deref(),
        Some("/usr/local/bin/backup.sh arg")
    );
    assert_eq!(i.notify.stop.as_deref(), Some("/usr/local/bin/stop.sh"));
    assert_eq!(
        (
            i.garp_master_delay,
            i.garp_master_refresh,
            i.garp_master_refresh_repeat
        ),
        (1, 30, 2)
    );
    assert_eq!(i.down_timer_adverts, 5);
    assert!(i.dont_track_primary);
    assert_eq!(i.debug, 2);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn use_vmac_true_names_the_macvlan_after_the_vrid() {
    let i = load(&format!("{MINIMAL}    use_vmac: true\n"))
        .config
        .instances
        .remove(0);
    assert_eq!(i.vmac.as_ref().unwrap().name, "vrrp.51");
}

#[test]
fn priority_255_always_accepts() {
    let loaded = load(&format!(
        "{MINIMAL}    priority: 255\n    no_accept: true\n"
    ));
    assert!(loaded.config.instances[0].accept);
    assert!(loaded.warnings[0].message.contains("address owner"));
}

#[test]
fn vips_in_keepalived_syntax_and_as_mappings() {
    let yaml = format!(
        "{}      - 198.51.100.3/24 dev eth0 label eth0:dns\n      - 192.0.2.7 brd 192.0.2.255 scope link no_track\n      - {{address: 192.0.2.8/25, dev: eth1, label: eth1:x, noprefixroute: true}}\n",
        MINIMAL.replace("    virtual_ipaddress: [192.0.2.1/24]\n", "    virtual_ipaddress:\n")
    );
    let vips = load(&yaml).config.instances.remove(0).vips.clone();
    assert_eq!(vips.len(), 3);
    assert_eq!(
        vips[0],
        Vip {
            addr: ip("198.51.100.3"),
            prefix_len: 24,
            dev: Some("eth0".into()),
            label: Some("eth0:dns".into()),
            broadcast: None,
            scope: None,
            no_track: false,
            no_prefix_route: false,
        }
    );
    assert_eq!(vips[1].prefix_len, 32);
    assert_eq!(vips[1].broadcast, Some(ip("192.0.2.255")));
    assert_eq!(vips[1].scope, Some(Scope::Link));
    assert!(vips[1].no_track);
    assert_eq!(vips[2].prefix_len, 25);
    assert_eq!(vips[2].dev.as_deref(), Some("eth1"));
    assert_eq!(vips[2].label.as_deref(), Some("eth1:x"));
    assert!(vips[2].no_prefix_route);
}

#[test]
fn routes_in_keepalived_syntax_and_as_mappings() {
    let yaml = format!(
        "{MINIMAL}    virtual_routes:
      - 0.0.0.0/0 via 203.0.113.1 table 250
      - blackhole 198.51.100.0/24
      - src 192.0.2.3 to 198.51.100.0/24 dev eth0
      - {{to: 0.0.0.0/0, via: 203.0.113.1, dev: eth1, table: 250, metric: 10}}
      - {{type: blackhole, to: 203.0.113.128/25}}
      - {{blackhole: true, to: 2001:db8:dead::/48}}
      - {{to: 2001:db8:1::/48, via: 2001:db8::1, src: 2001:db8::3}}
"
    );
    let routes = load(&yaml).config.instances.remove(0).routes.clone();
    assert_eq!(routes.len(), 7);
    assert_eq!(routes[0].table, Some(250));
    assert_eq!(routes[0].via, Some(ip("203.0.113.1")));
    assert_eq!(routes[1].kind, RouteKind::Blackhole);
    assert_eq!(routes[2].src, Some(ip("192.0.2.3")));
    assert_eq!(
        routes[2].to,
        Prefix {
            addr: ip("198.51.100.0"),
            len: 24
        }
    );
    assert_eq!(routes[3].dev.as_deref(), Some("eth1"));
    assert_eq!(routes[3].metric, Some(10));
    assert_eq!(routes[3].table, routes[0].table);
    assert_eq!(routes[4].kind, RouteKind::Blackhole);
    assert_eq!(routes[5].kind, RouteKind::Blackhole);
    assert_eq!(routes[5].family, Family::V6);
    assert_eq!(routes[6].family, Family::V6);
    assert_eq!(routes[6].src, Some(ip("2001:db8::3")));
}

#[test]
fn rules_in_keepalived_syntax_and_as_mappings() {
    let yaml = format!(
        "{MINIMAL}    virtual_rules:
      - to all lookup 250 priority 32770
      - from 192.0.2.0/24 table 100 priority 100
      - {{to: all, lookup: 250, priority: 32770}}
      - {{from: 192.0.2.0/24, iif: eth0, fwmark: 0x10, table: 7}}
      - {{from: 2001:db8::/32, type: unreachable}}
"
    );
    let rules = load(&yaml).config.instances.remove(0).rules.clone();
    assert_eq!(rules.len(), 5);
    assert_eq!(
        rules[0],
        VirtualRule {
            family: Family::V4,
            from: None,
            to: None,
            action: RuleAction::Lookup(250),
            priority: Some(32770),
            iif: None,
            oif: None,
            fwmark: None,
            no_track: false,
        }
    );
    assert_eq!(rules[2], rules[0], "both spellings give the same rule");
    assert_eq!(
        rules[1].from,
        Some(Prefix {
            addr: ip("192.0.2.0"),
            len: 24
        })
    );
    assert_eq!(rules[1].action, RuleAction::Lookup(100));
    assert_eq!(rules[3].fwmark, Some((16, u32::MAX)));
    assert_eq!(rules[3].iif.as_deref(), Some("eth0"));
    assert_eq!(rules[4].family, Family::V6);
    assert_eq!(rules[4].action, RuleAction::Unreachable);
}

#[test]
fn rule_family_follows_an_ipv6_instance() {
    let yaml = "vrrp_instance:\n  VI_6:\n    interface: eth0\n    virtual_router_id: 6\n    virtual_ipaddress: [2001:db8::6]\n    virtual_rules: [to all lookup 250]\n";
    assert_eq!(load(yaml).config.instances[0].rules[0].family, Family::V6);
}

#[test]
fn instances_and_sync_groups_keep_file_order() {
    let yaml = "\
vrrp_instance:
  zeta:
    interface: eth0
    virtual_router_id: 3
    virtual_ipaddress: [192.0.2.3]
  alpha:
    interface: eth0
    virtual_router_id: 1
    virtual_ipaddress: [192.0.2.1]
  mid:
    interface: eth0
    virtual_router_id: 2
    virtual_ipaddress: [192.0.2.2]
vrrp_sync_group:
  G:
    group: [mid, zeta]
    notify_master: /bin/true
";
    let config = load(yaml).config;
    let names: Vec<&str> = config.instances.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha", "mid"]);
    assert_eq!(config.sync_groups[0].members, ["mid", "zeta"]);
    assert_eq!(
        config.sync_groups[0].notify.master.as_deref(),
        Some("/bin/true")
    );
    assert_eq!(config.instance("alpha").unwrap().vrid, 1);
}

/// Seed 003's keepalived.conf, written in YAML keyword for keyword as a migrating user would,
/// with use_vmac and vmac_xmit_base still in global_defs where the author had them.
#[test]
fn seed_003_keepalived_config_misplaced_keys_are_rejected_with_their_home() {
    let yaml = "\
global_defs:
  vrrp_version: 3
  vrrp_iptables: true
  use_vmac: true
  vmac_xmit_base: true
  vrrp_garp_master_refresh: 60
  nftables: keepalived
  dynamic_interfaces: allow_if_changes
  max_auto_priority: -1
vrrp_instance:
  VI_gateway:
    no_accept: true
    nopreempt: true
    state: BACKUP
    advert_int: 0.1
    virtual_router_id: 60
    interface: ens6
    priority: 250
    virtual_rules:
      - to all lookup 250 priority 32770
    virtual_ipaddress:
      - 192.0.2.3
";
    let err = parse_str(yaml, "gateway.yaml").unwrap_err();
    let LoadError::Invalid { errors, warnings } = &err else {
        panic!("{err}")
    };
    let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        rendered,
        [
            "gateway.yaml:4:3: global_defs.use_vmac: use_vmac belongs in a vrrp_instance; keepalived 2.2.7 ignores it in global_defs",
            "gateway.yaml:5:3: global_defs.vmac_xmit_base: vmac_xmit_base belongs in a vrrp_instance; keepalived 2.2.7 ignores it in global_defs",
        ]
    );
    assert_eq!(warnings.len(), 1, "vrrp_iptables is warned about");

    // Moved into the instance, the same file is valid and does what its author meant.
    let fixed = yaml
        .replace("  use_vmac: true\n  vmac_xmit_base: true\n", "")
        .replace(
            "    priority: 250\n",
            "    priority: 250\n    use_vmac: true\n    vmac_xmit_base: true\n",
        );
    let config = load(&fixed).config;
    let i = &config.instances[0];
    assert_eq!(
        i.vmac,
        Some(Vmac {
            name: "vrrp.60".into(),
            xmit_base: true
        })
    );
    assert_eq!(i.version, Version::V3);
    assert_eq!(i.advert_interval_us, 100_000);
    assert!(!i.preempt);
    assert!(!i.accept);
    assert_eq!(i.vips[0].prefix_len, 32);
    assert_eq!(i.rules[0].action, RuleAction::Lookup(250));
    assert_eq!(i.rules[0].priority, Some(32770));
    assert_eq!(i.garp_master_refresh, 60);
    assert_eq!(
        config.global.dynamic_interfaces,
        DynamicInterfaces::AllowIfChanges
    );
    assert_eq!(config.global.max_auto_priority, Some(-1));
}

#[test]
fn realtime_keywords_in_global_defs() {
    let config = load(
        "\
global_defs:
  vrrp_rt_priority: 50
  max_auto_priority: 60
  min_auto_priority_delay: 20000
  vrrp_no_swap: true
  vrrp_cpu_affinity: 1 0,1
vrrp_instance:
  VI_1: {interface: eth0, virtual_router_id: 1, priority: 100, virtual_ipaddress: [192.0.2.1]}
",
    )
    .config;
    let g = &config.global;
    assert_eq!(g.vrrp_rt_priority, Some(50));
    assert_eq!(g.max_auto_priority, Some(60));
    assert_eq!(g.min_auto_priority_delay_us, Some(20_000));
    assert!(g.vrrp_no_swap);
    assert_eq!(g.vrrp_cpu_affinity, [1, 0], "in order, once each");
    let list = load(
        "global_defs: {vrrp_cpu_affinity: [0, 1]}\nvrrp_instance:\n  VI_1: {interface: eth0, virtual_router_id: 1, priority: 100, virtual_ipaddress: [192.0.2.1]}\n",
    )
    .config;
    assert_eq!(list.global.vrrp_cpu_affinity, [0, 1]);
    let plain = load("vrrp_instance:\n  VI_1: {interface: eth0, virtual_router_id: 1, priority: 100, virtual_ipaddress: [192.0.2.1]}\n").config;
    assert_eq!(plain.global.vrrp_rt_priority, None);
    assert!(!plain.global.vrrp_no_swap && plain.global.vrrp_cpu_affinity.is_empty());
}

#[test]
fn every_example_in_conf_parses_without_errors() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conf");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            if let Err(e) = load_file(&path) {
                panic!("{} is invalid:\n{e}", path.display());
            }
            checked.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    checked.sort();
    for expected in [
        "dns-vip-a.yaml",
        "dns-vip-b.yaml",
        "gateway.yaml",
        "gateway-b.yaml",
        "minimal-pair-a.yaml",
        "minimal-pair-b.yaml",
    ] {
        assert!(
            checked.iter().any(|c| c == expected),
            "{expected} missing from {checked:?}"
        );
    }
}

#[test]
fn gateway_example_pair_is_the_seed_gateway() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conf");
    let a = load_file(&dir.join("gateway.yaml")).unwrap().config;
    let b = load_file(&dir.join("gateway-b.yaml")).unwrap().config;
    let (ia, ib) = (&a.instances[0], &b.instances[0]);
    assert_eq!((ia.vrid, ib.vrid), (60, 60));
    assert!(ia.priority > ib.priority);
    assert_eq!(ia.vips, ib.vips);
    assert_eq!(ia.rules, ib.rules);
    assert_eq!(ia.vmac.as_ref().map(|v| v.xmit_base), Some(true));
    assert_eq!(ia.advert_interval_us, 100_000);
    assert!(!ia.preempt && !ia.accept);
}

#[test]
fn keywords_md_documents_every_supported_keyword() {
    let doc = include_str!("../../../README.md");
    for keyword in vipd_config::keywords::GLOBAL_DEFS
        .iter()
        .chain(vipd_config::keywords::INSTANCE)
        .chain(vipd_config::keywords::SYNC_GROUP)
    {
        assert!(
            doc.contains(&format!("`{keyword}`")),
            "README.md lacks `{keyword}`"
        );
    }
}

#[test]
fn no_accept_needs_nftables() {
    assert!(!load(MINIMAL).config.needs_nftables());
    assert!(load(&format!("{MINIMAL}    no_accept: true\n"))
        .config
        .needs_nftables());
}
