//! The `conntrackd` block and the `on_master` / `on_backup` / `on_fault` / `on_stop` link
//! action lists: what they read into, their defaults, and what `vipd check` refuses.

use vipd_config::{parse_str, Conntrackd, ConntrackdMode, LinkAction, LoadError};

const HEAD: &str = "vrrp_instance:\n  VI_1:\n    interface: eth0\n    virtual_router_id: 1\n    virtual_ipaddress: [192.0.2.1/24]\n";

fn config(extra: &str) -> vipd_config::Config {
    parse_str(&format!("{HEAD}{extra}"), "vipd.yaml")
        .unwrap_or_else(|e| panic!("{e}"))
        .config
}

fn errors(extra: &str) -> Vec<String> {
    match parse_str(&format!("{HEAD}{extra}"), "vipd.yaml") {
        Err(LoadError::Invalid { errors, .. }) => errors.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("unexpected error kind: {other}"),
        Ok(loaded) => panic!("accepted: {:#?}", loaded.config.instances[0].actions),
    }
}

fn link(interface: &str, up: bool) -> LinkAction {
    LinkAction {
        interface: interface.into(),
        up,
    }
}

#[test]
fn a_full_block_and_the_link_lists_are_read() {
    let c = config(
        "    conntrackd:\n      mode: notrack\n      control: /run/ct.ctl\n      config: /etc/ct.conf\n      binary: /opt/conntrackd\n      timeout: 0.5\n      start: false\n    on_master: [link_up wan]\n    on_backup: [link_down wan, link_up lan2]\n    on_fault: link_down wan\n    on_stop: []\n",
    );
    let actions = &c.instances[0].actions;
    assert_eq!(
        actions.conntrackd,
        Some(Conntrackd {
            mode: ConntrackdMode::Notrack,
            control: "/run/ct.ctl".into(),
            config: "/etc/ct.conf".into(),
            binary: "/opt/conntrackd".into(),
            timeout_us: 500_000,
            start: false,
        })
    );
    assert_eq!(actions.on_master, vec![link("wan", true)]);
    assert_eq!(
        actions.on_backup,
        vec![link("wan", false), link("lan2", true)]
    );
    assert_eq!(actions.on_fault, vec![link("wan", false)]);
    assert_eq!(actions.on_stop, Some(Vec::new()));
    assert_eq!(actions.on_master[0].to_string(), "link_up wan");
}

#[test]
fn defaults_follow_primary_backup_sh() {
    let c = config("    conntrackd: true\n");
    let ct = c.instances[0].actions.conntrackd.clone().unwrap();
    assert_eq!(ct.mode, ConntrackdMode::Ftfw);
    assert_eq!(ct.control, "/var/run/conntrackd.ctl");
    assert_eq!(ct.config, "/etc/conntrackd/conntrackd.conf");
    assert_eq!(ct.binary, "/usr/sbin/conntrackd");
    assert_eq!(ct.timeout_us, 5_000_000);
    assert!(ct.start);
    let a = &c.instances[0].actions;
    assert_eq!(a.on_stop, None, "no on_stop means: restore what was found");
    assert!(config("").instances[0].actions.is_empty());
    assert!(config("    conntrackd: false\n").instances[0]
        .actions
        .conntrackd
        .is_none());
}

#[test]
fn sync_groups_take_the_same_keys() {
    let c = config(
        "vrrp_sync_group:\n  G:\n    group: [VI_1]\n    conntrackd: {mode: ftfw}\n    on_master: [link_up wan]\n    on_backup: [link_down wan]\n",
    );
    let g = &c.sync_groups[0].actions;
    assert_eq!(
        g.conntrackd.as_ref().map(|c| c.mode),
        Some(ConntrackdMode::Ftfw)
    );
    assert_eq!(g.on_backup, vec![link("wan", false)]);
}

#[test]
fn bad_settings_are_refused_with_their_place() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "    conntrackd: {mode: fast}\n",
            "vipd.yaml:6:18: vrrp_instance.VI_1.conntrackd.mode:",
            "\"fast\" is not ftfw, notrack or alarm",
        ),
        (
            "    conntrackd: {control: conntrackd.ctl}\n",
            "vipd.yaml:6:18: vrrp_instance.VI_1.conntrackd.control:",
            "must be an absolute path",
        ),
        (
            "    conntrackd: {timeout: 0}\n",
            "vipd.yaml:6:18: vrrp_instance.VI_1.conntrackd.timeout:",
            "above 0 seconds",
        ),
        (
            "    conntrackd: {socket: /x}\n",
            "vipd.yaml:6:18: vrrp_instance.VI_1.conntrackd.socket:",
            "unknown key socket in the conntrackd block",
        ),
        (
            "    on_master: [up wan]\n",
            "vipd.yaml:6:17: vrrp_instance.VI_1.on_master[0]:",
            "expected `link_up IFACE` or `link_down IFACE`",
        ),
        (
            "    on_master: [link_up wan wan2]\n",
            "vipd.yaml:6:17: vrrp_instance.VI_1.on_master[0]:",
            "exactly one interface name",
        ),
        (
            "    on_master: [link_up wan, link_down wan]\n",
            "vipd.yaml:6:30: vrrp_instance.VI_1.on_master[1]:",
            "wan is already in this list",
        ),
        (
            "    on_backup: [link_down eth0]\n",
            "vipd.yaml:2:3: vrrp_instance.VI_1.on_backup:",
            "would take down the interface this instance runs VRRP on",
        ),
        (
            "    on_fault: [link_down a-name-much-too-long]\n",
            "vipd.yaml:6:16: vrrp_instance.VI_1.on_fault[0]:",
            "",
        ),
    ];
    for (extra, prefix, text) in cases {
        let errs = errors(extra);
        assert!(
            errs.iter()
                .any(|e| e.starts_with(prefix) && e.contains(text)),
            "{extra}: no error starting with {prefix:?} containing {text:?} in:\n{}",
            errs.join("\n")
        );
    }
}
