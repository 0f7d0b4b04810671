//! `vipd import-keepalived`: a keepalived.conf written out as vipd's YAML, meaning exactly what
//! keepalived makes of it. The YAML is the tree the front end built, in the original's order,
//! with the original's comments where they stood and each warning as a comment at the place it
//! concerns; before it is handed out it is read back and must give the very configuration the
//! keepalived.conf gives.

use std::fmt::Write;

use super::{build_parsed, Parsed};
use crate::node::{Node, Pos, Value};
use crate::{Diagnostic, LoadError};

/// A converted file: the YAML and the warnings (also inside the YAML as comments).
#[derive(Debug)]
pub struct Imported {
    pub yaml: String,
    pub warnings: Vec<Diagnostic>,
}

/// Something to write as a comment before the node it precedes.
struct Note {
    pos: Pos,
    text: String,
    /// A comment that ended a line of the original: written at the end of its node's line.
    trailing: bool,
}

/// Converts a parsed keepalived.conf; the errors are those `vipd check` would print.
pub fn to_yaml(parsed: &Parsed, source_name: &str, config_id: &str) -> Result<Imported, LoadError> {
    let loaded = build_parsed(parsed)?;
    let mut notes: Vec<Note> = parsed
        .comments
        .iter()
        .map(|c| Note {
            pos: c.pos,
            text: c.text.clone(),
            trailing: !c.own_line,
        })
        .collect();
    for w in &loaded.warnings {
        let file = parsed.files.iter().position(|f| *f == w.file).unwrap_or(0);
        notes.push(Note {
            pos: Pos {
                line: w.line,
                col: w.col,
                file: u16::try_from(file).unwrap_or(0),
            },
            text: format!(" vipd warning: {}", w.message),
            trailing: false,
        });
    }
    notes.sort_by_key(|n| (n.pos.file, n.pos.line, n.trailing, n.pos.col));
    let mut out = Writer {
        yaml: String::new(),
        notes,
        done: Vec::new(),
    };
    out.done = vec![false; out.notes.len()];
    let _ = writeln!(
        out.yaml,
        "# Converted from {source_name} by vipd import-keepalived (config id {config_id})."
    );
    if parsed.files.len() > 1 {
        let _ = writeln!(
            out.yaml,
            "# It includes {}; their contents are inlined here.",
            parsed.files[1..].join(", ")
        );
    }
    out.yaml.push('\n');
    if let Value::Map(entries) = &parsed.root.value {
        for (key, value) in entries {
            out.entry(key, value, 0);
        }
    }
    out.flush_all();
    let yaml = out.yaml;
    let again = crate::parse_str(&yaml, "import.yaml").map_err(|e| {
        internal(
            parsed,
            &format!("the YAML written does not load:\n{e}\n{yaml}"),
        )
    })?;
    if again.config != loaded.config {
        return Err(internal(
            parsed,
            "the YAML written does not mean what the keepalived.conf means; please report this",
        ));
    }
    Ok(Imported {
        yaml,
        warnings: loaded.warnings,
    })
}

fn internal(parsed: &Parsed, message: &str) -> LoadError {
    LoadError::Invalid {
        errors: vec![Diagnostic {
            file: parsed.files[0].clone(),
            line: 1,
            col: 1,
            key_path: String::new(),
            message: message.to_owned(),
        }],
        warnings: Vec::new(),
    }
}

struct Writer {
    yaml: String,
    notes: Vec<Note>,
    done: Vec<bool>,
}

impl Writer {
    /// Writes the notes of `pos`'s file up to its line (own-line ones) before a node.
    fn flush_before(&mut self, pos: Pos, indent: usize) {
        for i in 0..self.notes.len() {
            let n = &self.notes[i];
            if self.done[i] || n.pos.file != pos.file || n.pos.line > pos.line {
                continue;
            }
            if n.trailing && n.pos.line == pos.line {
                continue;
            }
            self.done[i] = true;
            let _ = writeln!(self.yaml, "{:indent$}#{}", "", comment(&self.notes[i].text));
        }
    }

    /// The trailing comment of `pos`'s line, if one is left.
    fn trailing(&mut self, pos: Pos) -> String {
        let mut text = String::new();
        for i in 0..self.notes.len() {
            let n = &self.notes[i];
            if !self.done[i] && n.trailing && n.pos.file == pos.file && n.pos.line == pos.line {
                self.done[i] = true;
                let _ = write!(text, "  #{}", comment(&n.text));
            }
        }
        text
    }

    fn flush_all(&mut self) {
        let mut first = true;
        for i in 0..self.notes.len() {
            if !self.done[i] {
                if first {
                    self.yaml.push('\n');
                    first = false;
                }
                self.done[i] = true;
                let _ = writeln!(self.yaml, "#{}", comment(&self.notes[i].text));
            }
        }
    }

    fn entry(&mut self, key: &Node, value: &Node, indent: usize) {
        self.flush_before(key.pos, indent);
        let name = scalar(key);
        match &value.value {
            Value::Map(entries) => {
                let tail = self.trailing(key.pos);
                let _ = writeln!(
                    self.yaml,
                    "{:indent$}{name}:{}",
                    "",
                    if entries.is_empty() { " {}" } else { "" }
                );
                if !tail.is_empty() {
                    // A comment after `name {` stays on the line below it.
                    let _ = writeln!(self.yaml, "{:w$}{}", "", tail.trim_start(), w = indent + 2);
                }
                for (k, v) in entries {
                    self.entry(k, v, indent + 2);
                }
            }
            Value::Seq(items) => {
                let tail = self.trailing(key.pos);
                let _ = writeln!(
                    self.yaml,
                    "{:indent$}{name}:{}{tail}",
                    "",
                    if items.is_empty() { " []" } else { "" }
                );
                for item in items {
                    self.flush_before(item.pos, indent + 2);
                    let tail = self.trailing(item.pos);
                    let _ = writeln!(
                        self.yaml,
                        "{:w$}- {}{tail}",
                        "",
                        scalar(item),
                        w = indent + 2
                    );
                }
            }
            _ => {
                let tail = self.trailing(key.pos);
                let _ = writeln!(self.yaml, "{:indent$}{name}: {}{tail}", "", scalar(value));
            }
        }
    }
}

/// A scalar as YAML reads it back to the same value: numbers as written, strings plain when
/// YAML cannot take them for anything else, double-quoted otherwise.
fn scalar(node: &Node) -> String {
    match &node.value {
        Value::Bool(b) => b.to_string(),
        Value::Int(_) | Value::Float(_) => node.scalar_text().unwrap_or_default(),
        Value::Null => "null".into(),
        Value::Str(s) if plain_is_string(s) => s.clone(),
        Value::Str(s) => quote(s),
        Value::Seq(_) | Value::Map(_) => "null".into(),
    }
}

fn plain_is_string(s: &str) -> bool {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_./-:".contains(c) || c == ' ';
    if s.is_empty()
        || !s.chars().all(safe)
        || s.starts_with(['-', ' ', ':', '.'])
        || s.ends_with([' ', ':'])
    {
        return false;
    }
    if s.contains(": ") || s.contains("  ") {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    if [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf",
    ]
    .contains(&lower.as_str())
    {
        return false;
    }
    let first = s.chars().next().unwrap_or(' ');
    if first.is_ascii_digit() {
        return s.contains(['/', ' ', ':']) || s.matches('.').count() >= 2;
    }
    first.is_ascii_alphabetic() || first == '/' || first == '_'
}

/// Characters YAML does not keep as they are: controls, and what it takes for line breaks or a
/// byte order mark.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// Comment text YAML reads as one comment line.
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| {
            if needs_escape(c) && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::super::{parse, Options};
    use super::*;

    fn import(text: &str) -> Imported {
        let options = Options {
            config_id: Some("lb1".into()),
            ..Default::default()
        };
        let parsed = parse(text, "keepalived.conf", &options);
        to_yaml(&parsed, "keepalived.conf", "lb1").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn order_comments_and_warnings_are_carried() {
        let text = "! the gateway pair\nglobal_defs {\n  use_vmac\n}\nvrrp_script chk { # checks haproxy\n  script \"killall -0 haproxy\"\n  weight -20\n}\nvrrp_instance VI_gw {\n  state SLAVE\n  interface eth0   ! LAN\n  virtual_router_id 60\n  virtual_ipaddress {\n    # the gateway\n    192.0.2.3\n  }\n  track_script {\n    chk\n  }\n}\n";
        let imported = import(text);
        let yaml = &imported.yaml;
        let order = [
            "# the gateway pair",
            "global_defs:",
            "vipd warning: keepalived ignores use_vmac",
            "vrrp_script:",
            "# checks haproxy",
            "  chk:",
            "script: killall -0 haproxy",
            "weight: -20",
            "vrrp_instance:",
            "vipd warning: keepalived 2.2.7 does not know state \"SLAVE\"",
            "state: BACKUP",
            "interface: eth0  # LAN",
            "virtual_router_id: 60",
            "# the gateway",
            "- 192.0.2.3",
            "track_script:",
            "- chk",
        ];
        let mut at = 0;
        for part in order {
            let found = yaml[at..]
                .find(part)
                .unwrap_or_else(|| panic!("{part:?} missing after byte {at}:\n{yaml}"));
            at += found + part.len();
        }
        assert_eq!(imported.warnings.len(), 2, "{:?}", imported.warnings);
    }

    #[test]
    fn control_characters_survive_the_round_trip() {
        let text = "global_defs {\n  router_id a\u{0}b\u{85}c # note\u{0}\u{2028}\n}\nvrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    192.0.2.1\n  }\n  zz\u{1}\n}\n";
        let imported = import(text);
        assert!(
            imported.yaml.contains("router_id: \"a\\u0000b\\u0085c\""),
            "{}",
            imported.yaml
        );
    }

    #[test]
    fn strings_that_yaml_would_retype_are_quoted() {
        for (text, plain) in [
            ("eth0", true),
            ("192.0.2.1", true),
            ("192.0.2.1/24 dev eth0", true),
            ("1.10", false),
            ("yes", false),
            ("a: b", false),
            ("-x", false),
            ("p#ss", false),
            ("2001:db8::1", true),
            ("12", false),
        ] {
            assert_eq!(plain_is_string(text), plain, "{text}");
        }
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("a\u{0}\u{85}b"), "\"a\\u0000\\u0085b\"");
        assert_eq!(comment("x\u{0}y\u{2028}z\tw"), "x\u{fffd}y\u{fffd}z\tw");
    }
}
