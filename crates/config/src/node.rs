//! A YAML document as a tree of positioned nodes, read through serde-saphyr.
//!
//! The typed configuration is built from this tree rather than straight from serde derives
//! so that every error can name its line, column and key path, unknown keys can be told
//! apart from misplaced keepalived keywords, and all errors are collected instead of
//! stopping at the first one.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A 1-based line and column in the source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

/// One YAML node with where it starts and, for plain scalars, the text as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
    /// The scalar exactly as written in the file (plain non-string scalars only), so that
    /// `1.10` given to a string keyword is not read back as `1.1`.
    pub raw: Option<String>,
    /// Byte range of a plain non-string scalar, resolved into `raw` once the text is at hand.
    byte_range: Option<(usize, usize)>,
}

/// The shape of a node.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in file order; keys are nodes too, so their positions are known.
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// A short noun for messages such as "expected a number, found a mapping".
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// The node as text, when it is a scalar: strings as they are, other plain scalars as written.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Bool(b) => Some(self.raw.clone().unwrap_or_else(|| b.to_string())),
            Value::Int(i) => Some(self.raw.clone().unwrap_or_else(|| i.to_string())),
            Value::Float(f) => Some(self.raw.clone().unwrap_or_else(|| f.to_string())),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(i128::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<SpannedValue>()? {
            items.push(item.0);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<SpannedValue>()? {
            let value = map.next_value::<SpannedValue>()?;
            entries.push((key.0, value.0));
        }
        Ok(Value::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

/// A node read through serde-saphyr's `Spanned`, before its raw text is attached.
struct SpannedValue(Node);

impl<'de> Deserialize<'de> for SpannedValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(d)?;
        let referenced = spanned.referenced;
        let defined = spanned.defined;
        let pos = Pos {
            line: u32::try_from(referenced.line()).unwrap_or(u32::MAX),
            col: u32::try_from(referenced.column()).unwrap_or(u32::MAX),
        };
        let span = defined.span();
        let byte_range = match (&spanned.value, span.byte_offset(), span.byte_len()) {
            (Value::Bool(_) | Value::Int(_) | Value::Float(_), Some(off), Some(len)) => {
                usize::try_from(off).ok().zip(usize::try_from(len).ok())
            }
            _ => None,
        };
        Ok(SpannedValue(Node {
            value: spanned.value,
            pos,
            raw: None,
            byte_range,
        }))
    }
}

/// Why the text could not be read as YAML at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Reads `text` into a positioned tree. An empty document is an empty mapping.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    options.leading_zero_numbers_as_strings = true;
    let parsed: Result<Option<SpannedValue>, _> =
        serde_saphyr::from_str_with_options(text, options);
    match parsed {
        Ok(Some(SpannedValue(mut node))) => {
            attach_raw_text(&mut node, text);
            Ok(node)
        }
        Ok(None) => Ok(Node {
            value: Value::Map(Vec::new()),
            pos: Pos { line: 1, col: 1 },
            raw: None,
            byte_range: None,
        }),
        Err(err) => {
            let pos = err
                .location()
                .map(|loc| Pos {
                    line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
                    col: u32::try_from(loc.column()).unwrap_or(u32::MAX),
                })
                .unwrap_or(Pos { line: 1, col: 1 });
            Err(SyntaxError {
                pos,
                message: user_message(&strip_location(&err.to_string())),
            })
        }
    }
}

/// serde-saphyr's messages end in "at line L column C"; the diagnostic prints the position
/// itself, so it is dropped from the text.
fn strip_location(message: &str) -> String {
    let first_line = message.lines().next().unwrap_or(message);
    match first_line.rfind(" at line ") {
        Some(i) => first_line[..i].to_owned(),
        None => first_line.to_owned(),
    }
}

/// Rewrites serde-saphyr messages that give advice to its API users rather than to ours.
fn user_message(message: &str) -> String {
    if message.contains("multiple YAML documents") {
        return "the file holds more than one YAML document (a second `---`); vipd reads exactly one"
            .into();
    }
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest
            .split(", set DuplicateKeyPolicy")
            .next()
            .unwrap_or(rest);
        return format!("duplicate key {key} (each key may appear once per block)");
    }
    if let Some(value) = message
        .strip_prefix("non-finite float `")
        .and_then(|r| r.split('`').next())
    {
        return format!("{value} is not a finite number");
    }
    message.to_owned()
}

fn attach_raw_text(node: &mut Node, text: &str) {
    if let Some((off, len)) = node.byte_range {
        node.raw = off
            .checked_add(len)
            .and_then(|end| text.get(off..end))
            .map(|s| s.trim().to_owned());
    }
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(|n| attach_raw_text(n, text)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            attach_raw_text(k, text);
            attach_raw_text(v, text);
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_raw_text() {
        let doc = "a:\n  b: 0.10\n  c: [x, 01234]\n  d: yes\n";
        let node = parse(doc).unwrap();
        let Value::Map(top) = &node.value else {
            panic!()
        };
        let Value::Map(inner) = &top[0].1.value else {
            panic!()
        };
        assert_eq!(inner[0].0.pos, Pos { line: 2, col: 3 });
        assert_eq!(inner[0].1.pos, Pos { line: 2, col: 6 });
        assert_eq!(inner[0].1.scalar_text().as_deref(), Some("0.10"));
        assert_eq!(inner[2].1.scalar_text().as_deref(), Some("yes"));
    }

    #[test]
    fn parser_messages_speak_to_the_user() {
        let multi = parse("---\na: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(multi.pos, Pos { line: 4, col: 1 });
        assert!(
            multi.message.contains("more than one YAML document"),
            "{}",
            multi.message
        );
        let dup = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(dup.pos.line, 2);
        assert!(
            dup.message.starts_with("duplicate key a"),
            "{}",
            dup.message
        );
        let inf = parse("a: 1e999\n").unwrap_err();
        assert_eq!(inf.message, "1e999 is not a finite number");
    }
}
