//! Which processes a `track_process` counts, as keepalived matches them (`track_process.c`):
//! the name against `/proc/PID/comm` (exactly; the kernel keeps 15 bytes of it), or with
//! `full_command` against argv\[0\] of `/proc/PID/cmdline`, then the parameters by
//! `param_match`. Zombies are never counted. Reading /proc is the only I/O here.

use std::io::Read;

use super::{ParamMatch, ProcessSpec};

/// What a process looks like to the matcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Seen {
    /// /proc/PID/comm without its newline (None when the spec matches the command line).
    pub(super) comm: Option<Vec<u8>>,
    /// /proc/PID/cmdline, at most [`ProcessSpec::cmdline_bytes_needed`] of it.
    pub(super) cmdline: Option<Vec<u8>>,
}

impl ProcessSpec {
    /// The configured parameters as keepalived lays them out: each followed by a NUL, exactly as
    /// they appear in /proc/PID/cmdline.
    fn param_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for param in &self.params {
            bytes.extend_from_slice(param.as_bytes());
            bytes.push(0);
        }
        bytes
    }

    /// How much of a command line is worth reading: enough to tell "exactly this" from "longer"
    /// without reading a whole (possibly swapped-out) argument list.
    pub(super) fn cmdline_bytes_needed(&self) -> usize {
        self.name.len() + 1 + self.param_bytes().len() + 2
    }

    /// Whether a process with this comm / command line is one of ours.
    pub(super) fn matches(&self, seen: &Seen) -> bool {
        if !self.full_command {
            return seen.comm.as_deref() == Some(self.name.as_bytes());
        }
        let Some(cmdline) = seen.cmdline.as_deref() else {
            return false;
        };
        let (argv0, params) = match cmdline.iter().position(|&b| b == 0) {
            Some(end) => (&cmdline[..end], &cmdline[end + 1..]),
            None => (cmdline, &[][..]),
        };
        argv0 == self.name.as_bytes() && self.params_match(params)
    }

    /// keepalived's check_params on the bytes after argv\[0\]'s NUL.
    fn params_match(&self, actual: &[u8]) -> bool {
        let wanted = self.param_bytes();
        match self.param_match {
            ParamMatch::None => true,
            ParamMatch::Exact => actual == wanted.as_slice(),
            _ if wanted.is_empty() => true,
            ParamMatch::Partial => actual.starts_with(&wanted),
            // The last parameter may be longer than configured: compare without its NUL.
            ParamMatch::Initial => actual.starts_with(&wanted[..wanted.len() - 1]),
        }
    }
}

/// Reads what the spec needs of process `pid` now; None when it is gone (or a zombie, for a
/// scan).
pub(super) fn look_at(spec: &ProcessSpec, pid: i32, scanning: bool) -> Option<Seen> {
    if spec.full_command {
        let file = std::fs::File::open(format!("/proc/{pid}/cmdline")).ok()?;
        let mut cmdline = Vec::new();
        file.take(spec.cmdline_bytes_needed() as u64)
            .read_to_end(&mut cmdline)
            .ok()?;
        return Some(Seen {
            comm: None,
            cmdline: Some(cmdline),
        });
    }
    if scanning {
        // /proc/PID/stat gives the name and the state together: "PID (comm) S ...".
        let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
        let open = stat.iter().position(|&b| b == b'(')?;
        let close = stat.iter().rposition(|&b| b == b')')?;
        if close < open || stat.get(close + 2) == Some(&b'Z') {
            return None;
        }
        return Some(Seen {
            comm: Some(stat[open + 1..close].to_vec()),
            cmdline: None,
        });
    }
    // One read: the kernel gives a comm (at most 15 bytes and a newline) whole.
    let mut buf = [0u8; 32];
    let len = std::fs::File::open(format!("/proc/{pid}/comm"))
        .and_then(|mut file| file.read(&mut buf))
        .ok()?;
    let comm = buf[..len].strip_suffix(b"\n").unwrap_or(&buf[..len]);
    Some(Seen {
        comm: Some(comm.to_vec()),
        cmdline: None,
    })
}

/// The parent of process `pid` (the fourth field of `/proc/PID/stat`), if it still runs.
pub(super) fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    // "PID (comm) S PPID ...": the comm may hold spaces and parentheses, so from the last ')'.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    rest.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// Every process on the system that matches now.
pub(super) fn scan(spec: &ProcessSpec) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| look_at(spec, pid, true).is_some_and(|seen| spec.matches(&seen)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Seen;
    use crate::track::{ParamMatch, ProcessSpec};

    fn comm(name: &str) -> Seen {
        Seen {
            comm: Some(name.as_bytes().to_vec()),
            cmdline: None,
        }
    }

    fn cmdline(args: &[&str]) -> Seen {
        let mut bytes = Vec::new();
        for arg in args {
            bytes.extend_from_slice(arg.as_bytes());
            bytes.push(0);
        }
        Seen {
            comm: None,
            cmdline: Some(bytes),
        }
    }

    fn spec(name: &str, params: &[&str], param_match: Option<ParamMatch>) -> ProcessSpec {
        ProcessSpec::new(name)
            .with_params(params.iter().map(|p| p.to_string()).collect(), param_match)
    }

    #[test]
    fn by_default_the_name_is_matched_exactly_against_comm() {
        let spec = ProcessSpec::new("nginx");
        assert!(spec.matches(&comm("nginx")));
        assert!(
            !spec.matches(&comm("nginx-debug")),
            "not pgrep's substring match"
        );
        assert!(!spec.matches(&comm("ngin")));
        assert!(
            !spec.matches(&cmdline(&["nginx"])),
            "comm, not the command line"
        );
    }

    #[test]
    fn full_command_matches_argv0() {
        let mut spec = ProcessSpec::new("/usr/sbin/haproxy");
        spec.full_command = true;
        assert!(
            spec.matches(&cmdline(&["/usr/sbin/haproxy", "-f", "x"])),
            "params ignored"
        );
        assert!(!spec.matches(&cmdline(&["haproxy"])));
    }

    #[test]
    fn params_imply_full_command_and_an_exact_match() {
        let spec = spec("sleep", &["1000"], None);
        assert!(spec.full_command);
        assert_eq!(spec.param_match, ParamMatch::Exact);
        assert!(spec.matches(&cmdline(&["sleep", "1000"])));
        assert!(!spec.matches(&cmdline(&["sleep", "10000"])));
        assert!(!spec.matches(&cmdline(&["sleep", "1000", "more"])));
        assert!(!spec.matches(&cmdline(&["sleep"])));
    }

    #[test]
    fn param_match_alone_means_no_parameters_at_all() {
        let spec = spec("sleep", &[], Some(ParamMatch::Exact));
        assert!(spec.matches(&cmdline(&["sleep"])));
        assert!(!spec.matches(&cmdline(&["sleep", "1"])));
    }

    #[test]
    fn partial_matches_the_first_parameters_exactly() {
        let spec = spec("app", &["-c", "conf"], Some(ParamMatch::Partial));
        assert!(spec.matches(&cmdline(&["app", "-c", "conf"])));
        assert!(spec.matches(&cmdline(&["app", "-c", "conf", "-v"])));
        assert!(!spec.matches(&cmdline(&["app", "-c", "config"])));
        assert!(!spec.matches(&cmdline(&["app", "-c"])));
    }

    #[test]
    fn initial_lets_the_last_parameter_be_longer() {
        let spec = spec("app", &["-c", "conf"], Some(ParamMatch::Initial));
        assert!(spec.matches(&cmdline(&["app", "-c", "config.yaml"])));
        assert!(spec.matches(&cmdline(&["app", "-c", "conf", "-v"])));
        assert!(!spec.matches(&cmdline(&["app", "-c", "cof"])));
        assert!(!spec.matches(&cmdline(&["app", "-x", "conf"])));
    }

    #[test]
    fn only_the_needed_part_of_a_command_line_is_read() {
        let spec = spec("sleep", &["1000"], None);
        assert_eq!(spec.cmdline_bytes_needed(), 6 + 5 + 2);
        // A longer argument, cut where the reader stops, still does not match exactly.
        let mut long = cmdline(&["sleep", "100000000"]);
        long.cmdline
            .as_mut()
            .unwrap()
            .truncate(spec.cmdline_bytes_needed());
        assert!(!spec.matches(&long));
    }

    #[test]
    fn our_own_process_is_seen_by_a_scan() {
        let me = std::process::id() as i32;
        let seen = super::look_at(&ProcessSpec::new("x"), me, true).expect("we exist");
        let name = seen.comm.clone().unwrap();
        assert!(super::scan(&ProcessSpec::new(std::str::from_utf8(&name).unwrap())).contains(&me));
        let by_comm = super::look_at(&ProcessSpec::new("x"), me, false).expect("we exist");
        assert_eq!(
            by_comm.comm,
            Some(name),
            "/proc/PID/comm without its newline"
        );
    }

    #[test]
    fn the_parent_is_read_from_stat() {
        let me = std::process::id() as i32;
        assert_eq!(
            super::parent_of(me),
            Some(std::os::unix::process::parent_id() as i32)
        );
        assert_eq!(super::parent_of(1 << 23), None, "no such process");
    }
}
