//! rtnetlink access for the daemon: link lookup, VIP addresses, macvlans (VMACs), routes, rules,
//! and a typed stream of link/address/route/rule events. Every call makes the kernel match what
//! it is told (idempotently) or reports what the kernel holds; nothing here knows about VRRP.
//!
//! Also home of [`SystemError`], the error every `system` module returns: each variant says what
//! the operator can do about it.

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use futures::{StreamExt, TryStreamExt};
use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoData, InfoMacVlan, LinkAttribute, LinkFlags,
    LinkInfo as NlLinkInfo, LinkMessage, MacVlanMode,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::sys::AsyncSocket;
use rtnetlink::{LinkMacVlan, LinkUnspec, MulticastGroup};
use tokio::sync::mpsc;

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

/// The errno carried by an rtnetlink error (positive), if it is a kernel NACK.
fn nl_errno(err: &rtnetlink::Error) -> Option<i32> {
    match err {
        rtnetlink::Error::NetlinkError(msg) => msg.code.map(|c| c.get().abs()),
        _ => None,
    }
}

fn map_nl(op: &str, subject: &str, err: rtnetlink::Error) -> SystemError {
    match nl_errno(&err) {
        Some(errno) => SystemError::from_errno(op, subject, errno),
        None => SystemError::Kernel {
            op: op.to_string(),
            errno: 0,
            message: err.to_string(),
        },
    }
}

/// A network interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub ifindex: u32,
    pub name: String,
    /// Hardware address; `None` for links without one (loopback reports zeros, tunnels nothing).
    pub mac: Option<[u8; 6]>,
    /// Administratively up (IFF_UP).
    pub admin_up: bool,
    /// Operationally up: IFF_UP and IFF_RUNNING (carrier present).
    pub oper_up: bool,
    pub mtu: u32,
    /// `IFLA_INFO_KIND`, e.g. "macvlan", "veth", "bridge".
    pub kind: Option<String>,
    /// The lower device (`IFLA_LINK`), e.g. a macvlan's parent.
    pub parent: Option<u32>,
    /// Set for macvlans.
    pub macvlan_mode: Option<VmacMode>,
    /// IPv6 link-local generation mode, when the kernel reports one vipd knows.
    pub addr_gen_mode: Option<AddrGenMode>,
}

/// An address on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressInfo {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub label: Option<String>,
    /// IPv6 duplicate address detection failed: the address is present but unusable.
    pub dad_failed: bool,
}

/// A link appeared, changed or disappeared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEvent {
    pub ifindex: u32,
    pub name: String,
    /// IFF_UP and IFF_RUNNING: usable for VRRP.
    pub up: bool,
    pub removed: bool,
}

/// An address was added to or removed from an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressEvent {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub prefix: u8,
    pub removed: bool,
}

/// A route was added or removed (only what a reconciler needs to spot its own routes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEvent {
    pub table: u32,
    /// `None` for a default route.
    pub dst: Option<IpAddr>,
    pub prefix: u8,
    pub removed: bool,
}

/// A policy rule was added or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleEvent {
    pub family: IpFamily,
    pub table: u32,
    pub priority: Option<u32>,
    pub removed: bool,
}

/// What the event stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    Link(LinkEvent),
    Address(AddressEvent),
    Route(RouteEvent),
    Rule(RuleEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    pub fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => IpFamily::V4,
            IpAddr::V6(_) => IpFamily::V6,
        }
    }
    fn netlink(self) -> AddressFamily {
        match self {
            IpFamily::V4 => AddressFamily::Inet,
            IpFamily::V6 => AddressFamily::Inet6,
        }
    }
}

/// Macvlan mode: keepalived's VMACs are `Private`; FRR wants operator-made `Bridge` ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmacMode {
    Private,
    Bridge,
    Other,
}

/// IPv6 link-local generation on a macvlan: `None` for IPv4 instances, `Random` for IPv6 ones so
/// that routers sharing the virtual MAC do not derive the same link-local address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrGenMode {
    None,
    Random,
}

/// A macvlan to create or reuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacvlanSpec {
    pub parent: u32,
    pub name: String,
    pub mac: [u8; 6],
    pub mode: VmacMode,
    pub addr_gen_mode: AddrGenMode,
}

/// The result of [`Netlink::ensure_macvlan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacvlanOutcome {
    pub ifindex: u32,
    /// false: an existing macvlan matching the spec (ours from an earlier run) was reused.
    pub created: bool,
}

/// A route's type, as `ip route` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
    /// Ends the lookup in this table; policy routing goes on with the next rule.
    Throw,
}

/// Address or route scope, as `ip` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Site,
    Link,
    Host,
    Nowhere,
}

impl Scope {
    fn address_scope(self) -> AddressScope {
        match self {
            Scope::Global => AddressScope::Universe,
            Scope::Site => AddressScope::Site,
            Scope::Link => AddressScope::Link,
            Scope::Host => AddressScope::Host,
            Scope::Nowhere => AddressScope::Nowhere,
        }
    }
    fn route_scope(self) -> RouteScope {
        match self {
            Scope::Global => RouteScope::Universe,
            Scope::Site => RouteScope::Site,
            Scope::Link => RouteScope::Link,
            Scope::Host => RouteScope::Host,
            Scope::Nowhere => RouteScope::NoWhere,
        }
    }
}

/// keepalived's per-address options beyond address and prefix (`label`, `brd`, `scope`,
/// `noprefixroute`). The default is what `ip addr add ADDR/LEN dev X` does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressOptions {
    /// IPv4 only (the kernel has no IPv6 labels); must start with the interface name.
    pub label: Option<String>,
    /// IPv4 only; when absent, the all-ones broadcast of the prefix (below /31).
    pub broadcast: Option<Ipv4Addr>,
    /// Global when absent. The kernel derives an IPv6 address's scope from the address itself.
    pub scope: Option<Scope>,
    /// IFA_F_NOPREFIXROUTE: the kernel adds no route for the address's prefix.
    pub no_prefix_route: bool,
}

/// A route as keepalived's `virtual_routes` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub dst: IpAddr,
    pub prefix_len: u8,
    pub via: Option<IpAddr>,
    pub dev: Option<u32>,
    /// 254 is `main`.
    pub table: u32,
    pub metric: Option<u32>,
    pub src: Option<IpAddr>,
    pub kind: RouteKind,
    /// `None`: link for a gatewayless unicast route with a device, else global (as `ip route`).
    pub scope: Option<Scope>,
    /// RTNH_F_ONLINK: the gateway is on the link even if no prefix of the device covers it.
    pub onlink: bool,
}

impl RouteSpec {
    /// A unicast route in table main with nothing else set.
    pub fn new(dst: IpAddr, prefix_len: u8) -> Self {
        RouteSpec {
            dst,
            prefix_len,
            via: None,
            dev: None,
            table: 254,
            metric: None,
            src: None,
            kind: RouteKind::Unicast,
            scope: None,
            onlink: false,
        }
    }
}

/// What a policy rule does with the packets it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleTarget {
    /// Look the packet up in this routing table.
    Lookup(u32),
    Blackhole,
    Unreachable,
    Prohibit,
}

impl std::fmt::Display for RuleTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuleTarget::Lookup(table) => write!(f, "lookup {table}"),
            RuleTarget::Blackhole => f.write_str("blackhole"),
            RuleTarget::Unreachable => f.write_str("unreachable"),
            RuleTarget::Prohibit => f.write_str("prohibit"),
        }
    }
}

/// A policy rule as keepalived's `virtual_rules` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub family: IpFamily,
    pub from: Option<(IpAddr, u8)>,
    pub to: Option<(IpAddr, u8)>,
    pub target: RuleTarget,
    pub priority: Option<u32>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    /// fwmark and optional mask.
    pub fwmark: Option<(u32, Option<u32>)>,
}

impl RuleSpec {
    /// `<family> lookup <table>` with no selector.
    pub fn lookup(family: IpFamily, table: u32) -> Self {
        Self::new(family, RuleTarget::Lookup(table))
    }

    /// `<family> <target>` with no selector.
    pub fn new(family: IpFamily, target: RuleTarget) -> Self {
        RuleSpec {
            family,
            from: None,
            to: None,
            target,
            priority: None,
            iif: None,
            oif: None,
            fwmark: None,
        }
    }
}

/// Handle on one rtnetlink socket; cheap to clone.
#[derive(Clone)]
pub struct Netlink {
    handle: rtnetlink::Handle,
}

impl Netlink {
    /// Opens an rtnetlink socket in the calling thread's network namespace and spawns its driver
    /// on the current tokio runtime.
    pub fn new() -> Result<Self, SystemError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| SystemError::NoRuntime {
                op: "open rtnetlink".into(),
            })?;
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(|source| SystemError::Io {
                op: "open rtnetlink socket".into(),
                source,
            })?;
        runtime.spawn(connection);
        Ok(Netlink { handle })
    }

    /// All links.
    pub async fn links(&self) -> Result<Vec<LinkInfo>, SystemError> {
        let messages: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| map_nl("list links", "", e))?;
        Ok(messages.iter().map(link_info).collect())
    }

    /// The link called `name`; [`SystemError::NoSuchInterface`] if there is none.
    pub async fn link_by_name(&self, name: &str) -> Result<LinkInfo, SystemError> {
        let op = format!("look up interface {name}");
        let mut stream = self.handle.link().get().match_name(name).execute();
        match stream.try_next().await {
            Ok(Some(msg)) => Ok(link_info(&msg)),
            Ok(None) => Err(SystemError::NoSuchInterface {
                op,
                name: name.into(),
            }),
            Err(e) => Err(map_nl(&op, name, e)),
        }
    }

    /// The link with index `ifindex`.
    pub async fn link_by_index(&self, ifindex: u32) -> Result<LinkInfo, SystemError> {
        let op = format!("look up interface index {ifindex}");
        let subject = format!("#{ifindex}");
        let mut stream = self.handle.link().get().match_index(ifindex).execute();
        match stream.try_next().await {
            Ok(Some(msg)) => Ok(link_info(&msg)),
            Ok(None) => Err(SystemError::NoSuchInterface { op, name: subject }),
            Err(e) => Err(map_nl(&op, &subject, e)),
        }
    }

    /// Sets a link administratively up or down.
    pub async fn set_link_up(&self, ifindex: u32, up: bool) -> Result<(), SystemError> {
        let builder = LinkUnspec::new_with_index(ifindex);
        let msg = if up { builder.up() } else { builder.down() }.build();
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|e| map_nl("set link state", &format!("#{ifindex}"), e))
    }

    /// Deletes a link (a macvlan of ours); a link already gone is success.
    pub async fn delete_link(&self, ifindex: u32) -> Result<(), SystemError> {
        match self.handle.link().del(ifindex).execute().await {
            Ok(()) => Ok(()),
            Err(e) if nl_errno(&e) == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(map_nl("delete link", &format!("#{ifindex}"), e)),
        }
    }

    /// Adds `addr/prefix_len` to `ifindex` with `options`. Already present is success. IPv6
    /// addresses are added with IFA_F_NODAD (a VIP moving between routers must be usable at once).
    /// A label or broadcast on an IPv6 address is refused (the kernel has neither for IPv6).
    pub async fn add_address(
        &self,
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
        options: &AddressOptions,
    ) -> Result<(), SystemError> {
        let op = format!("add address {addr}/{prefix_len} to interface #{ifindex}");
        check_prefix(&op, &addr, prefix_len)?;
        let mut request = self.handle.address().add(ifindex, addr, prefix_len);
        address_message_options(&op, request.message_mut(), addr, options)?;
        match request.execute().await {
            Ok(()) => Ok(()),
            Err(e) if nl_errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(map_nl(&op, &format!("#{ifindex}"), e)),
        }
    }

    /// Removes `addr/prefix_len` from `ifindex`. Already absent is success.
    pub async fn delete_address(
        &self,
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
    ) -> Result<(), SystemError> {
        let op = format!("delete address {addr}/{prefix_len} from interface #{ifindex}");
        check_prefix(&op, &addr, prefix_len)?;
        let mut message = AddressMessage::default();
        message.header.index = ifindex;
        message.header.prefix_len = prefix_len;
        message.header.family = IpFamily::of(&addr).netlink();
        message.attributes.push(AddressAttribute::Local(addr));
        if addr.is_ipv6() {
            message.attributes.push(AddressAttribute::Address(addr));
        }
        match self.handle.address().del(message).execute().await {
            Ok(()) => Ok(()),
            Err(e) if nl_errno(&e) == Some(libc::EADDRNOTAVAIL) => Ok(()),
            Err(e) => Err(map_nl(&op, &format!("#{ifindex}"), e)),
        }
    }

    /// Addresses on `ifindex`, or on every interface when `None`.
    pub async fn addresses(&self, ifindex: Option<u32>) -> Result<Vec<AddressInfo>, SystemError> {
        let mut request = self.handle.address().get();
        if let Some(index) = ifindex {
            request = request.set_link_index_filter(index);
        }
        let messages: Vec<AddressMessage> = request
            .execute()
            .try_collect()
            .await
            .map_err(|e| map_nl("list addresses", "", e))?;
        Ok(messages.iter().filter_map(address_info).collect())
    }

    /// Whether `addr` (any prefix length) is on `ifindex` and usable (not DAD-failed).
    pub async fn has_address(&self, ifindex: u32, addr: IpAddr) -> Result<bool, SystemError> {
        Ok(self
            .addresses(Some(ifindex))
            .await?
            .iter()
            .any(|a| a.addr == addr && !a.dad_failed))
    }

    /// Creates the macvlan described by `spec`, down, with its MAC, mode and IPv6 address
    /// generation mode, then brings it up. Fails with EEXIST if the name is taken; use
    /// [`Netlink::ensure_macvlan`] to reuse one of ours.
    pub async fn create_macvlan(&self, spec: &MacvlanSpec) -> Result<u32, SystemError> {
        let op = format!("create macvlan {} on #{}", spec.name, spec.parent);
        let mode = match spec.mode {
            VmacMode::Private => MacVlanMode::Private,
            VmacMode::Bridge => MacVlanMode::Bridge,
            VmacMode::Other => {
                return Err(SystemError::Invalid {
                    op,
                    why: "macvlan mode must be private or bridge".into(),
                })
            }
        };
        let message = LinkMacVlan::new(&spec.name, spec.parent, mode)
            .address(spec.mac.to_vec())
            .down()
            .build();
        self.handle
            .link()
            .add(message)
            .execute()
            .await
            .map_err(|e| map_nl(&op, &format!("#{}", spec.parent), e))?;
        let link = self.link_by_name(&spec.name).await?;
        self.configure_macvlan(link.ifindex, spec).await?;
        Ok(link.ifindex)
    }

    /// Reuses a macvlan named `spec.name` if it is ours (a macvlan on `spec.parent` with
    /// `spec.mac`), otherwise creates it. A link of that name that does not match is someone
    /// else's: it is left alone and [`SystemError::NameTaken`] returned.
    pub async fn ensure_macvlan(&self, spec: &MacvlanSpec) -> Result<MacvlanOutcome, SystemError> {
        match self.link_by_name(&spec.name).await {
            Ok(existing) => {
                if let Some(why) = macvlan_mismatch(&existing, spec) {
                    return Err(SystemError::NameTaken {
                        op: format!("create macvlan {}", spec.name),
                        name: spec.name.clone(),
                        why,
                    });
                }
                // Reconfiguring cycles the link down, which would drop IPv6 addresses and
                // signal a link flap: only done when the existing link is not already right.
                if existing.addr_gen_mode != Some(spec.addr_gen_mode) || !existing.admin_up {
                    self.configure_macvlan(existing.ifindex, spec).await?;
                }
                Ok(MacvlanOutcome {
                    ifindex: existing.ifindex,
                    created: false,
                })
            }
            Err(SystemError::NoSuchInterface { .. }) => Ok(MacvlanOutcome {
                ifindex: self.create_macvlan(spec).await?,
                created: true,
            }),
            Err(e) => Err(e),
        }
    }

    /// The macvlan named `name` if it matches `spec` (ours), `None` if there is no such link.
    /// A link of that name that is not ours is an error.
    pub async fn find_macvlan(&self, spec: &MacvlanSpec) -> Result<Option<LinkInfo>, SystemError> {
        match self.link_by_name(&spec.name).await {
            Ok(existing) => match macvlan_mismatch(&existing, spec) {
                None => Ok(Some(existing)),
                Some(why) => Err(SystemError::NameTaken {
                    op: format!("find macvlan {}", spec.name),
                    name: spec.name.clone(),
                    why,
                }),
            },
            Err(SystemError::NoSuchInterface { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn configure_macvlan(&self, ifindex: u32, spec: &MacvlanSpec) -> Result<(), SystemError> {
        // The address generation mode only sticks while the link is down, before the kernel
        // has derived a link-local from the shared MAC; an existing link is cycled for that.
        let op = format!("configure macvlan {}", spec.name);
        let down = LinkUnspec::new_with_index(ifindex).down().build();
        self.handle
            .link()
            .set(down)
            .execute()
            .await
            .map_err(|e| map_nl(&op, &spec.name, e))?;
        let gen_mode = LinkUnspec::new_with_index(ifindex)
            .append_extra_attribute(addr_gen_mode_attribute(spec.addr_gen_mode))
            .build();
        self.handle
            .link()
            .set(gen_mode)
            .execute()
            .await
            .map_err(|e| map_nl(&op, &spec.name, e))?;
        self.set_link_up(ifindex, true).await
    }

    /// Adds a route; already present is success.
    pub async fn add_route(&self, spec: &RouteSpec) -> Result<(), SystemError> {
        let op = format!(
            "add route {}/{} table {}",
            spec.dst, spec.prefix_len, spec.table
        );
        let message = route_message(&op, spec, false)?;
        match self.handle.route().add(message).execute().await {
            Ok(()) => Ok(()),
            Err(e) if nl_errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(map_nl(&op, &route_dev(spec), e)),
        }
    }

    /// Deletes a route; already absent is success.
    pub async fn delete_route(&self, spec: &RouteSpec) -> Result<(), SystemError> {
        let op = format!(
            "delete route {}/{} table {}",
            spec.dst, spec.prefix_len, spec.table
        );
        let message = route_message(&op, spec, true)?;
        match self.handle.route().del(message).execute().await {
            Ok(()) => Ok(()),
            Err(e) if matches!(nl_errno(&e), Some(libc::ESRCH) | Some(libc::ENOENT)) => Ok(()),
            Err(e) => Err(map_nl(&op, &route_dev(spec), e)),
        }
    }

    /// Adds a policy rule; already present is success.
    pub async fn add_rule(&self, spec: &RuleSpec) -> Result<(), SystemError> {
        let op = format!("add rule {}", spec.target);
        let message = rule_message(&op, spec)?;
        let mut request = self.handle.rule().add();
        *request.message_mut() = message;
        match request.execute().await {
            Ok(()) => Ok(()),
            Err(e) if nl_errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(map_nl(&op, "", e)),
        }
    }

    /// Deletes a policy rule; already absent is success.
    pub async fn delete_rule(&self, spec: &RuleSpec) -> Result<(), SystemError> {
        let op = format!("delete rule {}", spec.target);
        let message = rule_message(&op, spec)?;
        match self.handle.rule().del(message).execute().await {
            Ok(()) => Ok(()),
            Err(e) if nl_errno(&e) == Some(libc::ENOENT) => Ok(()),
            Err(e) => Err(map_nl(&op, "", e)),
        }
    }

    /// Subscribes to link, IPv4/IPv6 address, route and rule changes. Each change arrives as a
    /// [`NetEvent`] on the returned channel; the subscription ends when the receiver is dropped.
    /// Uses its own netlink socket in the calling thread's network namespace.
    pub fn subscribe(&self) -> Result<mpsc::Receiver<NetEvent>, SystemError> {
        subscribe_events()
    }
}

const EVENT_SOCKET_BUFFER: i32 = 4 * 1024 * 1024;

/// See [`Netlink::subscribe`].
pub fn subscribe_events() -> Result<mpsc::Receiver<NetEvent>, SystemError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| SystemError::NoRuntime {
        op: "subscribe to netlink events".into(),
    })?;
    let groups = [
        MulticastGroup::Link,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
        MulticastGroup::Ipv4Route,
        MulticastGroup::Ipv6Route,
        MulticastGroup::Ipv4Rule,
        MulticastGroup::Ipv6Rule,
    ];
    let (mut connection, _handle, mut messages) = rtnetlink::new_multicast_connection(&groups)
        .map_err(|source| SystemError::Io {
            op: "subscribe to netlink events".into(),
            source,
        })?;
    // Link flaps come in bursts; a large buffer makes a kernel-side overrun (lost events) rare.
    // Best effort: the kernel caps it at net.core.rmem_max.
    if let Err(e) = connection
        .socket_mut()
        .socket_mut()
        .set_rx_buf_sz(EVENT_SOCKET_BUFFER)
    {
        tracing::debug!(error = %e, "could not enlarge the netlink event socket buffer");
    }
    let (sender, receiver) = mpsc::channel(1024);
    runtime.spawn(async move {
        // The connection lives inside this task so that it is dropped, closing the socket,
        // once nobody listens any more.
        let forward = async {
            while let Some((message, _)) = messages.next().await {
                let inner = match message.payload {
                    NetlinkPayload::InnerMessage(inner) => inner,
                    NetlinkPayload::Overrun(_) => {
                        tracing::warn!(
                            "netlink event socket overran: some link/address events were lost"
                        );
                        continue;
                    }
                    _ => continue,
                };
                if let Some(event) = net_event(inner) {
                    if sender.send(event).await.is_err() {
                        return;
                    }
                }
            }
        };
        tokio::select! {
            _ = connection => {}
            _ = forward => {}
        }
    });
    Ok(receiver)
}

fn net_event(message: RouteNetlinkMessage) -> Option<NetEvent> {
    match message {
        RouteNetlinkMessage::NewLink(link) => Some(NetEvent::Link(link_event(&link, false))),
        RouteNetlinkMessage::DelLink(link) => Some(NetEvent::Link(link_event(&link, true))),
        RouteNetlinkMessage::NewAddress(addr) => address_event(&addr, false),
        RouteNetlinkMessage::DelAddress(addr) => address_event(&addr, true),
        RouteNetlinkMessage::NewRoute(route) => Some(route_event(&route, false)),
        RouteNetlinkMessage::DelRoute(route) => Some(route_event(&route, true)),
        RouteNetlinkMessage::NewRule(rule) => rule_event(&rule, false),
        RouteNetlinkMessage::DelRule(rule) => rule_event(&rule, true),
        _ => None,
    }
}

fn link_event(message: &LinkMessage, removed: bool) -> LinkEvent {
    let info = link_info(message);
    LinkEvent {
        ifindex: info.ifindex,
        name: info.name,
        up: info.oper_up && !removed,
        removed,
    }
}

fn address_event(message: &AddressMessage, removed: bool) -> Option<NetEvent> {
    let info = address_info(message)?;
    Some(NetEvent::Address(AddressEvent {
        ifindex: info.ifindex,
        addr: info.addr,
        prefix: info.prefix_len,
        removed,
    }))
}

fn route_event(message: &RouteMessage, removed: bool) -> NetEvent {
    let mut table = u32::from(message.header.table);
    let mut dst = None;
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(RouteAddress::Inet(a)) => dst = Some(IpAddr::V4(*a)),
            RouteAttribute::Destination(RouteAddress::Inet6(a)) => dst = Some(IpAddr::V6(*a)),
            _ => {}
        }
    }
    NetEvent::Route(RouteEvent {
        table,
        dst,
        prefix: message.header.destination_prefix_length,
        removed,
    })
}

fn rule_event(message: &RuleMessage, removed: bool) -> Option<NetEvent> {
    let family = match message.header.family {
        AddressFamily::Inet => IpFamily::V4,
        AddressFamily::Inet6 => IpFamily::V6,
        _ => return None,
    };
    let mut table = u32::from(message.header.table);
    let mut priority = None;
    for attribute in &message.attributes {
        match attribute {
            RuleAttribute::Table(t) => table = *t,
            RuleAttribute::Priority(p) => priority = Some(*p),
            _ => {}
        }
    }
    Some(NetEvent::Rule(RuleEvent {
        family,
        table,
        priority,
        removed,
    }))
}

fn link_info(message: &LinkMessage) -> LinkInfo {
    let flags = message.header.flags;
    let mut info = LinkInfo {
        ifindex: message.header.index,
        name: String::new(),
        mac: None,
        admin_up: flags.contains(LinkFlags::Up),
        oper_up: flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::Running),
        mtu: 0,
        kind: None,
        parent: None,
        macvlan_mode: None,
        addr_gen_mode: None,
    };
    for attribute in &message.attributes {
        match attribute {
            LinkAttribute::IfName(name) => info.name = name.clone(),
            LinkAttribute::Address(bytes) => info.mac = <[u8; 6]>::try_from(bytes.as_slice()).ok(),
            LinkAttribute::Mtu(mtu) => info.mtu = *mtu,
            LinkAttribute::Link(parent) => info.parent = Some(*parent),
            LinkAttribute::AfSpecUnspec(families) => {
                for family in families {
                    let AfSpecUnspec::Inet6(inet6) = family else {
                        continue;
                    };
                    for item in inet6 {
                        if let AfSpecInet6::AddrGenMode(mode) = item {
                            info.addr_gen_mode = match mode {
                                In6AddrGenMode::None => Some(AddrGenMode::None),
                                In6AddrGenMode::Random => Some(AddrGenMode::Random),
                                _ => None,
                            };
                        }
                    }
                }
            }
            LinkAttribute::LinkInfo(infos) => {
                for item in infos {
                    match item {
                        NlLinkInfo::Kind(kind) => info.kind = Some(kind.to_string()),
                        NlLinkInfo::Data(InfoData::MacVlan(data)) => {
                            for d in data {
                                if let InfoMacVlan::Mode(mode) = d {
                                    info.macvlan_mode = Some(match mode {
                                        MacVlanMode::Private => VmacMode::Private,
                                        MacVlanMode::Bridge => VmacMode::Bridge,
                                        _ => VmacMode::Other,
                                    });
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    info
}

fn address_info(message: &AddressMessage) -> Option<AddressInfo> {
    let mut local = None;
    let mut address = None;
    let mut label = None;
    let mut dad_failed = message.header.flags.contains(AddressHeaderFlags::Dadfailed);
    for attribute in &message.attributes {
        match attribute {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            AddressAttribute::Flags(f) => dad_failed |= f.contains(AddressFlags::Dadfailed),
            _ => {}
        }
    }
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point links.
    let addr = local.or(address)?;
    Some(AddressInfo {
        ifindex: message.header.index,
        addr,
        prefix_len: message.header.prefix_len,
        label,
        dad_failed,
    })
}

fn macvlan_mismatch(existing: &LinkInfo, spec: &MacvlanSpec) -> Option<String> {
    if existing.kind.as_deref() != Some("macvlan") {
        return Some(format!(
            "it is a {} link, not a macvlan",
            existing.kind.as_deref().unwrap_or("plain")
        ));
    }
    if existing.parent != Some(spec.parent) {
        return Some(format!(
            "its parent is #{}, not #{}",
            existing.parent.unwrap_or(0),
            spec.parent
        ));
    }
    if existing.mac != Some(spec.mac) {
        return Some("its MAC is not the virtual MAC".into());
    }
    None
}

fn addr_gen_mode_attribute(mode: AddrGenMode) -> LinkAttribute {
    let mode = match mode {
        AddrGenMode::None => In6AddrGenMode::None,
        AddrGenMode::Random => In6AddrGenMode::Random,
    };
    LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(vec![AfSpecInet6::AddrGenMode(
        mode,
    )])])
}

/// Puts `options` into an address-add message that rtnetlink's builder has filled in.
fn address_message_options(
    op: &str,
    message: &mut AddressMessage,
    addr: IpAddr,
    options: &AddressOptions,
) -> Result<(), SystemError> {
    let invalid = |why: &str| SystemError::Invalid {
        op: op.into(),
        why: why.into(),
    };
    message.header.scope = options.scope.unwrap_or(Scope::Global).address_scope();
    let mut flags = AddressFlags::empty();
    if addr.is_ipv6() {
        if options.label.is_some() {
            return Err(invalid("IPv6 addresses have no label"));
        }
        if options.broadcast.is_some() {
            return Err(invalid("IPv6 addresses have no broadcast address"));
        }
        message.header.flags = AddressHeaderFlags::Nodad;
        flags |= AddressFlags::Nodad;
    }
    if let Some(label) = &options.label {
        message
            .attributes
            .push(AddressAttribute::Label(label.clone()));
    }
    if let Some(broadcast) = options.broadcast {
        // The builder put the computed broadcast in; the configured one replaces it.
        message
            .attributes
            .retain(|a| !matches!(a, AddressAttribute::Broadcast(_)));
        message
            .attributes
            .push(AddressAttribute::Broadcast(broadcast));
    }
    if options.no_prefix_route {
        flags |= AddressFlags::Noprefixroute;
    }
    if !flags.is_empty() {
        message.attributes.push(AddressAttribute::Flags(flags));
    }
    Ok(())
}

fn check_prefix(op: &str, addr: &IpAddr, prefix_len: u8) -> Result<(), SystemError> {
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if prefix_len > max {
        return Err(SystemError::Invalid {
            op: op.into(),
            why: format!("prefix length {prefix_len} exceeds {max}"),
        });
    }
    Ok(())
}

fn route_dev(spec: &RouteSpec) -> String {
    spec.dev.map(|d| format!("#{d}")).unwrap_or_default()
}

fn route_message(
    op: &str,
    spec: &RouteSpec,
    for_delete: bool,
) -> Result<RouteMessage, SystemError> {
    check_prefix(op, &spec.dst, spec.prefix_len)?;
    let family = IpFamily::of(&spec.dst);
    for other in [spec.via, spec.src].into_iter().flatten() {
        if IpFamily::of(&other) != family {
            return Err(SystemError::Invalid {
                op: op.into(),
                why: format!("{other} is not of the same family as {}", spec.dst),
            });
        }
    }
    let mut message = RouteMessage::default();
    let header = &mut message.header;
    header.address_family = family.netlink();
    header.destination_prefix_length = spec.prefix_len;
    header.protocol = RouteProtocol::Static;
    header.kind = match spec.kind {
        RouteKind::Unicast => RouteType::Unicast,
        RouteKind::Blackhole => RouteType::BlackHole,
        RouteKind::Unreachable => RouteType::Unreachable,
        RouteKind::Prohibit => RouteType::Prohibit,
        RouteKind::Throw => RouteType::Throw,
    };
    if spec.kind != RouteKind::Unicast && (spec.via.is_some() || spec.dev.is_some()) {
        return Err(SystemError::Invalid {
            op: op.into(),
            why: "a blackhole, unreachable, prohibit or throw route takes no gateway or device"
                .into(),
        });
    }
    if spec.onlink && spec.via.is_none() {
        return Err(SystemError::Invalid {
            op: op.into(),
            why: "onlink needs a gateway (via)".into(),
        });
    }
    header.scope = if for_delete {
        // RT_SCOPE_NOWHERE matches a route of any scope on delete, as `ip route del` does.
        RouteScope::NoWhere
    } else if let Some(scope) = spec.scope {
        scope.route_scope()
    } else if spec.kind == RouteKind::Unicast && spec.via.is_none() && spec.dev.is_some() {
        RouteScope::Link
    } else {
        RouteScope::Universe
    };
    if spec.onlink {
        header.flags |= RouteFlags::Onlink;
    }
    if spec.table > 255 {
        header.table = RouteHeader::RT_TABLE_UNSPEC;
        message.attributes.push(RouteAttribute::Table(spec.table));
    } else {
        header.table = spec.table as u8;
    }
    if spec.prefix_len > 0 {
        message
            .attributes
            .push(RouteAttribute::Destination(RouteAddress::from(spec.dst)));
    }
    if let Some(via) = spec.via {
        message
            .attributes
            .push(RouteAttribute::Gateway(RouteAddress::from(via)));
    }
    if let Some(dev) = spec.dev {
        message.attributes.push(RouteAttribute::Oif(dev));
    }
    if let Some(metric) = spec.metric {
        message.attributes.push(RouteAttribute::Priority(metric));
    }
    if let Some(src) = spec.src {
        message
            .attributes
            .push(RouteAttribute::PrefSource(RouteAddress::from(src)));
    }
    Ok(message)
}

fn rule_message(op: &str, spec: &RuleSpec) -> Result<RuleMessage, SystemError> {
    let mut message = RuleMessage::default();
    message.header.family = spec.family.netlink();
    message.header.action = match spec.target {
        RuleTarget::Lookup(_) => RuleAction::ToTable,
        RuleTarget::Blackhole => RuleAction::Blackhole,
        RuleTarget::Unreachable => RuleAction::Unreachable,
        RuleTarget::Prohibit => RuleAction::Prohibit,
    };
    for (selector, is_src) in [(spec.from, true), (spec.to, false)] {
        let Some((addr, len)) = selector else {
            continue;
        };
        check_prefix(op, &addr, len)?;
        if IpFamily::of(&addr) != spec.family {
            return Err(SystemError::Invalid {
                op: op.into(),
                why: format!("{addr} is not of the rule's family"),
            });
        }
        if is_src {
            message.header.src_len = len;
            message.attributes.push(RuleAttribute::Source(addr));
        } else {
            message.header.dst_len = len;
            message.attributes.push(RuleAttribute::Destination(addr));
        }
    }
    // A rule that is not a lookup has no table (RT_TABLE_UNSPEC, as `ip rule` sends it).
    if let RuleTarget::Lookup(table) = spec.target {
        message.header.table = if table > 255 {
            RouteHeader::RT_TABLE_UNSPEC
        } else {
            table as u8
        };
        message.attributes.push(RuleAttribute::Table(table));
    }
    if let Some(priority) = spec.priority {
        message.attributes.push(RuleAttribute::Priority(priority));
    }
    if let Some(iif) = &spec.iif {
        message.attributes.push(RuleAttribute::Iifname(iif.clone()));
    }
    if let Some(oif) = &spec.oif {
        message.attributes.push(RuleAttribute::Oifname(oif.clone()));
    }
    if let Some((mark, mask)) = spec.fwmark {
        message.attributes.push(RuleAttribute::FwMark(mark));
        if let Some(mask) = mask {
            message.attributes.push(RuleAttribute::FwMask(mask));
        }
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    //! Real-kernel tests, each in its own network namespace (they need root).

    use super::*;
    use crate::system::testns::TestNs;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse::<Ipv4Addr>().unwrap())
    }
    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
    }

    fn labelled(label: &str) -> AddressOptions {
        AddressOptions {
            label: Some(label.into()),
            ..AddressOptions::default()
        }
    }

    /// The `ip -j addr show dev <dev>` entry for `local`, if present.
    fn ip_addr_entry(ns: &TestNs, dev: &str, local: &str) -> Option<serde_json::Value> {
        let json = ns.ip_json(&["addr", "show", "dev", dev]);
        json[0]["addr_info"]
            .as_array()?
            .iter()
            .find(|a| a["local"] == local)
            .cloned()
    }

    async fn next_event(
        events: &mut mpsc::Receiver<NetEvent>,
        what: &str,
        mut wanted: impl FnMut(&NetEvent) -> bool,
    ) -> NetEvent {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(event)) if wanted(&event) => return event,
                Ok(Some(_)) => continue,
                Ok(None) => panic!("event stream closed while waiting for {what}"),
                Err(_) => panic!("no {what} event within 5 s"),
            }
        }
    }

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

    #[test]
    fn link_lookup_reports_index_mac_state_and_mtu() {
        let ns = TestNs::create();
        ns.ip(&[
            "link", "add", "d0", "mtu", "1400", "type", "veth", "peer", "name", "d0p",
        ]);
        ns.ip(&["link", "set", "d0p", "up"]);
        let shown = ns.ip_json(&["link", "show", "d0"]);
        let index = shown[0]["ifindex"].as_u64().unwrap() as u32;
        let mac = shown[0]["address"].as_str().unwrap().to_string();
        ns.run(move || async move {
            let nl = Netlink::new().unwrap();
            let link = nl.link_by_name("d0").await.unwrap();
            assert_eq!(link.ifindex, index);
            assert_eq!(link.mtu, 1400);
            assert_eq!(link.kind.as_deref(), Some("veth"));
            let mac_text = link
                .mac
                .unwrap()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            assert_eq!(mac_text, mac);
            assert!(!link.admin_up && !link.oper_up);
            nl.set_link_up(index, true).await.unwrap();
            let link = nl.link_by_index(index).await.unwrap();
            assert!(link.admin_up && link.oper_up, "{link:?}");
            assert!(nl.links().await.unwrap().iter().any(|l| l.name == "lo"));
            let missing = nl.link_by_name("nosuch0").await.unwrap_err();
            assert!(
                matches!(missing, SystemError::NoSuchInterface { ref name, .. } if name == "nosuch0"),
                "{missing:?}"
            );
            assert!(missing.to_string().contains("does not exist (yet)"));
        });
    }

    #[test]
    fn addresses_are_added_idempotently_with_label_and_nodad_then_removed() {
        let ns = TestNs::create();
        ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
        ns.ip(&["link", "set", "d0p", "up"]);
        ns.ip(&["link", "set", "d0", "up"]);
        let index = ns.ip_json(&["link", "show", "d0"])[0]["ifindex"]
            .as_u64()
            .unwrap() as u32;
        ns.run(move || async move {
            let nl = Netlink::new().unwrap();
            for _ in 0..2 {
                nl.add_address(index, v4("192.0.2.3"), 24, &labelled("d0:vip"))
                    .await
                    .unwrap();
                nl.add_address(index, v6("2001:db8::3"), 64, &AddressOptions::default())
                    .await
                    .unwrap();
            }
            assert!(nl.has_address(index, v4("192.0.2.3")).await.unwrap());
            assert!(nl.has_address(index, v6("2001:db8::3")).await.unwrap());
            let listed = nl.addresses(Some(index)).await.unwrap();
            let vip = listed.iter().find(|a| a.addr == v4("192.0.2.3")).unwrap();
            assert_eq!((vip.prefix_len, vip.label.as_deref()), (24, Some("d0:vip")));
        });
        let four = ip_addr_entry(&ns, "d0", "192.0.2.3").expect("IPv4 VIP on d0");
        assert_eq!(four["prefixlen"], 24);
        assert_eq!(four["label"], "d0:vip");
        let six = ip_addr_entry(&ns, "d0", "2001:db8::3").expect("IPv6 VIP on d0");
        assert_eq!(six["prefixlen"], 64);
        assert_eq!(six["scope"], "global");
        assert_eq!(six["nodad"], true, "{six}");
        assert!(six.get("tentative").is_none(), "no DAD wait: {six}");

        ns.run(move || async move {
            let nl = Netlink::new().unwrap();
            for _ in 0..2 {
                nl.delete_address(index, v4("192.0.2.3"), 24).await.unwrap();
                nl.delete_address(index, v6("2001:db8::3"), 64)
                    .await
                    .unwrap();
            }
            assert!(!nl.has_address(index, v4("192.0.2.3")).await.unwrap());
            assert!(!nl.has_address(index, v6("2001:db8::3")).await.unwrap());
            let gone = nl
                .add_address(999_999, v4("192.0.2.4"), 24, &AddressOptions::default())
                .await
                .unwrap_err();
            assert!(
                matches!(gone, SystemError::NoSuchInterface { .. }),
                "{gone:?}"
            );
        });
        assert!(ip_addr_entry(&ns, "d0", "192.0.2.3").is_none());
        assert!(ip_addr_entry(&ns, "d0", "2001:db8::3").is_none());
    }

    #[test]
    fn link_and_address_events_follow_down_delete_recreate() {
        let ns = TestNs::create();
        let name = ns.name().to_string();
        ns.run(move || async move {
            let nl = Netlink::new().unwrap();
            let mut events = nl.subscribe().unwrap();
            let ip = |args: &[&str]| {
                let status = std::process::Command::new("ip")
                    .args(["-n", &name])
                    .args(args)
                    .status()
                    .unwrap();
                assert!(status.success(), "ip {args:?}");
            };
            let is_link = |up: bool, removed: bool| {
                move |e: &NetEvent| {
                    matches!(e, NetEvent::Link(l) if l.name == "d0" && l.up == up && l.removed == removed)
                }
            };
            ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
            ip(&["link", "set", "d0p", "up"]);
            let NetEvent::Link(first) = next_event(&mut events, "d0 created", is_link(false, false)).await
            else {
                unreachable!()
            };
            ip(&["link", "set", "d0", "up"]);
            next_event(&mut events, "d0 up", is_link(true, false)).await;
            ip(&["addr", "add", "192.0.2.9/24", "dev", "d0"]);
            let added = next_event(&mut events, "address added", |e| {
                matches!(e, NetEvent::Address(a) if a.addr == v4("192.0.2.9") && !a.removed)
            })
            .await;
            assert_eq!(
                added,
                NetEvent::Address(AddressEvent {
                    ifindex: first.ifindex,
                    addr: v4("192.0.2.9"),
                    prefix: 24,
                    removed: false
                })
            );
            ip(&["link", "set", "d0", "down"]);
            next_event(&mut events, "d0 down", is_link(false, false)).await;
            ip(&["link", "del", "d0"]);
            next_event(&mut events, "d0 removed", is_link(false, true)).await;
            ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
            ip(&["link", "set", "d0p", "up"]);
            ip(&["link", "set", "d0", "up"]);
            let NetEvent::Link(again) = next_event(&mut events, "d0 back up", is_link(true, false)).await
            else {
                unreachable!()
            };
            assert_ne!(again.ifindex, first.ifindex, "a recreated link gets a new index");
            ip(&["route", "add", "198.51.100.0/24", "dev", "d0", "table", "250"]);
            next_event(&mut events, "route added", |e| {
                matches!(e, NetEvent::Route(r) if r.table == 250 && r.dst == Some(v4("198.51.100.0")) && r.prefix == 24 && !r.removed)
            })
            .await;
            ip(&["rule", "add", "to", "all", "lookup", "250", "priority", "32770"]);
            next_event(&mut events, "rule added", |e| {
                matches!(e, NetEvent::Rule(r) if r.table == 250 && r.priority == Some(32770) && !r.removed)
            })
            .await;
        });
    }

    fn vmac(vrid: u8) -> [u8; 6] {
        [0x00, 0x00, 0x5e, 0x00, 0x01, vrid]
    }

    #[test]
    fn macvlan_is_created_with_mac_mode_and_addrgenmode_then_reused_and_deleted() {
        let ns = TestNs::create();
        ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
        ns.ip(&["link", "set", "d0p", "up"]);
        ns.ip(&["link", "set", "d0", "up"]);
        ns.ip(&["link", "add", "vrrp.61", "type", "bridge"]);
        let parent = ns.ip_json(&["link", "show", "d0"])[0]["ifindex"]
            .as_u64()
            .unwrap() as u32;
        let created = ns.run(move || async move {
            let nl = Netlink::new().unwrap();
            let spec = MacvlanSpec {
                parent,
                name: "vrrp.60".into(),
                mac: vmac(60),
                mode: VmacMode::Private,
                addr_gen_mode: AddrGenMode::None,
            };
            let first = nl.ensure_macvlan(&spec).await.unwrap();
            assert!(first.created);
            // A VIP already on the reused macvlan survives: reuse must not cycle the link down
            // (that would flush IPv6 addresses).
            nl.add_address(
                first.ifindex,
                v6("2001:db8::60"),
                64,
                &AddressOptions::default(),
            )
            .await
            .unwrap();
            let again = nl.ensure_macvlan(&spec).await.unwrap();
            assert!(nl
                .has_address(first.ifindex, v6("2001:db8::60"))
                .await
                .unwrap());
            assert_eq!(
                again,
                MacvlanOutcome {
                    ifindex: first.ifindex,
                    created: false
                }
            );
            let found = nl.find_macvlan(&spec).await.unwrap().unwrap();
            assert_eq!(found.macvlan_mode, Some(VmacMode::Private));
            assert_eq!(found.addr_gen_mode, Some(AddrGenMode::None));
            assert!(found.admin_up);
            assert_eq!(found.parent, Some(parent));

            let six = MacvlanSpec {
                name: "vrrp6.60".into(),
                mac: [0x00, 0x00, 0x5e, 0x00, 0x02, 60],
                mode: VmacMode::Bridge,
                addr_gen_mode: AddrGenMode::Random,
                ..spec.clone()
            };
            nl.create_macvlan(&six).await.unwrap();

            let foreign = MacvlanSpec {
                name: "vrrp.61".into(),
                mac: vmac(61),
                ..spec.clone()
            };
            let taken = nl.ensure_macvlan(&foreign).await.unwrap_err();
            assert!(matches!(taken, SystemError::NameTaken { .. }), "{taken:?}");
            let wrong_mac = MacvlanSpec {
                mac: vmac(99),
                ..spec.clone()
            };
            assert!(matches!(
                nl.find_macvlan(&wrong_mac).await,
                Err(SystemError::NameTaken { .. })
            ));
            first.ifindex
        });
        let shown = &ns.ip_json(&["-d", "link", "show", "vrrp.60"])[0];
        assert_eq!(shown["address"], "00:00:5e:00:01:3c");
        assert_eq!(shown["linkinfo"]["info_kind"], "macvlan");
        assert_eq!(shown["linkinfo"]["info_data"]["mode"], "private");
        assert_eq!(shown["inet6_addr_gen_mode"], "none");
        assert!(shown["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
        assert_eq!(shown["ifindex"].as_u64().unwrap() as u32, created);
        let no_link_local = ns.ip_json(&["-6", "addr", "show", "dev", "vrrp.60"]);
        assert!(
            no_link_local
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
                .all(|a| a["scope"] != "link"),
            "addrgenmode none leaves no link-local: {no_link_local}"
        );
        let six_addresses = ns.ip_json(&["-6", "addr", "show", "dev", "vrrp6.60"]);
        let link_locals: Vec<String> = six_addresses
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["scope"] == "link")
            .map(|a| a["local"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            link_locals.len(),
            1,
            "random mode makes one link-local: {six_addresses}"
        );
        assert_ne!(
            link_locals[0], "fe80::200:5eff:fe00:23c",
            "the link-local must not be derived from the shared virtual MAC"
        );
        let six = &ns.ip_json(&["-d", "link", "show", "vrrp6.60"])[0];
        assert_eq!(six["address"], "00:00:5e:00:02:3c");
        assert_eq!(six["linkinfo"]["info_data"]["mode"], "bridge");
        assert_eq!(six["inet6_addr_gen_mode"], "random");
        let foreign = &ns.ip_json(&["-d", "link", "show", "vrrp.61"])[0];
        assert_eq!(
            foreign["linkinfo"]["info_kind"], "bridge",
            "someone else's link untouched"
        );

        ns.run(move || async move {
            let nl = Netlink::new().unwrap();
            nl.delete_link(created).await.unwrap();
            nl.delete_link(created).await.unwrap();
            assert!(matches!(
                nl.link_by_name("vrrp.60").await,
                Err(SystemError::NoSuchInterface { .. })
            ));
        });
    }

    #[test]
    fn routes_and_rules_of_both_families_are_added_and_deleted() {
        let ns = TestNs::create();
        ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
        ns.ip(&["link", "set", "d0p", "up"]);
        ns.ip(&["link", "set", "d0", "up"]);
        ns.ip(&["addr", "add", "203.0.113.2/24", "dev", "d0"]);
        ns.ip(&["addr", "add", "2001:db8::2/64", "dev", "d0", "nodad"]);
        let dev = ns.ip_json(&["link", "show", "d0"])[0]["ifindex"]
            .as_u64()
            .unwrap() as u32;
        let routes = vec![
            RouteSpec {
                via: Some(v4("203.0.113.1")),
                table: 250,
                ..RouteSpec::new(v4("0.0.0.0"), 0)
            },
            RouteSpec {
                kind: RouteKind::Blackhole,
                table: 250,
                metric: Some(7),
                ..RouteSpec::new(v4("198.51.100.0"), 24)
            },
            RouteSpec {
                dev: Some(dev),
                src: Some(v4("203.0.113.2")),
                table: 1000,
                ..RouteSpec::new(v4("192.0.2.0"), 24)
            },
            RouteSpec {
                via: Some(v6("2001:db8::1")),
                dev: Some(dev),
                table: 250,
                ..RouteSpec::new(v6("2001:db8:1::"), 48)
            },
        ];
        let rules = vec![
            RuleSpec {
                priority: Some(32770),
                ..RuleSpec::lookup(IpFamily::V4, 250)
            },
            RuleSpec {
                priority: Some(32770),
                ..RuleSpec::lookup(IpFamily::V6, 250)
            },
            RuleSpec {
                from: Some((v4("192.0.2.0"), 24)),
                to: Some((v4("198.51.100.0"), 24)),
                iif: Some("d0".into()),
                fwmark: Some((0x10, Some(0xff))),
                priority: Some(100),
                ..RuleSpec::lookup(IpFamily::V4, 1000)
            },
            RuleSpec {
                oif: Some("d0".into()),
                priority: Some(101),
                ..RuleSpec::lookup(IpFamily::V6, 251)
            },
        ];
        let (r, u) = (routes.clone(), rules.clone());
        ns.run(move || async move {
            let nl = Netlink::new().unwrap();
            for _ in 0..2 {
                for route in &r {
                    nl.add_route(route)
                        .await
                        .unwrap_or_else(|e| panic!("{route:?}: {e}"));
                }
                for rule in &u {
                    nl.add_rule(rule)
                        .await
                        .unwrap_or_else(|e| panic!("{rule:?}: {e}"));
                }
            }
        });
        let t250 = ns.ip_json(&["route", "show", "table", "250"]);
        let default = t250
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["dst"] == "default")
            .unwrap();
        assert_eq!(default["gateway"], "203.0.113.1");
        let blackhole = t250
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["dst"] == "198.51.100.0/24")
            .unwrap();
        assert_eq!(blackhole["type"], "blackhole");
        assert_eq!(blackhole["metric"], 7);
        let t1000 = ns.ip_json(&["route", "show", "table", "1000"]);
        assert_eq!(t1000[0]["dst"], "192.0.2.0/24");
        assert_eq!(t1000[0]["prefsrc"], "203.0.113.2");
        assert_eq!(t1000[0]["scope"], "link");
        let six = ns.ip_json(&["-6", "route", "show", "table", "250"]);
        assert_eq!(six[0]["dst"], "2001:db8:1::/48");
        assert_eq!(six[0]["gateway"], "2001:db8::1");
        let rules4 = ns.ip_json(&["rule", "show"]);
        let added_twice = rules4
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["priority"] == 32770)
            .count();
        assert_eq!(added_twice, 1, "adding a rule twice leaves one: {rules4}");
        let lookup250 = rules4
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["priority"] == 32770)
            .unwrap();
        assert_eq!(lookup250["table"], "250");
        assert!(lookup250.get("src").is_none() || lookup250["src"] == "all");
        let selective = rules4
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["priority"] == 100)
            .unwrap();
        assert_eq!(selective["src"], "192.0.2.0");
        assert_eq!(selective["srclen"], 24);
        assert_eq!(selective["dst"], "198.51.100.0");
        assert_eq!(selective["iif"], "d0");
        assert_eq!(selective["fwmark"], "0x10");
        assert_eq!(selective["fwmask"], "0xff");
        assert_eq!(selective["table"], "1000");
        let rules6 = ns.ip_json(&["-6", "rule", "show"]);
        assert!(rules6
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["priority"] == 32770 && r["table"] == "250"));
        assert!(rules6
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["priority"] == 101 && r["oif"] == "d0"));

        ns.run(move || async move {
            let nl = Netlink::new().unwrap();
            for _ in 0..2 {
                for route in &routes {
                    nl.delete_route(route)
                        .await
                        .unwrap_or_else(|e| panic!("{route:?}: {e}"));
                }
                for rule in &rules {
                    nl.delete_rule(rule)
                        .await
                        .unwrap_or_else(|e| panic!("{rule:?}: {e}"));
                }
            }
        });
        assert_eq!(
            ns.ip_json(&["route", "show", "table", "250"]),
            serde_json::json!([])
        );
        assert_eq!(
            ns.ip_json(&["route", "show", "table", "1000"]),
            serde_json::json!([])
        );
        assert_eq!(
            ns.ip_json(&["-6", "route", "show", "table", "250"]),
            serde_json::json!([])
        );
        let left: Vec<_> = ns
            .ip_json(&["rule", "show"])
            .as_array()
            .unwrap()
            .iter()
            .chain(
                ns.ip_json(&["-6", "rule", "show"])
                    .as_array()
                    .unwrap()
                    .iter(),
            )
            .filter(|r| [100, 101, 32770].contains(&r["priority"].as_u64().unwrap()))
            .cloned()
            .collect();
        assert!(left.is_empty(), "rules left: {left:?}");
    }

    #[test]
    fn address_options_set_broadcast_scope_and_noprefixroute() {
        let ns = TestNs::create();
        ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
        ns.ip(&["link", "set", "d0p", "up"]);
        ns.ip(&["link", "set", "d0", "up"]);
        let index = ns.ip_json(&["link", "show", "d0"])[0]["ifindex"]
            .as_u64()
            .unwrap() as u32;
        ns.run(move || async move {
            let nl = Netlink::new().unwrap();
            let keepalived_style = AddressOptions {
                label: Some("d0:1".into()),
                broadcast: Some("192.0.2.127".parse().unwrap()),
                scope: Some(Scope::Link),
                no_prefix_route: true,
            };
            nl.add_address(index, v4("192.0.2.3"), 24, &keepalived_style)
                .await
                .unwrap();
            nl.add_address(index, v4("198.51.100.3"), 24, &AddressOptions::default())
                .await
                .unwrap();
            let six = AddressOptions {
                no_prefix_route: true,
                ..AddressOptions::default()
            };
            nl.add_address(index, v6("2001:db8::3"), 64, &six)
                .await
                .unwrap();
            let refused = nl
                .add_address(
                    index,
                    v6("2001:db8::4"),
                    64,
                    &AddressOptions {
                        broadcast: Some("192.0.2.255".parse().unwrap()),
                        ..AddressOptions::default()
                    },
                )
                .await
                .unwrap_err();
            assert!(
                matches!(refused, SystemError::Invalid { .. }),
                "{refused:?}"
            );
        });
        let vip = ip_addr_entry(&ns, "d0", "192.0.2.3").expect("VIP on d0");
        assert_eq!(vip["broadcast"], "192.0.2.127", "{vip}");
        assert_eq!(vip["scope"], "link", "{vip}");
        assert_eq!(vip["label"], "d0:1", "{vip}");
        assert_eq!(vip["noprefixroute"], true, "{vip}");
        let plain = ip_addr_entry(&ns, "d0", "198.51.100.3").expect("plain address on d0");
        assert_eq!(plain["broadcast"], "198.51.100.255", "{plain}");
        assert_eq!(plain["scope"], "global", "{plain}");
        assert!(plain.get("noprefixroute").is_none(), "{plain}");
        let six = ip_addr_entry(&ns, "d0", "2001:db8::3").expect("IPv6 VIP on d0");
        assert_eq!(six["noprefixroute"], true, "{six}");
        assert_eq!(six["nodad"], true, "{six}");
        assert!(ip_addr_entry(&ns, "d0", "2001:db8::4").is_none());
        // noprefixroute: no kernel route for 192.0.2.0/24, but one for the plain address.
        let routes = ns.ip_json(&["route", "show", "dev", "d0"]);
        let dsts: Vec<_> = routes
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["dst"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert!(!dsts.contains(&"192.0.2.0/24".to_owned()), "{routes}");
        assert!(dsts.contains(&"198.51.100.0/24".to_owned()), "{routes}");
        let routes6 = ns.ip_json(&["-6", "route", "show", "dev", "d0"]);
        assert!(
            !routes6
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["dst"] == "2001:db8::/64"),
            "{routes6}"
        );
    }

    #[test]
    fn reject_routes_scope_onlink_and_rule_actions_are_added_and_deleted() {
        let ns = TestNs::create();
        ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
        ns.ip(&["link", "set", "d0p", "up"]);
        ns.ip(&["link", "set", "d0", "up"]);
        ns.ip(&["addr", "add", "203.0.113.2/24", "dev", "d0"]);
        let dev = ns.ip_json(&["link", "show", "d0"])[0]["ifindex"]
            .as_u64()
            .unwrap() as u32;
        let routes = vec![
            RouteSpec {
                kind: RouteKind::Unreachable,
                table: 250,
                ..RouteSpec::new(v4("198.51.100.0"), 25)
            },
            RouteSpec {
                kind: RouteKind::Prohibit,
                table: 250,
                ..RouteSpec::new(v4("198.51.100.128"), 25)
            },
            RouteSpec {
                kind: RouteKind::Throw,
                table: 250,
                ..RouteSpec::new(v4("192.0.2.0"), 24)
            },
            RouteSpec {
                kind: RouteKind::Unreachable,
                table: 250,
                ..RouteSpec::new(v6("2001:db8:5::"), 48)
            },
            RouteSpec {
                kind: RouteKind::Prohibit,
                table: 250,
                ..RouteSpec::new(v6("2001:db8:6::"), 48)
            },
            RouteSpec {
                kind: RouteKind::Throw,
                table: 250,
                ..RouteSpec::new(v6("2001:db8:7::"), 48)
            },
            // The gateway is outside every prefix of d0: only onlink makes it acceptable.
            RouteSpec {
                via: Some(v4("198.51.100.1")),
                dev: Some(dev),
                onlink: true,
                table: 251,
                ..RouteSpec::new(v4("0.0.0.0"), 0)
            },
            RouteSpec {
                dev: Some(dev),
                scope: Some(Scope::Host),
                table: 251,
                ..RouteSpec::new(v4("192.0.2.77"), 32)
            },
            RouteSpec {
                src: Some(v4("203.0.113.2")),
                dev: Some(dev),
                scope: Some(Scope::Global),
                table: 251,
                ..RouteSpec::new(v4("192.0.2.0"), 25)
            },
        ];
        let rules = vec![
            RuleSpec {
                from: Some((v4("192.0.2.0"), 24)),
                priority: Some(200),
                ..RuleSpec::new(IpFamily::V4, RuleTarget::Blackhole)
            },
            RuleSpec {
                to: Some((v4("198.51.100.0"), 24)),
                priority: Some(201),
                ..RuleSpec::new(IpFamily::V4, RuleTarget::Unreachable)
            },
            RuleSpec {
                priority: Some(202),
                fwmark: Some((7, None)),
                ..RuleSpec::new(IpFamily::V4, RuleTarget::Prohibit)
            },
            RuleSpec {
                from: Some((v6("2001:db8:9::"), 48)),
                priority: Some(200),
                ..RuleSpec::new(IpFamily::V6, RuleTarget::Blackhole)
            },
            RuleSpec {
                priority: Some(201),
                iif: Some("d0".into()),
                ..RuleSpec::new(IpFamily::V6, RuleTarget::Unreachable)
            },
            RuleSpec {
                priority: Some(202),
                ..RuleSpec::new(IpFamily::V6, RuleTarget::Prohibit)
            },
        ];
        let (r, u) = (routes.clone(), rules.clone());
        ns.run(move || async move {
            let nl = Netlink::new().unwrap();
            for _ in 0..2 {
                for route in &r {
                    nl.add_route(route)
                        .await
                        .unwrap_or_else(|e| panic!("{route:?}: {e}"));
                }
                for rule in &u {
                    nl.add_rule(rule)
                        .await
                        .unwrap_or_else(|e| panic!("{rule:?}: {e}"));
                }
            }
            let without_gateway = RouteSpec {
                onlink: true,
                dev: Some(dev),
                ..RouteSpec::new(v4("192.0.2.0"), 24)
            };
            assert!(matches!(
                nl.add_route(&without_gateway).await,
                Err(SystemError::Invalid { .. })
            ));
        });
        let find = |table: &serde_json::Value, dst: &str| {
            table
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["dst"] == dst)
                .cloned()
                .unwrap_or_else(|| panic!("no route to {dst} in {table}"))
        };
        let t250 = ns.ip_json(&["route", "show", "table", "250"]);
        assert_eq!(find(&t250, "198.51.100.0/25")["type"], "unreachable");
        assert_eq!(find(&t250, "198.51.100.128/25")["type"], "prohibit");
        assert_eq!(find(&t250, "192.0.2.0/24")["type"], "throw");
        let t250v6 = ns.ip_json(&["-6", "route", "show", "table", "250"]);
        assert_eq!(find(&t250v6, "2001:db8:5::/48")["type"], "unreachable");
        assert_eq!(find(&t250v6, "2001:db8:6::/48")["type"], "prohibit");
        assert_eq!(find(&t250v6, "2001:db8:7::/48")["type"], "throw");
        let t251 = ns.ip_json(&["route", "show", "table", "251"]);
        let onlink = find(&t251, "default");
        assert_eq!(onlink["gateway"], "198.51.100.1");
        assert!(
            onlink["flags"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "onlink")),
            "{onlink}"
        );
        assert_eq!(find(&t251, "192.0.2.77")["scope"], "host");
        // Without `scope global` a gatewayless route with a device would be scope link.
        assert!(find(&t251, "192.0.2.0/25")
            .get("scope")
            .is_none_or(|s| s == "global"));
        let rules4 = ns.ip_json(&["rule", "show"]);
        let rule = |list: &serde_json::Value, priority: u64| {
            list.as_array()
                .unwrap()
                .iter()
                .find(|r| r["priority"] == priority)
                .cloned()
                .unwrap_or_else(|| panic!("no rule {priority} in {list}"))
        };
        assert_eq!(rule(&rules4, 200)["action"], "blackhole");
        assert_eq!(rule(&rules4, 200)["src"], "192.0.2.0");
        assert_eq!(rule(&rules4, 201)["action"], "unreachable");
        assert_eq!(rule(&rules4, 202)["action"], "prohibit");
        let rules6 = ns.ip_json(&["-6", "rule", "show"]);
        assert_eq!(rule(&rules6, 200)["action"], "blackhole");
        assert_eq!(rule(&rules6, 201)["action"], "unreachable");
        assert_eq!(rule(&rules6, 202)["action"], "prohibit");
        for list in [&rules4, &rules6] {
            let count = list
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["priority"] == 200)
                .count();
            assert_eq!(count, 1, "adding twice leaves one: {list}");
        }

        ns.run(move || async move {
            let nl = Netlink::new().unwrap();
            for _ in 0..2 {
                for route in &routes {
                    nl.delete_route(route)
                        .await
                        .unwrap_or_else(|e| panic!("{route:?}: {e}"));
                }
                for rule in &rules {
                    nl.delete_rule(rule)
                        .await
                        .unwrap_or_else(|e| panic!("{rule:?}: {e}"));
                }
            }
        });
        for args in [
            &["route", "show", "table", "250"][..],
            &["-6", "route", "show", "table", "250"],
            &["route", "show", "table", "251"],
        ] {
            assert_eq!(ns.ip_json(args), serde_json::json!([]), "{args:?}");
        }
        let left: Vec<_> = ns
            .ip_json(&["rule", "show"])
            .as_array()
            .unwrap()
            .iter()
            .chain(
                ns.ip_json(&["-6", "rule", "show"])
                    .as_array()
                    .unwrap()
                    .iter(),
            )
            .filter(|r| [200, 201, 202].contains(&r["priority"].as_u64().unwrap()))
            .cloned()
            .collect();
        assert!(left.is_empty(), "rules left: {left:?}");
    }
}
