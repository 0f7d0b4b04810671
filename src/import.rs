//! `vipd import-keepalived FILE [-o OUT]`: writes a keepalived.conf as vipd's YAML (the
//! conversion is `vipd_config::keepalived::import`); this file handles the files and exit codes.

use std::path::Path;

use vipd_config::keepalived::{self, import};
use vipd_config::LoadError;

/// Exit 0 converted (warnings on stderr), 1 cannot be converted (`FILE:LINE: message` each),
/// 2 unreadable (the input, or the output cannot be written).
pub fn run(file: &Path, output: Option<&Path>, config_id: Option<String>) -> i32 {
    let text = match std::fs::read(file).map(String::from_utf8) {
        Ok(Ok(text)) => text,
        Ok(Err(_)) => {
            eprintln!("error: {}: cannot read: not UTF-8 text", file.display());
            return 2;
        }
        Err(e) => {
            eprintln!("error: {}: cannot read: {e}", file.display());
            return 2;
        }
    };
    let options = keepalived::Options {
        config_id,
        ..Default::default()
    };
    let name = file.display().to_string();
    let parsed = keepalived::parse(&text, &name, &options);
    match import::to_yaml(&parsed, &name, &options.effective_config_id()) {
        Ok(imported) => {
            for w in &imported.warnings {
                eprintln!("warning: {}:{}: {}", w.file, w.line, w.message);
            }
            match output {
                Some(out) => {
                    if let Err(e) = std::fs::write(out, &imported.yaml) {
                        eprintln!("error: {}: cannot write: {e}", out.display());
                        return 2;
                    }
                }
                None => print!("{}", imported.yaml),
            }
            0
        }
        Err(LoadError::Invalid { errors, .. }) => {
            for e in &errors {
                eprintln!("{}:{}: {}", e.file, e.line, e.message);
            }
            1
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}
