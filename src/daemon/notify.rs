//! keepalived-compatible notify scripts: `notify` gets `INSTANCE NAME STATE PRIORITY` appended,
//! `notify_master` / `notify_backup` / `notify_fault` / `notify_stop` run as written. Scripts run
//! through `/bin/sh -c` in the background; their exit status is logged, never waited on.

use vipd_config as config;
use vipd_router::State;

fn state_word(state: State) -> &'static str {
    match state {
        State::Master => "MASTER",
        State::Backup => "BACKUP",
        State::Fault => "FAULT",
        State::Initialize => "STOP",
    }
}

/// Starts the scripts configured for `instance` entering `state`.
pub fn run(instance: &config::Instance, state: State, priority: u8) {
    let specific = match state {
        State::Master => instance.notify.master.as_deref(),
        State::Backup => instance.notify.backup.as_deref(),
        State::Fault => instance.notify.fault.as_deref(),
        State::Initialize => instance.notify.stop.as_deref(),
    };
    if let Some(command) = specific {
        spawn(&instance.name, command, &[]);
    }
    if let Some(command) = instance.notify.notify.as_deref() {
        let priority = priority.to_string();
        spawn(
            &instance.name,
            &format!("{command} \"$@\""),
            &["INSTANCE", &instance.name, state_word(state), &priority],
        );
    }
}

fn spawn(instance: &str, command: &str, args: &[&str]) {
    let mut child = tokio::process::Command::new("/bin/sh");
    child.arg("-c").arg(command).arg("vipd-notify").args(args);
    child.stdin(std::process::Stdio::null());
    match child.spawn() {
        Ok(mut process) => {
            let instance = instance.to_owned();
            let command = command.to_owned();
            tokio::spawn(async move {
                match process.wait().await {
                    Ok(status) if status.success() => {}
                    Ok(status) => {
                        tracing::warn!(instance = %instance, "notify script `{command}` exited with {status}")
                    }
                    Err(e) => {
                        tracing::warn!(instance = %instance, "notify script `{command}`: {e}")
                    }
                }
            });
        }
        Err(e) => {
            tracing::warn!(instance = %instance, "cannot start notify script `{command}`: {e}")
        }
    }
}
