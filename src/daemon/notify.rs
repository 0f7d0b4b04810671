//! keepalived-compatible notifications of state changes: notify scripts, run as `script_user`
//! with `enable_script_security`, and the notify FIFOs.
//!
//! - `notify` gets `INSTANCE|GROUP NAME STATE PRIORITY` appended (priority 0 for a group, as
//!   keepalived sends); `notify_master` / `notify_backup` / `notify_fault` / `notify_stop` run as
//!   written. Scripts run through `/bin/sh -c` in the background; their exit status is logged,
//!   never waited on.
//! - Scripts run as `script_user [group]`; unset, as user `keepalived_script` when it exists,
//!   else as the daemon's own user (root), as keepalived does.
//! - A script that would run as root but that a non-root user could change (the file, or a
//!   directory on its path, not owned by root, or writable by a group other than root or by
//!   anyone) is refused and logged with `enable_script_security`, and run with a warning without.
//! - `notify_fifo` / `vrrp_notify_fifo` get one line per transition, `INSTANCE "VI_1" MASTER 100`
//!   (`GROUP "G1" MASTER 0` for a sync group); a missing FIFO is created, and a full or unread
//!   FIFO never blocks the daemon (the line is dropped and logged).
//!
//! The policy is resolved once by [`configure`]; until then keepalived's defaults apply.

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use vipd_config as config;
use vipd_router::State;

/// Who notify scripts run as, what is refused, and where FIFO lines go.
#[derive(Debug)]
pub struct Policy {
    /// For logs: `user[:group]`.
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    /// `enable_script_security`: refuse (instead of only warn about) an insecure root script.
    pub security: bool,
    fifos: Vec<Fifo>,
}

#[derive(Debug)]
struct Fifo {
    path: PathBuf,
    file: Mutex<File>,
}

/// How a script is started, or why it is not.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Run,
    /// Runs, with this warning (an insecure root script without `enable_script_security`).
    RunInsecure(String),
    /// Refused: an insecure root script with `enable_script_security`.
    Refuse(String),
}

const DEFAULT_SCRIPT_USER: &str = "keepalived_script";

static POLICY: RwLock<Option<Arc<Policy>>> = RwLock::new(None);

/// Resolves `global_defs`' script and FIFO settings and makes them the policy of every later
/// [`run`] and [`run_group`]. Call once at start, before the first transition; an error (an
/// unknown user or group, a FIFO path that is not a FIFO) means the configuration cannot be run.
pub fn configure(global: &config::GlobalDefs) -> Result<(), String> {
    let policy = Arc::new(Policy::resolve(global)?);
    if policy.uid == 0 && !policy.security {
        tracing::info!(
            "notify scripts run as root without enable_script_security; consider script_user or enable_script_security"
        );
    }
    *POLICY.write().unwrap_or_else(|e| e.into_inner()) = Some(policy);
    Ok(())
}

/// Whether `config` runs any script or writes any FIFO. Without, the script policy is never
/// looked up: a user lookup loads the system's NSS modules, a third of a MiB of memory for
/// nothing.
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

/// Nothing to do: no command for this instance or group, and no FIFO (which only a
/// [`configure`]d policy can have).
fn nothing_to_run(scripts: &config::Notify) -> bool {
    !has_commands(scripts) && POLICY.read().unwrap_or_else(|e| e.into_inner()).is_none()
}

fn current_policy() -> Arc<Policy> {
    if let Some(policy) = POLICY.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return policy.clone();
    }
    let mut slot = POLICY.write().unwrap_or_else(|e| e.into_inner());
    slot.get_or_insert_with(|| {
        Arc::new(
            Policy::resolve(&config::GlobalDefs::default()).unwrap_or_else(|e| {
                tracing::warn!("notify scripts: {e}; running them as root");
                Policy::root()
            }),
        )
    })
    .clone()
}

impl Policy {
    /// The policy `global` asks for, looking users, groups and FIFOs up on this system.
    pub fn resolve(global: &config::GlobalDefs) -> Result<Policy, String> {
        let (user, uid, gid) = match &global.script_user {
            Some(script_user) => {
                let (uid, user_gid) = lookup_user(&script_user.user)?.ok_or_else(|| {
                    format!("script_user: user \"{}\" does not exist", script_user.user)
                })?;
                match &script_user.group {
                    Some(group) => {
                        let gid = lookup_group(group)?.ok_or_else(|| {
                            format!("script_user: group \"{group}\" does not exist")
                        })?;
                        (format!("{}:{group}", script_user.user), uid, gid)
                    }
                    None => (script_user.user.clone(), uid, user_gid),
                }
            }
            None => match lookup_user(DEFAULT_SCRIPT_USER)? {
                Some((uid, gid)) => (DEFAULT_SCRIPT_USER.to_owned(), uid, gid),
                // SAFETY: getuid/getgid cannot fail.
                None => ("root".to_owned(), unsafe { libc::getuid() }, unsafe {
                    libc::getgid()
                }),
            },
        };
        let mut fifos = Vec::new();
        for path in [&global.notify_fifo, &global.vrrp_notify_fifo]
            .into_iter()
            .flatten()
        {
            if fifos.iter().any(|f: &Fifo| f.path == Path::new(path)) {
                continue;
            }
            fifos.push(open_fifo(Path::new(path))?);
        }
        Ok(Policy {
            user,
            uid,
            gid,
            security: global.enable_script_security,
            fifos,
        })
    }

    fn root() -> Policy {
        Policy {
            user: "root".into(),
            uid: 0,
            gid: 0,
            security: false,
            fifos: Vec::new(),
        }
    }

    /// Whether `command` may run under this policy (see the module doc for the rule).
    pub fn verdict(&self, command: &str) -> Verdict {
        if self.uid != 0 && self.gid != 0 {
            return Verdict::Run;
        }
        let Some(program) = script_path(command) else {
            return Verdict::Run;
        };
        match insecurity(&program) {
            None => Verdict::Run,
            Some(why) => {
                let why = format!(
                    "{} would run as root but {why}; make it and every directory above it owned by root and writable only by root, or set script_user",
                    program.display()
                );
                if self.security {
                    Verdict::Refuse(why)
                } else {
                    Verdict::RunInsecure(why)
                }
            }
        }
    }

    /// Writes `line` to every notify FIFO; never blocks.
    fn write_fifos(&self, line: &str) {
        for fifo in &self.fifos {
            let mut file = fifo.file.lock().unwrap_or_else(|e| e.into_inner());
            // One write of less than PIPE_BUF bytes: readers never see half a line.
            if let Err(e) = file.write_all(line.as_bytes()) {
                tracing::warn!(
                    "notify FIFO {}: line {:?} dropped: {e}",
                    fifo.path.display(),
                    line.trim_end()
                );
            }
        }
    }
}

/// The FIFO at `path`, created (mode 0600) when missing. Opened read-write so that opening
/// and writing never wait for a reader, and non-blocking so that a reader that stops reading
/// cannot stall the daemon.
fn open_fifo(path: &Path) -> Result<Fifo, String> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.file_type().is_fifo() => {}
        Ok(_) => {
            return Err(format!(
                "notify FIFO {}: exists and is not a FIFO",
                path.display()
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
                .map_err(|e| format!("notify FIFO {}: cannot create: {e}", path.display()))?;
        }
        Err(e) => return Err(format!("notify FIFO {}: {e}", path.display())),
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| format!("notify FIFO {}: cannot open: {e}", path.display()))?;
    Ok(Fifo {
        path: path.to_owned(),
        file: Mutex::new(file),
    })
}

/// `(uid, primary gid)` of `name`, `None` if there is no such user.
fn lookup_user(name: &str) -> Result<Option<(u32, u32)>, String> {
    let c_name = CString::new(name).map_err(|_| format!("user name {name:?} contains NUL"))?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: passwd is plain data; getpwnam_r writes into it and buf, both live for the call.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe {
        libc::getpwnam_r(
            c_name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 {
        return Err(format!(
            "looking up user {name}: {}",
            std::io::Error::from_raw_os_error(rc)
        ));
    }
    Ok((!result.is_null()).then_some((pwd.pw_uid, pwd.pw_gid)))
}

/// The gid of group `name`, `None` if there is no such group.
fn lookup_group(name: &str) -> Result<Option<u32>, String> {
    let c_name = CString::new(name).map_err(|_| format!("group name {name:?} contains NUL"))?;
    let mut buf = vec![0u8; 64 * 1024];
    // SAFETY: as in lookup_user.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::group = std::ptr::null_mut();
    let rc = unsafe {
        libc::getgrnam_r(
            c_name.as_ptr(),
            &mut grp,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 {
        return Err(format!(
            "looking up group {name}: {}",
            std::io::Error::from_raw_os_error(rc)
        ));
    }
    Ok((!result.is_null()).then_some(grp.gr_gid))
}

/// The program a command line starts: its first word (quotes removed), found in PATH when it
/// has no slash. `None` when it cannot be found (the shell will say so when it runs).
fn script_path(command: &str) -> Option<PathBuf> {
    let first = command.split_whitespace().next()?;
    let first = first.trim_matches(|c| c == '"' || c == '\'');
    if first.contains('/') {
        return Some(PathBuf::from(first));
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(first))
        .find(|candidate| candidate.is_file())
}

/// Why a non-root user could change what `program` runs, if one could: checked for the path
/// as written and for the path with symbolic links resolved.
fn insecurity(program: &Path) -> Option<String> {
    let absolute = if program.is_absolute() {
        program.to_owned()
    } else {
        std::env::current_dir().ok()?.join(program)
    };
    let resolved = std::fs::canonicalize(&absolute).ok();
    std::iter::once(absolute)
        .chain(resolved)
        .find_map(|path| path_insecurity(&path))
}

fn path_insecurity(path: &Path) -> Option<String> {
    let mut prefix = PathBuf::new();
    for component in path.components() {
        prefix.push(component);
        let meta = match std::fs::symlink_metadata(&prefix) {
            Ok(meta) => meta,
            Err(e) => return Some(format!("{} cannot be checked ({e})", prefix.display())),
        };
        let mode = meta.permissions().mode();
        let file_type = meta.file_type();
        if meta.uid() != 0 {
            return Some(format!(
                "{} is owned by uid {}, not root",
                prefix.display(),
                meta.uid()
            ));
        }
        // A sticky directory (like /tmp) lets nobody replace another user's entry.
        let guarded = (file_type.is_dir() && mode & libc::S_ISVTX == 0) || file_type.is_file();
        if guarded && mode & 0o002 != 0 {
            return Some(format!("{} is writable by anyone", prefix.display()));
        }
        if guarded && mode & 0o020 != 0 && meta.gid() != 0 {
            return Some(format!(
                "{} is writable by group {}",
                prefix.display(),
                meta.gid()
            ));
        }
    }
    None
}

fn state_word(state: State) -> &'static str {
    match state {
        State::Master => "MASTER",
        State::Backup => "BACKUP",
        State::Fault => "FAULT",
        State::Initialize => "STOP",
    }
}

/// Starts the scripts configured for `instance` entering `state` and writes the FIFO line.
pub fn run(instance: &config::Instance, state: State, priority: u8) {
    if nothing_to_run(&instance.notify) {
        return;
    }
    notify(
        &current_policy(),
        "INSTANCE",
        &instance.name,
        &instance.notify,
        state,
        priority,
    );
}

/// Starts the scripts configured for sync group `group` entering `state` (every member is in
/// `state`) and writes the FIFO line. keepalived sends priority 0 for a group.
pub fn run_group(group: &config::SyncGroup, state: State) {
    if nothing_to_run(&group.notify) {
        return;
    }
    notify(
        &current_policy(),
        "GROUP",
        &group.name,
        &group.notify,
        state,
        0,
    );
}

fn notify(
    policy: &Policy,
    kind: &str,
    name: &str,
    scripts: &config::Notify,
    state: State,
    priority: u8,
) {
    let specific = match state {
        State::Master => scripts.master.as_deref(),
        State::Backup => scripts.backup.as_deref(),
        State::Fault => scripts.fault.as_deref(),
        State::Initialize => scripts.stop.as_deref(),
    };
    if let Some(command) = specific {
        spawn(policy, name, command, &[]);
    }
    let priority = priority.to_string();
    if let Some(command) = scripts.notify.as_deref() {
        spawn(
            policy,
            name,
            &format!("{command} \"$@\""),
            &[kind, name, state_word(state), &priority],
        );
    }
    policy.write_fifos(&fifo_line(kind, name, state, &priority));
}

fn fifo_line(kind: &str, name: &str, state: State, priority: &str) -> String {
    format!("{kind} \"{name}\" {} {priority}\n", state_word(state))
}

/// The process for `command`, as the policy's user, or why it must not run.
fn command(
    policy: &Policy,
    command: &str,
    args: &[&str],
) -> Result<tokio::process::Command, String> {
    match policy.verdict(command) {
        Verdict::Run => {}
        Verdict::RunInsecure(why) => {
            tracing::warn!(
                "notify script `{command}`: {why} (enable_script_security would refuse it)"
            )
        }
        Verdict::Refuse(why) => return Err(why),
    }
    let mut child = tokio::process::Command::new("/bin/sh");
    child.arg("-c").arg(command).arg("vipd-notify").args(args);
    child.stdin(std::process::Stdio::null());
    // SAFETY: getuid/getgid cannot fail.
    let (our_uid, our_gid) = unsafe { (libc::getuid(), libc::getgid()) };
    if policy.gid != our_gid {
        child.gid(policy.gid);
    }
    if policy.uid != our_uid {
        // std drops root's supplementary groups before setuid.
        child.uid(policy.uid);
    }
    Ok(child)
}

fn spawn(policy: &Policy, name: &str, script: &str, args: &[&str]) {
    let mut child = match command(policy, script, args) {
        Ok(child) => child,
        Err(why) => {
            tracing::error!(instance = %name, "notify script `{script}` refused (enable_script_security): {why}");
            return;
        }
    };
    match child.spawn() {
        Ok(mut process) => {
            let name = name.to_owned();
            let script = script.to_owned();
            tokio::spawn(async move {
                match process.wait().await {
                    Ok(status) if status.success() => {}
                    Ok(status) => {
                        tracing::warn!(instance = %name, "notify script `{script}` exited with {status}")
                    }
                    Err(e) => {
                        tracing::warn!(instance = %name, "notify script `{script}`: {e}")
                    }
                }
            });
        }
        Err(e) => {
            tracing::warn!(instance = %name, user = %policy.user, "cannot start notify script `{script}`: {e}")
        }
    }
}

#[cfg(test)]
mod tests {
    //! These tests change file owners and run scripts as `nobody`: they need root, like the
    //! namespace tests. Each uses its own directory under /tmp, removed on drop.

    use super::*;
    use std::os::unix::fs::chown;
    use std::time::Duration;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            assert!(
                unsafe { libc::geteuid() } == 0,
                "notify tests need root (chown, running scripts as another user)"
            );
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = PathBuf::from(format!("/tmp/vipd-notify-{}-{tag}-{n}", std::process::id()));
            std::fs::create_dir(&dir).unwrap();
            set_mode(&dir, 0o755);
            chown(&dir, Some(0), Some(0)).unwrap();
            TempDir(dir)
        }
        fn script(&self, name: &str, body: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            set_mode(&path, 0o755);
            chown(&path, Some(0), Some(0)).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn nobody() -> (u32, u32) {
        lookup_user("nobody").unwrap().expect("user nobody exists")
    }

    fn policy(uid: u32, gid: u32, security: bool) -> Policy {
        Policy {
            user: format!("{uid}:{gid}"),
            uid,
            gid,
            security,
            fifos: Vec::new(),
        }
    }

    fn global_with(script_user: Option<(&str, Option<&str>)>) -> config::GlobalDefs {
        config::GlobalDefs {
            script_user: script_user.map(|(user, group)| config::ScriptUser {
                user: user.into(),
                group: group.map(Into::into),
            }),
            ..config::GlobalDefs::default()
        }
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
    fn script_user_and_group_are_looked_up_and_unknown_ones_refused() {
        let (uid, gid) = nobody();
        let resolved = Policy::resolve(&global_with(Some(("nobody", None)))).unwrap();
        assert_eq!((resolved.uid, resolved.gid), (uid, gid));
        let root_group = Policy::resolve(&global_with(Some(("nobody", Some("root"))))).unwrap();
        assert_eq!((root_group.uid, root_group.gid), (uid, 0));
        let unknown = Policy::resolve(&global_with(Some(("vipd-no-such-user", None)))).unwrap_err();
        assert!(
            unknown.contains("\"vipd-no-such-user\" does not exist"),
            "{unknown}"
        );
        let unknown = Policy::resolve(&global_with(Some(("nobody", Some("vipd-no-such-group")))))
            .unwrap_err();
        assert!(
            unknown.contains("group \"vipd-no-such-group\""),
            "{unknown}"
        );
        // Unset: keepalived_script when that user exists, else the daemon's own user.
        let default = Policy::resolve(&global_with(None)).unwrap();
        let expected = lookup_user("keepalived_script")
            .unwrap()
            .unwrap_or((unsafe { libc::getuid() }, unsafe { libc::getgid() }));
        assert_eq!((default.uid, default.gid), expected);
    }

    #[test]
    fn insecure_root_scripts_are_refused_with_security_and_warned_without() {
        let dir = TempDir::new("secure");
        let script = dir.script("master.sh", "true");
        let command = format!("{} arg", script.display());
        let (uid, gid) = nobody();
        let strict = policy(0, 0, true);
        let lax = policy(0, 0, false);
        assert_eq!(strict.verdict(&command), Verdict::Run);

        set_mode(&script, 0o757);
        let Verdict::Refuse(why) = strict.verdict(&command) else {
            panic!("world-writable script accepted");
        };
        assert!(why.contains("writable by anyone"), "{why}");
        assert!(matches!(lax.verdict(&command), Verdict::RunInsecure(_)));
        // Run as an unprivileged user, a script it could change gives it nothing new.
        assert_eq!(policy(uid, gid, true).verdict(&command), Verdict::Run);

        set_mode(&script, 0o775);
        assert_eq!(
            strict.verdict(&command),
            Verdict::Run,
            "group root may write"
        );
        chown(&script, None, Some(gid)).unwrap();
        let Verdict::Refuse(why) = strict.verdict(&command) else {
            panic!("script writable by a non-root group accepted");
        };
        assert!(why.contains(&format!("writable by group {gid}")), "{why}");

        set_mode(&script, 0o755);
        chown(&script, Some(uid), Some(0)).unwrap();
        let Verdict::Refuse(why) = strict.verdict(&command) else {
            panic!("script owned by nobody accepted");
        };
        assert!(why.contains(&format!("owned by uid {uid}")), "{why}");

        // A writable directory above the script is as bad as a writable script.
        chown(&script, Some(0), Some(0)).unwrap();
        set_mode(&dir.0, 0o777);
        let Verdict::Refuse(why) = strict.verdict(&command) else {
            panic!("script in a world-writable directory accepted");
        };
        assert!(why.contains(&dir.0.display().to_string()), "{why}");
        // /tmp itself is world-writable but sticky: only the directory below counted.
        set_mode(&dir.0, 0o755);
        assert_eq!(strict.verdict(&command), Verdict::Run);

        // A symbolic link to an insecure script is checked where it points.
        let target = dir.script("real.sh", "true");
        set_mode(&target, 0o777);
        let link = dir.0.join("link.sh");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(
            strict.verdict(&link.display().to_string()),
            Verdict::Refuse(_)
        ));
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
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut child =
                command(&policy(uid, gid, true), &script.display().to_string(), &[]).unwrap();
            assert!(child.status().await.unwrap().success());
        });
        assert_eq!(wait_for_file(&out.join("id")), format!("{uid} {gid} \n"));

        let scripts = config::Notify {
            notify: Some(script.display().to_string()),
            ..config::Notify::default()
        };
        std::fs::remove_file(out.join("id")).unwrap();
        runtime.block_on(async {
            notify(
                &policy(uid, 0, true),
                "GROUP",
                "G1",
                &scripts,
                State::Master,
                0,
            );
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
        let refused = command(&policy(0, 0, true), &insecure.display().to_string(), &[]);
        assert!(refused.is_err());
        runtime.block_on(async {
            let insecure_scripts = config::Notify {
                master: Some(insecure.display().to_string()),
                ..config::Notify::default()
            };
            notify(
                &policy(0, 0, true),
                "INSTANCE",
                "VI_1",
                &insecure_scripts,
                State::Master,
                100,
            );
            // The secure script after it proves scripts were being started.
            let mut child = command(
                &policy(0, 0, true),
                &format!("{} \"$@\"", script.display()),
                &["done"],
            )
            .unwrap();
            assert!(child.status().await.unwrap().success());
        });
        assert_eq!(wait_for_file(&out.join("id")), "0 0 done\n");
        assert!(!marker.exists(), "the refused script ran");
    }

    #[test]
    fn fifo_gets_one_keepalived_line_per_transition() {
        let dir = TempDir::new("fifo");
        let path = dir.0.join("vrrp.fifo");
        let global = config::GlobalDefs {
            vrrp_notify_fifo: Some(path.display().to_string()),
            notify_fifo: Some(path.display().to_string()),
            ..global_with(Some(("nobody", None)))
        };
        let policy = Policy::resolve(&global).unwrap();
        assert_eq!(policy.fifos.len(), 1, "one path is opened once");
        assert!(std::fs::metadata(&path).unwrap().file_type().is_fifo());
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let none = config::Notify::default();
        runtime.block_on(async {
            notify(&policy, "INSTANCE", "VI_1", &none, State::Master, 100);
            notify(&policy, "INSTANCE", "VI_1", &none, State::Initialize, 0);
            notify(&policy, "GROUP", "G1", &none, State::Backup, 0);
        });
        let mut text = String::new();
        std::io::Read::read_to_string(&mut reader, &mut text).unwrap_or_default();
        assert_eq!(
            text,
            "INSTANCE \"VI_1\" MASTER 100\nINSTANCE \"VI_1\" STOP 0\nGROUP \"G1\" BACKUP 0\n"
        );

        // Nobody reading and the pipe full: lines are dropped, the daemon never blocks.
        drop(reader);
        let line = fifo_line("INSTANCE", "VI_1", State::Master, "100");
        let started = std::time::Instant::now();
        for _ in 0..10_000 {
            policy.write_fifos(&line);
        }
        assert!(started.elapsed() < Duration::from_secs(5));

        let not_fifo = dir.0.join("plain");
        std::fs::write(&not_fifo, "").unwrap();
        let refused = Policy::resolve(&config::GlobalDefs {
            notify_fifo: Some(not_fifo.display().to_string()),
            ..config::GlobalDefs::default()
        })
        .unwrap_err();
        assert!(refused.contains("not a FIFO"), "{refused}");
    }
}
