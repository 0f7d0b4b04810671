//! A keepalived.conf on the command line: `vipd check -c keepalived.conf` reads it by its
//! content (or `--format keepalived`), prints keepalived's leniencies as warnings and exits 0;
//! `--config-id` picks the `@ID` lines; `vipd import-keepalived` writes YAML that `vipd check`
//! accepts, exits 1 with `FILE:LINE: message` when it cannot convert and 2 when unreadable.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::Scratch;

fn vipd(args: &[&str], file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vipd"))
        .args(args)
        .arg(file)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const GATEWAY: &str = "! seed-like gateway\nglobal_defs {\n  use_vmac\n}\nvrrp_instance VI_gateway {\n  state PEER\n  interface eth0\n  virtual_router_id 60\n@lb1 priority 250\n@lb2 priority 240\n  virtual_ipaddress {\n    192.0.2.3\n  }\n}\n";

#[test]
fn check_reads_a_keepalived_conf_and_prints_its_leniencies() {
    let dir = Scratch::new("kconf-cli", "check");
    let conf = dir.file("keepalived.conf", GATEWAY);
    let out = vipd(&["check", "-i", "lb1", "-c"], &conf);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("keepalived.conf:3:3: global_defs.use_vmac: keepalived ignores use_vmac"),
        "{stderr}"
    );
    assert!(stderr.contains("keepalived.conf:6:"), "{stderr}");
    assert!(text(&out.stdout).contains("valid (1 instance)"));

    let as_yaml = vipd(&["check", "--format", "yaml", "-c"], &conf);
    assert_eq!(
        as_yaml.status.code(),
        Some(1),
        "forced YAML must not read it"
    );
}

#[test]
fn import_writes_yaml_that_check_accepts_with_the_same_meaning() {
    let dir = Scratch::new("kconf-cli", "import");
    let conf = dir.file("keepalived.conf", GATEWAY);
    let yaml = dir.0.join("vipd.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_vipd"))
        .args(["import-keepalived", "--config-id", "lb2"])
        .arg(&conf)
        .arg("-o")
        .arg(&yaml)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr)
        .contains("keepalived.conf:6: keepalived 2.2.7 does not know state \"PEER\""));
    let written = std::fs::read_to_string(&yaml).unwrap();
    assert!(
        written.contains("priority: 240") && !written.contains("priority: 250"),
        "{written}"
    );
    assert!(
        written.contains("# seed-like gateway")
            && written.contains("# vipd warning: keepalived ignores use_vmac"),
        "{written}"
    );
    let check = vipd(&["check", "-c"], &yaml);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
}

#[test]
fn import_exit_codes_for_refused_and_unreadable_files() {
    let dir = Scratch::new("kconf-cli", "exit");
    let bad = dir.file(
        "bad.conf",
        "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id\n}\n",
    );
    let out = vipd(&["import-keepalived"], &bad);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.lines().any(|l| l.ends_with("bad.conf:3: virtual_router_id needs a value (keepalived exits: the line is missing a parameter)")), "{stderr}");
    let missing = vipd(&["import-keepalived"], &dir.0.join("absent.conf"));
    assert_eq!(missing.status.code(), Some(2));
}
