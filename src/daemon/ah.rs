//! keepalived's `auth_type AH` at run time: each AH instance's key, sequence counter and IPv4
//! identification; verifying a received AH advert (ICV, SPI, sequence number) before the router
//! sees it; and building the whole IPv4 packets its adverts leave in (the ICV covers the IP
//! header, so the kernel must not choose any of it). The codec is `vipd_wire::ah`.

use std::net::IpAddr;

use bytes::BytesMut;
use vipd_config as config;
use vipd_router as router;
use vipd_wire::ah::{self, AhKey, AhSend, AhSequence};
use vipd_wire::Advert;

use super::main_loop::Daemon;
use super::registry::InstanceId;

/// What an AH instance keeps from advert to advert.
pub struct AhState {
    key: AhKey,
    pub sequence: AhSequence,
    /// The last IPv4 identification sent (keepalived counts from 1 and skips 0, which would let
    /// the kernel pick one after the ICV was computed).
    ip_id: u16,
}

/// The numbers one advert carries to every destination.
#[derive(Debug, Clone, Copy)]
pub struct AhNumbers {
    sequence: u32,
    ip_id: u16,
}

impl AhState {
    /// The state of a newly configured instance, if it uses AH.
    pub fn for_config(cfg: &config::Instance) -> Option<AhState> {
        match &cfg.authentication {
            Some(config::Authentication::Ah(pass)) => Some(AhState {
                key: AhKey::from_auth_pass(pass),
                sequence: AhSequence::new(),
                ip_id: 0,
            }),
            _ => None,
        }
    }

    /// After a reload: a new key, but the counter and ID go on (keepalived keeps them), since
    /// peers refuse numbers they have seen.
    pub fn adopt(old: Option<AhState>, cfg: &config::Instance) -> Option<AhState> {
        let mut new = AhState::for_config(cfg)?;
        if let Some(old) = old {
            new.sequence = old.sequence;
            new.ip_id = old.ip_id;
        }
        Some(new)
    }

    /// Takes the sequence number and IPv4 ID of the next advert.
    pub fn next_advert(&mut self) -> AhNumbers {
        self.ip_id = self.ip_id.wrapping_add(1).max(1);
        AhNumbers {
            sequence: self.sequence.next_outgoing(),
            ip_id: self.ip_id,
        }
    }

    /// Appends the whole IPv4 packet of `advert` for `dst`.
    pub fn encode(
        &self,
        advert: &Advert,
        numbers: AhNumbers,
        (src, dst): (IpAddr, IpAddr),
        unicast: bool,
        out: &mut BytesMut,
    ) -> Result<(), String> {
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (src, dst) else {
            return Err("auth_type AH needs IPv4 source and destination".into());
        };
        let send = AhSend {
            src,
            dst,
            ttl: 255,
            ip_id: numbers.ip_id,
            sequence: numbers.sequence,
            unicast,
        };
        ah::encode_ipv4_ah_packet(advert, &self.key, &send, out).map_err(|e| e.to_string())
    }
}

impl Daemon {
    /// Checks the AH of an advert `id` heard (the whole IPv4 `packet`) as keepalived does; a
    /// refusal is counted as an authentication failure. Instances without AH accept everything.
    pub(super) fn ah_accepts(
        &mut self,
        id: InstanceId,
        packet: &[u8],
        src: IpAddr,
        priority: u8,
    ) -> bool {
        let master_hears_lower = self.master_hears_lower(id, priority, src);
        let now = self.now().0;
        let Some(instance) = self.registry.instance_mut(id) else {
            return false;
        };
        let unicast = !instance.cfg.unicast_peers.is_empty();
        let Some(state) = instance.ah.as_mut() else {
            return true;
        };
        let verdict = ah::verify_ipv4_packet(&state.key, packet, unicast).and_then(|header| {
            state
                .sequence
                .check_received(header.sequence)
                .map(|_| header)
        });
        match verdict {
            Ok(header) => {
                if master_hears_lower {
                    state.sequence.master_heard_lower(header.sequence);
                }
                true
            }
            Err(e) => {
                tracing::debug!(instance = %instance.cfg.name, "AH advert from {src}: {e}");
                instance.reject(e.counted_as(), src, now);
                false
            }
        }
    }

    /// Whether `id` is master and an advert of `priority` from `src` loses to it (keepalived's
    /// "lower priority" test: lower priority, or equal and a lower address).
    fn master_hears_lower(&self, id: InstanceId, priority: u8, src: IpAddr) -> bool {
        let Some(router) = self.registry.router(id) else {
            return false;
        };
        let ours = router.effective_priority();
        let our_src = self.registry.instance(id).and_then(|i| i.src());
        router.state() == router::State::Master
            && (priority < ours || (priority == ours && our_src.is_some_and(|a| src < a)))
    }

    /// Becoming master restarts a counter that ran out.
    pub(super) fn ah_on_transition(&mut self, id: InstanceId, to: router::State) {
        if to != router::State::Master {
            return;
        }
        if let Some(state) = self.registry.instance_mut(id).and_then(|i| i.ah.as_mut()) {
            state.sequence.on_become_master();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ah_config(pass: &str) -> config::Instance {
        let yaml = format!(
            "vrrp_instance:\n  VI_ah:\n    interface: eth0\n    virtual_router_id: 2\n    virtual_ipaddress: [192.0.2.2/24]\n    authentication: {{auth_type: AH, auth_pass: {pass}}}\n"
        );
        config::parse_str(&yaml, "t.yaml")
            .unwrap()
            .config
            .instances
            .remove(0)
            .as_ref()
            .clone()
    }

    #[test]
    fn ids_skip_zero_and_numbers_rise_per_advert() {
        let mut state = AhState::for_config(&ah_config("pw")).unwrap();
        state.ip_id = u16::MAX;
        let first = state.next_advert();
        assert_eq!((first.sequence, first.ip_id), (1, 1));
        let second = state.next_advert();
        assert_eq!((second.sequence, second.ip_id), (2, 2));
    }

    #[test]
    fn a_reload_keeps_the_counter_and_takes_the_new_key() {
        let mut old = AhState::for_config(&ah_config("old")).unwrap();
        old.next_advert();
        old.next_advert();
        let mut new = AhState::adopt(Some(old), &ah_config("new")).unwrap();
        assert_eq!(new.next_advert().sequence, 3);
        assert_eq!(new.key, AhKey::from_auth_pass(b"new"));
        let mut plain = ah_config("x");
        plain.authentication = None;
        assert!(AhState::adopt(Some(new), &plain).is_none());
    }
}
