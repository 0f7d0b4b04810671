//! keepalived-compatible notifications of state changes: notify scripts, run as `script_user`
//! with `enable_script_security`, and the notify FIFOs.
//!
//! - `notify` gets `INSTANCE|GROUP NAME STATE PRIORITY` appended (priority 0 for a group, as
//!   keepalived sends); `notify_master` / `notify_backup` / `notify_fault` / `notify_stop` run as
//!   written. Scripts run through `/bin/sh -c` in the background (see [`crate::system::exec`]):
//!   a failure is logged with the script's last stderr line, never waited on, and nothing
//!   times out, as in keepalived.
//! - Scripts run as `script_user [group]`; unset, as user `keepalived_script` when it exists,
//!   else as the daemon's own user (root), as keepalived does. An insecure root script is
//!   refused and logged with `enable_script_security`, and run with a warning without.
//! - `notify_fifo` / `vrrp_notify_fifo` get one line per transition, `INSTANCE "VI_1" MASTER 100`
//!   (`GROUP "G1" MASTER 0` for a sync group); a missing FIFO is created, and a full or unread
//!   FIFO never blocks the daemon (the line is dropped and logged).
//!
//! A [`Notifier`] holds the resolved policy and the open FIFOs. A configuration with no script
//! and no FIFO looks no user up (a user lookup loads the system's NSS modules, most of a MiB of
//! memory for nothing); the default policy is then resolved on first use only.

use std::path::Path;
use std::sync::OnceLock;

use vipd_config as config;
use vipd_router::State;

use crate::system::exec::{self, FifoWriter, ScriptPolicy, Verdict};

/// The notify scripts' policy and the notify FIFOs of one configuration.
#[derive(Debug, Default)]
pub struct Notifier {
    /// Set when the configuration needs scripts or FIFOs, else on the first script.
    policy: OnceLock<ScriptPolicy>,
    fifos: Vec<FifoWriter>,
}

/// Whether `config` runs any script or writes any FIFO. Without, [`Notifier::new`] looks nothing
/// up.
pub fn needed(config: &config::Config) -> bool {
    let any = has_commands;
    let global = &config.global;
    global.script_user.is_some()
        || global.enable_script_security
        || global.notify_fifo.is_some()
        || global.vrrp_notify_fifo.is_some()
        || config.instances.iter().any(|i| any(&i.notify))
        || config.sync_groups.iter().any(|g| any(&g.notify))
}

fn has_commands(n: &config::Notify) -> bool {
    n.notify.is_some()
        || n.master.is_some()
        || n.backup.is_some()
        || n.fault.is_some()
        || n.stop.is_some()
}

impl Notifier {
    /// What `config` asks for: resolved now when it has scripts or FIFOs ([`needed`]), else
    /// nothing. An error (an unknown user or group, a FIFO path that is not a FIFO) means the
    /// configuration cannot be run.
    pub fn new(config: &config::Config) -> Result<Notifier, String> {
        if needed(config) {
            Notifier::resolve(&config.global)
        } else {
            Ok(Notifier::default())
        }
    }

    /// Resolves `global`'s script and FIFO settings now, looking users, groups and FIFOs up on
    /// this system.
    pub fn resolve(global: &config::GlobalDefs) -> Result<Notifier, String> {
        let policy =
            ScriptPolicy::resolve(global.script_user.as_ref(), global.enable_script_security)?;
        let mut fifos: Vec<FifoWriter> = Vec::new();
        for path in [&global.notify_fifo, &global.vrrp_notify_fifo]
            .into_iter()
            .flatten()
        {
            if fifos.iter().any(|f| f.path() == Path::new(path)) {
                continue;
            }
            fifos.push(FifoWriter::open(Path::new(path)).map_err(|e| format!("notify {e}"))?);
        }
        if policy.uid == 0 && !policy.security {
            tracing::info!(
                "notify scripts run as root without enable_script_security; consider script_user or enable_script_security"
            );
        }
        Ok(Notifier {
            policy: OnceLock::from(policy),
            fifos,
        })
    }

    /// The resolved policy; `None` while nothing needed one.
    pub fn policy(&self) -> Option<&ScriptPolicy> {
        self.policy.get()
    }

    /// The policy scripts run under: the resolved one, else keepalived's default resolved now
    /// (root, with a warning, when even that lookup fails).
    pub fn script_policy(&self) -> &ScriptPolicy {
        self.policy
            .get_or_init(|| match ScriptPolicy::resolve(None, false) {
                Ok(policy) => policy,
                Err(e) => {
                    tracing::warn!("notify scripts: {e}; running them as root");
                    ScriptPolicy::root()
                }
            })
    }

    /// Starts the scripts configured for `instance` entering `state` and writes the FIFO line.
    /// Must be called inside the tokio runtime.
    pub fn on_instance_transition(&self, instance: &config::Instance, state: State, priority: u8) {
        self.notify(
            "INSTANCE",
            &instance.name,
            &instance.notify,
            state,
            priority,
            None,
        );
    }

    /// As [`Notifier::on_instance_transition`] for a master that `vipd maintenance` sent to
    /// BACKUP: `notify` gets a fifth argument and the FIFO line a fifth word, `maintenance`
    /// (scripts reading four arguments see an ordinary BACKUP).
    pub fn on_instance_maintenance(&self, instance: &config::Instance, priority: u8) {
        self.notify(
            "INSTANCE",
            &instance.name,
            &instance.notify,
            State::Backup,
            priority,
            Some("maintenance"),
        );
    }

    /// Starts the scripts configured for sync group `group` entering `state` (every member is
    /// in `state`) and writes the FIFO line. keepalived sends priority 0 for a group.
    pub fn on_group_transition(&self, group: &config::SyncGroup, state: State) {
        self.notify("GROUP", &group.name, &group.notify, state, 0, None);
    }

    fn notify(
        &self,
        kind: &str,
        name: &str,
        scripts: &config::Notify,
        state: State,
        priority: u8,
        reason: Option<&str>,
    ) {
        if !has_commands(scripts) && self.fifos.is_empty() {
            return;
        }
        let specific = match state {
            State::Master => scripts.master.as_deref(),
            State::Backup => scripts.backup.as_deref(),
            State::Fault => scripts.fault.as_deref(),
            State::Initialize => scripts.stop.as_deref(),
        };
        if let Some(command) = specific {
            self.start(name, command.to_owned(), Vec::new());
        }
        let priority = priority.to_string();
        if let Some(command) = scripts.notify.as_deref() {
            self.start(
                name,
                format!("{command} \"$@\""),
                [kind, name, state_word(state), &priority]
                    .into_iter()
                    .chain(reason)
                    .map(str::to_owned)
                    .collect(),
            );
        }
        let mut line = fifo_line(kind, name, state, &priority);
        if let Some(reason) = reason {
            line.push(' ');
            line.push_str(reason);
        }
        for fifo in &self.fifos {
            if let Err(e) = fifo.write_line(&line) {
                tracing::warn!(
                    "notify FIFO {}: line {line:?} dropped: {e}",
                    fifo.path().display()
                );
            }
        }
    }

    /// Starts `script` in the background and logs how it ends unless it succeeds.
    fn start(&self, name: &str, script: String, args: Vec<String>) {
        let policy = self.script_policy();
        match policy.verdict(&script) {
            Verdict::Run => {}
            Verdict::RunInsecure(why) => {
                tracing::warn!(
                    "notify script `{script}`: {why} (enable_script_security would refuse it)"
                )
            }
            Verdict::Refuse(why) => {
                tracing::error!(instance = %name, "notify script `{script}` refused (enable_script_security): {why}");
                return;
            }
        }
        let running = exec::spawn(
            policy,
            exec::Command {
                shell_command: script.clone(),
                args,
                timeout: None,
                keep_stderr: true,
            },
        );
        let name = name.to_owned();
        let user = policy.user.clone();
        tokio::spawn(async move {
            let finished = running.await;
            let stderr = finished
                .last_stderr_line
                .map(|line| format!(": {line}"))
                .unwrap_or_default();
            match finished.outcome {
                exec::Outcome::Exited(0) => {}
                exec::Outcome::Refused(why) => {
                    tracing::error!(instance = %name, "notify script `{script}` refused (enable_script_security): {why}")
                }
                exec::Outcome::SpawnFailed(e) => {
                    tracing::warn!(instance = %name, user = %user, "cannot start notify script `{script}`: {e}")
                }
                outcome => {
                    tracing::warn!(instance = %name, "notify script `{script}` exited with {outcome}{stderr}")
                }
            }
        });
    }
}

fn state_word(state: State) -> &'static str {
    match state {
        State::Master => "MASTER",
        State::Backup => "BACKUP",
        State::Fault => "FAULT",
        State::Initialize => "STOP",
    }
}

fn fifo_line(kind: &str, name: &str, state: State, priority: &str) -> String {
    format!("{kind} \"{name}\" {} {priority}", state_word(state))
}

#[cfg(test)]
mod tests {
    //! These tests change file owners and run scripts as `nobody`: they need root, like the
    //! namespace tests.

    use super::*;
    use crate::system::exec::test_support::{nobody, runtime, set_mode, TempDir};
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    use std::time::Duration;

    fn notifier(uid: u32, gid: u32, security: bool) -> Notifier {
        Notifier {
            policy: OnceLock::from(ScriptPolicy {
                user: format!("{uid}:{gid}"),
                uid,
                gid,
                security,
            }),
            fifos: Vec::new(),
        }
    }

    fn group(name: &str, notify: config::Notify) -> config::SyncGroup {
        config::SyncGroup {
            name: name.into(),
            members: Vec::new(),
            notify,
            track_interfaces: Vec::new(),
            track_scripts: Vec::new(),
            track_files: Vec::new(),
            track_processes: Vec::new(),
            actions: Default::default(),
        }
    }

    fn parse(yaml: &str) -> config::Config {
        config::parse_str(yaml, "test.yaml")
            .unwrap_or_else(|e| panic!("{e}"))
            .config
    }

    /// Waits (at most 5 s) for a script to write `path`, and returns what it wrote.
    fn wait_for_file(path: &Path) -> String {
        for _ in 0..250 {
            if let Ok(text) = std::fs::read_to_string(path) {
                if text.ends_with('\n') {
                    return text;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{} was not written within 5 s", path.display());
    }

    #[test]
    fn nothing_is_looked_up_without_scripts_or_fifos() {
        let instance = "vrrp_instance:\n  VI_1: {interface: eth0, virtual_router_id: 1, \
                        priority: 100, virtual_ipaddress: [192.0.2.1/24]";
        let quiet = parse(&format!("{instance}}}\n"));
        assert!(!needed(&quiet));
        let idle = Notifier::new(&quiet).unwrap();
        assert_eq!(idle.policy(), None);
        runtime().block_on(async {
            idle.on_instance_transition(&quiet.instances[0], State::Master, 100);
        });
        assert_eq!(
            idle.policy(),
            None,
            "a transition without scripts looked a user up"
        );

        let scripted = parse(&format!("{instance}, notify_master: /bin/true}}\n"));
        assert!(needed(&scripted));
        let resolved = Notifier::new(&scripted).unwrap();
        assert_eq!(
            resolved.policy(),
            Some(&ScriptPolicy::resolve(None, false).unwrap())
        );
        // Asked for, the default policy is resolved late.
        assert_eq!(idle.script_policy(), resolved.policy().unwrap());

        let unknown_user = parse(&format!(
            "global_defs: {{script_user: vipd-no-such-user}}\n{instance}}}\n"
        ));
        let refused = Notifier::new(&unknown_user).unwrap_err();
        assert!(refused.contains("vipd-no-such-user"), "{refused}");
    }

    #[test]
    fn scripts_run_as_the_configured_user_and_refused_ones_do_not_run() {
        let dir = TempDir::new("runas");
        let out = dir.0.join("out");
        std::fs::create_dir(&out).unwrap();
        set_mode(&out, 0o777);
        let script = dir.script(
            "whoami.sh",
            &format!("echo \"$(id -u) $(id -g) $*\" > {}/id", out.display()),
        );
        let (uid, gid) = nobody();
        let runtime = runtime();
        let scripts = config::Notify {
            master: Some(script.display().to_string()),
            ..config::Notify::default()
        };
        runtime.block_on(async {
            notifier(uid, gid, true).on_group_transition(&group("G1", scripts), State::Master);
        });
        assert_eq!(wait_for_file(&out.join("id")), format!("{uid} {gid} \n"));

        let scripts = config::Notify {
            notify: Some(script.display().to_string()),
            ..config::Notify::default()
        };
        std::fs::remove_file(out.join("id")).unwrap();
        runtime.block_on(async {
            notifier(uid, 0, true).on_group_transition(&group("G1", scripts), State::Master);
            tokio::time::sleep(Duration::from_millis(10)).await;
        });
        assert_eq!(
            wait_for_file(&out.join("id")),
            format!("{uid} 0 GROUP G1 MASTER 0\n")
        );

        // As root, with security on, a world-writable script is not started at all.
        let marker = out.join("ran");
        let insecure = dir.script("insecure.sh", &format!("echo ran > {}", marker.display()));
        set_mode(&insecure, 0o777);
        std::fs::remove_file(out.join("id")).unwrap();
        runtime.block_on(async {
            let strict = notifier(0, 0, true);
            let insecure_scripts = config::Notify {
                master: Some(insecure.display().to_string()),
                ..config::Notify::default()
            };
            strict.on_group_transition(&group("VI_1", insecure_scripts), State::Master);
            // The secure script after it proves scripts were being started.
            let secure_scripts = config::Notify {
                notify: Some(script.display().to_string()),
                ..config::Notify::default()
            };
            strict.on_group_transition(&group("done", secure_scripts), State::Fault);
            tokio::time::sleep(Duration::from_millis(10)).await;
        });
        assert_eq!(wait_for_file(&out.join("id")), "0 0 GROUP done FAULT 0\n");
        assert!(!marker.exists(), "the refused script ran");
    }

    /// Log lines, as text, of what runs inside [`Logs::capture`].
    #[derive(Clone, Default)]
    struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Logs {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Logs {
        fn capture<T>(&self, body: impl FnOnce() -> T) -> T {
            let writer = self.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .finish();
            tracing::subscriber::with_default(subscriber, body)
        }

        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn failures_are_logged_with_the_last_stderr_line() {
        let dir = TempDir::new("logs");
        let failing = dir.script("failing.sh", "echo \"no route to $1\" >&2; exit 3");
        let insecure = dir.script("insecure.sh", "true");
        set_mode(&insecure, 0o777);
        let logs = Logs::default();
        logs.capture(|| {
            runtime().block_on(async {
                let scripts = config::Notify {
                    notify: Some(failing.display().to_string()),
                    master: Some(insecure.display().to_string()),
                    ..config::Notify::default()
                };
                notifier(0, 0, true).on_group_transition(&group("G1", scripts), State::Master);
                // Until the script has ended and its supervisor reported (at most 5 s).
                for _ in 0..250 {
                    if logs.text().contains("exited with") {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        });
        let logs = logs.text();
        assert!(
            logs.contains(&format!(
                "notify script `{} \"$@\"` exited with exit status: 3: no route to GROUP",
                failing.display()
            )),
            "{logs}"
        );
        assert!(
            logs.contains(&format!(
                "notify script `{}` refused (enable_script_security): {} would run as root but",
                insecure.display(),
                insecure.display()
            )),
            "{logs}"
        );
    }

    #[test]
    fn fifo_gets_one_keepalived_line_per_transition() {
        let dir = TempDir::new("fifo");
        let path = dir.0.join("vrrp.fifo");
        let config = parse(
            "vrrp_sync_group:\n  G1: {group: [VI_1]}\n\
             vrrp_instance:\n  VI_1: {interface: eth0, virtual_router_id: 1, \
             priority: 100, virtual_ipaddress: [192.0.2.1/24]}\n",
        );
        // The configuration refuses one path for both; this layer still opens it once.
        let notifier = Notifier::resolve(&config::GlobalDefs {
            vrrp_notify_fifo: Some(path.display().to_string()),
            notify_fifo: Some(path.display().to_string()),
            script_user: Some(config::ScriptUser {
                user: "nobody".into(),
                group: None,
            }),
            ..config::GlobalDefs::default()
        })
        .unwrap();
        assert_eq!(notifier.fifos.len(), 1, "one path is opened once");
        assert!(std::fs::metadata(&path).unwrap().file_type().is_fifo());
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        runtime().block_on(async {
            let instance = &config.instances[0];
            notifier.on_instance_transition(instance, State::Master, 100);
            notifier.on_instance_transition(instance, State::Initialize, 0);
            notifier.on_group_transition(&config.sync_groups[0], State::Backup);
        });
        let mut text = String::new();
        std::io::Read::read_to_string(&mut reader, &mut text).unwrap_or_default();
        assert_eq!(
            text,
            "INSTANCE \"VI_1\" MASTER 100\nINSTANCE \"VI_1\" STOP 0\nGROUP \"G1\" BACKUP 0\n"
        );

        // Nobody reading and the pipe full: lines are dropped, the daemon never blocks.
        drop(reader);
        let started = std::time::Instant::now();
        runtime().block_on(async {
            for _ in 0..10_000 {
                notifier.on_instance_transition(&config.instances[0], State::Master, 100);
            }
        });
        assert!(started.elapsed() < Duration::from_secs(5));

        let not_fifo = dir.0.join("plain");
        std::fs::write(&not_fifo, "").unwrap();
        let refused = Notifier::resolve(&config::GlobalDefs {
            notify_fifo: Some(not_fifo.display().to_string()),
            ..config::GlobalDefs::default()
        })
        .unwrap_err();
        assert!(refused.contains("notify FIFO"), "{refused}");
        assert!(refused.contains("not a FIFO"), "{refused}");
    }
}
