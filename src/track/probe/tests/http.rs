//! The HTTP(S) probe against python's http.server, plain and over TLS with a certificate chain
//! `openssl` makes at test time.

use std::time::Duration;

use super::*;
use crate::track::probe::HttpProbe;

/// python's http.server, over TLS when given a certificate: `web.py DIR BIND PORT [CHAIN KEY]`.
/// A deep backlog and the TLS handshake in the connection's thread (not in accept) let the
/// memory test open a hundred connections at once.
const WEB_SERVER: &str = "\
import functools, http.server, socket, ssl, sys
directory, bind, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6 if ':' in bind else socket.AF_INET
    request_queue_size = 256
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
server = Server((bind, port), handler)
if len(sys.argv) > 4:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[4], sys.argv[5])
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
server.serve_forever()
";

pub(super) fn get(url: &str) -> HttpProbe {
    HttpProbe::new(url)
}

pub(super) fn spec(probe: HttpProbe) -> ProbeSpec {
    ProbeSpec::HttpGet(probe)
}

/// A document root with `healthz` ("status: ok") and `big` (the word "ok" only after 64 KiB).
pub(super) fn document_root() -> Scratch {
    let scratch = Scratch::new();
    std::fs::write(scratch.path().join("healthz"), "status: ok\n").unwrap();
    let mut big = vec![b'x'; 70 * 1024];
    big.extend_from_slice(b"ok");
    std::fs::write(scratch.path().join("big"), big).unwrap();
    scratch
}

/// The web server on `bind` port 8080, serving `root`.
pub(super) fn start_web_server(
    ns: &TestNs,
    root: &Scratch,
    python: &str,
    bind: &str,
    log: &str,
) -> Server {
    let (dir, script) = (
        root.path().to_string_lossy().into_owned(),
        root.file("web.py"),
    );
    std::fs::write(&script, WEB_SERVER).unwrap();
    Server::start(ns, root, log, python, &[&script, &dir, bind, "8080"])
}

#[test]
fn http_probe_checks_status_and_body_and_names_each_failure() {
    let python = tool("python3", "apt-get install python3");
    let ns = lab();
    let root = document_root();
    let _v4 = start_web_server(&ns, &root, &python, "127.0.0.1", "web4.log");
    let _v6 = start_web_server(&ns, &root, &python, "::1", "web6.log");
    let _silent = Server::start(
        &ns,
        &root,
        "silent.log",
        &python,
        &["-c", SILENT_LISTENER, "127.0.0.1", "8090"],
    );
    within(&ns, Duration::from_secs(40), || async {
        wait_until_passes(&ProbeSpec::TcpConnect("127.0.0.1:8080".parse().unwrap())).await;
        wait_until_passes(&ProbeSpec::TcpConnect("[::1]:8080".parse().unwrap())).await;
        wait_until_passes(&ProbeSpec::TcpConnect("127.0.0.1:8090".parse().unwrap())).await;

        for url in [
            "http://127.0.0.1:8080/healthz",
            "http://localhost:8080/healthz",
            "http://[::1]:8080/healthz",
        ] {
            assert_eq!(run(&spec(get(url)), AMPLE).await, Ok(()), "{url}");
        }

        let missing = get("http://127.0.0.1:8080/missing");
        assert_eq!(
            run(&spec(missing.clone()), AMPLE).await,
            Err("HTTP 404".to_owned())
        );
        let also_404 = HttpProbe {
            expect_status: vec![200..=299, 404..=404],
            ..missing
        };
        assert_eq!(run(&spec(also_404), AMPLE).await, Ok(()));

        let with_body = |needle: &str, path: &str| HttpProbe {
            body_contains: Some(needle.to_owned()),
            ..get(&format!("http://127.0.0.1:8080/{path}"))
        };
        assert_eq!(run(&spec(with_body("ok", "healthz")), AMPLE).await, Ok(()));
        assert_eq!(
            run(&spec(with_body("ready", "healthz")), AMPLE).await,
            Err("body does not contain \"ready\"".to_owned())
        );
        assert_eq!(
            run(&spec(with_body("ok", "big")), AMPLE).await,
            Err("body does not contain \"ok\" in its first 64 KiB".to_owned())
        );
        assert_eq!(run(&spec(with_body("xxxx", "big")), AMPLE).await, Ok(()));

        assert_eq!(
            run(&spec(get("http://127.0.0.1:8081/healthz")), AMPLE).await,
            Err("connection refused".to_owned())
        );
        let timed_out = Err("timed out after 0.3 s".to_owned());
        let blackhole = format!("http://{BLACKHOLE_V4}/healthz");
        assert_eq!(run(&spec(get(&blackhole)), SHORT).await, timed_out);
        // Connected, request sent, no response ever: the one timeout bounds the whole run.
        let silent = get("http://127.0.0.1:8090/healthz");
        assert_eq!(run(&spec(silent), SHORT).await, timed_out);
    });
}

/// Makes, in directory `$1`, a CA and a server certificate it signs for 127.0.0.1 and localhost,
/// as kubeadm makes the kube-apiserver's: `chain.pem` (server, then CA) and `key.pem`.
const MAKE_CERTIFICATES: &str = "\
set -e
cd \"$1\"
ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'
openssl req -x509 $ec -days 2 -subj '/CN=vipd test CA' -keyout ca-key.pem -out ca.pem 2>/dev/null
openssl req $ec -subj /CN=localhost -keyout key.pem -out leaf.csr 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\\nsubjectAltName=IP:127.0.0.1,DNS:localhost\\n' >leaf.ext
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca-key.pem -days 2 -extfile leaf.ext -out leaf.pem
cat leaf.pem ca.pem >chain.pem
";

/// The TLS server on 127.0.0.1:8443 serving `root`, with a certificate chain made there.
pub(super) fn start_tls_server(ns: &TestNs, root: &Scratch, python: &str) -> Server {
    tool("openssl", "apt-get install openssl");
    let dir = root.path().to_string_lossy().into_owned();
    let made = ns.exec("sh", &["-c", MAKE_CERTIFICATES, "sh", &dir]);
    assert!(
        made.status.success(),
        "making certificates: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let (chain, key, script) = (
        root.file("chain.pem"),
        root.file("key.pem"),
        root.file("web.py"),
    );
    std::fs::write(&script, WEB_SERVER).unwrap();
    let args = [&script, &dir, "127.0.0.1", "8443", &chain, &key];
    Server::start(ns, root, "tls.log", python, &args)
}

#[test]
fn https_probe_verifies_certificates_unless_told_not_to() {
    let python = tool("python3", "apt-get install python3");
    let ns = lab();
    let root = document_root();
    let _tls = start_tls_server(&ns, &root, &python);
    let _plain = start_web_server(&ns, &root, &python, "127.0.0.1", "plain.log");
    within(&ns, Duration::from_secs(40), || async {
        let insecure = |url: &str| HttpProbe {
            tls_verify: false,
            body_contains: Some("ok".to_owned()),
            ..get(url)
        };
        wait_until_passes(&spec(insecure("https://127.0.0.1:8443/healthz"))).await;
        wait_until_passes(&ProbeSpec::TcpConnect("127.0.0.1:8080".parse().unwrap())).await;

        assert_eq!(
            run(&spec(insecure("https://127.0.0.1:8443/healthz")), AMPLE).await,
            Ok(())
        );
        assert_eq!(
            run(&spec(insecure("https://localhost:8443/healthz")), AMPLE).await,
            Ok(())
        );
        assert_eq!(
            run(&spec(insecure("https://127.0.0.1:8443/missing")), AMPLE).await,
            Err("HTTP 404".to_owned())
        );
        // Self-signed: no root vouches for it, whatever name it carries.
        for url in [
            "https://127.0.0.1:8443/healthz",
            "https://localhost:8443/healthz",
        ] {
            assert_eq!(
                run(&spec(get(url)), AMPLE).await,
                Err("TLS: invalid peer certificate: UnknownIssuer".to_owned()),
                "{url}"
            );
        }
        // TLS spoken to a plain HTTP server: the handshake fails, with a TLS reason.
        let verdict = run(&spec(insecure("https://127.0.0.1:8080/healthz")), AMPLE).await;
        assert!(
            verdict
                .as_ref()
                .is_err_and(|reason| reason.starts_with("TLS: ")),
            "{verdict:?}"
        );
        let timed_out = Err("timed out after 0.3 s".to_owned());
        let blackhole = format!("https://{BLACKHOLE_V4}/healthz");
        assert_eq!(run(&spec(insecure(&blackhole)), SHORT).await, timed_out);
    });
}
