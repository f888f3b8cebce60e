//! Host identity (I1) in mode `early` over real loopback TLS 1.3 (OpenSSL
//! on both sides, simulated TEE). The attested key is the TLS end-entity
//! key here, so I1 means: the server's certificate chain verifies for the
//! dialled name against the client's I1 roots (a test CA made here). The
//! diversion target T2 is a second, genuine simulated TEE with the same
//! measurement, which the same policy accepts, serving without a
//! certificate for the name.

use std::sync::Arc;

use attested_tls::ear::{Ear, Tier};
use attested_tls::host_identity::{HostIdentity, CLAIM};
use attested_tls::modes::early::AttestationScheme;
use attested_tls::sim::{ephemeral_world, SimAttester, SimInstance, SimVerifier, SimWorld, SIM_MEDIA_TYPE};
use attested_tls::verifier::Appraiser;
use attested_tls_openssl::{
    accept, client_context, client_context_builder, connect, server_context, EarlyConfig, EarlyError, Refusal,
    MODE_CLAIM, MODE_EARLY,
};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use tokio::net::{TcpListener, TcpStream};

type Identity = (Vec<X509>, PKey<Private>);

#[path = "../../attested-tls/tests/support/test_ca.rs"]
mod test_ca;
use test_ca::Ca;

/// A TLS identity (OpenSSL objects) with a certificate from `ca` for
/// `dns_name` (see [`Ca::chain`]); `extra` are appended (intermediates).
fn identity(
    ca: &Ca,
    dns_name: &str,
    validity: Option<(time::OffsetDateTime, time::OffsetDateTime)>,
    extra: &[&Ca],
) -> Identity {
    let extra: Vec<_> = extra.iter().map(|c| c.cert.clone()).collect();
    let (chain, key) = ca.chain(dns_name, validity, &extra);
    (
        chain.iter().map(|c| X509::from_der(c).unwrap()).collect(),
        PKey::private_key_from_der(&key).unwrap(),
    )
}

fn self_signed(name: &str) -> Identity {
    let id = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    (
        vec![X509::from_der(id.cert.der()).unwrap()],
        PKey::private_key_from_der(&id.signing_key.serialize_der()).unwrap(),
    )
}

const NAME: &str = "svc.example";

/// Two genuine simulated TEEs (T1, T2) with the same measurement, and a
/// policy that accepts both.
struct World(SimWorld);

impl World {
    fn new() -> Self {
        Self(ephemeral_world(2).unwrap())
    }
    fn appraiser(&self) -> Appraiser {
        let v = SimVerifier::new(self.0.sim_policy(true), vec![self.0.root.cert_der().to_vec()]).unwrap();
        Appraiser::new("test-policy").with_verifier(Arc::new(v))
    }
    fn server(&self, instance: usize) -> EarlyConfig {
        let inst: &SimInstance = &self.0.instances[instance];
        EarlyConfig::attester(Arc::new(SimAttester::new(inst.clone())), vec![scheme()])
    }
    fn client(&self, roots: HostIdentity) -> EarlyConfig {
        EarlyConfig::verifier(self.appraiser(), vec![scheme()]).with_host_identity(roots)
    }
}

fn scheme() -> AttestationScheme {
    AttestationScheme::evidence_media_type(SIM_MEDIA_TYPE)
}

type Side = Result<Option<Ear>, EarlyError>;

/// One connection in which the client dials `name`; (server, client).
async fn dial(server: EarlyConfig, (chain, key): Identity, client: EarlyConfig, name: &str) -> (Side, Side) {
    let sctx = server_context(&server, &chain, &key).unwrap();
    let cctx = client_context(&client, None).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        accept(&sctx, tcp, &server).await.map(|(_, ear)| ear)
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let cli = connect(&cctx, name, tcp, &client).await.map(|(_, ear)| ear);
    (srv.await.unwrap(), cli)
}

/// The client refused the server for I1: the EAR names the check and the
/// reason; the server received bad_certificate (attestation_failed).
fn assert_refused_for_i1(server: Side, client: Side, reason: &str) -> Ear {
    let ear = match client {
        Err(EarlyError::Refused {
            reason: Refusal::NotTrusted(ear),
        }) => *ear,
        other => panic!("client: {other:?}"),
    };
    let summary = ear.refusal_summary();
    assert!(
        summary.contains(&format!(
            "host_identity: host identity (I1): the attested key has no certificate for {NAME}"
        )) && summary.contains(reason),
        "{summary}"
    );
    assert_eq!(ear.status, Tier::Contraindicated);
    assert!(ear.submods.values().all(|a| a.claims[MODE_CLAIM] == MODE_EARLY));
    assert!(
        matches!(server, Err(EarlyError::PeerAlert { code: 42, .. })),
        "server: {server:?}"
    );
    ear
}

#[tokio::test]
async fn i1_right_name_is_accepted_and_recorded() {
    let w = World::new();
    let ca = Ca::new("Service CA");
    let (server, client) = dial(w.server(0), identity(&ca, NAME, None, &[]), w.client(ca.roots()), NAME).await;
    server.unwrap();
    let ear = client.unwrap().expect("the server was appraised");
    assert!(ear.is_affirming(), "{}", ear.render());
    for a in ear.submods.values() {
        let claim = a.claims[CLAIM].as_str().unwrap();
        assert!(claim.contains(NAME) && claim.contains("I1 checked"), "{claim}");
        assert_eq!(a.claims[MODE_CLAIM], MODE_EARLY);
    }
}

#[tokio::test]
async fn i1_chain_with_an_intermediate_is_accepted() {
    // Guards that the whole received chain (not only the end entity) is
    // handed to the WebPKI check: the leaf is issued by an intermediate
    // that only the Certificate message carries.
    let w = World::new();
    let root = Ca::new("Root CA");
    let inter = root.intermediate("Issuing CA");
    let id = identity(&inter, NAME, None, &[&inter]);
    let (server, client) = dial(w.server(0), id, w.client(root.roots()), NAME).await;
    server.unwrap();
    assert!(client
        .unwrap()
        .unwrap()
        .submods
        .values()
        .all(|a| a.claims.contains_key(CLAIM)));
}

#[tokio::test]
async fn i1_same_code_on_another_machine_without_a_certificate_for_the_name_is_refused() {
    // The diversion target T2: a genuine TEE, same measurement (the policy
    // accepts its Evidence), but its TLS key has no certificate for the
    // dialled name from the client's roots. Without I1 it is accepted (so
    // the refusal below is I1's doing).
    let w = World::new();
    let ca = Ca::new("Service CA");
    let plain = EarlyConfig::verifier(w.appraiser(), vec![scheme()]);
    let (server, client) = dial(w.server(1), self_signed(NAME), plain, NAME).await;
    server.unwrap();
    assert!(client.unwrap().unwrap().is_affirming());

    let (server, client) = dial(w.server(1), self_signed(NAME), w.client(ca.roots()), NAME).await;
    assert_refused_for_i1(server, client, "UnknownIssuer");
}

#[tokio::test]
async fn i1_certificate_for_another_name_is_refused() {
    let w = World::new();
    let ca = Ca::new("Service CA");
    let (server, client) = dial(
        w.server(1),
        identity(&ca, "other.example", None, &[]),
        w.client(ca.roots()),
        NAME,
    )
    .await;
    assert_refused_for_i1(server, client, "not valid for name");
}

#[tokio::test]
async fn i1_wrong_ca_is_refused() {
    let w = World::new();
    let (ours, theirs) = (Ca::new("Service CA"), Ca::new("Other CA"));
    let (server, client) = dial(
        w.server(0),
        identity(&theirs, NAME, None, &[]),
        w.client(ours.roots()),
        NAME,
    )
    .await;
    assert_refused_for_i1(server, client, "UnknownIssuer");
}

#[tokio::test]
async fn i1_expired_certificate_is_refused() {
    let w = World::new();
    let ca = Ca::new("Service CA");
    let now = time::OffsetDateTime::now_utc();
    let validity = Some((now - time::Duration::days(30), now - time::Duration::days(1)));
    let (server, client) = dial(
        w.server(0),
        identity(&ca, NAME, validity, &[]),
        w.client(ca.roots()),
        NAME,
    )
    .await;
    assert_refused_for_i1(server, client, "expired");
}

#[tokio::test]
async fn i1_required_by_the_policy_is_enforced() {
    // Guards the policy route: an appraiser with `[host_identity]` (here
    // set directly) makes the client check I1 without EarlyConfig's own
    // field, and a server with such an appraiser is a configuration error
    // (it dialled no name), never a skipped check.
    let w = World::new();
    let ca = Ca::new("Service CA");
    let client = EarlyConfig::verifier(w.appraiser().with_host_identity(ca.roots()), vec![scheme()]);
    assert!(client.host_identity.is_none());
    let (server, refused) = dial(w.server(1), self_signed(NAME), client.clone(), NAME).await;
    assert_refused_for_i1(server, refused, "UnknownIssuer");
    let (server, accepted) = dial(w.server(0), identity(&ca, NAME, None, &[]), client, NAME).await;
    server.unwrap();
    assert!(accepted.unwrap().unwrap().is_affirming());

    let server = w
        .server(0)
        .with_appraiser(w.appraiser().with_host_identity(ca.roots()), vec![scheme()]);
    let (chain, key) = self_signed(NAME);
    let ctx = server_context(&server, &chain, &key).unwrap();
    let (a, _b) = tokio::io::duplex(64);
    match accept(&ctx, a, &server).await {
        Err(EarlyError::Config(m)) => assert!(m.contains("a server cannot require it"), "{m}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn i1_without_an_appraiser_is_a_configuration_error() {
    let w = World::new();
    let ca = Ca::new("Service CA");
    let cfg = w.server(0).with_host_identity(ca.roots());
    match cfg.check() {
        Err(EarlyError::Config(m)) => assert!(m.contains("needs an appraiser"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// Guards M2: I1 runs from the verify callback; a caller whose client
/// context replaced that callback must not get an unchecked stream back.
/// The handshake completes (nothing checked the chain), and `connect`
/// refuses afterwards because the pending I1 check never ran.
#[tokio::test]
async fn i1_is_not_skipped_when_the_verify_callback_is_replaced() {
    let w = World::new();
    let ca = Ca::new("Service CA");
    let server = w.server(1);
    let client = w.client(ca.roots());
    let (chain, key) = self_signed(NAME);
    let sctx = server_context(&server, &chain, &key).unwrap();
    let mut b = client_context_builder(&client, None).unwrap();
    b.set_verify_callback(openssl::ssl::SslVerifyMode::PEER, |_, _| true);
    let cctx = b.build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        accept(&sctx, tcp, &server).await.map(|(_, ear)| ear)
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let cli = connect(&cctx, NAME, tcp, &client).await.map(|(_, ear)| ear);
    assert!(
        matches!(
            cli,
            Err(EarlyError::Refused {
                reason: Refusal::HostIdentityUnchecked
            })
        ),
        "client: {cli:?}"
    );
    let _ = srv.await.unwrap();
}
