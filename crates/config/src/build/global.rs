//! `global_defs`: settings for the whole daemon and the defaults instances inherit.

use std::net::SocketAddr;

use super::{
    entries, found, items, read_bool, read_int, read_seconds, read_string, read_string_node,
    read_u32, read_u8, read_version, seconds_to_us, unknown_key, Cx, Key,
};
use crate::keywords::Block;
use crate::model::*;
use crate::node::Value;

pub(super) fn read_global(cx: &mut Cx, block: &Key) -> GlobalDefs {
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
            "min_auto_priority_delay" => {
                g.min_auto_priority_delay_us = read_u32(cx, &key, 1, 10_000_000).map(u64::from)
            }
            "vrrp_rt_priority" => g.vrrp_rt_priority = read_u8(cx, &key, 1, 99),
            "vrrp_no_swap" => g.vrrp_no_swap = read_bool(cx, &key).unwrap_or(false),
            "vrrp_cpu_affinity" => g.vrrp_cpu_affinity = read_cpu_list(cx, &key),
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
            "metrics_listen" => g.metrics_listen = read_metrics_listen(cx, &key),
            "metrics_families" => {
                if let Some(families) = read_metrics_families(cx, &key) {
                    g.metrics_families = families;
                }
            }
            _ => unknown_key(cx, Block::GlobalDefs, &key),
        }
    }
    g
}

/// `ADDRESS:PORT`, `[V6]:PORT`, or `off` (None). `true` means the default address.
fn read_metrics_listen(cx: &mut Cx, key: &Key) -> Option<SocketAddr> {
    match &key.value.value {
        Value::Bool(false) => return None,
        Value::Bool(true) => return Some(DEFAULT_METRICS_LISTEN),
        Value::Str(text) if text.trim() == "off" => return None,
        _ => {}
    }
    let text = read_string(cx, key)?;
    match text.trim().parse::<SocketAddr>() {
        Ok(addr) if addr.port() != 0 => Some(addr),
        Ok(_) => {
            cx.error(
                key.pos,
                &key.path,
                format!("\"{text}\": port 0 would listen on a random port; give the port Prometheus scrapes (e.g. 9165)"),
            );
            Some(DEFAULT_METRICS_LISTEN)
        }
        Err(_) => {
            cx.error(
                key.pos,
                &key.path,
                format!(
                    "\"{text}\" is not ADDRESS:PORT (e.g. 127.0.0.1:9165 or [::1]:9165) or off"
                ),
            );
            Some(DEFAULT_METRICS_LISTEN)
        }
    }
}

/// A list of family names (a YAML list, or names separated by spaces or commas).
fn read_metrics_families(cx: &mut Cx, key: &Key) -> Option<MetricsFamilies> {
    let mut families = MetricsFamilies::NONE;
    let mut any = false;
    let mut valid = true;
    for (path, node) in items(key) {
        let Some(text) = read_string_node(cx, node, node.pos, &path) else {
            valid = false;
            continue;
        };
        for name in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
        {
            any = true;
            if !families.enable(name) {
                valid = false;
                cx.error(
                    node.pos,
                    &path,
                    format!(
                        "\"{name}\" is not a metrics family; the families are {}",
                        MetricsFamilies::NAMES.join(", ")
                    ),
                );
            }
        }
    }
    if valid && !any {
        cx.error(
            key.pos,
            &key.path,
            "lists no family; to serve no metrics at all, write `metrics_listen: off`",
        );
        return None;
    }
    valid.then_some(families)
}

/// `user [group]`, as keepalived writes it.
pub(super) fn read_script_user(cx: &mut Cx, key: &Key) -> Option<ScriptUser> {
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

/// CPU numbers: a YAML list, one integer, or a string of numbers separated by spaces or commas
/// (keepalived's `vrrp_cpu_affinity 0 1`). At most 1023, the last a CPU set holds.
fn read_cpu_list(cx: &mut Cx, key: &Key) -> Vec<u16> {
    const MAX_CPU: i128 = 1023;
    let mut cpus = Vec::new();
    for (path, node) in items(key) {
        let words: Vec<String> = match &node.value {
            Value::Int(i) => vec![i.to_string()],
            Value::Str(s) => s
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => {
                cx.error(
                    node.pos,
                    &path,
                    format!("expected CPU numbers (0–{MAX_CPU}), found {}", found(node)),
                );
                continue;
            }
        };
        for word in words {
            match word.parse::<i128>() {
                Ok(cpu) if (0..=MAX_CPU).contains(&cpu) => {
                    let cpu = cpu as u16;
                    if !cpus.contains(&cpu) {
                        cpus.push(cpu);
                    }
                }
                _ => cx.error(
                    node.pos,
                    &path,
                    format!("\"{word}\" is not a CPU number (0–{MAX_CPU})"),
                ),
            }
        }
    }
    cpus
}
