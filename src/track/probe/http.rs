//! The HTTP(S) GET probe: one HTTP/1.1 request with `Connection: close` over a fresh connection,
//! the status checked against the expected ranges and, when asked, the first [`MAX_BODY`] bytes
//! of the body (de-chunked) searched for a substring. The body is read only when it is searched.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::tls::{self, PeerName};
use super::{io_reason, tcp, HttpProbe, MAX_BODY};

/// The longest response head read; a health endpoint's is a few hundred bytes.
const MAX_HEAD: usize = 16 * 1024;
/// Headers parsed; a response with more fails as malformed.
const MAX_HEADERS: usize = 64;
/// Read size: the buffer grows only as data arrives, so a short response (a health endpoint's
/// is a few hundred bytes) costs a short buffer.
const READ_CHUNK: usize = 1024;

/// Where and what to ask, from a URL.
struct Target {
    tls: bool,
    peer: PeerName,
    addr: SocketAddr,
    /// `Host` header value: the authority as written, port omitted when it is the default.
    host: String,
    path: String,
}

pub(super) fn validate(probe: &HttpProbe) -> Result<(), String> {
    parse_url(&probe.url)?;
    if probe.expect_status.is_empty() {
        return Err("expect_status lists no status".to_owned());
    }
    if let Some(range) = probe.expect_status.iter().find(|range| range.is_empty()) {
        return Err(format!(
            "status range {}-{} is empty",
            range.start(),
            range.end()
        ));
    }
    if probe.body_contains.as_deref() == Some("") {
        return Err("body_contains is empty".to_owned());
    }
    Ok(())
}

pub(super) async fn get(probe: &HttpProbe) -> Result<(), String> {
    let target = parse_url(&probe.url)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: vipd/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        target.path,
        target.host,
        env!("CARGO_PKG_VERSION")
    );
    let stream = tcp::open(target.addr).await?;
    if target.tls {
        let mut stream = tls::handshake(stream, &target.peer, probe.tls_verify).await?;
        exchange(&mut stream, request.as_bytes(), probe).await
    } else {
        let mut stream = stream;
        exchange(&mut stream, request.as_bytes(), probe).await
    }
}

async fn exchange<S>(stream: &mut S, request: &[u8], probe: &HttpProbe) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream
        .write_all(request)
        .await
        .map_err(|error| io_reason(&error))?;
    stream.flush().await.map_err(|error| io_reason(&error))?;

    let mut buffer = Vec::new();
    let (status, framing, head_len) = loop {
        if read_some(stream, &mut buffer, MAX_HEAD).await? == 0 {
            return Err(if buffer.is_empty() {
                "connection closed without a response".to_owned()
            } else {
                "connection closed within the response head".to_owned()
            });
        }
        if let Some(head) = parse_head(&buffer)? {
            break head;
        }
        if buffer.len() >= MAX_HEAD {
            return Err(format!("response head longer than {} KiB", MAX_HEAD / 1024));
        }
    };
    if !probe
        .expect_status
        .iter()
        .any(|range| range.contains(&status))
    {
        return Err(format!("HTTP {status}"));
    }
    let Some(needle) = probe.body_contains.as_deref() else {
        return Ok(());
    };

    let mut raw = buffer.split_off(head_len);
    drop(buffer);
    loop {
        let body = match framing {
            Framing::Empty => Some(Vec::new()),
            Framing::Length(length) if raw.len() >= length => {
                raw.truncate(length);
                Some(std::mem::take(&mut raw))
            }
            Framing::Chunked => match dechunk(&raw)? {
                (body, true) => Some(body),
                (_, false) => None,
            },
            Framing::Length(_) | Framing::UntilClose => None,
        };
        if let Some(body) = body {
            return search(&body, needle, false);
        }
        if raw.len() >= MAX_BODY || read_some(stream, &mut raw, MAX_BODY).await? == 0 {
            let body = match framing {
                Framing::Chunked => dechunk(&raw)?.0,
                _ => raw,
            };
            return search(&body, needle, true);
        }
    }
}

/// Reads once, appending to `buffer` without growing it past `limit`; 0 means end of stream.
/// A TLS peer closing without close_notify counts as the end: with `Connection: close` that is
/// how many servers end a body.
async fn read_some<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut Vec<u8>,
    limit: usize,
) -> Result<usize, String> {
    let start = buffer.len();
    let room = limit.saturating_sub(start).min(READ_CHUNK);
    if room == 0 {
        return Ok(0);
    }
    buffer.resize(start + room, 0);
    let read = stream.read(&mut buffer[start..]).await;
    let count = match read {
        Ok(count) => count,
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => 0,
        Err(error) => {
            buffer.truncate(start);
            return Err(io_reason(&error));
        }
    };
    buffer.truncate(start + count);
    Ok(count)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// 1xx, 204, 304: no body.
    Empty,
    Length(usize),
    Chunked,
    UntilClose,
}

/// The status, body framing and head length once `buffer` holds a whole response head.
fn parse_head(buffer: &[u8]) -> Result<Option<(u16, Framing, usize)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(format!("malformed HTTP response: {error}")),
    };
    let status = response.code.unwrap_or(0);
    if matches!(status, 100..=199 | 204 | 304) {
        return Ok(Some((status, Framing::Empty, head_len)));
    }
    let mut framing = Framing::UntilClose;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked is the last coding whenever it is used (RFC 9112 §6.1), and it wins over
            // any Content-Length (§6.3).
            let value = String::from_utf8_lossy(header.value);
            let last = value.rsplit(',').next().unwrap_or("").trim();
            if last.eq_ignore_ascii_case("chunked") {
                framing = Framing::Chunked;
            }
        } else if header.name.eq_ignore_ascii_case("content-length")
            && framing == Framing::UntilClose
        {
            let length = std::str::from_utf8(header.value)
                .ok()
                .and_then(|text| text.trim().parse::<usize>().ok())
                .ok_or_else(|| "malformed HTTP response: bad Content-Length".to_owned())?;
            framing = Framing::Length(length);
        }
    }
    Ok(Some((status, framing, head_len)))
}

/// Decodes a chunked body as far as `raw` goes: the data so far and whether the last chunk
/// was seen. Trailers are not read: the body is complete at the zero-size chunk.
fn dechunk(raw: &[u8]) -> Result<(Vec<u8>, bool), String> {
    let mut body = Vec::with_capacity(raw.len());
    let mut rest = raw;
    loop {
        let (size_len, size) = match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) => return Ok((body, false)),
            Err(_) => return Err("malformed HTTP response: bad chunk size".to_owned()),
        };
        if size == 0 {
            return Ok((body, true));
        }
        rest = &rest[size_len..];
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if rest.len() < size {
            body.extend_from_slice(rest);
            return Ok((body, false));
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size..];
        match rest {
            [b'\r', b'\n', after @ ..] => rest = after,
            [] | [b'\r'] => return Ok((body, false)),
            _ => return Err("malformed HTTP response: chunk without CRLF".to_owned()),
        }
    }
}

fn search(body: &[u8], needle: &str, cut_short: bool) -> Result<(), String> {
    let needle_bytes = needle.as_bytes();
    if needle_bytes.is_empty()
        || body
            .windows(needle_bytes.len())
            .any(|window| window == needle_bytes)
    {
        return Ok(());
    }
    if cut_short && body.len() >= MAX_BODY {
        Err(format!(
            "body does not contain {needle:?} in its first {} KiB",
            MAX_BODY / 1024
        ))
    } else {
        Err(format!("body does not contain {needle:?}"))
    }
}

fn parse_url(url: &str) -> Result<Target, String> {
    let bad = |why: &str| format!("URL {url:?}: {why}");
    let (tls, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
        (false, rest)
    } else if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
        (true, rest)
    } else {
        return Err(bad("must start with http:// or https://"));
    };
    let rest = rest.split('#').next().unwrap_or("");
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let path = match path {
        "" => "/".to_owned(),
        query if query.starts_with('?') => format!("/{query}"),
        path => path.to_owned(),
    };
    if path.bytes().any(|byte| byte <= b' ' || byte == 0x7f) {
        return Err(bad("the path has spaces or control characters"));
    }
    if authority.contains('@') {
        return Err(bad("user information is not supported"));
    }
    let (host, port) = split_host_port(authority).ok_or_else(|| bad("bad host or port"))?;
    let (peer, ip) = if host.eq_ignore_ascii_case("localhost") {
        (PeerName::Localhost, IpAddr::V4(Ipv4Addr::LOCALHOST))
    } else if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ip = v6
            .parse()
            .map_err(|_| bad("bad IPv6 address (zones are not supported)"))?;
        (PeerName::Ip(IpAddr::V6(ip)), IpAddr::V6(ip))
    } else {
        let ip = host
            .parse::<Ipv4Addr>()
            .map_err(|_| bad("the host must be an IP address or localhost"))?;
        (PeerName::Ip(IpAddr::V4(ip)), IpAddr::V4(ip))
    };
    let default_port = if tls { 443 } else { 80 };
    let port = match port {
        None => default_port,
        Some(text) => text.parse().map_err(|_| bad("bad port"))?,
    };
    let host = if port == default_port {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    };
    Ok(Target {
        tls,
        peer,
        addr: SocketAddr::new(ip, port),
        host,
        path,
    })
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// `host[:port]` or `[v6][:port]`; the port may be absent but not empty.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')? + 1;
        let (host, after) = authority.split_at(end);
        match after {
            "" => (host, None),
            port => (host, Some(port.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    (!host.is_empty() && port != Some("")).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_address_host_header_and_path() {
        let target = parse_url("https://[::1]:6443/healthz?verbose").unwrap();
        assert!(target.tls);
        assert_eq!(target.addr, "[::1]:6443".parse().unwrap());
        assert_eq!(target.host, "[::1]:6443");
        assert_eq!(target.path, "/healthz?verbose");
        assert!(matches!(target.peer, PeerName::Ip(IpAddr::V6(_))));

        let target = parse_url("HTTP://localhost").unwrap();
        assert!(!target.tls);
        assert_eq!(target.addr, "127.0.0.1:80".parse().unwrap());
        assert_eq!(target.host, "localhost");
        assert_eq!(target.path, "/");
        assert!(matches!(target.peer, PeerName::Localhost));

        let target = parse_url("http://192.0.2.1:80?x=1#frag").unwrap();
        assert_eq!(target.host, "192.0.2.1");
        assert_eq!(target.path, "/?x=1");
    }

    #[test]
    fn urls_outside_the_grammar_are_refused() {
        for url in [
            "ftp://127.0.0.1/",
            "http://example.com/",
            "http://127.0.0.1:/",
            "http://127.0.0.1:99999/",
            "http://user@127.0.0.1/",
            "http://[fe80::1%eth0]/",
            "http://[::1/",
            "http:///x",
            "http://127.0.0.1/a b",
        ] {
            assert!(parse_url(url).is_err(), "{url} was accepted");
        }
    }

    #[test]
    fn heads_give_status_and_framing() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(
            parse_head(head).unwrap(),
            Some((200, Framing::Length(2), head.len() - 2))
        );
        let head =
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        assert_eq!(parse_head(head).unwrap().unwrap().1, Framing::Chunked);
        let head = b"HTTP/1.0 503 Service Unavailable\r\n\r\n";
        assert_eq!(parse_head(head).unwrap().unwrap().1, Framing::UntilClose);
        let head = b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n";
        assert_eq!(parse_head(head).unwrap().unwrap().1, Framing::Empty);
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nServ").unwrap(), None);
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
    }

    #[test]
    fn chunked_bodies_decode_across_boundaries() {
        let raw = b"2\r\nok\r\n5;ext=1\r\n, tha\r\n3\r\nnks\r\n0\r\n\r\n";
        assert_eq!(dechunk(raw).unwrap(), (b"ok, thanks".to_vec(), true));
        // The needle spans two chunks: it must be found in the decoded body only.
        assert!(search(&dechunk(raw).unwrap().0, "k, th", false).is_ok());
        assert_eq!(dechunk(b"4\r\nhal").unwrap(), (b"hal".to_vec(), false));
        assert_eq!(dechunk(b"4\r\nhalf\r").unwrap(), (b"half".to_vec(), false));
        assert!(!dechunk(b"4\r\nha").unwrap().1);
        assert!(dechunk(b"zz\r\n").is_err());
        assert!(dechunk(b"2\r\nokXX").is_err());
    }

    #[test]
    fn search_says_when_the_body_was_cut() {
        assert_eq!(search(b"status: ok", "ok", false), Ok(()));
        assert_eq!(
            search(b"status: down", "ok", false),
            Err("body does not contain \"ok\"".to_owned())
        );
        let long = vec![b'x'; MAX_BODY];
        assert_eq!(
            search(&long, "ok", true),
            Err("body does not contain \"ok\" in its first 64 KiB".to_owned())
        );
    }
}
