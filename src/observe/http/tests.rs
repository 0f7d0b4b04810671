//! Request parsing and limits without sockets, then the listener on real TCP inside a test
//! namespace (a slow client, 16+ connections, a taken port, an address not yet local).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::*;
use crate::observe::page::tests::sample;
use crate::system::testns::TestNs;

fn parsed(head: &str) -> Option<Result<Request, u16>> {
    parse_head(head.as_bytes()).map(|r| r.map_err(|answer| answer.status))
}

fn get(path: &str) -> Option<Result<Request, u16>> {
    Some(Ok(Request {
        method: Method::Get,
        path: path.to_owned(),
    }))
}

#[test]
fn parses_get_and_head_and_strips_the_query() {
    assert_eq!(
        parsed("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
        get("/metrics")
    );
    assert_eq!(parsed("GET /status?x=1 HTTP/1.0\r\n\r\n"), get("/status"));
    assert_eq!(
        parsed("HEAD / HTTP/1.1\r\n\r\n"),
        Some(Ok(Request {
            method: Method::Head,
            path: "/".into()
        }))
    );
    assert_eq!(
        parsed("GET /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
        get("/metrics")
    );
}

#[test]
fn an_incomplete_head_waits_for_more() {
    assert_eq!(parsed("GET /metrics HTTP/1.1\r\nHost: x\r\n"), None);
    assert_eq!(parsed("GE"), None);
}

#[test]
fn refuses_other_methods_bodies_and_garbage() {
    assert_eq!(parsed("POST /metrics HTTP/1.1\r\n\r\n"), Some(Err(405)));
    assert_eq!(parsed("DELETE / HTTP/1.1\r\n\r\n"), Some(Err(405)));
    assert_eq!(
        parsed("GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"),
        Some(Err(413))
    );
    assert_eq!(
        parsed("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Some(Err(413))
    );
    assert_eq!(
        parsed("GET / HTTP/1.1\r\nContent-Length: lots\r\n\r\n"),
        Some(Err(400))
    );
    assert_eq!(parsed("\u{1}\u{2}garbage\r\n\r\n"), Some(Err(400)));
    assert_eq!(parsed("GET * HTTP/1.1\r\n\r\n"), Some(Err(400)));
    assert_eq!(parsed("GET / HTTP/9.9\r\n\r\n"), Some(Err(400)));
}

#[test]
fn a_head_too_long_or_with_too_many_headers_is_431() {
    let long = format!("GET / HTTP/1.1\r\nX-Long: {}", "a".repeat(MAX_HEAD_BYTES));
    assert_eq!(parsed(&long[..MAX_HEAD_BYTES]), Some(Err(431)));
    assert_eq!(parsed(&long[..MAX_HEAD_BYTES - 1]), None, "one byte short");
    let many: String = (0..=MAX_HEADERS).map(|k| format!("X-{k}: 1\r\n")).collect();
    assert_eq!(
        parsed(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
        Some(Err(431))
    );
}

#[test]
fn answers_carry_length_type_and_close() {
    let answer = Answer {
        status: 200,
        content_type: METRICS_CONTENT_TYPE,
        body: Arc::new("keepalived_up 1\n".to_owned()),
        head_only: false,
    };
    let head = answer.head();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert!(head.contains("Content-Length: 16\r\n"));
    assert!(head.contains("Connection: close\r\n"));
    assert!(head.ends_with("\r\n\r\n"));
    let refused = Answer::error(405, "only GET and HEAD").head();
    assert!(refused.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
    assert!(refused.contains("Allow: GET, HEAD\r\n"));
    let busy = std::str::from_utf8(BUSY).unwrap();
    let (busy_head, busy_body) = busy.split_once("\r\n\r\n").unwrap();
    assert!(busy_head.contains(&format!("Content-Length: {}", busy_body.len())));
}

/// A stand-in for the event loop: answers snapshots with [`sample`] (after `snapshot_delay`, as
/// a busy loop would), settings from `settings`, and passes the listener's errors on.
struct FakeLoop {
    handle: mpsc::Sender<LoopRequest>,
    settings: tokio::sync::watch::Sender<Settings>,
    errors: mpsc::UnboundedReceiver<Option<String>>,
    snapshots: Arc<Mutex<u32>>,
    snapshot_delay: Arc<Mutex<Duration>>,
}

fn fake_loop(settings: Settings) -> FakeLoop {
    let (handle, mut requests) = mpsc::channel::<LoopRequest>(16);
    let (errors_tx, errors) = mpsc::unbounded_channel();
    let settings = tokio::sync::watch::Sender::new(settings);
    let snapshots = Arc::new(Mutex::new(0));
    let snapshot_delay = Arc::new(Mutex::new(Duration::ZERO));
    let (count, delay) = (snapshots.clone(), snapshot_delay.clone());
    tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            match request {
                LoopRequest::Snapshot(reply) => {
                    *count.lock().unwrap() += 1;
                    let delay = *delay.lock().unwrap();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = reply.send(sample());
                    });
                }
                LoopRequest::ListenerError(e) => {
                    let _ = errors_tx.send(e);
                }
            }
        }
    });
    FakeLoop {
        handle,
        settings,
        errors,
        snapshots,
        snapshot_delay,
    }
}

fn settings(listen: &str) -> Settings {
    Settings {
        listen: Some(listen.parse().unwrap()),
        families: Families::default(),
    }
}

/// Sends `request` and reads the whole answer (the server closes).
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("answered within 5 s")
        .expect("read");
    String::from_utf8(answer).expect("UTF-8 answer")
}

async fn wait_listening(addr: SocketAddr) {
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("nothing listens on {addr}");
}

#[test]
fn serves_the_three_pages_and_refuses_the_rest() {
    let ns = TestNs::create();
    ns.run(|| async {
        let addr: SocketAddr = "127.0.0.1:9165".parse().unwrap();
        let fake = fake_loop(settings("127.0.0.1:9165"));
        spawn(fake.settings.subscribe(), fake.handle.clone());
        wait_listening(addr).await;

        let metrics = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(metrics.starts_with("HTTP/1.1 200 OK\r\n"), "{metrics}");
        assert!(metrics.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
        assert!(metrics.contains("\r\n\r\n# HELP "), "{metrics}");
        assert!(metrics.contains("keepalived_up 1\n"));

        let status = exchange(addr, b"GET /status HTTP/1.1\r\n\r\n").await;
        assert!(
            status.contains("Content-Type: application/json\r\n"),
            "{status}"
        );
        let (_, body) = status.split_once("\r\n\r\n").unwrap();
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON body");
        assert_eq!(json["instances"][0]["name"], "VI_<1>");
        assert_eq!(json["instances"][0]["state"], "MASTER");

        let page = exchange(addr, b"GET / HTTP/1.1\r\n\r\n").await;
        assert!(page.contains("Content-Type: text/html; charset=utf-8\r\n"));
        assert!(page.contains("Content-Security-Policy: default-src 'none'"));
        assert!(page.contains("<h2>VI_&lt;1&gt;</h2>"));

        let head = exchange(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n").await;
        let (head_part, body) = head.split_once("\r\n\r\n").unwrap();
        assert!(head_part.starts_with("HTTP/1.1 200 OK"));
        let length = metrics.split_once("\r\n\r\n").unwrap().1.len();
        assert!(head_part.contains(&format!("Content-Length: {length}")));
        assert_eq!(body, "", "HEAD has no body");

        let missing = exchange(addr, b"GET /nope HTTP/1.1\r\n\r\n").await;
        assert!(
            missing.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{missing}"
        );
        let post = exchange(
            addr,
            b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
        )
        .await;
        assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
        let garbage = exchange(addr, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03").await;
        assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");
        // A head of 10 KiB: 431, and the answer arrives although the client sent more than
        // the server read.
        let long = format!("GET / HTTP/1.1\r\nX-Long: {}\r\n\r\n", "a".repeat(10_240));
        let too_long = exchange(addr, long.as_bytes()).await;
        assert!(too_long.starts_with("HTTP/1.1 431 "), "{too_long}");
    });
}

#[test]
fn a_slow_client_holds_only_its_own_connection() {
    let ns = TestNs::create();
    ns.run(|| async {
        let addr: SocketAddr = "127.0.0.1:9165".parse().unwrap();
        let fake = fake_loop(settings("127.0.0.1:9165"));
        spawn(fake.settings.subscribe(), fake.handle.clone());
        wait_listening(addr).await;
        let started = Instant::now();
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /metrics HTTP/1.1\r\nHost:")
            .await
            .unwrap();
        // Everyone else is served at once meanwhile.
        for _ in 0..5 {
            let answer = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
            assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "served beside the slow client in {:?}",
            started.elapsed()
        );
        // Trickling bytes does not extend its time: it gets 408 when READ_TIMEOUT is up.
        let mut answer = Vec::new();
        let read = async {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = slow.write_all(b" x").await;
            }
            let _ = slow.read_to_end(&mut answer).await;
        };
        tokio::time::timeout(READ_TIMEOUT + Duration::from_secs(2), read)
            .await
            .expect("the slow client is cut off after READ_TIMEOUT");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
        assert!(started.elapsed() >= READ_TIMEOUT - Duration::from_millis(100));
    });
}

#[test]
fn connections_beyond_the_limit_are_refused_and_a_freed_slot_serves_again() {
    let ns = TestNs::create();
    ns.run(|| async {
        let addr: SocketAddr = "127.0.0.1:9165".parse().unwrap();
        let fake = fake_loop(settings("127.0.0.1:9165"));
        spawn(fake.settings.subscribe(), fake.handle.clone());
        wait_listening(addr).await;
        // wait_listening's probe connection holds a slot until it is seen closed: let it go.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut idle = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
            idle.push(stream);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        for _ in 0..4 {
            let refused = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
            assert!(
                refused.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
                "{refused}"
            );
            assert!(refused.ends_with("too many connections\n"));
        }
        let mut first = idle.remove(0);
        first.write_all(b"\r\n").await.unwrap();
        let mut answer = Vec::new();
        first.read_to_end(&mut answer).await.unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 200 OK"));
        drop(first);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let served = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
        assert!(served.starts_with("HTTP/1.1 200 OK"), "{served}");
    });
}

#[test]
fn requests_arriving_together_share_one_snapshot() {
    let ns = TestNs::create();
    ns.run(|| async {
        let addr: SocketAddr = "127.0.0.1:9165".parse().unwrap();
        let fake = fake_loop(settings("127.0.0.1:9165"));
        *fake.snapshot_delay.lock().unwrap() = SHARE_WINDOW * 3 / 4;
        spawn(fake.settings.subscribe(), fake.handle.clone());
        wait_listening(addr).await;
        let answers = futures::future::join_all(
            (0..8).map(|_| exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n")),
        )
        .await;
        assert!(answers.iter().all(|a| a.starts_with("HTTP/1.1 200 OK")));
        let asked = *fake.snapshots.lock().unwrap();
        assert!((1..8).contains(&asked), "{asked} snapshots for 8 requests");
        // One after the other, each gets its own.
        for _ in 0..3 {
            tokio::time::sleep(SHARE_WINDOW * 2).await;
            exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
        }
        assert_eq!(*fake.snapshots.lock().unwrap(), asked + 3);
    });
}

#[test]
fn a_taken_port_or_a_foreign_address_is_reported_and_retried() {
    let ns = TestNs::create();
    let ns_name = ns.name().to_owned();
    ns.run(move || async move {
        let addr: SocketAddr = "127.0.0.1:9165".parse().unwrap();
        let squatter = std::net::TcpListener::bind(addr).unwrap();
        let mut fake = fake_loop(settings("127.0.0.1:9165"));
        spawn(fake.settings.subscribe(), fake.handle.clone());
        let error = fake.errors.recv().await.unwrap().expect("an error");
        assert!(error.starts_with(ERROR_PREFIX), "{error}");
        assert!(error.contains("127.0.0.1:9165"), "{error}");
        assert!(
            error.contains("another program listens on that port"),
            "{error}"
        );
        assert!(error.contains("retrying every 5 s"), "{error}");
        drop(squatter);
        let cleared = tokio::time::timeout(RETRY_INTERVAL * 2, fake.errors.recv())
            .await
            .expect("retried within RETRY_INTERVAL");
        assert_eq!(cleared, Some(None), "the error is cleared once it listens");
        wait_listening(addr).await;

        // A reload moves it to an address the machine does not have yet.
        let foreign: SocketAddr = "192.0.2.7:9165".parse().unwrap();
        fake.settings.send_replace(settings("192.0.2.7:9165"));
        // Pushed, not polled: at once, not within RETRY_INTERVAL.
        let error = tokio::time::timeout(Duration::from_secs(1), fake.errors.recv())
            .await
            .expect("the new settings applied at once")
            .unwrap()
            .expect("an error");
        assert!(
            error.contains("the address is not on this machine"),
            "{error}"
        );
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the old address is closed"
        );
        let out = std::process::Command::new("ip")
            .args(["-n", &ns_name, "addr", "add", "192.0.2.7/32", "dev", "lo"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let cleared = tokio::time::timeout(RETRY_INTERVAL * 2, fake.errors.recv())
            .await
            .expect("retried");
        assert_eq!(cleared, Some(None));
        let answer = exchange(foreign, b"GET /metrics HTTP/1.1\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");

        // Off: nothing listens, and no error.
        fake.settings.send_replace(Settings {
            listen: None,
            families: Families::default(),
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            TcpStream::connect(foreign).await.is_err(),
            "off closes it at once"
        );
        assert!(fake.errors.try_recv().is_err(), "no error for off");
    });
}

#[tokio::test(flavor = "current_thread")]
async fn a_panicking_render_fails_alone() {
    let renderer = RenderThread::default();
    assert_eq!(
        renderer.run(|| -> u32 { panic!("a renderer bug") }).await,
        None
    );
    assert_eq!(renderer.run(|| 7).await, Some(7), "the thread survives");
}

#[tokio::test(flavor = "current_thread")]
async fn nothing_keeps_a_body_once_it_is_sent() {
    let fake = fake_loop(settings("127.0.0.1:9165"));
    let server = Server::new(fake.handle.clone());
    let body = server
        .rendered(Page::Html, Families::default())
        .await
        .expect("rendered");
    assert!(body.contains("<h2>VI_&lt;1&gt;</h2>"));
    let weak = Arc::downgrade(&body);
    drop(body);
    assert!(
        weak.upgrade().is_none(),
        "the page is freed with its last request"
    );
    let again = server.rendered(Page::Html, Families::default()).await;
    assert!(again.is_ok());
    assert_eq!(*fake.snapshots.lock().unwrap(), 2, "each render asks anew");
}
