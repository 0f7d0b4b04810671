//! Tests of the script policy, the runner and the FIFO writer. These tests change file owners and run commands as `nobody`: they need root, like the
//! namespace tests.

use super::test_support::{nobody, runtime, set_mode, TempDir};
use super::*;
use std::os::unix::fs::{chown, FileTypeExt, OpenOptionsExt};

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
    let unknown =
        ScriptPolicy::resolve(Some(&script_user("vipd-no-such-user", None)), false).unwrap_err();
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
        finished.elapsed >= Duration::from_millis(500) && finished.elapsed < Duration::from_secs(5),
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
