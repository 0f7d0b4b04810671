//! Running external commands for vipd: who they run as (`script_user` / `enable_script_security`
//! policy, as a value), spawning in their own process group with a timeout, reaping, and the
//! non-blocking FIFO writer.
//!
//! - A [`ScriptPolicy`] says which uid/gid commands run as and whether an insecure root script is
//!   refused or only warned about; it is resolved once from the configuration and passed in, so
//!   a reload swaps a value, not a global.
//! - A root script that a non-root user could change (the file, or a directory on its path, not
//!   owned by root, or writable by a group other than root or by anyone) is refused with
//!   `enable_script_security` and runs (the caller warns) without, as keepalived does.
//! - [`spawn`] runs `/bin/sh -c COMMAND vipd-script ARGS...` with stdin and stdout on /dev/null
//!   (keepalived gives its scripts /dev/null too), in a new process group, and resolves once the
//!   shell is reaped. A timeout or dropping the future kills the whole group. A program that
//!   does not exist is the shell's business: it exits 127 (126 when not executable);
//!   [`Outcome::SpawnFailed`] only means `/bin/sh` itself could not be started as that user.
//! - [`spawn_check`] does the same for a health check, but execs a command without shell syntax
//!   directly, split into words as keepalived splits it ([`plain_words`]), with the shell's exit
//!   statuses for a missing program.
//! - [`FifoWriter`] writes one line per call to a FIFO without ever blocking the daemon.

use std::future::Future;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Group, Pid, User};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStderr};
use tokio::sync::oneshot;

use vipd_config::ScriptUser;

#[cfg(test)]
mod direct_tests;
mod fifo;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
mod words;
pub use fifo::FifoWriter;
pub use words::plain_words;

/// keepalived's script user when `script_user` is not set, if the system has it.
const DEFAULT_SCRIPT_USER: &str = "keepalived_script";

/// What `$0` is inside the `sh -c` command (the shell names itself so in its error messages).
const SHELL_NAME: &str = "vipd-script";

/// At most this much of a command's stderr is kept to find its last line.
const STDERR_TAIL: usize = 4096;

/// Who commands run as, and what is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptPolicy {
    /// For logs: `user[:group]`.
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    /// `enable_script_security`: refuse (instead of only warn about) an insecure root script.
    pub security: bool,
}

/// How a command is started, or why it is not.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Run,
    /// Runs, with this warning (an insecure root script without `enable_script_security`).
    RunInsecure(String),
    /// Refused: an insecure root script with `enable_script_security`.
    Refuse(String),
}

impl ScriptPolicy {
    /// keepalived's rules: `script_user` if set, else user `keepalived_script` if it exists,
    /// else the daemon's own user (root). An unknown user or group is an error.
    pub fn resolve(
        script_user: Option<&ScriptUser>,
        security: bool,
    ) -> Result<ScriptPolicy, String> {
        let (user, uid, gid) = match script_user {
            Some(script_user) => {
                lookup_script_user(script_user).map_err(|e| format!("script_user: {e}"))?
            }
            None => match lookup_user(DEFAULT_SCRIPT_USER)? {
                Some((uid, gid)) => (DEFAULT_SCRIPT_USER.to_owned(), uid, gid),
                None => (
                    "root".to_owned(),
                    nix::unistd::getuid().as_raw(),
                    nix::unistd::getgid().as_raw(),
                ),
            },
        };
        Ok(ScriptPolicy {
            user,
            uid,
            gid,
            security,
        })
    }

    /// Root, without `enable_script_security`: what runs when the policy cannot be looked up.
    pub fn root() -> ScriptPolicy {
        ScriptPolicy {
            user: "root".into(),
            uid: 0,
            gid: 0,
            security: false,
        }
    }

    /// The same security setting for another user (a `vrrp_script`'s own `user` keyword). The
    /// error names the missing user or group, without the keyword.
    pub fn for_user(&self, user: &ScriptUser) -> Result<ScriptPolicy, String> {
        let (name, uid, gid) = lookup_script_user(user)?;
        Ok(ScriptPolicy {
            user: name,
            uid,
            gid,
            security: self.security,
        })
    }

    /// Whether `command` may run under this policy (see the module doc for the rule). Only root
    /// commands are audited: one run as another user could only change what that user can.
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
}

/// `(user[:group], uid, gid)` for `script_user`'s names.
fn lookup_script_user(script_user: &ScriptUser) -> Result<(String, u32, u32), String> {
    let (uid, user_gid) = lookup_user(&script_user.user)?
        .ok_or_else(|| format!("user \"{}\" does not exist", script_user.user))?;
    match &script_user.group {
        Some(group) => {
            let gid =
                lookup_group(group)?.ok_or_else(|| format!("group \"{group}\" does not exist"))?;
            Ok((format!("{}:{group}", script_user.user), uid, gid))
        }
        None => Ok((script_user.user.clone(), uid, user_gid)),
    }
}

/// `(uid, primary gid)` of `name`, `None` if there is no such user.
fn lookup_user(name: &str) -> Result<Option<(u32, u32)>, String> {
    User::from_name(name)
        .map(|user| user.map(|u| (u.uid.as_raw(), u.gid.as_raw())))
        .map_err(|e| format!("looking up user {name}: {e}"))
}

/// The gid of group `name`, `None` if there is no such group.
fn lookup_group(name: &str) -> Result<Option<u32>, String> {
    Group::from_name(name)
        .map(|group| group.map(|g| g.gid.as_raw()))
        .map_err(|e| format!("looking up group {name}: {e}"))
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

/// One command to run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Command {
    /// Run as `/bin/sh -c shell_command`.
    pub shell_command: String,
    /// The shell's `"$@"` (the command must say `"$@"` to pass them on).
    pub args: Vec<String>,
    /// Killed, with its whole process group, after this long.
    pub timeout: Option<Duration>,
    /// Read stderr to report its last line; otherwise it goes to /dev/null.
    pub keep_stderr: bool,
}

/// How a command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    /// Killed by this signal (not by us).
    Signalled(i32),
    /// Ran past its timeout; its process group was killed.
    TimedOut,
    /// Not started: the policy refuses it (see [`ScriptPolicy::verdict`]).
    Refused(String),
    /// `/bin/sh` could not be started (or waited for) as the policy's user.
    SpawnFailed(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Exited(code) => write!(f, "exit status: {code}"),
            Outcome::Signalled(signal) => match Signal::try_from(*signal) {
                Ok(name) => write!(f, "signal: {signal} ({name})"),
                Err(_) => write!(f, "signal: {signal}"),
            },
            Outcome::TimedOut => f.write_str("timed out"),
            Outcome::Refused(why) => write!(f, "refused: {why}"),
            Outcome::SpawnFailed(why) => write!(f, "not started: {why}"),
        }
    }
}

/// A command that has ended and been reaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    pub outcome: Outcome,
    /// The last non-empty line it wrote to stderr, when [`Command::keep_stderr`] asked for it.
    pub last_stderr_line: Option<String>,
    /// From the call to [`spawn`] to the reaping.
    pub elapsed: Duration,
}

impl Finished {
    /// Exited with status 0.
    pub fn success(&self) -> bool {
        self.outcome == Outcome::Exited(0)
    }
}

/// Starts `command` now under `policy` and returns a future that resolves once it has been
/// reaped. The shell leads a new process group (stdin and stdout /dev/null, stderr read when
/// asked). When the timeout passes, or when the future is dropped first, the whole group gets
/// SIGKILL and the shell is reaped; background children of a shell that exits on its own are
/// left running, as a shell would. Must be called inside the tokio runtime: a task supervises
/// the process, so the timeout holds even while nobody polls the future. When the runtime itself
/// shuts down, running commands are left to finish on their own.
///
/// [`Verdict::RunInsecure`] runs silently: callers that want the warning ask
/// [`ScriptPolicy::verdict`] first.
pub fn spawn(
    policy: &ScriptPolicy,
    command: Command,
) -> impl Future<Output = Finished> + Send + 'static {
    spawn_as(policy, command, Launch::Shell)
}

/// [`spawn`] for a check that runs every interval (`vrrp_script`): a command the shell would
/// read as plain words ([`plain_words`]) is split and its program exec'd directly, as keepalived
/// does, without the shell's exec and fork; anything else, or a command with
/// [`Command::args`], runs as [`spawn`] runs it. Process group, user, timeout and stderr are the
/// same either way, and so is a missing program: exit status 127 (126 when it cannot be
/// executed) with the reason as the last stderr line. A file without `#!` that the kernel will
/// not exec is given to the shell, which runs it as a script.
pub fn spawn_check(
    policy: &ScriptPolicy,
    command: Command,
) -> impl Future<Output = Finished> + Send + 'static {
    spawn_as(policy, command, Launch::DirectWhenPlain)
}

/// How a command is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Launch {
    /// `/bin/sh -c COMMAND vipd-script ARGS...`.
    Shell,
    /// The program of a plain command exec'd with its words, otherwise the shell.
    DirectWhenPlain,
}

fn spawn_as(
    policy: &ScriptPolicy,
    command: Command,
    launch: Launch,
) -> impl Future<Output = Finished> + Send + 'static {
    let started = Instant::now();
    let supervised = start(policy, &command, launch).map(|(child, stderr)| {
        let (cancel, cancelled) = oneshot::channel();
        let task = tokio::spawn(supervise(
            child,
            stderr,
            command.timeout,
            cancelled,
            started,
        ));
        (task, cancel)
    });
    async move {
        match supervised {
            Err(not_run) => Finished {
                outcome: not_run.outcome,
                last_stderr_line: not_run.stderr_line,
                elapsed: started.elapsed(),
            },
            Ok((task, cancel)) => {
                let finished = task.await;
                // Dropped only now: dropping this future before here cancels the command.
                drop(cancel);
                finished.unwrap_or_else(|e| Finished {
                    outcome: Outcome::SpawnFailed(format!("supervising the command: {e}")),
                    last_stderr_line: None,
                    elapsed: started.elapsed(),
                })
            }
        }
    }
}

/// Why no process runs for a command, and what stands for its stderr.
struct NotRun {
    outcome: Outcome,
    stderr_line: Option<String>,
}

impl From<Outcome> for NotRun {
    fn from(outcome: Outcome) -> NotRun {
        NotRun {
            outcome,
            stderr_line: None,
        }
    }
}

type Started = (Child, Option<ChildStderr>);

/// The running process for `command`, or why there is none.
fn start(policy: &ScriptPolicy, command: &Command, launch: Launch) -> Result<Started, NotRun> {
    if let Verdict::Refuse(why) = policy.verdict(&command.shell_command) {
        return Err(Outcome::Refused(why).into());
    }
    if launch == Launch::DirectWhenPlain && command.args.is_empty() {
        if let Some(words) = plain_words(&command.shell_command) {
            if let Some(started) = start_program(policy, command, &words) {
                return started;
            }
        }
    }
    start_shell(policy, command)
}

/// The shell running `command`.
fn start_shell(policy: &ScriptPolicy, command: &Command) -> Result<Started, NotRun> {
    let mut shell = tokio::process::Command::new("/bin/sh");
    shell
        .arg("-c")
        .arg(&command.shell_command)
        .arg(SHELL_NAME)
        .args(&command.args);
    let mut child = prepare(&mut shell, policy, command.keep_stderr)
        .spawn()
        .map_err(|e| {
            Outcome::SpawnFailed(format!(
                "/bin/sh as {}: {e}{}",
                policy.user,
                why_not(policy, &e)
            ))
        })?;
    let stderr = child.stderr.take();
    Ok((child, stderr))
}

/// The program of a plain command (`words`) running with its arguments; `None` when the kernel
/// will not exec it (no `#!`), for the shell to run instead.
fn start_program(
    policy: &ScriptPolicy,
    command: &Command,
    words: &[String],
) -> Option<Result<Started, NotRun>> {
    let name = &words[0];
    // What the shell would have said, on stderr, with the shell's exit status.
    let as_shell = |code: i32, message: String| NotRun {
        outcome: Outcome::Exited(code),
        stderr_line: command.keep_stderr.then_some(message),
    };
    let path = match find_program(name) {
        Ok(path) => path,
        Err(Missing::NotFound) => return Some(Err(as_shell(127, format!("{name}: not found")))),
        Err(Missing::Denied(path)) => {
            let message = format!("{}: Permission denied", path.display());
            return Some(Err(as_shell(126, message)));
        }
    };
    let mut program = tokio::process::Command::new(&path);
    // argv[0] as written, as the shell passes it.
    program.arg0(name).args(&words[1..]);
    let spawned = prepare(&mut program, policy, command.keep_stderr).spawn();
    Some(match spawned {
        Ok(mut child) => {
            let stderr = child.stderr.take();
            Ok((child, stderr))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOEXEC) => return None,
        // EPERM, unlike a file's EACCES, is setuid/setgid refused: say which capability.
        Err(e) if !why_not(policy, &e).is_empty() => Err(Outcome::SpawnFailed(format!(
            "{} as {}: {e}{}",
            path.display(),
            policy.user,
            why_not(policy, &e)
        ))
        .into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(as_shell(127, format!("{}: not found", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(as_shell(
            126,
            format!("{}: Permission denied", path.display()),
        )),
        Err(e) => {
            Err(Outcome::SpawnFailed(format!("{} as {}: {e}", path.display(), policy.user)).into())
        }
    })
}

/// Why a command could not start as `policy`'s user, when the answer is a missing capability.
fn why_not(policy: &ScriptPolicy, e: &std::io::Error) -> &'static str {
    let switches = policy.uid != nix::unistd::getuid().as_raw()
        || policy.gid != nix::unistd::getgid().as_raw();
    if switches && e.raw_os_error() == Some(libc::EPERM) {
        " (running scripts as another user needs CAP_SETUID and CAP_SETGID: add them to the \
         unit's CapabilityBoundingSet, or set script_user to vipd's own user)"
    } else {
        ""
    }
}

/// What every command gets: stdin and stdout on /dev/null, stderr piped when kept, its own
/// process group, the policy's user and group.
fn prepare<'a>(
    process: &'a mut tokio::process::Command,
    policy: &ScriptPolicy,
    keep_stderr: bool,
) -> &'a mut tokio::process::Command {
    process
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(if keep_stderr {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        // No kill_on_drop: at runtime shutdown a command keeps running (the daemon's
        // notify_stop scripts outlive it); a dropped future is handled by supervise.
        .process_group(0);
    if policy.gid != nix::unistd::getgid().as_raw() {
        process.gid(policy.gid);
    }
    if policy.uid != nix::unistd::getuid().as_raw() {
        // std drops root's supplementary groups before setuid.
        process.uid(policy.uid);
    }
    process
}

/// Why a program name found nothing to run.
#[derive(Debug, PartialEq, Eq)]
enum Missing {
    NotFound,
    /// Only a file that is not executable, or not a regular file, has that name.
    Denied(PathBuf),
}

/// The shell's search path when PATH is unset (dash's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `name` as the shell (or execvp) finds it: as given when it has a slash; otherwise the first
/// executable regular file of that name in a PATH directory (an empty entry is the current
/// directory).
fn find_program(name: &str) -> Result<PathBuf, Missing> {
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    let mut denied = None;
    for dir in std::env::split_paths(&path) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(name);
        let Ok(meta) = std::fs::metadata(&candidate) else {
            continue;
        };
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            return Ok(candidate);
        }
        denied.get_or_insert(candidate);
    }
    Err(denied.map_or(Missing::NotFound, Missing::Denied))
}

enum Ending {
    Exited(std::io::Result<ExitStatus>),
    TimedOut,
    Cancelled,
}

/// Waits for `child`, reading its stderr meanwhile, and kills its process group at the
/// deadline or when `cancelled` fires (its sender dropped).
async fn supervise(
    mut child: Child,
    mut stderr: Option<ChildStderr>,
    timeout: Option<Duration>,
    mut cancelled: oneshot::Receiver<()>,
    started: Instant,
) -> Finished {
    // The shell leads its own group: the group id is its pid, reserved until it is reaped.
    let group = child.id().map(|pid| Pid::from_raw(pid as i32));
    let mut tail = StderrTail::default();
    let mut buf = [0u8; 1024];
    let deadline = async {
        match timeout {
            Some(timeout) => tokio::time::sleep_until((started + timeout).into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    let ending = loop {
        tokio::select! {
            status = child.wait() => break Ending::Exited(status),
            read = read_some(&mut stderr, &mut buf) => match read {
                Some(n) => tail.push(&buf[..n]),
                None => stderr = None,
            },
            () = &mut deadline => break Ending::TimedOut,
            _ = &mut cancelled => break Ending::Cancelled,
        }
    };
    let timed_out = matches!(ending, Ending::TimedOut);
    let status = match ending {
        Ending::Exited(status) => status,
        Ending::TimedOut | Ending::Cancelled => {
            if let Some(group) = group {
                let _ = killpg(group, Signal::SIGKILL);
            }
            child.wait().await
        }
    };
    if let Some(pipe) = stderr {
        drain_now(&pipe, &mut tail);
        // A background child may still hold the pipe: keep emptying it so that it never gets
        // SIGPIPE for writing to stderr (keepalived's scripts write to /dev/null).
        tokio::spawn(discard_until_eof(pipe));
    }
    let outcome = match status {
        _ if timed_out => Outcome::TimedOut,
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => Outcome::Exited(code),
            (None, Some(signal)) => Outcome::Signalled(signal),
            (None, None) => Outcome::SpawnFailed(format!("unexpected wait status {status}")),
        },
        Err(e) => Outcome::SpawnFailed(format!("waiting for the command: {e}")),
    };
    Finished {
        outcome,
        last_stderr_line: tail.last_line(),
        elapsed: started.elapsed(),
    }
}

/// The next chunk of `pipe`, `None` at its end; never resolves without a pipe.
async fn read_some(pipe: &mut Option<ChildStderr>, buf: &mut [u8]) -> Option<usize> {
    match pipe {
        Some(pipe) => match pipe.read(buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        },
        None => std::future::pending().await,
    }
}

/// Whatever the exited command left in `pipe`, read now: the runtime may not have seen it
/// become readable yet, and a background child holding the pipe open means no end to wait for.
fn drain_now(pipe: &ChildStderr, tail: &mut StderrTail) {
    let mut buf = [0u8; 1024];
    // The pipe is non-blocking (tokio made it so): this stops at "would block" or the end.
    while let Ok(n @ 1..) = nix::unistd::read(pipe.as_fd(), &mut buf) {
        tail.push(&buf[..n]);
    }
}

async fn discard_until_eof(mut pipe: ChildStderr) {
    let mut buf = [0u8; 1024];
    while let Ok(1..) = pipe.read(&mut buf).await {}
}

/// The last [`STDERR_TAIL`] bytes a command wrote to stderr.
#[derive(Default)]
struct StderrTail(Vec<u8>);

impl StderrTail {
    fn push(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
        if self.0.len() > STDERR_TAIL {
            self.0.drain(..self.0.len() - STDERR_TAIL);
        }
    }

    fn last_line(&self) -> Option<String> {
        String::from_utf8_lossy(&self.0)
            .lines()
            .map(str::trim)
            .rfind(|line| !line.is_empty())
            .map(str::to_owned)
    }
}
