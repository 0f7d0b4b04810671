//! Announcements on the wire: sending prebuilt Ethernet frames (gratuitous ARP, unsolicited
//! neighbour advertisements) through an AF_PACKET socket bound to one interface, and
//! [`GarpPlan`], the pure schedule of keepalived's GARP policy (a burst on becoming master, a
//! second burst after a delay, optional periodic refresh). The frames themselves are built by the
//! wire crate; this module only sends bytes and says when.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use tokio::time::Instant;

use crate::system::error::SystemError;

/// An AF_PACKET raw socket bound to one interface, for sending whole Ethernet frames.
/// It is opened with protocol 0, so the kernel never queues received frames on it.
#[derive(Debug)]
pub struct FrameSender {
    fd: OwnedFd,
    ifindex: u32,
}

impl FrameSender {
    /// Opens the socket on `ifindex` (needs CAP_NET_RAW).
    pub fn open(ifindex: u32) -> Result<FrameSender, SystemError> {
        let op = format!("open AF_PACKET socket on interface #{ifindex}");
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if raw < 0 {
            return Err(io_error(op, io::Error::last_os_error(), "CAP_NET_RAW"));
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let address = link_address(ifindex);
        // SAFETY: `address` is a properly initialised sockaddr_ll of the length passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &address as *const libc::sockaddr_ll as *const libc::sockaddr,
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ENODEV) {
                return Err(SystemError::NoSuchInterface {
                    op,
                    name: format!("#{ifindex}"),
                });
            }
            return Err(io_error(op, err, "CAP_NET_RAW"));
        }
        Ok(FrameSender { fd, ifindex })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Sends one complete Ethernet frame (destination MAC first). The socket does not block: a
    /// full transmit queue is reported as an error and the frame dropped.
    pub fn send_frame(&self, frame: &[u8]) -> Result<(), SystemError> {
        // SAFETY: the buffer is valid for `frame.len()` bytes.
        let sent = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
            )
        };
        let op = || {
            format!(
                "send a {}-byte frame on interface #{}",
                frame.len(),
                self.ifindex
            )
        };
        if sent < 0 {
            let err = io::Error::last_os_error();
            return Err(match err.raw_os_error() {
                Some(libc::ENXIO) | Some(libc::ENODEV) => SystemError::NoSuchInterface {
                    op: op(),
                    name: format!("#{}", self.ifindex),
                },
                _ => io_error(op(), err, "CAP_NET_RAW"),
            });
        }
        if sent as usize != frame.len() {
            return Err(SystemError::Io {
                op: op(),
                source: io::Error::new(io::ErrorKind::WriteZero, "frame sent only in part"),
            });
        }
        Ok(())
    }
}

/// Opens a socket on `ifindex`, sends `frame` and closes it; for occasional sends.
pub fn send_frame(ifindex: u32, frame: &[u8]) -> Result<(), SystemError> {
    FrameSender::open(ifindex)?.send_frame(frame)
}

fn link_address(ifindex: u32) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut address: libc::sockaddr_ll = unsafe { mem::zeroed() };
    address.sll_family = libc::AF_PACKET as u16;
    address.sll_ifindex = ifindex as i32;
    address
}

fn io_error(op: String, source: io::Error, capability: &str) -> SystemError {
    match source.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => SystemError::PermissionDenied {
            op: format!("{op} (needs {capability})"),
        },
        _ => SystemError::Io { op, source },
    }
}

/// keepalived's gratuitous ARP / unsolicited NA policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GarpPolicy {
    /// Rounds sent on becoming master (`garp_master_repeat`, 5).
    pub repeat: u32,
    /// When the second burst of `repeat` rounds follows the transition (`garp_master_delay`, 5 s);
    /// `None` for no second burst.
    pub delay: Option<Duration>,
    /// Period of refreshes while master (`garp_master_refresh`, off by default).
    pub refresh: Option<Duration>,
    /// Rounds per refresh (`garp_master_refresh_repeat`, 1).
    pub refresh_repeat: u32,
    /// Gap between two rounds of a burst (`garp_interval`, 0: the whole burst at once).
    pub interval: Duration,
}

impl Default for GarpPolicy {
    fn default() -> Self {
        GarpPolicy {
            repeat: 5,
            delay: Some(Duration::from_secs(5)),
            refresh: None,
            refresh_repeat: 1,
            interval: Duration::ZERO,
        }
    }
}

/// What [`GarpPlan::poll`] says to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GarpDue {
    /// Rounds to send now; one round is one frame per VIP.
    pub rounds: u32,
    /// When to poll again; `None` when the plan is finished.
    pub next: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Transition,
    Delayed,
    Refresh,
}

/// The announcement schedule of one master period: made on becoming master, polled at the
/// instants it returns, dropped on leaving master.
#[derive(Debug, Clone)]
pub struct GarpPlan {
    policy: GarpPolicy,
    phase: Phase,
    /// When the current burst was due to start; later bursts are placed relative to the
    /// transition and to it, so that late polling does not make the schedule drift.
    became_master: Instant,
    burst_start: Instant,
    rounds_left: u32,
    next: Option<Instant>,
}

impl GarpPlan {
    /// The plan for a master period that starts at `now`.
    pub fn start(policy: GarpPolicy, now: Instant) -> GarpPlan {
        let mut plan = GarpPlan {
            policy,
            phase: Phase::Transition,
            became_master: now,
            burst_start: now,
            rounds_left: policy.repeat,
            next: Some(now),
        };
        if policy.repeat == 0 {
            plan.after_burst();
        }
        plan
    }

    /// When the plan wants to be polled next.
    pub fn next(&self) -> Option<Instant> {
        self.next
    }

    /// Rounds due at `now` and the next instant to poll.
    pub fn poll(&mut self, now: Instant) -> GarpDue {
        let Some(due) = self.next else {
            return GarpDue {
                rounds: 0,
                next: None,
            };
        };
        if now < due {
            return GarpDue {
                rounds: 0,
                next: Some(due),
            };
        }
        let rounds = if self.policy.interval.is_zero() {
            self.rounds_left
        } else {
            1
        };
        self.rounds_left -= rounds;
        if self.rounds_left > 0 {
            self.next = Some(due + self.policy.interval);
        } else {
            self.after_burst();
        }
        GarpDue {
            rounds,
            next: self.next,
        }
    }

    fn after_burst(&mut self) {
        let (phase, start, rounds) = match (self.phase, self.policy.delay) {
            (Phase::Transition, Some(delay)) if self.policy.repeat > 0 => (
                Phase::Delayed,
                self.became_master + delay,
                self.policy.repeat,
            ),
            _ => match self.policy.refresh {
                Some(period) if self.policy.refresh_repeat > 0 && !period.is_zero() => {
                    let base = if self.phase == Phase::Refresh {
                        self.burst_start
                    } else {
                        self.became_master
                    };
                    (Phase::Refresh, base + period, self.policy.refresh_repeat)
                }
                _ => {
                    self.next = None;
                    return;
                }
            },
        };
        self.phase = phase;
        self.burst_start = start;
        self.rounds_left = rounds;
        self.next = Some(start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::testns::TestNs;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Polls the plan at every instant it asks for, up to `limit`, returning (offset, rounds).
    fn run_plan(policy: GarpPolicy, limit: Duration) -> Vec<(Duration, u32)> {
        let t0 = Instant::now();
        let mut plan = GarpPlan::start(policy, t0);
        let mut sent = Vec::new();
        while let Some(at) = plan.next() {
            if at - t0 > limit {
                break;
            }
            let due = plan.poll(at);
            if due.rounds > 0 {
                sent.push((at - t0, due.rounds));
            }
            assert!(sent.len() < 1000, "plan does not converge");
        }
        sent
    }

    #[test]
    fn default_policy_sends_five_at_once_then_five_after_five_seconds_then_stops() {
        let t0 = Instant::now();
        let mut plan = GarpPlan::start(GarpPolicy::default(), t0);
        assert_eq!(
            plan.poll(t0),
            GarpDue {
                rounds: 5,
                next: Some(t0 + ms(5000))
            }
        );
        assert_eq!(
            plan.poll(t0 + ms(4999)),
            GarpDue {
                rounds: 0,
                next: Some(t0 + ms(5000))
            }
        );
        assert_eq!(
            plan.poll(t0 + ms(5000)),
            GarpDue {
                rounds: 5,
                next: None
            }
        );
        assert_eq!(
            plan.poll(t0 + ms(99_000)),
            GarpDue {
                rounds: 0,
                next: None
            }
        );
    }

    #[test]
    fn interval_spreads_each_burst_one_round_at_a_time() {
        let policy = GarpPolicy {
            repeat: 3,
            interval: ms(100),
            ..GarpPolicy::default()
        };
        assert_eq!(
            run_plan(policy, Duration::from_secs(60)),
            vec![
                (ms(0), 1),
                (ms(100), 1),
                (ms(200), 1),
                (ms(5000), 1),
                (ms(5100), 1),
                (ms(5200), 1)
            ]
        );
    }

    #[test]
    fn refresh_repeats_periodically_after_the_bursts() {
        let policy = GarpPolicy {
            refresh: Some(Duration::from_secs(60)),
            refresh_repeat: 2,
            ..GarpPolicy::default()
        };
        assert_eq!(
            run_plan(policy, Duration::from_secs(200)),
            vec![
                (ms(0), 5),
                (ms(5000), 5),
                (ms(60_000), 2),
                (ms(120_000), 2),
                (ms(180_000), 2)
            ]
        );
    }

    #[test]
    fn no_delay_no_refresh_is_a_single_burst_and_late_polls_catch_up() {
        let policy = GarpPolicy {
            delay: None,
            interval: ms(10),
            repeat: 2,
            ..GarpPolicy::default()
        };
        let t0 = Instant::now();
        let mut plan = GarpPlan::start(policy, t0);
        // Polled late: the missed round is due at once rather than lost.
        assert_eq!(
            plan.poll(t0 + ms(50)),
            GarpDue {
                rounds: 1,
                next: Some(t0 + ms(10))
            }
        );
        assert_eq!(
            plan.poll(t0 + ms(50)),
            GarpDue {
                rounds: 1,
                next: None
            }
        );
        let silent = GarpPlan::start(
            GarpPolicy {
                repeat: 0,
                ..GarpPolicy::default()
            },
            t0,
        );
        assert_eq!(silent.next(), None);
    }

    /// Receives on an AF_PACKET socket bound to `ifindex` (all protocols) until `want` is seen.
    fn receive_frame(ifindex: u32, want: &[u8]) -> bool {
        // SAFETY: socket/bind/setsockopt/recv with checked results and valid buffers.
        unsafe {
            let fd = libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                (libc::ETH_P_ALL as u16).to_be() as i32,
            );
            assert!(fd >= 0, "{}", io::Error::last_os_error());
            let fd = OwnedFd::from_raw_fd(fd);
            let mut address = link_address(ifindex);
            address.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
            let rc = libc::bind(
                fd.as_raw_fd(),
                &address as *const libc::sockaddr_ll as *const libc::sockaddr,
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            );
            assert_eq!(rc, 0, "{}", io::Error::last_os_error());
            let timeout = libc::timeval {
                tv_sec: 0,
                tv_usec: 200_000,
            };
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &timeout as *const libc::timeval as *const libc::c_void,
                mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
            let mut buffer = [0u8; 2048];
            for _ in 0..50 {
                let n = libc::recv(
                    fd.as_raw_fd(),
                    buffer.as_mut_ptr() as *mut libc::c_void,
                    buffer.len(),
                    0,
                );
                if n > 0 && &buffer[..n as usize] == want {
                    return true;
                }
            }
            false
        }
    }

    #[test]
    fn a_frame_sent_on_one_veth_end_arrives_on_the_other() {
        let ns = TestNs::create();
        ns.ip(&["link", "add", "va", "type", "veth", "peer", "name", "vb"]);
        ns.ip(&["link", "set", "va", "up"]);
        ns.ip(&["link", "set", "vb", "up"]);
        let index = |name: &str| {
            ns.ip_json(&["link", "show", name])[0]["ifindex"]
                .as_u64()
                .unwrap() as u32
        };
        let (va, vb) = (index("va"), index("vb"));
        // A gratuitous ARP for 192.0.2.3 from the VRRP virtual MAC of VRID 60.
        let mut frame = vec![0xff; 6];
        frame.extend_from_slice(&[0x00, 0x00, 0x5e, 0x00, 0x01, 0x3c]);
        frame.extend_from_slice(&[0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]);
        frame.extend_from_slice(&[0x00, 0x00, 0x5e, 0x00, 0x01, 0x3c, 192, 0, 2, 3]);
        frame.extend_from_slice(&[0xff; 6]);
        frame.extend_from_slice(&[192, 0, 2, 3]);
        frame.resize(60, 0);
        let expected = frame.clone();
        let received = ns.run(move || async move {
            let listener = std::thread::spawn({
                let ns_file = std::fs::File::open("/proc/thread-self/ns/net").unwrap();
                move || {
                    // SAFETY: valid fd, joins the test namespace on this helper thread.
                    let rc = unsafe { libc::setns(ns_file.as_raw_fd(), libc::CLONE_NEWNET) };
                    assert_eq!(rc, 0);
                    receive_frame(vb, &expected)
                }
            });
            let sender = FrameSender::open(va).unwrap();
            // The listener needs a moment to bind; keep sending for up to ~2 s until it sees one.
            for _ in 0..20 {
                sender.send_frame(&frame).unwrap();
                send_frame(va, &frame).unwrap();
                tokio::time::sleep(ms(100)).await;
                if listener.is_finished() {
                    break;
                }
            }
            listener.join().unwrap()
        });
        assert!(received, "the frame did not arrive on the peer");
        let err = ns.run(|| async { FrameSender::open(999_999).unwrap_err() });
        assert!(
            matches!(err, SystemError::NoSuchInterface { .. }),
            "{err:?}"
        );
    }
}
