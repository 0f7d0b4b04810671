//! The `vipd` command line: argument handling only; the work lives in the library.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "vipd", version, about = "VRRP daemon for Linux gateways (RFC 9568, RFC 3768)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print VRRP packets read from a pcap file or captured on an interface.
    Sniff(vipd::sniff::SniffArgs),
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Sniff(args) => vipd::sniff::run(&args),
    };
    std::process::exit(code);
}
