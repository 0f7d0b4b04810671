//! The kernel's process events connector (NETLINK_CONNECTOR, CN_IDX_PROC): subscribing and
//! decoding the fork, exec, comm and exit events keepalived's `track_process` follows.
//!
//! Hand-written on the `netlink-sys` socket vipd already has through rtnetlink: the protocol is
//! one subscribe message and a handful of fixed little structs (`linux/connector.h`,
//! `linux/cn_proc.h`), which the one dedicated crate (`proc-connector`, 0.1, one author, a
//! blocking API) would not spare us while adding a dependency. The kernel answers only a
//! subscriber with CAP_NET_ADMIN in the initial user and PID namespaces.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use netlink_sys::{protocols::NETLINK_CONNECTOR, Socket, SocketAddr};

const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_CN_MCAST_IGNORE: u32 = 2;

const NLMSG_HDRLEN: usize = 16;
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const CN_MSG_LEN: usize = 20;

const PROC_EVENT_NONE: u32 = 0;
const PROC_EVENT_FORK: u32 = 1;
const PROC_EVENT_EXEC: u32 = 2;
const PROC_EVENT_COMM: u32 = 0x200;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;

/// One process event, reduced to what process tracking needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum ProcEvent {
    /// The kernel's answer to a subscription (sent to every listener): the subscriber's
    /// sequence number, and 0 or the errno it was refused with.
    Ack { seq: u32, error: u32 },
    /// A new task: a process when `child_pid == child_tgid`, a thread otherwise.
    Fork {
        parent_tgid: i32,
        child_pid: i32,
        child_tgid: i32,
    },
    /// A task called execve.
    Exec { pid: i32, tgid: i32 },
    /// A task changed its name (`prctl(PR_SET_NAME)`, writing /proc/PID/comm).
    Comm { pid: i32, tgid: i32, comm: Vec<u8> },
    /// A task ended.
    Exit { pid: i32, tgid: i32 },
}

/// A subscribed process-events socket (non-blocking). Unsubscribes when dropped.
pub(super) struct Connector {
    socket: Socket,
    /// Our subscription's sequence number (the socket's port id), to know our ack from others'.
    seq: u32,
}

impl Connector {
    /// Opens the socket, joins the process-events group and asks the kernel to send events.
    pub(super) fn subscribe() -> io::Result<Connector> {
        let mut socket = Socket::new(NETLINK_CONNECTOR)?;
        socket.bind(&SocketAddr::new(0, CN_IDX_PROC))?;
        let mut address = SocketAddr::new(0, 0);
        socket.get_address(&mut address)?;
        socket.set_non_blocking(true)?;
        // Bursts of process events must not overflow the default buffer before we read them.
        let _ = socket.set_rx_buf_sz(1 << 20);
        let connector = Connector {
            socket,
            seq: address.port_number(),
        };
        connector.send_op(PROC_CN_MCAST_LISTEN)?;
        Ok(connector)
    }

    /// The sequence number the kernel's ack to our subscription carries.
    pub(super) fn seq(&self) -> u32 {
        self.seq
    }

    fn send_op(&self, op: u32) -> io::Result<()> {
        let message = control_message(op, self.seq);
        self.socket.send_to(&message, &SocketAddr::new(0, 0), 0)?;
        Ok(())
    }

    /// Receives one datagram into `buf` and decodes its events; `WouldBlock` when none is
    /// waiting, `ENOBUFS` (as an `io::Error`) when the kernel dropped events for us.
    pub(super) fn receive(&self, buf: &mut Vec<u8>) -> io::Result<Vec<ProcEvent>> {
        buf.clear();
        let (_, from) = self.socket.recv_from(buf, 0)?;
        if from.port_number() != 0 {
            // Only the kernel speaks on this group.
            return Ok(Vec::new());
        }
        Ok(decode(buf))
    }

    /// Doubles the receive buffer (after the kernel reported dropped events).
    pub(super) fn grow_buffer(&self) {
        if let Ok(size) = self.socket.get_rx_buf_sz() {
            let _ = self.socket.set_rx_buf_sz(size.saturating_mul(2));
        }
    }
}

impl AsRawFd for Connector {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        // The kernel counts listeners; tell it we are gone (non-blocking, best effort).
        let _ = self.send_op(PROC_CN_MCAST_IGNORE);
    }
}

/// nlmsghdr + cn_msg + the multicast op, in native byte order.
fn control_message(op: u32, seq: u32) -> Vec<u8> {
    let total = NLMSG_HDRLEN + CN_MSG_LEN + 4;
    let mut message = Vec::with_capacity(total);
    message.extend_from_slice(&(total as u32).to_ne_bytes());
    message.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
    message.extend_from_slice(&0u16.to_ne_bytes()); // flags
    message.extend_from_slice(&0u32.to_ne_bytes()); // seq
    message.extend_from_slice(&0u32.to_ne_bytes()); // port: the kernel fills it in
    message.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
    message.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
    message.extend_from_slice(&seq.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes()); // ack
    message.extend_from_slice(&4u16.to_ne_bytes()); // len of the op
    message.extend_from_slice(&0u16.to_ne_bytes()); // flags
    message.extend_from_slice(&op.to_ne_bytes());
    message
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let raw = bytes.get(at..at + 4)?;
    Some(u32::from_ne_bytes(raw.try_into().ok()?))
}

fn i32_at(bytes: &[u8], at: usize) -> Option<i32> {
    u32_at(bytes, at).map(|v| v as i32)
}

/// Decodes every netlink message of one datagram; anything malformed or foreign is skipped.
pub(super) fn decode(datagram: &[u8]) -> Vec<ProcEvent> {
    let mut events = Vec::new();
    let mut offset = 0;
    while offset + NLMSG_HDRLEN <= datagram.len() {
        let Some(len) = u32_at(datagram, offset).map(|l| l as usize) else {
            break;
        };
        if len < NLMSG_HDRLEN || offset + len > datagram.len() {
            break;
        }
        let kind = u16::from_ne_bytes([datagram[offset + 4], datagram[offset + 5]]);
        let payload = &datagram[offset + NLMSG_HDRLEN..offset + len];
        if kind != NLMSG_ERROR && kind != NLMSG_NOOP {
            if let Some(event) = decode_cn_msg(payload) {
                events.push(event);
            }
        }
        offset += (len + 3) & !3;
    }
    events
}

/// cn_msg { id { idx, val }, seq, ack, len: u16, flags: u16 } then proc_event { what, cpu,
/// timestamp_ns: u64, event_data }.
fn decode_cn_msg(payload: &[u8]) -> Option<ProcEvent> {
    if u32_at(payload, 0)? != CN_IDX_PROC || u32_at(payload, 4)? != CN_VAL_PROC {
        return None;
    }
    let data_len = usize::from(u16::from_ne_bytes([*payload.get(16)?, *payload.get(17)?]));
    let event = payload.get(CN_MSG_LEN..CN_MSG_LEN + data_len)?;
    let what = u32_at(event, 0)?;
    const DATA: usize = 16;
    Some(match what {
        PROC_EVENT_NONE => ProcEvent::Ack {
            seq: u32_at(payload, 8)?,
            error: u32_at(event, DATA)?,
        },
        PROC_EVENT_FORK => ProcEvent::Fork {
            parent_tgid: i32_at(event, DATA + 4)?,
            child_pid: i32_at(event, DATA + 8)?,
            child_tgid: i32_at(event, DATA + 12)?,
        },
        PROC_EVENT_EXEC => ProcEvent::Exec {
            pid: i32_at(event, DATA)?,
            tgid: i32_at(event, DATA + 4)?,
        },
        PROC_EVENT_COMM => {
            let raw = event.get(DATA + 8..DATA + 24)?;
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            ProcEvent::Comm {
                pid: i32_at(event, DATA)?,
                tgid: i32_at(event, DATA + 4)?,
                comm: raw[..end].to_vec(),
            }
        }
        PROC_EVENT_EXIT => ProcEvent::Exit {
            pid: i32_at(event, DATA)?,
            tgid: i32_at(event, DATA + 4)?,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::{control_message, decode, ProcEvent, PROC_CN_MCAST_LISTEN};

    /// A datagram as the kernel sends it: nlmsghdr, cn_msg, proc_event with `data`.
    fn datagram(what: u32, data: &[u8]) -> Vec<u8> {
        let mut event = Vec::new();
        event.extend_from_slice(&what.to_ne_bytes());
        event.extend_from_slice(&0u32.to_ne_bytes()); // cpu
        event.extend_from_slice(&0u64.to_ne_bytes()); // timestamp
        event.extend_from_slice(data);
        let mut cn = Vec::new();
        cn.extend_from_slice(&1u32.to_ne_bytes());
        cn.extend_from_slice(&1u32.to_ne_bytes());
        cn.extend_from_slice(&7u32.to_ne_bytes());
        cn.extend_from_slice(&0u32.to_ne_bytes());
        cn.extend_from_slice(&(event.len() as u16).to_ne_bytes());
        cn.extend_from_slice(&0u16.to_ne_bytes());
        cn.extend_from_slice(&event);
        let mut out = Vec::new();
        out.extend_from_slice(&((16 + cn.len()) as u32).to_ne_bytes());
        out.extend_from_slice(&3u16.to_ne_bytes());
        out.extend_from_slice(&0u16.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(&cn);
        out
    }

    fn words(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_ne_bytes()).collect()
    }

    #[test]
    fn fork_exec_exit_comm_and_ack_are_decoded() {
        assert_eq!(
            decode(&datagram(1, &words(&[10, 10, 11, 11]))),
            vec![ProcEvent::Fork {
                parent_tgid: 10,
                child_pid: 11,
                child_tgid: 11
            }]
        );
        assert_eq!(
            decode(&datagram(2, &words(&[12, 12]))),
            vec![ProcEvent::Exec { pid: 12, tgid: 12 }]
        );
        assert_eq!(
            decode(&datagram(0x8000_0000, &words(&[13, 13, 0, 9]))),
            vec![ProcEvent::Exit { pid: 13, tgid: 13 }]
        );
        let mut comm = words(&[14, 14]);
        comm.extend_from_slice(b"Web Content\0\0\0\0\0");
        assert_eq!(
            decode(&datagram(0x200, &comm)),
            vec![ProcEvent::Comm {
                pid: 14,
                tgid: 14,
                comm: b"Web Content".to_vec()
            }]
        );
        assert_eq!(
            decode(&datagram(0, &words(&[1]))),
            vec![ProcEvent::Ack { seq: 7, error: 1 }]
        );
    }

    #[test]
    fn truncated_foreign_and_uninteresting_messages_are_skipped() {
        let fork = datagram(1, &words(&[10, 10, 11, 11]));
        assert_eq!(decode(&fork[..fork.len() - 3]), vec![]);
        assert_eq!(
            decode(&datagram(4, &words(&[1, 1, 0, 0]))),
            vec![],
            "uid change"
        );
        let mut foreign = fork.clone();
        foreign[16] = 9; // another connector index
        assert_eq!(decode(&foreign), vec![]);
        let mut two = datagram(2, &words(&[12, 12]));
        two.extend_from_slice(&datagram(2, &words(&[13, 13])));
        assert_eq!(decode(&two).len(), 2, "several messages in one datagram");
    }

    #[test]
    fn the_subscription_message_is_nlmsghdr_cn_msg_and_op() {
        let message = control_message(PROC_CN_MCAST_LISTEN, 99);
        assert_eq!(message.len(), 40);
        assert_eq!(u32::from_ne_bytes(message[0..4].try_into().unwrap()), 40);
        assert_eq!(
            u16::from_ne_bytes([message[4], message[5]]),
            3,
            "NLMSG_DONE"
        );
        assert_eq!(u32::from_ne_bytes(message[16..20].try_into().unwrap()), 1);
        assert_eq!(
            u32::from_ne_bytes(message[24..28].try_into().unwrap()),
            99,
            "seq"
        );
        assert_eq!(u16::from_ne_bytes([message[32], message[33]]), 4);
        assert_eq!(u32::from_ne_bytes(message[36..40].try_into().unwrap()), 1);
    }
}
