//! The connector against an attested axum server over real loopback TLS.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use attested_tls::net::{self, AttestationConfig, NetError};
use attested_tls::sim::{self, SimAttester};
use attested_tls::transport::SessionError;
use attested_tls_http::{find_net_error, AttestedConnector, AttestedServer, PeerAttestation};
use axum::routing::get;
use axum::Router;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type HttpClient = Client<AttestedConnector, Empty<bytes::Bytes>>;

/// A router that counts the requests reaching it; `/who` answers the
/// client's `instance_id` claim (403 through the extractor if it did not
/// attest), `/maybe` answers with or without one.
fn router(hits: Arc<AtomicUsize>) -> Router {
    let h1 = hits.clone();
    let h2 = hits;
    Router::new()
        .route(
            "/who",
            get(move |client: PeerAttestation| async move {
                h1.fetch_add(1, Ordering::SeqCst);
                client.claim("instance_id").unwrap_or_default()
            }),
        )
        .route(
            "/maybe",
            get(move |client: Option<PeerAttestation>| async move {
                h2.fetch_add(1, Ordering::SeqCst);
                match client {
                    Some(c) => format!("attested {}", c.claim("instance_id").unwrap_or_default()),
                    None => "anonymous".to_string(),
                }
            }),
        )
}

/// Starts an [`AttestedServer`] attesting with `instance` (and appraising
/// clients with `client_appraiser`, if given) on a loopback port; returns
/// the base URI and the request counter.
async fn start_server(
    instance: sim::SimInstance,
    client_appraiser: Option<attested_tls::verifier::Appraiser>,
) -> (String, Arc<AtomicUsize>) {
    let mut att = AttestationConfig::attester(Arc::new(SimAttester::new(instance))).unwrap();
    if let Some(a) = client_appraiser {
        att = att.with_appraiser(a);
    }
    let (cert, key) = net::tls::self_signed_server_identity("localhost").unwrap();
    let server = AttestedServer::new(net::tls::server_config(vec![cert], key).unwrap(), att).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    tokio::spawn(server.serve(listener, router(hits.clone())));
    (format!("https://localhost:{port}"), hits)
}

fn client(att: AttestationConfig) -> HttpClient {
    Client::builder(TokioExecutor::new()).build(AttestedConnector::new(att).unwrap())
}

async fn get_text(client: &HttpClient, uri: &str) -> (http::StatusCode, Option<PeerAttestation>, String) {
    let response = client.get(uri.parse().unwrap()).await.unwrap();
    let status = response.status();
    let server = response.extensions().get::<PeerAttestation>().cloned();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, server, String::from_utf8(body.to_vec()).unwrap())
}

/// The server's result reaches the response's extensions as a typed
/// `PeerAttestation`, and the client's reaches the handler (mutual).
#[tokio::test]
async fn mutual_ears_reach_response_and_handler() {
    let world = sim::ephemeral_world(2).unwrap();
    let (base, hits) = start_server(world.instances[0].clone(), Some(world.appraiser("clients"))).await;
    let att = AttestationConfig::verifier(world.appraiser("servers"))
        .with_attester(Arc::new(SimAttester::new(world.instances[1].clone())))
        .unwrap();
    let client = client(att);

    let (status, server, body) = get_text(&client, &format!("{base}/who")).await;
    assert_eq!(status, http::StatusCode::OK);
    let server = server.expect("the connector puts the server's result in the response extensions");
    assert!(server.ear().is_affirming(), "{}", server.ear().render());
    assert_eq!(
        server.claim("instance_id").unwrap(),
        hex::encode(&world.instances[0].config().instance_id)
    );
    assert_eq!(
        server.ear().submods.values().next().unwrap().policy_ids,
        vec!["servers"]
    );
    // The handler saw the client's result (instance 1), not the server's.
    assert_eq!(body, hex::encode(&world.instances[1].config().instance_id));

    // A second request on the pooled connection carries the result too.
    let (status, server, body) = get_text(&client, &format!("{base}/maybe")).await;
    assert_eq!(status, http::StatusCode::OK);
    assert!(server.is_some());
    assert_eq!(
        body,
        format!("attested {}", hex::encode(&world.instances[1].config().instance_id))
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

/// A server whose measurement the client's policy does not list: the
/// request fails with the refusal (a NetError in the source chain, with
/// the EAR naming `measurement`), and no request reaches the server.
#[tokio::test]
async fn refused_server_gets_no_request() {
    let world = sim::ephemeral_world(1).unwrap();
    let unapproved = world
        .root
        .issue_instance(sim::SimInstanceConfig::new(vec![0xee; 48]))
        .unwrap();
    let (base, hits) = start_server(unapproved, None).await;
    let client = client(AttestationConfig::verifier(world.appraiser("strict")));

    let err = client.get(format!("{base}/maybe").parse().unwrap()).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let net_err = find_net_error(&err).expect("the connector's NetError is in the source chain");
    assert!(
        matches!(net_err, NetError::Attestation(SessionError::PeerNotTrusted { .. })),
        "{net_err:?}"
    );
    let ear = net_err.peer_ear().expect("the refusal carries the EAR");
    assert!(
        ear.submods
            .values()
            .flat_map(|a| &a.findings)
            .any(|f| f.claim == "measurement"),
        "{}",
        ear.render()
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a request reached a refused server");
}

/// Guards the extractor: a client that did not attest gets 403 from a
/// handler that requires `PeerAttestation`, and `Option<PeerAttestation>`
/// serves it as anonymous.
#[tokio::test]
async fn extractor_refuses_unattested_client_with_403() {
    let world = sim::ephemeral_world(1).unwrap();
    let (base, hits) = start_server(world.instances[0].clone(), None).await;
    let client = client(AttestationConfig::verifier(world.appraiser("servers")));

    let (status, server, body) = get_text(&client, &format!("{base}/who")).await;
    assert_eq!(status, http::StatusCode::FORBIDDEN);
    assert!(body.contains("requires an attested client"), "{body}");
    assert!(server.is_some(), "the server was appraised all the same");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the handler ran without an attested client"
    );

    let (status, _, body) = get_text(&client, &format!("{base}/maybe")).await;
    assert_eq!(status, http::StatusCode::OK);
    assert_eq!(body, "anonymous");
}

/// Guards pooling across policies: a Client whose policy refuses the
/// server does not get the connection another Client (another policy)
/// opened and pooled.
#[tokio::test]
async fn pooled_connection_not_shared_across_policies() {
    let world = sim::ephemeral_world(1).unwrap();
    let other_world = sim::ephemeral_world(1).unwrap();
    let (base, hits) = start_server(world.instances[0].clone(), None).await;
    let trusting = client(AttestationConfig::verifier(world.appraiser("trusting")));
    let (status, _, _) = get_text(&trusting, &format!("{base}/maybe")).await;
    assert_eq!(status, http::StatusCode::OK);

    // Trusts another simulation root only.
    let other = client(AttestationConfig::verifier(other_world.appraiser("other-root")));
    let err = other.get(format!("{base}/maybe").parse().unwrap()).await.unwrap_err();
    let net_err = find_net_error(&err).expect("NetError in the chain");
    assert!(
        matches!(net_err, NetError::Attestation(SessionError::PeerNotTrusted { .. })),
        "{net_err:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

/// Guards the idle timeout: an attested client that sends no request is
/// disconnected (after `idle_timeout`, here 100 ms) instead of holding one
/// of the server's connection places for ever. The 60 s bound only keeps a
/// regression from hanging the suite; nothing here is timed.
#[tokio::test]
async fn idle_connection_is_closed() {
    use tokio::io::AsyncReadExt;
    let world = sim::ephemeral_world(1).unwrap();
    let att = AttestationConfig::attester(Arc::new(SimAttester::new(world.instances[0].clone()))).unwrap();
    let (cert, key) = net::tls::self_signed_server_identity("localhost").unwrap();
    let server = AttestedServer::new(net::tls::server_config(vec![cert], key).unwrap(), att)
        .unwrap()
        .idle_timeout(std::time::Duration::from_millis(100));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server.serve(listener, router(Arc::new(AtomicUsize::new(0)))));

    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let client = AttestationConfig::verifier(world.appraiser("p"));
    let (mut stream, ear) = net::connect(&net::tls::client_config().unwrap(), "localhost", tcp, &client)
        .await
        .unwrap();
    assert!(ear.is_some());
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(std::time::Duration::from_secs(60), stream.read(&mut buf))
        .await
        .expect("the server closes an idle connection");
    // hyper closes without a response (nothing was requested): an orderly
    // end of stream, or a 408 on some versions; never data we did not ask for
    // beyond that status line.
    match read {
        Ok(0) => {}
        Ok(n) => assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e) => panic!("{e}"),
    }
}

/// A raw attested server (no hyper) that reads one request head, answers
/// `response`, then reads to the end of the stream: `Ok(0)` is an orderly
/// close (TLS close_notify), an error a truncation.
async fn one_shot_server(
    world: &sim::SimWorld,
    response: &'static [u8],
) -> (u16, tokio::task::JoinHandle<std::io::Result<usize>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let att = AttestationConfig::attester(Arc::new(SimAttester::new(world.instances[0].clone()))).unwrap();
    let (cert, key) = net::tls::self_signed_server_identity("localhost").unwrap();
    let tls = net::tls::server_config(vec![cert], key).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let (mut s, _) = net::accept(&tls, tcp, &att).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            assert_eq!(s.read(&mut b).await.unwrap(), 1);
            head.push(b[0]);
        }
        s.write_all(response).await.unwrap();
        s.flush().await.unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await
    });
    (port, server)
}

/// The client's close after an error (a response hyper cannot parse) is
/// orderly: the server reads the TLS close_notify (docs/transport.md,
/// *Closing*), not a truncation. hyper shuts the connection down itself on
/// this path (the test passes without the connector's `CloseOnDrop`, which
/// covers the paths where hyper drops a connection without a shutdown, as
/// the server's idle timeout shows); this guards the orderly close
/// whichever does it. The 60 s bound only keeps a regression from hanging
/// the suite.
#[tokio::test]
async fn client_closes_with_close_notify_after_an_error() {
    let world = sim::ephemeral_world(1).unwrap();
    let (port, server) = one_shot_server(&world, b"not HTTP at all\r\n\r\n").await;
    let client = client(AttestationConfig::verifier(world.appraiser("p")));
    let err = client
        .get(format!("https://localhost:{port}/").parse().unwrap())
        .await
        .unwrap_err();
    assert!(!err.is_connect(), "attested, then a bad response: {err:?}");
    let end = tokio::time::timeout(std::time::Duration::from_secs(60), server)
        .await
        .expect("the client closes the failed connection")
        .unwrap();
    assert_eq!(end.expect("an orderly close, not a truncation"), 0);
}

/// The same when the `Client` is dropped with a pooled connection.
#[tokio::test]
async fn dropped_client_closes_with_close_notify() {
    let world = sim::ephemeral_world(1).unwrap();
    let (port, server) = one_shot_server(&world, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
    let client = client(AttestationConfig::verifier(world.appraiser("p")));
    let (status, _, body) = get_text(&client, &format!("https://localhost:{port}/")).await;
    assert_eq!((status, body.as_str()), (http::StatusCode::OK, "ok"));
    drop(client);
    let end = tokio::time::timeout(std::time::Duration::from_secs(60), server)
        .await
        .expect("the client closes its dropped connection")
        .unwrap();
    assert_eq!(end.expect("an orderly close, not a truncation"), 0);
}

/// Guards the scheme check end to end/// Guards the scheme check end to end: an `http` URI fails with
/// NetError::Config before any connection.
#[tokio::test]
async fn plain_http_uri_is_refused() {
    let world = sim::ephemeral_world(1).unwrap();
    let client = client(AttestationConfig::verifier(world.appraiser("p")));
    let err = client.get("http://127.0.0.1:9/".parse().unwrap()).await.unwrap_err();
    match find_net_error(&err) {
        Some(NetError::Config(m)) => assert!(m.contains("only https"), "{m}"),
        other => panic!("{other:?}"),
    }
}
