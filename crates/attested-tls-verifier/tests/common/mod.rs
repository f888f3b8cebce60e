//! Shared helpers: a verification service on loopback with a sim world.
#![allow(dead_code)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use attested_tls::attester::Attester;
use attested_tls::binder::{BindingClaims, ExpectedBinding};
use attested_tls::crypto::HashAlgorithm;
use attested_tls::ear::VerifierId;
use attested_tls::ear_jwt::{generate_signing_key_pem, SigningKeyPem};
use attested_tls::remote::RemoteVerifier;
use attested_tls::sim::{SimAttester, SimWorld};
use attested_tls_verifier::{ServiceConfig, VerifierService};
use base64::Engine;

pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The claims of a JWT, unverified.
pub fn jwt_claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// A URL on a port nothing listens on. The port stays bound (not
/// listening, so a connection is refused) for the rest of the test process:
/// a port freed at once could be handed to a listener of a test running
/// alongside, and the "down" verifier would answer.
pub async fn closed_port_url() -> String {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = sock.local_addr().unwrap();
    std::mem::forget(sock);
    format!("http://{addr}/challenge-response/v1")
}

/// A running verification service.
pub struct Verifier {
    pub service: VerifierService,
    pub url: String,
    pub world: SimWorld,
    pub key_pem: String,
    pub public_pem: String,
    offset: Arc<AtomicI64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Verifier {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Verifier {
    /// Starts a service on 127.0.0.1:0 trusting a fresh sim world, with
    /// `adjust` applied to its configuration.
    pub async fn start(adjust: impl FnOnce(&mut ServiceConfig)) -> Self {
        let world = attested_tls::sim::ephemeral_world(1).unwrap();
        let key_pem = generate_signing_key_pem().unwrap();
        let key = SigningKeyPem::from_pem(key_pem.as_bytes()).unwrap();
        let public_pem = key.public_key_pem().unwrap();
        let mut cfg = ServiceConfig::new(world.appraiser("verifier-policy"), key);
        cfg.verifier_id = VerifierId {
            developer: "test-verifier".into(),
            ..VerifierId::default()
        };
        let offset = Arc::new(AtomicI64::new(0));
        let o = offset.clone();
        cfg.clock = Arc::new(move || now() + time::Duration::seconds(o.load(Ordering::SeqCst)));
        adjust(&mut cfg);
        let service = VerifierService::new(cfg).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/challenge-response/v1", listener.local_addr().unwrap());
        let task = tokio::spawn(service.clone().serve(listener));
        Self {
            service,
            url,
            world,
            key_pem,
            public_pem,
            offset,
            task,
        }
    }

    /// Moves the service's clock forward.
    pub fn advance(&self, secs: i64) {
        self.offset.fetch_add(secs, Ordering::SeqCst);
    }

    /// Sim Evidence (CBOR CMW) for a fresh binding, and that binding.
    pub fn evidence(&self) -> (Vec<u8>, ExpectedBinding) {
        let mut exported = [0u8; 32];
        aws_lc_rs::rand::fill(&mut exported).unwrap();
        let binding = BindingClaims::from_exported_value(HashAlgorithm::Sha256, b"spki", &exported);
        let cmw = SimAttester::new(self.world.instances[0].clone())
            .attest(&binding)
            .unwrap();
        (cmw.to_cbor(), ExpectedBinding::Claims(binding))
    }

    /// The relying party's view of this verifier.
    pub fn remote(&self) -> RemoteVerifier {
        self.remote_with(Duration::from_secs(60))
    }

    pub fn remote_with(&self, max_age: Duration) -> RemoteVerifier {
        remote_at(&self.url, &self.public_pem, max_age, Duration::from_secs(5))
    }
}

/// A relying party's view of the verifier at `url` pinning `public_pem`.
pub fn remote_at(url: &str, public_pem: &str, max_age: Duration, timeout: Duration) -> RemoteVerifier {
    RemoteVerifier::new(
        url,
        attested_tls::corim::VerificationKey::from_pem_or_jwk(public_pem.as_bytes()).unwrap(),
        max_age,
        timeout,
    )
}

pub type ServerStream = attested_tls::net::AttestedStream<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>;
pub type ClientStream = attested_tls::net::AttestedStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// One attested connection over loopback TLS; both sides' outcomes.
pub async fn run_pair(
    server: attested_tls::net::AttestationConfig,
    client: attested_tls::net::AttestationConfig,
) -> (
    Result<(ServerStream, Option<attested_tls::ear::Ear>), attested_tls::net::NetError>,
    Result<(ClientStream, Option<attested_tls::ear::Ear>), attested_tls::net::NetError>,
) {
    use attested_tls::net;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (cert, key) = net::tls::self_signed_server_identity("server.test").unwrap();
    let tls = net::tls::server_config(vec![cert], key).unwrap();
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        net::accept(&tls, tcp, &server).await
    });
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let cli = net::connect(&net::tls::client_config().unwrap(), "server.test", tcp, &client).await;
    (srv.await.unwrap(), cli)
}
