//! `vipd sniff -r <fixture> --json` agrees with the expected decodes (made with tshark) of every
//! capture in `pcap-fixtures/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn captures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pcap-fixtures");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("pcap-fixtures/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "pcap"))
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no fixtures in {}", dir.display());
    found
}

#[test]
fn sniff_json_matches_tshark_for_every_fixture() {
    for capture in captures() {
        let output = Command::new(env!("CARGO_BIN_EXE_vipd"))
            .arg("sniff")
            .arg("-r")
            .arg(&capture)
            .arg("--json")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            capture.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let lines: Vec<Value> = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let expected: Vec<Value> = serde_json::from_str(
            &std::fs::read_to_string(capture.with_extension("expected.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            lines.len(),
            expected.len(),
            "{}: packet count",
            capture.display()
        );
        for (ours, theirs) in lines.iter().zip(&expected) {
            let context = format!("{} frame {}", capture.display(), theirs["frame"]);
            for (ours_key, theirs_key) in [
                ("frame", "frame"),
                ("time", "time"),
                ("family", "family"),
                ("src", "src"),
                ("dst", "dst"),
                ("ttl", "ttl"),
                ("version", "version"),
                ("type", "type"),
                ("vrid", "vrid"),
                ("priority", "priority"),
                ("count", "count_ip"),
                ("auth_type", "auth_type"),
                ("adver_int", "adver_int"),
                ("addresses", "addresses"),
            ] {
                assert_eq!(ours[ours_key], theirs[theirs_key], "{context}: {ours_key}");
            }
            let unit_ms = if theirs["version"] == 2 { 1000 } else { 10 };
            assert_eq!(
                ours["interval_ms"],
                theirs["adver_int"].as_u64().unwrap() * unit_ms,
                "{context}: interval_ms"
            );
            let tshark_good = theirs["checksum_status"] == "good";
            assert_eq!(
                ours["checksum"] != "bad",
                tshark_good,
                "{context}: checksum verdict"
            );
            assert_eq!(ours["error"], Value::Null, "{context}: error");
            for key in ["ah_spi", "ah_sequence"] {
                assert_eq!(ours[key], theirs[key], "{context}: {key}");
            }
        }
    }
}
