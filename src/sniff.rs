//! `vipd sniff`: read VRRP adverts from a pcap file or a live interface and print one line (or JSON object) per packet.

use std::path::PathBuf;

/// Arguments of `vipd sniff`.
#[derive(Debug, clap::Args)]
pub struct SniffArgs {
    /// Read packets from this pcap file.
    #[arg(short = 'r', long = "read", conflicts_with = "interface")]
    pub file: Option<PathBuf>,
    /// Capture live on this interface (read-only; needs CAP_NET_RAW).
    #[arg(short = 'i', long = "interface")]
    pub interface: Option<String>,
    /// Print one JSON object per packet.
    #[arg(long)]
    pub json: bool,
}

/// Runs `vipd sniff`; returns the process exit code.
pub fn run(_args: &SniffArgs) -> i32 {
    eprintln!("vipd sniff: not built yet");
    2
}
