//! `track_file` definitions (keepalived's deprecated spelling `vrrp_track_file` too): a file
//! holding an integer that moves the priority of whoever tracks it.

use std::path::PathBuf;

use super::track::{read_weight, resolve_reverse, Defined, TrackDefs, TrackKind};
use super::{at, entries, found, read_bool, read_string, unknown_key, At, Cx, Key};
use crate::keywords::Block;
use crate::model::*;
use crate::node::Value;

/// Reads every `track_file` block in file order and enters each name in `defs`; a name defined
/// twice (once under each spelling) is an error.
pub(super) fn read_track_files(
    cx: &mut Cx,
    blocks: &[Key],
    defs: &mut TrackDefs,
) -> Vec<TrackFileDef> {
    let mut files = Vec::new();
    for block in blocks {
        if let Some(earlier) = defs.files.iter().find(|d| d.name == block.name) {
            let line = earlier.pos.line;
            cx.error(
                block.pos,
                &block.path,
                format!(
                    "track_file {} is already defined at line {line}",
                    block.name
                ),
            );
            continue;
        }
        let (file, weight, reverse) = read_track_file(cx, block);
        defs.files.push(Defined::new(block, weight, reverse));
        files.extend(file);
    }
    files
}

fn read_track_file(cx: &mut Cx, block: &Key) -> (Option<TrackFileDef>, i16, bool) {
    let mut path = None;
    let mut file_seen = false;
    let mut weight = 1;
    let mut reverse_in_weight = None;
    let mut reverse_key = None;
    let mut init_file = None;
    for key in entries(cx, block.value, &block.path, block.pos) {
        match key.name.as_str() {
            "file" => {
                file_seen = true;
                path = read_absolute_path(cx, &key);
            }
            "weight" => {
                if let Some((w, reverse)) = read_weight(cx, &key, TrackKind::File.weight_limit()) {
                    weight = w;
                    reverse_in_weight = Some(at(reverse, &key));
                }
            }
            "reverse" => reverse_key = read_bool(cx, &key).map(|v| at(v, &key)),
            "init_file" => init_file = read_init_file(cx, &key),
            _ => unknown_key(cx, Block::TrackFile, &key),
        }
    }
    let reverse = resolve_reverse(cx, reverse_in_weight, reverse_key);
    if !file_seen {
        cx.error(
            block.pos,
            &block.path,
            "file is required (the path of the file to watch)",
        );
    }
    let def = path.map(|path| TrackFileDef {
        name: block.name.clone(),
        path,
        weight,
        reverse,
        init_file: init_file.map(|i: At<TrackFileInit>| i.value),
    });
    (def, weight, reverse)
}

fn read_absolute_path(cx: &mut Cx, key: &Key) -> Option<PathBuf> {
    let text = read_string(cx, key)?;
    if text.starts_with('/') {
        Some(PathBuf::from(text))
    } else {
        cx.error(
            key.pos,
            &key.path,
            format!("\"{text}\" is not an absolute path"),
        );
        None
    }
}

/// keepalived's `init_file [VALUE] [overwrite]`: `true` (or nothing), a value, the words as one
/// string, or `{value, overwrite}`.
fn read_init_file(cx: &mut Cx, key: &Key) -> Option<At<TrackFileInit>> {
    let mut init = TrackFileInit {
        value: 0,
        overwrite: false,
    };
    match &key.value.value {
        Value::Null | Value::Bool(true) => {}
        Value::Bool(false) => return None,
        Value::Int(v) => init.value = init_value(cx, key, *v)?,
        Value::Str(text) => {
            for word in text.split_whitespace() {
                if word == "overwrite" {
                    init.overwrite = true;
                } else if let Ok(v) = word.parse::<i128>() {
                    init.value = init_value(cx, key, v)?;
                } else {
                    cx.error(
                        key.pos,
                        &key.path,
                        format!("unexpected \"{word}\" (expected a value and/or overwrite)"),
                    );
                    return None;
                }
            }
        }
        Value::Map(_) => {
            for field in entries(cx, key.value, &key.path, key.pos) {
                match field.name.as_str() {
                    "value" => match field.value.value {
                        Value::Int(v) => init.value = init_value(cx, &field, v)?,
                        _ => {
                            cx.error(
                                field.pos,
                                &field.path,
                                format!("expected an integer, found {}", found(field.value)),
                            );
                            return None;
                        }
                    },
                    "overwrite" => init.overwrite = read_bool(cx, &field)?,
                    other => {
                        cx.error(
                            field.pos,
                            &field.path,
                            format!("unknown key {other} in init_file (expected value, overwrite)"),
                        );
                        return None;
                    }
                }
            }
        }
        Value::Float(_) | Value::Seq(_) => {
            cx.error(
                key.pos,
                &key.path,
                format!(
                    "expected true, an integer, \"VALUE overwrite\" or {{value, overwrite}}, found {}",
                    found(key.value)
                ),
            );
            return None;
        }
    }
    Some(at(init, key))
}

/// An initial value: any 32-bit integer, with a warning outside what a priority can use.
fn init_value(cx: &mut Cx, key: &Key, value: i128) -> Option<i32> {
    let Ok(value) = i32::try_from(value) else {
        cx.error(
            key.pos,
            &key.path,
            format!("{value} does not fit in 32 bits"),
        );
        return None;
    };
    if !(-254..=254).contains(&value) {
        cx.warn(
            key.pos,
            &key.path,
            format!("{value} is outside -254–254, where a track_file value can move a priority (keepalived warns too)"),
        );
    }
    Some(value)
}
