//! Namespace tests of the probes against real servers (python's http.server, a python TLS
//! server with a certificate `openssl req` makes, dnsmasq), each started inside the test's own
//! network namespace and killed on every exit path. Need root, python3, openssl and dnsmasq.
//!
//! Every namespace gets the same small lab: loopback, and a veth pair whose first end holds
//! 192.0.2.1/24 and 2001:db8::1/64 while the second holds nothing — so 192.0.2.2 and 2001:db8::2
//! never answer ARP or neighbour discovery, a blackhole that makes timeouts (the kernel would
//! report them unreachable only after ~3 s, longer than the short timeout); 198.51.100.0/24 has
//! no route. (A dummy interface would be simpler, but not every kernel here has the module.)

mod dns;
mod http;
mod icmp;
mod memory;
mod tcp;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::system::testns::TestNs;

use super::{run, ProbeSpec};

pub(super) const LOCAL_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
pub(super) const LOCAL_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
pub(super) const BLACKHOLE_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
pub(super) const BLACKHOLE_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));
pub(super) const UNROUTED_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));

/// The timeout the failing cases use: short, so the suite stays quick.
pub(super) const SHORT: Duration = Duration::from_millis(300);
/// The timeout the passing cases use: long enough for a loaded 2-core machine.
pub(super) const AMPLE: Duration = Duration::from_secs(3);

/// A namespace with the lab described in the module docs.
pub(super) fn lab() -> TestNs {
    let ns = TestNs::create();
    ns.ip(&[
        "link", "add", "probe0", "type", "veth", "peer", "name", "silent0",
    ]);
    ns.ip(&["addr", "add", "192.0.2.1/24", "dev", "probe0"]);
    ns.ip(&["addr", "add", "2001:db8::1/64", "dev", "probe0", "nodad"]);
    ns.ip(&["link", "set", "silent0", "up"]);
    ns.ip(&["link", "set", "probe0", "up"]);
    ns
}

/// Runs `body` inside `ns`, failing the test if it takes longer than `limit`.
pub(super) fn within<F, Fut>(ns: &TestNs, limit: Duration, body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    ns.run(move || async move {
        if tokio::time::timeout(limit, body()).await.is_err() {
            panic!("test body took longer than {limit:?}");
        }
    });
}

/// Runs `spec` until it passes (a server still starting fails it), panicking after 10 s.
pub(super) async fn wait_until_passes(spec: &ProbeSpec) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let verdict = run(spec, Duration::from_millis(500)).await;
        match verdict {
            Ok(()) => return,
            Err(reason) if tokio::time::Instant::now() > deadline => {
                panic!("{} never passed: {reason}", spec.describe())
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// A scratch directory under the system's temp dir, removed when dropped.
pub(super) struct Scratch {
    path: PathBuf,
}

impl Scratch {
    pub(super) fn new() -> Scratch {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "vipd-probe-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create scratch dir");
        Scratch { path }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` inside, as a string for command lines.
    pub(super) fn file(&self, name: &str) -> String {
        self.path.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A server process running inside a namespace; killed and reaped when dropped, and killed by
/// the kernel should the test process die first.
pub(super) struct Server {
    child: Child,
}

impl Server {
    /// Starts `program args…` in `ns`, its output in `<scratch>/<log>`.
    pub(super) fn start(
        ns: &TestNs,
        scratch: &Scratch,
        log: &str,
        program: &str,
        args: &[&str],
    ) -> Server {
        let output = std::fs::File::create(scratch.path().join(log)).expect("create server log");
        let errors = output.try_clone().expect("clone server log");
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", ns.name(), program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("start {program}: {error}"));
        Server { child }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP listener that accepts (the kernel's backlog does) but never reads nor answers.
pub(super) const SILENT_LISTENER: &str = "\
import socket, sys, time
listener = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((sys.argv[1], int(sys.argv[2])))
listener.listen(64)
time.sleep(3600)
";

/// The full path of `tool`; panics with `hint` when it is missing: these tests never skip
/// silently.
pub(super) fn tool(tool: &str, hint: &str) -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{tool} is needed by this test: {hint}"))
        .to_string_lossy()
        .into_owned()
}
