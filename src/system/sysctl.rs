//! Per-interface sysctls under /proc/sys/net (arp_ignore, arp_filter, accept_local, rp_filter,
//! accept_dad …) and a registry that remembers each value's original before vipd first changes
//! it, so it can be put back on exit or when an instance goes away. /proc/sys/net belongs to the
//! network namespace of the thread that opens it.

use std::fs;
use std::io;
use std::path::PathBuf;

use crate::system::error::SystemError;

/// One sysctl file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sysctl {
    /// The interface it belongs to, when it is a per-interface knob.
    interface: Option<String>,
    path: PathBuf,
}

impl Sysctl {
    /// `net.ipv4.conf.<ifname>.<knob>`.
    pub fn ipv4_conf(ifname: &str, knob: &str) -> Sysctl {
        Self::per_interface("ipv4", ifname, knob)
    }

    /// `net.ipv6.conf.<ifname>.<knob>`.
    pub fn ipv6_conf(ifname: &str, knob: &str) -> Sysctl {
        Self::per_interface("ipv6", ifname, knob)
    }

    /// Any sysctl by its dotted name, e.g. `net.ipv4.ip_forward`. Interface names containing a
    /// dot (`vrrp.60`) cannot be written this way; use [`Sysctl::ipv4_conf`].
    pub fn from_dotted(name: &str) -> Sysctl {
        let mut path = PathBuf::from("/proc/sys");
        path.extend(name.split('.'));
        Sysctl {
            interface: None,
            path,
        }
    }

    fn per_interface(family: &str, ifname: &str, knob: &str) -> Sysctl {
        // Joined component by component: interface names may contain dots.
        let path: PathBuf = ["/proc/sys/net", family, "conf", ifname, knob]
            .iter()
            .collect();
        Sysctl {
            interface: Some(ifname.to_string()),
            path,
        }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub fn interface(&self) -> Option<&str> {
        self.interface.as_deref()
    }

    /// The current value, trimmed.
    pub fn read(&self) -> Result<String, SystemError> {
        fs::read_to_string(&self.path)
            .map(|v| v.trim().to_string())
            .map_err(|e| self.error("read", e))
    }

    pub fn write(&self, value: &str) -> Result<(), SystemError> {
        fs::write(&self.path, value).map_err(|e| self.error("write", e))
    }

    fn error(&self, verb: &str, source: io::Error) -> SystemError {
        let op = format!("{verb} sysctl {}", self.path.display());
        match (source.kind(), &self.interface) {
            (io::ErrorKind::NotFound, Some(name)) => SystemError::NoSuchInterface {
                op,
                name: name.clone(),
            },
            (io::ErrorKind::PermissionDenied, _) => SystemError::PermissionDenied { op },
            _ => SystemError::Io { op, source },
        }
    }
}

/// Sysctls vipd changed, with their values from before the first change. Dropping the registry
/// restores whatever is still recorded.
#[derive(Debug, Default)]
pub struct SysctlRegistry {
    originals: Vec<(Sysctl, String)>,
}

impl SysctlRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `sysctl` to `value`, remembering the value it had before vipd first touched it.
    pub fn set(&mut self, sysctl: Sysctl, value: &str) -> Result<(), SystemError> {
        if !self.originals.iter().any(|(s, _)| *s == sysctl) {
            let original = sysctl.read()?;
            if original == value {
                // Nothing to change, nothing to restore: someone else's setting stays theirs.
                return Ok(());
            }
            sysctl.write(value)?;
            self.originals.push((sysctl, original));
            return Ok(());
        }
        sysctl.write(value)
    }

    /// The sysctls currently changed, with their original values.
    pub fn changed(&self) -> &[(Sysctl, String)] {
        &self.originals
    }

    /// Restores the sysctls of `ifname` (an instance's interface is going away). A sysctl whose
    /// interface no longer exists needs no restoring and is forgotten.
    pub fn restore_interface(&mut self, ifname: &str) -> Vec<SystemError> {
        self.restore_where(|s| s.interface() == Some(ifname))
    }

    /// Restores everything (on exit). Returns the failures; the rest were restored.
    pub fn restore_all(&mut self) -> Vec<SystemError> {
        self.restore_where(|_| true)
    }

    fn restore_where(&mut self, selected: impl Fn(&Sysctl) -> bool) -> Vec<SystemError> {
        let mut failures = Vec::new();
        // Reverse order, so a knob changed twice through different paths ends at its first value.
        let (restore, keep): (Vec<_>, Vec<_>) =
            self.originals.drain(..).partition(|(s, _)| selected(s));
        self.originals = keep;
        for (sysctl, original) in restore.into_iter().rev() {
            match sysctl.write(&original) {
                Ok(()) | Err(SystemError::NoSuchInterface { .. }) => {}
                Err(e) => failures.push(e),
            }
        }
        failures
    }
}

impl Drop for SysctlRegistry {
    fn drop(&mut self) {
        for failure in self.restore_all() {
            tracing::warn!(error = %failure, "could not restore a sysctl");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::testns::TestNs;

    #[test]
    fn paths_keep_dotted_interface_names_whole() {
        let s = Sysctl::ipv4_conf("vrrp.60", "arp_ignore");
        assert_eq!(
            s.path(),
            std::path::Path::new("/proc/sys/net/ipv4/conf/vrrp.60/arp_ignore")
        );
        assert_eq!(s.interface(), Some("vrrp.60"));
        assert_eq!(
            Sysctl::from_dotted("net.ipv6.conf.all.forwarding").path(),
            std::path::Path::new("/proc/sys/net/ipv6/conf/all/forwarding")
        );
    }

    #[test]
    fn values_are_set_and_restored_per_interface_and_on_drop() {
        let ns = TestNs::create();
        ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
        ns.ip(&["link", "add", "vrrp.7", "type", "bridge"]);
        let read = |ns: &TestNs, key: &str| {
            let out = ns.exec("sysctl", &["-n", key]);
            assert!(out.status.success(), "sysctl {key}");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let before_d0 = read(&ns, "net.ipv4.conf.d0.arp_ignore");
        let before_vmac = read(&ns, "net.ipv4.conf.vrrp/7.rp_filter");
        let before_dad = read(&ns, "net.ipv6.conf.d0.accept_dad");
        assert_ne!(before_d0, "1", "the test needs a default that differs");

        let holder = ns.run(|| async {
            let mut registry = SysctlRegistry::new();
            registry
                .set(Sysctl::ipv4_conf("d0", "arp_ignore"), "1")
                .unwrap();
            registry
                .set(Sysctl::ipv4_conf("d0", "arp_ignore"), "2")
                .unwrap();
            registry
                .set(Sysctl::ipv4_conf("d0", "arp_filter"), "1")
                .unwrap();
            registry
                .set(Sysctl::ipv6_conf("d0", "accept_dad"), "0")
                .unwrap();
            registry
                .set(Sysctl::ipv4_conf("vrrp.7", "rp_filter"), "0")
                .unwrap();
            registry
                .set(Sysctl::ipv4_conf("vrrp.7", "accept_local"), "1")
                .unwrap();
            assert_eq!(Sysctl::ipv4_conf("d0", "arp_ignore").read().unwrap(), "2");
            let missing = Sysctl::ipv4_conf("nosuch0", "arp_ignore")
                .read()
                .unwrap_err();
            assert!(
                matches!(missing, SystemError::NoSuchInterface { .. }),
                "{missing:?}"
            );
            registry
        });
        assert_eq!(read(&ns, "net.ipv4.conf.d0.arp_ignore"), "2");
        assert_eq!(read(&ns, "net.ipv4.conf.vrrp/7.accept_local"), "1");

        // Restoring must happen inside the namespace, so the registry travels back into it.
        let holder = ns.run(move || async move {
            let mut registry = holder;
            assert!(registry.restore_interface("vrrp.7").is_empty());
            assert_eq!(registry.changed().len(), 3);
            registry
        });
        assert_eq!(read(&ns, "net.ipv4.conf.vrrp/7.rp_filter"), before_vmac);
        assert_eq!(read(&ns, "net.ipv4.conf.vrrp/7.accept_local"), "0");
        assert_eq!(read(&ns, "net.ipv4.conf.d0.arp_ignore"), "2");

        ns.run(move || async move { drop(holder) });
        assert_eq!(read(&ns, "net.ipv4.conf.d0.arp_ignore"), before_d0);
        assert_eq!(read(&ns, "net.ipv4.conf.d0.arp_filter"), "0");
        assert_eq!(read(&ns, "net.ipv6.conf.d0.accept_dad"), before_dad);
    }
}
