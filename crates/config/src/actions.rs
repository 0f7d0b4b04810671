//! What an instance or a sync group does on its own transitions besides notify scripts: the
//! conntrackd integration (conntrackd's primary-backup sequence built in) and the link actions
//! (`on_master` / `on_backup` / `on_fault` / `on_stop` lists of `link_up IFACE` /
//! `link_down IFACE`). Plain values: the daemon's hooks carry them out.

/// Everything an instance or a sync group does on a transition without a script.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StateActions {
    pub conntrackd: Option<Conntrackd>,
    pub on_master: Vec<LinkAction>,
    pub on_backup: Vec<LinkAction>,
    pub on_fault: Vec<LinkAction>,
    /// On shutdown; `None`: every link an action touched goes back to the state it was found in.
    pub on_stop: Option<Vec<LinkAction>>,
}

impl StateActions {
    /// Whether anything is configured.
    pub fn is_empty(&self) -> bool {
        self.conntrackd.is_none()
            && self.on_master.is_empty()
            && self.on_backup.is_empty()
            && self.on_fault.is_empty()
            && self.on_stop.is_none()
    }

    /// Every link action of every list.
    pub fn link_actions(&self) -> impl Iterator<Item = &LinkAction> {
        self.on_master
            .iter()
            .chain(&self.on_backup)
            .chain(&self.on_fault)
            .chain(self.on_stop.iter().flatten())
    }
}

/// `link_up IFACE` or `link_down IFACE`: set the interface administratively up or down.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LinkAction {
    pub interface: String,
    pub up: bool,
}

impl std::fmt::Display for LinkAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.up { "link_up" } else { "link_down" };
        write!(f, "{verb} {}", self.interface)
    }
}

/// conntrackd's synchronisation mode, as its `Sync { Mode ... }` says: it decides which
/// primary-backup steps mean anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConntrackdMode {
    Ftfw,
    Notrack,
    Alarm,
}

impl ConntrackdMode {
    pub fn name(self) -> &'static str {
        match self {
            ConntrackdMode::Ftfw => "ftfw",
            ConntrackdMode::Notrack => "notrack",
            ConntrackdMode::Alarm => "alarm",
        }
    }
}

/// conntrackd integration of an instance or a sync group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conntrackd {
    pub mode: ConntrackdMode,
    /// conntrackd's UNIX control socket (its `UNIX { Path }`), spoken to directly when the
    /// binary is absent.
    pub control: String,
    /// conntrackd's configuration file, given to the binary as `-C`.
    pub config: String,
    /// The conntrackd program.
    pub binary: String,
    /// Each step is given up after this long (microseconds).
    pub timeout_us: u64,
    /// On becoming BACKUP, start conntrackd (`-d`) when it does not answer, as primary-backup.sh
    /// does.
    pub start: bool,
}

impl Conntrackd {
    pub const DEFAULT_CONTROL: &'static str = "/var/run/conntrackd.ctl";
    pub const DEFAULT_CONFIG: &'static str = "/etc/conntrackd/conntrackd.conf";
    pub const DEFAULT_BINARY: &'static str = "/usr/sbin/conntrackd";
    pub const DEFAULT_TIMEOUT_US: u64 = 5_000_000;
}
