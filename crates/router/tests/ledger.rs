//! Keeps `docs/rfc9568.md` honest: every row has a proof, and every test it names exists as a
//! `#[test]` function somewhere under `crates/router/`.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

const PROOF_KINDS: &[&str] = &["test:", "wire:", "daemon:", "system:", "config:", "n/a:"];
const LEVELS: &[&str] = &[
    "MUST",
    "MUST NOT",
    "SHOULD",
    "SHOULD NOT",
    "MAY",
    "NOT RECOMMENDED",
    "BEHAVIOUR",
];

struct Row {
    id: String,
    level: String,
    requirement: String,
    proof: String,
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ledger_rows(text: &str) -> Vec<Row> {
    text.lines()
        .filter(|line| line.starts_with("| R-") || line.starts_with("| K-"))
        .map(|line| {
            let cells: Vec<&str> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            assert_eq!(cells.len(), 5, "a row has 5 cells: {line}");
            Row {
                id: cells[0].to_string(),
                level: cells[2].to_string(),
                requirement: cells[3].to_string(),
                proof: cells[4].to_string(),
            }
        })
        .collect()
}

/// Back-quoted names in a proof cell that look like function names.
fn named_functions(proof: &str) -> Vec<&str> {
    proof
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|name| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .collect()
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// Names of functions marked `#[test]` (directly, or with doc comments between).
fn test_functions(source: &str) -> HashSet<String> {
    let lines: Vec<&str> = source.lines().map(str::trim).collect();
    let mut names = HashSet::new();
    for (index, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix("fn ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let attributed = lines[..index]
            .iter()
            .rev()
            .take_while(|l| l.starts_with("#[") || l.starts_with("///"))
            .any(|l| *l == "#[test]");
        if attributed {
            names.insert(name);
        }
    }
    names
}

fn all_test_functions() -> HashSet<String> {
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches"] {
        rust_files(&crate_dir().join(dir), &mut files);
    }
    files
        .iter()
        .flat_map(|file| test_functions(&fs::read_to_string(file).expect("readable source")))
        .collect()
}

/// Every problem with the ledger, empty when it is sound.
fn ledger_problems(rows: &[Row], tests: &HashSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    for row in rows {
        if !ids.insert(row.id.clone()) {
            problems.push(format!("{}: duplicate id", row.id));
        }
        if !LEVELS.contains(&row.level.as_str()) {
            problems.push(format!("{}: unknown level {:?}", row.id, row.level));
        }
        if row.requirement.len() < 10 {
            problems.push(format!("{}: requirement missing", row.id));
        }
        let Some(kind) = PROOF_KINDS
            .iter()
            .find(|kind| row.proof.starts_with(**kind))
        else {
            problems.push(format!(
                "{}: proof must start with one of {PROOF_KINDS:?}",
                row.id
            ));
            continue;
        };
        let names = named_functions(&row.proof);
        if *kind == "test:" && names.is_empty() {
            problems.push(format!("{}: `test:` row names no test", row.id));
        }
        if *kind != "test:" && row.proof.len() < kind.len() + 10 {
            problems.push(format!("{}: `{kind}` row gives no reason", row.id));
        }
        for name in names {
            // Action names are quoted too; only snake_case names are test references.
            if name.contains('_') && !tests.contains(name) {
                problems.push(format!("{}: no #[test] fn {name} in crates/router", row.id));
            }
        }
    }
    problems
}

#[test]
fn rfc9568_ledger_names_only_existing_tests_and_every_row_has_a_proof() {
    let ledger = crate_dir().join("../../docs/rfc9568.md");
    let text = fs::read_to_string(&ledger).expect("docs/rfc9568.md exists");
    let rows = ledger_rows(&text);
    assert!(
        rows.len() >= 90,
        "the ledger covers §6–§8: only {} rows",
        rows.len()
    );
    for section in [
        "6.1", "6.2", "6.4.1", "6.4.2", "6.4.3", "7.1", "7.2", "8.1.2", "8.2.2", "8.3.2", "8.4.2",
    ] {
        assert!(
            rows.iter()
                .any(|r| r.id.starts_with(&format!("R-{section}-"))),
            "no row for §{section}"
        );
    }
    for erratum in ["7949", "8298", "8299", "8300", "8301"] {
        assert!(
            rows.iter().any(|r| r.id == format!("R-E{erratum}")),
            "erratum {erratum} missing"
        );
    }
    let problems = ledger_problems(&rows, &all_test_functions());
    assert!(
        problems.is_empty(),
        "ledger problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_state_machine_rule_of_6_4_is_proven_by_a_router_test() {
    let text = fs::read_to_string(crate_dir().join("../../docs/rfc9568.md")).unwrap();
    for row in ledger_rows(&text) {
        let state_machine_step = [
            "R-6.4.1-1",
            "R-6.4.1-2",
            "R-6.4.2-6",
            "R-6.4.2-7",
            "R-6.4.2-8",
            "R-6.4.2-9",
            "R-6.4.2-10",
            "R-6.4.3-8",
            "R-6.4.3-9",
            "R-6.4.3-10",
            "R-6.4.3-11",
            "R-6.4.3-12",
        ];
        if state_machine_step.contains(&row.id.as_str()) {
            assert!(
                row.proof.starts_with("test:"),
                "{} is the router's job",
                row.id
            );
        }
    }
}

#[test]
fn ledger_check_rejects_unknown_tests_and_missing_proofs() {
    let fake = "| R-1-1 | 1 | MUST | A requirement text. | test: `no_such_test_anywhere` |\n\
                | R-1-2 | 1 | MUST | Another requirement. | |\n\
                | R-1-3 | 1 | MUST | Third requirement here. | test: nothing quoted |\n\
                | R-1-4 | 1 | MUST | Fourth requirement here. | wire: |\n\
                | R-1-5 | 1 | MUST | Fifth requirement here. | test: `real_test` |";
    let rows = ledger_rows(fake);
    let known: HashSet<String> = ["real_test".to_string()].into();
    let problems = ledger_problems(&rows, &known);
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(problems[0].contains("no_such_test_anywhere"));
    let source = "#[test]\nfn counted() {}\nfn helper() {}\n/// doc\n#[test]\nfn documented() {}\n";
    let names = test_functions(source);
    assert!(names.contains("counted") && names.contains("documented") && !names.contains("helper"));
}
