//! Addresses on interfaces: add (with keepalived's options), delete, list.

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};

use super::{check_prefix, map_nl, nl_errno, IpFamily, Netlink, Scope};
use crate::system::error::SystemError;

/// An address on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressInfo {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub label: Option<String>,
    /// IPv6 duplicate address detection failed: the address is present but unusable.
    pub dad_failed: bool,
    /// IPv6 duplicate address detection is still running: nothing can be sent from it yet
    /// (sendmsg fails with EINVAL, bind with EADDRNOTAVAIL).
    pub tentative: bool,
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

impl Netlink {
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
}

pub(super) fn address_info(message: &AddressMessage) -> Option<AddressInfo> {
    let mut local = None;
    let mut address = None;
    let mut label = None;
    let mut dad_failed = message.header.flags.contains(AddressHeaderFlags::Dadfailed);
    let mut tentative = message.header.flags.contains(AddressHeaderFlags::Tentative);
    for attribute in &message.attributes {
        match attribute {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            AddressAttribute::Flags(f) => {
                dad_failed |= f.contains(AddressFlags::Dadfailed);
                tentative |= f.contains(AddressFlags::Tentative);
            }
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
        tentative,
    })
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
