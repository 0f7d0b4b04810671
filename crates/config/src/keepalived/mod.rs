//! keepalived.conf front end: reads keepalived 2.2.7's syntax into the same positioned tree the
//! YAML reader makes, so vipd's builder checks both alike, and applies keepalived's leniency
//! (it warns and ignores where keepalived warns and ignores) so that vipd running a
//! keepalived.conf behaves as keepalived running it.
//!
//! [`source`] turns the text into logical lines (comments, includes, conditionals,
//! definitions, sequences, braces), [`tree`] walks keepalived's blocks into vipd's tree shape,
//! [`leniency`] applies what keepalived does with invalid values, and [`grammar`] lists
//! keepalived's keywords per block.

pub mod grammar;
pub mod import;
mod leniency;
pub mod source;
mod tree;

use std::path::Path;

use crate::node::{Node, Pos};
use crate::{build, Diagnostic, LoadError, Loaded};

pub use source::Comment;

/// How a keepalived.conf is read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// keepalived's `-i`/`--config-id`, matched by `@ID` and `@^ID` lines; `None` is the short
    /// host name, as keepalived defaults it.
    pub config_id: Option<String>,
    /// Refuse `include` lines instead of reading the files they name (for fuzzing, where the
    /// input must not reach the file system).
    pub refuse_includes: bool,
}

impl Options {
    /// The config id in effect.
    pub fn effective_config_id(&self) -> String {
        self.config_id.clone().unwrap_or_else(short_hostname)
    }
}

/// The host name up to its first dot, as keepalived's default config id.
pub fn short_hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    name.trim().split('.').next().unwrap_or_default().to_owned()
}

/// A warning or error before it is given its file name.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Note {
    pos: Pos,
    path: String,
    message: String,
}

impl Note {
    fn new(pos: Pos, path: &str, message: impl Into<String>) -> Note {
        Note {
            pos,
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

/// A keepalived.conf read into vipd's tree, before the typed build.
#[derive(Debug)]
pub struct Parsed {
    pub root: Node,
    /// The file given, then every file it includes, in the order read; [`Pos::file`] indexes it.
    pub files: Vec<String>,
    pub comments: Vec<Comment>,
    pub warnings: Vec<Diagnostic>,
    pub errors: Vec<Diagnostic>,
}

fn diagnostic(files: &[String], note: Note) -> Diagnostic {
    Diagnostic {
        file: files
            .get(usize::from(note.pos.file))
            .or(files.first())
            .cloned()
            .unwrap_or_default(),
        line: note.pos.line,
        col: note.pos.col,
        key_path: note.path,
        message: note.message,
    }
}

/// Reads keepalived.conf `text` named `name` (relative includes are found from its directory).
pub fn parse(text: &str, name: &str, options: &Options) -> Parsed {
    let config_id = options.effective_config_id();
    let src = source::read(text, name, &config_id, options.refuse_includes);
    let mut out = tree::build(&src.lines);
    let mut notes: Vec<Note> = src
        .warnings
        .into_iter()
        .map(|(pos, m)| Note::new(pos, "", m))
        .collect();
    notes.append(&mut out.notes);
    leniency::apply(&mut out.root, &out.misplaced, &mut notes);
    let mut errors: Vec<Note> = src
        .errors
        .into_iter()
        .map(|(pos, m)| Note::new(pos, "", m))
        .collect();
    errors.append(&mut out.errors);
    let order = |n: &Note| (n.pos.file, n.pos.line, n.pos.col);
    notes.sort_by_key(order);
    errors.sort_by_key(order);
    let files = src.files;
    Parsed {
        root: out.root,
        warnings: notes.into_iter().map(|n| diagnostic(&files, n)).collect(),
        errors: errors.into_iter().map(|n| diagnostic(&files, n)).collect(),
        comments: src.comments,
        files,
    }
}

/// Reads and validates keepalived.conf `text` as [`crate::parse_str`] does YAML.
pub fn parse_str(text: &str, name: &str, options: &Options) -> Result<Loaded, LoadError> {
    let parsed = parse(text, name, options);
    build_parsed(&parsed)
}

/// The typed build of a parsed keepalived.conf, the front end's diagnostics first.
pub fn build_parsed(parsed: &Parsed) -> Result<Loaded, LoadError> {
    let outcome = build::build_tree_files(&parsed.root, &parsed.files);
    let mut warnings = parsed.warnings.clone();
    warnings.extend(outcome.warnings);
    let mut errors = parsed.errors.clone();
    errors.extend(outcome.errors);
    let order = |d: &Diagnostic| {
        let file = parsed.files.iter().position(|f| *f == d.file);
        (file, d.line, d.col)
    };
    warnings.sort_by_key(order);
    errors.sort_by_key(order);
    match outcome.config {
        Some(config) if errors.is_empty() => Ok(Loaded { config, warnings }),
        _ => {
            if errors.is_empty() {
                errors.push(Diagnostic {
                    file: parsed.files[0].clone(),
                    line: 1,
                    col: 1,
                    key_path: String::new(),
                    message: "the configuration could not be built".into(),
                });
            }
            Err(LoadError::Invalid { errors, warnings })
        }
    }
}

/// Reads and validates the keepalived.conf at `path`.
pub fn load_file(path: &Path, options: &Options) -> Result<Loaded, LoadError> {
    let text = crate::read_text(path)?;
    parse_str(&text, &path.display().to_string(), options)
}

/// Whether `text` is written in keepalived's syntax rather than YAML: its first line that is
/// not blank or a comment opens a block, is a keepalived directive, or is a keyword line
/// without YAML's `key:`.
pub fn looks_like_keepalived(text: &str) -> bool {
    for line in text.lines() {
        let code = source_first_code(line);
        if code.is_empty() {
            continue;
        }
        if code == "---" || code.starts_with("- ") || code.starts_with('{') || code.starts_with('[')
        {
            return false;
        }
        let first_word = code.split_whitespace().next().unwrap_or_default();
        if first_word.ends_with(':') || code.contains(": ") {
            return false;
        }
        return true;
    }
    false
}

fn source_first_code(line: &str) -> &str {
    let line = line.trim();
    if line.starts_with(['#', '!']) {
        return "";
    }
    line
}

#[cfg(test)]
mod tests;
