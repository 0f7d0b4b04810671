//! Giving back the executable's pages that only start-up used.
//!
//! Most of vipd's resident memory is its own binary's code and read-only data, mapped from the
//! page cache: reading the configuration (YAML, keepalived.conf, clap), checking it and the first
//! netlink dumps run once, spread over the whole text, and the kernel maps every cached page
//! around each fault (fault-around, up to 64 KiB; files in large folios are cached whole). Once
//! the daemon has started, [`release_startup_code`] drops the page-table entries of the binary's
//! read-only mappings; what the event loop runs faults back in as it runs (the pages stay in the
//! page cache, so a fault costs no I/O).
//!
//! Only mappings the process can never have changed are released: private, not writable, from
//! the executable's own file, with no anonymous (copy-on-write) or swapped page and nothing
//! locked. Dropping such a mapping's entries loses nothing; the next access reads the same bytes
//! from the file. Relocated data (`.data.rel.ro` after RELRO), `.data`, `.bss`, the heap, stacks
//! and shared libraries are never touched.

use std::io;
use std::os::unix::fs::MetadataExt;

/// What [`release_startup_code`] gave back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Released {
    /// Mappings whose pages were dropped.
    pub mappings: usize,
    /// Their resident size just before, in KiB.
    pub resident_kib: u64,
}

/// Drops the resident pages of the executable's never-written read-only mappings (see the
/// module's doc). Call it when start-up (or a reload) is done; the steady state's code faults
/// back in as it runs.
pub fn release_startup_code() -> io::Result<Released> {
    let exe = std::fs::metadata("/proc/self/exe")?;
    let file = FileId {
        major: libc::major(exe.dev()),
        minor: libc::minor(exe.dev()),
        inode: exe.ino(),
    };
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut released = Released::default();
    for region in releasable_regions(&smaps, file) {
        // SAFETY: the range is one whole mapping of this process, private, not writable, with no
        // anonymous or swapped page: MADV_DONTNEED only removes page-table entries, and the next
        // access faults in the same bytes from the file. Nothing in vipd makes such a mapping
        // writable (no mprotect of its own code), so it cannot gain a private page meanwhile.
        let done = unsafe {
            libc::madvise(
                region.start as *mut libc::c_void,
                region.end - region.start,
                libc::MADV_DONTNEED,
            )
        };
        if done != 0 {
            return Err(io::Error::last_os_error());
        }
        released.mappings += 1;
        released.resident_kib += region.resident_kib;
    }
    Ok(released)
}

/// [`release_startup_code`], logged at debug level; a failure costs only memory.
pub fn release_startup_code_logged(after: &str) {
    match release_startup_code() {
        Ok(released) => tracing::debug!(
            "after {after}: released {} KiB of the executable's read-only pages ({} mappings)",
            released.resident_kib,
            released.mappings
        ),
        Err(e) => tracing::debug!("after {after}: the executable's pages kept: {e}"),
    }
}

/// A file as /proc/PID/maps names it: device numbers and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId {
    major: u32,
    minor: u32,
    inode: u64,
}

#[derive(Debug, PartialEq, Eq)]
struct Region {
    start: usize,
    end: usize,
    resident_kib: u64,
}

/// One mapping of /proc/PID/smaps: its header line and the fields that decide.
#[derive(Default)]
struct Mapping {
    start: usize,
    end: usize,
    private_read_only: bool,
    of_file: bool,
    rss_kib: u64,
    /// Anonymous + Swap + Locked, in KiB: anything but zero keeps the mapping.
    kept_kib: u64,
}

impl Mapping {
    fn releasable(&self) -> Option<Region> {
        let untouched = self.of_file && self.private_read_only && self.kept_kib == 0;
        (untouched && self.rss_kib > 0).then_some(Region {
            start: self.start,
            end: self.end,
            resident_kib: self.rss_kib,
        })
    }
}

/// The mappings of `file` in `smaps` that may be released. A header line it cannot read ends the
/// mapping before it and starts none (the fields after it are then ignored).
fn releasable_regions(smaps: &str, file: FileId) -> Vec<Region> {
    let mut regions = Vec::new();
    let mut current: Option<Mapping> = None;
    for line in smaps.lines() {
        if is_header(line) {
            regions.extend(current.take().and_then(|m| m.releasable()));
            current = header(line, file);
        } else if let (Some(mapping), Some((name, kib))) = (current.as_mut(), size_field(line)) {
            match name {
                "Rss" => mapping.rss_kib = kib,
                "Anonymous" | "Swap" | "Locked" => mapping.kept_kib += kib,
                _ => {}
            }
        }
    }
    regions.extend(current.and_then(|m| m.releasable()));
    regions
}

/// A mapping's first line starts with its address range (`7f00…-7f00…`); its fields with a name
/// and a colon.
fn is_header(line: &str) -> bool {
    line.split_whitespace()
        .next()
        .and_then(|range| range.split_once('-'))
        .is_some_and(|(start, end)| {
            !start.is_empty()
                && start.bytes().all(|b| b.is_ascii_hexdigit())
                && end.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

/// `Name:   123 kB` → `("Name", 123)`; `None` for a field that is not a size.
fn size_field(line: &str) -> Option<(&str, u64)> {
    let (name, rest) = line.split_once(':')?;
    let kib = rest.trim().strip_suffix(" kB")?.trim().parse().ok()?;
    Some((name, kib))
}

/// `start-end perms offset major:minor inode [path]`.
fn header(line: &str, file: FileId) -> Option<Mapping> {
    let mut words = line.split_whitespace();
    let (start, end) = words.next()?.split_once('-')?;
    let perms = words.next()?.as_bytes();
    let _offset = words.next()?;
    let (major, minor) = words.next()?.split_once(':')?;
    let inode: u64 = words.next()?.parse().ok()?;
    let major = u32::from_str_radix(major, 16).ok()?;
    let minor = u32::from_str_radix(minor, 16).ok()?;
    Some(Mapping {
        start: usize::from_str_radix(start, 16).ok()?,
        end: usize::from_str_radix(end, 16).ok()?,
        private_read_only: perms.len() == 4
            && perms[0] == b'r'
            && perms[1] == b'-'
            && perms[3] == b'p',
        of_file: inode != 0
            && FileId {
                major,
                minor,
                inode,
            } == file,
        ..Mapping::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXE: FileId = FileId {
        major: 0xfd,
        minor: 1,
        inode: 4242,
    };

    /// A mapping as smaps prints it, with the fields that decide.
    fn mapping(range: &str, perms: &str, inode: u64, rss: u64, anon: u64, swap: u64) -> String {
        format!(
            "{range} {perms} 00000000 fd:01 {inode}    /usr/sbin/vipd\n\
             Size:               1312 kB\n\
             KernelPageSize:        4 kB\n\
             Rss:                {rss} kB\n\
             Pss:                {rss} kB\n\
             Anonymous:          {anon} kB\n\
             Swap:               {swap} kB\n\
             Locked:                0 kB\n\
             THPeligible:           0\n\
             VmFlags: rd mr mw me sd\n"
        )
    }

    #[test]
    fn only_never_written_read_only_mappings_of_the_executable_are_released() {
        let smaps = [
            mapping("1000-2000", "r--p", 4242, 696, 0, 0),
            mapping("2000-5000", "r-xp", 4242, 3884, 0, 0),
            // RELRO: read-only now, but written by the relocations.
            mapping("5000-6000", "r--p", 4242, 120, 120, 0),
            mapping("6000-7000", "rw-p", 4242, 12, 12, 0),
            // A copy-on-write page swapped out.
            mapping("7000-8000", "r-xp", 4242, 4, 0, 4),
            // Another file (libc), and a shared mapping of the executable.
            mapping("8000-9000", "r-xp", 777, 1240, 0, 0),
            mapping("9000-a000", "r--s", 4242, 8, 0, 0),
            // Nothing resident: nothing to release.
            mapping("a000-b000", "r--p", 4242, 0, 0, 0),
        ]
        .concat();
        let regions = releasable_regions(&smaps, EXE);
        assert_eq!(
            regions,
            vec![
                Region {
                    start: 0x1000,
                    end: 0x2000,
                    resident_kib: 696
                },
                Region {
                    start: 0x2000,
                    end: 0x5000,
                    resident_kib: 3884
                },
            ]
        );
    }

    #[test]
    fn a_locked_mapping_is_kept() {
        let smaps = mapping("2000-5000", "r-xp", 4242, 3884, 0, 0)
            .replace("Locked:                0 kB", "Locked:             3884 kB");
        assert!(releasable_regions(&smaps, EXE).is_empty());
    }

    #[test]
    fn a_device_other_than_the_executables_is_another_file() {
        let smaps = mapping("2000-5000", "r-xp", 4242, 3884, 0, 0).replace("fd:01", "fd:02");
        assert!(releasable_regions(&smaps, EXE).is_empty());
    }

    /// Resident KiB of this test binary's own executable mapping(s).
    fn executable_code_resident_kib() -> u64 {
        let exe = std::fs::metadata("/proc/self/exe").unwrap();
        let inode = exe.ino().to_string();
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut total = 0;
        let mut in_code = false;
        for line in smaps.lines() {
            if is_header(line) {
                let words: Vec<&str> = line.split_whitespace().collect();
                in_code = words.get(1) == Some(&"r-xp") && words.get(4) == Some(&inode.as_str());
            } else if let Some(("Rss", kib)) = size_field(line).filter(|_| in_code) {
                total += kib;
            }
        }
        total
    }

    #[test]
    fn released_code_faults_back_in_and_runs() {
        let before = executable_code_resident_kib();
        assert!(
            before > 0,
            "the test binary's code is resident while it runs"
        );
        let released = release_startup_code().expect("release the executable's pages");
        assert!(released.mappings >= 1, "{released:?}");
        assert!(released.resident_kib > 0, "{released:?}");
        // Other tests run meanwhile and fault their code back in, but far from all of it.
        let after = executable_code_resident_kib();
        assert!(
            after < before,
            "resident code {before} KiB before, {after} KiB after"
        );
        // The code that ran before the release runs again: the parser finds the same mappings.
        let again = release_startup_code().expect("release again");
        assert!(again.mappings >= 1, "{again:?}");
    }
}
