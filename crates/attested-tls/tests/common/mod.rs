//! Shared helpers for loopback integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use attested_tls::attester::Attester;
use attested_tls::ea::AuthenticatorIdentity;
use attested_tls::net::{self, AttestationConfig, AttestedStream, NetError};
use attested_tls::sim::{SimAttester, SimInstance, SimInstanceConfig, SimPolicy, SimRoot, SimVerifier};
use attested_tls::verifier::Appraiser;
use rustls::pki_types::PrivateKeyDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub type World = attested_tls::sim::SimWorld;

pub fn world(n: usize) -> World {
    attested_tls::sim::ephemeral_world(n).unwrap()
}

/// Test conveniences on a simulation world.
pub trait WorldExt {
    /// Another instance of this world's root with a changed configuration.
    fn instance_with(&self, f: impl FnOnce(&mut SimInstanceConfig)) -> SimInstance;
    /// An appraiser trusting this world's root under `policy`, reported as `test-policy`.
    fn appraiser_with(&self, policy: SimPolicy) -> Appraiser;
    /// `appraiser_with(sim_policy(true))`: measurements and instance ids pinned.
    fn test_appraiser(&self) -> Appraiser;
}

impl WorldExt for World {
    fn instance_with(&self, f: impl FnOnce(&mut SimInstanceConfig)) -> SimInstance {
        let mut cfg = self.instances[0].config().clone();
        f(&mut cfg);
        self.root.issue_instance(cfg).unwrap()
    }

    fn appraiser_with(&self, policy: SimPolicy) -> Appraiser {
        appraiser_for(policy, &[&self.root])
    }

    fn test_appraiser(&self) -> Appraiser {
        self.appraiser_with(self.sim_policy(true))
    }
}

pub fn appraiser_for(policy: SimPolicy, roots: &[&SimRoot]) -> Appraiser {
    let v = SimVerifier::new(policy, roots.iter().map(|r| r.cert_der().to_vec()).collect()).unwrap();
    Appraiser::new("test-policy").with_verifier(Arc::new(v))
}

pub fn attester(instance: &SimInstance) -> Arc<dyn Attester> {
    Arc::new(SimAttester::new(instance.clone()))
}

pub fn server_tls() -> Arc<rustls::ServerConfig> {
    let id = rcgen::generate_simple_self_signed(vec!["server.test".into()]).unwrap();
    net::tls::server_config(
        vec![id.cert.der().clone()],
        PrivateKeyDer::Pkcs8(id.signing_key.serialize_der().into()),
    )
    .unwrap()
}

pub fn identity() -> AuthenticatorIdentity {
    AuthenticatorIdentity::generate_self_signed("attester.test").unwrap()
}

pub type ServerStream = AttestedStream<tokio_rustls::server::TlsStream<TcpStream>>;
pub type ClientStream = AttestedStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// Runs one attested connection; the server echoes one message.
pub async fn run_pair(
    server: AttestationConfig,
    client: AttestationConfig,
) -> (
    Result<(ServerStream, Option<attested_tls::ear::Ear>), NetError>,
    Result<(ClientStream, Option<attested_tls::ear::Ear>), NetError>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = server_tls();
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        net::accept(&tls, tcp, &server).await
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let cli = net::connect(&net::tls::client_config().unwrap(), "server.test", tcp, &client).await;
    let srv = srv.await.unwrap();
    (srv, cli)
}

pub async fn echo_once(server: &mut ServerStream, client: &mut ClientStream, msg: &[u8]) {
    client.write_all(msg).await.unwrap();
    client.flush().await.unwrap();
    let mut buf = vec![0u8; msg.len()];
    server.read_exact(&mut buf).await.unwrap();
    server.write_all(&buf).await.unwrap();
    server.flush().await.unwrap();
    let mut back = vec![0u8; msg.len()];
    client.read_exact(&mut back).await.unwrap();
    assert_eq!(back, msg);
}
