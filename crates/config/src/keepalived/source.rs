//! keepalived.conf text → logical lines of words, as keepalived 2.2.7's `read_line` yields them:
//! comments (`!`, `#`) cut, CRLF and tabs taken, `\` continuations joined, `@ID`/`@^ID` lines
//! kept or dropped against the config id, `$NAME=value` definitions (multi-line with a trailing
//! `\`) substituted as `$NAME`/`${NAME}`, `~SEQ(var, start, step, end)` lines repeated, `include`
//! globs read in place (relative to the including file, cycles refused), and every line split at
//! `{` and `}` so each brace is a line of its own (`unicast_peer{` and one-line blocks alike).
//!
//! Comments are kept aside with their positions for the importer.

use std::path::{Path, PathBuf};

use crate::node::Pos;

/// One word of a line, quotes removed.
#[derive(Clone, Debug, PartialEq)]
pub struct Word {
    pub text: String,
    pub pos: Pos,
    /// Written in double quotes (so `"{"` is not a brace).
    pub quoted: bool,
    /// Byte offset of the word (its opening quote, if quoted) in [`Line::text`].
    start: usize,
}

/// A logical line: a keyword with its arguments, or a lone `{` or `}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub words: Vec<Word>,
    /// The line's text after decommenting, for commands whose quoting matters.
    pub text: String,
}

impl Line {
    pub fn pos(&self) -> Pos {
        self.words[0].pos
    }
    /// `{` or `}` alone.
    pub fn is_brace(&self, brace: &str) -> bool {
        self.words.len() == 1 && !self.words[0].quoted && self.words[0].text == brace
    }
    /// Everything after the first `n` words as written (quotes kept); a single quoted word is
    /// given without its quotes, as keepalived takes `script "cmd args"`.
    pub fn rest_text(&self, n: usize) -> String {
        match self.words.get(n) {
            None => String::new(),
            Some(w) if self.words.len() == n + 1 && w.quoted => w.text.clone(),
            Some(w) => self.text[w.start..].trim_end().to_owned(),
        }
    }
}

/// A comment of the original, with the position of its `!` or `#`.
#[derive(Clone, Debug, PartialEq)]
pub struct Comment {
    pub pos: Pos,
    pub text: String,
    /// Nothing but whitespace before it on its line.
    pub own_line: bool,
}

/// What reading the files produced.
#[derive(Debug, Default)]
pub struct Source {
    /// The file names as diagnostics print them; [`Pos::file`] indexes this list.
    pub files: Vec<String>,
    pub lines: Vec<Line>,
    pub comments: Vec<Comment>,
    pub warnings: Vec<(Pos, String)>,
    pub errors: Vec<(Pos, String)>,
}

/// How far definitions may refer to definitions, and how many lines expansions may make, so a
/// self-referring definition or a huge `~SEQ` is refused instead of running away.
const MAX_DEPTH: u32 = 16;
const MAX_EXPANDED_LINES: usize = 10_000;
const MAX_LINE: usize = 64 * 1024;
const MAX_FILES: usize = 1000;

struct Definition {
    name: String,
    /// One entry per line; a single-line definition has one.
    lines: Vec<String>,
}

struct Reader<'a> {
    config_id: &'a str,
    refuse_includes: bool,
    src: Source,
    /// Canonical paths of the files being read, outermost first, to refuse include cycles.
    stack: Vec<PathBuf>,
    /// Directory of each file, for `include` and `${_PWD}`.
    dirs: Vec<PathBuf>,
    defs: Vec<Definition>,
    /// A multi-line definition still collecting lines.
    collecting: Option<usize>,
    expanded: usize,
}

/// Reads `text` as the file named `name` (its directory anchors relative includes).
pub fn read(text: &str, name: &str, config_id: &str, refuse_includes: bool) -> Source {
    let mut reader = Reader {
        config_id,
        refuse_includes,
        src: Source::default(),
        stack: Vec::new(),
        dirs: Vec::new(),
        defs: Vec::new(),
        collecting: None,
        expanded: 0,
    };
    let path = Path::new(name);
    reader.src.files.push(name.to_owned());
    reader.dirs.push(parent_dir(path));
    reader
        .stack
        .push(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned()));
    reader.read_text(text, 0);
    reader.src
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn col_of(physical: &str, byte: usize) -> u32 {
    let chars = physical.get(..byte).map_or(byte, |s| s.chars().count());
    u32::try_from(chars + 1).unwrap_or(u32::MAX)
}

/// The code part of a line and its comment: `!` or `#` outside double quotes starts a comment;
/// `\!` and `\#` outside quotes are the characters themselves.
fn decomment(line: &str) -> (String, Option<(usize, String)>) {
    let mut code = String::new();
    let mut quoted = false;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                code.push(c);
            }
            '\\' if !quoted => match chars.peek() {
                Some((_, n @ ('!' | '#'))) => {
                    code.push(*n);
                    chars.next();
                }
                _ => code.push(c),
            },
            '!' | '#' if !quoted => return (code, Some((i, line[i + 1..].to_owned()))),
            _ => code.push(c),
        }
    }
    (code, None)
}

impl Reader<'_> {
    fn file_index(&self) -> u16 {
        u16::try_from(self.src.files.len() - 1).unwrap_or(u16::MAX)
    }

    fn read_text(&mut self, text: &str, file: u16) {
        let mut physical = text.split('\n').enumerate().peekable();
        while let Some((n, raw)) = physical.next() {
            let line_no = u32::try_from(n + 1).unwrap_or(u32::MAX);
            let raw = raw.trim_end_matches('\r');
            let (mut code, comment) = decomment(raw);
            if let Some((at, text)) = comment {
                self.src.comments.push(Comment {
                    pos: Pos {
                        line: line_no,
                        col: col_of(raw, at),
                        file,
                    },
                    text: text.trim_end().to_owned(),
                    own_line: raw[..at].trim().is_empty(),
                });
            }
            let indent = code.len() - code.trim_start().len();
            let pos = Pos {
                line: line_no,
                col: col_of(raw, indent),
                file,
            };
            if let Some(def) = self.collecting {
                let trimmed = code.trim();
                let more = trimmed.ends_with('\\');
                let part = trimmed.trim_end_matches('\\').trim_end();
                if !part.is_empty() {
                    self.defs[def].lines.push(part.to_owned());
                }
                if !more || trimmed.is_empty() {
                    self.collecting = None;
                }
                continue;
            }
            // A `\` at the end joins the next line, unless it opens a multi-line definition.
            while code.trim_end().ends_with('\\') && !is_definition(code.trim_start()) {
                let Some((_, next)) = physical.next() else {
                    break;
                };
                let trimmed = code.trim_end();
                code = format!(
                    "{} {}",
                    &trimmed[..trimmed.len() - 1],
                    decomment(next.trim_end_matches('\r')).0.trim()
                );
            }
            let logical = code.trim();
            if logical.is_empty() {
                continue;
            }
            self.logical(logical, raw, indent, pos, 0);
        }
    }

    fn warn(&mut self, pos: Pos, message: impl Into<String>) {
        self.src.warnings.push((pos, message.into()));
    }

    fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.src.errors.push((pos, message.into()));
    }

    /// One line after decommenting: conditionals, definitions, sequences, substitution,
    /// includes, then words. `physical`/`offset` locate it for columns (the line as written
    /// when it was not produced by a substitution).
    fn logical(&mut self, line: &str, physical: &str, offset: usize, pos: Pos, depth: u32) {
        if depth > MAX_DEPTH {
            self.error(pos, "definitions refer to each other too deeply (a definition that uses itself?); keepalived would not expand this line");
            return;
        }
        let mut line = line;
        let mut offset = offset;
        if let Some(rest) = line.strip_prefix('@') {
            let (negated, rest) = match rest.strip_prefix('^') {
                Some(r) => (true, r),
                None => (false, rest),
            };
            let Some(split) = rest.find([' ', '\t']) else {
                return;
            };
            let matches = &rest[..split] == self.config_id;
            if matches == negated {
                return;
            }
            let body = rest[split..].trim_start();
            offset += line.len() - body.len();
            line = body;
        }
        if is_definition(line) {
            self.define(line);
            return;
        }
        if let Some(seq) = line.strip_prefix("~SEQ") {
            self.sequence(seq, pos, depth);
            return;
        }
        if line.starts_with('~') {
            self.warn(
                pos,
                format!("keepalived ignores the line \"{line}\" (only ~SEQ is read here)"),
            );
            return;
        }
        if line.contains('$') && !self.defs.is_empty() {
            if let Some(expanded) = self.substitute(line) {
                self.expanded += expanded.len();
                let longest = expanded.iter().map(String::len).max().unwrap_or(0);
                if self.expanded > MAX_EXPANDED_LINES || longest > MAX_LINE {
                    self.error(pos, format!("definitions expand to more than {MAX_EXPANDED_LINES} lines or a line longer than {MAX_LINE} bytes; refused"));
                    return;
                }
                let mut lines = expanded.into_iter();
                if let Some(first) = lines.next() {
                    let first = decomment(&first).0;
                    self.logical(first.trim(), "", 0, pos, depth + 1);
                }
                for more in lines {
                    let more = decomment(&more).0;
                    self.logical(more.trim(), "", 0, pos, depth + 1);
                }
                return;
            }
        }
        if let Some(pattern) = include_pattern(line) {
            self.include(pattern, pos);
            return;
        }
        self.split_braces(line, physical, offset, pos);
    }

    fn define(&mut self, line: &str) {
        let eq = line.find('=').unwrap_or(line.len());
        let name = line[1..eq].trim().to_owned();
        let value = line[eq + 1..].trim();
        let (first, multiline) = match value.strip_suffix('\\') {
            Some(v) => (v.trim_end(), true),
            None => (value, false),
        };
        let lines = if first.is_empty() && multiline {
            Vec::new()
        } else {
            vec![first.to_owned()]
        };
        let index = match self.defs.iter().position(|d| d.name == name) {
            Some(i) => {
                self.defs[i].lines = lines;
                i
            }
            None => {
                self.defs.push(Definition { name, lines });
                self.defs.len() - 1
            }
        };
        if multiline {
            self.collecting = Some(index);
        }
    }

    /// `~SEQ(var, end)`, `~SEQ(var, start, end)` or `~SEQ(var, start, step, end)` then text: the
    /// text once per value with `$var` set to it.
    fn sequence(&mut self, spec: &str, pos: Pos, depth: u32) {
        let bad = |r: &mut Self| {
            r.error(
                pos,
                format!("invalid ~SEQ{spec} (keepalived expects ~SEQ(var, [start, [step,]] end) then the line to repeat); keepalived drops the line"),
            )
        };
        let spec = spec.trim_start();
        let Some(inner) = spec.strip_prefix('(') else {
            return bad(self);
        };
        let Some(close) = inner.find(')') else {
            return bad(self);
        };
        let text = inner[close + 1..].trim().to_owned();
        let args: Vec<String> = inner[..close]
            .split(',')
            .map(|a| a.trim().to_owned())
            .collect();
        let var = args[0].clone();
        let numbers: Option<Vec<i64>> = args[1..]
            .iter()
            .map(|a| {
                let a = self
                    .substitute(a)
                    .and_then(|v| v.into_iter().next())
                    .unwrap_or_else(|| a.clone());
                parse_c_long(a.trim())
            })
            .collect();
        let Some(numbers) = numbers else {
            return bad(self);
        };
        let (start, step, end) = match numbers.as_slice() {
            [end] => (
                if *end < 0 { -1 } else { 1 },
                if *end < 1 { -1 } else { 1 },
                *end,
            ),
            [start, end] => (*start, if start <= end { 1 } else { -1 }, *end),
            [start, step, end] => (*start, *step, *end),
            _ => return bad(self),
        };
        if var.is_empty() || step == 0 || (start < end && step < 0) || (start > end && step > 0) {
            return bad(self);
        }
        let mut value = start;
        while (step > 0 && value <= end) || (step < 0 && value >= end) {
            self.expanded += 1;
            if self.expanded > MAX_EXPANDED_LINES {
                self.error(
                    pos,
                    format!("~SEQ makes more than {MAX_EXPANDED_LINES} lines; refused"),
                );
                return;
            }
            self.set(&var, value.to_string());
            self.logical(&text, "", 0, pos, depth + 1);
            let Some(next) = value.checked_add(step) else {
                break;
            };
            value = next;
        }
    }

    fn set(&mut self, name: &str, value: String) {
        match self.defs.iter_mut().find(|d| d.name == name) {
            Some(d) => d.lines = vec![value],
            None => self.defs.push(Definition {
                name: name.to_owned(),
                lines: vec![value],
            }),
        }
    }

    /// The line with `$NAME` and `${NAME}` replaced; a multi-line definition at the end of the
    /// line continues as further lines. `None` when nothing was replaced.
    fn substitute(&self, line: &str) -> Option<Vec<String>> {
        let mut out = String::new();
        let mut rest = line;
        let mut replaced = false;
        let mut tail: Vec<String> = Vec::new();
        while let Some(at) = rest.find('$') {
            if out.len() > MAX_LINE {
                // Too long already: the caller refuses it.
                return Some(vec![out]);
            }
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let (name, used) = match after.strip_prefix('{') {
                Some(braced) => match braced.find('}') {
                    Some(end) => (braced[..end].trim(), end + 2),
                    None => ("", 0),
                },
                None => {
                    let len = after
                        .char_indices()
                        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
                        .map_or(after.len(), |(i, _)| i);
                    (&after[..len], len)
                }
            };
            let value = self.lookup(name);
            match value {
                Some(def) if used > 0 => {
                    replaced = true;
                    let remainder = &after[used..];
                    match def.lines.as_slice() {
                        [] => {}
                        [one] => out.push_str(one),
                        [first, more @ ..] if remainder.trim().is_empty() => {
                            out.push_str(first);
                            tail.extend(more.iter().cloned());
                        }
                        [first, ..] => out.push_str(first),
                    }
                    rest = remainder;
                }
                _ => {
                    out.push('$');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        replaced.then(|| {
            let mut lines = vec![out];
            lines.extend(tail);
            lines
        })
    }

    fn lookup(&self, name: &str) -> Option<Definition> {
        if let Some(d) = self.defs.iter().rev().find(|d| d.name == name) {
            return Some(Definition {
                name: d.name.clone(),
                lines: d.lines.clone(),
            });
        }
        let std_value = match name {
            "_PWD" => self.dirs.last().map(|d| d.display().to_string()),
            "_INSTANCE" => Some(self.config_id.to_owned()),
            _ => None,
        };
        std_value.map(|v| Definition {
            name: name.to_owned(),
            lines: vec![v],
        })
    }

    fn include(&mut self, pattern: &str, pos: Pos) {
        if self.refuse_includes {
            self.error(
                pos,
                format!("include {pattern}: includes are not read here"),
            );
            return;
        }
        let pattern = pattern.trim().trim_matches('"');
        let dir = self
            .dirs
            .last()
            .cloned()
            .unwrap_or_else(|| PathBuf::from("."));
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            dir.join(pattern)
        };
        let matches: Vec<PathBuf> = match glob::glob(&full.to_string_lossy()) {
            Ok(paths) => {
                let mut found: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
                found.sort();
                found
            }
            Err(e) => {
                self.error(pos, format!("include {pattern}: not a valid pattern ({e})"));
                return;
            }
        };
        if matches.is_empty() {
            self.warn(
                pos,
                format!(
                    "include {pattern}: no file matches; keepalived reports it and runs without it"
                ),
            );
            return;
        }
        for path in matches {
            let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if self.stack.contains(&canonical) {
                self.error(
                    pos,
                    format!(
                        "include {}: the file includes itself (an include cycle)",
                        path.display()
                    ),
                );
                continue;
            }
            if self.src.files.len() >= MAX_FILES {
                self.error(
                    pos,
                    format!("more than {MAX_FILES} included files; refused"),
                );
                return;
            }
            let text = match std::fs::read(&path).map(String::from_utf8) {
                Ok(Ok(text)) => text,
                Ok(Err(_)) => {
                    self.error(pos, format!("include {}: not UTF-8 text", path.display()));
                    continue;
                }
                Err(e) => {
                    self.error(pos, format!("include {}: cannot read: {e}", path.display()));
                    continue;
                }
            };
            self.src.files.push(path.display().to_string());
            let file = self.file_index();
            self.stack.push(canonical);
            self.dirs.push(parent_dir(&path));
            let collecting = self.collecting.take();
            self.read_text(&text, file);
            self.collecting = collecting;
            self.dirs.pop();
            self.stack.pop();
        }
    }

    /// Splits at `{` and `}` outside quotes (each brace becomes a line) and cuts words.
    fn split_braces(&mut self, line: &str, physical: &str, offset: usize, pos: Pos) {
        let mut rest = line;
        let mut offset = offset;
        while !rest.is_empty() {
            let brace = find_brace(rest);
            let (segment, next) = match brace {
                Some(0) => (&rest[..1], &rest[1..]),
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            self.push_words(segment, physical, offset, pos);
            let trimmed = next.trim_start();
            offset += rest.len() - trimmed.len();
            rest = trimmed;
        }
    }

    fn push_words(&mut self, segment: &str, physical: &str, offset: usize, pos: Pos) {
        let mut words = Vec::new();
        let mut i = 0;
        let bytes = segment.as_bytes();
        while i < bytes.len() {
            if bytes[i] == b' ' || bytes[i] == b'\t' {
                i += 1;
                continue;
            }
            let start = i;
            let word_pos = Pos {
                col: if physical.is_empty() {
                    pos.col
                } else {
                    col_of(physical, offset + start)
                },
                ..pos
            };
            if bytes[i] == b'"' {
                match segment[i + 1..].find('"') {
                    Some(end) => {
                        words.push(Word {
                            text: segment[i + 1..i + 1 + end].to_owned(),
                            pos: word_pos,
                            quoted: true,
                            start,
                        });
                        i += end + 2;
                    }
                    None => {
                        self.warn(
                            word_pos,
                            "a quote is not closed; keepalived drops the rest of the line",
                        );
                        break;
                    }
                }
            } else {
                let end = segment[i..]
                    .find([' ', '\t', '"'])
                    .map_or(segment.len(), |e| i + e);
                words.push(Word {
                    text: segment[i..end].to_owned(),
                    pos: word_pos,
                    quoted: false,
                    start,
                });
                i = end;
            }
        }
        if !words.is_empty() {
            self.src.lines.push(Line {
                words,
                text: segment.to_owned(),
            });
        }
    }
}

fn is_definition(line: &str) -> bool {
    let Some(rest) = line.strip_prefix('$') else {
        return false;
    };
    let name_len = rest
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(rest.len(), |(i, _)| i);
    let first_ok = rest
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && rest[name_len..].trim_start().starts_with('=')
}

fn include_pattern(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("include")?;
    rest.starts_with([' ', '\t']).then(|| rest.trim())
}

/// The first `{` or `}` outside double quotes.
fn find_brace(text: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '{' | '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// A number as C's strtol with base 0 reads it (decimal, 0x hex, 0 octal).
fn parse_c_long(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let value = if let Some(hex) = digits.strip_prefix("0x").or(digits.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8).ok()?
    } else {
        digits.parse().ok()?
    };
    Some(if negative { -value } else { value })
}
