//! Scratch directories for the tests here and in `hooks`: root-owned, mode 0755, under /tmp,
//! removed on drop.

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
