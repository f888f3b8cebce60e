//! `atls proxy server` and `atls proxy client` as real processes, with a
//! backend and local clients in the test: PROXY v2 TLVs, HTTP headers,
//! refusals before the backend, SIGTERM drain, config file, JSON logs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use attested_tls_proxy::proxy_v2;

fn atls() -> Command {
    Command::new(env!("CARGO_BIN_EXE_atls"))
}

/// A running proxy process (killed on drop), its address, its metrics
/// address, and the file its stderr goes to.
struct Proxy {
    child: Child,
    addr: SocketAddr,
    metrics: Option<SocketAddr>,
    log: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The exit code, waiting at most `secs` (a bound, not a timing check).
    fn wait_exit(&mut self, secs: u64) -> Option<i32> {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
}

/// Starts `atls proxy ARGS --json` and reads its listening line.
fn proxy(dir: &Path, name: &str, args: &[&str]) -> Proxy {
    let log = dir.join(format!("{name}.log"));
    let child = atls()
        .arg("proxy")
        .args(args)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut p = Proxy {
        child,
        addr: "0.0.0.0:0".parse().unwrap(),
        metrics: None,
        log,
    };
    let mut line = String::new();
    BufReader::new(p.child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(!line.is_empty(), "no listening line; stderr:\n{}", p.log());
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["event"], "listening", "{line}");
    p.addr = v["addr"].as_str().unwrap().parse().unwrap();
    p.metrics = v["metrics"].as_str().map(|m| m.parse().unwrap());
    p
}

/// Two simulated worlds (different roots): `a` trusted, `b` not.
fn worlds() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    for w in ["a", "b"] {
        let ok = atls()
            .args(["sim", "init", "--dir"])
            .arg(tmp.path().join(w))
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    (tmp, a, b)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn backend() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap().to_string();
    (l, a)
}

fn timeouts(s: &TcpStream) {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
}

fn accept(l: &TcpListener) -> TcpStream {
    let (s, _) = l.accept().unwrap();
    timeouts(&s);
    s
}

fn read_proxy_header(s: &mut TcpStream) -> proxy_v2::ProxyHeader {
    let mut buf = vec![0u8; 16];
    s.read_exact(&mut buf).unwrap();
    let len = u16::from_be_bytes([buf[14], buf[15]]) as usize;
    buf.resize(16 + len, 0);
    s.read_exact(&mut buf[16..]).unwrap();
    proxy_v2::decode(&buf).unwrap().0
}

fn summary(h: &proxy_v2::ProxyHeader) -> serde_json::Value {
    let v = h.tlv(proxy_v2::TLV_ATLS_SUMMARY).unwrap();
    assert_eq!(v[0], proxy_v2::SUMMARY_VERSION);
    serde_json::from_slice(&v[1..]).unwrap()
}

fn local(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    timeouts(&s);
    s
}

fn get_metrics(addr: SocketAddr) -> String {
    let mut s = local(addr);
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn proxy_pair_mutual_with_proxy_v2_and_metrics() {
    let (tmp, a, _) = worlds();
    let (bl, baddr) = backend();
    let policy = a.join("policy.toml");
    let server = proxy(
        tmp.path(),
        "server",
        &[
            "server",
            "--listen",
            "127.0.0.1:0",
            "--backend",
            &baddr,
            "--backend-protocol",
            "proxy-v2",
            "--attester",
            "sim",
            "--sim-instance",
            s(&a.join("instance-0.toml")),
            "--policy",
            s(&policy),
        ],
    );
    let upstream = server.addr.to_string();
    let client = proxy(
        tmp.path(),
        "client",
        &[
            "client",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &upstream,
            "--policy",
            s(&policy),
            "--attester",
            "sim",
            "--sim-instance",
            s(&a.join("instance-1.toml")),
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    let mut l = local(client.addr);
    l.write_all(b"hello").unwrap();
    let mut be = accept(&bl);
    let h = read_proxy_header(&mut be);
    let v = summary(&h);
    assert_eq!(v["status"], "affirming", "{v}");
    assert_eq!(v["mode"], "expat");
    assert_eq!(h.destination, server.addr);
    assert!(h.tlv(proxy_v2::TLV_ATLS_EAR).is_some());
    let mut buf = [0u8; 5];
    be.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    be.write_all(b"world").unwrap();
    l.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"world");
    let m = get_metrics(client.metrics.unwrap());
    assert!(
        m.contains("atls_proxy_connections_total{side=\"client\",result=\"accepted\"} 1\n"),
        "{m}"
    );
    assert!(m.contains("atls_proxy_active_connections{side=\"client\"} 1\n"), "{m}");
    assert!(
        m.contains("atls_proxy_handshake_seconds_count{side=\"client\"} 1\n"),
        "{m}"
    );
}

/// Guards fail-closed refusals in both directions: an untrusted client
/// never reaches the server side's backend, and the client side forwards
/// nothing to a server it does not trust. Logs are JSON lines naming the
/// peer and the outcome.
#[test]
fn refused_peers_never_reach_the_backend_and_the_reason_is_logged() {
    let (tmp, a, b) = worlds();
    let (bl, baddr) = backend();
    bl.set_nonblocking(true).unwrap();
    let server = proxy(
        tmp.path(),
        "server",
        &[
            "server",
            "--backend",
            &baddr,
            "--attester",
            "sim",
            "--sim-instance",
            s(&a.join("instance-0.toml")),
            "--policy",
            s(&a.join("policy.toml")),
            "--log-format",
            "json",
        ],
    );
    let upstream = server.addr.to_string();
    // A client side attesting with an instance of the other world.
    let untrusted_client = proxy(
        tmp.path(),
        "untrusted-client",
        &[
            "client",
            "--upstream",
            &upstream,
            "--policy",
            s(&a.join("policy.toml")),
            "--attester",
            "sim",
            "--sim-instance",
            s(&b.join("instance-0.toml")),
        ],
    );
    // A client side that does not trust the server (and that the server
    // would accept).
    let distrusting_client = proxy(
        tmp.path(),
        "distrusting-client",
        &[
            "client",
            "--upstream",
            &upstream,
            "--policy",
            s(&b.join("policy.toml")),
            "--attester",
            "sim",
            "--sim-instance",
            s(&a.join("instance-1.toml")),
            "--log-format",
            "json",
        ],
    );
    for c in [&untrusted_client, &distrusting_client] {
        let mut l = local(c.addr);
        let _ = l.write_all(b"secret");
        let mut got = Vec::new();
        let r = l.read_to_end(&mut got);
        assert!(matches!(r, Ok(0) | Err(_)), "{r:?} {got:?}");
    }
    assert!(
        matches!(bl.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the backend was contacted"
    );
    // The server side logged the refusal of the untrusted client.
    let found = |p: &Proxy, outcome: &str| {
        p.log().lines().any(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .is_ok_and(|v| v["outcome"] == outcome && v["peer"].is_string() && v["reason"] == "policy")
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !(found(&server, "refused") && found(&distrusting_client, "refused")) {
        assert!(
            std::time::Instant::now() < deadline,
            "no refusal logged:\n{}\n{}",
            server.log(),
            distrusting_client.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for line in server.log().lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
    }
}

/// Reads one request head from `s` and answers 200 with it as the body.
fn echo_http_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1);
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{head}", head.len()).unwrap();
    head
}

#[test]
fn http_backend_gets_peer_headers_and_never_the_clients_own() {
    let (tmp, a, _) = worlds();
    let (bl, baddr) = backend();
    let server = proxy(
        tmp.path(),
        "server",
        &[
            "server",
            "--backend",
            &baddr,
            "--backend-protocol",
            "http",
            "--attester",
            "sim",
            "--sim-instance",
            s(&a.join("instance-0.toml")),
            "--policy",
            s(&a.join("policy.toml")),
        ],
    );
    let upstream = server.addr.to_string();
    let client = proxy(
        tmp.path(),
        "client",
        &[
            "client",
            "--upstream",
            &upstream,
            "--policy",
            s(&a.join("policy.toml")),
            "--attester",
            "sim",
            "--sim-instance",
            s(&a.join("instance-1.toml")),
        ],
    );
    let mut l = local(client.addr);
    l.write_all(b"GET /ga4gh/tes/v1/tasks HTTP/1.1\r\nHost: tes\r\natls-peer-status: affirming\r\nAtls-Peer-Measurement: ffff\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut be = accept(&bl);
    let head = echo_http_head(&mut be).to_ascii_lowercase();
    let mut resp = String::new();
    l.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
    assert_eq!(head.matches("atls-peer-status:").count(), 1, "{head}");
    assert!(head.contains("atls-peer-status: affirming\r\n"), "{head}");
    assert!(!head.contains("atls-peer-measurement: ffff"), "{head}");
    assert_eq!(head.matches("atls-peer-measurement:").count(), 1, "{head}");
    assert!(head.contains("atls-peer-ear: "), "{head}");
    assert!(head.contains("atls-peer-policy: "), "{head}");
}

/// Guards the SIGTERM drain: new connections are refused, a live one
/// keeps working until it ends, then the process exits 0.
#[test]
fn sigterm_drains_then_exits_0() {
    let (tmp, a, _) = worlds();
    let (bl, baddr) = backend();
    let mut server = proxy(
        tmp.path(),
        "server",
        &[
            "server",
            "--backend",
            &baddr,
            "--attester",
            "sim",
            "--sim-instance",
            s(&a.join("instance-0.toml")),
        ],
    );
    let upstream = server.addr.to_string();
    let client = proxy(
        tmp.path(),
        "client",
        &["client", "--upstream", &upstream, "--policy", s(&a.join("policy.toml"))],
    );
    let mut l = local(client.addr);
    l.write_all(b"1").unwrap();
    let mut be = accept(&bl);
    let mut buf = [0u8; 1];
    be.read_exact(&mut buf).unwrap();
    server.sigterm();
    // New connections are refused once the listener is closed.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(server.addr).is_ok() {
        assert!(std::time::Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The live connection still works both ways.
    l.write_all(b"2").unwrap();
    be.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"2");
    be.write_all(b"3").unwrap();
    l.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"3");
    assert_eq!(server.child.try_wait().unwrap(), None, "exited before the drain ended");
    drop(l);
    drop(be);
    assert_eq!(server.wait_exit(30), Some(0), "{}", server.log());
}

/// With a short --drain-timeout, a connection still open is closed and the
/// process exits 0.
#[test]
fn sigterm_closes_what_is_left_at_the_drain_timeout() {
    let (tmp, a, _) = worlds();
    let (bl, baddr) = backend();
    let mut server = proxy(
        tmp.path(),
        "server",
        &[
            "server",
            "--backend",
            &baddr,
            "--attester",
            "sim",
            "--sim-instance",
            s(&a.join("instance-0.toml")),
            "--drain-timeout",
            "1",
        ],
    );
    let upstream = server.addr.to_string();
    let client = proxy(
        tmp.path(),
        "client",
        &["client", "--upstream", &upstream, "--policy", s(&a.join("policy.toml"))],
    );
    let mut l = local(client.addr);
    l.write_all(b"1").unwrap();
    let _be = accept(&bl);
    server.sigterm();
    assert_eq!(server.wait_exit(30), Some(0), "{}", server.log());
    // The client side saw the server's ERROR and closed the local socket.
    let mut rest = Vec::new();
    let r = l.read_to_end(&mut rest);
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
    let log = client.log();
    assert!(log.contains("shutting down"), "{log}");
}

#[test]
fn config_file_is_equivalent_to_flags_which_override_it_and_unknown_keys_are_refused() {
    let (tmp, a, _) = worlds();
    let (bl, baddr) = backend();
    // Paths in the file are relative to it.
    let conf = a.join("server.toml");
    std::fs::write(
        &conf,
        format!(
            "listen = \"127.0.0.1:0\"\nbackend = \"{baddr}\"\nbackend_protocol = \"http\"\nattester = \"sim\"\nsim_instance = \"instance-0.toml\"\nidle_timeout = 60\n"
        ),
    )
    .unwrap();
    let server = proxy(
        tmp.path(),
        "server",
        &["server", "--config", s(&conf), "--backend-protocol", "proxy-v2"],
    );
    let upstream = server.addr.to_string();
    let cconf = a.join("client.toml");
    std::fs::write(
        &cconf,
        format!("upstream = \"{upstream}\"\npolicy = \"policy.toml\"\nlog_format = \"json\"\n"),
    )
    .unwrap();
    let client = proxy(tmp.path(), "client", &["client", "--config", s(&cconf)]);
    let mut l = local(client.addr);
    l.write_all(b"x").unwrap();
    let mut be = accept(&bl);
    // proxy-v2 from the flag, not http from the file.
    let h = read_proxy_header(&mut be);
    assert_eq!(summary(&h)["status"], "not-required");

    std::fs::write(&conf, "listen = \"127.0.0.1:0\"\nbakend = \"127.0.0.1:1\"\n").unwrap();
    let out = atls()
        .args(["proxy", "server", "--config"])
        .arg(&conf)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("unknown field `bakend`"), "{err}");
    assert!(err.contains("server.toml"), "{err}");
}

#[test]
fn the_client_side_refuses_to_start_without_a_policy() {
    let out = atls()
        .args(["proxy", "client", "--upstream", "127.0.0.1:1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("`policy` is required for the client side"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn the_listening_line_is_plain_without_json() {
    let (tmp, a, _) = worlds();
    let mut child = atls()
        .args(["proxy", "server", "--listen", "127.0.0.1:0", "--backend", "127.0.0.1:1"])
        .args(["--attester", "sim", "--sim-instance"])
        .arg(a.join("instance-0.toml"))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(tmp.path().join("e.log")).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let addr = line.trim().strip_prefix("listening on 127.0.0.1:").unwrap();
    assert!(addr.parse::<u16>().unwrap() > 0, "{line}");
}

#[test]
fn bench_proxy_reports_throughput_and_idle_memory() {
    let out = atls()
        .args([
            "bench",
            "--proxy",
            "--proxy-mib",
            "1",
            "--rounds",
            "1",
            "--idle-connections",
            "20",
            "--json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(v["throughput"]["best_attested_mb_s"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["throughput"]["ratio"].as_f64().unwrap() > 0.0, "{v}");
    assert_eq!(v["idle_memory"]["connections"], 20, "{v}");
    assert!(v["idle_memory"]["rss_idle_kib"].as_u64().unwrap() > 0, "{v}");
}
