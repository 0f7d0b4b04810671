//! What keepalived 2.2.7 accepts with a complaint and then runs differently from what was
//! written, applied to the tree so vipd runs the same: an invalid `state` is BACKUP, `nopreempt`
//! is dropped with `state MASTER` or priority 255, an invalid `priority` is 100, an invalid
//! `advert_int` or `auth_type` is ignored, tracked objects that are not defined are dropped, and
//! an address's `/prefix` in `unicast_peer` or the source address is cut off. Each is a warning
//! saying what keepalived does and what was probably meant.

use super::tree::Misplaced;
use super::Note;
use crate::keywords::Block;
use crate::node::{Node, Value};

pub(super) fn apply(root: &mut Node, misplaced: &[Misplaced], notes: &mut Vec<Note>) {
    let names = defined_names(root);
    let instances = names.instances.clone();
    let Value::Map(top) = &mut root.value else {
        return;
    };
    for (key, value) in top.iter_mut() {
        let Value::Map(blocks) = &mut value.value else {
            continue;
        };
        match key.scalar_text().as_deref() {
            Some("vrrp_instance") => {
                for (name, body) in blocks.iter_mut() {
                    let path = format!("vrrp_instance.{}", name.scalar_text().unwrap_or_default());
                    if let Value::Map(entries) = &mut body.value {
                        instance(entries, &path, &names, notes);
                    }
                }
            }
            Some("vrrp_sync_group") => {
                for (name, body) in blocks.iter_mut() {
                    let path =
                        format!("vrrp_sync_group.{}", name.scalar_text().unwrap_or_default());
                    if let Value::Map(entries) = &mut body.value {
                        drop_undefined(entries, &path, &names, notes);
                    }
                }
            }
            _ => {}
        }
    }
    for m in misplaced {
        notes.push(Note::new(m.pos, &m.path, misplaced_message(m, &instances)));
    }
}

#[derive(Default)]
struct Names {
    instances: Vec<String>,
    scripts: Vec<String>,
    files: Vec<String>,
    processes: Vec<String>,
}

fn defined_names(root: &Node) -> Names {
    let mut names = Names::default();
    let Value::Map(top) = &root.value else {
        return names;
    };
    for (key, value) in top {
        let list = match key.scalar_text().as_deref() {
            Some("vrrp_instance") => &mut names.instances,
            Some("vrrp_script") => &mut names.scripts,
            Some("track_file" | "vrrp_track_file") => &mut names.files,
            Some("vrrp_track_process") => &mut names.processes,
            _ => continue,
        };
        if let Value::Map(blocks) = &value.value {
            list.extend(blocks.iter().filter_map(|(k, _)| k.scalar_text()));
        }
    }
    names
}

fn text_of(entries: &[(Node, Node)], key: &str) -> Option<String> {
    entries
        .iter()
        .find(|(k, _)| k.scalar_text().as_deref() == Some(key))
        .and_then(|(_, v)| v.scalar_text())
}

fn remove(entries: &mut Vec<(Node, Node)>, key: &str) {
    entries.retain(|(k, _)| k.scalar_text().as_deref() != Some(key));
}

fn find_mut<'a>(entries: &'a mut [(Node, Node)], key: &str) -> Option<&'a mut (Node, Node)> {
    entries
        .iter_mut()
        .find(|(k, _)| k.scalar_text().as_deref() == Some(key))
}

fn instance(entries: &mut Vec<(Node, Node)>, path: &str, names: &Names, notes: &mut Vec<Note>) {
    if let Some((key, value)) = find_mut(entries, "state") {
        let state = value.scalar_text().unwrap_or_default();
        if state != "MASTER" && state != "BACKUP" {
            let meant = match state.to_ascii_uppercase().as_str() {
                "MASTER" => "MASTER (keepalived's states are upper case)",
                "BACKUP" | "SLAVE" | "PEER" => "BACKUP",
                _ => "MASTER or BACKUP",
            };
            notes.push(Note::new(key.pos, &format!("{path}.state"), format!("keepalived 2.2.7 does not know state \"{state}\" and starts the instance as BACKUP; so does vipd (write state {meant})")));
            *value = Node::new(Value::Str("BACKUP".into()), value.pos);
        }
    }
    owner_defaults(entries, path, notes);
    if let Some((key, value)) = find_mut(entries, "priority") {
        let valid = matches!(value.value, Value::Int(p) if (1..=255).contains(&p));
        if !valid {
            let text = value.scalar_text().unwrap_or_default();
            notes.push(Note::new(key.pos, &format!("{path}.priority"), format!("keepalived 2.2.7 does not read priority \"{text}\" (it must be a whole number from 1 to 255) and uses its default 100; so does vipd")));
            *value = Node {
                value: Value::Int(100),
                pos: value.pos,
                raw: None,
            };
        }
    }
    if let Some((key, value)) = find_mut(entries, "advert_int") {
        let valid = match value.value {
            Value::Int(i) => (1..=255).contains(&i),
            Value::Float(f) => (0.01..=255.0).contains(&f),
            _ => false,
        };
        if !valid {
            let text = value.scalar_text().unwrap_or_default();
            let pos = key.pos;
            notes.push(Note::new(pos, &format!("{path}.advert_int"), format!("keepalived 2.2.7 ignores advert_int \"{text}\" (not a number of seconds from 0.01 to 255) and keeps its default of 1 s; so does vipd")));
            remove(entries, "advert_int");
        }
    }
    nopreempt(entries, path, notes);
    authentication(entries, path, notes);
    for key in ["unicast_src_ip", "mcast_src_ip"] {
        if let Some((_, value)) = find_mut(entries, key) {
            strip_prefix_length(value, &format!("{path}.{key}"), notes);
        }
    }
    if let Some((
        _,
        Node {
            value: Value::Seq(peers),
            ..
        },
    )) = find_mut(entries, "unicast_peer")
    {
        for (i, peer) in peers.iter_mut().enumerate() {
            strip_prefix_length(peer, &format!("{path}.unicast_peer[{i}]"), notes);
        }
    }
    drop_undefined(entries, path, names, notes);
}

/// keepalived derives a missing priority from the state (MASTER: 255, the address owner) and a
/// missing state from the priority (255: MASTER); vipd's defaults are 100 and BACKUP.
fn owner_defaults(entries: &mut Vec<(Node, Node)>, path: &str, notes: &mut Vec<Note>) {
    let state = find_mut(entries, "state").map(|(k, v)| (k.pos, v.scalar_text()));
    let has_priority = find_mut(entries, "priority").is_some();
    match state {
        Some((pos, Some(s))) if s == "MASTER" && !has_priority => {
            notes.push(Note::new(pos, &format!("{path}.priority"), "no priority with state MASTER: keepalived 2.2.7 makes the instance the address owner (priority 255); so does vipd (write a priority below 255 if it should not own the addresses)"));
            let value = Node {
                value: Value::Int(255),
                pos,
                raw: None,
            };
            entries.push((Node::new(Value::Str("priority".into()), pos), value));
        }
        None => {
            if let Some((key, _)) = entries.iter().find(|(k, v)| {
                k.scalar_text().as_deref() == Some("priority") && v.value == Value::Int(255)
            }) {
                let pos = key.pos;
                entries.push((
                    Node::new(Value::Str("state".into()), pos),
                    Node::new(Value::Str("MASTER".into()), pos),
                ));
            }
        }
        _ => {}
    }
}

fn nopreempt(entries: &mut Vec<(Node, Node)>, path: &str, notes: &mut Vec<Note>) {
    let Some(pos) = entries
        .iter()
        .find(|(k, v)| {
            k.scalar_text().as_deref() == Some("nopreempt") && v.value == Value::Bool(true)
        })
        .map(|(k, _)| k.pos)
    else {
        return;
    };
    let why = if text_of(entries, "state").as_deref() == Some("MASTER") {
        "with state MASTER (\"nopreempt will not work with initial state MASTER - clearing\"): the instance preempts; for nopreempt, write state BACKUP"
    } else if text_of(entries, "priority").as_deref() == Some("255") {
        "with priority 255 (the address owner always preempts): the instance preempts; for nopreempt, use a priority below 255"
    } else {
        return;
    };
    notes.push(Note::new(
        pos,
        &format!("{path}.nopreempt"),
        format!("keepalived 2.2.7 clears nopreempt {why}; so does vipd"),
    ));
    remove(entries, "nopreempt");
}

fn authentication(entries: &mut Vec<(Node, Node)>, path: &str, notes: &mut Vec<Note>) {
    let Some((key, block)) = find_mut(entries, "authentication") else {
        return;
    };
    let block_pos = key.pos;
    let Value::Map(auth) = &mut block.value else {
        return;
    };
    if let Some((type_key, value)) = find_mut(auth, "auth_type") {
        let kind = value.scalar_text().unwrap_or_default();
        if kind != "PASS" && kind != "AH" {
            let meant = kind.trim_end_matches(';').to_ascii_uppercase();
            let hint = if meant == "PASS" || meant == "AH" {
                format!(" (write auth_type {meant}, without anything after it)")
            } else {
                String::new()
            };
            notes.push(Note::new(type_key.pos, &format!("{path}.authentication.auth_type"), format!("keepalived 2.2.7 does not know auth_type \"{kind}\" and runs without authentication; so does vipd{hint}")));
            remove(auth, "auth_type");
        }
    }
    if find_mut(auth, "auth_type").is_none() {
        if find_mut(auth, "auth_pass").is_some() {
            notes.push(Note::new(block_pos, &format!("{path}.authentication"), "without a valid auth_type keepalived sends and accepts adverts without authentication, whatever auth_pass says; so does vipd"));
        }
        remove(entries, "authentication");
    }
}

/// keepalived reads an address up to a `/` or `-` (inet_stosockaddr drops a prefix or range).
fn strip_prefix_length(value: &mut Node, path: &str, notes: &mut Vec<Note>) {
    let Some(text) = value.scalar_text() else {
        return;
    };
    let Some(cut) = text.find(['/', '-']) else {
        return;
    };
    let address = text[..cut].to_owned();
    notes.push(Note::new(value.pos, path, format!("keepalived reads \"{text}\" as the address {address} (it drops what follows '{}'); so does vipd; write {address}", &text[cut..cut + 1])));
    *value = Node::new(Value::Str(address), value.pos);
}

/// Drops track_script/track_file/track_process entries naming nothing defined, as keepalived
/// does ("not found, ignoring").
fn drop_undefined(
    entries: &mut Vec<(Node, Node)>,
    path: &str,
    names: &Names,
    notes: &mut Vec<Note>,
) {
    let lists = [
        ("track_script", "vrrp_script", &names.scripts),
        ("track_file", "track_file", &names.files),
        ("track_process", "vrrp_track_process", &names.processes),
    ];
    for (keyword, definer, defined) in lists {
        let Some((
            _,
            Node {
                value: Value::Seq(items),
                ..
            },
        )) = find_mut(entries, keyword)
        else {
            continue;
        };
        items.retain(|item| {
            let text = item.scalar_text().unwrap_or_default();
            let name = text.split_whitespace().next().unwrap_or_default();
            let known = defined.iter().any(|d| d == name);
            if !known {
                notes.push(Note::new(item.pos, &format!("{path}.{keyword}"), format!("there is no {definer} {name}: keepalived 2.2.7 ignores this entry and runs without it; so does vipd")));
            }
            known
        });
        if items.is_empty() {
            remove(entries, keyword);
        }
    }
}

fn misplaced_message(m: &Misplaced, instances: &[String]) -> String {
    let effect = match m.keyword.as_str() {
        "use_vmac" => "runs without a VMAC",
        "vmac_xmit_base" => "sends adverts as without it",
        _ => "runs without it",
    };
    let target = match m.home {
        Block::Instance => match instances {
            [one] => format!("vrrp_instance {one}"),
            _ => "each vrrp_instance that should have it".to_owned(),
        },
        other => super::grammar::keepalived_name(other).to_owned(),
    };
    let wanted = if m.keyword == "use_vmac" {
        "to get one"
    } else {
        "to get its effect"
    };
    format!(
        "keepalived ignores {} in {} (\"Unknown keyword\") and {effect}; so does vipd; {wanted}, move it into {target}",
        m.keyword,
        super::grammar::keepalived_name(m.block)
    )
}
