//! `vrrp_sync_group` blocks, and the rule across instances that sync groups sit beside: no two
//! instances may share a virtual router.

use std::collections::HashMap;

use super::actions::read_state_action;
use super::track::{read_track_interfaces, read_track_refs, TrackDefs, TrackKind};
use super::{entries, items, join, read_string, read_string_node, unknown_key, Cx, Key};
use crate::keywords::Block;
use crate::model::*;
use crate::node::Pos;

/// Two instances with the same VRID, family and interface would answer each other's adverts.
/// keepalived allows it only with unicast peers that do not overlap; so does vipd.
pub(super) fn check_duplicate_vrids(
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

pub(super) fn read_sync_group(
    cx: &mut Cx,
    block: &Key,
    instance_blocks: &[Key],
    group_of: &mut HashMap<String, String>,
    defs: &mut TrackDefs,
) -> Option<SyncGroup> {
    let mut members = Vec::new();
    let mut notify = Notify::default();
    let mut track_interfaces = Vec::new();
    let mut track_scripts = Vec::new();
    let mut track_files = Vec::new();
    let mut track_processes = Vec::new();
    let mut actions = crate::actions::StateActions::default();
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
            "track_interface" => track_interfaces = read_track_interfaces(cx, &key),
            "track_script" => track_scripts = read_track_refs(cx, &key, TrackKind::Script, defs),
            "track_file" => track_files = read_track_refs(cx, &key, TrackKind::File, defs),
            "track_process" => {
                track_processes = read_track_refs(cx, &key, TrackKind::Process, defs)
            }
            "conntrackd" | "on_master" | "on_backup" | "on_fault" | "on_stop" => {
                read_state_action(cx, &key, &mut actions)
            }
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
        track_interfaces,
        track_scripts,
        track_files,
        track_processes,
        actions,
    })
}
