//! Attester calls are bounded: one at a time per connection, and a
//! server-wide number for all connections together.
//!
//! Guards issue 8 point 2: an OUTCOME for a request whose Evidence was
//! still being produced cleared the one-request-at-a-time guard, so a
//! client sending AUTH_REQUEST(n) + OUTCOME(n) pairs started a blocking
//! attester call for each, and nothing bounded the calls of all
//! connections together (calls outlive their connection: a blocking call
//! cannot be interrupted).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attested_tls::attester::{AttestError, Attester};
use attested_tls::binder::BindingClaims;
use attested_tls::cmw::Cmw;
use attested_tls::net::{self, AttestationConfig, NetError};
use attested_tls::transport::frame::error_code;
use attested_tls::transport::{Frame, SessionError};
use common::*;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A platform attester (it may block) that reports each call as it starts
/// and then waits until the test releases it.
struct GatedAttester {
    inner: Arc<dyn Attester>,
    calls: AtomicUsize,
    started: mpsc::UnboundedSender<()>,
    release: Mutex<std::sync::mpsc::Receiver<()>>,
}

impl Attester for GatedAttester {
    fn platform(&self) -> &str {
        "gated"
    }
    fn attest(&self, binding: &BindingClaims) -> Result<Cmw, AttestError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let _ = self.started.send(());
        // A closed gate (the test ended) lets the call through.
        let _ = self.release.lock().unwrap().recv();
        self.inner.attest(binding)
    }
}

struct Gate {
    attester: Arc<GatedAttester>,
    started: mpsc::UnboundedReceiver<()>,
    release: std::sync::mpsc::Sender<()>,
}

fn gate(w: &World) -> Gate {
    let (started_tx, started) = mpsc::unbounded_channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    Gate {
        attester: Arc::new(GatedAttester {
            inner: attester(&w.instances[0]),
            calls: AtomicUsize::new(0),
            started: started_tx,
            release: Mutex::new(release_rx),
        }),
        started,
        release,
    }
}

impl Gate {
    fn calls(&self) -> usize {
        self.attester.calls.load(Ordering::SeqCst)
    }
}

/// Accepts `n` connections with clones of `cfg`; each `net::accept`
/// result arrives on the returned channel.
async fn server(cfg: AttestationConfig, n: usize) -> (SocketAddr, mpsc::UnboundedReceiver<Result<(), NetError>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = server_tls();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        for _ in 0..n {
            let (tcp, _) = listener.accept().await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let (tls, cfg, tx) = (tls.clone(), cfg.clone(), tx.clone());
            tokio::spawn(async move {
                let _ = tx.send(net::accept(&tls, tcp, &cfg).await.map(|_| ()));
            });
        }
    });
    (addr, rx)
}

/// Waits until no attester call of `cfg`'s bound is running.
async fn calls_finished(cfg: &AttestationConfig) {
    let wait = async {
        while cfg.attester_calls.in_flight() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("the released calls return");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_before_the_answer_is_refused_and_starts_no_second_call() {
    let w = world(1);
    let mut g = gate(&w);
    let cfg = AttestationConfig {
        attestation_timeout: Duration::from_secs(5),
        ..AttestationConfig::attester(g.attester.clone()).unwrap()
    };
    let (addr, mut results) = server(cfg.clone(), 1).await;
    let mut c = RawClient::connect(addr).await;
    c.send(&[RawClient::hello(), RawClient::request(0, vec![1; 32])]).await;
    g.started.recv().await.unwrap();
    // OUTCOME(0) before AUTHENTICATOR(0), then a new request.
    c.send(&[RawClient::accepted(0), RawClient::request(1, vec![2; 32])])
        .await;
    let (code, reason) = c.error_then_close_notify("OUTCOME before AUTHENTICATOR").await;
    assert_eq!(code, error_code::PROTOCOL_VIOLATION, "{reason}");
    assert!(
        reason.contains("OUTCOME for request id 0, which we have not answered yet"),
        "{reason}"
    );
    match results.recv().await.unwrap() {
        Err(NetError::Attestation(SessionError::Protocol(m))) => assert!(m.contains("not answered yet"), "{m}"),
        other => panic!("{other:?}"),
    }
    let _ = g.release.send(());
    calls_finished(&cfg).await;
    assert_eq!(g.calls(), 1, "exactly one attester call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_server_wide_bound_are_refused_as_busy() {
    let w = world(1);
    let mut g = gate(&w);
    let cfg = AttestationConfig::attester(g.attester.clone())
        .unwrap()
        .with_max_attester_calls(1)
        .unwrap();
    let (addr, mut results) = server(cfg.clone(), 3).await;

    // Client A starts the one call allowed, then goes away. Its call cannot
    // be interrupted and keeps its place in the bound until it returns.
    let mut a = RawClient::connect(addr).await;
    a.send(&[RawClient::hello(), RawClient::request(0, vec![1; 32])]).await;
    g.started.recv().await.unwrap();
    drop(a);
    match results.recv().await.unwrap() {
        // A TCP end (or reset) without close_notify.
        Err(NetError::Io(_)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(cfg.attester_calls.in_flight(), 1);

    // Client B (another connection) is refused at once: ERROR 8, then
    // close_notify.
    let mut b = RawClient::connect(addr).await;
    b.send(&[RawClient::hello(), RawClient::request(0, vec![1; 32])]).await;
    let (code, reason) = b.error_then_close_notify("a request over the bound").await;
    assert_eq!(code, error_code::BUSY, "{reason}");
    assert!(
        reason.contains("all 1 attester calls allowed on this side are running"),
        "{reason}"
    );
    assert!(matches!(
        results.recv().await.unwrap(),
        Err(NetError::AttesterBusy { max: 1 })
    ));
    assert_eq!(g.calls(), 1, "B's request made no attester call");

    // Once A's call returned, client C is served.
    g.release.send(()).unwrap();
    calls_finished(&cfg).await;
    let mut c = RawClient::connect(addr).await;
    c.send(&[RawClient::hello(), RawClient::request(0, vec![1; 32])]).await;
    g.started.recv().await.unwrap();
    g.release.send(()).unwrap();
    loop {
        match c.next_frame().await {
            Ok(Frame::Hello(_)) => {}
            Ok(Frame::Authenticator { request_id: 0, .. }) => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(g.calls(), 2);
}

#[test]
fn the_bound_is_at_least_one() {
    assert!(matches!(
        AttestationConfig::default().with_max_attester_calls(0),
        Err(NetError::Config(m)) if m.contains("1..=")
    ));
    assert_eq!(
        AttestationConfig::default().attester_calls.max(),
        net::AttesterCallLimit::DEFAULT_MAX
    );
}

/// An inline (non-blocking) attester that counts its calls.
struct CountingInline {
    inner: Arc<dyn Attester>,
    calls: AtomicUsize,
}

impl Attester for CountingInline {
    fn platform(&self) -> &str {
        "counting-inline"
    }
    fn attest(&self, binding: &BindingClaims) -> Result<Cmw, AttestError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.attest(binding)
    }
    fn may_block(&self) -> bool {
        false
    }
}

/// Guards the review's L9: with an inline attester an OUTCOME was accepted
/// as soon as our AUTHENTICATOR was queued, so a peer pipelining
/// AUTH_REQUEST(n) + OUTCOME(n) pairs got one attest-and-sign per pair
/// from a single read, up to the 1 MiB output queue. Now the OUTCOME for
/// an answer not yet sent is a protocol violation (and no frame is handled
/// while our answer waits to be written): one call for the pipelined
/// requests, both for the initial exchange and after the connection is
/// ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_pipelining_requests_and_outcomes_gets_one_attester_call() {
    let w = world(1);
    let counting = Arc::new(CountingInline {
        inner: attester(&w.instances[0]),
        calls: AtomicUsize::new(0),
    });
    let cfg = AttestationConfig::attester(counting.clone()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = server_tls();
    let (tx, mut results) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        for _ in 0..2 {
            let (tcp, _) = listener.accept().await.unwrap();
            let (tls, cfg, tx) = (tls.clone(), cfg.clone(), tx.clone());
            tokio::spawn(async move {
                // Once ready, read as a server application does: the
                // peer's re-attestation requests are handled while reading.
                let r = match net::accept(&tls, tcp, &cfg).await {
                    Ok((mut s, _)) => {
                        use tokio::io::AsyncReadExt;
                        let mut buf = [0u8; 1024];
                        loop {
                            match s.read(&mut buf).await {
                                Ok(0) => break Ok(()),
                                Ok(_) => {}
                                Err(e) => break Err(e.to_string()),
                            }
                        }
                    }
                    Err(e) => Err(e.to_string()),
                };
                let _ = tx.send(r);
            });
        }
    });
    let pipelined = |first: u32| {
        (first..first + 50)
            .flat_map(|id| [RawClient::request(id, vec![id as u8 + 1; 32]), RawClient::accepted(id)])
            .collect::<Vec<_>>()
    };
    let violation = |frames: &[Frame]| {
        let authenticators = frames
            .iter()
            .filter(|f| matches!(f, Frame::Authenticator { .. }))
            .count();
        match frames.last() {
            Some(Frame::Error { code, reason }) => {
                assert_eq!(*code, error_code::PROTOCOL_VIOLATION, "{reason}");
                assert!(
                    reason.contains("we answered but have not sent the answer yet"),
                    "{reason}"
                );
            }
            other => panic!("expected ERROR, got {other:?}"),
        }
        authenticators
    };

    // During the initial exchange.
    let mut c = RawClient::connect(addr).await;
    let mut frames = vec![RawClient::hello()];
    frames.extend(pipelined(0));
    c.send(&frames).await;
    let (got, _) = c.read_to_end().await;
    assert_eq!(violation(&got), 1, "{got:?}");
    assert!(results.recv().await.unwrap().is_err());
    assert_eq!(counting.calls.load(Ordering::SeqCst), 1);

    // After the connection is ready (re-attestation requests).
    let mut c = RawClient::connect(addr).await;
    c.send(&[RawClient::hello(), RawClient::request(0, vec![0xee; 32])])
        .await;
    loop {
        match c.next_frame().await {
            Ok(Frame::Hello(_)) => {}
            Ok(Frame::Authenticator { request_id: 0, .. }) => break,
            other => panic!("{other:?}"),
        }
    }
    c.send(&[RawClient::accepted(0)]).await;
    c.send(&pipelined(1)).await;
    let (got, _) = c.read_to_end().await;
    assert_eq!(violation(&got), 1, "{got:?}");
    let r = results.recv().await.unwrap();
    assert!(matches!(&r, Err(m) if m.contains("have not sent")), "{r:?}");
    assert_eq!(
        counting.calls.load(Ordering::SeqCst),
        3,
        "initial 1 + initial 1 + one re-attestation"
    );
}
