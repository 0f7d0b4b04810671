//! [`SystemError`], the error every `system` module returns: each variant says what the operator
//! can do about it.

use std::io;

/// What went wrong in the system layer, phrased so that the log line says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    #[error("{op}: permission denied; vipd needs CAP_NET_ADMIN (run as root or grant AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW)")]
    PermissionDenied { op: String },
    #[error("{op}: interface {name} does not exist (yet); it will be used when it appears")]
    NoSuchInterface { op: String, name: String },
    #[error("{op}: interface name {name} is taken by a link vipd did not create ({why}); rename or remove it, or configure another name")]
    NameTaken {
        op: String,
        name: String,
        why: String,
    },
    #[error("{op}: kernel refused: {message} (errno {errno})")]
    Kernel {
        op: String,
        errno: i32,
        message: String,
    },
    #[error("{op}: {source}")]
    Io {
        op: String,
        #[source]
        source: io::Error,
    },
    #[error("{op}: invalid request: {why}")]
    Invalid { op: String, why: String },
    #[error("the `nft` command was not found; install the Debian package `nftables` (needed for no_accept)")]
    NftMissing,
    #[error("nft {op} failed: {message}")]
    Nft { op: String, message: String },
    #[error("{op}: must run inside a tokio runtime")]
    NoRuntime { op: String },
}

impl SystemError {
    /// The errno behind this error, when the kernel gave one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            SystemError::Kernel { errno, .. } => Some(*errno),
            SystemError::PermissionDenied { .. } => Some(libc::EPERM),
            SystemError::NoSuchInterface { .. } => Some(libc::ENODEV),
            SystemError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    pub(crate) fn from_errno(op: &str, subject: &str, errno: i32) -> Self {
        match errno {
            libc::EPERM | libc::EACCES => SystemError::PermissionDenied { op: op.to_string() },
            libc::ENODEV => SystemError::NoSuchInterface {
                op: op.to_string(),
                name: subject.to_string(),
            },
            _ => SystemError::Kernel {
                op: op.to_string(),
                errno,
                message: io::Error::from_raw_os_error(errno).to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_errors_say_what_to_do() {
        let eperm = SystemError::from_errno("add address", "eth0", libc::EPERM);
        assert!(eperm.to_string().contains("CAP_NET_ADMIN"), "{eperm}");
        assert_eq!(eperm.errno(), Some(libc::EPERM));
        let enodev = SystemError::from_errno("add address", "eth9", libc::ENODEV);
        assert!(
            enodev
                .to_string()
                .contains("interface eth9 does not exist (yet)"),
            "{enodev}"
        );
        let other = SystemError::from_errno("add route", "", libc::ENETUNREACH);
        assert_eq!(other.errno(), Some(libc::ENETUNREACH));
        assert!(other.to_string().contains("unreachable"), "{other}");
    }
}
