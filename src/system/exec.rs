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

use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
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
mod words;
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
        .map_err(|e| Outcome::SpawnFailed(format!("/bin/sh as {}: {e}", policy.user)))?;
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

/// A FIFO opened for writing without ever blocking.
#[derive(Debug)]
pub struct FifoWriter {
    path: PathBuf,
    file: File,
}

impl FifoWriter {
    /// The FIFO at `path`, created (mode 0600) when missing. Opened read-write so that opening
    /// and writing never wait for a reader, and non-blocking so that a reader that stops
    /// reading cannot stall the daemon. Errors start with `FIFO <path>:`.
    pub fn open(path: &Path) -> Result<FifoWriter, String> {
        match std::fs::metadata(path) {
            Ok(meta) if meta.file_type().is_fifo() => {}
            Ok(_) => return Err(format!("FIFO {}: exists and is not a FIFO", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
                    .map_err(|e| format!("FIFO {}: cannot create: {e}", path.display()))?;
            }
            Err(e) => return Err(format!("FIFO {}: {e}", path.display())),
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| format!("FIFO {}: cannot open: {e}", path.display()))?;
        Ok(FifoWriter {
            path: path.to_owned(),
            file,
        })
    }

    /// Writes `line` and a newline in one write, so that readers never see half a line (a
    /// line shorter than PIPE_BUF is written whole or not at all). A full FIFO drops it.
    pub fn write_line(&self, line: &str) -> Result<(), String> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        match (&self.file).write(&bytes) {
            Ok(n) if n == bytes.len() => Ok(()),
            Ok(n) => Err(format!("only {n} of {} bytes written", bytes.len())),
            Err(e) => Err(e.to_string()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Scratch directories for the tests here and in `hooks`: root-owned, mode 0755, under /tmp,
/// removed on drop.
#[cfg(test)]
pub(crate) mod test_support {
    use std::os::unix::fs::{chown, PermissionsExt};
    use std::path::{Path, PathBuf};

    pub(crate) struct TempDir(pub(crate) PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> TempDir {
            assert!(
                nix::unistd::geteuid().is_root(),
                "script tests need root (chown, running scripts as another user)"
            );
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = PathBuf::from(format!("/tmp/vipd-exec-{}-{tag}-{n}", std::process::id()));
            std::fs::create_dir(&dir).unwrap();
            set_mode(&dir, 0o755);
            chown(&dir, Some(0), Some(0)).unwrap();
            TempDir(dir)
        }

        /// A root-owned mode 0755 shell script with `body`.
        pub(crate) fn script(&self, name: &str, body: &str) -> PathBuf {
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

    pub(crate) fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    pub(crate) fn nobody() -> (u32, u32) {
        super::lookup_user("nobody")
            .unwrap()
            .expect("user nobody exists")
    }

    pub(crate) fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }
}

#[cfg(test)]
mod tests {
    //! These tests change file owners and run commands as `nobody`: they need root, like the
    //! namespace tests.

    use super::test_support::{nobody, runtime, set_mode, TempDir};
    use super::*;
    use std::os::unix::fs::chown;

    fn policy(uid: u32, gid: u32, security: bool) -> ScriptPolicy {
        ScriptPolicy {
            user: format!("{uid}:{gid}"),
            uid,
            gid,
            security,
        }
    }

    fn script_user(user: &str, group: Option<&str>) -> ScriptUser {
        ScriptUser {
            user: user.into(),
            group: group.map(Into::into),
        }
    }

    fn shell(command: &str) -> Command {
        Command {
            shell_command: command.into(),
            keep_stderr: true,
            ..Command::default()
        }
    }

    fn run(policy: &ScriptPolicy, command: Command) -> Finished {
        runtime().block_on(async { spawn(policy, command).await })
    }

    /// Waits (at most 5 s) for a command to write a line to `path`, and returns it.
    fn wait_for_line(path: &Path) -> String {
        for _ in 0..250 {
            if let Ok(text) = std::fs::read_to_string(path) {
                if let Some(line) = text.strip_suffix('\n') {
                    return line.to_owned();
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{} was not written within 5 s", path.display());
    }

    /// The processes (pid, state) in process group `group`.
    fn group_members(group: u32) -> Vec<(u32, char)> {
        let mut members = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
            let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
            let fields: Vec<&str> = after_comm.split(' ').collect();
            if fields[2].parse::<u32>() == Ok(group) {
                members.push((pid, fields[0].chars().next().unwrap()));
            }
        }
        members
    }

    #[test]
    fn script_user_and_group_are_looked_up_and_unknown_ones_refused() {
        let (uid, gid) = nobody();
        let resolved = ScriptPolicy::resolve(Some(&script_user("nobody", None)), true).unwrap();
        assert_eq!(
            resolved,
            ScriptPolicy {
                user: "nobody".into(),
                uid,
                gid,
                security: true
            }
        );
        let root_group =
            ScriptPolicy::resolve(Some(&script_user("nobody", Some("root"))), false).unwrap();
        assert_eq!((root_group.uid, root_group.gid), (uid, 0));
        assert_eq!(root_group.user, "nobody:root");
        let unknown = ScriptPolicy::resolve(Some(&script_user("vipd-no-such-user", None)), false)
            .unwrap_err();
        assert!(
            unknown.contains("script_user: user \"vipd-no-such-user\" does not exist"),
            "{unknown}"
        );
        let unknown = ScriptPolicy::resolve(
            Some(&script_user("nobody", Some("vipd-no-such-group"))),
            false,
        )
        .unwrap_err();
        assert!(
            unknown.contains("group \"vipd-no-such-group\""),
            "{unknown}"
        );
        // Unset: keepalived_script when that user exists, else the daemon's own user.
        let default = ScriptPolicy::resolve(None, false).unwrap();
        let expected = lookup_user("keepalived_script").unwrap().unwrap_or((
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        ));
        assert_eq!((default.uid, default.gid), expected);

        // Another user keeps the security setting; its errors do not blame script_user.
        let other = resolved.for_user(&script_user("root", None)).unwrap();
        assert_eq!(
            other,
            ScriptPolicy {
                user: "root".into(),
                ..ScriptPolicy::root()
            }
            .with_security()
        );
        let unknown = resolved
            .for_user(&script_user("vipd-no-such-user", None))
            .unwrap_err();
        assert_eq!(unknown, "user \"vipd-no-such-user\" does not exist");
    }

    impl ScriptPolicy {
        fn with_security(self) -> ScriptPolicy {
            ScriptPolicy {
                security: true,
                ..self
            }
        }
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
    fn exit_status_arguments_and_the_last_stderr_line_are_reported() {
        let root = ScriptPolicy::root();
        let finished = run(
            &root,
            Command {
                args: vec!["one".into(), "two words".into()],
                ..shell("echo first >&2; echo \"[$#] $*\" >&2; echo >&2; echo out; exit 3")
            },
        );
        assert_eq!(finished.outcome, Outcome::Exited(3));
        assert!(!finished.success());
        assert_eq!(
            finished.last_stderr_line.as_deref(),
            Some("[2] one two words")
        );

        let quiet = run(
            &root,
            Command {
                keep_stderr: false,
                ..shell("echo unheard >&2")
            },
        );
        assert!(quiet.success(), "{:?}", quiet.outcome);
        assert_eq!(quiet.last_stderr_line, None);

        // More stderr than a pipe holds neither blocks the command nor grows the tail.
        let chatty = run(
            &root,
            shell("head -c 300000 /dev/zero | tr '\\0' x >&2; echo >&2; echo done >&2"),
        );
        assert!(chatty.success(), "{:?}", chatty.outcome);
        assert_eq!(chatty.last_stderr_line.as_deref(), Some("done"));

        let killed = run(&root, shell("kill -TERM $$"));
        assert_eq!(killed.outcome, Outcome::Signalled(libc::SIGTERM));
        assert_eq!(killed.outcome.to_string(), "signal: 15 (SIGTERM)");
    }

    /// A program that does not exist is the shell's exit 127, not a spawn failure.
    #[test]
    fn a_missing_program_exits_127() {
        let finished = run(
            &ScriptPolicy::root(),
            shell("/nonexistent/vipd-no-such-program arg"),
        );
        assert_eq!(finished.outcome, Outcome::Exited(127));
        let line = finished.last_stderr_line.unwrap();
        assert!(
            line.contains("not found") || line.contains("No such file"),
            "{line}"
        );
    }

    #[test]
    fn a_refused_script_is_not_started() {
        let dir = TempDir::new("refused");
        let marker = dir.0.join("ran");
        let script = dir.script("insecure.sh", &format!("echo ran > {}", marker.display()));
        set_mode(&script, 0o777);
        let finished = run(&policy(0, 0, true), shell(&script.display().to_string()));
        let Outcome::Refused(why) = finished.outcome else {
            panic!("insecure script not refused: {:?}", finished.outcome);
        };
        assert!(why.contains("writable by anyone"), "{why}");
        // Without enable_script_security it runs.
        let lax = run(&policy(0, 0, false), shell(&script.display().to_string()));
        assert!(lax.success(), "{:?}", lax.outcome);
        assert_eq!(wait_for_line(&marker), "ran");
        std::fs::remove_file(&marker).unwrap();
        run(&policy(0, 0, true), shell(&script.display().to_string()));
        assert!(!marker.exists(), "the refused script ran");
    }

    #[test]
    fn commands_run_as_the_policy_user_and_group() {
        let (uid, gid) = nobody();
        let whoami = "echo \"$(id -u) $(id -g) $(id -G) $*\" >&2";
        let as_nobody = run(
            &policy(uid, gid, true),
            Command {
                args: vec!["x".into()],
                ..shell(whoami)
            },
        );
        assert!(as_nobody.success(), "{:?}", as_nobody.outcome);
        // Root's supplementary groups are dropped with its uid.
        assert_eq!(
            as_nobody.last_stderr_line.unwrap(),
            format!("{uid} {gid} {gid} x")
        );
        let nobody_root = run(&policy(uid, 0, true), shell(whoami));
        assert_eq!(nobody_root.last_stderr_line.unwrap(), format!("{uid} 0 0"));
        let resolved = ScriptPolicy::resolve(Some(&script_user("nobody", None)), true).unwrap();
        let by_name = run(&resolved, shell(whoami));
        assert_eq!(
            by_name.last_stderr_line.unwrap(),
            format!("{uid} {gid} {gid}")
        );
    }

    /// A shell that exits while its background child still holds stderr is reported at once,
    /// and the child, in the shell's group, is left running.
    #[test]
    fn background_children_outlive_a_shell_that_exits_on_its_own() {
        let dir = TempDir::new("background");
        let pid_file = dir.0.join("pid");
        let finished = run(
            &ScriptPolicy::root(),
            shell(&format!(
                "echo $$ > {}; sleep 3 & echo bye >&2; exit 1",
                pid_file.display()
            )),
        );
        assert_eq!(finished.outcome, Outcome::Exited(1));
        assert_eq!(finished.last_stderr_line.as_deref(), Some("bye"));
        assert!(
            finished.elapsed < Duration::from_secs(2),
            "waited for the background child: {:?}",
            finished.elapsed
        );
        let shell_pid: u32 = wait_for_line(&pid_file).parse().unwrap();
        let members = group_members(shell_pid);
        assert!(
            members.iter().any(|&(_, state)| state != 'Z'),
            "the background sleep was killed: {members:?}"
        );
    }

    #[test]
    fn a_timeout_kills_the_whole_process_group_and_nothing_is_left() {
        let dir = TempDir::new("timeout");
        let pid_file = dir.0.join("pid");
        let finished = run(
            &ScriptPolicy::root(),
            Command {
                timeout: Some(Duration::from_millis(500)),
                ..shell(&format!(
                    "echo $$ > {}; sleep 30 & sleep 30 & sleep 30",
                    pid_file.display()
                ))
            },
        );
        assert_eq!(finished.outcome, Outcome::TimedOut);
        assert!(
            finished.elapsed >= Duration::from_millis(500)
                && finished.elapsed < Duration::from_secs(5),
            "{:?}",
            finished.elapsed
        );
        let shell_pid: u32 = wait_for_line(&pid_file).parse().unwrap();
        // The shell was reaped by us; the sleeps, killed, are reaped by init once orphaned.
        assert!(
            !Path::new(&format!("/proc/{shell_pid}")).exists(),
            "the shell was not reaped"
        );
        for _ in 0..150 {
            if group_members(shell_pid).is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "process group {shell_pid} still has {:?}",
            group_members(shell_pid)
        );
    }

    #[test]
    fn finished_and_dropped_commands_leave_no_zombie() {
        let dir = TempDir::new("zombie");
        let runtime = runtime();
        let pid_file = dir.0.join("pid");
        let record_pid = format!("echo $$ > {}", pid_file.display());
        let finished =
            runtime.block_on(async { spawn(&ScriptPolicy::root(), shell(&record_pid)).await });
        assert!(finished.success(), "{:?}", finished.outcome);
        let pid: u32 = wait_for_line(&pid_file).parse().unwrap();
        // Reaped before the future resolved: not even a zombie is left.
        assert!(
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_err(),
            "process {pid} is still there after the future resolved"
        );

        // Dropping the future kills and reaps the command (and its group).
        std::fs::remove_file(&pid_file).unwrap();
        runtime.block_on(async {
            let running = spawn(
                &ScriptPolicy::root(),
                shell(&format!("{record_pid}; sleep 30 & sleep 30")),
            );
            let pid: u32 = loop {
                if let Ok(text) = std::fs::read_to_string(&pid_file) {
                    if let Some(line) = text.strip_suffix('\n') {
                        break line.parse().unwrap();
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            drop(running);
            for _ in 0..150 {
                if group_members(pid).is_empty() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("process group {pid} still has {:?}", group_members(pid));
        });
    }

    #[test]
    fn fifo_lines_are_whole_and_a_full_fifo_never_blocks() {
        let dir = TempDir::new("fifo");
        let path = dir.0.join("vrrp.fifo");
        let fifo = FifoWriter::open(&path).unwrap();
        assert_eq!(fifo.path(), path);
        assert!(std::fs::metadata(&path).unwrap().file_type().is_fifo());
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        fifo.write_line("INSTANCE \"VI_1\" MASTER 100").unwrap();
        // A second writer on an existing FIFO shares it.
        FifoWriter::open(&path)
            .unwrap()
            .write_line("GROUP \"G1\" BACKUP 0")
            .unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut reader, &mut text).unwrap_or_default();
        assert_eq!(
            text,
            "INSTANCE \"VI_1\" MASTER 100\nGROUP \"G1\" BACKUP 0\n"
        );

        // Nobody reading and the pipe full: lines are dropped with an error, never blocking.
        drop(reader);
        let started = Instant::now();
        let dropped = (0..10_000)
            .filter(|_| fifo.write_line("INSTANCE \"VI_1\" MASTER 100").is_err())
            .count();
        assert!(dropped > 0, "a pipe holds 10000 lines?");
        assert!(started.elapsed() < Duration::from_secs(5));

        let not_fifo = dir.0.join("plain");
        std::fs::write(&not_fifo, "").unwrap();
        let refused = FifoWriter::open(&not_fifo).unwrap_err();
        assert!(refused.contains("not a FIFO"), "{refused}");
    }
}
