//! Decodes every VRRP packet of every capture in `pcap-fixtures/` (real keepalived and FRR
//! adverts), compares every field with the expected decode cross-checked against tshark, and
//! re-encodes each advert byte for byte, checksum included, in the flavour the decoder found.

use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use pcap_file::pcap::PcapReader;
use serde_json::Value;
use vipd_wire::*;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pcap-fixtures")
}

fn captures() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .expect("pcap-fixtures/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "pcap"))
        .collect();
    found.sort();
    found
}

/// One decoded VRRP packet, in the shape of the expected JSON.
struct Decoded {
    frame: usize,
    value: Value,
    reencoded_matches: bool,
}

fn decode_capture(path: &Path) -> Vec<Decoded> {
    let mut reader = PcapReader::new(File::open(path).unwrap()).unwrap();
    let link =
        LinkType::from_pcap(u32::from(reader.header().datalink)).expect("supported link type");
    let mut decoded = Vec::new();
    let mut frame = 0;
    while let Some(packet) = reader.next_packet() {
        let packet = packet.unwrap();
        frame += 1;
        let Some(found) = vrrp_in_frame(link, &packet.data) else {
            continue;
        };
        let (src, dst, ttl, message, inspection): (IpAddr, IpAddr, u8, Vec<u8>, Inspection) =
            match found.expect("fixture frames are complete") {
                VrrpInFrame::Ipv4(ip) => {
                    let (header, message) = split_ipv4_packet(ip).unwrap();
                    let (_, inspection) =
                        inspect_ipv4_packet(ip, DecodeOptions::MULTICAST).unwrap();
                    (
                        header.src.into(),
                        header.dst.into(),
                        header.ttl,
                        message.to_vec(),
                        inspection,
                    )
                }
                VrrpInFrame::Ipv6 { header, message } => {
                    let src = header.src.into();
                    let dst = header.dst.into();
                    let inspection = inspect_message(
                        message,
                        src,
                        dst,
                        header.hop_limit,
                        DecodeOptions::MULTICAST,
                    )
                    .unwrap();
                    (src, dst, header.hop_limit, message.to_vec(), inspection)
                }
            };
        let fields = inspection.fields;
        let checksum_status = match inspection.checksum {
            ChecksumVerdict::Good(_) => "good",
            ChecksumVerdict::Bad => "bad",
        };
        let (advert, flavour) = inspection.clone().into_advert().unwrap_or_else(|error| {
            panic!("{} frame {frame}: {error}", path.display());
        });
        let auth_string = match advert.auth {
            Auth::SimplePassword(bytes) => {
                let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
                Value::from(String::from_utf8_lossy(&bytes[..end]).into_owned())
            }
            _ => Value::Null,
        };
        let reencoded = encode(&advert, flavour, src, dst).unwrap();
        let value = serde_json::json!({
            "frame": frame,
            "time": format!("{}.{:06}", packet.timestamp.as_secs(), packet.timestamp.subsec_micros()),
            "family": Family::of(&src).number(),
            "src": src.to_string(),
            "dst": dst.to_string(),
            "ttl": ttl,
            "version": fields.version,
            "type": fields.kind,
            "vrid": fields.vrid,
            "priority": fields.priority,
            "count_ip": fields.count,
            "auth_type": fields.auth_type,
            "adver_int": fields.adver_int,
            "checksum": fields.checksum,
            "checksum_status": checksum_status,
            "addresses": inspection.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "auth_string": auth_string,
        });
        decoded.push(Decoded {
            frame,
            value,
            reencoded_matches: reencoded[..] == message[..],
        });
    }
    decoded
}

#[test]
fn every_fixture_decodes_as_tshark_says_and_reencodes_byte_for_byte() {
    let captures = captures();
    assert!(
        !captures.is_empty(),
        "no *.pcap in {}: the fixture test must not pass vacuously",
        fixture_dir().display()
    );
    let mut packets_checked = 0;
    for capture in &captures {
        let expected_path = capture.with_extension("expected.json");
        let expected: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();
        let decoded = decode_capture(capture);
        assert!(!decoded.is_empty(), "{}: no VRRP packet", capture.display());
        assert_eq!(
            decoded.len(),
            expected.len(),
            "{}: VRRP packet count",
            capture.display()
        );
        for (ours, theirs) in decoded.iter().zip(&expected) {
            assert_eq!(
                &ours.value,
                theirs,
                "{} frame {}",
                capture.display(),
                ours.frame
            );
            assert!(
                ours.reencoded_matches,
                "{} frame {}: re-encoding differs",
                capture.display(),
                ours.frame
            );
            packets_checked += 1;
        }
    }
    // Every scenario has priority-0 adverts; make sure they were among the packets compared.
    let priority_zero = captures
        .iter()
        .flat_map(|c| decode_capture(c))
        .filter(|d| d.value["priority"] == 0)
        .count();
    assert!(
        priority_zero >= captures.len(),
        "each capture should hold a priority-0 advert"
    );
    eprintln!(
        "{} captures, {packets_checked} VRRP packets compared",
        captures.len()
    );
}
