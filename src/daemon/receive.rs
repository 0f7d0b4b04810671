//! Receiving adverts: the socket table (one raw socket per interface and family, shared by every
//! instance on it, dispatching by VRID, each watched by the event loop's epoll set), batch reads,
//! decoding
//! with the RFC's (or keepalived's unicast) rules, and the checks that turn a packet into the
//! router's `Input::Advert`.

use std::net::IpAddr;
use std::sync::Arc;

use vipd_router::{self as router, Input};
use vipd_wire as wire;

use super::main_loop::Daemon;
use super::registry::{InstanceId, Registry};
use crate::system::readiness::Readiness;
use crate::system::socket::{Carrier, Family, PacketMeta, RecvBatch, VrrpSocket};

/// A socket's handle; stale once its socket is closed and the slot reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SocketId {
    index: u32,
    generation: u32,
}

pub struct SocketEntry {
    pub ifindex: u32,
    pub family: Family,
    pub carrier: Carrier,
    socket: VrrpSocket,
    /// The instance of each VRID heard on this socket.
    pub by_vrid: [Option<InstanceId>; 256],
}

struct Slot {
    generation: u32,
    entry: Option<SocketEntry>,
}

/// Every open VRRP socket, each watched by the loop's epoll set under its [`SocketId::token`].
pub struct SocketTable {
    slots: Vec<Slot>,
    readiness: Arc<Readiness>,
}

impl SocketId {
    /// The epoll token of this socket: the generation in the high half, so a token still
    /// queued for a socket closed in the same wake-up finds no socket.
    pub fn token(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    pub fn from_token(token: u64) -> SocketId {
        SocketId {
            index: token as u32,
            generation: (token >> 32) as u32,
        }
    }
}

/// One datagram read from one of the sockets.
pub struct Received<'a> {
    pub socket: SocketId,
    pub data: &'a [u8],
    pub meta: PacketMeta,
}

impl SocketTable {
    pub fn new(readiness: Arc<Readiness>) -> SocketTable {
        SocketTable {
            slots: Vec::new(),
            readiness,
        }
    }

    pub fn get(&self, id: SocketId) -> Option<&SocketEntry> {
        self.slots
            .get(id.index as usize)
            .filter(|s| s.generation == id.generation)
            .and_then(|s| s.entry.as_ref())
    }

    fn get_mut(&mut self, id: SocketId) -> Option<&mut SocketEntry> {
        self.slots
            .get_mut(id.index as usize)
            .filter(|s| s.generation == id.generation)
            .and_then(|s| s.entry.as_mut())
    }

    /// The open socket for (interface, family, carrier), opened now if there is none.
    pub fn open(
        &mut self,
        ifindex: u32,
        ifname: &str,
        family: Family,
        carrier: Carrier,
    ) -> std::io::Result<SocketId> {
        if let Some(id) =
            self.find(|e| e.ifindex == ifindex && e.family == family && e.carrier == carrier)
        {
            return Ok(id);
        }
        let socket = VrrpSocket::open_carrier(family, carrier, ifname, ifindex)?;
        let index = match self.slots.iter().position(|s| s.entry.is_none()) {
            Some(free) => free,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    entry: None,
                });
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        let generation = slot.generation.wrapping_add(1);
        let id = SocketId {
            index: index as u32,
            generation,
        };
        self.readiness.watch(socket.fd(), id.token())?;
        slot.generation = generation;
        slot.entry = Some(SocketEntry {
            ifindex,
            family,
            carrier,
            socket,
            by_vrid: [None; 256],
        });
        Ok(id)
    }

    fn find(&self, pred: impl Fn(&SocketEntry) -> bool) -> Option<SocketId> {
        self.slots.iter().enumerate().find_map(|(i, s)| {
            s.entry.as_ref().filter(|e| pred(e)).map(|_| SocketId {
                index: i as u32,
                generation: s.generation,
            })
        })
    }

    /// Sets (or clears) which instance a VRID on `socket` belongs to.
    pub fn route(&mut self, socket: SocketId, vrid: u8, instance: Option<InstanceId>) {
        if let Some(entry) = self.get_mut(socket) {
            entry.by_vrid[usize::from(vrid)] = instance;
        }
    }

    /// Unroutes `vrid` from `socket` if it is routed to `instance`.
    pub fn unroute(&mut self, socket: SocketId, vrid: u8, instance: InstanceId) {
        if let Some(entry) = self.get_mut(socket) {
            let slot = &mut entry.by_vrid[usize::from(vrid)];
            if *slot == Some(instance) {
                *slot = None;
            }
        }
    }

    pub fn send(
        &self,
        socket: SocketId,
        packet: &[u8],
        src: IpAddr,
        dst: IpAddr,
    ) -> std::io::Result<()> {
        match self.get(socket) {
            Some(entry) => entry.socket.send(packet, src, dst),
            None => Err(std::io::Error::from_raw_os_error(libc::ENODEV)),
        }
    }

    /// Closes the sockets on an interface that went away.
    pub fn close_on(&mut self, ifindex: u32) {
        self.close_where(|e| e.ifindex == ifindex);
    }

    /// Closes the sockets no instance listens on any more.
    pub fn close_unused(&mut self) {
        self.close_where(|e| e.by_vrid.iter().all(Option::is_none));
    }

    fn close_where(&mut self, pred: impl Fn(&SocketEntry) -> bool) {
        for slot in &mut self.slots {
            if let Some(entry) = slot.entry.take_if(|e| pred(e)) {
                // Unwatched before the close: a child forked in between (a script being
                // started) would keep the socket, and so its readiness, alive until it execs.
                self.readiness.unwatch(entry.socket.fd());
            }
        }
    }

    /// Reads what is queued on `socket` into `batch` without waiting (None: no such socket).
    pub fn recv(&self, socket: SocketId, batch: &mut RecvBatch) -> Option<std::io::Result<usize>> {
        self.get(socket).map(|entry| entry.socket.recv_batch(batch))
    }

    /// The instance whose VRID a (possibly invalid) packet names.
    pub fn instance_named_by(&self, socket: SocketId, data: &[u8]) -> Option<InstanceId> {
        let entry = self.get(socket)?;
        let vrid = match entry.family {
            Family::V4 => wire::split_ipv4_packet(data)
                .ok()
                .and_then(|(_, m)| m.get(1).copied()),
            Family::V6 => data.get(1).copied(),
        };
        vrid.and_then(|v| entry.by_vrid[usize::from(v)])
    }

    /// Decodes with the RFC's multicast rules; an advert for a unicast instance that fails only
    /// the TTL rule is decoded again with keepalived's unicast rules (its peers may be routed).
    pub fn decode(
        &self,
        registry: &Registry,
        packet: &Received,
    ) -> Result<(wire::Advert, IpAddr, wire::ChecksumFlavour), wire::WireError> {
        let Some(entry) = self.get(packet.socket) else {
            return Err(wire::WireError::NotVrrp);
        };
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
                    .and_then(|id| registry.instance(id))
                    .is_some_and(|i| !i.cfg.unicast_peers.is_empty()) =>
            {
                attempt(wire::DecodeOptions::UNICAST)
            }
            other => other,
        }
    }
}

/// Batches read from one socket per wake-up before the loop waits again (a level-triggered
/// wait reports a socket with more queued again at once).
const READS_PER_WAKE_UP: usize = 8;

/// Two copies of one advert heard within this time on two sockets (vmac_xmit_base listens on the
/// parent and on the VMAC) are one advert: a real advert never comes that soon.
const DUPLICATE_WINDOW_US: u64 = 2_000;

impl Daemon {
    /// Reads and handles what `socket`, which the loop's wait found readable, has queued: a
    /// full batch is followed by another read at once (a 100-instance master's burst is four
    /// batches), at most [`READS_PER_WAKE_UP`] of them so other sockets get their turn.
    /// Returns the number of packets read.
    pub(super) fn read_socket(&mut self, socket: SocketId) -> usize {
        let mut packets = 0;
        for _ in 0..READS_PER_WAKE_UP {
            let batch = self.batch.get_or_insert_with(RecvBatch::default);
            let Some(result) = self.sockets.recv(socket, batch) else {
                break;
            };
            let read = *result.as_ref().unwrap_or(&0);
            packets += read;
            self.on_read(socket, result);
            if read != RecvBatch::CAPACITY {
                break;
            }
        }
        packets
    }

    /// Handles the outcome of one read from `socket`.
    fn on_read(&mut self, socket: SocketId, result: std::io::Result<usize>) {
        match result {
            Ok(_) => {
                let Some(batch) = self.batch.take() else {
                    return;
                };
                for (data, meta) in batch.packets().flatten() {
                    if self.sockets.get(socket).is_none() {
                        break;
                    }
                    self.on_packet(Received { socket, data, meta });
                }
                self.batch = Some(batch);
            }
            // The interface is gone: the link event that follows detaches its instances.
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {
                if let Some(ifindex) = self.sockets.get(socket).map(|e| e.ifindex) {
                    self.sockets.close_on(ifindex);
                }
            }
            Err(e) => tracing::debug!("reading VRRP socket {socket:?}: {e}"),
        }
    }

    fn on_packet(&mut self, packet: Received) {
        let now = self.now().0;
        let (advert, src, flavour) = match self.sockets.decode(&self.registry, &packet) {
            Ok(decoded) => decoded,
            Err(e) => {
                if let Some(id) = self.sockets.instance_named_by(packet.socket, packet.data) {
                    if let Some(instance) = self.registry.instance_mut(id) {
                        instance.reject(e, packet.meta.src, now);
                    }
                }
                return;
            }
        };
        let Some(entry) = self.sockets.get(packet.socket) else {
            return;
        };
        let family = entry.family;
        let Some(id) = entry.by_vrid[usize::from(advert.vrid)] else {
            return;
        };
        let Some(instance) = self.registry.instance_mut(id) else {
            return;
        };
        let Some(attachment) = instance.attachment.as_mut() else {
            return;
        };
        if Some(src) == attachment.src {
            return;
        }
        if attachment
            .last_advert
            .as_ref()
            .is_some_and(|(from, last, at)| {
                *from == src && *last == advert && now - at < DUPLICATE_WINDOW_US
            })
        {
            return;
        }
        if !instance.cfg.unicast_peers.is_empty()
            && instance.cfg.check_unicast_src
            && !instance.cfg.unicast_peers.contains(&src)
        {
            return;
        }
        if instance.ah.is_some() && !self.ah_accepts(id, packet.data, src, advert.priority) {
            return;
        }
        let Some(instance) = self.registry.instance_mut(id) else {
            return;
        };
        if let Err(e) = wire::check_against(&advert, &instance.expected()) {
            instance.reject(e, src, now);
            return;
        }
        let attachment = instance.attachment.as_mut().expect("checked above");
        if attachment.sockets.len() > 1 {
            attachment.last_advert = Some((src, advert.clone(), now));
        }
        if family == Family::V4 && advert.version == wire::Version::V3 {
            match flavour {
                wire::ChecksumFlavour::PseudoHeader => instance.stats.checksums.pseudo_header += 1,
                wire::ChecksumFlavour::Plain => instance.stats.checksums.plain += 1,
            }
        }
        instance.stats.on_advert_heard(now);
        if advert.priority > 0 {
            self.successor_heard(id, src);
        }
        let input = Input::Advert(router::ReceivedAdvert {
            src,
            priority: advert.priority,
            max_adver_int: advert.max_adver_int,
        });
        self.feed(id, input);
    }
}
