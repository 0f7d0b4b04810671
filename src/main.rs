//! The `vipd` command line: argument handling only; the work lives in the library.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "vipd",
    version,
    about = "VRRP daemon for Linux gateways (RFC 9568, RFC 3768)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const DEFAULT_CONFIG: &str = "/etc/vipd/vipd.yaml";
const DEFAULT_RUNTIME_DIR: &str = "/run/vipd";

#[derive(Subcommand)]
enum Command {
    /// Run the daemon in the foreground.
    Run {
        /// Configuration file.
        #[arg(short = 'c', long = "config", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Directory for the control socket (one per daemon when several run in separate namespaces).
        #[arg(long, default_value = DEFAULT_RUNTIME_DIR)]
        runtime_dir: PathBuf,
    },
    /// Validate a configuration file without touching the system (exit 0 valid, 1 invalid, 2 unreadable).
    Check {
        #[arg(short = 'c', long = "config", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Print the state of a running daemon's instances.
    Status {
        #[arg(long, default_value = DEFAULT_RUNTIME_DIR)]
        runtime_dir: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Make the running daemon re-read its configuration file (as SIGHUP does) and print what
    /// changed (exit 0 applied, 1 rejected and nothing changed, 2 daemon unreachable).
    Reload {
        #[arg(long, default_value = DEFAULT_RUNTIME_DIR)]
        runtime_dir: PathBuf,
    },
    /// Print VRRP packets read from a pcap file or captured on an interface.
    Sniff(vipd::sniff::SniffArgs),
    /// Print a shell completion script (what the package installs).
    #[command(hide = true)]
    Completions { shell: clap_complete::Shell },
    /// Print the man page vipd(8) in roff (what the package installs).
    #[command(hide = true)]
    Manpage,
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run {
            config,
            runtime_dir,
        } => vipd::daemon::run(&config, &runtime_dir),
        Command::Check { config } => vipd::cli::check(&config),
        Command::Status { runtime_dir, json } => vipd::cli::print_status(&runtime_dir, json),
        Command::Reload { runtime_dir } => vipd::cli::request_reload(&runtime_dir),
        Command::Sniff(args) => vipd::sniff::run(&args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "vipd", &mut std::io::stdout());
            0
        }
        Command::Manpage => {
            let page = clap_mangen::Man::new(Cli::command()).section("8");
            match page.render(&mut std::io::stdout()) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("vipd manpage: {e}");
                    1
                }
            }
        }
    };
    std::process::exit(code);
}
