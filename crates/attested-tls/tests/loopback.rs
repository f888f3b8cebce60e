//! Attested connections over real loopback TLS: every direction,
//! re-attestation, and every refusal the policy must produce.

mod common;

use std::sync::Arc;

use attested_tls::net::{AttestationConfig, NetError};
use attested_tls::transport::SessionError;
use common::*;

fn server_attests(instance: &attested_tls::sim::SimInstance) -> AttestationConfig {
    AttestationConfig::attester(attester(instance)).unwrap()
}

#[tokio::test]
async fn server_attests_to_client() {
    let w = world(1);
    let (srv, cli) = run_pair(
        server_attests(&w.instances[0]),
        AttestationConfig::verifier(w.test_appraiser()),
    )
    .await;
    let (mut s, server_view) = srv.unwrap();
    let (mut c, ear) = cli.unwrap();
    assert!(server_view.is_none(), "the server appraised nothing");
    let ear = ear.expect("client appraised the server");
    assert!(ear.is_affirming(), "{}", ear.render());
    assert_eq!(
        ear.submods["sim"].claims["measurement"],
        hex::encode(&w.instances[0].config().measurement)
    );
    echo_once(&mut s, &mut c, b"hello attested world").await;
}

#[tokio::test]
async fn client_attests_to_server() {
    let w = world(1);
    let (srv, cli) = run_pair(
        AttestationConfig::verifier(w.test_appraiser()),
        server_attests(&w.instances[0]),
    )
    .await;
    let (mut s, ear) = srv.unwrap();
    let (mut c, client_view) = cli.unwrap();
    assert!(client_view.is_none());
    assert!(ear.unwrap().is_affirming());
    echo_once(&mut s, &mut c, b"ping").await;
}

#[tokio::test]
async fn mutual_attestation() {
    let w = world(2);
    let server = server_attests(&w.instances[0]).with_appraiser(w.test_appraiser());
    let client = server_attests(&w.instances[1]).with_appraiser(w.test_appraiser());
    let (srv, cli) = run_pair(server, client).await;
    let (mut s, s_ear) = srv.unwrap();
    let (mut c, c_ear) = cli.unwrap();
    let s_ear = s_ear.unwrap();
    let c_ear = c_ear.unwrap();
    assert!(s_ear.is_affirming() && c_ear.is_affirming());
    // Each side saw the other's instance.
    assert_eq!(
        s_ear.submods["sim"].claims["instance_id"],
        hex::encode(&w.instances[1].config().instance_id)
    );
    assert_eq!(
        c_ear.submods["sim"].claims["instance_id"],
        hex::encode(&w.instances[0].config().instance_id)
    );
    echo_once(&mut s, &mut c, &vec![7u8; 100_000]).await;
}

#[tokio::test]
async fn reattestation_on_a_live_connection_uses_a_new_context() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let w = world(1);
    let (srv, cli) = run_pair(
        server_attests(&w.instances[0]),
        AttestationConfig::verifier(w.test_appraiser()),
    )
    .await;
    let (mut s, _) = srv.unwrap();
    let (mut c, first) = cli.unwrap();
    let first = first.unwrap();
    // An echo server: it answers re-attestation requests in-band while reading.
    let server_task = tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                return;
            }
            s.write_all(&buf[..n]).await.unwrap();
            s.flush().await.unwrap();
        }
    });
    let mut nonces = vec![first.eat_nonce.clone()];
    for round in 0..3u8 {
        let again = c.reattest().await.unwrap();
        assert!(again.is_affirming(), "{}", again.render());
        assert!(
            !nonces.contains(&again.eat_nonce),
            "round {round}: a new context gives a new binder"
        );
        nonces.push(again.eat_nonce.clone());
        let msg = [round; 5];
        c.write_all(&msg).await.unwrap();
        c.flush().await.unwrap();
        let mut back = [0u8; 5];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(back, msg);
    }
    c.shutdown().await.unwrap();
    drop(c);
    server_task.await.unwrap();
}

fn expect_refusal(
    srv: Result<(ServerStream, Option<attested_tls::ear::Ear>), NetError>,
    cli: Result<(ClientStream, Option<attested_tls::ear::Ear>), NetError>,
    needle: &str,
) {
    let cli_err = match cli {
        Err(e) => e,
        Ok(_) => panic!("client accepted a peer it must refuse"),
    };
    let ear = cli_err
        .peer_ear()
        .unwrap_or_else(|| panic!("client error is not an appraisal refusal: {cli_err}"));
    assert!(!ear.is_acceptable());
    let text = cli_err.to_string();
    assert!(
        text.contains(needle),
        "client refusal {text:?} does not name {needle:?}"
    );
    assert!(text.contains("test-policy"), "refusal names the policy: {text}");
    match srv {
        Err(NetError::Attestation(SessionError::RefusedByPeer(reason))) => {
            assert!(
                reason.contains(needle),
                "server learned {reason:?}, which does not name {needle:?}"
            )
        }
        Err(e) => panic!("server saw {e}, expected the client's refusal"),
        Ok(_) => panic!("server completed although the client refused it"),
    }
}

#[tokio::test]
async fn untrusted_simulation_root_is_refused() {
    let w = world(1);
    let other = world(1);
    let (srv, cli) = run_pair(
        server_attests(&w.instances[0]),
        AttestationConfig::verifier(other.test_appraiser()),
    )
    .await;
    expect_refusal(srv, cli, "not trusted");
}

#[tokio::test]
async fn wrong_measurement_is_refused() {
    let w = world(1);
    let bad = w.instance_with(|c| c.measurement = vec![0xee; 48]);
    let (srv, cli) = run_pair(
        server_attests(&bad),
        AttestationConfig::verifier(w.appraiser_with(w.sim_policy(false))),
    )
    .await;
    expect_refusal(srv, cli, "measurement");
}

#[tokio::test]
async fn disallowed_instance_is_refused() {
    // Same root, same measurement, another platform instance: the
    // diversion case (I2 allow-list).
    let w = world(1);
    let t2 = w.instance_with(|c| c.instance_id = vec![0x01, 0x22, 0x22, 0x22]);
    let (srv, cli) = run_pair(server_attests(&t2), AttestationConfig::verifier(w.test_appraiser())).await;
    expect_refusal(srv, cli, "instance");
}

#[tokio::test]
async fn debug_instance_is_refused_unless_allowed() {
    let w = world(1);
    let dbg = w.instance_with(|c| c.debug = true);
    let (srv, cli) = run_pair(
        server_attests(&dbg),
        AttestationConfig::verifier(w.appraiser_with(w.sim_policy(false))),
    )
    .await;
    expect_refusal(srv, cli, "debug");

    let mut allow = w.sim_policy(false);
    allow.allow_debug = true;
    let (srv, cli) = run_pair(
        server_attests(&dbg),
        AttestationConfig::verifier(w.appraiser_with(allow)),
    )
    .await;
    let (_, ear) = cli.expect("debug explicitly allowed");
    srv.unwrap();
    let ear = ear.unwrap();
    assert_eq!(
        ear.status,
        attested_tls::ear::Tier::Warning,
        "the result says debug was allowed"
    );
    assert!(ear.submods["sim"].findings.iter().any(|f| f.claim.contains("debug")));
}

#[tokio::test]
async fn a_peer_without_attester_is_refused_by_a_verifier() {
    let w = world(1);
    let (srv, cli) = run_pair(
        AttestationConfig::default().with_appraiser(w.test_appraiser()),
        AttestationConfig::verifier(w.test_appraiser()),
    )
    .await;
    assert!(
        matches!(cli, Err(NetError::Attestation(SessionError::PeerCannotAttest(_)))),
        "{:?}",
        cli.err()
    );
    assert!(
        matches!(srv, Err(NetError::Attestation(SessionError::PeerCannotAttest(_)))),
        "{:?}",
        srv.err()
    );
}

#[tokio::test]
async fn a_server_that_cannot_attest_learns_why_it_was_refused() {
    let w = world(1);
    let (srv, cli) = run_pair(
        AttestationConfig::default(),
        AttestationConfig::verifier(w.test_appraiser()),
    )
    .await;
    assert!(
        matches!(cli, Err(NetError::Attestation(SessionError::PeerCannotAttest(_)))),
        "{:?}",
        cli.err()
    );
    // An ERROR frame with the reason, not only a closed connection.
    match srv {
        Err(NetError::Attestation(SessionError::PeerError { code, reason })) => {
            assert_eq!(code, attested_tls::transport::frame::error_code::UNSUPPORTED);
            assert!(reason.contains("can_attest"), "{reason}");
        }
        other => panic!("server: {:?}", other.err()),
    }
}

#[tokio::test]
async fn unattested_connections_are_refused() {
    let (srv, cli) = run_pair(AttestationConfig::default(), AttestationConfig::default()).await;
    assert!(
        matches!(cli, Err(NetError::Attestation(SessionError::NoAttestation))),
        "{:?}",
        cli.err()
    );
    assert!(
        matches!(srv, Err(NetError::Attestation(SessionError::NoAttestation))),
        "{:?}",
        srv.err()
    );
}

#[tokio::test]
async fn exporter_label_mismatch_is_refused_at_hello() {
    let w = world(1);
    let mut server = server_attests(&w.instances[0]);
    server.profile.exporter_label = attested_tls::binder::EXPORTER_LABEL_ATTESTATION_LEGACY.to_vec();
    let (_srv, cli) = run_pair(server, AttestationConfig::verifier(w.test_appraiser())).await;
    match cli {
        Err(NetError::Attestation(SessionError::Incompatible(m))) => assert!(m.contains("Attestation"), "{m}"),
        other => panic!("expected an exporter label mismatch, got {:?}", other.err()),
    }
}

#[tokio::test]
async fn legacy_label_profile_interoperates_when_both_sides_use_it() {
    let w = world(1);
    let label = attested_tls::binder::EXPORTER_LABEL_ATTESTATION_LEGACY.to_vec();
    let mut server = server_attests(&w.instances[0]);
    server.profile.exporter_label = label.clone();
    let mut client = AttestationConfig::verifier(w.test_appraiser());
    client.profile.exporter_label = label;
    let (srv, cli) = run_pair(server, client).await;
    srv.unwrap();
    assert!(cli.unwrap().1.unwrap().is_affirming());
}

#[tokio::test]
async fn silent_peer_times_out() {
    use std::time::Duration;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = server_tls();
    // A TLS server that completes the handshake and then says nothing.
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let s = tokio_rustls::TlsAcceptor::from(tls).accept(tcp).await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(s);
    });
    let w = world(1);
    let mut cfg = AttestationConfig::verifier(w.test_appraiser());
    cfg.attestation_timeout = Duration::from_millis(300);
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let r = attested_tls::net::connect(
        &attested_tls::net::tls::client_config().unwrap(),
        "server.test",
        tcp,
        &cfg,
    )
    .await;
    assert!(
        matches!(r, Err(NetError::Timeout("attestation (waiting for the peer's HELLO)"))),
        "{:?}",
        r.err()
    );
    srv.abort();
    let _ = Arc::new(());
}

#[tokio::test]
async fn unusable_profiles_are_refused_before_connecting() {
    let w = world(1);
    let mut cfg = AttestationConfig::verifier(w.test_appraiser());
    cfg.profile.exporter_label = Vec::new();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let r = attested_tls::net::connect(&attested_tls::net::tls::client_config().unwrap(), "s", stream, &cfg).await;
    match r {
        Err(NetError::Config(m)) => assert!(m.contains("exporter label"), "{m}"),
        other => panic!("expected a configuration error, got {:?}", other.err()),
    }
}

#[tokio::test]
async fn post_quantum_hybrid_key_exchange_is_negotiated() {
    let w = world(1);
    let (srv, cli) = run_pair(
        server_attests(&w.instances[0]),
        AttestationConfig::verifier(w.test_appraiser()),
    )
    .await;
    srv.unwrap();
    let (c, _) = cli.unwrap();
    let group = c
        .get_ref()
        .get_ref()
        .1
        .negotiated_key_exchange_group()
        .map(|g| g.name());
    assert_eq!(group, Some(rustls::NamedGroup::X25519MLKEM768));
}

#[tokio::test]
async fn an_attester_that_only_writes_still_answers_reattestation() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A server streaming a long response never reads; the client
    // re-attests it in the middle of the stream.
    let w = world(1);
    let (srv, cli) = run_pair(
        AttestationConfig::attester(attester(&w.instances[0])).unwrap(),
        AttestationConfig {
            attestation_timeout: std::time::Duration::from_secs(3),
            ..AttestationConfig::verifier(w.test_appraiser())
        },
    )
    .await;
    let (mut server, _) = srv.unwrap();
    let (mut client, _) = cli.unwrap();
    let streaming = tokio::spawn(async move {
        let chunk = [0x5a_u8; 1024];
        let mut sent = 0usize;
        // Until the client goes away.
        while server.write_all(&chunk).await.is_ok() && server.flush().await.is_ok() {
            sent += chunk.len();
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        sent
    });
    let mut buf = vec![0u8; 8192];
    client.read_exact(&mut buf).await.unwrap();
    for _ in 0..3 {
        let ear = client.reattest().await.expect("the writing server answers");
        assert!(ear.is_affirming());
        client.read_exact(&mut buf).await.unwrap();
        assert!(buf.iter().all(|b| *b == 0x5a), "the stream is intact");
    }
    drop(client);
    assert!(streaming.await.unwrap() >= 4 * 8192);
}

#[tokio::test]
async fn a_split_stream_reads_and_writes_from_two_tasks_across_reattestation() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let w = world(1);
    let (srv, cli) = run_pair(
        AttestationConfig::attester(attester(&w.instances[0])).unwrap(),
        AttestationConfig::verifier(w.test_appraiser()),
    )
    .await;
    let (server, _) = srv.unwrap();
    let (mut client, _) = cli.unwrap();
    // Server: one task reads everything, another writes a stream; the
    // writer must not take the reader's wake-ups away.
    let (mut rd, mut wr) = tokio::io::split(server);
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        rd.read_to_end(&mut got).await.map(|_| got)
    });
    let writer = tokio::spawn(async move {
        for _ in 0..64 {
            if wr.write_all(&[7u8; 512]).await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let _ = wr.shutdown().await;
    });
    let deadline = std::time::Duration::from_secs(10);
    tokio::time::timeout(deadline, async {
        client.write_all(b"first").await.unwrap();
        assert!(client.reattest().await.unwrap().is_affirming());
        client.write_all(b" second").await.unwrap();
        client.flush().await.unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).await.unwrap();
        assert_eq!(back.len(), 64 * 512);
        client.shutdown().await.unwrap();
    })
    .await
    .expect("no hang");
    let got = tokio::time::timeout(deadline, reader)
        .await
        .expect("reader ends")
        .unwrap()
        .unwrap();
    assert_eq!(got, b"first second");
    writer.await.unwrap();
}
