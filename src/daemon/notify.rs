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

fn current_policy() -> Arc<Policy> {
    if let Some(policy) = POLICY.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return policy.clone();
    }
    let mut slot = POLICY.write().unwrap_or_else(|e| e.into_inner());
    slot.get_or_insert_with(|| {
        Arc::new(Policy::resolve(&config::GlobalDefs::default()).unwrap_or_else(|e| {
            tracing::warn!("notify scripts: {e}; running them as root");
            Policy::root()
        }))
    })
    .clone()
}

impl Policy {
    /// The policy `global` asks for, looking users, groups and FIFOs up on this system.
    pub fn resolve(global: &config::GlobalDefs) -> Result<Policy, String> {
        let (user, uid, gid) = match &global.script_user {
            Some(script_user) => {
                let (uid, user_gid) = lookup_user(&script_user.user)?.ok_or_else(|| {
                    format!(
                        "script_user: user \"{}\" does not exist",
                        script_user.user
                    )
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
            tracing::warn!("notify script `{command}`: {why} (enable_script_security would refuse it)")
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
