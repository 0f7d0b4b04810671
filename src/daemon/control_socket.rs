//! The control socket's file and accept loop: the socket is bound inside a fresh 0700 directory,
//! made 0600 there and only then renamed into the runtime directory, so no one ever sees it with
//! wider permissions whatever the umask; a failing `accept` (EMFILE, ENFILE, ENOBUFS…) waits
//! with exponential backoff instead of spinning the runtime.

use std::future::Future;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::UnixListener;

/// The socket's permissions: the owner only (root, or the service's own user).
pub const SOCKET_MODE: u32 = 0o600;

/// Binds a Unix listener at `path` (which must not exist) with mode [`SOCKET_MODE`] from the
/// moment it becomes reachable there.
pub fn bind_private(path: &Path) -> io::Result<UnixListener> {
    let dir = path.parent().unwrap_or(Path::new("."));
    if path.file_name().is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "socket path has no name",
        ));
    }
    let staging = staging_dir(dir);
    // Left over by a crash between mkdir and the cleanup below: ours to remove.
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::DirBuilder::new().mode(0o700).create(&staging)?;
    let result = bind_in(&staging, path);
    let _ = std::fs::remove_dir_all(&staging);
    result
}

/// A socket path is limited to 107 bytes: the staged path (`.<pid in hex>/s`, at most 10 bytes
/// after `dir/`) is no longer than the final one with its usual name `vipd.sock`, so a runtime
/// directory that fits the socket fits the staging too.
fn staging_dir(dir: &Path) -> PathBuf {
    dir.join(format!(".{:x}", std::process::id()))
}

fn bind_in(staging: &Path, path: &Path) -> io::Result<UnixListener> {
    let hidden = staging.join("s");
    let listener = UnixListener::bind(&hidden)?;
    std::fs::set_permissions(&hidden, std::fs::Permissions::from_mode(SOCKET_MODE))?;
    // rename(2) moves the inode, the listener stays bound to it.
    std::fs::rename(&hidden, path)?;
    Ok(listener)
}

/// The wait after the first failed accept, doubled on each further failure up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(10);
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Accepts connections forever, handing each to `handle`; after a failure it sleeps (10 ms,
/// doubling to 1 s, back to 10 ms after a success) and logs the first failure of each run.
pub async fn accept_loop<S, A, Fut>(mut accept: A, mut handle: impl FnMut(S))
where
    A: FnMut() -> Fut,
    Fut: Future<Output = io::Result<S>>,
{
    let mut backoff: Option<Duration> = None;
    loop {
        match accept().await {
            Ok(stream) => {
                if backoff.take().is_some() {
                    tracing::info!("control socket: accepting connections again");
                }
                handle(stream);
            }
            Err(e) => {
                let wait = match backoff {
                    None => {
                        tracing::warn!("control socket: accept failed: {e}; backing off");
                        FIRST_BACKOFF
                    }
                    Some(previous) => (previous * 2).min(MAX_BACKOFF),
                };
                backoff = Some(wait);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::os::unix::fs::FileTypeExt;
    use std::rc::Rc;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("vipd-control-socket-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn socket_appears_in_the_runtime_dir_only_by_rename_and_already_0600() {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        let dir = scratch("rename");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK).unwrap();
        inotify
            .add_watch(
                &dir,
                AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_ATTRIB,
            )
            .unwrap();
        let path = dir.join("vipd.sock");
        let listener = bind_private(&path).unwrap();

        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, SOCKET_MODE);
        let events = inotify.read_events().unwrap();
        let socket_events: Vec<_> = events
            .iter()
            .filter(|e| e.name.as_deref() == Some(std::ffi::OsStr::new("vipd.sock")))
            .map(|e| e.mask)
            .collect();
        // Created (and chmod-ed) elsewhere: the runtime dir sees one rename, nothing else.
        assert_eq!(
            socket_events,
            vec![AddWatchFlags::IN_MOVED_TO],
            "{events:?}"
        );
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("vipd.sock")]);

        let client = tokio::net::UnixStream::connect(&path);
        let (accepted, connected) = tokio::join!(listener.accept(), client);
        accepted.unwrap();
        connected.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_runtime_dir_whose_socket_path_is_at_the_limit_still_binds() {
        let base = scratch("limit");
        std::fs::create_dir_all(&base).unwrap();
        // sun_path holds 107 bytes and a NUL: make `<dir>/vipd.sock` exactly 107 bytes long.
        let room = 107 - base.as_os_str().len() - "/".len() - "/vipd.sock".len();
        let dir = base.join("d".repeat(room));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vipd.sock");
        assert_eq!(path.as_os_str().len(), 107);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = runtime.enter();
        let bound = bind_private(&path);
        std::fs::remove_dir_all(&base).unwrap();
        bound.expect("a socket path of 107 bytes binds, staging included");
    }

    #[test]
    fn a_failed_bind_leaves_no_staging_dir_behind() {
        let base = scratch("fails");
        // Longer than sun_path once inside the staging dir: bind itself fails.
        let dir = base.join("d".repeat(100));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vipd.sock");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = runtime.enter();
        assert!(bind_private(&path).is_err());
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(names.is_empty(), "left behind: {names:?}");
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn failing_accepts_back_off_exponentially_and_recover() {
        let calls: Rc<RefCell<Vec<tokio::time::Instant>>> = Rc::default();
        let accepted = Rc::new(RefCell::new(0u32));
        let start = tokio::time::Instant::now();
        let failures = 12;
        let accept = {
            let calls = calls.clone();
            move || {
                let calls = calls.clone();
                async move {
                    let n = {
                        let mut calls = calls.borrow_mut();
                        calls.push(tokio::time::Instant::now());
                        calls.len()
                    };
                    if n <= failures {
                        Err(io::Error::from_raw_os_error(libc::EMFILE))
                    } else {
                        // Every accept after the failures succeeds after 100 ms.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Ok(n)
                    }
                }
            }
        };
        let counter = accepted.clone();
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async move {
                let task = tokio::task::spawn_local(accept_loop(accept, move |_n: usize| {
                    *counter.borrow_mut() += 1
                }));
                tokio::time::sleep(Duration::from_secs(10)).await;
                task.abort();
            })
            .await;
        let calls = calls.borrow();
        let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1] - w[0]).collect();
        // 10, 20, 40, … 640 ms, then capped at 1 s: a dozen failures span seconds, not a spin.
        let expected_failure_gaps: Vec<Duration> = (0..failures - 1)
            .map(|i| (FIRST_BACKOFF * 2u32.pow(i as u32)).min(MAX_BACKOFF))
            .collect();
        assert_eq!(gaps[..failures - 1], expected_failure_gaps[..]);
        assert!(calls[failures - 1] - start > Duration::from_secs(3));
        assert!(
            *accepted.borrow() > 5,
            "accepting resumed after the failures"
        );
    }
}
