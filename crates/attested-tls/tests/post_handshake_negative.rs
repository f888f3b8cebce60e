//! The post-handshake negative cases of `binding-mechanisms.md` that need
//! no attacker infrastructure. Each asserts the specific refusal.

mod common;

use std::sync::{Arc, Mutex};

use attested_tls::attester::{AttestError, Attester};
use attested_tls::binder::{BindingClaims, ExpectedBinding, EXPORTER_LABEL_ATTESTATION_LEGACY};
use attested_tls::cmw::{Cmw, CmwLabel, CmwRecord};
use attested_tls::ea::{self, EaError, EaProfile, Role};
use attested_tls::exporter::SecretExporter;
use attested_tls::net::{AttestationConfig, NetError};
use attested_tls::sim::SimAttester;
use attested_tls::transport::{Event, Frame, FrameDecoder, Session, SessionConfig, SessionError};
use common::*;

/// Records the Evidence it produced, and can replay an old one.
struct ReplayingAttester {
    inner: SimAttester,
    recorded: Mutex<Option<Cmw>>,
    /// Put a record with the fresh binder next to the old Evidence.
    add_fresh_binder_record: bool,
}

impl Attester for ReplayingAttester {
    fn platform(&self) -> &str {
        "sim"
    }
    fn attest(&self, binding: &BindingClaims) -> Result<Cmw, AttestError> {
        let mut rec = self.recorded.lock().unwrap();
        match rec.as_ref() {
            None => {
                let fresh = self.inner.attest(binding)?;
                *rec = Some(fresh.clone());
                Ok(fresh)
            }
            Some(old) if self.add_fresh_binder_record => Ok(Cmw::Collection {
                ctype: None,
                members: [
                    (CmwLabel::Text("evidence".into()), old.clone()),
                    (
                        CmwLabel::Text("binder".into()),
                        Cmw::Record(CmwRecord::evidence(
                            "application/vnd.example.binder",
                            binding.binder.clone(),
                        )),
                    ),
                ]
                .into(),
            }),
            Some(old) => Ok(old.clone()),
        }
    }
}

#[tokio::test]
async fn old_evidence_with_a_fresh_binder_field_beside_it_is_refused() {
    let w = world(1);
    for add_binder in [false, true] {
        let att = Arc::new(ReplayingAttester {
            inner: SimAttester::new(w.instances[0].clone()),
            recorded: Mutex::new(None),
            add_fresh_binder_record: add_binder,
        });
        let server = AttestationConfig::attester(att.clone()).unwrap();
        // First connection: genuine Evidence, accepted.
        let (srv, cli) = run_pair(server.clone(), AttestationConfig::verifier(w.test_appraiser())).await;
        srv.unwrap();
        assert!(cli.unwrap().1.unwrap().is_affirming());
        // Second connection: the old Evidence comes back.
        let (_srv, cli) = run_pair(server, AttestationConfig::verifier(w.test_appraiser())).await;
        let err = cli.expect_err("replayed Evidence must be refused");
        let ear = err.peer_ear().expect("refused by appraisal");
        let sim = ear.submods.iter().find(|(k, _)| k.starts_with("sim")).unwrap().1;
        assert!(
            sim.findings.iter().any(|f| f.claim == "eat_nonce"),
            "the binder inside the signed Evidence is what fails: {}",
            ear.render()
        );
        if add_binder {
            let unknown = ear
                .submods
                .iter()
                .find(|(k, _)| k.starts_with("unknown"))
                .expect("binder record appraised");
            assert!(
                unknown.1.findings.iter().any(|f| f.claim == "media_type"),
                "{}",
                ear.render()
            );
        }
    }
}

/// Evidence that commits to another key than the authenticator's leaf.
struct OtherKeyAttester {
    inner: SimAttester,
    other_spki: Vec<u8>,
}

impl Attester for OtherKeyAttester {
    fn platform(&self) -> &str {
        "sim"
    }
    fn attest(&self, binding: &BindingClaims) -> Result<Cmw, AttestError> {
        let mut b = binding.clone();
        b.aik_pub_hash = binding.hash.digest(&self.other_spki);
        self.inner.attest(&b)
    }
}

#[tokio::test]
async fn authenticator_key_different_from_the_key_in_the_evidence_is_refused() {
    let w = world(1);
    let att = Arc::new(OtherKeyAttester {
        inner: SimAttester::new(w.instances[0].clone()),
        other_spki: identity().spki().to_vec(),
    });
    let (_srv, cli) = run_pair(
        AttestationConfig::attester(att).unwrap(),
        AttestationConfig::verifier(w.test_appraiser()),
    )
    .await;
    let err = cli.expect_err("must be refused");
    let ear = err.peer_ear().expect("refused by appraisal");
    assert!(
        ear.submods["sim"].findings.iter().any(|f| f.claim == "aik_pub_hash"),
        "{}",
        ear.render()
    );
}

/// Sans-IO: Evidence computed with the older exporter label is refused by a
/// verifier on the -04 label (the binder inside the Evidence differs).
#[test]
fn evidence_bound_with_another_exporter_label_is_refused() {
    let w = world(1);
    let exporter = SecretExporter::new(attested_tls::crypto::HashAlgorithm::Sha256, vec![9u8; 32]);
    let verifier_profile = EaProfile::default();
    let attacker_profile = EaProfile {
        exporter_label: EXPORTER_LABEL_ATTESTATION_LEGACY.to_vec(),
        ..EaProfile::default()
    };
    let id = identity();
    let request = verifier_profile.request(Role::Server, vec![5u8; 32]).encode();
    let wrong_binding = attacker_profile.binding(&exporter, &[5u8; 32], id.spki()).unwrap();
    let cmw = SimAttester::new(w.instances[0].clone())
        .attest(&wrong_binding)
        .unwrap()
        .to_cbor();
    let auth = ea::authenticate(&exporter, Role::Server, &verifier_profile, &request, &id, Some(&cmw)).unwrap();
    let v = ea::validate(&exporter, Role::Server, &verifier_profile, &request, &auth).unwrap();
    let expected = verifier_profile.binding(&exporter, &v.context, &v.spki).unwrap();
    let ear = w.test_appraiser().appraise_cmw_bytes(
        &v.cmw.unwrap(),
        &ExpectedBinding::Claims(expected),
        time::OffsetDateTime::now_utc(),
    );
    assert!(!ear.is_acceptable());
    assert!(
        ear.submods["sim"].findings.iter().any(|f| f.claim == "eat_nonce"),
        "{}",
        ear.render()
    );
}

/// Two sans-IO sessions on the same (simulated) connection.
fn session_pair(w: &World) -> (Session, Session, SecretExporter) {
    let exporter = SecretExporter::new(attested_tls::crypto::HashAlgorithm::Sha384, vec![3u8; 48]);
    let mut client = SessionConfig::new(Role::Client);
    client.appraiser = Some(w.test_appraiser());
    let mut server = SessionConfig::new(Role::Server);
    server.attester = Some(attester(&w.instances[0]));
    server.identity = Some(identity());
    (Session::new(client), Session::new(server), exporter)
}

fn frames(bytes: Vec<u8>) -> Vec<Frame> {
    let mut d = FrameDecoder::new(1 << 20);
    d.push(&bytes);
    std::iter::from_fn(|| d.next_frame().unwrap()).collect()
}

fn pump(from: &mut Session, to: &mut Session, ex: &SecretExporter) -> Result<Vec<Frame>, SessionError> {
    let fs = frames(from.take_outgoing());
    for f in fs.clone() {
        to.handle_frame(f, ex)?;
    }
    Ok(fs)
}

#[test]
fn replayed_authenticator_on_the_same_connection_is_refused() {
    let w = world(1);
    let (mut c, mut s, ex) = session_pair(&w);
    pump(&mut c, &mut s, &ex).unwrap(); // HELLO + request
    let answer = pump(&mut s, &mut c, &ex).unwrap(); // HELLO + authenticator
    pump(&mut c, &mut s, &ex).unwrap(); // outcome
    assert!(c.is_ready() && s.is_ready());
    let old_auth = answer
        .into_iter()
        .find_map(|f| match f {
            Frame::Authenticator { authenticator, .. } => Some(authenticator),
            _ => None,
        })
        .unwrap();
    // Re-attestation: the attacker answers the new request with the old authenticator.
    let id = c.start_reattestation().unwrap();
    let _ = c.take_outgoing();
    let err = c
        .handle_frame(
            Frame::Authenticator {
                request_id: id,
                authenticator: old_auth,
            },
            &ex,
        )
        .unwrap_err();
    assert!(
        matches!(err, SessionError::Authenticator(EaError::ContextReused(_))),
        "{err}"
    );
    assert!(
        c.has_failed() && !c.is_ready(),
        "any failure is fatal for the connection"
    );
}

#[test]
fn reused_request_context_is_refused_by_the_attester() {
    let w = world(1);
    let (mut c, mut s, ex) = session_pair(&w);
    let first = frames(c.take_outgoing());
    for f in first.clone() {
        s.handle_frame(f, &ex).unwrap();
    }
    let request = first.iter().find_map(|f| match f {
        Frame::AuthRequest { request, .. } => Some(request.clone()),
        _ => None,
    });
    // The first exchange completes (one request at a time), then the
    // attacker replays the request under a new id.
    pump(&mut s, &mut c, &ex).unwrap();
    pump(&mut c, &mut s, &ex).unwrap();
    assert!(s.is_ready());
    let err = s
        .handle_frame(
            Frame::AuthRequest {
                request_id: 9,
                request: request.unwrap(),
            },
            &ex,
        )
        .unwrap_err();
    assert!(matches!(err, SessionError::Request(EaError::ContextReused(_))), "{err}");
}

#[test]
fn application_data_before_attestation_is_refused_sans_io() {
    let w = world(1);
    let (mut c, mut s, ex) = session_pair(&w);
    pump(&mut c, &mut s, &ex).unwrap();
    assert!(
        s.send_data(b"early").is_err(),
        "the API refuses to send before attestation"
    );
    let err = c.handle_frame(Frame::Data(b"early".to_vec()), &ex).unwrap_err();
    // The client has not even seen the server's HELLO.
    assert!(matches!(err, SessionError::ApplicationDataBeforeAttestation), "{err}");
    let (mut c, mut s, ex) = session_pair(&w);
    pump(&mut c, &mut s, &ex).unwrap();
    let _ = frames(s.take_outgoing())
        .into_iter()
        .take(1)
        .map(|f| c.handle_frame(f, &ex).unwrap())
        .count();
    let err = c.handle_frame(Frame::Data(b"early".to_vec()), &ex).unwrap_err();
    assert!(matches!(err, SessionError::ApplicationDataBeforeAttestation), "{err}");
    let _ = Event::Ready;
}

#[tokio::test]
async fn application_data_before_attestation_is_refused_over_tls() {
    use tokio::io::AsyncWriteExt;
    let w = world(1);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = server_tls();
    let server_cfg = AttestationConfig::verifier(w.test_appraiser());
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        attested_tls::net::accept(&tls, tcp, &server_cfg).await
    });
    // A client that speaks the transport but sends data right after HELLO.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(attested_tls::net::tls::client_config().unwrap());
    let mut tls = connector.connect("server.test".try_into().unwrap(), tcp).await.unwrap();
    let mut bytes = Vec::new();
    Frame::Hello(attested_tls::transport::frame::Hello {
        version: 1,
        flags: attested_tls::transport::frame::FLAG_CAN_ATTEST,
        max_frame: 1 << 18,
        cmw_ext_type: 0xff00,
        exporter_label: b"EXPORTER-cmw-attestation".to_vec(),
    })
    .encode_into(&mut bytes);
    Frame::Data(b"GET /secret".to_vec()).encode_into(&mut bytes);
    tls.write_all(&bytes).await.unwrap();
    tls.flush().await.unwrap();
    let r = srv.await.unwrap();
    assert!(
        matches!(
            r,
            Err(NetError::Attestation(SessionError::ApplicationDataBeforeAttestation))
        ),
        "{:?}",
        r.err()
    );
}

#[test]
fn server_configurations_with_tickets_or_0rtt_are_refused() {
    let id = rcgen::generate_simple_self_signed(vec!["s".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(id.signing_key.serialize_der().into());
    let mut cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![id.cert.der().clone()], key)
        .unwrap();
    assert!(cfg.send_tls13_tickets > 0, "rustls default issues tickets");
    let e = attested_tls::net::tls::check_server_config(&cfg).unwrap_err();
    assert!(e.to_string().contains("session tickets"), "{e}");
    cfg.send_tls13_tickets = 0;
    cfg.max_early_data_size = 16384;
    let e = attested_tls::net::tls::check_server_config(&cfg).unwrap_err();
    assert!(e.to_string().contains("0-RTT"), "{e}");
    let ours = server_tls();
    attested_tls::net::tls::check_server_config(&ours).unwrap();
    assert_eq!(ours.send_tls13_tickets, 0);
}

#[test]
fn client_configuration_with_0rtt_is_refused() {
    let mut cfg = (*attested_tls::net::tls::client_config().unwrap()).clone();
    cfg.enable_early_data = true;
    let e = attested_tls::net::tls::check_client_config(&cfg).unwrap_err();
    assert!(e.to_string().contains("0-RTT"), "{e}");
}

#[tokio::test]
async fn resumed_tls_sessions_are_refused() {
    // A (non-attested) server that issues tickets and allows resumption,
    // and a client configuration that a user left with resumption on.
    let id = rcgen::generate_simple_self_signed(vec!["server.test".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(id.signing_key.serialize_der().into());
    let mut scfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![id.cert.der().clone()], key)
        .unwrap();
    scfg.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().unwrap();
    let scfg = Arc::new(scfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acc = tokio_rustls::TlsAcceptor::from(scfg.clone());
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                if let Ok(mut s) = acc.accept(tcp).await {
                    let _ = s.flush().await;
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    let _ = s.shutdown().await;
                }
            });
        }
    });
    let mut ccfg = (*attested_tls::net::tls::client_config().unwrap()).clone();
    ccfg.resumption = rustls::client::Resumption::in_memory_sessions(8);
    let ccfg = Arc::new(ccfg);
    let w = world(1);
    let att = AttestationConfig::verifier(w.test_appraiser());
    // First connection: full handshake (then the silent server closes); it stores a ticket.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let first = attested_tls::net::connect(&ccfg, "server.test", tcp, &att).await;
    assert!(matches!(first, Err(NetError::Closed(_))), "{:?}", first.err());
    // Second connection resumes: refused before any attestation byte.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let second = attested_tls::net::connect(&ccfg, "server.test", tcp, &att).await;
    match second {
        Err(NetError::Session(m)) => assert!(m.contains("resumed"), "{m}"),
        other => panic!("a resumed session must be refused, got {:?}", other.err()),
    }
}

#[tokio::test]
async fn attested_server_issues_no_tickets_so_clients_cannot_resume() {
    // Even a client with resumption enabled gets only full handshakes from
    // our server.
    let w = world(1);
    let mut ccfg = (*attested_tls::net::tls::client_config().unwrap()).clone();
    ccfg.resumption = rustls::client::Resumption::in_memory_sessions(8);
    let ccfg = Arc::new(ccfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = server_tls();
    let server_cfg = AttestationConfig::attester(attester(&w.instances[0])).unwrap();
    tokio::spawn(async move {
        for _ in 0..2 {
            let (tcp, _) = listener.accept().await.unwrap();
            let (mut s, _) = attested_tls::net::accept(&tls, tcp, &server_cfg).await.unwrap();
            use tokio::io::AsyncReadExt;
            let mut b = [0u8; 1];
            let _ = s.read(&mut b).await;
        }
    });
    for _ in 0..2 {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (c, ear) = attested_tls::net::connect(
            &ccfg,
            "server.test",
            tcp,
            &AttestationConfig::verifier(w.test_appraiser()),
        )
        .await
        .unwrap();
        assert!(ear.unwrap().is_affirming());
        assert_eq!(
            c.get_ref().get_ref().1.handshake_kind(),
            Some(rustls::HandshakeKind::Full)
        );
    }
}

/// Hands out a genuine SEV-SNP report (the shared Milan vector, with its
/// VCEK in the certificate table) whatever the connection: hardware-signed
/// Evidence relayed or replayed into another connection.
struct ReplayedSnpAttester {
    envelope: Vec<u8>,
}

impl Attester for ReplayedSnpAttester {
    fn platform(&self) -> &str {
        "snp"
    }
    fn attest(&self, _binding: &BindingClaims) -> Result<Cmw, AttestError> {
        Ok(Cmw::Record(CmwRecord::evidence(
            attested_tls::platform::snp::MEDIA_TYPE_ENVELOPE,
            self.envelope.clone(),
        )))
    }
}

#[tokio::test]
async fn genuine_snp_report_replayed_into_a_connection_is_refused_on_report_data() {
    use attested_tls::platform::snp::{build_cert_table, encode_envelope, guid};
    let v = format!("{}/../../vectors/sev-snp", env!("CARGO_MANIFEST_DIR"));
    let report = hex::decode(std::fs::read_to_string(format!("{v}/report_milan.hex")).unwrap().trim()).unwrap();
    let vcek = std::fs::read(format!("{v}/vcek_milan.der")).unwrap();
    let envelope = encode_envelope(&report, Some(&build_cert_table(&[(guid::VCEK, &vcek[..])])));
    let policy = attested_tls::policy::Policy::from_toml(
        "id = \"snp-prod\"\n[snp]\nmeasurements = [\"7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f\"]\n\
         min_tcb = { bootloader = 3, tee = 0, snp = 8, microcode = 115 }\nmin_guest_svn = 0\n",
        std::path::Path::new("."),
    )
    .unwrap();
    let server = AttestationConfig::attester(Arc::new(ReplayedSnpAttester { envelope })).unwrap();
    let mut client = AttestationConfig::verifier(policy.appraiser().unwrap());
    // A fixed verification time inside the VCEK's validity (never the wall clock).
    client.clock = Arc::new(|| time::OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()); // 2026-01-01
    let (_srv, cli) = run_pair(server, client).await;
    let err = cli.expect_err("a report bound to another connection must be refused");
    let ear = err.peer_ear().expect("refused by appraisal");
    let snp = ear
        .submods
        .iter()
        .find(|(k, _)| k.starts_with("snp"))
        .expect("appraised by the SNP verifier")
        .1;
    // Everything else about the report is genuine: only the binding fails.
    let failed: Vec<&str> = snp.findings.iter().map(|f| f.claim.as_str()).collect();
    assert_eq!(failed, vec!["report_data"], "{}", ear.render());
    assert_eq!(
        snp.claims["measurement"],
        "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f"
    );
}
