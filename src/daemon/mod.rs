//! The daemon, `vipd run`: one event loop ([`main_loop`]) on a thread of its own owns every
//! router and waits on its own epoll set; a current-thread tokio runtime beside it runs the
//! quiet sources, the system worker, the control socket, the HTTP listener and the trackers.
//! Its concerns, one file each:
//!
//! - [`event`]: the events the loop dispatches; [`registry`]: instance and group ids;
//!   [`instance`]: one instance's parts;
//! - [`receive`]: sockets and incoming adverts; [`transmit`]: adverts and announcements out;
//!   [`ah`]: keepalived's `auth_type AH` (checking adverts heard, building those sent);
//! - [`attach`]: interfaces, VMACs, sockets; [`netevents`]: what netlink reports;
//! - [`apply`]: carrying out router actions; [`worker`] (+ [`effects`]): the kernel round trips;
//! - [`startup`]; [`release`]: leaving (make-before-break); [`reload`]; [`shutdown`];
//!   [`maintenance`]: `vipd maintenance` / `vipd handover`, the hold and its state file;
//!   [`vmac_handover`]: make-before-break with a shared virtual MAC;
//! - [`tracking`]: vrrp_script / track_file / track_process verdicts → routers;
//! - [`snapshot`]: the read-only view status renders; [`control`]: the control socket, whose
//!   channel also carries the HTTP listener's requests (the listener is `observe::http`,
//!   spawned beside it); [`control_socket`]: binding it 0600 race-free, accepting with backoff;
//! - [`watchdog`]: systemd's `WatchdogSec=`, fed from the loop; [`sources`]: the quiet event
//!   sources (signals, channels), polled only when they wake; [`mailbox`]: how their events
//!   reach the loop's thread.

mod ah;
mod apply;
mod attach;
pub mod control;
mod control_socket;
pub mod effects;
mod event;
pub mod instance;
mod link_actions;
mod mailbox;
mod main_loop;
mod maintenance;
mod netevents;
mod receive;
mod registry;
mod release;
mod reload;
mod rx_holdoff;
mod shutdown;
mod snapshot;
mod sources;
mod startup;
mod tracking;
mod transmit;
mod vip_ledger;
mod vmac_handover;
mod watchdog;
mod worker;

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

/// no_accept is enforced with nftables: without the `nft` command it cannot be, so say so up front.
pub(crate) fn nft_available(config: &vipd_config::Config) -> Result<(), String> {
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

/// Tells systemd (Type=notify) that vipd is up; a no-op when not started by systemd.
pub(crate) fn notify_ready() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
}

/// The configuration file and how it is read, at start and on every reload (a keepalived.conf is
/// re-read as a keepalived.conf, with the same config id).
#[derive(Clone, Debug)]
pub(crate) struct ConfigSource {
    pub path: PathBuf,
    pub options: vipd_config::ReadOptions,
}

impl ConfigSource {
    pub(crate) fn load(&self) -> Result<vipd_config::Loaded, vipd_config::LoadError> {
        vipd_config::load_file_as(&self.path, &self.options)
    }
}

/// `vipd run` reading the file as its content says.
pub fn run(config_path: &Path, runtime_dir: &Path) -> i32 {
    run_with(
        config_path,
        runtime_dir,
        vipd_config::ReadOptions::default(),
    )
}

/// `vipd run` reading the file with `options` (format, keepalived's config id): applies nothing
/// unless the whole configuration is valid.
pub fn run_with(config_path: &Path, runtime_dir: &Path, options: vipd_config::ReadOptions) -> i32 {
    // First: it only holds for threads started after it.
    let one_arena = crate::system::memory::share_one_malloc_arena();
    let source = ConfigSource {
        path: config_path.to_owned(),
        options,
    };
    crate::observe::logging::init_from_env();
    if !one_arena {
        tracing::debug!("malloc arenas: the C library's default (one per thread)");
    }
    let loaded = match source.load() {
        Ok(loaded) => loaded,
        Err(e) => {
            crate::cli::report_load_error(&e);
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
    let hooks = match crate::hooks::Hooks::new(&loaded.config) {
        Ok(hooks) => hooks,
        Err(e) => {
            eprintln!("error: {}: {e}", config_path.display());
            eprintln!("vipd: nothing applied; fix the configuration and start again");
            return 1;
        }
    };
    // Before the runtime starts its threads, which inherit the CPU affinity.
    let auto_priority = crate::system::realtime::apply(
        &crate::system::realtime::RealtimeSettings::from_config(&loaded.config.global),
    );
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
        if let Err(e) = control::serve(runtime_dir, control_tx.clone()) {
            tracing::error!("control socket in {}: {e}", runtime_dir.display());
            return 1;
        }
        let settings = crate::observe::http::Settings::from_config(&loaded.config.global);
        let (http_settings, settings_rx) = tokio::sync::watch::channel(settings);
        crate::observe::http::spawn(settings_rx, control_tx);
        let code =
            match main_loop::Daemon::start(loaded.config, source, control_rx, hooks, auto_priority)
                .await
            {
                Ok(mut daemon) => {
                    daemon.http_settings = Some(http_settings);
                    daemon.load_maintenance(runtime_dir);
                    daemon.run().await
                }
                Err(e) => {
                    tracing::error!("cannot start: {e}");
                    1
                }
            };
        let _ = std::fs::remove_file(control::socket_path(runtime_dir));
        code
    })
}
