//! One `vrrp_instance` block read key by key into a [`RawInstance`]: what the block says, with
//! positions, before defaults and cross-field rules ([`super::resolve`]).

use std::net::IpAddr;

use super::actions::{check_own_interface, read_state_action};
use super::resolve::resolve_instance;
use super::track::{read_track_interfaces, read_track_refs, TrackDefs, TrackKind};
use super::{
    at, entries, entry_text, found, items, read_bool, read_ip, read_seconds, read_string, read_u32,
    read_u8, read_version, unknown_key, At, Cx, FieldKind, Key,
};
use crate::actions::StateActions;
use crate::ipsyntax;
use crate::keywords::Block;
use crate::model::*;
use crate::node::{Node, Pos, Value};

/// Everything an instance block says, before defaults and cross-field rules.
#[derive(Default)]
pub(super) struct RawInstance<'a> {
    pub(super) state: Option<At<InitialState>>,
    pub(super) interface: Option<String>,
    pub(super) vrid: Option<At<u8>>,
    pub(super) priority: Option<At<u8>>,
    pub(super) advert_int: Option<At<f64>>,
    pub(super) version: Option<At<Version>>,
    pub(super) nopreempt: Option<At<bool>>,
    pub(super) preempt: Option<At<bool>>,
    pub(super) preempt_delay: Option<At<f64>>,
    pub(super) accept: Option<At<bool>>,
    pub(super) no_accept: Option<At<bool>>,
    pub(super) src_ip: Option<At<IpAddr>>,
    pub(super) peers: Vec<At<IpAddr>>,
    pub(super) check_unicast_src: Option<bool>,
    pub(super) authentication: Option<At<Authentication>>,
    pub(super) v3_checksum_as_v2: bool,
    pub(super) use_vmac: Option<At<Option<String>>>,
    pub(super) vmac_xmit_base: Option<At<bool>>,
    pub(super) vips: Vec<At<Vip>>,
    pub(super) excluded_vips: Vec<At<Vip>>,
    pub(super) routes: Vec<(String, &'a Node)>,
    pub(super) rules: Vec<(String, &'a Node)>,
    pub(super) track_interfaces: Vec<TrackInterface>,
    pub(super) track_scripts: Vec<TrackRef>,
    pub(super) track_files: Vec<TrackRef>,
    pub(super) track_processes: Vec<TrackRef>,
    pub(super) notify: Notify,
    pub(super) garp_master_delay: Option<u32>,
    pub(super) garp_master_repeat: Option<u32>,
    pub(super) garp_master_refresh: Option<u32>,
    pub(super) garp_master_refresh_repeat: Option<u32>,
    pub(super) down_timer_adverts: Option<u8>,
    pub(super) dont_track_primary: bool,
    pub(super) debug: u8,
    pub(super) actions: StateActions,
}

pub(super) fn read_instance(
    cx: &mut Cx,
    block: &Key,
    global: &GlobalDefs,
    defs: &mut TrackDefs,
) -> Option<(Instance, Pos)> {
    let mut raw = RawInstance::default();
    for key in entries(cx, block.value, &block.path, block.pos) {
        match key.name.as_str() {
            "state" => {
                if let Some(s) = read_string(cx, &key) {
                    match s.to_ascii_uppercase().as_str() {
                        "MASTER" => raw.state = Some(at(InitialState::Master, &key)),
                        "BACKUP" => raw.state = Some(at(InitialState::Backup, &key)),
                        _ => cx.error(
                            key.pos,
                            &key.path,
                            format!("\"{s}\" is not MASTER or BACKUP"),
                        ),
                    }
                }
            }
            "interface" => {
                if let Some(name) = read_string(cx, &key) {
                    match ipsyntax::check_ifname(&name) {
                        Ok(()) => raw.interface = Some(name),
                        Err(e) => cx.error(key.pos, &key.path, e),
                    }
                }
            }
            "virtual_router_id" => raw.vrid = read_u8(cx, &key, 1, 255).map(|v| at(v, &key)),
            "priority" => raw.priority = read_u8(cx, &key, 1, 255).map(|v| at(v, &key)),
            "advert_int" => {
                raw.advert_int = read_seconds(cx, &key, 0.0, 255.0).map(|v| at(v, &key))
            }
            "version" => raw.version = read_version(cx, &key).map(|v| at(v, &key)),
            "nopreempt" => raw.nopreempt = read_bool(cx, &key).map(|v| at(v, &key)),
            "preempt" => raw.preempt = read_bool(cx, &key).map(|v| at(v, &key)),
            "preempt_delay" => {
                raw.preempt_delay = read_seconds(cx, &key, 0.0, 1000.0).map(|v| at(v, &key))
            }
            "accept" => raw.accept = read_bool(cx, &key).map(|v| at(v, &key)),
            "no_accept" => raw.no_accept = read_bool(cx, &key).map(|v| at(v, &key)),
            "unicast_src_ip" | "mcast_src_ip" => {
                if let Some(previous) = &raw.src_ip {
                    cx.error(
                        key.pos,
                        &key.path,
                        format!(
                            "the source address is already set at line {} (unicast_src_ip and mcast_src_ip are the same setting)",
                            previous.pos.line
                        ),
                    );
                } else if let Some(ip) = read_ip(cx, key.value, key.pos, &key.path) {
                    raw.src_ip = Some(at(ip, &key));
                }
            }
            "unicast_peer" => {
                for (path, item) in items(&key) {
                    if let Some(ip) = read_ip(cx, item, item.pos, &path) {
                        raw.peers.push(At {
                            value: ip,
                            pos: item.pos,
                            path,
                        });
                    }
                }
            }
            "check_unicast_src" => raw.check_unicast_src = read_bool(cx, &key),
            "authentication" => raw.authentication = read_authentication(cx, &key),
            "v3_checksum_as_v2" => raw.v3_checksum_as_v2 = read_bool(cx, &key).unwrap_or(false),
            "use_vmac" => match &key.value.value {
                Value::Bool(true) => raw.use_vmac = Some(at(None, &key)),
                Value::Bool(false) => {}
                Value::Str(name) => match ipsyntax::check_ifname(name) {
                    Ok(()) => raw.use_vmac = Some(at(Some(name.clone()), &key)),
                    Err(e) => cx.error(key.pos, &key.path, e),
                },
                _ => cx.error(
                    key.pos,
                    &key.path,
                    format!(
                        "expected true, false or an interface name, found {}",
                        found(key.value)
                    ),
                ),
            },
            "vmac_xmit_base" => raw.vmac_xmit_base = read_bool(cx, &key).map(|v| at(v, &key)),
            "virtual_ipaddress" => raw.vips = read_vips(cx, &key),
            "virtual_ipaddress_excluded" => raw.excluded_vips = read_vips(cx, &key),
            "virtual_routes" => raw.routes = items(&key),
            "virtual_rules" => raw.rules = items(&key),
            "track_interface" => raw.track_interfaces = read_track_interfaces(cx, &key),
            "track_script" => {
                raw.track_scripts = read_track_refs(cx, &key, TrackKind::Script, defs)
            }
            "track_file" => raw.track_files = read_track_refs(cx, &key, TrackKind::File, defs),
            "track_process" => {
                raw.track_processes = read_track_refs(cx, &key, TrackKind::Process, defs)
            }
            "notify" => raw.notify.notify = read_string(cx, &key),
            "notify_master" => raw.notify.master = read_string(cx, &key),
            "notify_backup" => raw.notify.backup = read_string(cx, &key),
            "notify_fault" => raw.notify.fault = read_string(cx, &key),
            "notify_stop" => raw.notify.stop = read_string(cx, &key),
            "garp_master_delay" => raw.garp_master_delay = read_u32(cx, &key, 0, 86_400),
            "garp_master_repeat" => raw.garp_master_repeat = read_u32(cx, &key, 1, 255),
            "garp_master_refresh" => raw.garp_master_refresh = read_u32(cx, &key, 0, 86_400),
            "garp_master_refresh_repeat" => {
                raw.garp_master_refresh_repeat = read_u32(cx, &key, 1, 255)
            }
            "down_timer_adverts" => raw.down_timer_adverts = read_u8(cx, &key, 1, 100),
            "dont_track_primary" => raw.dont_track_primary = read_bool(cx, &key).unwrap_or(false),
            "debug" => raw.debug = read_u8(cx, &key, 0, 4).unwrap_or(0),
            "lvs_sync_daemon_interface" => {
                read_string(cx, &key);
                cx.warn(
                    key.pos,
                    &key.path,
                    "ignored: vipd does not drive the IPVS sync daemon",
                );
            }
            "conntrackd" | "on_master" | "on_backup" | "on_fault" | "on_stop" => {
                read_state_action(cx, &key, &mut raw.actions)
            }
            _ => unknown_key(cx, Block::Instance, &key),
        }
    }
    if let Some(interface) = &raw.interface {
        check_own_interface(cx, block, &raw.actions, interface);
    }
    resolve_instance(cx, block, raw, global)
}

fn read_authentication(cx: &mut Cx, block: &Key) -> Option<At<Authentication>> {
    let mut auth_type: Option<(String, Pos, String)> = None;
    let mut auth_pass: Option<(String, Pos, String)> = None;
    for key in entries(cx, block.value, &block.path, block.pos) {
        match key.name.as_str() {
            "auth_type" => {
                auth_type = read_string(cx, &key).map(|v| (v, key.pos, key.path.clone()))
            }
            "auth_pass" => {
                auth_pass = read_string(cx, &key).map(|v| (v, key.pos, key.path.clone()))
            }
            _ => unknown_key(cx, Block::Authentication, &key),
        }
    }
    let Some((kind, type_pos, type_path)) = auth_type else {
        cx.error(block.pos, &block.path, "auth_type is required (PASS or AH)");
        return None;
    };
    let upper = kind.to_ascii_uppercase();
    if upper != "PASS" && upper != "AH" {
        cx.error(
            type_pos,
            &type_path,
            format!("\"{kind}\" is not PASS or AH"),
        );
        return None;
    }
    let Some((pass, pass_pos, pass_path)) = auth_pass else {
        cx.error(
            block.pos,
            &block.path,
            format!("auth_type {upper} needs auth_pass"),
        );
        return None;
    };
    let mut bytes = pass.into_bytes();
    if bytes.len() > 8 {
        bytes.truncate(8);
        let used_as = if upper == "AH" { "key" } else { "password" };
        cx.warn(
            pass_pos,
            &pass_path,
            format!(
                "only the first 8 characters are the {used_as} (\"{}\"), as keepalived does",
                String::from_utf8_lossy(&bytes)
            ),
        );
    }
    let authentication = if upper == "AH" {
        Authentication::Ah(bytes)
    } else {
        Authentication::Pass(bytes)
    };
    Some(at(authentication, block))
}

const VIP_FIELDS: &[(&str, FieldKind)] = &[
    ("address", FieldKind::Leading),
    ("dev", FieldKind::Word("dev")),
    ("label", FieldKind::Word("label")),
    ("brd", FieldKind::Word("brd")),
    ("scope", FieldKind::Word("scope")),
    ("no_track", FieldKind::Flag("no_track")),
    ("noprefixroute", FieldKind::Flag("noprefixroute")),
];

pub(super) const ROUTE_FIELDS: &[(&str, FieldKind)] = &[
    ("type", FieldKind::Leading),
    ("blackhole", FieldKind::Flag("blackhole")),
    ("to", FieldKind::Word("to")),
    ("via", FieldKind::Word("via")),
    ("dev", FieldKind::Word("dev")),
    ("src", FieldKind::Word("src")),
    ("table", FieldKind::Word("table")),
    ("metric", FieldKind::Word("metric")),
    ("scope", FieldKind::Word("scope")),
    ("onlink", FieldKind::Flag("onlink")),
    ("no_track", FieldKind::Flag("no_track")),
];

pub(super) const RULE_FIELDS: &[(&str, FieldKind)] = &[
    ("from", FieldKind::Word("from")),
    ("to", FieldKind::Word("to")),
    ("table", FieldKind::Word("table")),
    ("lookup", FieldKind::Word("lookup")),
    ("priority", FieldKind::Word("priority")),
    ("iif", FieldKind::Word("iif")),
    ("oif", FieldKind::Word("oif")),
    ("fwmark", FieldKind::Word("fwmark")),
    ("type", FieldKind::Leading),
    ("no_track", FieldKind::Flag("no_track")),
];

fn read_vips(cx: &mut Cx, key: &Key) -> Vec<At<Vip>> {
    let mut vips = Vec::new();
    for (path, item) in items(key) {
        let Some(text) = entry_text(cx, item, &path, VIP_FIELDS, "virtual address") else {
            continue;
        };
        match ipsyntax::parse_vip(&text) {
            Ok(vip) => vips.push(At {
                value: vip,
                pos: item.pos,
                path,
            }),
            Err(e) => cx.error(item.pos, &path, e),
        }
    }
    vips
}
