//! The ICMP echo probe (IPv4 and IPv6): one echo request on a socket connected to the target,
//! passing on the echo reply that carries its sequence number and a random token (and, on a raw
//! socket, its identifier). A ping socket (`SOCK_DGRAM`) is used where
//! `net.ipv4.ping_group_range` allows it: the kernel then hands it only its own replies. Else a
//! raw socket (vipd has CAP_NET_RAW for VRRP anyway) with the kernel's ICMP filter set to echo
//! replies, so the probe is not woken by every other ICMP message the host receives.

use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::io_reason;

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
/// `ICMP_FILTER` (linux/icmp.h, level SOL_RAW) and `ICMPV6_FILTER` (linux/icmpv6.h, level
/// IPPROTO_ICMPV6); the libc crate has neither.
const ICMP_FILTER: libc::c_int = 1;
const ICMPV6_FILTER: libc::c_int = 1;
/// Type, code, checksum, identifier, sequence, then the token.
const ECHO_HEADER_LEN: usize = 8;
const TOKEN_LEN: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SocketKind {
    /// `SOCK_DGRAM` + IPPROTO_ICMP(V6): the kernel sets the identifier and filters replies.
    Ping,
    /// `SOCK_RAW`: IPv4 reads include the IP header.
    Raw,
}

pub(super) async fn echo(target: IpAddr) -> Result<(), String> {
    let (socket, kind) =
        open(target).map_err(|error| format!("ICMP socket: {}", io_reason(&error)))?;
    // connect() makes the kernel deliver only the target's packets (and its errors).
    socket
        .connect(&SocketAddr::new(target, 0).into())
        .map_err(|error| io_reason(&error))?;
    let random = super::random_u64();
    let ident = random as u16;
    let sequence = (random >> 16) as u16;
    let token = super::random_u64().to_be_bytes();
    let request = echo_request(target.is_ipv4(), ident, sequence, &token);
    // SAFETY: the AsyncFd owns the socket, which is neither replaced nor closed behind it.
    let socket =
        unsafe { AsyncFd::register(socket) }.map_err(|error| io_reason(&error.into_parts().1))?;

    loop {
        let mut ready = socket.writable().await.map_err(|error| io_reason(&error))?;
        if let Ok(sent) = ready.try_io(|inner| inner.get_ref().send(&request)) {
            sent.map_err(|error| io_reason(&error))?;
            break;
        }
    }
    // Room for the longest IPv4 header, the echo header and the token; longer replies are cut.
    let mut buffer = [0u8; 60 + ECHO_HEADER_LEN + TOKEN_LEN];
    loop {
        let mut ready = socket.readable().await.map_err(|error| io_reason(&error))?;
        let Ok(received) = ready.try_io(|inner| inner.get_ref().read(&mut buffer)) else {
            continue;
        };
        let length = received.map_err(|error| io_reason(&error))?;
        let expected = Expected {
            ipv4: target.is_ipv4(),
            kind,
            ident,
            sequence,
            token,
        };
        if expected.matches(&buffer[..length]) {
            return Ok(());
        }
    }
}

/// A ping socket where allowed, else a raw socket filtered to echo replies.
pub(super) fn open(target: IpAddr) -> io::Result<(Socket, SocketKind)> {
    let (domain, protocol) = match target {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    match Socket::new(domain, Type::DGRAM.nonblocking(), Some(protocol)) {
        Ok(socket) => Ok((socket, SocketKind::Ping)),
        Err(error) if matches!(error.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => {
            let socket = Socket::new(domain, Type::RAW.nonblocking(), Some(protocol))?;
            filter_to_echo_replies(&socket, target.is_ipv4())?;
            Ok((socket, SocketKind::Raw))
        }
        Err(error) => Err(error),
    }
}

fn filter_to_echo_replies(socket: &Socket, ipv4: bool) -> io::Result<()> {
    // Both filters are bitmaps of ICMP types to drop.
    let rc = if ipv4 {
        let blocked: u32 = !(1 << ECHO_REPLY_V4);
        setsockopt(socket, libc::SOL_RAW, ICMP_FILTER, &blocked)
    } else {
        let mut blocked = [u32::MAX; 8];
        blocked[usize::from(ECHO_REPLY_V6 >> 5)] &= !(1 << (ECHO_REPLY_V6 & 31));
        setsockopt(socket, libc::IPPROTO_ICMPV6, ICMPV6_FILTER, &blocked)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn setsockopt<T>(socket: &Socket, level: libc::c_int, name: libc::c_int, value: &T) -> libc::c_int {
    // SAFETY: `value` points to a live T of the size passed; the fd is open for the call.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    }
}

/// The echo request; its checksum is filled in for IPv4 (a raw socket sends it as is, a ping
/// socket recomputes it) and left to the kernel for ICMPv6, whose sum covers the addresses.
fn echo_request(ipv4: bool, ident: u16, sequence: u16, token: &[u8; TOKEN_LEN]) -> Vec<u8> {
    let kind = if ipv4 {
        ECHO_REQUEST_V4
    } else {
        ECHO_REQUEST_V6
    };
    let mut packet = Vec::with_capacity(ECHO_HEADER_LEN + TOKEN_LEN);
    packet.extend_from_slice(&[kind, 0, 0, 0]);
    packet.extend_from_slice(&ident.to_be_bytes());
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(token);
    if ipv4 {
        // The same RFC 1071 sum as the IPv4 header's, over the whole ICMP message.
        let checksum = vipd_wire::ipv4_header_checksum(&packet);
        packet[2..4].copy_from_slice(&checksum.to_be_bytes());
    }
    packet
}

/// What the reply to our request looks like.
struct Expected {
    ipv4: bool,
    kind: SocketKind,
    ident: u16,
    sequence: u16,
    token: [u8; TOKEN_LEN],
}

impl Expected {
    fn matches(&self, received: &[u8]) -> bool {
        let message = if self.ipv4 && self.kind == SocketKind::Raw {
            let Some(&first) = received.first() else {
                return false;
            };
            let header_len = usize::from(first & 0x0f) * 4;
            received.get(header_len..).unwrap_or(&[])
        } else {
            received
        };
        let Some(echo) = message.get(..ECHO_HEADER_LEN + TOKEN_LEN) else {
            return false;
        };
        let reply_type = if self.ipv4 {
            ECHO_REPLY_V4
        } else {
            ECHO_REPLY_V6
        };
        // A ping socket's identifier is the kernel's choice and the kernel already matched it.
        let ident_ok = self.kind == SocketKind::Ping || echo[4..6] == self.ident.to_be_bytes();
        echo[0] == reply_type
            && echo[1] == 0
            && ident_ok
            && echo[6..8] == self.sequence.to_be_bytes()
            && echo[ECHO_HEADER_LEN..] == self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: [u8; TOKEN_LEN] = *b"vipd-tok";

    fn reply_from(request: &[u8], reply_type: u8) -> Vec<u8> {
        let mut reply = request.to_vec();
        reply[0] = reply_type;
        reply
    }

    #[test]
    fn ipv4_requests_carry_a_valid_checksum() {
        let request = echo_request(true, 0x1234, 7, &TOKEN);
        assert_eq!(request.len(), 16);
        assert_eq!(request[0], ECHO_REQUEST_V4);
        // A message with its checksum in place sums to zero.
        assert_eq!(vipd_wire::ipv4_header_checksum(&request), 0);
        assert_eq!(&echo_request(false, 1, 2, &TOKEN)[2..4], &[0, 0]);
    }

    #[test]
    fn raw_ipv4_replies_skip_the_ip_header() {
        let request = echo_request(true, 0x1234, 7, &TOKEN);
        let mut datagram = vec![0x45; 1];
        datagram.extend_from_slice(&[0; 19]);
        datagram.extend_from_slice(&reply_from(&request, ECHO_REPLY_V4));
        let expected = Expected {
            ipv4: true,
            kind: SocketKind::Raw,
            ident: 0x1234,
            sequence: 7,
            token: TOKEN,
        };
        assert!(expected.matches(&datagram));
        assert!(!expected.matches(&datagram[..30]), "cut short");
        let mut other_ident = datagram.clone();
        other_ident[24] ^= 1;
        assert!(!expected.matches(&other_ident));
        let mut own_request = datagram.clone();
        own_request[20] = ECHO_REQUEST_V4;
        assert!(!expected.matches(&own_request));
    }

    #[test]
    fn ping_socket_replies_ignore_the_identifier() {
        let request = echo_request(false, 0x1234, 7, &TOKEN);
        let mut reply = reply_from(&request, ECHO_REPLY_V6);
        reply[4..6].copy_from_slice(&[0xab, 0xcd]);
        let expected = Expected {
            ipv4: false,
            kind: SocketKind::Ping,
            ident: 0x1234,
            sequence: 7,
            token: TOKEN,
        };
        assert!(expected.matches(&reply));
        let mut other_sequence = reply.clone();
        other_sequence[7] = 8;
        assert!(!expected.matches(&other_sequence));
        let mut other_token = reply.clone();
        other_token[15] ^= 1;
        assert!(!expected.matches(&other_token));
    }
}
