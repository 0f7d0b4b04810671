//! Sending: adverts (the instance's template with this send's priority, to each destination) and
//! gratuitous ARP / unsolicited NA announcements on keepalived's schedule.

use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;
use vipd_wire as wire;

use super::instance::Instance;
use super::main_loop::Daemon;
use super::receive::SocketTable;
use super::registry::InstanceId;
use super::vip_ledger;
use crate::system::announce;
use crate::system::socket::Family;

/// The VRRP messages last encoded from an instance's template, one per destination, and the
/// source and priority they carry. A master sends the same message every advert_int: encoding
/// it anew each time (header fields, address list, checksum) was a tenth of a single-instance
/// master's user-space instructions. The template is rebuilt, and this with it, when the
/// configuration changes; a new source or priority encodes again.
#[derive(Default)]
pub struct EncodedAdverts {
    key: Option<(IpAddr, u8)>,
    messages: Vec<Result<Vec<u8>, String>>,
}

/// Encodes and sends one advert of `instance` with `priority`; returns whether it left for at
/// least one destination, and the error, if any.
fn send_advert(
    instance: &mut Instance,
    sockets: &SocketTable,
    buf: &mut bytes::BytesMut,
    priority: u8,
) -> (bool, Option<String>) {
    let Some(attachment) = instance.attachment.as_ref() else {
        return (false, None);
    };
    let (Some(socket), Some(src)) = (attachment.send_socket, attachment.src) else {
        return (false, None);
    };
    let mut sent = false;
    let mut error = None;
    instance.template.advert.priority = priority;
    let unicast = !instance.cfg.unicast_peers.is_empty();
    let Some(ah) = instance.ah.as_mut() else {
        let template = &mut instance.template;
        if template.encoded.key != Some((src, priority)) {
            template.encoded.messages.clear();
            template
                .encoded
                .messages
                .reserve_exact(template.destinations.len());
            for &dst in &template.destinations {
                buf.clear();
                let encoded = wire::encode_into(&template.advert, template.flavour, src, dst, buf)
                    .map(|()| buf.to_vec())
                    .map_err(|e| format!("cannot encode advert: {e}"));
                template.encoded.messages.push(encoded);
            }
            template.encoded.key = Some((src, priority));
        }
        for (&dst, message) in template.destinations.iter().zip(&template.encoded.messages) {
            match message {
                Ok(message) => match sockets.send(socket, message, src, dst) {
                    Ok(()) => sent = true,
                    Err(e) => error = Some(format!("sending advert to {dst}: {e}")),
                },
                Err(e) => error = Some(e.clone()),
            }
        }
        return (sent, error);
    };
    // AH: every advert carries the next sequence number.
    let numbers = ah.next_advert();
    let template = &instance.template;
    for &dst in &template.destinations {
        buf.clear();
        if let Err(e) = ah.encode(&template.advert, numbers, (src, dst), unicast, buf) {
            error = Some(format!("cannot encode advert: {e}"));
            continue;
        }
        match sockets.send(socket, buf, src, dst) {
            Ok(()) => sent = true,
            Err(e) => error = Some(format!("sending advert to {dst}: {e}")),
        }
    }
    (sent, error)
}

/// Sends the announcement rounds due now for a master's VIPs.
fn announce(instance: &mut Instance, now: Instant) {
    let Some(serving) = instance.serving.as_mut() else {
        return;
    };
    let Some(plan) = serving.garp.as_mut() else {
        return;
    };
    let due = plan.poll(now);
    let Some(attachment) = instance.attachment.as_mut() else {
        return;
    };
    let (ifindex, Some(mac)) = (attachment.vip_ifindex, attachment.mac) else {
        return;
    };
    if attachment.frame_sender.as_ref().map(|s| s.ifindex()) != Some(ifindex) {
        attachment.frame_sender = match announce::FrameSender::open(ifindex) {
            Ok(sender) => Some(sender),
            Err(e) => {
                let (name, vrid) = (instance.cfg.name.clone(), instance.cfg.vrid);
                Instance::set_error(
                    &mut instance.errors.announce,
                    &name,
                    vrid,
                    Some(format!("cannot announce VIPs: {e}")),
                );
                return;
            }
        };
    }
    instance.errors.announce = None;
    let sender = attachment.frame_sender.as_ref().expect("opened above");
    for _ in 0..due.rounds {
        for vip in &instance.template.vips {
            if !vip_ledger::announced_on_a_segment(vip) {
                continue;
            }
            let frame = match vip.addr {
                IpAddr::V4(v4) => wire::gratuitous_arp_frame(mac, v4),
                IpAddr::V6(v6) => wire::unsolicited_na_frame(mac, v6),
            };
            match sender.send_frame(&frame) {
                Ok(_) => {
                    instance.stats.announcements += 1;
                    instance.vip_ledger.announced(vip.addr);
                }
                Err(e) => {
                    tracing::warn!(instance = %instance.cfg.name, "announcing {}: {e}", vip.addr)
                }
            }
        }
    }
}

impl Daemon {
    pub(super) fn send_advert(&mut self, id: InstanceId, priority: u8) {
        let now = self.now().0;
        let Some(instance) = self.registry.instance_mut(id) else {
            return;
        };
        let (sent, error) = send_advert(instance, &self.sockets, &mut self.encode_buf, priority);
        if sent {
            instance.stats.on_advert_sent(now);
        }
        if error.is_some() || instance.errors.send.is_some() {
            let vrid = instance.cfg.vrid;
            Instance::set_error(&mut instance.errors.send, &instance.cfg.name, vrid, error);
        }
    }

    /// Sends the announcements every master's plan says are due.
    pub(super) fn announce_due(&mut self) {
        let now = Instant::now();
        for instance in self.registry.instances_mut() {
            let due = instance
                .serving
                .as_ref()
                .and_then(|s| s.garp.as_ref())
                .and_then(|p| p.next())
                .is_some_and(|t| t <= now);
            if due {
                announce(instance, now);
            }
        }
    }

    /// keepalived's announcement policy for this instance (instance values default to the
    /// global ones in the configuration).
    pub(super) fn garp_policy(&self, id: InstanceId) -> announce::GarpPolicy {
        let Some(instance) = self.registry.instance(id) else {
            return announce::GarpPolicy::default();
        };
        let cfg = &instance.cfg;
        let global = &self.config.global;
        let seconds = |s: u32| (s > 0).then(|| Duration::from_secs(u64::from(s)));
        announce::GarpPolicy {
            repeat: cfg.garp_master_repeat,
            delay: seconds(cfg.garp_master_delay),
            refresh: seconds(cfg.garp_master_refresh),
            refresh_repeat: cfg.garp_master_refresh_repeat,
            interval: Duration::from_micros(match instance.family {
                Family::V4 => global.vrrp_garp_interval_us,
                Family::V6 => global.vrrp_gna_interval_us,
            }),
        }
    }
}
