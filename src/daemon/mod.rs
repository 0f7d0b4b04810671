//! The tokio event loop: feeds packets, timers, link events and signals to the routers and applies their
//! actions through `system`; the control socket, status and configuration reload. Entry points of
//! `vipd run|check|status|reload`.

pub mod control;
pub mod effects;
mod event_loop;
pub mod instance;
mod notify;
pub mod status;

use std::path::Path;

use tokio::sync::mpsc;

pub use event_loop::state_name;

/// `vipd check`: 0 valid, 1 invalid, 2 unreadable. Touches nothing but the file.
pub fn check(path: &Path) -> i32 {
    match vipd_config::load_file(path) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                eprintln!("warning: {warning}");
            }
            if let Err(e) = nft_available(&loaded.config) {
                eprintln!("error: {}: {e}", path.display());
                return 1;
            }
            println!(
                "{}: valid ({} instance{})",
                path.display(),
                loaded.config.instances.len(),
                if loaded.config.instances.len() == 1 {
                    ""
                } else {
                    "s"
                }
            );
            0
        }
        Err(e) => {
            report_load_error(&e);
            e.exit_code()
        }
    }
}

fn report_load_error(error: &vipd_config::LoadError) {
    match error {
        vipd_config::LoadError::Invalid { errors, warnings } => {
            for w in warnings {
                eprintln!("warning: {w}");
            }
            for e in errors {
                eprintln!("error: {e}");
            }
        }
        other => eprintln!("error: {other}"),
    }
}

/// no_accept is enforced with nftables: without the `nft` command it cannot be, so say so up front.
fn nft_available(config: &vipd_config::Config) -> Result<(), String> {
    if !config.needs_nftables() {
        return Ok(());
    }
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join("nft").is_file()))
        .unwrap_or(false);
    if found {
        Ok(())
    } else {
        Err("no_accept needs the `nft` command, which is not installed: install the Debian package `nftables`".into())
    }
}

/// `vipd status`.
pub fn print_status(runtime_dir: &Path, json: bool) -> i32 {
    match control::query_status(runtime_dir) {
        Ok(report) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("status serialises")
                );
            } else {
                print!("{}", report.render_text());
            }
            0
        }
        Err(e) => {
            eprintln!("vipd status: {e}");
            1
        }
    }
}

/// `vipd reload`: asks the running daemon to re-read its configuration file. Exit 0 when the new
/// configuration was applied, 1 when it was rejected (nothing changed), 2 when the daemon cannot
/// be reached.
pub fn request_reload(runtime_dir: &Path) -> i32 {
    match control::request_reload(runtime_dir) {
        Ok(report) => {
            print!("{}", report.render_text());
            if report.applied {
                0
            } else {
                1
            }
        }
        Err(e) => {
            eprintln!("vipd reload: {e}");
            2
        }
    }
}

/// Tells systemd (Type=notify) that vipd is up; a no-op when not started by systemd.
pub(crate) fn notify_ready() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
}

/// `vipd run`: applies nothing unless the whole configuration is valid.
pub fn run(config_path: &Path, runtime_dir: &Path) -> i32 {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VIPD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let loaded = match vipd_config::load_file(config_path) {
        Ok(loaded) => loaded,
        Err(e) => {
            report_load_error(&e);
            eprintln!("vipd: nothing applied; fix the configuration and start again");
            return e.exit_code();
        }
    };
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    if let Err(e) = nft_available(&loaded.config) {
        eprintln!("error: {}: {e}", config_path.display());
        eprintln!("vipd: nothing applied; fix the configuration and start again");
        return 1;
    }
    if notify::needed(&loaded.config) {
        if let Err(e) = notify::configure(&loaded.config.global) {
            eprintln!("error: {}: {e}", config_path.display());
            eprintln!("vipd: nothing applied; fix the configuration and start again");
            return 1;
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vipd: cannot start the runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(async {
        let (control_tx, control_rx) = mpsc::channel(16);
        if let Err(e) = control::serve(runtime_dir, control_tx) {
            tracing::error!("control socket in {}: {e}", runtime_dir.display());
            return 1;
        }
        let code = match event_loop::Daemon::start(
            loaded.config,
            config_path.to_owned(),
            control_rx,
        )
        .await
        {
            Ok(daemon) => daemon.run().await,
            Err(e) => {
                tracing::error!("cannot start: {e}");
                1
            }
        };
        let _ = std::fs::remove_file(control::socket_path(runtime_dir));
        code
    })
}
