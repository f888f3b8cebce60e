//! Every binding profile (B1-B7) over real loopback TLS 1.3 (OpenSSL on
//! both sides) with the simulated TEE: a genuine server is accepted, and
//! each design refuses exactly what it checks (wrong binder, wrong nonce,
//! wrong key), asserting the specific refusal. Where a design does NOT
//! check something (the key, in B1/B2/B3/B5), a test asserts that it is
//! accepted: the profiles must be no stronger than the designs, so that
//! the attack lab measures the real designs.

use std::sync::{Arc, Mutex};

use attested_tls::ear::Ear;
use attested_tls::modes::profiles::{
    from_name, names, BindingInputs, CarrierError, CertificateLifetime, Needs, Profile, ProfileAttester,
    ProfileBinding, PROFILES,
};
use attested_tls::sim::{ephemeral_world, SimAttester, SimVerifier, SimWorld};
use attested_tls::verifier::Appraiser;
use attested_tls_openssl::profiles::{
    accept, client_context, client_context_builder, connect, server_context, server_context_builder, NonceSource,
    ProfileClientConfig, ProfileDetails, ProfileRefusal, ProfileServerConfig, ProfileTlsError,
};
use attested_tls_openssl::{EarlyError, MODE_CLAIM};
use openssl::ssl::SslContext;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_openssl::SslStream;

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
    fn server(&self, name: &str) -> ProfileServerConfig {
        ProfileServerConfig::new(name, self.attester()).unwrap()
    }
    fn client(&self, name: &str) -> ProfileClientConfig {
        ProfileClientConfig::new(name, self.appraiser()).unwrap()
    }
}

type ClientSide = Result<(SslStream<TcpStream>, Ear, ProfileDetails), ProfileTlsError>;
type ServerSide = Result<(SslStream<TcpStream>, ProfileDetails), ProfileTlsError>;

async fn run(server: &ProfileServerConfig, client: &ProfileClientConfig) -> (ServerSide, ClientSide) {
    run_with(
        server_context(server).unwrap(),
        client_context(client).unwrap(),
        server,
        client,
    )
    .await
}

async fn run_with(
    sctx: SslContext,
    cctx: SslContext,
    server: &ProfileServerConfig,
    client: &ProfileClientConfig,
) -> (ServerSide, ClientSide) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = server.clone();
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        accept(&sctx, tcp, &server).await
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let c = connect(&cctx, "tee.example", tcp, client).await;
    let s = srv.await.unwrap();
    (s, c)
}

fn client_refusal(c: ClientSide) -> ProfileRefusal {
    match c {
        Err(ProfileTlsError::Refused { reason, .. }) => reason,
        Err(e) => panic!("expected a refusal, got {e}"),
        Ok(_) => panic!("expected a refusal, got a connection"),
    }
}

fn server_refusal(s: ServerSide) -> ProfileRefusal {
    match s {
        Err(ProfileTlsError::Refused { reason, .. }) => reason,
        Err(e) => panic!("expected a refusal, got {e}"),
        Ok(_) => panic!("expected a refusal, got a connection"),
    }
}

/// Evidence from the genuine attester, but for the binding `change`
/// makes of the server's real inputs: a server that presents Evidence of
/// another connection (nonce, client random, exporter) or of another key.
type Change = fn(&'static dyn Profile, &BindingInputs<'_>) -> [u8; 64];

fn substitute(sim: &Sim, profile: &'static dyn Profile, change: Change) -> ProfileServerConfig {
    let mut cfg = sim.server(profile.name());
    let attester = sim.attester();
    cfg.hooks.evidence = Some(Arc::new(
        move |_binding: &ProfileBinding, inputs: &BindingInputs<'_>| {
            let b = ProfileBinding::new(profile.name(), change(profile, inputs));
            Some(attester.attest_profile(&b).unwrap().to_cbor())
        },
    ));
    cfg
}

fn profile_named(name: &str) -> &'static dyn Profile {
    attested_tls::modes::profiles::from_name(name).unwrap()
}

#[tokio::test]
async fn every_profile_accepts_a_genuine_server_and_records_its_mode() {
    let sim = Sim::new();
    for name in names() {
        let (s, c) = run(&sim.server(name), &sim.client(name)).await;
        let (mut server, sd) = s.unwrap_or_else(|e| panic!("{name}: server: {e}"));
        let (mut client, ear, cd) = c.unwrap_or_else(|e| panic!("{name}: client: {e}"));
        assert!(ear.is_acceptable(), "{name}: {}", ear.render());
        for a in ear.submods.values() {
            assert_eq!(a.claims.get(MODE_CLAIM).and_then(|v| v.as_str()), Some(name), "{name}");
        }
        assert_eq!(sd.nonce, cd.nonce, "{name}: the server read the client's nonce");
        assert_eq!(cd.nonce.is_some(), profile_named(name).needs().nonce.is_some());
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping", "{name}");
    }
}

/// Evidence over another binder (here: another connection's report_data)
/// is refused by every profile, by the appraisal of eat_nonce.
#[tokio::test]
async fn evidence_over_another_binder_is_refused_by_every_profile() {
    let sim = Sim::new();
    for p in PROFILES {
        let server = substitute(&sim, *p, |_, _| [0x5a; 64]);
        let (_, c) = run(&server, &sim.client(p.name())).await;
        let r = client_refusal(c);
        assert_eq!(r.refused_claims(), vec!["eat_nonce".to_string()], "{}: {r}", p.name());
    }
}

/// A server that presents Evidence made for another value of an input the
/// design binds (another client's nonce, another client random, another
/// ClientHello's early exporter) is refused, by the appraisal of the binder.
#[tokio::test]
async fn evidence_for_another_value_of_each_bound_input_is_refused() {
    const OTHER: [u8; 32] = [0xee; 32];
    type Binds = fn(&Needs) -> bool;
    let changes: [(&str, Change, Binds); 3] = [
        (
            "nonce",
            |p, i| {
                p.report_data(&BindingInputs {
                    nonce: Some(&OTHER),
                    ..*i
                })
                .unwrap()
            },
            |n| n.nonce.is_some(),
        ),
        (
            "client random",
            |p, i| {
                p.report_data(&BindingInputs {
                    client_random: Some(&OTHER),
                    ..*i
                })
                .unwrap()
            },
            |n| n.client_random,
        ),
        (
            "early exporter",
            |p, i| {
                p.report_data(&BindingInputs {
                    early_exporter: Some(&OTHER),
                    ..*i
                })
                .unwrap()
            },
            |n| n.early_exporter,
        ),
    ];
    let sim = Sim::new();
    let mut checked = 0;
    for p in PROFILES {
        for (what, change, binds) in &changes {
            if !binds(&p.needs()) {
                continue;
            }
            let (_, c) = run(&substitute(&sim, *p, *change), &sim.client(p.name())).await;
            let r = client_refusal(c);
            assert_eq!(
                r.refused_claims(),
                vec!["eat_nonce".to_string()],
                "{} / {what}: {r}",
                p.name()
            );
            checked += 1;
        }
    }
    // b1: 1; b2 x3: 3; b3: 1; b5: 2; b6 x2: 2; b7: 2.
    assert_eq!(checked, 11);
}

/// The key substitution of R1/R3: Evidence genuinely made for this
/// connection's values but for another key, presented with the server's
/// own key. Refused by the designs that bind the key (B4, B6, B7);
/// ACCEPTED by those that do not (B1, B2, B3, B5): that is their design.
#[tokio::test]
async fn evidence_for_another_key_is_refused_exactly_by_the_designs_that_bind_the_key() {
    let sim = Sim::new();
    for p in PROFILES {
        let name = p.name();
        let server = substitute(&sim, *p, |p, i| {
            p.report_data(&BindingInputs {
                spki_der: b"the SPKI of another key",
                ..*i
            })
            .unwrap()
        });
        let (_, c) = run(&server, &sim.client(name)).await;
        if p.needs().key {
            let r = client_refusal(c);
            assert_eq!(r.refused_claims(), vec!["eat_nonce".to_string()], "{name}: {r}");
        } else {
            let (_, ear, _) = c.unwrap_or_else(|e| panic!("{name} does not bind the key, yet refused: {e}"));
            assert!(ear.is_acceptable());
        }
    }
}

/// The client's nonce is checked by the server's carrier: a client that
/// sends a plain host name to a `b2-sni` server, no ALPN to a `b2-alpn`
/// server, or no extension to a `b2-ext` server is refused by the server
/// with the carrier named.
#[tokio::test]
async fn a_missing_nonce_is_refused_by_the_server_naming_the_carrier() {
    let sim = Sim::new();
    // b4 sends no nonce at all; its client talks to each nonce server.
    // The alert the client receives: illegal_parameter (47),
    // handshake_failure (40: no ALPN at all, so no certificate was made),
    // missing_extension (109).
    for (server_profile, carrier, alert) in [
        ("b2-sni", "server name", 47),
        ("b2-alpn", "ALPN protocol list", 40),
        ("b2-ext", "nonce extension", 109),
        ("b6-spki-nonce-alpn", "ALPN protocol list", 40),
    ] {
        let (s, c) = run(&sim.server(server_profile), &sim.client("b4-static-cert")).await;
        match c {
            Err(ProfileTlsError::Tls(EarlyError::PeerAlert { code, .. })) => {
                assert_eq!(code, alert, "{server_profile}")
            }
            other => panic!("{server_profile}: {:?}", other.err()),
        }
        match server_refusal(s) {
            ProfileRefusal::Nonce(CarrierError::NoNonce(what)) => assert_eq!(what, carrier, "{server_profile}"),
            other => panic!("{server_profile}: {other}"),
        }
    }
}

/// A malformed nonce (wrong length) is refused by the server.
#[tokio::test]
async fn a_malformed_nonce_is_refused_by_the_server() {
    let sim = Sim::new();
    for (name, alert) in [("b2-sni", 47), ("b2-alpn", 120), ("b2-ext", 47)] {
        let mut client = sim.client(name);
        client.nonce = NonceSource::Fixed(vec![1; 5]);
        let (s, c) = run(&sim.server(name), &client).await;
        let r = server_refusal(s);
        assert!(
            matches!(r, ProfileRefusal::Nonce(CarrierError::MalformedNonce { .. })),
            "{name}: {r}"
        );
        match c {
            Err(ProfileTlsError::Tls(EarlyError::PeerAlert { code, .. })) => assert_eq!(code, alert, "{name}"),
            other => panic!("{name}: {:?}", other.err()),
        }
    }
}

/// A certificate without the Evidence extension is refused by the client
/// (here: a `b2-sni` client talking to a plain OpenSSL server).
#[tokio::test]
async fn a_certificate_without_evidence_is_refused() {
    use openssl::ssl::{SslAcceptor, SslMethod};
    let sim = Sim::new();
    let id = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
    let mut b = SslAcceptor::mozilla_modern_v5(SslMethod::tls_server()).unwrap();
    b.set_certificate(&openssl::x509::X509::from_der(id.cert.der()).unwrap())
        .unwrap();
    b.set_private_key(&openssl::pkey::PKey::private_key_from_der(&id.signing_key.serialize_der()).unwrap())
        .unwrap();
    let acceptor = b.build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ssl = openssl::ssl::Ssl::new(acceptor.context()).unwrap();
        let mut s = SslStream::new(ssl, tcp).unwrap();
        let _ = std::pin::Pin::new(&mut s).accept().await;
    });
    let client = sim.client("b2-sni");
    let tcp = TcpStream::connect(addr).await.unwrap();
    let c = connect(&client_context(&client).unwrap(), "x", tcp, &client).await;
    assert!(matches!(
        client_refusal(c),
        ProfileRefusal::Evidence(CarrierError::NoEvidence)
    ));
    srv.await.unwrap();
}

/// B4's certificate is static: every connection sees the same one (so it
/// can be replayed with its key); B6's is fresh per handshake.
#[tokio::test]
async fn static_and_per_handshake_certificates() {
    let sim = Sim::new();
    for (name, same) in [("b4-static-cert", true), ("b6-spki-nonce-alpn", false)] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut server = sim.server(name);
        let s2 = seen.clone();
        server.hooks.on_certificate = Some(Arc::new(move |der: &[u8]| s2.lock().unwrap().push(der.to_vec())));
        let mut peers = Vec::new();
        let sctx = server_context(&server).unwrap();
        let client = sim.client(name);
        let cctx = client_context(&client).unwrap();
        for _ in 0..2 {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (sctx, server) = (sctx.clone(), server.clone());
            let srv = tokio::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                accept(&sctx, tcp, &server).await.map(|_| ())
            });
            let tcp = TcpStream::connect(addr).await.unwrap();
            let (stream, _, _) = connect(&cctx, "x", tcp, &client).await.unwrap();
            peers.push(stream.ssl().peer_certificate().unwrap().to_der().unwrap());
            srv.await.unwrap().unwrap();
        }
        assert_eq!(peers[0] == peers[1], same, "{name}");
        assert_eq!(seen.lock().unwrap().len(), if same { 1 } else { 2 }, "{name}");
    }
}

/// After a HelloRetryRequest both sides bind the second ClientHello (the
/// server's message callback and certificate are redone for it): guards
/// the early-exporter designs against using the first one on one side.
#[tokio::test]
async fn hello_retry_request_path_attests() {
    let sim = Sim::new();
    for name in names() {
        let (mut server, client) = (sim.server(name), sim.client(name));
        let made = Arc::new(Mutex::new(0));
        let m2 = made.clone();
        server.hooks.on_certificate = Some(Arc::new(move |_: &[u8]| *m2.lock().unwrap() += 1));
        let mut sb = server_context_builder(&server).unwrap();
        sb.set_groups_list("P-256").unwrap();
        let mut cb = client_context_builder(&client).unwrap();
        // The client's first key share is X25519; the server wants P-256.
        cb.set_groups_list("X25519:P-256").unwrap();
        let (s, c) = run_with(sb.build(), cb.build(), &server, &client).await;
        s.unwrap_or_else(|e| panic!("{name}: server: {e}"));
        let (stream, ear, _) = c.unwrap_or_else(|e| panic!("{name}: client: {e}"));
        assert!(ear.is_acceptable(), "{name}");
        drop(stream);
        // One certificate per ClientHello: two show that the HelloRetryRequest
        // happened (the static design makes its one at context build).
        let want = match profile_named(name).certificate() {
            CertificateLifetime::PerHandshake => 2,
            CertificateLifetime::Static => 1,
        };
        assert_eq!(*made.lock().unwrap(), want, "{name}");
    }
}

#[test]
fn a_profile_is_chosen_by_name_only() {
    let sim = Sim::new();
    for name in ["", "expat", "early", "default"] {
        assert!(matches!(
            ProfileClientConfig::new(name, sim.appraiser()),
            Err(ProfileTlsError::Config(_))
        ));
        assert!(matches!(
            ProfileServerConfig::new(name, sim.attester()),
            Err(ProfileTlsError::Config(_))
        ));
    }
}

/// The lab hooks: a fixed (attacker's or leaked) key is the one the server
/// presents, and the leak hook reports it.
#[tokio::test]
async fn a_fixed_tls_key_is_used_and_reported() {
    let sim = Sim::new();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut server = sim.server("b6-spki-nonce-sni");
    server.hooks.tls_key_pkcs8 = Some(key.serialize_der());
    let leaked = Arc::new(Mutex::new(Vec::new()));
    let l2 = leaked.clone();
    server.hooks.on_tls_key = Some(Arc::new(move |k: &[u8]| l2.lock().unwrap().push(k.to_vec())));
    let (s, c) = run(&server, &sim.client("b6-spki-nonce-sni")).await;
    s.unwrap();
    let (stream, _, _) = c.unwrap();
    let peer_spki = stream
        .ssl()
        .peer_certificate()
        .unwrap()
        .public_key()
        .unwrap()
        .public_key_to_der()
        .unwrap();
    assert_eq!(peer_spki, rcgen::PublicKeyData::subject_public_key_info(&key));
    assert_eq!(*leaked.lock().unwrap(), vec![key.serialize_der()]);
}

/// Guards the fail-closed I1 rule: a profile client whose policy asks for
/// host identity (I1) is refused as a configuration error before any
/// connection, naming I1, instead of connecting without checking it (the
/// attack lab's D1 succeeded against every `b*+I1` before this check).
#[tokio::test]
async fn a_policy_with_host_identity_is_a_configuration_error_for_every_profile() {
    let sim = Sim::new();
    let root = rcgen::generate_simple_self_signed(vec!["i1-root.example".to_string()]).unwrap();
    let roots = attested_tls::host_identity::HostIdentity::from_der([root.cert.der().clone()]).unwrap();
    for name in names() {
        let mut client = sim.client(name);
        client.appraiser = client.appraiser.clone().with_host_identity(roots.clone());
        let (_, c) = run(&sim.server(name), &client).await;
        match c {
            Err(ProfileTlsError::Config(msg)) => assert!(msg.contains("host identity (I1)"), "{name}: {msg}"),
            Err(e) => panic!("{name}: expected a configuration error, got {e}"),
            Ok(_) => panic!("{name}: connected without checking I1"),
        }
    }
}

/// A "hardware" attester (not simulated) that never gets to attest: the
/// signing-oracle check runs before any Evidence is made.
struct HardwareLike;

impl ProfileAttester for HardwareLike {
    fn platform(&self) -> &str {
        "sev-snp"
    }
    fn may_block(&self) -> bool {
        false
    }
    fn attest_profile(
        &self,
        _: &ProfileBinding,
    ) -> Result<attested_tls::cmw::Cmw, attested_tls::attester::AttestError> {
        panic!("the signing-oracle check must refuse before attesting")
    }
}

/// Guards H1: a B1/B2 server with a hardware attester is a signing oracle
/// (any client's chosen V is signed as `V || 0^32`, which a B3/B4/B7
/// client of the same code accepts); it is refused unless acknowledged,
/// with an error naming why. The simulated TEE and the other profiles
/// are not affected.
#[test]
fn signing_oracle_servers_need_an_acknowledgement_with_hardware() {
    for p in PROFILES {
        let mut cfg = ProfileServerConfig::new(p.name(), Arc::new(HardwareLike)).unwrap();
        if !p.signs_client_chosen_data() {
            continue;
        }
        match server_context(&cfg) {
            Err(ProfileTlsError::Config(msg)) => {
                assert!(
                    msg.contains("signing oracle") && msg.contains("allow_signing_oracle"),
                    "{msg}"
                );
                assert!(msg.contains(p.name()) && msg.contains("b4-static-cert"), "{msg}");
            }
            Err(e) => panic!("{}: expected the signing-oracle refusal, got {e}", p.name()),
            Ok(_) => panic!("{}: a hardware signing oracle ran without acknowledgement", p.name()),
        }
        cfg.allow_signing_oracle = true;
        server_context(&cfg).unwrap_or_else(|e| panic!("{}: acknowledged, still refused: {e}", p.name()));
    }
    let sim = Sim::new();
    for name in ["b1-client-random", "b2-sni", "b2-alpn", "b2-ext"] {
        assert!(from_name(name).unwrap().signs_client_chosen_data(), "{name}");
        server_context(&sim.server(name)).unwrap_or_else(|e| panic!("{name} with the sim TEE: {e}"));
    }
}

/// An attester that panics (a bug in a platform backend); "sim", so the
/// signing-oracle check lets every profile run it.
struct PanickingAttester;

impl ProfileAttester for PanickingAttester {
    fn platform(&self) -> &str {
        "sim"
    }
    fn may_block(&self) -> bool {
        false
    }
    fn attest_profile(
        &self,
        _: &ProfileBinding,
    ) -> Result<attested_tls::cmw::Cmw, attested_tls::attester::AttestError> {
        panic!("attester bug (expected by the test)")
    }
}

/// Guards M1 for the profiles: a panic in the attester, which runs inside
/// OpenSSL's server-name / ALPN callback, used to abort the process; now
/// the server refuses with an internal error and the test carries on.
#[tokio::test]
async fn a_panicking_attester_refuses_instead_of_aborting() {
    let sim = Sim::new();
    for name in ["b6-spki-nonce-alpn", "b6-spki-nonce-sni", "b7-draft06"] {
        let server = ProfileServerConfig::new(name, Arc::new(PanickingAttester)).unwrap();
        let (s, c) = run(&server, &sim.client(name)).await;
        assert!(
            matches!(server_refusal(s), ProfileRefusal::Internal(why) if why.contains("panic")),
            "{name}"
        );
        assert!(c.is_err(), "{name}");
    }
}

/// Guards L3: the profiles' servers send no session ticket (TLS 1.3
/// servers send them after the handshake unless the count is 0), so no
/// session can be resumed past the certificate that carries the Evidence.
/// The client's new-session callback would see any ticket, processed when
/// the client reads application data.
#[tokio::test]
async fn profile_servers_send_no_session_ticket() {
    let sim = Sim::new();
    for name in ["b6-spki-nonce-alpn", "b4-static-cert"] {
        let (server, client) = (sim.server(name), sim.client(name));
        let tickets = Arc::new(Mutex::new(0usize));
        let mut b = client_context_builder(&client).unwrap();
        b.set_session_cache_mode(openssl::ssl::SslSessionCacheMode::CLIENT);
        let seen = tickets.clone();
        b.set_new_session_callback(move |_, _| *seen.lock().unwrap() += 1);
        let (s, c) = run_with(server_context(&server).unwrap(), b.build(), &server, &client).await;
        let (mut s, mut c) = (s.unwrap().0, c.unwrap().0);
        s.write_all(b"data").await.unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(*tickets.lock().unwrap(), 0, "{name}: a NewSessionTicket arrived");
        assert!(!c.ssl().session_reused(), "{name}");
    }
}
