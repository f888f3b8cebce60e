//! The proxy in process, over real loopback TLS: both sides, every backend
//! protocol, refusals, re-attestation, limits, timeouts, drain, metrics.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use attested_tls::attester::{AttestError, Attester};
use attested_tls::binder::BindingClaims;
use attested_tls::cmw::Cmw;
use attested_tls::net::{self, AttestationConfig, NetError};
use attested_tls::sim::{self, SimAttester, SimInstance, SimInstanceConfig, SimWorld};
use attested_tls::transport::SessionError;
use attested_tls_proxy::{proxy_v2, BackendProtocol, ClientProxy, Metrics, ProxyConfig, ServerProxy, Side};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A root, an instance the policy trusts and one it does not (another
/// measurement, same root).
struct World {
    world: SimWorld,
    good: SimInstance,
    bad: SimInstance,
}

fn world() -> World {
    let mut world = sim::ephemeral_world(1).unwrap();
    let bad = world
        .root
        .issue_instance(SimInstanceConfig::new(vec![0xBA; 48]))
        .unwrap();
    let good = world.instances[0].clone();
    world.instances = vec![good.clone()];
    World { world, good, bad }
}

impl World {
    fn appraiser(&self) -> attested_tls::verifier::Appraiser {
        self.world.appraiser("proxy-test-policy")
    }
}

fn attester(i: &SimInstance) -> Arc<dyn Attester> {
    Arc::new(SimAttester::new(i.clone()))
}

/// Attests with `first` once, then with `later`: a workload whose
/// measurement changes on a live connection.
struct Switching {
    first: SimAttester,
    later: SimAttester,
    calls: AtomicUsize,
}

impl Attester for Switching {
    fn platform(&self) -> &str {
        "sim"
    }
    fn attest(&self, binding: &BindingClaims) -> Result<Cmw, AttestError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            self.first.attest(binding)
        } else {
            self.later.attest(binding)
        }
    }
    fn may_block(&self) -> bool {
        false
    }
}

/// A backend: counts accepts and hands each connection to the test.
struct Backend {
    addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
    conns: tokio::sync::mpsc::UnboundedReceiver<TcpStream>,
}

async fn backend() -> Backend {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepts = Arc::new(AtomicUsize::new(0));
    let (tx, conns) = tokio::sync::mpsc::unbounded_channel();
    let n = accepts.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            n.fetch_add(1, Ordering::SeqCst);
            let _ = tx.send(s);
        }
    });
    Backend { addr, accepts, conns }
}

/// A server side configuration; connections still open at the end of a
/// test are closed after 2 s of drain.
fn config(backend: SocketAddr, protocol: BackendProtocol) -> ProxyConfig {
    ProxyConfig {
        backend: Some(backend.to_string()),
        backend_protocol: protocol,
        drain_timeout: 2,
        ..ProxyConfig::default()
    }
}

/// A running proxy: its address, metrics, the shutdown trigger and its task.
struct Running {
    addr: SocketAddr,
    metrics: Metrics,
    metrics_addr: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

/// Binds a proxy (`ServerProxy` or `ClientProxy`) and runs it until the
/// `Running`'s shutdown.
macro_rules! start {
    ($proxy:expr) => {{
        let mut p = $proxy.unwrap();
        let addr = p.bind().await.unwrap();
        let (metrics, metrics_addr) = (p.metrics(), p.metrics_addr());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            p.run(async {
                let _ = rx.await;
            })
            .await
            .unwrap()
        });
        Running {
            addr,
            metrics,
            metrics_addr,
            stop: Some(tx),
            task,
        }
    }};
}

async fn start_server(cfg: ProxyConfig, att: AttestationConfig) -> Running {
    start!(ServerProxy::with_attestation(cfg, att))
}

async fn start_client(cfg: ProxyConfig, att: AttestationConfig) -> Running {
    start!(ClientProxy::with_attestation(cfg, att))
}

/// Waits (at most 20 s: a bound, not a timing assertion) until `f` holds.
async fn eventually(what: &str, f: impl Fn() -> bool) {
    for _ in 0..2000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

async fn connect(
    addr: SocketAddr,
    att: &AttestationConfig,
) -> Result<
    (
        net::AttestedStream<tokio_rustls::client::TlsStream<TcpStream>>,
        Option<attested_tls::ear::Ear>,
    ),
    NetError,
> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    net::connect(&net::tls::client_config().unwrap(), "atls-server", tcp, att).await
}

/// Reads a PROXY v2 header from the start of `s`.
async fn read_proxy_header(s: &mut TcpStream) -> proxy_v2::ProxyHeader {
    let mut buf = vec![0u8; 16];
    s.read_exact(&mut buf).await.unwrap();
    let len = u16::from_be_bytes([buf[14], buf[15]]) as usize;
    buf.resize(16 + len, 0);
    s.read_exact(&mut buf[16..]).await.unwrap();
    let (h, n) = proxy_v2::decode(&buf).unwrap();
    assert_eq!(n, buf.len());
    h
}

#[tokio::test]
async fn proxy_v2_backend_learns_the_peer_and_its_attestation() {
    let w = world();
    let mut b = backend().await;
    let server_att = AttestationConfig::attester(attester(&w.good))
        .unwrap()
        .with_appraiser(w.appraiser());
    let server = start_server(config(b.addr, BackendProtocol::ProxyV2), server_att).await;
    let client_att = AttestationConfig::verifier(w.appraiser())
        .with_attester(attester(&w.good))
        .unwrap();
    let (mut s, ear) = connect(server.addr, &client_att).await.unwrap();
    assert!(ear.unwrap().is_affirming());
    s.write_all(b"hello").await.unwrap();
    s.flush().await.unwrap();
    let mut be = b.conns.recv().await.unwrap();
    let h = read_proxy_header(&mut be).await;
    assert_eq!(h.source, s.get_ref().get_ref().0.local_addr().unwrap());
    assert_eq!(h.destination, server.addr);
    let summary = h.tlv(proxy_v2::TLV_ATLS_SUMMARY).unwrap();
    assert_eq!(summary[0], proxy_v2::SUMMARY_VERSION);
    let v: serde_json::Value = serde_json::from_slice(&summary[1..]).unwrap();
    assert_eq!(v["status"], "affirming");
    assert_eq!(v["mode"], "expat");
    assert_eq!(v["measurement"], hex::encode(&w.good.config().measurement));
    assert_eq!(v["policies"], serde_json::json!(["proxy-test-policy"]));
    let ear: serde_json::Value = serde_json::from_slice(h.tlv(proxy_v2::TLV_ATLS_EAR).unwrap()).unwrap();
    assert_eq!(ear["ear_status"], "affirming");
    let mut buf = [0u8; 5];
    be.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hello");
    be.write_all(b"world").await.unwrap();
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"world");
    drop(s);
    server.shutdown().await;
}

#[tokio::test]
async fn proxy_v2_says_not_required_when_the_client_was_not_asked_to_attest() {
    let w = world();
    let mut b = backend().await;
    let server = start_server(
        config(b.addr, BackendProtocol::ProxyV2),
        AttestationConfig::attester(attester(&w.good)).unwrap(),
    )
    .await;
    let (mut s, _) = connect(server.addr, &AttestationConfig::verifier(w.appraiser()))
        .await
        .unwrap();
    s.write_all(b"x").await.unwrap();
    s.flush().await.unwrap();
    let mut be = b.conns.recv().await.unwrap();
    let h = read_proxy_header(&mut be).await;
    let v: serde_json::Value = serde_json::from_slice(&h.tlv(proxy_v2::TLV_ATLS_SUMMARY).unwrap()[1..]).unwrap();
    assert_eq!(v["status"], "not-required");
    assert!(h.tlv(proxy_v2::TLV_ATLS_EAR).is_none());
    server.shutdown().await;
}

/// Guards the rule that a refused client never reaches the backend, not
/// even with a TCP connect.
#[tokio::test]
async fn a_refused_client_never_reaches_the_backend() {
    let w = world();
    let mut b = backend().await;
    let server_att = AttestationConfig::attester(attester(&w.good))
        .unwrap()
        .with_appraiser(w.appraiser());
    let server = start_server(config(b.addr, BackendProtocol::Tcp), server_att).await;
    let client_att = AttestationConfig::verifier(w.appraiser())
        .with_attester(attester(&w.bad))
        .unwrap();
    let e = connect(server.addr, &client_att).await.unwrap_err();
    assert!(
        matches!(e, NetError::Attestation(SessionError::RefusedByPeer(_))),
        "{e}"
    );
    let m = server.metrics.clone();
    eventually("the refusal is counted", || {
        m.counter(
            "atls_proxy_appraisals_total",
            &[("side", "server"), ("result", "refused"), ("reason", "policy")],
        ) == 1
    })
    .await;
    // Once the connection's task has ended, nothing of it can reach the
    // backend any more; a probe connection is then the first the backend
    // accepts (its backlog is in order) if the proxy never connected.
    eventually("the connection task ends", || m.active_connections(Side::Server) == 0).await;
    let probe = TcpStream::connect(b.addr).await.unwrap();
    let first = b.conns.recv().await.unwrap();
    assert_eq!(
        first.peer_addr().unwrap(),
        probe.local_addr().unwrap(),
        "the backend was contacted"
    );
    assert_eq!(b.accepts.load(Ordering::SeqCst), 1);
    assert_eq!(
        m.counter(
            "atls_proxy_connections_total",
            &[("side", "server"), ("result", "refused")]
        ),
        1
    );
    server.shutdown().await;
}

/// Guards periodic re-attestation by the server side: a client whose
/// measurement changes on a live connection is refused and both legs close.
#[tokio::test]
async fn a_failed_reattestation_closes_both_legs() {
    let w = world();
    let mut b = backend().await;
    let server_att = AttestationConfig::attester(attester(&w.good))
        .unwrap()
        .with_appraiser(w.appraiser());
    let cfg = ProxyConfig {
        reattest_interval: 1,
        ..config(b.addr, BackendProtocol::Tcp)
    };
    let server = start_server(cfg, server_att).await;
    let switching = Arc::new(Switching {
        first: SimAttester::new(w.good.clone()),
        later: SimAttester::new(w.bad.clone()),
        calls: AtomicUsize::new(0),
    });
    let client_att = AttestationConfig::verifier(w.appraiser())
        .with_attester(switching.clone())
        .unwrap();
    let (mut s, _) = connect(server.addr, &client_att).await.unwrap();
    s.write_all(b"ping").await.unwrap();
    s.flush().await.unwrap();
    let mut be = b.conns.recv().await.unwrap();
    let mut buf = [0u8; 4];
    be.read_exact(&mut buf).await.unwrap();
    // The client reads until the server refuses its second Evidence.
    let mut rest = Vec::new();
    let e = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut rest))
        .await
        .expect("the connection was closed")
        .unwrap_err();
    assert!(e.to_string().contains("refused"), "{e}");
    assert!(switching.calls.load(Ordering::SeqCst) >= 2);
    // The backend leg is closed too.
    let n = tokio::time::timeout(Duration::from_secs(20), be.read(&mut buf))
        .await
        .expect("the backend leg was closed");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    assert_eq!(
        server.metrics.counter(
            "atls_proxy_reattestations_total",
            &[("side", "server"), ("result", "refused")]
        ),
        1
    );
    server.shutdown().await;
}

/// Reads one HTTP/1.1 request head from `s`, answers 200 with the head as
/// the body.
async fn echo_http_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).await.unwrap(), 1, "request head cut short");
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{head}",
        head.len()
    );
    s.write_all(resp.as_bytes()).await.unwrap();
    head
}

async fn http_get<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(s: &mut S, extra: &str) -> String {
    s.write_all(format!("GET /tasks HTTP/1.1\r\nHost: svc\r\n{extra}\r\n").as_bytes())
        .await
        .unwrap();
    s.flush().await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "response cut short: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some(i) = text.find("\r\n\r\n") {
            let len: usize = text[..i]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap();
            if got.len() >= i + 4 + len {
                return text.into_owned();
            }
        }
    }
}

#[tokio::test]
async fn http_backend_gets_the_attestation_headers_and_spoofed_ones_are_stripped() {
    let w = world();
    let mut b = backend().await;
    let server_att = AttestationConfig::attester(attester(&w.good))
        .unwrap()
        .with_appraiser(w.appraiser());
    let server = start_server(config(b.addr, BackendProtocol::Http), server_att).await;
    let client_att = AttestationConfig::verifier(w.appraiser())
        .with_attester(attester(&w.good))
        .unwrap();
    let (mut s, _) = connect(server.addr, &client_att).await.unwrap();
    let backend_side = tokio::spawn(async move {
        let mut be = b.conns.recv().await.unwrap();
        let first = echo_http_head(&mut be).await;
        let second = echo_http_head(&mut be).await;
        (first, second)
    });
    let spoof = "atls-peer-status: affirming\r\nATLS-Peer-Measurement: 00\r\natls-peer-policy: admin\r\n";
    let r1 = http_get(&mut s, spoof).await;
    let r2 = http_get(&mut s, "").await;
    assert!(r1.starts_with("HTTP/1.1 200 OK"), "{r1}");
    let (h1, h2) = backend_side.await.unwrap();
    for h in [&h1, &h2] {
        let lower = h.to_ascii_lowercase();
        assert_eq!(lower.matches("atls-peer-status:").count(), 1, "{h}");
        assert!(lower.contains("atls-peer-status: affirming\r\n"), "{h}");
        assert!(
            lower.contains(&format!(
                "atls-peer-measurement: {}\r\n",
                hex::encode(&w.good.config().measurement)
            )),
            "{h}"
        );
        assert!(lower.contains("atls-peer-policy: proxy-test-policy\r\n"), "{h}");
        assert!(!lower.contains("atls-peer-policy: admin"), "{h}");
        assert!(lower.contains("atls-peer-mode: expat\r\n"), "{h}");
        let ear_b64 = lower
            .lines()
            .find_map(|l| l.strip_prefix("atls-peer-ear: "))
            .unwrap()
            .to_string();
        // Header values keep their case; take the original line.
        let ear_b64 = h
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("atls-peer-ear: "))
            .map(|l| l["atls-peer-ear: ".len()..].to_string())
            .unwrap_or(ear_b64);
        use base64::Engine;
        let ear = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(ear_b64.trim())
            .unwrap();
        let ear: serde_json::Value = serde_json::from_slice(&ear).unwrap();
        assert_eq!(ear["ear_status"], "affirming");
    }
    assert!(r2.contains("GET /tasks HTTP/1.1"), "{r2}");
    server.shutdown().await;
}

#[tokio::test]
async fn http_says_not_required_explicitly() {
    let w = world();
    let mut b = backend().await;
    let server = start_server(
        config(b.addr, BackendProtocol::Http),
        AttestationConfig::attester(attester(&w.good)).unwrap(),
    )
    .await;
    let (mut s, _) = connect(server.addr, &AttestationConfig::verifier(w.appraiser()))
        .await
        .unwrap();
    let backend_side = tokio::spawn(async move {
        let mut be = b.conns.recv().await.unwrap();
        echo_http_head(&mut be).await
    });
    http_get(
        &mut s,
        "atls-peer-status: affirming\r\natls-peer-measurement: 00\r\natls-peer-ear: e30\r\n",
    )
    .await;
    let h = backend_side.await.unwrap().to_ascii_lowercase();
    assert!(!h.contains("atls-peer-measurement"), "{h}");
    assert!(h.contains("atls-peer-status: not-required\r\n"), "{h}");
    assert!(!h.contains("affirming"), "{h}");
    assert!(!h.contains("atls-peer-ear"), "{h}");
    server.shutdown().await;
}

/// Guards the connection limit: one beyond is closed at once and counted.
#[tokio::test]
async fn a_connection_beyond_max_connections_is_closed_and_counted() {
    let w = world();
    let b = backend().await;
    let cfg = ProxyConfig {
        max_connections: 1,
        ..config(b.addr, BackendProtocol::Tcp)
    };
    let server = start_server(cfg, AttestationConfig::attester(attester(&w.good)).unwrap()).await;
    let att = AttestationConfig::verifier(w.appraiser());
    let (first, _) = connect(server.addr, &att).await.unwrap();
    let e = connect(server.addr, &att).await.unwrap_err();
    assert!(
        matches!(e, NetError::Io(_) | NetError::Tls(_) | NetError::Closed(_)),
        "{e}"
    );
    assert_eq!(
        server.metrics.counter(
            "atls_proxy_connections_total",
            &[("side", "server"), ("result", "over_limit")]
        ),
        1
    );
    drop(first);
    server.shutdown().await;
}

#[tokio::test]
async fn an_idle_connection_is_closed_with_error_6() {
    let w = world();
    let b = backend().await;
    let cfg = ProxyConfig {
        idle_timeout: 1,
        ..config(b.addr, BackendProtocol::Tcp)
    };
    let server = start_server(cfg, AttestationConfig::attester(attester(&w.good)).unwrap()).await;
    let (mut s, _) = connect(server.addr, &AttestationConfig::verifier(w.appraiser()))
        .await
        .unwrap();
    let mut buf = Vec::new();
    let e = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        e.to_string().contains("error 6") && e.to_string().contains("idle timeout"),
        "{e}"
    );
    server.shutdown().await;
}

/// Guards the drain: at shutdown new connections are refused, a live one
/// keeps working until it ends, and `run` returns.
#[tokio::test]
async fn shutdown_drains_live_connections_and_refuses_new_ones() {
    let w = world();
    let mut b = backend().await;
    let cfg = ProxyConfig {
        drain_timeout: 600,
        ..config(b.addr, BackendProtocol::Tcp)
    };
    let server = start_server(cfg, AttestationConfig::attester(attester(&w.good)).unwrap()).await;
    let att = AttestationConfig::verifier(w.appraiser());
    let (mut s, _) = connect(server.addr, &att).await.unwrap();
    s.write_all(b"a").await.unwrap();
    s.flush().await.unwrap();
    let mut be = b.conns.recv().await.unwrap();
    let addr = server.addr;
    let Running { stop, task, .. } = server;
    stop.unwrap().send(()).unwrap();
    // New connections are refused once the listener is closed.
    eventually_async(|| async { TcpStream::connect(addr).await.is_err() }).await;
    // The live one still works both ways.
    let mut buf = [0u8; 1];
    be.read_exact(&mut buf).await.unwrap();
    s.write_all(b"b").await.unwrap();
    s.flush().await.unwrap();
    be.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"b");
    be.write_all(b"c").await.unwrap();
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"c");
    assert!(!task.is_finished());
    // It ends: the proxy stops.
    s.shutdown().await.unwrap();
    drop(be);
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap()
        .unwrap();
}

async fn eventually_async<F, Fut>(f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..2000 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened");
}

/// Guards the end of the drain: connections left are closed with ERROR 6
/// and close_notify.
#[tokio::test]
async fn connections_left_at_the_drain_timeout_get_error_6() {
    let w = world();
    let b = backend().await;
    let cfg = ProxyConfig {
        drain_timeout: 1,
        ..config(b.addr, BackendProtocol::Tcp)
    };
    let server = start_server(cfg, AttestationConfig::attester(attester(&w.good)).unwrap()).await;
    let (mut s, _) = connect(server.addr, &AttestationConfig::verifier(w.appraiser()))
        .await
        .unwrap();
    let m = server.metrics.clone();
    let Running { stop, task, .. } = server;
    stop.unwrap().send(()).unwrap();
    let mut buf = Vec::new();
    let e = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        e.to_string().contains("error 6") && e.to_string().contains("shutting down"),
        "{e}"
    );
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.counter("atls_proxy_shutdown_closed_total", &[("side", "server")]), 1);
}

async fn get_metrics(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// The client side end to end (plain local socket → attested upstream →
/// backend), its refusal of an untrusted server, and the metrics endpoint.
#[tokio::test]
async fn client_side_forwards_only_after_appraisal_and_serves_metrics() {
    let w = world();
    let mut b = backend().await;
    let good_server = start_server(
        config(b.addr, BackendProtocol::Tcp),
        AttestationConfig::attester(attester(&w.good)).unwrap(),
    )
    .await;
    let client_cfg = |upstream: SocketAddr| ProxyConfig {
        upstream: Some(upstream.to_string()),
        metrics: Some("127.0.0.1:0".into()),
        ..ProxyConfig::default()
    };
    let client = start_client(client_cfg(good_server.addr), AttestationConfig::verifier(w.appraiser())).await;
    let mut local = TcpStream::connect(client.addr).await.unwrap();
    local.write_all(b"through").await.unwrap();
    let mut be = b.conns.recv().await.unwrap();
    let mut buf = [0u8; 7];
    be.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"through");
    be.write_all(b"back").await.unwrap();
    let mut buf = [0u8; 4];
    local.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"back");
    drop(local);
    drop(be);

    // An upstream running unapproved code: the local connection is closed
    // with nothing forwarded either way.
    let b2 = backend().await;
    let bad_server = start_server(
        config(b2.addr, BackendProtocol::Tcp),
        AttestationConfig::attester(attester(&w.bad)).unwrap(),
    )
    .await;
    let refusing = start_client(client_cfg(bad_server.addr), AttestationConfig::verifier(w.appraiser())).await;
    let mut local = TcpStream::connect(refusing.addr).await.unwrap();
    local.write_all(b"secret").await.unwrap();
    let mut got = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(20), local.read_to_end(&mut got))
        .await
        .unwrap();
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?} {got:?}");
    assert_eq!(b2.accepts.load(Ordering::SeqCst), 0);
    let m = refusing.metrics.clone();
    eventually("the refusal is counted", || {
        m.counter(
            "atls_proxy_appraisals_total",
            &[("side", "client"), ("result", "refused"), ("reason", "policy")],
        ) == 1
    })
    .await;

    let text = get_metrics(client.metrics_addr.unwrap()).await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Content-Type: text/plain; version=0.0.4"), "{text}");
    for needle in [
        "atls_proxy_connections_total{side=\"client\",result=\"accepted\"} 1\n",
        "atls_proxy_appraisals_total{side=\"client\",result=\"accepted\",reason=\"ok\"} 1\n",
        "atls_proxy_bytes_total{side=\"client\",direction=\"out\"} 7\n",
        "atls_proxy_bytes_total{side=\"client\",direction=\"in\"} 4\n",
        "# TYPE atls_proxy_handshake_seconds histogram\n",
        "atls_proxy_attestation_seconds_count{side=\"client\"} 1\n",
        "atls_proxy_connect_seconds_count{side=\"client\"} 1\n",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    for r in [client, refusing, good_server, bad_server] {
        r.shutdown().await;
    }
}

#[test]
fn each_side_refuses_the_other_sides_keys_and_the_client_needs_a_policy() {
    let w = world();
    let e = ServerProxy::with_attestation(
        ProxyConfig {
            backend: Some("127.0.0.1:1".into()),
            upstream: Some("127.0.0.1:2".into()),
            ..ProxyConfig::default()
        },
        AttestationConfig::attester(attester(&w.good)).unwrap(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "`upstream` is a client-side key; the server side does not use it"
    );
    let e = ClientProxy::new(ProxyConfig {
        upstream: Some("127.0.0.1:2".into()),
        ..ProxyConfig::default()
    })
    .unwrap_err();
    assert!(
        e.to_string().starts_with("`policy` is required for the client side"),
        "{e}"
    );
    let e = ClientProxy::with_attestation(
        ProxyConfig {
            upstream: Some("127.0.0.1:2".into()),
            ..ProxyConfig::default()
        },
        AttestationConfig::attester(attester(&w.good)).unwrap(),
    )
    .unwrap_err();
    assert!(
        e.to_string().starts_with("`policy` is required for the client side"),
        "{e}"
    );
}

/// Guards periodic re-attestation by the client side: a server whose
/// measurement changes on a live connection is refused, and the local
/// socket and the backend leg close.
#[tokio::test]
async fn the_client_side_reattests_the_server_and_closes_on_failure() {
    let w = world();
    let mut b = backend().await;
    let switching = Arc::new(Switching {
        first: SimAttester::new(w.good.clone()),
        later: SimAttester::new(w.bad.clone()),
        calls: AtomicUsize::new(0),
    });
    let server = start_server(
        config(b.addr, BackendProtocol::Tcp),
        AttestationConfig::attester(switching.clone()).unwrap(),
    )
    .await;
    let cfg = ProxyConfig {
        upstream: Some(server.addr.to_string()),
        reattest_interval: 1,
        drain_timeout: 2,
        ..ProxyConfig::default()
    };
    let client = start_client(cfg, AttestationConfig::verifier(w.appraiser())).await;
    let mut local = TcpStream::connect(client.addr).await.unwrap();
    local.write_all(b"x").await.unwrap();
    let mut be = b.conns.recv().await.unwrap();
    let mut buf = [0u8; 1];
    be.read_exact(&mut buf).await.unwrap();
    let mut rest = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(20), local.read_to_end(&mut rest))
        .await
        .expect("the local socket was closed");
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
    let n = tokio::time::timeout(Duration::from_secs(20), be.read(&mut buf))
        .await
        .expect("the backend leg was closed");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    assert_eq!(
        client.metrics.counter(
            "atls_proxy_reattestations_total",
            &[("side", "client"), ("result", "refused")]
        ),
        1
    );
    client.shutdown().await;
    server.shutdown().await;
}

/// In HTTP mode each request carries the latest result: after a
/// re-attestation (here with another trusted measurement) the headers
/// change.
#[tokio::test]
async fn http_headers_follow_the_latest_reattestation() {
    let mut w = world();
    let other = w
        .world
        .root
        .issue_instance(SimInstanceConfig::new(vec![0x0E; 48]))
        .unwrap();
    w.world.instances.push(other.clone());
    let mut b = backend().await;
    let server_att = AttestationConfig::attester(attester(&w.good))
        .unwrap()
        .with_appraiser(w.appraiser());
    let cfg = ProxyConfig {
        reattest_interval: 1,
        ..config(b.addr, BackendProtocol::Http)
    };
    let server = start_server(cfg, server_att).await;
    let switching = Arc::new(Switching {
        first: SimAttester::new(w.good.clone()),
        later: SimAttester::new(other.clone()),
        calls: AtomicUsize::new(0),
    });
    let client_att = AttestationConfig::verifier(w.appraiser())
        .with_attester(switching)
        .unwrap();
    let (mut s, _) = connect(server.addr, &client_att).await.unwrap();
    let backend_side = tokio::spawn(async move {
        let mut be = b.conns.recv().await.unwrap();
        let first = echo_http_head(&mut be).await;
        let second = echo_http_head(&mut be).await;
        (first, second)
    });
    http_get(&mut s, "").await;
    let m = server.metrics.clone();
    // Reading drives the re-attestation answers while we wait.
    let wait = async {
        let mut buf = [0u8; 1];
        let _ = s.read(&mut buf).await;
    };
    tokio::select! {
        () = eventually("a re-attestation", || m.counter("atls_proxy_reattestations_total", &[("side", "server"), ("result", "accepted")]) >= 1) => {}
        () = wait => panic!("the connection ended"),
    }
    http_get(&mut s, "").await;
    let (h1, h2) = backend_side.await.unwrap();
    let line = |m: &[u8]| format!("atls-peer-measurement: {}\r\n", hex::encode(m));
    assert!(
        h1.to_ascii_lowercase().contains(&line(&w.good.config().measurement)),
        "{h1}"
    );
    assert!(
        h2.to_ascii_lowercase().contains(&line(&other.config().measurement)),
        "{h2}"
    );
    drop(s);
    server.shutdown().await;
}

/// Fault "backend refuses the connection" (docs/reliability.md): a client
/// that passed gets ERROR 7 naming the unavailable service (then
/// close_notify), never a hang or a silent close, and the connection is
/// counted as `backend_failed`.
#[tokio::test]
async fn a_backend_that_refuses_is_error_7_to_the_client_and_counted() {
    let w = world();
    // A port with nothing listening on it: bound but not listening (a
    // connection is refused) and kept bound for the whole test, so that no
    // listener of a test running alongside can be given it meanwhile.
    let bound = tokio::net::TcpSocket::new_v4().unwrap();
    bound.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let closed = bound.local_addr().unwrap();
    let server = start_server(
        config(closed, BackendProtocol::Tcp),
        AttestationConfig::attester(attester(&w.good)).unwrap(),
    )
    .await;
    let (mut s, ear) = connect(server.addr, &AttestationConfig::verifier(w.appraiser()))
        .await
        .unwrap();
    assert!(ear.unwrap().is_affirming());
    let mut buf = Vec::new();
    let e = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .expect("hang guard")
        .unwrap_err();
    assert!(
        e.to_string().contains("error 7") && e.to_string().contains("the service behind the proxy is unavailable"),
        "{e}"
    );
    assert!(buf.is_empty());
    let m = server.metrics.clone();
    eventually("backend_failed counted", || {
        m.counter(
            "atls_proxy_connections_total",
            &[("side", "server"), ("result", "backend_failed")],
        ) == 1
    })
    .await;
    server.shutdown().await;
    drop(bound);
}

/// Fault "backend resets the connection" (docs/reliability.md): the relay
/// ends on the backend's reset and the attested leg is closed (its
/// close_notify), so the client's read ends instead of hanging; what the
/// backend sent before the reset was delivered.
#[tokio::test]
async fn a_backend_that_resets_ends_the_attested_connection() {
    let w = world();
    let mut b = backend().await;
    let server = start_server(
        config(b.addr, BackendProtocol::Tcp),
        AttestationConfig::attester(attester(&w.good)).unwrap(),
    )
    .await;
    let (mut s, _) = connect(server.addr, &AttestationConfig::verifier(w.appraiser()))
        .await
        .unwrap();
    s.write_all(b"hello").await.unwrap();
    s.flush().await.unwrap();
    let mut be = b.conns.recv().await.unwrap();
    let mut got = [0u8; 5];
    be.read_exact(&mut got).await.unwrap();
    be.write_all(b"bye").await.unwrap();
    be.flush().await.unwrap();
    // A reset, not an orderly close: SO_LINGER 0, then close. (Deprecated
    // because a non-zero linger blocks the thread on drop; zero does not.)
    #[allow(deprecated)]
    be.set_linger(Some(Duration::ZERO)).unwrap();
    drop(be);
    let mut buf = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .expect("hang guard: the attested leg must be closed when the backend resets");
    assert_eq!(&buf, b"bye", "{r:?}");
    assert!(r.is_ok(), "the proxy closes the attested leg with close_notify: {r:?}");
    server.shutdown().await;
}

/// Writes a test CA (`ca.pem`) and a certificate for `name` issued by it
/// (`svc.pem`, `svc.key`) into `dir`.
fn write_test_ca(dir: &std::path::Path, name: &str) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "atls proxy test CA");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    std::fs::write(dir.join("ca.pem"), params.self_signed(&ca_key).unwrap().pem()).unwrap();
    let issuer = rcgen::Issuer::new(params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![name.to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::write(dir.join("svc.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("svc.key"), key.serialize_pem()).unwrap();
}

#[tokio::test]
async fn a_client_side_requiring_host_identity_accepts_only_a_server_side_attesting_with_its_certified_key() {
    // I1 through the proxy pair: the server side presents a CA-issued
    // certificate (`cert`, `key`) and attests with its key
    // (`attest_with_tls_cert`); the client side requires host identity for
    // the name it dials. The same server side attesting with its default
    // self-signed authenticator key is refused, and its backend is never
    // reached.
    let w = world();
    let tmp = tempfile::tempdir().unwrap();
    write_test_ca(tmp.path(), "svc.example");
    let server_cfg = |backend: SocketAddr, attest_with_tls_cert: bool| ProxyConfig {
        cert: Some(tmp.path().join("svc.pem")),
        key: Some(tmp.path().join("svc.key")),
        attest_with_tls_cert,
        ..config(backend, BackendProtocol::Tcp)
    };
    // The client side's I1 roots come from its `host_ca` key (`--host-ca`).
    let client_cfg = |upstream: SocketAddr| ProxyConfig {
        upstream: Some(upstream.to_string()),
        server_name: Some("svc.example".into()),
        host_ca: vec![tmp.path().join("ca.pem")],
        ..ProxyConfig::default()
    };
    let i1 = || AttestationConfig::verifier(w.appraiser());

    let mut b = backend().await;
    let server = start_server(
        server_cfg(b.addr, true),
        AttestationConfig::attester(attester(&w.good)).unwrap(),
    )
    .await;
    let client = start_client(client_cfg(server.addr), i1()).await;
    let mut local = TcpStream::connect(client.addr).await.unwrap();
    local.write_all(b"to svc").await.unwrap();
    let mut be = tokio::time::timeout(Duration::from_secs(20), b.conns.recv())
        .await
        .expect("the certified server side's backend is reached")
        .unwrap();
    let mut buf = [0u8; 6];
    be.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"to svc");
    drop((local, be));

    let b2 = backend().await;
    let uncertified = start_server(
        server_cfg(b2.addr, false),
        AttestationConfig::attester(attester(&w.good)).unwrap(),
    )
    .await;
    let refusing = start_client(client_cfg(uncertified.addr), i1()).await;
    let mut local = TcpStream::connect(refusing.addr).await.unwrap();
    local.write_all(b"secret").await.unwrap();
    let mut got = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(20), local.read_to_end(&mut got))
        .await
        .unwrap();
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?} {got:?}");
    assert!(got.is_empty());
    assert_eq!(b2.accepts.load(Ordering::SeqCst), 0);
    // Refused by the appraisal (the EAR's host_identity finding), counted
    // as such.
    let m = refusing.metrics.clone();
    eventually("the I1 refusal is counted", || {
        m.counter(
            "atls_proxy_appraisals_total",
            &[("side", "client"), ("result", "refused"), ("reason", "policy")],
        ) == 1
    })
    .await;
    for r in [client, refusing, server, uncertified] {
        r.shutdown().await;
    }
}

#[test]
fn the_server_sides_tls_identity_is_checked_when_built() {
    let w = world();
    let tmp = tempfile::tempdir().unwrap();
    write_test_ca(tmp.path(), "svc.example");
    let backend: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let att = || AttestationConfig::attester(attester(&w.good)).unwrap();
    let err =
        |cfg: ProxyConfig, att: AttestationConfig| ServerProxy::with_attestation(cfg, att).unwrap_err().to_string();
    let base = config(backend, BackendProtocol::Tcp);
    // One of cert and key without the other names the missing one.
    let e = err(
        ProxyConfig {
            cert: Some(tmp.path().join("svc.pem")),
            ..base.clone()
        },
        att(),
    );
    assert!(e.starts_with("`key`:"), "{e}");
    let e = err(
        ProxyConfig {
            key: Some(tmp.path().join("svc.key")),
            ..base.clone()
        },
        att(),
    );
    assert!(e.starts_with("`cert`:"), "{e}");
    // A file of no certificate names the file.
    let e = err(
        ProxyConfig {
            cert: Some(tmp.path().join("svc.key")),
            key: Some(tmp.path().join("svc.key")),
            ..base.clone()
        },
        att(),
    );
    assert!(e.contains("no CERTIFICATE block") && e.contains("svc.key"), "{e}");
    // A vanished file names it.
    let e = err(
        ProxyConfig {
            cert: Some(tmp.path().join("gone.pem")),
            key: Some(tmp.path().join("svc.key")),
            ..base.clone()
        },
        att(),
    );
    assert!(e.contains("gone.pem"), "{e}");
    // attest_with_tls_cert needs the certificate and an attester.
    let e = err(
        ProxyConfig {
            attest_with_tls_cert: true,
            ..base.clone()
        },
        att(),
    );
    assert!(e.starts_with("`attest_with_tls_cert`:") && e.contains("cert"), "{e}");
    let e = err(
        ProxyConfig {
            cert: Some(tmp.path().join("svc.pem")),
            key: Some(tmp.path().join("svc.key")),
            attest_with_tls_cert: true,
            ..base.clone()
        },
        AttestationConfig::verifier(w.appraiser()),
    );
    assert!(e.contains("needs an attester"), "{e}");
    // The client side refuses the server side's keys.
    let e = ClientProxy::with_attestation(
        ProxyConfig {
            upstream: Some("127.0.0.1:9".into()),
            cert: Some(tmp.path().join("svc.pem")),
            ..ProxyConfig::default()
        },
        AttestationConfig::verifier(w.appraiser()),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("`cert` is a server-side key"), "{e}");
    // And the server side the client side's host_ca; an unreadable CA
    // file is named.
    let e = err(
        ProxyConfig {
            host_ca: vec![tmp.path().join("ca.pem")],
            ..base.clone()
        },
        att(),
    );
    assert!(e.contains("`host_ca` is a client-side key"), "{e}");
    let e = ClientProxy::with_attestation(
        ProxyConfig {
            upstream: Some("127.0.0.1:9".into()),
            host_ca: vec![tmp.path().join("missing-ca.pem")],
            ..ProxyConfig::default()
        },
        AttestationConfig::verifier(w.appraiser()),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("`host_ca`:") && e.contains("missing-ca.pem"), "{e}");
}
