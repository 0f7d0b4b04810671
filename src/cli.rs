//! What `vipd check`, `vipd status` and `vipd reload` print, and their exit codes; `main.rs`
//! only parses arguments.

use std::path::Path;

use crate::daemon::{control, nft_available};

/// `vipd check`: 0 valid, 1 invalid, 2 unreadable. Changes nothing; looks at the programs and
/// files the configuration names (nft, conntrackd).
pub fn check(path: &Path) -> i32 {
    check_with(path, &vipd_config::ReadOptions::default())
}

/// `vipd check` reading the file with `options` (`--format`, `--config-id`).
pub fn check_with(path: &Path, options: &vipd_config::ReadOptions) -> i32 {
    match vipd_config::load_file_as(path, options) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                eprintln!("warning: {warning}");
            }
            for warning in crate::hooks::conntrackd::check_warnings(&loaded.config) {
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

pub(crate) fn report_load_error(error: &vipd_config::LoadError) {
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
