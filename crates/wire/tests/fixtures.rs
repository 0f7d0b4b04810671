//! Decodes every VRRP packet of every capture in `pcap-fixtures/` (real keepalived and FRR
//! adverts), compares every field with the expected decode cross-checked against tshark, and
//! re-encodes each advert byte for byte, checksum included, in the flavour the decoder found.
//! keepalived's AH adverts are re-built as whole IPv4 packets, ICV included, from their key.

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

/// The `auth_pass` of the AH capture (`capture.sh`'s keepalived-v2-ah scenario).
const AH_FIXTURE_KEY: &[u8] = b"SECUREUN";

/// The AH fields of an AH-protected IPv4 packet, as JSON keys, and whether rebuilding the packet
/// with vipd's encoder (the capture's IP ID, TTL and sequence number) gives the same bytes.
fn ah_fields(ip: &[u8], advert: &Advert) -> (serde_json::Map<String, Value>, bool) {
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    let ah = ah::AhHeader::parse(&ip[header_len..]).unwrap();
    let mut fields = serde_json::Map::new();
    fields.insert("ah_spi".into(), ah.spi.into());
    fields.insert("ah_sequence".into(), ah.sequence.into());
    let icv: String = ah.icv.iter().map(|b| format!("{b:02x}")).collect();
    fields.insert("ah_icv".into(), icv.into());
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let send = ah::AhSend {
        src: std::net::Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
        dst: std::net::Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
        ttl: ip[8],
        ip_id: u16::from_be_bytes([ip[4], ip[5]]),
        sequence: ah.sequence,
        unicast: false,
    };
    let mut rebuilt = bytes::BytesMut::new();
    let key = ah::AhKey::from_auth_pass(AH_FIXTURE_KEY);
    ah::encode_ipv4_ah_packet(advert, &key, &send, &mut rebuilt).unwrap();
    (fields, rebuilt[..] == ip[..total])
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
        let mut ah_packet = None;
        let (src, dst, ttl, message, inspection): (IpAddr, IpAddr, u8, Vec<u8>, Inspection) =
            match found.expect("fixture frames are complete") {
                VrrpInFrame::Ipv4(ip) => {
                    ah_packet = (ip[9] == IPPROTO_AH).then(|| ip.to_vec());
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
        let mut value = serde_json::json!({
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
        let mut reencoded_matches = reencoded[..] == message[..];
        if let Some(ip) = &ah_packet {
            let (fields, rebuilt_matches) = ah_fields(ip, &advert);
            value.as_object_mut().unwrap().extend(fields);
            reencoded_matches &= rebuilt_matches;
        }
        decoded.push(Decoded {
            frame,
            value,
            reencoded_matches,
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

/// The known vector: every AH advert keepalived 2.2.7 sent in the capture carries the ICV vipd
/// computes from `auth_pass`, and another key fails every one of them.
#[test]
fn keepalived_ah_adverts_carry_the_icv_vipd_computes() {
    let path = fixture_dir().join("keepalived-v2-ah.pcap");
    let mut reader = PcapReader::new(File::open(&path).unwrap()).unwrap();
    let link = LinkType::from_pcap(u32::from(reader.header().datalink)).unwrap();
    let key = ah::AhKey::from_auth_pass(AH_FIXTURE_KEY);
    let wrong = ah::AhKey::from_auth_pass(b"SECUREUM");
    let mut sequence = ah::AhSequence::new();
    let mut verified = 0;
    while let Some(packet) = reader.next_packet() {
        let packet = packet.unwrap();
        let Some(Ok(VrrpInFrame::Ipv4(ip))) = vrrp_in_frame(link, &packet.data) else {
            continue;
        };
        let header = ah::verify_ipv4_packet(&key, ip, false).unwrap();
        assert_eq!(
            ah::verify_ipv4_packet(&wrong, ip, false),
            Err(ah::AhError::Icv)
        );
        // Both routers' adverts form one rising sequence: the backup continued the master's.
        sequence.check_received(header.sequence).unwrap();
        verified += 1;
    }
    assert!(
        verified >= 8,
        "only {verified} AH adverts in {}",
        path.display()
    );
}
