//! Logical lines → the positioned [`Node`] tree vipd's builder reads, walking the blocks as
//! keepalived 2.2.7's `process_stream` does: a keyword it does not know is warned about and its
//! line dropped (a `{` after it is "unexpected" and its contents are read as keywords of the
//! enclosing block, whose `}` it then closes, exactly as keepalived does); blocks of keepalived's
//! other processes (LVS, BFD) are skipped whole with one warning; keywords keepalived knows and
//! vipd does not implement are skipped with a warning. What keepalived would exit on (a missing
//! parameter, a list without its `{`) is an error.

use super::grammar::{self, Shape};
use super::source::Line;
use super::Note;
use crate::keywords::Block;
use crate::node::{Node, Pos, Value};

/// A keyword found in a block where keepalived does not read it but another block does; the
/// message is written once every instance name is known.
pub(super) struct Misplaced {
    pub pos: Pos,
    pub path: String,
    pub keyword: String,
    pub block: Block,
    pub home: Block,
}

pub(super) struct TreeOut {
    pub root: Node,
    pub notes: Vec<Note>,
    pub errors: Vec<Note>,
    pub misplaced: Vec<Misplaced>,
}

struct Walker<'a> {
    lines: &'a [Line],
    next: usize,
    notes: Vec<Note>,
    errors: Vec<Note>,
    misplaced: Vec<Misplaced>,
}

pub(super) fn build(lines: &[Line]) -> TreeOut {
    let mut w = Walker {
        lines,
        next: 0,
        notes: Vec::new(),
        errors: Vec::new(),
        misplaced: Vec::new(),
    };
    let start = lines.first().map_or(Pos::new(1, 1), Line::pos);
    let entries = w.root();
    TreeOut {
        root: Node::new(Value::Map(entries), start),
        notes: w.notes,
        errors: w.errors,
        misplaced: w.misplaced,
    }
}

fn str_node(text: &str, pos: Pos) -> Node {
    Node::new(Value::Str(text.to_owned()), pos)
}

/// A single unquoted word as YAML would type it: integers and decimals become numbers (with
/// their text kept), anything else text.
fn typed(text: &str, quoted: bool, pos: Pos) -> Node {
    if !quoted {
        let digits = text.strip_prefix('-').unwrap_or(text);
        let is_int = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        if is_int && !(digits.len() > 1 && digits.starts_with('0')) {
            if let Ok(i) = text.parse::<i128>() {
                return Node {
                    value: Value::Int(i),
                    pos,
                    raw: Some(text.to_owned()),
                };
            }
        }
        let decimal = digits.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
        });
        if decimal {
            if let Ok(f) = text.parse::<f64>() {
                return Node {
                    value: Value::Float(f),
                    pos,
                    raw: Some(text.to_owned()),
                };
            }
        }
    }
    str_node(text, pos)
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Puts `key: value` into `entries`: lists grow, blocks merge, anything else is replaced (the
/// last value wins, as keepalived's handlers overwrite).
fn insert(entries: &mut Vec<(Node, Node)>, key: Node, value: Node) {
    let name = key.scalar_text();
    let Some(existing) = entries.iter_mut().find(|(k, _)| k.scalar_text() == name) else {
        entries.push((key, value));
        return;
    };
    match (&mut existing.1.value, value.value) {
        (Value::Seq(items), Value::Seq(more)) => items.extend(more),
        (Value::Map(old), Value::Map(more)) => {
            for (k, v) in more {
                insert(old, k, v);
            }
        }
        (_, other) => {
            existing.1 = Node {
                value: other,
                pos: value.pos,
                raw: value.raw,
            }
        }
    }
}

impl Walker<'_> {
    fn peek(&self) -> Option<&Line> {
        self.lines.get(self.next)
    }

    fn take(&mut self) -> Option<Line> {
        let line = self.lines.get(self.next).cloned();
        self.next += 1;
        line
    }

    fn note(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        self.notes.push(Note::new(pos, path, message));
    }

    fn error(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        self.errors.push(Note::new(pos, path, message));
    }

    fn root(&mut self) -> Vec<(Node, Node)> {
        let mut entries: Vec<(Node, Node)> = Vec::new();
        while let Some(line) = self.take() {
            let pos = line.pos();
            if line.is_brace("{") {
                self.note(
                    pos,
                    "",
                    "keepalived reports an unexpected '{' here and ignores it; so does vipd",
                );
                continue;
            }
            if line.is_brace("}") {
                self.note(
                    pos,
                    "",
                    "keepalived reports an extra '}' here and ignores it; so does vipd",
                );
                continue;
            }
            let keyword = line.words[0].text.clone();
            if let Some((block, named)) = grammar::root_block(&keyword) {
                let key = str_node(&keyword, pos);
                if named {
                    let Some(name) = line.words.get(1) else {
                        self.error(
                            pos,
                            &keyword,
                            format!(
                                "{keyword} needs a name (keepalived exits: missing a parameter)"
                            ),
                        );
                        self.skip_block(&line);
                        continue;
                    };
                    let path = join(&keyword, &name.text);
                    let body = self.block(block, &path, &line);
                    let named_entry = (
                        str_node(&name.text, name.pos),
                        Node::new(Value::Map(body), name.pos),
                    );
                    self.insert_named(&mut entries, key, named_entry, &path);
                } else {
                    let body = self.block(block, &keyword, &line);
                    insert(&mut entries, key, Node::new(Value::Map(body), pos));
                }
            } else if let Some(what) = grammar::other_process(&keyword) {
                let end = self.skip_block(&line);
                let name = line.words[1..]
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                self.note(
                    pos,
                    &keyword,
                    format!(
                        "skipped {keyword} {name}{end}: {what} is not implemented by vipd; keepalived's VRRP process skips it too, so VRRP behaves the same, but nothing balances or checks these servers"
                    ),
                );
            } else if grammar::keepalived_knows(Block::Root, &keyword) {
                let end = self.skip_value(Block::Root, &line);
                self.note(pos, &keyword, format!("skipped {keyword}{end}: keepalived would apply it, vipd does not implement it"));
            } else {
                self.unknown(Block::Root, &line, "");
            }
        }
        entries
    }

    fn insert_named(
        &mut self,
        entries: &mut Vec<(Node, Node)>,
        key: Node,
        named: (Node, Node),
        path: &str,
    ) {
        let kind = key.scalar_text();
        match entries.iter_mut().find(|(k, _)| k.scalar_text() == kind) {
            Some((
                _,
                Node {
                    value: Value::Map(map),
                    ..
                },
            )) => {
                if let Some((earlier, _)) = map
                    .iter()
                    .find(|(k, _)| k.scalar_text() == named.0.scalar_text())
                {
                    let line = earlier.pos.line;
                    self.error(named.0.pos, path, format!("{} is defined twice (first at line {line}); keepalived refuses the second", path.replace('.', " ")));
                    return;
                }
                map.push(named);
            }
            _ => entries.push((key.clone(), Node::new(Value::Map(vec![named]), key.pos))),
        }
    }

    /// Consumes the `{` that opens a block after `line`, as keepalived expects it.
    fn open(&mut self, line: &Line, path: &str) {
        if self.peek().is_some_and(|l| l.is_brace("{")) {
            self.next += 1;
        } else {
            self.note(line.pos(), path, format!("keepalived reports a missing '{{' after {} and reads the following lines as the block's contents; so does vipd", line.words[0].text));
        }
    }

    /// The keywords of a block up to its `}`.
    fn block(&mut self, block: Block, path: &str, opener: &Line) -> Vec<(Node, Node)> {
        self.open(opener, path);
        let mut entries: Vec<(Node, Node)> = Vec::new();
        loop {
            let Some(line) = self.take() else {
                self.note(opener.pos(), path, format!("{} is not closed: keepalived reports a missing '}}' and closes it at the end of the file; so does vipd", opener.words[0].text));
                break;
            };
            let pos = line.pos();
            if line.is_brace("}") {
                break;
            }
            if line.is_brace("{") {
                self.note(pos, path, "keepalived reports an unexpected '{' here and ignores it, reading what follows as part of the enclosing block (whose '}' the next '}' closes); so does vipd");
                continue;
            }
            let keyword = line.words[0].text.clone();
            let key_path = join(path, &keyword);
            if grammar::vipd_reads(block, &keyword) {
                if let Some(value) = self.value(block, &line, &key_path) {
                    insert(&mut entries, str_node(&keyword, pos), value);
                }
            } else if grammar::keepalived_knows(block, &keyword) {
                let end = self.skip_value(block, &line);
                self.note(pos, &key_path, not_implemented_message(&keyword, &end));
            } else {
                self.unknown(block, &line, path);
            }
        }
        entries
    }

    /// The value of a keyword vipd reads, shaped as its YAML form.
    fn value(&mut self, block: Block, line: &Line, path: &str) -> Option<Node> {
        let keyword = &line.words[0].text;
        let args = &line.words[1..];
        let pos = args.first().map_or(line.pos(), |w| w.pos);
        match grammar::shape(block, keyword) {
            Shape::Nested(inner) => Some(Node::new(
                Value::Map(self.block(inner, path, line)),
                line.pos(),
            )),
            Shape::List => self
                .list(line, path)
                .map(|items| Node::new(Value::Seq(items), line.pos())),
            Shape::Flag => Some(match args {
                [] => Node::new(Value::Bool(true), pos),
                [one] if !one.quoted => match one.text.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "on" => Node::new(Value::Bool(true), pos),
                    "false" | "no" | "off" => Node::new(Value::Bool(false), pos),
                    _ => str_node(&one.text, pos),
                },
                _ => str_node(&line.rest_text(1), pos),
            }),
            Shape::Command | Shape::Scalar if args.is_empty() => {
                // Keywords whose value keepalived makes optional: `debug` alone is level 1,
                // `max_auto_priority` alone the highest realtime priority.
                match keyword.as_str() {
                    "debug" => return Some(typed("1", false, pos)),
                    "max_auto_priority" => return Some(typed("99", false, pos)),
                    _ => {}
                }
                self.error(line.pos(), path, format!("{keyword} needs a value (keepalived exits: the line is missing a parameter)"));
                None
            }
            Shape::Command => Some(str_node(&line.rest_text(1), pos)),
            Shape::Scalar => Some(match args {
                [one] => typed(&one.text, one.quoted, pos),
                _ => str_node(&line.rest_text(1), pos),
            }),
        }
    }

    /// A `{ }` list: one entry per line.
    fn list(&mut self, line: &Line, path: &str) -> Option<Vec<Node>> {
        let keyword = &line.words[0].text;
        if line.words.len() > 1 {
            self.error(line.pos(), path, format!("{keyword} takes its entries in a {{ }} block, one per line; keepalived reports \"extra parameters\" and would read the lines that follow as entries"));
            self.skip_block(line);
            return None;
        }
        if !self.peek().is_some_and(|l| l.is_brace("{")) {
            self.error(line.pos(), path, format!("{keyword} must be followed by {{ and its entries; keepalived would read the lines that follow as entries"));
            return None;
        }
        self.next += 1;
        let mut items = Vec::new();
        loop {
            let Some(entry) = self.take() else {
                self.note(line.pos(), path, format!("{keyword} is not closed: keepalived closes it at the end of the file; so does vipd"));
                break;
            };
            if entry.is_brace("}") {
                break;
            }
            if entry.is_brace("{") {
                self.note(
                    entry.pos(),
                    path,
                    "keepalived ignores a '{' inside a list; so does vipd",
                );
                continue;
            }
            let text = entry
                .words
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            items.push(str_node(&text, entry.pos()));
        }
        Some(items)
    }

    /// Skips what a keyword keepalived knows but vipd does not read carries: its list or block.
    /// Returns " (lines N–M)" for a skipped block, or "".
    fn skip_value(&mut self, block: Block, line: &Line) -> String {
        match grammar::shape(block, &line.words[0].text) {
            Shape::List | Shape::Nested(_) => self.skip_block(line),
            _ => String::new(),
        }
    }

    /// Skips a `{ }` block after `line` if one follows, counting nested braces as keepalived's
    /// skip_sublevel does.
    fn skip_block(&mut self, line: &Line) -> String {
        if !self.peek().is_some_and(|l| l.is_brace("{")) {
            return String::new();
        }
        let mut depth = 0usize;
        let mut last = line.pos().line;
        while let Some(l) = self.take() {
            last = l.pos().line;
            if l.is_brace("{") {
                depth += 1;
            } else if l.is_brace("}") {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
        }
        if depth > 0 {
            self.note(line.pos(), "", format!("the block of {} is not closed; keepalived skips to the end of the file; so does vipd", line.words[0].text));
        }
        format!(" (lines {}–{last})", line.pos().line)
    }

    /// A keyword keepalived does not know in `block`: "Unknown keyword", the line ignored.
    fn unknown(&mut self, block: Block, line: &Line, path: &str) {
        let keyword = &line.words[0].text;
        let pos = line.pos();
        let key_path = join(path, keyword);
        let home = grammar::KEEPALIVED_BLOCKS
            .into_iter()
            .find(|b| *b != block && grammar::vipd_reads(*b, keyword));
        match home {
            Some(home) => self.misplaced.push(Misplaced {
                pos,
                path: key_path,
                keyword: keyword.clone(),
                block,
                home,
            }),
            None => {
                let hint = crate::keywords::unknown_key_message(block, keyword);
                let hint = match hint.split_once(" (did you mean ") {
                    Some((_, near)) => format!("; did you mean {}", near.trim_end_matches(')')),
                    None if block.supported().contains(&keyword.as_str()) => {
                        "; vipd reads it only in its YAML form".to_owned()
                    }
                    None => String::new(),
                };
                self.note(
                    pos,
                    &key_path,
                    format!("keepalived 2.2.7 does not know {keyword} in {} (\"Unknown keyword\") and ignores the line; so does vipd{hint}", grammar::keepalived_name(block)),
                );
            }
        }
    }
}

fn not_implemented_message(keyword: &str, end: &str) -> String {
    let what = if keyword == "notification_email"
        || keyword.starts_with("smtp_")
        || keyword == "notification_email_from"
        || keyword == "no_email_faults"
    {
        "SMTP alerts are not implemented by vipd"
    } else if keyword.starts_with("lvs_") || keyword == "lvs_sync_daemon" {
        "LVS is not implemented by vipd"
    } else if keyword == "track_bfd" {
        "BFD is not implemented by vipd"
    } else {
        "vipd does not implement it"
    };
    format!("skipped {keyword}{end}: keepalived would apply it, but {what}")
}
