//! Error paths of `vipd sniff -r`: a file that is not a capture, a capture cut short (what was
//! read is printed first), a missing file, and frames that are not VRRP.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pcap-fixtures")
        .join(name)
}

fn sniff(file: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vipd"))
        .arg("sniff")
        .arg("-r")
        .arg(file)
        .args(extra)
        .output()
        .unwrap()
}

fn scratch(name: &str, contents: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vipd-sniff-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn stderr_line(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(text.lines().count(), 1, "one-line error, got {text:?}");
    text
}

#[test]
fn text_file_is_rejected_with_exit_2_naming_the_file() {
    let path = scratch("notes.txt", b"this is not a capture\n");
    let output = sniff(&path, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_line(&output).contains(&path.display().to_string()));
    assert!(output.stdout.is_empty());
}

#[test]
fn truncated_capture_prints_what_it_read_then_fails() {
    let whole = std::fs::read(fixture("keepalived-v3-vmac.pcap")).unwrap();
    let complete = Command::new(env!("CARGO_BIN_EXE_vipd"))
        .args(["sniff", "--json", "-r"])
        .arg(fixture("keepalived-v3-vmac.pcap"))
        .output()
        .unwrap();
    let all_lines = String::from_utf8(complete.stdout).unwrap().lines().count();
    // Cut in the middle of the last frame's data.
    let path = scratch("cut.pcap", &whole[..whole.len() - 10]);
    let output = sniff(&path, &["--json"]);
    assert_eq!(output.status.code(), Some(2));
    let error = stderr_line(&output);
    assert!(
        error.contains(&path.display().to_string()) && error.contains("cut short"),
        "{error}"
    );
    let printed = String::from_utf8(output.stdout).unwrap().lines().count();
    assert!(
        printed > 0 && printed < all_lines,
        "printed {printed} of {all_lines} before the cut"
    );
}

#[test]
fn missing_file_fails_with_exit_2() {
    let output = sniff(Path::new("/nonexistent/capture.pcap"), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_line(&output).contains("/nonexistent/capture.pcap"));
}

/// A classic pcap (Ethernet) with an ARP frame, a UDP frame and one VRRP frame whose checksum
/// was damaged: only the VRRP frame is printed, with its error.
#[test]
fn non_vrrp_frames_are_skipped_and_errors_reported() {
    let mut file = vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ];
    let mut add_frame = |frame: &[u8]| {
        file.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        file.extend_from_slice(&5u32.to_le_bytes());
        file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        file.extend_from_slice(frame);
    };
    let ethernet = |ethertype: [u8; 2], payload: &[u8]| {
        let mut frame = vec![0x01, 0x00, 0x5e, 0, 0, 0x12, 0, 0, 0x5e, 0, 1, 1];
        frame.extend_from_slice(&ethertype);
        frame.extend_from_slice(payload);
        frame
    };
    add_frame(&ethernet([0x08, 0x06], &[0u8; 28]));
    let ip_header = |protocol: u8, len: u16| {
        let mut h = vec![0x45, 0xc0];
        h.extend_from_slice(&len.to_be_bytes());
        h.extend_from_slice(&[0, 0, 0, 0, 255, protocol, 0, 0, 192, 0, 2, 1, 224, 0, 0, 18]);
        h
    };
    let mut udp = ip_header(17, 28);
    udp.extend_from_slice(&[0u8; 8]);
    add_frame(&ethernet([0x08, 0x00], &udp));
    let mut vrrp = ip_header(112, 32);
    // The valid pseudo-header vector of the codec tests with its checksum's last byte changed.
    vrrp.extend_from_slice(&[
        0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x04, 0xd9, 0xc0, 0x00, 0x02, 0xfe,
    ]);
    add_frame(&ethernet([0x08, 0x00], &vrrp));

    let path = scratch("mixed.pcap", &file);
    let output = sniff(&path, &["--json"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert_eq!(lines[0]["frame"], 3);
    assert_eq!(lines[0]["time"], "1700000000.000005");
    assert_eq!(lines[0]["checksum"], "bad");
    assert_eq!(lines[0]["error"], "checksum");
    assert_eq!(lines[0]["vrid"], 51);

    let text = sniff(&path, &[]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.trim_end().ends_with("ERROR checksum"), "{text}");
    assert!(
        text.contains(
            "192.0.2.1 -> 224.0.0.18 VRRPv3 vrid 51 prio 100 interval 1000ms [192.0.2.254]"
        ),
        "{text}"
    );
}

#[test]
fn count_limits_the_output() {
    let output = sniff(&fixture("frr-v3-ipv4.pcap"), &["-c", "3"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8(output.stdout).unwrap().lines().count(), 3);
}
