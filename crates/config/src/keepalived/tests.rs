//! One test per syntax feature and quirk of keepalived.conf, each on a small fixture written
//! here; most compare the result with the YAML that says the same.

use std::path::PathBuf;

use super::*;
use crate::model::*;

fn options() -> Options {
    Options {
        config_id: Some("lb1".into()),
        ..Default::default()
    }
}

fn load(text: &str) -> Loaded {
    parse_str(text, "keepalived.conf", &options()).unwrap_or_else(|e| panic!("refused:\n{e}"))
}

fn refuse(text: &str) -> Vec<Diagnostic> {
    match parse_str(text, "keepalived.conf", &options()) {
        Err(LoadError::Invalid { errors, .. }) => errors,
        Err(e) => panic!("unexpected {e}"),
        Ok(_) => panic!("accepted:\n{text}"),
    }
}

fn yaml(text: &str) -> Config {
    crate::parse_str(text, "vipd.yaml")
        .unwrap_or_else(|e| panic!("{e}"))
        .config
}

fn warned(loaded: &Loaded, line: u32, part: &str) -> bool {
    loaded
        .warnings
        .iter()
        .any(|w| w.line == line && w.message.contains(part))
}

fn warnings_text(loaded: &Loaded) -> String {
    loaded.warnings.iter().map(|w| format!("{w}\n")).collect()
}

const MINIMAL_YAML: &str = "vrrp_instance:\n  VI_1:\n    state: MASTER\n    interface: eth0\n    virtual_router_id: 51\n    priority: 150\n    advert_int: 1\n    authentication:\n      auth_type: PASS\n      auth_pass: secret\n    virtual_ipaddress:\n      - 192.0.2.10/24\n      - 192.0.2.11/24 dev eth0 label eth0:1\n";

#[test]
fn blocks_lists_and_comments_read_as_the_yaml_form() {
    let text = "! a keepalived comment\n# another\nvrrp_instance VI_1 {\n    state MASTER   # trailing\n    interface eth0\n    virtual_router_id 51\n    priority 150\n    advert_int 1\n    authentication {\n        auth_type PASS\n        auth_pass secret\n    }\n    virtual_ipaddress {\n        192.0.2.10/24\n        192.0.2.11/24 dev eth0 label eth0:1   ! label\n    }\n}\n";
    let loaded = load(text);
    assert_eq!(loaded.config, yaml(MINIMAL_YAML));
    assert!(loaded.warnings.is_empty(), "{}", warnings_text(&loaded));
}

#[test]
fn glued_braces_one_line_blocks_crlf_tabs_and_no_indent() {
    let text = "vrrp_instance VI_1{\r\nstate MASTER\r\n\tinterface\teth0\r\nvirtual_router_id 51\r\npriority 150\r\nadvert_int 1\r\nauthentication { auth_type PASS\r\nauth_pass secret }\r\nvirtual_ipaddress{\r\n192.0.2.10/24\r\n192.0.2.11/24 dev eth0 label eth0:1 }\r\n}\r\n";
    assert_eq!(load(text).config, yaml(MINIMAL_YAML));
    let braces_alone = "vrrp_instance VI_1\n{\nstate MASTER\ninterface eth0\nvirtual_router_id 51\npriority 150\nadvert_int 1\nauthentication\n{\nauth_type PASS\nauth_pass secret\n}\nvirtual_ipaddress\n{\n192.0.2.10/24\n192.0.2.11/24 dev eth0 label eth0:1\n}\n}\n";
    assert_eq!(load(braces_alone).config, yaml(MINIMAL_YAML));
}

#[test]
fn quoted_words_keep_spaces_and_comment_characters() {
    let text = "vrrp_script chk {\n  script \"/usr/bin/pgrep -f 'ha#proxy'\"\n  weight -20\n}\nvrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    192.0.2.10\n  }\n  track_script {\n    chk\n  }\n  notify_master \"/etc/keepalived/notify.sh master\"\n  notify_backup /etc/keepalived/notify.sh \"backup now\"\n}\n";
    let config = load(text).config;
    assert_eq!(config.scripts[0].name, "chk");
    let expected = yaml("vrrp_script:\n  chk:\n    script: /usr/bin/pgrep -f 'ha#proxy'\n    weight: -20\nvrrp_instance:\n  VI_1:\n    interface: eth0\n    virtual_router_id: 51\n    virtual_ipaddress: [192.0.2.10]\n    track_script: [chk]\n    notify_master: /etc/keepalived/notify.sh master\n    notify_backup: /etc/keepalived/notify.sh \"backup now\"\n");
    assert_eq!(config, expected);
}

#[test]
fn conditional_lines_follow_the_config_id() {
    let text = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n@lb1 priority 200\n@lb2 priority 100\n@^lb1 state MASTER\n@^lb2 state BACKUP\n  virtual_ipaddress {\n    192.0.2.10\n  }\n}\n";
    let on = |id: &str| {
        let o = Options {
            config_id: Some(id.into()),
            ..Default::default()
        };
        parse_str(text, "k.conf", &o).unwrap().config.instances[0].clone()
    };
    let lb1 = on("lb1");
    assert_eq!((lb1.priority, lb1.state), (200, InitialState::Backup));
    let lb2 = on("lb2");
    assert_eq!((lb2.priority, lb2.state), (100, InitialState::Master));
    let other = on("lb3");
    assert_eq!(
        other.priority, 100,
        "keepalived's default when no line applies"
    );
}

#[test]
fn definitions_single_and_multi_line_and_braced() {
    let text = "$IF=eth0\n$VIPS=192.0.2.10 \\\n  192.0.2.11 \\\n  192.0.2.12\nvrrp_instance VI_1 {\n  interface $IF\n  virtual_router_id 51\n  priority ${PRIO}0\n  virtual_ipaddress {\n    $VIPS\n  }\n}\n";
    let text = format!("$PRIO=15\n{text}");
    let i = load(&text).config.instances[0].clone();
    assert_eq!(i.interface, "eth0");
    assert_eq!(i.priority, 150);
    let vips: Vec<String> = i.vips.iter().map(|v| v.addr.to_string()).collect();
    assert_eq!(vips, ["192.0.2.10", "192.0.2.11", "192.0.2.12"]);
}

#[test]
fn sequences_repeat_a_line_and_a_multi_line_definition() {
    let text = "$INST=vrrp_instance VI_$i { \\\n interface eth0 \\\n virtual_router_id $i \\\n virtual_ipaddress { \\\n 192.0.2.$i \\\n } \\\n }\n~SEQ(i, 1, 2, 5) $INST\n";
    let config = load(text).config;
    let vrids: Vec<u8> = config.instances.iter().map(|i| i.vrid).collect();
    assert_eq!(vrids, [1, 3, 5]);
    assert_eq!(config.instances[2].name, "VI_5");
    assert_eq!(config.instances[2].vips[0].addr.to_string(), "192.0.2.5");
}

#[test]
fn line_continuation_joins_lines() {
    let text = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id \\\n     51\n  virtual_ipaddress {\n    192.0.2.10/24 \\\n      dev eth0\n  }\n}\n";
    let i = load(text).config.instances[0].clone();
    assert_eq!(i.vrid, 51);
    assert_eq!(i.vips[0].dev.as_deref(), Some("eth0"));
}

/// A scratch directory of its own for each test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vipd-kconf-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    dir
}

#[test]
fn includes_glob_relative_to_the_including_file_and_report_their_own_lines() {
    let dir = scratch("include");
    std::fs::write(
        dir.join("keepalived.conf"),
        "global_defs {\n  router_id lb1\n}\ninclude conf.d/*.conf\n",
    )
    .unwrap();
    std::fs::write(dir.join("conf.d/a.conf"), "vrrp_instance VI_a {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    192.0.2.1\n  }\n  unicasti_src_ip 192.0.2.9\n}\ninclude ../more/b.conf\n").unwrap();
    std::fs::create_dir_all(dir.join("more")).unwrap();
    std::fs::write(dir.join("more/b.conf"), "vrrp_instance VI_b {\n  interface eth0\n  virtual_router_id 2\n  virtual_ipaddress {\n    192.0.2.2\n  }\n}\n").unwrap();
    let loaded = load_file(&dir.join("keepalived.conf"), &options()).unwrap();
    let names: Vec<&str> = loaded
        .config
        .instances
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["VI_a", "VI_b"]);
    let typo = &loaded.warnings[0];
    assert!(typo.file.ends_with("conf.d/a.conf"), "{typo}");
    assert_eq!(typo.line, 7);
    assert!(
        typo.message.contains("did you mean unicast_src_ip"),
        "{typo}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn include_cycles_are_refused() {
    let dir = scratch("cycle");
    std::fs::write(dir.join("keepalived.conf"), "include conf.d/loop.conf\n").unwrap();
    std::fs::write(dir.join("conf.d/loop.conf"), "include ../keepalived.conf\n").unwrap();
    let err = load_file(&dir.join("keepalived.conf"), &options()).unwrap_err();
    let LoadError::Invalid { errors, .. } = err else {
        panic!()
    };
    let cycle = errors
        .iter()
        .find(|e| e.message.contains("include cycle"))
        .unwrap_or_else(|| panic!("{errors:?}"));
    assert!(cycle.file.ends_with("loop.conf"), "{cycle}");
    assert_eq!(cycle.line, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

const INSTANCE_BODY: &str =
    "  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    192.0.2.10\n  }\n";

fn instance_with(lines: &str) -> String {
    format!("vrrp_instance VI_1 {{\n{lines}{INSTANCE_BODY}}}\n")
}

#[test]
fn invalid_states_start_as_backup_with_a_warning() {
    for state in ["PEER", "SLAVE", "master", "BACKUP|MASTER"] {
        let loaded = load(&instance_with(&format!("  state {state}\n")));
        assert_eq!(
            loaded.config.instances[0].state,
            InitialState::Backup,
            "{state}"
        );
        assert!(
            warned(&loaded, 2, "starts the instance as BACKUP"),
            "{state}: {}",
            warnings_text(&loaded)
        );
    }
}

#[test]
fn nopreempt_with_state_master_is_cleared_as_keepalived_does() {
    let loaded = load(&instance_with("  state MASTER\n  nopreempt\n"));
    assert!(loaded.config.instances[0].preempt);
    assert!(
        warned(&loaded, 3, "clears nopreempt"),
        "{}",
        warnings_text(&loaded)
    );
    let backup = load(&instance_with("  state BACKUP\n  nopreempt\n"));
    assert!(!backup.config.instances[0].preempt);
    assert!(backup.warnings.is_empty());
}

#[test]
fn trailing_semicolons_in_authentication_leave_it_off_as_keepalived_does() {
    let loaded = load(&instance_with(
        "  authentication {\n    auth_type PASS;\n    auth_pass secret;\n  }\n",
    ));
    assert_eq!(loaded.config.instances[0].authentication, None);
    assert!(
        warned(&loaded, 3, "write auth_type PASS"),
        "{}",
        warnings_text(&loaded)
    );
}

#[test]
fn long_passwords_are_cut_to_eight_characters() {
    let loaded = load(&instance_with(
        "  authentication {\n    auth_type PASS\n    auth_pass SECUREUNIQUEPASSWORD\n  }\n",
    ));
    assert_eq!(
        loaded.config.instances[0].authentication,
        Some(Authentication::Pass(b"SECUREUN".to_vec()))
    );
    assert!(
        warned(&loaded, 4, "first 8 characters"),
        "{}",
        warnings_text(&loaded)
    );
}

#[test]
fn an_invalid_priority_is_keepalived_s_default() {
    let loaded = load(&instance_with("  priority 100;\n"));
    assert_eq!(loaded.config.instances[0].priority, 100);
    assert!(warned(&loaded, 2, "uses its default 100"));
    let loaded = load(&instance_with("  priority 300\n"));
    assert_eq!(loaded.config.instances[0].priority, 100);
}

#[test]
fn tracked_scripts_that_do_not_exist_are_dropped() {
    let text = format!(
        "vrrp_script chk {{\n  script /bin/true\n  weight 10\n}}\n{}",
        instance_with("  track_script {\n    chk weight 5\n    chk_missing\n  }\n")
    );
    let loaded = load(&text);
    let refs = &loaded.config.instances[0].track_scripts;
    assert_eq!(refs.len(), 1);
    assert_eq!((refs[0].name.as_str(), refs[0].weight), ("chk", 5));
    assert!(
        warned(&loaded, 8, "there is no vrrp_script chk_missing"),
        "{}",
        warnings_text(&loaded)
    );
}

#[test]
fn lvs_smtp_and_bfd_blocks_are_skipped_with_one_warning_each() {
    let text = format!("global_defs {{\n  notification_email {{\n    ops@example.org\n  }}\n  smtp_server 192.0.2.25\n}}\n{}virtual_server 192.0.2.10 80 {{\n  delay_loop 6\n  real_server 192.0.2.21 80 {{\n    TCP_CHECK {{\n      connect_timeout 3\n    }}\n  }}\n}}\nbfd_instance peer1 {{\n  neighbor_ip 192.0.2.2\n}}\n", instance_with(""));
    let loaded = load(&text);
    let lines: Vec<u32> = loaded.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [2, 5, 14, 22], "{}", warnings_text(&loaded));
    assert!(warned(
        &loaded,
        14,
        "virtual_server 192.0.2.10 80 (lines 14–21)"
    ));
    assert!(warned(&loaded, 22, "BFD"));
    assert!(warned(&loaded, 2, "SMTP"));
}

#[test]
fn misplaced_use_vmac_says_how_to_get_one() {
    let text = format!(
        "global_defs {{\n  use_vmac\n  vrrp_garp_master_refresh 60\n}}\n{}",
        instance_with("")
    );
    let loaded = load(&text);
    assert!(loaded.config.instances[0].vmac.is_none());
    assert_eq!(loaded.config.global.vrrp_garp_master_refresh, 60);
    let w = &loaded.warnings[0];
    assert_eq!((w.line, w.col), (2, 3));
    assert!(
        w.message.contains("runs without a VMAC")
            && w.message.contains("move it into vrrp_instance VI_1"),
        "{w}"
    );
}

#[test]
fn an_unknown_block_keyword_closes_the_enclosing_block_as_keepalived_does() {
    // keepalived reads `virtual_ipadress` as an unknown keyword, ignores the `{`, reads the
    // address as another unknown keyword, and the `}` closes the instance: priority is then
    // outside it (unknown at the top level) and the instance has no address of its own.
    let text = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipadress {\n    192.0.2.10\n  }\n  priority 200\n}\n";
    let errors = refuse(text);
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("virtual_ipaddress is required")),
        "{errors:?}"
    );
    let parsed = parse(text, "k.conf", &options());
    let lines: Vec<u32> = parsed.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [4, 4, 5, 7, 8], "{:?}", parsed.warnings);
    assert!(parsed.warnings[0]
        .message
        .contains("did you mean virtual_ipaddress"));
}

#[test]
fn what_keepalived_exits_on_is_refused_with_its_line() {
    let errors = refuse(&instance_with("  priority\n"));
    assert_eq!(errors[0].line, 2);
    assert!(errors[0].message.contains("needs a value"), "{errors:?}");
    let errors = refuse(&instance_with("  track_interface eth1\n"));
    assert_eq!(errors[0].line, 2);
    assert!(errors[0].message.contains("{ } block"), "{errors:?}");
}

#[test]
fn an_unclosed_block_is_closed_at_the_end_of_the_file() {
    let text = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    192.0.2.10\n  }\n";
    let loaded = load(text);
    assert_eq!(loaded.config.instances[0].vrid, 51);
    assert!(warned(&loaded, 1, "not closed"));
}

#[test]
fn prefix_lengths_on_peers_are_dropped_as_keepalived_does() {
    let loaded = load(&instance_with(
        "  unicast_src_ip 192.0.2.1/24\n  unicast_peer {\n    192.0.2.2/24\n  }\n",
    ));
    let i = &loaded.config.instances[0];
    assert_eq!(i.unicast_src_ip.unwrap().to_string(), "192.0.2.1");
    assert_eq!(i.unicast_peers[0].to_string(), "192.0.2.2");
    assert!(warned(&loaded, 2, "192.0.2.1/24") && warned(&loaded, 4, "192.0.2.2/24"));
}

#[test]
fn repeated_lists_add_up_and_a_later_scalar_wins() {
    let text = format!("vrrp_script a {{\n  script /bin/true\n}}\nvrrp_script b {{\n  script /bin/true\n}}\n{}", instance_with("  track_script {\n    a\n  }\n  track_script {\n    b\n  }\n  priority 10\n  priority 20\n"));
    let i = load(&text).config.instances[0].clone();
    let names: Vec<&str> = i.track_scripts.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(i.priority, 20);
}

#[test]
fn format_is_detected_by_content() {
    assert!(looks_like_keepalived("! comment\nglobal_defs {\n}\n"));
    assert!(looks_like_keepalived("vrrp_instance VI_1\n{\n"));
    assert!(looks_like_keepalived(
        "include /etc/keepalived/conf.d/*.conf\n"
    ));
    assert!(looks_like_keepalived("@lb1 $X=1\n"));
    assert!(!looks_like_keepalived(
        "# comment\nvrrp_instance:\n  VI_1:\n"
    ));
    assert!(!looks_like_keepalived("---\nglobal_defs: {}\n"));
    assert!(!looks_like_keepalived("global_defs: {}\nvrrp_instance:\n"));
    assert!(!looks_like_keepalived(""));
}

#[test]
fn a_master_without_priority_owns_the_addresses_as_in_keepalived() {
    let loaded = load(&instance_with("  state MASTER\n"));
    assert_eq!(loaded.config.instances[0].priority, 255);
    assert!(
        warned(&loaded, 2, "address owner (priority 255)"),
        "{}",
        warnings_text(&loaded)
    );
    let owner = load(&instance_with("  priority 255\n"));
    assert_eq!(owner.config.instances[0].state, InitialState::Master);
    let backup = load(&instance_with(""));
    assert_eq!(
        (
            backup.config.instances[0].priority,
            backup.config.instances[0].state
        ),
        (100, InitialState::Backup)
    );
}

#[test]
fn readme_lists_every_keepalived_keyword_with_its_status() {
    let readme = include_str!("../../../../README.md");
    let start = readme
        .find("## Coming from keepalived")
        .expect("README section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let mut missing = Vec::new();
    for block in grammar::KEEPALIVED_BLOCKS {
        for keyword in grammar::keepalived_keywords(block) {
            if !section.contains(&format!("`{keyword}`")) {
                missing.push(*keyword);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "README's keepalived table lacks {missing:?}"
    );
}

#[test]
fn runaway_definitions_and_sequences_are_refused() {
    let doubling: String = (0..20)
        .map(|i| format!("$D{}=$D{i}$D{i}\n", i + 1))
        .collect();
    let text = format!("$D0=xxxxxxxx\n{doubling}vrrp_instance $D20 {{\n}}\n");
    let errors = refuse(&text);
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("refused") || e.message.contains("too deeply")),
        "{errors:?}"
    );
    let errors = refuse("~SEQ(i, 1, 1000000) priority $i\n");
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("more than 10000 lines")),
        "{errors:?}"
    );
}

/// The first two columns of README's keepalived table (supported; accepted without effect) are
/// what vipd reads from a keepalived.conf, block by block; the last one is what it skips.
#[test]
fn readme_supported_column_is_what_vipd_reads() {
    let readme = include_str!("../../../../README.md");
    use crate::keywords::Block;
    let row_names = [
        (Block::GlobalDefs, "global_defs"),
        (Block::Instance, "vrrp_instance"),
        (Block::SyncGroup, "vrrp_sync_group"),
        (Block::Authentication, "authentication"),
        (Block::Script, "vrrp_script"),
        (Block::TrackFile, "track_file"),
        (Block::TrackProcess, "vrrp_track_process"),
    ];
    let mut wrong = Vec::new();
    for (block, name) in row_names {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| {name} | ")))
            .unwrap_or_else(|| panic!("README's keepalived table has no {name} row"));
        let cells: Vec<&str> = row.split(" | ").collect();
        let read_columns = format!("{} {}", cells[1], cells.get(2).unwrap_or(&""));
        for keyword in grammar::keepalived_keywords(block) {
            let listed = read_columns.contains(&format!("`{keyword}`"));
            if listed != grammar::vipd_reads(block, keyword) {
                wrong.push(format!(
                    "{name}.{keyword}: listed as read {listed}, read {}",
                    !listed
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "README's keepalived table: {wrong:#?}");
}
