//! References to tracked objects from an instance: `track_interface` and `track_script` entries.

use super::{entry_text, items, read_string_node, Cx, FieldKind, Key};
use crate::ipsyntax;
use crate::model::*;
use crate::node::Value;

pub(super) fn read_track_interfaces(cx: &mut Cx, key: &Key) -> Vec<TrackInterface> {
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

pub(super) fn read_track_scripts(cx: &mut Cx, key: &Key) -> Vec<String> {
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
