//! Turns the positioned YAML tree into the typed [`Config`], filling in keepalived's defaults and
//! collecting every error and warning with its line, column and key path.
//!
//! Each block is read key by key so that one bad value does not hide the others; cross-field and
//! cross-instance rules (families, versions, duplicate VRIDs, sync group members) run afterwards
//! on whatever could be read.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use crate::ipsyntax;
use crate::keywords::{unknown_key_message, Block};
use crate::model::*;
use crate::node::{self, Node, Pos, Value};
use crate::Diagnostic;

/// What reading a file produced: a config when it could be built, and all diagnostics.
pub struct Outcome {
    pub config: Option<Config>,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

/// Reads `text` (named `file` in diagnostics) into a [`Config`].
pub fn build(text: &str, file: &str) -> Outcome {
    let mut cx = Cx {
        file: file.to_owned(),
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let config = match node::parse(text) {
        Ok(root) => read_root(&mut cx, &root),
        Err(syntax) => {
            cx.error(syntax.pos, "", syntax.message);
            None
        }
    };
    cx.errors.sort_by_key(|d| (d.line, d.col));
    cx.warnings.sort_by_key(|d| (d.line, d.col));
    Outcome {
        config,
        errors: cx.errors,
        warnings: cx.warnings,
    }
}

/// The diagnostics collected so far.
struct Cx {
    file: String,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Cx {
    fn diagnostic(&self, pos: Pos, path: &str, message: String) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            line: pos.line,
            col: pos.col,
            key_path: path.to_owned(),
            message,
        }
    }
    fn error(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        let d = self.diagnostic(pos, path, message.into());
        self.errors.push(d);
    }
    fn warn(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        let d = self.diagnostic(pos, path, message.into());
        self.warnings.push(d);
    }
}

/// A key of a mapping being read: its text, where it is, and its dotted path.
struct Key<'a> {
    name: String,
    pos: Pos,
    path: String,
    value: &'a Node,
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The entries of a mapping node, with their paths. Null is an empty mapping (`global_defs:`).
fn entries<'a>(cx: &mut Cx, node: &'a Node, path: &str, pos: Pos) -> Vec<Key<'a>> {
    match &node.value {
        Value::Map(map) => map
            .iter()
            .filter_map(|(k, v)| match k.scalar_text() {
                Some(name) => Some(Key {
                    path: join(path, &name),
                    name,
                    pos: k.pos,
                    value: v,
                }),
                None => {
                    cx.error(
                        k.pos,
                        path,
                        format!("a key must be a plain word, not {}", k.value.kind()),
                    );
                    None
                }
            })
            .collect(),
        Value::Null => Vec::new(),
        other => {
            cx.error(
                pos,
                path,
                format!("expected a mapping, found {}", other.kind()),
            );
            Vec::new()
        }
    }
}

/// The items of a list node with their paths; a single scalar counts as a one-item list and null
/// as an empty one, so `unicast_peer: 192.0.2.2` works as well as a sequence.
fn items<'a>(key: &Key<'a>) -> Vec<(String, &'a Node)> {
    match &key.value.value {
        Value::Seq(list) => list
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("{}[{i}]", key.path), n))
            .collect(),
        Value::Null => Vec::new(),
        _ => vec![(key.path.clone(), key.value)],
    }
}

fn found(node: &Node) -> String {
    match node.scalar_text() {
        Some(text) => format!("{} ({text:?})", node.value.kind()),
        None => node.value.kind().to_owned(),
    }
}

fn read_bool(cx: &mut Cx, key: &Key) -> Option<bool> {
    match key.value.value {
        Value::Bool(b) => Some(b),
        _ => {
            cx.error(
                key.pos,
                &key.path,
                format!("expected true or false, found {}", found(key.value)),
            );
            None
        }
    }
}

fn read_int(cx: &mut Cx, key: &Key, min: i64, max: i64) -> Option<i64> {
    match key.value.value {
        Value::Int(i) if i >= i128::from(min) && i <= i128::from(max) => i64::try_from(i).ok(),
        Value::Int(i) => {
            cx.error(
                key.pos,
                &key.path,
                format!("{i} is out of range {min}–{max}"),
            );
            None
        }
        _ => {
            cx.error(
                key.pos,
                &key.path,
                format!(
                    "expected an integer from {min} to {max}, found {}",
                    found(key.value)
                ),
            );
            None
        }
    }
}

fn read_u32(cx: &mut Cx, key: &Key, min: u32, max: u32) -> Option<u32> {
    read_int(cx, key, min.into(), max.into()).and_then(|v| u32::try_from(v).ok())
}

fn read_u8(cx: &mut Cx, key: &Key, min: u8, max: u8) -> Option<u8> {
    read_int(cx, key, min.into(), max.into()).and_then(|v| u8::try_from(v).ok())
}

/// A number of seconds (integer or decimal) from `min` to `max`, with its text for messages.
fn read_seconds(cx: &mut Cx, key: &Key, min: f64, max: f64) -> Option<f64> {
    let seconds = match key.value.value {
        Value::Int(i) => i as f64,
        Value::Float(f) => f,
        _ => {
            cx.error(
                key.pos,
                &key.path,
                format!("expected a number of seconds, found {}", found(key.value)),
            );
            return None;
        }
    };
    if !seconds.is_finite() || seconds < min || seconds > max {
        let text = key.value.scalar_text().unwrap_or_default();
        cx.error(
            key.pos,
            &key.path,
            format!("{text} is out of range {min}–{max} seconds"),
        );
        return None;
    }
    Some(seconds)
}

fn seconds_to_us(seconds: f64) -> u64 {
    // Range-checked by read_seconds, so the cast cannot overflow.
    (seconds * 1e6).round() as u64
}

/// A string value; numbers and booleans are taken as written (`router_id: 1`).
fn read_string(cx: &mut Cx, key: &Key) -> Option<String> {
    read_string_node(cx, key.value, key.pos, &key.path)
}

fn read_string_node(cx: &mut Cx, node: &Node, pos: Pos, path: &str) -> Option<String> {
    match node.scalar_text() {
        Some(text) if !text.trim().is_empty() => Some(text),
        Some(_) => {
            cx.error(pos, path, "expected a non-empty string");
            None
        }
        None => {
            cx.error(
                pos,
                path,
                format!("expected a string, found {}", found(node)),
            );
            None
        }
    }
}

fn read_ip(cx: &mut Cx, node: &Node, pos: Pos, path: &str) -> Option<IpAddr> {
    let text = read_string_node(cx, node, pos, path)?;
    match ipsyntax::parse_ip(text.trim()) {
        Ok(ip) => Some(ip),
        Err(e) => {
            cx.error(pos, path, e);
            None
        }
    }
}

fn unknown_key(cx: &mut Cx, block: Block, key: &Key) {
    cx.error(key.pos, &key.path, unknown_key_message(block, &key.name));
}

fn read_root(cx: &mut Cx, root: &Node) -> Option<Config> {
    let mut global = GlobalDefs::default();
    let mut instance_nodes: Vec<Key> = Vec::new();
    let mut group_nodes: Vec<Key> = Vec::new();
    let mut instances_seen = false;
    for key in entries(cx, root, "", root.pos) {
        match key.name.as_str() {
            "global_defs" => global = read_global(cx, &key),
            "vrrp_instance" => {
                instances_seen = true;
                instance_nodes = entries(cx, key.value, &key.path, key.pos);
            }
            "vrrp_sync_group" => group_nodes = entries(cx, key.value, &key.path, key.pos),
            _ => unknown_key(cx, Block::Root, &key),
        }
    }
    if !instances_seen && cx.errors.is_empty() {
        cx.error(root.pos, "vrrp_instance", "no vrrp_instance is configured");
    }

    let mut instances = Vec::new();
    let mut vrid_positions = Vec::new();
    for key in &instance_nodes {
        if let Some((instance, vrid_pos)) = read_instance(cx, key, &global) {
            instances.push(instance);
            vrid_positions.push(vrid_pos);
        }
    }
    check_duplicate_vrids(cx, &instances, &vrid_positions, &instance_nodes);

    let mut sync_groups = Vec::new();
    let mut group_of: HashMap<String, String> = HashMap::new();
    for key in &group_nodes {
        if let Some(group) = read_sync_group(cx, key, &instance_nodes, &mut group_of) {
            sync_groups.push(group);
        }
    }
    Some(Config {
        global,
        instances,
        sync_groups,
    })
}

fn read_global(cx: &mut Cx, block: &Key) -> GlobalDefs {
    let mut g = GlobalDefs::default();
    for key in entries(cx, block.value, &block.path, block.pos) {
        match key.name.as_str() {
            "router_id" => g.router_id = read_string(cx, &key).or(g.router_id),
            "vrrp_version" => {
                if let Some(v) = read_version(cx, &key) {
                    g.vrrp_version = v;
                    g.vrrp_version_explicit = true;
                }
            }
            "vrrp_garp_master_delay" => {
                g.vrrp_garp_master_delay = read_u32(cx, &key, 0, 86_400).unwrap_or(5)
            }
            "vrrp_garp_master_repeat" => {
                g.vrrp_garp_master_repeat = read_u32(cx, &key, 1, 255).unwrap_or(5)
            }
            "vrrp_garp_master_refresh" => {
                g.vrrp_garp_master_refresh = read_u32(cx, &key, 0, 86_400).unwrap_or(0)
            }
            "vrrp_garp_master_refresh_repeat" => {
                g.vrrp_garp_master_refresh_repeat = read_u32(cx, &key, 1, 255).unwrap_or(1)
            }
            "vrrp_garp_interval" => {
                g.vrrp_garp_interval_us = read_seconds(cx, &key, 0.0, 1.0).map_or(0, seconds_to_us)
            }
            "vrrp_gna_interval" => {
                g.vrrp_gna_interval_us = read_seconds(cx, &key, 0.0, 1.0).map_or(0, seconds_to_us)
            }
            "vrrp_down_timer_adverts" => {
                g.vrrp_down_timer_adverts = read_u8(cx, &key, 1, 100).unwrap_or(3)
            }
            "vrrp_iptables" => {
                let given = match &key.value.value {
                    Value::Bool(b) => *b,
                    Value::Str(_) => true,
                    _ => {
                        cx.error(
                            key.pos,
                            &key.path,
                            format!(
                                "expected true, false or chain names, found {}",
                                found(key.value)
                            ),
                        );
                        false
                    }
                };
                if given {
                    g.vrrp_iptables = true;
                    cx.warn(
                        key.pos,
                        &key.path,
                        "vipd always uses nftables for no_accept (table set by `nftables`); vrrp_iptables is ignored",
                    );
                }
            }
            "nftables" => match &key.value.value {
                Value::Bool(true) => g.nftables_explicit = true,
                Value::Bool(false) => {}
                Value::Str(name) => {
                    if name.is_empty()
                        || name.len() > 64
                        || !name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    {
                        cx.error(
                            key.pos,
                            &key.path,
                            format!("\"{name}\" is not an nftables table name (letters, digits, _ and -, at most 64)"),
                        );
                    } else {
                        g.nftables_table = name.clone();
                        g.nftables_explicit = true;
                    }
                }
                _ => cx.error(
                    key.pos,
                    &key.path,
                    format!("expected true or a table name, found {}", found(key.value)),
                ),
            },
            "dynamic_interfaces" => match &key.value.value {
                Value::Bool(true) => g.dynamic_interfaces = DynamicInterfaces::On,
                Value::Bool(false) => g.dynamic_interfaces = DynamicInterfaces::Off,
                Value::Str(s) if s == "allow_if_changes" => {
                    g.dynamic_interfaces = DynamicInterfaces::AllowIfChanges
                }
                _ => cx.error(
                    key.pos,
                    &key.path,
                    format!(
                        "expected true, false or allow_if_changes, found {}",
                        found(key.value)
                    ),
                ),
            },
            "max_auto_priority" => {
                g.max_auto_priority = read_int(cx, &key, -1, 99).and_then(|v| i32::try_from(v).ok())
            }
            "vrrp_strict" => g.vrrp_strict = read_bool(cx, &key).unwrap_or(false),
            "enable_script_security" => {
                g.enable_script_security = read_bool(cx, &key).unwrap_or(false)
            }
            "script_user" => g.script_user = read_script_user(cx, &key),
            "notify_fifo" => g.notify_fifo = read_fifo(cx, &key),
            "vrrp_notify_fifo" => {
                g.vrrp_notify_fifo = read_fifo(cx, &key);
                if g.vrrp_notify_fifo.is_some() && g.vrrp_notify_fifo == g.notify_fifo {
                    cx.error(
                        key.pos,
                        &key.path,
                        "is the same FIFO as notify_fifo; each event would be written to it twice (keepalived wants them different too)",
                    );
                }
            }
            "vrrp_check_unicast_src" => {
                g.vrrp_check_unicast_src = read_bool(cx, &key).unwrap_or(false)
            }
            "metrics_listen" => {
                if let Some(text) = read_string(cx, &key) {
                    match text.parse::<SocketAddr>() {
                        Ok(addr) => g.metrics_listen = Some(addr),
                        Err(_) => cx.error(
                            key.pos,
                            &key.path,
                            format!("\"{text}\" is not ADDRESS:PORT (e.g. 127.0.0.1:9165 or [::1]:9165)"),
                        ),
                    }
                }
            }
            _ => unknown_key(cx, Block::GlobalDefs, &key),
        }
    }
    g
}

/// `user [group]`, as keepalived writes it.
fn read_script_user(cx: &mut Cx, key: &Key) -> Option<ScriptUser> {
    let text = read_string(cx, key)?;
    let words: Vec<&str> = text.split_whitespace().collect();
    let valid = |name: &str| {
        !name.starts_with('-')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'))
    };
    match words.as_slice() {
        [user] if valid(user) => Some(ScriptUser {
            user: (*user).to_owned(),
            group: None,
        }),
        [user, group] if valid(user) && valid(group) => Some(ScriptUser {
            user: (*user).to_owned(),
            group: Some((*group).to_owned()),
        }),
        _ => {
            cx.error(
                key.pos,
                &key.path,
                format!("\"{text}\" is not `USER [GROUP]` (a user name, optionally a group name)"),
            );
            None
        }
    }
}

/// A FIFO path. keepalived's optional `[user [group]]` after it (for its fifo script) is
/// refused: vipd has no `notify_fifo_script`.
fn read_fifo(cx: &mut Cx, key: &Key) -> Option<String> {
    let text = read_string(cx, key)?;
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [path] if path.starts_with('/') => Some((*path).to_owned()),
        [path] => {
            cx.error(
                key.pos,
                &key.path,
                format!("\"{path}\" is not an absolute path"),
            );
            None
        }
        _ => {
            cx.error(
                key.pos,
                &key.path,
                format!("\"{text}\": a user or group after the FIFO path (for keepalived's notify_fifo_script) is not supported by vipd; give the path only"),
            );
            None
        }
    }
}

fn read_version(cx: &mut Cx, key: &Key) -> Option<Version> {
    match key.value.value {
        Value::Int(2) => Some(Version::V2),
        Value::Int(3) => Some(Version::V3),
        _ => {
            cx.error(
                key.pos,
                &key.path,
                format!("expected 2 or 3, found {}", found(key.value)),
            );
            None
        }
    }
}

/// A value read from the file together with where its key is.
#[derive(Clone)]
struct At<T> {
    value: T,
    pos: Pos,
    path: String,
}

fn at<T>(value: T, key: &Key) -> At<T> {
    At {
        value,
        pos: key.pos,
        path: key.path.clone(),
    }
}

/// Everything an instance block says, before defaults and cross-field rules.
#[derive(Default)]
struct RawInstance<'a> {
    state: Option<At<InitialState>>,
    interface: Option<String>,
    vrid: Option<At<u8>>,
    priority: Option<At<u8>>,
    advert_int: Option<At<f64>>,
    version: Option<At<Version>>,
    nopreempt: Option<At<bool>>,
    preempt: Option<At<bool>>,
    preempt_delay: Option<At<f64>>,
    accept: Option<At<bool>>,
    no_accept: Option<At<bool>>,
    src_ip: Option<At<IpAddr>>,
    peers: Vec<At<IpAddr>>,
    check_unicast_src: Option<bool>,
    authentication: Option<At<Authentication>>,
    v3_checksum_as_v2: bool,
    use_vmac: Option<At<Option<String>>>,
    vmac_xmit_base: Option<At<bool>>,
    vips: Vec<At<Vip>>,
    excluded_vips: Vec<At<Vip>>,
    routes: Vec<(String, &'a Node)>,
    rules: Vec<(String, &'a Node)>,
    track_interfaces: Vec<TrackInterface>,
    track_scripts: Vec<String>,
    notify: Notify,
    garp_master_delay: Option<u32>,
    garp_master_repeat: Option<u32>,
    garp_master_refresh: Option<u32>,
    garp_master_refresh_repeat: Option<u32>,
    down_timer_adverts: Option<u8>,
    dont_track_primary: bool,
    debug: u8,
}

fn read_instance(cx: &mut Cx, block: &Key, global: &GlobalDefs) -> Option<(Instance, Pos)> {
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
                raw.track_scripts = read_track_scripts(cx, &key);
                if !raw.track_scripts.is_empty() {
                    cx.warn(
                        key.pos,
                        &key.path,
                        "vipd does not run track scripts yet; the names are read and ignored",
                    );
                }
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
            _ => unknown_key(cx, Block::Instance, &key),
        }
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
    match kind.to_ascii_uppercase().as_str() {
        "PASS" => {
            let Some((pass, pass_pos, pass_path)) = auth_pass else {
                cx.error(block.pos, &block.path, "auth_type PASS needs auth_pass");
                return None;
            };
            let mut bytes = pass.into_bytes();
            if bytes.len() > 8 {
                bytes.truncate(8);
                cx.warn(
                    pass_pos,
                    &pass_path,
                    format!(
                        "only the first 8 characters are sent (\"{}\"), as keepalived does",
                        String::from_utf8_lossy(&bytes)
                    ),
                );
            }
            Some(at(Authentication::Pass(bytes), block))
        }
        "AH" => {
            cx.error(
                type_pos,
                &type_path,
                "auth_type AH (IPsec AH) is not supported by vipd; use PASS or no authentication",
            );
            None
        }
        _ => {
            cx.error(
                type_pos,
                &type_path,
                format!("\"{kind}\" is not PASS or AH"),
            );
            None
        }
    }
}

/// A list entry given either as keepalived's one-line text or as a mapping of named fields.
/// Mappings are turned into the same words, so both forms share one parser and one set of rules.
fn entry_text(
    cx: &mut Cx,
    node: &Node,
    path: &str,
    fields: &[(&str, FieldKind)],
    what: &str,
) -> Option<String> {
    match &node.value {
        Value::Map(_) => {
            let mut words = Vec::new();
            for key in entries(cx, node, path, node.pos) {
                let Some((_, kind)) = fields.iter().find(|(name, _)| *name == key.name) else {
                    let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
                    cx.error(
                        key.pos,
                        &key.path,
                        format!(
                            "unknown key {} in a {what} (expected one of {})",
                            key.name,
                            names.join(", ")
                        ),
                    );
                    continue;
                };
                match kind {
                    FieldKind::Word(word) => {
                        if let Some(value) = read_string(cx, &key) {
                            if value.split_whitespace().count() != 1 {
                                cx.error(
                                    key.pos,
                                    &key.path,
                                    format!("\"{value}\" must be a single word"),
                                );
                                continue;
                            }
                            words.push(word.to_string());
                            words.push(value);
                        }
                    }
                    FieldKind::Leading => {
                        if let Some(value) = read_string(cx, &key) {
                            words.insert(0, value);
                        }
                    }
                    FieldKind::Flag(word) => {
                        if read_bool(cx, &key) == Some(true) {
                            words.push(word.to_string());
                        }
                    }
                }
            }
            Some(words.join(" "))
        }
        _ => read_string_node(cx, node, node.pos, path),
    }
}

/// How one field of a mapping-form entry becomes words of the one-line form.
#[derive(Clone, Copy)]
enum FieldKind {
    /// `key: value` → `word value`.
    Word(&'static str),
    /// `key: value` → `value` at the start (a VIP's address, a route's `type: blackhole`).
    Leading,
    /// `key: true` → `word`.
    Flag(&'static str),
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

const ROUTE_FIELDS: &[(&str, FieldKind)] = &[
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

const RULE_FIELDS: &[(&str, FieldKind)] = &[
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

fn read_track_interfaces(cx: &mut Cx, key: &Key) -> Vec<TrackInterface> {
    let mut tracked = Vec::new();
    for (path, item) in items(key) {
        let text = match &item.value {
            Value::Map(_) => {
                let fields = &[
                    ("name", FieldKind::Leading),
                    ("weight", FieldKind::Word("weight")),
                    ("reverse", FieldKind::Flag("reverse")),
                ];
                entry_text(cx, item, &path, fields, "track_interface entry")
            }
            _ => read_string_node(cx, item, item.pos, &path),
        };
        let Some(text) = text else { continue };
        match parse_track_interface(&text) {
            Ok(t) => tracked.push(t),
            Err(e) => cx.error(item.pos, &path, e),
        }
    }
    tracked
}

/// `NAME [weight N] [reverse]`; the weight is -253..=253 as keepalived 2.2.7 allows.
fn parse_track_interface(text: &str) -> Result<TrackInterface, String> {
    let mut words = text.split_whitespace();
    let name = words.next().ok_or("empty track_interface entry")?;
    ipsyntax::check_ifname(name)?;
    let mut tracked = TrackInterface {
        name: name.to_owned(),
        weight: 0,
        reverse: false,
    };
    while let Some(word) = words.next() {
        match word {
            "weight" => {
                let value = words.next().ok_or("\"weight\" needs a value after it")?;
                tracked.weight = value
                    .parse::<i16>()
                    .ok()
                    .filter(|w| (-253..=253).contains(w))
                    .ok_or_else(|| {
                        format!("weight \"{value}\" is not a number from -253 to 253")
                    })?;
            }
            "reverse" => tracked.reverse = true,
            "noreverse" | "no_reverse" => tracked.reverse = false,
            _ => {
                return Err(format!(
                    "unexpected \"{word}\" (expected weight or reverse)"
                ))
            }
        }
    }
    Ok(tracked)
}

fn read_track_scripts(cx: &mut Cx, key: &Key) -> Vec<String> {
    let mut names = Vec::new();
    for (path, item) in items(key) {
        let name = match &item.value {
            Value::Map(_) => {
                let fields = &[
                    ("name", FieldKind::Leading),
                    ("weight", FieldKind::Word("weight")),
                    ("reverse", FieldKind::Flag("reverse")),
                ];
                entry_text(cx, item, &path, fields, "track_script entry")
            }
            _ => read_string_node(cx, item, item.pos, &path),
        };
        if let Some(first) = name.as_deref().and_then(|t| t.split_whitespace().next()) {
            names.push(first.to_owned());
        }
    }
    names
}

fn resolve_instance(
    cx: &mut Cx,
    block: &Key,
    raw: RawInstance,
    global: &GlobalDefs,
) -> Option<(Instance, Pos)> {
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

    // Family: from the VIPs; one instance carries one family (keepalived's rule too).
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

    // Version: the instance's, else global_defs' if written, else 3 for IPv6 (as keepalived), else 2.
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

    // advert_int: whole seconds in v2, 10 ms steps from 10 ms to 40.95 s in v3.
    let advert_interval_us = match &raw.advert_int {
        None => 1_000_000,
        Some(a) => {
            let text = format_seconds(a.value);
            let us = seconds_to_us(a.value);
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
            us
        }
    };

    // Preemption.
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
    if state == InitialState::Master && !preempt {
        if let Some(n) = &raw.nopreempt {
            cx.warn(
                n.pos,
                &n.path,
                "nopreempt has no effect with state MASTER (keepalived needs state BACKUP for it)",
            );
        }
    }
    let preempt_delay_us = raw
        .preempt_delay
        .as_ref()
        .map_or(0, |d| seconds_to_us(d.value));

    // Accept mode.
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
    let accept = if priority == 255 {
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
    };

    // Unicast.
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

    // Authentication: v2 only.
    let authentication = match raw.authentication {
        Some(auth) if version == Version::V3 => {
            cx.warn(
                auth.pos,
                &auth.path,
                "ignored: VRRPv3 has no authentication (keepalived ignores it in v3 too)",
            );
            None
        }
        Some(auth) => Some(auth),
        None => None,
    };

    // VMAC.
    let vmac = raw.use_vmac.as_ref().map(|u| Vmac {
        name: u
            .value
            .clone()
            .unwrap_or_else(|| format!("vrrp.{}", vrid.value)),
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

    // vrrp_strict (keepalived's strict mode).
    if global.vrrp_strict {
        if authentication.is_some() {
            cx.error(
                block.pos,
                &join(path, "authentication"),
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

    // Routes and rules, parsed now that the family is known (for `default` and `to all`).
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
    };
    complete.then_some((instance, vrid.pos))
}

/// Seconds as the user would write them (0.1, not 0.1000000001).
fn format_seconds(seconds: f64) -> String {
    let mut text = format!("{seconds:.6}");
    while text.ends_with('0') {
        text.pop();
    }
    if text.ends_with('.') {
        text.pop();
    }
    text
}

/// Two instances with the same VRID, family and interface would answer each other's adverts.
/// keepalived allows it only with unicast peers that do not overlap; so does vipd.
fn check_duplicate_vrids(
    cx: &mut Cx,
    instances: &[Instance],
    vrid_positions: &[Pos],
    blocks: &[Key],
) {
    for (i, later) in instances.iter().enumerate() {
        for earlier in &instances[..i] {
            let same = earlier.vrid == later.vrid
                && earlier.family == later.family
                && earlier.interface == later.interface;
            let disjoint_unicast = !earlier.unicast_peers.is_empty()
                && !later.unicast_peers.is_empty()
                && !earlier
                    .unicast_peers
                    .iter()
                    .any(|p| later.unicast_peers.contains(p));
            if same && !disjoint_unicast {
                let earlier_line = instances
                    .iter()
                    .position(|x| x.name == earlier.name)
                    .and_then(|k| vrid_positions.get(k))
                    .map_or(0, |p| p.line);
                let later_path = blocks
                    .iter()
                    .find(|b| b.name == later.name)
                    .map_or_else(String::new, |b| join(&b.path, "virtual_router_id"));
                cx.error(
                    vrid_positions[i],
                    &later_path,
                    format!(
                        "virtual_router_id {} on {} ({}) is already used by {} (line {earlier_line})",
                        later.vrid,
                        later.interface,
                        later.family.name(),
                        earlier.name
                    ),
                );
                break;
            }
        }
    }
}

fn read_sync_group(
    cx: &mut Cx,
    block: &Key,
    instance_blocks: &[Key],
    group_of: &mut HashMap<String, String>,
) -> Option<SyncGroup> {
    let mut members = Vec::new();
    let mut notify = Notify::default();
    let mut group_seen = false;
    for key in entries(cx, block.value, &block.path, block.pos) {
        match key.name.as_str() {
            "group" => {
                group_seen = true;
                for (path, item) in items(&key) {
                    let Some(name) = read_string_node(cx, item, item.pos, &path) else {
                        continue;
                    };
                    if !instance_blocks.iter().any(|b| b.name == name) {
                        cx.error(
                            item.pos,
                            &path,
                            format!("there is no vrrp_instance named {name}"),
                        );
                    } else if let Some(other) = group_of.get(&name) {
                        cx.error(item.pos, &path, format!("{name} is already in sync group {other}; an instance belongs to one group"));
                    } else if members.contains(&name) {
                        cx.error(item.pos, &path, format!("{name} is listed twice"));
                    } else {
                        group_of.insert(name.clone(), block.name.clone());
                        members.push(name);
                    }
                }
            }
            "notify" => notify.notify = read_string(cx, &key),
            "notify_master" => notify.master = read_string(cx, &key),
            "notify_backup" => notify.backup = read_string(cx, &key),
            "notify_fault" => notify.fault = read_string(cx, &key),
            "notify_stop" => notify.stop = read_string(cx, &key),
            _ => unknown_key(cx, Block::SyncGroup, &key),
        }
    }
    if !group_seen {
        cx.error(
            block.pos,
            &block.path,
            "group (the list of member instances) is required",
        );
    }
    Some(SyncGroup {
        name: block.name.clone(),
        members,
        notify,
    })
}
