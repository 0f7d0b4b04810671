//! What the command-line tests share: a scratch directory per test, removed on drop.

use std::path::PathBuf;

pub struct Scratch(pub PathBuf);

impl Scratch {
    /// `suite` and `tag` name the directory, so parallel tests never share one.
    pub fn new(suite: &str, tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("vipd-{suite}-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
