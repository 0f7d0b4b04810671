//! conf/vipd.service against systemd's own tools: `systemd-analyze verify` finds nothing to say
//! (with the commands pointing at the binary this run built), and `systemd-analyze security`
//! rates its exposure at most 3.0 (6.7 before the hardening; 2.9 now). Needs systemd-analyze.

use std::process::Command;

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/conf/vipd.service");

fn analyze(args: &[&str]) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .args(args)
        .output()
        .expect("systemd-analyze (package systemd)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[test]
fn unit_verifies_and_its_exposure_stays_at_most_3() {
    let text = std::fs::read_to_string(UNIT).unwrap();
    let dir = std::env::temp_dir().join(format!("vipd-unit-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let relocated = dir.join("vipd.service");
    std::fs::write(
        &relocated,
        text.replace("/usr/local/bin/vipd", env!("CARGO_BIN_EXE_vipd")),
    )
    .unwrap();
    let (ok, said) = analyze(&["verify", relocated.to_str().unwrap()]);
    assert!(
        ok && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );

    let (ok, said) = analyze(&["security", "--offline=yes", "--threshold=30", UNIT]);
    let overall = said
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or("no overall exposure line");
    assert!(ok, "exposure above 3.0: {overall}\n{said}");
    std::fs::remove_dir_all(&dir).unwrap();
}
