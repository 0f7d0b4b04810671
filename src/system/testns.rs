//! Test-only network namespaces: each test gets a uniquely named namespace (`vst-<pid>-<n>`),
//! runs its async body on a fresh thread that has entered it (so sockets, netlink and
//! /proc/sys/net all see that namespace), and the namespace is deleted on drop, panics included.
//! These tests need root; without it they fail with a message, they never skip silently.

use std::fs::File;
use std::future::Future;
use std::os::fd::AsRawFd;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// A network namespace that exists for the life of this value.
pub struct TestNs {
    name: String,
}

impl TestNs {
    /// Creates the namespace and brings its loopback up. Panics (failing the test) when not root.
    pub fn create() -> TestNs {
        assert!(
            unsafe { libc::geteuid() } == 0,
            "system tests need root (CAP_SYS_ADMIN + CAP_NET_ADMIN) to create network namespaces; \
             run them with sudo: sudo -E cargo test -p vipd --lib system::"
        );
        let name = format!(
            "vst-{}-{}",
            std::process::id(),
            NEXT_ID.fetch_add(1, Ordering::Relaxed)
        );
        run_checked(Command::new("ip").args(["netns", "add", &name]));
        let ns = TestNs { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n <ns> args…`, panicking with its stderr on failure; returns stdout.
    pub fn ip(&self, args: &[&str]) -> String {
        let out = run_checked(Command::new("ip").arg("-n").arg(&self.name).args(args));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ip -j -n <ns> args…` parsed as JSON.
    pub fn ip_json(&self, args: &[&str]) -> serde_json::Value {
        let out = run_checked(
            Command::new("ip")
                .arg("-j")
                .arg("-n")
                .arg(&self.name)
                .args(args),
        );
        serde_json::from_slice(&out.stdout).expect("ip -j printed JSON")
    }

    /// Runs `program args…` inside the namespace (`ip netns exec`), without checking its status.
    pub fn exec(&self, program: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .output()
            .expect("run ip netns exec")
    }

    /// Runs `body` to completion on a new thread inside the namespace, on a current-thread tokio
    /// runtime; a panic in `body` is re-raised here.
    pub fn run<F, Fut, T>(&self, body: F) -> T
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        let path = format!("/run/netns/{}", self.name);
        let thread = std::thread::spawn(move || {
            let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            // setns on a thread moves only that thread; the test harness stays where it was.
            // SAFETY: the fd is valid for the duration of the call.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(
                rc,
                0,
                "setns into {path}: {}",
                std::io::Error::last_os_error()
            );
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(body())
        });
        match thread.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

fn run_checked(command: &mut Command) -> Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
