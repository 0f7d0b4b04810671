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
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Validate a configuration file without touching the system (exit 0 valid, 1 invalid, 2 unreadable).
    Check {
        #[arg(short = 'c', long = "config", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Convert a keepalived.conf into vipd's YAML (exit 0 converted, 1 cannot be converted,
    /// 2 unreadable); warnings go to stderr and into the YAML as comments.
    ImportKeepalived {
        /// The keepalived.conf.
        file: PathBuf,
        /// Where to write the YAML (default: standard output).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// keepalived's -i: which `@ID` lines apply (default: the short host name).
        #[arg(short = 'i', long = "config-id")]
        config_id: Option<String>,
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
    /// Take instances out of service and keep them out (a master hands over first,
    /// make-before-break), across restarts, until `off` (exit 0 done, 1 refused or not done,
    /// 2 daemon unreachable).
    Maintenance {
        #[arg(value_parser = ["on", "off"])]
        switch: String,
        /// Instances (a sync group member brings its whole group).
        #[arg(conflicts_with_all = ["group", "all"], required_unless_present_any = ["group", "all"])]
        instances: Vec<String>,
        /// Every member of this vrrp_sync_group.
        #[arg(long, conflicts_with = "all")]
        group: Option<String>,
        /// Every instance.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value = DEFAULT_RUNTIME_DIR)]
        runtime_dir: PathBuf,
    },
    /// Hand over now (make-before-break), then return to the usual preemption rules; without
    /// names, every instance that is master (exit 0 a successor took over, 1 none did or
    /// refused, 2 daemon unreachable).
    Handover {
        instances: Vec<String>,
        #[arg(long, default_value = DEFAULT_RUNTIME_DIR)]
        runtime_dir: PathBuf,
    },
}

/// How the configuration file is read.
#[derive(clap::Args)]
struct ReadArgs {
    /// The file's format; by default told by its content.
    #[arg(long, value_parser = ["yaml", "keepalived"])]
    format: Option<String>,
    /// keepalived's -i for a keepalived.conf: which `@ID` lines apply (default: the short host name).
    #[arg(short = 'i', long = "config-id")]
    config_id: Option<String>,
}

impl ReadArgs {
    fn options(self) -> vipd_config::ReadOptions {
        vipd_config::ReadOptions {
            format: self.format.and_then(|f| f.parse().ok()).unwrap_or_default(),
            keepalived: vipd_config::keepalived::Options {
                config_id: self.config_id,
                ..Default::default()
            },
        }
    }
}

fn targets(instances: Vec<String>, group: Option<String>, all: bool) -> vipd::operate::Targets {
    use vipd::operate::Targets;
    match (group, all) {
        (_, true) => Targets::All,
        (Some(group), false) => Targets::Group(group),
        (None, false) if instances.is_empty() => Targets::All,
        (None, false) => Targets::Instances(instances),
    }
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run {
            config,
            runtime_dir,
            read,
        } => vipd::daemon::run_with(&config, &runtime_dir, read.options()),
        Command::Check { config, read } => vipd::cli::check_with(&config, &read.options()),
        Command::ImportKeepalived {
            file,
            output,
            config_id,
        } => vipd::import::run(&file, output.as_deref(), config_id),
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
        Command::Maintenance {
            switch,
            instances,
            group,
            all,
            runtime_dir,
        } => vipd::operate::run(
            &runtime_dir,
            &vipd::operate::Operation::Maintenance {
                on: switch == "on",
                targets: targets(instances, group, all),
            },
        ),
        Command::Handover {
            instances,
            runtime_dir,
        } => vipd::operate::run(
            &runtime_dir,
            &vipd::operate::Operation::Handover {
                targets: targets(instances, None, false),
            },
        ),
    };
    std::process::exit(code);
}
