//! The top level of the file: which blocks it has, read in the order their rules need (global
//! defaults and tracked-object definitions before the instances, instances before the sync
//! groups that name them, and both before telling which definitions nothing tracks).

use std::collections::HashMap;
use std::sync::Arc;

use super::global::read_global;
use super::instance::read_instance;
use super::script::read_scripts;
use super::sync_group::{check_duplicate_vrids, read_sync_group};
use super::track::TrackDefs;
use super::track_file::read_track_files;
use super::track_process::read_track_processes;
use super::{entries, unknown_key, Cx, Key};
use crate::keywords::Block;
use crate::model::*;
use crate::node::Node;

pub(super) fn read_root(cx: &mut Cx, root: &Node) -> Option<Config> {
    let mut global = GlobalDefs::default();
    let mut instance_nodes: Vec<Key> = Vec::new();
    let mut group_nodes: Vec<Key> = Vec::new();
    let mut script_nodes: Vec<Key> = Vec::new();
    let mut file_nodes: Vec<Key> = Vec::new();
    let mut process_nodes: Vec<Key> = Vec::new();
    let mut instances_seen = false;
    for key in entries(cx, root, "", root.pos) {
        match key.name.as_str() {
            "global_defs" => global = read_global(cx, &key),
            "vrrp_instance" => {
                instances_seen = true;
                instance_nodes = entries(cx, key.value, &key.path, key.pos);
            }
            "vrrp_sync_group" => group_nodes = entries(cx, key.value, &key.path, key.pos),
            "vrrp_script" => script_nodes = entries(cx, key.value, &key.path, key.pos),
            "track_file" | "vrrp_track_file" => {
                if key.name == "vrrp_track_file" {
                    cx.warn(
                        key.pos,
                        &key.path,
                        "vrrp_track_file is keepalived's deprecated spelling of track_file (both are read)",
                    );
                }
                file_nodes.extend(entries(cx, key.value, &key.path, key.pos));
            }
            "vrrp_track_process" => process_nodes = entries(cx, key.value, &key.path, key.pos),
            _ => unknown_key(cx, Block::Root, &key),
        }
    }
    if !instances_seen && cx.errors.is_empty() {
        cx.error(root.pos, "vrrp_instance", "no vrrp_instance is configured");
    }

    let mut defs = TrackDefs::default();
    let scripts = read_scripts(cx, &script_nodes, &mut defs);
    let track_files = read_track_files(cx, &file_nodes, &mut defs);
    let track_processes = read_track_processes(cx, &process_nodes, &mut defs);

    let mut instances = Vec::with_capacity(instance_nodes.len());
    let mut vrid_positions = Vec::new();
    for key in &instance_nodes {
        if let Some((instance, vrid_pos)) = read_instance(cx, key, &global, &mut defs) {
            instances.push(instance);
            vrid_positions.push(vrid_pos);
        }
    }
    check_duplicate_vrids(cx, &instances, &vrid_positions, &instance_nodes);

    let mut sync_groups = Vec::new();
    let mut group_of: HashMap<String, String> = HashMap::new();
    for key in &group_nodes {
        if let Some(group) = read_sync_group(cx, key, &instance_nodes, &mut group_of, &mut defs) {
            sync_groups.push(group);
        }
    }
    defs.warn_untracked(cx);
    Some(Config {
        global,
        instances: shared(instances),
        sync_groups,
        scripts,
        track_files,
        track_processes,
    })
}

/// The instances behind `Arc`s, in a list of their own: collecting `into_iter().map(Arc::new)`
/// would reuse the list of whole instances in place and keep all of its capacity.
fn shared(instances: Vec<Instance>) -> Vec<Arc<Instance>> {
    let mut out = Vec::with_capacity(instances.len());
    out.extend(instances.into_iter().map(Arc::new));
    out
}
