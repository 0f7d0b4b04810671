//! Turns the positioned node tree into the typed [`Config`], filling in keepalived's defaults
//! and collecting every error and warning with its line, column and key path.
//!
//! Each block is read key by key so that one bad value does not hide the others; cross-field and
//! cross-instance rules (families, versions, duplicate VRIDs, sync group members) run afterwards
//! on whatever could be read. Nothing here knows which format the tree came from: [`build`] is
//! the YAML entry point, [`build_tree`] the one every front end shares.
//!
//! This file holds the diagnostics context and the readers of single values shared by all
//! blocks; each block has its own file.

mod actions;
mod global;
mod instance;
mod resolve;
mod root;
mod script;
mod sync_group;
mod track;
mod track_file;
mod track_process;

use std::net::IpAddr;

use crate::ipsyntax;
use crate::keywords::{unknown_key_message, Block};
use crate::model::*;
use crate::node::{Node, Pos, Value};
use crate::yaml;
use crate::Diagnostic;

/// What reading a file produced: a config when it could be built, and all diagnostics.
pub struct Outcome {
    pub config: Option<Config>,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

/// Reads YAML `text` (named `file` in diagnostics) into a [`Config`].
pub fn build(text: &str, file: &str) -> Outcome {
    match yaml::parse(text) {
        Ok(root) => build_tree(&root, file),
        Err(syntax) => {
            let mut cx = Cx::new(&[file.to_owned()]);
            cx.error(syntax.pos, "", syntax.message);
            cx.finish(None)
        }
    }
}

/// Builds the [`Config`] from a positioned tree, whichever front end read it (`file` names it in
/// diagnostics). Diagnostics come out sorted by position.
pub fn build_tree(root: &Node, file: &str) -> Outcome {
    build_tree_files(root, &[file.to_owned()])
}

/// [`build_tree`] for a tree read from several files: a node's [`Pos::file`] indexes `files`
/// (0 is the file given; a keepalived.conf adds the files it includes). Diagnostics come out
/// sorted by file, then position.
pub fn build_tree_files(root: &Node, files: &[String]) -> Outcome {
    let mut cx = Cx::new(files);
    let config = root::read_root(&mut cx, root);
    cx.finish(config)
}

/// The diagnostics collected so far.
struct Cx {
    files: Vec<String>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Cx {
    fn new(files: &[String]) -> Cx {
        Cx {
            files: files.to_vec(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }
    fn finish(mut self, config: Option<Config>) -> Outcome {
        let files = std::mem::take(&mut self.files);
        let order = |d: &Diagnostic| {
            let file = files.iter().position(|f| *f == d.file);
            (file, d.line, d.col)
        };
        self.errors.sort_by_key(order);
        self.warnings.sort_by_key(order);
        Outcome {
            config,
            errors: self.errors,
            warnings: self.warnings,
        }
    }
    fn diagnostic(&self, pos: Pos, path: &str, message: String) -> Diagnostic {
        let file = self.files.get(usize::from(pos.file)).or(self.files.first());
        Diagnostic {
            file: file.cloned().unwrap_or_default(),
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
                    FieldKind::Switch(on, off) => match read_bool(cx, &key) {
                        Some(true) => words.push(on.to_string()),
                        Some(false) => words.push(off.to_string()),
                        None => {}
                    },
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
    /// `key: true` → the first word, `key: false` → the second (`reverse` / `noreverse`, where
    /// false must override a default).
    Switch(&'static str, &'static str),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keywords::ALL_BLOCKS;

    /// A document with `keyword: null` in a `block`, and the key path of that keyword.
    fn document_with(block: Block, keyword: &str) -> (String, String) {
        match block {
            Block::Root => (format!("{keyword}: null\n"), keyword.to_owned()),
            Block::GlobalDefs => (
                format!("global_defs:\n  {keyword}: null\n"),
                format!("global_defs.{keyword}"),
            ),
            Block::Instance => (
                format!("vrrp_instance:\n  VI:\n    {keyword}: null\n"),
                format!("vrrp_instance.VI.{keyword}"),
            ),
            Block::SyncGroup => (
                format!(
                    "vrrp_instance: {{VI: {{}}}}\nvrrp_sync_group:\n  G:\n    {keyword}: null\n"
                ),
                format!("vrrp_sync_group.G.{keyword}"),
            ),
            Block::Authentication => (
                format!("vrrp_instance:\n  VI:\n    authentication:\n      {keyword}: null\n"),
                format!("vrrp_instance.VI.authentication.{keyword}"),
            ),
            Block::Script => (
                format!("vrrp_script:\n  S:\n    {keyword}: null\n"),
                format!("vrrp_script.S.{keyword}"),
            ),
            Block::HttpGet => (
                format!("vrrp_script:\n  S:\n    http_get:\n      {keyword}: null\n"),
                format!("vrrp_script.S.http_get.{keyword}"),
            ),
            Block::DnsQuery => (
                format!("vrrp_script:\n  S:\n    dns_query:\n      {keyword}: null\n"),
                format!("vrrp_script.S.dns_query.{keyword}"),
            ),
            Block::TrackFile => (
                format!("track_file:\n  F:\n    {keyword}: null\n"),
                format!("track_file.F.{keyword}"),
            ),
            Block::TrackProcess => (
                format!("vrrp_track_process:\n  P:\n    {keyword}: null\n"),
                format!("vrrp_track_process.P.{keyword}"),
            ),
            Block::Conntrackd => (
                format!("vrrp_instance:\n  VI:\n    conntrackd:\n      {keyword}: null\n"),
                format!("vrrp_instance.VI.conntrackd.{keyword}"),
            ),
        }
    }

    /// Whether the builder fell through to "unknown key" for `keyword` in `block`.
    fn falls_through(block: Block, keyword: &str) -> bool {
        let (text, path) = document_with(block, keyword);
        let outcome = build(&text, "t.yaml");
        let unknown = unknown_key_message(block, keyword);
        outcome
            .errors
            .iter()
            .any(|e| e.key_path == path && e.message == unknown)
    }

    #[test]
    fn every_listed_keyword_has_a_reader_arm() {
        assert!(
            falls_through(Block::Instance, "no_such_keyword"),
            "the probe must see a keyword without a reader"
        );
        let mut dropped = Vec::new();
        for block in ALL_BLOCKS {
            for keyword in block.supported() {
                if falls_through(block, keyword) {
                    dropped.push(format!("{keyword} in {}", block.describe()));
                }
            }
        }
        assert!(
            dropped.is_empty(),
            "listed in keywords.rs but read by no arm: {dropped:?}"
        );
    }
}
