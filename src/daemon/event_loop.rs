//! The event loop: one task owns every router; packets, deadlines, netlink events, control
//! requests and signals come in, router actions go out to sockets and to the reconciler.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use vipd_config as config;
use vipd_router::{self as router, Action, Input, MemberAction, Micros, SyncGroup};
use vipd_wire as wire;

use super::control::ControlRequest;
use super::effects::{self, Effect, EffectReport};
use super::instance::{virtual_mac, Instance};
use super::status::{InstanceStatus, ReloadReport, StatusReport, VipStatus};
use crate::system::announce;
use crate::system::netlink::{AddrGenMode, MacvlanSpec, NetEvent, Netlink, VmacMode};
use crate::system::nft::NftTable;
use crate::system::socket::{Family, PacketMeta, RecvBatch, VrrpSocket};
use crate::system::sysctl::{Sysctl, SysctlRegistry};
use crate::system::timer::DeadlineTimer;

/// One datagram read from one of the daemon's sockets.
struct Received<'a> {
    socket: usize,
    data: &'a [u8],
    meta: PacketMeta,
}

struct SocketEntry {
    ifindex: u32,
    family: Family,
    socket: VrrpSocket,
    /// Instance index by VRID.
    by_vrid: [Option<usize>; 256],
    /// Closed when its interface went away; its slot is kept so indices stay valid.
    closed: bool,
}

/// Reads the datagrams queued on one open socket into `batch`, trying the sockets from `first` on
/// so that a busy one cannot starve the others; registers the waker on all of them otherwise.
/// The event loop reads sockets itself: a reader task per socket cost a task wake-up, a channel
/// hop, an allocation and a system call per packet.
fn poll_sockets(
    sockets: &[SocketEntry],
    first: usize,
    cx: &mut std::task::Context<'_>,
    batch: &mut RecvBatch,
) -> std::task::Poll<(usize, std::io::Result<usize>)> {
    let count = sockets.len();
    for k in 0..count {
        let id = (first + k) % count;
        let entry = &sockets[id];
        if entry.closed {
            continue;
        }
        if let std::task::Poll::Ready(result) = entry.socket.poll_recv_batch(cx, batch) {
            return std::task::Poll::Ready((id, result));
        }
    }
    std::task::Poll::Pending
}

pub struct Daemon {
    start: Instant,
    config: config::Config,
    /// The file given to `vipd run -c`, read again on reload.
    config_path: PathBuf,
    last_reload: Option<ReloadReport>,
    instances: Vec<Instance>,
    groups: Vec<SyncGroup>,
    /// Instance index of each group member.
    group_members: Vec<Vec<usize>>,
    sockets: Vec<SocketEntry>,
    netlink: Netlink,
    effects: mpsc::UnboundedSender<Effect>,
    reports: mpsc::UnboundedReceiver<EffectReport>,
    /// The socket tried first for the next read (round robin).
    next_socket: usize,
    control_rx: mpsc::Receiver<ControlRequest>,
    net_events: Option<mpsc::Receiver<NetEvent>>,
    errors: Vec<String>,
    timer: DeadlineTimer,
    sysctls: SysctlRegistry,
    nft: Option<NftTable>,
    /// VMACs this run created or adopted (ifindex), deleted on exit.
    vmacs: Vec<u32>,
    actions: Vec<MemberAction>,
    encode_buf: bytes::BytesMut,
    /// The state each `vrrp_sync_group` was last announced in (notify scripts).
    sync_group_states: std::collections::HashMap<String, router::State>,
}

impl Daemon {
    /// Sets up everything that does not depend on a particular instance, then each instance.
    pub async fn start(
        config: config::Config,
        config_path: PathBuf,
        control_rx: mpsc::Receiver<ControlRequest>,
    ) -> Result<Daemon, String> {
        let netlink = Netlink::new().map_err(|e| e.to_string())?;
        let mut errors = Vec::new();
        let net_events = match netlink.subscribe() {
            Ok(rx) => Some(rx),
            Err(e) => {
                errors.push(format!("no interface events: {e}"));
                None
            }
        };
        let nft = if config.needs_nftables() {
            let table = NftTable::new(&config.global.nftables_table);
            // A table of ours left by a crash is replaced, so no stale VIP stays blocked.
            match table.ensure_table().await {
                Ok(()) => Some(table),
                Err(e) => {
                    errors.push(format!("no_accept cannot be enforced: {e}"));
                    None
                }
            }
        } else {
            None
        };
        let (effects, reports) = effects::spawn(netlink.clone(), nft.clone());

        let mut instances = Vec::new();
        let mut group_members: Vec<Vec<usize>> = Vec::new();
        let mut grouped = vec![false; config.instances.len()];
        for group in &config.sync_groups {
            let mut members = Vec::new();
            for name in &group.members {
                if let Some(index) = config.instances.iter().position(|i| &i.name == name) {
                    if !grouped[index] {
                        grouped[index] = true;
                        members.push(index);
                    }
                }
            }
            if !members.is_empty() {
                group_members.push(members);
            }
        }
        for (index, done) in grouped.iter().enumerate() {
            if !done {
                group_members.push(vec![index]);
            }
        }
        let mut placement = vec![(0usize, 0usize); config.instances.len()];
        for (g, members) in group_members.iter().enumerate() {
            for (m, &index) in members.iter().enumerate() {
                placement[index] = (g, m);
            }
        }
        for (index, cfg) in config.instances.iter().enumerate() {
            let (g, m) = placement[index];
            instances.push(Instance::new(cfg.clone(), g, m));
        }

        let mut daemon = Daemon {
            start: Instant::now(),
            config,
            config_path,
            last_reload: None,
            instances,
            groups: Vec::new(),
            group_members,
            sockets: Vec::new(),
            netlink,
            effects,
            reports,
            next_socket: 0,
            control_rx,
            net_events,
            errors,
            timer: DeadlineTimer::new().map_err(|e| format!("cannot create a timerfd: {e}"))?,
            sysctls: SysctlRegistry::new(),
            nft,
            vmacs: Vec::new(),
            actions: Vec::new(),
            encode_buf: bytes::BytesMut::with_capacity(1500),
            sync_group_states: std::collections::HashMap::new(),
        };
        for index in 0..daemon.instances.len() {
            daemon.attach(index).await;
            daemon.refresh_tracked(index).await;
            daemon.remove_stale(index);
        }
        daemon.build_groups();
        Ok(daemon)
    }

    fn now(&self) -> Micros {
        Micros(self.start.elapsed().as_micros() as u64)
    }

    fn instant(&self, at: Micros) -> Instant {
        self.start + Duration::from_micros(at.0)
    }

    /// Finds the instance's interface (making its VMAC when configured), source address and
    /// sockets. Leaves them unset, with the reason in status, when the interface is missing.
    async fn attach(&mut self, index: usize) {
        let ifname = self.instances[index].cfg.interface.clone();
        let link = match self.netlink.link_by_name(&ifname).await {
            Ok(link) => link,
            Err(e) => {
                let instance = &mut self.instances[index];
                instance.ifindex = None;
                instance.vip_ifindex = None;
                instance.link_up = false;
                instance.set_error(Some(e.to_string()));
                return;
            }
        };
        let family = self.instances[index].family;
        {
            let instance = &mut self.instances[index];
            instance.ifindex = Some(link.ifindex);
            instance.vip_ifindex = Some(link.ifindex);
            instance.mac = link.mac;
            instance.link_up = link.oper_up;
        }
        let vmac = self.instances[index].cfg.vmac.clone();
        let mut listen_on = vec![(link.ifindex, ifname.clone())];
        if let Some(vmac) = &vmac {
            match self
                .make_vmac(index, link.ifindex, &ifname, &vmac.name)
                .await
            {
                Ok(vmac_ifindex) => {
                    let instance = &mut self.instances[index];
                    instance.vip_ifindex = Some(vmac_ifindex);
                    instance.mac = Some(virtual_mac(family, instance.cfg.vrid));
                    // A private-mode macvlan is handed every multicast frame of the link, and it is
                    // the only one handed frames whose source MAC is its own (RFC-compliant peers
                    // of the same VRID): so listening on it hears everyone. With vmac_xmit_base
                    // adverts leave from the parent, which keeps listening as well.
                    if vmac.xmit_base {
                        listen_on.push((vmac_ifindex, vmac.name.clone()));
                    } else {
                        listen_on = vec![(vmac_ifindex, vmac.name.clone())];
                    }
                }
                Err(e) => {
                    self.instances[index].set_error(Some(e));
                    return;
                }
            }
        }
        let src = match self.instances[index].cfg.unicast_src_ip {
            Some(ip) => Some(ip),
            None => {
                // IPv6 adverts come from the link-local of the interface they leave from.
                let from = match (family, &vmac) {
                    (Family::V6, Some(v)) if !v.xmit_base => self.instances[index].vip_ifindex,
                    _ => Some(link.ifindex),
                };
                match from {
                    Some(ifindex) => self.primary_address(ifindex, index).await,
                    None => None,
                }
            }
        };
        self.instances[index].src = src;
        if let Some(src) = src {
            let (group, member) = (self.instances[index].group, self.instances[index].member);
            // Routers are built after the first attach; a later one may bring a new address.
            if let Some(group) = self.groups.get_mut(group) {
                group.set_primary_address(member, src);
            }
        }
        if src.is_none() {
            self.instances[index].set_error(Some(format!(
                "interface {ifname} has no {} address to send adverts from",
                match family {
                    Family::V4 => "IPv4",
                    Family::V6 => "IPv6 link-local",
                }
            )));
        }
        let vrid = self.instances[index].cfg.vrid;
        let mut sockets = Vec::new();
        for (ifindex, name) in &listen_on {
            match self.socket_for(*ifindex, name, family) {
                Ok(socket) => {
                    self.sockets[socket].by_vrid[usize::from(vrid)] = Some(index);
                    sockets.push(socket);
                }
                Err(e) => {
                    self.instances[index].set_error(Some(format!(
                        "cannot open the VRRP socket on {name}: {e}{}",
                        if e.raw_os_error() == Some(libc::EPERM) {
                            " (vipd needs CAP_NET_RAW)"
                        } else {
                            ""
                        }
                    )));
                    return;
                }
            }
        }
        let instance = &mut self.instances[index];
        // Adverts leave from the first: the VMAC, or the parent with vmac_xmit_base.
        instance.send_socket = sockets.first().copied();
        instance.sockets = sockets;
        if src.is_some() {
            instance.set_error(None);
        }
    }

    /// Creates (or adopts ours from an earlier run) the instance's macvlan, brings it up and sets
    /// the sysctls keepalived sets on it and its parent. Returns its ifindex.
    async fn make_vmac(
        &mut self,
        index: usize,
        parent: u32,
        parent_name: &str,
        name: &str,
    ) -> Result<u32, String> {
        let instance = &self.instances[index];
        let spec = MacvlanSpec {
            parent,
            name: name.to_owned(),
            mac: virtual_mac(instance.family, instance.cfg.vrid),
            mode: VmacMode::Private,
            addr_gen_mode: match instance.family {
                Family::V4 => AddrGenMode::None,
                // A link-local derived from the shared MAC would be the same on every router.
                Family::V6 => AddrGenMode::Random,
            },
        };
        let outcome = self
            .netlink
            .ensure_macvlan(&spec)
            .await
            .map_err(|e| format!("use_vmac: {e}"))?;
        if !self.vmacs.contains(&outcome.ifindex) {
            self.vmacs.push(outcome.ifindex);
        }
        self.netlink
            .set_link_up(outcome.ifindex, true)
            .await
            .map_err(|e| format!("use_vmac: {e}"))?;
        let settings = [
            (Sysctl::ipv4_conf(name, "arp_ignore"), "1"),
            (Sysctl::ipv4_conf(name, "accept_local"), "1"),
            (Sysctl::ipv4_conf(name, "rp_filter"), "0"),
            (Sysctl::ipv4_conf(parent_name, "arp_ignore"), "1"),
            (Sysctl::ipv4_conf(parent_name, "arp_filter"), "1"),
        ];
        for (sysctl, value) in settings {
            if let Err(e) = self.sysctls.set(sysctl, value) {
                tracing::warn!(instance = %self.instances[index].cfg.name, "use_vmac: {e}");
            }
        }
        Ok(outcome.ifindex)
    }

    /// Looks up each `track_interface` and records whether it is up.
    async fn refresh_tracked(&mut self, index: usize) {
        for t in 0..self.instances[index].tracked.len() {
            let name = self.instances[index].tracked[t].name.clone();
            let link = self.netlink.link_by_name(&name).await.ok();
            let tracked = &mut self.instances[index].tracked[t];
            tracked.ifindex = link.as_ref().map(|l| l.ifindex);
            tracked.up = link.is_some_and(|l| l.oper_up);
        }
    }

    /// The interface's own address of the instance's family: the first IPv4 address that is not
    /// one of our VIPs, or the IPv6 link-local (RFC 9568 §5.1.2.1).
    async fn primary_address(&self, ifindex: u32, index: usize) -> Option<IpAddr> {
        let instance = &self.instances[index];
        let addresses = self.netlink.addresses(Some(ifindex)).await.ok()?;
        addresses
            .into_iter()
            .map(|a| a.addr)
            .filter(|a| Family::of(a) == instance.family)
            .filter(|a| !instance.vips.iter().any(|v| v.addr == *a))
            .find(|a| match a {
                IpAddr::V4(_) => true,
                IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
            })
    }

    fn socket_for(&mut self, ifindex: u32, ifname: &str, family: Family) -> std::io::Result<usize> {
        if let Some(pos) = self
            .sockets
            .iter()
            .position(|s| !s.closed && s.ifindex == ifindex && s.family == family)
        {
            return Ok(pos);
        }
        let socket = VrrpSocket::open(family, ifname, ifindex)?;
        let id = self.sockets.len();
        self.sockets.push(SocketEntry {
            ifindex,
            family,
            socket,
            by_vrid: [None; 256],
            closed: false,
        });
        Ok(id)
    }

    /// Whatever an earlier run that did not clean up left of ours (VIPs, routes, rules, firewall
    /// entries) is removed before the routers start.
    fn remove_stale(&mut self, index: usize) {
        let instance = &self.instances[index];
        let Some(ifindex) = instance.vip_ifindex else {
            return;
        };
        let _ = self.effects.send(Effect::Master {
            instance: index,
            ifindex,
            present: false,
            resources: Arc::new(instance.master_resources(false)),
        });
    }

    fn build_groups(&mut self) {
        self.groups = self
            .group_members
            .iter()
            .map(|members| self.build_group(members))
            .collect();
    }

    /// The routers of one sync group (a lone instance is a group of one), still in Initialize.
    fn build_group(&self, members: &[usize]) -> SyncGroup {
        let routers = members
            .iter()
            .map(|&i| {
                router::Router::new(self.instances[i].router_config())
                    .expect("config validation guarantees a valid router configuration")
            })
            .collect();
        SyncGroup::new(routers)
    }

    fn startup(&mut self) {
        for g in 0..self.groups.len() {
            self.start_group(g);
        }
    }

    /// Starts one group's routers; a member without a usable interface goes to Fault at once.
    fn start_group(&mut self, g: usize) {
        let now = self.now();
        let mut out = std::mem::take(&mut self.actions);
        self.groups[g].startup(now, &mut out);
        self.apply(g, &mut out);
        for m in 0..self.group_members[g].len() {
            let index = self.group_members[g][m];
            if !self.instances[index].usable() {
                self.instances[index].router_sees_link_up = false;
                self.groups[g].handle(m, Input::InterfaceDown, now, &mut out);
                self.apply(g, &mut out);
            }
        }
        self.actions = out;
    }

    /// Carries out the actions a group produced, then clears the buffer.
    fn apply(&mut self, group: usize, out: &mut Vec<MemberAction>) {
        for MemberAction { member, action } in out.drain(..) {
            let index = self.group_members[group][member];
            self.apply_one(index, action);
        }
    }

    fn apply_one(&mut self, index: usize, action: Action) {
        match action {
            Action::SendAdvert { priority } => self.send_advert(index, priority),
            Action::BecomeMaster => {
                let instance = &self.instances[index];
                let accepts = self.groups[instance.group]
                    .member(instance.member)
                    .accepts_virtual_address_traffic();
                let resources = Arc::new(instance.master_resources(accepts));
                let instance = &mut self.instances[index];
                if let Some(ifindex) = instance.vip_ifindex {
                    let _ = self.effects.send(Effect::Master {
                        instance: index,
                        ifindex,
                        present: true,
                        resources: resources.clone(),
                    });
                    instance.installed = Some(resources);
                    instance.announce_after_install = true;
                }
            }
            Action::BecomeBackup | Action::BecomeFault | Action::BecomeInitialize => {
                self.stop_serving(index);
            }
            Action::Transition { from, to, reason } => {
                let instance = &mut self.instances[index];
                if to == router::State::Master {
                    instance.counters.become_master += 1;
                }
                if from == router::State::Master {
                    instance.counters.release_master += 1;
                }
                tracing::info!(
                    instance = %instance.cfg.name,
                    vrid = instance.cfg.vrid,
                    "{} -> {} ({:?})",
                    state_name(from),
                    state_name(to),
                    reason
                );
                super::notify::run(
                    &instance.cfg,
                    to,
                    self.groups[instance.group]
                        .member(instance.member)
                        .effective_priority(),
                );
                self.notify_sync_group(index, to);
            }
            Action::Anomaly(router::Anomaly::RivalMaster { src }) => {
                let now = self.now().0;
                let instance = &mut self.instances[index];
                instance.counters.rival_master_adverts += 1;
                // One warning per episode: a new rival, or the same one after 10 s of quiet.
                let fresh = instance
                    .rival_master
                    .is_none_or(|(last, at)| last != src || now.saturating_sub(at) > 10_000_000);
                if fresh {
                    tracing::warn!(instance = %instance.cfg.name, vrid = instance.cfg.vrid, "{src} advertises as master too and does not hear us (two masters); with use_vmac, check that both sides agree on vmac_xmit_base");
                }
                instance.rival_master = Some((src, now));
            }
            Action::Anomaly(anomaly) => {
                let instance = &self.instances[index];
                tracing::debug!(instance = %instance.cfg.name, vrid = instance.cfg.vrid, "{anomaly:?}");
            }
        }
    }

    /// Runs a `vrrp_sync_group`'s notify scripts once all its members are in `state` (the group
    /// moves together, so this is once per group transition, as keepalived does).
    fn notify_sync_group(&mut self, index: usize, state: router::State) {
        let name = &self.instances[index].cfg.name;
        let Some(group) = self
            .config
            .sync_groups
            .iter()
            .find(|g| g.members.contains(name))
        else {
            return;
        };
        let all_there = group.members.iter().all(|member| {
            self.instances.iter().any(|i| {
                !i.retired
                    && &i.cfg.name == member
                    && self.groups[i.group].member(i.member).state() == state
            })
        });
        if !all_there || self.sync_group_states.get(&group.name) == Some(&state) {
            return;
        }
        self.sync_group_states.insert(group.name.clone(), state);
        tracing::info!(sync_group = %group.name, "sync group is {}", state_name(state));
        super::notify::run_group(group, state);
    }

    fn send_advert(&mut self, index: usize, priority: u8) {
        let instance = &self.instances[index];
        let (Some(socket), Some(src)) = (instance.send_socket, instance.src) else {
            return;
        };
        let mut error = None;
        let mut sent = 0;
        self.instances[index].advert.priority = priority;
        let instance = &self.instances[index];
        for &dst in &instance.destinations {
            self.encode_buf.clear();
            if let Err(e) = wire::encode_into(
                &instance.advert,
                instance.flavour,
                src,
                dst,
                &mut self.encode_buf,
            ) {
                error = Some(format!("cannot encode advert: {e}"));
                continue;
            }
            match self.sockets[socket].socket.send(&self.encode_buf, src, dst) {
                Ok(()) => sent += 1,
                Err(e) => error = Some(format!("sending advert to {dst}: {e}")),
            }
        }
        let instance = &mut self.instances[index];
        if sent > 0 {
            instance.counters.adverts_sent += 1;
            if priority == 0 {
                instance.counters.priority_zero_sent += 1;
            }
        }
        if error.is_some()
            || instance
                .last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("sending advert"))
        {
            instance.set_error(error);
        }
    }

    /// Decodes with the RFC's multicast rules; an advert for a unicast instance that fails only the
    /// TTL rule is decoded again with keepalived's unicast rules (its peers may be routed).
    fn decode(
        &self,
        packet: &Received,
    ) -> Result<(wire::Advert, IpAddr, wire::ChecksumFlavour), wire::WireError> {
        let entry = &self.sockets[packet.socket];
        let attempt = |options: wire::DecodeOptions| match entry.family {
            Family::V4 => wire::decode_ipv4_packet_with(packet.data, options)
                .map(|rx| (rx.advert, IpAddr::V4(rx.header.src), rx.checksum)),
            Family::V6 => {
                let (IpAddr::V6(src), Some(IpAddr::V6(dst)), Some(hops)) =
                    (packet.meta.src, packet.meta.dst, packet.meta.hop_limit)
                else {
                    return Err(wire::WireError::Truncated);
                };
                wire::decode_ipv6_payload_with(packet.data, src, dst, hops, options)
                    .map(|rx| (rx.advert, IpAddr::V6(src), rx.checksum))
            }
        };
        match attempt(wire::DecodeOptions::MULTICAST) {
            Err(wire::WireError::Ttl)
                if self
                    .instance_named_by(packet.socket, packet.data)
                    .is_some_and(|i| !self.instances[i].cfg.unicast_peers.is_empty()) =>
            {
                attempt(wire::DecodeOptions::UNICAST)
            }
            other => other,
        }
    }

    /// The instance whose VRID a (possibly invalid) packet names.
    fn instance_named_by(&self, socket: usize, data: &[u8]) -> Option<usize> {
        let entry = &self.sockets[socket];
        let vrid = match entry.family {
            Family::V4 => wire::split_ipv4_packet(data)
                .ok()
                .and_then(|(_, m)| m.get(1).copied()),
            Family::V6 => data.get(1).copied(),
        };
        vrid.and_then(|v| entry.by_vrid[usize::from(v)])
    }

    /// Handles the outcome of one read from socket `socket`.
    fn on_read(&mut self, socket: usize, result: std::io::Result<usize>, batch: &RecvBatch) {
        self.next_socket = socket + 1;
        match result {
            Ok(_) => {
                for (data, meta) in batch.packets().flatten() {
                    if self.sockets[socket].closed {
                        break;
                    }
                    self.on_packet(Received { socket, data, meta });
                }
            }
            // The interface is gone: the link event that follows detaches its instances.
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {
                self.sockets[socket].closed = true;
            }
            Err(e) => tracing::debug!("reading VRRP socket #{socket}: {e}"),
        }
    }

    fn on_packet(&mut self, packet: Received) {
        if self.sockets.get(packet.socket).is_none_or(|s| s.closed) {
            return;
        }
        let (advert, src, flavour) = match self.decode(&packet) {
            Ok(decoded) => decoded,
            Err(e) => {
                if let Some(index) = self.instance_named_by(packet.socket, packet.data) {
                    let now = self.now().0;
                    self.instances[index].reject(e, packet.meta.src, now);
                }
                return;
            }
        };
        let entry = &self.sockets[packet.socket];
        let Some(index) = entry.by_vrid[usize::from(advert.vrid)] else {
            return;
        };
        let instance = &mut self.instances[index];
        if Some(src) == instance.src {
            return;
        }
        // Heard on two sockets (vmac_xmit_base listens on the parent and on the VMAC): the second
        // copy arrives microseconds after the first; a real advert never comes that soon.
        let now = self.start.elapsed().as_micros() as u64;
        if instance
            .last_advert
            .as_ref()
            .is_some_and(|(from, last, at)| *from == src && *last == advert && now - at < 2_000)
        {
            return;
        }
        if !instance.cfg.unicast_peers.is_empty()
            && instance.cfg.check_unicast_src
            && !instance.cfg.unicast_peers.contains(&src)
        {
            return;
        }
        if let Err(e) = wire::check_against(&advert, &instance.expected()) {
            instance.reject(e, src, now);
            return;
        }
        instance.counters.adverts_received += 1;
        if instance.sockets.len() > 1 {
            instance.last_advert = Some((src, advert.clone(), now));
        }
        if advert.priority == 0 {
            instance.counters.priority_zero_received += 1;
        }
        if entry.family == Family::V4 && advert.version == wire::Version::V3 {
            match flavour {
                wire::ChecksumFlavour::PseudoHeader => instance.checksums.pseudo_header += 1,
                wire::ChecksumFlavour::Plain => instance.checksums.plain += 1,
            }
        }
        let input = Input::Advert(router::ReceivedAdvert {
            src,
            priority: advert.priority,
            max_adver_int: advert.max_adver_int,
        });
        let (group, member) = (instance.group, instance.member);
        self.feed(group, member, input);
    }

    fn feed(&mut self, group: usize, member: usize, input: Input) {
        let now = self.now();
        let mut out = std::mem::take(&mut self.actions);
        self.groups[group].handle(member, input, now, &mut out);
        self.apply(group, &mut out);
        self.actions = out;
    }

    fn on_timers(&mut self) {
        let now = self.now();
        let mut out = std::mem::take(&mut self.actions);
        for g in 0..self.groups.len() {
            if self.groups[g].next_deadline().is_some_and(|d| d <= now) {
                self.groups[g].handle_timers(now, &mut out);
                self.apply(g, &mut out);
            }
        }
        self.actions = out;
        let now = Instant::now();
        for index in 0..self.instances.len() {
            if self.instances[index]
                .garp
                .as_ref()
                .and_then(|p| p.next())
                .is_some_and(|t| t <= now)
            {
                self.announce(index, now);
            }
        }
    }

    fn on_effect_report(&mut self, report: EffectReport) {
        let policy = self.garp_policy(report.instance);
        let Some(instance) = self.instances.get_mut(report.instance) else {
            return;
        };
        // A successful report clears only an error that an earlier report set.
        if report.error.is_some() || instance.error_from_effects {
            let failed = report.error.is_some();
            instance.set_error(report.error);
            instance.error_from_effects = failed;
        }
        if report.present && instance.announce_after_install && instance.installed.is_some() {
            instance.announce_after_install = false;
            instance.garp = Some(announce::GarpPlan::start(policy, Instant::now()));
        }
    }

    /// keepalived's announcement policy for this instance (instance values default to the
    /// global ones in the configuration).
    fn garp_policy(&self, index: usize) -> announce::GarpPolicy {
        let cfg = &self.instances[index].cfg;
        let global = &self.config.global;
        let seconds = |s: u32| (s > 0).then(|| Duration::from_secs(u64::from(s)));
        announce::GarpPolicy {
            repeat: cfg.garp_master_repeat,
            delay: seconds(cfg.garp_master_delay),
            refresh: seconds(cfg.garp_master_refresh),
            refresh_repeat: cfg.garp_master_refresh_repeat,
            interval: Duration::from_micros(match self.instances[index].family {
                Family::V4 => global.vrrp_garp_interval_us,
                Family::V6 => global.vrrp_gna_interval_us,
            }),
        }
    }

    /// Sends the gratuitous ARPs / unsolicited NAs that the instance's plan says are due.
    fn announce(&mut self, index: usize, now: Instant) {
        let instance = &mut self.instances[index];
        let Some(plan) = instance.garp.as_mut() else {
            return;
        };
        let due = plan.poll(now);
        let (Some(ifindex), Some(mac)) = (instance.vip_ifindex, instance.mac) else {
            return;
        };
        if instance.frame_sender.as_ref().map(|s| s.ifindex()) != Some(ifindex) {
            instance.frame_sender = match announce::FrameSender::open(ifindex) {
                Ok(sender) => Some(sender),
                Err(e) => {
                    instance.set_error(Some(format!("cannot announce VIPs: {e}")));
                    return;
                }
            };
        }
        let sender = instance.frame_sender.as_ref().expect("opened above");
        for _ in 0..due.rounds {
            for vip in &instance.vips {
                let frame = match vip.addr {
                    IpAddr::V4(v4) => wire::gratuitous_arp_frame(mac, v4),
                    IpAddr::V6(v6) => wire::unsolicited_na_frame(mac, v6),
                };
                if let Err(e) = sender.send_frame(&frame) {
                    tracing::warn!(instance = %instance.cfg.name, "announcing {}: {e}", vip.addr);
                }
            }
        }
    }

    fn next_wakeup(&self) -> Option<Micros> {
        let routers = self.groups.iter().filter_map(|g| g.next_deadline());
        let garps = self
            .instances
            .iter()
            .filter_map(|i| i.garp.as_ref().and_then(|p| p.next()))
            .map(|at| Micros(at.saturating_duration_since(self.start).as_micros() as u64));
        routers.chain(garps).min()
    }

    async fn on_net_event(&mut self, event: NetEvent) {
        match event {
            NetEvent::Link(link) => {
                if link.removed {
                    self.close_sockets_on(link.ifindex);
                }
                for index in 0..self.instances.len() {
                    if self.instances[index].retired {
                        continue;
                    }
                    self.track_link(index, &link);
                    let instance = &self.instances[index];
                    let parent = instance.ifindex == Some(link.ifindex)
                        || (instance.ifindex.is_none() && instance.cfg.interface == link.name);
                    let own_vmac = instance.cfg.vmac.is_some()
                        && instance.vip_ifindex == Some(link.ifindex)
                        && instance.ifindex != Some(link.ifindex);
                    if own_vmac && link.removed {
                        // Someone deleted our VMAC under a live parent: make it again, and as
                        // master put back what went with it (the VIPs; routes via it).
                        tracing::warn!(instance = %instance.cfg.name, vrid = instance.cfg.vrid, "VMAC {} was deleted; recreating it", link.name);
                        let was_installed = instance.installed.clone();
                        self.detach(index);
                        self.vmacs.retain(|&v| v != link.ifindex);
                        self.attach(index).await;
                        let usable = self.instances[index].usable();
                        if let (true, Some(resources)) = (usable, was_installed) {
                            let instance = &mut self.instances[index];
                            instance.installed = Some(resources);
                            instance.announce_after_install = true;
                            self.reinstall(index);
                        }
                        self.link_changed(index, usable);
                        continue;
                    }
                    if !parent {
                        continue;
                    }
                    if link.removed {
                        self.detach(index);
                        self.instances[index].link_up = false;
                        self.link_changed(index, false);
                        continue;
                    }
                    let instance = &self.instances[index];
                    if instance.send_socket.is_none() || instance.src.is_none() {
                        self.attach(index).await;
                    }
                    self.instances[index].link_up = link.up;
                    let usable = self.instances[index].usable();
                    self.link_changed(index, usable);
                }
            }
            NetEvent::Address(address) => {
                for index in 0..self.instances.len() {
                    let instance = &self.instances[index];
                    if address.removed
                        && instance.vip_ifindex == Some(address.ifindex)
                        && instance
                            .installed
                            .as_ref()
                            .is_some_and(|r| r.vips.iter().any(|v| v.addr == address.addr))
                    {
                        tracing::warn!(instance = %instance.cfg.name, vrid = instance.cfg.vrid, "VIP {} was removed by someone else; putting it back", address.addr);
                        self.reinstall(index);
                    }
                    let instance = &self.instances[index];
                    let on_ours = instance.ifindex == Some(address.ifindex)
                        || instance.vip_ifindex == Some(address.ifindex);
                    if on_ours && !address.removed && instance.src.is_none() {
                        self.attach(index).await;
                        let usable = self.instances[index].usable();
                        self.link_changed(index, usable);
                    }
                }
            }
            NetEvent::Route(change) if change.removed => {
                for index in 0..self.instances.len() {
                    let ours = self.instances[index].installed.as_ref().is_some_and(|r| {
                        r.routes.iter().any(|route| {
                            route.to.len == change.prefix
                                && route.table.unwrap_or(254) == change.table
                                && (change.dst == Some(route.to.addr)
                                    || (change.dst.is_none() && route.to.addr.is_unspecified()))
                        })
                    });
                    if ours {
                        tracing::warn!(instance = %self.instances[index].cfg.name, "a virtual route was removed by someone else; putting it back");
                        self.reinstall(index);
                    }
                }
            }
            NetEvent::Rule(change) if change.removed => {
                for index in 0..self.instances.len() {
                    let ours = self.instances[index].installed.as_ref().is_some_and(|r| {
                        r.rules.iter().any(|rule| {
                            let family = effects::family(rule.family);
                            // Without a configured priority the kernel chose one: any of ours
                            // of that family and table may be it, and putting back is idempotent.
                            family == change.family
                                && rule.priority.is_none_or(|p| Some(p) == change.priority)
                                && match rule.action {
                                    config::RuleAction::Lookup(table) => table == change.table,
                                    _ => true,
                                }
                        })
                    });
                    if ours {
                        tracing::warn!(instance = %self.instances[index].cfg.name, "a virtual rule was removed by someone else; putting it back");
                        self.reinstall(index);
                    }
                }
            }
            NetEvent::Route(_) | NetEvent::Rule(_) => {}
        }
    }

    /// Asks the reconciler again for what the instance installed as master.
    fn reinstall(&mut self, index: usize) {
        let instance = &self.instances[index];
        if let (Some(ifindex), Some(resources)) = (instance.vip_ifindex, instance.installed.clone())
        {
            let _ = self.effects.send(Effect::Master {
                instance: index,
                ifindex,
                present: true,
                resources,
            });
        }
    }

    /// Follows a `track_interface` entry and tells the router when its verdict changes.
    fn track_link(&mut self, index: usize, link: &crate::system::netlink::LinkEvent) {
        for id in 0..self.instances[index].tracked.len() {
            let instance = &mut self.instances[index];
            let tracked = &mut instance.tracked[id];
            if tracked.ifindex != Some(link.ifindex) && tracked.name != link.name {
                continue;
            }
            let before = instance.tracked_ok(id);
            let tracked = &mut instance.tracked[id];
            tracked.ifindex = (!link.removed).then_some(link.ifindex);
            tracked.up = link.up && !link.removed;
            let after = instance.tracked_ok(id);
            if before != after {
                tracing::info!(instance = %instance.cfg.name, vrid = instance.cfg.vrid, "tracked interface {} is {}", link.name, if link.up && !link.removed { "up" } else { "down" });
                let (group, member) = (instance.group, instance.member);
                self.feed(
                    group,
                    member,
                    Input::TrackedObjectChanged {
                        id: id as u32,
                        up: after,
                    },
                );
            }
        }
    }

    fn close_sockets_on(&mut self, ifindex: u32) {
        for entry in self
            .sockets
            .iter_mut()
            .filter(|s| s.ifindex == ifindex && !s.closed)
        {
            entry.closed = true;
            entry.by_vrid = [None; 256];
        }
    }

    /// Stops announcing and asks the reconciler to take back what the instance installed as
    /// master, if anything; returns whether there was something to take back.
    fn stop_serving(&mut self, index: usize) -> bool {
        let instance = &mut self.instances[index];
        instance.garp = None;
        instance.announce_after_install = false;
        let (Some(ifindex), Some(resources)) = (instance.vip_ifindex, instance.installed.take())
        else {
            return false;
        };
        let _ = self.effects.send(Effect::Master {
            instance: index,
            ifindex,
            present: false,
            resources,
        });
        true
    }

    /// Forgets the instance's interface after it went away. What it installed as master is
    /// taken back: the VIPs went with the interface, but rules and firewall entries did not.
    fn detach(&mut self, index: usize) {
        self.stop_serving(index);
        let instance = &mut self.instances[index];
        for socket in instance.sockets.drain(..) {
            self.sockets[socket].by_vrid[usize::from(instance.cfg.vrid)] = None;
        }
        instance.send_socket = None;
        instance.ifindex = None;
        instance.vip_ifindex = None;
        instance.frame_sender = None;
        instance.set_error(Some(format!(
            "interface {} was removed; waiting for it to come back",
            instance.cfg.interface
        )));
    }

    /// Tells the router when the instance becomes usable or stops being usable.
    fn link_changed(&mut self, index: usize, up: bool) {
        let instance = &mut self.instances[index];
        if instance.router_sees_link_up == up {
            return;
        }
        instance.router_sees_link_up = up;
        let (group, member) = (instance.group, instance.member);
        if instance.cfg.dont_track_primary {
            return;
        }
        self.feed(
            group,
            member,
            if up {
                Input::InterfaceUp
            } else {
                Input::InterfaceDown
            },
        );
    }

    fn status(&self) -> StatusReport {
        let now = self.now();
        let present: Vec<(String, IpAddr)> = nix::ifaddrs::getifaddrs()
            .map(|addrs| {
                addrs
                    .filter_map(|a| {
                        let ip = a.address.as_ref().and_then(|s| {
                            s.as_sockaddr_in()
                                .map(|v4| IpAddr::V4(v4.ip()))
                                .or_else(|| s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
                        })?;
                        Some((a.interface_name, ip))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let instances = self
            .instances
            .iter()
            .filter(|i| !i.retired)
            .map(|i| {
                let r = self.groups[i.group].member(i.member);
                let on_interface = |vip: &super::effects::VipSpec| {
                    let dev = i.vip_interface_name(vip);
                    present.iter().any(|(name, a)| {
                        *a == vip.addr && (name == dev || name.starts_with(&format!("{dev}:")))
                    })
                };
                InstanceStatus {
                    name: i.cfg.name.clone(),
                    interface: i.cfg.interface.clone(),
                    vrid: i.cfg.vrid,
                    family: match i.family {
                        Family::V4 => 4,
                        Family::V6 => 6,
                    },
                    version: match i.cfg.version {
                        config::Version::V2 => 2,
                        config::Version::V3 => 3,
                    },
                    state: state_name(r.state()).to_owned(),
                    priority: i.cfg.priority,
                    effective_priority: r.effective_priority(),
                    master: r.master_address().map(|a| a.to_string()),
                    advert_interval_ms: i.cfg.advert_interval_us as f64 / 1000.0,
                    master_advert_interval_ms: r.master_adver_interval_us() as f64 / 1000.0,
                    vips: i
                        .vips
                        .iter()
                        .map(|v| VipStatus {
                            address: format!("{}/{}", v.addr, v.prefix_len),
                            present: on_interface(v),
                        })
                        .collect(),
                    in_state_ms: now.0.saturating_sub(r.state_since().0) / 1000,
                    checksums_received: i.checksums.clone(),
                    last_error: i.last_error.clone(),
                    rival_master: i
                        .rival_master
                        .map(|(address, at)| super::status::RivalMaster {
                            address: address.to_string(),
                            last_heard_ms: now.0.saturating_sub(at) / 1000,
                        }),
                    counters: i.counters.clone(),
                }
            })
            .collect();
        StatusReport {
            pid: std::process::id(),
            uptime_ms: now.0 / 1000,
            instances,
            errors: self.errors.clone(),
            last_reload: self.last_reload.clone(),
        }
    }

    /// Runs until SIGTERM or SIGINT, then hands over (priority 0) and removes what it added.
    pub async fn run(mut self) -> i32 {
        let mut sigterm = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot watch SIGTERM: {e}");
                return 1;
            }
        };
        let mut sigint = signal(SignalKind::interrupt()).expect("SIGINT handler");
        let mut sighup = signal(SignalKind::hangup()).expect("SIGHUP handler");
        self.startup();
        super::notify_ready();
        let mut batch = RecvBatch::default();
        loop {
            let wake = self.next_wakeup().map(|m| self.instant(m));
            if let Err(e) = self.timer.arm(wake) {
                tracing::error!("cannot arm the deadline timer: {e}");
                break;
            }
            let net_event = async {
                match self.net_events.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let (sockets, first, batch_ref) = (&self.sockets, self.next_socket, &mut batch);
            let packets =
                std::future::poll_fn(move |cx| poll_sockets(sockets, first, cx, batch_ref));
            tokio::select! {
                biased;
                _ = sigterm.recv() => break,
                _ = sigint.recv() => break,
                _ = sighup.recv() => {
                    tracing::info!("SIGHUP: reloading {}", self.config_path.display());
                    self.reload().await;
                }
                (socket, result) = packets => self.on_read(socket, result, &batch),
                _ = self.timer.expired() => self.on_timers(),
                Some(event) = net_event => self.on_net_event(event).await,
                Some(report) = self.reports.recv() => self.on_effect_report(report),
                Some(request) = self.control_rx.recv() => match request {
                    ControlRequest::Status(reply) => { let _ = reply.send(self.status()); }
                    ControlRequest::Reload(reply) => { let _ = reply.send(self.reload().await); }
                },
            }
        }
        self.shutdown().await;
        0
    }

    /// Waits (bounded) until the reconciler has applied everything sent so far.
    async fn flush_effects(&self) {
        let (done_tx, done_rx) = oneshot::channel();
        let _ = self.effects.send(Effect::Flush(done_tx));
        let _ = tokio::time::timeout(Duration::from_secs(5), done_rx).await;
    }

    async fn shutdown(&mut self) {
        tracing::info!("shutting down: handing over and removing virtual addresses");
        // Make before break: a master without a VMAC keeps its VIPs after its priority-0 advert
        // until its successor's first advert (the successor then sends gratuitous ARPs / NAs), so
        // clients are served all through the successor's Skew_Time. With use_vmac the VIPs go
        // first: our answers from the shared virtual MAC to the successor's gratuitous ARPs would
        // teach the switch that the MAC is back on our port.
        let mut held = Vec::new();
        for index in 0..self.instances.len() {
            let instance = &mut self.instances[index];
            if instance.cfg.vmac.is_some() {
                self.stop_serving(index);
            } else if let (Some(ifindex), Some(resources)) =
                (instance.vip_ifindex, instance.installed.take())
            {
                held.push((index, ifindex, resources));
            }
        }
        self.flush_effects().await;
        let now = self.now();
        let mut out = std::mem::take(&mut self.actions);
        for g in 0..self.groups.len() {
            self.groups[g].shutdown(now, &mut out);
            self.apply(g, &mut out);
        }
        self.hand_over_held(held).await;
        // Whatever state each instance was in, nothing of ours stays behind.
        for index in 0..self.instances.len() {
            self.remove_stale(index);
        }
        self.flush_effects().await;
        for vmac in std::mem::take(&mut self.vmacs) {
            if let Err(e) = self.netlink.delete_link(vmac).await {
                tracing::warn!("removing VMAC #{vmac}: {e}");
            }
        }
        for e in self.sysctls.restore_all() {
            tracing::warn!("restoring sysctl: {e}");
        }
        if let Some(nft) = &self.nft {
            if let Err(e) = nft.delete_table().await {
                tracing::warn!("removing nftables table {}: {e}", nft.name());
            }
        }
    }

    /// Releases each held master's VIPs when another router's advert for its VRID shows that a
    /// successor has taken over, or when its wait runs out. A backup that heard our priority-0
    /// advert takes over after its Skew_Time, which is below one advert interval; two intervals,
    /// but at least 1 s (a loaded machine) and at most 3 s, bound the wait when there is no
    /// backup.
    async fn hand_over_held(&mut self, held: Vec<(usize, u32, Arc<effects::MasterResources>)>) {
        let started = Instant::now();
        let mut waiting: Vec<(usize, u32, Arc<effects::MasterResources>, Instant)> = held
            .into_iter()
            .map(|(index, ifindex, resources)| {
                let interval = Duration::from_micros(self.instances[index].cfg.advert_interval_us);
                let wait = (interval * 2 + Duration::from_millis(20))
                    .clamp(Duration::from_secs(1), Duration::from_secs(3));
                (index, ifindex, resources, started + wait)
            })
            .collect();
        let mut batch = RecvBatch::default();
        while !waiting.is_empty() {
            let deadline = waiting.iter().map(|w| w.3).min().expect("not empty");
            let (sockets, first) = (&self.sockets, self.next_socket);
            let read = std::future::poll_fn(|cx| poll_sockets(sockets, first, cx, &mut batch));
            let successors: Vec<usize> = tokio::select! {
                (socket, result) = read => {
                    self.next_socket = socket + 1;
                    match result {
                        Ok(_) => batch
                            .packets()
                            .flatten()
                            .filter_map(|(data, meta)| {
                                self.successor_heard(&Received { socket, data, meta })
                            })
                            .collect(),
                        Err(_) => Vec::new(),
                    }
                }
                _ = tokio::time::sleep_until(deadline) => Vec::new(),
            };
            let now = Instant::now();
            let mut released = Vec::new();
            waiting.retain(|w| {
                let release = successors.contains(&w.0) || w.3 <= now;
                if release {
                    released.push((w.0, w.1, w.2.clone()));
                }
                !release
            });
            for (index, ifindex, resources) in released {
                let instance = &self.instances[index];
                tracing::info!(
                    instance = %instance.cfg.name,
                    vrid = instance.cfg.vrid,
                    "releasing the virtual addresses after {:?} ({})",
                    started.elapsed(),
                    if successors.contains(&index) { "the successor advertises" } else { "no successor heard" }
                );
                let _ = self.effects.send(Effect::Master {
                    instance: index,
                    ifindex,
                    present: false,
                    resources,
                });
            }
        }
        self.flush_effects().await;
    }

    /// The instance for which `packet` is a valid advert of another router with a priority above
    /// zero: a router that is (or is becoming) master in our place.
    fn successor_heard(&self, packet: &Received) -> Option<usize> {
        if self.sockets.get(packet.socket).is_none_or(|s| s.closed) {
            return None;
        }
        let (advert, src, _) = self.decode(packet).ok()?;
        let index = self.sockets[packet.socket].by_vrid[usize::from(advert.vrid)]?;
        let instance = &self.instances[index];
        let valid = Some(src) != instance.src
            && advert.priority > 0
            && wire::check_against(&advert, &instance.expected()).is_ok();
        valid.then_some(index)
    }
}

pub fn state_name(state: router::State) -> &'static str {
    match state {
        router::State::Initialize => "INIT",
        router::State::Backup => "BACKUP",
        router::State::Master => "MASTER",
        router::State::Fault => "FAULT",
    }
}

// A child module, so that the reload logic can use the daemon's private state and helpers.
#[path = "reload.rs"]
mod reload;
