//! The configuration as a tree of positioned nodes, whatever format it was written in.
//!
//! The typed configuration is built from this tree ([`crate::build::build_tree`]) rather than
//! straight from serde derives so that every error can name its line, column and key path,
//! unknown keys can be told apart from misplaced keepalived keywords, and all errors are
//! collected instead of stopping at the first one. The YAML front end ([`crate::yaml`]) makes
//! this tree; a keepalived.conf front end makes the same one, so every check is shared.

/// A 1-based line and column in a source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
    /// Which file of the configuration the line is in: 0 is the file given, other numbers index
    /// the files a keepalived.conf includes (see [`crate::build::build_tree_files`]).
    pub file: u16,
}

impl Pos {
    /// A position in the file given (file 0).
    pub fn new(line: u32, col: u32) -> Pos {
        Pos { line, col, file: 0 }
    }
}

/// One node with where it starts and, for plain scalars, the text as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
    /// The scalar exactly as written in the file (non-string scalars only), so that
    /// `1.10` given to a string keyword is not read back as `1.1`.
    pub raw: Option<String>,
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
    /// A node with no raw text (strings, collections, or a scalar whose spelling is its value).
    pub fn new(value: Value, pos: Pos) -> Node {
        Node {
            value,
            pos,
            raw: None,
        }
    }

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
