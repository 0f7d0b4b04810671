//! `vipd sniff`: read VRRP adverts from a capture file (pcap or pcapng) or live from an
//! interface (an AF_PACKET socket that only ever receives) and print one line, or one JSON
//! object, per VRRP packet, with the verdict vipd's own decoder would reach.
//!
//! # Text output
//!
//! One line per VRRP packet:
//!
//! ```text
//! 1795317749.248099 192.0.2.11 -> 224.0.0.18 VRRPv3 vrid 52 prio 200 interval 1000ms [192.0.2.52] checksum pseudo-header ttl 255
//! ```
//!
//! VRRPv2 lines add `auth none|pass|ah|type N` (AH-protected ones then `seq N`); a packet that breaks a rule ends with
//! `ERROR <name>` (the names below).
//!
//! # JSON output (`--json`)
//!
//! One object per line, per VRRP packet, with these fields (stable; new fields may be added):
//!
//! | field | type | meaning |
//! | --- | --- | --- |
//! | `frame` | integer | 1-based frame number in the file (or frame count seen live) |
//! | `time` | string | capture time, epoch seconds with 6 decimals (as tshark's `frame.time_epoch`) |
//! | `family` | 4 or 6 | IP version |
//! | `src`, `dst` | string | IP source and destination; `null` if the IP header is unreadable |
//! | `ttl` | integer | IPv4 TTL or IPv6 hop limit |
//! | `version` | integer | VRRP version field, as received |
//! | `type` | integer | VRRP type field (1 = advertisement) |
//! | `vrid` | integer | virtual router ID |
//! | `priority` | integer | priority (0 = master leaving, 255 = address owner) |
//! | `count` | integer | address count field |
//! | `adver_int` | integer | raw interval field: seconds (v2) or centiseconds (v3) |
//! | `interval_ms` | integer | the interval in milliseconds |
//! | `addresses` | array of strings | the virtual addresses present |
//! | `auth_type` | integer or null | VRRPv2 authentication type (0 none, 1 password, 2 AH); null in v3 |
//! | `checksum` | string | `"pseudo-header"` or `"plain"` (the flavour that verified) or `"bad"` |
//! | `ah_spi`, `ah_sequence` | integer or null | SPI and sequence number of an IPsec AH header (keepalived's `auth_type AH`, IP protocol 51); null without one |
//! | `error` | string or null | first rule broken: `checksum`, `version`, `vrid`, `ttl`, `length`, `type`, `address_list`, `adver_interval`, `auth_type_invalid`, `truncated`, `not_vrrp`; null when valid |
//!
//! Fields that could not be read (a packet too short for the VRRP header) are `null`.
//! Passwords are never printed. Frames without VRRP are skipped.
//!
//! # Exit codes
//!
//! 0 on success; 2 when the file cannot be opened, is not a pcap/pcapng file, or is cut short
//! (after printing every packet read before the damage), or when the live capture cannot start.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use serde_json::{json, Value};
use vipd_wire::ah::AhHeader;
use vipd_wire::{
    inspect_ipv4_packet, inspect_message, split_ipv4_packet, vrrp_in_frame, DecodeOptions,
    Inspection, LinkType, VrrpInFrame, WireError,
};

/// Arguments of `vipd sniff`.
#[derive(Debug, clap::Args)]
pub struct SniffArgs {
    /// Read packets from this pcap or pcapng file.
    #[arg(
        short = 'r',
        long = "read",
        conflicts_with = "interface",
        required_unless_present = "interface"
    )]
    pub file: Option<PathBuf>,
    /// Capture live on this interface (read-only; needs CAP_NET_RAW).
    #[arg(short = 'i', long = "interface")]
    pub interface: Option<String>,
    /// Print one JSON object per packet.
    #[arg(long)]
    pub json: bool,
    /// Stop after this many VRRP packets.
    #[arg(short = 'c', long = "count")]
    pub count: Option<u64>,
    /// Stop a live capture after this many seconds.
    #[arg(long = "timeout")]
    pub timeout: Option<f64>,
}

/// Runs `vipd sniff`; returns the process exit code.
pub fn run(args: &SniffArgs) -> i32 {
    let mut printer = Printer {
        json: args.json,
        printed: 0,
        limit: args.count,
    };
    let result = match (&args.file, &args.interface) {
        (Some(path), _) => read_file(path, &mut printer),
        (None, Some(interface)) => live::capture(
            interface,
            args.timeout.map(Duration::from_secs_f64),
            &mut printer,
        ),
        (None, None) => Err("give -r FILE or -i INTERFACE".to_string()),
    };
    match result {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("vipd sniff: {message}");
            2
        }
    }
}

/// Formats and counts printed packets.
struct Printer {
    json: bool,
    printed: u64,
    limit: Option<u64>,
}

impl Printer {
    fn done(&self) -> bool {
        self.limit.is_some_and(|limit| self.printed >= limit)
    }

    /// Prints the VRRP packet in `frame`, if any.
    fn frame(&mut self, number: u64, time: Duration, link: LinkType, frame: &[u8]) {
        if self.done() {
            return;
        }
        let Some(found) = vrrp_in_frame(link, frame) else {
            return;
        };
        let record = Record::from_found(number, time, found);
        let line = if self.json {
            record.to_json().to_string()
        } else {
            record.to_text()
        };
        let mut stdout = std::io::stdout().lock();
        // A closed stdout (e.g. `| head`) ends the output; nothing useful to report.
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
        self.printed += 1;
    }
}

/// What is known about one VRRP packet.
struct Record {
    frame: u64,
    time: Duration,
    family: Option<u8>,
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    ttl: Option<u8>,
    inspection: Option<Inspection>,
    /// The AH header in front of the VRRP message, if any.
    ah: Option<AhHeader>,
    error: Option<WireError>,
}

impl Record {
    fn from_found(frame: u64, time: Duration, found: Result<VrrpInFrame<'_>, WireError>) -> Record {
        let mut record = Record {
            frame,
            time,
            family: None,
            src: None,
            dst: None,
            ttl: None,
            inspection: None,
            ah: None,
            error: None,
        };
        match found {
            Err(error) => record.error = Some(error),
            Ok(VrrpInFrame::Ipv4(packet)) => {
                record.family = Some(4);
                match split_ipv4_packet(packet) {
                    Err(error) => record.error = Some(error),
                    Ok((header, _)) => {
                        record.src = Some(header.src.into());
                        record.dst = Some(header.dst.into());
                        record.ttl = Some(header.ttl);
                        if header.authentication_header {
                            record.ah = AhHeader::parse(&packet[header.header_len..]).ok();
                        }
                        match inspect_ipv4_packet(packet, DecodeOptions::MULTICAST) {
                            Ok((_, inspection)) => record.set_inspection(inspection),
                            Err(error) => record.error = Some(error),
                        }
                    }
                }
            }
            Ok(VrrpInFrame::Ipv6 { header, message }) => {
                record.family = Some(6);
                record.src = Some(header.src.into());
                record.dst = Some(header.dst.into());
                record.ttl = Some(header.hop_limit);
                let inspected = inspect_message(
                    message,
                    header.src.into(),
                    header.dst.into(),
                    header.hop_limit,
                    DecodeOptions::MULTICAST,
                );
                match inspected {
                    Ok(inspection) => record.set_inspection(inspection),
                    Err(error) => record.error = Some(error),
                }
            }
        }
        record
    }

    fn set_inspection(&mut self, inspection: Inspection) {
        self.error = inspection.error;
        self.inspection = Some(inspection);
    }

    fn time_text(&self) -> String {
        format!("{}.{:06}", self.time.as_secs(), self.time.subsec_micros())
    }

    /// Interval in milliseconds, by the unit of the version field (v2 seconds, else
    /// centiseconds).
    fn interval_ms(inspection: &Inspection) -> u64 {
        let unit_ms = if inspection.fields.version == 2 {
            1000
        } else {
            10
        };
        u64::from(inspection.fields.adver_int) * unit_ms
    }

    fn to_json(&self) -> Value {
        let mut value = json!({
            "frame": self.frame,
            "time": self.time_text(),
            "family": self.family,
            "src": self.src.map(|a| a.to_string()),
            "dst": self.dst.map(|a| a.to_string()),
            "ttl": self.ttl,
            "version": null,
            "type": null,
            "vrid": null,
            "priority": null,
            "count": null,
            "adver_int": null,
            "interval_ms": null,
            "addresses": null,
            "auth_type": null,
            "checksum": null,
            "ah_spi": self.ah.map(|ah| ah.spi),
            "ah_sequence": self.ah.map(|ah| ah.sequence),
            "error": self.error.map(WireError::short_name),
        });
        if let Some(inspection) = &self.inspection {
            let fields = inspection.fields;
            let extra = json!({
                "version": fields.version,
                "type": fields.kind,
                "vrid": fields.vrid,
                "priority": fields.priority,
                "count": fields.count,
                "adver_int": fields.adver_int,
                "interval_ms": Self::interval_ms(inspection),
                "addresses": inspection.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                "auth_type": fields.auth_type,
                "checksum": inspection.checksum.name(),
            });
            if let (Value::Object(target), Value::Object(source)) = (&mut value, extra) {
                target.extend(source);
            }
        }
        value
    }

    fn to_text(&self) -> String {
        let address = |a: Option<IpAddr>| a.map_or_else(|| "?".to_string(), |a| a.to_string());
        let mut line = format!(
            "{} {} -> {}",
            self.time_text(),
            address(self.src),
            address(self.dst)
        );
        if let Some(inspection) = &self.inspection {
            let fields = inspection.fields;
            let addresses: Vec<String> =
                inspection.addresses.iter().map(|a| a.to_string()).collect();
            line.push_str(&format!(
                " VRRPv{} vrid {} prio {} interval {}ms [{}]",
                fields.version,
                fields.vrid,
                fields.priority,
                Self::interval_ms(inspection),
                addresses.join(", ")
            ));
            if let Some(auth_type) = fields.auth_type {
                let auth = match auth_type {
                    0 => "none".to_string(),
                    1 => "pass".to_string(),
                    2 => "ah".to_string(),
                    other => format!("type {other}"),
                };
                line.push_str(&format!(" auth {auth}"));
            }
            if let Some(ah) = self.ah {
                line.push_str(&format!(" seq {}", ah.sequence));
            }
            line.push_str(&format!(" checksum {}", inspection.checksum.name()));
        }
        if let Some(ttl) = self.ttl {
            line.push_str(&format!(" ttl {ttl}"));
        }
        if let Some(error) = self.error {
            line.push_str(&format!(" ERROR {}", error.short_name()));
        }
        line
    }
}

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

fn read_file(path: &Path, printer: &mut Printer) -> Result<(), String> {
    let name = path.display();
    let mut file = File::open(path).map_err(|e| format!("{name}: {e}"))?;
    let mut magic = [0u8; 4];
    let magic_len = file.read(&mut magic).map_err(|e| format!("{name}: {e}"))?;
    drop(file);
    let file = BufReader::new(File::open(path).map_err(|e| format!("{name}: {e}"))?);
    if magic_len == 4 && magic == PCAPNG_MAGIC {
        read_pcapng(file, printer).map_err(|e| format!("{name}: {e}"))
    } else {
        read_pcap(file, printer).map_err(|e| format!("{name}: {e}"))
    }
}

fn link_type(linktype: u32) -> Result<LinkType, String> {
    LinkType::from_pcap(linktype).ok_or_else(|| format!("unsupported link type {linktype}"))
}

fn read_pcap(file: BufReader<File>, printer: &mut Printer) -> Result<(), String> {
    let mut reader =
        PcapReader::new(file).map_err(|e| format!("not a pcap or pcapng file ({e})"))?;
    let link = link_type(u32::from(reader.header().datalink))?;
    let mut number = 0u64;
    while let Some(packet) = reader.next_packet() {
        let packet = packet.map_err(|e| format!("capture cut short after frame {number} ({e})"))?;
        number += 1;
        printer.frame(number, packet.timestamp, link, &packet.data);
        if printer.done() {
            break;
        }
    }
    Ok(())
}

fn read_pcapng(file: BufReader<File>, printer: &mut Printer) -> Result<(), String> {
    let mut reader =
        PcapNgReader::new(file).map_err(|e| format!("not a pcap or pcapng file ({e})"))?;
    // Tracked here because the reader's own list cannot be borrowed while a block is.
    let mut interfaces: Vec<Option<LinkType>> = Vec::new();
    let mut number = 0u64;
    while let Some(block) = reader.next_block() {
        let block = block.map_err(|e| format!("capture cut short after frame {number} ({e})"))?;
        match block {
            Block::SectionHeader(_) => interfaces.clear(),
            Block::InterfaceDescription(interface) => {
                interfaces.push(LinkType::from_pcap(u32::from(interface.linktype)));
            }
            Block::EnhancedPacket(packet) => {
                number += 1;
                let link = interfaces
                    .get(packet.interface_id as usize)
                    .copied()
                    .flatten();
                if let Some(link) = link {
                    printer.frame(number, packet.timestamp, link, &packet.data);
                }
            }
            Block::SimplePacket(_) | Block::Packet(_) => number += 1,
            _ => {}
        }
        if printer.done() {
            break;
        }
    }
    Ok(())
}

/// Live capture on an AF_PACKET socket. The socket is only ever read.
mod live {
    use super::*;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    const ARPHRD_ETHER: u16 = 1;

    pub(super) fn capture(
        interface: &str,
        timeout: Option<Duration>,
        printer: &mut Printer,
    ) -> Result<(), String> {
        let socket = open(interface)?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut buffer = vec![0u8; 65536];
        let mut number = 0u64;
        while !printer.done() {
            let wait_ms = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    // Round up so a sub-millisecond remainder still waits instead of spinning.
                    left.as_millis().clamp(1, i32::MAX as u128) as i32
                }
                None => -1,
            };
            let mut poll = libc::pollfd {
                fd: socket.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd for the duration of the call.
            let ready = unsafe { libc::poll(&mut poll, 1, wait_ms) };
            if ready < 0 {
                let error = std::io::Error::last_os_error();
                if error.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(format!("{interface}: poll: {error}"));
            }
            if ready == 0 {
                continue;
            }
            // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut from_len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            // SAFETY: buffer and address pointers are valid for the lengths given.
            let received = unsafe {
                libc::recvfrom(
                    socket.as_raw_fd(),
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    libc::MSG_DONTWAIT,
                    (&mut from as *mut libc::sockaddr_ll).cast(),
                    &mut from_len,
                )
            };
            if received < 0 {
                let error = std::io::Error::last_os_error();
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
                ) {
                    continue;
                }
                return Err(format!("{interface}: recv: {error}"));
            }
            number += 1;
            let time = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let link = if from.sll_hatype == ARPHRD_ETHER {
                LinkType::Ethernet
            } else {
                LinkType::RawIp
            };
            printer.frame(number, time, link, &buffer[..received as usize]);
        }
        Ok(())
    }

    fn open(interface: &str) -> Result<OwnedFd, String> {
        let name = std::ffi::CString::new(interface)
            .map_err(|_| format!("{interface}: bad interface name"))?;
        // SAFETY: name is a valid C string.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if index == 0 {
            return Err(format!("{interface}: no such interface"));
        }
        let protocol = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2) call; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(protocol),
            )
        };
        if fd < 0 {
            return Err(format!(
                "{interface}: cannot open a packet socket ({}); needs CAP_NET_RAW",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: fd is a freshly opened descriptor we own.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = protocol;
        address.sll_ifindex = index as i32;
        // SAFETY: address is a valid sockaddr_ll of the given length.
        let bound = unsafe {
            libc::bind(
                socket.as_raw_fd(),
                (&address as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if bound < 0 {
            return Err(format!(
                "{interface}: bind: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(socket)
    }
}
