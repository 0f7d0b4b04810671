//! YAML text → the positioned [`Node`] tree, read through serde-saphyr.
//!
//! serde-saphyr tells where each value starts and its byte span; the span of a non-string
//! scalar becomes the text as written ([`Node::raw`]) once the whole document has been read.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::node::{Node, Pos, Value};

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
    let parsed: Result<Option<Parsed>, _> = serde_saphyr::from_str_with_options(text, options);
    match parsed {
        Ok(Some(parsed)) => Ok(parsed.into_node(text)),
        Ok(None) => Ok(Node::new(Value::Map(Vec::new()), Pos::new(1, 1))),
        Err(err) => {
            let pos = err
                .location()
                .map(|loc| {
                    Pos::new(
                        u32::try_from(loc.line()).unwrap_or(u32::MAX),
                        u32::try_from(loc.column()).unwrap_or(u32::MAX),
                    )
                })
                .unwrap_or(Pos::new(1, 1));
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

/// A node as serde-saphyr hands it over: a non-string scalar's text is only known as a byte
/// span until the whole document is at hand.
struct Parsed {
    value: ParsedValue,
    pos: Pos,
    span: Option<(usize, usize)>,
}

enum ParsedValue {
    /// Any value but a list or a mapping.
    Scalar(Value),
    Seq(Vec<Parsed>),
    Map(Vec<(Parsed, Parsed)>),
}

impl Parsed {
    fn into_node(self, text: &str) -> Node {
        let raw = self.span.and_then(|(off, len)| {
            off.checked_add(len)
                .and_then(|end| text.get(off..end))
                .map(|s| s.trim().to_owned())
        });
        let value = match self.value {
            ParsedValue::Scalar(value) => value,
            ParsedValue::Seq(items) => {
                Value::Seq(items.into_iter().map(|n| n.into_node(text)).collect())
            }
            ParsedValue::Map(entries) => Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.into_node(text), v.into_node(text)))
                    .collect(),
            ),
        };
        Node {
            value,
            pos: self.pos,
            raw,
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = ParsedValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<ParsedValue, E> {
        Ok(ParsedValue::Scalar(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<ParsedValue, E> {
        Ok(ParsedValue::Scalar(Value::Int(v.into())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ParsedValue, E> {
        Ok(ParsedValue::Scalar(Value::Int(v.into())))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<ParsedValue, E> {
        Ok(ParsedValue::Scalar(Value::Int(v)))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<ParsedValue, E> {
        Ok(ParsedValue::Scalar(
            i128::try_from(v).map_or(Value::Float(v as f64), Value::Int),
        ))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<ParsedValue, E> {
        Ok(ParsedValue::Scalar(Value::Float(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<ParsedValue, E> {
        Ok(ParsedValue::Scalar(Value::Str(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<ParsedValue, E> {
        Ok(ParsedValue::Scalar(Value::Str(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<ParsedValue, E> {
        Ok(ParsedValue::Scalar(Value::Null))
    }
    fn visit_none<E: de::Error>(self) -> Result<ParsedValue, E> {
        Ok(ParsedValue::Scalar(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<ParsedValue, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ParsedValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Parsed>()? {
            items.push(item);
        }
        Ok(ParsedValue::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ParsedValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Parsed>()? {
            let value = map.next_value::<Parsed>()?;
            entries.push((key, value));
        }
        Ok(ParsedValue::Map(entries))
    }
}

impl<'de> Deserialize<'de> for ParsedValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

impl<'de> Deserialize<'de> for Parsed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<ParsedValue>::deserialize(d)?;
        let referenced = spanned.referenced;
        let defined = spanned.defined;
        let pos = Pos::new(
            u32::try_from(referenced.line()).unwrap_or(u32::MAX),
            u32::try_from(referenced.column()).unwrap_or(u32::MAX),
        );
        let span = defined.span();
        let non_string_scalar = matches!(
            spanned.value,
            ParsedValue::Scalar(Value::Bool(_) | Value::Int(_) | Value::Float(_))
        );
        let span = match (non_string_scalar, span.byte_offset(), span.byte_len()) {
            (true, Some(off), Some(len)) => {
                usize::try_from(off).ok().zip(usize::try_from(len).ok())
            }
            _ => None,
        };
        Ok(Parsed {
            value: spanned.value,
            pos,
            span,
        })
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
        assert_eq!(inner[0].0.pos, Pos::new(2, 3));
        assert_eq!(inner[0].1.pos, Pos::new(2, 6));
        assert_eq!(inner[0].1.scalar_text().as_deref(), Some("0.10"));
        assert_eq!(inner[2].1.scalar_text().as_deref(), Some("yes"));
    }

    #[test]
    fn parser_messages_speak_to_the_user() {
        let multi = parse("---\na: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(multi.pos, Pos::new(4, 1));
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
