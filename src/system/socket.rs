//! Raw IPPROTO_VRRP (112) sockets: one per (interface, family), shared by every virtual router on it.
//! Joins 224.0.0.18 / ff02::12, sends with TTL / hop limit 255 from an explicit source address, and
//! receives with the metadata the wire layer needs (IPv4: the whole IP header; IPv6: source,
//! destination and hop limit from control messages). keepalived's `auth_type AH` adverts travel
//! as IP protocol 51 (AH) instead: [`Carrier::Ah`] sockets receive those and send whole IPv4
//! packets the daemon built (`IP_HDRINCL`), since the AH ICV covers the IP header.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub use crate::system::netlink::IpFamily as Family;
use vipd_wire::{VRRP_GROUP_V4, VRRP_GROUP_V6};

const IPPROTO_VRRP: libc::c_int = vipd_wire::IPPROTO_VRRP as libc::c_int;

impl Family {
    /// The VRRP multicast group of this family.
    pub fn group(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(VRRP_GROUP_V4),
            Family::V6 => IpAddr::V6(VRRP_GROUP_V6),
        }
    }
}

/// What a read learned about one datagram besides its bytes.
#[derive(Debug, Clone, Copy)]
pub struct PacketMeta {
    /// Bytes received (IPv4: header + VRRP; IPv6: VRRP only).
    pub len: usize,
    pub src: IpAddr,
    /// IPv6 only (IPv4 carries it in the header the wire layer reads).
    pub dst: Option<IpAddr>,
    /// IPv6 only (IPv4 carries the TTL in the header).
    pub hop_limit: Option<u8>,
    /// Set when the datagram did not fit the buffer: the wire layer must reject it by length.
    pub truncated: bool,
}

/// The IP protocol a socket carries adverts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Carrier {
    /// IP protocol 112; the kernel builds the IP header.
    Vrrp,
    /// IP protocol 51 (IPv4 only): VRRPv2 behind an AH header; the daemon builds whole packets.
    Ah,
}

/// A raw VRRP socket bound to one interface.
pub struct VrrpSocket {
    fd: OwnedFd,
    family: Family,
    ifindex: u32,
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: value points to a live T and the length passed is its size.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            value as *const T as *const libc::c_void,
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

impl VrrpSocket {
    /// Opens a raw VRRP socket on `ifname` (ifindex `ifindex`), joined to the VRRP group.
    /// Needs CAP_NET_RAW; the caller watches [`Self::fd`] for readiness.
    pub fn open(family: Family, ifname: &str, ifindex: u32) -> io::Result<VrrpSocket> {
        VrrpSocket::open_carrier(family, Carrier::Vrrp, ifname, ifindex)
    }

    /// [`VrrpSocket::open`] for adverts carried in `carrier`; [`Carrier::Ah`] needs IPv4, and its
    /// [`VrrpSocket::send`] takes whole IPv4 packets.
    pub fn open_carrier(
        family: Family,
        carrier: Carrier,
        ifname: &str,
        ifindex: u32,
    ) -> io::Result<VrrpSocket> {
        let domain = match family {
            Family::V4 => libc::AF_INET,
            Family::V6 => libc::AF_INET6,
        };
        let protocol = match (carrier, family) {
            (Carrier::Vrrp, _) => IPPROTO_VRRP,
            (Carrier::Ah, Family::V4) => libc::IPPROTO_AH,
            (Carrier::Ah, Family::V6) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "AH authentication exists for IPv4 only",
                ))
            }
        };
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = check(unsafe {
            libc::socket(
                domain,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                protocol,
            )
        })?;
        // SAFETY: raw is a fresh descriptor we own.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        let fd = owned.as_raw_fd();
        let name = ifname.as_bytes();
        // SAFETY: name is valid for name.len() bytes.
        check(unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                name.as_ptr() as *const libc::c_void,
                name.len() as libc::socklen_t,
            )
        })?;
        let one: libc::c_int = 1;
        let zero: libc::c_int = 0;
        let ttl: libc::c_int = 255;
        // A flood of junk for our VRIDs (27,000 packets/s from one sender in the fault matrix)
        // fills the default ~200 KiB queue within 10 ms of the loop not being scheduled, and the
        // kernel then drops the master's adverts with it: 3 spurious takeovers in 10 s on a
        // loaded machine. 4 MiB rides out scheduling gaps of ~150 ms at that rate. Without the
        // capability for SO_RCVBUFFORCE, the sysctl's cap applies.
        let queue: libc::c_int = RECV_QUEUE_BYTES;
        if setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &queue).is_err() {
            let _ = setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &queue);
        }
        match family {
            Family::V4 => {
                setsockopt(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, &ttl)?;
                setsockopt(fd, libc::IPPROTO_IP, libc::IP_TTL, &ttl)?;
                setsockopt(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, &zero)?;
                if carrier == Carrier::Ah {
                    setsockopt(fd, libc::IPPROTO_IP, libc::IP_HDRINCL, &one)?;
                }
                let mreqn = libc::ip_mreqn {
                    imr_multiaddr: libc::in_addr {
                        s_addr: u32::from(VRRP_GROUP_V4).to_be(),
                    },
                    imr_address: libc::in_addr { s_addr: 0 },
                    imr_ifindex: ifindex as libc::c_int,
                };
                setsockopt(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreqn)?;
                setsockopt(fd, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &mreqn)?;
            }
            Family::V6 => {
                setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, &ttl)?;
                setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &ttl)?;
                setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP, &zero)?;
                setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, &one)?;
                setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, &one)?;
                let index = ifindex as libc::c_int;
                setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, &index)?;
                let mreq = libc::ipv6_mreq {
                    ipv6mr_multiaddr: libc::in6_addr {
                        s6_addr: VRRP_GROUP_V6.octets(),
                    },
                    ipv6mr_interface: ifindex,
                };
                setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_ADD_MEMBERSHIP, &mreq)?;
            }
        }
        Ok(VrrpSocket {
            fd: owned,
            family,
            ifindex,
        })
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The descriptor to watch for readiness.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads the datagrams queued (up to [`RecvBatch::CAPACITY`]) into `batch` with one
    /// recvmmsg(2), without waiting: 0 when none is. A backup of 100 instances hears their
    /// adverts in bursts, read by one call.
    pub fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        match recv_batch(self.fd.as_raw_fd(), self.family, batch) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            other => other,
        }
    }

    /// Sends one VRRP message (the kernel adds the IP header) from `src` to `dst`; on a
    /// [`Carrier::Ah`] socket, one whole IPv4 packet (the kernel sets only its checksum).
    pub fn send(&self, payload: &[u8], src: IpAddr, dst: IpAddr) -> io::Result<()> {
        send_from(self.fd.as_raw_fd(), self.ifindex, payload, src, dst)
    }
}

/// The receive queue asked for on every VRRP socket.
const RECV_QUEUE_BYTES: libc::c_int = 4 << 20;

/// Control-message space for IPv6 pktinfo + hop limit, with room to spare.
const CMSG_SPACE: usize = 128;

/// Room for one datagram: an IPv4 header with options plus a VRRP message with 255 IPv4
/// addresses, or a VRRP message with 127 IPv6 addresses; longer ones are marked truncated.
pub const RECV_BUF_LEN: usize = 2048;

/// Buffers for the datagrams one recvmmsg(2) call returns, reused from call to call, with the
/// message headers that point into them built once: zeroing and filling 32 headers for every
/// read was a tenth of a single-instance backup's user-space instructions.
pub struct RecvBatch {
    data: Box<[[u8; RECV_BUF_LEN]; RecvBatch::CAPACITY]>,
    addrs: Box<[libc::sockaddr_storage; RecvBatch::CAPACITY]>,
    controls: Box<[[u64; CMSG_SPACE / 8]; RecvBatch::CAPACITY]>,
    iovs: Box<[libc::iovec; RecvBatch::CAPACITY]>,
    /// Each points at its buffers in the boxes above, whose heap addresses never change.
    msgs: Box<[libc::mmsghdr; RecvBatch::CAPACITY]>,
    /// How many headers the last call filled in (the kernel rewrote their lengths and flags).
    filled: usize,
    metas: Vec<Option<PacketMeta>>,
}

// SAFETY: the raw pointers in `iovs` and `msgs` point only into the batch's own boxes, which move
// with it; nothing else holds them.
unsafe impl Send for RecvBatch {}

impl Default for RecvBatch {
    fn default() -> Self {
        let mut batch = RecvBatch {
            data: Box::new([[0; RECV_BUF_LEN]; RecvBatch::CAPACITY]),
            // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs for which all-zero
            // bytes are valid.
            addrs: Box::new(unsafe { zeroed() }),
            controls: Box::new([[0; CMSG_SPACE / 8]; RecvBatch::CAPACITY]),
            iovs: Box::new(unsafe { zeroed() }),
            msgs: Box::new(unsafe { zeroed() }),
            filled: RecvBatch::CAPACITY,
            metas: Vec::with_capacity(RecvBatch::CAPACITY),
        };
        for i in 0..RecvBatch::CAPACITY {
            batch.iovs[i].iov_base = batch.data[i].as_mut_ptr() as *mut libc::c_void;
            batch.iovs[i].iov_len = RECV_BUF_LEN;
            let hdr = &mut batch.msgs[i].msg_hdr;
            hdr.msg_name = &mut batch.addrs[i] as *mut _ as *mut libc::c_void;
            hdr.msg_iov = &mut batch.iovs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = batch.controls[i].as_mut_ptr() as *mut libc::c_void;
        }
        batch
    }
}

impl RecvBatch {
    pub const CAPACITY: usize = 32;

    /// The datagrams of the last read, in arrival order: `None` for one without a usable source
    /// address (never seen on a raw socket, but not trusted either).
    pub fn packets(&self) -> impl Iterator<Item = Option<(&[u8], PacketMeta)>> + '_ {
        self.metas
            .iter()
            .zip(self.data.iter())
            .map(|(meta, data)| meta.map(|meta| (&data[..meta.len.min(RECV_BUF_LEN)], meta)))
    }
}

fn recv_batch(fd: RawFd, family: Family, batch: &mut RecvBatch) -> io::Result<usize> {
    batch.metas.clear();
    // The lengths the kernel rewrote in the last call (the pointers it never touches).
    for msg in &mut batch.msgs[..batch.filled] {
        msg.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_hdr.msg_controllen = CMSG_SPACE as _;
        msg.msg_hdr.msg_flags = 0;
        msg.msg_len = 0;
    }
    batch.filled = 0;
    // SAFETY: every header points at buffers of `batch` (see RecvBatch::default) with the
    // lengths of those buffers; `batch` outlives the call.
    let count = unsafe {
        libc::recvmmsg(
            fd,
            batch.msgs.as_mut_ptr(),
            RecvBatch::CAPACITY as libc::c_uint,
            0,
            std::ptr::null_mut(),
        )
    };
    if count < 0 {
        // Rare (a stale readiness, a vanished interface): reset every header next time rather
        // than rely on what a failed call left in them.
        batch.filled = RecvBatch::CAPACITY;
        return Err(io::Error::last_os_error());
    }
    let count = count as usize;
    batch.filled = count;
    for (msg, addr) in batch.msgs.iter().zip(batch.addrs.iter()).take(count) {
        // SAFETY: the kernel filled in this header and its control buffer, still alive.
        let meta = unsafe { meta_of(&msg.msg_hdr, msg.msg_len as usize, addr, family) };
        batch.metas.push(meta);
    }
    Ok(count)
}

/// What the kernel reported about one received datagram of `len` bytes.
///
/// # Safety
/// `msg` must be a header filled in by a successful receive, its control buffer still alive.
unsafe fn meta_of(
    msg: &libc::msghdr,
    len: usize,
    addr: &libc::sockaddr_storage,
    family: Family,
) -> Option<PacketMeta> {
    let src = sockaddr_to_ip(addr)?;
    let mut meta = PacketMeta {
        len,
        src,
        dst: None,
        hop_limit: None,
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
    };
    // SAFETY: the caller guarantees the control buffer holds what the kernel wrote.
    unsafe {
        if family == Family::V6 {
            let mut cmsg = libc::CMSG_FIRSTHDR(msg);
            while !cmsg.is_null() {
                let header = &*cmsg;
                if header.cmsg_level == libc::IPPROTO_IPV6 {
                    let data = libc::CMSG_DATA(cmsg);
                    if header.cmsg_type == libc::IPV6_HOPLIMIT {
                        let hops = std::ptr::read_unaligned(data as *const libc::c_int);
                        meta.hop_limit = Some(hops.clamp(0, 255) as u8);
                    } else if header.cmsg_type == libc::IPV6_PKTINFO {
                        let info = std::ptr::read_unaligned(data as *const libc::in6_pktinfo);
                        meta.dst = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                    }
                }
                cmsg = libc::CMSG_NXTHDR(msg, cmsg);
            }
        }
    }
    Some(meta)
}

fn sockaddr_to_ip(addr: &libc::sockaddr_storage) -> Option<IpAddr> {
    match addr.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(addr as *const _ as *const libc::sockaddr_in) };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(addr as *const _ as *const libc::sockaddr_in6) };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

fn send_from(fd: RawFd, ifindex: u32, payload: &[u8], src: IpAddr, dst: IpAddr) -> io::Result<()> {
    // SAFETY: as in recv_batch: C structs zero-initialised, pointers to locals that outlive the call.
    unsafe {
        let mut iov = libc::iovec {
            iov_base: payload.as_ptr() as *mut libc::c_void,
            iov_len: payload.len(),
        };
        let mut control = [0u64; CMSG_SPACE / 8];
        let mut msg: libc::msghdr = zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        let mut sin: libc::sockaddr_in = zeroed();
        let mut sin6: libc::sockaddr_in6 = zeroed();
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_addr.s_addr = u32::from(dst).to_be();
                msg.msg_name = &mut sin as *mut _ as *mut libc::c_void;
                msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
                let info_len = size_of::<libc::in_pktinfo>() as u32;
                msg.msg_controllen = libc::CMSG_SPACE(info_len) as _;
                let cmsg = libc::CMSG_FIRSTHDR(&msg);
                (*cmsg).cmsg_level = libc::IPPROTO_IP;
                (*cmsg).cmsg_type = libc::IP_PKTINFO;
                (*cmsg).cmsg_len = libc::CMSG_LEN(info_len) as _;
                let info = libc::in_pktinfo {
                    ipi_ifindex: ifindex as libc::c_int,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(src).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut libc::in_pktinfo, info);
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_addr.s6_addr = dst.octets();
                if dst.segments()[0] & 0xffc0 == 0xfe80 || dst.segments()[0] & 0xff0f == 0xff02 {
                    sin6.sin6_scope_id = ifindex;
                }
                msg.msg_name = &mut sin6 as *mut _ as *mut libc::c_void;
                msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
                let info_len = size_of::<libc::in6_pktinfo>() as u32;
                msg.msg_controllen = libc::CMSG_SPACE(info_len) as _;
                let cmsg = libc::CMSG_FIRSTHDR(&msg);
                (*cmsg).cmsg_level = libc::IPPROTO_IPV6;
                (*cmsg).cmsg_type = libc::IPV6_PKTINFO;
                (*cmsg).cmsg_len = libc::CMSG_LEN(info_len) as _;
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: src.octets(),
                    },
                    ipi6_ifindex: ifindex,
                };
                std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut libc::in6_pktinfo, info);
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "source and destination are of different address families",
                ))
            }
        }
        let n = libc::sendmsg(fd, &msg, 0);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
