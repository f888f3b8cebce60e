//! Mode `early` over real loopback TLS 1.3 (OpenSSL on both sides), with
//! the simulated TEE: the accepted path and each refusal, asserting the
//! specific refusal and the alert the other side received.

use std::sync::{Arc, Mutex};

use attested_tls::attester::AttestError;
use attested_tls::cmw::{Cmw, CmwRecord};
use attested_tls::ear::Ear;
use attested_tls::modes::early::{AttestationScheme, EarlyAttester, EarlyBinding};
use attested_tls::sim::{ephemeral_world, SimAttester, SimVerifier, SimWorld, SIM_MEDIA_TYPE};
use attested_tls::verifier::Appraiser;
use attested_tls_openssl::{
    accept, client_context, client_context_builder, connect, details, server_context, server_context_builder,
    EarlyConfig, EarlyError, Refusal, MODE_CLAIM, MODE_EARLY,
};
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslConnector, SslContext, SslMethod, SslVerifyMode, SslVersion};
use openssl::x509::X509;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_openssl::SslStream;

type Identity = (Vec<X509>, PKey<Private>);

fn self_signed(name: &str) -> Identity {
    let id = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    (
        vec![X509::from_der(id.cert.der()).unwrap()],
        PKey::private_key_from_der(&id.signing_key.serialize_der()).unwrap(),
    )
}

/// A leaf issued by a test CA, and the CA: a two-entry Certificate message.
fn with_ca(name: &str) -> Identity {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![name.to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    (
        vec![X509::from_der(leaf.der()).unwrap(), X509::from_der(ca.der()).unwrap()],
        PKey::private_key_from_der(&leaf_key.serialize_der()).unwrap(),
    )
}

fn sim_scheme() -> AttestationScheme {
    AttestationScheme::evidence_media_type(SIM_MEDIA_TYPE)
}

struct Sim {
    world: SimWorld,
}

impl Sim {
    fn new() -> Self {
        Self {
            world: ephemeral_world(1).unwrap(),
        }
    }
    fn attester(&self) -> Arc<SimAttester> {
        Arc::new(SimAttester::new(self.world.instances[0].clone()))
    }
    fn appraiser(&self) -> Appraiser {
        let v = SimVerifier::new(self.world.sim_policy(true), vec![self.world.root.cert_der().to_vec()]).unwrap();
        Appraiser::new("test-policy").with_verifier(Arc::new(v))
    }
    fn server_cfg(&self, attester: Arc<dyn EarlyAttester>) -> EarlyConfig {
        EarlyConfig::attester(attester, vec![sim_scheme()])
    }
    fn client_cfg(&self) -> EarlyConfig {
        EarlyConfig::verifier(self.appraiser(), vec![sim_scheme()])
    }
}

type Side = Result<(SslStream<TcpStream>, Option<Ear>), EarlyError>;

async fn pair(
    server_ctx: SslContext,
    server: EarlyConfig,
    client_ctx: SslContext,
    client: EarlyConfig,
) -> (Side, Side) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        accept(&server_ctx, tcp, &server).await
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let cli = connect(&client_ctx, "server.test", tcp, &client).await;
    (srv.await.unwrap(), cli)
}

/// [`pair`] with contexts made from the configurations.
async fn run(
    scfg: EarlyConfig,
    (chain, key): (&[X509], &PKey<Private>),
    ccfg: EarlyConfig,
    client_identity: Option<(&[X509], &PKey<Private>)>,
) -> (Side, Side) {
    let sctx = server_context(&scfg, chain, key).unwrap();
    let cctx = client_context(&ccfg, client_identity).unwrap();
    pair(sctx, scfg, cctx, ccfg).await
}

async fn echo(server: &mut SslStream<TcpStream>, client: &mut SslStream<TcpStream>) {
    client.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    server.read_exact(&mut buf).await.unwrap();
    server.write_all(&buf).await.unwrap();
    let mut back = [0u8; 4];
    client.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"ping");
}

fn refusal(side: Side) -> Refusal {
    match side {
        Err(EarlyError::Refused { reason }) => reason,
        Err(e) => panic!("expected a refusal, got {e}"),
        Ok(_) => panic!("expected a refusal, got a connection"),
    }
}

fn peer_alert(side: Side) -> u8 {
    match side {
        Err(EarlyError::PeerAlert { code, .. }) => code,
        Err(e) => panic!("expected a peer alert, got {e}"),
        Ok(_) => panic!("expected a peer alert, got a connection"),
    }
}

fn not_trusted_claims(r: &Refusal) -> Vec<String> {
    match r {
        Refusal::NotTrusted(ear) => ear
            .submods
            .values()
            .flat_map(|a| a.findings.iter().map(|f| f.claim.clone()))
            .collect(),
        other => panic!("expected NotTrusted, got {other}"),
    }
}

#[tokio::test]
async fn server_attests_in_the_handshake_and_the_client_appraises() {
    let sim = Sim::new();
    let (chain, key) = self_signed("server.test");
    let scfg = sim.server_cfg(sim.attester());
    let ccfg = sim.client_cfg();
    let sctx = server_context(&scfg, &chain, &key).unwrap();
    let cctx = client_context(&ccfg, None).unwrap();
    let (s, c) = pair(sctx, scfg, cctx, ccfg).await;
    let (mut s, server_ear) = s.unwrap();
    let (mut c, ear) = c.unwrap();
    assert!(server_ear.is_none());
    let ear = ear.expect("the client appraised the server");
    assert!(ear.is_affirming(), "{}", ear.render());
    // The EAR says which mode it rests on.
    for a in ear.submods.values() {
        assert_eq!(a.claims[MODE_CLAIM], MODE_EARLY);
    }
    let d = details(c.ssl()).unwrap();
    assert_eq!(d.server_scheme, Some(sim_scheme()));
    assert!(!d.hello_retry_request);
    echo(&mut s, &mut c).await;
}

/// Guards the HelloRetryRequest path end to end: the client's only key
/// share is X25519, the server accepts only P-256, so the server sends a
/// HelloRetryRequest; both sides still agree on the binder.
#[tokio::test]
async fn hello_retry_request_path_attests() {
    let sim = Sim::new();
    let (chain, key) = self_signed("server.test");
    let scfg = sim.server_cfg(sim.attester());
    let ccfg = sim.client_cfg();
    let mut sb = server_context_builder(&scfg, &chain, &key).unwrap();
    sb.set_groups_list("P-256").unwrap();
    let mut cb = client_context_builder(&ccfg, None).unwrap();
    cb.set_groups_list("X25519:P-256").unwrap();
    let (s, c) = pair(sb.build(), scfg, cb.build(), ccfg).await;
    let (mut s, _) = s.unwrap();
    let (mut c, ear) = c.unwrap();
    assert!(ear.unwrap().is_affirming());
    assert!(details(c.ssl()).unwrap().hello_retry_request, "no HRR happened");
    assert!(details(s.ssl()).unwrap().hello_retry_request);
    echo(&mut s, &mut c).await;
}

/// Returns, on every call after the first, the Evidence of the first call.
struct ReplayingAttester {
    inner: Arc<dyn EarlyAttester>,
    first: Mutex<Option<Cmw>>,
}

impl EarlyAttester for ReplayingAttester {
    fn platform(&self) -> &str {
        "sim"
    }
    fn may_block(&self) -> bool {
        false
    }
    fn attest_early(&self, binding: &EarlyBinding) -> Result<Cmw, AttestError> {
        let mut first = self.first.lock().unwrap();
        if first.is_none() {
            *first = Some(self.inner.attest_early(binding)?);
        }
        Ok(first.clone().unwrap())
    }
}

/// Evidence bound to another handshake's CH..SH (same server key, same
/// platform): the client recomputes the binder and refuses it.
#[tokio::test]
async fn evidence_of_another_handshake_is_refused() {
    let sim = Sim::new();
    let (chain, key) = self_signed("server.test");
    let attester = Arc::new(ReplayingAttester {
        inner: sim.attester(),
        first: Mutex::new(None),
    });
    let scfg = sim.server_cfg(attester);
    let ccfg = sim.client_cfg();
    let sctx = server_context(&scfg, &chain, &key).unwrap();
    let cctx = client_context(&ccfg, None).unwrap();
    let (s, c) = pair(sctx.clone(), scfg.clone(), cctx.clone(), ccfg.clone()).await;
    assert!(s.is_ok() && c.is_ok(), "the first handshake is genuine");
    let (s, c) = pair(sctx, scfg, cctx, ccfg).await;
    let r = refusal(c);
    assert_eq!(not_trusted_claims(&r), ["eat_nonce"], "{r}");
    assert_eq!(r.alert().tls_alert(), 42);
    assert_eq!(peer_alert(s), 42, "the server is told bad_certificate");
}

/// Evidence with the right binder but `TIK_pub_hash` of another key.
struct OtherTikAttester(Arc<SimAttester>);

impl EarlyAttester for OtherTikAttester {
    fn platform(&self) -> &str {
        "sim"
    }
    fn may_block(&self) -> bool {
        false
    }
    fn attest_early(&self, binding: &EarlyBinding) -> Result<Cmw, AttestError> {
        let mut b = binding.clone();
        b.tik_pub_hash = binding.hash.digest(b"the SPKI of some other key");
        self.0.attest_early(&b)
    }
}

#[tokio::test]
async fn tik_pub_hash_of_another_key_is_refused() {
    let sim = Sim::new();
    let (chain, key) = self_signed("server.test");
    let scfg = sim.server_cfg(Arc::new(OtherTikAttester(sim.attester())));
    let ccfg = sim.client_cfg();
    let (s, c) = run(scfg, (&chain, &key), ccfg, None).await;
    let r = refusal(c);
    assert_eq!(not_trusted_claims(&r), ["aik_pub_hash"], "{r}");
    assert_eq!(peer_alert(s), 42);
}

/// The server agrees on a scheme but sends no Evidence in its first entry
/// (it "attests" in an entry that does not exist).
#[tokio::test]
async fn evidence_missing_when_required_is_refused() {
    let sim = Sim::new();
    let (chain, key) = self_signed("server.test");
    let mut scfg = sim.server_cfg(sim.attester());
    scfg.evidence_entry = 7;
    let ccfg = sim.client_cfg();
    let (s, c) = run(scfg, (&chain, &key), ccfg, None).await;
    assert!(
        matches!(refusal(c), Refusal::PeerDeclined(why) if why.contains("no Evidence")),
        "wrong refusal"
    );
    // OpenSSL's verify callback is the only hook left at that point; it
    // sends handshake_failure (40), see docs/early-attestation.md.
    assert_eq!(peer_alert(s), 40);
}

#[tokio::test]
async fn no_common_scheme_is_refused_with_handshake_failure() {
    let sim = Sim::new();
    let (chain, key) = self_signed("server.test");
    let scfg = sim.server_cfg(sim.attester());
    let ccfg = EarlyConfig::verifier(
        sim.appraiser(),
        vec![AttestationScheme::evidence_media_type("application/x-something-else")],
    );
    let (s, c) = run(scfg, (&chain, &key), ccfg, None).await;
    assert!(matches!(refusal(s), Refusal::NoCommonScheme { .. }));
    assert_eq!(peer_alert(c), 40);
}

/// Guards the draft's rule: remoteAttestation in any CertificateEntry but
/// the first is fatal, with illegal_parameter.
#[tokio::test]
async fn extension_in_a_non_first_entry_is_illegal_parameter() {
    let sim = Sim::new();
    let (chain, key) = with_ca("server.test");
    let mut scfg = sim.server_cfg(sim.attester());
    scfg.evidence_entry = 1;
    let ccfg = sim.client_cfg();
    let (s, c) = run(scfg, (&chain, &key), ccfg, None).await;
    assert!(matches!(refusal(c), Refusal::NotFirstEntry(1)));
    assert_eq!(peer_alert(s), 47);
}

struct HugeAttester;

impl EarlyAttester for HugeAttester {
    fn platform(&self) -> &str {
        "sim"
    }
    fn may_block(&self) -> bool {
        false
    }
    fn attest_early(&self, _: &EarlyBinding) -> Result<Cmw, AttestError> {
        Ok(Cmw::Record(CmwRecord::evidence(SIM_MEDIA_TYPE, vec![0; 70_000])))
    }
}

/// A CMW that cannot fit the 2^16-1 bytes of a CertificateEntry's
/// extensions is refused by the attester's side, never truncated.
#[tokio::test]
async fn oversized_cmw_is_refused_by_the_sender() {
    let sim = Sim::new();
    let (chain, key) = self_signed("server.test");
    let scfg = sim.server_cfg(Arc::new(HugeAttester));
    let ccfg = sim.client_cfg();
    let (s, c) = run(scfg, (&chain, &key), ccfg, None).await;
    assert!(
        matches!(refusal(s), Refusal::Internal(why) if why.contains("CMW payload is 70")),
        "wrong refusal"
    );
    assert_eq!(peer_alert(c), 80, "internal_error");
}

/// A plain OpenSSL client (no remoteAttestation) is refused with
/// attestation_required (sent as missing_extension) and gets no
/// application data.
#[tokio::test]
async fn plain_openssl_client_is_refused_with_missing_extension() {
    let sim = Sim::new();
    let (chain, key) = self_signed("server.test");
    let scfg = sim.server_cfg(sim.attester());
    let sctx = server_context(&scfg, &chain, &key).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let r = accept(&sctx, tcp, &scfg).await;
        if let Ok((mut s, _)) = r {
            let _ = s.write_all(b"application data").await;
            panic!("the server accepted a plain client");
        }
        r.map(|_| ())
    });
    let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
    b.set_verify(SslVerifyMode::NONE);
    b.set_min_proto_version(Some(SslVersion::TLS1_3)).unwrap();
    let ssl = b.build().configure().unwrap().into_ssl("server.test").unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut stream = SslStream::new(ssl, tcp).unwrap();
    let e = std::pin::Pin::new(&mut stream).connect().await.unwrap_err();
    let reasons: Vec<i32> = e
        .ssl_error()
        .map(|s| s.errors().iter().map(|e| e.reason_code()).collect())
        .unwrap_or_default();
    assert!(
        reasons.contains(&(1000 + 109)),
        "no missing_extension alert: {e} {reasons:?}"
    );
    let mut buf = [0u8; 16];
    assert!(
        !matches!(stream.read(&mut buf).await, Ok(n) if n > 0),
        "application data reached the plain client"
    );
    match srv.await.unwrap() {
        Err(EarlyError::Refused {
            reason: Refusal::NoExtension(0xffa0),
        }) => {}
        other => panic!("wrong server outcome: {other:?}"),
    }
}

/// The same with the `openssl s_client` program, when it is installed.
#[tokio::test]
async fn openssl_s_client_is_refused() {
    if std::process::Command::new("openssl").arg("version").output().is_err() {
        eprintln!("openssl program not installed; skipped");
        return;
    }
    let sim = Sim::new();
    let (chain, key) = self_signed("server.test");
    let scfg = sim.server_cfg(sim.attester());
    let sctx = server_context(&scfg, &chain, &key).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        accept(&sctx, tcp, &scfg).await.map(|_| ())
    });
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("openssl")
            .args([
                "s_client",
                "-tls1_3",
                "-connect",
                &addr.to_string(),
                "-servername",
                "server.test",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("alert missing extension"), "{text}");
    assert!(matches!(
        srv.await.unwrap(),
        Err(EarlyError::Refused {
            reason: Refusal::NoExtension(_)
        })
    ));
}

#[test]
fn code_points_openssl_handles_itself_are_refused() {
    let sim = Sim::new();
    let mut cfg = sim.client_cfg();
    cfg.extension_type = 0xff01;
    assert!(matches!(cfg.check(), Err(EarlyError::Config(why)) if why.contains("renegotiation_info")));
    cfg.extension_type = 0xffa1;
    cfg.check().unwrap();
}

/// Guards "the transcript is the TLS stack's own": the messages OpenSSL's
/// message callback hands us, hashed with the HelloRetryRequest rule, give
/// the server Finished that OpenSSL actually sent (RFC 8446 §4.4.4:
/// HMAC(finished_key, Transcript-Hash(ClientHello..CertificateVerify)),
/// finished_key from the server handshake traffic secret OpenSSL logs).
/// Checked with and without a HelloRetryRequest, so the message_hash
/// construction is checked against OpenSSL's real key schedule.
#[tokio::test]
async fn transcript_from_the_message_callback_is_openssls_own() {
    for hrr in [false, true] {
        let sim = Sim::new();
        let (chain, key) = self_signed("server.test");
        let scfg = sim.server_cfg(sim.attester());
        let mut ccfg = sim.client_cfg();
        ccfg.record_handshake = true;
        let secret = Arc::new(Mutex::new(None::<Vec<u8>>));
        let mut sb = server_context_builder(&scfg, &chain, &key).unwrap();
        let mut cb = client_context_builder(&ccfg, None).unwrap();
        let s2 = secret.clone();
        cb.set_keylog_callback(move |_, line| {
            if let Some(hex_secret) = line.strip_prefix("SERVER_HANDSHAKE_TRAFFIC_SECRET ") {
                let v = hex_secret.split(' ').nth(1).unwrap();
                *s2.lock().unwrap() = Some(hex::decode(v).unwrap());
            }
        });
        if hrr {
            sb.set_groups_list("P-256").unwrap();
            cb.set_groups_list("X25519:P-256").unwrap();
        }
        sb.set_ciphersuites("TLS_AES_256_GCM_SHA384").unwrap();
        let (s, c) = pair(sb.build(), scfg, cb.build(), ccfg).await;
        s.unwrap();
        let (c, _) = c.unwrap();
        let d = details(c.ssl()).unwrap();
        assert_eq!(d.hello_retry_request, hrr);
        let msgs = d.handshake_messages;
        let fin = msgs.iter().position(|m| m[0] == 20).expect("server Finished");
        let h = attested_tls::crypto::HashAlgorithm::Sha384;
        let mut th = h.context();
        for (i, m) in msgs[..fin].iter().enumerate() {
            if hrr && i == 0 {
                // message_hash, built here from RFC 8446 §4.4.1.
                th.update(&[254, 0, 0, 48]);
                th.update(&h.digest(m));
            } else {
                th.update(m);
            }
        }
        // The binder's transcript (HelloTranscript over the same messages)
        // is this running hash at the ServerHello.
        let sh = if hrr { 3 } else { 1 };
        let mut hello = attested_tls::modes::early::HelloTranscript::default();
        let mut manual = h.context();
        for (i, m) in msgs[..=sh].iter().enumerate() {
            hello.push(m).unwrap();
            if hrr && i == 0 {
                manual.update(&[254, 0, 0, 48]);
                manual.update(&h.digest(m));
            } else {
                manual.update(m);
            }
        }
        assert_eq!(hello.finish().unwrap(), (h, manual.current()));
        let secret = secret.lock().unwrap().clone().expect("keylog line");
        let finished_key = h.hkdf_expand_label(&secret, b"finished", b"", 48);
        let verify_data = h.hmac(&finished_key, &th.current());
        assert_eq!(&msgs[fin][4..], &verify_data[..], "hrr = {hrr}");
    }
}

#[tokio::test]
async fn client_attests_to_the_server() {
    let sim = Sim::new();
    let (chain, key) = self_signed("server.test");
    let (cchain, ckey) = self_signed("client.test");
    let scfg = EarlyConfig::verifier(sim.appraiser(), vec![sim_scheme()]);
    let ccfg = EarlyConfig::attester(sim.attester(), vec![sim_scheme()]);
    let (s, c) = run(scfg, (&chain, &key), ccfg, Some((&cchain, &ckey))).await;
    let (mut s, ear) = s.unwrap();
    let (mut c, client_ear) = c.unwrap();
    assert!(client_ear.is_none());
    let ear = ear.expect("the server appraised the client");
    assert!(ear.is_affirming(), "{}", ear.render());
    assert_eq!(details(s.ssl()).unwrap().client_scheme, Some(sim_scheme()));
    echo(&mut s, &mut c).await;
}

#[tokio::test]
async fn mutual_attestation() {
    let sim = Sim::new();
    let (chain, key) = self_signed("server.test");
    let (cchain, ckey) = self_signed("client.test");
    let scfg = sim
        .server_cfg(sim.attester())
        .with_appraiser(sim.appraiser(), vec![sim_scheme()]);
    let ccfg =
        EarlyConfig::attester(sim.attester(), vec![sim_scheme()]).with_appraiser(sim.appraiser(), vec![sim_scheme()]);
    let (s, c) = run(scfg, (&chain, &key), ccfg, Some((&cchain, &ckey))).await;
    let (mut s, sear) = s.unwrap();
    let (mut c, cear) = c.unwrap();
    assert!(sear.unwrap().is_affirming());
    assert!(cear.unwrap().is_affirming());
    echo(&mut s, &mut c).await;
}

/// A client that could present a certificate but offers no attester
/// scheme, to a server that requires client attestation.
#[tokio::test]
async fn server_requiring_client_attestation_refuses_a_client_that_declines() {
    let sim = Sim::new();
    let (chain, key) = self_signed("server.test");
    let scfg = sim
        .server_cfg(sim.attester())
        .with_appraiser(sim.appraiser(), vec![sim_scheme()]);
    let ccfg = sim.client_cfg();
    let (s, c) = run(scfg, (&chain, &key), ccfg, None).await;
    assert!(matches!(refusal(s), Refusal::PeerDeclined(why) if why.contains("no client attester scheme")));
    assert_eq!(peer_alert(c), 109);
}

/// Guards the mitigation of the draft's shared binder label: in mutual
/// attestation, a peer whose end-entity key is our own is refused before
/// its Evidence is looked at (reflected Evidence would carry a valid
/// binder, since both binders differ only by SPKI).
#[tokio::test]
async fn mutual_attestation_with_the_same_key_on_both_sides_is_refused() {
    let sim = Sim::new();
    let (chain, key) = self_signed("shared.test");
    let scfg = sim
        .server_cfg(sim.attester())
        .with_appraiser(sim.appraiser(), vec![sim_scheme()]);
    let ccfg =
        EarlyConfig::attester(sim.attester(), vec![sim_scheme()]).with_appraiser(sim.appraiser(), vec![sim_scheme()]);
    let (s, c) = run(scfg, (&chain, &key), ccfg, Some((&chain, &key))).await;
    assert!(matches!(refusal(c), Refusal::ReflectedKey));
    assert_eq!(peer_alert(s), 42);
}

// --- passport scheme ---------------------------------------------------------

fn verifier_key() -> attested_tls::ear_jwt::SigningKeyPem {
    let pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
    attested_tls::ear_jwt::SigningKeyPem::from_pem(pem.as_bytes()).unwrap()
}

fn passport_scheme() -> AttestationScheme {
    AttestationScheme::Result {
        verifier_identity: b"test-verifier".to_vec(),
    }
}

fn passport_attester(sim: &Sim, key: attested_tls::ear_jwt::SigningKeyPem) -> Arc<dyn EarlyAttester> {
    Arc::new(attested_tls::modes::early::PassportAttester {
        evidence: sim.attester(),
        verifier: sim.appraiser(),
        key,
        clock: Arc::new(time::OffsetDateTime::now_utc),
    })
}

fn passport_client(trusted: attested_tls::corim::VerificationKey) -> EarlyConfig {
    let mut cfg = EarlyConfig::verifier(Appraiser::new("passport"), vec![passport_scheme()]);
    cfg.passport_verifiers = vec![(b"test-verifier".to_vec(), trusted)];
    cfg
}

async fn passport_pair(server_attester: Arc<dyn EarlyAttester>, client: EarlyConfig, times: usize) -> (Side, Side) {
    let (chain, key) = self_signed("server.test");
    let scfg = EarlyConfig::attester(server_attester, vec![passport_scheme()]);
    let sctx = server_context(&scfg, &chain, &key).unwrap();
    let cctx = client_context(&client, None).unwrap();
    let mut last = None;
    for _ in 0..times {
        last = Some(pair(sctx.clone(), scfg.clone(), cctx.clone(), client.clone()).await);
    }
    last.unwrap()
}

#[tokio::test]
async fn passport_scheme_server_presents_a_signed_ear_bound_to_the_handshake() {
    let sim = Sim::new();
    let key = verifier_key();
    let client = passport_client(key.public_key());
    let (s, c) = passport_pair(passport_attester(&sim, key), client, 1).await;
    let (mut s, _) = s.unwrap();
    let (mut c, ear) = c.unwrap();
    let ear = ear.unwrap();
    assert!(ear.is_affirming(), "{}", ear.render());
    assert!(ear.submods.values().all(|a| a.claims[MODE_CLAIM] == MODE_EARLY));
    assert_eq!(details(c.ssl()).unwrap().server_scheme, Some(passport_scheme()));
    echo(&mut s, &mut c).await;
}

#[tokio::test]
async fn passport_of_another_handshake_is_refused() {
    let sim = Sim::new();
    let key = verifier_key();
    let client = passport_client(key.public_key());
    let replaying = Arc::new(ReplayingAttester {
        inner: passport_attester(&sim, key),
        first: Mutex::new(None),
    });
    let (s, c) = passport_pair(replaying, client, 2).await;
    assert!(
        matches!(refusal(c), Refusal::Passport(why) if why.contains("eat_nonce")),
        "wrong refusal"
    );
    assert_eq!(peer_alert(s), 42);
}

#[test]
fn an_accepted_passport_scheme_without_its_verifier_key_is_a_configuration_error() {
    let mut cfg = passport_client(verifier_key().public_key());
    cfg.check().unwrap();
    cfg.passport_verifiers.clear();
    assert!(matches!(cfg.check(), Err(EarlyError::Config(why)) if why.contains("no key is given")));
}

#[tokio::test]
async fn passport_from_an_untrusted_verifier_is_refused() {
    let sim = Sim::new();
    let client = passport_client(verifier_key().public_key());
    let (s, c) = passport_pair(passport_attester(&sim, verifier_key()), client, 1).await;
    assert!(
        matches!(refusal(c), Refusal::Passport(why) if why.contains("signature does not verify")),
        "wrong refusal"
    );
    assert_eq!(peer_alert(s), 42);
}

/// A plain TLS 1.3 server ignores the client's remoteAttestation and sends
/// no Evidence: a client that requires attestation refuses it.
#[tokio::test]
async fn plain_openssl_server_is_refused_by_a_client_that_requires_attestation() {
    let sim = Sim::new();
    let (chain, key) = self_signed("server.test");
    let mut b = openssl::ssl::SslAcceptor::mozilla_modern_v5(SslMethod::tls_server()).unwrap();
    b.set_certificate(&chain[0]).unwrap();
    b.set_private_key(&key).unwrap();
    let acceptor = b.build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ssl = openssl::ssl::Ssl::new(acceptor.context()).unwrap();
        let mut s = SslStream::new(ssl, tcp).unwrap();
        std::pin::Pin::new(&mut s).accept().await
    });
    let ccfg = sim.client_cfg();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let c = connect(&client_context(&ccfg, None).unwrap(), "server.test", tcp, &ccfg).await;
    assert!(matches!(refusal(c), Refusal::PeerDeclined(why) if why.contains("no Evidence")));
    let e = srv.await.unwrap().unwrap_err();
    let reasons: Vec<i32> = e
        .ssl_error()
        .map(|s| s.errors().iter().map(|e| e.reason_code()).collect())
        .unwrap_or_default();
    assert!(reasons.contains(&(1000 + 40)), "{e} {reasons:?}");
}

/// An attester that says it may block (like hardware ones).
struct BlockingAttester(Arc<SimAttester>);

impl EarlyAttester for BlockingAttester {
    fn platform(&self) -> &str {
        "sim"
    }
    fn may_block(&self) -> bool {
        true
    }
    fn attest_early(&self, binding: &EarlyBinding) -> Result<Cmw, AttestError> {
        self.0.attest_early(binding)
    }
}

/// Guards running a blocking attester inside OpenSSL's callback on a
/// multi-threaded runtime (block_in_place) and on a current-thread one
/// (called directly).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_attester_runs_inside_the_handshake_on_a_multi_threaded_runtime() {
    let sim = Sim::new();
    let (chain, key) = self_signed("server.test");
    let scfg = sim.server_cfg(Arc::new(BlockingAttester(sim.attester())));
    let (s, c) = run(scfg, (&chain, &key), sim.client_cfg(), None).await;
    s.unwrap();
    assert!(c.unwrap().1.unwrap().is_affirming());
}

#[tokio::test]
async fn a_blocking_attester_runs_inside_the_handshake_on_a_current_thread_runtime() {
    let sim = Sim::new();
    let (chain, key) = self_signed("server.test");
    let scfg = sim.server_cfg(Arc::new(BlockingAttester(sim.attester())));
    let (s, c) = run(scfg, (&chain, &key), sim.client_cfg(), None).await;
    s.unwrap();
    assert!(c.unwrap().1.unwrap().is_affirming());
}

/// Both binders (server's and client's) over a transcript with a
/// HelloRetryRequest and SHA-384.
#[tokio::test]
async fn mutual_attestation_after_a_hello_retry_request_with_sha384() {
    let sim = Sim::new();
    let (chain, key) = self_signed("server.test");
    let (cchain, ckey) = self_signed("client.test");
    let scfg = sim
        .server_cfg(sim.attester())
        .with_appraiser(sim.appraiser(), vec![sim_scheme()]);
    let ccfg =
        EarlyConfig::attester(sim.attester(), vec![sim_scheme()]).with_appraiser(sim.appraiser(), vec![sim_scheme()]);
    let mut sb = server_context_builder(&scfg, &chain, &key).unwrap();
    sb.set_groups_list("P-256").unwrap();
    sb.set_ciphersuites("TLS_AES_256_GCM_SHA384").unwrap();
    let mut cb = client_context_builder(&ccfg, Some((&cchain, &ckey))).unwrap();
    cb.set_groups_list("X25519:P-256").unwrap();
    let (s, c) = pair(sb.build(), scfg, cb.build(), ccfg).await;
    let (mut s, sear) = s.unwrap();
    let (mut c, cear) = c.unwrap();
    assert!(details(c.ssl()).unwrap().hello_retry_request);
    assert!(sear.unwrap().is_affirming());
    assert!(cear.unwrap().is_affirming());
    echo(&mut s, &mut c).await;
}

/// Guards "no resumption": a mode `early` server issues no TLS 1.3
/// session tickets (NewSessionTicket, handshake type 4). `NO_TICKET` with
/// the session cache off did not stop OpenSSL 3 from sending two (found by
/// `atls bench`: a client that closed without reading them made the
/// server's close_notify fail with a broken pipe); `set_num_tickets(0)`
/// does.
#[tokio::test]
async fn an_early_server_issues_no_session_tickets() {
    let sim = Sim::new();
    let (chain, key) = self_signed("server.test");
    let scfg = sim.server_cfg(sim.attester());
    let mut ccfg = sim.client_cfg();
    ccfg.record_handshake = true;
    let sctx = server_context(&scfg, &chain, &key).unwrap();
    assert_eq!(sctx.num_tickets(), 0);
    let cctx = client_context(&ccfg, None).unwrap();
    let (s, c) = pair(sctx, scfg, cctx, ccfg).await;
    let (mut s, _) = s.unwrap();
    let (mut c, _) = c.unwrap();
    // The server's post-handshake messages reach the client's message
    // callback while it reads what the server sends after them.
    s.write_all(b"after the handshake").await.unwrap();
    s.shutdown().await.unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"after the handshake");
    let types: Vec<u8> = details(c.ssl())
        .unwrap()
        .handshake_messages
        .iter()
        .map(|m| m[0])
        .collect();
    assert!(types.contains(&20), "the server Finished was recorded: {types:?}");
    assert!(!types.contains(&4), "the server sent NewSessionTicket: {types:?}");
}

/// An attester that panics (a bug in a platform backend).
struct PanickingAttester;

impl EarlyAttester for PanickingAttester {
    fn platform(&self) -> &str {
        "sim"
    }
    fn may_block(&self) -> bool {
        false
    }
    fn attest_early(&self, _: &EarlyBinding) -> Result<Cmw, AttestError> {
        panic!("attester bug (expected by the test)")
    }
}

/// A verifier that panics on every Evidence (a bug in a parser).
#[derive(Debug)]
struct PanickingVerifier;

impl attested_tls::verifier::Verifier for PanickingVerifier {
    fn platform(&self) -> &'static str {
        "sim"
    }
    fn accepts_media_type(&self, _: &str) -> bool {
        true
    }
    fn appraise(
        &self,
        _: &str,
        _: &[u8],
        _: &attested_tls::verifier::AppraisalContext<'_>,
    ) -> attested_tls::ear::Appraisal {
        panic!("verifier bug (expected by the test)")
    }
}

/// Guards M1: a panic inside an OpenSSL callback (rust-openssl's
/// trampolines are `extern "C"` without `catch_unwind`) used to abort the
/// whole process. Now the side whose attester / verifier panicked refuses
/// with an internal error, the peer receives internal_error (80), and the
/// process (this test) carries on.
#[tokio::test]
async fn a_panicking_attester_or_verifier_refuses_instead_of_aborting() {
    let sim = Sim::new();
    let (chain, key) = self_signed("server.test");
    let (s, c) = run(
        sim.server_cfg(Arc::new(PanickingAttester)),
        (&chain, &key),
        sim.client_cfg(),
        None,
    )
    .await;
    assert!(
        matches!(refusal(s), Refusal::Internal(why) if why.contains("panic")),
        "server"
    );
    assert_eq!(peer_alert(c), 80);

    let appraiser = Appraiser::new("test-policy").with_verifier(Arc::new(PanickingVerifier));
    let ccfg = EarlyConfig::verifier(appraiser, vec![sim_scheme()]);
    let (s, c) = run(sim.server_cfg(sim.attester()), (&chain, &key), ccfg, None).await;
    assert!(
        matches!(refusal(c), Refusal::Internal(why) if why.contains("panic")),
        "client"
    );
    assert_eq!(peer_alert(s), 80);
}

/// Guards H2: a passport (signed EAR) is appraised by its verifier's
/// policy; a relying party whose own policy has platform sections (its
/// reference values) and which also accepts passports would have those
/// reference values silently ignored for passports. Such a configuration
/// is refused (config error naming the reason); a passport-only policy
/// (no platform sections) is accepted.
#[test]
fn passport_verifiers_with_a_platform_policy_are_refused() {
    let sim = Sim::new();
    let trusted = verifier_key().public_key();
    let mut cfg = EarlyConfig::verifier(sim.appraiser(), vec![passport_scheme(), sim_scheme()]);
    cfg.passport_verifiers = vec![(b"test-verifier".to_vec(), trusted.clone())];
    match client_context(&cfg, None) {
        Err(EarlyError::Config(msg)) => {
            assert!(
                msg.contains("platform sections") && msg.contains("test-policy"),
                "{msg}"
            )
        }
        other => panic!("expected the config refusal, got {other:?}"),
    }
    client_context(&passport_client(trusted), None).unwrap();
}
