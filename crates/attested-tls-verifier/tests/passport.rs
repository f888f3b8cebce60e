//! The passport model in the default mode, end to end: the attester
//! obtains a signed EAR for the connection's binding from the
//! verification service (real HTTP) and presents it in its authenticator's
//! CMW; the relying party (a `[passport]` policy) accepts it only from a
//! trusted key, fresh, and bound to this connection.

mod common;

use std::sync::Arc;
use std::time::Duration;

use attested_tls::attester::{AttestError, Attester};
use attested_tls::binder::BindingClaims;
use attested_tls::cmw::Cmw;
use attested_tls::ear::Ear;
use attested_tls::net::{AttestationConfig, NetError};
use attested_tls::policy::Policy;
use attested_tls::remote::PASSPORT_MEDIA_TYPE;
use attested_tls::sim::SimAttester;
use attested_tls::transport::SessionError;
use attested_tls::verifier::Appraiser;
use attested_tls_verifier::PassportAttester;
use common::*;

fn sim(v: &Verifier) -> Arc<dyn Attester> {
    Arc::new(SimAttester::new(v.world.instances[0].clone()))
}

fn passport_attester(v: &Verifier) -> Arc<dyn Attester> {
    Arc::new(PassportAttester::new(sim(v), v.url.clone(), Duration::from_secs(5)).unwrap())
}

/// A relying party trusting `public_pem` for passports, from a policy file.
fn passport_policy(public_pem: &str, extra: &str) -> Appraiser {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("verifier.pub.pem"), public_pem).unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        format!("id = \"rp\"\n[passport]\nverifier_keys = [\"verifier.pub.pem\"]\n{extra}"),
    )
    .unwrap();
    Policy::load(&dir.path().join("policy.toml"))
        .unwrap()
        .appraiser()
        .unwrap()
}

/// The passport refusal's finding claims.
fn refused_findings(r: Result<(ClientStream, Option<Ear>), NetError>) -> Vec<String> {
    match r {
        Err(NetError::Attestation(SessionError::PeerNotTrusted { ear, .. })) => ear.submods["passport"]
            .findings
            .iter()
            .map(|f| f.claim.clone())
            .collect(),
        Err(e) => panic!("refused otherwise: {e}"),
        Ok(_) => panic!("accepted"),
    }
}

/// A passport from the trusted verifier, for this connection, is accepted:
/// the result is the `passport` submodule carrying the verifier's claims.
#[tokio::test]
async fn a_passport_from_the_trusted_verifier_is_accepted() {
    let v = Verifier::start(|_| {}).await;
    let server = AttestationConfig::attester(passport_attester(&v)).unwrap();
    let client = AttestationConfig::verifier(passport_policy(&v.public_pem, "max_age_secs = 30\n"));
    let (srv, cli) = run_pair(server, client).await;
    srv.unwrap();
    let (_, ear) = cli.unwrap();
    let ear = ear.unwrap();
    assert!(ear.is_affirming(), "{}", ear.render());
    let p = &ear.submods["passport"];
    assert_eq!(p.claims["passport_verifier"]["developer"], "test-verifier");
    assert_eq!(p.claims["passport_submods"]["sim"]["ear_status"], "affirming");
    assert_eq!(p.claims["attested_tls_mode"], "expat");
    assert!(!p.trust_vector.is_empty());
}

/// Guards the key check: a passport signed by a verifier the relying
/// party does not trust is refused (`passport_signature`).
#[tokio::test]
async fn a_passport_from_an_untrusted_key_is_refused() {
    let v = Verifier::start(|_| {}).await;
    let other = Verifier::start(|_| {}).await;
    let server = AttestationConfig::attester(passport_attester(&v)).unwrap();
    let client = AttestationConfig::verifier(passport_policy(&other.public_pem, ""));
    let (_, cli) = run_pair(server, client).await;
    assert_eq!(refused_findings(cli), vec!["passport_signature"]);
}

/// Presents a passport obtained for another binding: what an attacker
/// relaying a passport from another connection would send.
struct ReplayedPassport(PassportAttester);

impl Attester for ReplayedPassport {
    fn platform(&self) -> &str {
        "passport"
    }
    fn attest(&self, binding: &BindingClaims) -> Result<Cmw, AttestError> {
        let mut other = binding.clone();
        other.binder[0] ^= 1;
        self.0.attest(&other)
    }
}

/// Guards the binding check: a passport for another connection's binder
/// is refused (`passport_nonce`), though signed by the trusted key.
#[tokio::test]
async fn a_passport_for_another_connection_is_refused() {
    let v = Verifier::start(|_| {}).await;
    let replay = ReplayedPassport(PassportAttester::new(sim(&v), v.url.clone(), Duration::from_secs(5)).unwrap());
    let server = AttestationConfig::attester(Arc::new(replay)).unwrap();
    let client = AttestationConfig::verifier(passport_policy(&v.public_pem, ""));
    let (_, cli) = run_pair(server, client).await;
    assert_eq!(refused_findings(cli), vec!["passport_nonce"]);
}

/// Guards freshness: a passport issued two minutes ago (the service's
/// clock behind, its results valid for an hour) is older than the
/// relying party's `max_age_secs = 60` (`passport_freshness`).
#[tokio::test]
async fn a_stale_passport_is_refused() {
    let v = Verifier::start(|cfg| cfg.result_ttl = Duration::from_secs(3600)).await;
    v.advance(-120);
    let server = AttestationConfig::attester(passport_attester(&v)).unwrap();
    let client = AttestationConfig::verifier(passport_policy(&v.public_pem, "max_age_secs = 60\n"));
    let (_, cli) = run_pair(server, client).await;
    assert_eq!(refused_findings(cli), vec!["passport_freshness"]);
}

/// A passport whose Evidence the verifier refused carries a
/// contraindicated EAR: refused (`passport_status`), with the verifier's
/// own findings alongside.
#[tokio::test]
async fn a_passport_with_a_refusal_inside_is_refused() {
    let v = Verifier::start(|_| {}).await;
    let stranger = attested_tls::sim::ephemeral_world(1).unwrap();
    let evidence: Arc<dyn Attester> = Arc::new(SimAttester::new(stranger.instances[0].clone()));
    let attester = PassportAttester::new(evidence, v.url.clone(), Duration::from_secs(5)).unwrap();
    let server = AttestationConfig::attester(Arc::new(attester)).unwrap();
    let client = AttestationConfig::verifier(passport_policy(&v.public_pem, ""));
    let (_, cli) = run_pair(server, client).await;
    let findings = refused_findings(cli);
    assert!(findings.contains(&"passport_status".to_string()), "{findings:?}");
    assert!(findings.iter().any(|f| f.starts_with("sim: ")), "{findings:?}");
}

/// The CMW on the wire: one record of the passport media type, `ind`
/// attestation results (8), whose value is the compact JWS.
#[tokio::test]
async fn the_passport_cmw_is_one_ear_jwt_record() {
    let v = Verifier::start(|_| {}).await;
    let attester = PassportAttester::new(sim(&v), v.url.clone(), Duration::from_secs(5)).unwrap();
    let binding = BindingClaims::from_exported_value(attested_tls::crypto::HashAlgorithm::Sha256, b"spki", &[3; 32]);
    let cmw = tokio::task::spawn_blocking(move || attester.attest(&binding))
        .await
        .unwrap()
        .unwrap();
    let Cmw::Record(rec) = cmw else { panic!("a collection") };
    assert_eq!(rec.media_type(), Some(PASSPORT_MEDIA_TYPE));
    assert_eq!(
        PASSPORT_MEDIA_TYPE,
        "application/eat+jwt; eat_profile=\"tag:ietf.org,2026:rats/ear#04\""
    );
    assert_eq!(rec.ind, Some(8));
    let token = String::from_utf8(rec.value).unwrap();
    assert_eq!(token.split('.').count(), 3);
    assert_eq!(jwt_claims(&token)["eat_profile"], "tag:ietf.org,2026:rats/ear#04");
}

/// A verifier that is down fails the attester with an error naming it.
#[tokio::test]
async fn a_passport_attester_names_a_verifier_that_is_down() {
    let v = Verifier::start(|_| {}).await;
    let url = closed_port_url().await;
    let attester = PassportAttester::new(sim(&v), url.clone(), Duration::from_secs(5)).unwrap();
    let binding = BindingClaims::from_exported_value(attested_tls::crypto::HashAlgorithm::Sha256, b"spki", &[3; 32]);
    let e = tokio::task::spawn_blocking(move || attester.attest(&binding))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&e, AttestError::Platform { interface, reason } if interface.contains(&url) && reason.contains("unreachable")),
        "{e}"
    );
}
