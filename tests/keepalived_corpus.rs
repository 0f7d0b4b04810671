//! The public keepalived.conf corpus (`../shared/keepalived-corpus`, read at test time, never
//! copied here): every file either imports into YAML that `vipd check` accepts, or is refused
//! with `file:line`; no panic, under 100 ms each. For each imported file, facts read from the
//! original by a small extractor of its own (not the front end) — per instance its VRID,
//! priority, VIPs, unicast peers, tracked scripts and advert interval — must match the import.
//! Prints a per-file table (run with `-- --nocapture` to see it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use vipd_config::keepalived::{self, import, Options};
use vipd_config::LoadError;

fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/keepalived-corpus");
    assert!(
        dir.is_dir(),
        "the keepalived corpus is missing: expected it at {} (../shared/keepalived-corpus beside the repository)",
        dir.display()
    );
    dir
}

/// What the extractor reads from one vrrp_instance.
#[derive(Debug, PartialEq)]
struct Facts {
    name: String,
    vrid: u8,
    priority: u8,
    vips: Vec<String>,
    peers: Vec<String>,
    scripts: Vec<String>,
    advert_us: u64,
}

/// Statements of a keepalived.conf: comments cut, split at newlines and braces.
fn statements(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split(['#', '!']).next().unwrap_or_default();
        let spaced = code.replace('{', "\n{\n").replace('}', "\n}\n");
        for part in spaced.lines() {
            let words: Vec<String> = part
                .split_whitespace()
                .map(|w| w.trim_matches('"').to_owned())
                .collect();
            if !words.is_empty() {
                out.push(words);
            }
        }
    }
    out
}

fn address(word: &str) -> String {
    word.split(['/', '-']).next().unwrap_or_default().to_owned()
}

/// Reads the facts the way keepalived 2.2.7 documents them: priority 1–255 (default 100, or
/// 255 for a MASTER without one), advert_int in seconds (default 1), VIPs and peers one per
/// line of their block, tracked scripts that a vrrp_script defines.
fn extract(text: &str) -> Vec<Facts> {
    let st = statements(text);
    let scripts: BTreeSet<String> = st
        .iter()
        .filter(|s| s[0] == "vrrp_script" && s.len() > 1)
        .map(|s| s[1].clone())
        .collect();
    let mut facts = Vec::new();
    let mut i = 0;
    while i < st.len() {
        if st[i][0] != "vrrp_instance" || st[i].len() < 2 {
            i += 1;
            continue;
        }
        let name = st[i][1].clone();
        let (mut vrid, mut priority, mut state, mut advert) =
            (0u8, None, String::new(), 1_000_000u64);
        let (mut vips, mut peers, mut tracked) = (Vec::new(), Vec::new(), Vec::new());
        let mut depth = 0;
        i += 1;
        let mut list: Option<String> = None;
        while i < st.len() {
            let s = &st[i];
            i += 1;
            match s[0].as_str() {
                "{" => {
                    depth += 1;
                    continue;
                }
                "}" => {
                    depth -= 1;
                    list = None;
                    if depth == 0 {
                        break;
                    }
                    continue;
                }
                _ => {}
            }
            if let Some(kind) = &list {
                match kind.as_str() {
                    "virtual_ipaddress" => vips.push(address(&s[0])),
                    "unicast_peer" => peers.push(address(&s[0])),
                    "track_script" if scripts.contains(&s[0]) => tracked.push(s[0].clone()),
                    _ => {}
                }
                continue;
            }
            let arg = s.get(1).cloned().unwrap_or_default();
            match s[0].as_str() {
                "virtual_router_id" => vrid = arg.parse().unwrap_or(0),
                "priority" => {
                    priority = Some(arg.parse::<u8>().ok().filter(|p| *p >= 1).unwrap_or(100))
                }
                "state" => state = arg,
                "advert_int" => {
                    if let Ok(secs) = arg.parse::<f64>() {
                        advert = (secs * 1e6).round() as u64;
                    }
                }
                kind @ ("virtual_ipaddress" | "unicast_peer" | "track_script") => {
                    list = Some(kind.to_owned())
                }
                _ => {}
            }
        }
        let priority = priority.unwrap_or(if state == "MASTER" { 255 } else { 100 });
        facts.push(Facts {
            name,
            vrid,
            priority,
            vips,
            peers,
            scripts: tracked,
            advert_us: advert,
        });
    }
    facts
}

fn facts_of(config: &vipd_config::Config) -> Vec<Facts> {
    config
        .instances
        .iter()
        .map(|i| Facts {
            name: i.name.clone(),
            vrid: i.vrid,
            priority: i.priority,
            vips: i.vips.iter().map(|v| v.addr.to_string()).collect(),
            peers: i.unicast_peers.iter().map(ToString::to_string).collect(),
            scripts: i.track_scripts.iter().map(|t| t.name.clone()).collect(),
            advert_us: i.advert_interval_us,
        })
        .collect()
}

#[test]
fn every_corpus_file_imports_or_is_refused_with_its_line() {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .conf file in {}", dir.display());
    let scratch = std::env::temp_dir().join(format!("vipd-kconf-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let options = Options {
        config_id: Some("corpus".into()),
        ..Default::default()
    };
    let (mut imported, mut refused) = (0, 0);
    let mut failures = Vec::new();
    println!("{:<10} {:<9} {:>7}  detail", "file", "result", "ms");
    for path in &files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let name = path.display().to_string();
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(|| {
            let parsed = keepalived::parse(&text, &name, &options);
            import::to_yaml(&parsed, &name, "corpus")
        });
        let took = started.elapsed();
        if took > Duration::from_millis(100) {
            failures.push(format!("{file}: took {took:?}"));
        }
        let ms = took.as_secs_f64() * 1e3;
        match outcome {
            Err(_) => failures.push(format!("{file}: panicked")),
            Ok(Ok(done)) => {
                imported += 1;
                let yaml_path = scratch.join(format!("{file}.yaml"));
                std::fs::write(&yaml_path, &done.yaml).unwrap();
                let check = Command::new(env!("CARGO_BIN_EXE_vipd"))
                    .arg("check")
                    .arg("-c")
                    .arg(&yaml_path)
                    .output()
                    .unwrap();
                if !check.status.success() {
                    failures.push(format!(
                        "{file}: vipd check refuses the import: {}",
                        String::from_utf8_lossy(&check.stderr)
                    ));
                }
                let config = vipd_config::parse_str(&done.yaml, "import.yaml")
                    .unwrap()
                    .config;
                let expected = extract(&text);
                let got = facts_of(&config);
                if expected != got {
                    failures.push(format!(
                        "{file}: facts differ\n  original: {expected:?}\n  imported: {got:?}"
                    ));
                }
                let summary: Vec<String> = got
                    .iter()
                    .map(|f| format!("{} vrid {} prio {}", f.name, f.vrid, f.priority))
                    .collect();
                println!(
                    "{file:<10} {:<9} {ms:>7.1}  {} instance(s): {}; {} warning(s)",
                    "imported",
                    got.len(),
                    summary.join(", "),
                    done.warnings.len()
                );
            }
            Ok(Err(LoadError::Invalid { errors, .. })) => {
                refused += 1;
                let first = &errors[0];
                if let Some(bad) = errors.iter().find(|e| e.line == 0 || e.file.is_empty()) {
                    failures.push(format!("{file}: refused without file:line: {bad}"));
                }
                println!(
                    "{file:<10} {:<9} {ms:>7.1}  {file}:{}: {}",
                    "refused", first.line, first.message
                );
            }
            Ok(Err(e)) => failures.push(format!("{file}: unreadable? {e}")),
        }
    }
    println!(
        "{imported} imported, {refused} refused, {} files",
        files.len()
    );
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(imported > refused, "most of the corpus must import");
}

#[test]
fn the_extractor_reads_what_it_claims() {
    let text = "vrrp_script chk {\n script x\n}\nvrrp_instance A {\n state MASTER\n virtual_router_id 7\n advert_int 2\n virtual_ipaddress {\n  192.0.2.1/24 dev eth0\n }\n unicast_peer {\n  192.0.2.2\n }\n track_script {\n  chk\n  nope\n }\n}\nvrrp_instance B {\n priority 50 ! c\n virtual_router_id 8\n}\n";
    let facts = extract(text);
    assert_eq!(facts.len(), 2);
    assert_eq!(
        facts[0],
        Facts {
            name: "A".into(),
            vrid: 7,
            priority: 255,
            vips: vec!["192.0.2.1".into()],
            peers: vec!["192.0.2.2".into()],
            scripts: vec!["chk".into()],
            advert_us: 2_000_000
        }
    );
    assert_eq!(
        (facts[1].priority, facts[1].vrid, facts[1].advert_us),
        (50, 8, 1_000_000)
    );
}
