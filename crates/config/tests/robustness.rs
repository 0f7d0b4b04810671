//! Hostile input never panics, hangs or overflows the stack: it is an error with a position.

use proptest::prelude::*;
use vipd_config::{parse_str, LoadError};

const VALID: &str = "\
global_defs:
  vrrp_version: 3
vrrp_instance:
  VI_gw:
    interface: eth0
    virtual_router_id: 60
    priority: 200
    advert_int: 0.1
    virtual_ipaddress: [192.0.2.3/24, 198.51.100.3/24 dev eth0 label eth0:dns]
    virtual_routes: [0.0.0.0/0 via 203.0.113.1 table 250]
    virtual_rules: [{to: all, lookup: 250, priority: 32770}]
vrrp_sync_group:
  G: {group: [VI_gw]}
";

/// Parses and, when rejected, checks every error has a position.
fn check(text: &str) {
    match parse_str(text, "f.yaml") {
        Ok(_) => {}
        Err(LoadError::Invalid { errors, .. }) => {
            assert!(!errors.is_empty());
            for e in errors {
                assert!(e.line >= 1 && e.col >= 1, "unpositioned: {e}");
            }
        }
        Err(e) => panic!("unexpected: {e}"),
    }
}

#[test]
fn the_base_document_is_valid() {
    parse_str(VALID, "f.yaml").unwrap();
}

#[test]
fn nasty_documents_are_errors_not_panics() {
    let deep_seq = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_map = "a: ".repeat(20_000) + "b";
    let laughs = "\
a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
vrrp_instance: {X: {virtual_ipaddress: *g}}
";
    let long_line = format!(
        "vrrp_instance: {{X: {{interface: {}}}}}",
        "e".repeat(1_000_000)
    );
    let inputs: Vec<String> = vec![
        String::new(),
        "~".into(),
        "[]".into(),
        "- a\n- b".into(),
        ":".into(),
        "{".into(),
        "\t".into(),
        "\u{0}\u{1}\u{2}".into(),
        "\u{feff}vrrp_instance: {}".into(),
        "&a [*a]".into(),
        "*undefined".into(),
        "!custom 5".into(),
        "vrrp_instance: !!binary aGVsbG8=".into(),
        "vrrp_instance:\n  ? [a, b]\n  : {interface: eth0}\n".into(),
        "vrrp_instance:\n  X:\n    priority: 1e999\n".into(),
        "vrrp_instance:\n  X:\n    priority: 99999999999999999999999999999999999999999\n".into(),
        "vrrp_instance:\n  X:\n    advert_int: .nan\n".into(),
        "vrrp_instance:\n  X:\n    advert_int: -.inf\n".into(),
        "vrrp_instance:\n  X:\n    advert_int: 1e308\n".into(),
        "vrrp_instance:\n  X:\n    virtual_ipaddress: [\"\", \" \", \"/\", \"::/\", \"1.2.3.4/\"]\n".into(),
        "vrrp_instance:\n  X:\n    virtual_routes: [\"to\", via, \"default\", \"blackhole\"]\n".into(),
        "vrrp_instance:\n  X:\n    virtual_rules: [\"\", from, \"fwmark 1/\", \"to all lookup 0\"]\n".into(),
        "base: &b {interface: eth0, virtual_router_id: 1}\nvrrp_instance:\n  X:\n    <<: *b\n".into(),
        "---\na: 1\n---\nb: 2\n".into(),
        "vrrp_instance: {X: {interface: eth0, interface: eth1}}".into(),
        deep_seq,
        deep_map,
        laughs.into(),
        long_line,
    ];
    for input in &inputs {
        check(input);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        check(&text);
    }

    #[test]
    fn arbitrary_yaml_like_text_never_panics(text in "[a-z_:\\[\\]{}\\-\\n ,.0-9/&*!|>'\"#]{0,300}") {
        check(&text);
    }

    /// A valid document with a few bytes replaced: the typical typo.
    #[test]
    fn mutated_valid_documents_never_panic(
        edits in proptest::collection::vec((0usize..VALID.len(), any::<char>()), 1..6)
    ) {
        let mut chars: Vec<char> = VALID.chars().collect();
        for (at, c) in edits {
            let at = at % chars.len();
            chars[at] = c;
        }
        check(&chars.into_iter().collect::<String>());
    }
}
