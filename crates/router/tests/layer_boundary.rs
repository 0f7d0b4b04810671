//! Proves the layer boundary: the router crate depends on nothing and its sources reach no clock,
//! socket, thread, file, runtime or logger.

use std::fs;
use std::path::{Path, PathBuf};

/// Tokens that would let the state machine read the world or talk to it.
const FORBIDDEN: &[&str] = &[
    "std::time",
    "Instant",
    "SystemTime",
    "UdpSocket",
    "TcpStream",
    "TcpListener",
    "UnixStream",
    "std::os",
    "tokio",
    "println!",
    "eprintln!",
    "print!",
    "dbg!",
    "std::thread",
    "std::fs",
    "std::process",
    "std::env",
    "tracing",
    "log::",
];

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable source directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

fn forbidden_tokens_in(text: &str) -> Vec<&'static str> {
    FORBIDDEN
        .iter()
        .copied()
        .filter(|token| text.contains(token))
        .collect()
}

/// Entries of the `[dependencies]` table (and of target-specific or build dependency tables).
fn dependency_entries(manifest: &str) -> Vec<String> {
    let mut in_dependencies = false;
    let mut entries = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            let table = line.trim_matches(|c| c == '[' || c == ']');
            in_dependencies = table == "dependencies"
                || table == "build-dependencies"
                || (table.starts_with("target.") && table.ends_with(".dependencies"))
                || table.starts_with("dependencies.");
            if table.starts_with("dependencies.") {
                entries.push(table.to_string());
            }
            continue;
        }
        if in_dependencies && !line.is_empty() && !line.starts_with('#') {
            entries.push(line.to_string());
        }
    }
    entries
}

#[test]
fn router_crate_has_no_dependencies() {
    let manifest = fs::read_to_string(crate_dir().join("Cargo.toml")).expect("Cargo.toml");
    assert!(
        manifest.contains("[dependencies]"),
        "the table exists, and stays empty"
    );
    assert_eq!(dependency_entries(&manifest), Vec::<String>::new());
}

#[test]
fn router_sources_use_no_clock_socket_thread_file_runtime_or_logging() {
    let mut files = Vec::new();
    rust_files(&crate_dir().join("src"), &mut files);
    assert!(files.len() >= 4, "found the sources: {files:?}");
    for file in files {
        let text = fs::read_to_string(&file).expect("readable source");
        let found = forbidden_tokens_in(&text);
        assert!(found.is_empty(), "{} mentions {found:?}", file.display());
    }
}

#[test]
fn boundary_checks_catch_what_they_look_for() {
    assert_eq!(
        forbidden_tokens_in("let t = std::time::Instant::now();"),
        ["std::time", "Instant"]
    );
    assert_eq!(forbidden_tokens_in("tokio::spawn(async {});"), ["tokio"]);
    let manifest = "[package]\nname = \"x\"\n\n[dependencies]\nnom = \"8\"\n\n[dev-dependencies]\nproptest = \"1\"\n";
    assert_eq!(dependency_entries(manifest), ["nom = \"8\""]);
    assert_eq!(
        dependency_entries("[dependencies.serde]\nversion = \"1\"\n").len(),
        2
    );
}
