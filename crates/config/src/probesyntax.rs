//! The targets of vipd's built-in checks written as text: `ADDR:PORT`, an `http(s)://` URL,
//! a status range, a DNS server, name and record type.
//!
//! Hosts are IP literals (or `localhost` in a URL): checking a file must not depend on DNS.
//! Hand-written rather than a URL crate because the accepted form is this narrow subset (no
//! host names, user info or fragments) and each refusal wants a message that says which part
//! is wrong; a general URL parser would accept what must be refused here.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;

use crate::model::DnsRecordType;

/// `ADDR:PORT`, IPv6 as `[ADDR]:PORT`; the port must not be 0.
pub fn parse_socket_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let addr: SocketAddr = text.parse().map_err(|_| {
        format!("\"{text}\" is not ADDRESS:PORT (e.g. 192.0.2.1:80 or [2001:db8::1]:80)")
    })?;
    if addr.port() == 0 {
        return Err(format!("\"{text}\": port 0 cannot be connected to"));
    }
    Ok(addr)
}

/// A DNS server: `ADDR`, `ADDR:PORT` or `[ADDR]:PORT` (IPv6 with a port); port default 53.
pub fn parse_dns_server(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    let addr: SocketAddr = text.parse().map_err(|_| {
        format!("\"{text}\" is not ADDRESS[:PORT] (e.g. 192.0.2.53, 192.0.2.53:5353 or [2001:db8::53]:5353)")
    })?;
    if addr.port() == 0 {
        return Err(format!("\"{text}\": port 0 cannot be queried"));
    }
    Ok(addr)
}

/// An `http://` or `https://` URL taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    pub tls: bool,
    /// As written: `192.0.2.1`, `[2001:db8::1]` or `localhost`.
    pub host: String,
    /// The address to connect to (`localhost` is 127.0.0.1) and the port (default 80 or 443).
    pub addr: SocketAddr,
    /// Path and query, `/` when absent.
    pub path: String,
}

/// `http(s)://HOST[:PORT][/PATH][?QUERY]` where HOST is an IP literal (IPv6 in brackets) or
/// `localhost`.
pub fn parse_http_url(text: &str) -> Result<HttpUrl, String> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    let (tls, rest) = if lower.starts_with("https://") {
        (true, &text["https://".len()..])
    } else if lower.starts_with("http://") {
        (false, &text["http://".len()..])
    } else {
        return Err(format!(
            "\"{text}\" is not a URL starting with http:// or https://"
        ));
    };
    if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "\"{text}\" contains {c:?}; a URL has no spaces or control characters (percent-encode them)"
        ));
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if tail.contains('#') {
        return Err(format!(
            "\"{text}\": a fragment (#...) is never sent to the server; remove it"
        ));
    }
    if authority.contains('@') {
        return Err(format!(
            "\"{text}\": a user name or password in the URL is not supported"
        ));
    }
    let (host, port_text) = split_host_port(authority)
        .ok_or_else(|| format!("\"{text}\": \"{authority}\" is not HOST[:PORT]"))?;
    let ip = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| format!("\"{text}\": \"{v6}\" is not an IPv6 address"))?
    } else {
        host.parse::<Ipv4Addr>().map(IpAddr::V4).map_err(|_| {
            format!(
                "\"{text}\": the host \"{host}\" is not an IP address or localhost (a check must not depend on DNS; IPv6 goes in brackets)"
            )
        })?
    };
    let port =
        match port_text {
            None => {
                if tls {
                    443
                } else {
                    80
                }
            }
            Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                format!("\"{text}\": port \"{p}\" is not a number from 1 to 65535")
            })?,
        };
    let path = if tail.is_empty() {
        "/".to_owned()
    } else if tail.starts_with('?') {
        format!("/{tail}")
    } else {
        tail.to_owned()
    };
    Ok(HttpUrl {
        tls,
        host: host.to_owned(),
        addr: SocketAddr::new(ip, port),
        path,
    })
}

/// `HOST[:PORT]`, with `[v6]` hosts; None when the shape is wrong.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (host, after) = authority.split_at(close + 1);
        match after {
            "" => Some((host, None)),
            _ => after.strip_prefix(':').map(|p| (host, Some(p))),
        }
    } else {
        match authority.split_once(':') {
            None if !authority.is_empty() => Some((authority, None)),
            Some((host, port)) if !host.is_empty() && !port.contains(':') => {
                Some((host, Some(port)))
            }
            _ => None,
        }
    }
}

/// An HTTP status code, 100–599.
pub fn check_status(code: i128) -> Result<u16, String> {
    u16::try_from(code)
        .ok()
        .filter(|c| (100..=599).contains(c))
        .ok_or_else(|| format!("{code} is not an HTTP status code (100–599)"))
}

/// `200` or `200-299`.
pub fn parse_status(text: &str) -> Result<RangeInclusive<u16>, String> {
    let text = text.trim();
    let code = |t: &str| {
        t.trim()
            .parse::<i128>()
            .map_err(|_| format!("\"{text}\" is not a status code or a range like 200-299"))
            .and_then(check_status)
    };
    match text.split_once('-') {
        None => code(text).map(|c| c..=c),
        Some((low, high)) => {
            let (low, high) = (code(low)?, code(high)?);
            if low > high {
                return Err(format!("\"{text}\": the range is empty ({low} > {high})"));
            }
            Ok(low..=high)
        }
    }
}

/// A domain name as a query asks for it, made absolute (a trailing dot added): no search list.
pub fn parse_dns_name(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text == "." {
        return Ok(".".to_owned());
    }
    let bare = text.strip_suffix('.').unwrap_or(text);
    if bare.is_empty() {
        return Err("a DNS name cannot be empty".to_owned());
    }
    if bare.len() > 253 {
        return Err(format!(
            "\"{text}\" is longer than a DNS name can be (253 characters)"
        ));
    }
    for label in bare.split('.') {
        if label.is_empty() {
            return Err(format!("\"{text}\" has an empty label (two dots in a row)"));
        }
        if label.len() > 63 {
            return Err(format!(
                "\"{text}\": the label \"{label}\" is longer than 63 characters"
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '*'))
        {
            return Err(format!(
                "\"{text}\" contains {c:?}; a DNS name has letters, digits, - and _ (internationalised names in their xn-- form)"
            ));
        }
    }
    Ok(format!("{bare}."))
}

/// A record type mnemonic, any case.
pub fn parse_record_type(text: &str) -> Result<DnsRecordType, String> {
    let text = text.trim();
    DnsRecordType::ALL
        .into_iter()
        .find(|t| t.name().eq_ignore_ascii_case(text))
        .ok_or_else(|| {
            let names: Vec<&str> = DnsRecordType::ALL.iter().map(|t| t.name()).collect();
            format!(
                "\"{text}\" is not a record type vipd asks for ({})",
                names.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> HttpUrl {
        parse_http_url(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn urls_with_ip_literals_and_localhost() {
        let u = url("https://127.0.0.1:6443/healthz");
        assert!(u.tls);
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.addr, "127.0.0.1:6443".parse().unwrap());
        assert_eq!(u.path, "/healthz");
        let u = url("http://[2001:db8::1]/a?b=c");
        assert_eq!(u.host, "[2001:db8::1]");
        assert_eq!(u.addr, "[2001:db8::1]:80".parse().unwrap());
        assert_eq!(u.path, "/a?b=c");
        let u = url("HTTP://localhost");
        assert_eq!(u.addr, "127.0.0.1:80".parse().unwrap());
        assert_eq!(u.path, "/");
        assert_eq!(url("https://[2001:db8::1]").addr.port(), 443);
        assert_eq!(url("http://192.0.2.1?x").path, "/?x");
    }

    #[test]
    fn url_refusals_name_the_part() {
        let cases = [
            ("ftp://192.0.2.1/", "http:// or https://"),
            ("http://example.org/", "not an IP address or localhost"),
            ("http://2001:db8::1/", "is not HOST[:PORT]"),
            ("http://[2001:db8::zz]/", "not an IPv6 address"),
            ("http://192.0.2.1:0/", "port \"0\""),
            ("http://192.0.2.1:99999/", "port \"99999\""),
            ("http://user@192.0.2.1/", "user name"),
            ("http://192.0.2.1/a b", "no spaces"),
            ("http://192.0.2.1/#top", "fragment"),
            ("http:///x", "is not HOST[:PORT]"),
        ];
        for (text, expected) in cases {
            let e = parse_http_url(text).unwrap_err();
            assert!(e.contains(expected), "{text}: {e}");
        }
    }

    #[test]
    fn socket_addresses_and_dns_servers() {
        assert_eq!(
            parse_socket_addr("[2001:db8::1]:443").unwrap(),
            "[2001:db8::1]:443".parse().unwrap()
        );
        assert!(parse_socket_addr("192.0.2.1")
            .unwrap_err()
            .contains("ADDRESS:PORT"));
        assert!(parse_socket_addr("192.0.2.1:0")
            .unwrap_err()
            .contains("port 0"));
        assert_eq!(
            parse_dns_server("2001:db8::53").unwrap(),
            "[2001:db8::53]:53".parse().unwrap()
        );
        assert_eq!(parse_dns_server("192.0.2.53:5353").unwrap().port(), 5353);
        assert!(parse_dns_server("ns1")
            .unwrap_err()
            .contains("ADDRESS[:PORT]"));
    }

    #[test]
    fn statuses_and_ranges() {
        assert_eq!(parse_status("204").unwrap(), 204..=204);
        assert_eq!(parse_status("200-299").unwrap(), 200..=299);
        assert!(parse_status("299-200").unwrap_err().contains("empty"));
        assert!(parse_status("600").unwrap_err().contains("100–599"));
        assert!(parse_status("2xx")
            .unwrap_err()
            .contains("range like 200-299"));
    }

    #[test]
    fn dns_names_and_types() {
        assert_eq!(parse_dns_name("example.org").unwrap(), "example.org.");
        assert_eq!(
            parse_dns_name("_sip._udp.example.org.").unwrap(),
            "_sip._udp.example.org."
        );
        assert_eq!(parse_dns_name(".").unwrap(), ".");
        assert!(parse_dns_name("a..b").unwrap_err().contains("empty label"));
        assert!(parse_dns_name(&"a".repeat(64)).unwrap_err().contains("63"));
        assert!(parse_dns_name("bad name").unwrap_err().contains("' '"));
        assert_eq!(parse_record_type("aaaa").unwrap(), DnsRecordType::Aaaa);
        assert!(parse_record_type("AXFR").unwrap_err().contains("A, AAAA"));
    }
}
