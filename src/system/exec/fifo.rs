//! The notify FIFOs: opened without blocking, one whole line per write, never blocking the
//! daemon (a full or unread FIFO drops the line).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

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
