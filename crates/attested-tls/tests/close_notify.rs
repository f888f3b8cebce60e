//! Every close of an attested connection that failed after it was ready
//! sends the ERROR frame and then a TLS close_notify (RFC 8446 §6.1), as
//! it always did before ready.
//!
//! Guards issue 8 (independent client): after ready, a failure found while
//! the application read (a DATA frame over the frame limit, a replayed
//! context, an OUTCOME for an unknown id, the 10 001st context) queued the
//! ERROR frame, tried once to write it and returned the error; `atls
//! serve`'s echo loop then dropped the stream: the ERROR frame went out or
//! not depending on timing, the close_notify never.

mod common;

use std::net::SocketAddr;

use attested_tls::ea::ContextRegistry;
use attested_tls::net::{self, AttestationConfig};
use attested_tls::transport::frame::{error_code, frame_type, DEFAULT_MAX_FRAME, MAX_DATA_CHUNK};
use attested_tls::transport::Frame;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Connections per case: the failure was timing-dependent.
const ROUNDS: usize = 20;

/// A server like `atls serve`: attests to each client, then echoes with
/// the stream split in halves, and drops the stream on the first error.
async fn echo_server(connections: usize) -> SocketAddr {
    let w = world(1);
    let cfg = AttestationConfig::attester(attester(&w.instances[0])).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = server_tls();
    tokio::spawn(async move {
        for _ in 0..connections {
            let (tcp, _) = listener.accept().await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let (tls, cfg) = (tls.clone(), cfg.clone());
            tokio::spawn(async move {
                let Ok((stream, _)) = net::accept(&tls, tcp, &cfg).await else {
                    return;
                };
                let (mut r, mut w) = tokio::io::split(stream);
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match r.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if w.write_all(&buf[..n]).await.is_err() || w.flush().await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// A client whose connection is ready on both sides: the server's answer
/// is accepted and one DATA round trip shows the server is in its echo
/// loop (past `accept`).
async fn ready_client(addr: SocketAddr) -> RawClient {
    let mut c = RawClient::connect(addr).await;
    c.send(&[RawClient::hello(), RawClient::request(0, vec![1; 32])]).await;
    loop {
        match c.next_frame().await {
            Ok(Frame::Authenticator { request_id: 0, .. }) => break,
            Ok(Frame::Hello(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    c.send(&[RawClient::accepted(0), Frame::Data(b"ping".to_vec())]).await;
    assert_eq!(c.next_frame().await.ok(), Some(Frame::Data(b"ping".to_vec())));
    c
}

/// Each way a client can break the protocol after ready, and the code it
/// gets.
fn violations() -> Vec<(&'static str, Vec<u8>, u16)> {
    let mut over_the_limit = vec![frame_type::DATA];
    over_the_limit.extend_from_slice(&(DEFAULT_MAX_FRAME as u32 + 1).to_be_bytes());
    let mut over_a_chunk = vec![frame_type::DATA];
    over_a_chunk.extend_from_slice(&(MAX_DATA_CHUNK as u32 + 1).to_be_bytes());
    over_a_chunk.resize(5 + MAX_DATA_CHUNK + 1, 0x5a);
    let plain_request = attested_tls::codec::AuthenticatorRequest {
        msg_type: attested_tls::codec::HandshakeType::ClientCertificateRequest,
        context: vec![2; 32],
        extensions: vec![attested_tls::codec::Extension::signature_algorithms(&[0x0403])],
    };
    vec![
        ("DATA over the frame limit", over_the_limit, error_code::FRAME_TOO_LARGE),
        ("DATA over 16384 bytes", over_a_chunk, error_code::DECODE_ERROR),
        (
            "replayed context",
            RawClient::request(1, vec![1; 32]).encode(),
            error_code::PROTOCOL_VIOLATION,
        ),
        (
            "OUTCOME for an unknown id",
            RawClient::accepted(7).encode(),
            error_code::PROTOCOL_VIOLATION,
        ),
        ("unknown frame type", vec![0x77, 0, 0, 0, 0], error_code::DECODE_ERROR),
        (
            "request without cmw_attestation",
            Frame::AuthRequest {
                request_id: 1,
                request: plain_request.encode(),
            }
            .encode(),
            error_code::UNSUPPORTED,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_after_ready_is_followed_by_close_notify() {
    let cases = violations();
    let addr = echo_server(cases.len() * ROUNDS).await;
    for (case, bytes, code) in cases {
        for round in 0..ROUNDS {
            let mut c = ready_client(addr).await;
            c.send_bytes(&bytes).await;
            let (got, reason) = c.error_then_close_notify(&format!("{case} (round {round})")).await;
            assert_eq!(got, code, "{case} (round {round}): {reason}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_context_over_the_connection_limit_gets_an_error_and_close_notify() {
    let addr = echo_server(1).await;
    let mut c = ready_client(addr).await;
    // Request 0 used the first context; re-attest until the server has
    // seen as many as a connection may use, then once more. Each round
    // trip waits for its answer (one request at a time).
    for id in 1..ContextRegistry::MAX_CONTEXTS as u32 {
        c.send(&[RawClient::request(id, id.to_be_bytes().repeat(8))]).await;
        match c.next_frame().await {
            Ok(Frame::Authenticator { request_id, .. }) if request_id == id => {}
            other => panic!("request {id}: {other:?}"),
        }
        c.send(&[RawClient::accepted(id)]).await;
    }
    let last = ContextRegistry::MAX_CONTEXTS as u32;
    c.send(&[RawClient::request(last, last.to_be_bytes().repeat(8))]).await;
    let (code, reason) = c.error_then_close_notify("10 001st context").await;
    assert_eq!(code, error_code::PROTOCOL_VIOLATION, "{reason}");
    assert!(reason.contains("10000 certificate_request_contexts"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_data_frame_after_ready_carries_nothing() {
    // docs/transport.md: an empty DATA frame is allowed once ready; it is
    // neither delivered nor an end of stream.
    let addr = echo_server(1).await;
    let mut c = ready_client(addr).await;
    c.send(&[Frame::Data(Vec::new()), Frame::Data(b"after".to_vec())]).await;
    assert_eq!(c.next_frame().await.ok(), Some(Frame::Data(b"after".to_vec())));
}
