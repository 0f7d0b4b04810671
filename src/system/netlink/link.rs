//! Links: lookup by name or index, up/down and delete; and macvlans (VMACs): create, reuse one of
//! ours from an earlier run, or refuse a name that belongs to someone else.

use futures::TryStreamExt;
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoData, InfoMacVlan, LinkAttribute, LinkFlags,
    LinkInfo as NlLinkInfo, LinkMessage, MacVlanMode,
};
use rtnetlink::{LinkMacVlan, LinkUnspec};

use super::{map_nl, nl_errno, Netlink};
use crate::system::error::SystemError;

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

impl Netlink {
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
}

pub(super) fn link_info(message: &LinkMessage) -> LinkInfo {
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
