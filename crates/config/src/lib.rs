//! vipd's configuration: YAML with keepalived's keyword names and defaults, parsed, typed and
//! validated with file:line:col errors.
//!
//! Reading never touches the system (no interface lookups, no DNS): `vipd check` can run
//! anywhere. The one look outside the file is a warning when a `vrrp_script`'s program is
//! missing or not executable.
//! The YAML text is read through serde-saphyr ([`yaml`]) into a format-neutral tree of
//! positioned nodes ([`node`]), turned into the typed [`Config`] with every error collected
//! ([`build`]), keepalived's one-line address, route and rule syntax is parsed by [`ipsyntax`],
//! the targets of vipd's built-in checks by [`probesyntax`], and misplaced keywords are
//! explained by [`keywords`]. A keepalived.conf is read by [`keepalived`] into the same tree, with
//! keepalived's leniency; [`load_file`] tells the formats apart by content.

pub mod actions;
pub mod build;
pub mod ipsyntax;
pub mod keepalived;
pub mod keywords;
pub mod model;
pub mod node;
pub mod probesyntax;
pub mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};

pub use actions::*;
pub use model::*;

/// Where vipd looks for its configuration unless told otherwise.
pub const DEFAULT_PATH: &str = "/etc/vipd/vipd.yaml";

/// One error or warning about the file, positioned at the key or list item it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file name as the caller gave it.
    pub file: String,
    /// 1-based.
    pub line: u32,
    /// 1-based, in characters.
    pub col: u32,
    /// Dotted path to the key, e.g. `vrrp_instance.VI_gw.virtual_router_id` or
    /// `vrrp_instance.VI_gw.virtual_ipaddress[1]`; empty for YAML syntax errors.
    pub key_path: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.col)?;
        if !self.key_path.is_empty() {
            write!(f, "{}: ", self.key_path)?;
        }
        f.write_str(&self.message)
    }
}

/// A valid configuration, with the warnings found on the way (non-fatal).
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Diagnostic>,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read (`vipd check` exits 2).
    #[error("{}: cannot read: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration (`vipd check` exits 1).
    /// `errors` is never empty; both lists are sorted by position.
    #[error("{}", render(errors))]
    Invalid {
        errors: Vec<Diagnostic>,
        warnings: Vec<Diagnostic>,
    },
}

impl LoadError {
    /// The exit status `vipd check` uses: 2 for unreadable, 1 for invalid.
    pub fn exit_code(&self) -> i32 {
        match self {
            LoadError::Unreadable { .. } => 2,
            LoadError::Invalid { .. } => 1,
        }
    }
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads and validates the file at `path`, YAML or keepalived.conf as its content says.
/// Diagnostics name the file as `path` is written.
pub fn load_file(path: &Path) -> Result<Loaded, LoadError> {
    load_file_as(path, &ReadOptions::default())
}

/// How a configuration file is to be read: its format and keepalived's options for a
/// keepalived.conf (`vipd run --format … --config-id …`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    pub format: Format,
    pub keepalived: keepalived::Options,
}

/// How a configuration file is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Chosen by content ([`keepalived::looks_like_keepalived`]).
    #[default]
    Detect,
    Yaml,
    Keepalived,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "yaml" => Ok(Format::Yaml),
            "keepalived" => Ok(Format::Keepalived),
            "auto" | "detect" => Ok(Format::Detect),
            _ => Err(format!(
                "unknown format {s:?} (expected yaml or keepalived)"
            )),
        }
    }
}

impl Format {
    /// The format of `text`: the one asked for, or the one its content shows.
    pub fn resolve(self, text: &str) -> Format {
        match self {
            Format::Detect if keepalived::looks_like_keepalived(text) => Format::Keepalived,
            Format::Detect => Format::Yaml,
            other => other,
        }
    }
}

/// [`load_file`] with the format and keepalived options given.
pub fn load_file_as(path: &Path, options: &ReadOptions) -> Result<Loaded, LoadError> {
    let text = read_text(path)?;
    let name = path.display().to_string();
    match options.format.resolve(&text) {
        Format::Keepalived => keepalived::parse_str(&text, &name, &options.keepalived),
        _ => parse_str(&text, &name),
    }
}

/// The file's text, or why it cannot be read.
pub(crate) fn read_text(path: &Path) -> Result<String, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| LoadError::Unreadable {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
    })
}

/// Validates configuration text; `file_name` is used in diagnostics.
pub fn parse_str(text: &str, file_name: &str) -> Result<Loaded, LoadError> {
    let outcome = build::build(text, file_name);
    if outcome.errors.is_empty() {
        match outcome.config {
            Some(config) => Ok(Loaded {
                config,
                warnings: outcome.warnings,
            }),
            None => Err(LoadError::Invalid {
                errors: vec![Diagnostic {
                    file: file_name.to_owned(),
                    line: 1,
                    col: 1,
                    key_path: String::new(),
                    message: "the configuration could not be built".into(),
                }],
                warnings: outcome.warnings,
            }),
        }
    } else {
        Err(LoadError::Invalid {
            errors: outcome.errors,
            warnings: outcome.warnings,
        })
    }
}
