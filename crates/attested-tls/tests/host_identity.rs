//! Host identity (I1) over real loopback TLS: the client requires the
//! server's attested key to have a certificate for the name it dialled,
//! from a test CA these tests make. The diversion target T2 is a second,
//! genuine simulated TEE with the same measurement (allowed by the same
//! policy) serving someone else.

mod common;

use attested_tls::ea::AuthenticatorIdentity;
use attested_tls::ear::{Ear, Tier};
use attested_tls::net::{self, AttestationConfig, NetError};
use attested_tls::transport::SessionError;
use common::*;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};

#[path = "support/test_ca.rs"]
mod test_ca;
use test_ca::Ca;

/// An authenticator identity with a certificate from `ca` for `dns_name`
/// (see [`Ca::chain`]).
fn identity(
    ca: &Ca,
    dns_name: &str,
    validity: Option<(time::OffsetDateTime, time::OffsetDateTime)>,
    extra: &[CertificateDer<'static>],
) -> AuthenticatorIdentity {
    let (chain, key) = ca.chain(dns_name, validity, extra);
    AuthenticatorIdentity::new(chain, &PrivateKeyDer::Pkcs8(key.into())).unwrap()
}

/// A sim instance that attests with `identity` as its authenticator.
fn tee(instance: &attested_tls::sim::SimInstance, identity: Option<AuthenticatorIdentity>) -> AttestationConfig {
    let cfg = AttestationConfig::default();
    let cfg = match identity {
        Some(id) => cfg.with_identity(id),
        None => cfg,
    };
    cfg.with_attester(attester(instance)).unwrap()
}

/// One attested connection where the client dials `server_name`. The TLS
/// certificate is the usual self-signed one (trusted through attestation):
/// I1 concerns the attested key, never the TLS key.
async fn dial(
    server: AttestationConfig,
    client: AttestationConfig,
    server_name: &str,
) -> (Result<Option<Ear>, NetError>, Result<Option<Ear>, NetError>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = server_tls();
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        net::accept(&tls, tcp, &server).await.map(|(_, ear)| ear)
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let cli = net::connect(&net::tls::client_config().unwrap(), server_name, tcp, &client)
        .await
        .map(|(_, ear)| ear);
    (srv.await.unwrap(), cli)
}

fn requires_i1(w: &World, ca: &Ca) -> AttestationConfig {
    AttestationConfig::verifier(w.test_appraiser()).with_host_identity(ca.roots())
}

/// Asserts the client refused because of I1, and only I1: the Evidence
/// itself was genuine and allowed (measurement and instance pinned by the
/// policy), so the only contraindicated finding is `host_identity`, whose
/// reason contains `webpki_reason`. The server is told why.
fn assert_refused_by_i1(srv: Result<Option<Ear>, NetError>, cli: Result<Option<Ear>, NetError>, webpki_reason: &str) {
    let e = cli.unwrap_err();
    let NetError::Attestation(SessionError::PeerNotTrusted { summary, ear }) = &e else {
        panic!("expected a refusal of the server's attestation, got {e}");
    };
    assert!(
        summary.contains("host_identity: host identity (I1): the attested key has no certificate for svc.example from the trusted roots"),
        "{summary}"
    );
    assert!(summary.contains(webpki_reason), "{summary}");
    let sim = &ear.submods["sim"];
    assert_eq!(ear.status, Tier::Contraindicated);
    let refused: Vec<_> = sim
        .findings
        .iter()
        .filter(|f| f.tier == Tier::Contraindicated)
        .map(|f| f.claim.as_str())
        .collect();
    assert_eq!(refused, ["host_identity"], "{}", ear.render());
    assert!(sim.claims.contains_key("measurement"), "the Evidence was appraised");
    match srv {
        Err(NetError::Attestation(SessionError::RefusedByPeer(reason))) => {
            assert!(reason.contains("host identity (I1)"), "{reason}")
        }
        other => panic!("server: {other:?}"),
    }
}

/// Guards I1's acceptance path: T1, whose authenticator key has a
/// CA-issued certificate for svc.example, is accepted by a client that
/// requires I1 for svc.example, and the EAR says I1 was checked.
#[tokio::test]
async fn t1_with_a_certificate_for_the_dialled_name_is_accepted_and_the_ear_says_so() {
    let w = world(2);
    let ca = Ca::new("I1 test CA");
    let server = tee(&w.instances[0], Some(identity(&ca, "svc.example", None, &[])));
    let (srv, cli) = dial(server, requires_i1(&w, &ca), "svc.example").await;
    srv.unwrap();
    let ear = cli.unwrap().expect("the client appraised the server");
    assert!(ear.is_affirming(), "{}", ear.render());
    let claim = ear.submods["sim"].claims["host_identity"].as_str().unwrap();
    assert!(
        claim.starts_with("svc.example:") && claim.contains("I1 checked"),
        "{claim}"
    );
    assert!(ear.render().contains("host_identity"), "the rendering shows it");
}

/// Guards that the authenticator's whole chain (leaf first, then
/// intermediates, as RFC 9261's Certificate message carries it) is used:
/// a leaf issued by an intermediate verifies against the root alone.
#[tokio::test]
async fn a_chain_through_an_intermediate_is_accepted() {
    let w = world(1);
    let root = Ca::new("I1 test root");
    let inter = root.intermediate("I1 test intermediate");
    let server = tee(
        &w.instances[0],
        Some(identity(&inter, "svc.example", None, std::slice::from_ref(&inter.cert))),
    );
    let (srv, cli) = dial(server, requires_i1(&w, &root), "svc.example").await;
    srv.unwrap();
    assert!(cli.unwrap().unwrap().is_affirming());
}

/// Guards D1 diversion: T2, another genuine TEE with the same measurement
/// that the same policy allows, but with a self-signed authenticator (the
/// default) has no certificate for svc.example and is refused, naming I1.
#[tokio::test]
async fn t2_a_genuine_tee_with_a_self_signed_authenticator_is_refused_naming_i1() {
    let w = world(2);
    assert_eq!(
        w.instances[0].config().measurement,
        w.instances[1].config().measurement,
        "T2 runs the same code"
    );
    let ca = Ca::new("I1 test CA");
    let (srv, cli) = dial(tee(&w.instances[1], None), requires_i1(&w, &ca), "svc.example").await;
    assert_refused_by_i1(srv, cli, "UnknownIssuer");
}

/// Guards D1 diversion with a certificate from the right CA for another
/// service: T2's key is certified, but for other.example.
#[tokio::test]
async fn t2_with_a_certificate_for_another_name_is_refused_naming_i1() {
    let w = world(2);
    let ca = Ca::new("I1 test CA");
    let server = tee(&w.instances[1], Some(identity(&ca, "other.example", None, &[])));
    let (srv, cli) = dial(server, requires_i1(&w, &ca), "svc.example").await;
    assert_refused_by_i1(srv, cli, "certificate not valid for name \"svc.example\"");
}

/// Guards the WebPKI checks themselves: an expired certificate for the
/// right name from the right CA, and a certificate for the right name from
/// a CA the client does not trust, are refused with the WebPKI reason.
#[tokio::test]
async fn an_expired_or_wrong_ca_certificate_is_refused_with_the_webpki_reason() {
    let w = world(1);
    let ca = Ca::new("I1 test CA");
    let now = time::OffsetDateTime::now_utc();
    let expired = identity(
        &ca,
        "svc.example",
        Some((now - time::Duration::days(30), now - time::Duration::days(1))),
        &[],
    );
    let (srv, cli) = dial(tee(&w.instances[0], Some(expired)), requires_i1(&w, &ca), "svc.example").await;
    assert_refused_by_i1(srv, cli, "certificate expired");

    let other_ca = Ca::new("some other CA");
    let wrong_ca = identity(&other_ca, "svc.example", None, &[]);
    let (srv, cli) = dial(
        tee(&w.instances[0], Some(wrong_ca)),
        requires_i1(&w, &ca),
        "svc.example",
    )
    .await;
    assert_refused_by_i1(srv, cli, "UnknownIssuer");
}

/// Guards that nothing changes without I1: the same T2 (self-signed
/// authenticator) is accepted, and the EAR claims no host identity.
#[tokio::test]
async fn without_i1_the_old_behaviour_is_unchanged() {
    let w = world(2);
    let (srv, cli) = dial(
        tee(&w.instances[1], None),
        AttestationConfig::verifier(w.test_appraiser()),
        "svc.example",
    )
    .await;
    srv.unwrap();
    let ear = cli.unwrap().unwrap();
    assert!(ear.is_affirming(), "{}", ear.render());
    assert!(!ear.submods["sim"].claims.contains_key("host_identity"));
}

/// Guards the policy route: an appraiser that requires I1 (what a policy's
/// `[host_identity]` section builds) is enforced by `connect` with the
/// dialled name, without `with_host_identity` on the configuration.
#[tokio::test]
async fn an_appraiser_requiring_i1_is_enforced_without_the_config_option() {
    let w = world(2);
    let ca = Ca::new("I1 test CA");
    let client = || AttestationConfig::verifier(w.test_appraiser().with_host_identity(ca.roots()));
    let t1 = tee(&w.instances[0], Some(identity(&ca, "svc.example", None, &[])));
    let (srv, cli) = dial(t1, client(), "svc.example").await;
    srv.unwrap();
    assert!(cli.unwrap().unwrap().submods["sim"]
        .claims
        .contains_key("host_identity"));
    let (srv, cli) = dial(tee(&w.instances[1], None), client(), "svc.example").await;
    assert_refused_by_i1(srv, cli, "UnknownIssuer");
}

/// Guards fail-closed configuration: I1 without an appraiser, and I1 on a
/// server (which dialled no name), are configuration errors, not skipped.
#[tokio::test]
async fn i1_without_an_appraiser_or_on_a_server_is_a_configuration_error() {
    let w = world(1);
    let ca = Ca::new("I1 test CA");
    let no_appraiser = tee(&w.instances[0], None).with_host_identity(ca.roots());
    let e = no_appraiser.check().unwrap_err();
    assert!(
        matches!(&e, NetError::Config(m) if m.contains("needs an appraiser")),
        "{e}"
    );

    let server = AttestationConfig::verifier(w.test_appraiser()).with_host_identity(ca.roots());
    let (srv, _cli) = dial(server, tee(&w.instances[0], None), "svc.example").await;
    let e = srv.unwrap_err();
    assert!(
        matches!(&e, NetError::Config(m) if m.contains("a server cannot require it")),
        "{e}"
    );
    // The same through the appraiser (a policy's [host_identity]).
    let server = AttestationConfig::verifier(w.test_appraiser().with_host_identity(ca.roots()));
    let (srv, _cli) = dial(server, tee(&w.instances[0], None), "svc.example").await;
    let e = srv.unwrap_err();
    assert!(
        matches!(&e, NetError::Config(m) if m.contains("a server cannot require it")),
        "{e}"
    );
}
