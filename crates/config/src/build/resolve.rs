//! A [`RawInstance`] becomes an [`Instance`]: keepalived's defaults filled in and the rules
//! between its keys checked, one function per group of rules.

use super::instance::{RawInstance, ROUTE_FIELDS, RULE_FIELDS};
use super::{entry_text, format_seconds, join, seconds_to_us, At, Cx, Key};
use crate::ipsyntax;
use crate::model::*;
use crate::node::Pos;

pub(super) fn resolve_instance(
    cx: &mut Cx,
    block: &Key,
    mut raw: RawInstance,
    global: &GlobalDefs,
) -> Option<(Instance, Pos)> {
    let path = &block.path;
    require_identity(cx, block, &raw);
    // Without a VRID or interface the instance is still checked field by field (so every error
    // is reported), but it takes no part in the duplicate-VRID check.
    let complete = raw.vrid.is_some() && raw.interface.is_some();
    let vrid = raw.vrid.clone().unwrap_or(At {
        value: 0,
        pos: block.pos,
        path: join(path, "virtual_router_id"),
    });
    let interface = raw.interface.clone().unwrap_or_default();
    let priority = raw.priority.as_ref().map_or(100, |p| p.value);

    let family = family(cx, block, &raw);
    let version = version(cx, &raw, global, family);
    let advert_interval_us = advert_interval(cx, &raw, version);
    let (state, preempt) = preemption(cx, &raw);
    let preempt_delay_us = raw
        .preempt_delay
        .as_ref()
        .map_or(0, |d| seconds_to_us(d.value));
    let accept = accept_mode(cx, &raw, priority, global);
    check_unicast_families(cx, &raw, family);
    let authentication = authentication(cx, raw.authentication.take(), version);
    let state = ah_initial_state(cx, &raw, &authentication, state, priority);
    let vmac = vmac(cx, &raw, vrid.value, &interface);
    if global.vrrp_strict {
        strict_mode(cx, block, &raw, authentication.is_some(), priority);
    }
    let (routes, rules) = routes_and_rules(cx, &raw, family);

    let check_unicast_src = raw
        .check_unicast_src
        .unwrap_or(global.vrrp_check_unicast_src);
    let instance = Instance {
        name: block.name.clone(),
        state,
        interface,
        vrid: vrid.value,
        priority,
        version,
        family,
        advert_interval_us,
        preempt,
        preempt_delay_us,
        accept,
        unicast_src_ip: raw.src_ip.map(|s| s.value),
        unicast_peers: raw.peers.into_iter().map(|p| p.value).collect(),
        check_unicast_src,
        authentication: authentication.map(|a| a.value),
        v3_checksum_as_v2: raw.v3_checksum_as_v2,
        vmac,
        vips: raw.vips.into_iter().map(|v| v.value).collect(),
        excluded_vips: raw.excluded_vips.into_iter().map(|v| v.value).collect(),
        routes,
        rules,
        track_interfaces: raw.track_interfaces,
        track_scripts: raw.track_scripts,
        track_files: raw.track_files,
        track_processes: raw.track_processes,
        notify: raw.notify,
        garp_master_delay: raw
            .garp_master_delay
            .unwrap_or(global.vrrp_garp_master_delay),
        garp_master_repeat: raw
            .garp_master_repeat
            .unwrap_or(global.vrrp_garp_master_repeat),
        garp_master_refresh: raw
            .garp_master_refresh
            .unwrap_or(global.vrrp_garp_master_refresh),
        garp_master_refresh_repeat: raw
            .garp_master_refresh_repeat
            .unwrap_or(global.vrrp_garp_master_refresh_repeat),
        down_timer_adverts: raw
            .down_timer_adverts
            .unwrap_or(global.vrrp_down_timer_adverts),
        dont_track_primary: raw.dont_track_primary,
        debug: raw.debug,
        actions: raw.actions,
    };
    complete.then_some((instance, vrid.pos))
}

/// `interface` and `virtual_router_id` are required (unless already reported as invalid).
fn require_identity(cx: &mut Cx, block: &Key, raw: &RawInstance) {
    let path = &block.path;
    if raw.interface.is_none()
        && !cx
            .errors
            .iter()
            .any(|e| e.key_path == join(path, "interface"))
    {
        cx.error(block.pos, path, "interface is required");
    }
    if raw.vrid.is_none()
        && !cx
            .errors
            .iter()
            .any(|e| e.key_path == join(path, "virtual_router_id"))
    {
        cx.error(block.pos, path, "virtual_router_id is required (1–255)");
    }
}

/// The family comes from the VIPs; one instance carries one family (keepalived's rule too).
fn family(cx: &mut Cx, block: &Key, raw: &RawInstance) -> Family {
    let path = &block.path;
    let family = raw
        .vips
        .first()
        .map(|v| Family::of(&v.value.addr))
        .or_else(|| raw.src_ip.as_ref().map(|s| Family::of(&s.value)))
        .or_else(|| raw.peers.first().map(|p| Family::of(&p.value)))
        .unwrap_or(Family::V4);
    if let Some(first) = raw.vips.first() {
        for vip in &raw.vips[1..] {
            if Family::of(&vip.value.addr) != family {
                cx.error(
                    vip.pos,
                    &vip.path,
                    format!(
                        "mixed address families: {} is {} but {} (line {}) is {}; an instance carries one family (put the other in virtual_ipaddress_excluded or a second instance)",
                        vip.value.addr,
                        Family::of(&vip.value.addr).name(),
                        first.value.addr,
                        first.pos.line,
                        family.name()
                    ),
                );
            }
        }
    } else if !cx
        .errors
        .iter()
        .any(|e| e.key_path == join(path, "virtual_ipaddress"))
    {
        cx.error(
            block.pos,
            path,
            "at least one address in virtual_ipaddress is required (adverts with no address are invalid)",
        );
    }
    family
}

/// The instance's version, else global_defs' if written, else 3 for IPv6 (as keepalived), else 2.
fn version(cx: &mut Cx, raw: &RawInstance, global: &GlobalDefs, family: Family) -> Version {
    let explicit_version = raw.version.as_ref().map(|v| (v.value, "version")).or(global
        .vrrp_version_explicit
        .then_some((global.vrrp_version, "global_defs.vrrp_version")));
    let version = match (explicit_version, family) {
        (Some((v, _)), _) => v,
        (None, Family::V6) => Version::V3,
        (None, Family::V4) => global.vrrp_version,
    };
    if version == Version::V2 && family == Family::V6 {
        if let Some(vip) = raw.vips.first() {
            let set_by = explicit_version.map_or("", |(_, by)| by);
            cx.error(
                vip.pos,
                &vip.path,
                format!(
                    "IPv6 address {} in a VRRPv2 instance ({set_by} is 2); VRRPv2 carries IPv4 only, use version 3",
                    vip.value.addr
                ),
            );
        }
    }
    version
}

/// advert_int in microseconds: whole seconds in v2, 10 ms steps from 10 ms to 40.95 s in v3.
fn advert_interval(cx: &mut Cx, raw: &RawInstance, version: Version) -> u64 {
    let Some(a) = &raw.advert_int else {
        return 1_000_000;
    };
    let text = format_seconds(a.value);
    match version {
        Version::V2 => {
            if a.value.fract() != 0.0 || !(1.0..=255.0).contains(&a.value) {
                cx.error(
                    a.pos,
                    &a.path,
                    format!("{text} s is not a whole number of seconds from 1 to 255, as VRRPv2 requires (set version: 3 for sub-second adverts)"),
                );
            }
        }
        Version::V3 => {
            let centis = a.value * 100.0;
            if a.value < 0.01 {
                cx.error(
                    a.pos,
                    &a.path,
                    format!("{text} s is below the VRRPv3 minimum of 0.01 s"),
                );
            } else if a.value > 40.95 {
                cx.error(
                    a.pos,
                    &a.path,
                    format!("{text} s is above the VRRPv3 maximum of 40.95 s"),
                );
            } else if (centis - centis.round()).abs() > 1e-6 {
                cx.error(
                    a.pos,
                    &a.path,
                    format!("{text} s is not a multiple of 10 ms (VRRPv3 counts in centiseconds)"),
                );
            }
        }
    }
    seconds_to_us(a.value)
}

/// The initial state and whether the instance preempts (`nopreempt`, `preempt`).
fn preemption(cx: &mut Cx, raw: &RawInstance) -> (InitialState, bool) {
    if let (Some(n), Some(p)) = (&raw.nopreempt, &raw.preempt) {
        if n.value && p.value {
            cx.error(
                p.pos,
                &p.path,
                format!("conflicts with nopreempt: true (line {})", n.pos.line),
            );
        }
    }
    let preempt = !raw.nopreempt.as_ref().is_some_and(|n| n.value)
        && raw.preempt.as_ref().is_none_or(|p| p.value);
    let state = raw.state.as_ref().map_or(InitialState::Backup, |s| s.value);
    if let (Some(s), None) = (&raw.state, &raw.priority) {
        if s.value == InitialState::Master {
            // keepalived.conf's front end writes the priority it derives (255), so this speaks
            // only to YAML written by hand after a keepalived.conf.
            cx.warn(
                s.pos,
                &s.path,
                "state MASTER without a priority: vipd's YAML uses priority 100, where keepalived would make this instance the address owner (priority 255); write `priority:` to say which",
            );
        }
    }
    if state == InitialState::Master && !preempt {
        if let Some(n) = &raw.nopreempt {
            cx.warn(
                n.pos,
                &n.path,
                "nopreempt has no effect with state MASTER (keepalived needs state BACKUP for it)",
            );
        }
    }
    (state, preempt)
}

/// Accept mode: `accept`/`no_accept` if given, else `!vrrp_strict`; always on for the owner.
fn accept_mode(cx: &mut Cx, raw: &RawInstance, priority: u8, global: &GlobalDefs) -> bool {
    if let (Some(a), Some(n)) = (&raw.accept, &raw.no_accept) {
        if a.value == n.value {
            cx.error(
                n.pos,
                &n.path,
                format!("contradicts accept: {} (line {})", a.value, a.pos.line),
            );
        }
    }
    let explicit_accept = raw
        .accept
        .as_ref()
        .map(|a| a.value)
        .or_else(|| raw.no_accept.as_ref().map(|n| !n.value));
    if priority == 255 {
        if explicit_accept == Some(false) {
            let where_ = raw.no_accept.as_ref().or(raw.accept.as_ref());
            if let Some(w) = where_ {
                cx.warn(
                    w.pos,
                    &w.path,
                    "the address owner (priority 255) always accepts; no_accept is ignored",
                );
            }
        }
        true
    } else {
        explicit_accept.unwrap_or(!global.vrrp_strict)
    }
}

/// The unicast source and peers are of the instance's family.
fn check_unicast_families(cx: &mut Cx, raw: &RawInstance, family: Family) {
    if let Some(src) = &raw.src_ip {
        if Family::of(&src.value) != family {
            cx.error(
                src.pos,
                &src.path,
                format!(
                    "{} is {} but the instance's addresses are {}",
                    src.value,
                    Family::of(&src.value).name(),
                    family.name()
                ),
            );
        }
    }
    for peer in &raw.peers {
        if Family::of(&peer.value) != family {
            cx.error(
                peer.pos,
                &peer.path,
                format!(
                    "peer {} is {} but the instance's addresses are {}",
                    peer.value,
                    Family::of(&peer.value).name(),
                    family.name()
                ),
            );
        }
    }
}

/// Authentication exists in v2 only; a v3 instance's block is ignored with a warning.
fn authentication(
    cx: &mut Cx,
    authentication: Option<At<Authentication>>,
    version: Version,
) -> Option<At<Authentication>> {
    match authentication {
        Some(auth) if version == Version::V3 => {
            cx.warn(
                auth.pos,
                &auth.path,
                "ignored: VRRPv3 has no authentication (keepalived ignores it in v3 too)",
            );
            None
        }
        other => other,
    }
}

/// keepalived starts an AH instance as BACKUP unless it owns the addresses: it must hear the
/// master's sequence number before it may send its own.
fn ah_initial_state(
    cx: &mut Cx,
    raw: &RawInstance,
    authentication: &Option<At<Authentication>>,
    state: InitialState,
    priority: u8,
) -> InitialState {
    let is_ah = authentication
        .as_ref()
        .is_some_and(|a| matches!(a.value, Authentication::Ah(_)));
    if !is_ah || state != InitialState::Master || priority == 255 {
        return state;
    }
    if let Some(s) = &raw.state {
        cx.warn(
            s.pos,
            &s.path,
            "starting as BACKUP: with auth_type AH keepalived lets only the address owner (priority 255) start as MASTER, since a router must hear the current AH sequence number first",
        );
    }
    InitialState::Backup
}

/// `use_vmac` and `vmac_xmit_base`.
fn vmac(cx: &mut Cx, raw: &RawInstance, vrid: u8, interface: &str) -> Option<Vmac> {
    let vmac = raw.use_vmac.as_ref().map(|u| Vmac {
        name: u.value.clone().unwrap_or_else(|| format!("vrrp.{vrid}")),
        xmit_base: raw.vmac_xmit_base.as_ref().is_some_and(|x| x.value),
    });
    if let Some(x) = &raw.vmac_xmit_base {
        if x.value && vmac.is_none() {
            cx.warn(x.pos, &x.path, "has no effect without use_vmac");
        }
    }
    if let (Some(u), Some(v)) = (&raw.use_vmac, &vmac) {
        if !raw.peers.is_empty() && !v.xmit_base {
            cx.error(
                u.pos,
                &u.path,
                "use_vmac with unicast_peer needs vmac_xmit_base: true (as in keepalived)",
            );
        }
        if v.name == interface {
            cx.error(
                u.pos,
                &u.path,
                format!(
                    "the VMAC name \"{}\" is the instance's own interface",
                    v.name
                ),
            );
        }
    }
    vmac
}

/// keepalived's `vrrp_strict`: no authentication, unicast peers or vmac_xmit_base, and
/// `state: MASTER` only for the address owner.
fn strict_mode(
    cx: &mut Cx,
    block: &Key,
    raw: &RawInstance,
    has_authentication: bool,
    priority: u8,
) {
    if has_authentication {
        cx.error(
            block.pos,
            &join(&block.path, "authentication"),
            "vrrp_strict forbids authentication",
        );
    }
    if let Some(peer) = raw.peers.first() {
        cx.error(peer.pos, &peer.path, "vrrp_strict forbids unicast peers");
    }
    if let Some(x) = raw.vmac_xmit_base.as_ref().filter(|x| x.value) {
        cx.error(x.pos, &x.path, "vrrp_strict forbids vmac_xmit_base");
    }
    if let Some(s) = raw
        .state
        .as_ref()
        .filter(|s| s.value == InitialState::Master)
    {
        if priority != 255 {
            cx.error(
                s.pos,
                &s.path,
                "vrrp_strict allows state MASTER only with priority 255",
            );
        }
    }
}

/// Routes and rules, parsed now that the family is known (for `default` and `to all`).
fn routes_and_rules(
    cx: &mut Cx,
    raw: &RawInstance,
    family: Family,
) -> (Vec<VirtualRoute>, Vec<VirtualRule>) {
    let mut routes = Vec::new();
    for (item_path, item) in &raw.routes {
        if let Some(text) = entry_text(cx, item, item_path, ROUTE_FIELDS, "virtual route") {
            match ipsyntax::parse_route(&text, family) {
                Ok(r) => routes.push(r),
                Err(e) => cx.error(item.pos, item_path, e),
            }
        }
    }
    let mut rules = Vec::new();
    for (item_path, item) in &raw.rules {
        if let Some(text) = entry_text(cx, item, item_path, RULE_FIELDS, "virtual rule") {
            match ipsyntax::parse_rule(&text, family) {
                Ok(r) => rules.push(r),
                Err(e) => cx.error(item.pos, item_path, e),
            }
        }
    }
    (routes, rules)
}
