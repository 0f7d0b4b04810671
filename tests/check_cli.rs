//! `vipd check -c FILE` as an operator runs it: exit 0 and a summary for a valid file, 1 with
//! `file:line:col` for an invalid one, 2 for an unreadable one, and 1 when no_accept is asked
//! for on a machine without the `nft` command.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::Scratch;

fn check(file: &Path, path_env: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vipd"));
    command.arg("check").arg("-c").arg(file);
    if let Some(dir) = path_env {
        command.env("PATH", dir);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const ACCEPTING: &str = "\
vrrp_instance:
  VI_gw:
    interface: eth0
    virtual_router_id: 60
    priority: 150
    virtual_ipaddress:
      - 192.0.2.3/24 brd 192.0.2.255 dev eth0 scope link label eth0:1 noprefixroute
    virtual_routes:
      - unreachable 198.51.100.0/24 table 250
      - 0.0.0.0/0 via 198.51.100.1 dev eth0 onlink table 250
    virtual_rules:
      - from 192.0.2.0/24 prohibit priority 100
";

#[test]
fn a_valid_file_exits_0_with_a_summary() {
    let scratch = Scratch::new("check-cli", "valid");
    let file = scratch.file("vipd.yaml", ACCEPTING);
    let out = check(&file, None);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("{}: valid (1 instance)", file.display())),
        "{stdout}"
    );
}

#[test]
fn an_invalid_file_exits_1_naming_file_line_and_column() {
    let scratch = Scratch::new("check-cli", "invalid");
    let yaml = ACCEPTING.replace("virtual_router_id: 60", "virtual_router_id: 300");
    let file = scratch.file("vipd.yaml", &yaml);
    let out = check(&file, None);
    assert_eq!(out.status.code(), Some(1), "stdout: {}", text(&out.stdout));
    let stderr = text(&out.stderr);
    let expected = format!(
        "error: {}:4:5: vrrp_instance.VI_gw.virtual_router_id: 300 is out of range",
        file.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn a_route_the_kernel_would_refuse_is_rejected_at_check_time() {
    let scratch = Scratch::new("check-cli", "route");
    let yaml = ACCEPTING.replace("dev eth0 onlink table 250", "scope link table 250");
    let file = scratch.file("vipd.yaml", &yaml);
    let out = check(&file, None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let expected = format!(
        "{}:10:9: vrrp_instance.VI_gw.virtual_routes[1]: scope link with via 198.51.100.1",
        file.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn an_unreadable_file_exits_2() {
    let scratch = Scratch::new("check-cli", "unreadable");
    let missing = scratch.0.join("missing.yaml");
    let out = check(&missing, None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}: cannot read", missing.display())),
        "{stderr}"
    );
    // A directory cannot be read as a file either.
    let out = check(&scratch.0, None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn no_accept_without_nft_is_an_error_and_with_nft_is_valid() {
    let scratch = Scratch::new("check-cli", "nft");
    let yaml = ACCEPTING.replace("priority: 150", "priority: 150\n    no_accept: true");
    let file = scratch.file("vipd.yaml", &yaml);
    let empty = scratch.0.join("empty-bin");
    std::fs::create_dir(&empty).unwrap();
    let out = check(&file, Some(&empty));
    assert_eq!(out.status.code(), Some(1), "stdout: {}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "error: {}: no_accept needs the `nft` command, which is not installed",
            file.display()
        )),
        "{stderr}"
    );

    // The same file passes where PATH has an `nft` (check looks, it never runs it).
    let with_nft = scratch.0.join("nft-bin");
    std::fs::create_dir(&with_nft).unwrap();
    scratch.file("nft-bin/nft", "#!/bin/sh\nexit 1\n");
    let out = check(&file, Some(&with_nft));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));

    // Accept mode needs no nft.
    let accepting = scratch.file("accepting.yaml", ACCEPTING);
    let out = check(&accepting, Some(&empty));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
}
