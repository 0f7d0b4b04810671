//! `track_file`: a file holding a number, read at start and again whenever inotify sees it
//! written, moved in, moved away or deleted. The directory is watched, not the file, so creating,
//! replacing by rename and deleting are all seen. Parsing follows keepalived (`track_file.c`).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;

use super::{Report, TrackId, TrackUpdate, TrackerHandle};

/// keepalived reads at most this much of a track file.
const READ_LIMIT: u64 = 127;

/// keepalived's `init_file [VALUE] [overwrite]`: create the file with VALUE (default 0) when it
/// is missing, or always with `overwrite` (but never while reloading).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileInit {
    pub value: i64,
    pub overwrite: bool,
}

/// What reading a tracked file gave.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FileReading {
    /// The number in the file (an empty file, or one without a number, reads as 0).
    Number(i64),
    /// The file does not exist (or was moved away): keepalived counts it as 0.
    Absent,
    /// The file exists but could not be read: counted as 0, as keepalived does.
    Unreadable(String),
    /// A number out of range: keepalived ignores the read and keeps the previous value.
    Invalid(String),
}

impl FileReading {
    /// The value the router sees, or None when the previous value stands.
    pub fn value(&self) -> Option<i64> {
        match self {
            FileReading::Number(value) => Some(*value),
            FileReading::Absent | FileReading::Unreadable(_) => Some(0),
            FileReading::Invalid(_) => None,
        }
    }
}

/// Parses a track file's content as keepalived does with `strtol(buf, NULL, 0)`: leading white
/// space, an optional sign, then decimal, `0x` hexadecimal or `0` octal digits; anything after
/// the number is ignored and no number at all reads as 0. A number outside
/// `i32::MIN ..= i32::MAX + 1` is `Invalid` (keepalived logs it and keeps the old value).
pub fn parse_track_file(content: &[u8]) -> FileReading {
    let text = content;
    let mut at = text
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .unwrap_or(text.len());
    let negative = match text.get(at) {
        Some(b'-') => {
            at += 1;
            true
        }
        Some(b'+') => {
            at += 1;
            false
        }
        _ => false,
    };
    let rest = &text[at..];
    let (radix, digits) = match rest {
        [b'0', b'x' | b'X', next, ..] if next.is_ascii_hexdigit() => (16, &rest[2..]),
        [b'0', ..] => (8, rest),
        _ => (10, rest),
    };
    let mut magnitude: i128 = 0;
    for &byte in digits {
        let Some(digit) = char::from(byte).to_digit(radix) else {
            break;
        };
        magnitude = magnitude * i128::from(radix) + i128::from(digit);
        if magnitude > i128::from(i64::MAX) + 1 {
            return invalid(text);
        }
    }
    let value = if negative { -magnitude } else { magnitude };
    if value < i128::from(i32::MIN) || value > i128::from(i32::MAX) + 1 {
        return invalid(text);
    }
    FileReading::Number(value as i64)
}

fn invalid(text: &[u8]) -> FileReading {
    FileReading::Invalid(String::from_utf8_lossy(text).trim().to_string())
}

/// Reads the file now.
pub(super) fn read_track_file(path: &Path) -> FileReading {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return FileReading::Absent,
        Err(e) => return FileReading::Unreadable(e.to_string()),
    };
    let mut content = Vec::new();
    match file.take(READ_LIMIT).read_to_end(&mut content) {
        Ok(_) => parse_track_file(&content),
        Err(e) => FileReading::Unreadable(e.to_string()),
    }
}

/// keepalived's `init_file`: writes the value unless the file exists (without `overwrite`), is
/// not a regular file, or we are reloading.
fn initialise(path: &Path, init: FileInit, reload: bool) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(meta) => {
            if !init.overwrite || reload {
                return Ok(());
            }
            if !meta.is_file() {
                return Err(format!(
                    "cannot initialise track file {}: not a regular file",
                    path.display()
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("track file {}: {e}", path.display())),
    }
    let mut file = std::fs::File::create(path)
        .map_err(|e| format!("cannot initialise track file {}: {e}", path.display()))?;
    writeln!(file, "{}", init.value)
        .map_err(|e| format!("cannot initialise track file {}: {e}", path.display()))
}

/// The file's real path and the directory to watch: symlinks resolved once (keepalived's
/// realpath), a missing file resolved through its directory, which must exist.
fn resolve(path: &Path) -> Result<(PathBuf, OsString), String> {
    let resolved = match std::fs::canonicalize(path) {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let name = path
                .file_name()
                .ok_or_else(|| format!("track file {}: no file name", path.display()))?;
            let parent = match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            let dir = std::fs::canonicalize(parent)
                .ok()
                .filter(|dir| dir.is_dir())
                .ok_or_else(|| {
                    format!(
                        "track file {}: directory {} does not exist",
                        path.display(),
                        parent.display()
                    )
                })?;
            dir.join(name)
        }
        Err(e) => {
            return Err(format!(
                "track file {} is not accessible: {e}",
                path.display()
            ))
        }
    };
    let name = resolved
        .file_name()
        .ok_or_else(|| format!("track file {}: no file name", path.display()))?
        .to_os_string();
    Ok((resolved, name))
}

/// An inotify instance that tokio can poll.
struct Watch(Inotify);

impl AsRawFd for Watch {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// Starts watching `path`: creates it first when `init` says so, then reports its value at once
/// and after every change.
pub(super) fn spawn(
    id: TrackId,
    path: &Path,
    init: Option<FileInit>,
    reload: bool,
    updates: mpsc::Sender<TrackUpdate>,
) -> Result<TrackerHandle, String> {
    if let Some(init) = init {
        if let Err(e) = initialise(path, init, reload) {
            // keepalived reports this and still tracks the file.
            tracing::warn!(tracker = %id, "{e}");
        }
    }
    let (file, name) = resolve(path)?;
    let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
        .map_err(|e| format!("track file {}: inotify: {e}", path.display()))?;
    inotify
        .add_watch(
            &dir,
            AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_DELETE
                | AddWatchFlags::IN_MOVED_FROM
                | AddWatchFlags::IN_MOVED_TO,
        )
        .map_err(|e| {
            format!(
                "track file {}: watching {}: {e}",
                path.display(),
                dir.display()
            )
        })?;
    // SAFETY: the inotify descriptor is owned by `Watch` and neither closed nor replaced while
    // the AsyncFd lives.
    let watch = unsafe { AsyncFd::register_with_interest(Watch(inotify), Interest::READABLE) }
        .map_err(|e| format!("track file {}: {e}", path.display()))?;
    let task = tokio::spawn(watch_file(id, file, name, watch, updates));
    Ok(TrackerHandle::new(task))
}

async fn watch_file(
    id: TrackId,
    file: PathBuf,
    name: OsString,
    watch: AsyncFd<Watch>,
    updates: mpsc::Sender<TrackUpdate>,
) {
    let send = |reading| {
        updates.send(TrackUpdate {
            id,
            report: Report::File(reading),
        })
    };
    if send(read_track_file(&file)).await.is_err() {
        return;
    }
    loop {
        let mut ready = match watch.readable().await {
            Ok(ready) => ready,
            Err(e) => {
                let reason = format!("inotify: {e}");
                let _ = updates
                    .send(TrackUpdate {
                        id,
                        report: Report::Stopped(reason),
                    })
                    .await;
                return;
            }
        };
        let events = match ready.get_inner().0.read_events() {
            Ok(events) => events,
            Err(nix::errno::Errno::EAGAIN) => {
                ready.clear_ready();
                continue;
            }
            Err(e) => {
                let reason = format!("inotify: {e}");
                let _ = updates
                    .send(TrackUpdate {
                        id,
                        report: Report::Stopped(reason),
                    })
                    .await;
                return;
            }
        };
        // One reading per batch: the file's state after all of the batch's events.
        let mut touched = false;
        for event in &events {
            if event.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                touched = true;
            }
            if event.mask.contains(AddWatchFlags::IN_ISDIR) {
                continue;
            }
            if event.name.as_deref() == Some(name.as_os_str()) {
                touched = true;
            }
        }
        if touched && send(read_track_file(&file)).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use tokio::sync::mpsc;

    use super::{parse_track_file, read_track_file, FileInit, FileReading};
    use crate::track::{Report, TrackId, TrackUpdate};

    #[test]
    fn parsing_follows_strtol_with_base_zero() {
        let n = |text: &str| parse_track_file(text.as_bytes());
        assert_eq!(n("42\n"), FileReading::Number(42));
        assert_eq!(n("  -17 trailing words"), FileReading::Number(-17));
        assert_eq!(n("+5"), FileReading::Number(5));
        assert_eq!(n("0x1f"), FileReading::Number(31));
        assert_eq!(n("010"), FileReading::Number(8), "a leading 0 is octal");
        assert_eq!(n("08"), FileReading::Number(0), "8 is not an octal digit");
        assert_eq!(n("0x"), FileReading::Number(0));
        assert_eq!(n(""), FileReading::Number(0), "empty is 0");
        assert_eq!(n("garbage"), FileReading::Number(0), "no number is 0");
        assert_eq!(n("-"), FileReading::Number(0));
        assert_eq!(
            n("2147483648"),
            FileReading::Number(2_147_483_648),
            "INT32_MAX + 1 passes"
        );
        assert_eq!(n("-2147483648"), FileReading::Number(-2_147_483_648));
        assert!(matches!(n("2147483649"), FileReading::Invalid(_)));
        assert!(matches!(n("-2147483649"), FileReading::Invalid(_)));
        assert!(matches!(
            n("99999999999999999999999999999"),
            FileReading::Invalid(_)
        ));
        assert_eq!(FileReading::Invalid("x".into()).value(), None);
        assert_eq!(FileReading::Absent.value(), Some(0));
    }

    /// A directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("vipd-track-{tag}-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    async fn next_reading(rx: &mut mpsc::Receiver<TrackUpdate>) -> FileReading {
        let update = tokio::time::timeout(Duration::from_secs(2), rx.recv())
            .await
            .expect("a report within 2 s")
            .expect("the runner is alive");
        match update.report {
            Report::File(reading) => reading,
            other => panic!("not a file report: {other:?}"),
        }
    }

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
    }

    fn id() -> TrackId {
        TrackId {
            index: 0,
            generation: 0,
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn writes_renames_and_deletes_are_reported() {
        let dir = TempDir::new("events");
        let file = dir.path("weight");
        write(&file, "5\n");
        let (tx, mut rx) = mpsc::channel(16);
        let _handle = super::spawn(id(), &file, None, false, tx).unwrap();
        assert_eq!(
            next_reading(&mut rx).await,
            FileReading::Number(5),
            "read at start"
        );

        write(&file, "-3\n");
        assert_eq!(
            next_reading(&mut rx).await,
            FileReading::Number(-3),
            "a write"
        );

        let staged = dir.path(".weight.new");
        write(&staged, "12\n");
        std::fs::rename(&staged, &file).unwrap();
        assert_eq!(
            next_reading(&mut rx).await,
            FileReading::Number(12),
            "replace by rename"
        );

        std::fs::remove_file(&file).unwrap();
        assert_eq!(next_reading(&mut rx).await, FileReading::Absent, "deleted");

        write(&file, "7");
        assert_eq!(
            next_reading(&mut rx).await,
            FileReading::Number(7),
            "created again"
        );

        std::fs::rename(&file, dir.path("elsewhere")).unwrap();
        assert_eq!(
            next_reading(&mut rx).await,
            FileReading::Absent,
            "moved away"
        );

        write(&dir.path("other"), "99");
        let quiet = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await;
        assert!(
            quiet.is_err(),
            "another file in the directory is ignored: {quiet:?}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_missing_file_reads_as_absent_until_created() {
        let dir = TempDir::new("missing");
        let file = dir.path("later");
        let (tx, mut rx) = mpsc::channel(16);
        let _handle = super::spawn(id(), &file, None, false, tx).unwrap();
        assert_eq!(next_reading(&mut rx).await, FileReading::Absent);
        write(&file, "garbage\n");
        assert_eq!(
            next_reading(&mut rx).await,
            FileReading::Number(0),
            "garbage is 0"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_missing_directory_is_a_configuration_error() {
        let dir = TempDir::new("nodir");
        let (tx, _rx) = mpsc::channel(16);
        let error = super::spawn(id(), &dir.path("no/such/file"), None, false, tx).unwrap_err();
        assert!(error.contains("does not exist"), "{error}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn init_file_creates_the_file_and_overwrites_only_when_asked() {
        let dir = TempDir::new("init");
        let file = dir.path("made");
        let (tx, mut rx) = mpsc::channel(16);
        let init = FileInit {
            value: -20,
            overwrite: false,
        };
        let handle = super::spawn(id(), &file, Some(init), false, tx.clone()).unwrap();
        assert_eq!(next_reading(&mut rx).await, FileReading::Number(-20));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "-20\n");
        drop(handle);

        write(&file, "3\n");
        let handle = super::spawn(id(), &file, Some(init), false, tx.clone()).unwrap();
        assert_eq!(next_reading(&mut rx).await, FileReading::Number(3), "kept");
        drop(handle);

        let overwrite = FileInit {
            value: 9,
            overwrite: true,
        };
        let handle = super::spawn(id(), &file, Some(overwrite), true, tx.clone()).unwrap();
        assert_eq!(
            next_reading(&mut rx).await,
            FileReading::Number(3),
            "not on reload"
        );
        drop(handle);
        let _handle = super::spawn(id(), &file, Some(overwrite), false, tx).unwrap();
        assert_eq!(
            next_reading(&mut rx).await,
            FileReading::Number(9),
            "overwritten"
        );
    }

    #[test]
    fn an_unreadable_path_counts_as_zero() {
        let dir = TempDir::new("unreadable");
        // A directory in the file's place cannot be read as a file.
        std::fs::create_dir(dir.path("adir")).unwrap();
        let reading = read_track_file(&dir.path("adir"));
        assert!(matches!(reading, FileReading::Unreadable(_)), "{reading:?}");
        assert_eq!(reading.value(), Some(0));
    }
}
