//! References to tracked objects from an instance or a sync group (`track_interface`,
//! `track_script`, `track_file`, `track_process` lists), the table of defined objects they are
//! resolved against, and the `weight [reverse]` shared by the definitions.

use super::{entry_text, items, read_string_node, At, Cx, FieldKind, Key};
use crate::ipsyntax;
use crate::model::*;
use crate::node::{Pos, Value};

/// The kinds of tracked object that are defined at the top level and referenced by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TrackKind {
    Script,
    File,
    Process,
}

impl TrackKind {
    /// The keyword of the reference lists.
    fn list_keyword(self) -> &'static str {
        match self {
            TrackKind::Script => "track_script",
            TrackKind::File => "track_file",
            TrackKind::Process => "track_process",
        }
    }

    /// The top-level keyword that defines objects of this kind.
    fn definition_keyword(self) -> &'static str {
        match self {
            TrackKind::Script => "vrrp_script",
            TrackKind::File => "track_file",
            TrackKind::Process => "vrrp_track_process",
        }
    }

    /// keepalived 2.2.7's weight limits: ±253 for scripts, ±254 for files and processes.
    pub(super) fn weight_limit(self) -> i16 {
        match self {
            TrackKind::Script => 253,
            TrackKind::File | TrackKind::Process => 254,
        }
    }

    /// What keepalived does with a defined object nothing tracks.
    fn untracked_effect(self) -> &'static str {
        match self {
            TrackKind::Script => "it is not run (keepalived runs only tracked scripts too)",
            TrackKind::File => "it is not read (keepalived reads only tracked files too)",
            TrackKind::Process => {
                "it is not watched (keepalived watches only tracked processes too)"
            }
        }
    }
}

/// One defined object as references see it: its name, where it is defined, its own weight.
pub(super) struct Defined {
    pub(super) name: String,
    pub(super) pos: Pos,
    pub(super) path: String,
    /// The definition's weight and reverse; (0, false) when the definition itself was invalid
    /// (its errors are reported; the reference is not reported again).
    pub(super) weight: i16,
    pub(super) reverse: bool,
    used: bool,
}

impl Defined {
    pub(super) fn new(key: &Key, weight: i16, reverse: bool) -> Defined {
        Defined {
            name: key.name.clone(),
            pos: key.pos,
            path: key.path.clone(),
            weight,
            reverse,
            used: false,
        }
    }
}

/// Every defined script, file and process, for resolving references and for telling which
/// definitions nothing tracks.
#[derive(Default)]
pub(super) struct TrackDefs {
    pub(super) scripts: Vec<Defined>,
    pub(super) files: Vec<Defined>,
    pub(super) processes: Vec<Defined>,
}

impl TrackDefs {
    fn of(&mut self, kind: TrackKind) -> &mut Vec<Defined> {
        match kind {
            TrackKind::Script => &mut self.scripts,
            TrackKind::File => &mut self.files,
            TrackKind::Process => &mut self.processes,
        }
    }

    /// Warns about each definition no instance or sync group references.
    pub(super) fn warn_untracked(&self, cx: &mut Cx) {
        let kinds = [
            (TrackKind::Script, &self.scripts),
            (TrackKind::File, &self.files),
            (TrackKind::Process, &self.processes),
        ];
        for (kind, defined) in kinds {
            for d in defined.iter().filter(|d| !d.used) {
                cx.warn(
                    d.pos,
                    &d.path,
                    format!(
                        "no vrrp_instance or vrrp_sync_group lists {} in its {}; {}",
                        d.name,
                        kind.list_keyword(),
                        kind.untracked_effect()
                    ),
                );
            }
        }
    }
}

/// How a mapping-form reference becomes the one-line form.
const REF_FIELDS: &[(&str, FieldKind)] = &[
    ("name", FieldKind::Leading),
    ("weight", FieldKind::Word("weight")),
    ("reverse", FieldKind::Switch("reverse", "noreverse")),
];

/// `NAME [weight W] [reverse|noreverse]` taken apart; weight and reverse are `None` when not
/// written.
struct RefWords {
    name: String,
    weight: Option<i16>,
    reverse: Option<bool>,
}

fn parse_ref_words(text: &str, what: &str, limit: i16) -> Result<RefWords, String> {
    let mut words = text.split_whitespace();
    let name = words.next().ok_or(format!("empty {what} entry"))?;
    let mut parsed = RefWords {
        name: name.to_owned(),
        weight: None,
        reverse: None,
    };
    while let Some(word) = words.next() {
        match word {
            "weight" => {
                let value = words.next().ok_or("\"weight\" needs a value after it")?;
                let weight = value
                    .parse::<i16>()
                    .ok()
                    .filter(|w| (-limit..=limit).contains(w))
                    .ok_or_else(|| {
                        format!("weight \"{value}\" is not a number from -{limit} to {limit}")
                    })?;
                parsed.weight = Some(weight);
            }
            "reverse" => parsed.reverse = Some(true),
            "noreverse" | "no_reverse" => parsed.reverse = Some(false),
            _ => {
                return Err(format!(
                    "unexpected \"{word}\" (expected weight or reverse)"
                ))
            }
        }
    }
    Ok(parsed)
}

/// The entries of a reference list, each as one-line text with its path and position.
fn ref_texts(cx: &mut Cx, key: &Key, what: &str) -> Vec<(String, Pos, String)> {
    let mut texts = Vec::new();
    for (path, item) in items(key) {
        let text = match &item.value {
            Value::Map(_) => entry_text(cx, item, &path, REF_FIELDS, &format!("{what} entry")),
            _ => read_string_node(cx, item, item.pos, &path),
        };
        if let Some(text) = text {
            texts.push((text, item.pos, path));
        }
    }
    texts
}

/// Errors for a name listed twice in one list (keepalived ignores the second, with an error).
fn is_repeat<T>(cx: &mut Cx, seen: &[T], name_of: impl Fn(&T) -> &str, at: &At<&str>) -> bool {
    if seen.iter().any(|t| name_of(t) == at.value) {
        cx.error(at.pos, &at.path, format!("{} is listed twice", at.value));
        true
    } else {
        false
    }
}

/// `track_interface`: `NAME [weight W] [reverse]`; weight −253..=253, default 0.
pub(super) fn read_track_interfaces(cx: &mut Cx, key: &Key) -> Vec<TrackInterface> {
    let mut tracked: Vec<TrackInterface> = Vec::new();
    for (text, pos, path) in ref_texts(cx, key, "track_interface") {
        let parsed = text
            .split_whitespace()
            .next()
            .map_or(Ok(()), ipsyntax::check_ifname)
            .and_then(|()| parse_ref_words(&text, "track_interface", 253));
        match parsed {
            Ok(words) => {
                let at = At {
                    value: words.name.as_str(),
                    pos,
                    path,
                };
                if !is_repeat(cx, &tracked, |t| &t.name, &at) {
                    tracked.push(TrackInterface {
                        name: words.name.clone(),
                        weight: words.weight.unwrap_or(0),
                        reverse: words.reverse.unwrap_or(false),
                    });
                }
            }
            Err(e) => cx.error(pos, &path, e),
        }
    }
    tracked
}

/// A `track_script`, `track_file` or `track_process` list, each entry resolved against the
/// definitions of its kind.
pub(super) fn read_track_refs(
    cx: &mut Cx,
    key: &Key,
    kind: TrackKind,
    defs: &mut TrackDefs,
) -> Vec<TrackRef> {
    let mut refs: Vec<TrackRef> = Vec::new();
    for (text, pos, path) in ref_texts(cx, key, kind.list_keyword()) {
        let words = match parse_ref_words(&text, kind.list_keyword(), kind.weight_limit()) {
            Ok(words) => words,
            Err(e) => {
                cx.error(pos, &path, e);
                continue;
            }
        };
        let Some(defined) = defs.of(kind).iter_mut().find(|d| d.name == words.name) else {
            cx.error(
                pos,
                &path,
                format!(
                    "there is no {} named {}",
                    kind.definition_keyword(),
                    words.name
                ),
            );
            continue;
        };
        defined.used = true;
        let resolved = TrackRef {
            name: words.name.clone(),
            weight: words.weight.unwrap_or(defined.weight),
            reverse: words.reverse.unwrap_or(defined.reverse),
        };
        let at = At {
            value: words.name.as_str(),
            pos,
            path,
        };
        if !is_repeat(cx, &refs, |r| &r.name, &at) {
            refs.push(resolved);
        }
    }
    refs
}

/// A definition's `weight`: an integer, or keepalived's `W reverse` as one string. Returns the
/// weight and whether `reverse` was written in it.
pub(super) fn read_weight(cx: &mut Cx, key: &Key, limit: i16) -> Option<(i16, bool)> {
    let bad = |found: &str| {
        format!("expected a weight from -{limit} to {limit}, optionally followed by reverse, found {found}")
    };
    let text = match &key.value.value {
        Value::Int(_) | Value::Str(_) => key.value.scalar_text().unwrap_or_default(),
        _ => {
            cx.error(key.pos, &key.path, bad(super::found(key.value).as_str()));
            return None;
        }
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    let (number, reverse) = match words.as_slice() {
        [number] => (*number, false),
        [number, "reverse"] => (*number, true),
        _ => {
            cx.error(key.pos, &key.path, bad(&format!("\"{text}\"")));
            return None;
        }
    };
    match number.parse::<i16>() {
        Ok(w) if (-limit..=limit).contains(&w) => Some((w, reverse)),
        _ => {
            cx.error(
                key.pos,
                &key.path,
                format!("weight \"{number}\" is not a number from -{limit} to {limit}"),
            );
            None
        }
    }
}

/// `reverse` from a `weight: "W reverse"` and from a `reverse:` key, which must agree.
pub(super) fn resolve_reverse(
    cx: &mut Cx,
    in_weight: Option<At<bool>>,
    key: Option<At<bool>>,
) -> bool {
    match (in_weight, key) {
        (Some(w), Some(k)) if w.value && !k.value => {
            cx.error(
                k.pos,
                &k.path,
                format!("contradicts the weight's \"reverse\" (line {})", w.pos.line),
            );
            true
        }
        (w, k) => w.is_some_and(|w| w.value) || k.is_some_and(|k| k.value),
    }
}
