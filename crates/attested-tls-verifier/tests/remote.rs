//! The background-check model end to end: a relying party whose policy
//! names a remote verifier appraises a peer over a real attested TLS
//! connection by asking the verification service over real HTTP, and
//! refuses every answer it cannot trust with a specific error.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use attested_tls::ear_jwt::EarJwtError;
use attested_tls::net::{AttestationConfig, NetError};
use attested_tls::policy::Policy;
use attested_tls::remote::{RemoteVerifier, RemoteVerifierClient, RemoteVerifierError};
use attested_tls::sim::SimAttester;
use attested_tls::transport::SessionError;
use attested_tls::verifier::Appraiser;
use attested_tls_verifier::HttpVerifierClient;
use common::*;

fn attests(instance: &attested_tls::sim::SimInstance) -> AttestationConfig {
    AttestationConfig::attester(Arc::new(SimAttester::new(instance.clone()))).unwrap()
}

fn relying_party(remote: RemoteVerifier, client: Arc<dyn RemoteVerifierClient>) -> AttestationConfig {
    AttestationConfig::verifier(Appraiser::new("rp").with_remote_verifier(remote)).with_remote_client(client)
}

/// The relying party's refusal, as the remote verifier error it carries.
fn remote_error(r: Result<(ClientStream, Option<attested_tls::ear::Ear>), NetError>) -> RemoteVerifierError {
    match r {
        Err(NetError::Attestation(SessionError::RemoteVerifier(e))) => e,
        Err(e) => panic!("refused otherwise: {e}"),
        Ok(_) => panic!("accepted"),
    }
}

/// Good sim Evidence, appraised by the service, gives an affirming EAR
/// that the relying party (configured from a policy file with a
/// `[remote_verifier]` section) accepts; the connection then carries data.
#[tokio::test]
async fn a_relying_party_accepts_the_remote_verifiers_affirming_ear() {
    let v = Verifier::start(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("verifier.pub.pem"), &v.public_pem).unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        format!(
            "id = \"rp\"\n[remote_verifier]\nurl = \"{}\"\npublic_key = \"verifier.pub.pem\"\nmax_age_secs = 30\ntimeout_secs = 5\n",
            v.url
        ),
    )
    .unwrap();
    let appraiser = Policy::load(&dir.path().join("policy.toml"))
        .unwrap()
        .appraiser()
        .unwrap();
    assert_eq!(
        appraiser.remote_verifier().map(RemoteVerifier::url),
        Some(v.url.as_str())
    );
    let client = AttestationConfig::verifier(appraiser).with_remote_client(Arc::new(HttpVerifierClient::new()));
    let (srv, cli) = run_pair(attests(&v.world.instances[0]), client).await;
    let (mut s, _) = srv.unwrap();
    let (mut c, ear) = cli.unwrap();
    let ear = ear.unwrap();
    assert!(ear.is_affirming(), "{}", ear.render());
    assert_eq!(ear.ear_verifier_id.developer, "test-verifier");
    assert_eq!(ear.submods["sim"].claims["attested_tls_mode"], "expat");
    assert_eq!(ear.eat_nonce.as_ref().unwrap().as_bytes().len(), 64);
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    c.write_all(b"ping").await.unwrap();
    c.flush().await.unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
}

/// Evidence the remote verifier refuses (another root) gives a signed,
/// contraindicated EAR: the relying party refuses the peer with it.
#[tokio::test]
async fn evidence_the_remote_verifier_refuses_is_refused() {
    let v = Verifier::start(|_| {}).await;
    let stranger = attested_tls::sim::ephemeral_world(1).unwrap();
    let (_, cli) = run_pair(
        attests(&stranger.instances[0]),
        relying_party(v.remote(), Arc::new(HttpVerifierClient::new())),
    )
    .await;
    match cli {
        Err(NetError::Attestation(SessionError::PeerNotTrusted { ear, .. })) => {
            assert_eq!(ear.ear_verifier_id.developer, "test-verifier");
            assert!(!ear.is_acceptable());
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

/// A client that runs the real exchange and then changes what it got or
/// what it asked: a relying party's view of a verifier (or a network)
/// that cannot be trusted.
struct Meddling {
    inner: HttpVerifierClient,
    how: fn(String) -> String,
    other_nonce: bool,
}

impl RemoteVerifierClient for Meddling {
    fn appraise(
        &self,
        url: &str,
        media_type: &'static str,
        evidence: Vec<u8>,
        mut nonce: [u8; 64],
    ) -> Pin<Box<dyn Future<Output = Result<String, RemoteVerifierError>> + Send + 'static>> {
        if self.other_nonce {
            nonce[0] ^= 1;
        }
        let call = self.inner.appraise(url, media_type, evidence, nonce);
        let how = self.how;
        Box::pin(async move { call.await.map(how) })
    }
}

fn meddling(how: fn(String) -> String, other_nonce: bool) -> Arc<dyn RemoteVerifierClient> {
    Arc::new(Meddling {
        inner: HttpVerifierClient::new(),
        how,
        other_nonce,
    })
}

/// A token whose payload was changed after signing.
fn tampered(token: String) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut claims = jwt_claims(&token);
    claims["ear_status"] = "affirming".into();
    claims["iat"] = (claims["iat"].as_i64().unwrap() + 1).into();
    parts[1] = b64(&serde_json::to_vec(&claims).unwrap());
    parts.join(".")
}

/// Guards the signature check: a tampered token is refused with
/// `Jwt { Signature }` naming the verifier.
#[tokio::test]
async fn a_tampered_ear_is_refused() {
    let v = Verifier::start(|_| {}).await;
    let (_, cli) = run_pair(
        attests(&v.world.instances[0]),
        relying_party(v.remote(), meddling(tampered, false)),
    )
    .await;
    let e = remote_error(cli);
    assert!(
        matches!(&e, RemoteVerifierError::Jwt { issuer, source: EarJwtError::Signature(_) } if issuer == &v.url),
        "{e}"
    );
}

/// Guards the binding check: an EAR for another nonce (another
/// connection's binding, a replayed answer) is refused with
/// `NonceMismatch`, even though it is signed by the trusted key.
#[tokio::test]
async fn an_ear_for_another_nonce_is_refused() {
    let v = Verifier::start(|_| {}).await;
    let (_, cli) = run_pair(
        attests(&v.world.instances[0]),
        relying_party(v.remote(), meddling(|t| t, true)),
    )
    .await;
    let e = remote_error(cli);
    assert!(matches!(&e, RemoteVerifierError::NonceMismatch { .. }), "{e}");
}

/// Guards freshness: an EAR whose `exp` has passed is refused with
/// `Jwt { Expired }` (the service's clock is 2 minutes behind, its
/// results live 60 s), and one older than the relying party's maximum
/// age with `Jwt { TooOld }`.
#[tokio::test]
async fn an_expired_or_too_old_ear_is_refused() {
    let v = Verifier::start(|_| {}).await;
    v.advance(-120);
    let (_, cli) = run_pair(
        attests(&v.world.instances[0]),
        relying_party(v.remote(), Arc::new(HttpVerifierClient::new())),
    )
    .await;
    let e = remote_error(cli);
    assert!(
        matches!(
            &e,
            RemoteVerifierError::Jwt {
                source: EarJwtError::Expired { .. },
                ..
            }
        ),
        "{e}"
    );

    let v = Verifier::start(|cfg| cfg.result_ttl = Duration::from_secs(3600)).await;
    v.advance(-120);
    let (_, cli) = run_pair(
        attests(&v.world.instances[0]),
        relying_party(
            v.remote_with(Duration::from_secs(60)),
            Arc::new(HttpVerifierClient::new()),
        ),
    )
    .await;
    let e = remote_error(cli);
    assert!(
        matches!(
            &e,
            RemoteVerifierError::Jwt {
                source: EarJwtError::TooOld { max_age_secs: 60, .. },
                ..
            }
        ),
        "{e}"
    );
}

/// An EAR signed by another key than the pinned one is refused.
#[tokio::test]
async fn an_ear_from_another_verifier_key_is_refused() {
    let v = Verifier::start(|_| {}).await;
    let other = Verifier::start(|_| {}).await;
    // The relying party pins `other`'s key but asks `v`.
    let remote = remote_at(
        &v.url,
        &other.public_pem,
        Duration::from_secs(60),
        Duration::from_secs(5),
    );
    let (_, cli) = run_pair(
        attests(&v.world.instances[0]),
        relying_party(remote, Arc::new(HttpVerifierClient::new())),
    )
    .await;
    let e = remote_error(cli);
    assert!(
        matches!(
            &e,
            RemoteVerifierError::Jwt {
                source: EarJwtError::Signature(_),
                ..
            }
        ),
        "{e}"
    );
}

/// A verifier that is down is a clear refusal naming it, and the peer is
/// told why (OUTCOME refused with the reason).
#[tokio::test]
async fn a_verifier_that_is_down_is_a_refusal_naming_it() {
    let v = Verifier::start(|_| {}).await;
    let url = closed_port_url().await;
    let remote = remote_at(&url, &v.public_pem, Duration::from_secs(60), Duration::from_secs(5));
    let (srv, cli) = run_pair(
        attests(&v.world.instances[0]),
        relying_party(remote, Arc::new(HttpVerifierClient::new())),
    )
    .await;
    let e = remote_error(cli);
    assert!(
        matches!(&e, RemoteVerifierError::Unreachable { url: u, .. } if u == &url),
        "{e}"
    );
    assert!(e.to_string().contains(&url), "{e}");
    match srv {
        Err(NetError::Attestation(SessionError::RefusedByPeer(reason))) => {
            assert!(reason.contains("unreachable"), "{reason}")
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

/// A verifier that accepts the connection and never answers ends in
/// `Timeout` after the policy's timeout, not a hang.
#[tokio::test]
async fn a_verifier_that_never_answers_times_out() {
    let v = Verifier::start(|_| {}).await;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/challenge-response/v1", silent.local_addr().unwrap());
    // Accepts and holds connections, reads nothing, answers nothing.
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = silent.accept().await {
            held.push(tcp);
        }
    });
    let remote = remote_at(&url, &v.public_pem, Duration::from_secs(60), Duration::from_secs(1));
    let (_, cli) = run_pair(
        attests(&v.world.instances[0]),
        relying_party(remote, Arc::new(HttpVerifierClient::new())),
    )
    .await;
    let e = remote_error(cli);
    assert_eq!(e, RemoteVerifierError::Timeout { url, secs: 1 });
    hold.abort();
}

/// A policy naming a remote verifier needs the client to reach it: a
/// configuration without one is refused before any connection.
#[tokio::test]
async fn a_remote_verifier_without_a_client_is_a_configuration_error() {
    let v = Verifier::start(|_| {}).await;
    let cfg = AttestationConfig::verifier(Appraiser::new("rp").with_remote_verifier(v.remote()));
    let e = cfg.check().unwrap_err();
    assert!(matches!(&e, NetError::Config(m) if m.contains(&v.url)), "{e}");
}
