//! `vrrp_track_process` definitions: a process that must be running (between `quorum` and
//! `quorum_max` copies of it).

use super::track::{read_weight, resolve_reverse, Defined, TrackDefs, TrackKind};
use super::{
    at, entries, items, read_bool, read_int, read_seconds, read_string, read_string_node,
    seconds_to_us, unknown_key, At, Cx, Key,
};
use crate::keywords::Block;
use crate::model::*;
use crate::node::Value;

/// The kernel keeps at most this many characters of a process name (`comm`, TASK_COMM_LEN − 1).
const COMM_LEN: usize = 15;

/// Reads every `vrrp_track_process` block in file order and enters each name in `defs`.
pub(super) fn read_track_processes(
    cx: &mut Cx,
    blocks: &[Key],
    defs: &mut TrackDefs,
) -> Vec<TrackProcessDef> {
    let mut processes = Vec::new();
    for block in blocks {
        let (process, weight, reverse) = read_track_process(cx, block);
        defs.processes.push(Defined::new(block, weight, reverse));
        processes.extend(process);
    }
    processes
}

fn read_track_process(cx: &mut Cx, block: &Key) -> (Option<TrackProcessDef>, i16, bool) {
    let mut command: Option<At<Vec<String>>> = None;
    let mut process_seen = false;
    let mut param_match = None;
    let mut full_command = false;
    let mut weight = 0;
    let mut reverse_in_weight = None;
    let mut reverse_key = None;
    let mut quorum: Option<At<u16>> = None;
    let mut quorum_max: Option<At<u16>> = None;
    let mut fork_delay_us = 0;
    let mut terminate_delay_us = 0;
    for key in entries(cx, block.value, &block.path, block.pos) {
        match key.name.as_str() {
            "process" => {
                process_seen = true;
                command = read_command(cx, &key).map(|c| at(c, &key));
            }
            "param_match" => param_match = read_param_match(cx, &key),
            "full_command" => full_command = read_bool(cx, &key).unwrap_or(false),
            "weight" => {
                if let Some((w, reverse)) = read_weight(cx, &key, TrackKind::Process.weight_limit())
                {
                    weight = w;
                    reverse_in_weight = Some(at(reverse, &key));
                }
            }
            "reverse" => reverse_key = read_bool(cx, &key).map(|v| at(v, &key)),
            "quorum" => quorum = read_u16(cx, &key, 1),
            "quorum_max" => quorum_max = read_u16(cx, &key, 0),
            // In file order, as keepalived: `delay` sets both, the others one each.
            "delay" | "fork_delay" | "terminate_delay" => {
                if let Some(s) = read_seconds(cx, &key, 0.000_001, 3600.0) {
                    let us = seconds_to_us(s);
                    if key.name != "terminate_delay" {
                        fork_delay_us = us;
                    }
                    if key.name != "fork_delay" {
                        terminate_delay_us = us;
                    }
                }
            }
            _ => unknown_key(cx, Block::TrackProcess, &key),
        }
    }
    let reverse = resolve_reverse(cx, reverse_in_weight, reverse_key);
    if !process_seen {
        cx.error(
            block.pos,
            &block.path,
            "process is required (the process name, optionally with its parameters)",
        );
    }
    let quorum = check_quorum(cx, quorum.as_ref(), quorum_max.as_ref());
    let def = command.and_then(|command| {
        let mut words = command.value.into_iter();
        let process = words.next()?;
        let params: Vec<String> = words.collect();
        // keepalived compares parameters exactly once any are given, and matching parameters
        // needs the command line, not the 15-character process name.
        let param_match = param_match.or((!params.is_empty()).then_some(ParamMatch::Exact));
        let full_command = full_command || param_match.is_some();
        if !full_command {
            warn_unmatchable_name(cx, &command.pos, &command.path, &process);
        }
        Some(TrackProcessDef {
            name: block.name.clone(),
            process,
            params,
            param_match,
            full_command,
            weight,
            reverse,
            quorum,
            quorum_max: quorum_max.map(|q| q.value),
            fork_delay_us,
            terminate_delay_us,
        })
    });
    (def, weight, reverse)
}

/// `process`: `"NAME [PARAM...]"` split at white space, or a list (for parameters with spaces).
fn read_command(cx: &mut Cx, key: &Key) -> Option<Vec<String>> {
    let words: Vec<String> = match &key.value.value {
        Value::Seq(_) => items(key)
            .into_iter()
            .map(|(path, item)| read_string_node(cx, item, item.pos, &path))
            .collect::<Option<Vec<_>>>()?,
        _ => read_string(cx, key)?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    };
    if words.is_empty() {
        cx.error(key.pos, &key.path, "expected a process name");
        return None;
    }
    Some(words)
}

/// `param_match: exact|partial|initial`; a bare `param_match:` is exact, as in keepalived.
fn read_param_match(cx: &mut Cx, key: &Key) -> Option<ParamMatch> {
    if let Value::Null = key.value.value {
        return Some(ParamMatch::Exact);
    }
    match read_string(cx, key)?.as_str() {
        "exact" => Some(ParamMatch::Exact),
        "partial" => Some(ParamMatch::Partial),
        "initial" => Some(ParamMatch::Initial),
        other => {
            cx.error(
                key.pos,
                &key.path,
                format!("\"{other}\" is not exact, partial or initial"),
            );
            None
        }
    }
}

fn read_u16(cx: &mut Cx, key: &Key, min: u16) -> Option<At<u16>> {
    read_int(cx, key, min.into(), u16::MAX.into())
        .and_then(|v| u16::try_from(v).ok())
        .map(|v| at(v, key))
}

/// The quorum: 1 unless written, 0 when `quorum_max` is 0; never above `quorum_max`.
fn check_quorum(cx: &mut Cx, quorum: Option<&At<u16>>, quorum_max: Option<&At<u16>>) -> u16 {
    if let (Some(q), Some(max)) = (quorum, quorum_max) {
        if q.value > max.value {
            cx.error(
                max.pos,
                &max.path,
                format!(
                    "quorum_max {} is below quorum {} (line {})",
                    max.value, q.value, q.pos.line
                ),
            );
        }
    }
    match (quorum, quorum_max) {
        (Some(q), _) => q.value,
        (None, Some(max)) if max.value == 0 => 0,
        (None, _) => 1,
    }
}

/// Without `full_command` the name is compared with the kernel's process name, which has no `/`
/// and at most 15 characters: a longer name or a path never matches.
fn warn_unmatchable_name(cx: &mut Cx, pos: &crate::node::Pos, path: &str, process: &str) {
    let why = if process.contains('/') {
        "a process name has no '/'"
    } else if process.chars().count() > COMM_LEN {
        "the kernel keeps only the first 15 characters of a process name"
    } else {
        return;
    };
    cx.warn(
        *pos,
        path,
        format!("\"{process}\" never matches: {why}; add full_command: true to compare with the command line"),
    );
}
