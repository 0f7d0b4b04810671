//! The transition actions of an instance or a sync group: the `conntrackd` block and the
//! `on_master` / `on_backup` / `on_fault` / `on_stop` link action lists.

use super::{
    entries, found, items, read_bool, read_seconds, read_string, read_string_node, seconds_to_us,
    unknown_key, Cx, Key,
};
use crate::actions::{Conntrackd, ConntrackdMode, LinkAction, StateActions};
use crate::ipsyntax;
use crate::keywords::Block;

/// Reads one of the action keys (`conntrackd`, `on_master`, `on_backup`, `on_fault`, `on_stop`)
/// into `actions`.
pub(super) fn read_state_action(cx: &mut Cx, key: &Key, actions: &mut StateActions) {
    match key.name.as_str() {
        "conntrackd" => actions.conntrackd = read_conntrackd(cx, key),
        "on_master" => actions.on_master = read_link_actions(cx, key),
        "on_backup" => actions.on_backup = read_link_actions(cx, key),
        "on_fault" => actions.on_fault = read_link_actions(cx, key),
        "on_stop" => actions.on_stop = Some(read_link_actions(cx, key)),
        other => unreachable!("read_state_action called for {other}"),
    }
}

/// `conntrackd: {mode, control, config, binary, timeout, start}`; `conntrackd: true` takes every
/// default.
fn read_conntrackd(cx: &mut Cx, block: &Key) -> Option<Conntrackd> {
    let mut conntrackd = Conntrackd {
        mode: ConntrackdMode::Ftfw,
        control: Conntrackd::DEFAULT_CONTROL.to_owned(),
        config: Conntrackd::DEFAULT_CONFIG.to_owned(),
        binary: Conntrackd::DEFAULT_BINARY.to_owned(),
        timeout_us: Conntrackd::DEFAULT_TIMEOUT_US,
        start: true,
    };
    match block.value.value {
        crate::node::Value::Bool(true) => return Some(conntrackd),
        crate::node::Value::Bool(false) => return None,
        _ => {}
    }
    let mut ok = true;
    for key in entries(cx, block.value, &block.path, block.pos) {
        match key.name.as_str() {
            "mode" => match read_string(cx, &key).map(|s| s.to_ascii_lowercase()) {
                Some(mode) if mode == "ftfw" => conntrackd.mode = ConntrackdMode::Ftfw,
                Some(mode) if mode == "notrack" => conntrackd.mode = ConntrackdMode::Notrack,
                Some(mode) if mode == "alarm" => conntrackd.mode = ConntrackdMode::Alarm,
                Some(mode) => {
                    ok = false;
                    cx.error(
                        key.pos,
                        &key.path,
                        format!(
                            "\"{mode}\" is not ftfw, notrack or alarm (conntrackd's Sync Mode)"
                        ),
                    )
                }
                None => ok = false,
            },
            "control" => ok &= read_path(cx, &key, &mut conntrackd.control),
            "config" => ok &= read_path(cx, &key, &mut conntrackd.config),
            "binary" => ok &= read_path(cx, &key, &mut conntrackd.binary),
            "timeout" => match read_seconds(cx, &key, 0.0, 300.0) {
                Some(s) if s > 0.0 => conntrackd.timeout_us = seconds_to_us(s),
                Some(_) => {
                    ok = false;
                    cx.error(key.pos, &key.path, "a step needs a timeout above 0 seconds");
                }
                None => ok = false,
            },
            "start" => match read_bool(cx, &key) {
                Some(start) => conntrackd.start = start,
                None => ok = false,
            },
            _ => {
                ok = false;
                unknown_key(cx, Block::Conntrackd, &key);
            }
        }
    }
    ok.then_some(conntrackd)
}

/// An absolute path into `out`; false (with an error) otherwise.
fn read_path(cx: &mut Cx, key: &Key, out: &mut String) -> bool {
    let Some(path) = read_string(cx, key) else {
        return false;
    };
    if !path.starts_with('/') {
        cx.error(
            key.pos,
            &key.path,
            format!("\"{path}\" must be an absolute path"),
        );
        return false;
    }
    *out = path;
    true
}

/// A list of `link_up IFACE` / `link_down IFACE` (a single string is a one-item list).
fn read_link_actions(cx: &mut Cx, key: &Key) -> Vec<LinkAction> {
    let mut actions: Vec<LinkAction> = Vec::new();
    for (path, item) in items(key) {
        let Some(text) = read_string_node(cx, item, item.pos, &path) else {
            continue;
        };
        let words: Vec<&str> = text.split_whitespace().collect();
        let up = match words.first().copied() {
            Some("link_up") => true,
            Some("link_down") => false,
            _ => {
                cx.error(
                    item.pos,
                    &path,
                    format!(
                        "expected `link_up IFACE` or `link_down IFACE`, found {}",
                        found(item)
                    ),
                );
                continue;
            }
        };
        let [_, interface] = words[..] else {
            cx.error(
                item.pos,
                &path,
                format!("`{}` takes exactly one interface name", words[0]),
            );
            continue;
        };
        if let Err(e) = ipsyntax::check_ifname(interface) {
            cx.error(item.pos, &path, e);
            continue;
        }
        if actions.iter().any(|a| a.interface == interface) {
            cx.error(
                item.pos,
                &path,
                format!("{interface} is already in this list; each interface once"),
            );
            continue;
        }
        actions.push(LinkAction {
            interface: interface.to_owned(),
            up,
        });
    }
    actions
}

/// A `link_down` of the interface VRRP itself runs on would silence the instance: refused.
pub(super) fn check_own_interface(
    cx: &mut Cx,
    block: &Key,
    actions: &StateActions,
    interface: &str,
) {
    let lists = [
        ("on_master", &actions.on_master),
        ("on_backup", &actions.on_backup),
        ("on_fault", &actions.on_fault),
    ];
    for (name, list) in lists {
        if list.iter().any(|a| !a.up && a.interface == interface) {
            cx.error(
                block.pos,
                &super::join(&block.path, name),
                format!("link_down {interface} would take down the interface this instance runs VRRP on"),
            );
        }
    }
}
