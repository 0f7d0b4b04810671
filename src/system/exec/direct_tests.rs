//! [`spawn_check`]: plain commands exec'd without a shell, everything else as [`spawn`] runs it,
//! with the same exit statuses, stderr, user, process group and timeout. Needs root, as the
//! other exec tests do.

use std::time::Duration;

use super::test_support::{nobody, runtime, set_mode, TempDir};
use super::{spawn_check, start, Command, Finished, Launch, Outcome, ScriptPolicy};

fn check(command: &str) -> Command {
    Command {
        shell_command: command.into(),
        keep_stderr: true,
        ..Command::default()
    }
}

fn run(policy: &ScriptPolicy, command: Command) -> Finished {
    runtime().block_on(async { spawn_check(policy, command).await })
}

/// The program the process `pid` runs now.
fn exe(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|path| path.display().to_string())
        .unwrap_or_default()
}

#[test]
fn a_plain_command_is_its_program_from_the_start_and_shell_syntax_is_a_shell() {
    let runtime = runtime();
    let _guard = runtime.enter();
    let marker = format!("30.{}", std::process::id());
    let root = ScriptPolicy::root();
    let sleep = std::fs::canonicalize("/bin/sleep").unwrap();
    let shell = std::fs::canonicalize("/bin/sh").unwrap();

    // spawn returns once the exec has succeeded: a direct child already is the program.
    let plain = check(&format!("sleep {marker}"));
    let Ok((mut child, _)) = start(&root, &plain, Launch::DirectWhenPlain) else {
        panic!("not started");
    };
    assert_eq!(exe(child.id().unwrap()), sleep.display().to_string());
    runtime.block_on(async {
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    });

    // With shell syntax the child is the shell (which forks for the list).
    let listed = check(&format!("sleep {marker}; true"));
    let Ok((mut child, _)) = start(&root, &listed, Launch::DirectWhenPlain) else {
        panic!("not started");
    };
    assert_eq!(exe(child.id().unwrap()), shell.display().to_string());
    let group = nix::unistd::Pid::from_raw(-(child.id().unwrap() as i32));
    runtime.block_on(async {
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        child.wait().await.unwrap();
    });
}

#[test]
fn words_arguments_exit_status_and_stderr_come_through() {
    let dir = TempDir::new("direct-args");
    let script = dir.script("args.sh", "echo \"[$#] $1|$2|$3\" >&2; exit 3");
    let finished = run(
        &ScriptPolicy::root(),
        check(&format!("{} one 'two words' \"it's\"", script.display())),
    );
    assert_eq!(finished.outcome, Outcome::Exited(3));
    assert_eq!(
        finished.last_stderr_line.as_deref(),
        Some("[3] one|two words|it's")
    );
    let finished = run(&ScriptPolicy::root(), check("true"));
    assert!(
        finished.success(),
        "a bare name found on PATH: {:?}",
        finished.outcome
    );
    let finished = run(&ScriptPolicy::root(), check("false"));
    assert_eq!(finished.outcome, Outcome::Exited(1));
}

#[test]
fn a_missing_or_not_executable_program_is_127_or_126_with_the_reason() {
    let dir = TempDir::new("direct-missing");
    let missing = dir.0.join("missing");
    let finished = run(
        &ScriptPolicy::root(),
        check(&format!("{} arg", missing.display())),
    );
    assert_eq!(finished.outcome, Outcome::Exited(127));
    assert_eq!(
        finished.last_stderr_line,
        Some(format!("{}: not found", missing.display()))
    );
    let finished = run(
        &ScriptPolicy::root(),
        check("vipd-no-such-program-z --quick"),
    );
    assert_eq!(finished.outcome, Outcome::Exited(127));
    assert_eq!(
        finished.last_stderr_line.as_deref(),
        Some("vipd-no-such-program-z: not found")
    );
    let plain = dir.script("plain.sh", "exit 0");
    set_mode(&plain, 0o644);
    let finished = run(&ScriptPolicy::root(), check(&plain.display().to_string()));
    assert_eq!(finished.outcome, Outcome::Exited(126));
    assert_eq!(
        finished.last_stderr_line,
        Some(format!("{}: Permission denied", plain.display()))
    );
    // Without stderr kept, no line stands in for it.
    let quiet = run(
        &ScriptPolicy::root(),
        Command {
            keep_stderr: false,
            ..check(&missing.display().to_string())
        },
    );
    assert_eq!(
        (quiet.outcome, quiet.last_stderr_line),
        (Outcome::Exited(127), None)
    );
}

#[test]
fn a_file_without_a_shebang_is_run_by_the_shell() {
    let dir = TempDir::new("direct-noexec");
    let path = dir.0.join("bare");
    std::fs::write(&path, "echo bare script >&2\nexit 4\n").unwrap();
    set_mode(&path, 0o755);
    let finished = run(&ScriptPolicy::root(), check(&path.display().to_string()));
    assert_eq!(finished.outcome, Outcome::Exited(4));
    assert_eq!(finished.last_stderr_line.as_deref(), Some("bare script"));
}

#[test]
fn a_direct_program_runs_as_the_policy_user_and_dies_at_its_timeout() {
    let dir = TempDir::new("direct-user");
    let whoami = dir.script("whoami.sh", "echo \"$(id -u) $(id -g) $(id -G)\" >&2");
    let (uid, gid) = nobody();
    let as_nobody = ScriptPolicy {
        user: "nobody".into(),
        uid,
        gid,
        security: false,
    };
    let finished = run(&as_nobody, check(&whoami.display().to_string()));
    assert!(finished.success(), "{:?}", finished.outcome);
    assert_eq!(
        finished.last_stderr_line,
        Some(format!("{uid} {gid} {gid}"))
    );

    let finished = run(
        &ScriptPolicy::root(),
        Command {
            timeout: Some(Duration::from_millis(300)),
            ..check(&format!("sleep 31.{}", std::process::id()))
        },
    );
    assert_eq!(finished.outcome, Outcome::TimedOut);
    assert!(
        finished.elapsed < Duration::from_secs(3),
        "{:?}",
        finished.elapsed
    );
}
