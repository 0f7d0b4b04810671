//! `vrrp_script` definitions: keepalived's script keywords, and vipd's own checks
//! (`tcp_connect`, `http_get`, `icmp_echo`, `dns_query`) in place of `script`.

use std::os::unix::fs::PermissionsExt;

use super::global::read_script_user;
use super::track::{read_weight, resolve_reverse, Defined, TrackDefs, TrackKind};
use super::{
    at, entries, found, items, read_bool, read_int, read_ip, read_seconds, read_string,
    read_string_node, seconds_to_us, unknown_key, At, Cx, Key,
};
use crate::keywords::Block;
use crate::model::*;
use crate::node::{Pos, Value};
use crate::probesyntax;

/// The keywords that say what a script checks; exactly one per script.
const CHECK_KEYWORDS: &[&str] = &[
    "script",
    "tcp_connect",
    "http_get",
    "icmp_echo",
    "dns_query",
];

/// Longest interval or timeout keepalived takes (its microsecond timers are 32 bits).
const MAX_SECONDS: f64 = 4294.0;

/// Reads every `vrrp_script` block, in file order, and enters each name in `defs`.
pub(super) fn read_scripts(cx: &mut Cx, blocks: &[Key], defs: &mut TrackDefs) -> Vec<VrrpScript> {
    let mut scripts = Vec::new();
    for block in blocks {
        let (script, weight, reverse) = read_script(cx, block);
        defs.scripts.push(Defined::new(block, weight, reverse));
        scripts.extend(script);
    }
    scripts
}

/// One script, and the weight and reverse references default to (read even when the script
/// itself is invalid, so that references are not reported a second time).
fn read_script(cx: &mut Cx, block: &Key) -> (Option<VrrpScript>, i16, bool) {
    let mut check_seen: Option<(String, Pos)> = None;
    let mut check: Option<Check> = None;
    let mut interval: Option<At<f64>> = None;
    let mut timeout: Option<At<f64>> = None;
    let mut weight = 0;
    let mut reverse_in_weight = None;
    let mut reverse_key = None;
    let mut rise = 1;
    let mut fall = 1;
    let mut user: Option<At<ScriptUser>> = None;
    let mut init_fail = false;
    for key in entries(cx, block.value, &block.path, block.pos) {
        let name = key.name.as_str();
        if CHECK_KEYWORDS.contains(&name) {
            if let Some((other, pos)) = &check_seen {
                cx.error(
                    key.pos,
                    &key.path,
                    format!(
                        "a vrrp_script has exactly one check, and {other} is already given (line {}); write a second vrrp_script",
                        pos.line
                    ),
                );
                continue;
            }
            check_seen = Some((key.name.clone(), key.pos));
            check = read_check(cx, &key);
            continue;
        }
        match name {
            "interval" => interval = read_seconds(cx, &key, 0.01, MAX_SECONDS).map(|v| at(v, &key)),
            "timeout" => timeout = read_seconds(cx, &key, 0.01, MAX_SECONDS).map(|v| at(v, &key)),
            "weight" => {
                if let Some((w, reverse)) = read_weight(cx, &key, TrackKind::Script.weight_limit())
                {
                    weight = w;
                    reverse_in_weight = Some(at(reverse, &key));
                }
            }
            "reverse" => reverse_key = read_bool(cx, &key).map(|v| at(v, &key)),
            "rise" => rise = read_count(cx, &key),
            "fall" => fall = read_count(cx, &key),
            "user" => user = read_script_user(cx, &key).map(|u| at(u, &key)),
            "init_fail" => init_fail = read_bool(cx, &key).unwrap_or(false),
            _ => unknown_key(cx, Block::Script, &key),
        }
    }
    let reverse = resolve_reverse(cx, reverse_in_weight, reverse_key);
    if check_seen.is_none() {
        cx.error(
            block.pos,
            &block.path,
            "a vrrp_script needs what it checks: script (a command), or one of vipd's own tcp_connect, http_get, icmp_echo, dns_query",
        );
    }
    let interval_us = interval
        .as_ref()
        .map_or(1_000_000, |i| seconds_to_us(i.value));
    let timeout_us = timeout
        .as_ref()
        .map_or(interval_us, |t| seconds_to_us(t.value));
    if let Some(t) = &timeout {
        if timeout_us > interval_us {
            cx.warn(
                t.pos,
                &t.path,
                format!(
                    "a run may take up to {} s but one starts every {} s, so runs can overlap (keepalived accepts this too)",
                    super::format_seconds(t.value),
                    super::format_seconds(interval_us as f64 / 1e6)
                ),
            );
        }
    }
    if let (Some(u), Some(c)) = (&user, &check) {
        if !matches!(c, Check::Script { .. }) {
            cx.warn(
                u.pos,
                &u.path,
                "has no effect: vipd runs its own checks itself, only a script runs as a user",
            );
        }
    }
    let script = check.map(|check| VrrpScript {
        name: block.name.clone(),
        check,
        interval_us,
        timeout_us,
        weight,
        reverse,
        rise,
        fall,
        user: user.map(|u| u.value),
        init_fail,
    });
    (script, weight, reverse)
}

/// `rise` / `fall`: at least 1 (keepalived's limit is its largest int).
fn read_count(cx: &mut Cx, key: &Key) -> u32 {
    read_int(cx, key, 1, i32::MAX.into())
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(1)
}

fn read_check(cx: &mut Cx, key: &Key) -> Option<Check> {
    match key.name.as_str() {
        "script" => {
            let command = read_string(cx, key)?;
            check_program(cx, key, &command);
            Some(Check::Script { command })
        }
        "tcp_connect" => {
            let text = read_string(cx, key)?;
            match probesyntax::parse_socket_addr(&text) {
                Ok(addr) => Some(Check::TcpConnect(addr)),
                Err(e) => {
                    cx.error(key.pos, &key.path, e);
                    None
                }
            }
        }
        "icmp_echo" => read_ip(cx, key.value, key.pos, &key.path).map(Check::IcmpEcho),
        "http_get" => read_http_get(cx, key).map(Check::HttpGet),
        "dns_query" => read_dns_query(cx, key).map(Check::DnsQuery),
        other => unreachable!("{other} is not in CHECK_KEYWORDS"),
    }
}

/// Warns when the program a script runs (its first word, if an absolute path) is missing or not
/// executable: keepalived would fail the check every time.
fn check_program(cx: &mut Cx, key: &Key, command: &str) {
    let Some(program) = program_of(command) else {
        return;
    };
    let problem = match std::fs::metadata(&program) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist".to_owned(),
        Err(e) => format!("cannot be examined ({e})"),
        Ok(m) if !m.is_file() => "is not a regular file".to_owned(),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => "is not executable".to_owned(),
        Ok(_) => return,
    };
    cx.warn(
        key.pos,
        &key.path,
        format!("{program} {problem}: the check fails on every run until it is fixed"),
    );
}

/// The first word of a command line when it is an absolute path, unquoted.
fn program_of(command: &str) -> Option<String> {
    let command = command.trim_start();
    let program = match command.chars().next()? {
        quote @ ('"' | '\'') => command[1..].split(quote).next()?,
        _ => command.split_whitespace().next()?,
    };
    program.starts_with('/').then(|| program.to_owned())
}

/// `http_get: {url, status, body_contains, tls_verify}`, or just the URL.
fn read_http_get(cx: &mut Cx, block: &Key) -> Option<HttpGet> {
    if let Value::Str(_) = block.value.value {
        let text = read_string(cx, block)?;
        return parse_url(cx, block, &text).map(|url| http_get(text, url));
    }
    let mut get = None;
    let mut status = None;
    let mut body_contains = None;
    let mut tls_verify: Option<At<bool>> = None;
    let mut url_seen = false;
    for key in entries(cx, block.value, &block.path, block.pos) {
        match key.name.as_str() {
            "url" => {
                url_seen = true;
                if let Some(text) = read_string(cx, &key) {
                    get = parse_url(cx, &key, &text).map(|url| http_get(text, url));
                }
            }
            "status" => status = read_status(cx, &key),
            "body_contains" => body_contains = read_string(cx, &key),
            "tls_verify" => tls_verify = read_bool(cx, &key).map(|v| at(v, &key)),
            _ => unknown_key(cx, Block::HttpGet, &key),
        }
    }
    if !url_seen {
        cx.error(
            block.pos,
            &block.path,
            "url is required (http:// or https://)",
        );
    }
    let mut get = get?;
    if let Some(t) = &tls_verify {
        if !get.tls {
            cx.warn(t.pos, &t.path, "has no effect with an http:// URL");
        }
        get.tls_verify = t.value;
    }
    if let Some(status) = status {
        get.status = status;
    }
    get.body_contains = body_contains;
    Some(get)
}

fn parse_url(cx: &mut Cx, key: &Key, text: &str) -> Option<probesyntax::HttpUrl> {
    match probesyntax::parse_http_url(text) {
        Ok(url) => Some(url),
        Err(e) => {
            cx.error(key.pos, &key.path, e);
            None
        }
    }
}

/// An `http_get` with the defaults: status 200, no body check, certificates verified.
fn http_get(text: String, url: probesyntax::HttpUrl) -> HttpGet {
    HttpGet {
        url: text.trim().to_owned(),
        tls: url.tls,
        host: url.host,
        addr: url.addr,
        path: url.path,
        status: vec![200..=200],
        body_contains: None,
        tls_verify: true,
    }
}

/// `status`: a code, a range `"200-299"`, or a list of those.
fn read_status(cx: &mut Cx, key: &Key) -> Option<Vec<std::ops::RangeInclusive<u16>>> {
    let mut ranges = Vec::new();
    let mut ok = true;
    for (path, item) in items(key) {
        let range = match &item.value {
            Value::Int(code) => probesyntax::check_status(*code).map(|c| c..=c),
            Value::Str(text) => probesyntax::parse_status(text),
            _ => Err(format!(
                "expected a status code or a range like \"200-299\", found {}",
                found(item)
            )),
        };
        match range {
            Ok(range) => ranges.push(range),
            Err(e) => {
                cx.error(item.pos, &path, e);
                ok = false;
            }
        }
    }
    if ranges.is_empty() && ok {
        cx.error(key.pos, &key.path, "at least one status code is needed");
        return None;
    }
    ok.then_some(ranges)
}

/// `dns_query: {server, name, type, expect_answer}`.
fn read_dns_query(cx: &mut Cx, block: &Key) -> Option<DnsQuery> {
    let mut server = None;
    let mut name = None;
    let mut record_type = Some(DnsRecordType::A);
    let mut expect_answer = true;
    let mut seen = (false, false);
    for key in entries(cx, block.value, &block.path, block.pos) {
        match key.name.as_str() {
            "server" => {
                seen.0 = true;
                server = read_parsed(cx, &key, probesyntax::parse_dns_server);
            }
            "name" => {
                seen.1 = true;
                name = read_parsed(cx, &key, probesyntax::parse_dns_name);
            }
            "type" => record_type = read_parsed(cx, &key, probesyntax::parse_record_type),
            "expect_answer" => expect_answer = read_bool(cx, &key).unwrap_or(true),
            _ => unknown_key(cx, Block::DnsQuery, &key),
        }
    }
    if !seen.0 {
        cx.error(
            block.pos,
            &block.path,
            "server is required (the address of the DNS server to ask)",
        );
    }
    if !seen.1 {
        cx.error(
            block.pos,
            &block.path,
            "name is required (the name to ask for)",
        );
    }
    Some(DnsQuery {
        server: server?,
        name: name?,
        record_type: record_type?,
        expect_answer,
    })
}

/// A string value through a parser whose error becomes the key's diagnostic.
fn read_parsed<T>(cx: &mut Cx, key: &Key, parse: impl Fn(&str) -> Result<T, String>) -> Option<T> {
    let text = read_string_node(cx, key.value, key.pos, &key.path)?;
    match parse(&text) {
        Ok(value) => Some(value),
        Err(e) => {
            cx.error(key.pos, &key.path, e);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::program_of;

    #[test]
    fn the_program_is_the_first_absolute_word() {
        assert_eq!(
            program_of("/usr/bin/check --fast").as_deref(),
            Some("/usr/bin/check")
        );
        assert_eq!(
            program_of("\"/opt/my checks/run\" x").as_deref(),
            Some("/opt/my checks/run")
        );
        assert_eq!(program_of("killall -0 haproxy"), None);
        assert_eq!(program_of("  "), None);
    }
}
