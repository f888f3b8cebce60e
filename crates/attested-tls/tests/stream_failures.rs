//! After any failure an `AttestedStream` is dead: a peer that misbehaves
//! after attestation (bad re-attestation answer, silence, undecodable or
//! oversized frames) gets no more application data delivered from it or
//! sent to it, and learns why when it can.

mod common;

use std::time::Duration;

use attested_tls::ea::Role;
use attested_tls::net::{self, AttestationConfig, NetError};
use attested_tls::transport::frame::{error_code, frame_type, MAX_DATA_CHUNK};
use attested_tls::transport::{Frame, FrameDecoder, Session, SessionConfig, SessionError};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

/// A server that attests with a genuine sans-IO session until the client
/// is satisfied, then hands the raw TLS stream to the test to misbehave.
struct ScriptedServer {
    tls: TlsStream<TcpStream>,
    decoder: FrameDecoder,
}

impl ScriptedServer {
    async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = self.decoder.next_frame().unwrap() {
                return Some(f);
            }
            let mut buf = [0u8; 4096];
            let n = self.tls.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            self.decoder.push(&buf[..n]);
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.tls.write_all(bytes).await.unwrap();
        self.tls.flush().await.unwrap();
    }
}

async fn scripted_pair(client_att: AttestationConfig) -> (ScriptedServer, ClientStream) {
    let w = world(1);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = server_tls();
    let mut cfg = SessionConfig::new(Role::Server);
    cfg.attester = Some(attester(&w.instances[0]));
    cfg.identity = Some(identity());
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = tokio_rustls::TlsAcceptor::from(tls).accept(tcp).await.unwrap();
        let mut s = ScriptedServer {
            tls,
            decoder: FrameDecoder::new(1 << 20),
        };
        let mut session = Session::new(cfg);
        while !session.is_ready() {
            let f = s.next_frame().await.expect("attestation frames");
            session.handle_frame(f, s.tls.get_ref().1).unwrap();
            let out = session.take_outgoing();
            s.send(&out).await;
        }
        s
    });
    let client_att = client_att.with_appraiser(w.test_appraiser());
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, ear) = net::connect(&net::tls::client_config().unwrap(), "server.test", tcp, &client_att)
        .await
        .unwrap();
    assert!(ear.unwrap().is_affirming());
    (srv.await.unwrap(), client)
}

fn data(bytes: &[u8]) -> Vec<u8> {
    Frame::Data(bytes.to_vec()).encode()
}

/// Reads what the client sends until it closes; returns the ERROR frame
/// it sent, if any.
async fn client_error(server: &mut ScriptedServer) -> Option<(u16, String)> {
    let wait = async {
        while let Some(f) = server.next_frame().await {
            if let Frame::Error { code, reason } = f {
                return Some((code, reason));
            }
        }
        None
    };
    // A failing implementation may simply go silent: fail, do not hang.
    tokio::time::timeout(Duration::from_secs(5), wait).await.ok().flatten()
}

#[tokio::test]
async fn data_sent_with_an_invalid_reattestation_answer_is_not_delivered() {
    let (mut server, mut client) = scripted_pair(AttestationConfig::default()).await;
    let script = tokio::spawn(async move {
        let Some(Frame::AuthRequest { request_id, .. }) = server.next_frame().await else {
            panic!("expected the re-attestation request");
        };
        let mut bytes = data(b"sent before the bad answer");
        Frame::Authenticator {
            request_id,
            authenticator: vec![0x0b, 0, 0, 1, 0],
        }
        .encode_into(&mut bytes);
        server.send(&bytes).await;
        server
    });
    let e = client.reattest().await.unwrap_err();
    assert!(matches!(e, NetError::Attestation(_)), "{e}");
    let _server = script.await.unwrap();
    let mut buf = [0u8; 64];
    let e = client.read(&mut buf).await.unwrap_err();
    assert!(
        e.to_string().contains("attested session failed"),
        "no data from a peer whose re-attestation failed: {e}"
    );
    let e = client.write_all(b"more").await.unwrap_err();
    assert!(e.to_string().contains("attested session failed"), "{e}");
    assert!(matches!(client.reattest().await, Err(NetError::Failed)));
}

#[tokio::test]
async fn a_reattestation_timeout_is_fatal_and_reported() {
    let cfg = AttestationConfig {
        attestation_timeout: Duration::from_millis(300),
        ..AttestationConfig::default()
    };
    let (mut server, mut client) = scripted_pair(cfg).await;
    let script = tokio::spawn(async move {
        // Read the request, answer nothing; send data once the client gave up.
        assert!(matches!(server.next_frame().await, Some(Frame::AuthRequest { .. })));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = server.tls.write_all(&data(b"after the deadline")).await;
        let _ = server.tls.flush().await;
        client_error(&mut server).await
    });
    let e = client.reattest().await.unwrap_err();
    assert!(matches!(e, NetError::Timeout("re-attestation")), "{e}");
    let mut buf = [0u8; 64];
    let e = client.read(&mut buf).await.unwrap_err();
    assert!(e.to_string().contains("attested session failed"), "{e}");
    let (code, reason) = script.await.unwrap().expect("an ERROR frame");
    assert_eq!(code, error_code::TIMEOUT);
    assert!(reason.contains("re-attestation"), "{reason}");
}

#[tokio::test]
async fn an_undecodable_frame_after_attestation_is_fatal_and_reported() {
    let (mut server, mut client) = scripted_pair(AttestationConfig::default()).await;
    let mut bytes = data(b"fine");
    // Frame type 0x77 does not exist.
    bytes.extend_from_slice(&[0x77, 0, 0, 0, 1, 0]);
    bytes.extend(data(b"after the bad frame"));
    server.send(&bytes).await;
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    let err = loop {
        let read = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf));
        match read.await.expect("the client reports the bad frame") {
            Ok(0) => panic!("EOF instead of an error"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert!(
        err.to_string().contains("0x77") || err.to_string().contains("type"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&got).contains("after"), "{got:?}");
    let e = client.write_all(b"to a broken peer").await.unwrap_err();
    assert!(e.to_string().contains("attested session failed"), "{e}");
    let (code, _) = client_error(&mut server).await.expect("an ERROR frame");
    assert_eq!(code, error_code::DECODE_ERROR);
}

#[tokio::test]
async fn an_oversized_frame_is_reported_as_too_large() {
    let (mut server, mut client) = scripted_pair(AttestationConfig::default()).await;
    let mut header = vec![frame_type::DATA];
    header.extend_from_slice(&u32::MAX.to_be_bytes());
    server.send(&header).await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf));
    let e = read.await.expect("the client reports the oversized frame").unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("frame of type 0x{:02x}; the limit is", frame_type::DATA)),
        "{e}"
    );
    let e = client.read(&mut buf).await.unwrap_err();
    assert!(e.to_string().contains("attested session failed"), "stays failed: {e}");
    let (code, reason) = client_error(&mut server).await.expect("an ERROR frame");
    assert_eq!(code, error_code::FRAME_TOO_LARGE, "{reason}");
}

#[tokio::test]
async fn a_stream_that_ends_inside_a_frame_is_an_error_not_an_end_of_data() {
    let (mut server, mut client) = scripted_pair(AttestationConfig::default()).await;
    let mut bytes = data(b"whole");
    // A DATA frame announcing 10 bytes, of which only 3 arrive before an
    // orderly TLS close.
    bytes.extend_from_slice(&[frame_type::DATA, 0, 0, 0, 10, 1, 2, 3]);
    server.send(&bytes).await;
    server.tls.shutdown().await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    let err = loop {
        let read = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf));
        match read.await.expect("the client reports the truncated frame") {
            Ok(0) => panic!("a clean end of data after a truncated frame; got {got:?}"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(got, b"whole");
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    assert!(err.to_string().contains("truncated frame"), "{err}");
}

#[tokio::test]
async fn more_data_than_the_buffer_limit_during_a_reattestation_is_fatal() {
    let cfg = AttestationConfig {
        attestation_timeout: Duration::from_secs(5),
        ..AttestationConfig::default()
    };
    let (mut server, mut client) = scripted_pair(cfg).await;
    let script = tokio::spawn(async move {
        assert!(matches!(server.next_frame().await, Some(Frame::AuthRequest { .. })));
        // No answer: a flood of DATA frames instead, 1 MiB and one chunk
        // more than the client buffers while it waits.
        let chunk = data(&vec![0x5a; MAX_DATA_CHUNK]);
        for _ in 0..(1 << 20) / MAX_DATA_CHUNK + 1 {
            server.send(&chunk).await;
        }
        client_error(&mut server).await
    });
    let e = client.reattest().await.unwrap_err();
    assert!(
        matches!(
            e,
            NetError::Attestation(SessionError::State(
                "too much application data buffered while re-attesting"
            ))
        ),
        "{e}"
    );
    let mut buf = [0u8; 64];
    let e = client.read(&mut buf).await.unwrap_err();
    assert!(
        e.to_string().contains("attested session failed"),
        "nothing buffered is delivered: {e}"
    );
    assert!(script.await.unwrap().is_some(), "the client sends an ERROR frame");
}

/// An attester that takes `delay` (like a platform whose firmware or host
/// is slow), then answers as the simulated TEE would.
struct SlowAttester {
    inner: std::sync::Arc<dyn attested_tls::attester::Attester>,
    delay: Duration,
}

impl attested_tls::attester::Attester for SlowAttester {
    fn platform(&self) -> &str {
        "slow"
    }
    fn attest(
        &self,
        binding: &attested_tls::binder::BindingClaims,
    ) -> Result<attested_tls::cmw::Cmw, attested_tls::attester::AttestError> {
        std::thread::sleep(self.delay);
        self.inner.attest(binding)
    }
}

/// Counts 5 ms ticks on the current runtime while `f` runs.
async fn ticks_during<T>(f: impl std::future::Future<Output = T>) -> (T, u32) {
    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let t = ticks.clone();
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            t.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let r = f.await;
    ticker.abort();
    (r, ticks.load(std::sync::atomic::Ordering::Relaxed))
}

#[tokio::test]
async fn a_slow_attester_does_not_stall_the_runtime() {
    // #[tokio::test] runs on one thread: an attester called inline would
    // stop every other task for its whole duration.
    let w = world(1);
    let slow = SlowAttester {
        inner: attester(&w.instances[0]),
        delay: Duration::from_millis(300),
    };
    let server = AttestationConfig::attester(std::sync::Arc::new(slow)).unwrap();
    let ((srv, cli), ticks) = ticks_during(run_pair(server, AttestationConfig::verifier(w.test_appraiser()))).await;
    assert!(srv.is_ok() && cli.is_ok_and(|(_, ear)| ear.unwrap().is_affirming()));
    assert!(ticks >= 10, "only {ticks} ticks in 300+ ms: the runtime was blocked");
}

#[tokio::test]
async fn a_hung_attester_fails_at_the_attestation_deadline() {
    let w = world(1);
    let slow = SlowAttester {
        inner: attester(&w.instances[0]),
        delay: Duration::from_secs(3),
    };
    let server = AttestationConfig {
        attestation_timeout: Duration::from_millis(300),
        ..AttestationConfig::attester(std::sync::Arc::new(slow)).unwrap()
    };
    let start = std::time::Instant::now();
    let (srv, cli) = run_pair(server, AttestationConfig::verifier(w.test_appraiser())).await;
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "waited {:?} for a 300 ms deadline",
        start.elapsed()
    );
    // The attestation deadline and the attester's own deadline are equal
    // here; whichever the runtime sees first ends it.
    assert!(
        matches!(srv, Err(NetError::Timeout(step)) if step.starts_with("attestation")),
        "{:?}",
        srv.err()
    );
    match cli {
        Err(NetError::Attestation(attested_tls::transport::SessionError::PeerError { code, .. })) => {
            assert_eq!(code, error_code::TIMEOUT)
        }
        other => panic!("client: {:?}", other.err()),
    }
}
